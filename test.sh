#!/usr/bin/env bash
# Everything, from a clean clone: restore, build (warnings are errors), then every test suite.
# Suites that need PostgreSQL (and later a browser) get it installed and started here when missing.
set -euo pipefail
cd "$(dirname "$0")"

export DOTNET_CLI_TELEMETRY_OPTOUT=1
export DOTNET_NOLOGO=1
export DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

configuration="${CONFIGURATION:-Release}"

echo "== restore and build ($configuration)"
dotnet build Lockstep.slnx -c "$configuration" -nologo -v minimal

status=0
passed=0
failed=0
skipped=0
results_dir="$(mktemp -d)"
postgres_started=0
cleanup() {
  if [ "$postgres_started" = 1 ]; then
    tests/postgres/stop.sh || true
  fi
  rm -rf "$results_dir"
}
trap cleanup EXIT

# A throw-away PostgreSQL owned by this run (installed with apt-get when missing), on a loopback
# port, for the PostgreSQL store and the cluster suites; stopped and deleted on exit.
echo "== PostgreSQL"
eval "$(tests/postgres/start.sh)"
postgres_started=1
export LOCKSTEP_TEST_POSTGRES LOCKSTEP_TEST_POSTGRES_DATA

for project in tests/*/*.csproj; do
  name="$(basename "$project" .csproj)"
  echo "== $name"
  if ! dotnet test "$project" -c "$configuration" --no-build -nologo \
      --logger "trx;LogFileName=$name.trx" --results-directory "$results_dir" \
      --logger "console;verbosity=minimal"; then
    status=1
  fi
done

# The .NET client's whole suite once more over the MessagePack encoding (docs/protocol.md §11): its
# harness, and the crash-test tool it starts, connect with LOCKSTEP_TEST_ENCODING.
echo "== Lockstep.Client.Tests (msgpack)"
if ! LOCKSTEP_TEST_ENCODING=msgpack dotnet test tests/Lockstep.Client.Tests/Lockstep.Client.Tests.csproj -c "$configuration" --no-build -nologo \
    --logger "trx;LogFileName=Lockstep.Client.Tests.msgpack.trx" --results-directory "$results_dir" \
    --logger "console;verbosity=minimal"; then
  status=1
fi

# The TypeScript client: npm ci, strict type check, unit tests, build, integration tests against the
# server built above.
echo "== TypeScript client (clients/typescript)"
ts_log="$results_dir/typescript.log"
if ! LOCKSTEP_CLI_DLL="$PWD/src/Lockstep.Cli/bin/$configuration/net10.0/lockstep.dll" \
    bash clients/typescript/scripts/ci.sh 2>&1 | tee "$ts_log"; then
  status=1
fi
# Node's test runner closes each run with "ℹ pass N", "ℹ fail N", "ℹ skipped N".
ts_count() { grep -aE "^ℹ $1 [0-9]+" "$ts_log" | awk '{s += $3} END {print s + 0}'; }
passed=$((passed + $(ts_count pass)))
failed=$((failed + $(ts_count fail)))
skipped=$((skipped + $(ts_count skipped)))

# One closing line for the whole run, summed from the test reports.
for trx in "$results_dir"/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
  f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  t=$(sed -n 's/.* total="\([0-9]*\)".*/\1/p' <<<"$counters")
  e=$(sed -n 's/.* executed="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
  skipped=$((skipped + ${t:-0} - ${e:-0}))
done
# Name each failed test (and the first lines of why) at the end, where a CI log's tail shows it.
if [ "$failed" -gt 0 ]; then
  echo "== failed tests"
  for trx in "$results_dir"/*.trx; do
    [ -f "$trx" ] || continue
    python3 - "$trx" <<'PY' || grep -o 'testName="[^"]*"[^>]*outcome="Failed"' "$trx" || true
import sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
for r in ET.parse(sys.argv[1]).getroot().iterfind(".//t:UnitTestResult", ns):
    if r.get("outcome") != "Failed":
        continue
    print(f"FAILED {r.get('testName')} ({r.get('duration')})")
    message = r.find(".//t:ErrorInfo/t:Message", ns)
    stack = r.find(".//t:ErrorInfo/t:StackTrace", ns)
    for text in (message, stack):
        if text is not None and text.text:
            for line in text.text.strip().splitlines()[:12]:
                print("    " + line)
PY
  done
  grep -aE "^\s*✖ " "$ts_log" | sort -u || true
fi
echo "$passed passed, $failed failed, $skipped skipped"
if [ "$passed" -eq 0 ]; then
  echo "no test ran" >&2
  status=1
fi
exit $status

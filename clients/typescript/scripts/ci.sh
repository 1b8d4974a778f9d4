#!/usr/bin/env bash
# The TypeScript client, from a clean clone: install (from the committed lockfile), strict type check,
# unit tests, build, integration tests against the real server, then the browser samples end to end
# in Debian's Chromium (installed with apt-get when missing; CI runs as root). The unit, integration
# and browser suites run once per wire encoding (LOCKSTEP_ENCODING=json, then msgpack: docs/protocol.md
# §11). The server must be built already: LOCKSTEP_CLI_DLL names its lockstep.dll (default: the
# Release build, as ./test.sh makes it).
set -euo pipefail
caller="$PWD"
cd "$(dirname "$0")/.."

node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  echo "clients/typescript needs Node 20 or later (found $(node --version))" >&2
  exit 1
fi

# A path given by the caller is relative to where they stand; the default, to this package.
case "${LOCKSTEP_CLI_DLL:-}" in
  "") LOCKSTEP_CLI_DLL="$PWD/../../src/Lockstep.Cli/bin/Release/net10.0/lockstep.dll" ;;
  /*) ;;
  *) LOCKSTEP_CLI_DLL="$caller/$LOCKSTEP_CLI_DLL" ;;
esac
export LOCKSTEP_CLI_DLL
if [ ! -f "$LOCKSTEP_CLI_DLL" ]; then
  echo "no server at $LOCKSTEP_CLI_DLL: build src/Lockstep.Cli first, or set LOCKSTEP_CLI_DLL" >&2
  exit 1
fi

echo "== npm ci"
npm ci --no-audit --no-fund
echo "== typecheck (strict)"
npm run --silent typecheck
encodings=(json msgpack)
for encoding in "${encodings[@]}"; do
  echo "== unit tests ($encoding)"
  LOCKSTEP_ENCODING=$encoding npm test
done
echo "== build"
npm run --silent build
for encoding in "${encodings[@]}"; do
  echo "== integration tests ($encoding; server: $LOCKSTEP_CLI_DLL)"
  LOCKSTEP_ENCODING=$encoding npm run test:integration
done

# playwright-core drives the system's Chromium; browser downloads are not used.
chromium="${LOCKSTEP_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get > /dev/null; then
    echo "no Chromium at $chromium: install Debian's package chromium (as root: apt-get install -y chromium), or set LOCKSTEP_CHROMIUM" >&2
    exit 1
  fi
  echo "== installing Chromium (apt-get install chromium)"
  started=$SECONDS
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null
  echo "Chromium installed in $((SECONDS - started)) s"
fi
for encoding in "${encodings[@]}"; do
  echo "== browser tests ($encoding; samples/web in $("$chromium" --version 2>/dev/null | head -n 1))"
  LOCKSTEP_ENCODING=$encoding npm run test:browser
done

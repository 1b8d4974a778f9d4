#!/usr/bin/env bash
# Lockstep against the peers users would pick instead (docs/benchmarks.md § Peers): each round runs every kind
# in turn, the latency workload and then the ack workload, each against a fresh child server; at the end a
# markdown table of the medians over the rounds. Every run's JSON (with the 1-minute load average at its start)
# is kept in the results directory.
#
#   bench/peers/compare.sh [--rounds K] [--readers N] [--rate R] [--duration S] [--ack-duration S]
#                          [--kinds "signalr polling lockstep"] [--out DIR]
#
# Kinds: signalr, signalr-msgpack, polling, polling-long (long-poll), lockstep, lockstep-msgpack.
# Defaults: 3 rounds of the issue's workload (500 writes/s, 100 readers, 10 s) and 10 s of acked writes.
set -euo pipefail

rounds=3 readers=100 rate=500 duration=10 ack_duration=10 kinds="signalr polling lockstep" out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --readers) readers="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --ack-duration) ack_duration="$2"; shift 2 ;;
    --kinds) kinds="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
command -v python3 >/dev/null || { echo "compare.sh needs python3 for the medians" >&2; exit 2; }

root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${out:-$(mktemp -d -t lockstep-peers-XXXXXX)}"
mkdir -p "$out"
echo "== build (Release)" >&2
dotnet build "$root/bench/Lockstep.Peers/Lockstep.Peers.csproj" -c Release -nologo -v quiet >&2
peer="$root/bench/Lockstep.Peers/bin/Release/net10.0/peer.dll"

args_of() {
  case "$1" in
    signalr) echo "--kind signalr" ;;
    signalr-msgpack) echo "--kind signalr --messagepack" ;;
    polling) echo "--kind polling" ;;
    polling-long) echo "--kind polling --long-poll" ;;
    lockstep) echo "--kind lockstep" ;;
    lockstep-msgpack) echo "--kind lockstep --messagepack" ;;
    *) echo "unknown kind $1" >&2; exit 2 ;;
  esac
}

for round in $(seq 1 "$rounds"); do
  for kind in $kinds; do
    # shellcheck disable=SC2046 # the kind's options are words
    set -- $(args_of "$kind")
    echo "== round $round/$rounds: $kind latency (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    dotnet "$peer" bench "$@" --readers "$readers" --rate "$rate" --duration "$duration" --json > "$out/$kind.latency.$round.json"
    echo "== round $round/$rounds: $kind ack (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    dotnet "$peer" bench "$@" --ack --duration "$ack_duration" --json > "$out/$kind.ack.$round.json"
  done
done
echo "== runs kept in $out" >&2

python3 - "$out" "$rounds" "$readers" "$rate" "$duration" "$ack_duration" $kinds <<'PY'
import json, statistics, sys
out, rounds, readers, rate, duration, ack_duration, kinds = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7:]
def runs(kind, mode):
    return [json.load(open(f"{out}/{kind}.{mode}.{r}.json")) for r in range(1, rounds + 1)]
def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None
def fmt(v, digits=1):
    return "—" if v is None else f"{v:,.{digits}f}"
print(f"Medians of {rounds} rounds; latency workload: {rate} writes/s for {duration} s, {readers} readers; ack workload: {ack_duration} s.")
print()
print("| kind | protocol | write → seen p50 / p90 / p99 / max, ms | seen / expected | bytes/update/reader received; sent | server CPU µs/frame | server RSS MiB | acked writes/s | ack p50 / p99, ms | server CPU µs/write | load average at start |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for kind in kinds:
    lat, ack = runs(kind, "latency"), runs(kind, "ack")
    l = lambda k: med([r["latencyMs"][k] for r in lat])
    a = lambda k: med([r["ackMs"][k] for r in ack])
    seen = min(r["framesDelivered"] for r in lat)
    expected = lat[0]["updates"] * lat[0]["readers"]
    loads = [r["run"]["loadAverageAtStart"] for r in lat + ack if r["run"]["loadAverageAtStart"] is not None]
    print(f"| {kind} | {lat[0]['protocol']} | {fmt(l('p50'), 2)} / {fmt(l('p90'), 2)} / {fmt(l('p99'), 2)} / {fmt(l('max'), 2)} "
          f"| {seen:,} / {expected:,} (fewest) | {fmt(med([r['bytesPerUpdatePerReader'] for r in lat]))}; {fmt(med([r['sentBytesPerUpdatePerReader'] for r in lat]))} "
          f"| {fmt(med([r['serverCpuUsPerFrame'] for r in lat]))} | {fmt(med([r['serverRssBytes'] / 2**20 for r in lat]))} "
          f"| {fmt(med([r['writesPerSec'] for r in ack]), 0)} | {fmt(a('p50'), 2)} / {fmt(a('p99'), 2)} "
          f"| {fmt(med([r['serverCpuUsPerWrite'] for r in ack]))} | {fmt(min(loads), 2) if loads else '—'}–{fmt(max(loads), 2) if loads else '—'} |")
PY

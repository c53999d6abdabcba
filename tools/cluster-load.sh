#!/usr/bin/env bash
# Load of a cluster, on this machine: TENANTS simulated tenants across three
# instances on librdkafka's mock cluster (a process of its own).
#
#   bash tools/cluster-load.sh [TENANTS] [HOURS] [LIVE_SECONDS]   (1000, 1, 60)
#
# 1. HOURS of every tenant's past traffic produced, then three instances
#    started: time until each is ready and lists every tenant (the first
#    rebuild), with each instance's rebuild size and time from its log.
# 2. LIVE_SECONDS of live traffic (`simulate --realtime`): events/s
#    applied, CPU and memory of each instance, and the snapshot fan-out
#    delay through the topic (p50/p99 of callboard_snapshot_fanout_seconds:
#    from the owner building a snapshot to its arrival on another instance).
# 3. One instance SIGKILLed: time until every tenant is live again on both
#    survivors, the most tenants not live at once on a survivor (the killed
#    one's only, when the rebalance leaves the others alone), and the
#    survivors' rebuild sizes and times.
set -euo pipefail
cd "$(dirname "$0")/.."
TENANTS=${1:-1000}
HOURS=${2:-1}
LIVE=${3:-60}
WORK=$(mktemp -d)
BASE=${LOAD_PORT:-18200}
BIN=target/release/callboard
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
cargo build --release --locked
cargo build --release --locked --example mock_kafka

target/release/examples/mock_kafka callboard.events:24 callboard.events.dlq:1 \
  callboard.events.state:24 callboard.snapshots:24 > "$WORK/mock.out" 2>"$WORK/mock.log" &
MOCK=$!
PIDS+=($MOCK)
for _ in $(seq 50); do [ -s "$WORK/mock.out" ] && break; sleep 0.1; done
BROKERS=$(head -1 "$WORK/mock.out")

# Small tenants (10 agents, 30 calls an hour at the peak), as a platform
# of many small contact centers has them.
SIM=(--tenants "$TENANTS" --agents 10 --peak-calls-per-hour 30 --kafka-brokers "$BROKERS")
START=$(python3 -c "import datetime as d; print((d.datetime.now(d.timezone.utc)-d.timedelta(hours=$HOURS)).strftime('%Y-%m-%dT%H:%M:%SZ'))")
t0=$(date +%s.%N)
"$BIN" simulate --start "$START" --hours "$HOURS" "${SIM[@]}" 2> "$WORK/past.log"
echo "load: $(cat "$WORK/past.log") in $(python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')") s"

declare -A SERVE
for i in 1 2 3; do
  "$BIN" serve --kafka-brokers "$BROKERS" --listen "127.0.0.1:$((BASE + i))" --group load \
    --simulate-tenants 0 --history none --log info > "$WORK/serve-$i.log" 2>&1 &
  SERVE[$i]=$!
  PIDS+=($!)
done
listed() {  # listed I STATUS: how many tenants instance I lists with STATUS
  curl -fs "http://127.0.0.1:$((BASE + $1))/api/v1/tenants" 2>/dev/null \
    | python3 -c "import json,sys; print(sum(t['status'] == '$2' for t in json.load(sys.stdin)['tenants']))" 2>/dev/null || echo 0
}
t0=$(date +%s.%N)
for i in 1 2 3; do
  for _ in $(seq 1200); do [ "$(listed $i live)" -ge "$TENANTS" ] && break; sleep 0.5; done
done
echo "load: three instances ready, each listing all $TENANTS tenants live, $(python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')") s after start"
for i in 1 2 3; do
  grep "rebuilt, live" "$WORK/serve-$i.log" | tail -1 | sed "s/.*live /load: instance $i first rebuild: /"
done

# Live traffic.
NOW=$(python3 -c "import datetime as d; print(d.datetime.now(d.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'))")
"$BIN" simulate --start "$NOW" --hours 1 --realtime --seed 7 "${SIM[@]}" 2> "$WORK/live.log" &
LIVEP=$!
PIDS+=($LIVEP)
sleep 10
applied() {  # applied I: events applied by instance I so far
  curl -fs "http://127.0.0.1:$((BASE + $1))/metrics" | awk '/^callboard_events_total\{.*outcome="applied"/ {s += $2} END {print s + 0}'
}
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
buckets() {  # buckets I FILE: instance I's fan-out histogram buckets now
  curl -fs "http://127.0.0.1:$((BASE + $1))/metrics" | grep '^callboard_snapshot_fanout_seconds_bucket' > "$2" || true
}
declare -A A0 C0
for i in 1 2 3; do A0[$i]=$(applied $i); C0[$i]=$(cpu "${SERVE[$i]}"); buckets $i "$WORK/b0-$i"; done
t0=$(date +%s.%N)
sleep "$LIVE"
secs=$(python3 -c "print($(date +%s.%N) - $t0)")
HZ=$(getconf CLK_TCK)
for i in 1 2 3; do
  a=$(applied $i); c=$(cpu "${SERVE[$i]}")
  rss=$(awk '/VmRSS/ {print $2}' "/proc/${SERVE[$i]}/status")
  owned=$(curl -fs "http://127.0.0.1:$((BASE + i))/metrics" | grep -c '^callboard_tenant_waiting_calls{' || true)
  buckets $i "$WORK/b1-$i"
  python3 - "$i" "$owned" "$a" "${A0[$i]}" "$c" "${C0[$i]}" "$secs" "$HZ" "$rss" "$WORK/b0-$i" "$WORK/b1-$i" <<'PY'
import re, sys
i, owned, a, a0, c, c0, secs, hz, rss, b0, b1 = sys.argv[1:]
secs = float(secs)
def read(path):
    return {float("inf") if m[0] == "+Inf" else float(m[0]): float(m[1])
            for m in re.findall(r'le="([^"]+)"\} (\S+)', open(path).read())}
before, after = read(b0), read(b1)
counts = sorted((le, after[le] - before.get(le, 0)) for le in after)
total = counts[-1][1] if counts else 0
def quantile(q):  # as Prometheus's histogram_quantile: linear within a bucket
    if not total:
        return "n/a"
    rank, lo, below = q * total, 0.0, 0.0
    for le, n in counts:
        if n >= rank:
            if le == float("inf"):
                return f"> {lo * 1000:.0f} ms"
            return f"{(lo + (le - lo) * (rank - below) / max(n - below, 1e-9)) * 1000:.0f} ms"
        lo, below = le, n
print(f"load: instance {i}: owns {owned} tenants, {(float(a) - float(a0)) / secs:.0f} events/s applied, "
      f"CPU {(float(c) - float(c0)) / float(hz) / secs * 100:.0f} % of a core, RSS {int(rss) / 1024:.0f} MiB, "
      f"fan-out p50 {quantile(0.5)} p99 {quantile(0.99)} ({int(total)} snapshots from the others)")
PY
done
mock_cpu=$(cpu $MOCK); echo "load: (the mock cluster's process: $(python3 -c "print(f'{$mock_cpu / $HZ:.0f}')") CPU seconds so far)"

# Kill one. Until every tenant is live again, the most tenants instance 2
# lists as not live at once: the killed one's only, if the rebalance left
# the survivors' own tenants alone.
OWNED1=$(curl -fs "http://127.0.0.1:$((BASE + 1))/metrics" | grep -c '^callboard_tenant_waiting_calls{' || true)
t0=$(date +%s.%N)
kill -KILL "${SERVE[1]}"
# The killed one's tenants turn stale after 5 s of silence.
for _ in $(seq 60); do [ "$(listed 2 live)" -lt "$TENANTS" ] && break; sleep 0.5; done
dark=0
for _ in $(seq 1200); do
  l2=$(listed 2 live); l3=$(listed 3 live)
  [ $((TENANTS - l2)) -gt "$dark" ] && dark=$((TENANTS - l2))
  [ "$l2" -ge "$TENANTS" ] && [ "$l3" -ge "$TENANTS" ] && break
  sleep 0.5
done
echo "load: instance 1 (owner of $OWNED1 tenants) killed: every tenant live again on both survivors $(python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')") s later; at most $dark tenants not live at once on instance 2"
for i in 2 3; do
  grep "rebuilt, live" "$WORK/serve-$i.log" | tail -1 | sed "s/.*live /load: instance $i rebuild after the kill: /"
done

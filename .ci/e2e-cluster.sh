#!/usr/bin/env bash
# A cluster end to end: three instances in one consumer group on six
# partitions (librdkafka's mock cluster in a process of its own: its group
# coordinator moves a dead member's partitions), four tenants' events from
# an independent producer (confluent-kafka). Every instance serves every
# tenant; the owner of one is SIGKILLed mid-stream; a wallboard connected to
# a survivor sees that tenant go stale and live again on one connection;
# failover (kill to every tenant live again on both survivors) within 30 s;
# a tenant whose owner survives stays live throughout (the rebalance moves
# only the dead member's partitions); the killed instance is restarted and
# given partitions back; every instance's final snapshots equal
# `callboard replay`, and so does the history the owners wrote to one
# PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=$(mktemp -d)
BASE=${E2E_CLUSTER_PORT:-18100}
BIN=target/release/callboard
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

python3 -c "import confluent_kafka" 2>/dev/null || python3 -m pip install -q confluent-kafka
python3 -c "import websocket" 2>/dev/null || python3 -m pip install -q websocket-client
cargo build --release --locked
cargo build --release --locked --example mock_kafka

# One PostgreSQL for the cluster's history, emptied: every owner writes its
# tenants' interval rows to it.
PG=$(bash .ci/postgres.sh callboard_cluster)
# Every table, whatever the migrations made (a list here would miss the next one).
TABLES=$(psql "$PG" -Atq -c "SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables WHERE schemaname = 'public'")
[ -z "$TABLES" ] || PGOPTIONS=--client-min-messages=warning psql "$PG" -q -c "DROP TABLE $TABLES"

target/release/examples/mock_kafka callboard.events:6 callboard.events.dlq:1 \
  callboard.events.state:6 callboard.snapshots:6 > "$WORK/mock.out" 2>"$WORK/mock.log" &
PIDS+=($!)
for _ in $(seq 50); do [ -s "$WORK/mock.out" ] && break; sleep 0.1; done
BROKERS=$(head -1 "$WORK/mock.out")
echo "cluster: mock cluster at $BROKERS"

# Two hours of four tenants' traffic, ending now.
START=$(python3 -c "import datetime as d; print((d.datetime.now(d.timezone.utc)-d.timedelta(hours=2)).strftime('%Y-%m-%dT%H:%M:%SZ'))")
TENANTS=(demo globex initech umbrella)
for i in 0 1 2 3; do
  t=${TENANTS[$i]}
  "$BIN" simulate --start "$START" --hours 1.98 --seed $((10 + i)) --agents 10 \
    | sed "s/\"tenant\":\"demo\"/\"tenant\":\"$t\"/; s/\"id\":\"demo-/\"id\":\"$t-/" > "$WORK/$t.ndjson"
done
python3 - "$WORK"/{demo,globex,initech,umbrella}.ndjson > "$WORK/events.ndjson" <<'PY'
import heapq, json, sys
files = [open(p, encoding="utf-8") for p in sys.argv[1:]]
for line in heapq.merge(*files, key=lambda l: json.loads(l)["ts"]):
    sys.stdout.write(line)
PY
N=$(wc -l < "$WORK/events.ndjson")
H=$((N / 2)); T=$((3 * N / 4))
echo "cluster: $N events of ${#TENANTS[@]} tenants"

declare -A SERVE
serve() {  # serve I: instance I on port BASE+I
  "$BIN" serve --kafka-brokers "$BROKERS" --listen "127.0.0.1:$((BASE + $1))" --group e2e-cluster \
    --simulate-tenants 0 --history "$PG" --log info >> "$WORK/serve-$1.log" 2>&1 &
  SERVE[$1]=$!
  PIDS+=($!)
}
ready() {  # ready I
  for _ in $(seq 600); do
    curl -fs "http://127.0.0.1:$((BASE + $1))/readyz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "cluster: instance $1 not ready"; tail -30 "$WORK/serve-$1.log"; exit 1
}
# Every tenant listed and live on instance I, within a deadline.
all_live() {  # all_live I SECONDS
  local deadline=$((SECONDS + $2))
  while [ $SECONDS -lt $deadline ]; do
    curl -fs "http://127.0.0.1:$((BASE + $1))/api/v1/tenants" > "$WORK/tenants-$1.json" 2>/dev/null || true
    python3 - "$WORK/tenants-$1.json" "${TENANTS[@]}" <<'PY' && return 0
import json, sys
try:
    listed = {t["tenant"]: t["status"] for t in json.load(open(sys.argv[1]))["tenants"]}
except Exception:
    sys.exit(1)
sys.exit(0 if all(listed.get(t) == "live" for t in sys.argv[2:]) else 1)
PY
    sleep 0.2
  done
  return 1
}

python3 .ci/kafka_client.py produce "$BROKERS" callboard.events "$WORK/events.ndjson" 0 "$H"
for i in 1 2 3; do serve $i; done
for i in 1 2 3; do ready $i; done
for i in 1 2 3; do
  all_live $i 60 || { echo "cluster: instance $i does not serve every tenant live: $(cat "$WORK/tenants-$i.json")"; tail -20 "$WORK/serve-$i.log"; exit 1; }
done
echo "cluster: each of 3 instances serves all ${#TENANTS[@]} tenants, live"

# Who computes what: a tenant's series are on its owner's /metrics only.
owners() {  # owners I...: prints "tenant instance" for each tenant computed
  for i in "$@"; do
    curl -fs "http://127.0.0.1:$((BASE + i))/metrics" | grep -o 'callboard_tenant_waiting_calls{tenant="[^"]*"' \
      | sed 's/.*tenant="\(.*\)"/\1/' | sed "s/\$/ $i/" || true
  done
}
owners 1 2 3 > "$WORK/owners.txt"
python3 - "$WORK/owners.txt" "${TENANTS[@]}" <<'PY'
import collections, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
by = collections.defaultdict(list)
for t, i in rows:
    by[t].append(i)
for t in sys.argv[2:]:
    if len(by[t]) != 1:
        sys.exit(f"cluster: {t} is exported by instances {by[t]}: each tenant's series must come from its owner only")
print("cluster: each tenant's series come from one instance: " + ", ".join(f"{t}@{by[t][0]}" for t in sys.argv[2:]))
PY
VICTIM=$(awk '$1 == "demo" {print $2}' "$WORK/owners.txt")
SURVIVORS=()
for i in 1 2 3; do [ "$i" != "$VICTIM" ] && SURVIVORS+=("$i"); done
WATCH=${SURVIVORS[0]}

# Wallboards on survivors: one follows the tenant that will lose its owner;
# one follows a tenant whose owner survives, on the other survivor (through
# the snapshot topic): a rebalance that does not move it must not darken it.
board() {  # board INSTANCE TENANT OUT
  python3 - "ws://127.0.0.1:$((BASE + $1))/api/v1/ws?tenant=$2" "$3" <<'PY' &
import json, sys, time, websocket
ws = websocket.create_connection(sys.argv[1], timeout=120)
with open(sys.argv[2], "w") as out:
    while True:
        try:
            m = json.loads(ws.recv())
        except Exception as e:
            out.write(json.dumps({"closed": str(e), "t": time.time()}) + "\n")
            break
        if m.get("type") != "snapshot":  # a status (recovering) before the figures
            continue
        out.write(json.dumps({"t": time.time(), "seq": m["seq"], "status": m["snapshot"]["status"],
                              "inbound": m["snapshot"]["totals"]["inbound"]}) + "\n")
        out.flush()
PY
  PIDS+=($!)
  BOARDS+=($!)
}
BOARDS=()
board "$WATCH" demo "$WORK/ws.jsonl"
STEADY=$(awk -v v="$VICTIM" '$2 != v {print $1; exit}' "$WORK/owners.txt")
if [ -n "$STEADY" ]; then
  STEADY_OWNER=$(awk -v t="$STEADY" '$1 == t {print $2}' "$WORK/owners.txt")
  STEADY_WATCH=${SURVIVORS[0]}
  [ "$STEADY_WATCH" = "$STEADY_OWNER" ] && STEADY_WATCH=${SURVIVORS[1]}
  board "$STEADY_WATCH" "$STEADY" "$WORK/ws-steady.jsonl"
else
  echo "cluster: every tenant is on instance $VICTIM: no tenant stays put in this run"
fi
sleep 2

# Kill the owner while events are being produced.
python3 .ci/kafka_client.py produce "$BROKERS" callboard.events "$WORK/events.ndjson" "$H" "$T" > "$WORK/produce.log" &
PRODUCE=$!
sleep 0.5
KILLED=$(date +%s.%N)
kill -KILL "${SERVE[$VICTIM]}"; wait "${SERVE[$VICTIM]}" 2>/dev/null || true
echo "cluster: instance $VICTIM (owner of demo) killed"
wait $PRODUCE

# Stale first (its owner is silent), then live on every survivor.
for _ in $(seq 150); do grep -q '"status": "stale"' "$WORK/ws.jsonl" && break; sleep 0.2; done
grep -q '"status": "stale"' "$WORK/ws.jsonl" || { echo "cluster: the board on instance $WATCH never showed demo stale"; tail -3 "$WORK/ws.jsonl"; exit 1; }
echo "cluster: demo stale on instance $WATCH's board $(python3 -c "
import json, sys
m = next(json.loads(l) for l in open('$WORK/ws.jsonl') if '\"stale\"' in l)
print(f'{m[\"t\"] - $KILLED:.1f}')") s after the kill"
for i in "${SURVIVORS[@]}"; do
  all_live "$i" 45 || { echo "cluster: instance $i does not serve every tenant live again: $(cat "$WORK/tenants-$i.json")"; tail -30 "$WORK/serve-$i.log"; exit 1; }
done
LIVE=$(date +%s.%N)
python3 - "$KILLED" "$LIVE" "$WORK/ws.jsonl" <<'PY'
import json, sys
killed, live = float(sys.argv[1]), float(sys.argv[2])
took = live - killed
msgs = [json.loads(l) for l in open(sys.argv[3])]
closed = [m for m in msgs if "closed" in m]
if closed:
    sys.exit(f"cluster: the survivor's websocket closed: {closed[0]}")
after = [m for m in msgs if m["t"] > killed]
statuses = [m["status"] for m in after]
if "stale" not in statuses:
    sys.exit(f"cluster: the board never showed demo stale after the kill: {statuses[:20]}")
first_stale = statuses.index("stale")
if "live" not in statuses[first_stale:]:
    sys.exit(f"cluster: the board never showed demo live again: {statuses[-20:]}")
seqs = [m["seq"] for m in msgs]
if any(b < a for a, b in zip(seqs, seqs[1:])):
    sys.exit(f"cluster: sequence numbers went back: {seqs}")
if took > 30:
    sys.exit(f"cluster: failover took {took:.1f} s (over 30 s)")
print(f"cluster: failover: every tenant live on both survivors {took:.1f} s after the kill; "
      f"the board saw demo stale then live on one connection (seq {seqs[0]}..{seqs[-1]})")
PY

if [ -n "$STEADY" ]; then
  python3 - "$KILLED" "$LIVE" "$WORK/ws-steady.jsonl" "$STEADY" "$STEADY_OWNER" "$STEADY_WATCH" <<'PY'
import json, sys
killed, live, path, tenant, owner, watch = float(sys.argv[1]), float(sys.argv[2]), *sys.argv[3:]
msgs = [json.loads(l) for l in open(path)]
if any("closed" in m for m in msgs):
    sys.exit(f"cluster: the websocket following {tenant} closed")
during = [m for m in msgs if killed <= m["t"] <= live]
dark = [m["status"] for m in during if m["status"] != "live"]
if dark:
    sys.exit(f"cluster: {tenant} (owner {owner} survived) went {dark[0]} on instance {watch}'s board during the failover")
times = [killed] + [m["t"] for m in during] + [live]
gap = max(b - a for a, b in zip(times, times[1:]))
if gap > 3:
    sys.exit(f"cluster: {tenant}'s board on instance {watch} heard nothing for {gap:.1f} s during the failover")
print(f"cluster: {tenant} (owner {owner} survived) stayed live on instance {watch}'s board through the failover, "
      f"{len(during)} snapshots, the longest gap {gap:.1f} s")
PY
fi

# The killed instance comes back (a restart, a rolling deploy): the group
# takes partitions from the survivors and gives them to it, one rebalance.
before=$(wc -l < "$WORK/serve-$VICTIM.log")
t0=$(date +%s.%N)
serve "$VICTIM"
# A board that was on it reconnects at once, retrying while it is refused:
# the restarted instance must show it nothing older than a snapshot it had,
# and nothing old as live (it first reads back the last minute of the
# snapshot topic).
python3 - "ws://127.0.0.1:$((BASE + VICTIM))/api/v1/ws?tenant=demo" "$WORK/ws-back.jsonl" <<'PY' &
import json, sys, time, websocket
from datetime import datetime
deadline = time.time() + 60
refused = 0
while True:
    try:
        ws = websocket.create_connection(sys.argv[1], timeout=10)
        break
    except Exception:
        refused += 1
        if time.time() > deadline:
            sys.exit("never accepted")
        time.sleep(0.2)
end = time.time() + 12
with open(sys.argv[2], "w") as out:
    out.write(json.dumps({"refused": refused}) + "\n")
    while time.time() < end:
        m = json.loads(ws.recv())
        if m.get("type") != "snapshot":  # a status (recovering) before the figures
            continue
        s = m["snapshot"]
        at = datetime.fromisoformat(s["at"].replace("Z", "+00:00")).timestamp()
        out.write(json.dumps({"t": time.time(), "seq": m["seq"], "status": s["status"], "at": at}) + "\n")
        out.flush()
PY
BACK=$!
PIDS+=($BACK)
ready "$VICTIM"
wait "$BACK" || { echo "cluster: the reconnecting board failed"; exit 1; }
python3 - "$WORK/ws-back.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
refused, msgs = lines[0]["refused"], lines[1:]
if not msgs:
    sys.exit("cluster: the reconnecting board got nothing")
seqs = [m["seq"] for m in msgs]
if any(b < a for a, b in zip(seqs, seqs[1:])):
    sys.exit(f"cluster: the reconnecting board saw numbers go back: {seqs[:20]}")
ats = [m["at"] for m in msgs]
if any(b < a for a, b in zip(ats, ats[1:])):
    sys.exit("cluster: the reconnecting board saw an older snapshot after a newer one")
old_live = [m for m in msgs if m["status"] == "live" and m["t"] - m["at"] > 5]
if old_live:
    sys.exit(f"cluster: old snapshots shown live to the reconnecting board: {[round(m['t'] - m['at'], 1) for m in old_live][:10]} s old")
first = msgs[0]
print(f"cluster: a board reconnecting to the restarted instance was refused {refused} times while it read the "
      f"snapshot topic, then got {len(msgs)} snapshots, numbers rising, the first {first['t'] - first['at']:.1f} s old "
      f"({first['status']}), none old and live")
PY
for _ in $(seq 300); do
  tail -n +"$((before + 1))" "$WORK/serve-$VICTIM.log" | grep -q 'partitions assigned.*assigned=\[[0-9]' && break
  sleep 0.2
done
tail -n +"$((before + 1))" "$WORK/serve-$VICTIM.log" | grep -q 'partitions assigned.*assigned=\[[0-9]' \
  || { echo "cluster: the restarted instance $VICTIM was given no partition"; tail -20 "$WORK/serve-$VICTIM.log"; exit 1; }
for i in 1 2 3; do
  all_live "$i" 45 || { echo "cluster: after instance $VICTIM's restart, instance $i does not serve every tenant live: $(cat "$WORK/tenants-$i.json")"; tail -30 "$WORK/serve-$i.log"; exit 1; }
done
echo "cluster: instance $VICTIM restarted and given partitions back; every tenant live on all three $(python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')") s after its start"

python3 .ci/kafka_client.py produce "$BROKERS" callboard.events "$WORK/events.ndjson" "$T" "$N"

# Every instance's snapshot of every tenant equals replay of its events.
for t in "${TENANTS[@]}"; do
  want=$(tail -1 "$WORK/$t.ndjson" | python3 -c "import json,sys; print(json.load(sys.stdin)['ts'])")
  for i in 1 2 3; do
    ok=""
    for _ in $(seq 300); do
      curl -fs "http://127.0.0.1:$((BASE + i))/api/v1/tenants/$t/snapshot" > "$WORK/$t.$i.json" 2>/dev/null || true
      python3 - "$WORK/$t.$i.json" "$want" <<'PY' && { ok=1; break; }
import json, sys
from datetime import datetime
try:
    s = json.load(open(sys.argv[1]))
    t = datetime.fromisoformat(s["as_of"].replace("Z", "+00:00"))
except Exception:
    sys.exit(1)
want = datetime.fromisoformat(sys.argv[2].replace("Z", "+00:00"))
sys.exit(0 if t >= want and s["status"] == "live" else 1)
PY
      sleep 0.2
    done
    [ -n "$ok" ] || { echo "cluster: $t never caught up on instance $i"; tail -20 "$WORK/serve-$i.log"; exit 1; }
    AT=$(python3 -c "import json; print(json.load(open('$WORK/$t.$i.json'))['at'])")
    "$BIN" replay --input "$WORK/events.ndjson" --tenant "$t" --at "$AT" > "$WORK/$t.$i.replayed.json" 2>/dev/null
    python3 .ci/same_snapshot.py cluster "$t@$i" "$WORK/$t.$i.json" "$WORK/$t.$i.replayed.json"
  done
done
# The history every owner wrote, the killed one included, equals replay's
# interval rows: a move rewrites the same rows (queue rows; agents' rows run
# with the clock).
FROM=$(python3 -c "import datetime as d; print(d.date.today() - d.timedelta(days=1))")
TO=$(python3 -c "import datetime as d; print(d.date.today() + d.timedelta(days=1))")
for t in "${TENANTS[@]}"; do
  AT=$(python3 -c "import json; print(json.load(open('$WORK/$t.${SURVIVORS[0]}.json'))['at'])")
  "$BIN" replay --input "$WORK/events.ndjson" --tenant "$t" --at "$AT" --intervals > "$WORK/$t.intervals.ndjson" 2>/dev/null
  ok=""
  for _ in $(seq 150); do
    curl -fs "http://127.0.0.1:$((BASE + SURVIVORS[0]))/api/v1/tenants/$t/history?from=$FROM&to=$TO&by=queue&step=interval" \
      > "$WORK/$t.history.json" 2>/dev/null || true
    python3 .ci/same_history.py "$WORK/$t.intervals.ndjson" "$WORK/$t.history.json" > "$WORK/$t.history.diff" && { ok=1; break; }
    sleep 0.4
  done
  [ -n "$ok" ] || { echo "cluster: $t's history in PostgreSQL differs from replay: $(head -5 "$WORK/$t.history.diff")"; exit 1; }
  echo "cluster: $t's history in PostgreSQL = replay ($(cat "$WORK/$t.history.diff"))"
done

owners 1 2 3 > "$WORK/owners.txt"
python3 - "$WORK/owners.txt" "${TENANTS[@]}" <<'PY'
import collections, sys
by = collections.defaultdict(list)
for t, i in (l.split() for l in open(sys.argv[1]) if l.strip()):
    by[t].append(i)
bad = {t: by[t] for t in sys.argv[2:] if len(by[t]) != 1}
if bad:
    sys.exit(f"cluster: after the failover and the restart, tenants exported by other than one instance: {bad}")
print("cluster: after the failover and the restart each tenant's series come from one instance: "
      + ", ".join(f"{t}@{by[t][0]}" for t in sys.argv[2:]))
PY
grep -h "rebuilt, live" "$WORK"/serve-*.log | tail -3 | sed 's/^/cluster: /'
for i in 1 2 3; do kill -TERM "${SERVE[$i]}"; wait "${SERVE[$i]}"; done
for b in "${BOARDS[@]}"; do kill "$b" 2>/dev/null || true; done
echo "cluster: passed"

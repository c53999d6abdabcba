#!/usr/bin/env bash
# What a start costs when the snapshot topic holds more than each tenant's
# latest (a broker that has not compacted it yet, or never does): N
# snapshot messages of 100 tenants are produced to it, then an instance
# starts and the time to ready (the topic read) is taken. Twice: the
# messages sent ten minutes ago (a start skips them: it reads the last
# minute), then sent just now (it reads them all).
#
#   bash tools/snapshot-topic-start.sh [N]   (20000)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
WORK=$(mktemp -d)
PORT=${LOAD_PORT:-18300}
BIN=target/release/callboard
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
python3 -c "import confluent_kafka" 2>/dev/null || python3 -m pip install -q confluent-kafka
cargo build --release --locked
cargo build --release --locked --example mock_kafka
"$BIN" replay --input samples/demo-day.ndjson --config samples/callboard.toml > "$WORK/snapshot.json" 2>/dev/null

for age in 600 0; do
  target/release/examples/mock_kafka callboard.events:4 callboard.events.dlq:1 \
    callboard.snapshots:4 > "$WORK/mock.out" 2>"$WORK/mock.log" &
  MOCK=$!
  PIDS+=($MOCK)
  for _ in $(seq 50); do [ -s "$WORK/mock.out" ] && break; sleep 0.1; done
  BROKERS=$(head -1 "$WORK/mock.out")
  python3 - "$BROKERS" "$WORK/snapshot.json" "$N" "$age" <<'PY'
import json, sys, time
from confluent_kafka import Producer
brokers, path, n, age = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
snapshot = json.load(open(path))
p = Producer({"bootstrap.servers": brokers, "linger.ms": 20, "compression.type": "lz4"})
sent = int(time.time() * 1000) - age * 1000
for i in range(n):
    tenant = f"t{i % 100}"
    snapshot["tenant"] = tenant
    message = json.dumps({"type": "snapshot", "seq": i // 100 + 1, "snapshot": snapshot})
    while True:
        try:
            p.produce("callboard.snapshots", key=tenant, value=message, timestamp=sent + i)
            break
        except BufferError:
            p.poll(0.1)
p.flush()
PY
  t0=$(date +%s.%N)
  "$BIN" serve --kafka-brokers "$BROKERS" --listen "127.0.0.1:$PORT" --group start-$age \
    --simulate-tenants 0 --history none --state-topic none --log info > "$WORK/serve-$age.log" 2>&1 &
  SERVE=$!
  PIDS+=($SERVE)
  for _ in $(seq 1200); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.05; done
  took=$(python3 -c "print(f'{$(date +%s.%N) - $t0:.2f}')")
  read_line=$(grep -o 'messages=[0-9]* older_skipped=[0-9]*' "$WORK/serve-$age.log" | head -1)
  # From the first line of the process to the topic read, by the log's clock.
  catch_up=$(python3 - "$WORK/serve-$age.log" <<'PY'
import re, sys
from datetime import datetime
stamps = {}
for line in open(sys.argv[1]):
    m = re.match(r"(\S+Z)\s", line)
    if not m:
        continue
    t = datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))
    stamps.setdefault("start", t)
    if "snapshot topic read" in line:
        stamps.setdefault("read", t)
print(f"{(stamps['read'] - stamps['start']).total_seconds():.2f}" if "read" in stamps else "n/a")
PY
)
  echo "start: $N snapshot messages sent ${age} s ago: topic read $catch_up s after start, ready in $took s ($read_line)"
  kill -TERM "$SERVE"; wait "$SERVE" 2>/dev/null || true
  kill -9 "$MOCK"; wait "$MOCK" 2>/dev/null || true
done

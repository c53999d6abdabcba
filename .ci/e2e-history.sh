#!/usr/bin/env bash
# The history in PostgreSQL, as the compose stack runs it: `callboard serve`
# with the simulator writes its interval statistics to a real PostgreSQL,
# then every query of Grafana's history dashboard (its variables and each
# panel's SQL, Grafana's macros filled in as Grafana does) runs against it
# and must return data.
set -euo pipefail
cd "$(dirname "$0")/.."
HTTP=${E2E_HISTORY_PORT:-18095}
URL=$(bash .ci/postgres.sh callboard_grafana)
WORK=$(mktemp -d)
cargo build --release --locked
# A clean database: the dashboard must find what this run wrote.
# Every table, whatever the migrations made (a list here would miss the next one).
TABLES=$(psql "$URL" -Atq -c "SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables WHERE schemaname = 'public'")
[ -z "$TABLES" ] || PGOPTIONS=--client-min-messages=warning psql "$URL" -q -c "DROP TABLE $TABLES"
target/release/callboard serve --listen "127.0.0.1:$HTTP" --history "$URL" --event-log "$WORK/events" --log warn > "$WORK/serve.log" 2>&1 &
SERVE=$!
trap 'kill $SERVE 2>/dev/null || true' EXIT
# The back-fill writes past days at once; today's rows come with the
# writer's first rounds (every few seconds). Wait for both: the tables hold
# rows and the REST report has today.
today=0
for _ in $(seq 300); do
  n=$(psql "$URL" -tAc "SELECT (SELECT count(*) FROM queue_intervals) * (SELECT count(*) FROM agent_intervals) * (SELECT count(*) FROM callback_days)" 2>/dev/null || echo 0)
  if [ "${n:-0}" -gt 0 ] &&
     curl -fs "http://127.0.0.1:$HTTP/api/v1/tenants/demo/history?by=tenant&step=day" > "$WORK/report.json" 2>/dev/null &&
     python3 -c 'import json, sys; sys.exit(0 if json.load(open(sys.argv[1]))["rows"] else 1)' "$WORK/report.json"; then
    today=1; break
  fi
  sleep 0.2
done
[ "$today" = 1 ] || { echo "history: today's rows not written to PostgreSQL within 60 s"; cat "$WORK/serve.log"; exit 1; }
# What the REST report says of today is what the tables hold.

python3 - "$URL" "$WORK/report.json" <<'PY'
import json, re, subprocess, sys, time
url = sys.argv[1]
def sql(q):
    out = subprocess.run(["psql", url, "-tA", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", q],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"history: query failed: {out.stderr.strip()}\n{q}")
    return [l.split("\t") for l in out.stdout.splitlines() if l]
now = int(time.time())
frm = now - 7 * 86400
def concrete(q, values):
    q = re.sub(r"\$__unixEpochFilter\(([^()]*(?:\([^()]*\))?[^()]*)\)", rf"(\1) BETWEEN {frm} AND {now}", q)
    q = re.sub(r"\$__timeFilter\(([^()]*(?:\([^()]*\))?[^()]*)\)",
               rf"(\1) BETWEEN to_timestamp({frm}) AND to_timestamp({now})", q)
    for k, v in values.items():
        q = q.replace(f"${k}", v)
    assert "$" not in q, f"a macro or variable left in: {q}"
    return q
d = json.load(open("grafana/dashboards/history.json"))
values, failures, checked = {}, [], 0
for v in d["templating"]["list"]:
    rows = sql(concrete(v["query"], values))
    checked += 1
    if not rows:
        failures.append(f"variable {v['name']}: no values")
        continue
    values[v["name"]] = "demo" if v["name"] == "tenant" and ["demo"] in rows else rows[0][0]
for p in d["panels"]:
    for t in p["targets"]:
        checked += 1
        rows = sql(concrete(t["rawSql"], values))
        numbers = [c for r in rows for c in r[1:] if re.fullmatch(r"-?[0-9.]+", c) and float(c) > 0]
        if not rows or not numbers:
            failures.append(f"panel '{p['title']}': no data")
report = json.load(open(sys.argv[2]))["rows"][0]
inbound = sql(f"SELECT SUM(inbound) FROM queue_intervals WHERE tenant = 'demo' AND day = '{report['period']}'")[0][0]
# The report was read first; the table may have grown since.
if int(inbound) < report["inbound"]:
    failures.append(f"the report's inbound {report['inbound']} is more than the table's {inbound}")
if failures:
    print("\n".join(failures)); sys.exit(1)
print(f"history: {checked} dashboard queries return data from PostgreSQL (tenant {values['tenant']}, queue {values['queue']})")
PY
kill $SERVE; wait $SERVE 2>/dev/null || true
echo "history: passed"

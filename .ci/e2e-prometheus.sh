#!/usr/bin/env bash
# Prometheus side, for real: promtool checks and unit tests of the rules; a
# Prometheus (Debian package) scraping two instances of `callboard serve` in
# one consumer group, fed by the simulator, with the rules loaded; every
# query of every Grafana panel, every dashboard variable and every rule must
# return data through Prometheus's HTTP API, a tenant's series must come
# from one instance, and still do, with panels and rules working, after its
# owner stops and the other takes it over. Last, what can be checked of docker-compose.yml and the Dockerfile without a
# Docker engine.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=$(mktemp -d)
HTTP=${E2E_PROM_HTTP:-18093}
METRICS=${E2E_PROM_METRICS:-19100}
PROM=${E2E_PROM_PORT:-19090}
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

promtool check config prometheus/prometheus.yml
promtool check rules prometheus/rules/callboard.rules.yml
(cd prometheus && promtool test rules tests/callboard.test.yml)
# Alertmanager's routes: floor alerts to the supervisors, health to the pager.
command -v amtool >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-alertmanager >/dev/null; }
amtool check-config prometheus/alertmanager.yml
python3 .ci/alert-routes.py

cargo build --release --locked
# As in docker-compose.yml: a broker, live simulated traffic produced into
# it, callboard consuming it (so the Kafka metrics exist too).
KAFKA=${E2E_PROM_KAFKA:-19094}
command -v tansu >/dev/null || cargo install tansu --locked --features dynostore
tansu broker --storage-engine memory://tansu/ --listener-url "tcp://127.0.0.1:$KAFKA" \
  --advertised-listener-url "tcp://127.0.0.1:$KAFKA" > "$WORK/tansu.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$KAFKA) 2>/dev/null && break; sleep 0.2; done
tansu topic create callboard.events --partitions 2 --broker "tcp://127.0.0.1:$KAFKA"
tansu topic create callboard.events.dlq --partitions 1 --broker "tcp://127.0.0.1:$KAFKA"
target/release/callboard simulate --kafka-brokers "127.0.0.1:$KAFKA" --start today --hours 24 \
  --realtime > "$WORK/simulate.log" 2>&1 &
PIDS+=($!)
# Two instances, as in docker-compose.yml: instance I on HTTP+I, metrics on
# METRICS+I.
declare -A SERVE
for i in 0 1; do
  target/release/callboard serve --listen "127.0.0.1:$((HTTP + i))" --metrics-listen "127.0.0.1:$((METRICS + i))" \
    --kafka-brokers "127.0.0.1:$KAFKA" --publish-interval-ms 250 --log warn > "$WORK/serve-$i.log" 2>&1 &
  SERVE[$i]=$!
  PIDS+=($!)
done
for i in 0 1; do
  for _ in $(seq 300); do curl -fs "http://127.0.0.1:$((HTTP + i))/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
  for _ in $(seq 150); do curl -fs "http://127.0.0.1:$((HTTP + i))/api/v1/tenants/demo/snapshot" >/dev/null 2>&1 && break; sleep 0.2; done
done
# One malformed event, so that the rejection series exists as it would in life.
curl -s -o /dev/null -X POST --data-binary 'not an event' "http://127.0.0.1:$HTTP/api/v1/events"

cat > "$WORK/prometheus.yml" <<YML
global: {scrape_interval: 2s, evaluation_interval: 2s}
rule_files: ["$PWD/prometheus/rules/callboard.rules.yml"]
scrape_configs:
  - job_name: callboard
    static_configs: [{targets: ["127.0.0.1:$METRICS", "127.0.0.1:$((METRICS + 1))"]}]
YML
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/data" \
  --web.listen-address="127.0.0.1:$PROM" > "$WORK/prom.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PROM/-/ready" >/dev/null 2>&1 && break; sleep 0.2; done
sleep 20   # several scrapes and rule evaluations

cat > "$WORK/queries.py" <<'PY'
import glob, json, re, sys, urllib.parse, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}"
def query(expr):
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url) as r:
        body = json.load(r)
    assert body["status"] == "success", (expr, body)
    return body["data"]["result"]
def concrete(expr):
    # A Prometheus started a minute ago holds nothing a day old: a query
    # compared "offset 1d" is checked for data without its offset.
    return (expr.replace("$__rate_interval", "1m").replace('"$tenant"', '".+"')
                .replace('"$service"', '".+"').replace('"$queue"', '".+"')
                .replace(" offset 1d", ""))
failures, checked = [], 0
for path in sorted(glob.glob("grafana/dashboards/*.json")):
    d = json.load(open(path))
    if any(p["datasource"]["uid"] != "prometheus" for p in d["panels"]):
        continue  # the history dashboard reads PostgreSQL: .ci/e2e-history.sh
    for v in d["templating"]["list"]:
        m = re.match(r"label_values\((.*),\s*(\w+)\)$", v["query"]["query"])
        metric, label = m.group(1), m.group(2)
        if not any(label in s["metric"] for s in query(concrete(metric))):
            failures.append(f"{path}: variable {v['name']}: {metric} has no {label}")
        checked += 1
    for p in d["panels"]:
        for t in p["targets"]:
            checked += 1
            if not query(concrete(t["expr"])):
                failures.append(f"{path}: panel '{p['title']}': no data for {t['expr']}")
import yaml  # noqa: E402 (installed by the caller if missing)
rules = yaml.safe_load(open("prometheus/rules/callboard.rules.yml"))
for g in rules["groups"]:
    for r in g["rules"]:
        checked += 1
        if "record" in r:
            if not query(r["record"]):
                failures.append(f"recording rule {r['record']}: no data")
        else:
            query(r["expr"])  # valid, whether it fires or not
            names = set(re.findall(r"\b(callboard[a-z_:0-9]*|up)\b(?=\s*[{\[)]|\s*$|\s)", r["expr"]))
            for n in names:
                if not query(n):
                    failures.append(f"alert {r['alert']}: no data for {n}")
if failures:
    print("\n".join(failures)); sys.exit(1)
print(f"prometheus: {checked} panel queries, variables and rules return data")
PY
python3 "$WORK/queries.py" "$PROM"

# One owner per tenant: its series come from one instance.
one_owner() {  # prints the instance exporting demo
  python3 - "$PROM" <<'PY'
import json, sys, urllib.parse, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/api/v1/query?" + urllib.parse.urlencode(
    {"query": "count by (tenant, instance) (callboard_tenant_waiting_calls)"})
rows = json.load(urllib.request.urlopen(url))["data"]["result"]
by = {}
for r in rows:
    by.setdefault(r["metric"]["tenant"], []).append(r["metric"]["instance"])
bad = {t: i for t, i in by.items() if len(i) != 1}
if bad or "demo" not in by:
    sys.exit(f"prometheus: tenants exported by other than one instance: {bad or by}")
print(by["demo"][0])
PY
}
OWNER=$(one_owner)
echo "prometheus: demo's series come from $OWNER only"
# Its owner stops (SIGTERM: it leaves the group); the other takes it over.
for i in 0 1; do [ "$OWNER" = "127.0.0.1:$((METRICS + i))" ] && GONE=$i; done
OTHER=$((1 - GONE))
kill -TERM "${SERVE[$GONE]}"; wait "${SERVE[$GONE]}" || { echo "prometheus: serve did not exit 0 on SIGTERM"; exit 1; }
moved=""
for _ in $(seq 300); do
  curl -fs "http://127.0.0.1:$((METRICS + OTHER))/metrics" | grep -q 'callboard_tenant_waiting_calls{tenant="demo"' && { moved=1; break; }
  sleep 0.2
done
[ -n "$moved" ] || { echo "prometheus: demo never moved to the other instance"; tail -20 "$WORK/serve-$OTHER.log"; exit 1; }
sleep 8   # scrapes of the new owner, and of the stopped one failing
NOW=$(one_owner)
[ "$NOW" = "127.0.0.1:$((METRICS + OTHER))" ] || { echo "prometheus: demo's series come from $NOW after the move"; exit 1; }
echo "prometheus: after its owner stopped, demo's series come from $NOW only"
python3 "$WORK/queries.py" "$PROM"

# docker-compose.yml and Dockerfile: files, ports and names agree with the code.
python3 - <<'PY'
import json, os, re, sys, tomllib, yaml
compose = yaml.safe_load(open("docker-compose.yml"))
problems = []
for name, svc in compose["services"].items():
    for v in svc.get("volumes", []):
        src = v.split(":")[0]
        if src.startswith("./") and not os.path.exists(src):
            problems.append(f"{name}: {src} does not exist")
cfg = tomllib.load(open("deploy/callboard.toml", "rb"))["serve"]
listen_port = cfg["listen"].rsplit(":", 1)[1]
metrics_port = cfg["metrics_listen"].rsplit(":", 1)[1]
# The instances (every service running `serve` with the config) sit behind
# the proxy: it publishes the port, its upstreams are the instances on
# serve.listen's port, and Prometheus scrapes each instance.
instances = sorted(n for n, svc in compose["services"].items()
                   if svc.get("command", [None])[0] == "serve")
if len(instances) < 2:
    problems.append(f"the stack runs {instances}: a cluster needs two instances")
nginx = open("deploy/nginx.conf").read()
upstreams = sorted(re.findall(r"^\s*server (\S+?)(?: |;)", nginx, re.M))
if upstreams != sorted(f"{n}:{listen_port}" for n in instances):
    problems.append(f"the proxy's upstreams {upstreams} are not the instances {instances} on {listen_port}")
proxy_listen = re.search(r"^\s*listen (\d+);", nginx, re.M).group(1)
if not any(p.endswith(f":{proxy_listen}") for p in compose["services"]["proxy"]["ports"]):
    problems.append(f"the proxy's published port does not match its listen {proxy_listen}")
if any("ports" in compose["services"][n] for n in instances):
    problems.append("instances publish ports of their own: the proxy is the one port")
prom = yaml.safe_load(open("prometheus/prometheus.yml"))
targets = sorted(prom["scrape_configs"][0]["static_configs"][0]["targets"])
if targets != sorted(f"{n}:{metrics_port}" for n in instances):
    problems.append(f"prometheus scrapes {targets}, the instances' metrics listen on {metrics_port}")
if cfg["kafka_brokers"] != "kafka:9092":
    problems.append("callboard's brokers are not the kafka service")
docker = open("Dockerfile").read()
for src in re.findall(r"^COPY (?!--from)(\S+)", docker, re.M):
    for f in src.split():
        if not os.path.exists(f):
            problems.append(f"Dockerfile copies {f}, which does not exist")
exposed = set(re.findall(r"^EXPOSE (.*)$", docker, re.M)[0].split())
if {listen_port, metrics_port} - exposed:
    problems.append(f"Dockerfile exposes {exposed}, the config listens on {listen_port} and {metrics_port}")
if "USER callboard" not in docker or "HEALTHCHECK" not in docker:
    problems.append("Dockerfile must run as a non-root user with a healthcheck")
provisioned = {}
for f in os.listdir("grafana/provisioning/datasources"):
    for ds in yaml.safe_load(open(os.path.join("grafana/provisioning/datasources", f)))["datasources"]:
        provisioned[ds["uid"]] = ds
for path in os.listdir("grafana/dashboards"):
    d = json.load(open(os.path.join("grafana/dashboards", path)))
    uids = {p["datasource"]["uid"] for p in d["panels"]}
    if len(uids) != 1 or not uids <= provisioned.keys():
        problems.append(f"{path} uses datasources {uids}, provisioned are {sorted(provisioned)}")
# The history: callboard writes to the postgres service, Grafana reads it.
pg = compose["services"]["postgres"]["environment"]
want = f"postgres://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/{pg['POSTGRES_DB']}"
if cfg.get("history") != want:
    problems.append(f"callboard's history {cfg.get('history')} is not the postgres service ({want})")
hist = provisioned["history"]
if hist["url"] != "postgres:5432" or hist["jsonData"]["database"] != pg["POSTGRES_DB"]:
    problems.append("Grafana's history datasource is not the postgres service's database")
if f"CREATE ROLE {hist['user']} " not in open("deploy/postgres-init.sql").read():
    problems.append(f"Grafana's history user {hist['user']} is not created by deploy/postgres-init.sql")
if "WORKDIR /var/lib/callboard" not in docker:
    problems.append("the image's working directory (the default history file) must be writable")
# kafka-init creates the topics the service uses: events, dead letters, the
# compacted state topic with the events' partition count, and the compacted
# snapshot topic.
init = " ".join(compose["services"]["kafka-init"]["command"])
topics = {m[0]: (int(m[1]), m[2]) for m in
          re.findall(r"--topic (\S+) --partitions (\d+) --replication-factor \d+((?: --config \S+)*)", init)}
events = cfg.get("topic", "callboard.events")
snapshots = cfg.get("snapshot_topic", "callboard.snapshots")
for t in [events, f"{events}.dlq", f"{events}.state", snapshots]:
    if t not in topics:
        problems.append(f"kafka-init does not create {t}")
if snapshots in topics and "cleanup.policy=compact" not in topics[snapshots][1]:
    problems.append("the snapshot topic is not created compacted")
# ... with the segments the service gives the topic when it creates it.
segment_s = re.search(r"pub const SEGMENT: Duration = Duration::from_secs\((\d+)\)",
                      open("src/kafka/snapshots.rs").read())
if not segment_s:
    problems.append("src/kafka/snapshots.rs has no SEGMENT to compare with")
elif snapshots in topics and f"segment.ms={int(segment_s[1]) * 1000}" not in topics[snapshots][1]:
    problems.append(f"the snapshot topic is not created with segment.ms={int(segment_s[1]) * 1000}, as the service creates it")
if f"{events}.state" in topics:
    if "cleanup.policy=compact" not in topics[f"{events}.state"][1]:
        problems.append("the state topic is not created compacted")
    if topics[f"{events}.state"][0] != topics.get(events, (0,))[0]:
        problems.append("the state topic's partitions differ from the events topic's")
default_listen = "127.0.0.1:8080"
if default_listen.rsplit(":", 1)[1] != listen_port:
    problems.append("the compose listen port differs from the code's default 8080")
if problems:
    print("\n".join(problems)); sys.exit(1)
print("compose: files exist, ports and names match the code")
PY
echo "prometheus: passed"

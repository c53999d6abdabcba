#!/usr/bin/env python3
"""The Deployment's container as the kubelet would start it, without a
cluster: its args and env, the ConfigMap's callboard.toml and the Secret's
tokens.toml at the paths it mounts them, the probes' paths on the port they
name. Kafka is not there (the instance then stays not ready, as the
readiness probe would see); PostgreSQL is replaced by no history. The
example token must open the API, and nothing else may."""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import yaml

BIN, PORT = os.path.abspath(sys.argv[1]), int(sys.argv[2])
K = "deploy/kubernetes"
dep = yaml.safe_load(open(f"{K}/deployment.yaml"))
pod = dep["spec"]["template"]["spec"]
c = pod["containers"][0]
mounts = {m["name"]: m for m in c["volumeMounts"]}
root = tempfile.mkdtemp()


def local(path):
    return os.path.join(root, path.lstrip("/"))


# The ConfigMap (one file, mounted with subPath) and the Secret (a folder).
os.makedirs(os.path.dirname(local(mounts["config"]["mountPath"])), exist_ok=True)
shutil.copy(f"{K}/callboard.toml", local(mounts["config"]["mountPath"]))
os.makedirs(local(mounts["tokens"]["mountPath"]), exist_ok=True)
shutil.copy(f"{K}/tokens.toml", os.path.join(local(mounts["tokens"]["mountPath"]), "tokens.toml"))
os.makedirs(local(mounts["state"]["mountPath"]), exist_ok=True)

env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBOARD_")}
for e in c["env"]:
    if "value" in e:
        v = e["value"]
        env[e["name"]] = local(v) if v.startswith("/") else v
env["CALLBOARD_HISTORY"] = "none"  # the Secret's PostgreSQL is not here
ports = {p["name"]: p["containerPort"] for p in c["ports"]}
assert ports == {"http": 8080, "metrics": 9100}, ports
env["CALLBOARD_LISTEN"] = f"127.0.0.1:{PORT}"
env["CALLBOARD_METRICS_LISTEN"] = f"127.0.0.1:{PORT + 1}"
env["CALLBOARD_KAFKA_BROKERS"] = "127.0.0.1:1"  # nobody there
p = subprocess.Popen([BIN, *c["args"]], cwd=local(mounts["state"]["mountPath"]), env=env,
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
log = []
# Read the log as it comes (a full pipe would hold the service up).
threading.Thread(target=lambda: log.extend(p.stderr), daemon=True).start()


def status(port, path, token=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                 headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        return urllib.request.urlopen(req, timeout=3).status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


try:
    probe_port = {"metrics": PORT + 1}
    live = c["livenessProbe"]["httpGet"]
    ready = c["readinessProbe"]["httpGet"]
    for _ in range(100):
        if status(probe_port[live["port"]], live["path"]) == 200:
            break
        time.sleep(0.1)
    else:
        p.kill()
        sys.exit("kubernetes: the liveness probe never passed: " + "".join(log)[-800:])
    assert status(probe_port[ready["port"]], ready["path"]) == 503, "not ready without Kafka"
    token = "change-me-admin-token"
    assert hashlib.sha256(token.encode()).hexdigest() in open(f"{K}/tokens.toml").read()
    assert status(PORT, "/api/v1/tenants") == 401
    assert status(PORT, "/api/v1/tenants", token) == 200
    started = time.time()
    p.terminate()
    grace = pod["terminationGracePeriodSeconds"] - pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    code = p.wait(grace)
    assert code == 0, (code, "".join(log)[-800:])
    print(f"kubernetes: stopped on SIGTERM in {time.time() - started:.1f} s, within the pod's grace after preStop ({grace} s)")
    print("kubernetes: the Deployment's container starts with its ConfigMap, Secret and env; "
          "liveness passes, readiness waits for Kafka, the Secret's token opens the API")
finally:
    p.terminate()
    p.wait(30)

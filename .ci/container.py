#!/usr/bin/env python3
"""The image as the Dockerfile runs it, without a Docker engine: its ENV,
WORKDIR (a fresh directory for the volume), ENTRYPOINT and CMD, then its
HEALTHCHECK command. `docker run -p 8080:8080 IMAGE` must give a board
reachable from the host that is never open: a first start makes an admin
token and prints it once; a second start keeps it."""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

BIN, PORT = os.path.abspath(sys.argv[1]), int(sys.argv[2])
docker = open("Dockerfile").read().replace("\\\n", " ")
final = docker[docker.rindex("\nFROM "):]


def instr(name):
    return [m.strip() for m in re.findall(rf"^{name} (.*)$", final, re.M)]


env = {}
for line in instr("ENV"):
    for kv in shlex.split(line):
        k, v = kv.split("=", 1)
        env[k] = v
workdir = instr("WORKDIR")[-1]
entry = json.loads(instr("ENTRYPOINT")[-1])
cmd = json.loads(instr("CMD")[-1])
health = json.loads(re.search(r"CMD (\[.*\])", instr("HEALTHCHECK")[-1]).group(1))
assert entry == ["callboard"], entry
listen = env["CALLBOARD_LISTEN"]
assert listen.startswith("0.0.0.0:"), f"the container must listen beyond its loopback: {listen}"
port = listen.rsplit(":", 1)[1]
assert port in " ".join(instr("EXPOSE")).split(), (port, instr("EXPOSE"))

volume = tempfile.mkdtemp()


def container_path(v):
    return v.replace(workdir, volume)


run_env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBOARD_")}
run_env.update({k: container_path(v) for k, v in env.items()})
# Port 8080 of the container is PORT here; the rest as the image says.
run_env["CALLBOARD_LISTEN"] = f"0.0.0.0:{PORT}"


def start():
    p = subprocess.Popen([BIN, *cmd], cwd=volume, env=run_env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines = []
    while True:
        line = p.stderr.readline()
        if not line:
            sys.exit("container: serve ended: " + "".join(lines)[-800:])
        lines.append(line)
        if " listening" in line:
            return p, lines


def status(path, token=None):
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}",
                                 headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        return urllib.request.urlopen(req, timeout=5).status
    except urllib.error.HTTPError as e:
        return e.code


p, lines = start()
said = [l for l in lines if "shown this once" in l]
assert said, "".join(lines)
token = said[0].split()[-1]
assert status("/api/v1/tenants") == 401, "never open"
for _ in range(100):
    if status("/api/v1/tenants/demo/snapshot", token) == 200:
        break
    time.sleep(0.1)
assert status("/api/v1/tenants/demo/snapshot", token) == 200, "the demo board with the printed token"
assert status("/", None) == 200
probe = subprocess.run([BIN, *(a.replace(f":{port}/", f":{PORT}/") for a in health[1:])],
                       capture_output=True, text=True)
assert probe.returncode == 0, probe.stderr
for name in ("tokens.toml", "callboard-history.sqlite", "callboard-events"):
    assert os.path.exists(os.path.join(volume, name)), (name, os.listdir(volume))
p.send_signal(signal.SIGTERM)
assert p.wait(30) == 0
p, lines = start()
assert not any("shown this once" in l for l in lines), "a second start makes no new token"
assert status("/api/v1/tenants", token) == 200
p.send_signal(signal.SIGTERM)
p.wait(30)
print("container: the image's command serves the demo beyond loopback, never open: "
      "a first start printed an admin token, kept its hash in the volume, and a second start kept it; "
      "its healthcheck passes")

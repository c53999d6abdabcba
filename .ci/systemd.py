#!/usr/bin/env python3
"""The systemd unit (deploy/systemd/callboard.service) as systemd reads it,
then its command as systemd would run it: the unit's ExecStart, Environment
and WorkingDirectory (the state directory), with the example config plus a
token. It must serve, keep its state in the state directory, and stop on
SIGTERM within the unit's TimeoutStopSec. (systemd itself is not running
here: the sandbox settings are checked by `systemd-analyze`, not applied.)"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

UNIT = "deploy/systemd/callboard.service"
CONFIG = "deploy/systemd/callboard.toml"
BIN, PORT = os.path.abspath(sys.argv[1]), int(sys.argv[2])


def unit():
    keys = {}
    for line in open(UNIT):
        line = line.strip()
        if not line or line.startswith(("#", "[")):
            continue
        k, v = line.split("=", 1)
        keys.setdefault(k, []).append(v)
    return keys


def main():
    u = unit()
    stop_s = int(u["TimeoutStopSec"][0])
    exec_start = u["ExecStart"][0].split()
    assert exec_start[0] == "/usr/local/bin/callboard", exec_start
    state = tempfile.mkdtemp()
    work = u["WorkingDirectory"][0].replace("%S", state)
    os.makedirs(work)
    env = dict(v.split("=", 1) for v in u["Environment"])
    # The example config, with an admin token made the way the README says.
    made = subprocess.run([BIN, "token", "new", "--role", "admin", "--name", "ops"],
                          capture_output=True, text=True, check=True).stdout
    token = made.splitlines()[0].rsplit(" ", 1)[1]
    entry = made[made.index("[[tokens]]"):]
    etc = tempfile.mkdtemp()
    config = os.path.join(etc, "callboard.toml")
    text = open(CONFIG).read()
    # Without tokens, the example (listening on every interface) must refuse to start.
    with open(config, "w") as f:
        f.write(text)
    env.update({"CALLBOARD_CONFIG": config, "CALLBOARD_LISTEN": f"127.0.0.1:{PORT}"})
    run_env = {**os.environ, **env}
    refused = subprocess.run(exec_start, cwd=work, env={**run_env, "CALLBOARD_LISTEN": "0.0.0.0:8080"},
                             capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0 and "token" in refused.stderr, refused.stderr[-400:]
    with open(config, "w") as f:
        f.write(text + "\n" + entry)
    p = subprocess.Popen(exec_start, cwd=work, env=run_env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{PORT}"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{base}/readyz", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    else:
        p.kill()
        sys.exit("systemd: the unit's command did not become ready: " + p.stderr.read()[-800:])
    now = int(time.time() * 1000) - 1000
    event = {"v": 1, "id": "s1", "ts": now, "tenant": "acme", "type": "call.queued", "call": "c1", "queue": "q1"}
    req = urllib.request.Request(f"{base}/api/v1/events", data=json.dumps(event).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert urllib.request.urlopen(req).status == 200
    req = urllib.request.Request(f"{base}/api/v1/tenants", headers={"Authorization": f"Bearer {token}"})
    for _ in range(50):
        tenants = json.load(urllib.request.urlopen(req))["tenants"]
        if tenants:
            break
        time.sleep(0.1)
    assert [t["tenant"] for t in tenants] == ["acme"], tenants
    # State in the state directory: the history and the event log.
    for name in ("callboard-history.sqlite", "callboard-events"):
        assert os.path.exists(os.path.join(work, name)), (name, os.listdir(work))
    started = time.time()
    p.send_signal(signal.SIGTERM)
    code = p.wait(stop_s)
    took = time.time() - started
    assert code == 0, (code, p.stderr.read()[-800:])
    print(f"systemd: the unit's command served with the example config, kept its state in "
          f"the state directory, and stopped on SIGTERM in {took:.1f} s (TimeoutStopSec={stop_s})")
    shutil.rmtree(state)
    shutil.rmtree(etc)


main()

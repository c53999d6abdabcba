#!/usr/bin/env python3
"""Bytes a board receives per second, by view: four websocket clients of
the `demo` tenant on 127.0.0.1:PORT (the whole snapshot, `services`,
`dashboard`, `agent-list`) for SECONDS. Needs websocket-client.

  callboard serve --listen 127.0.0.1:18120 --history none --simulate-agents 2000 \\
    --simulate-peak-calls-per-hour 6000 &
  python3 tools/board-bytes.py 18120 30
"""
import json, sys, time, websocket, threading
port = int(sys.argv[1]); secs = float(sys.argv[2])
res = {}
def run(view):
    url = f"ws://127.0.0.1:{port}/api/v1/ws?tenant=demo" + (f"&view={view}" if view else "")
    ws = websocket.create_connection(url, timeout=10)
    ws.recv()  # the current one
    n = b = 0; end = time.time() + secs
    while time.time() < end:
        m = ws.recv(); n += 1; b += len(m.encode() if isinstance(m, str) else m)
    res[view or "full"] = (n, b)
ts = [threading.Thread(target=run, args=(v,)) for v in [None, "services", "dashboard", "agent-list"]]
[t.start() for t in ts]; [t.join() for t in ts]
for k, (n, b) in res.items():
    print(f"{k:12s} {n/secs:5.2f} msg/s  {b/n/1024:8.1f} KB/msg  {b/secs/1024:9.1f} KB/s")

#!/usr/bin/env python3
"""Bytes a board receives per second, by view, on the wire: websocket
clients of the `demo` tenant on 127.0.0.1:PORT (the whole snapshot,
`services`, `dashboard`, `agent-list`), each once offering
`permessage-deflate` as browsers do and once not, for SECONDS. Counts every
octet read from the socket after the handshake (frame headers included),
and checks each compressed message inflates to a snapshot. Needs only
Python.

  callboard serve --listen 127.0.0.1:18120 --history none --simulate-agents 2000 \\
    --simulate-peak-calls-per-hour 6000 &
  python3 tools/board-bytes.py 18120 30
"""
import base64, json, os, socket, sys, threading, time, zlib

port = int(sys.argv[1])
secs = float(sys.argv[2])
res = {}


def connect(path, deflate):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" if deflate else ""
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: Upgrade\r\n"
               f"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n"
               f"{offer}\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    head, rest = buf.split(b"\r\n\r\n", 1)
    head = head.decode().lower()
    assert head.startswith("http/1.1 101"), head
    assert ("permessage-deflate" in head) == deflate, head
    return s, rest


def frames(s, buf):
    """Yields (octets on the wire, first octet, payload) for each frame."""
    while True:
        while True:
            if len(buf) >= 2:
                n, at = buf[1] & 0x7F, 2
                if n == 126 and len(buf) >= 4:
                    n, at = int.from_bytes(buf[2:4], "big"), 4
                elif n == 127 and len(buf) >= 10:
                    n, at = int.from_bytes(buf[2:10], "big"), 10
                if n < 126 or at > 2:
                    if len(buf) >= at + n:
                        break
            chunk = s.recv(1 << 20)
            if not chunk:
                return
            buf += chunk
        yield at + n, buf[0], buf[at:at + n]
        buf = buf[at + n:]


def run(view, deflate):
    path = "/api/v1/ws?tenant=demo" + (f"&view={view}" if view else "")
    s, rest = connect(path, deflate)
    msgs = wire = text = 0
    first = True
    end = None
    for size, b0, payload in frames(s, rest):
        if b0 & 0x0F != 1:
            continue
        if b0 & 0x40:
            payload = zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")
        if json.loads(payload)["type"] != "snapshot":  # a status (recovering)
            continue
        if first:  # the current one, at connect
            first = False
            end = time.time() + secs
            continue
        msgs += 1
        wire += size
        text += len(payload)
        if time.time() >= end:
            break
    s.close()
    res[(view or "whole", deflate)] = (msgs, wire, text)


ts = [threading.Thread(target=run, args=(v, d))
      for v in [None, "services", "dashboard", "agent-list"] for d in (False, True)]
[t.start() for t in ts]
[t.join() for t in ts]
print(f"{'view':12s} {'deflate':8s} {'msg/s':>6s} {'KB/msg':>9s} {'KB/s':>9s}  (text KB/msg)")
for (view, d), (n, wire, text) in sorted(res.items()):
    print(f"{view:12s} {str(d):8s} {n/secs:6.2f} {wire/n/1024:9.1f} {wire/secs/1024:9.1f}  ({text/n/1024:.1f})")

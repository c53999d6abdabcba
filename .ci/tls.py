#!/usr/bin/env python3
"""TLS through clients other than the service's own library: curl and
Python's ssl module (both OpenSSL) against `serve --tls-cert --tls-key`
with a self-signed certificate made by openssl. HTTPS answers, a client
that does not trust the certificate is refused, and a websocket upgrade
over TLS (wss://) gets its first snapshot."""

import base64
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time

BIN, PORT = os.path.abspath(sys.argv[1]), int(sys.argv[2])
d = tempfile.mkdtemp()
cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost"], check=True, capture_output=True)
env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBOARD_")}
p = subprocess.Popen([BIN, "serve", "--listen", f"127.0.0.1:{PORT}", "--tls-cert", cert, "--tls-key", key,
                      "--history", "none", "--event-log", "none", "--log", "warn"],
                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
try:
    url = f"https://localhost:{PORT}"
    for _ in range(100):
        r = subprocess.run(["curl", "-sS", "--cacert", cert, f"{url}/api/v1/tenants/demo/snapshot"],
                           capture_output=True, text=True)
        if r.returncode == 0 and '"tenant":"demo"' in r.stdout:
            break
        time.sleep(0.1)
    else:
        sys.exit(f"tls: curl never got the demo's snapshot: {r.stderr}")
    r = subprocess.run(["curl", "-sS", f"{url}/healthz"], capture_output=True, text=True)
    assert r.returncode != 0 and "certificate" in r.stderr, "curl without the CA must refuse"
    # wss:// by hand over Python's ssl: the upgrade, then the first frame.
    ctx = ssl.create_default_context(cafile=cert)
    with socket.create_connection(("127.0.0.1", PORT)) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            key64 = base64.b64encode(os.urandom(16)).decode()
            s.sendall((f"GET /api/v1/ws?tenant=demo HTTP/1.1\r\nHost: localhost:{PORT}\r\n"
                       f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key64}\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n").encode())
            data = b""
            while b"\r\n\r\n" not in data:
                data += s.recv(4096)
            head, rest = data.split(b"\r\n\r\n", 1)
            assert head.startswith(b"HTTP/1.1 101"), head
            while len(rest) < 4:
                rest += s.recv(65536)
            n = rest[1] & 0x7F
            off = 2
            if n == 126:
                n, off = int.from_bytes(rest[2:4], "big"), 4
            elif n == 127:
                while len(rest) < 10:
                    rest += s.recv(65536)
                n, off = int.from_bytes(rest[2:10], "big"), 10
            while len(rest) < off + n:
                rest += s.recv(65536)
            msg = json.loads(rest[off:off + n])
            assert msg["type"] == "snapshot" and msg["snapshot"]["tenant"] == "demo", msg["type"]
    print("tls: curl and Python's ssl (OpenSSL) read https:// and wss:// with a self-signed certificate; "
          "curl without it is refused")
finally:
    p.terminate()
    p.wait(30)

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A misbehaving HTTP server for tests/unit/test_fetch.c, on 127.0.0.1 only.

usage: server.py ROOT PORTFILE LOGFILE

Listens on a free port, which it writes to PORTFILE once it accepts
connections. GET /BEHAVIOURS/NAME serves the file ROOT/NAME; BEHAVIOURS is "-"
or a comma-separated list of:
  norange   ignore Range (always answer 200 with the whole file)
  extra=N   send N bytes more than the file (counted in Content-Length
            unless nolen)
  nolen     no Content-Length: the end of the body is the end of the connection
  cut=N     the first request for this path: send N bytes of the body, then
            close the connection
  fail=K    answer 500 to the first K requests for this path
  status=C  always answer C
  slow=BPS  send at most BPS bytes per second
  stall=N   the first request for this path: send N bytes, then nothing
  hang      send the headers, then nothing
Every request is logged to LOGFILE as "PATH RANGE STATUS SENT".
"""
import http.server
import os
import sys
import threading
import time

root, portfile, logfile = sys.argv[1], sys.argv[2], sys.argv[3]
seen = {}


def safe_path(rel):
    # nested paths of a published tree, never outside root
    p = os.path.normpath(os.path.join(root, rel.split("?")[0]))
    if p != root and not p.startswith(os.path.join(root, "")):
        raise FileNotFoundError(rel)
    return p

lock = threading.Lock()


def log(path, rng, status, sent):
    with lock, open(logfile, "a") as f:
        f.write("%s %s %d %d\n" % (path, rng or "-", status, sent))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        parts = self.path.split("/", 2)
        if len(parts) != 3:
            return self.fail(400)
        opts = {}
        for b in parts[1].split(","):
            if b and b != "-":
                k, _, v = b.partition("=")
                opts[k] = int(v) if v.isdigit() else (v or 1)
        with lock:
            n = seen[self.path] = seen.get(self.path, 0) + 1
        rng = self.headers.get("Range")
        if "status" in opts:
            return self.fail(opts["status"], rng)
        if n <= opts.get("fail", 0):
            return self.fail(500, rng)
        try:
            with open(safe_path(parts[2]), "rb") as f:
                data = f.read()
        except OSError:
            return self.fail(404, rng)
        data += b"X" * opts.get("extra", 0)
        size, start, status = len(data), 0, 200
        if rng and "norange" not in opts and rng.startswith("bytes="):
            s = rng[6:].split("-")[0]
            start = int(s)
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % size)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return log(self.path, rng, 416, 0)
            status = 206
        body = data[start:]
        self.send_response(status)
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, size - 1, size))
        if "nolen" in opts:
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if n == 1 and "cut" in opts:
            body, self.close_connection = body[: opts["cut"]], True
        stall = (n == 1 and "stall" in opts) or "hang" in opts
        if stall:
            body = body[: opts.get("stall", 0)]
        sent = 0
        bps = opts.get("slow", 0)
        step = max(1, bps // 10) if bps else 65536
        try:
            while sent < len(body):
                self.wfile.write(body[sent : sent + step])
                self.wfile.flush()
                sent += len(body[sent : sent + step])
                if bps:
                    time.sleep(0.1)
        except OSError:
            self.close_connection = True
        log(self.path, rng, status, sent)
        if stall:
            time.sleep(60)
            self.close_connection = True

    def fail(self, code, rng=None):
        body = b"error\n"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        log(self.path, rng, code, 0)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(portfile + ".tmp", "w") as f:
    f.write("%d\n" % server.server_address[1])
os.rename(portfile + ".tmp", portfile)
server.serve_forever()

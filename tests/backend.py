"""backend.py: a real HTTP/1.1 backend for the integration tests.

Runs in its own process (python3 tests/backend.py --port N --name NAME).
Paths:
  /                 "hello from NAME" (text/plain)
  /echo             echoes method, path, headers and body as JSON
  /slow?ms=N        answers after N milliseconds
  /big?bytes=N      N bytes of body
  /status?code=N    answers with status N
  /__stats          {"requests": n, "connections": n, "paths": [...]}
Options: --fail-status N answers every request with N (health checks);
--hang makes every request hang (never answers); --close reads each
request (but /__stats) and closes the connection without an answer.
"""
import argparse
import json
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

STATS = {"requests": 0, "connections": 0, "paths": []}
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mantrid-test-backend"

    def setup(self):
        super().setup()
        with LOCK:
            STATS["connections"] += 1

    def log_message(self, fmt, *args):
        pass

    def send_body(self, code, body, ctype="text/plain"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Backend", self.server.name)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def handle_any(self):
        url = urlsplit(self.path)
        q = parse_qs(url.query)
        body = self.read_body()
        if url.path != "/__stats":
            with LOCK:
                STATS["requests"] += 1
                STATS["paths"].append(self.path)
                del STATS["paths"][:-200]
        if self.server.hang:
            time.sleep(3600)
        if self.server.close and url.path != "/__stats":
            self.close_connection = True
            return None
        if self.server.fail_status:
            return self.send_body(self.server.fail_status, b"failing\n")
        if url.path == "/__stats":
            with LOCK:
                data = json.dumps(STATS).encode()
            return self.send_body(200, data, "application/json")
        if url.path == "/echo":
            data = json.dumps({
                "method": self.command, "path": self.path,
                "headers": [[k, v] for k, v in self.headers.items()],
                "body": body.decode("latin-1"),
                "backend": self.server.name}).encode()
            return self.send_body(200, data, "application/json")
        if url.path == "/slow":
            time.sleep(int(q.get("ms", ["1000"])[0]) / 1000.0)
            return self.send_body(200, b"slow from %s\n"
                                  % self.server.name.encode())
        if url.path == "/big":
            n = int(q.get("bytes", ["1048576"])[0])
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            chunk = b"x" * 65536
            while n > 0:
                self.wfile.write(chunk[:min(n, len(chunk))])
                n -= min(n, len(chunk))
            return None
        if url.path == "/status":
            return self.send_body(int(q.get("code", ["200"])[0]), b"status\n")
        return self.send_body(200, b"hello from %s\n"
                              % self.server.name.encode())

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = handle_any


class Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--name", default="backend")
    ap.add_argument("--fail-status", type=int, default=0)
    ap.add_argument("--hang", action="store_true")
    ap.add_argument("--close", action="store_true")
    a = ap.parse_args()
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.name = a.name
    srv.fail_status = a.fail_status
    srv.hang = a.hang
    srv.close = a.close
    srv.serve_forever()


if __name__ == "__main__":
    main()

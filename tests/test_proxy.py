"""test_proxy.py: the proxy action end to end through the real daemon:
X-Forwarded-*, hop-by-hop removal, keep-alive reuse on both sides,
pipelining, chunked upload, 100-continue, chunked responses to 1.1 and
1.0 clients, WebSocket tunnel, malformed backend responses, bounded
memory for a 100 MB response to a slow reader, "Connection:
Content-Length" both ways, a response head that grows when rebuilt,
"http://h?q" targets, a tunnel to a backend that stops reading, a
response head longer than buffer_size, a slow reader on a kept
connection, a half-close after a request body, a lingering close after
an early answer, a bad chunk after the
head reached the backend (400, backend connection reset), connect
timeout -> 504, a draining worker serving a fresh connection."""
import json
import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Backend, Mantrid, check, http_raw, run_tests,  # noqa: E402
                     wait_until, curl)
from dp_util import RawBackend, connect, read_response, worker_rss_kb  # noqa: E402

M = None
B = None


def setup():
    global M, B
    M = Mantrid(conf={"timeout_server": "2", "timeout_connect": "1"})
    B = Backend("b1")
    M.set_rule("p.test", "proxy", {"backends": [B.addr]})


def req(path, host="p.test", extra=b"", method=b"GET", body=b""):
    return (method + b" " + path.encode() + b" HTTP/1.1\r\nHost: " +
            host.encode() + b"\r\n" + extra + b"\r\n" + body)


def echo_headers(body):
    return {k.lower(): v for k, v in json.loads(body)["headers"]}


def test_forwarded_and_hop_by_hop():
    s = connect(M.port)
    s.sendall(req("/echo", extra=b"X-Forwarded-For: 6.6.6.6\r\n"
                  b"X-Forwarded-Proto: https\r\nConnection: keep-alive, X-Secret\r\n"
                  b"X-Secret: 1\r\nKeep-Alive: 5\r\nProxy-Connection: x\r\n"
                  b"TE: trailers\r\nX-Keep: yes\r\n"))
    st, h, body, _ = read_response(s)
    s.close()
    check(st == 200, "status %d" % st)
    eh = echo_headers(body)
    check(eh.get("x-forwarded-for") == "127.0.0.1", "xff %r" % eh)
    check(eh.get("x-forwarded-proto") == "http", "xfp %r" % eh)
    for k in ("x-secret", "keep-alive", "proxy-connection", "te"):
        check(k not in eh, "%s forwarded: %r" % (k, eh))
    check(eh.get("x-keep") == "yes", "x-keep lost")
    check(eh.get("host") == "p.test", "host %r" % eh.get("host"))


def test_keepalive_reuse_both_sides():
    before = B.stats()["connections"]
    s = connect(M.port)
    for i in range(10):
        s.sendall(req("/echo?%d" % i))
        st, h, body, _ = read_response(s)
        check(st == 200 and json.loads(body)["path"] == "/echo?%d" % i,
              "request %d: %d" % (i, st))
    s.close()
    # +1: the stats request itself
    used = B.stats()["connections"] - before - 1
    check(used <= 1, "backend connections for 10 requests: %d" % used)


def test_pipelining_in_order():
    s = connect(M.port)
    s.sendall(req("/slow?ms=200") + req("/echo?2") + req("/echo?3"))
    st1, _, b1, rest = read_response(s)
    check(st1 == 200 and b1.startswith(b"slow"), "first %r" % b1)
    st2, _, b2, rest = read_response(s, pre=rest)
    check(json.loads(b2)["path"] == "/echo?2", "second %r" % b2)
    st3, _, b3, _ = read_response(s, pre=rest)
    check(json.loads(b3)["path"] == "/echo?3", "third %r" % b3)
    s.close()


def test_chunked_upload():
    s = connect(M.port)
    s.sendall(req("/echo", method=b"POST",
                  extra=b"Transfer-Encoding: chunked\r\n",
                  body=b"5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n"))
    st, h, body, _ = read_response(s)
    s.close()
    check(st == 200, "status %d" % st)
    check(json.loads(body)["body"] == "hello world", "body %r" % body)


def test_100_continue():
    s = connect(M.port)
    s.sendall(req("/echo", method=b"POST",
                  extra=b"Content-Length: 5\r\nExpect: 100-continue\r\n"))
    s.settimeout(5)
    got = s.recv(4096)
    check(got.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), "got %r" % got)
    s.sendall(b"hello")
    st, h, body, _ = read_response(s)
    s.close()
    check(json.loads(body)["body"] == "hello", "body %r" % body)
    eh = echo_headers(body)
    check("expect" not in eh, "Expect forwarded")
    rc, out, code = curl(M.url("/echo"), "-H", "Host: p.test",
                         "--data-binary", "x" * 5000,
                         "-H", "Expect: 100-continue")
    check(code == 200 and json.loads(out)["body"] == "x" * 5000, "curl %d" % code)


def chunked_reply(head, c):
    c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"3\r\nabc\r\n4;ext\r\ndefg\r\n0\r\n\r\n")


def test_chunked_response():
    rb = RawBackend(chunked_reply)
    M.set_rule("chunk.test", "proxy", {"backends": [rb.addr]})
    s = connect(M.port)
    s.sendall(req("/", host="chunk.test"))
    st, h, body, _ = read_response(s)
    check(st == 200 and body == b"abcdefg", "1.1: %r" % body)
    check(h.get("transfer-encoding") == "chunked", "1.1 headers %r" % h)
    s.close()
    out = http_raw(M.port, b"GET / HTTP/1.0\r\nHost: chunk.test\r\n\r\n")
    head, _, body = out.partition(b"\r\n\r\n")
    check(body == b"abcdefg", "1.0 body %r" % out)
    check(b"chunked" not in head.lower(), "1.0 got chunked: %r" % head)
    rb.close()


def bad_reply(head, c):
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4"
              b"\r\n\r\nabcd")
    return "close"


def test_malformed_backend_502():
    rb = RawBackend(bad_reply)
    M.set_rule("bad.test", "proxy", {"backends": [rb.addr]})
    out = http_raw(M.port, req("/", host="bad.test"))
    check(out.startswith(b"HTTP/1.1 502 "), "got %r" % out[:80])
    rb.close()


def ws_reply(head, c):
    c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n")
    while True:
        d = c.recv(4096)
        if not d:
            return "close"
        c.sendall(d)


def test_websocket_tunnel():
    rb = RawBackend(ws_reply)
    M.set_rule("ws.test", "proxy", {"backends": [rb.addr]})
    s = connect(M.port)
    s.sendall(req("/chat", host="ws.test",
                  extra=b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: abc\r\nSec-WebSocket-Version: 13\r\n"))
    s.settimeout(5)
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    check(buf.startswith(b"HTTP/1.1 101"), "got %r" % buf)
    check(b"upgrade: websocket" in buf.lower(), "no Upgrade: %r" % buf)
    fwd = rb.received[-1].lower()
    check(b"upgrade: websocket" in fwd and b"connection: upgrade" in fwd,
          "backend saw %r" % fwd)
    for msg in (b"ping", b"\x81\x05hello", b"x" * 100000):
        s.sendall(msg)
        got = b""
        while len(got) < len(msg):
            got += s.recv(65536)
        check(got == msg, "echo mismatch (%d bytes)" % len(msg))
    s.close()
    rb.close()


def test_no_upgrade_without_101():
    s = connect(M.port)
    s.sendall(req("/echo", extra=b"Upgrade: websocket\r\nConnection: Upgrade\r\n"))
    st, h, body, _ = read_response(s)
    check(st == 200, "status %d" % st)
    s.sendall(req("/echo?after"))
    st, h, body, _ = read_response(s)
    check(json.loads(body)["path"] == "/echo?after", "HTTP not kept")
    s.close()


def test_big_response_slow_reader_bounded():
    worker = M.workers()[0]
    base = worker_rss_kb(worker)
    s = connect(M.port)
    s.setsockopt(__import__("socket").SOL_SOCKET,
                 __import__("socket").SO_RCVBUF, 65536)
    n = 100 * 1024 * 1024
    s.sendall(req("/big?bytes=%d" % n))
    s.settimeout(10)
    got = s.recv(65536)
    # The reader stalls: the worker must stop reading the backend.
    peak = 0
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        peak = max(peak, worker_rss_kb(worker))
        time.sleep(0.05)
    total = len(got) - got.index(b"\r\n\r\n") - 4
    while total < n:
        d = s.recv(1 << 20)
        if not d:
            break
        total += len(d)
        peak = max(peak, worker_rss_kb(worker)) if total % 64 == 0 else peak
    s.close()
    peak = max(peak, worker_rss_kb(worker))
    check(total == n, "got %d of %d bytes" % (total, n))
    check(peak - base < 16 * 1024, "worker RSS grew %d kB" % (peak - base))


def test_connection_keeps_content_length_upstream():
    """'Connection: Content-Length' must not drop the count: the backend
    would read the body as a second request (smuggling)."""
    inner = b"GET /smuggled HTTP/1.1\r\nHost: p.test\r\n\r\n"
    s = connect(M.port)
    s.sendall(req("/echo", method=b"POST", body=inner,
                  extra=b"Connection: Content-Length\r\n"
                  b"Content-Length: %d\r\n" % len(inner)))
    st, h, body, rest = read_response(s)
    check(st == 200, "status %d" % st)
    e = json.loads(body)
    check(echo_headers(body).get("content-length") == str(len(inner)),
          "backend saw %r" % e["headers"])
    check(e["body"].encode("latin-1") == inner, "body %r" % e["body"])
    s.sendall(req("/echo?next"))
    st, h, body, _ = read_response(s, pre=rest)
    s.close()
    check(json.loads(body)["path"] == "/echo?next", "next got %r" % body)
    paths = B.stats()["paths"]
    check("/smuggled" not in paths, "backend ran %r" % paths[-3:])


def cl_hop_reply(head, c):
    c.sendall(b"HTTP/1.1 200 OK\r\nConnection: Content-Length\r\n"
              b"Content-Length: 5\r\n\r\n" + head.split(b" ")[1][-5:])


def test_connection_keeps_content_length_downstream():
    """The same from a backend: the client must get the count, or two
    pipelined responses run together."""
    rb = RawBackend(cl_hop_reply)
    M.set_rule("clr.test", "proxy", {"backends": [rb.addr]})
    s = connect(M.port)
    s.sendall(req("/BODY1", host="clr.test") + req("/BODY2", host="clr.test"))
    st1, h1, b1, rest = read_response(s)
    st2, h2, b2, _ = read_response(s, pre=rest)
    s.close()
    rb.close()
    check(h1.get("content-length") == "5", "first head %r" % h1)
    check((b1, b2) == (b"BODY1", b"BODY2"), "bodies %r %r" % (b1, b2))


GROWN_PAD = [0]


def grown_head_reply(head, c):
    # no reason phrase and 98 "a:" lines: rebuilt, the head grows by 150
    # bytes (a built-in reason, ": " for ":", Connection: close)
    c.sendall(b"HTTP/1.1 431\r\n" + b"a:\r\n" * 98 + b"P:" +
              b"p" * GROWN_PAD[0] + b"\r\nContent-Length: 2\r\n\r\nok")
    return "close"


def test_response_head_growth():
    """The rebuilt head fits its buffer. Heads of 1,650 to 2,000 bytes
    put the end of the buffer reserved for it at every offset from an
    allocation's end (libevent's chains are powers of two), where
    AddressSanitizer sees an overrun."""
    rb = RawBackend(grown_head_reply)
    M.set_rule("grow.test", "proxy", {"backends": [rb.addr]})
    try:
        for pad in range(1220, 1570):
            GROWN_PAD[0] = pad
            out = http_raw(M.port, req("/", host="grow.test",
                                       extra=b"Connection: close\r\n"))
            lines = out.split(b"\r\n")
            check(lines[0] == b"HTTP/1.1 431 Request Header Fields Too "
                  b"Large", "pad %d: got %r" % (pad, out[:80]))
            check(lines.count(b"a: ") == 98 and
                  b"P: " + b"p" * pad in lines and out.endswith(b"\r\n\r\nok"),
                  "pad %d: head lost: %r" % (pad, out[:200]))
    finally:
        rb.close()


def cookie_reply(head, c):
    c.sendall(b"HTTP/1.1 200 OK\r\nSet-Cookie: a=" + b"v" * 6000 +
              b"\r\nContent-Length: 2\r\n\r\nok")
    return "close"


def test_response_head_over_buffer_size():
    """A response head longer than buffer_size (within the head limits)
    is read whole: the backend's read stopped half-way, for good."""
    rb = RawBackend(cookie_reply)
    try:
        with Mantrid(conf={"buffer_size": "4096", "timeout_server": "3"}) as m:
            m.set_rule("ck.test", "proxy", {"backends": [rb.addr]})
            t0 = time.monotonic()
            out = http_raw(m.port, req("/", host="ck.test",
                                       extra=b"Connection: close\r\n"),
                           timeout=6)
            el = time.monotonic() - t0
    finally:
        rb.close()
    check(out.startswith(b"HTTP/1.1 200 ") and out.endswith(b"\r\n\r\nok"),
          "got %r after %.1f s" % (out[:60], el))


def test_absolute_form_query_only():
    """"GET http://h?q" is "/?q" at the backend (RFC 9112, 3.2.2)."""
    out = http_raw(M.port, b"GET http://p.test?x=1 HTTP/1.1\r\nHost: p.test"
                   b"\r\nConnection: close\r\n\r\n")
    check(out.startswith(b"HTTP/1.1 200"), "got %r" % out[:60])
    check(B.stats()["paths"][-1] == "/?x=1", "backend saw %r"
          % B.stats()["paths"][-1:])


def hold_reply(head, c):
    # upgrade, then never read: the client's bytes must pile up in
    # socket buffers and buffer_size, not in the worker's memory
    c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n"
              b"Connection: Upgrade\r\n\r\n")
    time.sleep(8)
    return "close"


def test_tunnel_backpressure():
    rb = RawBackend(hold_reply)
    M.set_rule("hold.test", "proxy", {"backends": [rb.addr]})
    s = connect(M.port)
    s.sendall(req("/", host="hold.test",
                  extra=b"Upgrade: x\r\nConnection: Upgrade\r\n"))
    s.settimeout(5)
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    check(head.startswith(b"HTTP/1.1 101"), "got %r" % head)
    # push until the tunnel stops taking bytes for 0.5 s, at most 64 MiB
    s.setblocking(False)
    chunk, sent, stalled = b"x" * 65536, 0, None
    deadline = time.monotonic() + 5
    while sent < 64 << 20 and time.monotonic() < deadline:
        try:
            sent += s.send(chunk)
            stalled = None
        except BlockingIOError:
            stalled = stalled or time.monotonic()
            if time.monotonic() - stalled > 0.5:
                break
            time.sleep(0.01)
    s.close()
    rb.close()
    check(stalled is not None, "the tunnel took %d bytes without a stall"
          % sent)
    check(sent < 32 << 20, "the tunnel took %d MiB" % (sent >> 20))


def test_slow_reader_on_kept_connection():
    """The second response on a kept connection, to a client that stopped
    reading, is cut at timeout_client as the first one would be (it
    stayed open for good)."""
    with Backend("sr") as b, Mantrid(conf={"timeout_client": "2"}) as m:
        m.set_rule("sr.test", "proxy", {"backends": [b.addr]})

        def open_requests():
            st, body, _ = m.api("GET", "/stats/sr.test/")
            return body.get("open_requests") if st == 200 else None
        s = connect(m.port)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.sendall(req("/echo", host="sr.test"))
        st, h, body, rest = read_response(s)
        check(st == 200, "first: %d" % st)
        s.sendall(req("/big?bytes=%d" % (50 << 20), host="sr.test"))
        wait_until(lambda: open_requests() == 1, 5, "the second request")
        wait_until(lambda: open_requests() == 0, 10,
                   "the stalled response to be cut")
        s.close()


def test_half_close_with_body():
    """A request body sent whole, then shutdown(SHUT_WR), while the
    backend connection is still being made: answered (the connection
    was dropped); a body cut short by the half-close: 400."""
    for name, extra, body in (
            ("length", b"Content-Length: 5\r\n", b"hello"),
            ("chunked", b"Transfer-Encoding: chunked\r\n",
             b"5\r\nhello\r\n0\r\n\r\n")):
        with Backend("hc-" + name) as b:   # a fresh one: nothing pooled
            M.set_rule("hc.test", "proxy", {"backends": [b.addr]})
            s = connect(M.port)
            s.sendall(req("/echo", host="hc.test", method=b"POST",
                          extra=extra, body=body))
            s.shutdown(socket.SHUT_WR)
            st, h, got, _ = read_response(s)
            s.close()
            check(st == 200 and json.loads(got)["body"] == "hello",
                  "%s: %d %r" % (name, st, got[:80]))
    s = connect(M.port)
    s.sendall(req("/echo", method=b"POST", extra=b"Content-Length: 10\r\n",
                  body=b"hello"))
    s.shutdown(socket.SHUT_WR)
    st, h, got, _ = read_response(s)
    s.close()
    check(st == 400, "cut body: %d" % st)


def early_413_reply(head, c):
    c.sendall(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 6\r\n"
              b"Connection: close\r\n\r\ntoobig")
    time.sleep(1)
    return "close"


def test_early_answer_lingering_close():
    """A backend answers 413 before the body: curl, still uploading,
    gets the 413 every time; closing with its bytes unread sent a RST
    that often destroyed the answer (curl: send failure, reset)."""
    import tempfile
    rb = RawBackend(early_413_reply)
    M.set_rule("up.test", "proxy", {"backends": [rb.addr]})
    with tempfile.NamedTemporaryFile() as f:
        f.write(b"x" * (16 << 20))
        f.flush()
        try:
            got = []
            for _ in range(10):
                rc, out, code = curl(M.url("/up"), "-H", "Host: up.test",
                                     "-H", "Expect: 100-continue",
                                     "--data-binary", "@" + f.name)
                got.append((rc, code))
        finally:
            rb.close()
    check(got == [(0, 413)] * 10, "curl got %s" % got)


def test_backend_down_502_and_timeout_504():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = s.getsockname()[1]
    s.close()
    M.set_rule("dead.test", "proxy", {"backends": ["127.0.0.1:%d" % dead],
                                      "attempts": 3, "delay": 0.05})
    t0 = time.monotonic()
    out = http_raw(M.port, req("/", host="dead.test"))
    check(out.startswith(b"HTTP/1.1 502 Bad Gateway"), "got %r" % out[:60])
    check(time.monotonic() - t0 >= 0.09, "no delay between attempts")
    hang = Backend("hang", args=["--hang"])
    M.set_rule("hang.test", "proxy", {"backends": [hang.addr]})
    out = http_raw(M.port, req("/", host="hang.test"))
    check(out.startswith(b"HTTP/1.1 504 Gateway Timeout"), "got %r" % out[:60])
    hang.stop()


class StreamBackend:
    """A backend that records every connection's raw bytes and how it
    ended; a chunked request is read until the connection ends, anything
    else is answered 200 at once."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.conns = []         # [bytearray, end] per connection
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            rec = [bytearray(), None]
            self.conns.append(rec)
            threading.Thread(target=self.serve, args=(c, rec),
                             daemon=True).start()

    def serve(self, c, rec):
        c.settimeout(10)
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    rec[1] = "eof"
                    return
                rec[0] += d
                if (b"\r\n\r\n" in rec[0] and
                        b"chunked" not in rec[0].lower()):
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2"
                              b"\r\n\r\nok")
                    rec[0] = bytearray()
        except OSError as e:
            rec[1] = "reset" if isinstance(e, ConnectionResetError) \
                else "error %s" % e
        finally:
            c.close()

    def close(self):
        self.sock.close()


def test_bad_chunk_after_head_aborts_backend():
    """A bad chunk found after the head (and a good chunk) reached the
    backend: the client gets 400 and close, the backend connection is
    aborted (never completes, never pooled)."""
    sb = StreamBackend()
    try:
        M.set_rule("badchunk.test", "proxy", {"backends": [sb.addr]})
        s = connect(M.port)
        s.sendall(req("/up", host="badchunk.test", method=b"POST",
                      extra=b"Transfer-Encoding: chunked\r\n",
                      body=b"5\r\nhello\r\n"))
        wait_until(lambda: sb.conns and b"hello" in sb.conns[0][0], 5,
                   "head and good chunk at the backend")
        s.sendall(b"zz\r\nbad\r\n0\r\n\r\n")
        st, h, body, _ = read_response(s)
        check(st == 400, "status %d" % st)
        check(h.get("connection") == "close", "headers %r" % h)
        s.settimeout(5)
        check(s.recv(100) == b"", "client connection not closed")
        s.close()
        wait_until(lambda: sb.conns[0][1] is not None, 5,
                   "backend connection to end")
        seen = bytes(sb.conns[0][0])
        check(seen.startswith(b"POST /up HTTP/1.1\r\n"), "saw %r" % seen)
        body = seen.partition(b"\r\n\r\n")[2]
        check(body == b"5\r\nhello\r\n", "backend saw body %r" % body)
        check(sb.conns[0][1] == "reset", "backend saw %s" % sb.conns[0][1])
        out = http_raw(M.port, req("/", host="badchunk.test",
                                   extra=b"Connection: close\r\n"))
        check(out.startswith(b"HTTP/1.1 200"), "next request %r" % out[:60])
        check(len(sb.conns) == 2, "aborted connection pooled: %d conns"
              % len(sb.conns))
    finally:
        sb.close()


def backend_active(addr):
    st, body, _ = M.api("GET", "/backends/%s/" % addr)
    return body.get("active") if st == 200 else None


def test_connect_timeout_504():
    """A backend whose accept queue is full drops our SYN (loopback, no
    outside traffic): the connect times out at timeout_connect -> 504.
    While it connects, the request counts in the backend's active."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(0)                 # never accepted
    addr = "127.0.0.1:%d" % ls.getsockname()[1]
    fill = []
    try:
        for _ in range(16):      # fill the queue until a SYN is dropped
            f = socket.socket()
            f.settimeout(0.3)
            fill.append(f)
            try:
                f.connect(ls.getsockname())
            except socket.timeout:
                break
        else:
            check(False, "could not fill the accept queue")
        M.set_rule("ctimeout.test", "proxy", {"backends": [addr]})
        s = connect(M.port)
        t0 = time.monotonic()
        s.sendall(req("/", host="ctimeout.test"))
        wait_until(lambda: backend_active(addr) == 1, 0.8,
                   "active 1 while connecting")
        st, _, _, _ = read_response(s, timeout=10)
        took = time.monotonic() - t0
        s.close()
        check(st == 504, "status %d" % st)
        check(0.9 < took < 4, "took %.2f s (timeout_connect 1)" % took)
        check(backend_active(addr) == 0, "active %r after the 504"
              % backend_active(addr))
    finally:
        for f in fill:
            f.close()
        ls.close()


def test_drain_serves_fresh_connection():
    """HUP: the draining worker closes an idle keep-alive connection but
    serves one accepted before the drain that has not sent its request
    yet, with Connection: close."""
    with Mantrid(workers=1) as m:
        m.set_rule("p.test", "proxy", {"backends": [B.addr]})
        fresh = connect(m.port)
        idle = connect(m.port)
        idle.sendall(req("/echo?first"))
        st, h, _, _ = read_response(idle)
        check(st == 200 and h.get("connection") != "close", "first %r" % h)
        # FIFO accept queue: fresh was accepted before idle was served
        m.signal(signal.SIGHUP)
        wait_until(lambda: "draining" in m.read_log(), 5, "drain to start")
        idle.settimeout(5)
        check(idle.recv(100) == b"", "idle keep-alive not closed")
        idle.close()
        fresh.sendall(req("/echo?fresh"))
        st, h, body, _ = read_response(fresh)
        check(st == 200 and b"/echo?fresh" in body, "fresh: %d" % st)
        check(h.get("connection") == "close", "fresh headers %r" % h)
        fresh.settimeout(5)
        check(fresh.recv(100) == b"", "fresh connection not closed")
        fresh.close()


def main():
    setup()
    try:
        run_tests([test_forwarded_and_hop_by_hop,
                   test_keepalive_reuse_both_sides,
                   test_pipelining_in_order, test_chunked_upload,
                   test_100_continue, test_chunked_response,
                   test_malformed_backend_502, test_websocket_tunnel,
                   test_no_upgrade_without_101,
                   test_big_response_slow_reader_bounded,
                   test_connection_keeps_content_length_upstream,
                   test_connection_keeps_content_length_downstream,
                   test_response_head_growth,
                   test_response_head_over_buffer_size,
                   test_absolute_form_query_only,
                   test_tunnel_backpressure,
                   test_slow_reader_on_kept_connection,
                   test_half_close_with_body,
                   test_early_answer_lingering_close,
                   test_backend_down_502_and_timeout_504,
                   test_bad_chunk_after_head_aborts_backend,
                   test_connect_timeout_504,
                   test_drain_serves_fresh_connection])
    finally:
        B.stop()
        M.close()


if __name__ == "__main__":
    main()

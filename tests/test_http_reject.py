"""test_http_reject.py: every rejection through raw sockets against the
real daemon: the client gets the right status and the backend receives
nothing. Also the slowloris case: 408 at timeout_header while a normal
client is served."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Mantrid, check, http_raw, run_tests,  # noqa: E402
                     wait_until)
from dp_util import RawBackend, connect, read_until_close  # noqa: E402

H = b"Host: r.test\r\n"
CASES = [
    ("cl_and_te", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("duplicate_cl", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 1\r\n"
     b"Content-Length: 1\r\n\r\nx", 400),
    ("malformed_cl", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 1x\r\n\r\nx", 400),
    ("te_not_chunked", b"POST / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: gzip, chunked\r\n\r\n", 400),
    ("space_before_colon", b"GET / HTTP/1.1\r\nHost : r.test\r\n\r\n", 400),
    ("obs_fold", b"GET / HTTP/1.1\r\n" + H + b"X: a\r\n b\r\n\r\n", 400),
    ("bare_cr", b"GET / HTTP/1.1\r\n" + H + b"X: a\rb\r\n\r\n", 400),
    ("bare_lf", b"GET / HTTP/1.1\n" + H + b"\r\n", 400),
    ("nul", b"GET / HTTP/1.1\r\n" + H + b"X: a\x00b\r\n\r\n", 400),
    ("ctl", b"GET / HTTP/1.1\r\n" + H + b"X: a\x1bb\r\n\r\n", 400),
    ("bad_chunk_size", b"POST / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk_cr_only", b"POST / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\n5\rXhello\r\n0\r\n\r\n", 400),
    ("missing_host", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("duplicate_host", b"GET / HTTP/1.1\r\n" + H + H + b"\r\n", 400),
    ("malformed_host", b"GET / HTTP/1.1\r\nHost: r.test/x\r\n\r\n", 400),
    ("absolute_host_differs", b"GET http://other.test/ HTTP/1.1\r\n" + H +
     b"\r\n", 400),
    ("uri_too_long", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + H + b"\r\n", 414),
    ("too_many_headers", b"GET / HTTP/1.1\r\n" + H +
     b"".join(b"X-%d: y\r\n" % i for i in range(101)) + b"\r\n", 431),
    ("headers_too_big", b"GET / HTTP/1.1\r\n" + H +
     b"".join(b"X-%d: %s\r\n" % (i, b"v" * 9000) for i in range(4)) + b"\r\n", 431),
]

M = None
RB = None


def make(name, raw, status):
    def t():
        before = len(RB.received)
        out = http_raw(M.port, raw, timeout=3)
        check(out.startswith(b"HTTP/1.1 %d " % status), "got %r" % out[:60])
        check(b"connection: close" in out.lower(), "not closed: %r" % out[:200])
        # the chunked cases may have sent a head before the bad chunk
        if b"chunked" not in raw or b"Content-Length" in raw:
            check(len(RB.received) == before, "backend received %r"
                  % RB.received[before:])
    t.__name__ = "test_" + name
    return t


def ok_reply(head, c):
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


def test_absolute_form_routes_by_target():
    before = len(RB.received)
    out = http_raw(M.port, b"GET http://r.test/abs?q HTTP/1.1\r\nHost: r.test"
                   b"\r\nConnection: close\r\n\r\n")
    check(out.startswith(b"HTTP/1.1 200"), "got %r" % out[:60])
    check(any(r.startswith(b"GET /abs?q HTTP/1.1\r\nHost: r.test\r\n")
              for r in RB.received[before:]),
          "backend saw %r" % RB.received[before:])


def test_error_after_head_keeps_body():
    """A HEAD, then a request refused before it is parsed (431) on the
    same connection: the 431 keeps its body (it took the HEAD's method)."""
    s = connect(M.port)
    s.sendall(b"HEAD / HTTP/1.1\r\n" + H + b"\r\n")
    s.settimeout(5)
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    head, _, rest = head.partition(b"\r\n\r\n")
    check(head.startswith(b"HTTP/1.1 200 "), "HEAD: %r" % head)
    s.sendall(b"GET / HTTP/1.1\r\n" + H +
              b"".join(b"X-%d: y\r\n" % i for i in range(101)) + b"\r\n")
    out = rest + read_until_close(s)
    s.close()
    check(out.startswith(b"HTTP/1.1 431 ") and
          out.endswith(b"\r\n\r\nRequest Header Fields Too Large\n"),
          "got %r" % out[-120:])


def test_pipelined_partial_head_408():
    """A partial head pipelined behind a locally answered request gets
    408 at timeout_header (2 s) too, not at timeout_client."""
    M.set_rule("local.test", "empty", {"code": 204})
    s = connect(M.port)
    t0 = time.monotonic()
    s.sendall(b"GET / HTTP/1.1\r\nHost: local.test\r\n\r\n"
              b"GET / HTTP/1.1\r\nHost: local.test\r\n")
    out = read_until_close(s, 6)
    el = time.monotonic() - t0
    s.close()
    check(out.startswith(b"HTTP/1.1 204 ") and b"HTTP/1.1 408 " in out,
          "got %r" % out[:200])
    check(1.5 < el < 3.5, "408 after %.2f s (timeout_header = 2)" % el)


def worker_holds(port, cport):
    """Does a process (the worker) still own our connection's socket?"""
    out = subprocess.run(["ss", "-tnpH", "state", "all",
                          "( sport = :%d and dport = :%d )" % (port, cport)],
                         capture_output=True, text=True).stdout
    return "users:" in out


def test_linger_ends_after_a_refused_pipelined_head():
    """A head refused while pipelined behind a local answer: the
    lingering close gives up after 2 s of silence, not timeout_client
    (the pending read activation re-armed the timer with it)."""
    M.set_rule("local.test", "empty", {"code": 204})
    s = connect(M.port)
    cport = s.getsockname()[1]
    s.sendall(b"GET / HTTP/1.1\r\nHost: local.test\r\n\r\n"
              b"GET\x01\x02 / HTTP/1.1\r\n\r\n")
    out = read_until_close(s)
    check(b"HTTP/1.1 204 " in out and b"HTTP/1.1 400 " in out,
          "got %r" % out[:200])
    try:
        wait_until(lambda: not worker_holds(M.port, cport), 4.5,
                   "the worker to let the socket go (2 s of silence)")
    finally:
        s.close()


def test_slowloris_408_while_others_served():
    s = connect(M.port)
    t0 = time.monotonic()
    s.sendall(b"GET / HTTP/1.1\r\n")
    got = b""
    s.settimeout(0.2)
    served = 0
    while time.monotonic() - t0 < 5:
        try:
            s.sendall(b"X: y\r\n")      # trickle: must not reset the timer
        except OSError:
            break
        try:
            d = s.recv(4096)
            if not d:
                break
            got += d
            break
        except OSError:
            pass
        out = http_raw(M.port, b"GET / HTTP/1.1\r\nHost: r.test\r\n"
                       b"Connection: close\r\n\r\n", timeout=2)
        served += out.startswith(b"HTTP/1.1 200")
    el = time.monotonic() - t0
    s.close()
    check(got.startswith(b"HTTP/1.1 408"), "got %r after %.1fs" % (got[:40], el))
    check(1.5 < el < 3.5, "408 after %.2f s (timeout_header = 2)" % el)
    check(served >= 3, "normal clients served: %d" % served)


def main():
    global M, RB
    M = Mantrid(conf={"timeout_header": "2"})
    RB = RawBackend(ok_reply)
    M.set_rule("r.test", "proxy", {"backends": [RB.addr]})
    M.set_rule("other.test", "proxy", {"backends": [RB.addr]})
    try:
        run_tests([make(*c) for c in CASES] +
                  [test_absolute_form_routes_by_target,
                   test_error_after_head_keeps_body,
                   test_pipelined_partial_head_408,
                   test_linger_ends_after_a_refused_pipelined_head,
                   test_slowloris_408_while_others_served])
    finally:
        RB.close()
        M.close()


if __name__ == "__main__":
    main()

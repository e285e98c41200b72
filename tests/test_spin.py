"""test_spin.py: the spin action: requests parked while a backend
restarts all succeed once the rule is set back to proxy, released by the
master's channel message (no polling) within 10 ms; spin timeout -> 504;
a client gone while parked never reaches a backend; spin_max -> 503;
proxy's hold_when_down parks the same way (timeout -> 504, released by a
rule change or by enabling the backend); a reload or stop answers the
requests still parked at drain_timeout with 504, never a cut."""
import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Backend, Mantrid, check, run_tests, wait_until  # noqa: E402
from dp_util import connect, read_response  # noqa: E402

M = None
SPIN_MAX = 200


def req(host, path="/"):
    return ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host)).encode()


def parked(host, n):
    """Wait until n requests for host are parked (the host's open count)."""
    def ok():
        st, body, _ = M.api("GET", "/stats/%s/" % host)
        return st == 200 and isinstance(body, dict) and \
            body.get("open_requests", body.get("open", 0)) >= n
    return ok


def test_spin_across_backend_restart():
    b = Backend("sb")
    M.set_rule("spin.test", "proxy", {"backends": [b.addr]})
    port = b.port
    b.stop()
    M.set_rule("spin.test", "spin", {"timeout": 30})
    n = 200
    socks = [connect(M.port) for _ in range(n)]
    for s in socks:
        s.sendall(req("spin.test", "/echo"))
    results = [None] * n
    first = []

    def reader(i, s):
        try:
            s.settimeout(20)
            d = s.recv(1)
            first.append(time.monotonic())
            st, _, _, _ = read_response(s, timeout=20, pre=d)
            results[i] = st
        except Exception as e:  # noqa: B902
            results[i] = repr(e)
    ts = [threading.Thread(target=reader, args=(i, s))
          for i, s in enumerate(socks)]
    for t in ts:
        t.start()
    time.sleep(0.3)     # let all heads reach the worker (no answer expected)
    check(not first, "a parked request was answered while spinning")
    b2 = Backend("sb2", port=port)
    t_set = time.monotonic()
    M.set_rule("spin.test", "proxy", {"backends": [b2.addr]})
    t_ack = time.monotonic()
    for t in ts:
        t.join(30)
    for s in socks:
        s.close()
    b2.stop()
    bad = [r for r in results if r != 200]
    check(not bad, "%d of %d failed: %r" % (len(bad), n, bad[:5]))
    print("first proxied response %.1f ms after the PUT was sent "
          "(%.1f ms after its ack)" % ((min(first) - t_set) * 1000,
                                      (min(first) - t_ack) * 1000))


def test_release_within_10ms():
    """Resumption itself (no backend in the way): spin -> empty."""
    M.set_rule("fast.test", "spin", {"timeout": 30})
    s = connect(M.port)
    s.sendall(req("fast.test"))
    time.sleep(0.2)
    t_set = time.monotonic()
    M.set_rule("fast.test", "empty", {"code": 204})
    t_ack = time.monotonic()
    st, _, _, _ = read_response(s)
    t_resp = time.monotonic()
    s.close()
    check(st == 204, "status %d" % st)
    print("released %.2f ms after the PUT was sent, %.2f ms after its ack"
          % ((t_resp - t_set) * 1000, (t_resp - t_ack) * 1000))
    check(t_resp - t_ack < 0.010, "release took %.1f ms after the ack"
          % ((t_resp - t_ack) * 1000))


def test_spin_timeout_504():
    M.set_rule("slow.test", "spin", {"timeout": 1})
    s = connect(M.port)
    t0 = time.monotonic()
    s.sendall(req("slow.test"))
    st, _, body, _ = read_response(s, timeout=5)
    s.close()
    check(st == 504, "status %d" % st)
    check(0.9 < time.monotonic() - t0 < 3, "took %.2f s" % (time.monotonic() - t0))


def test_client_gone_while_parked():
    b = Backend("gone")
    M.set_rule("gone.test", "spin", {"timeout": 30})
    s = connect(M.port)
    s.sendall(req("gone.test", "/echo?gone"))
    time.sleep(0.2)
    s.close()
    time.sleep(0.2)
    M.set_rule("gone.test", "proxy", {"backends": [b.addr]})
    # a later request goes through, the dropped one never arrived
    s = connect(M.port)
    s.sendall(req("gone.test", "/echo?later"))
    st, _, _, _ = read_response(s)
    s.close()
    paths = b.stats()["paths"]
    b.stop()
    check(st == 200, "status %d" % st)
    check("/echo?gone" not in paths, "dropped request reached the backend")


def test_spin_max_503():
    M.set_rule("cap.test", "spin", {"timeout": 30})
    socks = [connect(M.port) for _ in range(SPIN_MAX)]
    for s in socks:
        s.sendall(req("cap.test"))
    time.sleep(0.2)
    s = connect(M.port)
    s.sendall(req("cap.test"))
    st, _, _, _ = read_response(s)
    s.close()
    check(st == 503, "status %d" % st)
    M.set_rule("cap.test", "empty", {"code": 204})
    for s in socks:
        st, _, _, _ = read_response(s)
        check(st == 204, "released status %d" % st)
        s.close()


def hold_rule(b, weight, timeout=30):
    return {"backends": [{"address": b.addr, "weight": weight}],
            "hold_when_down": True, "timeout": timeout}


def test_hold_when_down_timeout_504():
    """hold_when_down with no usable backend parks like spin; its
    timeout answers the timeout page (504)."""
    b = Backend("hold0")
    try:
        M.set_rule("hold0.test", "proxy", hold_rule(b, 0, timeout=1))
        s = connect(M.port)
        t0 = time.monotonic()
        s.sendall(req("hold0.test", "/echo?held"))
        st, _, _, _ = read_response(s, timeout=5)
        s.close()
        took = time.monotonic() - t0
        check(st == 504, "status %d" % st)
        check(0.9 < took < 3, "took %.2f s" % took)
        check("/echo?held" not in b.stats()["paths"], "reached the backend")
    finally:
        b.stop()


def test_hold_when_down_released():
    """A held request runs as soon as the rule gives it a usable backend
    (rule change), or the operator enables the backend (CH_BACKEND_UP)."""
    b = Backend("hold1")
    try:
        M.set_rule("hold1.test", "proxy", hold_rule(b, 0))
        s = connect(M.port)
        s.sendall(req("hold1.test", "/echo?a"))
        wait_until(parked("hold1.test", 1), 5, "request held")
        M.set_rule("hold1.test", "proxy", hold_rule(b, 1))
        st, _, body, _ = read_response(s, timeout=2)
        check(st == 200 and b"/echo?a" in body, "rule change: %d" % st)
        st, body, _ = M.api("PUT", "/backends/%s/" % b.addr,
                            {"enabled": False})
        check(st == 200, "disable: %s %r" % (st, body))
        s.sendall(req("hold1.test", "/echo?b"))
        wait_until(parked("hold1.test", 1), 5, "request held again")
        st, body, _ = M.api("PUT", "/backends/%s/" % b.addr,
                            {"enabled": True})
        check(st == 200, "enable: %s %r" % (st, body))
        st, _, body, _ = read_response(s, timeout=2)
        s.close()
        check(st == 200 and b"/echo?b" in body, "enable: %d" % st)
    finally:
        b.stop()


def test_drain_answers_parked():
    """HUP or TERM: a request parked in the old worker spins on until
    drain_timeout, then gets the timeout page (it was cut before)."""
    for sig in (signal.SIGHUP, signal.SIGTERM):
        with Mantrid(conf={"drain_timeout": "2"}) as m:
            m.set_rule("d.test", "spin", {"timeout": 60})
            s = connect(m.port)
            s.sendall(req("d.test"))

            def parked_here():
                st, body, _ = m.api("GET", "/stats/d.test/")
                return st == 200 and body.get("open_requests",
                                              body.get("open", 0)) >= 1
            wait_until(parked_here, 5, "parked")
            t0 = time.monotonic()
            m.signal(sig)
            st, h, body, _ = read_response(s, timeout=6)
            el = time.monotonic() - t0
            s.close()
            check(st == 504, "%s: status %d" % (sig.name, st))
            check(h.get("connection") == "close", "%s: %r" % (sig.name, h))
            check(1.5 < el < 3.5, "%s: answered after %.2f s (drain_timeout"
                  " = 2)" % (sig.name, el))


def main():
    global M
    M = Mantrid(conf={"spin_max": str(SPIN_MAX)})
    try:
        run_tests([test_spin_across_backend_restart, test_release_within_10ms,
                   test_spin_timeout_504, test_client_gone_while_parked,
                   test_spin_max_503, test_hold_when_down_timeout_504,
                   test_hold_when_down_released,
                   test_drain_answers_parked])
    finally:
        M.close()


if __name__ == "__main__":
    main()

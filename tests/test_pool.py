"""test_pool.py: backend pools against the real daemon (issue 5):
distribution by weight, fail-over under load, hold_when_down, drain,
redirect farms, health probes against backends that answer 500, hang or
refuse, and the operator's /backends/ API with its persistence.
"""
import http.client
import os
import sys
import threading
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Backend, Mantrid, SkipTest, check, free_port,  # noqa
                     run_tests, wait_until)


def get(m, host, path="/", timeout=10):
    """One request on a fresh connection: (status, headers dict, body)."""
    c = http.client.HTTPConnection("127.0.0.1", m.port, timeout=timeout)
    try:
        c.request("GET", path, headers={"Host": host,
                                        "Connection": "close"})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def backend_state(m, addr):
    st, body, _ = m.api("GET", "/backends/%s/" % addr)
    check(st == 200, "GET /backends/%s/: %s %s" % (addr, st, body))
    return body


def wait_state(m, addr, state, timeout=10):
    wait_until(lambda: backend_state(m, addr)["state"] == state, timeout,
               "%s to be %s" % (addr, state))


def proxy(backends, **kw):
    kw["backends"] = backends
    return kw


def need_daemon():
    if not os.path.exists(os.path.join(os.environ.get("top_builddir", "."),
                                       "mantrid")):
        raise SkipTest("mantrid not built")


def test_distribution():
    """roundrobin over the daemon follows weights exactly (1 worker)."""
    need_daemon()
    with Backend("a") as a, Backend("b") as b, Mantrid(workers=1) as m:
        m.set_rule("rr.test", "proxy", proxy([
            {"address": a.addr, "weight": 1},
            {"address": b.addr, "weight": 3}], algorithm="roundrobin"))
        seen = Counter(get(m, "rr.test")[1].get("x-backend")
                       for _ in range(200))
        check(seen == Counter({"a": 50, "b": 150}), "shares %s" % seen)


def test_failover():
    """Kill a backend under load: at most server_retry failures per
    worker, then none; it returns after the next successful probe."""
    need_daemon()
    conf = {"server_retry": "2", "timeout_cleanup": "1"}
    with Backend("a") as a, Backend("b") as b, \
            Mantrid(conf, workers=2) as m:
        m.set_rule("fo.test", "proxy", proxy([a.addr, b.addr],
                                             algorithm="roundrobin"))
        codes = [get(m, "fo.test")[0] for _ in range(20)]
        check(codes == [200] * 20, "before: %s" % codes)
        a.stop()
        codes = [get(m, "fo.test")[0] for _ in range(60)]
        bad = [c for c in codes if c != 200]
        check(len(bad) <= 2 * 2, "%d failed requests: %s" % (len(bad),
                                                              codes))
        check(codes[-40:] == [200] * 40, "after: %s" % codes[-40:])
        wait_state(m, a.addr, "down", 5)
        check("down" in m.read_log(), "state change not logged")
        a2 = Backend("a", port=a.port)
        try:
            wait_state(m, a.addr, "up", 5)
            names = Counter(get(m, "fo.test")[1].get("x-backend")
                            for _ in range(20))
            check(names["a"] >= 5, "a is back but got %s" % names)
        finally:
            a2.stop()


def test_hold_when_down():
    """A request arriving while the only backend is down is held and
    succeeds once the backend returns."""
    need_daemon()
    conf = {"server_retry": "1", "timeout_cleanup": "1"}
    with Backend("a") as a, Mantrid(conf, workers=1) as m:
        m.set_rule("hold.test", "proxy", proxy([a.addr],
                                               hold_when_down=True,
                                               timeout=15))
        check(get(m, "hold.test")[0] == 200, "before")
        a.stop()
        get(m, "hold.test")          # fails (or is held): marks it down
        wait_state(m, a.addr, "down", 5)
        result = {}
        sent = threading.Event()

        def held():
            c = http.client.HTTPConnection("127.0.0.1", m.port, timeout=20)
            c.request("GET", "/", headers={"Host": "hold.test"})
            sent.set()
            r = c.getresponse()
            result["status"] = r.status
            result["body"] = r.read()
            c.close()

        t = threading.Thread(target=held)
        t.start()
        check(sent.wait(5), "request not sent")
        a2 = Backend("a", port=a.port)
        try:
            t.join(20)
            check(result.get("status") == 200,
                  "held request got %s" % result)
        finally:
            a2.stop()


def test_drain():
    """In-flight requests to a draining backend complete; none new."""
    need_daemon()
    with Backend("a") as a, Backend("b") as b, Mantrid(workers=2) as m:
        m.set_rule("only-a.test", "proxy", proxy([a.addr]))
        m.set_rule("ab.test", "proxy", proxy([a.addr, b.addr]))
        result = {}

        def slow():
            result["r"] = get(m, "only-a.test", "/slow?ms=1500")

        t = threading.Thread(target=slow)
        t.start()
        wait_until(lambda: a.stats()["requests"] >= 1, 5, "slow request")
        st, body, _ = m.api("PUT", "/backends/%s/" % a.addr,
                            {"drain": True})
        check(st == 200, "drain: %s %s" % (st, body))
        check(backend_state(m, a.addr)["state"] == "draining", "state")
        before = a.stats()["requests"]
        names = Counter(get(m, "ab.test")[1].get("x-backend")
                        for _ in range(30))
        check(names == Counter({"b": 30}), "after drain: %s" % names)
        t.join(10)
        check(result["r"][0] == 200 and result["r"][1].get("x-backend") ==
              "a", "in-flight request: %s" % (result["r"][:2],))
        check(a.stats()["requests"] == before, "a got new requests")
        st, _, _ = m.api("PUT", "/backends/%s/" % a.addr, {"drain": False})
        check(st == 200, "undrain")
        wait_state(m, a.addr, "up", 2)


def locations(m, host, n, path="/img/a.jpg?x=1"):
    out = Counter()
    for _ in range(n):
        st, h, _ = get(m, host, path)
        check(st == 302, "status %s" % st)
        loc = h["location"]
        check(loc.endswith(path), "Location %s lacks %s" % (loc, path))
        out[loc[:-len(path)]] += 1
    return out


def test_redirect_farm():
    """302 Location by weight; disabled and down targets skipped; all
    down -> 503."""
    need_daemon()
    conf = {"health_check": "yes", "health_interval": "1",
            "health_timeout": "1", "rise": "1", "fall": "1"}
    with Backend("img1") as i1, Backend("img2") as i2, \
            Mantrid(conf, workers=2) as m:
        off = free_port()
        u1, u2 = "http://%s" % i1.addr, "http://%s" % i2.addr
        u3 = "http://127.0.0.1:%d" % off
        m.set_rule("img.test", "redirect", {"targets": [
            {"url": u1, "weight": 20}, {"url": u2, "weight": 10},
            {"url": u3, "weight": 50, "enabled": False}]})
        seen = locations(m, "img.test", 300)
        check(seen[u3] == 0, "disabled target used: %s" % seen)
        share = seen[u1] / 300.0
        check(0.58 < share < 0.75, "img1 share %.3f: %s" % (share, seen))
        i2.stop()
        wait_state(m, i2.addr, "down", 8)
        seen = locations(m, "img.test", 40)
        check(seen == Counter({u1: 40}), "with img2 down: %s" % seen)
        i1.stop()
        wait_state(m, i1.addr, "down", 8)
        st = get(m, "img.test", "/x")[0]
        check(st == 503, "all down: %s" % st)


def test_health_probes():
    """500, hanging and refusing backends are taken down by active
    checks, with the reason; requests go only to the healthy one."""
    need_daemon()
    conf = {"health_check": "yes", "health_interval": "1",
            "health_timeout": "1", "rise": "2", "fall": "2"}
    with Backend("ok") as ok, Backend("e500", args=["--fail-status",
                                                    "500"]) as e500, \
            Backend("hang", args=["--hang"]) as hang, \
            Mantrid(conf, workers=1) as m:
        refused = "127.0.0.1:%d" % free_port()
        m.set_rule("hc.test", "proxy", proxy(
            [ok.addr, e500.addr, hang.addr, refused]))
        for addr in (e500.addr, hang.addr, refused):
            wait_state(m, addr, "down", 10)
        errs = {a: backend_state(m, a)["last_error"]
                for a in (e500.addr, hang.addr, refused)}
        check(errs[e500.addr] == "HTTP 500", "500: %s" % errs)
        check(errs[hang.addr] == "timeout", "hang: %s" % errs)
        check(errs[refused] == "Connection refused", "refused: %s" % errs)
        check(backend_state(m, ok.addr)["state"] == "up", "ok is not up")
        names = Counter(get(m, "hc.test")[1].get("x-backend")
                        for _ in range(20))
        check(names == Counter({"ok": 20}), "requests went to %s" % names)
        log = m.read_log()
        check("HTTP 500" in log and "timeout" in log, "reasons not logged")


def test_drain_false_keeps_disable():
    """{"drain": false} ends a drain only: a disabled backend stays
    disabled (and gets no request), a draining one is back in service."""
    need_daemon()
    with Backend("a") as a, Backend("b") as b, Mantrid(workers=1) as m:
        m.set_rule("df.test", "proxy", proxy([a.addr, b.addr]))
        path = "/backends/%s/" % a.addr
        st, body, _ = m.api("PUT", path, {"enabled": False})
        check(st == 200 and body["state"] == "disabled", "disable: %s" % body)
        st, body, _ = m.api("PUT", path, {"drain": False})
        check(st == 200 and body["state"] == "disabled" and
              not body["enabled"] and not body["drain"],
              "drain false re-enabled: %s %s" % (st, body))
        names = Counter(get(m, "df.test")[1].get("x-backend")
                        for _ in range(10))
        check(names == Counter({"b": 10}), "disabled got %s" % names)
        st, body, _ = m.api("PUT", path, {"enabled": True})
        st, body, _ = m.api("PUT", path, {"drain": True})
        check(st == 200 and body["state"] == "draining", "drain: %s" % body)
        st, body, _ = m.api("PUT", path, {"drain": False})
        check(st == 200 and body["state"] == "up" and body["enabled"],
              "undrain: %s %s" % (st, body))


def test_passive_after_connect():
    """Passive health counts an exchange that fails after the connect:
    a backend that accepts and closes, or hangs past timeout_server, is
    down after server_retry requests, one failure per attempt."""
    need_daemon()
    conf = {"server_retry": "3", "timeout_server": "1"}
    for mode, status in (("--close", 502), ("--hang", 504)):
        with Backend("bad", args=[mode]) as bad, \
                Mantrid(conf, workers=1) as m:
            m.set_rule("pa.test", "proxy", proxy([bad.addr]))
            codes = [get(m, "pa.test")[0] for _ in range(3)]
            check(codes == [status] * 3, "%s: %s" % (mode, codes))
            wait_state(m, bad.addr, "down", 5)
            s = backend_state(m, bad.addr)
            check(s["failures"] == 3, "%s: %s" % (mode, s))
            check(get(m, "pa.test")[0] == 503, "%s: not taken out" % mode)


def continue_then_close(head, c):
    c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    return "close"


def test_passive_interim_is_no_success():
    """A 100 Continue and then a close is one failure: the interim head
    does not clear the run (it did, so the backend never went down)."""
    need_daemon()
    from dp_util import RawBackend
    rb = RawBackend(continue_then_close)
    try:
        with Mantrid({"server_retry": "3"}, workers=1) as m:
            m.set_rule("pc.test", "proxy", proxy([rb.addr]))
            codes = [get(m, "pc.test")[0] for _ in range(3)]
            check(codes == [502] * 3, "codes %s" % codes)
            wait_state(m, rb.addr, "down", 5)
            s = backend_state(m, rb.addr)
            check(s["consecutive_failures"] == 3, "state %s" % s)
    finally:
        rb.close()


def churn(m, tag, n=5):
    """Mutations, so that a retired backend entry passes its grace."""
    for i in range(n):
        st, body, _ = m.api("PUT", "/hostname/%s%d.test/" % (tag, i),
                            ["empty", {"code": 204}, False])
        check(st == 200, "churn: %s %s" % (st, body))


def test_reclaim_inflight():
    """A backend entry is not freed while a request to it is in flight
    (its end would wrap `active`), and freed entries are not listed."""
    need_daemon()
    with Backend("a") as a, Mantrid(workers=1) as m:
        m.set_rule("a.test", "proxy", proxy([a.addr]))
        res = {}
        t = threading.Thread(target=lambda: res.update(
            r=get(m, "a.test", "/slow?ms=2000")[0]))
        t.start()
        wait_until(lambda: backend_state(m, a.addr)["active"] == 1, 5,
                   "request in flight")
        check(m.api("DELETE", "/hostname/a.test/")[0] == 200, "delete")
        churn(m, "x")
        t.join(10)
        check(res.get("r") == 200, "in-flight request: %s" % res)
        churn(m, "y")
        st, allb, _ = m.api("GET", "/backends/")
        check(st == 200 and "" not in allb and
              all(b["active"] < 1 << 32 for b in allb.values()),
              "GET /backends/: %s" % allb)
        m.set_rule("a.test", "proxy", proxy([a.addr]))
        s = backend_state(m, a.addr)
        check(s["active"] == 0, "re-added: %s" % s)


def fill_and_reuse(m, old_host, old_addr, new_addr):
    """Fill the backend table (shm_size 1m: 128 entries), free old_addr's
    entry and name new_addr, which can only get that entry."""
    fill = ["127.0.0.1:%d" % (20000 + i) for i in range(127)]
    st, body, _ = m.api("PUT", "/hostname/fill.test/",
                        ["proxy", {"backends": fill}, False])
    check(st == 200, "fill: %s %s" % (st, body))
    check(m.api("DELETE", "/hostname/%s/" % old_host)[0] == 200, "delete")
    churn(m, "r")
    st, body, _ = m.api("PUT", "/hostname/b.test/",
                        ["proxy", {"backends": [new_addr]}, False])
    check(st == 200, "reuse: %s %s" % (st, body))
    st, allb, _ = m.api("GET", "/backends/")
    check(old_addr not in allb, "%s not reclaimed: %s" % (old_addr,
                                                          sorted(allb)))


def test_reuse_fresh_settings():
    """A reused backend entry does not inherit the old address's
    operator disable, neither shown, nor applied, nor saved."""
    need_daemon()
    with Backend("y") as y, Mantrid({"shm_size": "1m"}, workers=1) as m:
        x = "127.0.0.1:%d" % free_port()
        m.set_rule("a.test", "proxy", proxy([x]))
        st, body, _ = m.api("PUT", "/backends/%s/" % x, {"enabled": False})
        check(st == 200, "disable: %s %s" % (st, body))
        fill_and_reuse(m, "a.test", x, y.addr)
        s = backend_state(m, y.addr)
        check(s["enabled"] and s["state"] == "up", "inherited: %s" % s)
        check(get(m, "b.test")[0] == 200, "b.test refused")
        check(m.stop() == 0, "stop")
        m.start()
        s = backend_state(m, y.addr)
        check(s["enabled"], "saved as disabled: %s" % s)


def test_reuse_pool():
    """Idle pooled connections of a reused entry's old address never
    serve the new one."""
    need_daemon()
    with Backend("x") as x, Backend("y") as y, \
            Mantrid({"shm_size": "1m"}, workers=1) as m:
        m.set_rule("a.test", "proxy", proxy([x.addr]))
        check(get(m, "a.test")[1].get("x-backend") == "x", "x")
        fill_and_reuse(m, "a.test", x.addr, y.addr)
        names = Counter(get(m, "b.test")[1].get("x-backend")
                        for _ in range(3))
        check(names == Counter({"y": 3}), "b.test went to %s" % names)


def test_backends_api():
    """GET /backends/, 404, weight/disable over REST, persistence."""
    need_daemon()
    with Backend("a") as a, Backend("b") as b, Mantrid(workers=1) as m:
        m.set_rule("api.test", "proxy", proxy([a.addr, b.addr],
                                              algorithm="roundrobin"))
        st, body, _ = m.api("GET", "/backends/")
        check(st == 200 and a.addr in body and b.addr in body,
              "list: %s %s" % (st, body))
        st, body, _ = m.api("GET", "/backends/127.0.0.9:1/")
        check(st == 404, "unknown: %s %s" % (st, body))
        st, body, _ = m.api("PUT", "/backends/%s/" % b.addr, {"weight": 3})
        check(st == 200, "weight: %s %s" % (st, body))
        names = Counter(get(m, "api.test")[1].get("x-backend")
                        for _ in range(40))
        check(names == Counter({"a": 10, "b": 30}), "weights %s" % names)
        st, body, _ = m.api("PUT", "/backends/%s/" % a.addr,
                            {"enabled": False})
        check(st == 200 and backend_state(m, a.addr)["state"] ==
              "disabled", "disable: %s %s" % (st, body))
        names = Counter(get(m, "api.test")[1].get("x-backend")
                        for _ in range(10))
        check(names == Counter({"b": 10}), "disabled got %s" % names)
        # none usable: the timeout page with 503 (HAProxy's "no server
        # available"), no retry, and nothing reaches either backend
        st, body, _ = m.api("PUT", "/backends/%s/" % b.addr,
                            {"enabled": False})
        check(st == 200, "disable b: %s %s" % (st, body))
        before = a.stats()["requests"] + b.stats()["requests"]
        st, _, _ = get(m, "api.test")
        check(st == 503, "no usable backend: %s" % st)
        check(a.stats()["requests"] + b.stats()["requests"] == before,
              "a request reached a disabled backend")
        st, body, _ = m.api("PUT", "/backends/%s/" % b.addr,
                            {"enabled": True})
        check(st == 200, "enable b: %s %s" % (st, body))
        check(m.stop() == 0, "stop")
        m.start()
        s = backend_state(m, a.addr)
        check(s["state"] == "disabled" and not s["enabled"],
              "after restart: %s" % s)
        check(backend_state(m, b.addr)["weight"] == 3, "weight lost")


if __name__ == "__main__":
    run_tests([test_distribution, test_failover, test_hold_when_down,
               test_drain, test_redirect_farm, test_health_probes,
               test_drain_false_keeps_disable, test_passive_after_connect,
               test_passive_interim_is_no_success,
               test_reclaim_inflight, test_reuse_fresh_settings,
               test_reuse_pool, test_backends_api])

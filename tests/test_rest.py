"""test_rest.py: the REST API (master/master_rest.c) with curl on every
endpoint, method and error shape: Mantrid's shapes, 400 reasons, ETag and
If-Match, 413, JSON content type on every reply (those libevent's evhttp
makes itself for malformed requests included, checked with raw sockets),
Bearer auth, and the refusal to start on a non-loopback bind_management
without a token."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Mantrid, MANTRID, TestFailure, check, http_raw,  # noqa: E402
                     run_tests)


def curl(m, method, path, body=None, headers=(), raw_body=None):
    """(status, parsed JSON body, headers dict with lower-case names)."""
    cmd = ["curl", "-sS", "-g", "-X", method, "-D", "-", "--max-time", "20",
           "-H", "Expect:",
           "http://127.0.0.1:%d%s" % (m.mgmt_port, path)]
    for h in headers:
        cmd += ["-H", h]
    data = raw_body if raw_body is not None else (
        None if body is None else json.dumps(body).encode())
    if data is not None:
        cmd += ["-H", "Content-Type: application/json",
                "--data-binary", "@-"]
    p = subprocess.run(cmd, input=data, capture_output=True)
    check(p.returncode == 0, "curl failed: %s" % p.stderr.decode())
    head, _, text = p.stdout.decode().partition("\r\n\r\n")
    lines = head.split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    check(hdrs.get("content-type") == "application/json",
          "%s %s: content type %r" % (method, path, hdrs.get("content-type")))
    try:
        parsed = json.loads(text)
    except ValueError:
        raise TestFailure("%s %s: not JSON: %r" % (method, path, text))
    return status, parsed, hdrs


def expect(m, method, path, status, want, **kw):
    st, got, hdrs = curl(m, method, path, **kw)
    check((st, got) == (status, want), "%s %s: want %s %r, got %s %r"
          % (method, path, status, want, st, got))
    return hdrs


def gen(hdrs):
    return int(hdrs["etag"].strip('"'))


PROXY = ["proxy", {"backends": [["127.0.0.1", 8000]]}, False]
EMPTY = ["empty", {"code": 204}, True]


def test_mantrid_shapes():
    with Mantrid() as m:
        expect(m, "GET", "/hostname/", 200, {})
        expect(m, "PUT", "/hostname/example.com/", 200, {"ok": True},
               body=PROXY)
        expect(m, "GET", "/hostname/example.com/", 200, PROXY)
        expect(m, "GET", "/hostname/example.com", 200, PROXY)
        expect(m, "GET", "/hostname/EXAMPLE.com/", 200, PROXY)
        expect(m, "GET", "/hostname/missing.com/", 200, None)
        expect(m, "PUT", "/hostname/a.example.com", 200, {"ok": True},
               body=EMPTY)
        expect(m, "GET", "/hostname", 200,
               {"example.com": PROXY, "a.example.com": EMPTY})
        expect(m, "DELETE", "/hostname/a.example.com/", 200, {"ok": True})
        expect(m, "DELETE", "/hostname/a.example.com/", 200, {"ok": True})
        expect(m, "GET", "/hostname/a.example.com/", 200, None)
        allr = {"x.com": EMPTY, "https://y.com": PROXY}
        expect(m, "PUT", "/hostname/", 200, {"ok": True}, body=allr)
        expect(m, "GET", "/hostname/", 200, allr)
        zero = {"open_requests": 0, "completed_requests": 0,
                "bytes_received": 0, "bytes_sent": 0}
        expect(m, "GET", "/stats/", 200, {"x.com": zero,
                                          "https://y.com": zero})
        expect(m, "GET", "/stats/x.com/", 200, zero)
        expect(m, "GET", "/stats/x.com", 200, zero)
        expect(m, "GET", "/stats/nothere.com/", 200, {})
        st, info, _ = curl(m, "GET", "/info/")
        check(st == 200 and info["rules"] == 2 and info["pid"] == m.pid,
              "info: %r" % info)
        expect(m, "POST", "/save/", 200, None)


def test_not_found_and_method():
    with Mantrid() as m:
        for path in ("/nope/", "/hostname/a.com/b/", "/hostnames/",
                     "/stats/a.com/x/", "/hostname//"):
            expect(m, "GET", path, 404, {"error": "not_found"})
        for method, path in (("POST", "/hostname/"),
                             ("DELETE", "/hostname/"),
                             ("POST", "/hostname/a.com/"),
                             ("PATCH", "/hostname/a.com/"),
                             ("PUT", "/stats/"), ("DELETE", "/stats/a.com/"),
                             ("GET", "/"), ("HEAD", "/hostname/"),
                             ("GET", "/save/"), ("PUT", "/info/")):
            if method == "HEAD":
                st, _, _ = curl_head(m, path)
                check(st == 405, "HEAD %s: %s" % (path, st))
                continue
            expect(m, method, path, 405, {"error": "method_not_allowed"})


def curl_head(m, path):
    p = subprocess.run(["curl", "-sS", "-I", "--max-time", "10",
                        "http://127.0.0.1:%d%s" % (m.mgmt_port, path)],
                       capture_output=True)
    return int(p.stdout.split()[1]), None, None


def test_bad_requests():
    with Mantrid() as m:
        expect(m, "PUT", "/hostname/keep.com/", 200, {"ok": True},
               body=EMPTY)
        _, _, h = curl(m, "GET", "/hostname/")
        g0 = gen(h)
        cases = [
            ("/hostname/a.com/", ["foo", {}, False],
             "host_action_invalid:foo"),
            ("/hostname/a.com/", {"x": 1}, "host_details_not_list"),
            ("/hostname/a.com/", ["spin", {}], "host_details_wrong_length"),
            ("/hostname/a.com/", ["spin", [], False], "host_kwargs_not_dict"),
            ("/hostname/a.com/", ["spin", {}, "no"],
             "host_match_subdomains_not_bool"),
            ("/hostname/a.com/", ["proxy", {}, False],
             "host_kwarg_missing:backends"),
            ("/hostname/a.com/", ["proxy", {"backends": ["127.0.0.1:0"]},
                                  False],
             "host_kwarg_invalid:backends:port must be 1-65535"),
            ("/hostname/a.com/", ["proxy", {"backends": ["nx.invalid:80"]},
                                  False],
             "backend_unresolvable:nx.invalid:80"),
            ("/hostname/a.com/", ["empty", {"code": 700}, False],
             "host_kwarg_invalid:code:must be 200-599"),
            ("/hostname/a.com/", ["empty", {"code": 100}, False],
             "host_kwarg_invalid:code:must be 200-599"),
            ("/hostname/a.com/", ["spin", {"timeout": -5}, False],
             "host_kwarg_invalid:timeout:must be 1-86400 seconds"),
            ("/hostname/a.com/", ["spin", {"colour": 1}, False],
             "host_kwarg_unknown:colour"),
            ("/hostname/bad..host/", EMPTY, "hostname_invalid"),
            ("/hostname/", [1], "body_not_a_dict"),
            ("/hostname/", {"ok.com": EMPTY, "b.com": ["x", {}, False]},
             "b.com:host_action_invalid:x"),
            ("/hostname/", {"bad..h": EMPTY}, "bad..h:hostname_invalid"),
        ]
        for path, body, err in cases:
            expect(m, "PUT", path, 400, {"error": err}, body=body)
        expect(m, "PUT", "/hostname/a.com/", 400,
               {"error": "body_invalid_json"}, raw_body=b"[\"spin\", {}")
        expect(m, "PUT", "/hostname/a.com/", 400,
               {"error": "host_details_not_list"}, raw_body=b"")
        expect(m, "DELETE", "/hostname/bad..host/", 400,
               {"error": "hostname_invalid"})
        # a rejected request changed nothing
        _, body, h = curl(m, "GET", "/hostname/")
        check(body == {"keep.com": EMPTY} and gen(h) == g0,
              "state changed by rejected requests: %r %s" % (body, h))


def test_etag_if_match():
    with Mantrid() as m:
        _, _, h = curl(m, "GET", "/hostname/")
        g = gen(h)
        h = expect(m, "PUT", "/hostname/a.com/", 200, {"ok": True},
                   body=EMPTY)
        check(gen(h) == g + 1, "generation %s after one set" % h["etag"])
        g += 1
        for method, path, body in (("PUT", "/hostname/a.com/", PROXY),
                                   ("DELETE", "/hostname/a.com/", None),
                                   ("PUT", "/hostname/", {})):
            h = expect(m, method, path, 412, {"error": "precondition_failed"},
                       body=body, headers=['If-Match: "%d"' % (g - 1)])
            check(gen(h) == g, "412 changed the generation")
        expect(m, "GET", "/hostname/a.com/", 200, EMPTY)
        h = expect(m, "PUT", "/hostname/a.com/", 200, {"ok": True},
                   body=PROXY, headers=['If-Match: "%d"' % g])
        g += 1
        h = expect(m, "PUT", "/hostname/a.com/", 200, {"ok": True},
                   body=EMPTY, headers=['If-Match: W/"1", "%d"' % g])
        g += 1
        expect(m, "DELETE", "/hostname/a.com/", 200, {"ok": True},
               headers=["If-Match: *"])
        expect(m, "GET", "/hostname/a.com/", 200, None)


def test_nul_bytes():
    """A NUL (\\u0000 in the body, %00 in the path) in a host, a kwarg or
    an address is refused with 400 naming the key, and changes nothing:
    the checks would have seen only the part before it."""
    nul = "arg_invalid:%s:contains a NUL byte"
    with Mantrid() as m:
        m.set_rule("b.com", "proxy", {"backends": ["127.0.0.1:8123"]})
        _, before, h = curl(m, "GET", "/hostname/")
        g = gen(h)
        _, backend, _ = curl(m, "GET", "/backends/127.0.0.1:8123/")
        for method, path, body, key in (
                ("PUT", "/hostname/n.com/",
                 ["redirect", {"redirect_to": "http://good.example\0\r\n"
                               "Set-Cookie: evil=1"}, False], "redirect_to"),
                ("PUT", "/hostname/n.com/",
                 ["static", {"type": "ok\0/../../etc/passwd"}, False],
                 "type"),
                ("PUT", "/hostname/n.com/",
                 ["proxy", {"backends": ["127.0.0.1\0x:8123"]}, False],
                 "backends"),
                ("PUT", "/hostname/nul.com%00.evil/", EMPTY, "host"),
                ("PUT", "/hostname/b.com%00/", EMPTY, "host"),
                ("DELETE", "/hostname/b.com%00.x/", None, "host"),
                ("GET", "/hostname/b.com%00.x/", None, "host"),
                ("PUT", "/hostname/",
                 {"n.com": ["redirect", {"redirect_to": "a\0b"}, False]},
                 "redirect_to"),
                ("PUT", "/backends/127.0.0.1:8123%00x/", {"weight": 3},
                 "address")):
            expect(m, method, path, 400, {"error": nul % key}, body=body)
        _, now, h = curl(m, "GET", "/hostname/")
        check(now == before and gen(h) == g, "NULs changed the rules: %r"
              % now)
        _, now, _ = curl(m, "GET", "/backends/127.0.0.1:8123/")
        check(now["weight"] == backend["weight"], "NUL changed a backend")


def test_body_limit():
    with Mantrid() as m:
        big = b"[" + b" " * (33 << 20) + b"]"
        h = expect(m, "PUT", "/hostname/", 413,
                   {"error": "request_too_large"}, raw_body=big)
        check("etag" in h, "413 without ETag")
        # with Expect: 100-continue, refused before the body is sent
        h = expect(m, "PUT", "/hostname/", 413,
                   {"error": "request_too_large"}, raw_body=big,
                   headers=["Expect: 100-continue"])
        # just under the limit is parsed (and is not a rule set)
        ok = b"{" + b" " * ((32 << 20) - 2) + b"}"
        expect(m, "PUT", "/hostname/", 200, {"ok": True}, raw_body=ok)
        expect(m, "GET", "/hostname/", 200, {})


def raw_replies(data):
    """Split raw HTTP/1.x responses: [(status, headers, body bytes)]."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        check(sep, "no end of headers in %r" % data[:200])
        lines = head.decode().split("\r\n")
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", "0"))
        out.append((int(lines[0].split()[1]), hdrs, rest[:n]))
        data = rest[n:]
    return out


def check_json_reply(what, reply, status, error):
    st, hdrs, body = reply
    check(st == status, "%s: status %d, want %d" % (what, st, status))
    check(hdrs.get("content-type") == "application/json",
          "%s: content type %r" % (what, hdrs.get("content-type")))
    try:
        got = json.loads(body)
    except ValueError:
        raise TestFailure("%s: not JSON: %r" % (what, body))
    check(got == {"error": error}, "%s: %r" % (what, got))


def test_evhttp_errors_are_json():
    """What libevent rejects before mantrid sees a request gets JSON with
    evhttp's status, not evhttp's HTML page."""
    cases = [
        (b"GARBAGE\r\n\r\n", 400, "bad_request"),
        (b"GET /hostname/ HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
         400, "bad_request"),
        (b"GET /hostname/ HTTP/3.0\r\n\r\n", 400, "bad_request"),
        (b"GET /hostname/ HTTP/1.1\r\nHost: x\r\nX-Big: "
         + b"a" * (70 << 10) + b"\r\n\r\n", 400, "bad_request"),
        (b"BREW /hostname/ HTTP/1.1\r\nHost: x\r\n\r\n", 501,
         "method_not_implemented"),
        (b"PUT /hostname/a.com/ HTTP/1.1\r\nHost: x\r\nExpect: tea\r\n"
         b"Content-Length: 2\r\n\r\n{}", 417, "expectation_failed"),
        (b"PUT /hostname/ HTTP/1.1\r\nHost: x\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % (33 << 20),
         413, "request_too_large"),
        # a request that was fine first: its reply is ours, then evhttp's
        (b"GET /info/ HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n", 400,
         "bad_request"),
    ]
    with Mantrid() as m:
        for req, status, error in cases:
            replies = raw_replies(http_raw(m.mgmt_port, req))
            check(len(replies) == (2 if req.startswith(b"GET /info/")
                                   else 1), "%r: %d replies" %
                  (req[:30], len(replies)))
            if len(replies) == 2:
                check(replies[0][0] == 200 and
                      json.loads(replies[0][2])["pid"] == m.pid,
                      "first reply: %r" % (replies[0],))
            check_json_reply(repr(req[:30]), replies[-1], status, error)
            check("etag" in replies[-1][1], "%r: no ETag" % req[:30])
        # a keep-alive connection goes on after a HEAD (no body, as HTTP
        # wants), and the daemon after all of the above
        replies = raw_replies(http_raw(
            m.mgmt_port, b"HEAD /hostname/ HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /hostname/ HTTP/1.1\r\nHost: x\r\n"
            b"Connection: close\r\n\r\n"))
        check([r[0] for r in replies] == [405, 200] and replies[0][2] == b""
              and json.loads(replies[1][2]) == {},
              "HEAD then GET: %r" % replies)
        check(m.proc.poll() is None, "daemon died")


def test_mantrid_client_bodies():
    """Mantrid's client sent json.dumps(None) == "null" on GET/DELETE."""
    with Mantrid() as m:
        expect(m, "GET", "/hostname/", 200, {}, raw_body=b"null")
        expect(m, "PUT", "/hostname/c.com/", 200, {"ok": True},
               body=["proxy", {"backends": [["127.0.0.1", "8000"]],
                               "attempts": "2"}, False])
        expect(m, "DELETE", "/hostname/c.com/", 200, {"ok": True},
               raw_body=b"null")


def test_takes_effect_at_once():
    with Mantrid() as m:
        m.set_rule("fast.example.com", "empty", {"code": 204})
        resp = http_raw(m.port, b"GET / HTTP/1.0\r\n"
                        b"Host: fast.example.com\r\n\r\n")
        check(resp.startswith(b"HTTP/1.") and b" 204 " in resp[:20],
              "data plane did not see the rule: %r" % resp[:80])


def test_backends_routes():
    with Mantrid() as m:
        m.set_rule("b.com", "proxy", {"backends": ["127.0.0.1:8123"]})
        st, body, _ = curl(m, "GET", "/backends/")
        check(st == 200 and "127.0.0.1:8123" in body, "backends: %r" % body)
        st, body, _ = curl(m, "PUT", "/backends/127.0.0.1:8123/",
                           body={"enabled": False})
        check(st == 200, "disable: %s %r" % (st, body))
        st, body, _ = curl(m, "GET", "/backends/127.0.0.1:8123/")
        check(st == 200 and body.get("enabled") is False,
              "backend after disable: %r" % body)
        expect(m, "PUT", "/backends/127.0.0.1:8123/", 400,
               {"error": "body_invalid:expected {\"enabled\": bool}, "
                         "{\"drain\": bool} or {\"weight\": n}"},
               body={"colour": "red"})
        st, body, _ = curl(m, "GET", "/backends/127.0.0.1:9/")
        check(st == 404, "unknown backend: %s %r" % (st, body))


def test_backend_if_match():
    """PUT /backends/<a>/ honours If-Match as PUT /hostname/ does: a stale
    one gets 412 and changes nothing."""
    addr = "/backends/127.0.0.1:8123/"
    with Mantrid() as m:
        m.set_rule("b.com", "proxy", {"backends": ["127.0.0.1:8123"]})
        _, before, h = curl(m, "GET", addr)
        g = gen(h)
        for body in ({"weight": 9}, {"enabled": False}, {"drain": True}):
            h = expect(m, "PUT", addr, 412, {"error": "precondition_failed"},
                       body=body, headers=['If-Match: "%d"' % (g + 7)])
            check(gen(h) == g, "412 changed the generation")
            _, now, _ = curl(m, "GET", addr)
            check((now["weight"], now["enabled"], now["drain"]) ==
                  (before["weight"], before["enabled"], before["drain"]),
                  "%r with a stale If-Match changed %r to %r"
                  % (body, before, now))
        st, body, h = curl(m, "PUT", addr, body={"weight": 9},
                           headers=['If-Match: "%d"' % g])
        check(st == 200 and body["weight"] == 9, "matching If-Match: %s %r"
              % (st, body))
        st, body, h = curl(m, "PUT", addr, body={"enabled": False},
                           headers=['If-Match: "%d"' % gen(h)])
        check(st == 200 and body["enabled"] is False,
              "matching If-Match, disable: %s %r" % (st, body))


def test_token():
    with Mantrid(conf={"management_token": "s3cret-token"}) as m:
        h = expect(m, "GET", "/hostname/", 401, {"error": "unauthorized"})
        check(h.get("www-authenticate", "").startswith("Bearer"),
              "no WWW-Authenticate")
        expect(m, "GET", "/hostname/", 401, {"error": "unauthorized"},
               headers=["Authorization: Bearer s3cret-tokem"])
        expect(m, "GET", "/hostname/", 401, {"error": "unauthorized"},
               headers=["Authorization: Bearer s3cret-token-and-more"])
        expect(m, "GET", "/hostname/", 401, {"error": "unauthorized"},
               headers=["Authorization: Basic czNjcmV0LXRva2Vu"])
        expect(m, "PUT", "/hostname/a.com/", 401, {"error": "unauthorized"},
               body=EMPTY)
        expect(m, "GET", "/hostname/", 200, {},
               headers=["Authorization: Bearer s3cret-token"])


def test_non_loopback_needs_token():
    m = Mantrid(start=False)
    try:
        opts = dict(m.opts, bind_management="0.0.0.0:%d" % m.mgmt_port)
        m.write_conf(opts)
        p = subprocess.run([MANTRID, "-t", "-c", m.conf_path],
                           capture_output=True, text=True, timeout=20)
        check(p.returncode != 0 and "management_token" in
              (p.stdout + p.stderr), "started without a token: %d %s%s"
              % (p.returncode, p.stdout, p.stderr))
        opts["management_token"] = "t0ken"
        m.write_conf(opts)
        p = subprocess.run([MANTRID, "-t", "-c", m.conf_path],
                           capture_output=True, text=True, timeout=20)
        check(p.returncode == 0, "refused with a token: %s%s"
              % (p.stdout, p.stderr))
    finally:
        m.close()


if __name__ == "__main__":
    run_tests([test_mantrid_shapes, test_not_found_and_method,
               test_bad_requests, test_etag_if_match, test_nul_bytes,
               test_body_limit,
               test_evhttp_errors_are_json, test_mantrid_client_bodies,
               test_takes_effect_at_once,
               test_backends_routes, test_backend_if_match, test_token,
               test_non_loopback_needs_token])

"""test_actions.py: static (static_dir page and built-ins, unknown type
-> 500), redirect (scheme kept / client's protocol, X-Forwarded-Proto on
internal binds), empty, unknown and no_hosts pages, per-host counters
and the access log (combined and JSON)."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Mantrid, check, free_port, http_raw, run_tests, wait_until  # noqa: E402

M = None


def get(host, path="/", port=None, extra=b""):
    out = http_raw(port or M.port, b"GET " + path.encode() + b" HTTP/1.1\r\n"
                   b"Host: " + host.encode() + b"\r\n" + extra +
                   b"Connection: close\r\n\r\n")
    head, _, body = out.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body


def test_no_hosts_then_unknown():
    head, body = get("nothing.test")
    check(head.startswith("HTTP/1.1 503"), "no_hosts: %r" % head)
    M.set_rule("known.test", "empty", {"code": 204})
    head, body = get("nothing.test")
    check(head.startswith("HTTP/1.1 404"), "unknown: %r" % head)


def test_empty():
    M.set_rule("e.test", "empty", {"code": 418})
    head, body = get("e.test")
    check(head.startswith("HTTP/1.1 418") and "Content-Length: 0" in head,
          head)


def test_static_builtin_and_dir():
    M.set_rule("t.test", "static", {"type": "test"})
    head, body = get("t.test")
    check(head.startswith("HTTP/1.1 200") and b"Test page" in body, head)
    M.set_rule("to.test", "static", {"type": "timeout"})
    head, body = get("to.test")
    check(head.startswith("HTTP/1.1 504 Gateway Timeout"), head)
    M.set_rule("mine.test", "static", {"type": "mine"})
    head, body = get("mine.test")
    # a static_dir page is sent as written (here an HTTP/1.0 response)
    check(head.startswith("HTTP/1.0 200") and body == b"my page\n",
          "%r %r" % (head, body))
    M.set_rule("nope.test", "static", {"type": "nosuch"})
    head, body = get("nope.test")
    check(head.startswith("HTTP/1.1 500"), head)


def test_redirect():
    M.set_rule("r.test", "redirect", {"redirect_to": "https://new.test/"})
    head, _ = get("r.test", "/a/b?c=1")
    check(head.startswith("HTTP/1.1 302"), head)
    check("Location: https://new.test/a/b?c=1" in head, head)
    M.set_rule("r2.test", "redirect", {"redirect_to": "new.test"})
    head, _ = get("r2.test", "/x")
    check("Location: http://new.test/x" in head, head)
    head, _ = get("r2.test", "/x", port=M.internal_port,
                  extra=b"X-Forwarded-Proto: https\r\n")
    check("Location: https://new.test/x" in head, "internal: %r" % head)


def test_counters_and_access_log():
    M.set_rule("c.test", "empty", {"code": 200})
    for _ in range(3):
        get("c.test", "/count")
    st, body, _ = M.api("GET", "/stats/c.test/")
    check(st == 200, "stats %s %r" % (st, body))
    text = json.dumps(body)
    check("3" in text, "no count of 3 in %s" % text)
    log = os.path.join(M.dir, "access.log")
    wait_until(lambda: os.path.exists(log) and
               open(log).read().count("/count") >= 3, 5, "access log")
    line = [ln for ln in open(log) if "/count" in ln][0]
    check('"GET /count HTTP/1.1" 200' in line, line)


def main():
    global M
    internal = free_port()
    static = None
    M = Mantrid(conf={"bind_internal": "127.0.0.1:%d" % internal,
                      "access_log": "ACCESS"}, start=False)
    M.internal_port = internal
    static = M.opts["static_dir"]
    os.makedirs(static, exist_ok=True)
    with open(os.path.join(static, "mine.http"), "w") as f:
        f.write("HTTP/1.0 200 OK\nContent-Type: text/plain\n\nmy page\n")
    M.opts["access_log"] = os.path.join(M.dir, "access.log")
    M.write_conf(M.opts)
    M.start()
    try:
        run_tests([test_no_hosts_then_unknown, test_empty,
                   test_static_builtin_and_dir, test_redirect,
                   test_counters_and_access_log])
    finally:
        M.close()


if __name__ == "__main__":
    main()

"""test_actions.py: static (static_dir page and built-ins, unknown type
-> 500), redirect (scheme kept / client's protocol, X-Forwarded-Proto on
internal binds), empty, unknown and no_hosts pages, per-host counters
and the access log (combined and JSON line shapes, USR1 reopening)."""
import json
import os
import signal
import sys
import time

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
    # both are actions too (DESIGN.md's rule table, Mantrid's actions)
    M.set_rule("nh.test", "no_hosts")
    M.set_rule("un.test", "unknown")
    head, body = get("nh.test")
    check(head.startswith("HTTP/1.1 503"), "no_hosts action: %r" % head)
    head, body = get("un.test")
    check(head.startswith("HTTP/1.1 404"), "unknown action: %r" % head)


def test_empty():
    M.set_rule("e.test", "empty", {"code": 418})
    head, body = get("e.test")
    check(head.startswith("HTTP/1.1 418") and "Content-Length: 0" in head,
          head)


def test_empty_code_range():
    """A 1xx is interim (the client waits on): refused, the rule kept.
    204 and 304 carry no Content-Length and frame on keep-alive."""
    M.set_rule("e1.test", "empty", {"code": 204})
    st, body, _ = M.api("PUT", "/hostname/e1.test/",
                        ["empty", {"code": 100}, False])
    check(st == 400 and body == {"error":
          "host_kwarg_invalid:code:must be 200-599"}, "%s %r" % (st, body))
    st, body, _ = M.api("GET", "/hostname/e1.test/")
    check(st == 200 and body == ["empty", {"code": 204}, False],
          "%s %r" % (st, body))
    for code in (204, 304):
        M.set_rule("e1.test", "empty", {"code": code})
        req = b"GET / HTTP/1.1\r\nHost: e1.test\r\n%s\r\n"
        out = http_raw(M.port, req % b"" + req % b"Connection: close\r\n")
        got = out.split(b"\r\n\r\n")
        check(len(got) == 3 and got[2] == b"" and
              all(h.startswith(b"HTTP/1.1 %d " % code) and
                  b"Content-Length" not in h for h in got[:2]), repr(out))


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


def responses(out, nhead=0):
    """Split a stream by Content-Length, the first nhead answering HEADs
    (no body): [(head, body)], rest."""
    got = []
    while out.startswith(b"HTTP/"):
        head, sep, out = out.partition(b"\r\n\r\n")
        if not sep:
            break
        head = head.decode("latin-1")
        n = 0
        for ln in head.split("\r\n")[1:]:
            k, _, v = ln.partition(":")
            if k.lower() == "content-length":
                n = int(v)
        if len(got) < nhead:
            n = 0
        got.append((head, out[:n]))
        out = out[n:]
    return got, out


def head_then_get(host):
    """HEAD then GET pipelined on one keep-alive connection."""
    req = b"%s / HTTP/1.1\r\nHost: " + host.encode() + b"\r\n%s\r\n"
    return http_raw(M.port, req % (b"HEAD", b"") +
                    req % (b"GET", b"Connection: close\r\n"))


def test_head_no_body():
    """A HEAD gets the head a GET would get (Content-Length too) and no
    body: on keep-alive the body bytes were read as the next response."""
    M.set_rule("t.test", "static", {"type": "test"})
    M.set_rule("e.test", "empty", {"code": 418})
    M.set_rule("r.test", "redirect", {"redirect_to": "https://new.test/"})
    for host in ("t.test", "e.test", "r.test", "nothing-here.test"):
        got, rest = responses(head_then_get(host), 1)
        check(len(got) == 2 and rest == b"", "%s: %r %r" % (host, got, rest))
        (h1, _), (h2, _) = got
        check(h1 == h2.replace("\r\nConnection: close", ""),
              "%s: %r / %r" % (host, h1, h2))
    got, _ = responses(head_then_get("t.test"), 1)
    check(b"Test page" in got[1][1], "get: %r" % got)
    # static_dir pages and error pages close: the HEAD's answer alone
    M.set_rule("mine.test", "static", {"type": "mine"})
    M.set_rule("nope.test", "static", {"type": "nosuch"})
    for host, status in (("mine.test", "HTTP/1.0 200"),
                         ("nope.test", "HTTP/1.1 500")):
        out = http_raw(M.port, b"HEAD / HTTP/1.1\r\nHost: " +
                       host.encode() + b"\r\n\r\n")
        check(out.startswith(status.encode()) and out.endswith(b"\r\n\r\n")
              and out.count(b"\r\n\r\n") == 1, "%s: %r" % (host, out))


# static_dir page: (as written, as sent)
LINE_END_PAGES = {
    "mixed": (b"HTTP/1.0 200 OK\r\nX-A: 1\n\nbody\n",
              b"HTTP/1.0 200 OK\r\nX-A: 1\r\n\r\nbody\n"),
    "lfhead": (b"HTTP/1.0 200 OK\nX-B: 2\n\nline\r\n\r\nmore\n",
               b"HTTP/1.0 200 OK\r\nX-B: 2\r\n\r\nline\r\n\r\nmore\n"),
    "crlf": (b"HTTP/1.0 200 OK\r\nX-C: 3\r\n\r\na\n\nb\n",
             b"HTTP/1.0 200 OK\r\nX-C: 3\r\n\r\na\n\nb\n"),
    "lfblank": (b"HTTP/1.0 200 OK\nX-D: 4\r\n\nbody\r\n",
                b"HTTP/1.0 200 OK\r\nX-D: 4\r\n\r\nbody\r\n"),
}


def test_static_line_ends():
    """Each head line of a static_dir page ends in exactly CRLF (LF,
    CRLF, or a mix, in the file); the body is sent as written, also when
    it holds a CRLF blank line."""
    for name, (_, want) in LINE_END_PAGES.items():
        M.set_rule(name + ".test", "static", {"type": name})
        out = http_raw(M.port, b"GET / HTTP/1.1\r\nHost: " +
                       name.encode() + b".test\r\n\r\n")
        check(out == want, "%s: %r" % (name, out))


def test_redirect():
    M.set_rule("r.test", "redirect", {"redirect_to": "https://new.test/"})
    head, _ = get("r.test", "/a/b?c=1")
    check(head.startswith("HTTP/1.1 302"), head)
    check("Location: https://new.test/a/b?c=1" in head, head)
    M.set_rule("r2.test", "redirect", {"redirect_to": "new.test"})
    head, _ = get("r2.test", "/x")
    check("Location: http://new.test/x" in head, head)
    # Mantrid's test: either header, "https" or "ssl"; public binds ignore it
    for hdr, scheme in ((b"X-Forwarded-Proto: https", "https"),
                        (b"X-Forwarded-Protocol: https", "https"),
                        (b"X-Forwarded-Proto: ssl", "https"),
                        (b"X-Forwarded-Proto: http", "http")):
        head, _ = get("r2.test", "/x", port=M.internal_port,
                      extra=hdr + b"\r\n")
        check("Location: %s://new.test/x" % scheme in head,
              "internal, %r: %r" % (hdr, head))
    head, _ = get("r2.test", "/x", extra=b"X-Forwarded-Proto: https\r\n")
    check("Location: http://new.test/x" in head, "public: %r" % head)


def test_redirect_path_form():
    """The Location's path starts with "/" whatever the request target's
    form: absolute-form without a path, with a bare query, OPTIONS *."""
    M.set_rule("ra.test", "redirect",
               {"redirect_to": "https://new.test/base"})
    for target, want in (("/?q=1", "/base/?q=1"),
                         ("http://ra.test?q=1", "/base/?q=1"),
                         ("http://ra.test", "/base/"),
                         ("http://ra.test/a?b", "/base/a?b")):
        head, _ = get("ra.test", target)
        check("\r\nLocation: https://new.test%s\r\n" % want in head,
              "%s: %r" % (target, head))
    M.set_rule("ro.test", "redirect", {"redirect_to": "new.test"})
    out = http_raw(M.port, b"OPTIONS * HTTP/1.1\r\nHost: ro.test\r\n"
                   b"Connection: close\r\n\r\n")
    check(b"\r\nLocation: http://new.test/\r\n" in out, repr(out))


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


def alog_lines(path, needle):
    try:
        with open(path) as f:
            return [ln for ln in f if needle in ln]
    except OSError:
        return []


def test_usr1_reopens_access_log():
    """Rename the access log, USR1 to the master (forwarded to the
    workers): the next request lands in a new file at the old path."""
    log = os.path.join(M.dir, "access.log")
    M.set_rule("usr1.test", "empty", {"code": 204})
    get("usr1.test", "/before-usr1")
    wait_until(lambda: alog_lines(log, "/before-usr1"), 5, "first line")
    os.rename(log, log + ".1")
    M.signal(signal.SIGUSR1)
    # NB: the worker creates the file when it reopens (1 worker here)
    wait_until(lambda: os.path.exists(log), 5, "access log reopened")
    get("usr1.test", "/after-usr1")
    wait_until(lambda: alog_lines(log, "/after-usr1"), 5,
               "request in the new file")
    check(not alog_lines(log + ".1", "/after-usr1"),
          "request logged to the renamed file")


def test_access_log_json():
    """access_log_format = json: one JSON object per line, every field
    with its type, and hostile header values escaped."""
    m = Mantrid(conf={"access_log_format": "json"}, start=False)
    log = os.path.join(m.dir, "access.json")
    m.opts["access_log"] = log
    m.write_conf(m.opts)
    m.start()
    try:
        m.set_rule("j.test", "empty", {"code": 201})
        out = http_raw(m.port, b"GET /j?a=1&b=%22 HTTP/1.1\r\nHost: j.test"
                       b"\r\nUser-Agent: ua \"quoted\" \\ \xe9\r\n"
                       b"Referer: http://ref.test/\r\n"
                       b"Connection: close\r\n\r\n")
        check(out.startswith(b"HTTP/1.1 201"), "got %r" % out[:60])
        lines = wait_until(lambda: alog_lines(log, "/j?"), 5, "json line")
        check(len(lines) == 1 and lines[0].endswith("}\n"), repr(lines))
        rec = json.loads(lines[0])
        want = {"time": str, "client": str, "host": str, "method": str,
                "path": str, "version": str, "status": int, "bytes_in": int,
                "bytes_out": int, "duration_ms": int, "referer": str,
                "user_agent": str}
        check(set(rec) == set(want), "keys %s" % sorted(rec))
        for k, t in want.items():
            check(isinstance(rec[k], t), "%s: %r" % (k, rec[k]))
        check(rec["client"] == "127.0.0.1" and rec["host"] == "j.test" and
              rec["method"] == "GET" and rec["path"] == "/j?a=1&b=%22" and
              rec["version"] == "HTTP/1.1" and rec["status"] == 201,
              "values %r" % rec)
        check(rec["referer"] == "http://ref.test/", rec["referer"])
        check(rec["user_agent"] == 'ua "quoted" \\ \u00e9',
              "user_agent %r" % rec["user_agent"])
        check(rec["bytes_in"] > 0 and rec["bytes_out"] > 0, repr(rec))
        check(time.strptime(rec["time"], "%Y-%m-%dT%H:%M:%S%z"),
              rec["time"])
    finally:
        m.close()


def test_static_dir_in_every_worker():
    """Every worker loads static_dir, also when they start together (they
    once shared the directory's offset and one of them saw no page).
    Fresh connections spread over the workers (SO_REUSEPORT); each must
    answer with the installed page. Several starts: the race was
    intermittent."""
    for _ in range(5):
        m = Mantrid(workers=8, start=False)
        os.makedirs(m.opts["static_dir"], exist_ok=True)
        with open(os.path.join(m.opts["static_dir"], "mine.http"), "w") as f:
            f.write("HTTP/1.0 200 OK\n\nmine\n")
        m.start()
        try:
            m.set_rule("s.test", "static", {"type": "mine"})
            for i in range(40):
                out = http_raw(m.port, b"GET / HTTP/1.1\r\nHost: s.test\r\n"
                               b"Connection: close\r\n\r\n")
                check(out.startswith(b"HTTP/1.0 200") and
                      out.endswith(b"mine\n"),
                      "request %d: %r" % (i, out[:60]))
        finally:
            m.close()


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
    for name, data in LINE_END_PAGES.items():
        with open(os.path.join(static, name + ".http"), "wb") as f:
            f.write(data[0])
    M.opts["access_log"] = os.path.join(M.dir, "access.log")
    M.write_conf(M.opts)
    M.start()
    try:
        run_tests([test_no_hosts_then_unknown, test_empty,
                   test_empty_code_range,
                   test_static_builtin_and_dir, test_head_no_body,
                   test_static_line_ends,
                   test_redirect, test_redirect_path_form,
                   test_counters_and_access_log,
                   test_usr1_reopens_access_log, test_access_log_json,
                   test_static_dir_in_every_worker])
    finally:
        M.close()


if __name__ == "__main__":
    main()

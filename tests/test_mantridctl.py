"""test_mantridctl.py: mantridctl against the real daemon, over the control
socket and over REST (--url): Mantrid-client's commands and columns, the
extra commands, --json, exit statuses (1 error, 2 usage), the command list
generated from the table, and the control socket's peer check (as root).
"""
import json
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (IS_ROOT, MANTRIDCTL, NOBODY, Mantrid, SkipTest,  # noqa
                     check, http_raw, proc_uid, run_tests)

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "fixtures", "mantrid-state.json")


def ctl(*args, stdin=None, prefix=()):
    p = subprocess.run(list(prefix) + [MANTRIDCTL] + list(args),
                       capture_output=True, text=True, input=stdin,
                       timeout=30)
    return p.returncode, p.stdout, p.stderr


def ok(*args, **kw):
    rc, out, err = ctl(*args, **kw)
    check(rc == 0, "mantridctl %s: rc %d: %s" % (" ".join(args), rc, err))
    return out


def targets(m):
    return (("socket", ["-s", m.socket]),
            ("rest", ["--url", "http://127.0.0.1:%d" % m.mgmt_port]))


def rows(out):
    return [l.rstrip() for l in out.splitlines()]


def test_mantrid_client_commands():
    with Mantrid() as m:
        for name, t in targets(m):
            ok(*t, "import", "-", stdin="{}")
            ok(*t, "set", "example.com", "proxy", "True",
               "backends=127.0.0.1:8000,127.0.0.1:8001")
            ok(*t, "set", "st.example.com", "static", "false", "type=test")
            ok(*t, "set", "r.example.com", "redirect", "false",
               "redirect_to=www.example.com")
            ok(*t, "set", "e.example.com", "empty", "false", "code=503")
            ok(*t, "set", "s.example.com", "spin", "false", "timeout=30")
            out = rows(ok(*t, "list"))
            fmt = "%-35s %-25s %-8s"
            want = [fmt % ("HOST", "ACTION", "SUBDOMS"),
                    fmt % ("e.example.com", "empty<503>", "False"),
                    fmt % ("example.com",
                           "proxy<127.0.0.1:8000,127.0.0.1:8001>", "True"),
                    fmt % ("r.example.com", "redirect<www.example.com>",
                           "False"),
                    fmt % ("s.example.com", "spin", "False"),
                    fmt % ("st.example.com", "static<test>", "False")]
            check(out == [w.rstrip() for w in want],
                  "%s: list:\n%s" % (name, "\n".join(out)))
            # what Mantrid's client sent: [host, port] pairs
            got = json.loads(ok(*t, "get", "example.com"))
            check(got == ["proxy", {"backends": [["127.0.0.1", 8000],
                                                 ["127.0.0.1", 8001]]}, True],
                  "%s: get: %r" % (name, got))
            check(ok(*t, "get", "nothere.com").strip() == "null",
                  "missing host not null")
            out = rows(ok(*t, "stats"))
            sfmt = "%-35s %-8s %-8s %-8s %-8s"
            check(out[0] == sfmt % ("HOST", "OPEN", "COMPLETED", "BYTES IN",
                                    "BYTES OUT"), "stats header %r" % out[0])
            check(len(out) == 6 and out[2].split() == ["example.com", "0",
                                                       "0", "0", "0"],
                  "%s: stats rows %r" % (name, out))
            out = rows(ok(*t, "stats", "example.com"))
            check(len(out) == 2 and out[1].startswith("example.com "),
                  "stats HOST: %r" % out)
            ok(*t, "delete", "s.example.com")
            check(ok(*t, "get", "s.example.com").strip() == "null",
                  "delete did not delete")


def test_extra_commands():
    with Mantrid() as m:
        for name, t in targets(m):
            ok(*t, "import", FIXTURE)        # a whole Mantrid state file
            exported = json.loads(ok(*t, "export"))
            with open(FIXTURE) as f:
                check(exported == json.load(f)["hosts"],
                      "%s: import/export of Mantrid's file" % name)
            ok(*t, "import", "-", stdin=json.dumps({"only.com":
                                                    ["spin", {}, False]}))
            check(json.loads(ok(*t, "export")) == {"only.com":
                                                  ["spin", {}, False]},
                  "import did not replace everything")
            info = ok(*t, "info")
            check(re.search(r"^rules\s+1$", info, re.M) and
                  re.search(r"^pid\s+%d$" % m.pid, info, re.M),
                  "%s: info:\n%s" % (name, info))
            ok(*t, "save")
            j = json.loads(ok(*t, "--json", "info"))
            check(j["rules"] == 1 and j["generation"] > 0, "info --json")
            j = json.loads(ok(*t, "--json", "set", "j.com", "empty", "false",
                              "code=204"))
            check(j["ok"] is True and j["generation"] == j["generation"],
                  "set --json %r" % j)
            rc, _, err = ctl(*t, "-m", "1", "delete", "j.com")
            check(rc == 1 and "precondition_failed" in err,
                  "%s: stale --if-match: %d %s" % (name, rc, err))
            ok(*t, "-m", str(j["generation"]), "delete", "j.com")
            j = json.loads(ok(*t, "--json", "list"))
            check(j == {"only.com": ["spin", {}, False]}, "list --json")


def test_backend_if_match():
    """-m with weight, disable, enable, drain: a stale generation fails
    (exit 1, precondition_failed) and changes nothing, over the socket
    and over REST; the current one goes through."""
    with Mantrid() as m:
        addr = "127.0.0.1:8123"
        ok("-s", m.socket, "set", "b.com", "proxy", "false",
           "backends=" + addr)
        for name, t in targets(m):
            g = json.loads(ok(*t, "--json", "info"))["generation"]
            before = json.loads(ok(*t, "--json", "backend", addr))
            for args in (["weight", addr, "9"], ["disable", addr],
                         ["drain", addr], ["enable", addr]):
                rc, _, err = ctl(*t, "-m", str(g + 7), *args)
                check(rc == 1 and "precondition_failed" in err,
                      "%s: stale -m %s: rc %d %r" % (name, args, rc, err))
                now = json.loads(ok(*t, "--json", "backend", addr))
                check(now == dict(now, weight=before["weight"],
                                  enabled=before["enabled"],
                                  drain=before["drain"]),
                      "%s: stale -m %s changed %r to %r"
                      % (name, args, before, now))
            ok(*t, "-m", str(g), "weight", addr, "9")
            ok(*t, "-m", str(g), "disable", addr)
            now = json.loads(ok(*t, "--json", "backend", addr))
            check(now["weight"] == 9 and now["enabled"] is False,
                  "%s: current -m: %r" % (name, now))
            ok(*t, "-m", str(g), "enable", addr)
            ok(*t, "weight", addr, "0")


def test_drain_false_ends_drain_only():
    """drain ADDRESS false ends a drain and nothing else: a disabled
    backend stays disabled; a bad word is a usage error."""
    with Mantrid() as m:
        addr = "127.0.0.1:8124"
        ok("-s", m.socket, "set", "d.com", "proxy", "false",
           "backends=" + addr)
        for name, t in targets(m):
            ok(*t, "drain", addr)
            ok(*t, "drain", addr, "false")
            now = json.loads(ok(*t, "--json", "backend", addr))
            check(now["enabled"] is True and now["drain"] is False,
                  "%s: after drain false: %r" % (name, now))
            ok(*t, "disable", addr)
            ok(*t, "drain", addr, "false")
            now = json.loads(ok(*t, "--json", "backend", addr))
            check(now["enabled"] is False, "%s: drain false enabled %r"
                  % (name, now))
            rc, _, err = ctl(*t, "drain", addr, "maybe")
            check(rc == 2 and "not true or false" in err,
                  "%s: drain maybe: %d %r" % (name, rc, err))
            ok(*t, "enable", addr)


def test_weights_and_json_values():
    """rbalancer's url*weight and host:port*weight forms, JSON values, an
    algorithm on a redirect farm, and a rule for an IPv6 literal host."""
    with Mantrid() as m:
        t = ["-s", m.socket]
        ok(*t, "set", "img.example.com", "redirect", "false",
           "targets=http://localhost:80*20,http://127.0.0.1*10",
           "algorithm=roundrobin")
        got = json.loads(ok(*t, "get", "img.example.com"))
        check(got == ["redirect", {
            "targets": [{"url": "http://localhost:80", "weight": 20},
                        {"url": "http://127.0.0.1", "weight": 10}],
            "algorithm": "roundrobin"}, False], "url*weight: %r" % got)
        ok(*t, "set", "j.example.com", "redirect", "false",
           'targets=[{"url": "http://127.0.0.2", "weight": 3}]')
        got = json.loads(ok(*t, "get", "j.example.com"))
        check(got[1]["targets"] == [{"url": "http://127.0.0.2",
                                     "weight": 3}], "JSON targets: %r" % got)
        ok(*t, "set", "w.example.com", "proxy", "false",
           "backends=127.0.0.1:8000*3,127.0.0.1:8001")
        got = json.loads(ok(*t, "get", "w.example.com"))
        check(got[1]["backends"] == [{"address": "127.0.0.1:8000",
                                      "weight": 3}, ["127.0.0.1", 8001]],
              "host:port*weight: %r" % got)
        ok(*t, "set", "[::1]", "empty", "false", "code=204")
        check(json.loads(ok(*t, "get", "[::1]"))[0] == "empty",
              "IPv6 literal host")
        out = http_raw(m.port, b"GET / HTTP/1.1\r\nHost: [::1]:%d\r\n"
                       b"Connection: close\r\n\r\n" % m.port)
        check(out.startswith(b"HTTP/1.1 204"), "Host [::1]: %r" % out[:40])
        for bad, why in (("targets=http://localhost*x", "weight"),
                         ("targets=[{", "bad JSON")):
            rc, _, err = ctl(*t, "set", "k.example.com", "redirect", "false",
                             bad)
            check(rc == 2 and why in err, "%s: rc %d: %s" % (bad, rc, err))
        check(json.loads(ok(*t, "get", "k.example.com") or "null") is None,
              "a refused set left a rule")


def test_errors_and_usage():
    with Mantrid() as m:
        for name, t in targets(m):
            for args, msg in ((["set", "a.com", "proxy", "false"],
                               "The proxy action requires a backends option."),
                              (["set", "a.com", "static", "false"],
                               "The static action requires a type option."),
                              (["set", "a.com", "redirect", "false"],
                               "requires a redirect_to option."),
                              (["set", "a.com", "empty", "false"],
                               "The empty action requires a code option."),
                              (["set", "a.com", "spin", "maybe"], "usage"),
                              (["set", "a.com", "spin", "false", "x"],
                               "x is not a valid option (no =)"),
                              (["get"], "usage: get HOST"),
                              (["get", "a", "b"], "usage: get HOST"),
                              (["weight", "a:1", "heavy"], "not a number"),
                              (["frob"], "Action frob does not exist")):
                rc, out, err = ctl(*t, *args)
                check(rc == 2 and msg in err, "%s %s: rc %d, %r"
                      % (name, args, rc, err))
            # -m takes a generation, nothing else; nothing is sent
            for bad in ("abc", "1junk", "", "-1", " 5",
                        "99999999999999999999"):
                rc, out, err = ctl(*t, "-m", bad, "set", "m.com", "empty",
                                   "false", "code=204")
                check(rc == 2 and "--if-match %s: not a generation number"
                      % bad in err, "%s -m %r: rc %d, %r"
                      % (name, bad, rc, err))
            check(ok(*t, "get", "m.com").strip() == "null",
                  "%s: a bad -m changed a rule" % name)
            rc, out, err = ctl(*t, "set", "a.com", "teleport", "false")
            check(rc == 1 and "host_action_invalid:teleport" in err,
                  "%s: daemon error: %d %r" % (name, rc, err))
            rc, out, err = ctl(*t, "set", "bad..com", "spin", "false")
            check(rc == 1 and "hostname_invalid" in err, "bad host")
        rc, _, err = ctl()
        check(rc == 2 and "usage:" in err, "no command: %d" % rc)
        rc, _, err = ctl("-s", "/nonexistent/sock", "list")
        check(rc == 1 and "cannot connect" in err, "no daemon: %d %s"
              % (rc, err))
        rc, _, err = ctl("--url", "http://127.0.0.1:1", "list")
        check(rc == 1 and "cannot connect" in err, "no REST: %d" % rc)


def test_config_and_token():
    with Mantrid(conf={"management_token": "tok-123"}) as m:
        ok("-c", m.conf_path, "set", "c.com", "spin", "false")
        check("c.com" in ok("-c", m.conf_path, "list"), "-c list")
        url = "http://127.0.0.1:%d" % m.mgmt_port
        rc, _, err = ctl("--url", url, "-t", "wrong", "list")
        check(rc == 1 and "unauthorized" in err, "bad token: %d" % rc)
        check("c.com" in ok("--url", url, "-t", "tok-123", "list"), "token")
        # the token can come from the config file
        check("c.com" in ok("-c", m.conf_path, "--url", url, "list"),
              "token from config")


def test_help_from_table():
    out = ok("--help")
    cmds = ["list", "get HOST", "set HOST ACTION true|false [KEY=VALUE ...]",
            "import FILE", "delete HOST", "stats [HOST]", "info", "save",
            "export", "backends", "backend ADDRESS", "enable ADDRESS",
            "disable ADDRESS", "drain ADDRESS [false]", "weight ADDRESS N"]
    for c in cmds:
        check(("  " + c + " ") in out, "--help lacks %r" % c)
    man = ok("--man-commands")
    check(man.count(".TP\n.B ") == len(cmds), "man list: %r" % man)
    page = os.path.join(os.environ.get("top_srcdir", os.path.dirname(HERE)),
                        "man", "mantridctl.1")
    with open(page) as f:
        check(man in f.read(), "man/mantridctl.1's command list is not "
              "mantridctl --man-commands' output (regenerate it)")


def test_peer_uid_refused():
    if not IS_ROOT:
        raise SkipTest("needs root to connect as another uid")
    with Mantrid() as m:
        st = os.stat(m.socket)
        check(st.st_mode & 0o777 == 0o660, "socket mode %o" % st.st_mode)
        check(st.st_uid == NOBODY.pw_uid, "socket owner %d" % st.st_uid)
        os.chmod(m.socket, 0o666)     # past the file mode: SO_PEERCRED
        as_daemon = ["setpriv", "--reuid=1", "--regid=1", "--clear-groups"]
        rc, _, err = ctl("-s", m.socket, "list", prefix=as_daemon)
        check(rc == 1 and "permission_denied" in err,
              "uid 1 let in: %d %s" % (rc, err))
        check("refused control connection from uid 1" in m.read_log(),
              "refusal not logged")
        ok("-s", m.socket, "list")       # root still gets in
    with Mantrid(conf={"control_allow": "1"}) as m:
        os.chmod(m.socket, 0o666)
        ok("-s", m.socket, "list", prefix=["setpriv", "--reuid=1",
                                           "--regid=1", "--clear-groups"])
        st = os.stat(m.socket)
        check(st.st_mode & 0o777 == 0o666, "mode")


def proc_gid(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Gid:"):
                return int(line.split()[1])
    return None


def test_socket_owned_by_run_user():
    """Started as root with no user/group set, the daemon drops to its
    default user: the socket (0660) and the directory made for it belong
    to that user and group, so the daemon's own user can use them. With
    only a user set, the group is that user's."""
    if not IS_ROOT:
        raise SkipTest("needs root")
    for conf in ({}, {"user": "nobody"}):
        with Mantrid(as_root=True, conf=conf) as m:
            uid, gid = proc_uid(m.pid)[0], proc_gid(m.pid)
            check(uid != 0 and gid != 0, "not dropped: %d:%d" % (uid, gid))
            for path, mode in ((m.socket, 0o660),
                               (os.path.dirname(m.socket), 0o755)):
                st = os.stat(path)
                check((st.st_uid, st.st_gid) == (uid, gid),
                      "%s %r: owner %d:%d, daemon runs as %d:%d"
                      % (conf, path, st.st_uid, st.st_gid, uid, gid))
                check(st.st_mode & 0o777 == mode, "%s %r: mode %o"
                      % (conf, path, st.st_mode & 0o777))
            as_run = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid,
                      "--clear-groups"]
            ok("-s", m.socket, "set", "a.com", "spin", "false",
               prefix=as_run)
            check("a.com" in ok("-s", m.socket, "list", prefix=as_run),
                  "list as the daemon's user")


def test_socket_protocol_errors():
    """Bad requests get an error line; the connection goes on."""
    with Mantrid() as m:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(m.socket)
        f = s.makefile("rb")
        big = b'{"cmd": "set", "host": "' + b"a" * (17 << 20) + b'"}\n'
        reqs = [(b"garbage\n", "json_invalid:"),
                (b'{"cmd": "nope"}\n', "cmd_unknown:nope"),
                (b'{"cmd": "get", "host": 1}\n',
                 "arg_type:host:expected string"),
                (big, "request_too_large"),
                (b'{"cmd": "set", "host": "a.com", "rule": ["x", {}, 1]}\n',
                 "host_action_invalid:x"),
                # an empty argument name once spun the master
                (b'{"cmd": "list", "": 1}\n', "arg_unknown:")]
        for req, err in reqs:
            s.sendall(req)
            r = json.loads(f.readline())
            check(r["ok"] is False and r["error"].startswith(err),
                  "%r -> %r" % (req[:40], r))
        s.sendall(b'{"cmd": "info"}\n')
        r = json.loads(f.readline())
        check(r["ok"] is True and r["result"]["rules"] == 0,
              "connection did not go on: %r" % r)
        # a mutation's reply, byte for byte what json-c writes for others
        s.sendall(b'{"cmd": "set", "host": "a.com", "rule": '
                  b'["spin", {}, false]}\n')
        line = f.readline()
        want = '{"ok":true,"generation":%d,"result":null}\n' % (
            r["result"]["generation"] + 1)
        check(line == want.encode(), "set reply %r, want %r" % (line, want))
        f.close()
        s.close()
        check(m.proc.poll() is None, "daemon died")


def test_socket_nul_bytes():
    """A \\u0000 in a host, in redirect_to or in type gets an error line
    naming the key, and changes nothing."""
    with Mantrid() as m:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(m.socket)
        f = s.makefile("rb")

        def call(req):
            s.sendall(json.dumps(req).encode() + b"\n")
            return json.loads(f.readline())
        call({"cmd": "set", "host": "keep.com",
              "rule": ["empty", {"code": 204}, False]})
        before = call({"cmd": "list"})
        for req, key in (
                ({"cmd": "set", "host": "nul2.com\0zzz",
                  "rule": ["empty", {"code": 204}, False]}, "host"),
                ({"cmd": "delete", "host": "keep.com\0zzz"}, "host"),
                ({"cmd": "set", "host": "n.com",
                  "rule": ["redirect", {"redirect_to": "http://a\0\r\nX: 1"},
                           False]}, "redirect_to"),
                ({"cmd": "set", "host": "n.com",
                  "rule": ["static", {"type": "ok\0/../x"}, False]}, "type"),
                ({"cmd": "set_all", "hosts": {"n.com": [
                    "static", {"type": "ok\0/../x"}, False]}}, "type"),
                ({"cmd": "backend_get", "address": "127.0.0.1:1\0"},
                 "address")):
            r = call(req)
            check(r == {"ok": False, "status": "invalid",
                        "error": "arg_invalid:%s:contains a NUL byte" % key},
                  "%r -> %r" % (req, r))
        after = call({"cmd": "list"})
        check(after == before, "NULs changed the rules: %r" % after)
        f.close()
        s.close()


def test_socket_framing():
    """Lines in one write, a line in pieces, a line after a half-close:
    every request is answered, in order (the master peeks whole lines
    and reads the others as they come)."""
    def setl(h, port):
        return ('{"cmd": "set", "host": "%s", "rule": ["proxy", '
                '{"backends": ["127.0.0.1:%d"]}, false]}\n' % (h, port)
                ).encode()
    with Mantrid() as m:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(m.socket)
        f = s.makefile("rb")
        s.sendall(b"".join(setl("p%d.com" % i, 8000 + i) for i in range(50))
                  + b'\n{"cmd": "get", "host": "p49.com"}\n')
        gens = [json.loads(f.readline())["generation"] for _ in range(50)]
        check(gens == list(range(gens[0], gens[0] + 50)), "gens %r" % gens)
        r = json.loads(f.readline())
        check(r["result"][1]["backends"] == ["127.0.0.1:8049"], "get %r" % r)
        req = setl("split.com", 9000)
        for part in (req[:7], req[7:30], req[30:]):
            s.sendall(part)
            time.sleep(0.05)
        check(json.loads(f.readline())["ok"] is True, "split line")
        big = {"h%d.com" % i: ["spin", {}, False] for i in range(5000)}
        s.sendall(json.dumps({"cmd": "set_all", "hosts": big}).encode()
                  + b"\n" + setl("after.com", 9001))
        check(json.loads(f.readline())["ok"] is True, "set_all")
        check(json.loads(f.readline())["ok"] is True, "set after set_all")
        s.sendall(b'{"cmd": "info"}\n')
        s.shutdown(socket.SHUT_WR)
        r = json.loads(f.readline())
        check(r["ok"] is True and r["result"]["rules"] == 5001,
              "info after half-close: %r" % r)
        check(f.readline() == b"", "no EOF after half-close")
        f.close()
        s.close()
        check(m.proc.poll() is None, "daemon died")


if __name__ == "__main__":
    run_tests([test_mantrid_client_commands, test_extra_commands,
               test_backend_if_match, test_drain_false_ends_drain_only,
               test_weights_and_json_values,
               test_errors_and_usage, test_config_and_token,
               test_help_from_table, test_peer_uid_refused,
               test_socket_owned_by_run_user, test_socket_protocol_errors,
               test_socket_nul_bytes, test_socket_framing])

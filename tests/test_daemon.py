"""test_daemon.py: the master/worker daemon itself (issue 2): serving on
IPv4 and IPv6, worker respawn and back-off, graceful TERM, HUP with a
good and a broken configuration, USR1, pidfile and --daemonize, a port in
use, no orphans when the master dies, and (as root) that no process of
mantrid keeps uid 0, with and without chroot_dir.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (IS_ROOT, MANTRID, NOBODY, Backend, Mantrid,  # noqa
                     SkipTest, check, curl, free_port, http_raw, proc_uid,
                     run_tests, wait_until)
import threading


def parse_response(raw):
    """Split a raw HTTP/1.x response; check its framing is complete."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    check(sep, "no end of headers in %r" % raw[:200])
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3}) \S", lines[0])
    check(m, "bad status line %r" % lines[0])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        check(len(body) == int(headers["content-length"]),
              "body %d bytes, Content-Length %s" % (len(body),
                                                     headers["content-length"]))
    return int(m.group(1)), headers, body


def log_time(line):
    ts = line.split()[0]
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=timezone.utc).timestamp()


def test_serves_ipv4_and_ipv6():
    with Mantrid(workers=2) as m:
        rc4, body4, code4 = curl(m.url())
        rc6, body6, code6 = curl(m.url(v6=True))
        check(rc4 == 0 and rc6 == 0, "curl failed: %d %d" % (rc4, rc6))
        check(code4 == code6 and code4 >= 200, "codes %d %d" % (code4, code6))
        check(body4 == body6 and body4, "bodies differ")
        raw = http_raw(m.port, b"GET / HTTP/1.0\r\n\r\n")
        parse_response(raw)
        check(len(m.workers()) == 2, "workers: %s" % m.workers())
        check(m.stop() == 0, "exit status not 0")


def test_worker_respawn():
    with Mantrid(workers=2) as m:
        old = m.workers()
        check(len(old) == 2, "two workers expected: %s" % old)
        t0 = time.time()
        os.kill(old[0], signal.SIGKILL)
        new = wait_until(lambda: [p for p in m.workers() if p not in old],
                         2, "a new worker")
        log = wait_until(lambda: "is pid %d" % new[0] in m.read_log()
                         and m.read_log(), 2, "spawn log line")
        spawn = [l for l in log.splitlines() if "is pid %d" % new[0] in l][0]
        delay = log_time(spawn) - t0
        print("respawned in %.1f ms" % (delay * 1000))
        check(delay < 0.1, "respawn took %.3f s" % delay)
        check("killed by signal 9" in log, "death not logged")
        for _ in range(20):
            rc, _, code = curl(m.url())
            check(rc == 0 and code >= 200, "request failed after respawn")


def test_crash_loop_backs_off():
    with Mantrid(workers=1) as m:
        seen = set()
        for _ in range(4):
            pid = wait_until(lambda: [p for p in m.workers()
                                      if p not in seen], 5, "worker")[0]
            seen.add(pid)
            os.kill(pid, signal.SIGKILL)
        log = wait_until(lambda: "respawning in 400 ms" in m.read_log()
                         and m.read_log(), 5, "back-off to 400 ms")
        check("respawning in 100 ms" in log and "respawning in 200 ms" in log,
              "back-off not doubling")
        wait_until(lambda: [p for p in m.workers() if p not in seen], 5,
                   "worker after back-off")
        rc, _, code = curl(m.url())
        check(rc == 0 and code >= 200, "not serving after back-off")


def test_term_drains_inflight():
    with Mantrid(workers=1) as m:
        s = socket.create_connection(("127.0.0.1", m.port))
        s.sendall(b"GET /slow HTTP/1.1\r\nHost: drain.test\r\n")
        wait_until(lambda: accepted_by(m.workers(), m.port,
                                       s.getsockname()[1]), 5,
                   "the worker to accept the connection")
        m.signal(signal.SIGTERM)
        wait_until(lambda: "draining" in m.read_log(), 5, "drain start")
        check(m.proc.poll() is None, "master exited before the drain")
        s.sendall(b"\r\n")
        s.settimeout(5)
        raw = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            raw += b
        s.close()
        parse_response(raw)
        check(m.proc.wait(10) == 0, "exit status not 0")
        check(not port_accepts(m.port), "still accepting after stop")


def accepted_by(pids, port, client_port):
    """True once one of pids holds the server end of that connection
    (a connection still in the listen queue belongs to no process)."""
    out = subprocess.run(["ss", "-Htnp", "state", "established",
                          "( sport = :%d and dport = :%d )"
                          % (port, client_port)],
                         capture_output=True, text=True).stdout
    return any("pid=%d," % p in out for p in pids)


def port_accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        return True
    except OSError:
        return False


def test_hup_reload():
    with Mantrid(workers=2) as m:
        before = set(m.workers())
        with open(m.conf_path, "a") as f:
            f.write("no_such_option = 1\n")
        m.signal(signal.SIGHUP)
        wait_until(lambda: "reload refused" in m.read_log(), 5,
                   "reload refused")
        check("no_such_option: unknown option" in m.read_log(),
              "error not logged")
        check(set(m.workers()) == before, "workers replaced on a bad reload")
        rc, _, code = curl(m.url())
        check(rc == 0 and code >= 200, "not serving after a bad reload")
        m.write_conf(dict(m.opts, timeout_client="30"))
        m.signal(signal.SIGHUP)
        wait_until(lambda: "reloaded" in m.read_log(), 5, "reloaded")
        wait_until(lambda: len(set(m.workers()) - before) == 2 and
                   not (set(m.workers()) & before), 10,
                   "new generation of workers, old one gone")
        rc, _, code = curl(m.url())
        check(rc == 0 and code >= 200, "not serving after reload")


def test_term_drains_proxied_slow_request():
    """A request in flight at a backend when TERM arrives completes."""
    with Backend("slow") as b, Mantrid(workers=1) as m:
        m.set_rule("slow.test", "proxy", {"backends": [b.addr]})
        result = {}

        def client():
            result["r"] = curl(m.url("/slow?ms=1500"), "-H",
                               "Host: slow.test")
        t = threading.Thread(target=client)
        t.start()
        wait_until(lambda: "/slow?ms=1500" in b.stats()["paths"], 5,
                   "the request to reach the backend")
        m.signal(signal.SIGTERM)
        t.join(20)
        rc, body, code = result["r"]
        check(rc == 0 and code == 200 and body == "slow from slow\n",
              "in-flight request failed: %r" % (result["r"],))
        check(m.proc.wait(10) == 0, "exit status not 0")


def test_hup_under_load_fails_nothing():
    """Requests keep succeeding while HUP replaces every worker."""
    with Backend("b") as b, Mantrid(workers=2) as m:
        m.set_rule("load.test", "proxy", {"backends": [b.addr]})
        stop = threading.Event()
        codes = []

        def client():
            while not stop.is_set():
                codes.append(curl(m.url("/"), "-H", "Host: load.test")[2])
        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        wait_until(lambda: len(codes) > 20, 10, "load to start")
        for i in range(3):
            before = set(m.workers())
            m.signal(signal.SIGHUP)
            wait_until(lambda: not (set(m.workers()) & before) and
                       len(m.workers()) == 2, 15,
                       "workers replaced (reload %d)" % i)
        n = len(codes)
        wait_until(lambda: len(codes) > n + 20, 10, "load after reloads")
        stop.set()
        for t in threads:
            t.join(10)
        bad = [c for c in codes if c != 200]
        print("%d requests across 3 reloads, %d failed" % (len(codes),
                                                           len(bad)))
        check(not bad, "failed requests during reload: %s" % bad[:10])


def test_usr1_reopens_log():
    with Mantrid() as m:
        os.rename(m.log, m.log + ".1")
        m.signal(signal.SIGUSR1)
        wait_until(lambda: os.path.exists(m.log), 5, "log reopened")
        m.signal(signal.SIGHUP)   # anything that logs
        wait_until(lambda: os.path.exists(m.log) and "reloaded" in
                   open(m.log).read(), 5, "a new log file")


def test_pidfile_and_daemonize():
    m = Mantrid(start=False)
    try:
        pidfile = os.path.join(m.dir, "mantrid.pid")
        r = subprocess.run(m.command("--daemonize", "--pidfile", pidfile),
                           capture_output=True, timeout=20)
        check(r.returncode == 0, "daemonize exit %d: %s" % (r.returncode,
                                                            r.stderr))
        pid = int(open(pidfile).read())
        check(os.path.exists("/proc/%d" % pid), "pid %d not running" % pid)
        check(os.getsid(pid) != os.getsid(0), "not detached from our session")
        wait_until(lambda: curl(m.url())[2] >= 200, 5, "serving")
        r2 = subprocess.run(m.command("--pidfile", pidfile),
                            capture_output=True, timeout=20)
        check(r2.returncode == 1, "second instance exit %d" % r2.returncode)
        check(b"another mantrid is running" in r2.stderr + r2.stdout or
              "another mantrid is running" in m.read_log(),
              "no clear error for the second instance")
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not os.path.exists(pidfile), 10, "pidfile removed")
        wait_until(lambda: not os.path.exists("/proc/%d" % pid), 10, "exit")
    finally:
        m.close()


def test_foreground_overrides_daemonize():
    with Mantrid(conf={"daemonize": "yes"}, args=["--foreground"]) as m:
        check(m.proc.poll() is None, "master forked away despite --foreground")
        rc, _, code = curl(m.url())
        check(rc == 0 and code >= 200, "not serving")
        check(m.stop() == 0, "exit status not 0")


def test_port_in_use():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    m = Mantrid(conf={"bind": "127.0.0.1:%d" % port}, start=False)
    try:
        r = subprocess.run(m.command(), capture_output=True, timeout=20)
        check(r.returncode == 1, "exit %d" % r.returncode)
        want = "cannot listen on 127.0.0.1:%d: Address already in use" % port
        check(want in m.read_log(), "no clear error: %r" % m.read_log())
        check("worker" not in m.read_log(), "started workers anyway")
    finally:
        s.close()
        m.close()


def test_master_death_leaves_no_orphans():
    with Mantrid(workers=2) as m:
        workers = m.workers()
        m.proc.kill()
        m.proc.wait()
        wait_until(lambda: not any(os.path.exists("/proc/%d" % p) and
                                   open("/proc/%d/stat" % p).read().split()[2]
                                   != "Z" for p in workers), 10,
                   "workers to exit after the master died")


def all_uids(m):
    pids = [m.pid] + m.workers()
    return {p: proc_uid(p) for p in pids}


def root_case(chroot):
    if not IS_ROOT:
        raise SkipTest("needs root")
    conf = {}
    if chroot:
        d = os.path.join("/tmp", "mantrid-chroot-%d" % os.getpid())
        os.makedirs(d, exist_ok=True)
        conf["chroot_dir"] = d
    with Mantrid(workers=2, as_root=True, conf=conf) as m:
        uids = all_uids(m)
        check(len(uids) == 3, "master + 2 workers expected: %s" % uids)
        for pid, ids in uids.items():
            check(0 not in ids, "pid %d still has uid 0: %s" % (pid, ids))
        out = subprocess.run(["ps", "-o", "uid=,pid=", "--ppid", str(m.pid),
                              "-p", str(m.pid)], capture_output=True,
                             text=True).stdout
        check(all(line.split()[0] != "0" for line in out.splitlines()),
              "ps shows uid 0: %s" % out)
        rc, _, code = curl(m.url())
        check(rc == 0 and code >= 200, "not serving as dropped user")
        if chroot:
            root = os.readlink("/proc/%d/root" % m.pid)
            check(root == conf["chroot_dir"], "master root is %s" % root)


def test_root_drops_privileges():
    root_case(False)


def test_root_drops_privileges_chroot():
    root_case(True)


def test_chroot_access_log():
    """With chroot_dir the workers open access_log inside the chroot: one
    whose directory is not there could never be written, and start-up
    fails saying so; one given as seen from the chroot is written."""
    if not IS_ROOT:
        raise SkipTest("needs root")
    root = tempfile.mkdtemp(prefix="mantrid-chroot-")
    os.chmod(root, 0o755)
    try:
        m = Mantrid(as_root=True, start=False,
                    conf={"chroot_dir": root, "access_log":
                          os.path.join(tempfile.gettempdir(), "nowhere",
                                       "access.log")})
        try:
            r = subprocess.run(m.command(), capture_output=True, text=True,
                               timeout=10)
            said = r.stdout + r.stderr + m.read_log()
            check(r.returncode != 0, "started: rc %d" % r.returncode)
            check("access_log" in said and "chroot" in said,
                  "no clear error: %r" % said[-300:])
        finally:
            m.close()
        os.makedirs(os.path.join(root, "log"))
        os.chown(os.path.join(root, "log"), NOBODY.pw_uid, NOBODY.pw_gid)
        with Mantrid(as_root=True, conf={"chroot_dir": root, "user": "nobody",
                                        "access_log": "/log/access.log"}) as m:
            m.set_rule("a.test", "empty", {"code": 204})
            out = http_raw(m.port, b"GET /logged HTTP/1.1\r\nHost: a.test"
                           b"\r\nConnection: close\r\n\r\n")
            check(out.startswith(b"HTTP/1.1 204"), "got %r" % out[:40])
            path = os.path.join(root, "log", "access.log")
            wait_until(lambda: os.path.exists(path) and
                       b"/logged" in open(path, "rb").read(), 5,
                       "the access log line")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    run_tests([test_serves_ipv4_and_ipv6, test_worker_respawn,
               test_crash_loop_backs_off, test_term_drains_inflight,
               test_hup_reload, test_term_drains_proxied_slow_request,
               test_hup_under_load_fails_nothing, test_usr1_reopens_log,
               test_pidfile_and_daemonize,
               test_foreground_overrides_daemonize, test_port_in_use,
               test_master_death_leaves_no_orphans,
               test_root_drops_privileges,
               test_root_drops_privileges_chroot,
               test_chroot_access_log])

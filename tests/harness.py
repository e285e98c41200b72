"""harness.py: what every integration test needs: start the real mantrid
on loopback ports with a temporary configuration, real backends (a
separate Python process), raw sockets and curl, and waiting on a
condition with a deadline instead of sleeping and hoping.

When the tests run as root (CI), the daemon under test is started as the
unprivileged user "nobody" unless a test asks for root explicitly, so the
suite exercises both a normal user's start-up and (in test_daemon.py's
root cases) the privilege drop.
"""
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

TOP_BUILDDIR = os.environ.get("top_builddir") or os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))
TOP_SRCDIR = os.environ.get("top_srcdir") or TOP_BUILDDIR
MANTRID = os.path.join(TOP_BUILDDIR, "mantrid")
MANTRIDCTL = os.path.join(TOP_BUILDDIR, "mantridctl")
HERE = os.path.dirname(os.path.abspath(__file__))
BACKEND = os.path.join(HERE, "backend.py")
IS_ROOT = os.geteuid() == 0
NOBODY = pwd.getpwnam("nobody")

# Under AddressSanitizer, freed memory sits in a 256 MB quarantine by
# default, which tests bounding a worker's memory would measure instead of
# mantrid; keep it small for every daemon the tests start.
if "quarantine_size_mb" not in os.environ.get("ASAN_OPTIONS", ""):
    os.environ["ASAN_OPTIONS"] = ":".join(
        o for o in (os.environ.get("ASAN_OPTIONS", ""), "quarantine_size_mb=8")
        if o)


class TestFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def wait_until(cond, timeout=5.0, what="condition", interval=0.005):
    """Poll cond() until it returns a true value; fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            v = cond()
        except (OSError, ValueError):
            v = None
        if v:
            return v
        if time.monotonic() > deadline:
            raise TestFailure("timed out after %.1fs waiting for %s"
                              % (timeout, what))
        time.sleep(interval)


def free_port(family=socket.AF_INET):
    """A port free on both 127.0.0.1 and ::1 right now."""
    for _ in range(50):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.bind(("127.0.0.1" if family == socket.AF_INET else "::1", 0))
        port = s.getsockname()[1]
        s.close()
        try:
            s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            s6.bind(("::1", port))
            s6.close()
            return port
        except OSError:
            continue
    raise TestFailure("no free port")


def port_open(host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(0.5)
    try:
        s.connect((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def children(pid):
    """Direct children of pid (Linux /proc)."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def proc_uid(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return [int(x) for x in line.split()[1:]]
    return None


class Mantrid:
    """A real mantrid daemon on loopback with a temporary config.

    conf: dict of extra options (a list value repeats the option).
    """

    def __init__(self, conf=None, workers=1, as_root=False, args=(),
                 start=True, ipv6=True):
        self.dir = tempfile.mkdtemp(prefix="mantrid-test-")
        os.chmod(self.dir, 0o777)
        self.port = free_port()
        self.internal_port = None
        self.mgmt_port = free_port()
        self.as_root = as_root
        self.log = os.path.join(self.dir, "mantrid.log")
        self.conf_path = os.path.join(self.dir, "mantrid.conf")
        self.state_file = os.path.join(self.dir, "state", "state.json")
        self.socket = os.path.join(self.dir, "run", "mantrid.sock")
        opts = {
            "bind": ["127.0.0.1:%d" % self.port] +
                    (["[::1]:%d" % self.port] if ipv6 else []),
            "bind_management": "127.0.0.1:%d" % self.mgmt_port,
            "workers": str(workers),
            "state_file": self.state_file,
            "control_socket": self.socket,
            "static_dir": os.path.join(self.dir, "static"),
            "loglevel": "3",
            "drain_timeout": "10",
        }
        for k, v in (conf or {}).items():
            if v is None:
                opts.pop(k, None)
            else:
                opts[k] = v
        self.opts = opts
        self.write_conf(opts)
        self.proc = None
        self.args = list(args)
        if start:
            self.start()

    def write_conf(self, opts, path=None):
        lines = []
        for k, v in opts.items():
            for item in (v if isinstance(v, list) else [v]):
                lines.append("%s = %s" % (k, item))
        with open(path or self.conf_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def command(self, *extra):
        cmd = [MANTRID, "-c", self.conf_path, "--logfile", self.log]
        cmd += self.args + list(extra)
        if IS_ROOT and not self.as_root:
            cmd = ["setpriv", "--reuid=%d" % NOBODY.pw_uid,
                   "--regid=%d" % NOBODY.pw_gid, "--clear-groups"] + cmd
        return cmd

    def start(self, timeout=10):
        # NB: after a stop, the log already says "serving with": only
        # what this start writes counts (else the REST port may not be
        # listening yet when start() returns)
        mark = len(self.read_log())
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: self.proc.poll() is not None or
                       "serving with" in self.read_log()[mark:],
                       timeout, "mantrid to start")
        except TestFailure:
            self.dump()
            raise
        if self.proc.poll() is not None:
            out = self.proc.stdout.read().decode(errors="replace")
            self.dump()
            raise TestFailure("mantrid exited with %s: %s"
                              % (self.proc.returncode, out))
        wait_until(lambda: port_open("127.0.0.1", self.port), timeout,
                   "port %d" % self.port)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def workers(self):
        return children(self.proc.pid)

    def read_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def dump(self):
        sys.stderr.write("---- mantrid log (%s) ----\n%s\n----\n"
                         % (self.log, self.read_log()[-8000:]))

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def stop(self, timeout=15):
        """TERM, wait; returns the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.dump()
            raise TestFailure("mantrid did not stop on TERM")

    def close(self, keep=False):
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        finally:
            if self.proc is not None and self.proc.stdout:
                self.proc.stdout.close()
            if not keep:
                shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.dump()
        self.close()

    # -- the management API (Mantrid's REST) --------------------------
    def api(self, method, path, body=None, headers=None, timeout=10):
        """Returns (status, parsed JSON or raw text, headers)."""
        data = None if body is None else (
            body if isinstance(body, (bytes, str)) else json.dumps(body))
        if isinstance(data, str):
            data = data.encode()
        req = urllib.request.Request(
            "http://127.0.0.1:%d%s" % (self.mgmt_port, path), data=data,
            method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw, status, hdrs = r.read(), r.status, dict(r.headers)
        except urllib.error.HTTPError as e:
            raw, status, hdrs = e.read(), e.code, dict(e.headers)
        try:
            return status, json.loads(raw.decode() or "null"), hdrs
        except ValueError:
            return status, raw.decode(errors="replace"), hdrs

    def set_rule(self, host, action, kwargs=None, subdomains=False):
        st, body, _ = self.api("PUT", "/hostname/%s/" % host,
                               [action, kwargs or {}, subdomains])
        check(st == 200, "PUT %s: %s %s" % (host, st, body))
        return body

    def url(self, path="/", v6=False):
        if v6:
            return "http://[::1]:%d%s" % (self.port, path)
        return "http://127.0.0.1:%d%s" % (self.port, path)


class Backend:
    """A real HTTP backend: tests/backend.py in its own process."""

    def __init__(self, name="backend", port=None, args=()):
        self.port = port or free_port()
        self.name = name
        self.args = list(args)
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            [sys.executable, BACKEND, "--port", str(self.port),
             "--name", self.name] + self.args)
        wait_until(lambda: port_open("127.0.0.1", self.port), 10,
                   "backend on %d" % self.port)
        return self

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def stats(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/__stats"
                                    % self.port, timeout=5) as r:
            return json.loads(r.read().decode())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def http_raw(port, data, host="127.0.0.1", timeout=5, read_all=True):
    """Send raw bytes, return everything read until close or timeout."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, port))
    s.sendall(data)
    chunks = []
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
            if not read_all:
                break
    except socket.timeout:
        pass
    finally:
        s.close()
    return b"".join(chunks)


def curl(url, *args, timeout=10):
    """Run curl; returns (exit status, body, status code)."""
    p = subprocess.run(["curl", "-sS", "-g", "-o", "-", "-w",
                        "\n%{http_code}", "--max-time", str(timeout)]
                       + list(args) + [url], capture_output=True)
    out = p.stdout.decode(errors="replace")
    body, _, code = out.rpartition("\n")
    return p.returncode, body, int(code or 0)


def run_tests(tests):
    """Run test functions; print one line each and a summary; exit."""
    passed = failed = skipped = 0
    for t in tests:
        name = t.__name__
        try:
            t()
            print("PASS: %s" % name)
            passed += 1
        except SkipTest as e:
            print("SKIP: %s (%s)" % (name, e))
            skipped += 1
        except Exception as e:  # noqa: B902 - report and go on
            print("FAIL: %s: %s: %s" % (name, type(e).__name__, e))
            failed += 1
        sys.stdout.flush()
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    if failed:
        sys.exit(1)
    sys.exit(77 if passed == 0 and skipped else 0)


class SkipTest(Exception):
    pass

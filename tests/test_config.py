"""test_config.py: the command line and configuration checking (issue 2):
-t on good and bad files, one clear error line naming file, line and
option with exit status 1, --help and --version, and that -t binds
nothing.
"""
import os
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import MANTRID, check, run_tests  # noqa: E402


def run(*args):
    return subprocess.run([MANTRID] + list(args), capture_output=True,
                          text=True, timeout=20)


def conf_file(text):
    f = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
    f.write(text)
    f.close()
    return f.name


def test_good_file():
    path = conf_file("# a comment\nbind = 127.0.0.1:8080  # trailing\n"
                     "bind = [::1]:8080\nbind_management = [::1]:8042\n"
                     "workers = 2\ntimeout_connect = 3\nloglevel = debug\n")
    r = run("-t", "-c", path)
    check(r.returncode == 0, "exit %d: %s" % (r.returncode, r.stderr))
    check("valid" in r.stdout, "no confirmation: %r" % r.stdout)
    os.unlink(path)


BAD = [
    ("workers = 2\nfoo = 1\n", ":2: foo: unknown option"),
    ("bind = 300.1.1.1:80\n", ":1: bind: bad address"),
    ("bind = 127.0.0.1:99999\n", ":1: bind: bad port"),
    ("loglevel = 2\nloglevel = 3\n", ":2: loglevel: given twice"),
    ("uid = 4321\nuser = nobody\n", ":2: user: given twice, also as uid"),
    ("gid = 4321\ngroup = 4321\n", ":2: group: given twice, also as gid"),
    ("timeout_header = soon\n", ":1: timeout_header: \"soon\" is not"),
    ("shm_size = 1k\n", ":1: shm_size:"),
    ("user = no-such-user-here\n", ":1: user: unknown user"),
    ("user = root\n", ":1: user: must not be root (uid 0)"),
    ("workers = 1\nuid = 0\n", ":2: uid: must not be root (uid 0)"),
    ("garbage line\n", ":1: expected \"name = value\""),
]


def test_bad_files():
    for text, want in BAD:
        path = conf_file(text)
        r = run("-t", "-c", path)
        check(r.returncode == 1, "%r: exit %d" % (text, r.returncode))
        lines = r.stderr.strip().splitlines()
        check(len(lines) == 1, "%r: not one line: %r" % (text, r.stderr))
        check(path + want in lines[0], "%r: got %r" % (text, lines[0]))
        os.unlink(path)


def test_missing_file():
    r = run("-t", "-c", "/nonexistent/mantrid.conf")
    check(r.returncode == 1, "exit %d" % r.returncode)
    check("/nonexistent/mantrid.conf: No such file or directory" in r.stderr,
          r.stderr)


def test_test_mode_binds_nothing():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    path = conf_file("bind = 127.0.0.1:%d\n" % port)
    r = run("-t", "-c", path)
    s.close()
    os.unlink(path)
    check(r.returncode == 0, "-t tried to bind: %s" % r.stderr)


def test_help_version_and_bad_flags():
    r = run("--help")
    check(r.returncode == 0 and "--daemonize" in r.stdout, "help")
    r = run("--version")
    check(r.returncode == 0 and r.stdout.startswith("mantrid "), "version")
    r = run("--no-such-flag")
    check(r.returncode == 1 and "usage" in r.stderr, "bad flag")
    r = run("--loglevel", "7")
    check(r.returncode == 1 and "--loglevel" in r.stderr, "bad loglevel")


if __name__ == "__main__":
    run_tests([test_good_file, test_bad_files, test_missing_file,
               test_test_mode_binds_nothing, test_help_version_and_bad_flags])

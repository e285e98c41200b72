#!/usr/bin/env python3
"""bench_control.py: the control plane's benchmarks, against the real
daemon on loopback (tests/harness.py), with durability on (the state file
and its journal on the same disk as the build tree):

  1. PUT /hostname/ with 100k hosts, end to end with curl, including the
     durable journal write (target: under 2 s);
  2. durable single-host sets per second over the control socket with
     100k hosts loaded: one sequential client (target: 2,000/s) and 16
     concurrent clients (target: 20,000/s, group commit).

Usage: bench/bench_control.py [--hosts N] [--seq N] [--conc N] [--clients N]
(run from the build tree after `make`, or set top_builddir).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
from harness import Mantrid, TOP_BUILDDIR, check  # noqa: E402

BENCH = os.path.join(TOP_BUILDDIR, "bench", "bench_control")


def put_all(m, path):
    t0 = time.monotonic()
    p = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                        "-H", "Expect:", "-X", "PUT", "--data-binary",
                        "@" + path, "http://127.0.0.1:%d/hostname/"
                        % m.mgmt_port], capture_output=True, text=True)
    el = time.monotonic() - t0
    check(p.stdout == "200", "PUT /hostname/: %s %s" % (p.stdout, p.stderr))
    return el


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=100000)
    ap.add_argument("--seq", type=int, default=10000)
    ap.add_argument("--conc", type=int, default=160000)
    ap.add_argument("--clients", type=int, default=16)
    a = ap.parse_args()
    hosts = {"h%d.bench.test" % i:
             ["proxy", {"backends": ["127.0.0.1:%d" % (8000 + i % 100)]},
              False] for i in range(a.hosts)}
    fd, path = tempfile.mkstemp(suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(hosts, f)
    size = os.path.getsize(path)
    with Mantrid(workers=1, conf={"shm_size": str(1 << 30)}) as m:
        puts = [put_all(m, path) for _ in range(3)]
        print("PUT /hostname/ %d hosts (%.1f MB): %s s" % (
            a.hosts, size / 1e6, ", ".join("%.3f" % t for t in puts)))
        st, info, _ = m.api("GET", "/info/")
        check(info["rules"] == a.hosts, "rules: %r" % info)
        for clients, n in ((1, a.seq), (a.clients, a.conc)):
            # the machine is shared: say how busy it was
            print("load average %.2f %.2f %.2f" % os.getloadavg())
            p = subprocess.run([BENCH, "-s", m.socket, "-c", str(clients),
                                "-n", str(n), "-H", str(a.hosts)],
                               capture_output=True, text=True)
            print(p.stdout.strip() or p.stderr.strip())
        # the sets were durable: they are all in the journal or the file
        journal = sum(os.path.getsize(os.path.join(
            os.path.dirname(m.state_file), f)) for f in os.listdir(
            os.path.dirname(m.state_file)) if ".journal." in f)
        print("journal bytes now: %d; state file: %d" % (
            journal, os.path.getsize(m.state_file)))
        t0 = time.monotonic()
        check(m.stop() == 0, "stop")
        print("graceful stop (final fold of %d hosts): %.3f s" % (
            a.hosts, time.monotonic() - t0))
        for line in m.read_log().splitlines():
            if "group syncs" in line or "fold" in line:
                print(line.split(" ", 3)[-1])
    os.unlink(path)


if __name__ == "__main__":
    main()

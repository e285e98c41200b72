#!/bin/bash
# lookup_insitu.sh: the rule lookup's cost per request inside a running
# mantrid worker, at N = 1, 10k, 100k and 1M hosts: where
# bench/bench_ruledb times lookups in a tight loop (every line it touches
# stays in L1 when there is one host), this times them between real
# requests, as a user's traffic runs them.
#   bench/lookup_insitu.sh [-d SECONDS] [-n "1 10000 100000 1000000"]
#                          [-H HOT] [-p PROXY_CPU -l LOAD_CPU]
# Needs a built ./mantrid (run from the build tree or set MANTRID=...),
# perf, nginx and wrk (installed with apt-get if missing).
#
# Method, per N:
#  - one mantrid worker pinned to PROXY_CPU (default the last CPU) with N
#    proxy rules (hosts h0000000.example ...: one length, so that only the
#    table's size changes with N), loaded from its state file; an nginx
#    backend and wrk (keep-alive) on LOAD_CPU (default CPU 0);
#  - wrk sends each request to a Host drawn at random from a hot set of
#    HOT hosts (default 1024; at N < HOT, all N); -H 0: from all N;
#  - perf samples the worker (cpu-clock, user and kernel) for the run;
#    lookup% is the share of its samples in the lookup's own functions
#    (ruledb_resolve, host normalization, hash, probe: the ruledb symbols
#    a request runs; glibc's memcmp is shared with the parser and is
#    left out), cpu_ns the worker's CPU time per request, and lookup_ns
#    their product: the lookup's cost per request.
# KEEP=1 keeps the work directory (perf.data, symbols, logs) for a look.
set -u
DUR=5; NS="1 10000 100000 1000000"; HOT=1024
NCPU=$(getconf _NPROCESSORS_ONLN)
PCPU=$((NCPU - 1)); LCPU=0
while getopts d:n:H:p:l: o; do
	case $o in
	d) DUR=$OPTARG;; n) NS=$OPTARG;; H) HOT=$OPTARG;;
	p) PCPU=$OPTARG;; l) LCPU=$OPTARG;; *) exit 2;;
	esac
done
top=$(cd "$(dirname "$0")/.." && pwd)
MANTRID=${MANTRID:-$top/mantrid}
export PATH=$PATH:/usr/sbin
for p in nginx wrk perf; do
	command -v $p >/dev/null 2>&1 ||
	    apt-get install -y nginx wrk linux-perf >/dev/null 2>&1 ||
	    { echo "cannot install $p"; exit 1; }
done
[ -x "$MANTRID" ] || { echo "no mantrid binary at $MANTRID"; exit 1; }

. "$top/bench/bench_lib.sh"
bench_setup mantrid-insitu
bench_backend taskset -c "$LCPU" || exit 1

# The requests are formatted once; each request picks one at random.
cat > "$W/hosts.lua" <<'LUA'
local n = tonumber(os.getenv("NHOSTS"))
local hot = tonumber(os.getenv("HOT"))
local reqs, k = {}, 0
init = function(args)
  math.randomseed(12345)
  local m = (hot > 0 and hot < n) and hot or n
  for j = 1, m do
    local h = (m == n) and (j - 1) or math.random(0, n - 1)
    reqs[j] = wrk.format("GET", "/", { ["Host"] = string.format("h%07d.example", h) })
  end
  k = m
end
request = function()
  return reqs[math.random(1, k)]
end
LUA

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

printf "%-8s %6s %10s %9s %8s %9s %8s\n" N hot req/s requests cpu_ns lookup% lookup_ns
for n in $NS; do
	d=$W/n$n
	mkdir -p "$d/state"
	python3 - "$n" "$d" "$BP" <<'PY'
import json, sys
n, d, bp = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rule = ["proxy", {"backends": ["127.0.0.1:" + bp]}, False]
with open(d + "/state/state.json", "w") as f:
    json.dump({"hosts": {"h%07d.example" % i: rule for i in range(n)},
               "stats": {}}, f)
PY
	mp=$(port); mm=$(port)
	cat > "$d/mantrid.conf" <<MC
bind = 127.0.0.1:$mp
bind_management = 127.0.0.1:$mm
workers = 1
state_file = $d/state/state.json
control_socket = $d/ctl.sock
loglevel = 1
MC
	chmod -R a+rwX "$d"; chmod a+rx "$W"	# nobody's, as root
	bench_mantrid "$d/mantrid.conf" "$d/log" taskset -c "$PCPU"
	mpid=$MPID
	wait_port "$mp" || exit 1
	for _ in $(seq 1 600); do
		wpid=$(pgrep -P "$mpid" | head -1)
		[ -n "$wpid" ] && break
		sleep 0.05
	done
	[ -n "$wpid" ] || { echo "no worker"; exit 1; }
	# warm up (and fault in) for a second, then measure
	NHOSTS=$n HOT=$HOT taskset -c "$LCPU" wrk -t1 -c50 -d1s -s "$W/hosts.lua" \
	    "http://127.0.0.1:$mp/" >/dev/null 2>&1
	t0=$(cpu_ticks "$wpid")
	perf record -q -F 10000 -e cpu-clock -p "$wpid" -o "$d/perf.data" \
	    -- sleep "$DUR" >/dev/null 2>&1 &
	ppid=$!
	NHOSTS=$n HOT=$HOT taskset -c "$LCPU" wrk -t1 -c50 -d"${DUR}s" \
	    -s "$W/hosts.lua" "http://127.0.0.1:$mp/" > "$d/wrk.out" 2>&1
	t1=$(cpu_ticks "$wpid")
	wait "$ppid"
	perf report -i "$d/perf.data" --stdio --sort sym 2>/dev/null |
	    awk '$1 ~ /%$/ {print $1, $NF}' > "$d/syms"
	python3 - "$d" "$n" "$HOT" "$((t1 - t0))" "$(getconf CLK_TCK)" <<'PY'
import re, sys
d, n, hot, ticks, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
wrk = open(d + "/wrk.out").read()
reqs = int(re.search(r"(\d+) requests in", wrk).group(1))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", wrk).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", wrk)
lookup = ("ruledb_resolve", "ruledb_normalize_host", "rdb_hash",
          "rdb_lookup", "rdb_lookup_h", "rdb_reader_enter")
share = sum(float(p.rstrip("%")) for p, s in
            (l.split() for l in open(d + "/syms")) if s in lookup)
cpu_ns = ticks * 1e9 / hz / reqs
print("%-8d %6s %10.0f %9d %8.0f %8.2f%% %9.1f%s" % (n, min(hot, n) if hot
      else "all", rps, reqs, cpu_ns, share, share / 100 * cpu_ns,
      "  (%s non-2xx!)" % bad.group(1) if bad else ""))
PY
	kill "$mpid"; wait "$mpid" 2>/dev/null
done

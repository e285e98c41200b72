#!/bin/bash
# compare.sh: mantrid vs HAProxy vs nginx as HTTP proxies in front of one
# nginx backend, with wrk rotating over N Host names (keep-alive), on
# loopback only. Prints req/s, p50, p99 and CPU microseconds per request
# (cpu_us) per target and N (the median of the rounds), and mantrid's
# ratios to HAProxy.
#   bench/compare.sh [-d SECONDS] [-c CONNS] [-n "1 10000 100000"]
#                    [-r ROUNDS] [-U | -p PROXY_CPU -l LOAD_CPU]
# Needs a built ./mantrid (run from the build tree or set MANTRID=...).
#
# Method (the same for every target, so that it stays fair):
#  - Pinning (default on a machine with 2+ CPUs): every proxy under test
#    (all its processes) runs on PROXY_CPU (default the last CPU), wrk and
#    the backend on LOAD_CPU (default CPU 0). The proxy then has one core
#    to itself and is the bottleneck: its CPU cost per request shows in
#    req/s instead of in a scheduler tie with wrk and the backend. The
#    busy% column says how much of its core the proxy used (near 100: it
#    was the bottleneck); other% how much of that core other jobs (or
#    the VM's steal) took meanwhile; load% how busy LOAD_CPU was over the
#    whole wrk run, its start-up included (wrk, the backend and whatever
#    else ran there: near 100, the load side and not the proxy limited
#    req/s). -U: no pinning (the old method).
#  - All targets for all N run at the same time (one HAProxy, nginx and
#    mantrid per N), each warmed up once; then ROUNDS rounds each run
#    every (N, target) pair once, in an order rotated per round, so a
#    noisy moment (other jobs on the machine) hits every target alike.
#    The table gives the median of the rounds; ratios are of medians, and
#    the per-round mantrid/HAProxy ratios are listed too. Noise only ever
#    slows a run down, so "best" (the highest req/s of the rounds) is
#    printed beside the median.
#  - cpu_us: CPU time (user + system) of the target's processes over the
#    run / requests: a figure much less sensitive to noise than req/s.
#  - The load average before and after is printed: above ~1.5 other jobs
#    competed and wall-clock figures deserve less trust.
set -u
DUR=8; CONNS=50; NS="1 10000 100000"; ROUNDS=3; PIN=1
NCPU=$(getconf _NPROCESSORS_ONLN)
PCPU=$((NCPU - 1)); LCPU=0
while getopts d:c:n:r:Up:l: o; do
	case $o in
	d) DUR=$OPTARG;; c) CONNS=$OPTARG;; n) NS=$OPTARG;; r) ROUNDS=$OPTARG;;
	U) PIN=0;; p) PCPU=$OPTARG;; l) LCPU=$OPTARG;; *) exit 2;;
	esac
done
[ "$NCPU" -ge 2 ] || PIN=0
top=$(cd "$(dirname "$0")/.." && pwd)
MANTRID=${MANTRID:-$top/mantrid}
for p in haproxy nginx wrk; do
	command -v $p >/dev/null 2>&1 || PATH=$PATH:/usr/sbin command -v $p >/dev/null 2>&1 ||
	    { apt-get install -y haproxy nginx wrk >/dev/null 2>&1 || { echo "cannot install $p"; exit 1; }; }
done
export PATH=$PATH:/usr/sbin
[ -x "$MANTRID" ] || { echo "no mantrid binary at $MANTRID"; exit 1; }

if [ $PIN = 1 ]; then
	ONPROXY="taskset -c $PCPU"; ONLOAD="taskset -c $LCPU"
else
	ONPROXY=""; ONLOAD=""
fi

. "$top/bench/bench_lib.sh"
bench_setup mantrid-bench
bench_backend $ONLOAD || exit 1

# NB: the N requests are formatted once (init), not per request: wrk
# shares its CPU with the backend, and wrk.format per request made that
# CPU, not the proxy's, the limit of the faster proxies.
lua="$W/hosts.lua"
cat > "$lua" <<'LUA'
local n = tonumber(os.getenv("NHOSTS")) or 1
local reqs, i = {}, 0
init = function(args)
  for k = 0, n - 1 do
    reqs[k] = wrk.format("GET", "/", { ["Host"] = "h" .. k .. ".example" })
  end
end
request = function()
  i = i + 1
  if i >= n then i = 0 end
  return reqs[i]
end
LUA

# Busy ticks (all but idle and iowait) of a CPU. Of the proxy's: what the
# proxy did not use of them went to other jobs (or the VM's steal).
cpu_busy() {	# CPU
	awk -v c=cpu$1 '$1 == c {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat
}

# CPU ticks (user + system) used so far by a process and its children.
cpu_ticks() {
	local t=0 p
	for p in $1 $(pgrep -P "$1"); do
		[ -r /proc/$p/stat ] && t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat)))
	done
	echo $t
}

run_wrk() {	# port N seconds -> "rps p50 p99 non2xx requests"
	NHOSTS=$2 $ONLOAD wrk -t1 -c"$CONNS" -d"${3}s" --latency -s "$lua" \
	    "http://127.0.0.1:$1/" > "$W/wrk.out" 2>&1
	awk '/Requests\/sec/ {r=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
	    /Non-2xx/ {bad=$NF} / requests in / {n=$1}
	    END {printf "%s %s %s %s %s\n", r, p50, p99, bad+0, n}' "$W/wrk.out"
}

declare -A PORT PID
start_targets() {	# N: one HAProxy, nginx and mantrid holding N hosts
	local n=$1 d=$W/n$1
	mkdir -p "$d/nginx-px" "$d/m/state"
	PORT[direct.$n]=$BP; PID[direct.$n]=$BPID
	PORT[haproxy.$n]=$(port); PORT[nginx.$n]=$(port)
	PORT[mantrid.$n]=$(port); local mm=$(port)
	python3 - "$n" "$d" "$BP" <<'PY'
import json, sys
n, d, bp = int(sys.argv[1]), sys.argv[2], sys.argv[3]
names = ["h%d.example" % i for i in range(n)]
with open(d + "/hosts.map", "w") as f:
    f.writelines("%s be1\n" % h for h in names)
with open(d + "/names.txt", "w") as f:
    f.write(" ".join(names))
with open(d + "/m/state/state.json", "w") as f:
    json.dump({"hosts": {h: ["proxy", {"backends": ["127.0.0.1:" + bp]}, False]
                         for h in names}, "stats": {}}, f)
PY
	cat > "$d/haproxy.cfg" <<HAP
global
  nbthread 1
  maxconn 4000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend fe
  bind 127.0.0.1:${PORT[haproxy.$n]}
  use_backend %[req.hdr(host),lower,map($d/hosts.map,be_unknown)]
backend be1
  server s1 127.0.0.1:$BP
backend be_unknown
  http-request deny deny_status 404
HAP
	$ONPROXY haproxy -f "$d/haproxy.cfg" -q & PID[haproxy.$n]=$!
	cat > "$d/nginx-px/nginx.conf" <<NGX
worker_processes 1; daemon off; pid $d/nginx-px/pid; error_log $d/nginx-px/err warn;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server_names_hash_max_size 1048576; server_names_hash_bucket_size 128;
  upstream be { server 127.0.0.1:$BP; keepalive 128; }
  server { listen 127.0.0.1:${PORT[nginx.$n]}; server_name $(cat "$d/names.txt");
    location / { proxy_pass http://be; proxy_http_version 1.1;
      proxy_set_header Connection ""; proxy_set_header Host \$host; } } }
NGX
	$ONPROXY nginx -c "$d/nginx-px/nginx.conf" -p "$d/nginx-px" & PID[nginx.$n]=$!
	cat > "$d/m/mantrid.conf" <<MC
bind = 127.0.0.1:${PORT[mantrid.$n]}
bind_management = 127.0.0.1:$mm
workers = 1
state_file = $d/m/state/state.json
control_socket = $d/m/ctl.sock
loglevel = 1
MC
	chmod -R a+rwX "$d/m"; chmod a+rx "$W" "$d"	# nobody's, as root
	bench_mantrid "$d/m/mantrid.conf" "$d/m/log" $ONPROXY
	PID[mantrid.$n]=$MPID
	PIDS+=(${PID[haproxy.$n]} ${PID[nginx.$n]})
	wait_port ${PORT[haproxy.$n]} && wait_port ${PORT[nginx.$n]} &&
	    wait_port ${PORT[mantrid.$n]}
}

TARGETS="direct haproxy nginx mantrid"
echo "# $(date -u +%FT%TZ) dur=${DUR}s conns=$CONNS rounds=$ROUNDS" \
    "pin=$([ $PIN = 1 ] && echo "proxy:cpu$PCPU load:cpu$LCPU" || echo off)"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for n in $NS; do start_targets "$n" || exit 1; done
for n in $NS; do for t in $TARGETS; do run_wrk ${PORT[$t.$n]} $n 1 >/dev/null; done; done

RES=$W/results
FMT="%-5s %-8s %-8s %10s %9s %9s %7s %5s %6s %5s %s\n"
printf "$FMT" round N target req/s p50 p99 cpu_us busy% other% load% non2xx
for r in $(seq 1 "$ROUNDS"); do
	tl=($TARGETS); k=$(( (r - 1) % ${#tl[@]} ))
	order="${tl[*]:k} ${tl[*]:0:k}"	# rotated: no target always first
	for n in $NS; do
		for t in $order; do
			pid=${PID[$t.$n]}
			t0=$(cpu_ticks $pid); b0=$(cpu_busy $PCPU); l0=$(cpu_busy $LCPU); w0=$(date +%s.%N)
			read -r rps p50 p99 bad nreq < <(run_wrk ${PORT[$t.$n]} "$n" "$DUR")
			t1=$(cpu_ticks $pid); b1=$(cpu_busy $PCPU); l1=$(cpu_busy $LCPU); w1=$(date +%s.%N)
			read -r cpu busy other load < <(python3 -c "hz=$(getconf CLK_TCK); d=$t1-$t0
o=0 if '$t' == 'direct' or $PIN == 0 else max(0, $b1-$b0-d)
print('%.1f %.0f %.0f %.0f' % (d*1e6/hz/max(1, ${nreq:-0}), 100.0*d/hz/$DUR,
    100.0*o/hz/$DUR, 100.0*($l1-$l0)/hz/($w1-$w0)))")
			echo "$r $n $t $rps $p50 $p99 $cpu $busy $other $load $bad" >> "$RES"
			printf "$FMT" "$r" "$n" "$t" "$rps" "$p50" "$p99" "$cpu" \
			    "$busy" "$other" "$load" "$bad"
		done
	done
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
python3 - "$RES" "$NS" <<'PY'
import statistics as st, sys
def ms(s):
    for u, f in (("ms", 1.0), ("us", 1e-3), ("s", 1e3), ("m", 6e4)):
        if s.endswith(u):
            return float(s[:-len(u)]) * f
    return float("nan")
rows = [l.split() for l in open(sys.argv[1])]
ns = sys.argv[2].split()
res = {}
for r, n, t, rps, p50, p99, cpu, busy, other, load, bad in rows:
    res.setdefault((n, t), []).append((int(r), float(rps), ms(p50), ms(p99),
        float(cpu), float(busy), float(other), int(bad), float(load)))
med = lambda k, i: st.median(x[i] for x in res[k])
print("median of %d rounds (best: the highest req/s of the rounds)" %
      len(res[(ns[0], "direct")]))
print("%-8s %-8s %10s %10s %9s %9s %7s %5s %6s %5s %s" % ("N", "target",
      "req/s", "best", "p50", "p99", "cpu_us", "busy%", "other%", "load%",
      "non2xx"))
for n in ns:
    for t in ("direct", "haproxy", "nginx", "mantrid"):
        k = (n, t)
        print("%-8s %-8s %10.0f %10.0f %7.2fms %7.2fms %7.1f %5.0f %6.0f %5.0f %d"
              % (n, t, med(k, 1), max(x[1] for x in res[k]), med(k, 2),
                 med(k, 3), med(k, 4), med(k, 5), med(k, 6), med(k, 8),
                 sum(x[7] for x in res[k])))
print()
for n in ns:
    h, m = (n, "haproxy"), (n, "mantrid")
    per = " ".join("%.2f" % (a[1] / b[1]) for a, b in zip(
        sorted(res[m]), sorted(res[h])))
    print("N=%s mantrid/haproxy: req/s %.2f (best %.2f; rounds: %s), "
          "p99 %.2f, cpu_us %.2f" % (n, med(m, 1) / med(h, 1),
          max(x[1] for x in res[m]) / max(x[1] for x in res[h]), per,
          med(m, 3) / med(h, 3), med(m, 4) / med(h, 4)))
first, last = ns[0], ns[-1]
for t in ("mantrid", "haproxy") if first != last else ():
    a, b = (first, t), (last, t)
    print("%s N=%s vs N=%s: req/s %.1f%% (best %.1f%%), cpu_us %.1f%%" % (
          t, last, first, 100.0 * med(b, 1) / med(a, 1),
          100.0 * max(x[1] for x in res[b]) / max(x[1] for x in res[a]),
          100.0 * med(b, 4) / med(a, 4)))
PY

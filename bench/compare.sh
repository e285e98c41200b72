#!/bin/bash
# compare.sh: mantrid vs HAProxy vs nginx as HTTP proxies in front of one
# nginx backend, with wrk rotating over N Host names (keep-alive), on
# loopback only. Prints req/s, p50, p99 and CPU microseconds per request
# (cpu_us) per target and N, and mantrid's req/s ratio to HAProxy's.
#   bench/compare.sh [-d SECONDS] [-c CONNS] [-n "1 10000 100000"]
# Needs a built ./mantrid (run from the build tree or set MANTRID=...).
set -u
DUR=8; CONNS=50; NS="1 10000 100000"
while getopts d:c:n: o; do
	case $o in d) DUR=$OPTARG;; c) CONNS=$OPTARG;; n) NS=$OPTARG;; *) exit 2;; esac
done
top=$(cd "$(dirname "$0")/.." && pwd)
MANTRID=${MANTRID:-$top/mantrid}
for p in haproxy nginx wrk; do
	command -v $p >/dev/null 2>&1 || PATH=$PATH:/usr/sbin command -v $p >/dev/null 2>&1 ||
	    { apt-get install -y haproxy nginx wrk >/dev/null 2>&1 || { echo "cannot install $p"; exit 1; }; }
done
export PATH=$PATH:/usr/sbin
[ -x "$MANTRID" ] || { echo "no mantrid binary at $MANTRID"; exit 1; }

W=$(mktemp -d /tmp/mantrid-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT

port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_port() {
	for _ in $(seq 1 600); do
		(exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0
		sleep 0.05
	done
	echo "port $1 never opened"; return 1
}

BP=$(port); HP=$(port); NP=$(port); MP=$(port); MM=$(port)
mkdir -p "$W/nginx-be" "$W/nginx-px"

# The backend: nginx, 1 worker, a small page.
cat > "$W/nginx-be/nginx.conf" <<NGX
worker_processes 1; daemon off; pid $W/nginx-be/pid; error_log $W/nginx-be/err warn;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$BP; location / { return 200 "hello from backend\n"; } } }
NGX
nginx -c "$W/nginx-be/nginx.conf" -p "$W/nginx-be" & BPID=$!; PIDS+=($BPID)
wait_port $BP || exit 1

lua="$W/hosts.lua"
cat > "$lua" <<'LUA'
local n = tonumber(os.getenv("NHOSTS")) or 1
local i = 0
request = function()
  i = i + 1
  if i >= n then i = 0 end
  return wrk.format("GET", "/", { ["Host"] = "h" .. i .. ".example" })
end
LUA

# CPU ticks (user + system) used so far by a process and its children:
# CPU per request is steadier than req/s on a machine shared with others.
cpu_ticks() {
	local t=0 p
	for p in $1 $(pgrep -P "$1"); do
		[ -r /proc/$p/stat ] && t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat)))
	done
	echo $t
}

run_wrk() {	# port N -> "rps p50 p99 non2xx requests"
	NHOSTS=$2 wrk -t1 -c"$CONNS" -d"${DUR}s" --latency -s "$lua" \
	    "http://127.0.0.1:$1/" > "$W/wrk.out" 2>&1
	awk '/Requests\/sec/ {r=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
	    /Non-2xx/ {bad=$NF} / requests in / {n=$1}
	    END {printf "%s %s %s %s %s\n", r, p50, p99, bad+0, n}' "$W/wrk.out"
}

start_targets() {	# N
	local n=$1
	python3 - "$n" "$W" "$BP" <<'PY'
import json, sys
n, w, bp = int(sys.argv[1]), sys.argv[2], sys.argv[3]
names = ["h%d.example" % i for i in range(n)]
with open(w + "/hosts.map", "w") as f:
    f.writelines("%s be1\n" % h for h in names)
with open(w + "/names.txt", "w") as f:
    f.write(" ".join(names))
import os
os.makedirs(w + "/m/state", exist_ok=True)
with open(w + "/m/state/state.json", "w") as f:
    json.dump({"hosts": {h: ["proxy", {"backends": ["127.0.0.1:" + bp]}, False]
                         for h in names}, "stats": {}}, f)
PY
	cat > "$W/haproxy.cfg" <<HAP
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
  bind 127.0.0.1:$HP
  use_backend %[req.hdr(host),lower,map($W/hosts.map,be_unknown)]
backend be1
  server s1 127.0.0.1:$BP
backend be_unknown
  http-request deny deny_status 404
HAP
	haproxy -f "$W/haproxy.cfg" -q & HPID=$!
	cat > "$W/nginx-px/nginx.conf" <<NGX
worker_processes 1; daemon off; pid $W/nginx-px/pid; error_log $W/nginx-px/err warn;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server_names_hash_max_size 1048576; server_names_hash_bucket_size 128;
  upstream be { server 127.0.0.1:$BP; keepalive 128; }
  server { listen 127.0.0.1:$NP; server_name $(cat "$W/names.txt");
    location / { proxy_pass http://be; proxy_http_version 1.1;
      proxy_set_header Connection ""; proxy_set_header Host \$host; } } }
NGX
	nginx -c "$W/nginx-px/nginx.conf" -p "$W/nginx-px" & NPID=$!
	cat > "$W/m/mantrid.conf" <<MC
bind = 127.0.0.1:$MP
bind_management = 127.0.0.1:$MM
workers = 1
state_file = $W/m/state/state.json
control_socket = $W/m/ctl.sock
loglevel = 1
MC
	# NB: as root, run as nobody (as the test harness does): no drop needed.
	chmod -R a+rwX "$W/m"; chmod a+rx "$W"
	if [ "$(id -u)" = 0 ]; then
		setpriv --reuid=nobody --regid=nogroup --clear-groups \
		    "$MANTRID" -c "$W/m/mantrid.conf" --logfile "$W/m/log" & MPID=$!
	else
		"$MANTRID" -c "$W/m/mantrid.conf" --logfile "$W/m/log" & MPID=$!
	fi
	PIDS+=($HPID $NPID $MPID)
	wait_port $HP && wait_port $NP && wait_port $MP
}

stop_targets() { kill $HPID $NPID $MPID 2>/dev/null; wait $HPID $NPID $MPID 2>/dev/null; }

printf "%-8s %-8s %10s %9s %9s %7s %s\n" N target req/s p50 p99 cpu_us non2xx
declare -A RPS
for n in $NS; do
	start_targets "$n" || exit 1
	for t in direct haproxy nginx mantrid; do
		case $t in direct) p=$BP;; haproxy) p=$HP;; nginx) p=$NP;; mantrid) p=$MP;; esac
		case $t in direct) pid=$BPID;; haproxy) pid=$HPID;; nginx) pid=$NPID;; mantrid) pid=$MPID;; esac
		t0=$(cpu_ticks $pid)
		read -r rps p50 p99 bad nreq < <(run_wrk $p "$n")
		# CPU microseconds per request of the target's processes
		cpu=$(python3 -c "print('%.1f' % (($(cpu_ticks $pid) - $t0) * 1e6 / $(getconf CLK_TCK) / max(1, ${nreq:-0})))")
		RPS[$t.$n]=$rps
		printf "%-8s %-8s %10s %9s %9s %7s %s\n" "$n" "$t" "$rps" "$p50" "$p99" "$cpu" "$bad"
	done
	stop_targets
	python3 -c "print('N=%s mantrid/haproxy = %.2f' % ('$n', float('${RPS[mantrid.$n]}' or 0) / float('${RPS[haproxy.$n]}' or 1)))"
done
first=${NS%% *}; last=${NS##* }
python3 -c "print('mantrid N=$last vs N=$first: %.1f%%' % (100.0 * float('${RPS[mantrid.$last]}') / float('${RPS[mantrid.$first]}')))"

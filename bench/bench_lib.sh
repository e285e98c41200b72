# bench_lib.sh: sourced by bench/compare.sh and bench/lookup_insitu.sh:
# a work directory removed on exit along with every process started
# (PIDS; KEEP=1 keeps the directory), free loopback ports, waiting for a
# port, the nginx backend both measure against, and starting mantrid.

bench_setup() {	# NAME: W=/tmp/NAME.XXXXXX
	W=$(mktemp -d "/tmp/$1.XXXXXX")
	PIDS=()
	trap bench_cleanup EXIT
}

bench_cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "${KEEP:-}" ] || rm -rf "$W"
}

port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

wait_port() {	# PORT: open within 60 s (a daemon loading 1M rules)
	for _ in $(seq 1 1200); do
		(exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0
		sleep 0.05
	done
	echo "port $1 never opened"; return 1
}

bench_backend() {	# [CPU-PINNING COMMAND...]: BP (port), BPID
	BP=$(port)
	mkdir -p "$W/nginx-be"
	# nginx, 1 worker, a small page
	cat > "$W/nginx-be/nginx.conf" <<NGX
worker_processes 1; daemon off; pid $W/nginx-be/pid; error_log $W/nginx-be/err warn;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$BP; location / { return 200 "hello from backend\n"; } } }
NGX
	"$@" nginx -c "$W/nginx-be/nginx.conf" -p "$W/nginx-be" & BPID=$!
	PIDS+=($BPID)
	wait_port "$BP"
}

bench_mantrid() {	# CONF LOG [CPU-PINNING COMMAND...]: MPID
	local conf=$1 log=$2
	shift 2
	# NB: as root, run as nobody (as the test harness does): no drop needed.
	if [ "$(id -u)" = 0 ]; then
		"$@" setpriv --reuid=nobody --regid=nogroup --clear-groups \
		    "$MANTRID" -c "$conf" --logfile "$log" &
	else
		"$@" "$MANTRID" -c "$conf" --logfile "$log" &
	fi
	MPID=$!
	PIDS+=($MPID)
}

#!/bin/bash
# demo.sh: install the build dependencies (Debian 12, as root), build
# mantrid, start a small local backend and run mantrid in the foreground
# with one rule, so that
#     curl -H 'Host: demo.local' http://127.0.0.1:8080/
# answers with the backend's page through mantrid. Ctrl-C stops both.
#
#   bash init/demo.sh
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
deps="build-essential autoconf automake pkg-config libevent-dev
libhttp-parser-dev libjson-c-dev python3 curl"
missing=""
for p in $deps; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
	[ "$(id -u)" -eq 0 ] || { echo "demo.sh: run as root to install:$missing" >&2; exit 1; }
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

echo "== building mantrid"
[ -x configure ] || ./autogen.sh >/dev/null 2>&1
mkdir -p build/demo
(cd build/demo && { [ -f Makefile ] || "$top/configure" -q; } && make -j2 -s >/dev/null)

demo=$(mktemp -d /tmp/mantrid-demo.XXXXXX)
chmod 755 "$demo"
mkdir -p "$demo/www" "$demo/state"
cat > "$demo/www/index.html" <<'HTML'
<!doctype html>
<title>mantrid demo</title>
<h1>Hello from the demo backend, through mantrid.</h1>
HTML
# The rule, in Mantrid's state file format: host -> [action, kwargs, subdomains]
cat > "$demo/state/state.json" <<'JSON'
{"hosts": {"demo.local": ["proxy", {"backends": ["127.0.0.1:8001"]}, true]}, "stats": {}}
JSON
cat > "$demo/mantrid.conf" <<CONF
bind = 127.0.0.1:8080
bind = [::1]:8080
bind_management = 127.0.0.1:8042
state_file = $demo/state/state.json
control_socket = $demo/mantrid.sock
static_dir = $top/etc/static
workers = 2
CONF
if [ "$(id -u)" -eq 0 ]; then
	chown -R nobody:nogroup "$demo/state"
	echo "user = nobody" >> "$demo/mantrid.conf"
	echo "group = nogroup" >> "$demo/mantrid.conf"
fi

python3 -m http.server 8001 --bind 127.0.0.1 --directory "$demo/www" \
	>"$demo/backend.log" 2>&1 &
backend=$!
trap 'kill $backend 2>/dev/null || true' EXIT

cat <<EOF2

== mantrid demo: try, in another terminal:
   curl -H 'Host: demo.local' http://127.0.0.1:8080/
   curl http://127.0.0.1:8042/hostname/
   build/demo/mantridctl -s $demo/mantrid.sock list
   Ctrl-C to stop.

EOF2
build/demo/mantrid -c "$demo/mantrid.conf"

#!/bin/bash
# run-all.sh: install what the tests need (Debian 12, apt-get, when root),
# build mantrid twice -- plain, and with AddressSanitizer and
# UndefinedBehaviorSanitizer -- and run every test in both: the Check unit
# tests, the integration tests against the real daemon, a short libFuzzer
# run (tests/fuzz.sh, part of make check), and make distcheck. Ends with one line "N passed, N failed".
#
#   bash tests/run-all.sh          # from the top of the source tree
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=${JOBS:-2}

deps="build-essential autoconf automake pkg-config libevent-dev
libhttp-parser-dev libjson-c-dev check curl python3 clang
libclang-rt-14-dev util-linux procps groff-base man-db iproute2 logrotate"

missing=""
for p in $deps; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "run-all.sh: missing packages:$missing (run as root, or apt-get install them)" >&2
		exit 1
	fi
	echo "== installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

echo "== autogen"
./autogen.sh >/dev/null 2>&1 || ./autogen.sh

total_pass=0 total_fail=0 total_skip=0
count() {	# count() LOGDIR: add the automake summary of a run
	local log=$1/test-suite.log p f s
	p=$(sed -n 's/^# PASS: *//p' "$log" | head -1)
	f=$(sed -n 's/^# FAIL: *//p' "$log" | head -1)
	s=$(sed -n 's/^# SKIP: *//p' "$log" | head -1)
	e=$(sed -n 's/^# ERROR: *//p' "$log" | head -1)
	total_pass=$((total_pass + ${p:-0}))
	total_fail=$((total_fail + ${f:-0} + ${e:-0}))
	total_skip=$((total_skip + ${s:-0}))
}

run_build() {	# run_build NAME CONFIGURE-FLAGS...
	local name=$1; shift
	local dir="$top/build/$name"
	echo "== $name build"
	mkdir -p "$dir"
	(cd "$dir" && "$top/configure" -q "$@" >/dev/null &&
	    make -j"$jobs" -s >/dev/null)
	echo "== $name tests"
	local rc=0
	(cd "$dir" && make -j"$jobs" -s check) || rc=$?
	count "$dir"
	if [ $rc -ne 0 ]; then
		for f in $(grep -l '^FAIL\|^ERROR' $(find "$dir/tests" -name '*.log' ! -name test-suite.log) 2>/dev/null); do
			echo "---- $f"; tail -60 "$f"
		done
	fi
	return 0
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
run_build plain
run_build sanitizers --enable-sanitizers

echo "== distcheck (unit tests only)"
if (cd build/plain && make -s distcheck TESTS="$(cd "$top" && ls tests/check_*.c | sed 's/\.c$//' | tr '\n' ' ')" >/dev/null 2>"$top/build/distcheck.err"); then
	total_pass=$((total_pass + 1))
else
	tail -30 "$top/build/distcheck.err" 2>/dev/null || true
	total_fail=$((total_fail + 1))
fi

echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ]

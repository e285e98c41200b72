#!/bin/bash
# test_man.sh: every manual page renders without a single groff warning.
set -u
src=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
command -v groff >/dev/null || { echo "SKIP: groff not installed"; exit 77; }
fail=0 n=0
for page in "$src"/man/*.[158]; do
	[ -f "$page" ] || continue
	n=$((n + 1))
	out=$(groff -ww -man -z "$page" 2>&1)
	if [ -n "$out" ]; then
		echo "FAIL: $page"; echo "$out"; fail=1
	else
		echo "ok: $page"
	fi
done
[ $n -ge 3 ] || { echo "FAIL: expected mantrid.8, mantrid.conf.5, mantridctl.1; found $n"; fail=1; }
exit $fail

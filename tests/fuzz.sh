#!/bin/bash
# fuzz.sh: build tests/fuzz_http.c with clang's libFuzzer + ASan/UBSan and
# run it briefly (FUZZ_TIME seconds, default 20; e.g. FUZZ_TIME=3600 for a
# long run). Exit 77 (skip) when clang or libFuzzer is not available.
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
out=${TMPDIR:-/tmp}/mantrid-fuzz.$$
time=${FUZZ_TIME:-20}
command -v clang >/dev/null 2>&1 || { echo "clang not found: skip"; exit 77; }
mkdir -p "$out/corpus" || exit 1
trap 'rm -rf "$out"' EXIT
if ! clang -g -O1 -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -I"$srcdir" \
    "$srcdir/worker/worker_parse.c" "$srcdir/worker/worker_scan.c" \
    "$srcdir/worker/worker_chunk.c" "$srcdir/tests/fuzz_http.c" \
    -lhttp_parser -o "$out/fuzz_http" 2>"$out/cc.log"; then
	cat "$out/cc.log"
	echo "cannot build the fuzzer (libFuzzer missing?): skip"
	exit 77
fi
# seeds: valid and nearly valid heads
printf 'GET / HTTP/1.1\r\nHost: a.com\r\n\r\n' > "$out/corpus/1"
printf 'POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;e\r\nhello\r\n0\r\nT: 1\r\n\r\n' > "$out/corpus/2"
printf 'GET http://a.com/x HTTP/1.1\r\nHost: a.com\r\nConnection: close, X\r\n\r\n' > "$out/corpus/3"
printf 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello' > "$out/corpus/4"
cd "$out" || exit 1
./fuzz_http -max_total_time="$time" -max_len=8192 -print_final_stats=1 \
    corpus >fuzz.log 2>&1
rc=$?
tail -15 fuzz.log
[ $rc -eq 0 ] || { ls crash-* 2>/dev/null | while read -r f; do
	echo "crash input: $(base64 -w0 "$f")"; done; }
exit $rc


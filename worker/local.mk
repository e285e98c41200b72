# worker/local.mk: the data plane (HTTP, actions, pool, spin, static pages,
# access log). worker/core.mk (lead) adds worker.c.
worker_libworker_a_SOURCES += \
	worker/worker_http_int.h worker/worker_http.c \
	worker/worker_parse.h worker/worker_parse_int.h worker/worker_parse.c \
	worker/worker_scan.c worker/worker_chunk.c \
	worker/worker_conn.c worker/worker_proxy.c worker/worker_bpool.c \
	worker/worker_spin.c \
	worker/worker_static.c worker/worker_accesslog.c \
	worker/worker_sio.h worker/worker_sio.c

# Unit tests of the parser/validator (real code, table-driven).
check_PROGRAMS += tests/check_http
TESTS += tests/check_http
tests_check_http_SOURCES = tests/check_http.c
tests_check_http_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_http_LDADD = worker/libworker.a common/libcommon.a \
	$(HTTP_PARSER_LIBS) $(CHECK_LIBS)

# libFuzzer target, run briefly by `make check` (FUZZ_TIME=N for longer).
TESTS += tests/fuzz.sh
EXTRA_DIST += tests/fuzz.sh tests/fuzz_http.c

# Integration tests (real daemon, real backends, raw sockets).
dist_check_SCRIPTS += tests/test_proxy.py tests/test_actions.py \
	tests/test_spin.py tests/test_http_reject.py
TESTS += tests/test_proxy.py tests/test_actions.py tests/test_spin.py \
	tests/test_http_reject.py
EXTRA_DIST += tests/dp_util.py bench/compare.sh

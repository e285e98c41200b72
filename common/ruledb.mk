# common/ruledb.mk: the shared-memory rule database (issue 3).
common_libcommon_a_SOURCES += \
	common/ruledb_int.h \
	common/ruledb.c \
	common/ruledb_alloc.c \
	common/ruledb_backend.c \
	common/ruledb_match.c \
	common/ruledb_mut.c \
	common/ruledb_rec.c \
	common/ruledb_table.c

if HAVE_CHECK
check_PROGRAMS += tests/check_ruledb tests/check_ruledb_concurrency \
	tests/check_ruledb_match
TESTS += tests/check_ruledb tests/check_ruledb_concurrency \
	tests/check_ruledb_match
endif
tests_check_ruledb_SOURCES = tests/check_ruledb.c tests/check_ruledb_util.h
tests_check_ruledb_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_ruledb_LDADD = common/libcommon.a $(CHECK_LIBS)
tests_check_ruledb_concurrency_SOURCES = tests/check_ruledb_concurrency.c \
	tests/check_ruledb_util.h
tests_check_ruledb_concurrency_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_ruledb_concurrency_LDADD = common/libcommon.a $(CHECK_LIBS)
tests_check_ruledb_match_SOURCES = tests/check_ruledb_match.c \
	tests/check_ruledb_util.h
tests_check_ruledb_match_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_ruledb_match_LDADD = common/libcommon.a $(CHECK_LIBS)

noinst_PROGRAMS += bench/bench_ruledb
bench_bench_ruledb_SOURCES = bench/bench_ruledb.c
bench_bench_ruledb_LDADD = common/libcommon.a

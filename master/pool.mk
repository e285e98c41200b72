# master/pool.mk: backend pools (issue 5): balancing algorithms and passive
# health (worker), active health checks and the backend commands (master).
worker_libworker_a_SOURCES += worker/worker_balance.h worker/worker_balance.c
master_libmaster_a_SOURCES += master/master_pool.h master/master_health.c \
	master/master_backends.c

if HAVE_CHECK
check_PROGRAMS += tests/check_balance
TESTS += tests/check_balance
endif
tests_check_balance_SOURCES = tests/check_balance.c
tests_check_balance_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_balance_LDADD = worker/libworker.a common/libcommon.a \
	$(LIBEVENT_LIBS) $(JSONC_LIBS) $(CHECK_LIBS)

if HAVE_CHECK
check_PROGRAMS += tests/check_health
TESTS += tests/check_health
endif
tests_check_health_SOURCES = tests/check_health.c
tests_check_health_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_health_LDADD = $(MANTRID_LIBS) $(CHECK_LIBS)

TESTS += tests/test_pool.py
EXTRA_DIST += tests/test_pool.py

# tests/local.mk: the foundation's tests (lead). Other owners add theirs
# in their own fragments.
EXTRA_DIST += tests/harness.py tests/backend.py tests/run-all.sh .ci/run init/demo.sh

check_PROGRAMS += tests/check_conf tests/check_priv
TESTS += tests/check_conf tests/check_priv
tests_check_conf_SOURCES = tests/check_conf.c
tests_check_conf_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_conf_LDADD = common/libcommon.a $(CHECK_LIBS)
tests_check_priv_SOURCES = tests/check_priv.c
tests_check_priv_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_priv_LDADD = master/libmaster.a $(MANTRID_LIBS) $(CHECK_LIBS)

dist_check_SCRIPTS += tests/test_daemon.py tests/test_config.py tests/test_man.sh
TESTS += tests/test_daemon.py tests/test_config.py tests/test_man.sh

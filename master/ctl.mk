# master/ctl.mk: the control plane (issue 6): control socket, REST API,
# the shared command code, durable state file and journal.
master_libmaster_a_SOURCES += \
	master/master_cmd.h master/master_cmd.c \
	master/master_backends.h \
	master/master_ctl.h master/master_ctl.c \
	master/master_rest.h master/master_rest.c \
	master/master_state.h master/master_state.c master/master_state_load.c \
	master/master_journal.h master/master_journal.c

# Tests of the control plane (issue 6).
if HAVE_CHECK
check_PROGRAMS += tests/check_rule tests/check_cmd tests/check_state
TESTS += tests/check_rule tests/check_cmd tests/check_state
endif
tests_check_rule_SOURCES = tests/check_rule.c
tests_check_rule_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_rule_LDADD = common/libcommon.a $(JSONC_LIBS) $(CHECK_LIBS)
tests_check_cmd_SOURCES = tests/check_cmd.c
tests_check_cmd_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_cmd_LDADD = common/libcommon.a $(JSONC_LIBS) $(CHECK_LIBS)
tests_check_state_SOURCES = tests/check_state.c
tests_check_state_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_state_LDADD = $(MANTRID_LIBS) $(CHECK_LIBS)

TESTS += tests/test_rest.py tests/test_mantridctl.py tests/test_state.py
EXTRA_DIST += tests/test_rest.py tests/test_mantridctl.py \
	tests/test_state.py tests/fixtures/mantrid-state.json

# ctl/local.mk: mantridctl, the command-line client (issue 6). It links
# only common/: what it shares with the daemon is the command table and
# the control protocol.
bin_PROGRAMS += mantridctl
mantridctl_SOURCES = ctl/ctl.h ctl/mantridctl.c ctl/ctl_transport.c
mantridctl_LDADD = $(COMMON_LIBS)

dist_man_MANS += man/mantridctl.1

# Regenerate the man page's command list from common/cmd.h's table.
man-commands: mantridctl
	{ sed '/^\.\\" generated: begin/q' $(srcdir)/man/mantridctl.1; \
	  ./mantridctl --man-commands; \
	  sed -n '/^\.\\" generated: end/,$$p' $(srcdir)/man/mantridctl.1; \
	} > man/mantridctl.1.tmp && mv man/mantridctl.1.tmp $(srcdir)/man/mantridctl.1
.PHONY: man-commands

# bench/bench_control: durable sets per second over the control socket
# (driven by bench/bench_control.py; results in bench/RESULTS.md).
noinst_PROGRAMS += bench/bench_control
bench_bench_control_SOURCES = bench/bench_control.c
bench_bench_control_LDADD = -lpthread
EXTRA_DIST += bench/bench_control.py

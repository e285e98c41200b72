# init/local.mk: running mantrid as a service (operations).  Installs the
# init script, the systemd unit, the logrotate file, /etc/default/mantrid,
# the sample config and the static pages; mantrid-prepare and adduser.sh.
#
# The sources carry Debian's paths (/usr/sbin, /etc, /var, /run) so they
# read as installed; `make install` rewrites them for the configured
# directories with $(init_edit).  Config files (mantrid.conf, static pages,
# /etc/default/mantrid, logrotate) are never overwritten; `make uninstall`
# removes them only when unmodified.  /var/lib/mantrid and /run/mantrid
# are made at start by the init script or systemd, not here.

initddir = $(sysconfdir)/init.d
initdefaultdir = $(sysconfdir)/default
logrotatedir = $(sysconfdir)/logrotate.d
# Override on the command line, e.g. make systemdsystemunitdir=/lib/systemd/system
systemdsystemunitdir = $(prefix)/lib/systemd/system
mantridconfdir = $(sysconfdir)/mantrid
mantridstaticdir = $(mantridconfdir)/static
mantridlibexecdir = $(libexecdir)/mantrid

dist_pkgdata_SCRIPTS = init/adduser.sh

init_static = etc/static/no-hosts.http etc/static/unknown.http \
	etc/static/timeout.http etc/static/test.http

EXTRA_DIST += init/mantrid init/mantrid-prepare init/mantrid.service \
	init/mantrid.logrotate init/mantrid.default etc/mantrid.conf \
	$(init_static) tests/test_init.sh

TESTS += tests/test_init.sh

# one temporary per target: install-exec and install-data run in parallel
CLEANFILES += init/exec.inst init/data.inst

init_edit = sed \
	-e 's|/usr/sbin/mantrid|$(sbindir)/mantrid|g' \
	-e 's|/usr/bin/mantridctl|$(bindir)/mantridctl|g' \
	-e 's|/usr/libexec/mantrid|$(mantridlibexecdir)|g' \
	-e 's|/usr/share/mantrid|$(pkgdatadir)|g' \
	-e 's|/etc/mantrid|$(mantridconfdir)|g' \
	-e 's|/etc/default/mantrid|$(initdefaultdir)/mantrid|g' \
	-e 's|/etc/init.d/mantrid|$(initddir)/mantrid|g' \
	-e 's|/var/lib/mantrid|$(localstatedir)/lib/mantrid|g' \
	-e 's|/var/log/mantrid|$(localstatedir)/log/mantrid|g' \
	-e 's|/run/mantrid|$(runstatedir)/mantrid|g'

# source:destination, installed only where the destination is missing
init_conffiles = \
	etc/mantrid.conf:$(mantridconfdir)/mantrid.conf \
	init/mantrid.default:$(initdefaultdir)/mantrid \
	init/mantrid.logrotate:$(logrotatedir)/mantrid \
	etc/static/no-hosts.http:$(mantridstaticdir)/no-hosts.http \
	etc/static/unknown.http:$(mantridstaticdir)/unknown.http \
	etc/static/timeout.http:$(mantridstaticdir)/timeout.http \
	etc/static/test.http:$(mantridstaticdir)/test.http

# Code, replaced on every install: source:destination:mode
init_programs = \
	init/mantrid:$(initddir)/mantrid:755 \
	init/mantrid-prepare:$(mantridlibexecdir)/mantrid-prepare:755 \
	init/mantrid.service:$(systemdsystemunitdir)/mantrid.service:644

install-data-local: init-install-data
install-exec-local: init-install-exec
uninstall-local: init-uninstall

init-install-exec:
	@$(NORMAL_INSTALL)
	@set -e; $(MKDIR_P) init '$(DESTDIR)$(mantridlibexecdir)' \
	    '$(DESTDIR)$(initddir)' '$(DESTDIR)$(systemdsystemunitdir)'; \
	for t in $(init_programs); do \
	  src=$${t%%:*}; rest=$${t#*:}; dst=$${rest%:*}; mode=$${rest##*:}; \
	  $(init_edit) '$(srcdir)/'"$$src" > init/exec.inst; \
	  echo " install -m $$mode $$src '$(DESTDIR)$$dst'"; \
	  $(INSTALL) -m "$$mode" init/exec.inst '$(DESTDIR)'"$$dst"; \
	done; rm -f init/exec.inst

init-install-data:
	@$(NORMAL_INSTALL)
	@set -e; $(MKDIR_P) init '$(DESTDIR)$(mantridstaticdir)' \
	    '$(DESTDIR)$(initdefaultdir)' '$(DESTDIR)$(logrotatedir)'; \
	for t in $(init_conffiles); do \
	  src=$${t%%:*}; dst='$(DESTDIR)'$${t#*:}; \
	  if test -e "$$dst"; then \
	    echo " $$dst exists: kept, not overwritten"; continue; \
	  fi; \
	  $(init_edit) '$(srcdir)/'"$$src" > init/data.inst; \
	  echo " install -m 644 $$src '$$dst'"; \
	  $(INSTALL_DATA) init/data.inst "$$dst"; \
	done; rm -f init/data.inst

init-uninstall:
	@$(NORMAL_UNINSTALL)
	@for t in $(init_programs); do \
	  rest=$${t#*:}; dst='$(DESTDIR)'$${rest%:*}; \
	  echo " rm -f '$$dst'"; rm -f "$$dst"; \
	done
	@for t in $(init_conffiles); do \
	  src=$${t%%:*}; dst='$(DESTDIR)'$${t#*:}; \
	  test -f "$$dst" || continue; \
	  if $(init_edit) '$(srcdir)/'"$$src" | cmp -s - "$$dst"; then \
	    echo " rm -f '$$dst'"; rm -f "$$dst"; \
	  else \
	    echo " $$dst was modified: kept"; \
	  fi; \
	done
	@for d in '$(DESTDIR)$(mantridstaticdir)' '$(DESTDIR)$(mantridconfdir)' \
	    '$(DESTDIR)$(mantridlibexecdir)'; do \
	  rmdir "$$d" 2>/dev/null || :; \
	done

.PHONY: init-install-exec init-install-data init-uninstall

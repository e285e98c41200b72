# master/local.mk: the daemon's start-up, children and privileges (lead).
master_libmaster_a_SOURCES += \
	master/master.h master/master.c \
	master/master_priv.h master/master_priv.c \
	master/master_child.c \
	master/master_bind.c \
	master/master_signal.c

sbin_PROGRAMS += mantrid
mantrid_SOURCES = master/main.c
mantrid_LDADD = $(MANTRID_LIBS)

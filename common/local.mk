# common/local.mk: what crosses a process boundary (base part).
common_libcommon_a_SOURCES += \
	common/log.h common/log.c \
	common/config-t.h common/conf.h common/conf.c \
	common/addr.h common/addr.c \
	common/channel.h common/channel.c \
	common/heritage.h \
	common/rule-t.h common/ruledb-t.h common/ruledb.h

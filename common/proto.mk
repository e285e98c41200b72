# common/proto.mk: the rule model's JSON side and the control protocol
# (control plane, issue 6).
common_libcommon_a_SOURCES += \
	common/rule.h common/rule_int.h common/rule.c common/rule_backend.c \
	common/cmd.h \
	common/ctlproto.h common/ctlproto.c

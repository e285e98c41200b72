/*
 * cmd.h: the one table of control commands (Varnish cli_cmds.h style).
 * Each X() row names a command once; from it are generated the master's
 * dispatch (master/master_cmd.c), mantridctl's parser and --help
 * (ctl/mantridctl.c), the argument checks of the control protocol
 * (common/ctlproto.c) and the man page command list
 * (`mantridctl --man-commands`).
 *
 * X(id, ctlname, flags, args, usage, help)
 *	id	protocol name ("cmd" field) and handler cmd_<id>()
 *	ctlname	mantridctl's word for it
 *	flags	CMD_F_*
 *	args	argument spec: space separated "name:T" with T one of
 *		s string, i integer, b bool, o object, a any JSON value;
 *		a trailing '?' makes the argument optional
 *	usage	mantridctl synopsis after the program name
 *	help	one line of help
 */
#ifndef MANTRID_CMD_H
#define MANTRID_CMD_H

#include <stddef.h>

#define CMD_F_MASTER	0x01	/* the master handles it (protocol) */
#define CMD_F_CTL	0x02	/* mantridctl offers it */
#define CMD_F_MUTATION	0x04	/* changes rules: durable before the reply */
#define CMD_F_BOTH	(CMD_F_MASTER | CMD_F_CTL)

#define CMD_TABLE(X)							\
	X(list, "list", CMD_F_BOTH, "",					\
	    "list",							\
	    "List all hosts with their action and subdomain flag")	\
	X(get, "get", CMD_F_BOTH, "host:s",				\
	    "get HOST",							\
	    "Show the rule of HOST as [action, kwargs, subdomains]")	\
	X(set, "set", CMD_F_BOTH | CMD_F_MUTATION,			\
	    "host:s rule:a if_match:i?",				\
	    "set HOST ACTION true|false [KEY=VALUE ...]",		\
	    "Add or replace the rule of HOST")				\
	X(set_all, "import", CMD_F_BOTH | CMD_F_MUTATION,		\
	    "hosts:o if_match:i?",					\
	    "import FILE",						\
	    "Replace all rules at once with FILE's (- for stdin)")	\
	X(delete, "delete", CMD_F_BOTH | CMD_F_MUTATION,		\
	    "host:s if_match:i?",					\
	    "delete HOST",						\
	    "Delete the rule of HOST and its statistics")		\
	X(stats, "stats", CMD_F_BOTH, "host:s?",			\
	    "stats [HOST]",						\
	    "Show request and byte counters, of all hosts or of HOST")	\
	X(info, "info", CMD_F_BOTH, "",					\
	    "info",							\
	    "Show version, pid, workers, generation, uptime, rules")	\
	X(save, "save", CMD_F_BOTH, "",					\
	    "save",							\
	    "Write the state file now (fold the journal)")		\
	X(backends, "backends", CMD_F_BOTH, "",				\
	    "backends",							\
	    "List backends with health, weight and counters")		\
	X(backend_get, "backend", CMD_F_BOTH, "address:s",		\
	    "backend ADDRESS",						\
	    "Show one backend")						\
	X(backend_enable, "enable", CMD_F_BOTH,				\
	    "address:s if_match:i?",					\
	    "enable ADDRESS",						\
	    "Put a disabled or draining backend back in service")	\
	X(backend_disable, "disable", CMD_F_BOTH,			\
	    "address:s if_match:i?",					\
	    "disable ADDRESS",						\
	    "Take a backend out of service at once")			\
	X(backend_drain, "drain", CMD_F_BOTH,				\
	    "address:s drain:b? if_match:i?",				\
	    "drain ADDRESS [false]",					\
	    "Send no new requests to a backend; let open ones finish "	\
	    "(false: end a drain, nothing else)")			\
	X(backend_weight, "weight", CMD_F_BOTH,				\
	    "address:s weight:i if_match:i?",				\
	    "weight ADDRESS N",						\
	    "Override a backend's weight (0 = back to the rule's)")	\
	X(export, "export", CMD_F_BOTH, "",				\
	    "export",							\
	    "Print all rules as JSON (input for import)")

enum cmd_id {
#define CMD_ENUM(id, ctl, fl, args, usage, help) CMD_##id,
	CMD_TABLE(CMD_ENUM)
#undef CMD_ENUM
	CMD_COUNT
};

struct cmd_def {
	enum cmd_id	 id;
	const char	*name;		/* protocol name */
	const char	*ctlname;
	unsigned	 flags;
	const char	*args;
	const char	*usage;
	const char	*help;
};

/* Result of a command; the REST layer maps it to an HTTP status. */
enum cmd_status {
	CMD_OK = 0,
	CMD_EINVAL,		/* 400: bad input, nothing changed */
	CMD_ENOTFOUND,		/* 404 */
	CMD_EPRECOND,		/* 412: if_match differs, nothing changed */
	CMD_ETOOBIG,		/* 413 */
	CMD_ENOSPC,		/* 507: rule memory full, nothing changed */
	CMD_EIO,		/* 500: e.g. the journal could not be written */
	CMD_ENOTIMPL		/* 501: handler not linked in */
};

extern const struct cmd_def cmd_defs[CMD_COUNT];

const struct cmd_def *cmd_find(const char *name);	/* protocol name */
const struct cmd_def *cmd_find_ctl(const char *ctlname);
const char	*cmd_status_name(enum cmd_status);

#endif

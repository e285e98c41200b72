/*
 * rule-t.h: the rule model (types only). A rule is Mantrid's triple
 * [action, kwargs, match_subdomains]. struct rule is the parsed form the
 * master builds from JSON (common/rule.c) and hands to the rule database,
 * which compiles it into an immutable shared-memory record (ruledb-t.h).
 */
#ifndef MANTRID_RULE_T_H
#define MANTRID_RULE_T_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/socket.h>

#define RULE_HOST_MAX   255	/* DNS name limit; keys may add "https://" */
#define RULE_KEY_MAX    (RULE_HOST_MAX + 8)
#define RULE_ADDR_MAX   64	/* "[v6]:port" or "host:port" as given */
#define RULE_STR_MAX    2048	/* type, redirect_to, target url */
#define RULE_BACKENDS_MAX 256

enum rule_action {
	RULE_PROXY = 0,
	RULE_SPIN,
	RULE_STATIC,
	RULE_REDIRECT,
	RULE_EMPTY,
	RULE_UNKNOWN,
	RULE_NO_HOSTS,
	RULE_ACTION_COUNT
};

enum rule_algo {
	ALGO_RANDOM = 0,
	ALGO_ROUNDROBIN,
	ALGO_WEIGHTED_RANDOM,
	ALGO_LEASTCONN,
	ALGO_P2C,
	ALGO_IPHASH,
	ALGO_COUNT
};

/* A backend (proxy) or a redirect target, as the master resolved it. */
struct rule_backend {
	char			 addr[RULE_ADDR_MAX];	/* canonical "host:port" */
	struct sockaddr_storage	 ss;			/* resolved at set time */
	socklen_t		 sslen;
	uint32_t		 weight;		/* default 1; 0 = none */
	bool			 enabled;		/* default true */
	char			*url;			/* redirect target only */
};

struct rule {
	enum rule_action	 action;
	bool			 subdomains;

	/* proxy */
	struct rule_backend	*backends;	/* also redirect targets */
	size_t			 nbackends;
	uint32_t		 attempts;	/* default 1 */
	uint32_t		 delay_ms;	/* between attempts, default 1000 */
	enum rule_algo		 algorithm;
	bool			 hold_when_down;

	/* spin; also hold_when_down's limit */
	uint32_t		 timeout_s;	/* default 120 */

	/* static: type; redirect: redirect_to */
	char			*str;

	/* empty */
	uint32_t		 code;

	/* The kwargs object exactly as stored and shown by GET/list
	 * (canonical JSON text, e.g. {"backends":["127.0.0.1:8000"]}). */
	char			*kwargs_json;
};

#endif

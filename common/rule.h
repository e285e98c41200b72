/*
 * rule.h: JSON <-> struct rule (the rule model's functions; types in
 * rule-t.h). Parsing validates every action's kwargs and, when asked,
 * resolves backend names; it never calls fatal(): errors come back as
 * an enum plus a message in the caller's buffer, the message being the
 * REST/control error string (Mantrid's names where it had them, e.g.
 * "host_action_invalid:foo").
 */
#ifndef MANTRID_RULE_H
#define MANTRID_RULE_H

#include <stdbool.h>
#include <stddef.h>

#include "rule-t.h"
#include "ruledb-t.h"

struct json_object;

enum rule_perr {
	RULE_OK = 0,
	RULE_EINVAL,		/* malformed or out of range */
	RULE_ERESOLVE,		/* a backend name does not resolve */
	RULE_ENOMEM
};

/* rule_parse() flags */
#define RULE_P_RESOLVE	0x01	/* getaddrinfo() every backend (master) */
#define RULE_P_LENIENT	0x02	/* unresolvable backend: keep it, sslen 0 */

/*
 * Parse Mantrid's triple [action, kwargs, match_subdomains] into *out,
 * which the caller frees with rule_free() on RULE_OK (on error nothing
 * needs freeing). out->kwargs_json is the kwargs object as given,
 * serialized compactly, so GET returns what was PUT.
 */
enum rule_perr	 rule_parse(struct json_object *triple, int flags,
		    struct rule *out, char *err, size_t errlen);
void		 rule_free(struct rule *);

/*
 * Check a hostname key (a DNS name, or "http://" / "https://" + name) and
 * write its canonical form (lower case, no trailing dot) to key.
 */
enum rule_perr	 rule_key_check(const char *host, char *key, size_t keylen,
		    char *err, size_t errlen);

/* [action, kwargs, subdomains] of a published record (new reference). */
struct json_object *rule_rec_to_json(const struct rule_rec *);

const char	*rule_action_name(enum rule_action);
int		 rule_action_lookup(const char *);	/* -1 if none */
const char	*rule_algo_name(enum rule_algo);
int		 rule_algo_lookup(const char *);	/* -1 if none */

#endif

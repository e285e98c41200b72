/*
 * rule.c: the rule model's JSON side. Turns Mantrid's triple
 * [action, kwargs, match_subdomains] into a validated struct rule (every
 * action's kwargs checked against one table; backends and redirect
 * targets are rule_backend.c's), checks host keys, and turns a published
 * record back into JSON.
 *
 * Numbers may come as JSON numbers or as decimal strings: mantrid-client
 * sends every option as a string ("attempts": "3", ["1.2.3.4", "8000"]),
 * and Mantrid accepted that by calling int() on them.
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "rule.h"
#include "rule_int.h"

#define KW_SERIALIZE	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define ATTEMPTS_MAX	100
#define TIMEOUT_MAX	86400
#define DELAY_MAX_MS	3600000u
#define TYPE_MAX	64

static const char *const action_names[RULE_ACTION_COUNT] = {
	[RULE_PROXY] = "proxy",
	[RULE_SPIN] = "spin",
	[RULE_STATIC] = "static",
	[RULE_REDIRECT] = "redirect",
	[RULE_EMPTY] = "empty",
	[RULE_UNKNOWN] = "unknown",
	[RULE_NO_HOSTS] = "no_hosts",
};

static const char *const algo_names[ALGO_COUNT] = {
	[ALGO_RANDOM] = "random",
	[ALGO_ROUNDROBIN] = "roundrobin",
	[ALGO_WEIGHTED_RANDOM] = "weighted_random",
	[ALGO_LEASTCONN] = "leastconn",
	[ALGO_P2C] = "p2c",
	[ALGO_IPHASH] = "iphash",
};

const char *
rule_action_name(enum rule_action a)
{
	return (unsigned)a < RULE_ACTION_COUNT ? action_names[a] : "?";
}

/* Mantrid's actions, no_hosts included (DESIGN.md, Rules; its later
 * action_mapping took it too): it serves the no-hosts page. */
int
rule_action_lookup(const char *s)
{
	int i;

	for (i = 0; i < RULE_ACTION_COUNT; i++)
		if (strcmp(s, action_names[i]) == 0)
			return i;
	return -1;
}

const char *
rule_algo_name(enum rule_algo a)
{
	return (unsigned)a < ALGO_COUNT ? algo_names[a] : "?";
}

int
rule_algo_lookup(const char *s)
{
	int i;

	for (i = 0; i < ALGO_COUNT; i++)
		if (strcmp(s, algo_names[i]) == 0)
			return i;
	return -1;
}

enum rule_perr
rule_fail(char *err, size_t errlen, enum rule_perr e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return e;
}

/* ---- scalars ---------------------------------------------------------- */

/* A non-negative integer from a JSON int or a decimal string. */
int
rule_json_uint(struct json_object *o, unsigned long long max, unsigned long long *v)
{
	const char *s;
	char *end;
	int64_t i;

	if (json_object_is_type(o, json_type_int)) {
		i = json_object_get_int64(o);
		if (i < 0 || (unsigned long long)i > max)
			return -1;
		*v = (unsigned long long)i;
		return 0;
	}
	if (!json_object_is_type(o, json_type_string))
		return -1;
	s = json_object_get_string(o);
	if (*s == '\0' || strspn(s, "0123456789") != strlen(s) ||
	    strlen(s) > 19)
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno != 0 || *v > max ? -1 : 0;
}

/* Seconds (int, float or string) -> milliseconds. */
static int
json_seconds_ms(struct json_object *o, uint32_t max_ms, uint32_t *ms)
{
	const char *s;
	char *end;
	double d;

	if (json_object_is_type(o, json_type_int) ||
	    json_object_is_type(o, json_type_double))
		d = json_object_get_double(o);
	else if (json_object_is_type(o, json_type_string)) {
		s = json_object_get_string(o);
		errno = 0;
		d = strtod(s, &end);
		if (*s == '\0' || *end != '\0' || errno != 0)
			return -1;
	} else
		return -1;
	if (!(d >= 0) || d * 1000.0 > max_ms)
		return -1;
	*ms = (uint32_t)(d * 1000.0 + 0.5);
	return 0;
}

/* A bool, or Mantrid-client's "true"/"false" strings. */
int
rule_json_boolish(struct json_object *o, bool *b)
{
	const char *s;

	if (json_object_is_type(o, json_type_boolean)) {
		*b = json_object_get_boolean(o);
		return 0;
	}
	if (!json_object_is_type(o, json_type_string))
		return -1;
	s = json_object_get_string(o);
	if (strcasecmp(s, "true") == 0)
		*b = true;
	else if (strcasecmp(s, "false") == 0)
		*b = false;
	else
		return -1;
	return 0;
}

/* No control characters: the string ends up in a header or a path. */
int
rule_safe_text(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return -1;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return -1;
	return 0;
}

/* ---- host names ------------------------------------------------------- */

static int
dns_name_ok(const char *s, size_t n)
{
	size_t label = 0, i;

	if (n == 0 || n > 253)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!isalnum(c) && c != '-' && c != '_')
			return 0;
		if (c == '-' && label == 0)
			return 0;
		if (++label > 63)
			return 0;
	}
	return s[n - 1] != '-';
}

/* "[v6]": an IPv6 literal, as a Host header names one ("[::1]:8080"). */
static bool
v6_literal_ok(const char *s, size_t n)
{
	char buf[INET6_ADDRSTRLEN];
	struct in6_addr a;

	if (n < 4 || n - 2 >= sizeof(buf) || s[0] != '[' || s[n - 1] != ']')
		return false;
	memcpy(buf, s + 1, n - 2);
	buf[n - 2] = '\0';
	return inet_pton(AF_INET6, buf, &a) == 1;
}

enum rule_perr
rule_key_check(const char *host, char *key, size_t keylen, char *err,
    size_t errlen)
{
	const char *name = host;
	size_t plen = 0, n, i;

	if (strncasecmp(host, "http://", 7) == 0)
		plen = 7;
	else if (strncasecmp(host, "https://", 8) == 0)
		plen = 8;
	name = host + plen;
	n = strlen(name);
	if (n > 0 && name[n - 1] == '.')
		n--;
	if (!(dns_name_ok(name, n) || v6_literal_ok(name, n)) ||
	    plen + n + 1 > keylen || n > RULE_HOST_MAX)
		return rule_fail(err, errlen, RULE_EINVAL, "hostname_invalid");
	for (i = 0; i < plen + n; i++)
		key[i] = (char)tolower((unsigned char)host[i]);
	key[plen + n] = '\0';
	return RULE_OK;
}

/* ---- kwargs, one table row per (action, key) --------------------------- */

struct kwarg {
	unsigned	 actions;	/* bit per enum rule_action */
	const char	*name;
	enum rule_perr	(*parse)(struct rule *, struct json_object *, int,
			    char *, size_t);
	bool		 required;
};

#define A(x)	(1u << (x))

static enum rule_perr
kw_invalid(const char *k, const char *why, char *err, size_t errlen)
{
	return rule_fail(err, errlen, RULE_EINVAL, "host_kwarg_invalid:%s:%s", k,
	    why);
}

static enum rule_perr
kw_backends(struct rule *r, struct json_object *v, int flags, char *err,
    size_t errlen)
{
	return rule_backends_parse(r, v, false, flags, err, errlen);
}

static enum rule_perr
kw_targets(struct rule *r, struct json_object *v, int flags, char *err,
    size_t errlen)
{
	return rule_backends_parse(r, v, true, flags, err, errlen);
}

static enum rule_perr
kw_attempts(struct rule *r, struct json_object *v, int flags, char *err,
    size_t errlen)
{
	unsigned long long n;

	if (rule_json_uint(v, ATTEMPTS_MAX, &n) == -1 || n == 0)
		return kw_invalid("attempts", "must be 1-100", err, errlen);
	r->attempts = (uint32_t)n;
	return RULE_OK;
}

static enum rule_perr
kw_delay(struct rule *r, struct json_object *v, int flags, char *err,
    size_t errlen)
{
	if (json_seconds_ms(v, DELAY_MAX_MS, &r->delay_ms) == -1)
		return kw_invalid("delay", "must be 0-3600 seconds", err,
		    errlen);
	return RULE_OK;
}

static enum rule_perr
kw_algorithm(struct rule *r, struct json_object *v, int flags, char *err,
    size_t errlen)
{
	int a;

	if (!json_object_is_type(v, json_type_string) ||
	    (a = rule_algo_lookup(json_object_get_string(v))) == -1)
		return kw_invalid("algorithm", "unknown algorithm", err,
		    errlen);
	r->algorithm = (enum rule_algo)a;
	return RULE_OK;
}

static enum rule_perr
kw_hold(struct rule *r, struct json_object *v, int flags, char *err,
    size_t errlen)
{
	if (rule_json_boolish(v, &r->hold_when_down) == -1)
		return kw_invalid("hold_when_down", "must be a bool", err,
		    errlen);
	return RULE_OK;
}

static enum rule_perr
kw_timeout(struct rule *r, struct json_object *v, int flags, char *err,
    size_t errlen)
{
	unsigned long long n;

	if (rule_json_uint(v, TIMEOUT_MAX, &n) == -1 || n == 0)
		return kw_invalid("timeout", "must be 1-86400 seconds", err,
		    errlen);
	r->timeout_s = (uint32_t)n;
	return RULE_OK;
}

/* Accepted for Mantrid's sake and ignored: release is event-driven. */
static enum rule_perr
kw_check_interval(struct rule *r, struct json_object *v, int flags, char *err,
    size_t errlen)
{
	unsigned long long n;

	if (rule_json_uint(v, TIMEOUT_MAX, &n) == -1 || n == 0)
		return kw_invalid("check_interval", "must be a positive integer",
		    err, errlen);
	return RULE_OK;
}

static enum rule_perr
kw_type(struct rule *r, struct json_object *v, int flags, char *err,
    size_t errlen)
{
	const char *s;

	/* NB: becomes a file name under static_dir: no '/', no leading dot. */
	if (!json_object_is_type(v, json_type_string) ||
	    (s = json_object_get_string(v))[0] == '\0' || s[0] == '.' ||
	    strlen(s) > TYPE_MAX ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") != strlen(s))
		return kw_invalid("type", "must be a name of [A-Za-z0-9._-]",
		    err, errlen);
	if ((r->str = strdup(s)) == NULL)
		return rule_fail(err, errlen, RULE_ENOMEM, "out of memory");
	return RULE_OK;
}

static enum rule_perr
kw_redirect_to(struct rule *r, struct json_object *v, int flags, char *err,
    size_t errlen)
{
	if (!json_object_is_type(v, json_type_string) ||
	    rule_safe_text(json_object_get_string(v), RULE_STR_MAX) == -1)
		return kw_invalid("redirect_to", "must be a URL or host", err,
		    errlen);
	if ((r->str = strdup(json_object_get_string(v))) == NULL)
		return rule_fail(err, errlen, RULE_ENOMEM, "out of memory");
	return RULE_OK;
}

static enum rule_perr
kw_code(struct rule *r, struct json_object *v, int flags, char *err,
    size_t errlen)
{
	unsigned long long n;

	/* NB: a 1xx is interim: the client would wait for the real answer. */
	if (rule_json_uint(v, 599, &n) == -1 || n < 200)
		return kw_invalid("code", "must be 200-599", err, errlen);
	r->code = (uint32_t)n;
	return RULE_OK;
}

static const struct kwarg kwargs_table[] = {
	{ A(RULE_PROXY), "backends", kw_backends, true },
	{ A(RULE_PROXY), "attempts", kw_attempts, false },
	{ A(RULE_PROXY), "delay", kw_delay, false },
	{ A(RULE_PROXY) | A(RULE_REDIRECT), "algorithm", kw_algorithm, false },
	{ A(RULE_PROXY), "hold_when_down", kw_hold, false },
	{ A(RULE_PROXY) | A(RULE_SPIN), "timeout", kw_timeout, false },
	{ A(RULE_SPIN), "check_interval", kw_check_interval, false },
	{ A(RULE_STATIC), "type", kw_type, true },
	{ A(RULE_REDIRECT), "redirect_to", kw_redirect_to, false },
	{ A(RULE_REDIRECT), "targets", kw_targets, false },
	{ A(RULE_EMPTY), "code", kw_code, true },
};

static const struct kwarg *
kwarg_find(enum rule_action a, const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(kwargs_table) / sizeof(kwargs_table[0]); i++)
		if ((kwargs_table[i].actions & A(a)) &&
		    strcmp(kwargs_table[i].name, name) == 0)
			return &kwargs_table[i];
	return NULL;
}

static enum rule_perr
kwargs_required(const struct rule *r, struct json_object *kw, char *err,
    size_t errlen)
{
	size_t i;

	for (i = 0; i < sizeof(kwargs_table) / sizeof(kwargs_table[0]); i++)
		if ((kwargs_table[i].actions & A(r->action)) &&
		    kwargs_table[i].required &&
		    !json_object_object_get_ex(kw, kwargs_table[i].name, NULL))
			return rule_fail(err, errlen, RULE_EINVAL,
			    "host_kwarg_missing:%s", kwargs_table[i].name);
	if (r->action == RULE_REDIRECT && r->str == NULL && r->nbackends == 0)
		return rule_fail(err, errlen, RULE_EINVAL,
		    "host_kwarg_missing:redirect_to");
	return RULE_OK;
}

static enum rule_perr
kwargs_parse(struct rule *r, struct json_object *kw, int flags, char *err,
    size_t errlen)
{
	const struct kwarg *k;
	enum rule_perr e;

	json_object_object_foreach(kw, name, v) {
		if ((k = kwarg_find(r->action, name)) == NULL)
			return rule_fail(err, errlen, RULE_EINVAL,
			    "host_kwarg_unknown:%s", name);
		if ((e = k->parse(r, v, flags, err, errlen)) != RULE_OK)
			return e;
	}
	return kwargs_required(r, kw, err, errlen);
}

/* ---- the triple ------------------------------------------------------- */

static enum rule_perr
triple_check(struct json_object *t, char *err, size_t errlen)
{
	struct json_object *a;

	if (!json_object_is_type(t, json_type_array))
		return rule_fail(err, errlen, RULE_EINVAL, "host_details_not_list");
	if (json_object_array_length(t) != 3)
		return rule_fail(err, errlen, RULE_EINVAL,
		    "host_details_wrong_length");
	a = json_object_array_get_idx(t, 0);
	if (!json_object_is_type(a, json_type_string) ||
	    rule_action_lookup(json_object_get_string(a)) == -1)
		return rule_fail(err, errlen, RULE_EINVAL, "host_action_invalid:%.64s",
		    json_object_is_type(a, json_type_string) ?
		    json_object_get_string(a) : a == NULL ? "null" :
		    json_object_to_json_string_ext(a, KW_SERIALIZE));
	if (!json_object_is_type(json_object_array_get_idx(t, 1),
	    json_type_object))
		return rule_fail(err, errlen, RULE_EINVAL, "host_kwargs_not_dict");
	if (!json_object_is_type(json_object_array_get_idx(t, 2),
	    json_type_boolean))
		return rule_fail(err, errlen, RULE_EINVAL,
		    "host_match_subdomains_not_bool");
	return RULE_OK;
}

enum rule_perr
rule_parse(struct json_object *t, int flags, struct rule *r, char *err,
    size_t errlen)
{
	struct json_object *kw;
	enum rule_perr e;

	memset(r, 0, sizeof(*r));
	if ((e = triple_check(t, err, errlen)) != RULE_OK)
		return e;
	r->action = (enum rule_action)rule_action_lookup(
	    json_object_get_string(json_object_array_get_idx(t, 0)));
	r->subdomains = json_object_get_boolean(json_object_array_get_idx(t, 2));
	r->attempts = 1;
	r->delay_ms = 1000;
	r->timeout_s = 120;
	r->algorithm = ALGO_RANDOM;
	kw = json_object_array_get_idx(t, 1);
	if ((e = kwargs_parse(r, kw, flags, err, errlen)) != RULE_OK) {
		rule_free(r);
		return e;
	}
	r->kwargs_json = strdup(json_object_to_json_string_ext(kw,
	    KW_SERIALIZE));
	if (r->kwargs_json == NULL) {
		rule_free(r);
		return rule_fail(err, errlen, RULE_ENOMEM, "out of memory");
	}
	return RULE_OK;
}

void
rule_free(struct rule *r)
{
	size_t i;

	for (i = 0; i < r->nbackends; i++)
		free(r->backends[i].url);
	free(r->backends);
	free(r->str);
	free(r->kwargs_json);
	memset(r, 0, sizeof(*r));
}

struct json_object *
rule_rec_to_json(const struct rule_rec *rec)
{
	struct json_object *t, *kw = NULL;

	if (rec->kwargs_len > 0)
		kw = json_tokener_parse(REC_STR(rec, rec->kwargs_off));
	if (kw == NULL)
		kw = json_object_new_object();
	t = json_object_new_array();
	json_object_array_add(t, json_object_new_string(
	    rule_action_name((enum rule_action)rec->action)));
	json_object_array_add(t, kw);
	json_object_array_add(t, json_object_new_boolean(rec->subdomains));
	return t;
}

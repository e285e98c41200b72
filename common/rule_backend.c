/*
 * rule_backend.c: the backends of a proxy rule and the targets of a
 * redirect rule, in every form Mantrid clients send ("host:port",
 * ["host", port], {"address": ..., "weight": n, "enabled": b}; targets as
 * URLs), checked, canonicalized ("host:port", "[v6]:port") and resolved
 * with getaddrinfo() when the master asks (RULE_P_RESOLVE).
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "rule.h"
#include "rule_int.h"

/* ---- backends --------------------------------------------------------- */

/* Split "host:port" / "[v6]:port" into host and port text. */
static int
split_hostport(const char *s, char *host, size_t hostlen, char *port,
    size_t portlen)
{
	const char *colon, *h = s;
	size_t hl;

	if (*s == '[') {
		colon = strchr(s, ']');
		if (colon == NULL || colon[1] != ':')
			return -1;
		h = s + 1;
		hl = (size_t)(colon - h);
		colon++;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || memchr(s, ':', (size_t)(colon - s)))
			return -1;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= hostlen || strlen(colon + 1) >= portlen)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	strcpy(port, colon + 1);
	return 0;
}

static int
port_ok(const char *p, unsigned *port)
{
	unsigned long v;

	if (*p == '\0' || strspn(p, "0123456789") != strlen(p) ||
	    strlen(p) > 5)
		return -1;
	v = strtoul(p, NULL, 10);
	if (v < 1 || v > 65535)
		return -1;
	*port = (unsigned)v;
	return 0;
}

/*
 * A dotted-quad IPv4 or a plain IPv6 address, as getaddrinfo() with
 * AI_NUMERICHOST would give it, without its cost (a few % of a set's CPU
 * in the master: hints, locale, allocation). Others (scope ids, inet_aton
 * forms like "127.1", names) go to getaddrinfo(). Returns 0 or -1.
 */
static int
backend_numeric(struct rule_backend *b, const char *host, unsigned port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&b->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&b->ss;

	memset(&b->ss, 0, sizeof(b->ss));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		b->sslen = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		b->sslen = sizeof(*sin6);
		return 0;
	}
	return -1;
}

static enum rule_perr
backend_resolve(struct rule_backend *b, const char *host, unsigned port,
    int flags, char *err, size_t errlen)
{
	struct addrinfo hints, *res;
	char portstr[8];
	int rc;

	if (!(flags & RULE_P_RESOLVE) || backend_numeric(b, host, port) == 0)
		return RULE_OK;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_NUMERICHOST;
	snprintf(portstr, sizeof(portstr), "%u", port);
	/* NB: numeric first; getaddrinfo() on a name reads /etc/hosts and
	 * may block on DNS, which is the master's loop stalling. */
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc == EAI_NONAME) {
		hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
		rc = getaddrinfo(host, portstr, &hints, &res);
	}
	if (rc != 0) {
		if (flags & RULE_P_LENIENT)
			return RULE_OK;
		return rule_fail(err, errlen, RULE_ERESOLVE,
		    "backend_unresolvable:%s", b->addr);
	}
	memcpy(&b->ss, res->ai_addr, res->ai_addrlen);
	b->sslen = res->ai_addrlen;
	freeaddrinfo(res);
	return RULE_OK;
}

/* Fill b from host text and port; addr becomes "host:port" or "[v6]:port". */
static enum rule_perr
backend_set(struct rule_backend *b, const char *host, const char *portstr,
    int flags, const char *what, char *err, size_t errlen)
{
	unsigned port;
	size_t i;
	int n;

	if (port_ok(portstr, &port) == -1)
		return rule_fail(err, errlen, RULE_EINVAL,
		    "host_kwarg_invalid:%s:port must be 1-65535", what);
	if (*host == '\0' || rule_safe_text(host, RULE_ADDR_MAX) == -1 ||
	    strpbrk(host, " /[]@"))
		return rule_fail(err, errlen, RULE_EINVAL,
		    "host_kwarg_invalid:%s:bad host", what);
	n = snprintf(b->addr, sizeof(b->addr), strchr(host, ':') ?
	    "[%s]:%u" : "%s:%u", host, port);
	if (n < 0 || (size_t)n >= sizeof(b->addr))
		return rule_fail(err, errlen, RULE_EINVAL,
		    "host_kwarg_invalid:%s:address too long", what);
	for (i = 0; b->addr[i]; i++)
		b->addr[i] = (char)tolower((unsigned char)b->addr[i]);
	return backend_resolve(b, host, port, flags, err, errlen);
}

static enum rule_perr
backend_from_string(struct rule_backend *b, const char *s, int flags,
    const char *what, char *err, size_t errlen)
{
	char host[RULE_ADDR_MAX], port[16];

	if (split_hostport(s, host, sizeof(host), port, sizeof(port)) == -1)
		return rule_fail(err, errlen, RULE_EINVAL,
		    "host_kwarg_invalid:%s:expected host:port", what);
	return backend_set(b, host, port, flags, what, err, errlen);
}

/* ["host", port] with port a number or a decimal string */
static enum rule_perr
backend_from_pair(struct rule_backend *b, struct json_object *a, int flags,
    const char *what, char *err, size_t errlen)
{
	struct json_object *h, *p;
	unsigned long long port;
	char portstr[24];

	if (json_object_array_length(a) != 2)
		return rule_fail(err, errlen, RULE_EINVAL,
		    "host_kwarg_invalid:%s:expected [host, port]", what);
	h = json_object_array_get_idx(a, 0);
	p = json_object_array_get_idx(a, 1);
	if (!json_object_is_type(h, json_type_string))
		return rule_fail(err, errlen, RULE_EINVAL,
		    "host_kwarg_invalid:%s:host must be a string", what);
	if (rule_json_uint(p, 65535, &port) == -1 || port == 0)
		return rule_fail(err, errlen, RULE_EINVAL,
		    "host_kwarg_invalid:%s:port must be 1-65535", what);
	snprintf(portstr, sizeof(portstr), "%llu", port);
	return backend_set(b, json_object_get_string(h), portstr, flags, what,
	    err, errlen);
}

static enum rule_perr
backend_options(struct rule_backend *b, struct json_object *o,
    const char *what, char *err, size_t errlen)
{
	struct json_object *v;
	unsigned long long w;

	if (json_object_object_get_ex(o, "weight", &v)) {
		if (rule_json_uint(v, RULE_WEIGHT_MAX, &w) == -1)
			return rule_fail(err, errlen, RULE_EINVAL,
			    "host_kwarg_invalid:%s:weight must be 0-%u", what,
			    RULE_WEIGHT_MAX);
		b->weight = (uint32_t)w;
	}
	if (json_object_object_get_ex(o, "enabled", &v) &&
	    rule_json_boolish(v, &b->enabled) == -1)
		return rule_fail(err, errlen, RULE_EINVAL,
		    "host_kwarg_invalid:%s:enabled must be a bool", what);
	json_object_object_foreach(o, k, val) {
		(void)val;
		if (strcmp(k, "address") && strcmp(k, "weight") &&
		    strcmp(k, "enabled") && strcmp(k, "url"))
			return rule_fail(err, errlen, RULE_EINVAL,
			    "host_kwarg_invalid:%s:unknown key %s", what, k);
	}
	return RULE_OK;
}

/* {"address": "host:port", "weight": N, "enabled": bool} */
static enum rule_perr
backend_from_object(struct rule_backend *b, struct json_object *o, int flags,
    const char *what, char *err, size_t errlen)
{
	struct json_object *a;
	enum rule_perr e;

	if (!json_object_object_get_ex(o, "address", &a) ||
	    !json_object_is_type(a, json_type_string))
		return rule_fail(err, errlen, RULE_EINVAL,
		    "host_kwarg_invalid:%s:address missing", what);
	if ((e = backend_options(b, o, what, err, errlen)) != RULE_OK)
		return e;
	return backend_from_string(b, json_object_get_string(a), flags, what,
	    err, errlen);
}

static enum rule_perr
backend_parse(struct rule_backend *b, struct json_object *v, int flags,
    char *err, size_t errlen)
{
	b->weight = 1;
	b->enabled = true;
	switch (json_object_get_type(v)) {
	case json_type_string:
		return backend_from_string(b, json_object_get_string(v),
		    flags, "backends", err, errlen);
	case json_type_array:
		return backend_from_pair(b, v, flags, "backends", err, errlen);
	case json_type_object:
		return backend_from_object(b, v, flags, "backends", err,
		    errlen);
	default:
		return rule_fail(err, errlen, RULE_EINVAL,
		    "host_kwarg_invalid:backends:bad entry");
	}
}

/* ---- redirect targets: "http://host[:port]/..." or {"url": ...} ------- */

static enum rule_perr
target_url(struct rule_backend *b, const char *url, int flags, char *err,
    size_t errlen)
{
	char hostport[RULE_ADDR_MAX + 8], host[RULE_ADDR_MAX], port[16];
	const char *p, *end;
	bool tls;

	if (rule_safe_text(url, RULE_STR_MAX) == -1)
		return rule_fail(err, errlen, RULE_EINVAL,
		    "host_kwarg_invalid:targets:bad url");
	tls = strncasecmp(url, "https://", 8) == 0;
	if (!tls && strncasecmp(url, "http://", 7) != 0)
		return rule_fail(err, errlen, RULE_EINVAL,
		    "host_kwarg_invalid:targets:url must be http(s)://");
	p = url + (tls ? 8 : 7);
	end = p + strcspn(p, "/?#");
	if (end == p || (size_t)(end - p) >= sizeof(hostport))
		return rule_fail(err, errlen, RULE_EINVAL,
		    "host_kwarg_invalid:targets:bad url host");
	memcpy(hostport, p, (size_t)(end - p));
	hostport[end - p] = '\0';
	if (split_hostport(hostport, host, sizeof(host), port,
	    sizeof(port)) == -1) {
		if (strlen(hostport) >= sizeof(host))
			return rule_fail(err, errlen, RULE_EINVAL,
			    "host_kwarg_invalid:targets:bad url host");
		strcpy(host, hostport);
		strcpy(port, tls ? "443" : "80");
	}
	if ((b->url = strdup(url)) == NULL)
		return rule_fail(err, errlen, RULE_ENOMEM, "out of memory");
	return backend_set(b, host, port, flags, "targets", err, errlen);
}

static enum rule_perr
target_parse(struct rule_backend *b, struct json_object *v, int flags,
    char *err, size_t errlen)
{
	struct json_object *u;
	enum rule_perr e;

	b->weight = 1;
	b->enabled = true;
	if (json_object_is_type(v, json_type_string))
		return target_url(b, json_object_get_string(v), flags, err,
		    errlen);
	if (!json_object_is_type(v, json_type_object) ||
	    !json_object_object_get_ex(v, "url", &u) ||
	    !json_object_is_type(u, json_type_string))
		return rule_fail(err, errlen, RULE_EINVAL,
		    "host_kwarg_invalid:targets:expected url or {\"url\": ...}");
	if ((e = backend_options(b, v, "targets", err, errlen)) != RULE_OK)
		return e;
	return target_url(b, json_object_get_string(u), flags, err, errlen);
}

typedef enum rule_perr (*entry_fn)(struct rule_backend *, struct json_object *,
    int, char *, size_t);

enum rule_perr
rule_backends_parse(struct rule *r, struct json_object *v, bool targets,
    int flags, char *err, size_t errlen)
{
	const char *what = targets ? "targets" : "backends";
	entry_fn fn = targets ? target_parse : backend_parse;
	size_t i, n;
	enum rule_perr e;

	if (!json_object_is_type(v, json_type_array) ||
	    (n = json_object_array_length(v)) == 0)
		return rule_fail(err, errlen, RULE_EINVAL,
		    "host_kwarg_invalid:%s:must be a non-empty list", what);
	if (n > RULE_BACKENDS_MAX)
		return rule_fail(err, errlen, RULE_EINVAL,
		    "host_kwarg_invalid:%s:more than %d", what,
		    RULE_BACKENDS_MAX);
	if (r->backends != NULL)
		return rule_fail(err, errlen, RULE_EINVAL,
		    "host_kwarg_invalid:%s:backends and targets both given",
		    what);
	if ((r->backends = calloc(n, sizeof(*r->backends))) == NULL)
		return rule_fail(err, errlen, RULE_ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		r->nbackends = i + 1;
		e = fn(&r->backends[i], json_object_array_get_idx(v, i),
		    flags, err, errlen);
		if (e != RULE_OK)
			return e;
	}
	return RULE_OK;
}

/*
 * addr.c: parse and print listening addresses. Numeric forms only (plus
 * "*" and "localhost"): a bind address that needs DNS at start-up is a
 * boot-order hazard, and HAProxy users expect numeric binds anyway.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

static int
parse_port(const char *s, int *port)
{
	char *end;
	long v;

	if (*s == '\0' || strspn(s, "0123456789") != strlen(s))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || v < 1 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

static void
set_v4(struct sockaddr_storage *ss, socklen_t *len, const struct in_addr *a,
    int port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	sin->sin_addr = *a;
	*len = sizeof(*sin);
}

static void
set_v6(struct sockaddr_storage *ss, socklen_t *len, const struct in6_addr *a,
    int port)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	sin6->sin6_addr = *a;
	*len = sizeof(*sin6);
}

/* Split "host:port", "[v6]:port", "host", "[v6]" or "port". */
static int
split_hostport(const char *s, char *host, size_t hostlen, const char **port)
{
	const char *colon;
	size_t n;

	*port = NULL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL)
			return -1;
		n = close - s - 1;
		if (close[1] == ':')
			*port = close + 2;
		else if (close[1] != '\0')
			return -1;
		s++;
	} else if (strspn(s, "0123456789") == strlen(s)) {
		/* a bare port */
		*port = s;
		n = 1;
		s = "*";
	} else {
		colon = strchr(s, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL)
			return -1;	/* unbracketed IPv6 */
		n = colon ? (size_t)(colon - s) : strlen(s);
		if (colon)
			*port = colon + 1;
	}
	if (n == 0 || n >= hostlen)
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	return 0;
}

enum addr_err
addr_parse_bind(const char *s, int default_port,
    struct sockaddr_storage out[2], socklen_t outlen[2], size_t *n,
    char *err, size_t errlen)
{
	char host[64];
	const char *portstr;
	struct in_addr a4;
	struct in6_addr a6;
	int port = default_port;

	*n = 0;
	if (split_hostport(s, host, sizeof(host), &portstr) == -1) {
		snprintf(err, errlen, "bad address \"%s\" (expected "
		    "ADDR:PORT, [IPV6]:PORT or *:PORT)", s);
		return ADDR_EINVAL;
	}
	if (portstr != NULL && parse_port(portstr, &port) == -1) {
		snprintf(err, errlen, "bad port in \"%s\" (1-65535)", s);
		return ADDR_EINVAL;
	}
	if (strcmp(host, "*") == 0 || strcmp(host, "localhost") == 0) {
		int any = host[0] == '*';
		a4.s_addr = htonl(any ? INADDR_ANY : INADDR_LOOPBACK);
		set_v4(&out[0], &outlen[0], &a4, port);
		set_v6(&out[1], &outlen[1], any ? &in6addr_any :
		    &in6addr_loopback, port);
		*n = 2;
	} else if (inet_pton(AF_INET, host, &a4) == 1 && s[0] != '[') {
		set_v4(&out[0], &outlen[0], &a4, port);
		*n = 1;
	} else if (inet_pton(AF_INET6, host, &a6) == 1 && s[0] == '[') {
		set_v6(&out[0], &outlen[0], &a6, port);
		*n = 1;
	} else {
		snprintf(err, errlen, "bad address \"%s\" (numeric IPv4, "
		    "[IPv6], * or localhost)", s);
		return ADDR_EINVAL;
	}
	return ADDR_OK;
}

void
addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else
		snprintf(buf, len, "(family %d)", sa->sa_family);
}

int
addr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;
		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;
		return IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
	}
	return 0;
}

/*
 * ctl_transport.c: how mantridctl reaches the daemon. The control socket
 * speaks common/ctlproto.h's line protocol; REST (--url) maps each command
 * onto Mantrid's endpoints (plus /backends/, /info/, /save/) with a tiny
 * blocking HTTP/1.1 client: one request per connection, Connection: close.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <json-c/json.h>

#include "../common/ctlproto.h"
#include "ctl.h"

#define REPLY_MAX	(512u << 20)
#define SERIALIZE (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

struct buf {
	char	*p;
	size_t	 len, cap;
};

static int
fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int
send_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read until a newline (stop_at_nl) or EOF. */
static int
recv_until(int fd, struct buf *b, int stop_at_nl)
{
	ssize_t n;
	char *p;

	for (;;) {
		if (stop_at_nl && b->len > 0 && memchr(b->p, '\n', b->len))
			return 0;
		if (b->len + 65536 + 1 > b->cap) {
			if (b->cap > REPLY_MAX ||
			    (p = realloc(b->p, b->cap * 2 + 65536 + 1)) == NULL)
				return -1;
			b->p = p;
			b->cap = b->cap * 2 + 65536 + 1;
		}
		n = recv(fd, b->p + b->len, 65536, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			return stop_at_nl ? -1 : 0;
		b->len += (size_t)n;
		b->p[b->len] = '\0';
	}
}

/* ---- control socket ----------------------------------------------------- */

static int
sock_connect(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return fail(err, errlen, "%s: path too long", path);
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return fail(err, errlen, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fail(err, errlen, "cannot connect to %s: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int
sock_call(const char *path, struct json_object *args,
    struct json_object **result, uint64_t *gen, char *err, size_t errlen)
{
	struct buf b = { NULL, 0, 0 };
	char *line, *nl;
	size_t len;
	bool ok;
	int fd, rc = -1;

	if ((fd = sock_connect(path, err, errlen)) == -1)
		return -1;
	if ((line = ctlproto_line(args, &len)) == NULL) {
		close(fd);
		return fail(err, errlen, "out of memory");
	}
	/* NB: a refused peer gets one error line and a close, maybe before
	 * our request is sent: read the line even if the send failed. */
	(void)send_all(fd, line, len);
	if (recv_until(fd, &b, 1) == -1)
		fail(err, errlen, "%s: connection lost", path);
	else if ((nl = memchr(b.p, '\n', b.len)) == NULL ||
	    ctlproto_parse_reply(b.p, (size_t)(nl - b.p), &ok, gen, result,
	    err, errlen) != CTLPROTO_OK)
		fail(err, errlen, "%s: bad reply", path);
	else
		rc = ok ? 0 : -1;
	free(line);
	free(b.p);
	close(fd);
	return rc;
}

/* ---- REST --------------------------------------------------------------- */

struct url {
	char	host[256];
	char	port[8];
	char	prefix[512];	/* path before our routes, no trailing '/' */
};

static int
url_parse(const char *s, struct url *u, char *err, size_t errlen)
{
	const char *h, *end, *colon;
	size_t n;

	if (strncmp(s, "http://", 7) != 0)
		return fail(err, errlen, "--url: only http:// is supported");
	h = s + 7;
	end = h + strcspn(h, "/");
	if (*h == '[') {
		colon = memchr(h, ']', (size_t)(end - h));
		if (colon == NULL)
			return fail(err, errlen, "--url: bad IPv6 address");
		n = (size_t)(colon - h - 1);
		h++;
		colon = colon[1] == ':' ? colon + 1 : NULL;
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		n = (size_t)((colon ? colon : end) - h);
	}
	if (n == 0 || n >= sizeof(u->host))
		return fail(err, errlen, "--url: bad host");
	memcpy(u->host, h, n);
	u->host[n] = '\0';
	n = colon ? (size_t)(end - colon - 1) : 0;
	if (n >= sizeof(u->port))
		return fail(err, errlen, "--url: bad port");
	snprintf(u->port, sizeof(u->port), "%.*s", (int)n, colon ? colon + 1 :
	    "");
	if (n == 0)
		strcpy(u->port, "80");
	snprintf(u->prefix, sizeof(u->prefix), "%s", end);
	n = strlen(u->prefix);
	while (n > 0 && u->prefix[n - 1] == '/')
		u->prefix[--n] = '\0';
	return 0;
}

static int
tcp_connect(const struct url *u, char *err, size_t errlen)
{
	struct addrinfo hints, *res, *ai;
	int fd = -1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(u->host, u->port, &hints, &res)) != 0)
		return fail(err, errlen, "%s: %s", u->host, gai_strerror(rc));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd != -1 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (fd != -1)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		fail(err, errlen, "cannot connect to %s:%s: %s", u->host,
		    u->port, strerror(errno));
	return fd;
}

/* Percent-encode a path segment (hosts, "[v6]:port" addresses). */
static void
seg_encode(const char *s, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *s && o + 4 < outlen; s++) {
		if (isalnum((unsigned char)*s) || strchr("-._~", *s))
			out[o++] = *s;
		else
			o += (size_t)snprintf(out + o, outlen - o, "%%%02X",
			    (unsigned char)*s);
	}
	out[o] = '\0';
}

static const char *
arg(struct json_object *args, const char *name)
{
	struct json_object *v;

	return json_object_object_get_ex(args, name, &v) ?
	    json_object_get_string(v) : NULL;
}

/* PUT /backends/<a>/'s body for enable, disable, drain and weight. */
static struct json_object *
backend_body(const struct cmd_def *def, struct json_object *args)
{
	struct json_object *body = json_object_new_object(), *v;

	if (def->id == CMD_backend_weight &&
	    json_object_object_get_ex(args, "weight", &v))
		json_object_object_add(body, "weight", json_object_get(v));
	else if (def->id == CMD_backend_drain)
		json_object_object_add(body, "drain",
		    json_object_object_get_ex(args, "drain", &v) ?
		    json_object_get(v) : json_object_new_boolean(1));
	else
		json_object_object_add(body, "enabled",
		    json_object_new_boolean(def->id == CMD_backend_enable));
	return body;
}

/* The REST request for a command: method, path and body (or NULL). */
static int
rest_route(const struct cmd_def *def, struct json_object *args,
    const char **meth, char *path, size_t pathlen, struct json_object **body)
{
	char seg[1024] = "";
	const char *item = arg(args, "host") ? arg(args, "host") :
	    arg(args, "address");
	struct json_object *v = NULL;

	if (item != NULL)
		seg_encode(item, seg, sizeof(seg));
	*meth = "GET";
	*body = NULL;
	switch (def->id) {
	case CMD_list:
	case CMD_export:
		snprintf(path, pathlen, "/hostname/");
		break;
	case CMD_get:
	case CMD_set:
	case CMD_delete:
		snprintf(path, pathlen, "/hostname/%s/", seg);
		*meth = def->id == CMD_get ? "GET" : def->id == CMD_set ?
		    "PUT" : "DELETE";
		if (def->id == CMD_set &&
		    json_object_object_get_ex(args, "rule", &v))
			*body = json_object_get(v);
		break;
	case CMD_set_all:
		snprintf(path, pathlen, "/hostname/");
		*meth = "PUT";
		if (json_object_object_get_ex(args, "hosts", &v))
			*body = json_object_get(v);
		break;
	case CMD_stats:
		snprintf(path, pathlen, item ? "/stats/%s/" : "/stats/", seg);
		break;
	case CMD_info:
		snprintf(path, pathlen, "/info/");
		break;
	case CMD_save:
		snprintf(path, pathlen, "/save/");
		*meth = "POST";
		break;
	case CMD_backends:
		snprintf(path, pathlen, "/backends/");
		break;
	default:
		snprintf(path, pathlen, "/backends/%s/", seg);
		if (def->id != CMD_backend_get) {
			*meth = "PUT";
			*body = backend_body(def, args);
		}
	}
	return 0;
}

static int
http_exchange(const struct ctl_target *t, const struct url *u,
    const char *meth, const char *path, const char *extra, const char *body,
    struct buf *b, char *err, size_t errlen)
{
	char head[4096];
	size_t blen = body ? strlen(body) : 0;
	int fd, rc = 0;

	snprintf(head, sizeof(head), "%s %s%s HTTP/1.1\r\nHost: %s\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n%s%s%s%s\r\n", meth, u->prefix, path,
	    u->host, blen, t->token ? "Authorization: Bearer " : "",
	    t->token ? t->token : "", t->token ? "\r\n" : "", extra);
	if ((fd = tcp_connect(u, err, errlen)) == -1)
		return -1;
	if (send_all(fd, head, strlen(head)) == -1 ||
	    (blen && send_all(fd, body, blen) == -1) ||
	    recv_until(fd, b, 0) == -1)
		rc = fail(err, errlen, "%s:%s: connection lost", u->host,
		    u->port);
	close(fd);
	return rc;
}

/* Status, ETag and JSON body of a response in b. */
static int
http_parse(struct buf *b, struct json_object **result, uint64_t *gen,
    char *err, size_t errlen)
{
	struct json_object *o, *e;
	char *bodyp, *etag;
	int status;

	if (b->len == 0 || sscanf(b->p, "HTTP/1.%*d %d", &status) != 1 ||
	    (bodyp = strstr(b->p, "\r\n\r\n")) == NULL)
		return fail(err, errlen, "bad HTTP response");
	*bodyp = '\0';
	bodyp += 4;
	if ((etag = strcasestr(b->p, "\r\nETag:")) != NULL)
		*gen = strtoull(etag + 7 + strspn(etag + 7, " \""), NULL, 10);
	o = json_tokener_parse(bodyp);
	if (status == 200) {
		*result = o;
		return 0;
	}
	if (o != NULL && json_object_object_get_ex(o, "error", &e))
		fail(err, errlen, "%s", json_object_get_string(e));
	else
		fail(err, errlen, "HTTP %d", status);
	json_object_put(o);
	return -1;
}

static int
rest_call(const struct ctl_target *t, const struct cmd_def *def,
    struct json_object *args, struct json_object **result, uint64_t *gen,
    char *err, size_t errlen)
{
	struct json_object *body;
	struct buf b = { NULL, 0, 0 };
	struct json_object *v;
	struct url u;
	const char *meth;
	char path[1200], extra[64] = "";
	int rc;

	if (url_parse(t->url, &u, err, errlen) == -1)
		return -1;
	rest_route(def, args, &meth, path, sizeof(path), &body);
	if (json_object_object_get_ex(args, "if_match", &v))
		snprintf(extra, sizeof(extra), "If-Match: \"%lld\"\r\n",
		    (long long)json_object_get_int64(v));
	rc = http_exchange(t, &u, meth, path, extra, body ?
	    json_object_to_json_string_ext(body, SERIALIZE) : NULL, &b, err,
	    errlen);
	json_object_put(body);
	if (rc == 0)
		rc = http_parse(&b, result, gen, err, errlen);
	free(b.p);
	return rc;
}

int
ctl_call(const struct ctl_target *t, const struct cmd_def *def,
    struct json_object *args, struct json_object **result, uint64_t *gen,
    char *err, size_t errlen)
{
	*result = NULL;
	*gen = 0;
	if (t->url != NULL)
		return rest_call(t, def, args, result, gen, err, errlen);
	return sock_call(t->socket, args, result, gen, err, errlen);
}

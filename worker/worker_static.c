/*
 * worker_static.c: owns the pages a worker answers by itself: the static
 * action (<static_dir>/<type>.http, whole raw HTTP responses loaded into
 * memory at start and on CH_STATIC_RELOAD, or the compiled-in no-hosts,
 * unknown, timeout and test pages), redirect (302), empty, and the
 * unknown/no_hosts pages.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include "worker_sio.h"

#include "../common/log.h"
#include "../common/ruledb.h"
#include "worker.h"
#include "worker_balance.h"
#include "worker_http_int.h"

#define STATIC_FILE_MAX		(1024 * 1024)
#define STATIC_PAGES_MAX	256

static const struct builtin {
	const char	*type;
	unsigned	 status;
	const char	*body;
} builtins[] = {
	{ "no-hosts", 503, "<html><head><title>No hosts configured</title>"
	    "</head><body><h1>No hosts configured</h1><p>This load balancer "
	    "has no hosts configured.</p></body></html>\n" },
	{ "unknown", 404, "<html><head><title>Unknown host</title></head>"
	    "<body><h1>Unknown host</h1><p>This host is not configured on "
	    "this load balancer.</p></body></html>\n" },
	{ "timeout", 504, "<html><head><title>Gateway Timeout</title></head>"
	    "<body><h1>Gateway Timeout</h1><p>The backend for this host did "
	    "not answer in time.</p></body></html>\n" },
	{ "test", 200, "<html><head><title>Test page</title></head><body>"
	    "<h1>Test page</h1><p>mantrid is working.</p></body></html>\n" },
};

static bool
type_valid(const char *t, size_t len)
{
	size_t i;

	if (len == 0 || len > 64 || t[0] == '.')
		return false;
	for (i = 0; i < len; i++)
		if (t[i] == '/' || t[i] <= ' ' || t[i] >= 0x7f)
			return false;
	return true;
}

/*
 * Mantrid's files may end lines with LF alone, or mix LF and CRLF: every
 * line of the head, up to and with the first empty one, ends in exactly
 * CRLF. The body is sent as written. No empty line: left as it is.
 */
static char *
crlf_head(char *data, size_t *len)
{
	char	*out, *nl, *p = data, *end = data + *len;
	size_t	 i, n = 0, o = 0;

	for (i = 0; i < *len; i++)
		n += data[i] == '\n';
	if ((out = malloc(*len + n + 1)) == NULL)
		return data;
	do {
		if ((nl = memchr(p, '\n', end - p)) == NULL) {
			free(out);
			return data;
		}
		n = nl - p - (nl > p && nl[-1] == '\r');
		memcpy(out + o, p, n);
		memcpy(out + o + n, "\r\n", 2);
		o += n + 2;
		p = nl + 1;
	} while (n > 0);
	memcpy(out + o, p, end - p);
	free(data);
	*len = o + (end - p);
	return out;
}

/* What follows a page's head (none without a blank line). */
static size_t
page_body_len(const struct static_page *pg)
{
	const char *eoh = memmem(pg->data, pg->len, "\r\n\r\n", 4);

	return eoh == NULL ? 0 : pg->len - (eoh + 4 - pg->data);
}

static int
load_file(struct worker_http *wh, int dirfd, const char *name)
{
	struct static_page	*pg;
	struct stat		 st;
	size_t			 nl = strlen(name) - 5;	/* ".http" */
	ssize_t			 n;
	char			*data;
	int			 fd;

	if (wh->npages >= STATIC_PAGES_MAX || !type_valid(name, nl))
		return -1;
	if ((fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > STATIC_FILE_MAX || (data = malloc(st.st_size + 1))
	    == NULL) {
		close(fd);
		return -1;
	}
	n = read(fd, data, st.st_size);
	close(fd);
	if (n != st.st_size) {
		free(data);
		return -1;
	}
	pg = &wh->pages[wh->npages++];
	pg->len = n;
	pg->data = crlf_head(data, &pg->len);
	pg->body = page_body_len(pg);
	pg->type = strndup(name, nl);
	return 0;
}

void
static_load(struct worker_http *wh)
{
	int		 fd = wh->w->her->static_dirfd;
	DIR		*d;
	struct dirent	*de;
	size_t		 len;

	if (fd < 0 || wh->pages != NULL)
		return;
	if ((wh->pages = calloc(STATIC_PAGES_MAX, sizeof(*wh->pages))) == NULL)
		return;
	/*
	 * NB: a new open file description, not dup(): a dup shares the
	 * directory's offset with every other worker, and two workers
	 * reading it at once each see part of it (or nothing). The master
	 * opened it before the privilege drop; a directory the daemon's
	 * user cannot list falls back to the shared dup.
	 */
	if ((fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fd = dup(wh->w->her->static_dirfd);
	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		log_warn("%s: static_dir", __func__);
		if (fd != -1)
			close(fd);
		return;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len > 5 && strcmp(de->d_name + len - 5, ".http") == 0 &&
		    load_file(wh, dirfd(d), de->d_name) == -1)
			log_warnx("%s: cannot load %s", __func__, de->d_name);
	}
	closedir(d);
	log_debug("%s: %zu static pages", __func__, wh->npages);
}

void
static_free(struct worker_http *wh)
{
	size_t i;

	for (i = 0; i < wh->npages; i++) {
		free(wh->pages[i].type);
		free(wh->pages[i].data);
	}
	free(wh->pages);
	wh->pages = NULL;
	wh->npages = 0;
}

static const struct static_page *
page_find(const struct worker_http *wh, const char *type, size_t len)
{
	size_t i;

	for (i = 0; i < wh->npages; i++)
		if (strlen(wh->pages[i].type) == len &&
		    memcmp(wh->pages[i].type, type, len) == 0)
			return &wh->pages[i];
	return NULL;
}

static const struct builtin *
builtin_find(const char *type, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
		if (strlen(builtins[i].type) == len &&
		    memcmp(builtins[i].type, type, len) == 0)
			return &builtins[i];
	return NULL;
}

/* A raw page; status != 0 replaces its status line. Then close. */
static void
send_raw(struct conn *c, const struct static_page *pg, unsigned status)
{
	const char	*eol = memmem(pg->data, pg->len, "\r\n", 2);
	char		 line[64];
	unsigned	 st = 200;
	int		 n;

	if (pg->len > 12)
		sscanf(pg->data + 9, "%3u", &st);
	if (status == 0 || eol == NULL) {
		conn_respond(c, st, pg->data, pg->len, pg->body, true);
		return;
	}
	n = snprintf(line, sizeof(line), "HTTP/1.1 %u %s", status,
	    hp_reason(status));
	c->state = CS_RESPOND;
	evbuffer_add(sio_output(c->io), line, n);
	c->bytes_out += n;
	conn_respond(c, status, eol, pg->len - (eol - pg->data), pg->body,
	    true);
}

static void
send_builtin(struct conn *c, const struct builtin *b, unsigned status)
{
	char	 head[256];
	size_t	 blen = strlen(b->body);
	int	 n;

	if (status == 0)
		status = b->status;
	n = snprintf(head, sizeof(head), "HTTP/1.1 %u %s\r\n"
	    "Content-Type: text/html\r\nContent-Length: %zu\r\n%s\r\n",
	    status, hp_reason(status), blen,
	    c->keepalive ? "" : "Connection: close\r\n");
	evbuffer_add(sio_output(c->io), head, n);
	c->bytes_out += n;
	conn_respond(c, status, b->body, blen, blen, false);
}

/* Built-in or static_dir override (static_dir wins, as in Mantrid). */
void
static_builtin(struct conn *c, const char *type, unsigned status)
{
	const struct static_page	*pg;
	size_t				 len = strlen(type);

	if ((pg = page_find(c->wh, type, len)) != NULL)
		send_raw(c, pg, status);
	else
		send_builtin(c, builtin_find(type, len), status);
}

static void
log_unknown_once(struct worker_http *wh, const char *type, size_t len)
{
	unsigned i;

	for (i = 0; i < wh->nlogged; i++)
		if (strncmp(wh->logged[i], type, len) == 0 &&
		    wh->logged[i][len] == '\0')
			return;
	log_warnx("%s: no static page \"%.*s\"", __func__, (int)len, type);
	if (wh->nlogged < sizeof(wh->logged) / sizeof(wh->logged[0]))
		snprintf(wh->logged[wh->nlogged++], sizeof(wh->logged[0]),
		    "%.*s", (int)len, type);
}

void
static_serve(struct conn *c, const struct rule_rec *rec)
{
	const char	*type = rec->str_off ? REC_STR(rec, rec->str_off) : "";
	size_t		 len = rec->str_off ? rec->str_len : 0;
	const struct static_page *pg;
	const struct builtin *b;

	if ((pg = page_find(c->wh, type, len)) != NULL) {
		send_raw(c, pg, 0);
		return;
	}
	if ((b = builtin_find(type, len)) != NULL) {
		send_builtin(c, b, 0);
		return;
	}
	log_unknown_once(c->wh, type, len);
	conn_respond_error(c, 500);
}

static const char *
redirect_base(struct conn *c, const struct rule_rec *rec, size_t *len)
{
	const struct rule_rec_backend	*t;
	uint32_t			 pos;

	if (rec->nbackends > 0 && balance_pick_target(c->wh->w->db, rec,
	    (struct sockaddr *)&c->peer, &pos) == 0) {
		t = &REC_BACKENDS(rec)[pos];
		if (t->url_off) {
			*len = t->url_len;
			return REC_STR(rec, t->url_off);
		}
	}
	if (rec->str_off == 0)
		return NULL;
	*len = rec->str_len;
	return REC_STR(rec, rec->str_off);
}

/*
 * 302 to redirect_to + path and query; no scheme: the client's. The path
 * always starts with "/": "http://h?q" gives "/?q", as proxied, and
 * "OPTIONS *" (no resource to point at) gives "/".
 */
void
static_redirect(struct conn *c, const struct rule_rec *rec)
{
	const struct hp_msg	*m = &c->req;
	const char		*to, *path = m->buf + m->path_off;
	size_t			 tlen, plen = m->path_len;
	struct evbuffer		*out = sio_output(c->io);
	size_t			 before = evbuffer_get_length(out);
	bool			 slash = hp_path_wants_slash(m);

	if ((to = redirect_base(c, rec, &tlen)) == NULL) {
		conn_respond_error(c, rec->nbackends ? 503 : 500);
		return;
	}
	if (plen == 1 && path[0] == '*') {
		slash = true;
		plen = 0;
	}
	while (tlen > 0 && to[tlen - 1] == '/')
		tlen--;
	evbuffer_add_printf(out, "HTTP/1.1 302 Found\r\nLocation: %s%.*s%s%.*s"
	    "\r\nContent-Length: 0\r\n%s\r\n",
	    memmem(to, tlen, "://", 3) ? "" : c->https ? "https://" :
	    "http://", (int)tlen, to, slash ? "/" : "", (int)plen, path,
	    c->keepalive ? "" : "Connection: close\r\n");
	c->bytes_out += evbuffer_get_length(out) - before;
	conn_respond(c, 302, "", 0, 0, false);
}

void
static_empty(struct conn *c, unsigned code)
{
	char	buf[128];
	int	n;

	if (code < 200 || code > 599)
		code = 500;
	/* NB: 204 and 304 have no body by definition: no Content-Length. */
	n = snprintf(buf, sizeof(buf), "HTTP/1.1 %u %s\r\n%s%s\r\n", code,
	    hp_reason(code), code == 204 || code == 304 ? "" :
	    "Content-Length: 0\r\n",
	    c->keepalive ? "" : "Connection: close\r\n");
	conn_respond(c, code, buf, n, 0, false);
}

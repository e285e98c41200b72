/*
 * master_rest.c: the REST API on bind_management (libevent's evhttp on
 * the listeners the master bound before the privilege drop). Mantrid's
 * endpoints and shapes:
 *
 *	GET/PUT		/hostname/		all rules / replace all
 *	GET/PUT/DELETE	/hostname/<host>/	one rule (null if none)
 *	GET		/stats/, /stats/<host>/
 *	GET		/backends/, GET/PUT /backends/<address>/  (issue 5)
 *	GET /info/, POST /save/	(ours, so mantridctl --url can do all)
 *
 * This file only routes: each request becomes the same command object the
 * control socket takes and runs through master_cmd_run(). What it adds is
 * HTTP's: status codes, ETag = generation, If-Match -> 412, 413 over the
 * body limit, Bearer auth when management_token is set, and a JSON
 * Content-Type on every reply, evhttp's own error replies included
 * (json_errors below). Master only.
 */
#include "config.h"

#include <sys/socket.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <json-c/json.h>

#include "../common/addr.h"
#include "../common/ctlproto.h"
#include "../common/log.h"
#include "../common/ruledb.h"
#include "master.h"
#include "master_cmd.h"
#include "master_rest.h"

/* evhttp's limit: a bigger body is read and dropped, then answered 413. */
#define REST_BODY_MAX		(32u << 20)
#define REST_PATH_MAX		1024
#define SERIALIZE (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

enum route {
	R_NONE = 0,	/* 404 */
	R_ROOT,		/* "/": 405, as Mantrid */
	R_HOSTS,
	R_HOST,
	R_STATS,
	R_STATS_HOST,
	R_BACKENDS,
	R_BACKEND,
	R_INFO,		/* ours: GET /info/ */
	R_SAVE		/* ours: POST /save/ */
};

struct rest_call {
	struct evhttp_request	*req;
	struct master		*m;
	bool			 ok_shape;	/* reply {"ok": true} */
};

static struct evhttp *rest_http;
static unsigned rest_pending;	/* calls waiting for their command */

/* ---- replies ------------------------------------------------------------ */

static void
reply_json(struct master *m, struct evhttp_request *req, int code,
    struct json_object *body, bool etag)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	const char *s;
	size_t n;
	char tag[32];

	/* NB: evhttp 2.1 would send a HEAD reply's body, without a length:
	 * the next reply on the connection would be read as part of it. */
	if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		s = json_object_to_json_string_length(body, SERIALIZE, &n);
		evbuffer_add(out, s, n);
	}
	evhttp_add_header(h, "Content-Type", "application/json");
	if (etag) {
		snprintf(tag, sizeof(tag), "\"%" PRIu64 "\"",
		    ruledb_generation(m->db));
		evhttp_add_header(h, "ETag", tag);
	}
	evhttp_send_reply(req, code, NULL, NULL);
}

static void
reply_error(struct master *m, struct evhttp_request *req, int code,
    const char *msg)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "error", json_object_new_string(msg));
	reply_json(m, req, code, o, code != 401);
	json_object_put(o);
}

static int
http_status(enum cmd_status st)
{
	switch (st) {
	case CMD_OK:
		return 200;
	case CMD_EINVAL:
		return 400;
	case CMD_ENOTFOUND:
		return 404;
	case CMD_EPRECOND:
		return 412;
	case CMD_ETOOBIG:
		return 413;
	case CMD_ENOSPC:
		return 507;
	case CMD_ENOTIMPL:
		return 501;
	default:
		return 500;
	}
}

static void
rest_done(enum cmd_status st, struct json_object *result, uint64_t gen,
    const char *err, void *arg)
{
	struct rest_call *c = arg;
	struct json_object *body;

	rest_pending--;
	if (st != CMD_OK)
		reply_error(c->m, c->req, http_status(st), err);
	else {
		if (c->ok_shape) {
			json_object_put(result);
			body = json_object_new_object();
			json_object_object_add(body, "ok",
			    json_object_new_boolean(1));
		} else
			body = result;
		reply_json(c->m, c->req, 200, body, true);
		json_object_put(body);
	}
	free(c);
}

/* ---- auth --------------------------------------------------------------- */

/* Constant time in the token's length: no early exit on a mismatch. */
static bool
token_equal(const char *given, const char *token)
{
	size_t gl = strlen(given), tl = strlen(token), i;
	unsigned char d = (unsigned char)(gl != tl);

	for (i = 0; i < tl; i++)
		d |= (unsigned char)(token[i] ^ given[i < gl ? i : 0]);
	return d == 0;
}

static bool
authorized(const struct config *cfg, struct evhttp_request *req)
{
	const char *a;

	if (cfg->management_token[0] == '\0')
		return true;
	a = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Authorization");
	if (a == NULL || strncasecmp(a, "Bearer ", 7) != 0)
		return false;
	a += 7;
	while (*a == ' ')
		a++;
	return token_equal(a, cfg->management_token);
}

/* ---- routing ------------------------------------------------------------ */

/*
 * Split "/coll[/item][/]" (already decoded and lower-cased, as Mantrid
 * did) into a route and the item.
 */
static enum route
route_path(char *path, char **item)
{
	char *coll, *slash;
	size_t n;

	*item = NULL;
	if (strcmp(path, "/") == 0)
		return R_ROOT;
	coll = path + 1;
	if ((slash = strchr(coll, '/')) != NULL && slash[1] == '/')
		return R_NONE;		/* "/hostname//" */
	if (slash != NULL) {
		*slash = '\0';
		*item = slash + 1;
		n = strlen(*item);
		if (n > 0 && (*item)[n - 1] == '/')
			(*item)[--n] = '\0';
		if (strchr(*item, '/') != NULL)
			return R_NONE;
		if (n == 0)
			*item = NULL;
	}
	if (strcmp(coll, "hostname") == 0)
		return *item ? R_HOST : R_HOSTS;
	if (strcmp(coll, "stats") == 0)
		return *item ? R_STATS_HOST : R_STATS;
	if (strcmp(coll, "backends") == 0)
		return *item ? R_BACKEND : R_BACKENDS;
	if (strcmp(coll, "info") == 0 && *item == NULL)
		return R_INFO;
	if (strcmp(coll, "save") == 0 && *item == NULL)
		return R_SAVE;
	return R_NONE;
}

/*
 * The request's path, lower-cased; NULL if unusable. Segments are
 * decoded after routing, so "https:%2F%2Fexample.com" can name a
 * protocol-qualified key (Mantrid's own route could not).
 */
static char *
request_path(struct evhttp_request *req)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *raw = u != NULL ? evhttp_uri_get_path(u) : NULL;
	char *p;
	size_t i;

	if (raw == NULL || raw[0] != '/' || strlen(raw) > REST_PATH_MAX)
		return NULL;
	if ((p = strdup(raw)) == NULL)
		return NULL;
	for (i = 0; p[i]; i++)
		p[i] = (char)tolower((unsigned char)p[i]);
	return p;
}

/* Which command a (route, method) is; NULL + *code 405 if none. */
static const struct cmd_def *
route_cmd(enum route r, enum evhttp_cmd_type meth, int *code)
{
	static const struct {
		enum route		r;
		enum evhttp_cmd_type	meth;
		enum cmd_id		id;
	} map[] = {
		{ R_HOSTS, EVHTTP_REQ_GET, CMD_list },
		{ R_HOSTS, EVHTTP_REQ_PUT, CMD_set_all },
		{ R_HOST, EVHTTP_REQ_GET, CMD_get },
		{ R_HOST, EVHTTP_REQ_PUT, CMD_set },
		{ R_HOST, EVHTTP_REQ_DELETE, CMD_delete },
		{ R_STATS, EVHTTP_REQ_GET, CMD_stats },
		{ R_STATS_HOST, EVHTTP_REQ_GET, CMD_stats },
		{ R_BACKENDS, EVHTTP_REQ_GET, CMD_backends },
		{ R_BACKEND, EVHTTP_REQ_GET, CMD_backend_get },
		{ R_BACKEND, EVHTTP_REQ_PUT, CMD_backend_enable },
		{ R_INFO, EVHTTP_REQ_GET, CMD_info },
		{ R_SAVE, EVHTTP_REQ_POST, CMD_save },
	};
	size_t i;

	*code = r == R_NONE ? 404 : 405;
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].r == r && map[i].meth == meth)
			return &cmd_defs[map[i].id];
	return NULL;
}

/* ---- bodies and arguments ----------------------------------------------- */

/* Mantrid: an empty body is None. *body NULL then; -1 = bad JSON. */
static int
request_body(struct evhttp_request *req, struct json_object **body)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	struct json_tokener *tok;
	const char *s;
	size_t end;
	int rc = 0;

	*body = NULL;
	if (n == 0)
		return 0;
	s = (const char *)evbuffer_pullup(in, -1);
	if ((tok = json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH)) == NULL)
		return -1;
	*body = json_tokener_parse_ex(tok, s, (int)n);
	end = json_tokener_get_parse_end(tok);
	if (json_tokener_get_error(tok) == json_tokener_continue)
		*body = json_tokener_parse_ex(tok, "", 1);	/* "null", "5" */
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    !ctlproto_only_space(s + end, n - end)) {
		json_object_put(*body);
		*body = NULL;
		rc = -1;
	}
	json_tokener_free(tok);
	return rc;
}

/*
 * If-Match: "*" always matches; else the generation must be one of the
 * listed tags ("7", W/"7" or 7). A miss becomes an if_match the command
 * layer rejects with 412, so the check and the change are one step.
 */
static void
if_match_arg(struct master *m, struct evhttp_request *req,
    struct json_object *args)
{
	const char *h = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "If-Match");
	uint64_t gen = ruledb_generation(m->db);
	const char *p;
	char *end;

	if (h == NULL || strchr(h, '*') != NULL)
		return;
	for (p = h; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p))
			continue;
		if (strtoull(p, &end, 10) == gen)
			return;
		p = end - 1;
	}
	/* NB: gen + 1 can never match: nothing else runs in between. */
	json_object_object_add(args, "if_match",
	    json_object_new_int64((int64_t)(gen + 1)));
}

/* PUT /backends/<a>/: {"enabled": b} | {"drain": true} | {"weight": n} */
static const struct cmd_def *
backend_put_cmd(struct json_object *body, struct json_object *args)
{
	struct json_object *v;

	if (!json_object_is_type(body, json_type_object) ||
	    json_object_object_length(body) != 1)
		return NULL;
	if (json_object_object_get_ex(body, "weight", &v)) {
		json_object_object_add(args, "weight", json_object_get(v));
		return &cmd_defs[CMD_backend_weight];
	}
	if (json_object_object_get_ex(body, "enabled", &v) &&
	    json_object_is_type(v, json_type_boolean))
		return &cmd_defs[json_object_get_boolean(v) ?
		    CMD_backend_enable : CMD_backend_disable];
	if (json_object_object_get_ex(body, "drain", &v) &&
	    json_object_is_type(v, json_type_boolean)) {
		/* NB: false ends a drain only, never an operator's disable */
		json_object_object_add(args, "drain", json_object_get(v));
		return &cmd_defs[CMD_backend_drain];
	}
	return NULL;
}

/*
 * Fill args for def from the route's item (itemlen bytes, decoded: a %00
 * stays in, for ctlproto_check_args to refuse) and the body; error or
 * NULL.
 */
static const char *
build_args(enum route r, const struct cmd_def **def, const char *item,
    size_t itemlen, struct json_object *body, struct json_object *args)
{
	json_object_object_add(args, "cmd",
	    json_object_new_string((*def)->name));
	switch (r) {
	case R_HOSTS:
		if ((*def)->id != CMD_set_all)
			return NULL;
		if (!json_object_is_type(body, json_type_object))
			return "body_not_a_dict";
		json_object_object_add(args, "hosts", json_object_get(body));
		return NULL;
	case R_HOST:
		json_object_object_add(args, "host",
		    json_object_new_string_len(item, (int)itemlen));
		if ((*def)->id == CMD_set)
			json_object_object_add(args, "rule",
			    json_object_get(body));
		return NULL;
	case R_STATS_HOST:
		json_object_object_add(args, "host",
		    json_object_new_string_len(item, (int)itemlen));
		return NULL;
	case R_BACKEND:
		json_object_object_add(args, "address",
		    json_object_new_string_len(item, (int)itemlen));
		if ((*def)->id == CMD_backend_get)
			return NULL;
		if ((*def = backend_put_cmd(body, args)) == NULL)
			return "body_invalid:expected {\"enabled\": bool}, "
			    "{\"drain\": bool} or {\"weight\": n}";
		json_object_object_add(args, "cmd",
		    json_object_new_string((*def)->name));
		return NULL;
	default:
		return NULL;
	}
}

/* ---- the request -------------------------------------------------------- */

static void
rest_run(struct master *m, struct evhttp_request *req, enum route r,
    const struct cmd_def *def, const char *item, size_t itemlen)
{
	struct json_object *body, *args;
	struct rest_call *c;
	const char *why;
	char err[256];

	if (evbuffer_get_length(evhttp_request_get_input_buffer(req)) >
	    REST_BODY_MAX) {
		reply_error(m, req, 413, "request_too_large");
		return;
	}
	if (request_body(req, &body) == -1) {
		reply_error(m, req, 400, "body_invalid_json");
		return;
	}
	args = json_object_new_object();
	if ((why = build_args(r, &def, item, itemlen, body, args)) == NULL &&
	    ctlproto_check_args(def, args, err, sizeof(err)) != CTLPROTO_OK)
		why = err;
	json_object_put(body);
	if (why != NULL || (c = calloc(1, sizeof(*c))) == NULL) {
		reply_error(m, req, 400, why ? why : "out_of_memory");
		json_object_put(args);
		return;
	}
	if (def->flags & CMD_F_MUTATION || r == R_BACKEND)
		if_match_arg(m, req, args);
	c->req = req;
	c->m = m;
	c->ok_shape = (def->flags & CMD_F_MUTATION) != 0;
	rest_pending++;
	master_cmd_run(m, def, args, rest_done, c);
	json_object_put(args);
}

static void
rest_cb(struct evhttp_request *req, void *arg)
{
	struct master *m = arg;
	const struct cmd_def *def;
	enum route r;
	char *path, *item;
	size_t itemlen = 0;
	int code;

	if (!authorized(&m->cfg, req)) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "WWW-Authenticate", "Bearer realm=\"mantrid\"");
		reply_error(m, req, 401, "unauthorized");
		return;
	}
	if ((path = request_path(req)) == NULL) {
		reply_error(m, req, 404, "not_found");
		return;
	}
	r = route_path(path, &item);
	if (item != NULL &&
	    (item = evhttp_uridecode(item, 0, &itemlen)) == NULL)
		r = R_NONE;
	if ((def = route_cmd(r, evhttp_request_get_command(req), &code)) ==
	    NULL)
		reply_error(m, req, code, code == 404 ? "not_found" :
		    "method_not_allowed");
	else
		rest_run(m, req, r, def, item, itemlen);
	free(item);
	free(path);
}

unsigned
master_rest_pending(void)
{
	return rest_pending;
}

/* ---- evhttp's own error replies ----------------------------------------- */

/*
 * json_errors: evhttp (libevent 2.1) answers what it rejects before we
 * see a request -- a malformed request line or header, a header block
 * over its limit, a body over REST_BODY_MAX, an unknown method, an Expect
 * other than 100-continue -- with an HTML page, and 2.1 has no hook for
 * it (2.2 has evhttp_set_errorcb). So every connection's output buffer is
 * watched (evhttp_set_bevcb makes its bufferevent). An evhttp error page
 * is its status line, then "Content-Type: text/html" and "Connection:
 * close" (evhttp_send_page_), which we never send and which cannot occur
 * inside a JSON body (raw CR LF); and it is the last reply written on its
 * connection. It is rewritten, status line kept, into a JSON reply before
 * it is sent: evhttp writes a reply into the buffer in one go, and the
 * socket write happens only once epoll says so, so a fix-up activated now
 * runs first, in this same loop pass.
 * NB: libevent 2.1 reports a malformed chunked body as too long: 413.
 */
static const char html_sig[] =
    "\r\nContent-Type: text/html\r\nConnection: close\r\n";
#define HTML_SIG_LEN	(sizeof(html_sig) - 1)
#define STATUS_MAX	128	/* "HTTP/1.1 413 Request Entity Too Large" */

struct fixup {
	struct event		*ev;
	struct bufferevent	*bev;
};

static const char *
http_error_name(int code)
{
	switch (code) {
	case 400:
		return "bad_request";
	case 413:
		return "request_too_large";
	case 417:
		return "expectation_failed";
	case 501:
		return "method_not_implemented";
	default:
		return "http_error";
	}
}

/* Offset of the page's status line, *sig_at of its end; -1 if none. */
static ev_ssize_t
html_page_start(struct evbuffer *out, size_t *sig_at)
{
	struct evbuffer_ptr p, from;
	char line[STATUS_MAX + 1];
	size_t back, i;

	p = evbuffer_search(out, html_sig, HTML_SIG_LEN, NULL);
	if (p.pos < 0)
		return -1;
	back = (size_t)p.pos < STATUS_MAX ? (size_t)p.pos : STATUS_MAX;
	if (evbuffer_ptr_set(out, &from, (size_t)p.pos - back,
	    EVBUFFER_PTR_SET) == -1 ||
	    evbuffer_copyout_from(out, &from, line, back) !=
	    (ev_ssize_t)back)
		return -1;
	line[back] = '\0';
	for (i = back; i-- > 0;)
		if (strncmp(line + i, "HTTP/1.", 7) == 0) {
			*sig_at = (size_t)p.pos;
			return (ev_ssize_t)((size_t)p.pos - (back - i));
		}
	return -1;
}

static void
json_fixup_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fixup *f = arg;
	struct evbuffer *out = bufferevent_get_output(f->bev);
	struct evbuffer *keep;
	char status[STATUS_MAX + 1], body[64];
	ev_ssize_t start;
	size_t sig_at = 0, slen;
	int code = 0, n;
	bool frozen;

	/* NB: a socket bufferevent keeps its output's front frozen after
	 * its first write (only its own write may drain it): thaw it for
	 * the rewrite, and put it back as it was. */
	if ((frozen = evbuffer_copyout(out, status, 1) == -1))
		evbuffer_unfreeze(out, 1);
	if ((start = html_page_start(out, &sig_at)) >= 0 &&
	    (keep = evbuffer_new()) != NULL) {
		slen = sig_at - (size_t)start;
		evbuffer_remove_buffer(out, keep, (size_t)start);
		evbuffer_remove(out, status, slen);
		status[slen] = '\0';
		evbuffer_drain(out, evbuffer_get_length(out));
		evbuffer_add_buffer(out, keep);
		evbuffer_free(keep);
		(void)sscanf(status, "HTTP/1.%*d %d", &code);
		n = snprintf(body, sizeof(body), "{\"error\":\"%s\"}",
		    http_error_name(code));
		evbuffer_add_printf(out, "%s\r\nContent-Type: application/json"
		    "\r\nETag: \"%" PRIu64 "\"\r\nContent-Length: %d\r\n"
		    "Connection: close\r\n\r\n%s", status,
		    ruledb_generation(master_self->db), n, body);
		log_debug("%s: evhttp's %d reply sent as JSON", __func__, code);
	}
	if (frozen)
		evbuffer_freeze(out, 1);
	bufferevent_decref(f->bev);
	event_free(f->ev);
	free(f);
}

static void
json_watch_cb(struct evbuffer *out, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct bufferevent *bev = arg;
	struct evbuffer_ptr from;
	size_t len = evbuffer_get_length(out), at;
	struct fixup *f;

	if (info->n_added == 0)
		return;
	/* what was just added, and a signature's length before it */
	at = len - info->n_added;
	at = at > HTML_SIG_LEN ? at - HTML_SIG_LEN : 0;
	if (evbuffer_ptr_set(out, &from, at, EVBUFFER_PTR_SET) == -1 ||
	    evbuffer_search(out, html_sig, HTML_SIG_LEN, &from).pos < 0)
		return;
	evbuffer_remove_cb(out, json_watch_cb, bev);	/* its last reply */
	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->ev = event_new(bufferevent_get_base(bev), -1, 0,
	    json_fixup_cb, f)) == NULL) {
		log_warnx("%s: out of memory: an HTML error goes out",
		    __func__);
		free(f);
		return;
	}
	f->bev = bev;
	bufferevent_incref(bev);	/* until the fix-up ran */
	event_active(f->ev, EV_TIMEOUT, 1);
}

/* evhttp's own bufferevent, plus the watch. */
static struct bufferevent *
json_errors_bev(struct event_base *base, void *arg)
{
	struct bufferevent *bev = bufferevent_socket_new(base, -1, 0);

	if (bev != NULL && evbuffer_add_cb(bufferevent_get_output(bev),
	    json_watch_cb, bev) == NULL) {
		bufferevent_free(bev);
		bev = NULL;
	}
	return bev;
}

/* ---- set-up ------------------------------------------------------------- */

int
master_rest_check_config(const struct config *cfg, char *err, size_t errlen)
{
	size_t i;

	if (cfg->management_token[0] != '\0')
		return 0;
	for (i = 0; i < cfg->nbinds; i++) {
		if (cfg->binds[i].kind != BIND_MANAGEMENT ||
		    addr_is_loopback((const struct sockaddr *)&cfg->binds[i].ss))
			continue;
		snprintf(err, errlen, "bind_management %s is not a loopback "
		    "address and management_token is not set: the REST API "
		    "would let anyone change the rules", cfg->binds[i].text);
		return -1;
	}
	return 0;
}

int
master_rest_start(struct master *m)
{
	size_t i;

	if (m->nmgmt == 0)
		return 0;
	if ((rest_http = evhttp_new(m->base)) == NULL) {
		log_warnx("%s: evhttp_new failed", __func__);
		return -1;
	}
	evhttp_set_max_body_size(rest_http, (ev_ssize_t)REST_BODY_MAX);
	/* NB: read an oversized body to its end, so the client, still
	 * sending, does not lose the 413 to a reset. */
	evhttp_set_flags(rest_http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_max_headers_size(rest_http, 64 * 1024);
	evhttp_set_bevcb(rest_http, json_errors_bev, NULL);
	evhttp_set_timeout(rest_http, 60);
	evhttp_set_default_content_type(rest_http, "application/json");
	/* Every method reaches us, so a 405 is ours and JSON. */
	evhttp_set_allowed_methods(rest_http, 0x1ff);
	evhttp_set_gencb(rest_http, rest_cb, m);
	for (i = 0; i < m->nmgmt; i++) {
		evutil_make_socket_nonblocking(m->mgmt_fds[i]);
		if (evhttp_accept_socket_with_handle(rest_http,
		    m->mgmt_fds[i]) == NULL) {
			log_warnx("%s: cannot serve REST on fd %d", __func__,
			    m->mgmt_fds[i]);
			return -1;
		}
	}
	log_info("%s: REST API on %zu listener(s)%s", __func__, m->nmgmt,
	    m->cfg.management_token[0] ? " (token required)" : "");
	return 0;
}

/*
 * NB: a call still waiting for its journal sync holds an evhttp request
 * that master_state_flush() will answer; freeing evhttp now would leave
 * it dangling, so then the listeners just stay until exit.
 */
void
master_rest_stop(struct master *m)
{
	if (rest_http != NULL && rest_pending == 0) {
		evhttp_free(rest_http);
		rest_http = NULL;
	}
}

/*
 * worker_http.c: owns the data plane's entry points (worker.h): listening
 * on the inherited public and internal sockets, the connection count and
 * max_connections, draining, and the master's channel messages (rule
 * changes release parked requests, a backend coming up releases held
 * ones; static pages reload). The requests
 * themselves are worker_conn.c's.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "../common/log.h"
#include "../common/ruledb.h"
#include "worker.h"
#include "worker_balance.h"
#include "worker_http_int.h"

static void
accept_cb(struct evconnlistener *el, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct listener		*l = arg;
	struct worker_http	*wh = l->wh;
	size_t			 i;

	conn_accept(wh, fd, sa, salen, l->kind);
	if (wh->cfg->max_connections && wh->nconns >= wh->cfg->max_connections
	    && !wh->paused) {
		wh->paused = true;
		for (i = 0; i < wh->nls; i++)
			evconnlistener_disable(wh->ls[i].el);
	}
}

static void
accept_error_cb(struct evconnlistener *el, void *arg)
{
	/* EMFILE and friends: libevent retries on the next readiness. */
	log_warn("%s: accept", __func__);
}

void
http_conn_gone(struct worker_http *wh)
{
	size_t i;

	if (!wh->paused || !wh->accepting ||
	    wh->nconns >= wh->cfg->max_connections)
		return;
	wh->paused = false;
	for (i = 0; i < wh->nls; i++)
		evconnlistener_enable(wh->ls[i].el);
}

static void
limits_init(struct worker_http *wh, const struct config *cfg)
{
	wh->lim.max_uri = cfg->max_uri ? cfg->max_uri : 8192;
	wh->lim.max_header_size = cfg->max_header_size ?
	    cfg->max_header_size : 32768;
	wh->lim.max_header_lines = cfg->max_header_lines ?
	    cfg->max_header_lines : 100;
	if (wh->lim.max_header_lines >= HP_MAX_HEADERS)
		wh->lim.max_header_lines = HP_MAX_HEADERS - 1;
}

static int
listen_all(struct worker_http *wh)
{
	const struct heritage	*her = wh->w->her;
	struct listener		*l;
	size_t			 i;

	for (i = 0; i < her->nlisteners; i++) {
		if (her->listeners[i].kind == BIND_MANAGEMENT)
			continue;
		l = &wh->ls[wh->nls];
		l->wh = wh;
		l->kind = her->listeners[i].kind;
		evutil_make_socket_nonblocking(her->listeners[i].fd);
		/* NB: the master keeps the socket; never close it here. */
		l->el = evconnlistener_new(wh->w->base, accept_cb, l, 0, -1,
		    her->listeners[i].fd);
		if (l->el == NULL) {
			log_warnx("%s: listener %zu", __func__, i);
			return -1;
		}
		evconnlistener_set_error_cb(l->el, accept_error_cb);
		wh->nls++;
	}
	return 0;
}

int
worker_http_start(struct worker *w)
{
	struct worker_http *wh;

	if ((wh = calloc(1, sizeof(*wh))) == NULL)
		return -1;
	w->http = wh;
	wh->w = w;
	wh->cfg = w->cfg;
	TAILQ_INIT(&wh->conns);
	limits_init(wh, w->cfg);
	balance_init(w->cfg);
	static_load(wh);
	accesslog_open(wh);
	wh->accepting = true;
	return listen_all(wh);
}

void
worker_http_stop_accepting(struct worker *w)
{
	struct worker_http	*wh = w->http;
	size_t			 i;

	if (wh == NULL)
		return;
	wh->accepting = false;
	for (i = 0; i < wh->nls; i++) {
		evconnlistener_free(wh->ls[i].el);
		wh->ls[i].el = NULL;
	}
	wh->nls = 0;
}

unsigned
worker_http_active(const struct worker *w)
{
	return w->http != NULL ? w->http->nconns : 0;
}

size_t
worker_http_timeout_parked(struct worker *w)
{
	return w->http != NULL ? spin_timeout_all(w->http) : 0;
}

void
worker_http_close_idle(struct worker *w)
{
	struct worker_http	*wh = w->http;
	struct conn		*c, *next;

	if (wh == NULL)
		return;
	for (c = TAILQ_FIRST(&wh->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		if (conn_idle(c))
			conn_free(c);
	}
	pool_free_all(wh);
}

void
worker_http_channel(struct worker *w, const struct channel_msg *msg)
{
	struct worker_http	*wh = w->http;
	char			 key[RULE_KEY_MAX + 1];

	if (wh == NULL)
		return;
	switch (msg->type) {
	case CH_RULE_CHANGED:
		memcpy(key, msg->key, sizeof(key));
		key[sizeof(key) - 1] = '\0';
		spin_rule_changed(wh, key);
		break;
	case CH_RESYNC:
		spin_release_all(wh);
		break;
	case CH_BACKEND_UP:
		spin_backend_up(wh, msg->arg);
		break;
	case CH_STATIC_RELOAD:
		static_free(wh);
		static_load(wh);
		break;
	default:
		break;
	}
}

void
worker_http_reopen_logs(struct worker *w)
{
	if (w->http != NULL)
		accesslog_reopen(w->http);
}

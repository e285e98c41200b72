/*
 * worker_conn.c: owns a client connection: accept, reading and validating
 * request heads (worker_parse.h), resolving the Host and dispatching the
 * rule's action, local responses, keep-alive and pipelining (one request
 * at a time, so responses leave in order), client timeouts, and the end
 * of every request (counters, access log).
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include "worker_sio.h"
#include <event2/event.h>
#include <event2/listener.h>
#include <http_parser.h>

#include "../common/log.h"
#include "../common/ruledb.h"
#include "worker.h"
#include "worker_http_int.h"

static void	conn_read_head(struct conn *);
static void	conn_linger_read(struct conn *);

uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
conn_timer_set(struct conn *c, unsigned secs)
{
	/* NB: a common timeout: re-arming per request is O(1). */
	evtimer_add(c->timer, sio_timeout(c->wh->w->base, secs));
}

/*
 * Idle keep-alive: between requests, with no byte of the next one here.
 * NB: a fresh connection (nreq == 0) is never idle: its client has just
 * been accepted and is sending a request; draining closing it would
 * answer nothing. It gets timeout_header, like any other.
 */
bool
conn_idle(const struct conn *c)
{
	return c->state == CS_HEAD && c->nreq > 0 && !c->head_started &&
	    evbuffer_get_length(sio_input(c->io)) == 0;
}

static void
request_reset(struct conn *c)
{
	memset(&c->scan, 0, sizeof(c->scan));
	memset(&c->chunk, 0, sizeof(c->chunk));
	c->state = CS_HEAD;
	c->req.buf = NULL;
	c->req.nhdrs = 0;
	c->req.chunked = false;
	c->req.content_length = -1;
	/* NB: not the last request's HEAD: a 408 or 431 keeps its body */
	c->req.method = HTTP_GET;
	c->spin_deadline_ms = 0;
	c->head_started = false;
	c->https = false;
	c->keepalive = false;
	c->hc = NULL;
	c->status = 0;
	c->bytes_in = c->bytes_out = 0;
	c->body_left = 0;
	c->body_done = false;
	c->attempt = 0;
	c->refused = false;
	c->retried_fresh = false;
	c->sent_continue = false;
}

static void
conn_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct conn *c = arg;

	if (ev & EV_READ) {		/* pipelined bytes after a response */
		/*
		 * NB: running this callback took the timer's timeout off:
		 * re-arm it, with timeout_header for a head begun meanwhile
		 * (in this loop pass, by conn_read_head's loop).
		 */
		conn_timer_set(c, c->state == CS_HEAD && c->head_started ?
		    c->wh->cfg->timeout_header : c->wh->cfg->timeout_client);
		if (c->state == CS_HEAD)
			conn_read_head(c);
		return;
	}
	switch (c->state) {
	case CS_HEAD:
		if (!c->head_started) {		/* idle keep-alive */
			conn_free(c);
			return;
		}
		log_debug("%s: %s: request head timeout", __func__,
		    c->peer_txt);
		c->wh->timeouts_head++;
		conn_respond_error(c, 408);
		break;
	case CS_PARKED:
		spin_unpark(c);
		static_builtin(c, "timeout", 504);
		break;
	default:
		conn_free(c);
		break;
	}
}

static void
conn_eventcb(struct sio *io, short what, void *arg)
{
	struct conn *c = arg;

	if ((what & SIO_EOF) && (what & SIO_READING)) {
		c->eof = true;
		c->keepalive = false;
		if (c->state == CS_PROXY) {
			/*
			 * Half-close: finish the response. A body still in
			 * the input (the backend was connecting) is sent when
			 * it is ready; one cut short gets 400 there.
			 */
			proxy_client_read(c);
			return;
		}
		if (c->state == CS_TUNNEL) {
			proxy_client_read(c);
			return;
		}
		if (c->state == CS_RESPOND || c->state == CS_CLOSING)
			return;
		if (c->state == CS_HEAD) {
			/* NB: half-close after a request: still answer it. */
			conn_read_head(c);
			if (c->state != CS_HEAD)
				return;
			if (evbuffer_get_length(sio_output(io))) {
				conn_close_after_write(c);
				return;
			}
		}
	}
	conn_free(c);
}

/*
 * Read high-water mark of a client or backend connection: buffer_size,
 * but never less than the largest head the limits accept, or a head
 * longer than buffer_size would stop reading half-way, for good.
 */
size_t
conn_read_hw(const struct worker_http *wh)
{
	size_t hw = wh->lim.max_uri + wh->lim.max_header_size + 1024;

	return wh->cfg->buffer_size > hw ? wh->cfg->buffer_size : hw;
}

void
conn_accept(struct worker_http *wh, int fd, struct sockaddr *sa, int salen,
    enum bind_kind kind)
{
	struct event_base	*base = wh->w->base;
	struct conn		*c;
	int			 one = 1;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warn("%s: calloc", __func__);
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->wh = wh;
	c->kind = kind;
	memcpy(&c->peer, sa, (size_t)salen < sizeof(c->peer) ? (size_t)salen :
	    sizeof(c->peer));
	if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr,
		    c->peer_txt, sizeof(c->peer_txt));
	else if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr,
		    c->peer_txt, sizeof(c->peer_txt));
	else
		snprintf(c->peer_txt, sizeof(c->peer_txt), "unix");
	c->io = sio_new(base, fd);
	c->timer = evtimer_new(base, conn_timer_cb, c);
	if (c->io == NULL || c->timer == NULL) {
		log_warnx("%s: out of memory", __func__);
		if (c->io == NULL)
			close(fd);
		c->wh = NULL;
		conn_free(c);
		return;
	}
	sio_setwatermark(c->io, EV_READ, 0, conn_read_hw(wh));
	sio_setcb(c->io, conn_readcb, conn_writecb, conn_eventcb, c);
	sio_set_timeouts(c->io, 0, wh->cfg->timeout_client);
	sio_enable(c->io, EV_READ | EV_WRITE);
	TAILQ_INSERT_TAIL(&wh->conns, c, link);
	wh->nconns++;
	request_reset(c);
	/* NB: a connection that never sends a byte gets timeout_header. */
	conn_timer_set(c, wh->cfg->timeout_header);
}

void
conn_free(struct conn *c)
{
	struct worker_http *wh = c->wh;

	if (c->be != NULL)
		proxy_abort(c);
	if (c->spin != NULL)
		spin_unpark(c);
	if (c->hc != NULL)
		atomic_fetch_sub_explicit(&c->hc->open, 1,
		    memory_order_relaxed);
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->retry != NULL)
		event_free(c->retry);
	if (c->io != NULL)
		sio_free(c->io);
	free(c->head);
	if (wh != NULL) {
		TAILQ_REMOVE(&wh->conns, c, link);
		wh->nconns--;
	}
	free(c);
	if (wh != NULL)
		http_conn_gone(wh);
}

/*
 * The protocol a rule sees: on internal binds, X-Forwarded-Proto or
 * X-Forwarded-Protocol saying "https" or "ssl" (Mantrid's test) is https.
 */
static bool
conn_is_https(const struct conn *c)
{
	const struct hp_msg	*m = &c->req;
	const char		*v;
	unsigned		 i;
	size_t			 n;

	if (c->kind != BIND_INTERNAL)
		return false;
	for (i = 0; i < m->nhdrs; i++) {
		if (m->kind[i] != HK_XFPROTO && m->kind[i] != HK_XFPROTOCOL)
			continue;
		v = m->buf + m->hdrs[i].val_off;
		n = m->hdrs[i].val_len;
		if ((n == 5 && strncasecmp(v, "https", 5) == 0) ||
		    (n == 3 && strncasecmp(v, "ssl", 3) == 0))
			return true;
	}
	return false;
}

void
conn_dispatch(struct conn *c)
{
	struct ruledb		*db = c->wh->w->db;
	const struct rule_rec	*rec;
	enum resolve_kind	 rk;
	size_t			 hl = c->req.host_len;

	if (c->wh->w->draining)		/* e.g. released from spin */
		c->keepalive = false;
	/* NB: before the lookup; a park compares it (worker_spin.c). */
	c->rules_gen = ruledb_generation(db);
	rk = ruledb_resolve(db, c->head + c->req.host_off, hl, c->https, &rec);
	/* NB: local answers leave the body unread: the stream ends. */
	if ((c->req.chunked || c->req.content_length > 0) &&
	    (rk != RESOLVE_MATCH || (rec->action != RULE_PROXY &&
	    rec->action != RULE_SPIN)))
		c->keepalive = false;
	if (c->hc == NULL) {
		/* Mantrid counts what no rule matched as host "unknown" */
		c->hc = rk == RESOLVE_MATCH ? ruledb_counters(db, rec) :
		    ruledb_counters_unknown(db);
		if (c->hc != NULL)
			atomic_fetch_add_explicit(&c->hc->open, 1,
			    memory_order_relaxed);
	}
	if (rk == RESOLVE_NO_HOSTS) {
		static_builtin(c, "no-hosts", 0);
		return;
	}
	if (rk != RESOLVE_MATCH) {
		static_builtin(c, "unknown", 0);
		return;
	}
	switch (rec->action) {
	case RULE_PROXY:
		proxy_start(c, rec);
		break;
	case RULE_SPIN:
		spin_park(c, rec);
		break;
	case RULE_STATIC:
		static_serve(c, rec);
		break;
	case RULE_REDIRECT:
		static_redirect(c, rec);
		break;
	case RULE_EMPTY:
		static_empty(c, rec->code);
		break;
	case RULE_NO_HOSTS:
		static_builtin(c, "no-hosts", 0);
		break;
	default:
		static_builtin(c, "unknown", 0);
		break;
	}
}

static bool
head_complete(struct conn *c)
{
	char		 err[128];
	size_t		 hl = c->scan.total;
	enum hp_res	 r;
	struct evbuffer	*in = sio_input(c->io);

	if (hl > c->head_cap) {
		free(c->head);
		c->head_cap = hl < 1024 ? 1024 : hl;
		if ((c->head = malloc(c->head_cap)) == NULL) {
			c->head_cap = 0;
			conn_respond_error(c, 500);
			return false;
		}
	}
	evbuffer_remove(in, c->head, hl);
	c->bytes_in = hl;
	r = hp_parse_request(c->head, hl, &c->wh->lim, &c->req, err,
	    sizeof(err));
	if (r != HP_DONE) {
		log_debug("%s: %s: %s", __func__, c->peer_txt, err);
		conn_respond_error(c, hp_res_status(r));
		return false;
	}
	evtimer_del(c->timer);
	/* NB: while draining every response says Connection: close. */
	c->keepalive = c->req.keepalive && !c->eof && !c->wh->w->draining;
	c->https = conn_is_https(c);
	c->nreq++;
	return true;
}

/* Scan what arrived; returns HP_DONE when a whole head is buffered. */
static enum hp_res
scan_input(struct conn *c)
{
	struct evbuffer		*in = sio_input(c->io);
	struct evbuffer_ptr	 pos;
	struct evbuffer_iovec	 v[8];
	enum hp_res		 r = HP_MORE;
	size_t			 used;
	int			 i, n;

	while (r == HP_MORE && evbuffer_get_length(in) > c->scan.total) {
		if (evbuffer_ptr_set(in, &pos, c->scan.total,
		    EVBUFFER_PTR_SET) == -1)
			return HP_BAD;
		n = evbuffer_peek(in, -1, &pos, v, 8);
		for (i = 0; i < n && i < 8 && r == HP_MORE; i++)
			r = hp_scan_feed(&c->scan, &c->wh->lim, v[i].iov_base,
			    v[i].iov_len, &used);
	}
	return r;
}

static void
conn_read_head(struct conn *c)
{
	struct evbuffer	*in = sio_input(c->io);
	struct evbuffer	*out = sio_output(c->io);
	enum hp_res	 r;

	/* One request at a time; pipelined heads wait in the input. */
	while (c->state == CS_HEAD && evbuffer_get_length(in) > 0 &&
	    evbuffer_get_length(out) < c->wh->cfg->buffer_size) {
		if (!c->head_started) {
			c->head_started = true;
			gettimeofday(&c->t0, NULL);
			conn_timer_set(c, c->wh->cfg->timeout_header);
		}
		if ((r = scan_input(c)) == HP_MORE)
			return;
		if (r != HP_DONE) {
			conn_respond_error(c, hp_res_status(r));
			return;
		}
		if (!head_complete(c))
			return;
		conn_dispatch(c);
	}
}

void
conn_readcb(struct sio *io, void *arg)
{
	struct conn *c = arg;

	switch (c->state) {
	case CS_HEAD:
		conn_read_head(c);
		break;
	case CS_PROXY:
	case CS_TUNNEL:
		proxy_client_read(c);
		break;
	case CS_LINGER:
		conn_linger_read(c);
		break;
	default:
		break;		/* bytes wait, bounded by the watermark */
	}
}

/*
 * The last step of a close (nginx's lingering_close). A client may still
 * be sending a body that was not read (an error, or an answer before the
 * body's end): closing with unread bytes sends a RST, and a RST can
 * destroy the response the client has not read yet. So, while it may
 * send more: shutdown(SHUT_WR) (it reads the response, then EOF), then
 * read and drop until its EOF, LINGER_IDLE_S of silence or LINGER_MAX_MS
 * in all.
 */
#define LINGER_IDLE_S	2
#define LINGER_MAX_MS	5000

static void
conn_finish(struct conn *c)
{
	struct evbuffer *in = sio_input(c->io);
	bool more = evbuffer_get_length(in) > 0 ||
	    ((c->req.content_length > 0 || c->req.chunked) && !c->body_done);

	if (c->eof || !more || shutdown(sio_fd(c->io), SHUT_WR) == -1) {
		conn_free(c);
		return;
	}
	c->state = CS_LINGER;
	c->linger_until_ms = now_ms() + LINGER_MAX_MS;
	evbuffer_drain(in, evbuffer_get_length(in));
	sio_set_timeouts(c->io, 0, 0);
	sio_enable(c->io, EV_READ);
	conn_timer_set(c, LINGER_IDLE_S);
}

static void
conn_linger_read(struct conn *c)
{
	struct evbuffer *in = sio_input(c->io);

	evbuffer_drain(in, evbuffer_get_length(in));
	if (now_ms() >= c->linger_until_ms)
		conn_free(c);
	else
		conn_timer_set(c, LINGER_IDLE_S);
}

void
conn_writecb(struct sio *io, void *arg)
{
	struct conn *c = arg;

	switch (c->state) {
	case CS_CLOSING:
		if (evbuffer_get_length(sio_output(io)) == 0)
			conn_finish(c);
		break;
	case CS_PROXY:
	case CS_TUNNEL:
		proxy_client_drained(c);
		break;
	case CS_HEAD:
		conn_read_head(c);
		break;
	default:
		break;
	}
}

void
conn_close_after_write(struct conn *c)
{
	/*
	 * NB: also cancels conn_request_done's pending EV_READ activation
	 * of the timer (a pipelined head refused before it was whole): run
	 * later, it would re-arm the timer past the close's own timeouts.
	 */
	evtimer_del(c->timer);
	c->state = CS_CLOSING;
	c->keepalive = false;
	sio_disable(c->io, EV_READ);
	if (evbuffer_get_length(sio_output(c->io)) == 0) {
		conn_finish(c);
		return;
	}
	conn_timer_set(c, c->wh->cfg->timeout_client);
}

void
conn_account(struct conn *c)
{
	struct host_counters *hc = c->hc;
	unsigned cls = c->status / 100;

	if (c->wh->alog_fd != -1)
		accesslog_write(c->wh, c);
	if (hc == NULL)
		return;
	atomic_fetch_sub_explicit(&hc->open, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&hc->completed, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&hc->bytes_in, c->bytes_in,
	    memory_order_relaxed);
	atomic_fetch_add_explicit(&hc->bytes_out, c->bytes_out,
	    memory_order_relaxed);
	if (cls >= 1 && cls <= 5)
		atomic_fetch_add_explicit(&hc->status[cls - 1], 1,
		    memory_order_relaxed);
	c->hc = NULL;
}

/*
 * The response has been queued in full. Keep-alive: start on the next
 * (maybe already buffered, pipelined) request; else close after the flush.
 */
void
conn_request_done(struct conn *c)
{
	struct worker_http *wh = c->wh;

	conn_account(c);
	if (!c->keepalive || c->eof || c->wh->w->draining) {
		conn_close_after_write(c);
		return;
	}
	request_reset(c);
	conn_timer_set(c, wh->cfg->timeout_client);
	sio_enable(c->io, EV_READ);
	/* NB: not from within conn_read_head's loop (its caller resumes). */
	if (evbuffer_get_length(sio_input(c->io)) > 0)
		event_active(c->timer, EV_READ, 0);
}

/*
 * A local response (whole, in data; its last body bytes are the body).
 * NB: a HEAD gets the same head, Content-Length included, and no body:
 * bytes after the head would be read as the next response.
 */
void
conn_respond(struct conn *c, unsigned status, const char *data, size_t len,
    size_t body, bool close)
{
	if (c->req.method == HTTP_HEAD)
		len -= body;
	c->status = status;
	c->bytes_out += len;
	/* NB: a request body we did not read makes the stream unusable. */
	if (close || c->req.chunked || c->req.content_length > 0)
		c->keepalive = false;
	c->state = CS_RESPOND;
	evbuffer_add(sio_output(c->io), data, len);
	conn_request_done(c);
}

void
conn_respond_error(struct conn *c, unsigned status)
{
	char		 buf[256];
	const char	*reason = hp_reason(status);
	int		 n;

	n = snprintf(buf, sizeof(buf), "HTTP/1.1 %u %s\r\n"
	    "Content-Type: text/plain\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n%s\n", status, reason,
	    strlen(reason) + 1, reason);
	conn_respond(c, status, buf, (size_t)n, strlen(reason) + 1, true);
}

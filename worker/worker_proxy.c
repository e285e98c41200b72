/*
 * worker_proxy.c: owns the backend side of the proxy action: choosing a
 * backend, connecting (with attempts/delay retries) or taking a pooled
 * connection (worker_bpool.c), sending a rebuilt request head and
 * streaming the body (de-chunked and re-chunked), reading and rebuilding
 * the response, and the tunnel after a 101.
 *
 * Retry rule: request bytes are written to a backend only once its
 * connection is established, so a failed connect has sent nothing and may
 * be retried. A pooled connection that dies before any response byte is
 * retried once on a fresh connection, and only for a bodiless idempotent
 * request (the backend may have closed it while idle); nothing else is
 * ever replayed.
 *
 * Backpressure: each direction stops reading its source while the sink's
 * output holds buffer_size bytes, and resumes at half (write low-water
 * callbacks), so a slow reader never makes the worker buffer a response.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include <http_parser.h>

#include "../common/log.h"
#include "../common/ruledb.h"
#include "worker.h"
#include "worker_balance.h"
#include "worker_http_int.h"
#include "worker_sio.h"

static void	be_readcb(struct sio *, void *);
static void	be_writecb(struct sio *, void *);
static void	be_eventcb(struct sio *, short, void *);
static void	send_request(struct conn *);

/* Ready a connection (fresh or pooled) for a new exchange. */
static void
bconn_arm(struct bconn *b, struct conn *c)
{
	size_t		bs = b->wh->cfg->buffer_size;

	b->c = c;
	b->got_byte = b->head_sent = b->rechunk = b->until_close = false;
	b->resp_done = b->keepalive = b->begun = b->tunnel = false;
	memset(&b->scan, 0, sizeof(b->scan));
	memset(&b->chunk, 0, sizeof(b->chunk));
	b->scan.response = true;
	sio_setcb(b->io, be_readcb, be_writecb, be_eventcb, b);
	sio_setwatermark(b->io, EV_READ, 0, conn_read_hw(b->wh));
	sio_setwatermark(b->io, EV_WRITE, bs / 2, 0);
	if (b->connected)
		sio_set_timeouts(b->io, b->wh->cfg->timeout_server,
		    b->wh->cfg->timeout_server);
	sio_enable(b->io, EV_READ | EV_WRITE);
}

static struct bconn *
bconn_connect(struct worker_http *wh, uint32_t idx)
{
	struct backend_state	*bs = ruledb_backend(wh->w->db, idx);
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	struct bconn		*b;

	if (bs == NULL || (b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	memcpy(&ss, &bs->ss, sizeof(ss));
	sslen = bs->sslen;
	b->wh = wh;
	b->backend = idx;
	b->backend_gen = atomic_load_explicit(&bs->gen, memory_order_relaxed);
	b->io = sio_new(wh->w->base, -1);
	if (b->io == NULL) {
		free(b);
		return NULL;
	}
	sio_setcb(b->io, be_readcb, be_writecb, be_eventcb, b);
	/* NB: an sio times a connect with the write timeout. */
	sio_set_timeouts(b->io, 0, wh->cfg->timeout_connect);
	if (sio_connect(b->io, (struct sockaddr *)&ss, sslen) == -1) {
		bconn_free(b);
		return NULL;
	}
	return b;
}

/* Detach and close the backend connection (never pooled). */
void
proxy_abort(struct conn *c)
{
	struct bconn *b = c->be;

	if (c->retry != NULL)
		evtimer_del(c->retry);
	if (b == NULL)
		return;
	if (b->begun)
		balance_end(c->wh->w->db, b->backend, 0);
	c->be = NULL;
	bconn_free(b);
}

static void
retry_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct conn *c = arg;

	conn_dispatch(c);	/* re-resolve: the rule may have changed */
}

/* A connect failed: nothing was sent, so another attempt is safe. */
static void
attempt_failed(struct conn *c, bool refused)
{
	struct timeval tv;

	proxy_abort(c);
	c->refused = refused;
	if (++c->attempt < c->attempts && !c->wh->w->draining) {
		if (c->retry == NULL)
			c->retry = evtimer_new(c->wh->w->base, retry_cb, c);
		tv.tv_sec = c->delay_ms / 1000;
		tv.tv_usec = (c->delay_ms % 1000) * 1000;
		if (c->retry != NULL && evtimer_add(c->retry, &tv) == 0)
			return;
	}
	static_builtin(c, "timeout", refused ? 502 : 504);
}

void
proxy_start(struct conn *c, const struct rule_rec *rec)
{
	struct worker_http	*wh = c->wh;
	struct bconn		*b;
	uint32_t		 idx;

	if (c->attempt == 0) {
		c->body_left = c->req.content_length > 0 ?
		    c->req.content_length : 0;
		c->body_done = !c->req.chunked && c->body_left == 0;
		c->attempts = rec->attempts ? rec->attempts : 1;
		c->delay_ms = rec->delay_ms;
		sio_setwatermark(c->io, EV_WRITE,
		    wh->cfg->buffer_size / 2, 0);
		/* a slow reader: resp_done cleared it on a kept connection */
		sio_set_timeouts(c->io, 0, wh->cfg->timeout_client);
	}
	c->state = CS_PROXY;
	if (balance_pick(wh->w->db, rec, (struct sockaddr *)&c->peer,
	    &idx) == -1) {
		/* hold_when_down: wait (CH_BACKEND_UP) instead of failing */
		if (rec->hold_when_down && !wh->w->draining)
			spin_hold(c, rec);
		else
			static_builtin(c, "timeout", 503);
		return;
	}
	/* NB: after a pooled connection died, the one retry is fresh. */
	b = c->retried_fresh ? NULL : pool_get(wh, idx);
	if (b == NULL && (b = bconn_connect(wh, idx)) == NULL) {
		/* Passive health (issue 5): a failed socket counts. */
		balance_report(wh->w->db, idx, false);
		c->be = NULL;
		attempt_failed(c, true);
		return;
	}
	c->be = b;
	bconn_arm(b, c);
	/*
	 * In `active` from now, connecting included (leastconn sees it, and
	 * the entry is not reclaimed under it: ruledb_int.h 6); begun also
	 * tells proxy_abort to end it.
	 */
	balance_begin(wh->w->db, idx);
	b->begun = true;
	if (b->connected)
		send_request(c);
}

/* Append s to the reserved head buffer. */
#define PUT(p, s, n)	do { memcpy((p), (s), (n)); (p) += (n); } while (0)
#define PUTS(p, s)	PUT(p, s, strlen(s))

static bool
forward_hdr(const struct conn *c, unsigned i)
{
	const struct hp_msg *m = &c->req;

	if (m->hdrs[i].hop || m->kind[i] == HK_HOST)
		return false;
	if (c->kind == BIND_INTERNAL)
		return true;
	/* public binds: X-Forwarded-* from the client are never trusted */
	return m->kind[i] != HK_XFF && m->kind[i] != HK_XFPROTO &&
	    m->kind[i] != HK_XFPROTOCOL;
}

static char *
put_headers(const struct conn *c, char *p)
{
	const struct hp_msg	*m = &c->req;
	unsigned		 i;

	for (i = 0; i < m->nhdrs; i++) {
		if (!forward_hdr(c, i))
			continue;
		PUT(p, m->buf + m->hdrs[i].name_off, m->hdrs[i].name_len);
		PUT(p, ": ", 2);
		PUT(p, m->buf + m->hdrs[i].val_off, m->hdrs[i].val_len);
		PUT(p, "\r\n", 2);
	}
	return p;
}

/* Rebuild the request head from parsed parts: never the client's bytes. */
static void
write_request_head(struct conn *c, struct evbuffer *out)
{
	const struct hp_msg	*m = &c->req;
	struct evbuffer_iovec	 v;
	const char		*method = http_method_str(m->method);
	char			*p;
	/* each header line may grow by 2 bytes ("a:b" -> "a: b\r\n") */
	size_t			 need = m->len + 2 * (size_t)m->nhdrs + 256 +
				    sizeof(c->peer_txt);

	if (m->upgrade_hdr >= 0)
		need += m->hdrs[m->upgrade_hdr].val_len;
	if (evbuffer_reserve_space(out, need, &v, 1) < 1)
		return;
	p = v.iov_base;
	PUTS(p, method);
	PUT(p, " ", 1);
	if (hp_path_wants_slash(m))
		PUT(p, "/", 1);
	PUT(p, m->buf + m->path_off, m->path_len);
	PUTS(p, " HTTP/1.1\r\n");
	if (m->host_len > 0) {
		PUTS(p, "Host: ");
		PUT(p, m->buf + m->host_off, m->host_len);
		PUT(p, "\r\n", 2);
	}
	p = put_headers(c, p);
	if (c->kind != BIND_INTERNAL) {
		PUTS(p, "X-Forwarded-For: ");
		PUTS(p, c->peer_txt);
		PUTS(p, "\r\nX-Forwarded-Proto: http\r\n");
	}
	if (m->chunked)
		PUTS(p, "Transfer-Encoding: chunked\r\n");
	if (m->upgrade) {
		PUTS(p, "Connection: upgrade\r\nUpgrade: ");
		PUT(p, m->buf + m->hdrs[m->upgrade_hdr].val_off,
		    m->hdrs[m->upgrade_hdr].val_len);
		PUT(p, "\r\n", 2);
	}
	PUT(p, "\r\n", 2);
	v.iov_len = p - (char *)v.iov_base;
	evbuffer_commit_space(out, &v, 1);
}

static void
send_request(struct conn *c)
{
	struct bconn *b = c->be;

	write_request_head(c, sio_output(b->io));
	b->t_sent = now_ms();
	if (c->req.expect_continue && !c->body_done && !c->sent_continue) {
		c->sent_continue = true;
		evbuffer_add(sio_output(c->io),
		    "HTTP/1.1 100 Continue\r\n\r\n", 25);
	}
	proxy_client_read(c);
}

struct chunk_out {
	struct evbuffer	*out;
	bool		 encode;
	uint64_t	 n;
};

static void
chunk_data(void *arg, const char *p, size_t len)
{
	struct chunk_out	*co = arg;

	if (len == 0)
		return;
	if (co->encode)
		evbuffer_add_printf(co->out, "%zx\r\n", len);
	evbuffer_add(co->out, p, len);
	if (co->encode)
		evbuffer_add(co->out, "\r\n", 2);
	co->n += len;
}

/* Decode chunks from in, re-encode (or not) into out. */
static enum hp_res
rechunk(struct hp_chunk *ch, struct evbuffer *in, struct evbuffer *out,
    bool encode, uint64_t *moved)
{
	struct chunk_out	 co = { out, encode, 0 };
	struct evbuffer_iovec	 v[8];
	enum hp_res		 r = HP_MORE;
	size_t			 used, total;
	int			 i, n;

	while (r == HP_MORE && evbuffer_get_length(in) > 0) {
		n = evbuffer_peek(in, -1, NULL, v, 8);
		total = 0;
		for (i = 0; i < n && i < 8 && r == HP_MORE; i++) {
			r = hp_chunk_feed(ch, v[i].iov_base, v[i].iov_len,
			    &used, chunk_data, &co);
			total += used;
		}
		evbuffer_drain(in, total);
	}
	if (r == HP_DONE && encode)
		evbuffer_add(out, "0\r\n\r\n", 5);
	*moved = co.n;
	return r;
}

/*
 * Backpressure (see the top): up, client to backend, else back. The
 * reading side pauses while the other side's output holds buffer_size
 * bytes or more, and resumes when that output drains to half (be_writecb
 * for the client, proxy_client_drained for the backend).
 */
static void
pause_if_full(struct conn *c, bool up)
{
	struct sio *from = up ? c->io : c->be->io, *to = up ? c->be->io : c->io;

	if (evbuffer_get_length(sio_output(to)) < c->wh->cfg->buffer_size)
		return;
	if (up)
		c->in_paused = true;
	sio_disable(from, EV_READ);
}

/* Tunnel bytes one way, as a body goes. */
static void
tunnel_move(struct conn *c, bool up)
{
	struct sio *from = up ? c->io : c->be->io, *to = up ? c->be->io : c->io;

	evbuffer_add_buffer(sio_output(to), sio_input(from));
	pause_if_full(c, up);
}

/*
 * A bad chunk in a streamed request body. The head, and the chunks before
 * the bad one, may already be at the backend (a streaming proxy cannot
 * know better in advance): reset that connection (SO_LINGER 0, never a
 * FIN a lenient backend could take for the end, never pooled), so the
 * request can never complete there. The client gets 400 and close, or a
 * cut when the response head has already gone out.
 */
static void
body_failed(struct conn *c)
{
	struct linger	lg = { 1, 0 };

	if (c->be != NULL && c->be->connected)
		setsockopt(sio_fd(c->be->io), SOL_SOCKET, SO_LINGER, &lg,
		    sizeof(lg));
	if (c->be != NULL && c->be->head_sent) {
		conn_free(c);
		return;
	}
	proxy_abort(c);
	conn_respond_error(c, 400);
}

/* Client -> backend: the request body, or the tunnel. */
void
proxy_client_read(struct conn *c)
{
	struct bconn	*b = c->be;
	struct evbuffer	*in = sio_input(c->io), *out;
	uint64_t	 n;
	enum hp_res	 r;

	if (b == NULL || !b->connected || !b->begun)
		return;		/* body waits in the client's socket */
	out = sio_output(b->io);
	if (c->state == CS_TUNNEL) {
		tunnel_move(c, true);
		if (c->eof && evbuffer_get_length(out) == 0)
			conn_free(c);
		return;
	}
	if (c->body_done)
		return;
	if (c->req.chunked) {
		r = rechunk(&c->chunk, in, out, true, &n);
		c->bytes_in += n;
		if (r == HP_BAD) {
			body_failed(c);
			return;
		}
		c->body_done = r == HP_DONE;
	} else {
		n = evbuffer_get_length(in);
		if ((int64_t)n > c->body_left)
			n = c->body_left;
		evbuffer_remove_buffer(in, out, n);
		c->body_left -= n;
		c->bytes_in += n;
		c->body_done = c->body_left == 0;
	}
	if (c->body_done) {
		sio_set_timeouts(c->io, 0, c->wh->cfg->timeout_client);
		return;
	}
	if (c->eof) {			/* half-closed before the body's end */
		body_failed(c);
		return;
	}
	/* slow body: timeout_client between reads */
	sio_set_timeouts(c->io, c->wh->cfg->timeout_client,
	    c->wh->cfg->timeout_client);
	pause_if_full(c, true);
}

/* The client's output drained to half: resume reading the backend. */
void
proxy_client_drained(struct conn *c)
{
	struct bconn *b = c->be;

	if (b != NULL && !b->resp_done)
		sio_enable(b->io, EV_READ);
}

static void
be_writecb(struct sio *io, void *arg)
{
	struct bconn	*b = arg;
	struct conn	*c = b->c;

	if (c != NULL && c->in_paused) {
		c->in_paused = false;
		sio_enable(c->io, EV_READ);
		proxy_client_read(c);
	}
}

static void
resp_done(struct bconn *b)
{
	struct conn	*c = b->c;
	uint64_t	 rt = (now_ms() - b->t_sent) * 1000;

	if (!c->body_done)		/* early response: stream is unusable */
		c->keepalive = b->keepalive = false;
	balance_end(c->wh->w->db, b->backend, rt);
	b->begun = false;
	c->be = NULL;
	sio_set_timeouts(c->io, 0, 0);
	if (b->keepalive)
		pool_put(b);
	else
		bconn_free(b);
	conn_request_done(c);
}

static bool
resp_forward_hdr(const struct hp_msg *m, unsigned i)
{
	return !m->hdrs[i].hop;
}

/*
 * The rebuilt head's size, at most: each header line grows by 2 bytes
 * at most ("a:b\n" becomes "a: b\r\n"), the status line by a built-in
 * reason phrase when the backend sent none, and the lines added below
 * take RESP_HEAD_ADDED bytes plus the Upgrade value.
 */
#define RESP_REASON_MAX	64
#define RESP_HEAD_ADDED	128

static size_t
response_head_max(const struct bconn *b)
{
	const struct hp_msg *m = &b->resp;
	size_t n = m->len + 2 * (size_t)m->nhdrs + RESP_REASON_MAX +
	    RESP_HEAD_ADDED;

	if (b->tunnel)
		n += m->hdrs[m->upgrade_hdr].val_len;
	return n;
}

static void
write_response_head(struct conn *c, struct bconn *b, struct evbuffer *out)
{
	const struct hp_msg	*m = &b->resp;
	struct evbuffer_iovec	 v;
	char			*p, code[8];
	unsigned		 i;

	if (evbuffer_reserve_space(out, response_head_max(b), &v, 1) < 1)
		return;
	p = v.iov_base;
	PUTS(p, "HTTP/1.1 ");
	if (m->status >= 100 && m->status <= 999) {	/* NB: no printf */
		*p++ = '0' + m->status / 100;
		*p++ = '0' + m->status / 10 % 10;
		*p++ = '0' + m->status % 10;
		*p++ = ' ';
	} else {
		snprintf(code, sizeof(code), "%u ", m->status);
		PUTS(p, code);
	}
	if (m->reason_len)
		PUT(p, m->buf + m->reason_off, m->reason_len);
	else
		PUTS(p, hp_reason(m->status));
	PUT(p, "\r\n", 2);
	for (i = 0; i < m->nhdrs; i++) {
		if (!resp_forward_hdr(m, i))
			continue;
		PUT(p, m->buf + m->hdrs[i].name_off, m->hdrs[i].name_len);
		PUT(p, ": ", 2);
		PUT(p, m->buf + m->hdrs[i].val_off, m->hdrs[i].val_len);
		PUT(p, "\r\n", 2);
	}
	if (b->tunnel) {
		PUTS(p, "Connection: upgrade\r\nUpgrade: ");
		PUT(p, m->buf + m->hdrs[m->upgrade_hdr].val_off,
		    m->hdrs[m->upgrade_hdr].val_len);
		PUT(p, "\r\n", 2);
	} else if (b->rechunk && c->req.minor == 1)
		PUTS(p, "Transfer-Encoding: chunked\r\n");
	if (c->wh->w->draining)		/* drain began while at the backend */
		c->keepalive = false;
	if (!b->tunnel && !c->keepalive)
		PUTS(p, "Connection: close\r\n");
	else if (!b->tunnel && c->req.minor == 0)
		PUTS(p, "Connection: keep-alive\r\n");
	PUT(p, "\r\n", 2);
	v.iov_len = p - (char *)v.iov_base;
	c->bytes_out += v.iov_len;
	evbuffer_commit_space(out, &v, 1);
}

static void
bad_gateway(struct bconn *b, unsigned status)
{
	struct conn *c = b->c;

	if (b->head_sent) {		/* too late for a status: cut */
		conn_free(c);
		return;
	}
	proxy_abort(c);
	static_builtin(c, "timeout", status);
}

static bool
resp_head_buffered(struct bconn *b)
{
	struct evbuffer		*in = sio_input(b->io);
	struct evbuffer_ptr	 pos;
	struct evbuffer_iovec	 v[8];
	enum hp_res		 r = HP_MORE;
	size_t			 used;
	int			 i, n;

	while (r == HP_MORE && evbuffer_get_length(in) > b->scan.total) {
		evbuffer_ptr_set(in, &pos, b->scan.total, EVBUFFER_PTR_SET);
		n = evbuffer_peek(in, -1, &pos, v, 8);
		for (i = 0; i < n && i < 8 && r == HP_MORE; i++)
			r = hp_scan_feed(&b->scan, &b->wh->lim, v[i].iov_base,
			    v[i].iov_len, &used);
	}
	if (r == HP_MORE)
		return false;
	if (r != HP_DONE) {
		bad_gateway(b, 502);
		return false;
	}
	return true;
}

/* Framing and keep-alive from the parsed response head. */
static void
resp_framing(struct conn *c, struct bconn *b)
{
	const struct hp_msg *m = &b->resp;

	b->keepalive = m->keepalive;
	b->resp_left = 0;
	if (!hp_response_has_body(m->status, c->req.method))
		;
	else if (m->chunked)
		b->rechunk = true;
	else if (m->content_length >= 0)
		b->resp_left = m->content_length;
	else
		b->until_close = true;
	if (b->until_close) {
		b->keepalive = false;
		c->keepalive = false;
	}
	if (b->rechunk && c->req.minor == 0)
		c->keepalive = false;	/* HTTP/1.0: delimit by close */
}

static void
start_tunnel(struct conn *c, struct bconn *b)
{
	b->tunnel = true;
	c->state = CS_TUNNEL;
	c->status = 101;
	b->keepalive = false;
	write_response_head(c, b, sio_output(c->io));
	b->head_sent = true;
	conn_account(c);
	/* NB: a tunnel is idle as long as its peers like. */
	sio_set_timeouts(c->io, 0, 0);
	sio_set_timeouts(b->io, 0, 0);
	sio_enable(c->io, EV_READ);
	tunnel_move(c, true);
	tunnel_move(c, false);
}

/* Returns true when a head was taken and the body may follow. */
static bool
read_resp_head(struct bconn *b)
{
	struct conn	*c = b->c;
	struct evbuffer	*in = sio_input(b->io);
	size_t		 hl;
	char		 err[128];

	for (;;) {
		if (!resp_head_buffered(b))
			return false;
		hl = b->scan.total;
		if (hl > b->head_cap) {
			free(b->head);
			b->head_cap = hl < 1024 ? 1024 : hl;
			if ((b->head = malloc(b->head_cap)) == NULL) {
				b->head_cap = 0;
				bad_gateway(b, 502);
				return false;
			}
		}
		evbuffer_remove(in, b->head, hl);
		if (hp_parse_response(b->head, hl, c->req.method, &b->resp,
		    err, sizeof(err)) != HP_DONE) {
			log_warnx("%s: backend %u: %s", __func__, b->backend,
			    err);
			bad_gateway(b, 502);
			return false;
		}
		/*
		 * Passive health (issue 5): a final response head (or the
		 * 101 of a tunnel) is a success; an interim 1xx is not, or a
		 * backend that sends "100 Continue" and then fails would
		 * clear its run of failures on every attempt.
		 */
		if (b->resp.status == 101 && c->req.upgrade &&
		    b->resp.upgrade_hdr >= 0) {
			balance_report(c->wh->w->db, b->backend, true);
			start_tunnel(c, b);
			return false;
		}
		if (b->resp.status >= 200) {
			balance_report(c->wh->w->db, b->backend, true);
			break;
		}
		memset(&b->scan, 0, sizeof(b->scan));	/* 1xx: skip */
		b->scan.response = true;
	}
	resp_framing(c, b);
	c->status = b->resp.status;
	write_response_head(c, b, sio_output(c->io));
	b->head_sent = true;
	return true;
}

/* Backend -> client: the response body. */
static void
forward_body(struct bconn *b)
{
	struct conn	*c = b->c;
	struct evbuffer	*in = sio_input(b->io);
	struct evbuffer	*out = sio_output(c->io);
	uint64_t	 n;
	enum hp_res	 r;

	if (b->rechunk) {
		r = rechunk(&b->chunk, in, out, c->req.minor == 1, &n);
		if (r == HP_BAD) {
			conn_free(c);	/* bad chunk after the head: cut */
			return;
		}
		b->resp_done = r == HP_DONE;
	} else {
		n = evbuffer_get_length(in);
		if (!b->until_close && (int64_t)n > b->resp_left)
			n = b->resp_left;
		evbuffer_remove_buffer(in, out, n);
		if (!b->until_close)
			b->resp_left -= n;
		b->resp_done = !b->until_close && b->resp_left == 0;
	}
	c->bytes_out += n;
	if (b->resp_done) {
		if (evbuffer_get_length(in) > 0)
			b->keepalive = false;	/* junk after the response */
		resp_done(b);
		return;
	}
	pause_if_full(c, false);
}

static void
be_readcb(struct sio *io, void *arg)
{
	struct bconn	*b = arg;
	struct conn	*c = b->c;

	b->got_byte = true;
	if (b->tunnel) {
		tunnel_move(c, false);
		return;
	}
	if (!b->head_sent && !read_resp_head(b))
		return;
	forward_body(b);
}

static bool
replayable(const struct conn *c)
{
	unsigned m = c->req.method;

	return !c->retried_fresh && !c->req.chunked &&
	    c->req.content_length <= 0 && (m == HTTP_GET || m == HTTP_HEAD ||
	    m == HTTP_OPTIONS);
}

static void
be_connected(struct bconn *b)
{
	int		one = 1;

	b->connected = true;
	setsockopt(sio_fd(b->io), IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one));
	sio_set_timeouts(b->io, b->wh->cfg->timeout_server,
	    b->wh->cfg->timeout_server);
	/*
	 * NB: no passive-health success here: a backend that accepts and
	 * then closes or never answers must still count as failing. The
	 * success is the response head (read_resp_head).
	 */
	if (b->c != NULL)
		send_request(b->c);
}

/* The backend closed or failed after the request was (maybe) sent. */
static void
be_lost(struct bconn *b, short what)
{
	struct conn *c = b->c;

	if (b->tunnel) {
		tunnel_move(c, false);
		proxy_abort(c);
		conn_close_after_write(c);
		return;
	}
	if (!b->got_byte && b->reused && replayable(c)) {
		c->retried_fresh = true;
		proxy_abort(c);
		conn_dispatch(c);
		return;
	}
	if (b->head_sent && b->until_close && (what & SIO_EOF)) {
		forward_body(b);
		if (b->c != NULL)
			resp_done(b);
		return;
	}
	/*
	 * Passive health (issue 5): closed, reset or timed out before the
	 * response head is a failure, once for this attempt (bad_gateway
	 * ends it). The replay above is not counted: an idle pooled
	 * connection may be closed by a healthy backend.
	 */
	if (!b->head_sent)
		balance_report(c->wh->w->db, b->backend, false);
	bad_gateway(b, (what & SIO_TIMEOUT) ? 504 : 502);
}

static void
be_eventcb(struct sio *io, short what, void *arg)
{
	struct bconn	*b = arg;
	struct conn	*c = b->c;

	if (what & SIO_CONNECTED) {
		be_connected(b);
		return;
	}
	if (c == NULL) {
		bconn_free(b);
		return;
	}
	if (!b->connected) {
		/* Passive health (issue 5): refused or timed out. */
		balance_report(c->wh->w->db, b->backend, false);
		log_debug("%s: backend %u: connect %s", __func__, b->backend,
		    (what & SIO_TIMEOUT) ? "timed out" :
		    strerror(EVUTIL_SOCKET_ERROR()));
		attempt_failed(c, !(what & SIO_TIMEOUT));
		return;
	}
	be_lost(b, what);
}

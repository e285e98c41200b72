/*
 * worker_http_int.h: the data plane's private types, shared by the
 * worker_*.c files that implement worker_http_* (worker.h). Nothing here
 * crosses a process boundary.
 *
 * Life of a request: worker_conn.c accepts and reads the head through
 * worker_parse.h's three gates, resolves the Host in the rule DB and runs
 * the action: worker_proxy.c (backend, body streaming, response, tunnel;
 * idle backend connections in worker_bpool.c), worker_spin.c (park until the rule changes), worker_static.c
 * (static, redirect, empty, unknown and no_hosts pages). Every request
 * ends in conn_request_done(), which updates counters and the access log.
 *
 * NB: a struct rule_rec pointer is valid only until the worker's next
 * quiescent point (each event-loop pass): nothing here keeps one across
 * callbacks; what outlives the callback is copied or re-resolved.
 */
#ifndef MANTRID_WORKER_HTTP_INT_H
#define MANTRID_WORKER_HTTP_INT_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <stdbool.h>
#include <stdint.h>

#include "../common/config-t.h"
#include "../common/ruledb-t.h"
#include "worker_parse.h"

struct sio;
struct event;
struct evbuffer;
struct evconnlistener;
struct worker;
struct bconn;
struct spin_host;

enum conn_state {
	CS_HEAD = 0,	/* reading a request head (or idle keep-alive) */
	CS_PARKED,	/* spin: waiting for the rule to change */
	CS_PROXY,	/* a backend is handling the request */
	CS_RESPOND,	/* a local response is being written */
	CS_TUNNEL,	/* after 101: bytes both ways */
	CS_CLOSING,	/* flush the output, then close */
	CS_LINGER	/* written and shut for writing: drop input, close */
};

struct conn {
	TAILQ_ENTRY(conn)	 link;		/* worker_http.conns */
	TAILQ_ENTRY(conn)	 spin_link;	/* spin_host.parked */
	struct worker_http	*wh;
	struct sio		*io;
	enum bind_kind		 kind;
	struct sockaddr_storage	 peer;
	char			 peer_txt[64];
	enum conn_state		 state;
	struct event		*timer;		/* head, idle or spin timer */
	bool			 head_started;	/* first byte of the head seen */
	bool			 eof;		/* client sent FIN */

	/* current request */
	struct hp_scan		 scan;
	char			*head;		/* copy of the raw head */
	size_t			 head_cap;
	struct hp_msg		 req;
	char			 host[RULE_HOST_MAX + 8];
	bool			 https;		/* protocol for rules, redirects */
	bool			 keepalive;	/* after this response */
	struct host_counters	*hc;		/* NB: shm slot, see below */
	unsigned		 status;
	uint64_t		 bytes_in, bytes_out;
	struct timeval		 t0;
	unsigned		 nreq;

	/* request body, client -> backend */
	int64_t			 body_left;	/* CL framing */
	struct hp_chunk		 chunk;
	bool			 body_done;

	/* proxy */
	struct bconn		*be;
	unsigned		 attempt;
	bool			 refused;	/* last failure: 502, else 504 */
	bool			 retried_fresh;	/* reused conn died: one retry */
	bool			 sent_continue;
	bool			 in_paused;	/* client read off: backpressure */
	uint32_t		 attempts;	/* copied from the rule */
	uint32_t		 delay_ms;
	struct event		*retry;

	/* spin, and proxy's hold_when_down (parked the same way) */
	struct spin_host	*spin;
	uint64_t		 spin_deadline_ms;
	uint64_t		 linger_until_ms;	/* CS_LINGER */
	uint64_t		 rules_gen;	/* generation before the lookup */
	bool			 held;		/* parked for a backend */
};

struct bconn {
	TAILQ_ENTRY(bconn)	 link;		/* pool idle list */
	struct worker_http	*wh;
	struct sio		*io;
	struct conn		*c;		/* NULL when idle in the pool */
	uint32_t		 backend;
	uint32_t		 backend_gen;	/* its incarnation (pool) */
	bool			 connected;
	bool			 reused;
	bool			 got_byte;	/* a response byte arrived */
	bool			 head_sent;	/* response head sent to client */
	bool			 rechunk;	/* de-chunk + re-chunk to client */
	bool			 until_close;
	bool			 resp_done;
	bool			 keepalive;
	bool			 begun;		/* balance_begin called */
	bool			 tunnel;
	uint64_t		 t_sent;	/* ms, request sent */
	struct hp_scan		 scan;
	struct hp_msg		 resp;
	char			*head;
	size_t			 head_cap;
	int64_t			 resp_left;
	struct hp_chunk		 chunk;
};

TAILQ_HEAD(conn_list, conn);
TAILQ_HEAD(bconn_list, bconn);

struct pool_slot {
	struct bconn_list	 idle;
	unsigned		 nidle;
};

struct static_page {
	char			*type;
	char			*data;		/* whole raw HTTP response */
	size_t			 len;
	size_t			 body;		/* bytes after the head */
};

struct worker_http {
	struct worker		*w;
	const struct config	*cfg;
	struct hp_limits	 lim;
	struct listener {
		struct worker_http	*wh;
		struct evconnlistener	*el;
		enum bind_kind		 kind;
	}			 ls[CONFIG_MAX_BINDS];
	size_t			 nls;
	bool			 accepting;
	bool			 paused;	/* max_connections reached */
	char			 logged[16][32];	/* unknown static types */
	unsigned		 nlogged;
	uint64_t		 timeouts_head, timeouts_spin;
	struct conn_list	 conns;
	unsigned		 nconns;
	struct pool_slot	**pool;		/* indexed by backend index */
	size_t			 npool;
	struct spin_host	**spin_tab;	/* hash by host, chained */
	size_t			 spin_buckets;
	unsigned		 nparked;
	struct event		*spin_recheck;	/* a park raced a change */
	struct static_page	*pages;
	size_t			 npages;
	int			 alog_fd;
	struct event		*usr1;
	uint32_t		 rnd;
};

/* worker_http.c */
void	http_conn_gone(struct worker_http *);

/* worker_conn.c */
size_t	conn_read_hw(const struct worker_http *);
void	conn_accept(struct worker_http *, int fd, struct sockaddr *, int,
	    enum bind_kind);
void	conn_free(struct conn *);
void	conn_dispatch(struct conn *);
void	conn_respond(struct conn *, unsigned status, const char *data,
	    size_t len, size_t body, bool close);
void	conn_respond_error(struct conn *, unsigned status);
void	conn_request_done(struct conn *);
void	conn_account(struct conn *);
void	conn_close_after_write(struct conn *);
void	conn_readcb(struct sio *, void *);
void	conn_writecb(struct sio *, void *);
void	conn_timer_set(struct conn *, unsigned secs);
bool	conn_idle(const struct conn *);
uint64_t now_ms(void);

/* worker_proxy.c */
void	proxy_start(struct conn *, const struct rule_rec *);
void	proxy_client_read(struct conn *);
void	proxy_client_drained(struct conn *);
void	proxy_abort(struct conn *);

/* worker_bpool.c: idle keep-alive connections per backend */
void	bconn_free(struct bconn *);
void	pool_put(struct bconn *);	/* or free it */
struct bconn *pool_get(struct worker_http *, uint32_t backend);
void	pool_free_all(struct worker_http *);

/* worker_spin.c */
void	spin_park(struct conn *, const struct rule_rec *);
void	spin_hold(struct conn *, const struct rule_rec *);
void	spin_backend_up(struct worker_http *, uint32_t backend_idx);
void	spin_unpark(struct conn *);
void	spin_rule_changed(struct worker_http *, const char *key);
void	spin_release_all(struct worker_http *);
size_t	spin_timeout_all(struct worker_http *);

/* worker_static.c */
void	static_load(struct worker_http *);
void	static_free(struct worker_http *);
void	static_serve(struct conn *, const struct rule_rec *);
void	static_builtin(struct conn *, const char *type, unsigned status);
void	static_redirect(struct conn *, const struct rule_rec *);
void	static_empty(struct conn *, unsigned code);

/* worker_accesslog.c */
void	accesslog_open(struct worker_http *);
void	accesslog_reopen(struct worker_http *);
void	accesslog_write(struct worker_http *, const struct conn *);

#endif

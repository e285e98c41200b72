/*
 * worker.h: the worker process (data plane). worker.c owns the process
 * lifecycle (event loop, signals, master channel, quiescent points);
 * worker_http*.c own the connections.
 */
#ifndef MANTRID_WORKER_H
#define MANTRID_WORKER_H

#include <stdbool.h>

#include "../common/heritage.h"
#include "../common/channel.h"

struct event_base;
struct ruledb;

struct worker {
	const struct heritage	*her;
	const struct config	*cfg;
	struct event_base	*base;
	struct ruledb		*db;
	bool			 draining;
	struct worker_http	*http;		/* owned by worker_http.c */
};

/* worker.c: never returns. */
void	worker_main(const struct heritage *) __attribute__((noreturn));

/* worker_http.c */
int	worker_http_start(struct worker *);	/* listen on her->listeners */
void	worker_http_stop_accepting(struct worker *);
unsigned worker_http_active(const struct worker *); /* open client conns */
void	worker_http_close_idle(struct worker *);	/* drain: idle keep-alive */
size_t	worker_http_timeout_parked(struct worker *); /* drain: 504 them */
void	worker_http_channel(struct worker *, const struct channel_msg *);
/* USR1: reopen the access log. */
void	worker_http_reopen_logs(struct worker *);

#endif

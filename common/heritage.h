/*
 * heritage.h: everything a worker inherits over fork, in one struct
 * (Varnish's heritage). The worker closes every other descriptor.
 */
#ifndef MANTRID_HERITAGE_H
#define MANTRID_HERITAGE_H

#include <sys/types.h>

#include "config-t.h"

struct heritage_listener {
	int		fd;
	enum bind_kind	kind;		/* BIND_PUBLIC or BIND_INTERNAL */
};

struct heritage {
	const struct config	*cfg;		/* copy-on-write after fork */
	struct heritage_listener listeners[CONFIG_MAX_BINDS];
	size_t			 nlisteners;
	int			 shm_fd;
	int			 channel_fd;	/* worker end of the socketpair */
	pid_t			 master_pid;
	unsigned		 worker_id;	/* 0-based, also reader slot */
	int			 static_dirfd;	/* -1 if none */
};

#endif

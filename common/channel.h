/*
 * channel.h: the master <-> worker socketpair protocol. Fixed-size
 * datagrams (SOCK_SEQPACKET), so a message is never split or merged.
 * The master never blocks on a worker: sends are non-blocking and a full
 * channel drops the notification and sets CH_RESYNC on the next one.
 */
#ifndef MANTRID_CHANNEL_H
#define MANTRID_CHANNEL_H

#include <stdint.h>

#include "rule-t.h"

enum channel_type {
	CH_RULE_CHANGED = 1,	/* master->worker: key's rule changed */
	CH_RESYNC,		/* master->worker: anything may have changed */
	CH_STATIC_RELOAD,	/* master->worker: static pages reloaded */
	CH_BACKEND_UP		/* master->worker: a backend came back */
};

struct channel_msg {
	uint32_t	type;		/* enum channel_type */
	uint32_t	arg;		/* e.g. backend index */
	uint64_t	generation;
	char		key[RULE_KEY_MAX + 1];
};

/* Returns 0, or -1 with errno (EAGAIN: channel full). */
int	channel_send(int fd, const struct channel_msg *);
/* Returns 1 on a message, 0 on EOF, -1 with errno. */
int	channel_recv(int fd, struct channel_msg *);

#endif

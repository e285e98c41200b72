/*
 * master_bind.c: open every listening socket while still privileged.
 * Each public (or internal) address gets one SO_REUSEPORT socket per
 * worker, so the kernel spreads connections without a shared accept
 * queue; the master keeps them all open so a dead worker's queue waits
 * for its successor. Management addresses get one plain socket each.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/log.h"
#include "master.h"

static int
bind_one(const struct bind_addr *b, int reuseport, int backlog,
    char *err, size_t errlen)
{
	int fd, on = 1;

	fd = socket(b->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
		goto fail;
	if (reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) == -1)
		goto fail;
	if (b->ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) == -1)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&b->ss, b->sslen) == -1 ||
	    listen(fd, backlog) == -1)
		goto fail;
	return fd;
fail:
	snprintf(err, errlen, "cannot listen on %s: %s", b->text,
	    strerror(errno));
	if (fd != -1)
		close(fd);
	return -1;
}

/*
 * SO_REUSEPORT would let us share a port with another process of the
 * same user (a second mantrid, say) without a word. Probe with a plain
 * socket first so "address in use" is reported as such.
 */
static int
probe_free(const struct bind_addr *b, int backlog, char *err, size_t errlen)
{
	int fd = bind_one(b, 0, backlog, err, errlen);

	if (fd == -1)
		return -1;
	close(fd);
	return 0;
}

int
master_bind(struct master *m, char *err, size_t errlen)
{
	const struct config *cfg = &m->cfg;
	size_t i, npub = 0;
	unsigned w;
	int fd;

	for (i = 0; i < cfg->nbinds; i++)
		if (cfg->binds[i].kind != BIND_MANAGEMENT)
			npub++;
	m->npublic = npub;
	m->public_fds = calloc(npub * m->nworkers + 1, sizeof(int));
	if (m->public_fds == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	npub = 0;
	for (i = 0; i < cfg->nbinds; i++) {
		const struct bind_addr *b = &cfg->binds[i];

		if (b->kind == BIND_MANAGEMENT) {
			if ((fd = bind_one(b, 0, cfg->backlog, err, errlen)) == -1)
				return -1;
			m->mgmt_fds[m->nmgmt++] = fd;
			continue;
		}
		if (probe_free(b, cfg->backlog, err, errlen) == -1)
			return -1;
		for (w = 0; w < m->nworkers; w++) {
			fd = bind_one(b, 1, cfg->backlog, err, errlen);
			if (fd == -1)
				return -1;
			m->public_fds[w * m->npublic + npub] = fd;
		}
		npub++;
	}
	return 0;
}

/* The listeners of worker `w`, in config order, for its heritage. */
void
master_worker_listeners(const struct master *m, unsigned w,
    struct heritage *her)
{
	const struct config *cfg = &m->cfg;
	size_t i, j = 0;

	for (i = 0; i < cfg->nbinds; i++) {
		if (cfg->binds[i].kind == BIND_MANAGEMENT)
			continue;
		her->listeners[j].fd = m->public_fds[w * m->npublic + j];
		her->listeners[j].kind = cfg->binds[i].kind;
		j++;
	}
	her->nlisteners = j;
}

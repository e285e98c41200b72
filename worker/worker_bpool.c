/*
 * worker_bpool.c: owns the per-worker keep-alive pool of backend
 * connections: idle connections per backend index (most recent first,
 * POOL_IDLE_MAX at most), dropped at the first byte or event while idle
 * (the backend closed it or spoke out of turn), after timeout_client, or
 * when taken after the index was reused for another address (gen).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "../common/ruledb.h"
#include "worker.h"
#include "worker_http_int.h"
#include "worker_sio.h"

#define POOL_IDLE_MAX	256	/* idle connections per backend */

void
bconn_free(struct bconn *b)
{
	if (b->io != NULL)
		sio_free(b->io);
	free(b->head);
	free(b);
}

static struct pool_slot *
pool_slot(struct worker_http *wh, uint32_t idx, bool create)
{
	struct pool_slot	**np;
	size_t			  n;

	if (idx >= wh->npool) {
		if (!create)
			return NULL;
		n = idx + 16;
		if ((np = reallocarray(wh->pool, n, sizeof(*np))) == NULL)
			return NULL;
		memset(np + wh->npool, 0, (n - wh->npool) * sizeof(*np));
		wh->pool = np;
		wh->npool = n;
	}
	if (wh->pool[idx] == NULL && create) {
		if ((wh->pool[idx] = calloc(1, sizeof(struct pool_slot))) == NULL)
			return NULL;
		TAILQ_INIT(&wh->pool[idx]->idle);
	}
	return wh->pool[idx];
}

static void
pool_remove(struct bconn *b)
{
	struct pool_slot *ps = pool_slot(b->wh, b->backend, false);

	TAILQ_REMOVE(&ps->idle, b, link);
	ps->nidle--;
}

/* An idle pooled connection: any byte or event means it is done for. */
static void
idle_readcb(struct sio *io, void *arg)
{
	struct bconn *b = arg;

	pool_remove(b);
	bconn_free(b);
}

static void
idle_eventcb(struct sio *io, short what, void *arg)
{
	idle_readcb(io, arg);
}

void
pool_put(struct bconn *b)
{
	struct worker_http	*wh = b->wh;
	struct pool_slot	*ps = pool_slot(wh, b->backend, true);

	if (ps == NULL || ps->nidle >= POOL_IDLE_MAX || wh->w->draining ||
	    evbuffer_get_length(sio_input(b->io)) > 0) {
		bconn_free(b);
		return;
	}
	b->c = NULL;
	sio_setcb(b->io, idle_readcb, NULL, idle_eventcb, b);
	sio_set_timeouts(b->io, wh->cfg->timeout_client, 0);
	sio_enable(b->io, EV_READ);
	TAILQ_INSERT_HEAD(&ps->idle, b, link);
	ps->nidle++;
}

struct bconn *
pool_get(struct worker_http *wh, uint32_t idx)
{
	struct pool_slot	*ps = pool_slot(wh, idx, false);
	struct backend_state	*bs = ruledb_backend(wh->w->db, idx);
	struct bconn		*b;
	uint32_t		 gen;

	if (ps == NULL || bs == NULL)
		return NULL;
	/* NB: the rule naming idx was read after gen (ruledb_int.h 6) */
	gen = atomic_load_explicit(&bs->gen, memory_order_relaxed);
	while ((b = TAILQ_FIRST(&ps->idle)) != NULL) {
		TAILQ_REMOVE(&ps->idle, b, link);
		ps->nidle--;
		if (b->backend_gen == gen) {
			b->reused = true;
			return b;
		}
		bconn_free(b);	/* the old address's connection */
	}
	return NULL;
}

void
pool_free_all(struct worker_http *wh)
{
	struct bconn	*b;
	size_t		 i;

	for (i = 0; i < wh->npool; i++) {
		if (wh->pool[i] == NULL)
			continue;
		while ((b = TAILQ_FIRST(&wh->pool[i]->idle)) != NULL) {
			pool_remove(b);
			bconn_free(b);
		}
	}
}

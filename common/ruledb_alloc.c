/*
 * ruledb_alloc.c: the master's allocator over the rule database's arena,
 * the limbo list of retired memory and its reclamation (QSBR, see the
 * protocol at struct ruledb_hdr in ruledb_int.h), and the host counter
 * slots. Master only: all bookkeeping lives in the master's heap, since
 * it is the single writer; workers never allocate.
 */
#include <sys/mman.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ruledb_int.h"

#define POISON	0xa5

int
rdb_vec_push(struct rdb_vec64 *v, uint64_t x)
{
	uint64_t *nv;
	size_t ncap;

	if (v->n == v->cap) {
		ncap = v->cap ? v->cap * 2 : 64;
		if ((nv = realloc(v->v, ncap * sizeof(*nv))) == NULL)
			return -1;
		v->v = nv;
		v->cap = ncap;
	}
	v->v[v->n++] = x;
	return 0;
}

struct rdb_master *
rdb_master_new(struct ruledb *db)
{
	struct rdb_master *m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->bump = db->hdr->arena_off;
	m->cbump = RDB_COUNTER_UNKNOWN + 1;	/* slot 0: no host's */
	m->bmeta = calloc(db->hdr->nbackends, sizeof(*m->bmeta));
	m->ckept = calloc(db->hdr->ncounters / 8 + 1, 1);
	if (m->bmeta == NULL || m->ckept == NULL) {
		free(m->bmeta);
		free(m->ckept);
		free(m);
		return NULL;
	}
	return m;
}

void
rdb_master_free(struct rdb_master *m)
{
	struct rdb_bnode *n, *next;
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < RDB_NCLASSES; i++)
		free(m->freel[i].v);
	for (i = 0; i < m->nbbuckets; i++)
		for (n = m->bbuckets[i]; n != NULL; n = next) {
			next = n->next;
			free(n);
		}
	free(m->bbuckets);
	free(m->bfree.v);
	free(m->bmeta);
	free(m->limbo);
	free(m->cfree);
	free(m->ckept);
	free(m);
}

/* Class index and rounded size of a request. */
static size_t
size_class(size_t size, size_t *rounded)
{
	size_t c, s;

	if (size <= RDB_SMALL_MAX) {
		s = (size + RDB_ALIGN - 1) & ~(size_t)(RDB_ALIGN - 1);
		if (s == 0)
			s = RDB_ALIGN;
		*rounded = s;
		return s / RDB_ALIGN - 1;
	}
	for (c = 0, s = RDB_SMALL_MAX * 2; s < size; c++)
		s <<= 1;
	*rounded = s;
	return RDB_SMALL_MAX / RDB_ALIGN + c;
}

size_t
rdb_block_size(size_t size)
{
	size_t r;

	(void)size_class(size, &r);
	return r;
}

/*
 * Fault fresh arena in POPULATE_CHUNK at a time ahead of the bump pointer:
 * one madvise instead of a page fault per 4 KiB touched (bulk loads and
 * replace_all run about a third faster in a VM). Best effort.
 */
#define POPULATE_CHUNK	(2 * 1024 * 1024)
static void
populate(struct ruledb *db)
{
	struct rdb_master *m = db->m;
	uint64_t pmask = ~((uint64_t)sysconf(_SC_PAGESIZE) - 1), from, to;

	from = m->populated & pmask;
	to = (m->bump + POPULATE_CHUNK) & pmask;
	if (to > (db->hdr->arena_end & pmask))
		to = db->hdr->arena_end & pmask;
#ifdef MADV_POPULATE_WRITE
	if (to > from)
		(void)madvise(db->base + from, to - from, MADV_POPULATE_WRITE);
#endif
	m->populated = to > m->bump ? to : m->bump;
}

/*
 * A block of at least size bytes, 16-byte aligned, or 0 if the arena is
 * exhausted. The caller may run a reclaim pass and retry.
 */
uint64_t
rdb_alloc(struct ruledb *db, size_t size)
{
	struct rdb_master *m = db->m;
	struct rdb_vec64 *fl;
	size_t c, r;
	uint64_t off;

	c = size_class(size, &r);
	if (c >= RDB_NCLASSES)
		return 0;
	fl = &m->freel[c];
	if (fl->n > 0)
		off = fl->v[--fl->n];
	else {
		if (r > db->hdr->arena_end - m->bump)
			return 0;
		off = m->bump;
		m->bump += r;
		if (m->bump > m->populated)
			populate(db);
	}
	m->used += r;
	return off;
}

/* Free a block no reader can have seen (never published, or past grace). */
void
rdb_free_now(struct ruledb *db, uint64_t off, size_t size)
{
	struct rdb_master *m = db->m;
	size_t c, r;

	c = size_class(size, &r);
	/*
	 * NB: poison the head (size, checksum, offsets), so that a reader
	 * wrongly holding it fails its checksum; one cache line is enough.
	 */
	memset(db->base + off, POISON, r < 64 ? r : 64);
	if (rdb_vec_push(&m->freel[c], off) == -1)
		return;		/* leak the block rather than corrupt */
	m->used -= r;
}

size_t
rdb_alloc_used(const struct ruledb *db)
{
	return db->m->used;
}

static int
limbo_grow(struct rdb_master *m)
{
	struct rdb_limbo *nl;
	size_t ncap, i;

	ncap = m->lcap ? m->lcap * 2 : 1024;
	if ((nl = malloc(ncap * sizeof(*nl))) == NULL)
		return -1;
	for (i = 0; i < m->lcount; i++)
		nl[i] = m->limbo[(m->lhead + i) % m->lcap];
	free(m->limbo);
	m->limbo = nl;
	m->lcap = ncap;
	m->lhead = 0;
	return 0;
}

/*
 * Put something unlinked from the published state in limbo, tagged with
 * the current epoch. If the heap is exhausted the block leaks (bounded by
 * malloc failure, never a use-after-free).
 */
void
rdb_retire(struct ruledb *db, enum rdb_limbo_kind kind, uint64_t off,
    size_t size)
{
	struct rdb_master *m = db->m;
	struct rdb_limbo *l;

	if (m->lcount == m->lcap && limbo_grow(m) == -1)
		return;
	l = &m->limbo[(m->lhead + m->lcount) % m->lcap];
	l->epoch = atomic_load_explicit(&db->hdr->epoch, memory_order_relaxed);
	l->off = off;
	l->size = (uint32_t)(kind == RDB_LB_BLOCK ? rdb_block_size(size) : 0);
	l->kind = kind;
	m->lcount++;
}

/*
 * After a mutation's unlinks: readers that load the new epoch are past
 * them. seq_cst, so that it is ordered before the master's later scan of
 * the reader slots (see protocol item 4).
 */
void
rdb_epoch_advance(struct ruledb *db)
{
	atomic_fetch_add_explicit(&db->hdr->epoch, 1, memory_order_seq_cst);
}

static void
counter_release(struct ruledb *db, uint32_t idx)
{
	struct rdb_master *m = db->m;
	uint32_t *nc;
	size_t ncap, i;

	memset(&db->counters[idx], 0, sizeof(db->counters[idx]));
	if (m->ccount == m->ccap) {
		ncap = m->ccap ? m->ccap * 2 : 1024;
		if ((nc = malloc(ncap * sizeof(*nc))) == NULL)
			return;
		for (i = 0; i < m->ccount; i++)
			nc[i] = m->cfree[(m->chead + i) % m->ccap];
		free(m->cfree);
		m->cfree = nc;
		m->ccap = ncap;
		m->chead = 0;
	}
	m->cfree[(m->chead + m->ccount) % m->ccap] = idx;
	m->ccount++;
	m->cused--;
}

/* Free limbo entries retired before min_epoch (FIFO, so stop early). */
void
rdb_reclaim_front(struct ruledb *db, uint64_t min_epoch)
{
	struct rdb_master *m = db->m;
	struct rdb_limbo *l;
	size_t n = m->lcount;

	/*
	 * NB: one pass over what is in limbo now: a backend entry still in
	 * use is retired again at the tail (rdb_backend_reclaim), and with
	 * every reader offline (min_epoch UINT64_MAX) would come round for
	 * ever.
	 */
	while (n-- > 0) {
		l = &m->limbo[m->lhead];
		if (l->epoch >= min_epoch)
			break;
		switch (l->kind) {
		case RDB_LB_BLOCK:
			rdb_free_now(db, l->off, l->size);
			break;
		case RDB_LB_COUNTER:
			counter_release(db, (uint32_t)l->off);
			break;
		case RDB_LB_BACKEND:
			rdb_backend_reclaim(db, (uint32_t)l->off, l->epoch);
			break;
		}
		m->lhead = (m->lhead + 1) % m->lcap;
		m->lcount--;
	}
}

/*
 * A host counter slot. NB: a worker may keep a host's counters pointer for
 * the whole of a long request, past the host's deletion and the grace
 * period; its late updates then land in whatever host reuses the slot.
 * So freed slots are reused oldest first (FIFO), and only once
 * CREUSE_MIN of them wait (or no fresh slot is left): a slot is reused
 * only after thousands of other deletions.
 */
#define CREUSE_MIN	4096
bool
rdb_counter_alloc(struct ruledb *db, uint32_t *idx)
{
	struct rdb_master *m = db->m;

	if (m->ccount > 0 && (m->ccount >= CREUSE_MIN ||
	    m->cbump >= db->hdr->ncounters)) {
		*idx = m->cfree[m->chead];
		m->chead = (m->chead + 1) % m->ccap;
		m->ccount--;
	} else if (m->cbump < db->hdr->ncounters)
		*idx = m->cbump++;
	else
		return false;
	m->cused++;
	return true;
}

/* A slot never published (the mutation failed): back at once. */
void
rdb_counter_free_now(struct ruledb *db, uint32_t idx)
{
	counter_release(db, idx);
}

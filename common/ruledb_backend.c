/*
 * ruledb_backend.c: the rule database's backend table: one backend_state
 * per distinct backend address, shared by every rule that names it, and
 * the master's private index (address -> entry, reference counts).
 *
 * Entries never move, so an index held by a worker or stored in a record
 * stays valid. An entry whose last referencing record is retired goes to
 * limbo and is reused only after a grace period, and only if no record
 * took a reference again meanwhile. addr/ss/sslen are written once by the
 * master before the first record naming the entry is published.
 */
#include <stdlib.h>
#include <string.h>

#include "ruledb_int.h"

static uint64_t
addr_hash(const char *addr)
{
	return rdb_hash(0x6261636b656e64ULL, addr, strlen(addr));
}

static int
bmap_grow(struct rdb_master *m)
{
	struct rdb_bnode **nb, *n, *next;
	size_t nn, i, h;

	nn = m->nbbuckets ? m->nbbuckets * 2 : 256;
	if ((nb = calloc(nn, sizeof(*nb))) == NULL)
		return -1;
	for (i = 0; i < m->nbbuckets; i++)
		for (n = m->bbuckets[i]; n != NULL; n = next) {
			next = n->next;
			h = addr_hash(n->addr) & (nn - 1);
			n->next = nb[h];
			nb[h] = n;
		}
	free(m->bbuckets);
	m->bbuckets = nb;
	m->nbbuckets = nn;
	return 0;
}

static struct rdb_bnode *
bmap_find(struct rdb_master *m, const char *addr)
{
	struct rdb_bnode *n;

	if (m->nbbuckets == 0)
		return NULL;
	n = m->bbuckets[addr_hash(addr) & (m->nbbuckets - 1)];
	for (; n != NULL; n = n->next)
		if (strcmp(n->addr, addr) == 0)
			return n;
	return NULL;
}

static void
bmap_remove(struct rdb_master *m, struct rdb_bnode *node)
{
	struct rdb_bnode **pp;

	pp = &m->bbuckets[addr_hash(node->addr) & (m->nbbuckets - 1)];
	for (; *pp != NULL; pp = &(*pp)->next)
		if (*pp == node) {
			*pp = node->next;
			m->nbnodes--;
			free(node);
			return;
		}
}

static int
entry_new(struct ruledb *db, const struct rule_backend *b, uint32_t *idx)
{
	struct rdb_master *m = db->m;
	struct backend_state *bs;
	struct rdb_bnode *n;
	uint32_t hwm, gen;

	hwm = atomic_load_explicit(&db->hdr->backend_hwm, memory_order_relaxed);
	if (m->bfree.n == 0 && hwm >= db->hdr->nbackends)
		return -1;
	if (m->nbnodes >= m->nbbuckets && bmap_grow(m) == -1)
		return -1;
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return -1;
	/*
	 * Fresh entries first: a worker may hold an index for a whole
	 * proxied request, so a freed entry is reused only when the table
	 * has no fresh one left.
	 */
	if (hwm < db->hdr->nbackends) {
		*idx = hwm;
		atomic_store_explicit(&db->hdr->backend_hwm, hwm + 1,
		    memory_order_release);
	} else
		*idx = (uint32_t)m->bfree.v[--m->bfree.n];
	bs = &db->backends[*idx];
	gen = atomic_load_explicit(&bs->gen, memory_order_relaxed);
	memset(bs, 0, sizeof(*bs));
	/* NB: published by the release store of the first record naming it */
	atomic_store_explicit(&bs->gen, gen + 1, memory_order_relaxed);
	memcpy(bs->addr, b->addr, sizeof(bs->addr));
	bs->addr[sizeof(bs->addr) - 1] = '\0';
	if (b->sslen <= sizeof(bs->ss)) {
		memcpy(&bs->ss, &b->ss, b->sslen);
		bs->sslen = b->sslen;
	}
	memcpy(n->addr, bs->addr, sizeof(n->addr));
	n->idx = *idx;
	n->next = m->bbuckets[addr_hash(n->addr) & (m->nbbuckets - 1)];
	m->bbuckets[addr_hash(n->addr) & (m->nbbuckets - 1)] = n;
	m->nbnodes++;
	m->bmeta[*idx].node = n;
	m->bmeta[*idx].refs = 0;
	return 0;
}

/* Take a reference on b's entry, creating it. -1: the table is full. */
int
rdb_backend_ref(struct ruledb *db, const struct rule_backend *b,
    uint32_t *idx)
{
	struct rdb_bnode *n;

	if ((n = bmap_find(db->m, b->addr)) != NULL)
		*idx = n->idx;
	else if (entry_new(db, b, idx) == -1)
		return -1;
	db->m->bmeta[*idx].refs++;
	return 0;
}

void
rdb_backend_unref(struct ruledb *db, uint32_t idx)
{
	struct rdb_bmeta *bm = &db->m->bmeta[idx];

	if (bm->refs == 0 || --bm->refs > 0)
		return;
	bm->retired = atomic_load_explicit(&db->hdr->epoch,
	    memory_order_relaxed);
	rdb_retire(db, RDB_LB_BACKEND, idx, 0);
}

/*
 * Grace period over: free the entry unless it was referenced again, or
 * a request sent to it is still in flight (its end would decrement a
 * zeroed or reused `active`): then retire it again for another grace
 * period. gen survives, so the next use gets a new incarnation.
 */
void
rdb_backend_reclaim(struct ruledb *db, uint32_t idx, uint64_t epoch)
{
	struct rdb_master *m = db->m;
	struct rdb_bmeta *bm = &m->bmeta[idx];
	struct backend_state *bs = &db->backends[idx];
	uint32_t gen;

	if (bm->refs > 0 || bm->retired != epoch || bm->node == NULL)
		return;
	if (atomic_load_explicit(&bs->active, memory_order_relaxed) != 0) {
		bm->retired = atomic_load_explicit(&db->hdr->epoch,
		    memory_order_relaxed);
		rdb_retire(db, RDB_LB_BACKEND, idx, 0);
		return;
	}
	bmap_remove(m, bm->node);
	bm->node = NULL;
	gen = atomic_load_explicit(&bs->gen, memory_order_relaxed);
	memset(bs, 0, sizeof(*bs));
	atomic_store_explicit(&bs->gen, gen, memory_order_relaxed);
	(void)rdb_vec_push(&m->bfree, idx);
}

size_t
rdb_backend_used(const struct ruledb *db)
{
	return db->m->nbnodes;
}

struct backend_state *
rdb_backend_lookup(struct ruledb *db, const char *addr, uint32_t *idx)
{
	struct rdb_bnode *n;

	if (db->m == NULL || (n = bmap_find(db->m, addr)) == NULL)
		return NULL;
	if (idx != NULL)
		*idx = n->idx;
	return &db->backends[n->idx];
}

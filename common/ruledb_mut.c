/*
 * ruledb_mut.c: the rule database's mutations: set, delete and the atomic
 * replace_all. Master only (single writer). Each one either commits and
 * bumps the generation, or changes nothing and says why.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ruledb.h"
#include "ruledb_int.h"

/* Every committed mutation ends here (protocol items 4 and 7). */
static void
commit(struct ruledb *db)
{
	uint64_t g;

	g = atomic_load_explicit(&db->hdr->generation, memory_order_relaxed);
	atomic_store_explicit(&db->hdr->generation, g + 1,
	    memory_order_release);
	rdb_epoch_advance(db);
}

static enum ruledb_err
bad_key(const char *key, char *err, size_t errlen)
{
	snprintf(err, errlen, "invalid host \"%.*s\"", RULE_KEY_MAX,
	    key != NULL ? key : "");
	return RULEDB_EINVAL;
}

/* Single writer: a plain read-modify-write, published with relaxed stores. */
static void
bump(_Atomic uint64_t *v, int d)
{
	uint64_t x = atomic_load_explicit(v, memory_order_relaxed);

	atomic_store_explicit(v, x + (uint64_t)(int64_t)d,
	    memory_order_relaxed);
}

static void
count_add(struct rdb_table *t, bool proto, int d)
{
	bump(&t->count, d);
	if (proto)
		bump(&t->nproto, d);
}

/*
 * Insert or replace: build the record, then one release store into its
 * slot. A replaced record's counter slot carries over (DESIGN item 7).
 */
enum ruledb_err
ruledb_set(struct ruledb *db, const char *key, const struct rule *r,
    char *err, size_t errlen)
{
	char k[RULE_KEY_MAX + 1];
	const struct rule_rec *old = NULL;
	struct rdb_table *t;
	enum ruledb_err e;
	uint64_t h, idx, off, s;
	bool proto, found;
	int n;

	if (key == NULL || (n = rdb_key_canon(key, k, sizeof(k), &proto)) < 0)
		return bad_key(key, err, errlen);
	if (!rdb_rule_ok(r, err, errlen))
		return RULEDB_EINVAL;
	ruledb_reclaim(db);
	h = rdb_hash(db->hdr->seed, k, (size_t)n);
	t = rdb_table_cur(db);
	found = rdb_tbl_find(db, t, k, (size_t)n, h, &idx);
	if (!found) {
		if (rdb_tbl_make_room(db) == -1) {
			snprintf(err, errlen, "shm_size exhausted: no room "
			    "to grow the host table; raise shm_size");
			return RULEDB_ENOSPC;
		}
		t = rdb_table_cur(db);	/* may have been rebuilt */
		(void)rdb_tbl_find(db, t, k, (size_t)n, h, &idx);
		if (idx == UINT64_MAX) {	/* cannot happen below 15/16 */
			snprintf(err, errlen, "host table full");
			return RULEDB_ENOSPC;
		}
	} else {
		s = atomic_load_explicit(&t->slots[idx], memory_order_relaxed);
		old = rdb_slot_rec(db, s);
	}
	e = rdb_rec_build(db, k, (size_t)n, r,
	    old != NULL ? old->counters : RDB_NOBACKEND, &off, err, errlen);
	if (e != RULEDB_OK)
		return e;
	if (!found && atomic_load_explicit(&t->slots[idx],
	    memory_order_relaxed) == RDB_SLOT_TOMB)
		db->m->tombs--;
	/* count/nproto never under-count published keys: up before, down
	 * after (ruledb_resolve skips work when they are 0) */
	if (old == NULL)
		count_add(t, proto, 1);
	atomic_store_explicit(&t->slots[idx], rdb_slot_enc(h, off),
	    memory_order_release);
	if (old != NULL)
		rdb_rec_retire(db, old, false);
	commit(db);
	return RULEDB_OK;
}

/* A tombstone keeps the probe sequences of other keys intact. */
enum ruledb_err
ruledb_delete(struct ruledb *db, const char *key)
{
	char k[RULE_KEY_MAX + 1];
	const struct rule_rec *old;
	struct rdb_table *t;
	uint64_t h, idx;
	bool proto;
	int n;

	if (key == NULL || (n = rdb_key_canon(key, k, sizeof(k), &proto)) < 0)
		return RULEDB_ENOENT;
	ruledb_reclaim(db);
	h = rdb_hash(db->hdr->seed, k, (size_t)n);
	t = rdb_table_cur(db);
	if (!rdb_tbl_find(db, t, k, (size_t)n, h, &idx))
		return RULEDB_ENOENT;
	old = rdb_slot_rec(db, atomic_load_explicit(&t->slots[idx],
	    memory_order_relaxed));
	atomic_store_explicit(&t->slots[idx], RDB_SLOT_TOMB,
	    memory_order_release);
	db->m->tombs++;
	count_add(t, proto, -1);
	rdb_rec_retire(db, old, true);
	commit(db);
	return RULEDB_OK;
}

/* Unpublished new table: free all of it at once (replace_all failed). */
static void
abandon(struct ruledb *db, struct rdb_table *nt, const struct rdb_table *old)
{
	const struct rule_rec *rec;
	uint64_t i, s;

	for (i = 0; i < nt->nslots; i++) {
		s = atomic_load_explicit(&nt->slots[i], memory_order_relaxed);
		if (s == RDB_SLOT_EMPTY)
			continue;
		rec = rdb_slot_rec(db, s);
		rdb_rec_free_now(db, rec, rdb_lookup(db, old,
		    REC_STR(rec, rec->key_off), rec->key_len) == NULL);
	}
	rdb_free_now(db, RDB_OFF(db, nt), rdb_tbl_bytes(nt));
}

/*
 * replace_all meets a cache miss at every step of an entry: its input,
 * its home slot in the old and in the new table, its old record, all at
 * random places. So the steps run as a pipeline: entry i + 2 * RA_DIST
 * has its key hashed and its slots and rule prefetched, entry i + RA_DIST
 * its old record and rule data prefetched, while entry i is built; the
 * misses overlap instead of following one another.
 */
#define RA_DIST		4
#define RA_RING		16	/* power of two > 2 * RA_DIST */

struct ra_key {
	uint64_t	h;
	int		n;
	bool		proto;
	char		k[RULE_KEY_MAX + 1];
};

/* Step 1: check and hash the key; prefetch its slots and its rule. */
static enum ruledb_err
ra_key(const struct ruledb *db, const struct rdb_table *nt,
    const struct rdb_table *old, const struct ruledb_entry *ent,
    struct ra_key *rk, char *err, size_t errlen)
{
	if (ent->key == NULL || (rk->n = rdb_key_canon(ent->key, rk->k,
	    sizeof(rk->k), &rk->proto)) < 0)
		return bad_key(ent->key, err, errlen);
	rk->h = rdb_hash(db->hdr->seed, rk->k, (size_t)rk->n);
	__builtin_prefetch(&old->slots[RDB_HOME(rk->h, old->nslots - 1)]);
	__builtin_prefetch(&nt->slots[RDB_HOME(rk->h, nt->nslots - 1)], 1);
	__builtin_prefetch(ent->rule);
	__builtin_prefetch((const char *)ent->rule + sizeof(struct rule) - 1);
	return RULEDB_OK;
}

/*
 * Step 2: prefetch the old record the home slot names (the head and the
 * key) and the rule's data: kwargs and the lines of its first backends
 * that rdb_rule_ok() and the build read.
 */
static void
ra_prefetch(const struct ruledb *db, const struct rdb_table *old,
    const struct ruledb_entry *ent, const struct ra_key *rk)
{
	const struct rule *r = ent->rule;
	const char *rec;
	uint64_t s;
	size_t i;

	s = atomic_load_explicit(&old->slots[RDB_HOME(rk->h,
	    old->nslots - 1)], memory_order_relaxed);
	if (s > RDB_SLOT_TOMB && (s >> 32) == (rk->h >> 32)) {
		rec = (const char *)rdb_slot_rec(db, s);
		__builtin_prefetch(rec);
		__builtin_prefetch(rec + sizeof(struct rule_rec));
		__builtin_prefetch(rec + sizeof(struct rule_rec) + rk->n);
	}
	if (r == NULL)
		return;
	if (r->kwargs_json != NULL) {
		__builtin_prefetch(r->kwargs_json);
		__builtin_prefetch(r->kwargs_json + 63);
	}
	for (i = 0; i < r->nbackends && i < 4 && r->backends != NULL; i++) {
		__builtin_prefetch(r->backends[i].addr);
		__builtin_prefetch(&r->backends[i].url);
	}
}

/*
 * Step 3: check the rule, and put the entry into the unpublished table.
 * A key given twice: the later wins, and the earlier (never published)
 * record is freed at once.
 */
static enum ruledb_err
put_one(struct ruledb *db, struct rdb_table *nt, const struct rdb_table *old,
    const struct ruledb_entry *ent, const struct ra_key *rk, char *err,
    size_t errlen)
{
	const struct rule_rec *prev;
	enum ruledb_err e;
	uint64_t idx, off;
	uint32_t counter = RDB_NOBACKEND;
	size_t n = (size_t)rk->n;
	bool dup;

	if (!rdb_rule_ok(ent->rule, err, errlen))
		return RULEDB_EINVAL;
	dup = rdb_tbl_find(db, nt, rk->k, n, rk->h, &idx);
	prev = dup ? rdb_slot_rec(db, nt->slots[idx]) :
	    rdb_lookup_h(db, old, rk->k, n, rk->h);
	if (prev != NULL)
		counter = prev->counters;
	if (prev != NULL && !dup)	/* a slot of the old table, kept */
		db->m->ckept[counter / 8] |= (uint8_t)(1u << (counter % 8));
	e = rdb_rec_build(db, rk->k, n, ent->rule, counter, &off, err,
	    errlen);
	if (e != RULEDB_OK)
		return e;
	if (dup)
		rdb_rec_free_now(db, prev, false);
	else
		count_add(nt, rk->proto, 1);
	atomic_store_explicit(&nt->slots[idx], rdb_slot_enc(rk->h, off),
	    memory_order_relaxed);
	return RULEDB_OK;
}

/* Every entry into the new table, in order (see RA_DIST). */
static enum ruledb_err
put_all(struct ruledb *db, struct rdb_table *nt, const struct rdb_table *old,
    const struct ruledb_entry *ents, size_t n, char *err, size_t errlen)
{
	struct ra_key rk[RA_RING];
	enum ruledb_err e;
	size_t i, j;

	for (i = 0; i < n + 2 * RA_DIST; i++) {
		if (i < n && (e = ra_key(db, nt, old, &ents[i],
		    &rk[i % RA_RING], err, errlen)) != RULEDB_OK)
			return e;
		if ((j = i - RA_DIST) < n && i >= RA_DIST)
			ra_prefetch(db, old, &ents[j], &rk[j % RA_RING]);
		if ((j = i - 2 * RA_DIST) < n && i >= 2 * RA_DIST &&
		    (e = put_one(db, nt, old, &ents[j], &rk[j % RA_RING], err,
		    errlen)) != RULEDB_OK)
			return e;
	}
	return RULEDB_OK;
}

/*
 * The old table is unlinked: retire it and every record in it; a host
 * whose counter slot put_one() carried over (ckept) keeps it. The slots
 * are read in order but their records lie anywhere: each is prefetched
 * (header and backend lines) RA_AHEAD slots before it is retired.
 */
#define RA_AHEAD	32	/* slots */
static void
prefetch_rec(const struct ruledb *db, const struct rdb_table *t, uint64_t i)
{
	const char *rec;
	uint64_t s;

	if (i >= t->nslots)
		return;
	s = atomic_load_explicit(&t->slots[i], memory_order_relaxed);
	if (s <= RDB_SLOT_TOMB)
		return;
	rec = (const char *)rdb_slot_rec(db, s);
	__builtin_prefetch(rec);
	__builtin_prefetch(rec + 64);
	__builtin_prefetch(rec + 128);
	__builtin_prefetch(rec + 192);
}

static void
retire_table(struct ruledb *db, struct rdb_table *old)
{
	const struct rule_rec *rec;
	uint8_t *kept = db->m->ckept, bit;
	uint64_t i, s;
	uint32_t c;

	for (i = 0; i < old->nslots; i++) {
		prefetch_rec(db, old, i + RA_AHEAD);
		s = atomic_load_explicit(&old->slots[i], memory_order_relaxed);
		if (s == RDB_SLOT_EMPTY || s == RDB_SLOT_TOMB)
			continue;
		rec = rdb_slot_rec(db, s);
		c = rec->counters;
		bit = (uint8_t)(1u << (c % 8));
		rdb_rec_retire(db, rec, (kept[c / 8] & bit) == 0);
		kept[c / 8] &= (uint8_t)~bit;
	}
	rdb_retire(db, RDB_LB_BLOCK, RDB_OFF(db, old), rdb_tbl_bytes(old));
}

static void
clear_kept(struct ruledb *db, const struct rdb_table *old)
{
	const struct rule_rec *rec;
	uint64_t i, s;

	for (i = 0; i < old->nslots; i++) {
		s = atomic_load_explicit(&old->slots[i], memory_order_relaxed);
		if (s == RDB_SLOT_EMPTY || s == RDB_SLOT_TOMB)
			continue;
		rec = rdb_slot_rec(db, s);
		db->m->ckept[rec->counters / 8] &=
		    (uint8_t)~(1u << (rec->counters % 8));
	}
}

/*
 * Build a complete new table with new records beside the old one, then
 * swap it in with one release store of hdr->table (protocol item 3): a
 * reader sees all of the old rules or all of the new. Needs room for both
 * sets until the grace period ends. Hosts kept keep their counters. A bad
 * entry, like a lack of space, drops the unpublished table: nothing
 * changes.
 */
enum ruledb_err
ruledb_replace_all(struct ruledb *db, const struct ruledb_entry *ents,
    size_t n, char *err, size_t errlen)
{
	struct rdb_table *old = rdb_table_cur(db), *nt;
	enum ruledb_err e;
	uint64_t off;
	if (n > 0 && ents == NULL)
		return RULEDB_EINVAL;
	ruledb_reclaim(db);
	if ((off = rdb_tbl_new(db, rdb_tbl_size_for(n))) == 0) {
		snprintf(err, errlen, "shm_size exhausted (%zu of %zu bytes "
		    "used); raise shm_size", ruledb_used(db),
		    ruledb_capacity(db));
		return RULEDB_ENOSPC;
	}
	nt = RDB_PTR(db, off);
	if ((e = put_all(db, nt, old, ents, n, err, errlen)) != RULEDB_OK) {
		abandon(db, nt, old);
		clear_kept(db, old);
		return e;
	}
	atomic_store_explicit(&db->hdr->table, off, memory_order_release);
	db->m->tombs = 0;
	retire_table(db, old);
	commit(db);
	return RULEDB_OK;
}

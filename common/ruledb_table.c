/*
 * ruledb_table.c: the rule database's open-addressing hash table of
 * record offsets: hashing, lookup (any process, lock-free), and the
 * master's probe, insert-into-unpublished-table and rebuild (growth or
 * tombstone purge, swapped in with one release store). The slot encoding
 * and the protocol are described at struct ruledb_hdr in ruledb_int.h.
 */
#include <sys/mman.h>

#include <string.h>

#include "ruledb.h"
#include "ruledb_int.h"

_Static_assert(sizeof(struct rdb_table) == RDB_LINE_OFF,
    "rdb_table: slots[] starts on a cache line");

#define K0	0x9e3779b97f4a7c15ULL
#define K1	0xff51afd7ed558ccdULL
#define K2	0xc4ceb9fe1a85ec53ULL

static inline uint64_t
rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

/*
 * The last n < 8 bytes at p as a little-endian word (what memcpy into a
 * zeroed word gives), from whole loads: the bytes one at a time into
 * memory and then as a word would stall the load on the stores (no store
 * forwarding): a fifth of a lookup. `back`: the 8 bytes before p + n
 * may be read.
 */
static inline uint64_t
rdb_tail(const char *p, size_t n, bool back)
{
	uint64_t v;
	uint32_t a, b;

	if (n == 0)
		return 0;
	if (back) {
		memcpy(&v, p + n - 8, 8);
		return v >> (64 - 8 * n);
	}
	if (n >= 4) {
		memcpy(&a, p, 4);
		memcpy(&b, p + n - 4, 4);
		return a | (uint64_t)b << (8 * (n - 4));
	}
	return (uint64_t)(unsigned char)p[0] |
	    (uint64_t)(unsigned char)p[n / 2] << (8 * (n / 2)) |
	    (uint64_t)(unsigned char)p[n - 1] << (8 * (n - 1));
}

/* 8 bytes a step, murmur3's finalizer at the end. Same in every process. */
uint64_t
rdb_hash(uint64_t seed, const char *p, size_t n)
{
	uint64_t h = seed ^ (n * K0), v;
	size_t len = n;

	while (n >= 8) {
		memcpy(&v, p, 8);
		h = rotl(h ^ (v * K0), 31) * K1;
		p += 8;
		n -= 8;
	}
	v = rdb_tail(p, n, len >= 8);
	h = rotl(h ^ (v * K0), 31) * K1;
	h ^= h >> 33;
	h *= K2;
	h ^= h >> 33;
	return h;
}

/* Over the whole record but the checksum field itself (bytes 4..7). */
uint32_t
rdb_checksum(const struct rule_rec *rec)
{
	uint64_t h;

	h = rdb_hash(rec->size, (const char *)rec + 8, rec->size - 8);
	return (uint32_t)(h ^ (h >> 32));
}

/*
 * Lock-free lookup: acquire loads of the slots (protocol item 1); the hash
 * tag in the slot avoids touching records of other keys.
 */
const struct rule_rec *
rdb_lookup(const struct ruledb *db, const struct rdb_table *t,
    const char *key, size_t len)
{
	return rdb_lookup_h(db, t, key, len, rdb_hash(db->hdr->seed, key,
	    len));
}

/* The same, for a key whose hash is known. */
const struct rule_rec *
rdb_lookup_h(const struct ruledb *db, const struct rdb_table *t,
    const char *key, size_t len, uint64_t h)
{
	const struct rule_rec *rec;
	uint64_t mask = t->nslots - 1, i, n, s;

	for (i = RDB_HOME(h, mask), n = 0; n < t->nslots;
	    i = (i + 1) & mask, n++) {
		s = atomic_load_explicit(&t->slots[i], memory_order_acquire);
		if (s == RDB_SLOT_EMPTY)
			return NULL;
		if (s == RDB_SLOT_TOMB || (s >> 32) != (h >> 32))
			continue;
		rec = rdb_slot_rec(db, s);
		if (rec->key_len == len &&
		    rdb_key_eq(REC_STR(rec, rec->key_off), key, len))
			return rec;
	}
	return NULL;
}

/*
 * Master only: the slot holding key (returns true), else the slot an
 * insert should use: the first tombstone or the empty slot ending the
 * probe; UINT64_MAX in *idx if the table has no free slot at all.
 */
bool
rdb_tbl_find(const struct ruledb *db, const struct rdb_table *t,
    const char *key, size_t len, uint64_t h, uint64_t *idx)
{
	const struct rule_rec *rec;
	uint64_t mask = t->nslots - 1, i, n, s, freei = UINT64_MAX;

	for (i = RDB_HOME(h, mask), n = 0; n < t->nslots;
	    i = (i + 1) & mask, n++) {
		s = atomic_load_explicit(&t->slots[i], memory_order_relaxed);
		if (s == RDB_SLOT_EMPTY) {
			if (freei == UINT64_MAX)
				freei = i;
			break;
		}
		if (s == RDB_SLOT_TOMB) {
			if (freei == UINT64_MAX)
				freei = i;
			continue;
		}
		if ((s >> 32) != (h >> 32))
			continue;
		rec = rdb_slot_rec(db, s);
		if (rec->key_len == len &&
		    rdb_key_eq(REC_STR(rec, rec->key_off), key, len)) {
			*idx = i;
			return true;
		}
	}
	*idx = freei;
	return false;
}

/* Master only: a new, empty, unpublished table. 0 if out of space. */
uint64_t
rdb_tbl_new(struct ruledb *db, uint64_t nslots)
{
	struct rdb_table *t;
	uint64_t off, bump = db->m->bump;
	size_t size = sizeof(*t) + nslots * sizeof(t->slots[0]);

	if ((off = rdb_alloc(db, size)) == 0) {
		ruledb_reclaim(db);
		bump = db->m->bump;
		if ((off = rdb_alloc(db, size)) == 0)
			return 0;
	}
	t = RDB_PTR(db, off);
	/* Never-touched arena (past the old bump) reads as zero already:
	 * no memset, and no page faulted in for empty slots. */
	if (off != bump)
		memset(t, 0, size);
#ifdef MADV_POPULATE_WRITE
	/* One call faults a big table in; scattered first writes cost a
	 * page fault each (tens of ms for a 16 MB table in a VM). */
	else if (size >= 1024 * 1024)
		(void)madvise((char *)t - ((uintptr_t)t & 4095),
		    size + ((uintptr_t)t & 4095), MADV_POPULATE_WRITE);
#endif
	t->nslots = nslots;
	return off;
}

size_t
rdb_tbl_bytes(const struct rdb_table *t)
{
	return sizeof(*t) + t->nslots * sizeof(t->slots[0]);
}

/* Slots for n keys at a load of at most 1/2 after a rebuild. */
uint64_t
rdb_tbl_size_for(uint64_t n)
{
	uint64_t s = 16;

	while (s < n * 2)
		s <<= 1;
	return s;
}

/* Master only: into a table no reader can see yet (no tombstones). */
void
rdb_tbl_put_fresh(const struct ruledb *db, struct rdb_table *t, uint64_t h,
    uint64_t off)
{
	uint64_t mask = t->nslots - 1, i;

	for (i = RDB_HOME(h, mask);
	    atomic_load_explicit(&t->slots[i], memory_order_relaxed) !=
	    RDB_SLOT_EMPTY; i = (i + 1) & mask)
		;
	atomic_store_explicit(&t->slots[i], rdb_slot_enc(h, off),
	    memory_order_relaxed);
}

/*
 * Master only: rehash every live record into a new table of nslots and
 * publish it with one release store (protocol item 3); the old table is
 * retired. Records are shared, not copied, and not even read: a slot's
 * tag holds the hash bits that pick its home (RDB_HOME), so this is one
 * sequential pass over the old slots. -1 if out of space.
 */
int
rdb_tbl_rebuild(struct ruledb *db, uint64_t nslots)
{
	struct rdb_table *old = rdb_table_cur(db), *t;
	uint64_t off, i, s;

	if ((off = rdb_tbl_new(db, nslots)) == 0)
		return -1;
	t = RDB_PTR(db, off);
	for (i = 0; i < old->nslots; i++) {
		s = atomic_load_explicit(&old->slots[i], memory_order_relaxed);
		if (s == RDB_SLOT_EMPTY || s == RDB_SLOT_TOMB)
			continue;
		rdb_tbl_put_fresh(db, t, s, (s & 0xffffffffULL) << RDB_SHIFT);
	}
	atomic_store_explicit(&t->count, atomic_load(&old->count),
	    memory_order_relaxed);
	atomic_store_explicit(&t->nproto, atomic_load(&old->nproto),
	    memory_order_relaxed);
	atomic_store_explicit(&db->hdr->table, off, memory_order_release);
	rdb_retire(db, RDB_LB_BLOCK, RDB_OFF(db, old), rdb_tbl_bytes(old));
	db->m->tombs = 0;
	return 0;
}

/*
 * Master only: make room for one more key. Grows (or purges tombstones)
 * at a load of 1/2, so a table's load stays between 1/4 and 1/2 (16 to
 * 32 bytes of slots per host): each slot a probe passes on its way from
 * home is a branch that a hot set of hosts mispredicts, and at 3/4 more
 * keys sat further (10k hosts, bench_ruledb: 48.5 ns a lookup at a load
 * of 0.61 against 45.1 ns at 0.31). If that rebuild finds no space,
 * carries on up to a load of 15/16 before refusing.
 */
int
rdb_tbl_make_room(struct ruledb *db)
{
	struct rdb_table *t = rdb_table_cur(db);
	uint64_t count = atomic_load_explicit(&t->count, memory_order_relaxed);
	uint64_t load = count + db->m->tombs + 1;

	if (load * 2 <= t->nslots)
		return 0;
	if (rdb_tbl_rebuild(db, rdb_tbl_size_for(count + 1)) == 0)
		return 0;
	return load * 16 <= t->nslots * 15 ? 0 : -1;
}

/*
 * any process. NB: in the master, which is no QSBR reader, the record
 * stays valid only until its next mutation or ruledb_reclaim(); in a
 * worker, until its next quiescent point.
 */
const struct rule_rec *
ruledb_get(struct ruledb *db, const char *key)
{
	char k[RULE_KEY_MAX + 1];
	bool proto;
	int n;

	if ((n = rdb_key_canon(key, k, sizeof(k), &proto)) < 0)
		return NULL;
	rdb_reader_enter(db);
	return rdb_lookup(db, rdb_table_cur(db), k, (size_t)n);
}

/* any process; a worker must not keep the records past a quiescent point */
int
ruledb_foreach(struct ruledb *db, ruledb_iter_cb cb, void *arg)
{
	const struct rdb_table *t;
	uint64_t i, s;
	int rv;

	rdb_reader_enter(db);
	t = rdb_table_cur(db);
	for (i = 0; i < t->nslots; i++) {
		s = atomic_load_explicit(&t->slots[i], memory_order_acquire);
		if (s == RDB_SLOT_EMPTY || s == RDB_SLOT_TOMB)
			continue;
		if ((rv = cb(rdb_slot_rec(db, s), arg)) != 0)
			return rv;
	}
	return 0;
}

size_t
ruledb_count(const struct ruledb *db)
{
	return atomic_load_explicit(&rdb_table_cur(db)->count,
	    memory_order_relaxed);
}

/*
 * ruledb_int.h: the rule database's private layout, shared by the
 * common/ruledb*.c files only (nothing outside common/ruledb*.c may
 * include it). The lock-free protocol is written down at struct
 * ruledb_hdr below.
 */
#ifndef MANTRID_RULEDB_INT_H
#define MANTRID_RULEDB_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ruledb-t.h"
#include "ruledb.h"

#define RULEDB_MAGIC	0x31424452544e414dULL	/* "MANTRDB1" little endian */
#define RULEDB_LAYOUT	2
#define RDB_ALIGN	64		/* arena granule: block sizes */
#define RDB_LINE_OFF	32		/* where blocks start in a cache line */
#define RDB_SHIFT	4		/* slots store off / 16 */
#define RDB_MIN_SIZE	(1024 * 1024)
#define RDB_MAX_SIZE	(1ULL << 36)	/* 32-bit slot offset << 4 */
#define RDB_OFFLINE	0		/* reader slot: holds nothing */
#define RDB_SLOT_EMPTY	0ULL
#define RDB_SLOT_TOMB	1ULL
#define RDB_NOBACKEND	UINT32_MAX
#define RDB_COUNTER_UNKNOWN 0		/* requests no rule matched */
#define RDB_KWARGS_MAX	(1024 * 1024)

/*
 * The segment, as every process maps it:
 *
 *   0            hdr (struct ruledb_hdr)         \
 *   arena_off    arena: tables and rule records   > read-only in workers
 *   arena_end    (unused tail up to rw_off)      /
 *   rw_off       reader slots (QSBR)             \  page aligned,
 *   counters_off host_counters[ncounters]         > read-write everywhere
 *   backends_off backend_state[nbackends]        /
 *
 * Lock-free protocol
 * ------------------
 * Writer: the master, and only the master, writes the read-only part.
 * Readers: workers (and the master itself) read it without any lock.
 *
 * 1. Records are immutable. The master allocates a block in the arena,
 *    fills the record completely (content, generation, checksum) and only
 *    then publishes it with a release store of its encoded offset into a
 *    table slot. A reader loads the slot with acquire, which orders every
 *    byte of the record before its own reads of it: no torn record.
 * 2. The table is open addressing (linear probing). A slot is one 64-bit
 *    word: (hash tag << 32) | (offset >> 4), 0 = empty, 1 = tombstone;
 *    the home slot is picked by the tag bits (RDB_HOME), so a rebuild
 *    never reads records. Replace = one release store of the new record's
 *    word into the old one's slot; delete = release store of a tombstone;
 *    insert = release store into the first tombstone or empty slot of the
 *    probe sequence (the master checked that the key is not further
 *    down). A reader probing concurrently sees each slot either before or
 *    after the store, so it finds the old record, the new one, or (for an
 *    insert / delete) nothing: never a mix. A slot never goes from used
 *    back to empty, so probe sequences are never cut; tombstones are
 *    purged by a rebuild once used + tombstones pass 1/2 of the slots.
 * 3. Growth, tombstone purge and replace_all build a complete new table
 *    (and, for replace_all, new records) that no reader can see yet, then
 *    publish it with one release store of hdr->table. ruledb_resolve loads
 *    hdr->table once per call, so one resolve sees all of the old table or
 *    all of the new one. The old table and the records it alone referenced
 *    are retired, not freed.
 * 4. Reclamation is QSBR. hdr->epoch is a global epoch the master bumps
 *    (seq_cst) after each mutation; a retired block is tagged with the
 *    epoch current when it was unlinked. Reader slot i holds the epoch its
 *    worker last loaded at a quiescent point (ruledb_quiescent, between
 *    event-loop passes, when it holds no record pointer), or RDB_OFFLINE
 *    while idle in epoll. A block tagged e is freed only when every online
 *    reader's slot is > e: that reader loaded the epoch after the bump,
 *    i.e. after the unlink (acquire/release pair on hdr->epoch), so its
 *    later lookups cannot reach the block and it declared to hold no older
 *    pointer. Going online (ruledb_online, or by itself in the first read
 *    after ruledb_offline) is a store of the epoch followed by a seq_cst
 *    fence; the master fences (seq_cst) before scanning the slots; this
 *    store-load pair guarantees that either the master sees the reader
 *    online or the reader sees the unlink. Freed memory is poisoned, so a
 *    protocol bug shows up as a checksum failure in the tests.
 * 5. Failure window: a worker that dies holding a slot would block reuse
 *    forever; the master clears a reaped worker's slot
 *    (ruledb_reader_clear). A worker stuck in a loop without quiescing
 *    delays reuse (memory grows, nothing breaks); ENOSPC is returned once
 *    the arena is exhausted even after a reclaim pass.
 * 6. Counters and backend_state live in the read-write part and are only
 *    touched with atomics by workers. Counter slot 0
 *    (RDB_COUNTER_UNKNOWN) is no host's: requests no rule matched. A
 *    host's counter slot index is copied into a replacing record; a
 *    deleted host's slot is zeroed and
 *    reused only after a grace period and thousands of other deletions
 *    (a worker may hold a counters pointer for a whole request: a late
 *    update lands in a slot nobody owns, or at worst, after thousands of
 *    deletions, in another host's). backend_state entries never move;
 *    addr/ss and the incremented gen are written by the master before
 *    any record referencing the entry is published (ordered by that
 *    release store); a worker that reads an index from a record thus
 *    sees its current gen, and drops what it cached under an older one.
 *    An unreferenced entry is zeroed after a grace period, and not while
 *    its `active` is non-zero (retired again instead): a worker counts
 *    a request in `active` in the same loop pass as the rule lookup that
 *    gave it the index, before it quiesces, from the pick to the end of
 *    the exchange (connecting included).
 * 7. The generation (hdr->generation) is bumped with a release store after
 *    every committed mutation; the record carries the generation that
 *    published it.
 * 8. Parked requests (spin, hold_when_down) wait for the master's channel
 *    message about a rule change; a message to a worker that parks
 *    nothing is a wasted wake-up per mutation. So reader slot i also
 *    holds how many requests worker i has parked, and the master sends
 *    rule-change messages only if some slot is non-zero. Store-load
 *    pair, like going online: the worker reads the generation (g) before
 *    the lookup that makes it park, then stores its count, fences
 *    (seq_cst) and reads the generation again (ruledb_publish_parked);
 *    the master bumps the generation, fences (seq_cst) and reads the
 *    counts (ruledb_parked_any). Either the master sees the count and
 *    sends the message, or the worker sees a generation past g and
 *    re-runs its parked requests itself. Failure window: none; a dead
 *    worker's count is cleared with its slot (a stale count only costs
 *    messages).
 */
struct ruledb_hdr {
	uint64_t		magic;
	uint32_t		layout;
	uint32_t		hdr_size;
	uint64_t		shm_size;
	uint64_t		seed;		/* hash seed, random per segment */
	uint64_t		arena_off;
	uint64_t		arena_end;
	uint64_t		rw_off;		/* page aligned */
	uint64_t		readers_off;
	uint64_t		counters_off;
	uint64_t		backends_off;
	uint32_t		nreaders;
	uint32_t		ncounters;
	uint32_t		nbackends;
	uint32_t		pad0;
	_Atomic uint64_t	generation;
	_Atomic uint64_t	epoch;		/* QSBR global epoch, starts at 1 */
	_Atomic uint64_t	table;		/* offset of the current table */
	_Atomic uint32_t	backend_hwm;	/* backend entries ever used */
};

/*
 * A hash table in the arena. Written by the master only. Its block starts
 * RDB_LINE_OFF bytes into a cache line, so slots[] starts on a line:
 * a probe within 8 slots of its home touches one line.
 */
struct rdb_table {
	uint64_t		nslots;		/* power of two */
	_Atomic uint64_t	count;		/* live keys */
	_Atomic uint64_t	nproto;		/* live "http(s)://" keys */
	uint64_t		pad;
	_Atomic uint64_t	slots[];
};

struct rdb_reader {
	_Atomic uint64_t	epoch;		/* RDB_OFFLINE or last seen */
	_Atomic uint32_t	parked;		/* requests its worker parked */
	char			pad[52];
} __attribute__((aligned(64)));

/*
 * Size classes: 64-byte steps up to 4 KiB, then powers of two. Every
 * block is a multiple of 64 bytes and the arena starts RDB_LINE_OFF bytes
 * into a line, so every block does too (see struct rule_rec).
 */
#define RDB_SMALL_MAX	4096
#define RDB_NCLASSES	(RDB_SMALL_MAX / RDB_ALIGN + 40)

struct rdb_vec64 {
	uint64_t		*v;
	size_t			 n, cap;
};

struct rdb_limbo {
	uint64_t		 epoch;		/* epoch when unlinked */
	uint64_t		 off;		/* block offset or slot index */
	uint32_t		 size;		/* block size class bytes */
	uint32_t		 kind;		/* enum rdb_limbo_kind */
};

struct rdb_bnode {
	struct rdb_bnode	*next;
	uint32_t		 idx;
	char			 addr[RULE_ADDR_MAX];
};

struct rdb_bmeta {
	uint32_t		 refs;		/* records referencing it */
	uint64_t		 retired;	/* epoch refs last hit 0 */
	struct rdb_bnode	*node;
};

/* The master's private bookkeeping, in its heap (never in shm). */
struct rdb_master {
	/* arena allocator */
	uint64_t		 bump;		/* next fresh byte */
	uint64_t		 populated;	/* arena faulted in up to here */
	uint64_t		 used;		/* bytes handed out (incl. limbo) */
	struct rdb_vec64	 freel[RDB_NCLASSES];
	/* limbo: FIFO ring ordered by epoch */
	struct rdb_limbo	*limbo;
	size_t			 lhead, lcount, lcap;
	/* current table's tombstones */
	uint64_t		 tombs;
	/* host counter slots: FIFO of freed ones, then bump */
	uint32_t		*cfree;
	size_t			 chead, ccount, ccap;
	uint32_t		 cbump;
	uint32_t		 cused;
	uint8_t			*ckept;		/* replace_all: slot carried over */
	/* backends */
	struct rdb_bmeta	*bmeta;		/* [hdr->nbackends] */
	struct rdb_vec64	 bfree;		/* free indices */
	struct rdb_bnode	**bbuckets;
	size_t			 nbbuckets, nbnodes;
};

/* Process-local handle. */
struct ruledb {
	char			*base;
	size_t			 size;
	int			 fd;
	struct ruledb_hdr	*hdr;
	struct rdb_reader	*readers;
	struct host_counters	*counters;
	struct backend_state	*backends;
	struct rdb_reader	*self;		/* worker: own reader slot */
	struct rdb_master	*m;		/* master only, else NULL */
};

#define RDB_PTR(db, off)	((void *)((db)->base + (off)))
#define RDB_OFF(db, p)		((uint64_t)((const char *)(p) - (db)->base))

static inline struct rdb_table *
rdb_table_cur(const struct ruledb *db)
{
	uint64_t off = atomic_load_explicit(&db->hdr->table,
	    memory_order_acquire);

	return (struct rdb_table *)(db->base + off);
}

/*
 * Reader entry: every read path (resolve, get, foreach) brings an offline
 * worker back online first, so a worker may go offline before epoll and
 * never call ruledb_online() itself. One load of its own slot's line.
 */
static inline void
rdb_reader_enter(struct ruledb *db)
{
	if (db->self != NULL && atomic_load_explicit(&db->self->epoch,
	    memory_order_relaxed) == RDB_OFFLINE)
		ruledb_online(db);
}

/*
 * A key's home slot comes from the hash's top 32 bits, the same bits the
 * slot keeps as its tag, so a rebuild rehashes from the slots alone. Two
 * keys' tags are equal only if their homes are too, which leaves 32 - log2
 * (nslots) bits to tell keys apart before the record is read: 1 in 2048
 * false candidates at 2M slots, then memcmp decides.
 */
#define RDB_HOME(h, mask)	(((h) >> 32) & (mask))

static inline uint64_t
rdb_slot_enc(uint64_t hash, uint64_t off)
{
	return ((hash >> 32) << 32) | (off >> RDB_SHIFT);
}

static inline const struct rule_rec *
rdb_slot_rec(const struct ruledb *db, uint64_t slot)
{
	return (const struct rule_rec *)(db->base +
	    ((slot & 0xffffffffULL) << RDB_SHIFT));
}

/*
 * Key equality without a call: a key of 8 bytes or more is compared as
 * whole words (the last one at len - 8, over bytes already compared),
 * their differences gathered into one test.
 */
static inline bool
rdb_key_eq(const char *a, const char *b, size_t len)
{
	uint64_t x, y, d = 0;
	size_t i;

	if (len < 8)
		return memcmp(a, b, len) == 0;
	for (i = 0; i + 8 < len; i += 8) {
		memcpy(&x, a + i, 8);
		memcpy(&y, b + i, 8);
		d |= x ^ y;
	}
	memcpy(&x, a + len - 8, 8);
	memcpy(&y, b + len - 8, 8);
	return (d | (x ^ y)) == 0;
}

/* ruledb_hash.c-like helpers, in ruledb_table.c */
uint64_t	rdb_hash(uint64_t seed, const char *, size_t);
uint32_t	rdb_checksum(const struct rule_rec *);
const struct rule_rec *rdb_lookup(const struct ruledb *,
		    const struct rdb_table *, const char *, size_t);
const struct rule_rec *rdb_lookup_h(const struct ruledb *,
		    const struct rdb_table *, const char *, size_t,
		    uint64_t hash);
int		rdb_key_canon(const char *key, char *buf, size_t buflen,
		    bool *proto);

/* ruledb_table.c: master only */
bool		rdb_tbl_find(const struct ruledb *, const struct rdb_table *,
		    const char *, size_t, uint64_t hash, uint64_t *idx);
uint64_t	rdb_tbl_new(struct ruledb *, uint64_t nslots);
size_t		rdb_tbl_bytes(const struct rdb_table *);
uint64_t	rdb_tbl_size_for(uint64_t n);
void		rdb_tbl_put_fresh(const struct ruledb *, struct rdb_table *,
		    uint64_t hash, uint64_t off);
int		rdb_tbl_rebuild(struct ruledb *, uint64_t nslots);
int		rdb_tbl_make_room(struct ruledb *);

/* ruledb_rec.c: master only */
bool		rdb_rule_ok(const struct rule *, char *, size_t);
enum ruledb_err	rdb_rec_build(struct ruledb *, const char *key, size_t klen,
		    const struct rule *, uint32_t counter, uint64_t *offp,
		    char *err, size_t errlen);
void		rdb_rec_retire(struct ruledb *, const struct rule_rec *,
		    bool drop_counter);
void		rdb_rec_free_now(struct ruledb *, const struct rule_rec *,
		    bool drop_counter);

/* ruledb_alloc.c: master only */
enum rdb_limbo_kind { RDB_LB_BLOCK, RDB_LB_COUNTER, RDB_LB_BACKEND };
struct rdb_master *rdb_master_new(struct ruledb *);
void		rdb_master_free(struct rdb_master *);
uint64_t	rdb_alloc(struct ruledb *, size_t size);
void		rdb_free_now(struct ruledb *, uint64_t off, size_t size);
void		rdb_retire(struct ruledb *, enum rdb_limbo_kind, uint64_t off,
		    size_t size);
void		rdb_epoch_advance(struct ruledb *);
size_t		rdb_alloc_used(const struct ruledb *);
size_t		rdb_block_size(size_t size);
bool		rdb_counter_alloc(struct ruledb *, uint32_t *);
void		rdb_counter_free_now(struct ruledb *, uint32_t);
void		rdb_reclaim_front(struct ruledb *, uint64_t min_epoch);
int		rdb_vec_push(struct rdb_vec64 *, uint64_t);

/* ruledb_backend.c: master only */
int		rdb_backend_ref(struct ruledb *, const struct rule_backend *,
		    uint32_t *idx);
void		rdb_backend_unref(struct ruledb *, uint32_t idx);
void		rdb_backend_reclaim(struct ruledb *, uint32_t idx,
		    uint64_t epoch);
size_t		rdb_backend_used(const struct ruledb *);
struct backend_state *rdb_backend_lookup(struct ruledb *, const char *,
		    uint32_t *);

#endif

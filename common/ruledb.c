/*
 * ruledb.c: the shared-memory rule database's segment: creation by the
 * master before fork (memfd, or shm_open + unlink), the layout of its
 * parts, attachment by workers (rules part mapped read-only), and the
 * QSBR reader side (quiescent / offline / online) with the master's
 * reclaim pass. The lock-free protocol is at struct ruledb_hdr in
 * common/ruledb_int.h; tables are in ruledb_table.c, matching in
 * ruledb_match.c, mutations in ruledb_mut.c, the allocator in
 * ruledb_alloc.c.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ruledb.h"
#include "ruledb_int.h"

/*
 * The master's read-write mapping, as a forked worker inherits it:
 * ruledb_attach() in a child unmaps it, so that the worker is left with
 * the read-only view only.
 */
static struct {
	void	*base;
	size_t	 size;
	pid_t	 pid;
} creator;

static size_t
round_up(size_t x, size_t a)
{
	return (x + a - 1) / a * a;
}

/* An anonymous, unlinked, sparse file of size bytes. */
static int
segment_fd(size_t size, char *err, size_t errlen)
{
	char name[64];
	int fd = -1;

#ifdef HAVE_MEMFD_CREATE
	fd = memfd_create("mantrid-ruledb", MFD_CLOEXEC);
#endif
	if (fd == -1) {
		snprintf(name, sizeof(name), "/mantrid-ruledb.%ld.%ld",
		    (long)getpid(), (long)time(NULL));
		fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd != -1)
			(void)shm_unlink(name);
	}
	if (fd == -1) {
		snprintf(err, errlen, "shared memory: %s", strerror(errno));
		return -1;
	}
	if (ftruncate(fd, (off_t)size) == -1) {
		snprintf(err, errlen, "ftruncate %zu bytes: %s", size,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Split size: 3/8 for host counters (128 bytes each: as much as a small
 * record plus its table slot), 1/32 for the backend table, the reader
 * slots, and the rest (about 60%) for the arena. The read-write part is page aligned so mprotect can cover
 * exactly the rules part.
 */
static void
layout(struct ruledb_hdr *h, size_t size, unsigned nreaders)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), rw;
	uint64_t nc = size / 8 * 3 / sizeof(struct host_counters);
	uint64_t nb = size / 32 / sizeof(struct backend_state);

	h->magic = RULEDB_MAGIC;
	h->layout = RULEDB_LAYOUT;
	h->hdr_size = sizeof(*h);
	h->shm_size = size;
	h->nreaders = nreaders;
	h->ncounters = (uint32_t)(nc < UINT32_MAX ? nc : UINT32_MAX - 1);
	h->nbackends = (uint32_t)(nb < UINT32_MAX ? nb : UINT32_MAX - 1);
	rw = round_up(nreaders * sizeof(struct rdb_reader) +
	    (size_t)h->ncounters * sizeof(struct host_counters) +
	    (size_t)h->nbackends * sizeof(struct backend_state), page);
	h->rw_off = size - rw;
	h->readers_off = h->rw_off;
	h->counters_off = h->readers_off + nreaders * sizeof(struct rdb_reader);
	h->backends_off = h->counters_off +
	    (size_t)h->ncounters * sizeof(struct host_counters);
	h->arena_off = round_up(sizeof(*h), 64) + RDB_LINE_OFF;
	h->arena_end = h->rw_off;
	atomic_store(&h->generation, 0);
	atomic_store(&h->epoch, 1);
}

static uint64_t
random_seed(void)
{
	struct timespec ts;
	uint64_t s;
	int fd;

	if ((fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)) != -1) {
		if (read(fd, &s, sizeof(s)) == (ssize_t)sizeof(s)) {
			close(fd);
			return s;
		}
		close(fd);
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^
	    (uint64_t)getpid();
}

static void
set_parts(struct ruledb *db)
{
	db->hdr = (struct ruledb_hdr *)db->base;
	db->readers = RDB_PTR(db, db->hdr->readers_off);
	db->counters = RDB_PTR(db, db->hdr->counters_off);
	db->backends = RDB_PTR(db, db->hdr->backends_off);
}

static struct ruledb *
map_new(int fd, size_t size, char *err, size_t errlen)
{
	struct ruledb *db;

	if ((db = calloc(1, sizeof(*db))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	db->base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (db->base == MAP_FAILED) {
		snprintf(err, errlen, "mmap %zu bytes: %s", size,
		    strerror(errno));
		free(db);
		return NULL;
	}
	/* Fewer TLB misses if shmem THP is enabled ("advise"); else a no-op. */
	(void)madvise(db->base, size, MADV_HUGEPAGE);
	db->size = size;
	db->fd = fd;
	return db;
}

/* Master, before fork. The empty table keeps resolve free of NULL tests. */
struct ruledb *
ruledb_create(size_t shm_size, unsigned nreaders, char *err, size_t errlen)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), size;
	struct ruledb *db;
	uint64_t t;
	int fd;

	size = shm_size / page * page;
	if (size < RDB_MIN_SIZE || size > RDB_MAX_SIZE || nreaders > 65536) {
		snprintf(err, errlen, "shm_size must be between 1 MiB and "
		    "64 GiB (got %zu)", shm_size);
		return NULL;
	}
	if ((fd = segment_fd(size, err, errlen)) == -1)
		return NULL;
	if ((db = map_new(fd, size, err, errlen)) == NULL) {
		close(fd);
		return NULL;
	}
	layout(db->hdr = (struct ruledb_hdr *)db->base, size, nreaders);
	db->hdr->seed = random_seed();
	set_parts(db);
	if ((db->m = rdb_master_new(db)) == NULL ||
	    (t = rdb_tbl_new(db, 16)) == 0) {
		snprintf(err, errlen, "out of memory");
		ruledb_destroy(db);
		return NULL;
	}
	atomic_store_explicit(&db->hdr->table, t, memory_order_release);
	creator.base = db->base;
	creator.size = db->size;
	creator.pid = getpid();
	return db;
}

int
ruledb_fd(const struct ruledb *db)
{
	return db->fd;
}

/* Unmaps; the master's handle also closes the segment's descriptor. */
void
ruledb_destroy(struct ruledb *db)
{
	if (db == NULL)
		return;
	if (db->self != NULL)
		atomic_store_explicit(&db->self->epoch, RDB_OFFLINE,
		    memory_order_release);
	if (db->base == creator.base)
		creator.base = NULL;
	munmap(db->base, db->size);
	if (db->m != NULL) {
		close(db->fd);
		rdb_master_free(db->m);
	}
	free(db);
}

static bool
hdr_ok(const struct ruledb_hdr *h, size_t size)
{
	return h->magic == RULEDB_MAGIC && h->layout == RULEDB_LAYOUT &&
	    h->hdr_size == sizeof(*h) && h->shm_size == size &&
	    h->rw_off < size && h->rw_off % (size_t)sysconf(_SC_PAGESIZE) == 0;
}

/*
 * Worker: map the segment and mprotect the rules part (header, tables,
 * records) PROT_READ, drop the master's read-write mapping if it was
 * inherited over fork (the master's handle is unusable in the child from
 * then on), then go online in reader slot `slot`.
 *
 * NB: this stops stray writes (a memory-safety bug in the data plane
 * cannot corrupt routing). It is not a wall against code execution in a
 * worker: with the O_RDWR descriptor such code could map the segment
 * writable again. That would need the rules in a second memfd sealed
 * with F_SEAL_FUTURE_WRITE, or a seccomp filter on mmap/mprotect.
 */
struct ruledb *
ruledb_attach(int fd, unsigned slot, char *err, size_t errlen)
{
	struct ruledb *db;
	struct stat st;

	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "fstat: %s", strerror(errno));
		return NULL;
	}
	if ((db = map_new(fd, (size_t)st.st_size, err, errlen)) == NULL)
		return NULL;
	db->hdr = (struct ruledb_hdr *)db->base;
	if (!hdr_ok(db->hdr, db->size) || slot >= db->hdr->nreaders) {
		snprintf(err, errlen, "bad segment header or reader slot %u",
		    slot);
		goto fail;
	}
	if (mprotect(db->base, db->hdr->rw_off, PROT_READ) == -1) {
		snprintf(err, errlen, "mprotect: %s", strerror(errno));
		goto fail;
	}
	set_parts(db);
	db->self = &db->readers[slot];
	if (creator.base != NULL && creator.pid != getpid()) {
		munmap(creator.base, creator.size);
		creator.base = NULL;
	}
	ruledb_online(db);
	return db;
fail:
	munmap(db->base, db->size);
	free(db);
	return NULL;
}

/*
 * Worker, between event-loop passes: no record pointer obtained before
 * this call is used after it. Release: our earlier reads happen before
 * the master sees the new epoch here. An offline reader stays offline
 * (it is quiescent already; going online needs the fence below).
 */
void
ruledb_quiescent(struct ruledb *db)
{
	uint64_t e, cur;

	if (db->self == NULL)
		return;
	cur = atomic_load_explicit(&db->self->epoch, memory_order_relaxed);
	e = atomic_load_explicit(&db->hdr->epoch, memory_order_acquire);
	if (cur != RDB_OFFLINE && cur != e)
		atomic_store_explicit(&db->self->epoch, e,
		    memory_order_release);
}

/*
 * Worker, before blocking in epoll: this reader delays no reuse. Any read
 * (resolve, get, foreach) brings it back online by itself.
 */
void
ruledb_offline(struct ruledb *db)
{
	if (db->self != NULL)
		atomic_store_explicit(&db->self->epoch, RDB_OFFLINE,
		    memory_order_release);
}

/*
 * Worker, after epoll returns. The seq_cst fence orders our slot store
 * before our next table load; the master fences before scanning slots.
 */
void
ruledb_online(struct ruledb *db)
{
	if (db->self == NULL)
		return;
	atomic_store_explicit(&db->self->epoch,
	    atomic_load_explicit(&db->hdr->epoch, memory_order_acquire),
	    memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
}

/* Worker: see ruledb_int.h, 8. */
uint64_t
ruledb_publish_parked(struct ruledb *db, unsigned nparked)
{
	if (db->self != NULL)
		atomic_store_explicit(&db->self->parked, nparked,
		    memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	return ruledb_generation(db);
}

/* Master: see ruledb_int.h, 8. */
bool
ruledb_parked_any(const struct ruledb *db)
{
	unsigned i;

	atomic_thread_fence(memory_order_seq_cst);
	for (i = 0; i < db->hdr->nreaders; i++)
		if (atomic_load_explicit(&db->readers[i].parked,
		    memory_order_relaxed) != 0)
			return true;
	return false;
}

/* Master: the oldest epoch any online reader may still hold pointers of. */
static uint64_t
min_reader_epoch(const struct ruledb *db)
{
	uint64_t min = UINT64_MAX, e;
	unsigned i;

	atomic_thread_fence(memory_order_seq_cst);
	for (i = 0; i < db->hdr->nreaders; i++) {
		e = atomic_load_explicit(&db->readers[i].epoch,
		    memory_order_acquire);
		if (e != RDB_OFFLINE && e < min)
			min = e;
	}
	return min;
}

/* Master: O(readers + freed); runs before every mutation too. */
void
ruledb_reclaim(struct ruledb *db)
{
	if (db->m == NULL || db->m->lcount == 0)
		return;
	rdb_reclaim_front(db, min_reader_epoch(db));
}

void
ruledb_reader_clear(struct ruledb *db, unsigned slot)
{
	if (slot >= db->hdr->nreaders)
		return;
	atomic_store_explicit(&db->readers[slot].epoch, RDB_OFFLINE,
	    memory_order_release);
	atomic_store_explicit(&db->readers[slot].parked, 0,
	    memory_order_relaxed);
}

/* Arena bytes handed out (live and in limbo) plus used counter slots. */
size_t
ruledb_used(const struct ruledb *db)
{
	if (db->m == NULL)
		return 0;
	return db->hdr->arena_off + rdb_alloc_used(db) +
	    (size_t)db->m->cused * sizeof(struct host_counters) +
	    rdb_backend_used(db) * sizeof(struct backend_state);
}

size_t
ruledb_capacity(const struct ruledb *db)
{
	return db->size;
}

uint64_t
ruledb_generation(const struct ruledb *db)
{
	return atomic_load_explicit(&db->hdr->generation,
	    memory_order_acquire);
}

struct host_counters *
ruledb_counters(struct ruledb *db, const struct rule_rec *rec)
{
	if (rec == NULL || rec->counters >= db->hdr->ncounters)
		return NULL;
	return &db->counters[rec->counters];
}

/* Mantrid's "unknown" stats: the requests no rule matched. */
struct host_counters *
ruledb_counters_unknown(struct ruledb *db)
{
	return &db->counters[RDB_COUNTER_UNKNOWN];
}

/* Has any request gone to "unknown"? (Mantrid lists it from the first.) */
bool
ruledb_unknown_seen(struct ruledb *db)
{
	struct host_counters *c = ruledb_counters_unknown(db);

	return atomic_load_explicit(&c->open, memory_order_relaxed) != 0 ||
	    atomic_load_explicit(&c->completed, memory_order_relaxed) != 0 ||
	    atomic_load_explicit(&c->bytes_in, memory_order_relaxed) != 0 ||
	    atomic_load_explicit(&c->bytes_out, memory_order_relaxed) != 0;
}

struct backend_state *
ruledb_backend(struct ruledb *db, uint32_t idx)
{
	if (idx >= atomic_load_explicit(&db->hdr->backend_hwm,
	    memory_order_acquire))
		return NULL;
	return &db->backends[idx];
}

struct backend_state *
ruledb_backend_find(struct ruledb *db, const char *addr, uint32_t *idx)
{
	return rdb_backend_lookup(db, addr, idx);
}

bool
ruledb_backend_referenced(const struct ruledb *db, uint32_t idx)
{
	return db->m != NULL && idx < db->hdr->nbackends &&
	    db->m->bmeta[idx].refs > 0;
}

size_t
ruledb_backend_count(const struct ruledb *db)
{
	return atomic_load_explicit(&db->hdr->backend_hwm,
	    memory_order_acquire);
}

/*
 * bench_ruledb.c: micro-benchmark of the shared-memory rule database:
 * ns per lookup (one core) at 1, 10k, 100k and 1M hosts, single-host set
 * latency with 100k and 1M hosts loaded, replace_all of 100k hosts, and
 * shm bytes per host for a proxy rule with two backends.
 *
 *	bench/bench_ruledb [max_hosts]		(default 1000000)
 *	bench/bench_ruledb replace_all [rounds]	(replace_all only, for perf)
 *	bench/bench_ruledb lookup n [hot]	(hot exact lookups at n, for perf)
 *	bench/bench_ruledb anatomy [n]		(where the time at n goes)
 *
 * Not run by make check. Results: bench/RESULTS.md.
 */
#include "config.h"

#include <sys/resource.h>

#include <inttypes.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/ruledb.h"
#include "common/ruledb_int.h"	/* anatomy: the table's own slots */

#define MiB		(1024UL * 1024UL)
#define HOT		1024		/* hosts in the hot set */
#define LOOKUPS		2000000
#define SETS		20000

struct prule {
	struct rule		r;
	struct rule_backend	b[2];
	char			kw[2 * RULE_ADDR_MAX + 32];
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* CPU time of this thread: wall time less preemption by other jobs. */
static uint64_t
cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* System time of this thread (page faults, madvise). */
static uint64_t
sys_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return (uint64_t)ru.ru_stime.tv_sec * 1000000000ULL +
	    (uint64_t)ru.ru_stime.tv_usec * 1000;
}

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A proxy rule with two backends, as Mantrid clients set them. */
static void
prule_make(struct prule *p, unsigned i)
{
	unsigned a = i % 1000, b = (i + 1) % 1000;

	memset(p, 0, sizeof(*p));
	p->r.action = RULE_PROXY;
	p->r.subdomains = true;
	p->r.attempts = 1;
	p->r.delay_ms = 1000;
	p->r.timeout_s = 120;
	p->r.backends = p->b;
	p->r.nbackends = 2;
	snprintf(p->b[0].addr, sizeof(p->b[0].addr), "10.0.%u.%u:8080",
	    a / 250, a % 250);
	snprintf(p->b[1].addr, sizeof(p->b[1].addr), "10.0.%u.%u:8080",
	    b / 250, b % 250);
	p->b[0].weight = p->b[1].weight = 1;
	p->b[0].enabled = p->b[1].enabled = true;
	snprintf(p->kw, sizeof(p->kw), "{\"backends\":[\"%.63s\",\"%.63s\"]}",
	    p->b[0].addr, p->b[1].addr);
	p->r.kwargs_json = p->kw;
}

static void
host_name(char *buf, size_t len, unsigned i)
{
	snprintf(buf, len, "host%07u.example.com", i);
}

static uint64_t	insert_max_ns;	/* slowest insert: a table growth */

static void
load(struct ruledb *db, unsigned from, unsigned to)
{
	struct prule p;
	char key[64], err[256];
	uint64_t t0, t;
	unsigned i;

	for (i = from; i < to; i++) {
		host_name(key, sizeof(key), i);
		prule_make(&p, i);
		t0 = now_ns();
		if (ruledb_set(db, key, &p.r, err, sizeof(err)) != RULEDB_OK) {
			fprintf(stderr, "set %s: %s\n", key, err);
			exit(1);
		}
		if ((t = now_ns() - t0) > insert_max_ns)
			insert_max_ns = t;
	}
}

/* ns per resolve over `nq` Host values drawn from hosts [0, n). */
enum qkind { Q_EXACT, Q_SUB, Q_UNKNOWN };

static void
query(char *buf, size_t len, enum qkind k, unsigned i)
{
	switch (k) {
	case Q_EXACT:
		snprintf(buf, len, "host%07u.example.com", i);
		break;
	case Q_SUB:
		snprintf(buf, len, "www.host%07u.example.com:80", i);
		break;
	case Q_UNKNOWN:
		snprintf(buf, len, "nomatch%07u.example.org", i);
		break;
	}
}

/* One lookup of a Host value; true on a hit. */
typedef bool	(*lookup_fn)(struct ruledb *, const char *, size_t);

static bool
lk_resolve(struct ruledb *db, const char *h, size_t len)
{
	const struct rule_rec *rec;

	return ruledb_resolve(db, h, len, false, &rec) == RESOLVE_MATCH;
}

/*
 * ns per lookup, LOOKUPS of them, each of a Host drawn from q[0, nq).
 * Inlined into each caller, so that fn is a direct call, inlined too.
 */
static inline __attribute__((always_inline)) double
time_lookups(struct ruledb *db, char (*q)[64], unsigned nq, lookup_fn fn,
    uint64_t *seed, uint64_t *hits)
{
	uint64_t t0;
	unsigned i;

	*hits = 0;
	t0 = now_ns();
	for (i = 0; i < LOOKUPS; i++) {
		const char *h = q[rnd(seed) % nq];

		*hits += fn(db, h, strlen(h));
		if ((i & 63) == 0)
			ruledb_quiescent(db);
	}
	return (double)(now_ns() - t0) / LOOKUPS;
}

static double
lookup_ns(struct ruledb *db, unsigned n, unsigned nq, enum qkind k)
{
	char (*q)[64] = malloc((size_t)nq * 64);
	uint64_t seed = 88172645463325252ULL, hits;
	unsigned i;
	double ns;

	for (i = 0; i < nq; i++)
		query(q[i], 64, k, (unsigned)(rnd(&seed) % n));
	ns = time_lookups(db, q, nq, lk_resolve, &seed, &hits);
	free(q);
	if (hits == 0 && k != Q_UNKNOWN)
		fprintf(stderr, "no hits?\n");
	return ns;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Median and p99 of single-host sets (replace of a random host). */
static void
set_latency(struct ruledb *db, unsigned n)
{
	static uint64_t lat[SETS];
	struct prule p;
	char key[64], err[256];
	uint64_t seed = 1234567, t0;
	unsigned i, h;

	for (i = 0; i < SETS; i++) {
		h = (unsigned)(rnd(&seed) % n);
		host_name(key, sizeof(key), h);
		prule_make(&p, h + i);
		t0 = now_ns();
		if (ruledb_set(db, key, &p.r, err, sizeof(err)) != RULEDB_OK) {
			fprintf(stderr, "set: %s\n", err);
			exit(1);
		}
		lat[i] = now_ns() - t0;
	}
	qsort(lat, SETS, sizeof(lat[0]), cmp_u64);
	printf("set (replace) with %7u hosts: median %.2f us, p99 %.2f us, "
	    "max %.1f us\n", n, lat[SETS / 2] / 1e3, lat[SETS * 99 / 100] /
	    1e3, lat[SETS - 1] / 1e3);
}

static void
replace_all(struct ruledb *db, unsigned n)
{
	struct ruledb_entry *e = calloc(n, sizeof(*e));
	struct prule *p = calloc(n, sizeof(*p));
	char (*keys)[64] = calloc(n, 64), err[256];
	uint64_t t0, t1, c0, c1, s0, s1;
	unsigned i;

	for (i = 0; i < n; i++) {
		host_name(keys[i], 64, i);
		prule_make(&p[i], i + 7);
		e[i].key = keys[i];
		e[i].rule = &p[i].r;
	}
	t0 = now_ns();
	c0 = cpu_ns();
	s0 = sys_ns();
	if (ruledb_replace_all(db, e, n, err, sizeof(err)) != RULEDB_OK) {
		fprintf(stderr, "replace_all: %s\n", err);
		exit(1);
	}
	s1 = sys_ns();
	c1 = cpu_ns();
	t1 = now_ns();
	printf("replace_all of %u hosts (over %u loaded): %.1f ms "
	    "(cpu %.1f ms, of which system %.1f ms)\n", n, n, (t1 - t0) / 1e6,
	    (c1 - c0) / 1e6, (s1 - s0) / 1e6);
	free(e);
	free(p);
	free(keys);
}

static struct ruledb *
mkdb(void)
{
	char err[256];
	struct ruledb *db;

	if ((db = ruledb_create(1024 * MiB, 1, err, sizeof(err))) == NULL) {
		fprintf(stderr, "create: %s\n", err);
		exit(1);
	}
	return db;
}

/* Best of three runs: the machine is shared, noise only adds. */
static double
best_ns(struct ruledb *db, unsigned n, unsigned nq, enum qkind k)
{
	double best = 1e30, x;
	int i;

	for (i = 0; i < 3; i++)
		if ((x = lookup_ns(db, n, nq, k)) < best)
			best = x;
	return best;
}

/*
 * The same loop at every size: HOT query strings drawn from the n hosts
 * (all alike when n = 1), so only the table's size differs.
 */
static void
lookups_at(struct ruledb *db, unsigned n)
{
	printf("%7u hosts: hot set (%u Host values): exact %5.1f ns, "
	    "subdomain %5.1f ns, unknown %5.1f ns; uniform over all "
	    "hosts: exact %5.1f ns\n", n, HOT,
	    best_ns(db, n, HOT, Q_EXACT), best_ns(db, n, HOT, Q_SUB),
	    best_ns(db, n, HOT, Q_UNKNOWN),
	    best_ns(db, n, n < 262144 ? (n < HOT ? HOT : n) : 262144,
	    Q_EXACT));
	fflush(stdout);
}

/*
 * The machine is shared and its speed drifts over the run: so the hot
 * exact lookup at n hosts is also timed against a 1-host segment kept
 * aside, in RATIO_PAIRS back-to-back pairs; printed: the best of each
 * and the median of the pairs' ratios (robust to the drift).
 */
#define RATIO_PAIRS	9
static int
cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
ratio_at(struct ruledb *db, unsigned n, struct ruledb *one)
{
	double x = 1e30, y = 1e30, vx, vy, r[RATIO_PAIRS];
	int i;

	for (i = 0; i < RATIO_PAIRS; i++) {
		vy = lookup_ns(one, 1, HOT, Q_EXACT);
		vx = lookup_ns(db, n, HOT, Q_EXACT);
		r[i] = vx / vy;
		if (vx < x)
			x = vx;
		if (vy < y)
			y = vy;
	}
	qsort(r, RATIO_PAIRS, sizeof(r[0]), cmp_dbl);
	printf("%7u hosts: hot exact %5.1f ns vs 1 host %5.1f ns at the "
	    "same moment (best of %d each); median ratio of the pairs %+.0f%%\n",
	    n, x, y, RATIO_PAIRS, (r[RATIO_PAIRS / 2] - 1) * 100);
	fflush(stdout);
}

/*
 * Anatomy of the hot exact lookup at n hosts against 1 host: the same
 * paired loop as ratio_at, with four lookups over hot sets of HOT Host
 * values:
 *   resolve      ruledb_resolve, as above;
 *   resolve/home the same, the hot hosts drawn among the keys that sit in
 *                their home slot: no probe goes past home, so no probe
 *                branch is mispredicted;
 *   line         the floor of any design that reads one cache line per
 *                lookup: normalize and hash the Host, then probe the
 *                slots for its tag; the record is not read;
 *   line/home    the same over keys in their home slot.
 * The difference between a row and the one above it is what that part
 * of the lookup costs at n hosts.
 */
static bool
lk_line(struct ruledb *db, const char *host, size_t len)
{
	char buf[RULE_HOST_MAX + 2];
	const struct rdb_table *t = rdb_table_cur(db);
	uint64_t h, mask = t->nslots - 1, i, s;
	int n;

	if ((n = ruledb_normalize_host(host, len, buf, sizeof(buf))) < 0)
		return false;
	h = rdb_hash(db->hdr->seed, buf, (size_t)n);
	for (i = RDB_HOME(h, mask);; i = (i + 1) & mask) {
		s = atomic_load_explicit(&t->slots[i], memory_order_acquire);
		if (s == RDB_SLOT_EMPTY)
			return false;
		if ((s >> 32) == (h >> 32))
			return true;
	}
}

/* Is host i's key in its home slot? */
static bool
at_home(struct ruledb *db, unsigned i)
{
	const struct rdb_table *t = rdb_table_cur(db);
	const struct rule_rec *rec;
	char key[64];
	size_t len;
	uint64_t h, s;

	host_name(key, sizeof(key), i);
	len = strlen(key);
	h = rdb_hash(db->hdr->seed, key, len);
	s = atomic_load_explicit(&t->slots[RDB_HOME(h, t->nslots - 1)],
	    memory_order_relaxed);
	if (s <= RDB_SLOT_TOMB || (s >> 32) != (h >> 32))
		return false;
	rec = rdb_slot_rec(db, s);
	return rec->key_len == len &&
	    memcmp(REC_STR(rec, rec->key_off), key, len) == 0;
}

static double
anatomy_ns(struct ruledb *db, unsigned n, bool home, bool line)
{
	char (*q)[64] = malloc(HOT * 64);
	uint64_t seed = 88172645463325252ULL, hits;
	unsigned i, h;
	double ns;

	for (i = 0; i < HOT; i++) {
		do
			h = (unsigned)(rnd(&seed) % n);
		while (home && !at_home(db, h));
		query(q[i], 64, Q_EXACT, h);
	}
	ns = line ? time_lookups(db, q, HOT, lk_line, &seed, &hits) :
	    time_lookups(db, q, HOT, lk_resolve, &seed, &hits);
	free(q);
	if (hits != LOOKUPS)
		fprintf(stderr, "anatomy: %" PRIu64 " hits of %u\n", hits,
		    LOOKUPS);
	return ns;
}

static void
anatomy(unsigned n)
{
	static const struct {
		const char	*name;
		bool		 home, line;
	} rows[] = {
		{ "resolve", false, false },
		{ "resolve/home", true, false },
		{ "line", false, true },
		{ "line/home", true, true },
	};
	struct ruledb *db = mkdb(), *one = mkdb();
	double x, y, vx, vy, r[RATIO_PAIRS], d[RATIO_PAIRS];
	unsigned k, i, home = 0;

	load(one, 0, 1);
	load(db, 0, n);
	for (i = 0; i < n; i++)
		home += at_home(db, i);
	printf("%u hosts in %" PRIu64 " slots: %.1f%% in their home slot\n",
	    n, rdb_table_cur(db)->nslots, 100.0 * home / n);
	for (k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
		x = y = 1e30;
		for (i = 0; i < RATIO_PAIRS; i++) {
			vy = anatomy_ns(one, 1, rows[k].home, rows[k].line);
			vx = anatomy_ns(db, n, rows[k].home, rows[k].line);
			r[i] = vx / vy;
			d[i] = vx - vy;
			x = vx < x ? vx : x;
			y = vy < y ? vy : y;
		}
		qsort(r, RATIO_PAIRS, sizeof(r[0]), cmp_dbl);
		qsort(d, RATIO_PAIRS, sizeof(d[0]), cmp_dbl);
		printf("%-12s %7u hosts %5.1f ns, 1 host %5.1f ns (best of "
		    "%d); median of the pairs: %+5.1f ns, %+4.0f%%\n",
		    rows[k].name, n, x, y, RATIO_PAIRS, d[RATIO_PAIRS / 2],
		    (r[RATIO_PAIRS / 2] - 1) * 100);
		fflush(stdout);
	}
	ruledb_destroy(db);
	ruledb_destroy(one);
}

/*
 * replace_all of 100k hosts over 100k loaded ones, each round on a fresh
 * segment (so that it faults in fresh pages, as the first one does in the
 * daemon); several rounds, as it varies with the machine's load.
 */
static void
replace_rounds(unsigned rounds)
{
	struct ruledb *db;
	unsigned i;

	for (i = 0; i < rounds; i++) {
		db = mkdb();
		load(db, 0, 100000);
		replace_all(db, 100000);
		ruledb_destroy(db);
	}
}

int
main(int argc, char **argv)
{
	unsigned max, steps[] = { 1, 10000, 100000, 1000000 }, i, have = 0;
	struct ruledb *db, *one;
	cpu_set_t cs;
	size_t u0;

	CPU_ZERO(&cs);
	CPU_SET(0, &cs);
	(void)sched_setaffinity(0, sizeof(cs), &cs);
	if (argc > 1 && strcmp(argv[1], "replace_all") == 0) {
		replace_rounds(argc > 2 ? (unsigned)atoi(argv[2]) : 5);
		return 0;
	}
	if (argc > 2 && strcmp(argv[1], "lookup") == 0) {
		unsigned hot = argc > 3 ? (unsigned)atoi(argv[3]) : HOT;

		db = mkdb();
		load(db, 0, max = (unsigned)atoi(argv[2]));
		for (i = 0; i < 10; i++)
			printf("%u hosts: hot set of %u: exact %.1f ns\n", max,
			    hot, lookup_ns(db, max, hot, Q_EXACT));
		ruledb_destroy(db);
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "anatomy") == 0) {
		anatomy(argc > 2 ? (unsigned)atoi(argv[2]) : 1000000);
		return 0;
	}
	max = argc > 1 ? (unsigned)atoi(argv[1]) : 1000000;

	one = mkdb();
	load(one, 0, 1);
	db = mkdb();
	u0 = ruledb_used(db);
	for (i = 0; i < 4 && steps[i] <= max; i++) {
		load(db, have, steps[i]);
		have = steps[i];
		if (have == 100000) {
			ruledb_reclaim(db);
			printf("memory: %.0f shm bytes per host (proxy rule, two "
			    "backends; record + table + counters)\n",
			    (double)(ruledb_used(db) - u0) / have);
		}
		lookups_at(db, have);
		if (have > 1)
			ratio_at(db, have, one);
		if (have >= 100000) {
			printf("slowest insert while loading to %u hosts "
			    "(table growth): %.2f ms\n", have,
			    insert_max_ns / 1e6);
			set_latency(db, have);
		}
	}
	ruledb_destroy(db);
	ruledb_destroy(one);

	if (max >= 100000)
		replace_rounds(3);
	return 0;
}

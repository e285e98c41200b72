/*
 * worker_balance.c: backend and redirect-target selection (random,
 * smooth weighted round-robin, weighted random, leastconn, p2c, iphash)
 * and passive health over the shared backend table.
 *
 * Shared state touched here is struct backend_state (ruledb-t.h): workers
 * read health/weight_override/active with relaxed loads (a stale value
 * costs one request at worst, which passive health then reports) and
 * update counters with atomic adds. The only state transition a worker
 * makes is BH_UP -> BH_DOWN, by compare-and-swap, so an operator's
 * BH_DISABLED/BH_DRAINING is never overwritten and exactly one worker
 * wins (the master notices within a second and logs the change once).
 * Everything else (bringing a backend back, admin
 * states) is the master's (master_health.c, master_backends.c).
 *
 * Per-process state: the PRNG (reseeded after fork) and the smooth
 * round-robin current weights, keyed by the host's counter slot so that
 * the table stays bounded by the number of hosts.
 */
#include <sys/random.h>
#include <netinet/in.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/config-t.h"
#include "../common/log.h"
#include "../common/ruledb.h"
#include "worker_balance.h"

struct cand {
	uint32_t		 pos;		/* in REC_BACKENDS(rec) */
	uint32_t		 idx;		/* in the backend table */
	uint32_t		 weight;	/* effective, > 0 */
	struct backend_state	*bs;
};

static unsigned	balance_retry = BALANCE_RETRY_DEFAULT;
static uint64_t	rng_state;
static bool	rng_seeded;

/* ---- PRNG: splitmix64, seeded from getrandom() in each process ---- */

static void
rng_forget(void)
{
	rng_seeded = false;	/* the child must not repeat the parent */
}

static void
rng_seed_random(void)
{
	static bool	atfork_done;
	uint64_t	s;

	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != sizeof(s))
		s = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^
		    (uint64_t)(uintptr_t)&s;
	rng_state = s;
	rng_seeded = true;
	if (!atfork_done) {
		(void)pthread_atfork(NULL, NULL, rng_forget);
		atfork_done = true;
	}
}

static uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t
rng_next(void)
{
	if (!rng_seeded)
		rng_seed_random();
	rng_state += 0x9e3779b97f4a7c15ULL;
	return mix64(rng_state);
}

/* Uniform in [0, n), n > 0 (Lemire's multiply-shift; bias < n/2^64). */
static uint64_t
rng_below(uint64_t n)
{
	return (uint64_t)(((unsigned __int128)rng_next() * n) >> 64);
}

void
balance_seed(uint64_t seed)
{
	rng_state = seed;
	rng_seeded = true;
}

void
balance_init(const struct config *cfg)
{
	if (cfg != NULL && cfg->server_retry > 0)
		balance_retry = cfg->server_retry;
	rng_seed_random();
}

/* ---- candidates ---- */

uint32_t
balance_weight(const struct backend_state *bs, uint32_t rule_weight)
{
	uint32_t	o;

	o = atomic_load_explicit(&bs->weight_override, memory_order_relaxed);
	if (o == BALANCE_WEIGHT_ZERO)
		return 0;
	return o != 0 ? o : rule_weight;
}

/* Usable backends of rec into c[] (RULE_BACKENDS_MAX); returns count. */
static size_t
collect(struct ruledb *db, const struct rule_rec *rec, struct cand *c)
{
	const struct rule_rec_backend	*b = REC_BACKENDS(rec);
	struct backend_state		*bs;
	uint32_t			 i, w, n = 0;

	for (i = 0; i < rec->nbackends && i < RULE_BACKENDS_MAX; i++) {
		if (!b[i].enabled)
			continue;
		if ((bs = ruledb_backend(db, b[i].backend)) == NULL)
			continue;
		if (atomic_load_explicit(&bs->health,
		    memory_order_relaxed) != BH_UP)
			continue;
		if ((w = balance_weight(bs, b[i].weight)) == 0)
			continue;
		c[n].pos = i;
		c[n].idx = b[i].backend;
		c[n].weight = w;
		c[n].bs = bs;
		n++;
	}
	return n;
}

/* Weighted random over c[0..n), skipping position `skip` (n = none). */
static size_t
pick_weighted_skip(const struct cand *c, size_t n, size_t skip)
{
	uint64_t	total = 0, r;
	size_t		i;

	for (i = 0; i < n; i++)
		if (i != skip)
			total += c[i].weight;
	r = rng_below(total);
	for (i = 0; i < n; i++) {
		if (i == skip)
			continue;
		if (r < c[i].weight)
			return i;
		r -= c[i].weight;
	}
	return n - 1;	/* not reached */
}

static size_t
pick_weighted(const struct cand *c, size_t n)
{
	return pick_weighted_skip(c, n, n);
}

/* ---- smooth weighted round-robin (nginx's), per process ---- */

struct rr_slot {
	uint32_t	 key;		/* host counter slot; UINT32_MAX empty */
	uint32_t	 n;		/* entries in cw */
	uint64_t	 generation;	/* of the record cw belongs to */
	int64_t		*cw;		/* current weight per rule position */
};

static struct rr_slot	*rr_tab;
static size_t		 rr_cap, rr_used;

static struct rr_slot *
rr_probe(struct rr_slot *tab, size_t cap, uint32_t key)
{
	size_t	i = (size_t)mix64(key) & (cap - 1);

	while (tab[i].key != UINT32_MAX && tab[i].key != key)
		i = (i + 1) & (cap - 1);
	return &tab[i];
}

static int
rr_grow(void)
{
	struct rr_slot	*nt, *s;
	size_t		 ncap = rr_cap ? rr_cap * 2 : 64, i;

	if ((nt = calloc(ncap, sizeof(*nt))) == NULL)
		return -1;
	for (i = 0; i < ncap; i++)
		nt[i].key = UINT32_MAX;
	for (i = 0; i < rr_cap; i++) {
		if (rr_tab[i].key == UINT32_MAX)
			continue;
		s = rr_probe(nt, ncap, rr_tab[i].key);
		*s = rr_tab[i];
	}
	free(rr_tab);
	rr_tab = nt;
	rr_cap = ncap;
	return 0;
}

/* The current weights for rec, reset when the record was replaced. */
static int64_t *
rr_weights(const struct rule_rec *rec)
{
	struct rr_slot	*s;
	int64_t		*cw;

	if ((rr_used + 1) * 2 > rr_cap && rr_grow() == -1)
		return NULL;
	s = rr_probe(rr_tab, rr_cap, rec->counters);
	if (s->key == rec->counters && s->generation == rec->generation &&
	    s->n == rec->nbackends)
		return s->cw;
	if (s->key == UINT32_MAX || s->n < rec->nbackends) {
		if ((cw = realloc(s->cw, rec->nbackends *
		    sizeof(*cw))) == NULL)
			return NULL;
		if (s->key == UINT32_MAX)
			rr_used++;
		s->cw = cw;
	}
	s->key = rec->counters;
	s->generation = rec->generation;
	s->n = rec->nbackends;
	memset(s->cw, 0, s->n * sizeof(*s->cw));
	return s->cw;
}

/*
 * Each round every usable backend gains its weight; the richest is
 * chosen and pays the total. Over sum(w) picks each gets exactly w,
 * interleaved. Unusable backends sit out without losing their place.
 */
static size_t
pick_roundrobin(const struct rule_rec *rec, const struct cand *c, size_t n)
{
	int64_t		*cw, total = 0;
	size_t		 i, best = 0;

	if (rec->nbackends == 0 || (cw = rr_weights(rec)) == NULL)
		return pick_weighted(c, n);
	for (i = 0; i < n; i++) {
		cw[c[i].pos] += c[i].weight;
		total += c[i].weight;
		if (cw[c[i].pos] > cw[c[best].pos])
			best = i;
	}
	cw[c[best].pos] -= total;
	return best;
}

/* ---- leastconn and p2c: fewest active connections per unit weight ---- */

static uint64_t
active_of(const struct cand *c)
{
	return atomic_load_explicit(&c->bs->active, memory_order_relaxed);
}

/* <0 if a is less loaded than b: active_a/w_a < active_b/w_b */
static int
load_cmp(const struct cand *a, const struct cand *b)
{
	unsigned __int128 la, lb;

	la = (unsigned __int128)active_of(a) * b->weight;
	lb = (unsigned __int128)active_of(b) * a->weight;
	return la < lb ? -1 : la > lb;
}

/* The least loaded; ties are broken by weighted random among them. */
static size_t
pick_leastconn(const struct cand *c, size_t n)
{
	struct cand	 tie[RULE_BACKENDS_MAX];
	size_t		 i, best = 0, nt = 0, k;

	for (i = 1; i < n; i++)
		if (load_cmp(&c[i], &c[best]) < 0)
			best = i;
	for (i = 0; i < n; i++)
		if (load_cmp(&c[i], &c[best]) == 0) {
			tie[nt] = c[i];
			tie[nt++].pos = (uint32_t)i;	/* index into c */
		}
	k = pick_weighted(tie, nt);
	return tie[k].pos;
}

/* Two weighted random choices, the less loaded wins (first on a tie). */
static size_t
pick_p2c(const struct cand *c, size_t n)
{
	size_t	a, b;

	a = pick_weighted(c, n);
	if (n == 1)
		return a;
	b = pick_weighted_skip(c, n, a);
	return load_cmp(&c[b], &c[a]) < 0 ? b : a;
}

/* ---- iphash: weighted rendezvous hashing ---- */

static uint64_t
fnv1a(const void *p, size_t len, uint64_t h)
{
	const unsigned char	*s = p;

	while (len-- > 0)
		h = (h ^ *s++) * 0x100000001b3ULL;
	return h;
}

static bool
client_hash(const struct sockaddr *sa, uint64_t *h)
{
	static const unsigned char v4mapped[12] =
	    { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;
	const unsigned char		*a;

	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)sa;
		*h = fnv1a(&sin->sin_addr, 4, 0xcbf29ce484222325ULL);
		return true;
	}
	if (sa->sa_family != AF_INET6)
		return false;
	sin6 = (const struct sockaddr_in6 *)sa;
	a = sin6->sin6_addr.s6_addr;
	if (memcmp(a, v4mapped, sizeof(v4mapped)) == 0)	/* same as v4 */
		*h = fnv1a(a + 12, 4, 0xcbf29ce484222325ULL);
	else
		*h = fnv1a(a, 16, 0xcbf29ce484222325ULL);
	return true;
}

/* ln(x) for x > 0 without libm: exponent + atanh series, |err| < 1e-10. */
static double
ln_approx(double x)
{
	union { double d; uint64_t u; } v = { .d = x };
	double	m, s, s2, r;
	int	e;

	e = (int)((v.u >> 52) & 0x7ff) - 1023;
	v.u = (v.u & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
	m = v.d;			/* [1, 2) */
	if (m > 1.41421356237309515) {
		m /= 2;
		e++;
	}
	s = (m - 1) / (m + 1);
	s2 = s * s;
	r = s * (2 + s2 * (2.0 / 3 + s2 * (2.0 / 5 + s2 * (2.0 / 7 +
	    s2 * (2.0 / 9 + s2 * (2.0 / 11 + s2 * (2.0 / 13)))))));
	return r + e * 0.69314718055994530942;
}

/*
 * The hash of a backend's address text, cached per process by table
 * index and incarnation: the master writes an entry's address and bumps
 * its gen before publishing any record that names it (ruledb_int.h 6).
 */
struct hash_slot {
	uint64_t	h;		/* 0: not cached */
	uint32_t	gen;
};

static uint64_t
addr_hash(const struct cand *c)
{
	static struct hash_slot	*cache;
	static size_t		 ncache;
	struct hash_slot	*nc;
	uint64_t		 h;
	uint32_t		 idx = c->idx, gen;
	size_t			 n;

	gen = atomic_load_explicit(&c->bs->gen, memory_order_relaxed);
	if (idx < ncache && cache[idx].h != 0 && cache[idx].gen == gen)
		return cache[idx].h;
	h = fnv1a(c->bs->addr, strnlen(c->bs->addr, sizeof(c->bs->addr)),
	    0xcbf29ce484222325ULL) | 1;	/* never 0: 0 is "not cached" */
	if (idx >= ncache) {
		for (n = ncache ? ncache : 64; n <= idx; n *= 2)
			;
		if ((nc = realloc(cache, n * sizeof(*nc))) == NULL)
			return h;
		memset(nc + ncache, 0, (n - ncache) * sizeof(*nc));
		cache = nc;
		ncache = n;
	}
	cache[idx].h = h;
	cache[idx].gen = gen;
	return h;
}

/*
 * Each (client, backend) pair draws a uniform u from a hash of the
 * client address and the backend's address text (stable across
 * restarts and instances); the backend with the least -ln(u)/w wins.
 * That is an exponential race, so shares follow the weights, and a
 * backend leaving changes the winner only for clients it was winning.
 */
static size_t
pick_iphash(const struct cand *c, size_t n, uint64_t ch)
{
	double		 best = 0, score, u;
	uint64_t	 h, hbest = 0;
	size_t		 i, bi = 0;
	bool		 same = true;

	for (i = 1; i < n && same; i++)
		same = c[i].weight == c[0].weight;
	for (i = 0; i < n; i++) {
		h = mix64(ch ^ mix64(addr_hash(&c[i])));
		if (same) {	/* equal weights: the largest u wins, no ln */
			if (i == 0 || h > hbest) {
				hbest = h;
				bi = i;
			}
			continue;
		}
		u = ((h >> 11) + 0.5) * (1.0 / 9007199254740992.0);
		score = -ln_approx(u) / c[i].weight;
		if (i == 0 || score < best) {
			best = score;
			bi = i;
		}
	}
	return bi;
}

/* ---- entry points ---- */

static int
pick(struct ruledb *db, const struct rule_rec *rec,
    const struct sockaddr *client, enum rule_algo dflt, uint32_t *pos)
{
	struct cand	c[RULE_BACKENDS_MAX];
	size_t		n, k;
	uint64_t	ch;

	if ((n = collect(db, rec, c)) == 0)
		return -1;
	switch (rec->algorithm < ALGO_COUNT ? rec->algorithm : dflt) {
	case ALGO_ROUNDROBIN:
		k = pick_roundrobin(rec, c, n);
		break;
	case ALGO_LEASTCONN:
		k = pick_leastconn(c, n);
		break;
	case ALGO_P2C:
		k = pick_p2c(c, n);
		break;
	case ALGO_IPHASH:
		k = client_hash(client, &ch) ? pick_iphash(c, n, ch) :
		    pick_weighted(c, n);
		break;
	case ALGO_RANDOM:
	case ALGO_WEIGHTED_RANDOM:
	default:
		k = n == 1 ? 0 : pick_weighted(c, n);
		break;
	}
	*pos = c[k].pos;
	return 0;
}

int
balance_pick(struct ruledb *db, const struct rule_rec *rec,
    const struct sockaddr *client, uint32_t *backend_idx)
{
	uint32_t	pos;

	if (pick(db, rec, client, ALGO_RANDOM, &pos) == -1)
		return -1;
	*backend_idx = REC_BACKENDS(rec)[pos].backend;
	return 0;
}

/* ALGO_RANDOM (the record's default) is already weighted: rbalancer's. */
int
balance_pick_target(struct ruledb *db, const struct rule_rec *rec,
    const struct sockaddr *client, uint32_t *pos)
{
	return pick(db, rec, client, ALGO_WEIGHTED_RANDOM, pos);
}

void
balance_report(struct ruledb *db, uint32_t idx, bool ok)
{
	struct backend_state	*bs;
	uint32_t		 n, expect = BH_UP;

	if ((bs = ruledb_backend(db, idx)) == NULL)
		return;
	if (ok) {
		/* NB: load first so healthy traffic never dirties the line */
		if (atomic_load_explicit(&bs->consecutive_fails,
		    memory_order_relaxed) != 0)
			atomic_store_explicit(&bs->consecutive_fails, 0,
			    memory_order_relaxed);
		return;
	}
	atomic_fetch_add_explicit(&bs->failures, 1, memory_order_relaxed);
	n = atomic_fetch_add_explicit(&bs->consecutive_fails, 1,
	    memory_order_relaxed) + 1;
	if (n < balance_retry)
		return;
	if (atomic_compare_exchange_strong(&bs->health, &expect, BH_DOWN)) {
		atomic_store_explicit(&bs->last_change, (uint64_t)time(NULL),
		    memory_order_relaxed);
		/* NB: debug only; the master logs the change once */
		log_debug("%s: backend %s down: %u consecutive failures "
		    "(server_retry %u)", __func__, bs->addr, n, balance_retry);
	}
}

void
balance_begin(struct ruledb *db, uint32_t idx)
{
	struct backend_state	*bs;

	if ((bs = ruledb_backend(db, idx)) == NULL)
		return;
	atomic_fetch_add_explicit(&bs->active, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&bs->requests, 1, memory_order_relaxed);
}

/* rt_avg_us is an EWMA (1/8); concurrent updates may lose one sample. */
void
balance_end(struct ruledb *db, uint32_t idx, uint64_t rt_us)
{
	struct backend_state	*bs;
	uint64_t		 avg, n;

	if ((bs = ruledb_backend(db, idx)) == NULL)
		return;
	/* NB: never below 0: the entry may have been zeroed (ruledb_int.h 6) */
	n = atomic_load_explicit(&bs->active, memory_order_relaxed);
	while (n > 0 && !atomic_compare_exchange_weak_explicit(&bs->active,
	    &n, n - 1, memory_order_relaxed, memory_order_relaxed))
		;
	if (rt_us == 0)
		return;
	avg = atomic_load_explicit(&bs->rt_avg_us, memory_order_relaxed);
	avg = avg == 0 ? rt_us : avg - avg / 8 + rt_us / 8;
	atomic_store_explicit(&bs->rt_avg_us, avg, memory_order_relaxed);
}

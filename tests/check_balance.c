/*
 * check_balance.c: unit tests of worker/worker_balance.c over a real
 * shared-memory rule database: each algorithm's distribution over 10,000
 * picks, skipping of down/disabled/draining and weight-0 backends,
 * iphash stickiness and minimal movement, passive health.
 *
 * Tolerances: random-based algorithms within 2.5 percentage points of
 * each backend's weight share (about 5 standard deviations at n=10,000);
 * smooth round-robin exact to within one pick; leastconn/p2c under a
 * simulated load within 4 points.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/config-t.h"
#include "../common/ruledb.h"
#include "../worker/worker_balance.h"

#define NPICK	10000
#define NB	4

static struct ruledb	*db;
static const uint32_t	 weights[NB] = { 1, 2, 3, 4 };	/* sum 10 */

static void
mkbackend(struct rule_backend *b, int port, uint32_t weight, bool enabled)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)&b->ss;

	memset(b, 0, sizeof(*b));
	snprintf(b->addr, sizeof(b->addr), "127.0.0.1:%d", port);
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	b->sslen = sizeof(*sin);
	b->weight = weight;
	b->enabled = enabled;
}

/* Set host's proxy rule over ports 9001.. with the given weights. */
static const struct rule_rec *
setrule(const char *host, enum rule_algo algo, const uint32_t *w,
    const bool *en, size_t n)
{
	struct rule_backend	 be[RULE_BACKENDS_MAX];
	struct rule		 r;
	char			 err[256] = "";
	size_t			 i;

	memset(&r, 0, sizeof(r));
	for (i = 0; i < n; i++)
		mkbackend(&be[i], 9001 + (int)i, w[i], en ? en[i] : true);
	r.action = RULE_PROXY;
	r.backends = be;
	r.nbackends = n;
	r.attempts = 1;
	r.delay_ms = 1000;
	r.algorithm = algo;
	r.timeout_s = 120;
	r.kwargs_json = (char *)"{}";
	ck_assert_msg(ruledb_set(db, host, &r, err, sizeof(err)) == RULEDB_OK,
	    "ruledb_set: %s", err);
	return ruledb_get(db, host);
}

static struct backend_state *
bstate(int port, uint32_t *idx)
{
	char			 addr[64];
	struct backend_state	*bs;

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	bs = ruledb_backend_find(db, addr, idx);
	ck_assert_ptr_nonnull(bs);
	return bs;
}

/* The rule position of backend table index idx. */
static int
posof(const struct rule_rec *rec, uint32_t idx)
{
	const struct rule_rec_backend	*b = REC_BACKENDS(rec);
	uint32_t			 i;

	for (i = 0; i < rec->nbackends; i++)
		if (b[i].backend == idx)
			return (int)i;
	ck_abort_msg("picked backend %u is not in the rule", idx);
	return -1;
}

static void
setup(void)
{
	struct config	cfg;
	char		err[256] = "";

	memset(&cfg, 0, sizeof(cfg));
	cfg.server_retry = 3;
	balance_init(&cfg);
	balance_seed(12345);
	db = ruledb_create(8u << 20, 1, err, sizeof(err));
	ck_assert_msg(db != NULL, "ruledb_create: %s", err);
}

static void
teardown(void)
{
	ruledb_destroy(db);
	db = NULL;
}

static void
count_picks(const struct rule_rec *rec, unsigned *hits, size_t n)
{
	uint32_t	idx;
	int		i;

	memset(hits, 0, n * sizeof(*hits));
	for (i = 0; i < NPICK; i++) {
		ck_assert_int_eq(balance_pick(db, rec, NULL, &idx), 0);
		hits[posof(rec, idx)]++;
	}
}

static void
assert_shares(const unsigned *hits, const uint32_t *w, size_t n,
    double tol, const char *what)
{
	double	sum = 0, want, got;
	size_t	i;

	for (i = 0; i < n; i++)
		sum += w[i];
	for (i = 0; i < n; i++) {
		want = w[i] / sum;
		got = (double)hits[i] / NPICK;
		ck_assert_msg(got > want - tol && got < want + tol,
		    "%s: backend %zu got %.4f of picks, want %.4f +- %.3f",
		    what, i, got, want, tol);
	}
}

/* ---- distribution, one table row per algorithm without load ---- */

static const struct {
	enum rule_algo	 algo;
	const char	*name;
	double		 tol;
} dist_tab[] = {
	{ ALGO_RANDOM,		"random",		0.025 },
	{ ALGO_ROUNDROBIN,	"roundrobin",		1.0 / NPICK + 1e-9 },
	{ ALGO_WEIGHTED_RANDOM,	"weighted_random",	0.025 },
	{ ALGO_LEASTCONN,	"leastconn",		0.025 },
	{ ALGO_P2C,		"p2c",			0.025 },
};

START_TEST(test_distribution)
{
	const struct rule_rec	*rec;
	unsigned		 hits[NB];

	rec = setrule("dist.example", dist_tab[_i].algo, weights, NULL, NB);
	count_picks(rec, hits, NB);
	assert_shares(hits, weights, NB, dist_tab[_i].tol, dist_tab[_i].name);
}
END_TEST

/* Smooth: in any window of sum(w) picks each backend gets exactly w. */
START_TEST(test_roundrobin_smooth)
{
	const struct rule_rec	*rec;
	unsigned		 hits[NB];
	uint32_t		 idx, last = UINT32_MAX, run = 0, maxrun = 0;
	int			 i, round;

	rec = setrule("rr.example", ALGO_ROUNDROBIN, weights, NULL, NB);
	for (round = 0; round < 100; round++) {
		memset(hits, 0, sizeof(hits));
		for (i = 0; i < 10; i++) {
			ck_assert_int_eq(balance_pick(db, rec, NULL, &idx), 0);
			hits[posof(rec, idx)]++;
			run = idx == last ? run + 1 : 1;
			last = idx;
			if (run > maxrun)
				maxrun = run;
		}
		for (i = 0; i < NB; i++)
			ck_assert_uint_eq(hits[i], weights[i]);
	}
	/* interleaved, not 4 in a row for the heaviest */
	ck_assert_uint_le(maxrun, 2);
}
END_TEST

/*
 * Under load: keep 40 requests in flight, finishing the oldest first,
 * so leastconn and p2c see real active counts.
 */
static void
count_loaded(const struct rule_rec *rec, unsigned *hits)
{
	uint32_t	ring[40], idx;
	int		i;

	memset(hits, 0, NB * sizeof(*hits));
	for (i = 0; i < NPICK; i++) {
		if (i >= 40)
			balance_end(db, ring[i % 40], 100);
		ck_assert_int_eq(balance_pick(db, rec, NULL, &idx), 0);
		balance_begin(db, idx);
		ring[i % 40] = idx;
		hits[posof(rec, idx)]++;
	}
	for (i = 0; i < 40; i++)
		balance_end(db, ring[i], 100);
}

START_TEST(test_loaded)
{
	const struct rule_rec	*rec;
	enum rule_algo		 algo = _i == 0 ? ALGO_LEASTCONN : ALGO_P2C;
	unsigned		 hits[NB];
	uint32_t		 idx;
	int			 p;

	rec = setrule("load.example", algo, weights, NULL, NB);
	count_loaded(rec, hits);
	assert_shares(hits, weights, NB, 0.04,
	    _i == 0 ? "leastconn loaded" : "p2c loaded");
	for (p = 0; p < NB; p++) {
		ck_assert_uint_eq(atomic_load(&bstate(9001 + p, &idx)->active),
		    0);
	}
	ck_assert_uint_eq(atomic_load(&bstate(9001, &idx)->requests),
	    hits[0]);
}
END_TEST

/* leastconn picks the backend with the fewest active per weight. */
START_TEST(test_leastconn_prefers_idle)
{
	static const uint32_t	 w[3] = { 1, 1, 1 };
	const struct rule_rec	*rec;
	uint32_t		 idx, i0, i2;
	int			 i;

	rec = setrule("lc.example", ALGO_LEASTCONN, w, NULL, 3);
	atomic_store(&bstate(9001, &i0)->active, 5);
	atomic_store(&bstate(9002, &idx)->active, 3);
	atomic_store(&bstate(9003, &i2)->active, 1);
	for (i = 0; i < 100; i++) {
		ck_assert_int_eq(balance_pick(db, rec, NULL, &idx), 0);
		ck_assert_uint_eq(idx, i2);
	}
	(void)i0;
}
END_TEST

/* ---- skipping ---- */

static const struct {
	uint32_t	 health;
	const char	*name;
} skip_tab[] = {
	{ BH_DOWN,	"down" },
	{ BH_DRAINING,	"draining" },
	{ BH_DISABLED,	"disabled" },
};

START_TEST(test_skip_states)
{
	const struct rule_rec	*rec;
	struct backend_state	*bs;
	struct sockaddr_in	 cl;
	uint32_t		 idx, bad;
	int			 algo, i;

	memset(&cl, 0, sizeof(cl));
	cl.sin_family = AF_INET;
	for (algo = 0; algo < ALGO_COUNT; algo++) {
		rec = setrule("skip.example", algo, weights, NULL, NB);
		bs = bstate(9004, &bad);	/* the heaviest */
		atomic_store(&bs->health, skip_tab[_i].health);
		for (i = 0; i < 2000; i++) {
			cl.sin_addr.s_addr = htonl(0x0a000000u + i);
			ck_assert_int_eq(balance_pick(db, rec,
			    (struct sockaddr *)&cl, &idx), 0);
			ck_assert_msg(idx != bad, "algo %d picked a %s backend",
			    algo, skip_tab[_i].name);
		}
		atomic_store(&bs->health, BH_UP);
	}
}
END_TEST

START_TEST(test_weight_zero_and_disabled_in_rule)
{
	static const uint32_t	 w[3] = { 0, 1, 1 };
	static const bool	 en[3] = { true, true, false };
	const struct rule_rec	*rec;
	uint32_t		 idx, only;
	int			 algo, i;

	for (algo = 0; algo < ALGO_COUNT; algo++) {
		rec = setrule("w0.example", algo, w, en, 3);
		bstate(9002, &only);
		for (i = 0; i < 500; i++) {
			ck_assert_int_eq(balance_pick(db, rec, NULL, &idx), 0);
			ck_assert_uint_eq(idx, only);
		}
	}
}
END_TEST

START_TEST(test_weight_override)
{
	static const uint32_t	 w[2] = { 1, 1 };
	const struct rule_rec	*rec;
	struct backend_state	*b1, *b2;
	unsigned		 hits[2];
	uint32_t		 idx;
	static const uint32_t	 want[2] = { 1, 4 };

	rec = setrule("wo.example", ALGO_ROUNDROBIN, w, NULL, 2);
	b1 = bstate(9001, &idx);
	b2 = bstate(9002, &idx);
	atomic_store(&b2->weight_override, 4);
	count_picks(rec, hits, 2);
	assert_shares(hits, want, 2, 0.001, "override 4");
	atomic_store(&b1->weight_override, BALANCE_WEIGHT_ZERO);
	count_picks(rec, hits, 2);
	ck_assert_uint_eq(hits[0], 0);
	atomic_store(&b2->weight_override, BALANCE_WEIGHT_ZERO);
	ck_assert_int_eq(balance_pick(db, rec, NULL, &idx), -1);
	atomic_store(&b1->weight_override, 0);
	atomic_store(&b2->weight_override, 0);
}
END_TEST

START_TEST(test_all_down)
{
	const struct rule_rec	*rec;
	uint32_t		 idx;
	int			 algo, p;

	rec = setrule("down.example", ALGO_RANDOM, weights, NULL, NB);
	for (p = 0; p < NB; p++)
		atomic_store(&bstate(9001 + p, &idx)->health, BH_DOWN);
	for (algo = 0; algo < ALGO_COUNT; algo++) {
		rec = setrule("down.example", algo, weights, NULL, NB);
		ck_assert_int_eq(balance_pick(db, rec, NULL, &idx), -1);
	}
	rec = setrule("none.example", ALGO_RANDOM, weights, NULL, 0);
	ck_assert_int_eq(balance_pick(db, rec, NULL, &idx), -1);
}
END_TEST

/* ---- iphash ---- */

static uint32_t
pick_client(const struct rule_rec *rec, uint32_t ip)
{
	struct sockaddr_in	cl;
	uint32_t		idx;

	memset(&cl, 0, sizeof(cl));
	cl.sin_family = AF_INET;
	cl.sin_port = htons((uint16_t)(ip * 7));	/* port must not count */
	cl.sin_addr.s_addr = htonl(ip);
	ck_assert_int_eq(balance_pick(db, rec, (struct sockaddr *)&cl, &idx),
	    0);
	return idx;
}

START_TEST(test_iphash)
{
	const struct rule_rec	*rec;
	static uint32_t		 first[NPICK];
	struct backend_state	*gone;
	unsigned		 hits[NB], moved = 0, lost = 0;
	uint32_t		 idx, gidx;
	int			 i;

	static const uint32_t	 eq[NB] = { 5, 5, 5, 5 };
	const uint32_t		*w = _i == 0 ? weights : eq;

	/* row 0 weighted (exponential race), row 1 equal (max hash) */
	rec = setrule("ip.example", ALGO_IPHASH, w, NULL, NB);
	memset(hits, 0, sizeof(hits));
	for (i = 0; i < NPICK; i++) {
		first[i] = pick_client(rec, 0xc0a80000u + i * 13);
		hits[posof(rec, first[i])]++;
		ck_assert_uint_eq(pick_client(rec, 0xc0a80000u + i * 13),
		    first[i]);
	}
	assert_shares(hits, w, NB, 0.025, "iphash");

	gone = bstate(9003, &gidx);
	atomic_store(&gone->health, BH_DOWN);
	for (i = 0; i < NPICK; i++) {
		idx = pick_client(rec, 0xc0a80000u + i * 13);
		ck_assert_uint_ne(idx, gidx);
		if (first[i] == gidx)
			lost++;
		else if (idx != first[i])
			moved++;
	}
	ck_assert_uint_eq(moved, 0);	/* only the leaver's clients move */
	ck_assert_uint_eq(lost, hits[2]);

	atomic_store(&gone->health, BH_UP);	/* and they come back */
	for (i = 0; i < NPICK; i++)
		ck_assert_uint_eq(pick_client(rec, 0xc0a80000u + i * 13),
		    first[i]);
}
END_TEST

START_TEST(test_iphash_v6)
{
	const struct rule_rec	*rec;
	struct sockaddr_in6	 s6;
	uint32_t		 a, b;

	rec = setrule("ip6.example", ALGO_IPHASH, weights, NULL, NB);
	memset(&s6, 0, sizeof(s6));
	s6.sin6_family = AF_INET6;
	ck_assert_int_eq(inet_pton(AF_INET6, "::ffff:192.168.1.7",
	    &s6.sin6_addr), 1);
	ck_assert_int_eq(balance_pick(db, rec, (struct sockaddr *)&s6, &a), 0);
	ck_assert_uint_eq(a, pick_client(rec, 0xc0a80107u));
	ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8::1", &s6.sin6_addr), 1);
	ck_assert_int_eq(balance_pick(db, rec, (struct sockaddr *)&s6, &a), 0);
	ck_assert_int_eq(balance_pick(db, rec, (struct sockaddr *)&s6, &b), 0);
	ck_assert_uint_eq(a, b);
}
END_TEST

/* ---- passive health ---- */

START_TEST(test_passive)
{
	const struct rule_rec	*rec;
	struct backend_state	*bs;
	uint32_t		 idx;

	rec = setrule("ph.example", ALGO_RANDOM, weights, NULL, NB);
	(void)rec;
	bs = bstate(9001, &idx);
	balance_report(db, idx, false);
	balance_report(db, idx, false);
	balance_report(db, idx, true);		/* resets the run */
	balance_report(db, idx, false);
	balance_report(db, idx, false);
	ck_assert_uint_eq(atomic_load(&bs->health), BH_UP);
	balance_report(db, idx, false);		/* third in a row */
	ck_assert_uint_eq(atomic_load(&bs->health), BH_DOWN);
	ck_assert_uint_eq(atomic_load(&bs->failures), 5);
	ck_assert_uint_ne(atomic_load(&bs->last_change), 0);

	/* failures never override an operator's state */
	bs = bstate(9002, &idx);
	atomic_store(&bs->health, BH_DRAINING);
	balance_report(db, idx, false);
	balance_report(db, idx, false);
	balance_report(db, idx, false);
	ck_assert_uint_eq(atomic_load(&bs->health), BH_DRAINING);
}
END_TEST

/* ---- redirect targets ---- */

START_TEST(test_targets)
{
	struct rule_backend	 be[3];
	struct rule		 r;
	const struct rule_rec	*rec;
	const struct rule_rec_backend *b;
	char			 err[256] = "";
	unsigned		 hits[3] = { 0, 0, 0 };
	uint32_t		 pos, idx;
	static const uint32_t	 want[2] = { 20, 10 };
	int			 i;

	memset(&r, 0, sizeof(r));
	mkbackend(&be[0], 9101, 20, true);
	be[0].url = (char *)"http://img1.example:9101";
	mkbackend(&be[1], 9102, 10, true);
	be[1].url = (char *)"http://img2.example:9102";
	mkbackend(&be[2], 9103, 50, false);
	be[2].url = (char *)"http://img3.example:9103";
	r.action = RULE_REDIRECT;
	r.backends = be;
	r.nbackends = 3;
	r.algorithm = ALGO_RANDOM;
	r.kwargs_json = (char *)"{}";
	ck_assert_msg(ruledb_set(db, "img.example", &r, err, sizeof(err)) ==
	    RULEDB_OK, "ruledb_set: %s", err);
	rec = ruledb_get(db, "img.example");
	b = REC_BACKENDS(rec);
	for (i = 0; i < NPICK; i++) {
		ck_assert_int_eq(balance_pick_target(db, rec, NULL, &pos), 0);
		ck_assert_uint_lt(pos, 3);
		hits[pos]++;
	}
	ck_assert_uint_eq(hits[2], 0);		/* enabled=false */
	assert_shares(hits, want, 2, 0.025, "targets");
	ck_assert_str_eq(REC_STR(rec, b[0].url_off), "http://img1.example:9101");

	atomic_store(&bstate(9101, &idx)->health, BH_DOWN);
	for (i = 0; i < 200; i++) {
		ck_assert_int_eq(balance_pick_target(db, rec, NULL, &pos), 0);
		ck_assert_uint_eq(pos, 1);
	}
	atomic_store(&bstate(9102, &idx)->health, BH_DOWN);
	ck_assert_int_eq(balance_pick_target(db, rec, NULL, &pos), -1);
}
END_TEST

static Suite *
balance_suite(void)
{
	Suite	*s = suite_create("balance");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_distribution, 0,
	    sizeof(dist_tab) / sizeof(dist_tab[0]));
	tcase_add_test(tc, test_roundrobin_smooth);
	tcase_add_loop_test(tc, test_loaded, 0, 2);
	tcase_add_test(tc, test_leastconn_prefers_idle);
	tcase_add_loop_test(tc, test_skip_states, 0,
	    sizeof(skip_tab) / sizeof(skip_tab[0]));
	tcase_add_test(tc, test_weight_zero_and_disabled_in_rule);
	tcase_add_test(tc, test_weight_override);
	tcase_add_test(tc, test_all_down);
	tcase_add_loop_test(tc, test_iphash, 0, 2);
	tcase_add_test(tc, test_iphash_v6);
	tcase_add_test(tc, test_passive);
	tcase_add_test(tc, test_targets);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(balance_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

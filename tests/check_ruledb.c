/*
 * check_ruledb.c: unit tests of the shared-memory rule database: Mantrid's
 * host matching and Host normalization, table operations, growth to one
 * million hosts, out-of-space refusal, counters and backends, QSBR reuse,
 * and the read-only mapping in workers.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <unistd.h>

#include "check_ruledb_util.h"

static struct ruledb *
mkdb(size_t size, unsigned nreaders)
{
	char err[256];
	struct ruledb *db;

	db = ruledb_create(size, nreaders, err, sizeof(err));
	ck_assert_msg(db != NULL, "ruledb_create: %s", err);
	return db;
}

static void
set_action(struct ruledb *db, const char *key, enum rule_action a, bool subs)
{
	struct rule r = { .action = a, .subdomains = subs,
	    .kwargs_json = "{}" };
	char err[256];

	ck_assert_msg(ruledb_set(db, key, &r, err, sizeof(err)) == RULEDB_OK,
	    "set %s: %s", key, err);
}

static void
set_v(struct ruledb *db, const char *key, unsigned v)
{
	struct trule t;
	char err[256];

	trule_make(&t, key, v);
	ck_assert_msg(ruledb_set(db, key, &t.r, err, sizeof(err)) ==
	    RULEDB_OK, "set %s: %s", key, err);
}

/* -------- matching -------- */

#define NOMATCH	(-1)
#define NOHOSTS	(-2)

struct resolve_case {
	const char	*host;
	bool		 https;
	int		 action;	/* enum rule_action, NOMATCH, NOHOSTS */
	const char	*key;		/* matched key */
};

static void
run_cases(struct ruledb *db, const struct resolve_case *c, size_t n)
{
	const struct rule_rec *rec;
	enum resolve_kind k;
	size_t i;

	for (i = 0; i < n; i++) {
		k = ruledb_resolve(db, c[i].host, strlen(c[i].host),
		    c[i].https, &rec);
		if (c[i].action == NOHOSTS) {
			ck_assert_msg(k == RESOLVE_NO_HOSTS && rec == NULL,
			    "%s: expected no_hosts", c[i].host);
			continue;
		}
		if (c[i].action == NOMATCH) {
			ck_assert_msg(k == RESOLVE_UNKNOWN && rec == NULL,
			    "%s: expected unknown, got %d", c[i].host, k);
			continue;
		}
		ck_assert_msg(k == RESOLVE_MATCH && rec != NULL,
		    "%s (https=%d): no match", c[i].host, c[i].https);
		ck_assert_msg(rec->action == c[i].action, "%s: action %d",
		    c[i].host, rec->action);
		if (c[i].key != NULL)
			ck_assert_str_eq(REC_STR(rec, rec->key_off), c[i].key);
	}
}

/* Mantrid's own test_resolution (mantrid/tests/loadbalancer.py). */
START_TEST(test_mantrid_resolution)
{
	static const struct resolve_case c[] = {
		{ "localhost", false, RULE_EMPTY, "localhost" },
		{ "local.ep.io", false, RULE_SPIN, "local.ep.io" },
		{ "ep.io", false, RULE_REDIRECT, "http://ep.io" },
		{ "ep.io", true, RULE_PROXY, "ep.io" },
		{ "subdomain.localhost", false, NOMATCH, NULL },
		{ "subdomain.local.ep.io", false, RULE_SPIN, "local.ep.io" },
		{ "subdomain.ep.io", false, RULE_REDIRECT, "http://ep.io" },
		{ "multi.level.subdomain.local.ep.io", false, RULE_SPIN,
		    "local.ep.io" },
		{ "i-love-bees.com", false, NOMATCH, NULL },
		/* beyond Mantrid's list */
		{ "subdomain.ep.io", true, RULE_PROXY, "ep.io" },
		{ "a.b.c.ep.io", true, RULE_PROXY, "ep.io" },
		{ "io", false, NOMATCH, NULL },
		{ "ep.io.com", false, NOMATCH, NULL },
		{ "xep.io", false, NOMATCH, NULL },
	};
	struct ruledb *db = mkdb(MiB, 1);

	set_action(db, "localhost", RULE_EMPTY, false);
	set_action(db, "local.ep.io", RULE_SPIN, true);
	set_action(db, "http://ep.io", RULE_REDIRECT, true);
	set_action(db, "ep.io", RULE_PROXY, true);
	run_cases(db, c, sizeof(c) / sizeof(c[0]));
	ruledb_destroy(db);
}
END_TEST

/* Protocol keys: https beats plain for https only; subdomain flag per key. */
START_TEST(test_protocol_keys)
{
	static const struct resolve_case c[] = {
		{ "secure.io", true, RULE_STATIC, "https://secure.io" },
		{ "secure.io", false, NOMATCH, NULL },
		{ "www.secure.io", true, NOMATCH, NULL },
		{ "ex.com", false, RULE_EMPTY, "http://ex.com" },
		{ "ex.com", true, RULE_PROXY, "ex.com" },
		/* http://ex.com has no subdomains: falls to plain ex.com */
		{ "a.ex.com", false, RULE_PROXY, "ex.com" },
		/* deeper exact rule beats any parent */
		{ "deep.a.ex.com", false, RULE_SPIN, "deep.a.ex.com" },
		{ "x.deep.a.ex.com", false, RULE_PROXY, "ex.com" },
		{ "x.deep.a.ex.com", true, RULE_REDIRECT,
		    "https://a.ex.com" },
	};
	struct ruledb *db = mkdb(MiB, 1);

	set_action(db, "https://secure.io", RULE_STATIC, false);
	set_action(db, "http://ex.com", RULE_EMPTY, false);
	set_action(db, "ex.com", RULE_PROXY, true);
	set_action(db, "deep.a.ex.com", RULE_SPIN, false);
	set_action(db, "HTTPS://A.ex.com", RULE_REDIRECT, true);
	run_cases(db, c, sizeof(c) / sizeof(c[0]));
	ruledb_destroy(db);
}
END_TEST

START_TEST(test_normalized_resolution)
{
	static const struct resolve_case c[] = {
		{ "LOCALHOST", false, RULE_EMPTY, "localhost" },
		{ "localhost:8080", false, RULE_EMPTY, "localhost" },
		{ "localhost.", false, RULE_EMPTY, "localhost" },
		{ "localhost.:80", false, RULE_EMPTY, "localhost" },
		{ "localhost:", false, RULE_EMPTY, "localhost" },
		{ "Sub.Local.EP.io.:443", true, RULE_SPIN, "local.ep.io" },
		{ "[::1]:8080", false, RULE_STATIC, "[::1]" },
		{ "[::1]", true, RULE_STATIC, "[::1]" },
		{ "[::2]", false, NOMATCH, NULL },
		{ "127.0.0.1:80", false, RULE_PROXY, "127.0.0.1" },
		{ "localhost..", false, NOMATCH, NULL },
		{ "local host", false, NOMATCH, NULL },
		{ "localhost:8o", false, NOMATCH, NULL },
		{ "", false, NOMATCH, NULL },
		{ ":80", false, NOMATCH, NULL },
		{ "[::1", false, NOMATCH, NULL },
		{ "::1", false, NOMATCH, NULL },
		{ ".local.ep.io", false, NOMATCH, NULL },
		{ "x..local.ep.io", false, NOMATCH, NULL },
	};
	struct ruledb *db = mkdb(MiB, 1);

	set_action(db, "localhost", RULE_EMPTY, false);
	set_action(db, "local.ep.io", RULE_SPIN, true);
	set_action(db, "[::1]", RULE_STATIC, true);
	set_action(db, "127.0.0.1", RULE_PROXY, false);
	run_cases(db, c, sizeof(c) / sizeof(c[0]));
	ruledb_destroy(db);
}
END_TEST

START_TEST(test_no_hosts)
{
	static const struct resolve_case c[] = {
		{ "localhost", false, NOHOSTS, NULL },
		{ "garbage host", true, NOHOSTS, NULL },
	};
	struct ruledb *db = mkdb(MiB, 1);

	run_cases(db, c, 2);
	set_action(db, "localhost", RULE_EMPTY, false);
	ck_assert_int_eq(ruledb_delete(db, "localhost"), RULEDB_OK);
	run_cases(db, c, 2);
	ruledb_destroy(db);
}
END_TEST

START_TEST(test_normalize)
{
	static const struct norm_case c[] = {
		{ "Example.COM", "example.com" },
		{ "example.com.", "example.com" },
		{ "example.com:8080", "example.com" },
		{ "example.com.:8080", "example.com" },
		{ "EXAMPLE.com:", "example.com" },
		{ "[::1]:8080", "[::1]" },
		{ "[FE80::1]", "[fe80::1]" },
		{ "[::ffff:1.2.3.4]:1", "[::ffff:1.2.3.4]" },
		{ "a_b-c.d", "a_b-c.d" },
		{ "10.0.0.1:80", "10.0.0.1" },
		{ "", NULL }, { ".", NULL }, { "a..b", NULL }, { ".a", NULL },
		{ "a b", NULL }, { "a:b", NULL }, { "a:123456", NULL },
		{ "[]", NULL }, { "[::1", NULL }, { "[::1]x", NULL },
		{ "[g::1]", NULL }, { "[1.2.3.4]", NULL }, { "::1", NULL },
		{ "a/b", NULL }, { "*.A", "*.a" }, { "a.b..", NULL },
	};
	char buf[RULE_HOST_MAX + 1], big[300];

	norm_cases_check(c, sizeof(c) / sizeof(c[0]));
	memset(big, 'a', sizeof(big));
	ck_assert_int_eq(ruledb_normalize_host(big, 256, buf, sizeof(buf)), -1);
	ck_assert_int_eq(ruledb_normalize_host(big, 255, buf, sizeof(buf)),
	    255);
	ck_assert_int_eq(ruledb_normalize_host("abc", 3, buf, 3), -1);
}
END_TEST

/* -------- table -------- */

static int
count_cb(const struct rule_rec *rec, void *arg)
{
	unsigned v;

	ck_assert_int_eq(trule_verify(rec, REC_STR(rec, rec->key_off), &v), 0);
	(*(size_t *)arg)++;
	return 0;
}

static int
plain_count_cb(const struct rule_rec *rec, void *arg)
{
	(*(size_t *)arg)++;
	return rdb_checksum(rec) != rec->checksum;
}

static int
stop_cb(const struct rule_rec *rec, void *arg)
{
	return ++(*(int *)arg) == 3 ? 42 : 0;
}

START_TEST(test_table_ops)
{
	struct ruledb *db = mkdb(4 * MiB, 1);
	const struct rule_rec *rec, *rec2;
	struct host_counters *hc;
	char err[256] = "";
	struct trule t;
	unsigned v;
	size_t n = 0;
	int stop = 0;

	ck_assert_uint_eq(ruledb_generation(db), 0);
	set_v(db, "a.example.com", 1);
	ck_assert_uint_eq(ruledb_generation(db), 1);
	ck_assert_uint_eq(ruledb_count(db), 1);
	rec = ruledb_get(db, "A.Example.com.");
	ck_assert_ptr_nonnull(rec);
	ck_assert_int_eq(trule_verify(rec, "a.example.com", &v), 0);
	ck_assert_uint_eq(v, 1);
	ck_assert_uint_eq(rec->generation, 1);
	hc = ruledb_counters(db, rec);
	atomic_fetch_add(&hc->completed, 5);

	/* replace: new record, same counters */
	set_v(db, "a.example.com", 2);
	ck_assert_uint_eq(ruledb_generation(db), 2);
	ck_assert_uint_eq(ruledb_count(db), 1);
	rec2 = ruledb_get(db, "a.example.com");
	ck_assert_int_eq(trule_verify(rec2, "a.example.com", &v), 0);
	ck_assert_uint_eq(v, 2);
	ck_assert_ptr_eq(ruledb_counters(db, rec2), hc);
	ck_assert_uint_eq(atomic_load(&hc->completed), 5);

	set_v(db, "https://a.example.com", 3);
	set_v(db, "b.example.com", 4);
	ck_assert_uint_eq(ruledb_count(db), 3);
	ck_assert_int_eq(ruledb_foreach(db, count_cb, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(ruledb_foreach(db, stop_cb, &stop), 42);

	/* delete */
	ck_assert_int_eq(ruledb_delete(db, "b.example.com"), RULEDB_OK);
	ck_assert_int_eq(ruledb_delete(db, "b.example.com"), RULEDB_ENOENT);
	ck_assert_ptr_null(ruledb_get(db, "b.example.com"));
	ck_assert_uint_eq(ruledb_count(db), 2);
	ck_assert_uint_eq(ruledb_generation(db), 5);

	/* refusals change nothing */
	trule_make(&t, "x", 1);
	ck_assert_int_eq(ruledb_set(db, "bad host", &t.r, err, sizeof(err)),
	    RULEDB_EINVAL);
	ck_assert_str_ne(err, "");
	ck_assert_int_eq(ruledb_set(db, "a.com:80", &t.r, err, sizeof(err)),
	    RULEDB_EINVAL);
	t.r.action = RULE_ACTION_COUNT;
	ck_assert_int_eq(ruledb_set(db, "x.com", &t.r, err, sizeof(err)),
	    RULEDB_EINVAL);
	ck_assert_int_eq(ruledb_set(db, "x.com", NULL, err, sizeof(err)),
	    RULEDB_EINVAL);
	ck_assert_uint_eq(ruledb_generation(db), 5);
	ck_assert_uint_eq(ruledb_count(db), 2);
	ruledb_destroy(db);
}
END_TEST

START_TEST(test_replace_all)
{
	struct ruledb *db = mkdb(4 * MiB, 1);
	struct trule t[4];
	struct ruledb_entry e[4];
	struct host_counters *hc;
	const struct rule_rec *rec;
	char err[256];
	unsigned v;
	size_t n = 0;

	set_v(db, "keep.com", 1);
	set_v(db, "gone.com", 1);
	hc = ruledb_counters(db, ruledb_get(db, "keep.com"));
	atomic_store(&hc->bytes_in, 77);
	atomic_store(&ruledb_counters(db, ruledb_get(db, "gone.com"))->open, 9);
	trule_make(&t[0], "keep.com", 10);
	trule_make(&t[1], "new.com", 11);
	trule_make(&t[2], "new2.com", 12);
	trule_make(&t[3], "new.com", 13);	/* duplicate: later wins */
	e[0] = (struct ruledb_entry){ "keep.com", &t[0].r };
	e[1] = (struct ruledb_entry){ "new.com", &t[1].r };
	e[2] = (struct ruledb_entry){ "NEW2.com", &t[2].r };
	e[3] = (struct ruledb_entry){ "new.com", &t[3].r };
	ck_assert_int_eq(ruledb_replace_all(db, e, 4, err, sizeof(err)),
	    RULEDB_OK);
	ck_assert_uint_eq(ruledb_generation(db), 3);
	ck_assert_uint_eq(ruledb_count(db), 3);
	ck_assert_ptr_null(ruledb_get(db, "gone.com"));
	rec = ruledb_get(db, "keep.com");
	ck_assert_int_eq(trule_verify(rec, "keep.com", &v), 0);
	ck_assert_uint_eq(v, 10);
	ck_assert_ptr_eq(ruledb_counters(db, rec), hc);
	ck_assert_uint_eq(atomic_load(&hc->bytes_in), 77);
	ck_assert_int_eq(trule_verify(ruledb_get(db, "new.com"), "new.com",
	    &v), 0);
	ck_assert_uint_eq(v, 13);
	ck_assert_int_eq(ruledb_foreach(db, count_cb, &n), 0);
	ck_assert_uint_eq(n, 3);

	/* a bad entry anywhere refuses the whole call */
	e[2].key = "bad..key";
	ck_assert_int_eq(ruledb_replace_all(db, e, 4, err, sizeof(err)),
	    RULEDB_EINVAL);
	ck_assert_uint_eq(ruledb_generation(db), 3);
	ck_assert_uint_eq(ruledb_count(db), 3);

	/* to empty */
	ck_assert_int_eq(ruledb_replace_all(db, NULL, 0, err, sizeof(err)),
	    RULEDB_OK);
	ck_assert_uint_eq(ruledb_count(db), 0);
	ruledb_reclaim(db);
	/* the deleted host's counters are gone (zeroed for reuse) */
	set_v(db, "gone.com", 1);
	ck_assert_uint_eq(atomic_load(&ruledb_counters(db,
	    ruledb_get(db, "gone.com"))->open), 0);
	ruledb_destroy(db);
}
END_TEST

/*
 * A deleted host's counters are dropped: its slot is zeroed before any
 * reuse. 10,000 distinct hosts through a 1 MiB segment (3,072 counter
 * slots) forces reuse of every slot several times.
 */
START_TEST(test_counters_dropped_on_delete)
{
	struct ruledb *db = mkdb(MiB, 1);
	struct host_counters *hc;
	struct trule t;
	char key[64], err[256];
	unsigned i, k;

	for (i = 0; i < 10000; i++) {
		snprintf(key, sizeof(key), "h%u.com", i);
		trule_make(&t, key, 1);
		if (ruledb_set(db, key, &t.r, err, sizeof(err)) != RULEDB_OK)
			ck_abort_msg("set %s: %s", key, err);
		hc = ruledb_counters(db, ruledb_get(db, key));
		for (k = 0; k < SC_COUNT; k++)
			if (atomic_load(&hc->status[k]) != 0)
				ck_abort_msg("%s: stale counters", key);
		if (atomic_load(&hc->open) || atomic_load(&hc->bytes_out))
			ck_abort_msg("%s: stale counters", key);
		atomic_store(&hc->status[SC_2XX], 12);
		atomic_store(&hc->open, 3);
		atomic_store(&hc->bytes_out, 3);
		if (ruledb_delete(db, key) != RULEDB_OK)
			ck_abort_msg("delete %s", key);
	}
	ck_assert_uint_eq(ruledb_count(db), 0);
	ruledb_destroy(db);
}
END_TEST

START_TEST(test_backends)
{
	struct ruledb *db = mkdb(MiB, 1);
	const struct rule_rec *r1, *r2;
	struct backend_state *bs;
	struct rule_backend b[2];
	struct rule r = { .action = RULE_PROXY, .backends = b, .nbackends = 2 };
	char err[256];
	uint32_t idx;

	memset(b, 0, sizeof(b));
	strcpy(b[0].addr, "127.0.0.1:8001");
	strcpy(b[1].addr, "127.0.0.1:8002");
	b[0].sslen = b[1].sslen = sizeof(struct sockaddr_in);
	b[0].weight = 3;
	ck_assert_int_eq(ruledb_set(db, "one.com", &r, err, sizeof(err)), 0);
	r.nbackends = 1;
	b[0].weight = 5;
	ck_assert_int_eq(ruledb_set(db, "two.com", &r, err, sizeof(err)), 0);
	r1 = ruledb_get(db, "one.com");
	r2 = ruledb_get(db, "two.com");
	ck_assert_uint_eq(REC_BACKENDS(r1)[0].backend,
	    REC_BACKENDS(r2)[0].backend);
	ck_assert_uint_eq(REC_BACKENDS(r1)[0].weight, 3);
	ck_assert_uint_eq(REC_BACKENDS(r2)[0].weight, 5);
	ck_assert_uint_eq(ruledb_backend_count(db), 2);
	bs = ruledb_backend_find(db, "127.0.0.1:8002", &idx);
	ck_assert_ptr_nonnull(bs);
	ck_assert_ptr_eq(bs, ruledb_backend(db, idx));
	ck_assert_uint_eq(idx, REC_BACKENDS(r1)[1].backend);
	ck_assert_str_eq(bs->addr, "127.0.0.1:8002");
	ck_assert_uint_eq(bs->sslen, sizeof(struct sockaddr_in));
	ck_assert_ptr_null(ruledb_backend_find(db, "127.0.0.1:9", NULL));
	ck_assert_ptr_null(ruledb_backend(db, 1000000));

	ck_assert(ruledb_backend_referenced(db, idx));
	ck_assert(!ruledb_backend_referenced(db, 1000000));

	/* last reference gone: the entry is freed after the grace period */
	ck_assert_int_eq(ruledb_delete(db, "one.com"), 0);
	ck_assert(!ruledb_backend_referenced(db, idx));
	ck_assert(ruledb_backend_referenced(db, REC_BACKENDS(
	    ruledb_get(db, "two.com"))[0].backend));
	ruledb_reclaim(db);
	ck_assert_ptr_null(ruledb_backend_find(db, "127.0.0.1:8002", NULL));
	ck_assert_ptr_nonnull(ruledb_backend_find(db, "127.0.0.1:8001", NULL));
	ruledb_destroy(db);
}
END_TEST

/*
 * An unreferenced backend entry with a request in flight (active > 0) is
 * not freed; with every reader offline, the pass that finds it must still
 * end (the entry is retired again for a later pass), and it is freed once
 * active is back to 0.
 */
START_TEST(test_backend_inflight_reclaim)
{
	struct ruledb *db = mkdb(MiB, 1);
	struct backend_state *bs;
	struct rule_backend b;
	struct rule r = { .action = RULE_PROXY, .backends = &b, .nbackends = 1 };
	char err[256];
	uint32_t idx;

	memset(&b, 0, sizeof(b));
	strcpy(b.addr, "127.0.0.1:8003");
	b.sslen = sizeof(struct sockaddr_in);
	ck_assert_int_eq(ruledb_set(db, "fly.com", &r, err, sizeof(err)), 0);
	bs = ruledb_backend_find(db, "127.0.0.1:8003", &idx);
	ck_assert_ptr_nonnull(bs);
	atomic_store(&bs->active, 1);
	ck_assert_int_eq(ruledb_delete(db, "fly.com"), 0);
	ruledb_reclaim(db);		/* must return */
	ruledb_reclaim(db);
	ck_assert_ptr_nonnull(ruledb_backend_find(db, "127.0.0.1:8003", NULL));
	ck_assert_uint_eq(atomic_load(&bs->active), 1);
	atomic_store(&bs->active, 0);
	ruledb_reclaim(db);
	ck_assert_ptr_null(ruledb_backend_find(db, "127.0.0.1:8003", NULL));
	ruledb_destroy(db);
}
END_TEST

/* DESIGN item 3: nothing is reused before every online reader quiesced. */
START_TEST(test_qsbr_grace)
{
	struct ruledb *db = mkdb(MiB, 2), *rd;
	const struct rule_rec *held;
	char err[256];
	size_t base, used;

	set_v(db, "q.com", 1);
	rd = ruledb_attach(ruledb_fd(db), 1, err, sizeof(err));
	ck_assert_msg(rd != NULL, "attach: %s", err);
	held = ruledb_get(rd, "q.com");
	base = ruledb_used(db);
	set_v(db, "q.com", 2);		/* retires held */
	ruledb_reclaim(db);
	used = ruledb_used(db);
	ck_assert_uint_gt(used, base);	/* not freed: reader is online */
	ck_assert_int_eq(trule_verify(held, "q.com", &(unsigned){0}), 0);
	ruledb_quiescent(rd);
	ruledb_reclaim(db);
	ck_assert_uint_lt(ruledb_used(db), used);

	held = ruledb_get(rd, "q.com");
	ruledb_offline(rd);
	used = ruledb_used(db);
	set_v(db, "q.com", 2);
	ruledb_reclaim(db);		/* offline readers delay nothing */
	ck_assert_uint_le(ruledb_used(db), used);

	ruledb_online(rd);
	set_v(db, "q.com", 2);
	used = ruledb_used(db);
	ruledb_reclaim(db);
	ck_assert_uint_eq(ruledb_used(db), used);
	ruledb_reader_clear(db, 1);	/* as if the worker was reaped */
	ruledb_reclaim(db);
	ck_assert_uint_lt(ruledb_used(db), used);

	/* offline, then a read brings the reader back online by itself */
	ruledb_quiescent(rd);
	ruledb_offline(rd);
	ruledb_quiescent(rd);		/* stays offline */
	held = ruledb_get(rd, "q.com");
	used = ruledb_used(db);
	set_v(db, "q.com", 2);
	ruledb_reclaim(db);
	ck_assert_uint_gt(ruledb_used(db), used);	/* held is protected */
	ck_assert_int_eq(trule_verify(held, "q.com", &(unsigned){0}), 0);
	ruledb_offline(rd);
	ruledb_reclaim(db);
	ck_assert_uint_eq(ruledb_used(db), used);
	ruledb_destroy(rd);
	ruledb_destroy(db);
}
END_TEST

/* ruledb_int.h item 8: parked counts gate the master's messages. */
START_TEST(test_parked)
{
	struct ruledb *db = mkdb(MiB, 2), *rd;
	char err[256];
	uint64_t gen;

	rd = ruledb_attach(ruledb_fd(db), 1, err, sizeof(err));
	ck_assert_msg(rd != NULL, "attach: %s", err);
	ck_assert(!ruledb_parked_any(db));
	gen = ruledb_generation(rd);	/* a worker's lookup */
	ck_assert_uint_eq(ruledb_publish_parked(rd, 2), gen);
	ck_assert(ruledb_parked_any(db));
	set_v(db, "p.com", 1);		/* a change after the lookup */
	ck_assert_uint_gt(ruledb_publish_parked(rd, 3), gen);
	ruledb_publish_parked(rd, 0);
	ck_assert(!ruledb_parked_any(db));
	ruledb_publish_parked(rd, 1);
	ruledb_reader_clear(db, 1);	/* as if the worker was reaped */
	ck_assert(!ruledb_parked_any(db));
	ruledb_destroy(rd);
	ruledb_destroy(db);
}
END_TEST

/* 1 -> 1,000,000 hosts; growth rehashes into new tables. */
START_TEST(test_growth_1m)
{
	unsigned long n = env_num("RULEDB_GROWTH_HOSTS", 1000000);
	struct ruledb *db = mkdb(512 * MiB, 2);
	struct rule r = { .action = RULE_EMPTY, .code = 204,
	    .kwargs_json = "{\"code\":204}" };
	const struct rule_rec *rec;
	char key[64], err[256];
	uint64_t t0, t1;
	unsigned long i;
	size_t cnt = 0;

	t0 = now_ns();
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "h%lu.example.com", i);
		/* NB: no ck_assert here: each one is a write(2) */
		if (ruledb_set(db, key, &r, err, sizeof(err)) != RULEDB_OK)
			ck_abort_msg("set %lu: %s", i, err);
		if ((i & (i + 1)) == 0 && ruledb_count(db) != i + 1)
			ck_abort_msg("count %zu after %lu", ruledb_count(db),
			    i + 1);
	}
	t1 = now_ns();
	fprintf(stderr, "growth: %lu sets in %.2f s (%.0f ns/set), used %zu "
	    "bytes (%.0f/host)\n", n, (t1 - t0) / 1e9,
	    (double)(t1 - t0) / (double)n, ruledb_used(db),
	    (double)ruledb_used(db) / (double)n);
	ck_assert_uint_eq(ruledb_count(db), n);
	for (i = 0; i < n; i += 997) {
		snprintf(key, sizeof(key), "x.h%lu.example.com:80", i);
		ck_assert_int_eq(ruledb_resolve(db, key, strlen(key), false,
		    &rec), RESOLVE_UNKNOWN);	/* subdomains false */
		ck_assert_int_eq(ruledb_resolve(db, key + 2, strlen(key) - 2,
		    false, &rec), RESOLVE_MATCH);
		ck_assert_uint_eq(rec->code, 204);
	}
	ck_assert_int_eq(ruledb_foreach(db, plain_count_cb, &cnt), 0);
	ck_assert_uint_eq(cnt, n);
	ruledb_destroy(db);
}
END_TEST

/* Out of space: a clear error, and the old rule stays as it was. */
START_TEST(test_enospc)
{
	struct ruledb *db = mkdb(MiB, 1);
	struct ruledb_entry *e;
	struct trule t;
	struct rule big;
	char key[64], err[256] = "", *kw;
	const struct rule_rec *rec;
	enum ruledb_err rv = RULEDB_OK;
	unsigned i, v, n = 0;
	uint64_t gen;

	for (i = 0; i < 1000000 && rv == RULEDB_OK; i++) {
		snprintf(key, sizeof(key), "host%u.example.com", i);
		trule_make(&t, key, 7);
		if ((rv = ruledb_set(db, key, &t.r, err, sizeof(err))) ==
		    RULEDB_OK)
			n++;
	}
	ck_assert_int_eq(rv, RULEDB_ENOSPC);
	ck_assert_msg(strstr(err, "shm_size") != NULL, "err: %s", err);
	ck_assert_uint_eq(ruledb_count(db), n);
	ck_assert_uint_gt(n, 1000);
	gen = ruledb_generation(db);

	/* a replacement too big for what is left */
	kw = malloc(700 * 1024);
	memset(kw, 'x', 700 * 1024 - 1);
	kw[700 * 1024 - 1] = '\0';
	trule_make(&t, "host1.example.com", 7);
	big = t.r;
	big.kwargs_json = kw;
	err[0] = '\0';
	ck_assert_int_eq(ruledb_set(db, "host1.example.com", &big, err,
	    sizeof(err)), RULEDB_ENOSPC);
	ck_assert_str_ne(err, "");
	rec = ruledb_get(db, "host1.example.com");
	ck_assert_int_eq(trule_verify(rec, "host1.example.com", &v), 0);
	ck_assert_uint_eq(v, 7);
	ck_assert_uint_eq(ruledb_generation(db), gen);

	/* replace_all needs old + new: refused, old table intact */
	e = calloc(n, sizeof(*e));
	for (i = 0; i < n; i++)
		e[i] = (struct ruledb_entry){ "host1.example.com", &big };
	ck_assert_int_eq(ruledb_replace_all(db, e, n, err, sizeof(err)),
	    RULEDB_ENOSPC);
	ck_assert_uint_eq(ruledb_count(db), n);
	ck_assert_uint_eq(ruledb_generation(db), gen);
	ck_assert_int_eq(trule_verify(ruledb_get(db, "host1.example.com"),
	    "host1.example.com", &v), 0);

	/* after deletes there is room again */
	for (i = 0; i < n / 2; i++) {
		snprintf(key, sizeof(key), "host%u.example.com", i + 2);
		ck_assert_int_eq(ruledb_delete(db, key), RULEDB_OK);
	}
	set_v(db, "again.example.com", 3);
	free(e);
	free(kw);
	ruledb_destroy(db);
}
END_TEST

/*
 * A worker maps the rules read-only: a write faults, through its own view
 * (via_master false) or through the master's read-write mapping it
 * inherited over fork, which attach dropped (via_master true). Counters
 * stay writable.
 */
static void
worker_writes(struct ruledb *db, bool via_master)
{
	const struct rule_rec *rec, *mrec = ruledb_get(db, "ro.com");
	int status;
	pid_t pid;

	if ((pid = fork()) == 0) {
		char err[256];
		struct ruledb *rd = ruledb_attach(ruledb_fd(db), 0, err,
		    sizeof(err));

		signal(SIGSEGV, SIG_DFL);
		if (rd == NULL)
			_exit(2);
		if ((rec = ruledb_get(rd, "ro.com")) == NULL)
			_exit(3);
		atomic_fetch_add(&ruledb_counters(rd, rec)->open, 1);
		if (via_master)
			rec = mrec;
		*(volatile uint32_t *)&rec->code = 1;	/* must fault */
		_exit(4);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
	    "child status %#x: write did not fault", status);
}

START_TEST(test_worker_readonly)
{
	struct ruledb *db = mkdb(MiB, 1);
	const struct rule_rec *rec;

	set_v(db, "ro.com", 1);
	worker_writes(db, false);
	worker_writes(db, true);
	rec = ruledb_get(db, "ro.com");
	ck_assert_uint_eq(rec->code, 200 + 1);
	ck_assert_uint_eq(atomic_load(&ruledb_counters(db, rec)->open), 2);
	ruledb_destroy(db);
}
END_TEST

START_TEST(test_create_limits)
{
	char err[256];
	struct ruledb *db;
	int fd;

	ck_assert_ptr_null(ruledb_create(512 * 1024, 1, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "shm_size"));
	db = mkdb(MiB + 12345, 4);
	ck_assert_uint_eq(ruledb_capacity(db), MiB + 12288);
	ck_assert_ptr_null(ruledb_attach(ruledb_fd(db), 4, err, sizeof(err)));
	ruledb_destroy(db);
	/* not a rule database: refused, not trusted */
	fd = memfd_create("junk", 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)MiB), 0);
	ck_assert_ptr_null(ruledb_attach(fd, 0, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "header"));
	close(fd);
}
END_TEST

static Suite *
ruledb_suite(void)
{
	Suite *s = suite_create("ruledb");
	TCase *m = tcase_create("match"), *t = tcase_create("table");

	tcase_add_test(m, test_mantrid_resolution);
	tcase_add_test(m, test_protocol_keys);
	tcase_add_test(m, test_normalized_resolution);
	tcase_add_test(m, test_no_hosts);
	tcase_add_test(m, test_normalize);
	suite_add_tcase(s, m);
	tcase_set_timeout(t, 120);
	tcase_add_test(t, test_table_ops);
	tcase_add_test(t, test_replace_all);
	tcase_add_test(t, test_counters_dropped_on_delete);
	tcase_add_test(t, test_backends);
	tcase_add_test(t, test_backend_inflight_reclaim);
	tcase_add_test(t, test_qsbr_grace);
	tcase_add_test(t, test_parked);
	tcase_add_test(t, test_growth_1m);
	tcase_add_test(t, test_enospc);
	tcase_add_test(t, test_worker_readonly);
	tcase_add_test(t, test_create_limits);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(ruledb_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

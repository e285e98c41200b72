/*
 * check_ruledb_util.h: helpers shared by the rule database's Check tests:
 * a deterministic rule per (key, version), so that a reader can tell a
 * complete old or new record from a torn or freed one, and time.
 */
#ifndef MANTRID_CHECK_RULEDB_UTIL_H
#define MANTRID_CHECK_RULEDB_UTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/ruledb.h"
#include "common/ruledb_int.h"

struct trule {
	struct rule		r;
	struct rule_backend	b[3];
	char			str[RULE_KEY_MAX + 32];
	char			kw[RULE_KEY_MAX + 64];
	char			url[64];
};

/* Every field of the rule derives from key and v. */
static inline void
trule_make(struct trule *t, const char *key, unsigned v)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	t->r.action = (enum rule_action)(v % 5);
	t->r.subdomains = v & 1;
	t->r.attempts = v;
	t->r.delay_ms = v * 3;
	t->r.timeout_s = v + 7;
	t->r.code = 200 + v % 300;
	t->r.algorithm = (enum rule_algo)(v % ALGO_COUNT);
	snprintf(t->str, sizeof(t->str), "%s#%u", key, v);
	t->r.str = t->str;
	snprintf(t->kw, sizeof(t->kw), "{\"key\":\"%s\",\"v\":%u}", key, v);
	t->r.kwargs_json = t->kw;
	t->r.nbackends = v % 4;
	t->r.backends = t->b;
	for (i = 0; i < t->r.nbackends; i++) {
		snprintf(t->b[i].addr, sizeof(t->b[i].addr), "127.0.0.1:%u",
		    1000 + (unsigned)((v + i) % 50));
		t->b[i].weight = v + (unsigned)i;
		t->b[i].enabled = (v + i) & 1;
	}
	if (t->r.nbackends == 3) {
		snprintf(t->url, sizeof(t->url), "http://t%u.example/", v);
		t->b[2].url = t->url;
	}
}

/* 0 if rec is exactly what trule_make(key, v) gives, v returned. */
static inline int
trule_verify(const struct rule_rec *rec, const char *key, unsigned *vp)
{
	const struct rule_rec_backend *b;
	struct trule t;
	const char *s, *hash;
	unsigned v;
	size_t i, klen = strlen(key);

	if (rec->size < sizeof(*rec) || rec->size > 1 << 20 ||
	    rdb_checksum(rec) != rec->checksum)
		return 1;
	if (rec->key_len != klen ||
	    memcmp(REC_STR(rec, rec->key_off), key, klen) != 0)
		return 2;
	if (rec->str_off == 0)
		return 3;
	s = REC_STR(rec, rec->str_off);
	if ((hash = strrchr(s, '#')) == NULL)
		return 3;
	v = (unsigned)strtoul(hash + 1, NULL, 10);
	trule_make(&t, key, v);
	if (rec->action != t.r.action || rec->subdomains != t.r.subdomains ||
	    rec->attempts != v || rec->delay_ms != v * 3 ||
	    rec->timeout_s != v + 7 || rec->code != t.r.code ||
	    rec->algorithm != t.r.algorithm || strcmp(s, t.str) != 0)
		return 4;
	if (rec->kwargs_off == 0 ||
	    strcmp(REC_STR(rec, rec->kwargs_off), t.kw) != 0)
		return 5;
	if (rec->nbackends != t.r.nbackends)
		return 6;
	b = REC_BACKENDS(rec);
	for (i = 0; i < rec->nbackends; i++)
		if (b[i].weight != t.b[i].weight ||
		    b[i].enabled != (t.b[i].enabled ? 1u : 0u) ||
		    (t.b[i].url != NULL) != (b[i].url_off != 0) ||
		    (t.b[i].url != NULL &&
		    strcmp(REC_STR(rec, b[i].url_off), t.url) != 0))
			return 7;
	*vp = v;
	return 0;
}

#define MiB	(1024UL * 1024UL)

/* xorshift64: a reproducible stream from a seed. */
static inline uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static inline uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

#ifdef __SANITIZE_ADDRESS__
#define RDB_TEST_ASAN	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RDB_TEST_ASAN	1
#endif
#endif
#ifndef RDB_TEST_ASAN
#define RDB_TEST_ASAN	0
#endif

/* Host normalization cases: out NULL = rejected. */
struct norm_case {
	const char	*in;
	const char	*out;
};

static inline void
norm_cases_check(const struct norm_case *c, size_t n)
{
	char buf[RULE_HOST_MAX + 1];
	size_t i;
	int r;

	for (i = 0; i < n; i++) {
		r = ruledb_normalize_host(c[i].in, strlen(c[i].in), buf,
		    sizeof(buf));
		if (c[i].out == NULL) {
			ck_assert_msg(r == -1, "'%s' accepted", c[i].in);
			continue;
		}
		ck_assert_msg(r >= 0, "'%s' rejected", c[i].in);
		ck_assert_int_eq(r, (int)strlen(c[i].out));
		ck_assert_str_eq(buf, c[i].out);
	}
}

static inline unsigned long
env_num(const char *name, unsigned long def)
{
	const char *s = getenv(name);

	return s != NULL && *s != '\0' ? strtoul(s, NULL, 10) : def;
}

#endif

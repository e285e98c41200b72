/*
 * check_ruledb_match.c: the lookup's word-at-a-time paths against plain
 * byte-at-a-time references written from their definitions: Host
 * normalization (ruledb_normalize_host: eight bytes a step for a name of
 * 8 bytes or more), the key hash's tail (rdb_hash) and the key compare
 * (rdb_key_eq) behind ruledb_get / ruledb_resolve. Edge cases at the
 * 8-byte word boundaries first, then millions of random inputs.
 */
#include "config.h"

#include <check.h>
#include <stdint.h>

#include "check_ruledb_util.h"

/*
 * The reference: lower case, then the name ends at the first byte that
 * is not a letter, digit, '-', '_', '.' or '*', or at an empty label; only
 * ":digits" (at most 5) may follow it; one trailing dot is dropped; the
 * name must be 1 to min(buflen - 1, 255) bytes. IPv6 literals are not
 * drawn here (check_ruledb covers them; they take neither path).
 */
static int
ref_normalize(const char *h, size_t len, char *buf, size_t buflen)
{
	size_t i, n, lim;
	int c;

	if (len == 0 || buflen == 0)
		return -1;
	lim = buflen - 1 < RULE_HOST_MAX ? buflen - 1 : RULE_HOST_MAX;
	for (n = 0; n < len; n++) {
		c = (unsigned char)h[n];
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '*'))
			break;
		if (c == '.' && (n == 0 || h[n - 1] == '.'))
			break;
		if (n > lim)
			return -1;
		if (n < lim)
			buf[n] = (char)c;
	}
	if (n < len) {
		if (h[n] != ':' || len - n > 6)
			return -1;
		for (i = n + 1; i < len; i++)
			if (h[i] < '0' || h[i] > '9')
				return -1;
	}
	if (n > 0 && h[n - 1] == '.')
		n--;
	if (n == 0 || n > lim)
		return -1;
	buf[n] = '\0';
	return (int)n;
}

static void
same_as_ref(const char *in, size_t len, size_t buflen)
{
	char a[RULE_HOST_MAX + 64], b[RULE_HOST_MAX + 64];
	int x, y;

	ck_assert_uint_le(buflen, sizeof(a));
	memset(a, 0x55, sizeof(a));
	memset(b, 0x55, sizeof(b));
	x = ruledb_normalize_host(in, len, a, buflen);
	y = ref_normalize(in, len, b, buflen);
	ck_assert_msg(x == y, "'%.*s' (buflen %zu): %d, reference %d",
	    (int)len, in, buflen, x, y);
	if (x >= 0)
		ck_assert_msg(memcmp(a, b, (size_t)x + 1) == 0,
		    "'%.*s': '%s', reference '%s'", (int)len, in, a, b);
}

START_TEST(test_normalize_words)
{
	static const struct norm_case c[] = {
		{ "ABCDEFGH", "abcdefgh" },			/* one word */
		{ "abcdefg.", "abcdefg" },
		{ "Host0000001.Example.COM", "host0000001.example.com" },
		{ "abcdefg..bcdefgh", NULL },	/* ".." across words */
		{ "abcdefgh..cdefgh", NULL },	/* ".." opens a word */
		{ "abcdef..", NULL },
		{ ".bcdefghij", NULL },
		{ "abcdefghi.", "abcdefghi" },	/* dot in the last word */
		{ "abcdefghijklmnop.", "abcdefghijklmnop" },
		{ "abcdefgh.example.com:8080", "abcdefgh.example.com" },
		{ "abcdefgh.example.com:80800", "abcdefgh.example.com" },
		{ "abcdefgh.example.com:808000", NULL },
		{ "abcdefgh.exa mple.com", NULL },
		{ "abcdefgh.ex\xc3\xa9mple", NULL },	/* not ASCII */
		{ "abcdefgh@example", NULL },
		{ "abcdefgh[example", NULL },
		{ "abcdefgh`example", NULL },
		{ "abcdefgh{example", NULL },
		{ "abcdefgh/example", NULL },
		{ "*.WILD_card-9.example", "*.wild_card-9.example" },
		{ "A1-B2_C3*D4.E5", "a1-b2_c3*d4.e5" },
	};
	char buf[RULE_HOST_MAX + 1], big[300];
	size_t i;

	norm_cases_check(c, sizeof(c) / sizeof(c[0]));
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		same_as_ref(c[i].in, strlen(c[i].in), sizeof(buf));
	/* the length limit, 255 bytes, with and without a trailing dot */
	memset(big, 'a', sizeof(big));
	big[255] = '.';
	ck_assert_int_eq(ruledb_normalize_host(big, 256, buf, sizeof(buf)),
	    255);
	ck_assert_int_eq(ruledb_normalize_host(big, 255, buf, sizeof(buf)),
	    255);
	big[255] = 'a';
	ck_assert_int_eq(ruledb_normalize_host(big, 256, buf, sizeof(buf)),
	    -1);
	/* a buffer too small for the name */
	ck_assert_int_eq(ruledb_normalize_host("abcdefghij", 10, buf, 10), -1);
	ck_assert_int_eq(ruledb_normalize_host("abcdefghij", 10, buf, 11), 10);
}
END_TEST

static uint64_t rs = 88172645463325252ULL;	/* the random stream */

START_TEST(test_normalize_random)
{
	static const char name[] = "abcxyzABCXYZ0189-_.*", mixed[] =
	    "aZ09.-_*:.:[]@`{/ \x7f\x80\xff..";
	long rounds = RDB_TEST_ASAN ? 300000 : 3000000, r;
	char in[300];
	size_t len, i, buflen;
	int kind;

	for (r = 0; r < rounds; r++) {
		len = rnd(&rs) % 8 == 0 ? rnd(&rs) % 270 : rnd(&rs) % 40;
		kind = (int)(rnd(&rs) % 3);
		for (i = 0; i < len; i++)
			in[i] = kind == 0 ? name[rnd(&rs) % (sizeof(name) - 1)] :
			    kind == 1 ? mixed[rnd(&rs) % (sizeof(mixed) - 1)] :
			    (char)rnd(&rs);
		if (len > 0 && in[0] == '[')
			in[0] = 'a';	/* IPv6 literals: check_ruledb */
		/* names with a port now and then */
		if (kind == 0 && len > 6 && rnd(&rs) % 4 == 0) {
			in[len - 5] = ':';
			memcpy(in + len - 4, "8080", 4);
		}
		buflen = rnd(&rs) % 4 == 0 ? 1 + rnd(&rs) % 300 : RULE_HOST_MAX + 1;
		same_as_ref(in, len, buflen);
	}
}
END_TEST

/* rdb_hash as defined: the tail through memcpy into a zeroed word. */
#define K0	0x9e3779b97f4a7c15ULL
#define K1	0xff51afd7ed558ccdULL
#define K2	0xc4ceb9fe1a85ec53ULL

static uint64_t
ref_hash(uint64_t seed, const char *p, size_t n)
{
	uint64_t h = seed ^ (n * K0), v;

	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&v, p, 8);
		v *= K0;
		h = ((h ^ v) << 31 | (h ^ v) >> 33) * K1;
	}
	v = 0;
	memcpy(&v, p, n);
	v *= K0;
	h = ((h ^ v) << 31 | (h ^ v) >> 33) * K1;
	h ^= h >> 33;
	h *= K2;
	h ^= h >> 33;
	return h;
}

START_TEST(test_hash_tail)
{
	char buf[320], *p;
	uint64_t seed;
	size_t n, off, i;
	long r;

	for (r = 0; r < 200000; r++) {
		n = r < 1000 ? (size_t)r % 300 : rnd(&rs) % 300;
		off = rnd(&rs) % 16;	/* any alignment */
		p = buf + off;
		for (i = 0; i < n; i++)
			p[i] = (char)rnd(&rs);
		seed = rnd(&rs);
		ck_assert_msg(rdb_hash(seed, p, n) == ref_hash(seed, p, n),
		    "length %zu at offset %zu", n, off);
	}
}
END_TEST

/* rdb_key_eq against memcmp: equal, and one byte off at each place. */
START_TEST(test_key_eq)
{
	char a[96], b[96];
	size_t len, i, off;

	for (len = 0; len <= 80; len++)
		for (off = 0; off < 8; off++) {
			for (i = 0; i < len; i++)
				a[off + i] = b[i] = (char)rnd(&rs);
			ck_assert(rdb_key_eq(a + off, b, len));
			for (i = 0; i < len; i++) {
				b[i] ^= (char)(1 << (rnd(&rs) % 8));
				ck_assert_msg(!rdb_key_eq(a + off, b, len),
				    "length %zu, byte %zu", len, i);
				b[i] = a[off + i];
			}
		}
}
END_TEST

/* Keys of every length up to 70 set, then found by get and resolve. */
START_TEST(test_key_lengths)
{
	char err[256], key[80];
	const struct rule_rec *rec;
	struct ruledb *db;
	struct trule t;
	size_t len, i;
	int pass;

	db = ruledb_create(16 * MiB, 1, err, sizeof(err));
	ck_assert_msg(db != NULL, "%s", err);
	for (pass = 0; pass < 2; pass++)
		for (len = 1; len <= 70; len++) {
			for (i = 0; i < len; i++)
				key[i] = (char)('a' + (len + i) % 26);
			key[len] = '\0';
			if (pass == 0) {
				trule_make(&t, key, (unsigned)len);
				ck_assert_int_eq(ruledb_set(db, key, &t.r, err,
				    sizeof(err)), RULEDB_OK);
				continue;
			}
			ck_assert_ptr_nonnull(rec = ruledb_get(db, key));
			ck_assert_uint_eq(rec->key_len, len);
			ck_assert_int_eq(ruledb_resolve(db, key, len, false,
			    &rec), RESOLVE_MATCH);
			ck_assert_uint_eq(rec->key_len, len);
			key[len / 2] = key[len / 2] == 'z' ? 'y' : 'z';
			ck_assert_ptr_null(ruledb_get(db, key));
		}
	ruledb_destroy(db);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("ruledb_match");
	TCase *c = tcase_create("match");
	SRunner *sr;
	int failed;

	tcase_set_timeout(c, 120);
	tcase_add_test(c, test_normalize_words);
	tcase_add_test(c, test_normalize_random);
	tcase_add_test(c, test_hash_tail);
	tcase_add_test(c, test_key_eq);
	tcase_add_test(c, test_key_lengths);
	suite_add_tcase(s, c);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}

/*
 * ruledb_match.c: Host normalization and Mantrid's host matching
 * (DESIGN.md item 6) over the shared-memory table. Runs in workers on
 * every request: no allocation, no lock, no system call; its cost depends
 * on the Host's length and label count only, never on the number of rules.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "ruledb.h"
#include "ruledb_int.h"

#define HTTP_PFX	"http://"
#define HTTPS_PFX	"https://"

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/*
 * Host name bytes: the lower-case form, or 0 if not allowed. A table, as
 * it runs for every byte of every request's Host.
 */
#define L(c)	[c] = c
#define U(c)	[c - 'a' + 'A'] = c
static const char name_map[256] = {
	L('a'), L('b'), L('c'), L('d'), L('e'), L('f'), L('g'), L('h'),
	L('i'), L('j'), L('k'), L('l'), L('m'), L('n'), L('o'), L('p'),
	L('q'), L('r'), L('s'), L('t'), L('u'), L('v'), L('w'), L('x'),
	L('y'), L('z'),
	U('a'), U('b'), U('c'), U('d'), U('e'), U('f'), U('g'), U('h'),
	U('i'), U('j'), U('k'), U('l'), U('m'), U('n'), U('o'), U('p'),
	U('q'), U('r'), U('s'), U('t'), U('u'), U('v'), U('w'), U('x'),
	U('y'), U('z'),
	L('0'), L('1'), L('2'), L('3'), L('4'), L('5'), L('6'), L('7'),
	L('8'), L('9'), L('-'), L('_'), L('.'),
	L('*'),		/* Mantrid keys are literal: "*.a" matches only "*.a" */
};
#undef L
#undef U

static bool
v6_char(int c)
{
	return (c >= 'a' && c <= 'f') || (c >= '0' && c <= '9') || c == ':' ||
	    c == '.';
}

/* ":digits" or ":" (RFC 3986 allows an empty port) or nothing. */
static bool
port_ok(const char *p, size_t len)
{
	size_t i;

	if (len == 0)
		return true;
	if (p[0] != ':' || len > 6)
		return false;
	for (i = 1; i < len; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

/* "[v6]" with an optional port; the brackets are kept: "[::1]". */
static int
norm_v6(const char *h, size_t len, char *buf, size_t buflen)
{
	const char *end;
	size_t n, i;
	bool colon = false;

	if ((end = memchr(h, ']', len)) == NULL)
		return -1;
	n = (size_t)(end - h) + 1;
	if (n < 4 || n >= buflen || !port_ok(end + 1, len - n))
		return -1;
	buf[0] = '[';
	for (i = 1; i < n - 1; i++) {
		buf[i] = (char)lower((unsigned char)h[i]);
		if (!v6_char(buf[i]))
			return -1;
		colon |= buf[i] == ':';
	}
	if (!colon)
		return -1;
	buf[n - 1] = ']';
	buf[n] = '\0';
	return (int)n;
}

/*
 * Eight Host bytes at a time (SWAR: bytes of a 64-bit word), for the
 * common case: a Host of 8 or more bytes, a name of letters, digits,
 * '-', '_', '.' and '*' with no empty label, then perhaps a port. Lowers
 * the name into buf and returns its length less one trailing dot, or -1
 * to let the byte loop below decide (and say what is wrong). The last
 * word is loaded at len - 8, over bytes already done, so nothing past
 * len is read; bytes of buf past the name may be written.
 */
#define ONES		0x0101010101010101ULL
#define HIGHS		0x8080808080808080ULL
#define LOWS		0x7f7f7f7f7f7f7f7fULL
#define BYTES(c)	((uint64_t)(c) * ONES)

/* 0x80 in each byte of x (all < 0x80) within [lo, hi] */
static inline uint64_t
swar_range(uint64_t x, unsigned lo, unsigned hi)
{
	return (x + BYTES(0x80 - lo)) & ~(x + BYTES(0x7f - hi)) & HIGHS;
}

/* 0x80 in each byte of x (all < 0x80) equal to c */
static inline uint64_t
swar_eq(uint64_t x, unsigned c)
{
	uint64_t y = x ^ BYTES(c);

	return ~((y + LOWS) | y) & HIGHS;
}

static int
norm_name8(const char *host, size_t len, char *buf)
{
	uint64_t v, ok, dots;
	size_t i, at, n = len;
	bool last = false;

	for (i = 0; !last; i += 8) {
		if (i + 8 >= len) {
			at = len - 8;
			last = true;
		} else
			at = i;
		memcpy(&v, host + at, 8);
		if (v & HIGHS)
			return -1;
		v |= swar_range(v, 'A', 'Z') >> 2;	/* 0x80 >> 2: case */
		dots = swar_eq(v, '.');
		ok = swar_range(v, 'a', 'z') | swar_range(v, '0', '9') |
		    swar_range(v, '-', '.') | swar_eq(v, '_') | swar_eq(v, '*');
		if (ok != HIGHS) {
			/* the first other byte ends the name: a port? (It
			 * is ':' and digits: no dot in this word past n.) */
			n = at + (size_t)__builtin_ctzll(~ok & HIGHS) / 8;
			if (!port_ok(host + n, len - n))
				return -1;
			last = true;
		}
		/* "..", or a dot after a dot that ended the word before */
		if ((dots & (dots << 8)) != 0 ||
		    ((dots & 0x80) != 0 && at > 0 && host[at - 1] == '.'))
			return -1;
		memcpy(buf + at, &v, 8);
	}
	if (n == 0 || host[0] == '.')
		return -1;
	if (host[n - 1] == '.')
		n--;
	buf[n] = '\0';
	return (int)n;
}

/*
 * Lower case, strip the port and one trailing dot. IPv6 literals keep
 * their brackets ("[::1]:8080" -> "[::1]"), which is also how a rule for
 * one is keyed. Anything but letters, digits, '-', '_', '.' and '*' (no
 * wildcard: Mantrid compares keys literally) is refused.
 */
int
ruledb_normalize_host(const char *host, size_t len, char *buf, size_t buflen)
{
	size_t i, n, lim;
	char c, prev = '.';
	int r;

	if (len == 0 || buflen == 0)
		return -1;
	if (host[0] == '[')
		return norm_v6(host, len, buf, buflen);
	lim = buflen - 1 < RULE_HOST_MAX ? buflen - 1 : RULE_HOST_MAX;
	if (len >= 8 && len <= lim && (r = norm_name8(host, len, buf)) >= 0)
		return r;
	/*
	 * One pass: map; a byte that maps to 0 (':' among them) or an empty
	 * label ("..", a leading '.') ends the name, and only a port may
	 * follow. A name longer than lim + 1 (one trailing dot) is refused
	 * as soon as it is seen.
	 */
	for (i = 0; i < len; i++) {
		c = name_map[(unsigned char)host[i]];
		if (c == 0 || (c == '.' && prev == '.'))
			break;
		if (i > lim)
			return -1;
		if (i < lim)
			buf[i] = c;
		prev = c;
	}
	n = i;
	if (n < len && (host[n] != ':' || !port_ok(host + n, len - n)))
		return -1;
	if (n > 0 && host[n - 1] == '.')
		n--;
	if (n == 0 || n > lim)
		return -1;
	buf[n] = '\0';
	return (int)n;
}

/*
 * A rule key as the control plane gives it, "host", "http://host" or
 * "https://host", normalized like a Host header but without a port.
 * Returns the length written to buf, or -1.
 */
int
rdb_key_canon(const char *key, char *buf, size_t buflen, bool *proto)
{
	size_t plen = 0, klen, i;
	int n;

	klen = strnlen(key, RULE_KEY_MAX + 1);
	if (klen > RULE_KEY_MAX || buflen < RULE_KEY_MAX + 1)
		return -1;
	if (strncasecmp(key, HTTPS_PFX, sizeof(HTTPS_PFX) - 1) == 0)
		plen = sizeof(HTTPS_PFX) - 1;
	else if (strncasecmp(key, HTTP_PFX, sizeof(HTTP_PFX) - 1) == 0)
		plen = sizeof(HTTP_PFX) - 1;
	if (memchr(key + plen, ':', klen - plen) != NULL && key[plen] != '[')
		return -1;	/* a port in a key could never match */
	n = ruledb_normalize_host(key + plen, klen - plen, buf + plen,
	    buflen - plen);
	if (n < 0 || (key[plen] == '[' && key[klen - 1] != ']'))
		return -1;
	for (i = 0; i < plen; i++)
		buf[i] = (char)lower((unsigned char)key[i]);
	*proto = plen > 0;
	return (int)plen + n;
}

static bool
usable(const struct rule_rec *rec, bool exact)
{
	return rec != NULL && (exact || rec->subdomains);
}

/*
 * Mantrid's resolve_host: for the full name, then for each suffix left
 * after dropping the leftmost label, try "<proto>://suffix" then "suffix";
 * a non-exact match counts only for a rule with subdomains set.
 *
 * The name is normalized into buf after PFXROOM spare bytes; the
 * protocol prefix for suffix s is written just before s, over labels
 * already dropped, so every candidate key is contiguous without a copy.
 * The table is loaded once, so a concurrent replace_all is seen whole;
 * single sets and deletes interleave with the lookups of one call as with
 * Mantrid's dict (each lookup is atomic, the call is not a snapshot).
 * Protocol keys are not probed while the table has none (nproto counts
 * up before a publication and down after an unlink).
 */
#define PFXROOM	8
enum resolve_kind
ruledb_resolve(struct ruledb *db, const char *host, size_t hostlen,
    bool https, const struct rule_rec **out)
{
	char buf[PFXROOM + RULE_HOST_MAX + 2];
	const struct rdb_table *t;
	const struct rule_rec *rec;
	const char *pfx = https ? HTTPS_PFX : HTTP_PFX, *s, *dot;
	size_t plen = strlen(pfx), slen;
	bool qualified;
	int n;

	*out = NULL;
	rdb_reader_enter(db);
	t = rdb_table_cur(db);
	if (atomic_load_explicit(&t->count, memory_order_relaxed) == 0)
		return RESOLVE_NO_HOSTS;
	n = ruledb_normalize_host(host, hostlen, buf + PFXROOM,
	    sizeof(buf) - PFXROOM);
	if (n < 0)
		return RESOLVE_UNKNOWN;
	qualified = atomic_load_explicit(&t->nproto, memory_order_relaxed) > 0;
	s = buf + PFXROOM;
	slen = (size_t)n;
	for (;;) {
		if (qualified) {
			memcpy((char *)s - plen, pfx, plen);
			rec = rdb_lookup(db, t, s - plen, slen + plen);
			if (usable(rec, s == buf + PFXROOM))
				break;
		}
		rec = rdb_lookup(db, t, s, slen);
		if (usable(rec, s == buf + PFXROOM))
			break;
		/* An IP literal has no parent domain. */
		if (buf[PFXROOM] == '[' ||
		    (dot = memchr(s, '.', slen)) == NULL)
			return RESOLVE_UNKNOWN;
		slen -= (size_t)(dot + 1 - s);
		s = dot + 1;
	}
	*out = rec;
	return RESOLVE_MATCH;
}

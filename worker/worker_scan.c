/*
 * worker_scan.c: owns gate 1 of strict HTTP/1.x head parsing (see
 * worker_parse.h): the incremental scanner that finds the end of a head
 * in raw bytes, refuses what http-parser 2.9.4 would let through and
 * enforces the size and line limits. No I/O, no allocation.
 */
#include <stdbool.h>
#include <string.h>

#include "worker_parse.h"
#include "worker_parse_int.h"

enum { S_START = 0, S_CR, S_LINE_BEGIN, S_NAME, S_VALUE };

/* A start line never needs more than this beyond the target. */
#define START_LINE_SLACK	64

static enum hp_res
scan_start(struct hp_scan *st, const struct hp_limits *lim, char c)
{
	if (c == '\r') {
		st->state = S_CR;
		return HP_MORE;
	}
	if (IS_CTL(c))
		return HP_BAD;
	/* request line: single SP separators only */
	if (!st->response && c == ' ' && (st->prev_sp || st->line_len == 0))
		return HP_BAD;
	st->prev_sp = c == ' ';
	if (++st->line_len > lim->max_uri + START_LINE_SLACK)
		return st->response ? HP_BAD : HP_URI_TOO_LONG;
	return HP_MORE;
}

/* The LF of a CRLF: ends the start line, a header line or the head. */
static enum hp_res
scan_lf(struct hp_scan *st, const struct hp_limits *lim)
{
	if (st->in_start) {
		/* RFC 9112 2.2: empty lines before the request line are
		 * ignored; bound them. */
		if (st->line_len == 0) {
			st->state = S_START;
			return ++st->lines > 4 ? HP_BAD : HP_MORE;
		}
		st->in_start = false;
		st->lines = 0;
	} else if (st->line_len == 0)
		return HP_DONE;
	else if (!st->seen_colon)
		return HP_BAD;
	else if (++st->lines > lim->max_header_lines ||
	    st->lines >= HP_MAX_HEADERS)
		return HP_HDR_TOO_BIG;
	st->line_len = 0;
	st->state = S_LINE_BEGIN;
	return HP_MORE;
}

static enum hp_res
scan_byte(struct hp_scan *st, const struct hp_limits *lim, char c)
{
	if (!st->in_start && ++st->hdr_bytes > lim->max_header_size)
		return HP_HDR_TOO_BIG;
	switch (st->state) {
	case S_START:
		return scan_start(st, lim, c);
	case S_CR:
		return c == '\n' ? scan_lf(st, lim) : HP_BAD;	/* bare CR */
	case S_LINE_BEGIN:
		if (c == '\r') {
			st->state = S_CR;
			return HP_MORE;
		}
		if (!IS_TCHAR(c))	/* obs-fold, empty name, junk */
			return HP_BAD;
		st->line_len = 1;
		st->seen_colon = false;
		st->state = S_NAME;
		return HP_MORE;
	case S_NAME:
		st->line_len++;
		if (c == ':') {
			st->seen_colon = true;
			st->state = S_VALUE;
			return HP_MORE;
		}
		/* NB: catches "Host : x", which http-parser accepts. */
		return IS_TCHAR(c) ? HP_MORE : HP_BAD;
	default:
		st->line_len++;
		if (c == '\r') {
			st->state = S_CR;
			return HP_MORE;
		}
		return IS_CTL(c) && c != '\t' ? HP_BAD : HP_MORE;
	}
}

/* Bytes that never end or break the current token: see scan_byte(). */
static inline bool
scan_plain(uint8_t state, unsigned char c)
{
	switch (state) {
	case S_START:
		return c > ' ' && c != 0x7f;
	case S_NAME:
		return IS_TCHAR(c);
	case S_VALUE:
		return (c >= ' ' && c != 0x7f) || c == '\t';
	default:
		return false;
	}
}

/*
 * Fast path: consume the run of plain bytes at p in one go, with exactly
 * the accounting scan_byte() would do, stopping short of any limit (so
 * the byte that crosses it takes the slow path and its status). NB: most
 * bytes of a head are inside a target, a name or a value.
 */
static size_t
scan_run(struct hp_scan *st, const struct hp_limits *lim, const char *p,
    size_t n)
{
	size_t cap, k;

	if (st->state == S_START)
		cap = lim->max_uri + START_LINE_SLACK - st->line_len;
	else if (st->in_start || st->hdr_bytes >= lim->max_header_size)
		return 0;
	else
		cap = lim->max_header_size - st->hdr_bytes;
	if (st->state == S_START && st->line_len + 1 > lim->max_uri +
	    START_LINE_SLACK)
		return 0;
	if (cap > n)
		cap = n;
	k = 0;
	switch (st->state) {	/* NB: one tight loop per state */
	case S_START:
		k = run16(p, cap, false);
		while (k < cap && scan_plain(S_START, p[k]))
			k++;
		break;
	case S_NAME:
		while (k < cap && scan_plain(S_NAME, p[k]))
			k++;
		break;
	default:
		k = run16(p, cap, true);
		while (k < cap && scan_plain(S_VALUE, p[k]))
			k++;
		break;
	}
	if (k == 0)
		return 0;
	st->line_len += k;
	if (st->state == S_START)
		st->prev_sp = false;
	else
		st->hdr_bytes += k;
	return k;
}

static enum hp_res
scan_stop(struct hp_scan *st, size_t n, size_t *used, enum hp_res r)
{
	st->total += n;
	*used = n;
	return r;
}

/*
 * Gate 1 for a response head: the end of the head (the first empty line),
 * CRLF line ends and the limits, a line at a time (memchr). NB: the rest
 * of what scan_byte() checks (control bytes, names, obs-fold) is checked
 * once the head is complete, by resp_tokenize(), which does not trust
 * this gate; checking it here too cost 2 k instructions per response.
 * A bad head is still a 502, only once it is whole (or over a limit, or
 * at timeout_server); a bare LF is one at once.
 */
static enum hp_res
scan_resp(struct hp_scan *st, const struct hp_limits *lim, const char *p,
    size_t n, size_t *used)
{
	const char	*lf;
	size_t		 i = 0, k, len, start_max = lim->max_uri +
			    START_LINE_SLACK;

	while ((lf = memchr(p + i, '\n', n - i)) != NULL) {
		k = lf - p;
		if (k > i ? p[k - 1] != '\r' : st->state != S_CR)
			return scan_stop(st, k + 1, used, HP_BAD);
		len = st->line_len + (k - i) - 1;	/* without CRLF */
		if (st->in_start && len == 0) {
			if (++st->lines > 4)
				return scan_stop(st, k + 1, used, HP_BAD);
		} else if (st->in_start) {
			if (len > start_max)
				return scan_stop(st, k + 1, used, HP_BAD);
			st->in_start = false;
			st->lines = 0;
		} else {
			st->hdr_bytes += k - i + 1;
			if (st->hdr_bytes > lim->max_header_size)
				return scan_stop(st, k + 1, used,
				    HP_HDR_TOO_BIG);
			if (len == 0)
				return scan_stop(st, k + 1, used, HP_DONE);
			if (++st->lines > lim->max_header_lines ||
			    st->lines >= HP_MAX_HEADERS)
				return scan_stop(st, k + 1, used,
				    HP_HDR_TOO_BIG);
		}
		st->line_len = 0;
		st->state = S_LINE_BEGIN;
		i = k + 1;
	}
	if (i == n)
		return scan_stop(st, n, used, HP_MORE);
	st->line_len += n - i;
	st->state = p[n - 1] == '\r' ? S_CR : S_VALUE;
	if (st->in_start && st->line_len > start_max + 1)
		return scan_stop(st, n, used, HP_BAD);
	if (!st->in_start && (st->hdr_bytes += n - i) >
	    lim->max_header_size)
		return scan_stop(st, n, used, HP_HDR_TOO_BIG);
	return scan_stop(st, n, used, HP_MORE);
}

enum hp_res
hp_scan_feed(struct hp_scan *st, const struct hp_limits *lim,
    const char *p, size_t n, size_t *used)
{
	enum hp_res	r;
	size_t		i;

	if (st->total == 0 && st->state == S_START && st->line_len == 0)
		st->in_start = true;
	if (st->response)
		return scan_resp(st, lim, p, n, used);
	for (i = 0; i < n; i++) {
		if (st->state == S_START || st->state == S_NAME ||
		    st->state == S_VALUE) {
			i += scan_run(st, lim, p + i, n - i);
			if (i == n)
				break;
		}
		r = scan_byte(st, lim, p[i]);
		if (r != HP_MORE) {
			st->total += i + 1;
			*used = i + 1;
			return r;
		}
	}
	st->total += n;
	*used = n;
	return HP_MORE;
}

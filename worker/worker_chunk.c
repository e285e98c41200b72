/*
 * worker_chunk.c: owns the strict chunked decoder of worker_parse.h
 * (hp_chunk; RFC 9112 7.1, no BWS, bounded extensions), used instead of
 * http-parser's, which accepts a bare CR after the size and unbounded chunk
 * extensions. No I/O, no allocation.
 */
#include <stdbool.h>
#include <stdint.h>

#include "worker_parse.h"
#include "worker_parse_int.h"

enum { C_SIZE = 0, C_EXT, C_SIZE_LF, C_DATA, C_DATA_CR, C_DATA_LF,
	C_TR_BEGIN, C_TR, C_TR_LF, C_FINAL_LF };

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* One framing byte (not chunk data). */
static enum hp_res
chunk_byte(struct hp_chunk *c, char ch)
{
	int	v;

	switch (c->state) {
	case C_SIZE:
		if ((v = hexval(ch)) >= 0) {
			if (c->remaining >> 56)
				return HP_BAD;
			c->remaining = c->remaining << 4 | v;
			c->any_digit = true;
			return ++c->line > 16 ? HP_BAD : HP_MORE;
		}
		if (!c->any_digit || (ch != ';' && ch != '\r'))
			return HP_BAD;
		c->state = ch == ';' ? C_EXT : C_SIZE_LF;
		return HP_MORE;
	case C_EXT:
		if (ch == '\r')
			c->state = C_SIZE_LF;
		else if ((IS_CTL(ch) && ch != '\t') || ++c->line > HP_CHUNK_LINE_MAX)
			return HP_BAD;
		return HP_MORE;
	case C_SIZE_LF:
		if (ch != '\n')
			return HP_BAD;
		c->state = c->remaining ? C_DATA : C_TR_BEGIN;
		return HP_MORE;
	case C_DATA_CR:
		c->state = C_DATA_LF;
		return ch == '\r' ? HP_MORE : HP_BAD;
	case C_DATA_LF:
		c->state = C_SIZE;
		c->line = 0;
		c->any_digit = false;
		return ch == '\n' ? HP_MORE : HP_BAD;
	case C_TR_BEGIN:
		if (ch == '\r') {
			c->state = C_FINAL_LF;
			return HP_MORE;
		}
		c->state = C_TR;
		return IS_TCHAR(ch) ? HP_MORE : HP_BAD;
	case C_TR:
		if (++c->trailer > HP_TRAILER_MAX)
			return HP_BAD;
		if (ch == '\r')
			c->state = C_TR_LF;
		else if (IS_CTL(ch) && ch != '\t')
			return HP_BAD;
		return HP_MORE;
	case C_TR_LF:
		c->state = C_TR_BEGIN;
		return ch == '\n' ? HP_MORE : HP_BAD;
	case C_FINAL_LF:
		if (ch != '\n')
			return HP_BAD;
		c->done = true;
		return HP_DONE;
	}
	return HP_BAD;
}

enum hp_res
hp_chunk_feed(struct hp_chunk *c, const char *p, size_t n, size_t *used,
    hp_chunk_data_cb cb, void *arg)
{
	enum hp_res	r;
	size_t		i = 0, take;

	while (i < n) {
		if (c->state == C_DATA) {
			take = n - i;
			if (take > c->remaining)
				take = c->remaining;
			cb(arg, p + i, take);
			i += take;
			if ((c->remaining -= take) == 0)
				c->state = C_DATA_CR;
			continue;
		}
		r = chunk_byte(c, p[i++]);
		if (r != HP_MORE) {
			*used = i;
			return r;
		}
	}
	*used = i;
	return HP_MORE;
}

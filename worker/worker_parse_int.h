/*
 * worker_parse_int.h: what the three files of the HTTP parser share and
 * nobody else needs (worker_scan.c: gate 1; worker_parse.c: gates 2 and
 * 3; worker_chunk.c: the chunked decoder): the token table and the
 * 16-byte scan of plain runs (inline: it is on every byte of every head).
 */
#ifndef MANTRID_WORKER_PARSE_INT_H
#define MANTRID_WORKER_PARSE_INT_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* RFC 9110 tchar, defined in worker_parse.c. */
extern const char hp_tchar_tab[256];

#define IS_TCHAR(c)	(hp_tchar_tab[(unsigned char)(c)])
#define IS_CTL(c)	((unsigned char)(c) < 0x20 || (unsigned char)(c) == 0x7f)

#ifdef __SSE2__
/*
 * The length of the plain prefix of p[0..n) in S_START (value false: no
 * CTL, DEL or SP) or S_VALUE (value true: no CTL but HTAB, no DEL), 16
 * bytes at a time; the caller finishes the last < 16 bytes. NB: most of
 * a head is values, and a run stops at its line's CR; 16-byte loads find
 * it in a few instructions where a byte loop took 6-8 per byte.
 */
static inline size_t
run16(const char *p, size_t n, bool value)
{
	const __m128i	hi3 = _mm_set1_epi8((char)0xe0);
	const __m128i	zero = _mm_setzero_si128(), sp = _mm_set1_epi8(' ');
	const __m128i	del = _mm_set1_epi8(0x7f), ht = _mm_set1_epi8('\t');
	__m128i		v, bad;
	unsigned	mask;
	size_t		k;

	for (k = 0; k + 16 <= n; k += 16) {
		v = _mm_loadu_si128((const __m128i *)(const void *)(p + k));
		bad = _mm_or_si128(_mm_cmpeq_epi8(_mm_and_si128(v, hi3), zero),
		    _mm_cmpeq_epi8(v, del));		/* 0x00-0x1f, 0x7f */
		if (value)
			bad = _mm_andnot_si128(_mm_cmpeq_epi8(v, ht), bad);
		else
			bad = _mm_or_si128(bad, _mm_cmpeq_epi8(v, sp));
		if ((mask = (unsigned)_mm_movemask_epi8(bad)) != 0)
			return k + (size_t)__builtin_ctz(mask);
	}
	return k;
}
#else
static inline size_t
run16(const char *p, size_t n, bool value)
{
	(void)p, (void)n, (void)value;
	return 0;
}
#endif

#endif

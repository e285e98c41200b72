/*
 * worker_parse.h: strict HTTP/1.x head parsing and validation (no I/O).
 * Used by the data plane, tests/check_http.c and tests/fuzz_http.c.
 *
 * Input passes three gates, in order:
 *  1. hp_scan: an incremental scanner over the raw head bytes that finds
 *     the end of the head and rejects what http-parser 2.9.4 lets through
 *     (bare CR or LF, NUL and control bytes, obs-fold, whitespace before
 *     the colon) and enforces the size limits (414, 431);
 *  2. http-parser, run once over the complete, contiguous head;
 *  3. semantic checks (framing, Host, absolute-form, Connection tokens).
 * Chunked bodies are decoded by hp_chunk, our own strict decoder, instead
 * of http-parser's (which accepts a bare CR after the size and unbounded
 * chunk extensions).
 *
 * Response heads (from backends) take a cheaper road through the same
 * three gates: gate 1 only finds the end of the head a line at a time
 * (CRLF line ends, the limits), and gate 2 is our own tokenizer, which
 * checks every byte itself (worker_parse.c says what it accepts and how
 * it was checked against http-parser). NB: so a malformed response head
 * is refused once it is complete, not at its first bad byte.
 */
#ifndef MANTRID_WORKER_PARSE_H
#define MANTRID_WORKER_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HP_MAX_HEADERS		256	/* hard cap, above any max_header_lines */
#define HP_CHUNK_LINE_MAX	4096	/* size line + extensions */
#define HP_TRAILER_MAX		8192

enum hp_res {
	HP_DONE = 0,		/* complete and valid */
	HP_MORE,		/* need more bytes */
	HP_BAD,			/* 400 (request) or 502 (response) */
	HP_URI_TOO_LONG,	/* 414 */
	HP_HDR_TOO_BIG,		/* 431 */
	HP_NOT_IMPL,		/* 501: CONNECT, unknown transfer coding */
	HP_BAD_VERSION,		/* 505 */
	HP_EXPECT		/* 417 */
};

struct hp_limits {
	size_t		max_uri;
	size_t		max_header_size;
	unsigned	max_header_lines;
};

/* Incremental raw-head scanner; zero it before the first byte. */
struct hp_scan {
	size_t		total;		/* bytes consumed so far */
	size_t		line_len;	/* bytes in the current line */
	size_t		hdr_bytes;	/* bytes after the start line */
	unsigned	lines;		/* header lines seen */
	uint8_t		state;
	bool		in_start;	/* still on the start line */
	bool		seen_colon;	/* current header line has its ':' */
	bool		response;	/* scanning a response head */
	bool		prev_sp;	/* start line: last byte was SP */
};

struct hp_hdr {
	uint32_t	name_off, name_len;
	uint32_t	val_off, val_len;
	bool		hop;		/* hop-by-hop: never forwarded */
};

enum hp_hdr_kind { HK_OTHER = 0, HK_HOST, HK_XFF, HK_XFPROTO, HK_XFPROTOCOL,
	HK_EXPECT, HK_CL, HK_TE };

/* A parsed head. Offsets point into the head buffer given to the parser. */
struct hp_msg {
	const char	*buf;
	size_t		 len;
	bool		 response;
	unsigned	 method;	/* enum http_method */
	unsigned	 major, minor;
	unsigned	 status;
	uint32_t	 url_off, url_len;
	uint32_t	 reason_off, reason_len;
	struct hp_hdr	 hdrs[HP_MAX_HEADERS];
	uint8_t		 kind[HP_MAX_HEADERS];	/* enum hp_hdr_kind */
	unsigned	 nhdrs;

	/* derived by validation */
	int64_t		 content_length;	/* -1: none */
	bool		 chunked;
	bool		 keepalive;
	bool		 upgrade;		/* Upgrade + Connection: upgrade */
	bool		 expect_continue;
	bool		 absolute;		/* absolute-form target */
	bool		 https_target;		/* absolute-form https:// */
	int		 upgrade_hdr;		/* index of Upgrade, -1 */
	uint32_t	 host_off, host_len;	/* routing authority */
	uint32_t	 path_off, path_len;	/* origin-form target */
};

/* Feed bytes; *used is how many belong to the head (all of them on
 * HP_MORE). On HP_DONE the head is the first st->total bytes fed. */
enum hp_res	hp_scan_feed(struct hp_scan *, const struct hp_limits *,
		    const char *p, size_t n, size_t *used);

/* Parse and validate a complete head (as delimited by hp_scan). */
enum hp_res	hp_parse_request(const char *buf, size_t len,
		    const struct hp_limits *, struct hp_msg *,
		    char *err, size_t errlen);
/* req_method: the request's method (HEAD has no body). */
enum hp_res	hp_parse_response(const char *buf, size_t len,
		    unsigned req_method, struct hp_msg *,
		    char *err, size_t errlen);

/*
 * The request's path lacks its leading "/": absolute-form "http://h" and
 * "http://h?q" leave an empty path or the bare query.
 */
bool		hp_path_wants_slash(const struct hp_msg *);
/* Whether a response with this status to this method carries a body. */
bool		hp_response_has_body(unsigned status, unsigned req_method);
/* The HTTP status code for a parse failure (request side). */
unsigned	hp_res_status(enum hp_res);
const char	*hp_reason(unsigned status);

bool		hp_name_eq(const struct hp_msg *, unsigned i, const char *);
/* Validate a Host value (reg-name, IPv4 or [IPv6], optional :port). */
bool		hp_host_valid(const char *, size_t);
/* Compare two authorities ignoring case, trailing dot and default port. */
bool		hp_host_same(const char *, size_t, const char *, size_t);

/* Strict chunked decoder. */
struct hp_chunk {
	uint64_t	remaining;	/* data bytes left in this chunk */
	size_t		line;		/* bytes in the current size/trailer line */
	size_t		trailer;	/* bytes of trailers */
	uint8_t		state;
	bool		any_digit;
	bool		done;
};

typedef void	(*hp_chunk_data_cb)(void *arg, const char *, size_t);
/* Decode up to n bytes; data goes to cb. *used: bytes consumed.
 * Returns HP_DONE at the end of the last chunk and trailers, HP_MORE
 * when it wants more, HP_BAD on a framing error. */
enum hp_res	hp_chunk_feed(struct hp_chunk *, const char *p, size_t n,
		    size_t *used, hp_chunk_data_cb, void *arg);

#endif

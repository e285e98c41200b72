/*
 * worker_parse.c: owns gates 2 and 3 of strict HTTP/1.x head parsing (see
 * worker_parse.h): http-parser over a complete request head, our own
 * tokenizer for response heads, and the semantic checks. Gate 1 is in
 * worker_scan.c, the chunked decoder in worker_chunk.c. Pure functions
 * over caller buffers: no I/O, no allocation.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

#include "worker_parse.h"
#include "worker_parse_int.h"

/* RFC 9110 tchar */
const char hp_tchar_tab[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
	['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
	['`'] = 1, ['|'] = 1, ['~'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
	['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
	['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
	['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
	['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
	['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
	['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
	['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
	['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1,
};

/* http-parser callbacks: record offsets into the contiguous head. */

static int
cb_url(http_parser *p, const char *at, size_t len)
{
	struct hp_msg	*m = p->data;

	if (m->url_len == 0)
		m->url_off = at - m->buf;
	m->url_len += len;
	return 0;
}

static int
cb_field(http_parser *p, const char *at, size_t len)
{
	struct hp_msg	*m = p->data;
	struct hp_hdr	*h;

	if (m->nhdrs == 0 || m->hdrs[m->nhdrs - 1].val_off != 0) {
		if (m->nhdrs >= HP_MAX_HEADERS)
			return 1;
		h = &m->hdrs[m->nhdrs++];
		memset(h, 0, sizeof(*h));
		h->name_off = at - m->buf;
	} else
		h = &m->hdrs[m->nhdrs - 1];
	h->name_len += len;
	return 0;
}

static int
cb_value(http_parser *p, const char *at, size_t len)
{
	struct hp_msg	*m = p->data;
	struct hp_hdr	*h;

	if (m->nhdrs == 0)
		return 1;
	h = &m->hdrs[m->nhdrs - 1];
	if (h->val_off == 0)
		h->val_off = at - m->buf;
	h->val_len = (at + len - m->buf) - h->val_off;
	return 0;
}

static int
cb_headers_complete(http_parser *p)
{
	/* NB: stop right after the head; bodies are framed by the caller. */
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings hp_settings = {
	.on_url = cb_url,
	.on_header_field = cb_field,
	.on_header_value = cb_value,
	.on_headers_complete = cb_headers_complete,
};

bool
hp_name_eq(const struct hp_msg *m, unsigned i, const char *name)
{
	const struct hp_hdr *h = &m->hdrs[i];

	return strlen(name) == h->name_len &&
	    strncasecmp(m->buf + h->name_off, name, h->name_len) == 0;
}

static bool
val_eq(const char *v, size_t len, const char *s)
{
	return strlen(s) == len && strncasecmp(v, s, len) == 0;
}

/* Fixes empty values (val_off 0) and trims trailing OWS. */
static void
fix_values(struct hp_msg *m)
{
	struct hp_hdr	*h;
	unsigned	 i;

	for (i = 0; i < m->nhdrs; i++) {
		h = &m->hdrs[i];
		if (h->val_off == 0) {
			h->val_off = h->name_off + h->name_len;
			h->val_len = 0;
		}
		while (h->val_len > 0 && (m->buf[h->val_off + h->val_len - 1]
		    == ' ' || m->buf[h->val_off + h->val_len - 1] == '\t'))
			h->val_len--;
	}
}

/* A message about to be parsed from the contiguous head buf[0..len). */
static void
msg_init(struct hp_msg *m, const char *buf, size_t len, bool response)
{
	/* NB: not the header arrays (large); nhdrs bounds their use. */
	memset(m, 0, offsetof(struct hp_msg, hdrs));
	memset(&m->nhdrs, 0, sizeof(*m) - offsetof(struct hp_msg, nhdrs));
	m->buf = buf;
	m->len = len;
	m->response = response;
	m->content_length = -1;
	m->upgrade_hdr = -1;
}

/* Gate 2 for a request head: http-parser (responses: resp_tokenize). */
static enum hp_res
run_parser(const char *buf, size_t len, struct hp_msg *m, http_parser *p,
    char *err, size_t errlen)
{
	size_t	 n;

	msg_init(m, buf, len, false);
	http_parser_init(p, HTTP_REQUEST);
	p->data = m;
	n = http_parser_execute(p, &hp_settings, buf, len);
	/* NB: paused in on_headers_complete, it stops on the final LF. */
	if (HTTP_PARSER_ERRNO(p) != HPE_PAUSED || (n != len && n + 1 != len)) {
		snprintf(err, errlen, "malformed head: %s",
		    HTTP_PARSER_ERRNO(p) == HPE_PAUSED ? "trailing bytes" :
		    http_errno_description(HTTP_PARSER_ERRNO(p)));
		return HP_BAD;
	}
	m->major = p->http_major;
	m->minor = p->http_minor;
	m->method = p->method;
	fix_values(m);
	if (m->major != 1 || m->minor > 1) {
		snprintf(err, errlen, "unsupported version %u.%u",
		    m->major, m->minor);
		return HP_BAD_VERSION;
	}
	return HP_DONE;
}

/*
 * A header named in Connection is not forwarded (RFC 9110, 7.6.1), but
 * never Content-Length: the body is forwarded by its count, and a
 * backend (or a client) that did not see the count would read the body
 * as the next message ("Connection: Content-Length" smuggling). HAProxy
 * and nginx keep it too. (Host and Transfer-Encoding are written anew.)
 */
static void
mark_named_hop(struct hp_msg *m, const char *tok, size_t len)
{
	unsigned i;

	for (i = 0; i < m->nhdrs; i++)
		if (m->kind[i] != HK_CL && m->hdrs[i].name_len == len &&
		    strncasecmp(m->buf + m->hdrs[i].name_off, tok, len) == 0)
			m->hdrs[i].hop = true;
}

/* Connection: close / keep-alive / upgrade / names of hop headers. */
static void
connection_tokens(struct hp_msg *m, const struct hp_hdr *h, bool *close,
    bool *ka, bool *up)
{
	const char	*v = m->buf + h->val_off, *end = v + h->val_len, *t;

	while (v < end) {
		while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
			v++;
		t = v;
		while (v < end && *v != ',' && *v != ' ' && *v != '\t')
			v++;
		if (v == t)
			continue;
		if (val_eq(t, v - t, "close"))
			*close = true;
		else if (val_eq(t, v - t, "keep-alive"))
			*ka = true;
		else if (val_eq(t, v - t, "upgrade"))
			*up = true;
		else
			mark_named_hop(m, t, v - t);
	}
}

static bool
parse_cl(const char *v, size_t len, int64_t *out)
{
	int64_t	n = 0;
	size_t	i;

	if (len == 0 || len > 18)
		return false;
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return false;
		n = n * 10 + (v[i] - '0');
	}
	*out = n;
	return true;
}

static const struct {
	const char	*name;
	size_t		 len;
	uint8_t		 kind;
	bool		 hop;
} hdr_table[] = {
#define HDR(n, k, h)	{ n, sizeof(n) - 1, k, h }
	HDR("host", HK_HOST, false),
	HDR("content-length", HK_CL, false),
	HDR("transfer-encoding", HK_TE, true),
	HDR("x-forwarded-for", HK_XFF, false),
	HDR("x-forwarded-proto", HK_XFPROTO, false),
	HDR("x-forwarded-protocol", HK_XFPROTOCOL, false),
	HDR("expect", HK_EXPECT, true),
	HDR("connection", HK_OTHER, true),
	HDR("keep-alive", HK_OTHER, true),
	HDR("proxy-connection", HK_OTHER, true),
	HDR("te", HK_OTHER, true),
	HDR("trailer", HK_OTHER, true),
	HDR("upgrade", HK_OTHER, true),
#undef HDR
};

/* NB: lengths first: most names match none, and cheaply. */
static void
classify(struct hp_msg *m)
{
	const struct hp_hdr	*h;
	unsigned		 i, j;

	for (i = 0; i < m->nhdrs; i++) {
		h = &m->hdrs[i];
		m->kind[i] = HK_OTHER;
		for (j = 0; j < sizeof(hdr_table) / sizeof(hdr_table[0]); j++)
			if (hdr_table[j].len == h->name_len &&
			    strncasecmp(m->buf + h->name_off, hdr_table[j].name,
			    h->name_len) == 0) {
				m->kind[i] = hdr_table[j].kind;
				m->hdrs[i].hop |= hdr_table[j].hop;
				break;
			}
		if (h->name_len == 7 && hp_name_eq(m, i, "upgrade"))
			m->upgrade_hdr = i;
	}
}

/* Framing, Connection and Expect: shared by requests and responses. */
static enum hp_res
check_framing(struct hp_msg *m, char *err, size_t errlen)
{
	bool		 close = false, ka = false, up = false;
	unsigned	 i, ncl = 0, nte = 0;
	struct hp_hdr	*h;
	const char	*v;

	classify(m);
	for (i = 0; i < m->nhdrs; i++) {
		h = &m->hdrs[i];
		v = m->buf + h->val_off;
		if (m->kind[i] == HK_CL) {
			if (ncl++ > 0 || !parse_cl(v, h->val_len,
			    &m->content_length)) {
				snprintf(err, errlen, "bad or duplicate "
				    "Content-Length");
				return HP_BAD;
			}
		} else if (m->kind[i] == HK_TE) {
			if (nte++ > 0 || !val_eq(v, h->val_len, "chunked")) {
				snprintf(err, errlen, "Transfer-Encoding other "
				    "than chunked");
				return HP_BAD;
			}
			m->chunked = true;
		} else if (hp_name_eq(m, i, "connection"))
			connection_tokens(m, h, &close, &ka, &up);
	}
	if (ncl && nte) {
		snprintf(err, errlen, "Content-Length with Transfer-Encoding");
		return HP_BAD;
	}
	if (nte && m->minor == 0) {
		snprintf(err, errlen, "Transfer-Encoding in HTTP/1.0");
		return HP_BAD;
	}
	m->keepalive = m->minor == 1 ? !close : (ka && !close);
	m->upgrade = up && m->upgrade_hdr >= 0;
	return HP_DONE;
}

bool
hp_host_valid(const char *h, size_t len)
{
	size_t	i = 0, digits;

	if (len == 0 || len > 255 + 6)
		return false;
	if (h[0] == '[') {
		for (i = 1; i < len && h[i] != ']'; i++)
			if (!isxdigit((unsigned char)h[i]) && h[i] != ':' &&
			    h[i] != '.')
				return false;
		if (i >= len || i == 1)
			return false;
		i++;
	} else {
		for (; i < len && h[i] != ':'; i++)
			if (!isalnum((unsigned char)h[i]) && h[i] != '-' &&
			    h[i] != '.' && h[i] != '_')
				return false;
		if (i == 0)
			return false;
	}
	if (i == len)
		return true;
	if (h[i++] != ':')
		return false;
	for (digits = 0; i < len; i++, digits++)
		if (!isdigit((unsigned char)h[i]))
			return false;
	return digits > 0 && digits <= 5;
}

static size_t
host_part(const char *h, size_t len, size_t *port_off)
{
	size_t	i = 0;

	if (len && h[0] == '[') {
		while (i < len && h[i] != ']')
			i++;
		i += i < len;
	} else
		while (i < len && h[i] != ':')
			i++;
	*port_off = i;
	if (i > 0 && h[i - 1] == '.')
		i--;
	return i;
}

bool
hp_host_same(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t	ap, bp, ah = host_part(a, alen, &ap), bh = host_part(b, blen, &bp);

	if (ah != bh || strncasecmp(a, b, ah) != 0)
		return false;
	if (ap < alen && bp < blen)
		return alen - ap == blen - bp &&
		    memcmp(a + ap, b + bp, alen - ap) == 0;
	return true;
}

/* absolute-form: scheme://authority[/path][?query] */
static enum hp_res
check_absolute(struct hp_msg *m, int host_idx, char *err, size_t errlen)
{
	const char	*u = m->buf + m->url_off, *end = u + m->url_len, *a, *p;

	if (m->url_len > 7 && strncasecmp(u, "http://", 7) == 0)
		a = u + 7;
	else if (m->url_len > 8 && strncasecmp(u, "https://", 8) == 0) {
		a = u + 8;
		m->https_target = true;
	} else {
		snprintf(err, errlen, "bad request target");
		return HP_BAD;
	}
	for (p = a; p < end && *p != '/' && *p != '?'; p++)
		;
	if (!hp_host_valid(a, p - a)) {
		snprintf(err, errlen, "bad authority in target");
		return HP_BAD;
	}
	if (host_idx >= 0 && !hp_host_same(a, p - a,
	    m->buf + m->hdrs[host_idx].val_off, m->hdrs[host_idx].val_len)) {
		snprintf(err, errlen, "target host differs from Host");
		return HP_BAD;
	}
	m->absolute = true;
	m->host_off = a - m->buf;
	m->host_len = p - a;
	m->path_off = p - m->buf;
	m->path_len = end - p;	/* 0: "/" */
	return HP_DONE;
}

static enum hp_res
check_host(struct hp_msg *m, int *host_idx, char *err, size_t errlen)
{
	unsigned i;

	*host_idx = -1;
	for (i = 0; i < m->nhdrs; i++) {
		if (m->kind[i] != HK_HOST)
			continue;
		if (*host_idx >= 0 || !hp_host_valid(m->buf + m->hdrs[i].val_off,
		    m->hdrs[i].val_len)) {
			snprintf(err, errlen, "duplicate or malformed Host");
			return HP_BAD;
		}
		*host_idx = i;
	}
	if (*host_idx < 0 && m->minor == 1) {
		snprintf(err, errlen, "missing Host");
		return HP_BAD;
	}
	if (*host_idx >= 0) {
		m->host_off = m->hdrs[*host_idx].val_off;
		m->host_len = m->hdrs[*host_idx].val_len;
	}
	return HP_DONE;
}

static enum hp_res
check_target(struct hp_msg *m, int host_idx, char *err, size_t errlen)
{
	const char	*u = m->buf + m->url_off;
	uint32_t	 i;

	for (i = 0; i < m->url_len; i++)
		if (u[i] == '#' || (unsigned char)u[i] <= ' ' ||
		    (unsigned char)u[i] >= 0x7f) {
			snprintf(err, errlen, "bad byte in request target");
			return HP_BAD;
		}
	if (m->url_len > 0 && u[0] == '/') {
		m->path_off = m->url_off;
		m->path_len = m->url_len;
		return HP_DONE;
	}
	if (m->url_len == 1 && u[0] == '*' && m->method == HTTP_OPTIONS) {
		m->path_off = m->url_off;
		m->path_len = 1;
		return HP_DONE;
	}
	return check_absolute(m, host_idx, err, errlen);
}

static enum hp_res
check_expect(struct hp_msg *m, char *err, size_t errlen)
{
	unsigned i;

	for (i = 0; i < m->nhdrs; i++) {
		if (m->kind[i] != HK_EXPECT)
			continue;
		if (!val_eq(m->buf + m->hdrs[i].val_off, m->hdrs[i].val_len,
		    "100-continue")) {
			snprintf(err, errlen, "unsupported expectation");
			return HP_EXPECT;
		}
		m->expect_continue = m->minor == 1;
	}
	return HP_DONE;
}

enum hp_res
hp_parse_request(const char *buf, size_t len, const struct hp_limits *lim,
    struct hp_msg *m, char *err, size_t errlen)
{
	http_parser	 p;
	enum hp_res	 r;
	int		 host_idx;

	if ((r = run_parser(buf, len, m, &p, err, errlen)))
		return r;
	if (m->method == HTTP_CONNECT) {
		snprintf(err, errlen, "CONNECT not supported");
		return HP_NOT_IMPL;
	}
	if (m->url_len > lim->max_uri) {
		snprintf(err, errlen, "request target too long");
		return HP_URI_TOO_LONG;
	}
	if ((r = check_framing(m, err, errlen)) ||
	    (r = check_host(m, &host_idx, err, errlen)) ||
	    (r = check_target(m, host_idx, err, errlen)) ||
	    (r = check_expect(m, err, errlen)))
		return r;
	if (m->upgrade && (m->chunked || m->content_length > 0))
		m->upgrade = false;	/* NB: no tunnel after a body */
	if (m->host_len == 0) {		/* HTTP/1.0 without Host */
		m->host_off = m->url_off;
		m->host_len = 0;
	}
	return HP_DONE;
}

/*
 * Gate 2 for a response head: tokenized here rather than by http-parser.
 * For a typical backend head (150 bytes, 6 headers) http-parser cost
 * 5.5 k instructions, a quarter of the worker's user time per proxied
 * request; this takes 1 k. What it accepts: CRLF line ends only,
 * "HTTP/" DIGIT "." DIGIT SP *SP 1*DIGIT [SP reason] (http-parser
 * 2.9's grammar), no control byte in the reason, tchar names, no space
 * before the colon, no obs-fold, no control byte but HTAB in a value.
 * A differential fuzz run against the old gates 1 + 2 (bench/RESULTS.md)
 * found it accepting nothing they refused but two things RFC 9110
 * allows: a name that merely begins with "Transfer-Encoding" (http-parser
 * 2.9.4 took it for one) and an HTAB after a Content-Length value. NB:
 * it does not rely on gate 1 having run (the fuzzer calls it on raw
 * bytes).
 */
static bool
resp_num(const char *b, size_t len, size_t *i, unsigned *out)
{
	size_t start = *i;

	*out = 0;
	while (*i < len && b[*i] >= '0' && b[*i] <= '9') {
		*out = *out * 10 + (b[*i] - '0');
		if (*out > 999)
			return false;
		(*i)++;
	}
	return *i > start;
}

/* Status line; *i: at the first header line on success. */
static bool
resp_status_line(const char *b, size_t len, size_t *i, struct hp_msg *m)
{
	unsigned char c;

	while (*i + 1 < len && b[*i] == '\r' && b[*i + 1] == '\n')
		*i += 2;	/* empty lines first (RFC 9112 2.2) */
	/* NB: one digit each, as http-parser 2.9 */
	if (len - *i < 9 || memcmp(b + *i, "HTTP/", 5) != 0 ||
	    !isdigit((unsigned char)b[*i + 5]) || b[*i + 6] != '.' ||
	    !isdigit((unsigned char)b[*i + 7]) || b[*i + 8] != ' ')
		return false;
	m->major = b[*i + 5] - '0';
	m->minor = b[*i + 7] - '0';
	*i += 9;
	while (*i < len && b[*i] == ' ')
		(*i)++;
	if (!resp_num(b, len, i, &m->status) || *i >= len)
		return false;
	if (b[*i] == ' ' && ++(*i) < len && b[*i] != '\r') {
		m->reason_off = *i;
		while (*i < len && (c = b[*i]) >= ' ' && c != 0x7f)
			(*i)++;
		m->reason_len = *i - m->reason_off;
	}
	if (*i + 1 >= len || b[*i] != '\r' || b[*i + 1] != '\n')
		return false;
	*i += 2;
	return true;
}

/* One "name: value" line at *i (not the empty line). */
static bool
resp_header(const char *b, size_t len, size_t *i, struct hp_msg *m)
{
	struct hp_hdr	*h;
	unsigned char	 c;
	size_t		 k = *i;

	if (m->nhdrs >= HP_MAX_HEADERS)
		return false;
	h = &m->hdrs[m->nhdrs];
	while (k < len && IS_TCHAR(b[k]))
		k++;
	if (k == *i || k >= len || b[k] != ':')
		return false;
	h->name_off = *i;
	h->name_len = k - *i;
	h->hop = false;
	for (k++; k < len && (b[k] == ' ' || b[k] == '\t'); k++)
		;
	h->val_off = k;
	k += run16(b + k, len - k, true);
	while (k < len && (((c = b[k]) >= ' ' && c != 0x7f) || c == '\t'))
		k++;
	if (k + 1 >= len || b[k] != '\r' || b[k + 1] != '\n')
		return false;
	h->val_len = k - h->val_off;
	while (h->val_len > 0 && (b[h->val_off + h->val_len - 1] == ' ' ||
	    b[h->val_off + h->val_len - 1] == '\t'))
		h->val_len--;
	m->nhdrs++;
	*i = k + 2;
	return true;
}

static enum hp_res
resp_tokenize(const char *buf, size_t len, struct hp_msg *m, char *err,
    size_t errlen)
{
	size_t	i = 0;

	msg_init(m, buf, len, true);
	if (!resp_status_line(buf, len, &i, m)) {
		snprintf(err, errlen, "malformed status line");
		return HP_BAD;
	}
	while (i < len && buf[i] != '\r')
		if (!resp_header(buf, len, &i, m)) {
			snprintf(err, errlen, "malformed header line");
			return HP_BAD;
		}
	if (i + 2 != len || buf[i + 1] != '\n') {
		snprintf(err, errlen, "malformed head: %s", i + 2 < len ?
		    "trailing bytes" : "truncated");
		return HP_BAD;
	}
	if (m->major != 1 || m->minor > 1) {
		snprintf(err, errlen, "unsupported version %u.%u",
		    m->major, m->minor);
		return HP_BAD;
	}
	return HP_DONE;
}

enum hp_res
hp_parse_response(const char *buf, size_t len, unsigned req_method,
    struct hp_msg *m, char *err, size_t errlen)
{
	enum hp_res	 r;

	if ((r = resp_tokenize(buf, len, m, err, errlen)))
		return r;
	if (m->status < 100 || m->status > 599) {
		snprintf(err, errlen, "bad status %u", m->status);
		return HP_BAD;
	}
	if ((r = check_framing(m, err, errlen)))
		return r;
	if (!hp_response_has_body(m->status, req_method)) {
		m->chunked = false;
		m->content_length = 0;
	}
	return HP_DONE;
}

bool
hp_path_wants_slash(const struct hp_msg *m)
{
	return m->path_len == 0 || m->buf[m->path_off] == '?';
}

bool
hp_response_has_body(unsigned status, unsigned req_method)
{
	return req_method != HTTP_HEAD && status >= 200 && status != 204 &&
	    status != 304;
}

unsigned
hp_res_status(enum hp_res r)
{
	switch (r) {
	case HP_URI_TOO_LONG:
		return 414;
	case HP_HDR_TOO_BIG:
		return 431;
	case HP_NOT_IMPL:
		return 501;
	case HP_BAD_VERSION:
		return 505;
	case HP_EXPECT:
		return 417;
	default:
		return 400;
	}
}

const char *
hp_reason(unsigned status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 417: return "Expectation Failed";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default:  return "Unknown";
	}
}

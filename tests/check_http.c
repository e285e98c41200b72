/*
 * check_http.c: request-head scanning, parsing and validation and the
 * chunked decoder (worker/worker_scan.c, worker_parse.c, worker_chunk.c),
 * table-driven against the real code. Each request is also fed one byte at
 * a time, to prove the scanner is incremental.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>

#include "../worker/worker_parse.h"

static const struct hp_limits lim = { 8192, 32768, 100 };

/* 0: valid; else the HTTP status the worker answers. */
static unsigned
parse(const char *raw, size_t len, struct hp_msg *m, bool bytewise)
{
	struct hp_scan	st;
	enum hp_res	r = HP_MORE;
	size_t		used, i;
	char		err[128];

	memset(&st, 0, sizeof(st));
	if (bytewise) {
		for (i = 0; i < len && r == HP_MORE; i++)
			r = hp_scan_feed(&st, &lim, raw + i, 1, &used);
	} else
		r = hp_scan_feed(&st, &lim, raw, len, &used);
	if (r == HP_MORE)
		return 1;	/* incomplete */
	if (r != HP_DONE)
		return hp_res_status(r);
	r = hp_parse_request(raw, st.total, &lim, m, err, sizeof(err));
	return r == HP_DONE ? 0 : hp_res_status(r);
}

static const struct {
	const char	*raw;
	unsigned	 status;
} req_table[] = {
	/* valid */
	{ "GET / HTTP/1.1\r\nHost: a.com\r\n\r\n", 0 },
	{ "GET / HTTP/1.0\r\n\r\n", 0 },
	{ "\r\nGET / HTTP/1.1\r\nHost: a.com\r\n\r\n", 0 },
	{ "POST /x HTTP/1.1\r\nHost: a.com\r\nContent-Length: 5\r\n\r\n", 0 },
	{ "POST /x HTTP/1.1\r\nHost: a.com\r\nTransfer-Encoding: chunked\r\n\r\n", 0 },
	{ "POST /x HTTP/1.1\r\nHost: a.com\r\nTransfer-Encoding: Chunked\r\n\r\n", 0 },
	{ "GET http://a.com/x?y HTTP/1.1\r\nHost: a.com\r\n\r\n", 0 },
	{ "GET http://a.com:80/x HTTP/1.1\r\nHost: A.com.\r\n\r\n", 0 },
	{ "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 0 },
	{ "GET / HTTP/1.1\r\nHost: a.com\r\nX-Empty:\r\n\r\n", 0 },
	{ "GET / HTTP/1.1\r\nHost: a.com\r\nX: a\tb \r\n\r\n", 0 },
	{ "OPTIONS * HTTP/1.1\r\nHost: a.com\r\n\r\n", 0 },
	{ "GET / HTTP/1.1\r\nHost: a.com\r\nExpect: 100-continue\r\n\r\n", 0 },
	/* framing */
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", 400 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", 400 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 400 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 400 },
	{ "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400 },
	/* syntax http-parser lets through */
	{ "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400 },
	{ "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400 },
	{ "GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n z\r\n\r\n", 400 },
	{ "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400 },
	{ "GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", 400 },
	{ "GET / HTTP/1.1\nHost: a\n\n", 400 },
	{ "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", 400 },
	{ "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01" "b\r\n\r\n", 400 },
	{ "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f" "b\r\n\r\n", 400 },
	{ "GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
	{ "GET / HTTP/1.1\r\n: a\r\n\r\n", 400 },
	{ "GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400 },
	{ "GET / HTTP/1.1\r\nX(y): a\r\nHost: a\r\n\r\n", 400 },
	{ "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
	{ "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400 },
	{ "GET /#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
	{ "GET x HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
	{ "BREW / HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
	/* Host */
	{ "GET / HTTP/1.1\r\n\r\n", 400 },
	{ "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400 },
	{ "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400 },
	{ "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400 },
	{ "GET / HTTP/1.1\r\nHost: a:99999x\r\n\r\n", 400 },
	{ "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400 },
	{ "GET / HTTP/1.1\r\nHost: \r\n\r\n", 400 },
	{ "GET http://b.com/ HTTP/1.1\r\nHost: a.com\r\n\r\n", 400 },
	{ "GET http://u@a.com/ HTTP/1.1\r\nHost: a.com\r\n\r\n", 400 },
	{ "GET ftp://a.com/ HTTP/1.1\r\nHost: a.com\r\n\r\n", 400 },
	/* other statuses */
	{ "CONNECT a.com:443 HTTP/1.1\r\nHost: a.com\r\n\r\n", 501 },
	{ "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505 },
	{ "GET / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n", 417 },
};

START_TEST(test_requests)
{
	static struct hp_msg	m;
	const char		*raw = req_table[_i].raw;
	unsigned		 a, b;

	a = parse(raw, strlen(raw), &m, false);
	b = parse(raw, strlen(raw), &m, true);
	ck_assert_msg(a == req_table[_i].status, "case %d \"%s\": got %u, "
	    "want %u", _i, raw, a, req_table[_i].status);
	ck_assert_msg(a == b, "case %d: bytewise %u != %u", _i, b, a);
}
END_TEST

static char *
big_request(size_t uri, size_t nhdr, size_t hdrlen)
{
	size_t	 cap = uri + nhdr * (hdrlen + 16) + 256, i;
	char	*p = malloc(cap), *q = p;

	q += sprintf(q, "GET /");
	memset(q, 'a', uri);
	q += uri;
	q += sprintf(q, " HTTP/1.1\r\nHost: a\r\n");
	for (i = 0; i < nhdr; i++) {
		q += sprintf(q, "X-%zu: ", i);
		memset(q, 'v', hdrlen);
		q += hdrlen;
		q += sprintf(q, "\r\n");
	}
	sprintf(q, "\r\n");
	return p;
}

START_TEST(test_limits)
{
	static struct hp_msg	 m;
	char			*r;

	r = big_request(8000, 1, 10);
	ck_assert_uint_eq(parse(r, strlen(r), &m, false), 0);
	free(r);
	r = big_request(8300, 1, 10);
	ck_assert_uint_eq(parse(r, strlen(r), &m, false), 414);
	free(r);
	r = big_request(10, 98, 10);
	ck_assert_uint_eq(parse(r, strlen(r), &m, false), 0);
	free(r);
	r = big_request(10, 101, 10);
	ck_assert_uint_eq(parse(r, strlen(r), &m, false), 431);
	free(r);
	r = big_request(10, 4, 9000);
	ck_assert_uint_eq(parse(r, strlen(r), &m, false), 431);
	free(r);
}
END_TEST

static unsigned
field_idx(const struct hp_msg *m, const char *name)
{
	unsigned i;

	for (i = 0; i < m->nhdrs; i++)
		if (hp_name_eq(m, i, name))
			return i;
	return ~0u;
}

START_TEST(test_fields)
{
	static struct hp_msg	 m;
	const char		*r;

	r = "GET http://Route.example:81/p?q=1 HTTP/1.1\r\nHost: route.example:81"
	    "\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: 5"
	    "\r\nX-Keep: 2\r\n\r\n";
	ck_assert_uint_eq(parse(r, strlen(r), &m, false), 0);
	ck_assert(m.absolute);
	ck_assert_int_eq(m.host_len, strlen("Route.example:81"));
	ck_assert(strncmp(m.buf + m.host_off, "Route.example:81", m.host_len) == 0);
	ck_assert(strncmp(m.buf + m.path_off, "/p?q=1", m.path_len) == 0);
	ck_assert(!m.keepalive);
	ck_assert(m.hdrs[field_idx(&m, "x-secret")].hop);
	ck_assert(m.hdrs[field_idx(&m, "keep-alive")].hop);
	ck_assert(m.hdrs[field_idx(&m, "connection")].hop);
	ck_assert(!m.hdrs[field_idx(&m, "x-keep")].hop);

	r = "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\n\r\n";
	ck_assert_uint_eq(parse(r, strlen(r), &m, false), 0);
	ck_assert(m.upgrade);
	ck_assert(m.keepalive);

	r = "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
	ck_assert_uint_eq(parse(r, strlen(r), &m, false), 0);
	ck_assert(m.keepalive);
	ck_assert_int_eq(m.content_length, -1);

	r = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n";
	ck_assert_uint_eq(parse(r, strlen(r), &m, false), 0);
	ck_assert_int_eq(m.content_length, 7);
}
END_TEST

static const struct {
	const char	*raw;
	enum hp_res	 res;
	const char	*data;
} chunk_table[] = {
	{ "5\r\nhello\r\n0\r\n\r\n", HP_DONE, "hello" },
	{ "5;ext=1\r\nhello\r\n0\r\n\r\n", HP_DONE, "hello" },
	{ "A\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n", HP_DONE, "0123456789" },
	{ "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", HP_DONE, "abcde" },
	{ "5\r\nhel", HP_MORE, "hel" },
	{ "5\rXhello\r\n0\r\n\r\n", HP_BAD, "" },
	{ "5\nhello\r\n0\r\n\r\n", HP_BAD, "" },
	{ "5\r\nhelloX\r\n0\r\n\r\n", HP_BAD, "hello" },
	{ "5\r\nhello\n0\r\n\r\n", HP_BAD, "hello" },
	{ "-5\r\nhello\r\n0\r\n\r\n", HP_BAD, "" },
	{ " 5\r\nhello\r\n0\r\n\r\n", HP_BAD, "" },
	{ "5 \r\nhello\r\n0\r\n\r\n", HP_BAD, "" },
	{ "0x5\r\nhello\r\n0\r\n\r\n", HP_BAD, "" },
	{ "\r\nhello\r\n0\r\n\r\n", HP_BAD, "" },
	{ "fffffffffffffffff\r\n", HP_BAD, "" },
	{ "0\r\n\r\r", HP_BAD, "" },
	{ "0\r\nX: a\rb\r\n\r\n", HP_BAD, "" },
};

static char	got[256];
static size_t	ngot;

static void
collect(void *arg, const char *p, size_t len)
{
	memcpy(got + ngot, p, len);
	ngot += len;
}

START_TEST(test_chunks)
{
	struct hp_chunk	 ch;
	const char	*raw = chunk_table[_i].raw;
	size_t		 used, i;
	enum hp_res	 r = HP_MORE;

	for (int pass = 0; pass < 2; pass++) {
		memset(&ch, 0, sizeof(ch));
		ngot = 0;
		if (pass == 0)
			r = hp_chunk_feed(&ch, raw, strlen(raw), &used, collect,
			    NULL);
		else
			for (i = 0, r = HP_MORE; i < strlen(raw) && r == HP_MORE;
			    i++)
				r = hp_chunk_feed(&ch, raw + i, 1, &used,
				    collect, NULL);
		ck_assert_msg(r == chunk_table[_i].res, "case %d pass %d: %d",
		    _i, pass, r);
		got[ngot] = '\0';
		ck_assert_str_eq(got, chunk_table[_i].data);
	}
}
END_TEST

START_TEST(test_chunk_ext_bounded)
{
	struct hp_chunk	 ch;
	char		*raw = malloc(HP_CHUNK_LINE_MAX + 16);
	size_t		 used;

	memset(&ch, 0, sizeof(ch));
	raw[0] = '1';
	raw[1] = ';';
	memset(raw + 2, 'e', HP_CHUNK_LINE_MAX + 8);
	ck_assert(hp_chunk_feed(&ch, raw, HP_CHUNK_LINE_MAX + 10, &used,
	    collect, NULL) == HP_BAD);
	free(raw);
}
END_TEST

static const struct {
	const char	*raw;
	unsigned	 method;
	int		 ok;
	int64_t		 cl;
	bool		 chunked;
} resp_table[] = {
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", HTTP_GET, 1, 5, false },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP_GET, 1, -1, true },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", HTTP_HEAD, 1, 0, false },
	{ "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", HTTP_GET, 1, 0, false },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", HTTP_GET, 0, 0, false },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP_GET, 0, 0, false },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", HTTP_GET, 0, 0, false },
	{ "HTTP/1.1 999 Weird\r\n\r\n", HTTP_GET, 0, 0, false },
	{ "HTTP/1.1 200\r\n\r\n", HTTP_GET, 1, -1, false },
	/* the response tokenizer (no http-parser): what gates 1+2 rejected */
	{ "HTTP/1.1 200 OK\nContent-Length: 5\r\n\r\n", HTTP_GET, 0, 0, false },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5\n\r\n", HTTP_GET, 0, 0, false },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\n", HTTP_GET, 0, 0, false },
	{ "HTTX/1.1 200 OK\r\n\r\n", HTTP_GET, 0, 0, false },
	{ "HTTP/1.10 200 OK\r\n\r\n", HTTP_GET, 0, 0, false },
	{ "HTTP/2.0 200 OK\r\n\r\n", HTTP_GET, 0, 0, false },
	{ "HTTP/1.2 200 OK\r\n\r\n", HTTP_GET, 0, 0, false },
	{ "HTTP/1.1 1000 OK\r\n\r\n", HTTP_GET, 0, 0, false },
	{ "HTTP/1.1 20x OK\r\n\r\n", HTTP_GET, 0, 0, false },
	{ "HTTP/1.1 OK\r\n\r\n", HTTP_GET, 0, 0, false },
	{ "HTTP/1.1 200 O\001K\r\n\r\n", HTTP_GET, 0, 0, false },
	{ "HTTP/1.1 200 O\tK\r\n\r\n", HTTP_GET, 0, 0, false },
	{ "HTTP/1.1 200 OK\r\nA : b\r\n\r\n", HTTP_GET, 0, 0, false },
	{ "HTTP/1.1 200 OK\r\n: b\r\n\r\n", HTTP_GET, 0, 0, false },
	{ "HTTP/1.1 200 OK\r\nA b\r\n\r\n", HTTP_GET, 0, 0, false },
	{ "HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", HTTP_GET, 0, 0, false },
	{ "HTTP/1.1 200 OK\r\nA: b\001\r\n\r\n", HTTP_GET, 0, 0, false },
	{ "HTTP/1.1 200 OK\r\nA: b\177\r\n\r\n", HTTP_GET, 0, 0, false },
	{ "HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n", HTTP_GET, 0, 0, false },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nx", HTTP_GET, 0, 0, false },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", HTTP_GET, 0, 0, false },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r", HTTP_GET, 0, 0, false },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n", HTTP_GET, 0, 0, false },
	{ "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP_GET, 0, 0, false },
	{ "HTTP/1.1 200 OK", HTTP_GET, 0, 0, false },
	{ "", HTTP_GET, 0, 0, false },
	/* and what they accepted */
	{ "\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", HTTP_GET, 1, 5, false },
	{ "HTTP/1.1  200  OK\r\ncontent-length:\t 7 \r\n\r\n", HTTP_GET, 1, 7, false },
	{ "HTTP/1.0 200 \r\nX:\r\nY: \xe9t\xe9\r\n\r\n", HTTP_GET, 1, -1, false },
	/* NB: not a Transfer-Encoding (http-parser 2.9.4 took it for one) */
	{ "HTTP/1.1 200 OK\r\nTransfer-EncodingX: gzip\r\nContent-Length: 3\r\n\r\n", HTTP_GET, 1, 3, false },
};

START_TEST(test_responses)
{
	static struct hp_msg	 m;
	char			 err[128];
	const char		*raw = resp_table[_i].raw;
	enum hp_res		 r;

	r = hp_parse_response(raw, strlen(raw), resp_table[_i].method, &m,
	    err, sizeof(err));
	ck_assert_msg((r == HP_DONE) == resp_table[_i].ok, "case %d: %d %s",
	    _i, r, err);
	if (r == HP_DONE) {
		ck_assert_int_eq(m.content_length, resp_table[_i].cl);
		ck_assert_int_eq(m.chunked, resp_table[_i].chunked);
	}
}
END_TEST

/* Offsets the response tokenizer records (write_response_head uses them). */
START_TEST(test_response_fields)
{
	static struct hp_msg	 m;
	const char		*raw = "HTTP/1.1 404  Not Found\r\n"
	    "Server:  nginx \t\r\nX:\r\nConnection: close, X\r\n\r\n";
	char			 err[128];

	ck_assert_int_eq(hp_parse_response(raw, strlen(raw), HTTP_GET, &m,
	    err, sizeof(err)), HP_DONE);
	ck_assert_uint_eq(m.status, 404);
	ck_assert_uint_eq(m.minor, 1);
	ck_assert_uint_eq(m.reason_len, 10);
	ck_assert(memcmp(raw + m.reason_off, " Not Found", 10) == 0);
	ck_assert_uint_eq(m.nhdrs, 3);
	ck_assert_uint_eq(m.hdrs[0].name_len, 6);
	ck_assert_uint_eq(m.hdrs[0].val_len, 5);
	ck_assert(memcmp(raw + m.hdrs[0].val_off, "nginx", 5) == 0);
	ck_assert_uint_eq(m.hdrs[1].val_len, 0);
	ck_assert(m.hdrs[1].hop);	/* named by Connection */
	ck_assert(m.hdrs[2].hop);
	ck_assert(!m.hdrs[0].hop);
	ck_assert(!m.keepalive);
	raw = "HTTP/1.1 204 \r\n\r\n";
	ck_assert_int_eq(hp_parse_response(raw, strlen(raw), HTTP_GET, &m,
	    err, sizeof(err)), HP_DONE);
	ck_assert_uint_eq(m.reason_len, 0);
	ck_assert(m.keepalive);
}
END_TEST

START_TEST(test_host_same)
{
	ck_assert(hp_host_same("a.com", 5, "A.COM.", 6));
	ck_assert(hp_host_same("a.com:80", 8, "a.com:80", 8));
	ck_assert(hp_host_same("a.com", 5, "a.com:80", 8));
	ck_assert(!hp_host_same("a.com:81", 8, "a.com:80", 8));
	ck_assert(!hp_host_same("a.com", 5, "b.com", 5));
	ck_assert(hp_host_valid("[::1]", 5));
	ck_assert(!hp_host_valid("[]", 2));
	ck_assert(!hp_host_valid("a:", 2));
}
END_TEST

#define NELEM(a)	((int)(sizeof(a) / sizeof((a)[0])))

static Suite *
http_suite(void)
{
	Suite	*s = suite_create("http");
	TCase	*tc = tcase_create("parse");

	tcase_add_loop_test(tc, test_requests, 0, NELEM(req_table));
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_fields);
	tcase_add_loop_test(tc, test_chunks, 0, NELEM(chunk_table));
	tcase_add_test(tc, test_chunk_ext_bounded);
	tcase_add_loop_test(tc, test_responses, 0, NELEM(resp_table));
	tcase_add_test(tc, test_response_fields);
	tcase_add_test(tc, test_host_same);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(http_suite());
	int	 nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

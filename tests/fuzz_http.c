/*
 * fuzz_http.c: libFuzzer target for the request-head scanner, parser and
 * validator and the chunked decoder (worker/worker_{scan,parse,chunk}.c). Run by
 * tests/fuzz.sh. Invariants checked besides memory safety: an accepted
 * head's offsets stay inside it, and a body decoder never emits more
 * bytes than it was given.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../worker/worker_parse.h"

static const struct hp_limits lim = { 1024, 4096, 50 };

static void
sink(void *arg, const char *p, size_t len)
{
	*(size_t *)arg += len;
	if (len)
		(void)*(volatile const char *)(p + len - 1);
}

static void
check_msg(const struct hp_msg *m, size_t len)
{
	unsigned i;

	if (m->url_off + m->url_len > len || m->host_off + m->host_len > len ||
	    m->path_off + m->path_len > len)
		abort();
	for (i = 0; i < m->nhdrs; i++)
		if (m->hdrs[i].name_off + m->hdrs[i].name_len > len ||
		    m->hdrs[i].val_off + m->hdrs[i].val_len > len)
			abort();
}

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct hp_msg	 m;
	struct hp_scan		 st;
	struct hp_chunk		 ch;
	const char		*p = (const char *)data;
	char			 err[128], *head;
	size_t			 used, out = 0, split = size ? data[0] % 7 : 0;
	enum hp_res		 r;

	memset(&st, 0, sizeof(st));
	/* feed in two pieces to exercise the incremental path */
	r = hp_scan_feed(&st, &lim, p, split < size ? split : size, &used);
	if (r == HP_MORE && split < size)
		r = hp_scan_feed(&st, &lim, p + split, size - split, &used);
	if (r != HP_DONE)
		goto response;
	head = malloc(st.total);	/* exact size: ASan sees overreads */
	memcpy(head, p, st.total);
	if (hp_parse_request(head, st.total, &lim, &m, err, sizeof(err)) ==
	    HP_DONE) {
		check_msg(&m, st.total);
		if (m.chunked) {
			memset(&ch, 0, sizeof(ch));
			hp_chunk_feed(&ch, p + st.total, size - st.total,
			    &used, sink, &out);
			if (out > size - st.total)
				abort();
		}
	}
	free(head);
response:
	head = malloc(size ? size : 1);
	memcpy(head, p, size);
	if (hp_parse_response(head, size, 1, &m, err, sizeof(err)) == HP_DONE)
		check_msg(&m, size);
	free(head);
	return 0;
}

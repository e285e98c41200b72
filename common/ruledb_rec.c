/*
 * ruledb_rec.c: compiling a struct rule into an immutable shared-memory
 * record (layout in ruledb-t.h), and what a record owns besides its bytes:
 * a host counter slot and references on backend entries. Master only.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ruledb.h"
#include "ruledb_int.h"

/* The record's hot line (struct rule_rec) and the 16-bit fields. */
_Static_assert(sizeof(struct rule_rec) == 64 &&
    offsetof(struct rule_rec, key_len) == RDB_LINE_OFF,
    "rule_rec: 32-byte head, then the hot line");
_Static_assert(sizeof(struct rule_rec) + RULE_KEY_MAX + 1 <= UINT16_MAX &&
    RULE_STR_MAX <= UINT16_MAX && RULE_BACKENDS_MAX <= UINT16_MAX,
    "rule_rec: 16-bit offsets and lengths");

struct rec_layout {
	size_t	key, str, kwargs, bk, urls, size;
};

static bool
str_ok(const char *s, size_t max)
{
	return s == NULL || strnlen(s, max + 1) <= max;
}

static bool
backends_ok(const struct rule *r, char *err, size_t errlen)
{
	size_t i;

	if (r->nbackends > RULE_BACKENDS_MAX ||
	    (r->nbackends > 0 && r->backends == NULL)) {
		snprintf(err, errlen, "too many backends (max %d)",
		    RULE_BACKENDS_MAX);
		return false;
	}
	for (i = 0; i < r->nbackends; i++) {
		if (strnlen(r->backends[i].addr, RULE_ADDR_MAX) ==
		    RULE_ADDR_MAX || !str_ok(r->backends[i].url, RULE_STR_MAX) ||
		    r->backends[i].sslen > sizeof(r->backends[i].ss)) {
			snprintf(err, errlen, "backend %zu: bad address or url",
			    i);
			return false;
		}
	}
	return true;
}

/* The checks that keep a record's offsets and sizes in range. */
bool
rdb_rule_ok(const struct rule *r, char *err, size_t errlen)
{
	if (r == NULL || (unsigned)r->action >= RULE_ACTION_COUNT ||
	    (unsigned)r->algorithm >= ALGO_COUNT || r->code > UINT16_MAX) {
		snprintf(err, errlen, "invalid rule action, algorithm or code");
		return false;
	}
	if (!str_ok(r->str, RULE_STR_MAX)) {
		snprintf(err, errlen, "string argument longer than %d bytes",
		    RULE_STR_MAX);
		return false;
	}
	if (!str_ok(r->kwargs_json, RDB_KWARGS_MAX)) {
		snprintf(err, errlen, "kwargs longer than %d bytes",
		    RDB_KWARGS_MAX);
		return false;
	}
	return backends_ok(r, err, errlen);
}

static size_t
slen(const char *s)
{
	return s != NULL ? strlen(s) : 0;
}

static void
layout(size_t klen, const struct rule *r, struct rec_layout *l)
{
	size_t off = sizeof(struct rule_rec), i;

	l->key = off;
	off += klen + 1;
	l->str = r->str != NULL ? off : 0;
	off += r->str != NULL ? slen(r->str) + 1 : 0;
	l->kwargs = r->kwargs_json != NULL ? off : 0;
	off += r->kwargs_json != NULL ? slen(r->kwargs_json) + 1 : 0;
	off = (off + 7) & ~(size_t)7;
	l->bk = off;
	off += r->nbackends * sizeof(struct rule_rec_backend);
	l->urls = off;
	for (i = 0; i < r->nbackends; i++)
		if (r->backends[i].url != NULL)
			off += strlen(r->backends[i].url) + 1;
	l->size = off;
}

static void
fill_backends(struct rule_rec *rec, const struct rule *r,
    const struct rec_layout *l, const uint32_t *bidx)
{
	struct rule_rec_backend *b;
	size_t i, off = l->urls, n;

	b = (struct rule_rec_backend *)((char *)rec + l->bk);
	for (i = 0; i < r->nbackends; i++) {
		b[i].backend = bidx[i];
		b[i].weight = r->backends[i].weight;
		b[i].enabled = r->backends[i].enabled ? 1 : 0;
		b[i].url_off = b[i].url_len = 0;
		if (r->backends[i].url == NULL)
			continue;
		n = strlen(r->backends[i].url);
		memcpy((char *)rec + off, r->backends[i].url, n + 1);
		b[i].url_off = (uint32_t)off;
		b[i].url_len = (uint32_t)n;
		off += n + 1;
	}
}

static void
fill_str(struct rule_rec *rec, size_t off, const char *s)
{
	if (off != 0)
		memcpy((char *)rec + off, s, slen(s) + 1);
}

static void
fill(struct rule_rec *rec, const char *key, size_t klen, const struct rule *r,
    const struct rec_layout *l)
{
	memset(rec, 0, l->size);
	rec->size = (uint32_t)l->size;
	rec->key_off = (uint16_t)l->key;
	rec->key_len = (uint16_t)klen;
	memcpy((char *)rec + l->key, key, klen);
	rec->action = (uint8_t)r->action;
	rec->subdomains = r->subdomains ? 1 : 0;
	rec->algorithm = (uint8_t)r->algorithm;
	rec->hold_when_down = r->hold_when_down ? 1 : 0;
	rec->attempts = r->attempts;
	rec->delay_ms = r->delay_ms;
	rec->timeout_s = r->timeout_s;
	rec->code = (uint16_t)r->code;	/* 200-599 */
	rec->str_off = (uint16_t)l->str;
	rec->str_len = (uint16_t)slen(r->str);
	fill_str(rec, l->str, r->str);
	rec->kwargs_off = (uint32_t)l->kwargs;
	rec->kwargs_len = (uint32_t)slen(r->kwargs_json);
	fill_str(rec, l->kwargs, r->kwargs_json);
	rec->nbackends = (uint16_t)r->nbackends;
	rec->backends_off = (uint32_t)l->bk;
}

static void
unref_backends(struct ruledb *db, const uint32_t *bidx, size_t n)
{
	while (n-- > 0)
		if (bidx[n] != RDB_NOBACKEND)
			rdb_backend_unref(db, bidx[n]);
}

/* Backends without an address (pure redirect URLs) get no entry. */
static int
ref_backends(struct ruledb *db, const struct rule *r, uint32_t *bidx)
{
	size_t i;

	for (i = 0; i < r->nbackends; i++) {
		bidx[i] = RDB_NOBACKEND;
		if (r->backends[i].addr[0] == '\0')
			continue;
		if (rdb_backend_ref(db, &r->backends[i], &bidx[i]) == -1) {
			unref_backends(db, bidx, i);
			return -1;
		}
	}
	return 0;
}

static uint64_t
alloc_retry(struct ruledb *db, size_t size)
{
	uint64_t off;

	if ((off = rdb_alloc(db, size)) == 0) {
		ruledb_reclaim(db);
		off = rdb_alloc(db, size);
	}
	return off;
}

/*
 * Build an unpublished record for key. counter: the host's counter slot
 * to keep, or RDB_NOBACKEND for a fresh one. On success *offp is the
 * record; on failure nothing is left allocated or referenced.
 */
enum ruledb_err
rdb_rec_build(struct ruledb *db, const char *key, size_t klen,
    const struct rule *r, uint32_t counter, uint64_t *offp, char *err,
    size_t errlen)
{
	uint32_t bidx[RULE_BACKENDS_MAX];
	struct rec_layout l;
	struct rule_rec *rec;
	bool fresh = counter == RDB_NOBACKEND;

	layout(klen, r, &l);
	if (ref_backends(db, r, bidx) == -1) {
		snprintf(err, errlen, "backend table full (%u entries); "
		    "raise shm_size", db->hdr->nbackends);
		return RULEDB_ENOSPC;
	}
	if (fresh && !rdb_counter_alloc(db, &counter)) {
		unref_backends(db, bidx, r->nbackends);
		snprintf(err, errlen, "host table full (%u hosts); "
		    "raise shm_size", db->hdr->ncounters);
		return RULEDB_ENOSPC;
	}
	if ((*offp = alloc_retry(db, l.size)) == 0) {
		unref_backends(db, bidx, r->nbackends);
		if (fresh)
			rdb_counter_free_now(db, counter);
		snprintf(err, errlen, "shm_size exhausted (%zu of %zu bytes "
		    "used); raise shm_size", ruledb_used(db),
		    ruledb_capacity(db));
		return RULEDB_ENOSPC;
	}
	rec = RDB_PTR(db, *offp);
	fill(rec, key, klen, r, &l);
	fill_backends(rec, r, &l, bidx);
	rec->counters = counter;
	rec->generation = atomic_load_explicit(&db->hdr->generation,
	    memory_order_relaxed) + 1;
	rec->checksum = rdb_checksum(rec);
	return RULEDB_OK;
}

static void
rec_drop_refs(struct ruledb *db, const struct rule_rec *rec)
{
	const struct rule_rec_backend *b = REC_BACKENDS(rec);
	uint32_t i;

	for (i = 0; i < rec->nbackends; i++)
		if (b[i].backend != RDB_NOBACKEND)
			rdb_backend_unref(db, b[i].backend);
}

/* A published record was unlinked: everything it owns goes to limbo. */
void
rdb_rec_retire(struct ruledb *db, const struct rule_rec *rec,
    bool drop_counter)
{
	rec_drop_refs(db, rec);
	if (drop_counter)
		rdb_retire(db, RDB_LB_COUNTER, rec->counters, 0);
	rdb_retire(db, RDB_LB_BLOCK, RDB_OFF(db, rec), rec->size);
}

/* A record that was never published: back at once. */
void
rdb_rec_free_now(struct ruledb *db, const struct rule_rec *rec,
    bool drop_counter)
{
	rec_drop_refs(db, rec);
	if (drop_counter)
		rdb_counter_free_now(db, rec->counters);
	rdb_free_now(db, RDB_OFF(db, rec), rec->size);
}

/*
 * master_state_load.c: owns the start-up half of the state file (see
 * master_state.c for the format and the durability protocol): read the
 * state file, replay the journals that follow it in order, restore the
 * counters and the operator's backend settings. A state file that cannot
 * be read or parsed is renamed <state>.corrupt-<time> (never overwritten)
 * and loading goes on without it. Master only, before fork.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "../common/log.h"
#include "../common/rule.h"
#include "../common/ruledb.h"
#include "master.h"
#include "master_cmd.h"
#include "master_journal.h"
#include "master_pool.h"
#include "master_state.h"

#define STATE_MAX		(1u << 30)

static struct {
	int		 dirfd;
	const char	*base;		/* state file name in dirfd */
	struct json_object *pool;	/* newest "backends" seen */
} ld = { .dirfd = -1 };

static char *
read_at(const char *name, size_t *len)
{
	struct stat sb;
	char *p = NULL;
	ssize_t n;
	size_t off = 0;
	int fd;

	if ((fd = openat(ld.dirfd, name, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	if (fstat(fd, &sb) == -1 || sb.st_size > STATE_MAX ||
	    (p = malloc((size_t)sb.st_size + 1)) == NULL)
		goto fail;
	while (off < (size_t)sb.st_size) {
		n = read(fd, p + off, (size_t)sb.st_size - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	p[off] = '\0';
	*len = off;
	close(fd);
	return p;
fail:
	if (errno == 0)
		errno = EIO;
	free(p);
	close(fd);
	return NULL;
}

/* Keep the evidence: never overwrite a file we could not read. */
static void
move_aside(const char *why)
{
	char name[CONFIG_PATH_MAX + 48];
	int i, rc = -1;

	for (i = 0; i < 100 && rc == -1; i++) {
		snprintf(name, sizeof(name), i ? "%s.corrupt-%lld.%d" :
		    "%s.corrupt-%lld", ld.base, (long long)time(NULL), i);
		rc = renameat2(ld.dirfd, ld.base, ld.dirfd, name,
		    RENAME_NOREPLACE);
		if (rc == -1 && errno != EEXIST)
			break;
	}
	if (rc == -1)
		fatal("%s: state file %s is %s and cannot be moved aside",
		    __func__, ld.base, why);
	log_warnx("%s: STATE FILE %s IS %s: moved to %s, starting without "
	    "it", __func__, ld.base, why, name);
}

static struct json_object *
state_read(void)
{
	struct json_object *o = NULL, *hosts;
	enum json_tokener_error je = json_tokener_success;
	size_t len = 0;
	char *text;

	errno = 0;
	if ((text = read_at(ld.base, &len)) == NULL) {
		if (errno != ENOENT)
			move_aside("unreadable");
		return NULL;
	}
	if (len > 1) {		/* Mantrid: a 0/1-byte file means empty */
		o = json_tokener_parse_verbose(text, &je);
		if (o == NULL || !json_object_object_get_ex(o, "hosts",
		    &hosts) || !json_object_is_type(hosts, json_type_object)) {
			json_object_put(o);
			o = NULL;
			move_aside(je != json_tokener_success ?
			    "not valid JSON (truncated?)" :
			    "not a {\"hosts\": {...}} object");
		}
	}
	free(text);
	return o;
}

/* Replace all rules with hosts; bad hosts are logged and skipped. */
static int
load_hosts(struct master *m, struct json_object *hosts)
{
	struct host_set hs = { NULL, NULL, NULL, 0 };
	char err[512];
	int rc = -1;

	if (host_set_parse(&hs, hosts, true, err, sizeof(err)) != CMD_OK)
		log_warnx("%s: %s", __func__, err);
	else if (ruledb_replace_all(m->db, hs.entries, hs.n, err,
	    sizeof(err)) == RULEDB_OK)
		rc = 0;
	else
		log_warnx("%s: %zu hosts do not fit: %s", __func__, hs.n, err);
	host_set_free(&hs);
	return rc;
}

static void
replay_set(struct master *m, const char *host, struct json_object *triple)
{
	char key[RULE_KEY_MAX + 1], err[512];
	struct rule r;

	if (rule_key_check(host, key, sizeof(key), err, sizeof(err)) ||
	    rule_parse(triple, RULE_P_RESOLVE | RULE_P_LENIENT, &r, err,
	    sizeof(err))) {
		log_warnx("%s: %s: %s", __func__, host, err);
		return;
	}
	if (ruledb_set(m->db, key, &r, err, sizeof(err)) != RULEDB_OK)
		log_warnx("%s: %s: %s", __func__, host, err);
	rule_free(&r);
}

/*
 * The state file's "backends" and every "backends" record hold all the
 * operator's non-default settings at that moment, not a change: the
 * newest one is the whole truth, and a backend it leaves out is back to
 * its default (enabled, the rule's weight). pool_state_load() only sets
 * what it is given, so it runs once, on the newest, at the end of the
 * load, over a pool that is all defaults at start-up.
 */
static void
pool_newest(struct json_object *v)
{
	json_object_put(ld.pool);
	ld.pool = json_object_get(v);
}

static int
replay_op(struct master *m, struct json_object *rec)
{
	struct json_object *op, *host = NULL, *v = NULL;
	const char *o;

	if (!json_object_object_get_ex(rec, "op", &op))
		return -1;
	o = json_object_get_string(op);
	json_object_object_get_ex(rec, "host", &host);
	if (strcmp(o, "set") == 0 && host != NULL &&
	    json_object_object_get_ex(rec, "rule", &v))
		replay_set(m, json_object_get_string(host), v);
	else if (strcmp(o, "delete") == 0 && host != NULL)
		(void)ruledb_delete(m->db, json_object_get_string(host));
	else if (strcmp(o, "set_all") == 0 &&
	    json_object_object_get_ex(rec, "hosts", &v))
		return load_hosts(m, v);
	else if (strcmp(o, "backends") == 0 &&
	    json_object_object_get_ex(rec, "backends", &v))
		pool_newest(v);
	else
		return -1;
	return 0;
}

/*
 * A journal's last line may be torn by a crash: it was never
 * acknowledged (no fdatasync covered it), so it is dropped. The records
 * end at the first NUL: the file is zero-filled ahead of them
 * (master_journal.c).
 */
static void
replay_journal(struct master *m, unsigned no, size_t *nrec)
{
	char name[CONFIG_PATH_MAX + 32], *text, *p, *nl;
	struct json_object *rec;
	size_t len;

	snprintf(name, sizeof(name), "%s%s%u", ld.base, JOURNAL_SUFFIX, no);
	if ((text = read_at(name, &len)) == NULL)
		return;
	for (p = text; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		*nl = '\0';
		if ((rec = json_tokener_parse(p)) == NULL ||
		    replay_op(m, rec) == -1) {
			log_warnx("%s: %s: bad record at byte %zu; rest of "
			    "this journal skipped", __func__, name,
			    (size_t)(p - text));
			json_object_put(rec);
			break;
		}
		json_object_put(rec);
		(*nrec)++;
	}
	if (*p != '\0' && nl == NULL)
		log_warnx("%s: %s: torn last record dropped", __func__, name);
	free(text);
}

/* Lowest and highest journal numbers present; false if none. */
static bool
journal_scan(unsigned *lo, unsigned *hi)
{
	size_t plen = strlen(ld.base) + strlen(JOURNAL_SUFFIX);
	struct dirent *de;
	unsigned long n;
	char *end;
	bool found = false;
	DIR *d;
	int fd;

	if ((fd = dup(ld.dirfd)) == -1 || (d = fdopendir(fd)) == NULL)
		return false;
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, ld.base, strlen(ld.base)) != 0 ||
		    strncmp(de->d_name + strlen(ld.base), JOURNAL_SUFFIX,
		    strlen(JOURNAL_SUFFIX)) != 0)
			continue;
		n = strtoul(de->d_name + plen, &end, 10);
		if (*end != '\0' || end == de->d_name + plen || n > 1u << 30)
			continue;
		if (!found || n < *lo)
			*lo = (unsigned)n;
		if (!found || n > *hi)
			*hi = (unsigned)n;
		found = true;
	}
	closedir(d);
	return found;
}

static uint64_t
stat_u64(struct json_object *o, const char *name)
{
	struct json_object *v;
	int64_t i;

	if (!json_object_object_get_ex(o, name, &v))
		return 0;
	i = json_object_get_int64(v);
	return i > 0 ? (uint64_t)i : 0;
}

/* Counters come back, except open_requests: nothing is open yet. */
static void
load_stats(struct master *m, struct json_object *stats)
{
	const struct rule_rec *rec;
	struct host_counters *c;

	if (!json_object_is_type(stats, json_type_object))
		return;
	json_object_object_foreach(stats, host, o) {
		if ((rec = ruledb_get(m->db, host)) != NULL)
			c = ruledb_counters(m->db, rec);
		else if (strcmp(host, "unknown") == 0)
			c = ruledb_counters_unknown(m->db);
		else
			c = NULL;
		if (c == NULL)
			continue;
		atomic_store(&c->completed, stat_u64(o, "completed_requests"));
		atomic_store(&c->bytes_in, stat_u64(o, "bytes_received"));
		atomic_store(&c->bytes_out, stat_u64(o, "bytes_sent"));
	}
}

static void
state_restore(struct master *m, struct json_object *state)
{
	struct json_object *v;

	if (state != NULL && json_object_object_get_ex(state, "stats", &v))
		load_stats(m, v);
	pool_state_load(m, ld.pool);
	pool_newest(NULL);
}

int
master_state_read(struct master *m, int dirfd, const char *base,
    unsigned *oldest, unsigned *next, size_t *nrec)
{
	struct json_object *state, *hosts, *v;
	unsigned lo = 0, hi = 0, no;
	bool found;

	ld.dirfd = dirfd;
	ld.base = base;
	state = state_read();
	if (state != NULL && json_object_object_get_ex(state, "hosts", &hosts) &&
	    load_hosts(m, hosts) == -1) {
		json_object_put(state);
		return -1;
	}
	if (state != NULL && json_object_object_get_ex(state, "backends", &v))
		pool_newest(v);
	if ((found = journal_scan(&lo, &hi)))
		for (no = lo; no <= hi; no++)
			replay_journal(m, no, nrec);
	state_restore(m, state);
	json_object_put(state);
	*oldest = found ? lo : 0;
	*next = found ? hi + 1 : 0;
	return 0;
}

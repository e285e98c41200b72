/*
 * master_state.c: the state file, in Mantrid's format
 *
 *	{"hosts": {host: [action, kwargs, subdomains], ...},
 *	 "stats": {host: {"open_requests": n, "completed_requests": n,
 *			  "bytes_received": n, "bytes_sent": n}, ...},
 *	 "backends": {...}}		(ours: operator settings, issue 5)
 *
 * so Mantrid's files load as they are and ours load in Mantrid's reader
 * (it reads "hosts" and "stats" and ignores the rest).
 *
 * Durability: a mutation is appended to the journal (master_journal.c)
 * and acknowledged after the group commit's fdatasync(). Now and then the
 * journal is folded into the state file: the main thread rotates the
 * journal and serializes the rules (string building only: no JSON tree,
 * ~tens of ms for 100k hosts), then a fold thread writes state.json.tmp,
 * fsyncs, renames it over state.json, fsyncs the directory and deletes the
 * journals the snapshot covers. A crash anywhere in between leaves either
 * the old file plus its journals or the new file plus journals whose
 * replay is idempotent (every record sets an absolute value).
 *
 * Start-up (before fork) loads the file, replays the journals in order,
 * restores counters (master_state_load.c) and writes a fresh state file.
 * A file that cannot be read or parsed is renamed
 * state.json.corrupt-<time> (never overwritten) and the daemon starts
 * without it. Master only.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "../common/ctlproto.h"
#include "../common/log.h"
#include "../common/rule.h"
#include "../common/ruledb.h"
#include "master.h"
#include "master_ctl.h"
#include "master_journal.h"
#include "master_pool.h"
#include "master_state.h"

#define FOLD_INTERVAL		30	/* s: journal not empty */
#define COUNTERS_INTERVAL	300	/* s: counters only */
#define FOLD_BYTES		(64u << 20)

struct sbuf {
	char	*p;
	size_t	 len, cap;
	bool	 oom;
};

static struct {
	struct master	*m;
	bool		 enabled;
	int		 dirfd;
	char		 base[CONFIG_PATH_MAX];	/* state file name in dirfd */
	unsigned	 oldest;	/* oldest journal that may exist */
	struct event	*timer;
	time_t		 last_fold;
	/* one fold at a time; the main thread joins it */
	bool		 folding;
	pthread_t	 thread;
	atomic_bool	 fold_done;
	struct sbuf	 job;
	long		 job_upto;
	int		 job_rc;
} st = { .dirfd = -1 };

/* ---- string building ---------------------------------------------------- */

static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
	char *p;
	size_t cap;

	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 1 << 16;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((p = realloc(b->p, cap)) == NULL) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_puts(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* A JSON string; keys are checked DNS names, but stay safe anyway. */
static void
sb_jstr(struct sbuf *b, const char *s)
{
	char esc[8];

	sb_add(b, "\"", 1);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", (unsigned char)*s);
			sb_puts(b, esc);
		} else
			sb_add(b, s, 1);
	}
	sb_add(b, "\"", 1);
}

/* ":{...}", Mantrid's four stats keys ({} without counters). */
static void
snap_counters(struct sbuf *b, struct host_counters *c)
{
	char num[160];

	if (c == NULL) {
		sb_puts(b, ":{}");
		return;
	}
	snprintf(num, sizeof(num), ":{\"open_requests\":%llu,"
	    "\"completed_requests\":%llu,\"bytes_received\":%llu,"
	    "\"bytes_sent\":%llu}",
	    (unsigned long long)atomic_load(&c->open),
	    (unsigned long long)atomic_load(&c->completed),
	    (unsigned long long)atomic_load(&c->bytes_in),
	    (unsigned long long)atomic_load(&c->bytes_out));
	sb_puts(b, num);
}

/* ---- snapshot (main thread) --------------------------------------------- */

struct snap {
	struct sbuf	*b;
	struct ruledb	*db;
	bool		 first;
	bool		 stats;
};

static int
snap_cb(const struct rule_rec *rec, void *arg)
{
	struct snap *s = arg;

	sb_puts(s->b, s->first ? "\n" : ",\n");
	s->first = false;
	sb_jstr(s->b, REC_STR(rec, rec->key_off));
	if (!s->stats) {
		sb_puts(s->b, ":[\"");
		sb_puts(s->b, rule_action_name((enum rule_action)rec->action));
		sb_puts(s->b, "\",");
		if (rec->kwargs_len > 0)
			sb_add(s->b, REC_STR(rec, rec->kwargs_off),
			    rec->kwargs_len);
		else
			sb_puts(s->b, "{}");
		sb_puts(s->b, rec->subdomains ? ",true]" : ",false]");
		return 0;
	}
	snap_counters(s->b, ruledb_counters(s->db, rec));
	return 0;
}

static int
snapshot(struct master *m, struct sbuf *b)
{
	struct snap s = { b, m->db, true, false };
	struct json_object *pool;

	memset(b, 0, sizeof(*b));
	sb_puts(b, "{\"hosts\": {");
	ruledb_foreach(m->db, snap_cb, &s);
	sb_puts(b, "},\n\"stats\": {");
	s.first = true;
	s.stats = true;
	ruledb_foreach(m->db, snap_cb, &s);
	if (ruledb_unknown_seen(m->db) &&		/* see cmd_stats */
	    ruledb_get(m->db, "unknown") == NULL) {
		sb_puts(b, s.first ? "\n\"unknown\"" : ",\n\"unknown\"");
		snap_counters(b, ruledb_counters_unknown(m->db));
	}
	sb_puts(b, "}");
	if ((pool = pool_state_save(m)) != NULL) {
		sb_puts(b, ",\n\"backends\": ");
		sb_puts(b, json_object_to_json_string_ext(pool,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(pool);
	}
	sb_puts(b, "}\n");
	if (b->oom) {
		free(b->p);
		memset(b, 0, sizeof(*b));
		log_warnx("%s: out of memory", __func__);
		return -1;
	}
	return 0;
}

/* ---- writing (fold thread or main thread) ------------------------------- */

static int
write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void
journals_unlink(long upto)
{
	char name[CONFIG_PATH_MAX + 32];

	for (; st.oldest <= (unsigned long)upto && upto >= 0; st.oldest++) {
		snprintf(name, sizeof(name), "%s%s%u", st.base, JOURNAL_SUFFIX,
		    st.oldest);
		if (unlinkat(st.dirfd, name, 0) == -1 && errno != ENOENT)
			log_warn("%s: %s", __func__, name);
	}
}

/* temp file, fsync, rename, fsync the directory; then drop journals */
static int
fold_write(const struct sbuf *b, long upto)
{
	char tmp[CONFIG_PATH_MAX + 8];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", st.base);
	fd = openat(st.dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600);
	if (fd == -1) {
		log_warn("%s: %s", __func__, tmp);
		return -1;
	}
	if (write_all(fd, b->p, b->len) == -1 || fsync(fd) == -1) {
		log_warn("%s: %s", __func__, tmp);
		close(fd);
		unlinkat(st.dirfd, tmp, 0);
		return -1;
	}
	close(fd);
	if (renameat(st.dirfd, tmp, st.dirfd, st.base) == -1 ||
	    fsync(st.dirfd) == -1) {
		log_warn("%s: rename %s", __func__, st.base);
		return -1;
	}
	journals_unlink(upto);
	return 0;
}

static void *
fold_main(void *arg)
{
	st.job_rc = fold_write(&st.job, st.job_upto);
	atomic_store(&st.fold_done, true);
	return NULL;
}

static void
fold_join(void)
{
	if (!st.folding)
		return;
	pthread_join(st.thread, NULL);
	st.folding = false;
	free(st.job.p);
	memset(&st.job, 0, sizeof(st.job));
	if (st.job_rc == -1)
		log_warnx("%s: state file not written; journal kept",
		    __func__);
}

/*
 * Around a fork (spawn): no master thread but the forking one may be in
 * the middle of anything (see journal_fork_prepare): a background fold
 * is waited for and joined, its thread's exit included.
 */
void
master_state_fork_prepare(void)
{
	fold_join();
	journal_fork_prepare();
}

void
master_state_fork_done(void)
{
	journal_fork_done();
}

/* Fold now, in the main thread (save, stop, start-up). */
static int
fold_sync(struct master *m)
{
	struct sbuf b;
	long upto;
	int rc;

	fold_join();
	if ((upto = journal_rotate(st.dirfd, st.base)) == -1)
		return -1;
	if (snapshot(m, &b) == -1)
		return -1;
	rc = fold_write(&b, upto);
	free(b.p);
	st.last_fold = time(NULL);
	return rc;
}

/* Fold in the background: only the snapshot costs the main thread. */
static void
fold_async(struct master *m)
{
	long upto;

	if (st.folding)
		return;
	st.last_fold = time(NULL);
	if ((upto = journal_rotate(st.dirfd, st.base)) == -1)
		return;
	if (snapshot(m, &st.job) == -1)
		return;
	st.job_upto = upto;
	atomic_store(&st.fold_done, false);
	if ((errno = pthread_create(&st.thread, NULL, fold_main, NULL))) {
		log_warn("%s: pthread_create; folding inline", __func__);
		fold_write(&st.job, upto);
		free(st.job.p);
		memset(&st.job, 0, sizeof(st.job));
		return;
	}
	st.folding = true;
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct master *m = arg;
	time_t now = time(NULL);

	if (st.folding && atomic_load(&st.fold_done))
		fold_join();
	if ((journal_bytes() > 0 && now - st.last_fold >= FOLD_INTERVAL) ||
	    now - st.last_fold >= COUNTERS_INTERVAL)
		fold_async(m);
}

/* ---- journal records ---------------------------------------------------- */

#define SERIALIZE	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static int
log_line(struct master *m, const char *line, size_t len)
{
	int rc = journal_append(line, len);

	if (rc == 0 && journal_bytes() > FOLD_BYTES)
		fold_async(m);
	return rc;
}

static int
log_record(struct master *m, struct json_object *rec)
{
	char *line;
	size_t len;
	int rc;

	if ((line = ctlproto_line(rec, &len)) == NULL) {
		json_object_put(rec);
		return -1;
	}
	json_object_put(rec);
	rc = log_line(m, line, len);
	free(line);
	return rc;
}

static struct json_object *
record(const char *op)
{
	struct json_object *r = json_object_new_object();

	json_object_object_add(r, "op", json_object_new_string(op));
	return r;
}

/*
 * The per-host records are built as text in one reused buffer: a JSON
 * tree, its serialization and two allocations per set were a visible
 * part of a set's CPU. The same JSON as a record() tree would give.
 */
static struct sbuf *
host_record(const char *op, const char *key)
{
	static struct sbuf b;

	if (b.cap > (1u << 20)) {	/* a huge rule once: give it back */
		free(b.p);
		memset(&b, 0, sizeof(b));
	}
	b.len = 0;
	b.oom = false;
	sb_puts(&b, "{\"op\":\"");
	sb_puts(&b, op);
	sb_puts(&b, "\",\"host\":");
	sb_jstr(&b, key);
	return &b;
}

int
master_state_log_set(struct master *m, const char *key,
    struct json_object *triple)
{
	struct sbuf *b;
	const char *t;
	size_t n;

	if (!st.enabled)
		return 0;
	b = host_record("set", key);
	sb_puts(b, ",\"rule\":");
	t = json_object_to_json_string_length(triple, SERIALIZE, &n);
	sb_add(b, t, n);
	sb_puts(b, "}\n");
	return b->oom ? -1 : log_line(m, b->p, b->len);
}

int
master_state_log_delete(struct master *m, const char *key)
{
	struct sbuf *b;

	if (!st.enabled)
		return 0;
	b = host_record("delete", key);
	sb_puts(b, "}\n");
	return b->oom ? -1 : log_line(m, b->p, b->len);
}

int
master_state_log_set_all(struct master *m, struct json_object *hosts)
{
	struct json_object *r;

	if (!st.enabled)
		return 0;
	r = record("set_all");
	json_object_object_add(r, "hosts", json_object_get(hosts));
	return log_record(m, r);
}

int
master_state_log_backends(struct master *m)
{
	struct json_object *r;

	if (!st.enabled)
		return 0;
	r = record("backends");
	json_object_object_add(r, "backends", pool_state_save(m));
	return log_record(m, r);
}

void
master_state_barrier(struct master *m, state_done_cb cb, void *arg)
{
	if (!st.enabled) {
		cb(0, arg);
		return;
	}
	journal_barrier(cb, arg, master_ctl_clients() <= 1);
}

int
master_state_save(struct master *m)
{
	if (!st.enabled)
		return 0;
	return fold_sync(m);
}

int
master_state_start(struct master *m)
{
	static const struct timeval tick = { 1, 0 };

	if (!st.enabled)
		return 0;
	if (journal_start(m->base) == -1)
		return -1;
	st.timer = event_new(m->base, -1, EV_PERSIST, timer_cb, m);
	if (st.timer == NULL || event_add(st.timer, &tick) == -1) {
		log_warnx("%s: event_new failed", __func__);
		return -1;
	}
	return 0;
}

int
master_state_flush(struct master *m)
{
	int rc;

	if (!st.enabled)
		return 0;
	if (st.timer != NULL)
		event_free(st.timer);
	st.timer = NULL;
	rc = fold_sync(m);
	journal_stop();
	if (rc == 0)
		log_info("%s: state saved, %zu hosts", __func__,
		    ruledb_count(m->db));
	return rc;
}

/* ---- start-up ----------------------------------------------------------- */

/*
 * Started as root, the state file and the journal just made are root's,
 * mode 0600: hand them to the daemon's user, as its directories are, or
 * after the drop it could not read what it writes on. Later ones are
 * made by that user.
 */
static void
chown_files(const struct master *m)
{
	char name[CONFIG_PATH_MAX + 32];

	if (geteuid() != 0)
		return;
	snprintf(name, sizeof(name), "%s%s%u", st.base, JOURNAL_SUFFIX,
	    journal_number());
	if (fchownat(st.dirfd, st.base, m->run_uid, m->run_gid,
	    AT_SYMLINK_NOFOLLOW) == -1)
		log_warn("%s: %s", __func__, st.base);
	if (fchownat(st.dirfd, name, m->run_uid, m->run_gid,
	    AT_SYMLINK_NOFOLLOW) == -1)
		log_warn("%s: %s", __func__, name);
}

int
master_state_load(struct master *m)
{
	const char *slash;
	unsigned next;
	size_t nrec = 0;

	st.m = m;
	if (m->state_dirfd == -1 || m->cfg.state_file[0] == '\0') {
		log_info("%s: no state file: rules will not persist",
		    __func__);
		return 0;
	}
	st.dirfd = m->state_dirfd;
	slash = strrchr(m->cfg.state_file, '/');
	snprintf(st.base, sizeof(st.base), "%s",
	    slash ? slash + 1 : m->cfg.state_file);
	st.enabled = true;
	if (master_state_read(m, st.dirfd, st.base, &st.oldest, &next,
	    &nrec) == -1 || journal_open(st.dirfd, st.base, next) == -1)
		return -1;
	log_info("%s: %s: %zu hosts (%zu journal records replayed)",
	    __func__, m->cfg.state_file, ruledb_count(m->db), nrec);
	/* A fresh file now: the journals it covers go away. */
	if (fold_sync(m) == -1)
		return -1;
	chown_files(m);
	return 0;
}

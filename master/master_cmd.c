/*
 * master_cmd.c: the command code every front door runs (control socket,
 * REST): get, list, set, set_all, delete, stats, info, save, and the
 * dispatch generated from common/cmd.h's table.
 *
 * A mutation: validate everything first (a rejected request changes
 * nothing), publish it in shm (workers see it at once), append it to the
 * journal, and reply only after master_state_barrier() says the journal
 * is on disk. Spinning requests are released by the workers' channel
 * messages, which go out once per event-loop pass (notify_flush).
 * Master only.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "../common/log.h"
#include "../common/rule.h"
#include "../common/ruledb.h"
#include "master.h"
#include "master_backends.h"
#include "master_cmd.h"
#include "master_state.h"

static cmd_handler const handlers[CMD_COUNT] = {
#define CMD_HANDLER(id, ctl, fl, args, usage, help) [CMD_##id] = cmd_##id,
	CMD_TABLE(CMD_HANDLER)
#undef CMD_HANDLER
};

/* ---- helpers ------------------------------------------------------------ */

static const char *
arg_str(struct json_object *args, const char *name)
{
	struct json_object *v;

	if (!json_object_object_get_ex(args, name, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int
cmd_check_if_match(struct master *m, struct json_object *args, char *err,
    size_t errlen)
{
	struct json_object *v;

	if (!json_object_object_get_ex(args, "if_match", &v) ||
	    json_object_is_type(v, json_type_null))
		return CMD_OK;
	if ((uint64_t)json_object_get_int64(v) == ruledb_generation(m->db))
		return CMD_OK;
	snprintf(err, errlen, "precondition_failed");
	return CMD_EPRECOND;
}

static int
key_arg(struct json_object *args, char *key, size_t keylen, char *err,
    size_t errlen)
{
	const char *host = arg_str(args, "host");

	if (host == NULL || rule_key_check(host, key, keylen, err, errlen))
		return snprintf(err, errlen, "hostname_invalid"), CMD_EINVAL;
	return CMD_OK;
}

static int
ruledb_status(enum ruledb_err e, char *err, size_t errlen)
{
	switch (e) {
	case RULEDB_OK:
		return CMD_OK;
	case RULEDB_ENOSPC:
		snprintf(err, errlen, "no_space:rule memory (shm_size) full");
		return CMD_ENOSPC;
	case RULEDB_ENOENT:
		snprintf(err, errlen, "not_found");
		return CMD_ENOTFOUND;
	default:
		if (err[0] == '\0')
			snprintf(err, errlen, "rule_invalid");
		return CMD_EINVAL;
	}
}

static int
rule_status(enum rule_perr e)
{
	return e == RULE_ENOMEM ? CMD_EIO : CMD_EINVAL;
}

/* ---- reads -------------------------------------------------------------- */

static int
list_cb(const struct rule_rec *rec, void *arg)
{
	json_object_object_add((struct json_object *)arg,
	    REC_STR(rec, rec->key_off), rule_rec_to_json(rec));
	return 0;
}

int
cmd_list(struct master *m, struct json_object *args,
    struct json_object **reply, char *err, size_t errlen)
{
	*reply = json_object_new_object();
	ruledb_foreach(m->db, list_cb, *reply);
	return CMD_OK;
}

int
cmd_export(struct master *m, struct json_object *args,
    struct json_object **reply, char *err, size_t errlen)
{
	return cmd_list(m, args, reply, err, errlen);
}

int
cmd_get(struct master *m, struct json_object *args,
    struct json_object **reply, char *err, size_t errlen)
{
	char key[RULE_KEY_MAX + 1];
	const struct rule_rec *rec;
	int rc;

	if ((rc = key_arg(args, key, sizeof(key), err, errlen)) != CMD_OK)
		return rc;
	rec = ruledb_get(m->db, key);
	*reply = rec != NULL ? rule_rec_to_json(rec) : NULL;
	return CMD_OK;
}

/* Mantrid's stats keys, so its client's columns work. */
static struct json_object *
counters_json(struct host_counters *c)
{
	struct json_object *o = json_object_new_object();

	if (c == NULL)
		return o;
#define STAT(name, field) json_object_object_add(o, name,		\
	json_object_new_int64((int64_t)atomic_load_explicit(&c->field,	\
	memory_order_relaxed)))
	STAT("open_requests", open);
	STAT("completed_requests", completed);
	STAT("bytes_received", bytes_in);
	STAT("bytes_sent", bytes_out);
#undef STAT
	return o;
}

struct stats_ctx {
	struct ruledb		*db;
	struct json_object	*out;
};

static int
stats_cb(const struct rule_rec *rec, void *arg)
{
	struct stats_ctx *sc = arg;

	json_object_object_add(sc->out, REC_STR(rec, rec->key_off),
	    counters_json(ruledb_counters(sc->db, rec)));
	return 0;
}

int
cmd_stats(struct master *m, struct json_object *args,
    struct json_object **reply, char *err, size_t errlen)
{
	char key[RULE_KEY_MAX + 1];
	const struct rule_rec *rec;
	struct stats_ctx sc = { m->db, NULL };
	int rc;

	if (arg_str(args, "host") == NULL) {
		sc.out = *reply = json_object_new_object();
		ruledb_foreach(m->db, stats_cb, &sc);
		/*
		 * Mantrid's "unknown": what no rule matched, listed from the
		 * first such request (a rule keyed "unknown" has its own)
		 */
		if (ruledb_unknown_seen(m->db) &&
		    ruledb_get(m->db, "unknown") == NULL)
			json_object_object_add(sc.out, "unknown",
			    counters_json(ruledb_counters_unknown(m->db)));
		return CMD_OK;
	}
	if ((rc = key_arg(args, key, sizeof(key), err, errlen)) != CMD_OK)
		return rc;
	/* Mantrid answers {} for a host it has no stats for. */
	if ((rec = ruledb_get(m->db, key)) != NULL)
		*reply = counters_json(ruledb_counters(m->db, rec));
	else if (strcmp(key, "unknown") == 0 && ruledb_unknown_seen(m->db))
		*reply = counters_json(ruledb_counters_unknown(m->db));
	else
		*reply = json_object_new_object();
	return CMD_OK;
}

int
cmd_info(struct master *m, struct json_object *args,
    struct json_object **reply, char *err, size_t errlen)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "version",
	    json_object_new_string(PACKAGE_VERSION));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	json_object_object_add(o, "workers",
	    json_object_new_int((int)m->nworkers));
	json_object_object_add(o, "generation",
	    json_object_new_int64((int64_t)ruledb_generation(m->db)));
	json_object_object_add(o, "uptime",
	    json_object_new_int64((int64_t)(time(NULL) - (time_t)m->started)));
	json_object_object_add(o, "rules",
	    json_object_new_int64((int64_t)ruledb_count(m->db)));
	json_object_object_add(o, "shm_used",
	    json_object_new_int64((int64_t)ruledb_used(m->db)));
	json_object_object_add(o, "shm_capacity",
	    json_object_new_int64((int64_t)ruledb_capacity(m->db)));
	*reply = o;
	return CMD_OK;
}

int
cmd_save(struct master *m, struct json_object *args,
    struct json_object **reply, char *err, size_t errlen)
{
	if (master_state_save(m) == -1) {
		snprintf(err, errlen, "state_write_failed");
		return CMD_EIO;
	}
	return CMD_OK;
}

/* ---- worker notification ------------------------------------------------ */

/*
 * A worker wakes for every channel message, and on a 2-CPU box each
 * wake-up was a context switch per set. So the keys changed in one
 * event-loop pass are sent back to back at its end (the worker drains
 * them in one wake-up), deduplicated; a pass that changed more than
 * NOTIFY_KEYS keys, or replaced them all, sends one CH_RESYNC instead.
 * NB: spin release is delayed by the rest of the pass only (microseconds),
 * and happens before the change is durable, as before. Nothing is sent
 * while no worker has a request parked (common/ruledb_int.h, 8): the
 * messages only release parked requests.
 */
#define NOTIFY_KEYS	64

static struct {
	struct event	*ev;
	bool		 armed;
	bool		 resync;
	size_t		 n;
	char		 keys[NOTIFY_KEYS][RULE_KEY_MAX + 1];
} nq;

static void
notify_flush(evutil_socket_t fd, short what, void *arg)
{
	struct master *m = arg;
	struct channel_msg msg;
	size_t i;
	bool parked = ruledb_parked_any(m->db);	/* after the mutations */

	nq.armed = false;
	if (parked && nq.resync) {
		memset(&msg, 0, sizeof(msg));
		msg.type = CH_RESYNC;
		msg.generation = ruledb_generation(m->db);
		master_notify_msg(m, &msg);
	} else if (parked)
		for (i = 0; i < nq.n; i++)
			master_notify(m, nq.keys[i]);
	nq.n = 0;
	nq.resync = false;
}

/* key NULL: everything may have changed. */
static void
notify_later(struct master *m, const char *key)
{
	size_t i;

	if (nq.ev == NULL && m->base != NULL)
		nq.ev = event_new(m->base, -1, 0, notify_flush, m);
	if (key == NULL || nq.n == NOTIFY_KEYS)
		nq.resync = true;
	else if (!nq.resync) {
		for (i = 0; i < nq.n && strcmp(nq.keys[i], key) != 0; i++)
			;
		if (i == nq.n)
			snprintf(nq.keys[nq.n++], sizeof(nq.keys[0]), "%s", key);
	}
	if (nq.ev == NULL) {		/* no event loop (yet): now */
		notify_flush(-1, 0, m);
		return;
	}
	/* NB: queued behind every event already active in this pass. */
	if (!nq.armed) {
		nq.armed = true;
		event_active(nq.ev, EV_TIMEOUT, 1);
	}
}

/* ---- mutations ---------------------------------------------------------- */

static int
journal_failed(char *err, size_t errlen)
{
	/* NB: the change is live but not durable; say so. */
	snprintf(err, errlen, "state_write_failed");
	return CMD_EIO;
}

int
cmd_set(struct master *m, struct json_object *args,
    struct json_object **reply, char *err, size_t errlen)
{
	char key[RULE_KEY_MAX + 1];
	struct json_object *triple = NULL;
	struct rule r;
	enum ruledb_err e;
	int rc;

	if ((rc = cmd_check_if_match(m, args, err, errlen)) != CMD_OK ||
	    (rc = key_arg(args, key, sizeof(key), err, errlen)) != CMD_OK)
		return rc;
	json_object_object_get_ex(args, "rule", &triple);
	if ((rc = rule_parse(triple, RULE_P_RESOLVE, &r, err, errlen)))
		return rule_status(rc);
	e = ruledb_set(m->db, key, &r, err, errlen);
	rule_free(&r);
	if ((rc = ruledb_status(e, err, errlen)) != CMD_OK)
		return rc;
	notify_later(m, key);
	if (master_state_log_set(m, key, triple) == -1)
		return journal_failed(err, errlen);
	return CMD_OK;
}

int
cmd_delete(struct master *m, struct json_object *args,
    struct json_object **reply, char *err, size_t errlen)
{
	char key[RULE_KEY_MAX + 1];
	int rc;

	if ((rc = cmd_check_if_match(m, args, err, errlen)) != CMD_OK ||
	    (rc = key_arg(args, key, sizeof(key), err, errlen)) != CMD_OK)
		return rc;
	/* Mantrid: deleting a missing host is fine, and changes nothing. */
	if (ruledb_delete(m->db, key) != RULEDB_OK)
		return CMD_OK;
	notify_later(m, key);
	if (master_state_log_delete(m, key) == -1)
		return journal_failed(err, errlen);
	return CMD_OK;
}

void
host_set_free(struct host_set *hs)
{
	size_t i;

	for (i = 0; i < hs->n; i++)
		rule_free(&hs->rules[i]);
	free(hs->entries);
	free(hs->rules);
	free(hs->keys);
	memset(hs, 0, sizeof(*hs));
}

int
host_set_parse(struct host_set *hs, struct json_object *hosts, bool lenient,
    char *err, size_t errlen)
{
	size_t cap = (size_t)json_object_object_length(hosts) + 1;
	int flags = RULE_P_RESOLVE | (lenient ? RULE_P_LENIENT : 0);
	char why[256];

	hs->entries = calloc(cap, sizeof(*hs->entries));
	hs->rules = calloc(cap, sizeof(*hs->rules));
	hs->keys = calloc(cap, sizeof(*hs->keys));
	if (hs->entries == NULL || hs->rules == NULL || hs->keys == NULL)
		return snprintf(err, errlen, "out_of_memory"), CMD_EIO;
	json_object_object_foreach(hosts, host, triple) {
		if (rule_key_check(host, hs->keys[hs->n], sizeof(hs->keys[0]),
		    why, sizeof(why)) != RULE_OK || rule_parse(triple, flags,
		    &hs->rules[hs->n], why, sizeof(why)) != RULE_OK) {
			if (lenient) {
				log_warnx("%s: dropping host %.255s (%s): %s",
				    __func__, host, why,
				    json_object_to_json_string(triple));
				continue;
			}
			/* Mantrid's "<host>:<error>" for a bulk replace. */
			snprintf(err, errlen, "%.*s:%s", RULE_HOST_MAX, host,
			    why);
			return CMD_EINVAL;
		}
		hs->entries[hs->n].key = hs->keys[hs->n];
		hs->entries[hs->n].rule = &hs->rules[hs->n];
		hs->n++;
	}
	return CMD_OK;
}

int
cmd_set_all(struct master *m, struct json_object *args,
    struct json_object **reply, char *err, size_t errlen)
{
	struct host_set hs = { NULL, NULL, NULL, 0 };
	struct json_object *hosts = NULL;
	enum ruledb_err e;
	int rc;

	if ((rc = cmd_check_if_match(m, args, err, errlen)) != CMD_OK)
		return rc;
	json_object_object_get_ex(args, "hosts", &hosts);
	/* Parse every host first: one bad host rejects the replacement. */
	if ((rc = host_set_parse(&hs, hosts, false, err, errlen)) == CMD_OK) {
		e = ruledb_replace_all(m->db, hs.entries, hs.n, err, errlen);
		rc = ruledb_status(e, err, errlen);
	}
	host_set_free(&hs);
	if (rc != CMD_OK)
		return rc;
	notify_later(m, NULL);
	if (master_state_log_set_all(m, hosts) == -1)
		return journal_failed(err, errlen);
	return CMD_OK;
}

/* ---- dispatch ----------------------------------------------------------- */

struct pending {
	cmd_done_cb		 done;
	void			*arg;
	struct json_object	*result;
	uint64_t		 generation;
};

static void
durable_cb(int error, void *arg)
{
	struct pending *p = arg;

	if (error)
		p->done(CMD_EIO, NULL, p->generation, "state_sync_failed",
		    p->arg);
	else
		p->done(CMD_OK, p->result, p->generation, NULL, p->arg);
	if (error)
		json_object_put(p->result);
	free(p);
}

/* Backend operator changes are state too (master_pool.h). */
static bool
is_backend_change(const struct cmd_def *def)
{
	return def->id == CMD_backend_enable || def->id == CMD_backend_disable ||
	    def->id == CMD_backend_drain || def->id == CMD_backend_weight;
}

static void
wait_durable(struct master *m, struct json_object *result, cmd_done_cb done,
    void *arg)
{
	struct pending *p;

	if ((p = malloc(sizeof(*p))) == NULL) {
		json_object_put(result);
		done(CMD_EIO, NULL, ruledb_generation(m->db), "out_of_memory",
		    arg);
		return;
	}
	p->done = done;
	p->arg = arg;
	p->result = result;
	p->generation = ruledb_generation(m->db);
	master_state_barrier(m, durable_cb, p);
}

void
master_cmd_run(struct master *m, const struct cmd_def *def,
    struct json_object *args, cmd_done_cb done, void *arg)
{
	struct json_object *result = NULL;
	char err[1024] = "";
	int rc;

	rc = handlers[def->id](m, args, &result, err, sizeof(err));
	if (rc == CMD_OK && is_backend_change(def) &&
	    master_state_log_backends(m) == -1)
		rc = journal_failed(err, sizeof(err));
	if (rc != CMD_OK) {
		json_object_put(result);
		done((enum cmd_status)rc, NULL, ruledb_generation(m->db),
		    err[0] ? err : cmd_status_name(rc), arg);
		return;
	}
	if ((def->flags & CMD_F_MUTATION) || is_backend_change(def))
		wait_durable(m, result, done, arg);
	else
		done(CMD_OK, result, ruledb_generation(m->db), NULL, arg);
}

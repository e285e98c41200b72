/*
 * ruledb.h: the shared-memory rule database (functions). See ruledb-t.h
 * for the record layout and common/ruledb_int.h for the lock-free protocol.
 *
 * Functions marked "master only" may run only in the single writer.
 */
#ifndef MANTRID_RULEDB_H
#define MANTRID_RULEDB_H

#include <stdbool.h>
#include <stddef.h>

#include "ruledb-t.h"

struct ruledb;

enum ruledb_err {
	RULEDB_OK = 0,
	RULEDB_ENOSPC,		/* shm_size exhausted; nothing changed */
	RULEDB_EINVAL,		/* bad key or rule; nothing changed */
	RULEDB_ENOENT		/* delete/get of a missing host */
};

struct ruledb_entry {		/* for ruledb_replace_all */
	const char		*key;	/* "host" or "https://host" */
	const struct rule	*rule;
};

/* master only: create the segment (memfd, sparse) before fork. */
struct ruledb	*ruledb_create(size_t shm_size, unsigned nreaders,
		    char *err, size_t errlen);
int		 ruledb_fd(const struct ruledb *);
void		 ruledb_destroy(struct ruledb *);

/* master only: mutations. Each bumps the generation by one on success. */
enum ruledb_err	 ruledb_set(struct ruledb *, const char *key,
		    const struct rule *, char *err, size_t errlen);
enum ruledb_err	 ruledb_delete(struct ruledb *, const char *key);
enum ruledb_err	 ruledb_replace_all(struct ruledb *,
		    const struct ruledb_entry *, size_t n,
		    char *err, size_t errlen);
/* master only: free retired memory whose grace period has passed. */
void		 ruledb_reclaim(struct ruledb *);
/* master only: a reaped worker's reader slot no longer holds anything. */
void		 ruledb_reader_clear(struct ruledb *, unsigned slot);
/* master only: does any worker have a parked request (ruledb_int.h, 8)?
 * Call after the mutations whose messages it gates. */
bool		 ruledb_parked_any(const struct ruledb *);
/* master only: bytes of shm in use / total. */
size_t		 ruledb_used(const struct ruledb *);
size_t		 ruledb_capacity(const struct ruledb *);

/* any process */
uint64_t	 ruledb_generation(const struct ruledb *);
size_t		 ruledb_count(const struct ruledb *);
const struct rule_rec *ruledb_get(struct ruledb *, const char *key);
typedef int	(*ruledb_iter_cb)(const struct rule_rec *, void *arg);
/* Stops early and returns the callback's value if it is non-zero. */
int		 ruledb_foreach(struct ruledb *, ruledb_iter_cb, void *arg);
struct host_counters *ruledb_counters(struct ruledb *, const struct rule_rec *);
/* any process: the counters of requests no rule matched ("unknown") */
struct host_counters *ruledb_counters_unknown(struct ruledb *);
bool		 ruledb_unknown_seen(struct ruledb *);
struct backend_state *ruledb_backend(struct ruledb *, uint32_t idx);
/* master only: backend table by address ("host:port"); NULL if absent. */
struct backend_state *ruledb_backend_find(struct ruledb *, const char *addr,
		    uint32_t *idx);
size_t		 ruledb_backend_count(const struct ruledb *);
/* master only: does a published rule reference backend idx? */
bool		 ruledb_backend_referenced(const struct ruledb *, uint32_t idx);

/*
 * worker: map the segment, rules region read-only, and take reader slot
 * `slot` (0 .. nreaders-1).
 */
struct ruledb	*ruledb_attach(int fd, unsigned slot, char *err, size_t errlen);
/* worker: this reader holds no record pointer (call each loop pass). */
void		 ruledb_quiescent(struct ruledb *);
/*
 * worker: going idle (epoll) / back; offline readers never delay reuse.
 * NB: ruledb_resolve() and ruledb_get() bring an offline reader back
 * online themselves (a cheap check of its own slot, then the online
 * protocol), because the worker goes offline before epoll and cannot run
 * code between epoll's return and its first callback.
 */
void		 ruledb_offline(struct ruledb *);
void		 ruledb_online(struct ruledb *);
/*
 * worker: publish how many requests it has parked; returns the generation
 * read after a fence. If it is past the generation read before the rule
 * lookup that parked a request, the master may have skipped that change's
 * message: re-run the parked requests (ruledb_int.h, 8).
 */
uint64_t	 ruledb_publish_parked(struct ruledb *, unsigned nparked);

/*
 * Mantrid's host matching (DESIGN.md item 6). host is the raw Host header
 * value (any case, maybe a port, a trailing dot, "[v6]:port"); https
 * selects "https://" keys over plain ones, else "http://" keys.
 */
enum resolve_kind ruledb_resolve(struct ruledb *, const char *host,
		    size_t hostlen, bool https, const struct rule_rec **out);
/* Normalize a Host value into buf (lower case, no port, no trailing dot).
 * Returns the length, or -1 if it is not a valid host. */
int		 ruledb_normalize_host(const char *host, size_t len,
		    char *buf, size_t buflen);

#endif

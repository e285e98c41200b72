/*
 * worker_balance.h: choosing a backend (or a redirect target) for a
 * request, and passive health. Pure functions over the shared backend
 * table (common/ruledb.h) plus a little per-process state (the PRNG and
 * the smooth round-robin weights), so that the Check tests drive the
 * real code.
 */
#ifndef MANTRID_WORKER_BALANCE_H
#define MANTRID_WORKER_BALANCE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../common/ruledb-t.h"

struct ruledb;
struct config;

/*
 * backend_state.weight_override: 0 means "use the rule's weight"; an
 * operator's `weight ADDR 0` is stored as this sentinel instead.
 */
#define BALANCE_WEIGHT_ZERO	UINT32_MAX
#define BALANCE_WEIGHT_MAX	1000000u
#define BALANCE_RETRY_DEFAULT	3u

/* Once per process, after fork: takes server_retry; reseeds the PRNG. */
void	balance_init(const struct config *);
/* Tests only: a deterministic PRNG stream. */
void	balance_seed(uint64_t);

/*
 * Choose a backend for a proxy rule by rec->algorithm among the usable
 * ones (health BH_UP, enabled in the rule, effective weight > 0).
 * client is used by iphash only (NULL: falls back to random).
 * Returns 0 and the backend table index, or -1 when none is usable.
 */
int	balance_pick(struct ruledb *, const struct rule_rec *,
	    const struct sockaddr *client, uint32_t *backend_idx);
/*
 * The same for a redirect rule with targets: returns 0 and the target's
 * position in REC_BACKENDS(rec) (its url is REC_STR(rec, url_off)), or -1
 * when every target is down or disabled (the caller answers 503).
 */
int	balance_pick_target(struct ruledb *, const struct rule_rec *,
	    const struct sockaddr *client, uint32_t *pos);

/*
 * Passive health: ok=false counts a refused/reset/timed-out attempt;
 * server_retry consecutive ones mark the backend BH_DOWN for every worker
 * (one CAS; master_health.c logs it). ok=true clears the run of failures.
 */
void	balance_report(struct ruledb *, uint32_t backend_idx, bool ok);
/* Counters for leastconn/p2c and the stats: call around each request
 * sent to a backend; rt_us is the time to the response head (0 = none). */
void	balance_begin(struct ruledb *, uint32_t backend_idx);
void	balance_end(struct ruledb *, uint32_t backend_idx, uint64_t rt_us);

/* Effective weight of a backend in a rule (operator override first). */
uint32_t balance_weight(const struct backend_state *, uint32_t rule_weight);

#endif

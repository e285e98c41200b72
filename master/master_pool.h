/*
 * master_pool.h: the master's view of the backends, shared by
 * master_health.c (probes, operational up/down, the shm health word)
 * and master_backends.c (operator commands), and the state-file hooks
 * for the operator's settings. Master only.
 *
 * The shm health word (struct backend_state.health) is derived: an
 * operator's disable/drain wins, else the operational state. Workers may
 * only turn BH_UP into BH_DOWN (passive health); the master absorbs that
 * before every write it makes (pool_publish), by compare-and-swap.
 */
#ifndef MANTRID_MASTER_POOL_H
#define MANTRID_MASTER_POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct master;
struct json_object;

enum pool_admin { POOL_ENABLED = 0, POOL_DRAINING, POOL_DISABLED };

struct pool_info {
	enum pool_admin	 admin;
	bool		 up;		/* operational */
	uint32_t	 weight;	/* operator's override, 0 = rule's */
	time_t		 last_check;	/* 0 = never probed */
	bool		 last_ok;
	char		 last_error[96];	/* "" = none */
	time_t		 last_change;
};

/* 0, or -1 if idx is not (yet) a backend. */
int	pool_info_get(struct master *, uint32_t idx, struct pool_info *);
/* Operator changes; log once and publish to shm at once. */
int	pool_set_admin(struct master *, uint32_t idx, enum pool_admin);
int	pool_set_weight(struct master *, uint32_t idx, uint32_t weight);
const char *pool_admin_name(enum pool_admin);

/*
 * State file: "backends": {"ADDR": {"enabled": b, "drain": b,
 * "weight": n}, ...}, non-default entries only. save returns a new
 * reference (an empty object when nothing is set); load may run before
 * the backend exists (before rules load): the setting waits for it.
 */
struct json_object *pool_state_save(struct master *);
void	pool_state_load(struct master *, struct json_object *);

#endif

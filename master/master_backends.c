/*
 * master_backends.c: the operator's backend commands (`backends`,
 * `backend ADDR`, `enable`, `disable`, `drain`, `weight`), shared by the
 * control socket and REST's /backends/ (master_cmd.h handlers). The
 * state they change lives in master_health.c (master_pool.h); a change
 * is published to shm at once; master_cmd.c journals it.
 * Master only.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "../common/cmd.h"
#include "../common/log.h"
#include "../common/ruledb.h"
#include "../worker/worker_balance.h"
#include "master.h"
#include "master_backends.h"
#include "master_cmd.h"
#include "master_pool.h"

static const char *
health_name(uint32_t h)
{
	switch (h) {
	case BH_UP:
		return "up";
	case BH_DOWN:
		return "down";
	case BH_DRAINING:
		return "draining";
	case BH_DISABLED:
		return "disabled";
	default:
		return "unknown";
	}
}

static void
add_u64(struct json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_int64((int64_t)v));
}

static struct json_object *
backend_json(struct master *m, uint32_t idx)
{
	struct backend_state	*bs = ruledb_backend(m->db, idx);
	struct pool_info	 pi;
	struct json_object	*o;

	if (bs == NULL || pool_info_get(m, idx, &pi) == -1)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "address", json_object_new_string(bs->addr));
	json_object_object_add(o, "state",
	    json_object_new_string(health_name(atomic_load(&bs->health))));
	json_object_object_add(o, "health",
	    json_object_new_string(pi.up ? "up" : "down"));
	json_object_object_add(o, "enabled",
	    json_object_new_boolean(pi.admin != POOL_DISABLED));
	json_object_object_add(o, "drain",
	    json_object_new_boolean(pi.admin == POOL_DRAINING));
	add_u64(o, "weight", pi.weight);
	add_u64(o, "active", atomic_load(&bs->active));
	add_u64(o, "requests", atomic_load(&bs->requests));
	add_u64(o, "failures", atomic_load(&bs->failures));
	add_u64(o, "consecutive_failures", atomic_load(&bs->consecutive_fails));
	add_u64(o, "rt_avg_us", atomic_load(&bs->rt_avg_us));
	add_u64(o, "last_change", atomic_load(&bs->last_change));
	add_u64(o, "last_check", (uint64_t)pi.last_check);
	json_object_object_add(o, "last_check_ok", pi.last_check == 0 ?
	    NULL : json_object_new_boolean(pi.last_ok));
	json_object_object_add(o, "last_error",
	    json_object_new_string(pi.last_error));
	return o;
}

/* The backend named by args' "address", or CMD_ENOTFOUND. */
static int
lookup(struct master *m, struct json_object *args, uint32_t *idx,
    char *err, size_t errlen)
{
	struct json_object	*a;
	const char		*addr;

	if (!json_object_object_get_ex(args, "address", &a) ||
	    !json_object_is_type(a, json_type_string)) {
		snprintf(err, errlen, "address_missing");
		return CMD_EINVAL;
	}
	addr = json_object_get_string(a);
	if (ruledb_backend_find(m->db, addr, idx) == NULL) {
		snprintf(err, errlen, "not_found");
		return CMD_ENOTFOUND;
	}
	return CMD_OK;
}

static int
backends_all(struct master *m, struct json_object **reply)
{
	struct json_object	*o = json_object_new_object(), *b;
	struct backend_state	*bs;
	size_t			 i, n = ruledb_backend_count(m->db);

	for (i = 0; i < n; i++) {
		bs = ruledb_backend(m->db, (uint32_t)i);
		if (bs == NULL || bs->addr[0] == '\0')
			continue;	/* freed, not reused yet */
		if ((b = backend_json(m, (uint32_t)i)) == NULL)
			continue;
		json_object_object_add(o,
		    json_object_get_string(json_object_object_get(b,
		    "address")), b);
	}
	*reply = o;
	return CMD_OK;
}

int
cmd_backends(struct master *m, struct json_object *args,
    struct json_object **reply, char *err, size_t errlen)
{
	return backends_all(m, reply);
}

int
cmd_backend_get(struct master *m, struct json_object *args,
    struct json_object **reply, char *err, size_t errlen)
{
	uint32_t	idx;
	int		rc;

	if ((rc = lookup(m, args, &idx, err, errlen)) != CMD_OK)
		return rc;
	*reply = backend_json(m, idx);
	return CMD_OK;
}

/*
 * The reply is the backend as it is now. NB: journaling the operator's
 * settings (master_state_log_backends) and waiting until they are on disk
 * is the dispatcher's (master_cmd.c), for every backend change alike.
 */
static int
changed(struct master *m, uint32_t idx, struct json_object **reply)
{
	*reply = backend_json(m, idx);
	return CMD_OK;
}

static int
set_admin_idx(struct master *m, uint32_t idx, enum pool_admin a,
    struct json_object **reply, char *err, size_t errlen)
{
	if (pool_set_admin(m, idx, a) == -1) {
		snprintf(err, errlen, "not_found");
		return CMD_ENOTFOUND;
	}
	return changed(m, idx, reply);
}

static int
set_admin(struct master *m, struct json_object *args, enum pool_admin a,
    struct json_object **reply, char *err, size_t errlen)
{
	uint32_t	idx;
	int		rc;

	if ((rc = cmd_check_if_match(m, args, err, errlen)) != CMD_OK ||
	    (rc = lookup(m, args, &idx, err, errlen)) != CMD_OK)
		return rc;
	return set_admin_idx(m, idx, a, reply, err, errlen);
}

int
cmd_backend_enable(struct master *m, struct json_object *args,
    struct json_object **reply, char *err, size_t errlen)
{
	return set_admin(m, args, POOL_ENABLED, reply, err, errlen);
}

int
cmd_backend_disable(struct master *m, struct json_object *args,
    struct json_object **reply, char *err, size_t errlen)
{
	return set_admin(m, args, POOL_DISABLED, reply, err, errlen);
}

/*
 * {"drain": false} (REST's PUT) ends a drain and nothing else: a
 * disabled backend stays disabled, an enabled one stays enabled.
 */
int
cmd_backend_drain(struct master *m, struct json_object *args,
    struct json_object **reply, char *err, size_t errlen)
{
	struct json_object	*v;
	struct pool_info	 pi;
	uint32_t		 idx;
	int			 rc;

	if (!json_object_object_get_ex(args, "drain", &v) ||
	    json_object_get_boolean(v))
		return set_admin(m, args, POOL_DRAINING, reply, err, errlen);
	if ((rc = cmd_check_if_match(m, args, err, errlen)) != CMD_OK ||
	    (rc = lookup(m, args, &idx, err, errlen)) != CMD_OK)
		return rc;
	if (pool_info_get(m, idx, &pi) == -1) {
		snprintf(err, errlen, "not_found");
		return CMD_ENOTFOUND;
	}
	return set_admin_idx(m, idx, pi.admin == POOL_DRAINING ?
	    POOL_ENABLED : pi.admin, reply, err, errlen);
}

int
cmd_backend_weight(struct master *m, struct json_object *args,
    struct json_object **reply, char *err, size_t errlen)
{
	struct json_object	*w;
	int64_t			 v;
	uint32_t		 idx;
	int			 rc;

	if ((rc = cmd_check_if_match(m, args, err, errlen)) != CMD_OK ||
	    (rc = lookup(m, args, &idx, err, errlen)) != CMD_OK)
		return rc;
	if (!json_object_object_get_ex(args, "weight", &w) ||
	    !json_object_is_type(w, json_type_int) ||
	    (v = json_object_get_int64(w)) < 0 || v > BALANCE_WEIGHT_MAX) {
		snprintf(err, errlen, "weight_invalid");
		return CMD_EINVAL;
	}
	if (pool_set_weight(m, idx, (uint32_t)v) == -1) {
		snprintf(err, errlen, "not_found");
		return CMD_ENOTFOUND;
	}
	return changed(m, idx, reply);
}

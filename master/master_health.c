/*
 * master_health.c: the master's view of every backend (operational
 * up/down, the operator's enable/drain/disable and weight, last probe)
 * and the active health checks that run in the master's event loop.
 *
 * - A 1 s scan adopts backends the rule database has added, notices the
 *   ones workers marked down (passive health, worker_balance.c), and,
 *   when the rules changed, which backends any rule still references.
 * - Probes are non-blocking (one socket and one event per backend in
 *   flight, bounded by health_timeout). Down backends are probed every
 *   timeout_cleanup s (PLB); with health_check on, every referenced
 *   backend every health_interval s: an HTTP GET of health_path that must
 *   answer 2xx/3xx, or a plain TCP connect when health_path is empty.
 *   `fall` failures take a backend down, `rise` successes bring it back
 *   (one success without health_check, as PLB did).
 * - First probes start at a random point of the interval and every
 *   interval carries +-10% jitter, so 10k backends make no herd.
 * - A backend coming back is announced to the workers (CH_BACKEND_UP), so
 *   requests held for it (hold_when_down) go at once.
 *
 * The shm health word is written here only through pool_publish(); see
 * master_pool.h for the protocol with the workers.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <json-c/json.h>

#include "../common/log.h"
#include "../common/ruledb.h"
#include "master.h"
#include "master_pool.h"

#define SCAN_MS		1000
#define PROBE_BUF	64	/* enough for "HTTP/1.1 200" */

struct hb {
	struct master	*m;
	uint32_t	 idx;
	uint32_t	 gen;		/* the entry's incarnation */
	bool		 up;		/* operational */
	enum pool_admin	 admin;
	uint32_t	 weight;	/* operator override, 0 = rule's */
	bool		 referenced;	/* by some rule now */
	uint32_t	 published;	/* health word we last wrote */
	unsigned	 ok_run, fail_run;
	time_t		 last_check, last_change;
	bool		 last_ok;
	char		 last_error[96];

	/* the probe: timer, then connect/write/read on fd */
	struct event	 ev;
	bool		 ev_ok;		/* ev assigned once (needs m->base) */
	int		 fd;
	size_t		 blen;
	char		 buf[PROBE_BUF];
	struct timespec	 deadline;
};

/* An operator setting loaded before its backend exists. */
struct pending {
	char		 addr[RULE_ADDR_MAX];
	enum pool_admin	 admin;
	uint32_t	 weight;
};

static struct hb	**hbs;
static size_t		  nhb;
static struct pending	 *pend;
static size_t		  npend;
static struct event	 *scan_ev;
static uint64_t		  scan_gen = UINT64_MAX;

static void	probe_start_cb(evutil_socket_t, short, void *);
static void	probe_io_cb(evutil_socket_t, short, void *);

const char *
pool_admin_name(enum pool_admin a)
{
	switch (a) {
	case POOL_DRAINING:
		return "draining";
	case POOL_DISABLED:
		return "disabled";
	default:
		return "enabled";
	}
}

static struct backend_state *
hb_bs(const struct hb *hb)
{
	return ruledb_backend(hb->m->db, hb->idx);
}

/* ---- the shm health word ---- */

static uint32_t
desired(const struct hb *hb)
{
	if (hb->admin == POOL_DISABLED)
		return BH_DISABLED;
	if (hb->admin == POOL_DRAINING)
		return BH_DRAINING;
	return hb->up ? BH_UP : BH_DOWN;
}

static void	arm(struct hb *, unsigned);
static unsigned	next_ms(const struct hb *, bool first);

/* Workers turned our BH_UP into BH_DOWN: take it as our own state. */
static void
absorb_passive(struct hb *hb, struct backend_state *bs)
{
	hb->up = false;
	hb->ok_run = 0;
	hb->last_change = time(NULL);
	log_warnx("%s: backend %s down: %u consecutive failed requests "
	    "(server_retry %u)", __func__, bs->addr,
	    (unsigned)atomic_load(&bs->consecutive_fails),
	    hb->m->cfg.server_retry);
	arm(hb, next_ms(hb, false));
}

/*
 * Write the derived health word. NB: a worker may CAS BH_UP -> BH_DOWN
 * at any moment; our CAS fails then, we absorb the passive down and
 * retry, so no passive failure is ever overwritten by a stale BH_UP.
 */
static void
pool_publish(struct hb *hb)
{
	struct backend_state	*bs = hb_bs(hb);
	uint32_t		 cur, want;

	if (bs == NULL)
		return;
	cur = atomic_load(&bs->health);
	for (;;) {
		if (cur == BH_DOWN && hb->published == BH_UP && hb->up)
			absorb_passive(hb, bs);
		want = desired(hb);
		if (cur == want ||
		    atomic_compare_exchange_strong(&bs->health, &cur, want))
			break;
	}
	if (cur != want)
		atomic_store(&bs->last_change, (uint64_t)time(NULL));
	hb->published = want;
	atomic_store(&bs->weight_override, hb->weight);
}

static void
announce_up(struct hb *hb)
{
	struct channel_msg	msg;

	if (hb->m->base == NULL || hb->m->workers == NULL)
		return;		/* loading state: no worker holds anything */
	memset(&msg, 0, sizeof(msg));
	msg.type = CH_BACKEND_UP;
	msg.arg = hb->idx;
	msg.generation = ruledb_generation(hb->m->db);
	master_notify_msg(hb->m, &msg);
}

static void
set_oper(struct hb *hb, bool up, const char *why)
{
	struct backend_state	*bs = hb_bs(hb);

	if (hb->up == up || bs == NULL)
		return;
	hb->up = up;
	hb->last_change = time(NULL);
	if (up) {
		/* NB: before publishing, or old failures count again */
		atomic_store(&bs->consecutive_fails, 0);
		log_info("%s: backend %s up: %s", __func__, bs->addr, why);
	} else
		log_warnx("%s: backend %s down: %s", __func__, bs->addr, why);
	pool_publish(hb);
	if (up && hb->published == BH_UP)
		announce_up(hb);
}

/* ---- scheduling ---- */

static unsigned
jitter(unsigned ms)
{
	return ms < 10 ? ms : ms - ms / 10 + arc4random_uniform(ms / 5 + 1);
}

/* Next probe in ms, 0 = none needed. first: a random point of it. */
static unsigned
next_ms(const struct hb *hb, bool first)
{
	const struct config	*cfg = &hb->m->cfg;
	unsigned		 s;

	if (!hb->referenced)
		return 0;
	if (cfg->health_check)
		s = hb->up || cfg->timeout_cleanup > cfg->health_interval ?
		    cfg->health_interval : cfg->timeout_cleanup;
	else if (!hb->up)
		s = cfg->timeout_cleanup;
	else
		return 0;
	if (first)
		return 1 + arc4random_uniform(s * 1000);
	return jitter(s * 1000);
}

/* Arm the probe timer unless a probe is already pending or running. */
static void
arm(struct hb *hb, unsigned ms)
{
	struct timeval	tv;

	if (ms == 0 || hb->fd != -1 || hb->m->base == NULL)
		return;
	if (hb->ev_ok && event_pending(&hb->ev, EV_TIMEOUT, NULL))
		return;
	hb->ev_ok = true;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	event_assign(&hb->ev, hb->m->base, -1, 0, probe_start_cb, hb);
	event_add(&hb->ev, &tv);
}

/* ---- probes ---- */

static void
probe_result(struct hb *hb, bool ok, const char *why)
{
	const struct config	*cfg = &hb->m->cfg;
	unsigned		 rise = cfg->health_check ? cfg->rise : 1;
	char			 reason[160];

	if (hb->fd != -1) {
		event_del(&hb->ev);
		close(hb->fd);
		hb->fd = -1;
	}
	hb->last_check = time(NULL);
	hb->last_ok = ok;
	snprintf(hb->last_error, sizeof(hb->last_error), "%s", ok ? "" : why);
	if (ok) {
		hb->fail_run = 0;
		if (++hb->ok_run >= rise && !hb->up) {
			snprintf(reason, sizeof(reason),
			    "%u successful health check%s", hb->ok_run,
			    hb->ok_run == 1 ? "" : "s");
			set_oper(hb, true, reason);
		}
	} else {
		hb->ok_run = 0;
		hb->fail_run++;
		log_debug("%s: backend %s probe failed: %s", __func__,
		    hb_bs(hb)->addr, why);
		if (hb->up && cfg->health_check && hb->fail_run >= cfg->fall) {
			snprintf(reason, sizeof(reason),
			    "%u failed health checks, last: %s",
			    hb->fail_run, why);
			set_oper(hb, false, reason);
		}
	}
	arm(hb, next_ms(hb, false));
}

static long
ms_left(const struct hb *hb)
{
	struct timespec	now;
	long		ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (hb->deadline.tv_sec - now.tv_sec) * 1000 +
	    (hb->deadline.tv_nsec - now.tv_nsec) / 1000000;
	return ms > 0 ? ms : 0;
}

static void
wait_io(struct hb *hb, short what)
{
	long		ms = ms_left(hb);
	struct timeval	tv = { ms / 1000, (ms % 1000) * 1000 };

	event_assign(&hb->ev, hb->m->base, hb->fd, what, probe_io_cb, hb);
	event_add(&hb->ev, &tv);
}

static void
probe_start_cb(evutil_socket_t unused, short ev, void *arg)
{
	struct hb		*hb = arg;
	struct backend_state	*bs = hb_bs(hb);

	if (!hb->referenced || bs == NULL)
		return;		/* the scan re-arms it if it comes back */
	if (bs->sslen == 0) {
		probe_result(hb, false, "address not resolved");
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &hb->deadline);
	hb->deadline.tv_sec += hb->m->cfg.health_timeout;
	hb->blen = 0;
	hb->fd = socket(bs->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (hb->fd == -1) {
		log_warn("%s: socket", __func__);
		probe_result(hb, false, strerror(errno));
		return;
	}
	if (connect(hb->fd, (struct sockaddr *)&bs->ss, bs->sslen) == -1 &&
	    errno != EINPROGRESS) {
		probe_result(hb, false, strerror(errno));
		return;
	}
	wait_io(hb, EV_WRITE);
}

/* Connected: TCP check done, or send the HTTP request. */
static void
probe_connected(struct hb *hb)
{
	const struct config	*cfg = &hb->m->cfg;
	char			 req[512];
	int			 n;
	int			 err = 0;
	socklen_t		 len = sizeof(err);

	if (getsockopt(hb->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		probe_result(hb, false, strerror(err));
		return;
	}
	if (cfg->health_path[0] == '\0' || !cfg->health_check) {
		probe_result(hb, true, NULL);	/* TCP connect is the check */
		return;
	}
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\n"
	    "User-Agent: mantrid-health\r\nConnection: close\r\n\r\n",
	    cfg->health_path, hb_bs(hb)->addr);
	if (n < 0 || (size_t)n >= sizeof(req) ||
	    write(hb->fd, req, (size_t)n) != n) {
		probe_result(hb, false, "cannot send request");
		return;
	}
	wait_io(hb, EV_READ);
}

/* Parse "HTTP/1.x NNN" once it is in; 2xx and 3xx pass. */
static void
probe_readable(struct hb *hb)
{
	char	 why[64];
	ssize_t	 r;
	int	 code;

	r = read(hb->fd, hb->buf + hb->blen, sizeof(hb->buf) - 1 - hb->blen);
	if (r == -1 && (errno == EAGAIN || errno == EINTR)) {
		wait_io(hb, EV_READ);
		return;
	}
	if (r <= 0) {
		probe_result(hb, false, r == 0 ? "closed before status" :
		    strerror(errno));
		return;
	}
	hb->blen += (size_t)r;
	hb->buf[hb->blen] = '\0';
	if (hb->blen < 12 && strchr(hb->buf, '\n') == NULL) {
		wait_io(hb, EV_READ);
		return;
	}
	if (sscanf(hb->buf, "HTTP/1.%*1[01] %3d", &code) != 1) {
		probe_result(hb, false, "not an HTTP response");
		return;
	}
	snprintf(why, sizeof(why), "HTTP %d", code);
	probe_result(hb, code >= 200 && code < 400, why);
}

static void
probe_io_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct hb	*hb = arg;

	if (ev & EV_TIMEOUT)
		probe_result(hb, false, "timeout");
	else if (ev & EV_WRITE)
		probe_connected(hb);
	else
		probe_readable(hb);
}

/* ---- the scan ---- */

static int
pending_take(const char *addr, struct hb *hb)
{
	size_t	i;

	for (i = 0; i < npend; i++) {
		if (strcmp(pend[i].addr, addr) != 0)
			continue;
		hb->admin = pend[i].admin;
		hb->weight = pend[i].weight;
		pend[i] = pend[--npend];
		return 1;
	}
	return 0;
}

static struct hb *
hb_new(struct master *m, uint32_t idx)
{
	struct backend_state	*bs = ruledb_backend(m->db, idx);
	struct hb		*hb;

	if (bs == NULL || (hb = calloc(1, sizeof(*hb))) == NULL)
		return NULL;
	hb->m = m;
	hb->idx = idx;
	hb->gen = atomic_load(&bs->gen);
	hb->fd = -1;
	hb->published = atomic_load(&bs->health);
	hb->up = hb->published != BH_DOWN;
	hb->weight = atomic_load(&bs->weight_override);
	if (hb->published == BH_DRAINING || hb->published == BH_DISABLED)
		hb->admin = hb->published == BH_DRAINING ? POOL_DRAINING :
		    POOL_DISABLED;
	if (pending_take(bs->addr, hb) || hb->published != desired(hb))
		pool_publish(hb);
	return hb;
}

/*
 * The entry was reclaimed and reused for another address: its record
 * starts afresh (an operator's disable or weight was the old address's).
 */
static struct hb *
hb_fresh(struct master *m, uint32_t idx)
{
	struct hb		*hb = hbs[idx], *nh;
	struct backend_state	*bs = hb_bs(hb);

	if (bs == NULL || atomic_load(&bs->gen) == hb->gen ||
	    (nh = hb_new(m, idx)) == NULL)
		return hb;
	if (hb->ev_ok)
		event_del(&hb->ev);
	if (hb->fd != -1)
		close(hb->fd);
	free(hb);
	hbs[idx] = nh;
	scan_gen = UINT64_MAX;	/* refresh_refs: arm its probe if needed */
	return nh;
}

static int
grow(struct master *m)
{
	size_t		 n = ruledb_backend_count(m->db), i;
	struct hb	**nh;

	if (n <= nhb)
		return 0;
	if ((nh = reallocarray(hbs, n, sizeof(*nh))) == NULL)
		return -1;
	hbs = nh;
	for (i = nhb; i < n; i++)
		if ((hbs[i] = hb_new(m, (uint32_t)i)) == NULL)
			break;
	nhb = i;
	return 0;
}

/*
 * Which backends a rule references, recomputed when the rules change.
 * NB: from the rule database's reference counts, O(backends): a walk of
 * every rule was 2% of the master's CPU under a stream of sets.
 */
static void
refresh_refs(struct master *m)
{
	uint64_t	 gen = ruledb_generation(m->db);
	bool		 ref;
	size_t		 i;
	struct hb	*hb;

	if (gen == scan_gen)
		return;
	scan_gen = gen;
	for (i = 0; i < nhb; i++) {
		hb = hbs[i];
		ref = ruledb_backend_referenced(m->db, (uint32_t)i);
		if (ref && !hb->referenced) {
			hb->referenced = true;
			arm(hb, next_ms(hb, true));
		} else if (!ref && hb->referenced) {
			hb->referenced = false;	/* its probe stops */
			if (hb->fd == -1 && hb->ev_ok)
				event_del(&hb->ev);
		}
	}
}

static void
scan_cb(evutil_socket_t unused, short ev, void *arg)
{
	struct master		*m = arg;
	struct backend_state	*bs;
	struct timeval		 tv = { SCAN_MS / 1000, (SCAN_MS % 1000) * 1000 };
	size_t			 i;

	if (grow(m) == -1)
		log_warn("%s: backend table", __func__);
	for (i = 0; i < nhb; i++)
		(void)hb_fresh(m, (uint32_t)i);
	refresh_refs(m);
	for (i = 0; i < nhb; i++) {
		bs = hb_bs(hbs[i]);
		if (bs != NULL && hbs[i]->published == BH_UP &&
		    atomic_load_explicit(&bs->health,
		    memory_order_relaxed) == BH_DOWN)
			pool_publish(hbs[i]);
	}
	evtimer_add(scan_ev, &tv);
}

int
master_health_start(struct master *m)
{
	if (m->cfg.health_check)
		log_info("%s: health checks every %us, %s %s, rise %u fall %u",
		    __func__, m->cfg.health_interval,
		    m->cfg.health_path[0] ? "GET" : "TCP connect",
		    m->cfg.health_path, m->cfg.rise, m->cfg.fall);
	if ((scan_ev = evtimer_new(m->base, scan_cb, m)) == NULL) {
		log_warnx("%s: evtimer_new failed", __func__);
		return -1;
	}
	scan_cb(-1, 0, m);
	return 0;
}

/* ---- the operator's side (master_backends.c) ---- */

static struct hb *
hb_get(struct master *m, uint32_t idx)
{
	(void)grow(m);
	return idx < nhb ? hb_fresh(m, idx) : NULL;
}

int
pool_info_get(struct master *m, uint32_t idx, struct pool_info *pi)
{
	struct hb	*hb;

	if ((hb = hb_get(m, idx)) == NULL)
		return -1;
	if (hb->published == BH_UP && atomic_load(&hb_bs(hb)->health) ==
	    BH_DOWN)
		pool_publish(hb);	/* show a passive down at once */
	pi->admin = hb->admin;
	pi->up = hb->up;
	pi->weight = hb->weight;
	pi->last_check = hb->last_check;
	pi->last_ok = hb->last_ok;
	pi->last_change = hb->last_change;
	snprintf(pi->last_error, sizeof(pi->last_error), "%s",
	    hb->last_error);
	return 0;
}

int
pool_set_admin(struct master *m, uint32_t idx, enum pool_admin admin)
{
	struct hb	*hb;
	uint32_t	 was;

	if ((hb = hb_get(m, idx)) == NULL)
		return -1;
	was = hb->published;
	if (hb->admin != admin) {
		log_info("%s: backend %s %s (operator)", __func__,
		    hb_bs(hb)->addr, pool_admin_name(admin));
		hb->admin = admin;
		hb->last_change = time(NULL);
	}
	pool_publish(hb);
	if (hb->published == BH_UP && was != BH_UP)
		announce_up(hb);	/* release held requests */
	return 0;
}

int
pool_set_weight(struct master *m, uint32_t idx, uint32_t weight)
{
	struct hb	*hb;

	if ((hb = hb_get(m, idx)) == NULL)
		return -1;
	if (hb->weight != weight)
		log_info("%s: backend %s weight %u%s (operator)", __func__,
		    hb_bs(hb)->addr, weight, weight == 0 ? " (rule's)" : "");
	hb->weight = weight;
	pool_publish(hb);
	return 0;
}

/* ---- state file ---- */

static void
save_one(struct json_object *o, const char *addr, enum pool_admin admin,
    uint32_t weight)
{
	struct json_object	*e;

	if (admin == POOL_ENABLED && weight == 0)
		return;
	e = json_object_new_object();
	json_object_object_add(e, "enabled",
	    json_object_new_boolean(admin != POOL_DISABLED));
	json_object_object_add(e, "drain",
	    json_object_new_boolean(admin == POOL_DRAINING));
	json_object_object_add(e, "weight", json_object_new_int64(weight));
	json_object_object_add(o, addr, e);
}

struct json_object *
pool_state_save(struct master *m)
{
	struct json_object	*o = json_object_new_object();
	struct hb		*hb;
	size_t			 i;

	for (i = 0; i < nhb; i++) {
		hb = hb_fresh(m, (uint32_t)i);
		if (hb_bs(hb)->addr[0] != '\0')	/* else freed */
			save_one(o, hb_bs(hb)->addr, hb->admin, hb->weight);
	}
	for (i = 0; i < npend; i++)
		save_one(o, pend[i].addr, pend[i].admin, pend[i].weight);
	return o;
}

static void
load_one(struct master *m, const char *addr, struct json_object *e)
{
	struct json_object	*v;
	struct pending		 p, *np;
	uint32_t		 idx;
	int64_t			 w;

	memset(&p, 0, sizeof(p));
	snprintf(p.addr, sizeof(p.addr), "%s", addr);
	if (json_object_object_get_ex(e, "enabled", &v) &&
	    !json_object_get_boolean(v))
		p.admin = POOL_DISABLED;
	else if (json_object_object_get_ex(e, "drain", &v) &&
	    json_object_get_boolean(v))
		p.admin = POOL_DRAINING;
	if (json_object_object_get_ex(e, "weight", &v) &&
	    (w = json_object_get_int64(v)) > 0 && w <= UINT32_MAX - 1)
		p.weight = (uint32_t)w;
	if (m->db != NULL && ruledb_backend_find(m->db, addr, &idx) != NULL &&
	    hb_get(m, idx) != NULL) {
		(void)pool_set_admin(m, idx, p.admin);
		(void)pool_set_weight(m, idx, p.weight);
		return;
	}
	if ((np = reallocarray(pend, npend + 1, sizeof(*np))) == NULL) {
		log_warn("%s: %s", __func__, addr);
		return;
	}
	pend = np;
	pend[npend++] = p;
}

void
pool_state_load(struct master *m, struct json_object *o)
{
	if (o == NULL || !json_object_is_type(o, json_type_object))
		return;
	json_object_object_foreach(o, addr, e) {
		if (json_object_is_type(e, json_type_object))
			load_one(m, addr, e);
	}
}

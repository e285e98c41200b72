/*
 * worker_spin.c: owns parked requests (the spin action). A parked request
 * has its head read and its body left unread; it waits in a per-host list
 * until the master says, through the worker's channel, that a rule which
 * may cover the host changed (no polling), then it is re-resolved and run
 * with whatever the rule is now. Spin's timeout answers the `timeout`
 * page (504); a client that goes away while parked is dropped at once
 * (conn_eventcb sees the EOF), so nothing reaches a backend.
 *
 * The master sends rule-change messages only while some worker has a
 * request parked (common/ruledb_int.h, 8): each park and unpark publishes
 * wh->nparked, and a park that finds the generation moved since its rule
 * lookup re-runs the parked requests itself on the next loop pass.
 *
 * hold_when_down parks a proxy request the same way (c->held) when no
 * backend is usable; besides a rule change, CH_BACKEND_UP releases every
 * held request to re-run the proxy decision (one with still no usable
 * backend parks again, keeping its deadline: rec->timeout_s, 504).
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "../common/log.h"
#include "../common/ruledb.h"
#include "worker.h"
#include "worker_http_int.h"

#define SPIN_BUCKETS	1024

struct spin_host {
	struct spin_host	*next;
	struct conn_list	 parked;
	unsigned		 n;
	char			 host[RULE_HOST_MAX + 8];
};

static uint32_t
hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

/* Lower case, no port, no trailing dot: the name rules are matched on. */
static void
host_key(const struct conn *c, char *buf, size_t len)
{
	const char	*h = c->head + c->req.host_off;
	size_t		 i, n = c->req.host_len;

	if (n > 0 && h[0] == '[') {
		for (i = 0; i < n && h[i] != ']'; i++)
			;
		n = i < n ? i + 1 : n;
	} else
		for (i = 0; i < n; i++)
			if (h[i] == ':') {
				n = i;
				break;
			}
	if (n > 0 && h[n - 1] == '.')
		n--;
	if (n >= len)
		n = len - 1;
	for (i = 0; i < n; i++)
		buf[i] = tolower((unsigned char)h[i]);
	buf[n] = '\0';
}

static struct spin_host **
bucket(struct worker_http *wh, const char *host)
{
	return &wh->spin_tab[hash_str(host) % wh->spin_buckets];
}

static struct spin_host *
spin_host_get(struct worker_http *wh, const char *host)
{
	struct spin_host **bp, *sh;

	if (wh->spin_tab == NULL) {
		wh->spin_tab = calloc(SPIN_BUCKETS, sizeof(*wh->spin_tab));
		if (wh->spin_tab == NULL)
			return NULL;
		wh->spin_buckets = SPIN_BUCKETS;
	}
	bp = bucket(wh, host);
	for (sh = *bp; sh != NULL; sh = sh->next)
		if (strcmp(sh->host, host) == 0)
			return sh;
	if ((sh = calloc(1, sizeof(*sh))) == NULL)
		return NULL;
	snprintf(sh->host, sizeof(sh->host), "%s", host);
	TAILQ_INIT(&sh->parked);
	sh->next = *bp;
	*bp = sh;
	return sh;
}

static void
recheck_cb(evutil_socket_t fd, short what, void *arg)
{
	spin_release_all(arg);
}

/*
 * Publish wh->nparked. After a park (c != NULL): if a mutation came after
 * c's rule lookup, the master may not have seen the count in time to send
 * its message, so release everything parked at the end of this pass.
 */
static void
publish_parked(struct worker_http *wh, const struct conn *c)
{
	uint64_t gen = ruledb_publish_parked(wh->w->db, wh->nparked);

	if (c == NULL || gen == c->rules_gen)
		return;
	if (wh->spin_recheck == NULL)
		wh->spin_recheck = event_new(wh->w->base, -1, 0, recheck_cb,
		    wh);
	if (wh->spin_recheck == NULL)
		log_warnx("%s: event_new failed", __func__);
	else
		event_active(wh->spin_recheck, EV_TIMEOUT, 1);
}

void
spin_park(struct conn *c, const struct rule_rec *rec)
{
	struct worker_http	*wh = c->wh;
	struct spin_host	*sh;
	char			 host[RULE_HOST_MAX + 8];
	uint64_t		 now = now_ms(), left;
	struct timeval		 tv;

	host_key(c, host, sizeof(host));
	if ((sh = spin_host_get(wh, host)) == NULL ||
	    (wh->cfg->spin_max && sh->n >= wh->cfg->spin_max)) {
		conn_respond_error(c, 503);
		return;
	}
	if (c->spin_deadline_ms == 0)
		c->spin_deadline_ms = now + (uint64_t)(rec->timeout_s ?
		    rec->timeout_s : 120) * 1000;
	c->state = CS_PARKED;
	c->spin = sh;
	TAILQ_INSERT_TAIL(&sh->parked, c, spin_link);
	sh->n++;
	wh->nparked++;
	left = c->spin_deadline_ms > now ? c->spin_deadline_ms - now : 0;
	tv.tv_sec = left / 1000;
	tv.tv_usec = (left % 1000) * 1000;
	evtimer_add(c->timer, &tv);
	publish_parked(wh, c);
}

/* hold_when_down: no usable backend; wait for one like spin does. */
void
spin_hold(struct conn *c, const struct rule_rec *rec)
{
	c->held = true;
	spin_park(c, rec);
}

void
spin_unpark(struct conn *c)
{
	struct spin_host	*sh = c->spin, **bp;

	c->held = false;
	if (sh == NULL)
		return;
	TAILQ_REMOVE(&sh->parked, c, spin_link);
	c->spin = NULL;
	c->wh->nparked--;
	publish_parked(c->wh, NULL);
	evtimer_del(c->timer);
	if (--sh->n > 0)
		return;
	for (bp = bucket(c->wh, sh->host); *bp != NULL; bp = &(*bp)->next)
		if (*bp == sh) {
			*bp = sh->next;
			break;
		}
	free(sh);
}

/* Does a change of key (maybe "https://host") concern parked host h? */
static bool
covers(const char *key, const char *h)
{
	size_t	kl, hl = strlen(h);

	if (strncmp(key, "https://", 8) == 0)
		key += 8;
	else if (strncmp(key, "http://", 7) == 0)
		key += 7;
	kl = strlen(key);
	if (kl == 0)
		return true;
	if (hl == kl)
		return strcasecmp(h, key) == 0;
	return hl > kl && h[hl - kl - 1] == '.' &&
	    strcasecmp(h + hl - kl, key) == 0;
}

/* Re-run every request parked for sh (a snapshot: some may park again). */
static void
release(struct spin_host *sh)
{
	struct conn	**v, *c;
	unsigned	  i, n = sh->n;

	if ((v = calloc(n, sizeof(*v))) == NULL)
		return;
	i = 0;
	TAILQ_FOREACH(c, &sh->parked, spin_link)
		v[i++] = c;
	for (i = 0; i < n; i++) {
		spin_unpark(v[i]);	/* may free sh */
		v[i]->state = CS_HEAD;
		conn_dispatch(v[i]);
	}
	free(v);
}

static void
release_matching(struct worker_http *wh, const char *key)
{
	struct spin_host	*sh, *next, **todo;
	size_t			 i, n = 0, cap = 16;

	if (wh->nparked == 0 || (todo = calloc(cap, sizeof(*todo))) == NULL)
		return;
	for (i = 0; i < wh->spin_buckets; i++)
		for (sh = wh->spin_tab[i]; sh != NULL; sh = next) {
			next = sh->next;
			if (key != NULL && !covers(key, sh->host))
				continue;
			if (n == cap) {
				struct spin_host **nt = reallocarray(todo,
				    cap * 2, sizeof(*todo));
				if (nt == NULL)
					break;
				todo = nt;
				cap *= 2;
			}
			todo[n++] = sh;
		}
	/* NB: release() may free a spin_host only after its own list. */
	for (i = 0; i < n; i++)
		release(todo[i]);
	free(todo);
}

void
spin_rule_changed(struct worker_http *wh, const char *key)
{
	release_matching(wh, key);
}

void
spin_release_all(struct worker_http *wh)
{
	release_matching(wh, NULL);
}

/* The parked requests (held ones only if held_only), as an array. */
static struct conn **
parked_snapshot(struct worker_http *wh, bool held_only, size_t *np)
{
	struct spin_host	*sh;
	struct conn		*c, **v;
	size_t			 i, n = 0;

	if ((v = calloc(wh->nparked, sizeof(*v))) == NULL)
		return NULL;
	for (i = 0; i < wh->spin_buckets; i++)
		for (sh = wh->spin_tab[i]; sh != NULL; sh = sh->next)
			TAILQ_FOREACH(c, &sh->parked, spin_link)
				if ((c->held || !held_only) && n < wh->nparked)
					v[n++] = c;
	*np = n;
	return v;
}

/*
 * A backend became usable: re-run the proxy decision of every held
 * request. NB: the index is not matched against the rules (that needs
 * the rule, which dispatch resolves anyway); a request whose rule still
 * has no usable backend parks again, in O(1).
 */
void
spin_backend_up(struct worker_http *wh, uint32_t backend_idx)
{
	struct conn	**v;
	size_t		  i, n;

	if (wh->nparked == 0 || (v = parked_snapshot(wh, true, &n)) == NULL)
		return;
	log_debug("%s: backend %u: releasing %zu held requests", __func__,
	    backend_idx, n);
	for (i = 0; i < n; i++) {
		spin_unpark(v[i]);
		v[i]->state = CS_HEAD;
		conn_dispatch(v[i]);
	}
	free(v);
}

/*
 * A draining worker at drain_timeout: answer every parked request as its
 * own timeout would (the timeout page, 504, and close) rather than cut
 * it with the connection. Returns how many were answered.
 */
size_t
spin_timeout_all(struct worker_http *wh)
{
	struct conn	**v;
	size_t		  i, n;

	if (wh->nparked == 0 || (v = parked_snapshot(wh, false, &n)) == NULL)
		return 0;
	for (i = 0; i < n; i++) {
		spin_unpark(v[i]);
		v[i]->keepalive = false;
		static_builtin(v[i], "timeout", 504);
	}
	free(v);
	return n;
}

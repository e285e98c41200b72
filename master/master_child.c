/*
 * master_child.c: the worker processes: fork with their heritage, reap,
 * respawn (at once the first time, with back-off when one keeps dying),
 * replace a whole generation on HUP, and notify them of rule changes.
 *
 * The workers[] array has 2 * nworkers slots: one generation serving and
 * room for the next one while the old drains after HUP. A slot's index
 * is also its rule-database reader slot.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "../common/log.h"
#include "../common/ruledb.h"
#include "../worker/worker.h"
#include "master.h"
#include "master_state.h"

#define RESPAWN_MIN_MS	0
#define RESPAWN_MAX_MS	10000
#define CRASH_WINDOW	5.0	/* a death within this of start counts */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* In the child: close every descriptor the heritage does not list. */
static void
close_foreign_fds(const struct heritage *her, int keep_log)
{
	int maxfd = (int)sysconf(_SC_OPEN_MAX), fd;
	size_t i;

	if (maxfd < 0 || maxfd > 1 << 20)
		maxfd = 1 << 20;
	for (fd = 3; fd < maxfd; fd++) {
		int keep = fd == her->shm_fd || fd == her->channel_fd ||
		    fd == her->static_dirfd || fd == keep_log;
		for (i = 0; i < her->nlisteners && !keep; i++)
			keep = fd == her->listeners[i].fd;
		if (!keep)
			(void)close(fd);
		if (fd > 4096 && fd > her->channel_fd + 4096)
			break;	/* NB: fds are dense; a huge gap is all closed */
	}
}

static int
spawn(struct master *m, struct master_worker *mw)
{
	struct heritage her;
	sigset_t all, old;
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("%s: socketpair", __func__);
		return -1;
	}
	memset(&her, 0, sizeof(her));
	her.cfg = &m->cfg;
	master_worker_listeners(m, mw->index, &her);
	her.shm_fd = ruledb_fd(m->db);
	her.channel_fd = sv[1];
	her.master_pid = getpid();
	her.worker_id = mw->slot;
	her.static_dirfd = m->static_dirfd;

	/*
	 * Fork with every signal blocked: until the worker has its own
	 * handlers, a signal sent to it would run the master's libevent
	 * handler and write into the master's signal socket. The worker
	 * unblocks once its handlers are in place (worker_main). And with
	 * the master's other threads held still (master_state_fork_prepare):
	 * a lock one of them held would stay locked in the worker for good.
	 */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	master_state_fork_prepare();
	pid = fork();
	if (pid != 0) {
		master_state_fork_done();
		sigprocmask(SIG_SETMASK, &old, NULL);
	}
	if (pid == -1) {
		log_warn("%s: fork", __func__);
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		/*
		 * The master's loop and signal handlers are not the worker's.
		 * NB: the epoll instance is shared across fork: reinit gives
		 * the child its own before the free unregisters anything,
		 * or the free would strip the master's own registrations.
		 */
		if (event_reinit(m->base) == 0)
			event_base_free(m->base);
		close(sv[0]);
		close_foreign_fds(&her, log_fd_get());
		worker_main(&her);
	}
	close(sv[1]);
	mw->pid = pid;
	mw->channel_fd = sv[0];
	mw->last_start = now_s();
	log_debug("%s: worker %u (slot %u) is pid %d", __func__, mw->index,
	    mw->slot, (int)pid);
	return 0;
}

static void
respawn_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct master_worker *mw = arg;
	struct master *m = master_self;

	if (m->stopping || mw->pid != 0)
		return;
	if (spawn(m, mw) == -1)
		event_add(mw->respawn_ev, &(struct timeval){ 1, 0 });
}

int
master_children_start(struct master *m)
{
	unsigned i;

	m->workers = calloc(2 * m->nworkers, sizeof(*m->workers));
	if (m->workers == NULL)
		return -1;
	for (i = 0; i < 2 * m->nworkers; i++) {
		m->workers[i].slot = i;
		m->workers[i].index = i % m->nworkers;
		m->workers[i].channel_fd = -1;
		m->workers[i].respawn_ev = evtimer_new(m->base, respawn_cb,
		    &m->workers[i]);
	}
	for (i = 0; i < m->nworkers; i++)
		if (spawn(m, &m->workers[i]) == -1)
			return -1;
	return 0;
}

static struct master_worker *
find_worker(struct master *m, pid_t pid)
{
	unsigned i;

	for (i = 0; i < 2 * m->nworkers; i++)
		if (m->workers[i].pid == pid)
			return &m->workers[i];
	return NULL;
}

static void
describe_status(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
		    strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "status 0x%x", status);
}

/* Back-off: 0 ms for an isolated death, doubling while deaths repeat. */
static unsigned
respawn_delay_ms(struct master_worker *mw, double now)
{
	unsigned ms;

	if (now - mw->last_start > CRASH_WINDOW)
		mw->deaths = 0;
	mw->deaths++;
	if (mw->deaths <= 1)
		return RESPAWN_MIN_MS;
	ms = 100u << (mw->deaths > 8 ? 7 : mw->deaths - 2);
	return ms > RESPAWN_MAX_MS ? RESPAWN_MAX_MS : ms;
}

static void
worker_gone(struct master *m, struct master_worker *mw, int status)
{
	char how[96];
	unsigned ms;
	bool expected = m->stopping || mw->retiring;

	describe_status(status, how, sizeof(how));
	ruledb_reader_clear(m->db, mw->slot);
	close(mw->channel_fd);
	mw->channel_fd = -1;
	mw->pid = 0;
	if (expected) {
		log_info("worker %u (slot %u) %s", mw->index, mw->slot, how);
		mw->retiring = false;
		return;
	}
	ms = respawn_delay_ms(mw, now_s());
	log_warnx("worker %u %s; respawning in %u ms", mw->index, how, ms);
	event_add(mw->respawn_ev, &(struct timeval){ ms / 1000,
	    (ms % 1000) * 1000 });
}

void
master_children_reap(struct master *m)
{
	struct master_worker *mw;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if ((mw = find_worker(m, pid)) != NULL)
			worker_gone(m, mw, status);
	}
}

static unsigned
running(const struct master *m)
{
	unsigned i, n = 0;

	for (i = 0; i < 2 * m->nworkers; i++)
		n += m->workers[i].pid != 0;
	return n;
}

void
master_children_signal(struct master *m, int sig)
{
	unsigned i;

	for (i = 0; i < 2 * m->nworkers; i++)
		if (m->workers[i].pid != 0)
			(void)kill(m->workers[i].pid, sig);
}

/*
 * Stop every worker: TERM (graceful: stop accepting, drain) or KILL, then
 * wait until all are reaped or drain_timeout (+1 s) passes, then KILL.
 * NB: blocks the master's loop; only used on the way out.
 */
void
master_children_stop(struct master *m, bool graceful)
{
	double deadline = now_s() + m->cfg.drain_timeout + 1;
	unsigned i;

	m->stopping = true;
	for (i = 0; i < 2 * m->nworkers; i++)
		event_del(m->workers[i].respawn_ev);
	master_children_signal(m, graceful ? SIGTERM : SIGKILL);
	while (running(m) > 0) {
		if (now_s() > deadline) {
			log_warnx("%s: workers still draining after %u s, "
			    "killing them", __func__, m->cfg.drain_timeout);
			master_children_signal(m, SIGKILL);
			deadline = now_s() + 5;
		}
		usleep(10000);
		master_children_reap(m);
	}
}

/*
 * HUP: start a new generation in the free slots, then ask the old one
 * to drain. Both accept on the same sockets meanwhile, so no connection
 * is refused; the old workers stop accepting as soon as they get TERM.
 */
void
master_children_replace(struct master *m)
{
	unsigned i, base_old = 0, base_new;

	for (i = 0; i < 2 * m->nworkers; i++)
		if (m->workers[i].pid != 0 && !m->workers[i].retiring) {
			base_old = i - i % m->nworkers;
			break;
		}
	base_new = base_old == 0 ? m->nworkers : 0;
	for (i = 0; i < m->nworkers; i++) {
		struct master_worker *nw = &m->workers[base_new + i];
		if (nw->pid != 0) {
			log_warnx("%s: previous generation still draining; "
			    "reload postponed", __func__);
			return;
		}
	}
	for (i = 0; i < m->nworkers; i++) {
		struct master_worker *ow = &m->workers[base_old + i];
		event_del(ow->respawn_ev);
		if (spawn(m, &m->workers[base_new + i]) == -1)
			log_warnx("%s: could not start new worker %u", __func__, i);
	}
	for (i = 0; i < m->nworkers; i++) {
		struct master_worker *ow = &m->workers[base_old + i];
		if (ow->pid != 0) {
			ow->retiring = true;
			(void)kill(ow->pid, SIGTERM);
		}
	}
}

/*
 * A worker whose channel is full misses notifications; it must not miss
 * the fact, or a parked spin request could wait for its timeout. So a
 * failed send marks the worker, and a 10 ms timer retries one CH_RESYNC
 * (re-check everything) until it goes through.
 */
static struct event *resync_ev;

static void
send_or_mark(struct master_worker *mw, const struct channel_msg *msg)
{
	static const struct channel_msg resync = { .type = CH_RESYNC };

	if (mw->need_resync) {
		if (channel_send(mw->channel_fd, &resync) == -1)
			return;
		mw->need_resync = false;
	}
	if (channel_send(mw->channel_fd, msg) == -1) {
		if (errno != EAGAIN)
			log_warn("%s: worker %u channel", __func__, mw->index);
		mw->need_resync = true;
	}
}

static void
resync_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct master *m = arg;
	struct channel_msg msg = { .type = CH_RESYNC };
	unsigned i, pending = 0;

	for (i = 0; i < 2 * m->nworkers; i++) {
		struct master_worker *mw = &m->workers[i];
		if (mw->pid == 0 || mw->channel_fd == -1 || !mw->need_resync)
			continue;
		if (channel_send(mw->channel_fd, &msg) == 0)
			mw->need_resync = false;
		else
			pending++;
	}
	if (pending)
		event_add(resync_ev, &(struct timeval){ 0, 10000 });
}

void
master_notify_msg(struct master *m, const struct channel_msg *msg)
{
	unsigned i, pending = 0;

	for (i = 0; i < 2 * m->nworkers; i++) {
		struct master_worker *mw = &m->workers[i];
		if (mw->pid == 0 || mw->channel_fd == -1)
			continue;
		send_or_mark(mw, msg);
		pending += mw->need_resync;
	}
	if (pending) {
		if (resync_ev == NULL)
			resync_ev = evtimer_new(m->base, resync_cb, m);
		if (!evtimer_pending(resync_ev, NULL))
			event_add(resync_ev, &(struct timeval){ 0, 10000 });
	}
}

void
master_notify(struct master *m, const char *key)
{
	struct channel_msg msg;

	memset(&msg, 0, sizeof(msg));
	msg.type = CH_RULE_CHANGED;
	msg.generation = ruledb_generation(m->db);
	snprintf(msg.key, sizeof(msg.key), "%s", key);
	master_notify_msg(m, &msg);
}

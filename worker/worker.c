/*
 * worker.c: a worker process's life: take the heritage, attach the rule
 * database read-only, run the event loop with a quiescent point on every
 * pass, listen to the master's channel, drain and exit on TERM or when
 * the master goes away. The HTTP itself lives in worker_http*.c.
 *
 * QSBR: before blocking in epoll the worker declares itself quiescent
 * and offline (it holds no record pointer between callbacks); the rule
 * database brings it back online inside ruledb_resolve() before the
 * first read of a pass, so reclamation never waits for an idle worker.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <event2/event.h>

#include "../common/log.h"
#include "../common/ruledb.h"
#include "worker.h"

#define DRAIN_CHECK_MS	20

static struct worker	 worker;
static struct event	*drain_ev;
static double		 drain_deadline;

static double
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Leave without running atexit handlers: the worker owns nothing a
 * handler would flush (logs are written with write(2)), and the master's
 * handlers and threads are not the worker's: a fork of a threaded master
 * may have copied a lock (a sanitizer's allocator, say) held by a thread
 * that does not exist here.
 */
static void __attribute__((noreturn))
worker_exit(void)
{
	_exit(0);
}

static void
drain_check(evutil_socket_t fd, short ev, void *arg)
{
	static bool parked_answered;
	struct worker *w = arg;
	unsigned active = worker_http_active(w);
	size_t n;

	if (active == 0) {
		log_debug("%s: drained, exiting", __func__);
		worker_exit();
	}
	if (mono_now() > drain_deadline) {
		/*
		 * Parked requests get their timeout page, and half a second
		 * to write it (the master kills at drain_timeout + 1 s).
		 */
		if (!parked_answered) {
			parked_answered = true;
			if ((n = worker_http_timeout_parked(w)) > 0) {
				log_info("%s: drain_timeout: %zu parked requests "
				    "answered (504)", __func__, n);
				drain_deadline = mono_now() + 0.5;
				event_add(drain_ev, &(struct timeval){ 0,
				    DRAIN_CHECK_MS * 1000 });
				return;
			}
		}
		log_warnx("%s: %u connections still open after drain_timeout, "
		    "closing them", __func__, active);
		worker_exit();
	}
	worker_http_close_idle(w);
	event_add(drain_ev, &(struct timeval){ 0, DRAIN_CHECK_MS * 1000 });
}

static void
worker_drain(struct worker *w, const char *why)
{
	if (w->draining)
		return;
	w->draining = true;
	log_info("%s: %s, draining", __func__, why);
	worker_http_stop_accepting(w);
	worker_http_close_idle(w);
	drain_deadline = mono_now() + w->cfg->drain_timeout;
	drain_ev = evtimer_new(w->base, drain_check, w);
	drain_check(-1, 0, w);
}

static void
signal_cb(evutil_socket_t sig, short ev, void *arg)
{
	struct worker *w = arg;

	switch (sig) {
	case SIGTERM:
	case SIGINT:
		worker_drain(w, "stop requested");
		break;
	case SIGUSR1:
		if (log_reopen() == -1)
			log_warn("%s: reopen log", __func__);
		worker_http_reopen_logs(w);
		break;
	}
}

static void
channel_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct worker *w = arg;
	struct channel_msg msg;
	int rc;

	while ((rc = channel_recv(fd, &msg)) == 1)
		worker_http_channel(w, &msg);
	if (rc == 0 || (rc == -1 && errno != EAGAIN)) {
		event_del(event_base_get_running_event(w->base));
		worker_drain(w, "master went away");
	}
}

static void
add_signal(struct worker *w, int sig)
{
	struct event *ev = evsignal_new(w->base, sig, signal_cb, w);

	if (ev == NULL || event_add(ev, NULL) == -1)
		fatalx("%s: signal %d", __func__, sig);
}

/* Undo what the master set up for itself; die with the master. */
static void
worker_setup_process(const struct heritage *her)
{
	char name[32];

	snprintf(name, sizeof(name), "worker %u", her->worker_id);
	log_setproc(name);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1)
		log_warn("%s: prctl", __func__);
	if (getppid() != her->master_pid)
		fatalx("%s: master exited during start-up", __func__);
	prctl(PR_SET_NAME, "mantrid-worker");
}

void
worker_main(const struct heritage *her)
{
	struct worker *w = &worker;
	struct event_config *ecfg;
	struct event *chev;
	sigset_t all;
	char err[256];

	worker_setup_process(her);
	w->her = her;
	w->cfg = her->cfg;
	w->db = ruledb_attach(her->shm_fd, her->worker_id, err, sizeof(err));
	if (w->db == NULL)
		fatalx("%s: rule database: %s", __func__, err);

	if ((ecfg = event_config_new()) == NULL)
		fatalx("%s: event_config_new", __func__);
	event_config_set_flag(ecfg, EVENT_BASE_FLAG_NOLOCK);
	w->base = event_base_new_with_config(ecfg);
	event_config_free(ecfg);
	if (w->base == NULL)
		fatalx("%s: event_base_new", __func__);

	add_signal(w, SIGTERM);
	add_signal(w, SIGINT);
	add_signal(w, SIGUSR1);
	/* The master forked us with every signal blocked (spawn): a signal
	 * that came before our handlers existed is pending, not lost. */
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	chev = event_new(w->base, her->channel_fd, EV_READ | EV_PERSIST,
	    channel_cb, w);
	if (chev == NULL || event_add(chev, NULL) == -1)
		fatalx("%s: channel event", __func__);
	if (worker_http_start(w) == -1)
		fatalx("%s: cannot start serving", __func__);
	log_debug("%s: serving on %zu listeners", __func__, her->nlisteners);

	for (;;) {
		/* No record pointer survives a pass (worker_http contract). */
		ruledb_quiescent(w->db);
		ruledb_offline(w->db);
		if (event_base_loop(w->base, EVLOOP_ONCE) == -1)
			fatalx("%s: event loop failed", __func__);
	}
}

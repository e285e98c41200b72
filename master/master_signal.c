/*
 * master_signal.c: the master's event loop and its signals: CHLD reaps
 * and respawns, TERM/INT stop gracefully (stop accepting, drain, save,
 * exit 0), HUP re-reads the configuration and replaces the workers, USR1
 * reopens the log files.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "../common/conf.h"
#include "../common/log.h"
#include "../common/ruledb.h"
#include "master.h"

/*
 * What HUP can change without new sockets, a new segment or root: every
 * option but these, which keep their running values (with a warning).
 */
static void
keep_restart_only(const struct config *old, struct config *nc)
{
	int changed = nc->nbinds != old->nbinds ||
	    memcmp(nc->binds, old->binds, sizeof(old->binds)) != 0 ||
	    nc->workers != old->workers || nc->shm_size != old->shm_size ||
	    strcmp(nc->state_file, old->state_file) != 0 ||
	    strcmp(nc->control_socket, old->control_socket) != 0 ||
	    strcmp(nc->chroot_dir, old->chroot_dir) != 0 ||
	    strcmp(nc->static_dir, old->static_dir) != 0 ||
	    nc->uid != old->uid || nc->gid != old->gid;

	if (changed)
		log_warnx("reload: bind*, workers, shm_size, state_file, "
		    "control_socket, chroot_dir, static_dir, user and group "
		    "take effect only at restart; keeping the running ones");
	memcpy(nc->binds, old->binds, sizeof(old->binds));
	nc->nbinds = old->nbinds;
	nc->workers = old->workers;
	nc->shm_size = old->shm_size;
	memcpy(nc->state_file, old->state_file, sizeof(old->state_file));
	memcpy(nc->control_socket, old->control_socket,
	    sizeof(old->control_socket));
	memcpy(nc->chroot_dir, old->chroot_dir, sizeof(old->chroot_dir));
	memcpy(nc->static_dir, old->static_dir, sizeof(old->static_dir));
	nc->uid = old->uid;
	nc->gid = old->gid;
	nc->have_user = old->have_user;
	nc->have_group = old->have_group;
	/* command-line choices stay */
	nc->daemonize = old->daemonize;
	memcpy(nc->pidfile, old->pidfile, sizeof(old->pidfile));
	memcpy(nc->logfile, old->logfile, sizeof(old->logfile));
}

void
master_reload(struct master *m)
{
	struct config nc;
	char err[1024];
	enum config_err rc = CONFIG_OK;

	config_defaults(&nc);
	if (m->cfg.path[0] != '\0')
		rc = config_load(&nc, m->cfg.path, err, sizeof(err));
	if (rc == CONFIG_OK) {
		config_finish(&nc);
		if (master_rest_check_config(&nc, err, sizeof(err)) == -1)
			rc = CONFIG_EINVAL;
	}
	if (rc != CONFIG_OK) {
		log_warnx("reload refused, running configuration kept: %s", err);
		return;
	}
	keep_restart_only(&m->cfg, &nc);
	m->cfg = nc;
	log_setlevel(m->cfg.loglevel);
	log_info("reloaded %s; replacing workers", m->cfg.path[0] ?
	    m->cfg.path : "(built-in defaults)");
	master_children_replace(m);
}

void
master_stop(struct master *m, int graceful)
{
	if (m->stopping)
		return;
	log_info("stopping%s", graceful ? " (draining)" : "");
	master_ctl_stop(m);
	master_children_stop(m, graceful);
	if (master_state_flush(m) == -1)
		log_warnx("%s: state flush failed", __func__);
	event_base_loopbreak(m->base);
}

static void
signal_cb(evutil_socket_t sig, short ev, void *arg)
{
	struct master *m = arg;

	switch (sig) {
	case SIGCHLD:
		master_children_reap(m);
		break;
	case SIGTERM:
	case SIGINT:
		master_stop(m, 1);
		break;
	case SIGHUP:
		master_reload(m);
		break;
	case SIGUSR1:
		if (log_reopen() == -1)
			log_warn("%s: reopen log", __func__);
		master_children_signal(m, SIGUSR1);
		break;
	}
}

int
master_run(struct master *m, void (*ready)(void))
{
	static const int sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	struct event *ev;
	size_t i;

	signal(SIGPIPE, SIG_IGN);
	if ((m->base = event_base_new()) == NULL)
		fatalx("%s: event_base_new", __func__);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		ev = evsignal_new(m->base, sigs[i], signal_cb, m);
		if (ev == NULL || event_add(ev, NULL) == -1)
			fatalx("%s: signal %d", __func__, sigs[i]);
	}
	if (master_ctl_start(m) == -1)
		fatalx("cannot start the control plane");
	if (master_health_start(m) == -1)
		fatalx("cannot start health checks");
	/*
	 * Detach from the terminal before the workers fork, so they do not
	 * hold its descriptors; every socket is bound already, so clients
	 * queue until the workers accept.
	 */
	ready();
	if (master_children_start(m) == -1)
		fatalx("cannot start the workers");
	log_info("serving with %u workers", m->nworkers);
	event_base_dispatch(m->base);
	if (m->pidfile_fd != -1 && unlink(m->cfg.pidfile) == -1)
		log_debug("%s: unlink %s failed", __func__, m->cfg.pidfile);
	log_info("stopped");
	return 0;
}

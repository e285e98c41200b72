/*
 * master.h: the master process's shared state and the entry points of its
 * parts (start-up, children, control plane, state, health). Everything
 * here runs only in the master.
 */
#ifndef MANTRID_MASTER_H
#define MANTRID_MASTER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "../common/config-t.h"
#include "../common/heritage.h"
#include "../common/channel.h"

struct event;
struct event_base;
struct ruledb;

struct master_worker {
	pid_t		pid;		/* 0 = not running */
	unsigned	index;		/* which listeners (0..nworkers) */
	unsigned	slot;		/* ruledb reader slot */
	bool		retiring;	/* old generation, draining */
	bool		need_resync;	/* a notification was dropped */
	int		channel_fd;	/* master end */
	unsigned	deaths;		/* recent, for back-off */
	double		last_death;
	double		last_start;
	struct event	*respawn_ev;
};

struct master {
	struct config		 cfg;
	struct event_base	*base;
	struct ruledb		*db;
	double			 started;	/* unix time */

	/* bound before the privilege drop */
	int			*public_fds;	/* nworkers * npublic */
	size_t			 npublic;	/* public+internal binds */
	int			 mgmt_fds[CONFIG_MAX_BINDS];
	size_t			 nmgmt;
	int			 ctl_fd;	/* control socket, -1 none */

	int			 state_dirfd;	/* dir of state_file, -1 */
	int			 static_dirfd;	/* static_dir, -1 */

	struct master_worker	*workers;	/* 2 * nworkers slots */
	unsigned		 nworkers;	/* per generation */
	uid_t			 run_uid;	/* after the drop */
	gid_t			 run_gid;
	int			 pidfile_fd;
	bool			 stopping;
};

extern struct master *master_self;	/* set once in master_main */

/* master.c */
int	master_main(int argc, char *argv[]);
/* master_signal.c: the event loop; ready() runs once serving. */
int	master_run(struct master *, void (*ready)(void));
/* A mutation arrived: re-run start-up checks that depend on config. */
void	master_reload(struct master *);
void	master_stop(struct master *, int graceful);

/* master_bind.c: all listeners, while still privileged */
int	master_bind(struct master *, char *err, size_t errlen);
void	master_worker_listeners(const struct master *, unsigned w,
	    struct heritage *);

/* master_child.c */
int	master_children_start(struct master *);
void	master_children_reap(struct master *);
/* Graceful stop of every worker; returns when all exited or timeout. */
void	master_children_stop(struct master *, bool graceful);
/* HUP: a new generation of workers, then the old one drains. */
void	master_children_replace(struct master *);
void	master_children_signal(struct master *, int sig);

/* Tell every worker that key's rule changed (spin release etc.). */
void	master_notify(struct master *, const char *key);
void	master_notify_msg(struct master *, const struct channel_msg *);

/* master_ctl.c (control socket + REST + command dispatch) */
int	master_ctl_bind(struct master *);	/* before the drop */
int	master_ctl_start(struct master *);
void	master_ctl_stop(struct master *);

/* master_rest.c: refuse a non-loopback bind_management without token. */
int	master_rest_check_config(const struct config *, char *err, size_t);

/* master_state.c: load before fork; durable journal of mutations. */
int	master_state_load(struct master *);
int	master_state_flush(struct master *);	/* on graceful stop */

/* master_health.c (issue 5) */
int	master_health_start(struct master *);

#endif

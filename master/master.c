/*
 * master.c: the master's start-up, in the order DESIGN.md fixes: read the
 * configuration, bind every listener and the control socket, raise the
 * descriptor limit, create the rule database and load the state, open the
 * state and static directories, chroot and drop privileges for good, fork
 * the workers; then run the control plane's event loop.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "../common/conf.h"
#include "../common/log.h"
#include "../common/ruledb.h"
#include "master.h"
#include "master_priv.h"

struct master	*master_self;
static struct master master_storage;

struct cmdline {
	const char	*config;
	int		 test;
	int		 daemonize;
	int		 foreground;
	const char	*pidfile;
	const char	*logfile;
	int		 loglevel;	/* -1 = from config */
	int		 debug;
};

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: mantrid [-c FILE] [-t] [--daemonize | --foreground]\n"
	    "               [--pidfile FILE]\n"
	    "               [--logfile FILE] [--loglevel N] [--debug]\n"
	    "               [--help] [--version]\n"
	    "  -c, --config FILE   configuration file (default %s)\n"
	    "  -t, --test-config   check the configuration and exit\n"
	    "  --daemonize         detach and run in the background\n"
	    "  --foreground        stay in the foreground (overrides daemonize)\n"
	    "  --pidfile FILE      write the master's pid to FILE\n"
	    "  --logfile FILE      log to FILE (\"-\" stderr, \"syslog\")\n"
	    "  --loglevel N        0 error, 1 warn, 2 info, 3 debug\n"
	    "  --debug             loglevel 3, stay in the foreground\n",
	    CONFIG_DEFAULT_FILE);
}

static void
parse_cmdline(int argc, char *argv[], struct cmdline *cl)
{
	enum { O_DAEMONIZE = 256, O_FOREGROUND, O_PIDFILE, O_LOGFILE, O_LOGLEVEL, O_DEBUG,
	    O_VERSION };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "test-config", no_argument, NULL, 't' },
		{ "daemonize", no_argument, NULL, O_DAEMONIZE },
		{ "foreground", no_argument, NULL, O_FOREGROUND },
		{ "pidfile", required_argument, NULL, O_PIDFILE },
		{ "logfile", required_argument, NULL, O_LOGFILE },
		{ "loglevel", required_argument, NULL, O_LOGLEVEL },
		{ "debug", no_argument, NULL, O_DEBUG },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 }
	};
	char *end;
	int ch;

	memset(cl, 0, sizeof(*cl));
	cl->loglevel = -1;
	while ((ch = getopt_long(argc, argv, "c:th", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': cl->config = optarg; break;
		case 't': cl->test = 1; break;
		case O_DAEMONIZE: cl->daemonize = 1; break;
		case O_FOREGROUND: cl->foreground = 1; break;
		case O_PIDFILE: cl->pidfile = optarg; break;
		case O_LOGFILE: cl->logfile = optarg; break;
		case O_LOGLEVEL:
			cl->loglevel = (int)strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' ||
			    cl->loglevel < 0 || cl->loglevel > 3) {
				fprintf(stderr, "mantrid: --loglevel: \"%s\" "
				    "is not 0-3\n", optarg);
				exit(1);
			}
			break;
		case O_DEBUG: cl->debug = 1; break;
		case 'h': usage(stdout); exit(0);
		case O_VERSION: printf("mantrid %s\n", PACKAGE_VERSION); exit(0);
		default: usage(stderr); exit(1);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "mantrid: unexpected argument \"%s\"\n",
		    argv[optind]);
		usage(stderr);
		exit(1);
	}
}

/* Returns 0, or -1 with err; *defaults set when no file was found. */
static int
load_config(struct config *cfg, const char *path, int *defaults,
    char *err, size_t errlen)
{
	enum config_err rc;

	config_defaults(cfg);
	*defaults = 0;
	rc = config_load(cfg, path ? path : CONFIG_DEFAULT_FILE, err, errlen);
	if (rc == CONFIG_ENOENT && path == NULL) {
		*defaults = 1;
		cfg->path[0] = '\0';
		rc = CONFIG_OK;
	}
	if (rc != CONFIG_OK)
		return -1;
	config_finish(cfg);
	return master_rest_check_config(cfg, err, errlen);
}

static void
apply_cmdline(struct config *cfg, const struct cmdline *cl)
{
	if (cl->daemonize)
		cfg->daemonize = true;
	if (cl->pidfile)
		snprintf(cfg->pidfile, sizeof(cfg->pidfile), "%s", cl->pidfile);
	if (cl->logfile)
		snprintf(cfg->logfile, sizeof(cfg->logfile), "%s", cl->logfile);
	if (cl->loglevel >= 0)
		cfg->loglevel = cl->loglevel;
	if (cl->foreground)
		cfg->daemonize = false;
	if (cl->debug) {
		cfg->loglevel = LOG_LVL_DEBUG;
		cfg->daemonize = false;
	}
}

/*
 * Fork into the background but keep stderr until start-up is done, so a
 * bind error still reaches the terminal and the exit status; the parent
 * waits on a pipe for one byte ("ready") or EOF (failed).
 */
static int ready_fd = -1;

static void
daemonize_begin(void)
{
	int p[2];
	char c;
	pid_t pid;

	if (pipe(p) == -1)
		fatal("%s: pipe", __func__);
	if ((pid = fork()) == -1)
		fatal("%s: fork", __func__);
	if (pid > 0) {
		close(p[1]);
		exit(read(p[0], &c, 1) == 1 ? 0 : 1);
	}
	close(p[0]);
	if (setsid() == -1)
		fatal("%s: setsid", __func__);
	if ((pid = fork()) == -1)
		fatal("%s: fork", __func__);
	if (pid > 0)
		_exit(0);
	ready_fd = p[1];
}

static void
daemonize_done(void)
{
	int fd;

	if (ready_fd == -1)
		return;
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		if (log_fd_get() != STDERR_FILENO)
			dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	if (write(ready_fd, "1", 1) != 1)
		log_warn("%s: ready pipe", __func__);
	close(ready_fd);
	ready_fd = -1;
}

/* Lock the pidfile first: a second instance must fail before binding. */
static void
pidfile_lock(struct master *m)
{
	char buf[32];
	ssize_t n;

	m->pidfile_fd = -1;
	if (m->cfg.pidfile[0] == '\0')
		return;
	m->pidfile_fd = open(m->cfg.pidfile, O_RDWR | O_CREAT | O_CLOEXEC,
	    0644);
	if (m->pidfile_fd == -1)
		fatal("cannot open pidfile %s", m->cfg.pidfile);
	if (flock(m->pidfile_fd, LOCK_EX | LOCK_NB) == -1) {
		n = read(m->pidfile_fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		fatalx("another mantrid is running (pidfile %s, pid %s)",
		    m->cfg.pidfile, buf);
	}
}

static void
pidfile_write(struct master *m)
{
	char buf[32];
	int n;

	if (m->pidfile_fd == -1)
		return;
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(m->pidfile_fd, 0) == -1 ||
	    pwrite(m->pidfile_fd, buf, n, 0) != n)
		fatal("cannot write pidfile %s", m->cfg.pidfile);
}

static void
raise_nofile(const struct config *cfg)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)cfg->max_connections * 2 + 256;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_cur >= need)
		return;
	if (geteuid() == 0 && rl.rlim_max < need)
		rl.rlim_max = need;
	rl.rlim_cur = need < rl.rlim_max ? need : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
		/* no CAP_SYS_RESOURCE (a container): take what we may */
		(void)getrlimit(RLIMIT_NOFILE, &rl);
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < need)
		log_warnx("open files limited to %llu (max_connections = %u "
		    "wants %llu); raise it with ulimit -n or run as root",
		    (unsigned long long)rl.rlim_cur, cfg->max_connections,
		    (unsigned long long)need);
}

/* mkdir -p the parent of path; as root, hand it to the daemon's user. */
static void
make_parent_dir(const struct master *m, const char *path)
{
	char buf[CONFIG_PATH_MAX], *dir, *p;

	snprintf(buf, sizeof(buf), "%s", path);
	dir = dirname(buf);
	for (p = dir + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(dir, 0755) == 0 && geteuid() == 0 &&
			    chown(dir, m->run_uid, m->run_gid) == -1)
				log_warn("%s: chown %s", __func__, dir);
			*p = c;
			if (c == '\0')
				break;
		}
	}
}

static int
open_dir(const char *path)
{
	return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/*
 * Started as root, the daemon's user writes the state file and journals
 * after the drop: a state directory it cannot write (root's own, made
 * before) would fail every save and lose the counters. Refused at start,
 * naming the fix; mantrid does not take over a directory it did not make
 * (Mantrid chowned it).
 */
static void
check_state_dir(const struct master *m, const char *dir)
{
	struct stat st;
	mode_t need;

	if (geteuid() != 0 || fstat(m->state_dirfd, &st) == -1)
		return;
	/* one class decides, as in the kernel: owner, else group, else other */
	if (st.st_uid == m->run_uid)
		need = S_IWUSR | S_IXUSR;
	else if (st.st_gid == m->run_gid)
		need = S_IWGRP | S_IXGRP;
	else
		need = S_IWOTH | S_IXOTH;
	if ((st.st_mode & need) == need)
		return;
	fatalx("state directory %s is not writable by the daemon's user "
	    "(uid %u, gid %u): chown it to that user, or set state_file "
	    "elsewhere", dir, (unsigned)m->run_uid, (unsigned)m->run_gid);
}

static void
open_dirs(struct master *m)
{
	char buf[CONFIG_PATH_MAX];

	m->state_dirfd = -1;
	if (m->cfg.state_file[0] != '\0') {
		make_parent_dir(m, m->cfg.state_file);
		snprintf(buf, sizeof(buf), "%s", m->cfg.state_file);
		if ((m->state_dirfd = open_dir(dirname(buf))) == -1)
			fatal("cannot open the state directory of %s",
			    m->cfg.state_file);
		check_state_dir(m, buf);
	}
	m->static_dirfd = -1;
	if (m->cfg.static_dir[0] != '\0' &&
	    (m->static_dirfd = open_dir(m->cfg.static_dir)) == -1)
		log_info("static_dir %s: %s; using the built-in pages",
		    m->cfg.static_dir, strerror(errno));
}

/*
 * With chroot_dir, the workers open access_log from inside the chroot,
 * and HUP re-reads the configuration from there: an access log whose
 * directory is not in the chroot could never be written (refused, so the
 * operator hears of it at start), a configuration file not there makes
 * every reload fail (said at start).
 */
static void
check_chroot_paths(const struct master *m)
{
	const struct config *c = &m->cfg;
	char p[2 * CONFIG_PATH_MAX + 2], *d;
	struct stat st;

	if (c->access_log[0] != '\0') {
		snprintf(p, sizeof(p), "%s/%s", c->chroot_dir, c->access_log);
		d = dirname(p);
		if (stat(d, &st) == -1 || !S_ISDIR(st.st_mode))
			fatalx("access_log %s: the workers open it inside "
			    "chroot_dir %s, where %s is not a directory; give "
			    "its path as seen from the chroot", c->access_log,
			    c->chroot_dir, d);
	}
	if (c->path[0] != '\0') {
		snprintf(p, sizeof(p), "%s/%s", c->chroot_dir, c->path);
		if (access(p, R_OK) == -1)
			log_warnx("chroot_dir %s: HUP re-reads %s inside it, "
			    "where it is not readable (%s): reloads will be "
			    "refused", c->chroot_dir, c->path, p);
	}
}

static void
drop_privileges(struct master *m)
{
	char err[256];

	if (geteuid() != 0) {
		if (m->cfg.chroot_dir[0] != '\0')
			log_warnx("chroot_dir %s ignored: not started as root",
			    m->cfg.chroot_dir);
		if (m->cfg.have_user && m->cfg.uid != geteuid())
			log_warnx("user %u ignored: not started as root",
			    (unsigned)m->cfg.uid);
		return;
	}
	if (m->cfg.chroot_dir[0] != '\0')
		check_chroot_paths(m);
	if (priv_drop(m->run_uid, m->run_gid, m->cfg.chroot_dir, err,
	    sizeof(err)) == -1)
		fatalx("cannot drop privileges: %s", err);
	log_info("dropped to uid %u gid %u%s%s", (unsigned)m->run_uid,
	    (unsigned)m->run_gid, m->cfg.chroot_dir[0] ? ", chroot " : "",
	    m->cfg.chroot_dir);
}

static void
start_up(struct master *m)
{
	char err[512];

	if (geteuid() == 0)
		priv_target(&m->cfg, &m->run_uid, &m->run_gid);
	else {
		m->run_uid = geteuid();
		m->run_gid = getegid();
	}
	m->nworkers = m->cfg.workers;
	if (master_bind(m, err, sizeof(err)) == -1)
		fatalx("%s", err);
	if (m->cfg.control_socket[0] != '\0')
		make_parent_dir(m, m->cfg.control_socket);
	if (master_ctl_bind(m) == -1)
		fatalx("cannot create the control socket %s",
		    m->cfg.control_socket);
	raise_nofile(&m->cfg);
	m->db = ruledb_create(m->cfg.shm_size, 2 * m->nworkers, err,
	    sizeof(err));
	if (m->db == NULL)
		fatalx("cannot create the rule database: %s", err);
	open_dirs(m);
	if (master_state_load(m) == -1)
		fatalx("cannot load the state file %s", m->cfg.state_file);
	drop_privileges(m);
}

int
master_main(int argc, char *argv[])
{
	struct master *m = &master_storage;
	struct cmdline cl;
	char err[1024];
	int defaults;

	master_self = m;
	parse_cmdline(argc, argv, &cl);
	if (load_config(&m->cfg, cl.config, &defaults, err, sizeof(err))) {
		fprintf(stderr, "mantrid: %s\n", err);
		return 1;
	}
	apply_cmdline(&m->cfg, &cl);
	if (cl.test) {
		printf("mantrid: configuration %s is valid\n",
		    defaults ? "(built-in defaults)" : m->cfg.path);
		return 0;
	}
	if (m->cfg.daemonize && m->cfg.logfile[0] == '\0')
		strcpy(m->cfg.logfile, "syslog");
	if (log_init(m->cfg.logfile, m->cfg.loglevel, "master") == -1) {
		fprintf(stderr, "mantrid: cannot open log file %s: %s\n",
		    m->cfg.logfile, strerror(errno));
		return 1;
	}
	if (m->cfg.daemonize)
		daemonize_begin();
	log_info("mantrid %s starting, %s", PACKAGE_VERSION, defaults ?
	    "no configuration file: built-in defaults" : m->cfg.path);
	pidfile_lock(m);
	start_up(m);
	pidfile_write(m);
	m->started = (double)time(NULL);
	return master_run(m, daemonize_done);
}

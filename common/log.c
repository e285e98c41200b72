/*
 * log.c: logging for every process (master and workers). One line per
 * message: "2026-11-22T07:40:01Z master warn: func: text". The target is
 * stderr, a file opened in append mode (reopened on USR1), or syslog.
 * NB: the file is opened before chroot and privilege drop, so a reopen
 * after the drop may fail; the old descriptor is then kept and a warning
 * is written to it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int	 log_fd = STDERR_FILENO;
static int	 log_level = LOG_LVL_INFO;
static int	 log_syslog;
static char	 log_proc[32] = "mantrid";
static char	 log_path[1024];

static const char *const level_names[] = { "error", "warn", "info", "debug" };
static const int syslog_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

int
log_init(const char *target, int level, const char *procname)
{
	log_level = level;
	if (procname != NULL)
		log_setproc(procname);
	if (target == NULL || *target == '\0' || strcmp(target, "-") == 0) {
		log_path[0] = '\0';
		log_syslog = 0;
		if (log_fd != STDERR_FILENO)
			close(log_fd);
		log_fd = STDERR_FILENO;
		return 0;
	}
	if (strcmp(target, "syslog") == 0) {
		log_syslog = 1;
		openlog("mantrid", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		return 0;
	}
	if (strlen(target) >= sizeof(log_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(log_path, target);
	return log_reopen();
}

int
log_reopen(void)
{
	int fd;

	if (log_syslog || log_path[0] == '\0')
		return 0;
	fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1)
		return -1;
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	log_fd = fd;
	return 0;
}

void
log_setproc(const char *procname)
{
	snprintf(log_proc, sizeof(log_proc), "%s", procname);
}

void
log_setlevel(int level)
{
	log_level = level;
}

static void
vlog(int level, int with_errno, const char *fmt, va_list ap)
{
	char msg[2048], line[2200], ts[32];
	int saved = errno, n;
	struct timespec now;
	struct tm tm;

	if (level > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno) {
		size_t len = strlen(msg);
		snprintf(msg + len, sizeof(msg) - len, ": %s", strerror(saved));
	}
	if (log_syslog) {
		syslog(syslog_prio[level], "%s %s: %s", log_proc,
		    level_names[level], msg);
		errno = saved;
		return;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03ldZ %s %s: %s\n", ts,
	    now.tv_nsec / 1000000, log_proc, level_names[level], msg);
	if (n > (int)sizeof(line) - 1)
		n = sizeof(line) - 1;
	/* one write per line, so lines of several processes never mix */
	if (write(log_fd, line, n) == -1) {
		/* nowhere left to complain */
	}
	errno = saved;
}

#define LOG_FN(name, level, with_errno)			\
void							\
name(const char *fmt, ...)				\
{							\
	va_list ap;					\
	va_start(ap, fmt);				\
	vlog(level, with_errno, fmt, ap);		\
	va_end(ap);					\
}
LOG_FN(log_warn, LOG_LVL_WARN, 1)
LOG_FN(log_warnx, LOG_LVL_WARN, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_debug, LOG_LVL_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERR, 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}

int
log_fd_get(void)
{
	return log_fd;
}

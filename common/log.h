/*
 * log.h: logging for every process. Lines carry time, level and process
 * ("master", "worker 3"); they go to stderr, a log file or syslog.
 * Messages are prefixed by the calling function by convention:
 *	log_warnx("%s: bad thing", __func__);
 */
#ifndef MANTRID_LOG_H
#define MANTRID_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* target: NULL or "-" = stderr, "syslog", or a file path */
int	log_init(const char *target, int level, const char *procname);
void	log_setproc(const char *procname);
void	log_setlevel(int level);
int	log_reopen(void);
/* The log file descriptor (stderr or the file), for a child to keep. */
int	log_fd_get(void);

void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif

/*
 * config-t.h: the daemon's start-up configuration (types only). Parsed by
 * common/config.c from `name = value` lines; what the worker needs of it
 * crosses fork inside struct heritage.
 */
#ifndef MANTRID_CONFIG_T_H
#define MANTRID_CONFIG_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define CONFIG_MAX_BINDS	32
#define CONFIG_PATH_MAX		1024
#define CONFIG_DEFAULT_FILE	"/etc/mantrid/mantrid.conf"

enum bind_kind { BIND_PUBLIC = 0, BIND_INTERNAL, BIND_MANAGEMENT };

struct bind_addr {
	enum bind_kind		 kind;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	char			 text[80];	/* as printed in logs */
};

enum access_log_format { ALF_COMBINED = 0, ALF_JSON };

struct config {
	char		 path[CONFIG_PATH_MAX];	/* "" = built-in defaults */

	struct bind_addr binds[CONFIG_MAX_BINDS];
	size_t		 nbinds;

	char		 state_file[CONFIG_PATH_MAX];
	char		 static_dir[CONFIG_PATH_MAX];
	char		 chroot_dir[CONFIG_PATH_MAX];
	char		 control_socket[CONFIG_PATH_MAX];
	char		 logfile[CONFIG_PATH_MAX];
	char		 pidfile[CONFIG_PATH_MAX];
	char		 access_log[CONFIG_PATH_MAX];
	enum access_log_format access_log_format;
	char		 management_token[256];
	uid_t		 control_allow[16];
	size_t		 ncontrol_allow;

	bool		 have_user;		/* uid/user given */
	uid_t		 uid;
	bool		 have_group;
	gid_t		 gid;

	/* seconds */
	unsigned	 timeout_connect;
	unsigned	 timeout_header;
	unsigned	 timeout_client;
	unsigned	 timeout_server;
	unsigned	 timeout_cleanup;
	unsigned	 drain_timeout;

	unsigned	 server_retry;
	int		 backlog;
	int		 loglevel;
	bool		 daemonize;
	unsigned	 workers;
	size_t		 shm_size;
	unsigned	 max_connections;
	unsigned	 spin_max;
	size_t		 max_uri;		/* 414 above */
	size_t		 max_header_size;	/* 431 above */
	unsigned	 max_header_lines;
	size_t		 buffer_size;		/* per connection, each way */

	/* health checks (issue 5) */
	bool		 health_check;
	unsigned	 health_interval;
	unsigned	 health_timeout;
	char		 health_path[256];
	unsigned	 rise;
	unsigned	 fall;
};

#endif

/*
 * conf.c: the start-up configuration: `name = value` lines, `#` comments
 * (whole-line or after a value), Mantrid's and Pure Load Balancer's option
 * names. One table lists every option with its parser; an unknown option,
 * a bad value or a single-value option given twice is one error naming
 * the file, line and option.
 */
#include "config.h"	/* autoconf's; ours is conf.h (no clash) */
#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "addr.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif
#ifndef RUNSTATEDIR
#define RUNSTATEDIR "/run"
#endif

enum opt_type {
	OT_BIND, OT_PATH, OT_STR, OT_UINT, OT_SIZE, OT_BOOL, OT_USER,
	OT_GROUP, OT_LEVEL, OT_ALF, OT_UIDLIST
};

struct opt {
	const char	*name;
	enum opt_type	 type;
	size_t		 off;	/* into struct config */
	long long	 min, max;	/* OT_UINT, OT_SIZE */
	int		 arg;	/* OT_BIND: enum bind_kind; OT_PATH: 1 = may be empty */
};

#define O(f)	offsetof(struct config, f)
static const struct opt opts[] = {
	{ "bind",		OT_BIND, 0, 0, 0, BIND_PUBLIC },
	{ "bind_internal",	OT_BIND, 0, 0, 0, BIND_INTERNAL },
	{ "bind_management",	OT_BIND, 0, 0, 0, BIND_MANAGEMENT },
	{ "state_file",		OT_PATH, O(state_file), 0, 0, 1 },
	{ "static_dir",		OT_PATH, O(static_dir), 0, 0, 1 },
	{ "chroot_dir",		OT_PATH, O(chroot_dir), 0, 0, 1 },
	{ "control_socket",	OT_PATH, O(control_socket), 0, 0, 1 },
	{ "logfile",		OT_PATH, O(logfile), 0, 0, 1 },
	{ "pidfile",		OT_PATH, O(pidfile), 0, 0, 1 },
	{ "access_log",		OT_PATH, O(access_log), 0, 0, 1 },
	{ "access_log_format",	OT_ALF, O(access_log_format), 0, 0, 0 },
	{ "management_token",	OT_STR, O(management_token), 0, 0, 0 },
	{ "control_allow",	OT_UIDLIST, 0, 0, 0, 0 },
	{ "uid",		OT_USER, 0, 0, 0, 0 },
	{ "user",		OT_USER, 0, 0, 0, 0 },
	{ "gid",		OT_GROUP, 0, 0, 0, 0 },
	{ "group",		OT_GROUP, 0, 0, 0, 0 },
	{ "timeout_connect",	OT_UINT, O(timeout_connect), 1, 3600, 0 },
	{ "timeout_header",	OT_UINT, O(timeout_header), 1, 3600, 0 },
	{ "timeout_client",	OT_UINT, O(timeout_client), 1, 86400, 0 },
	{ "timeout_server",	OT_UINT, O(timeout_server), 1, 86400, 0 },
	{ "timeout_cleanup",	OT_UINT, O(timeout_cleanup), 1, 86400, 0 },
	{ "drain_timeout",	OT_UINT, O(drain_timeout), 0, 86400, 0 },
	{ "server_retry",	OT_UINT, O(server_retry), 1, 1000, 0 },
	{ "backlog",		OT_UINT, O(backlog), 1, 65535, 0 },
	{ "loglevel",		OT_LEVEL, O(loglevel), 0, 0, 0 },
	{ "daemonize",		OT_BOOL, O(daemonize), 0, 0, 0 },
	{ "workers",		OT_UINT, O(workers), 1, 256, 0 },
	{ "shm_size",		OT_SIZE, O(shm_size), 1 << 20, 64LL << 30, 0 },
	{ "max_connections",	OT_UINT, O(max_connections), 1, 10000000, 0 },
	{ "spin_max",		OT_UINT, O(spin_max), 0, 10000000, 0 },
	{ "max_uri",		OT_SIZE, O(max_uri), 64, 1 << 20, 0 },
	{ "max_header_size",	OT_SIZE, O(max_header_size), 1024, 1 << 24, 0 },
	{ "max_header_lines",	OT_UINT, O(max_header_lines), 1, 10000, 0 },
	{ "buffer_size",	OT_SIZE, O(buffer_size), 4096, 1 << 26, 0 },
	{ "health_check",	OT_BOOL, O(health_check), 0, 0, 0 },
	{ "health_interval",	OT_UINT, O(health_interval), 1, 86400, 0 },
	{ "health_timeout",	OT_UINT, O(health_timeout), 1, 3600, 0 },
	{ "health_path",	OT_STR, O(health_path), 0, 0, 0 },
	{ "rise",		OT_UINT, O(rise), 1, 1000, 0 },
	{ "fall",		OT_UINT, O(fall), 1, 1000, 0 },
};
#define NOPTS	(sizeof(opts) / sizeof(opts[0]))

void
config_defaults(struct config *cfg)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->state_file, sizeof(cfg->state_file),
	    "%s/lib/mantrid/state.json", LOCALSTATEDIR);
	snprintf(cfg->static_dir, sizeof(cfg->static_dir),
	    "%s/mantrid/static", SYSCONFDIR);
	snprintf(cfg->control_socket, sizeof(cfg->control_socket),
	    "%s/mantrid/mantrid.sock", RUNSTATEDIR);
	cfg->timeout_connect = 5;
	cfg->timeout_header = 10;
	cfg->timeout_client = 60;
	cfg->timeout_server = 60;
	cfg->timeout_cleanup = 10;
	cfg->drain_timeout = 30;
	cfg->server_retry = 3;
	cfg->backlog = 511;
	cfg->loglevel = 2;
	cfg->workers = ncpu > 0 ? (unsigned)ncpu : 1;
	cfg->shm_size = (size_t)512 << 20;
	cfg->max_connections = 65536;
	cfg->spin_max = 10000;
	cfg->max_uri = 8192;
	cfg->max_header_size = 32768;
	cfg->max_header_lines = 100;
	cfg->buffer_size = 65536;
	cfg->health_interval = 10;
	cfg->health_timeout = 5;
	strcpy(cfg->health_path, "/");
	cfg->rise = 2;
	cfg->fall = 3;
}

static int
parse_ull(const char *v, unsigned long long *out)
{
	char *end;

	if (!isdigit((unsigned char)*v))
		return -1;
	errno = 0;
	*out = strtoull(v, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	return 0;
}

static int
parse_size(const char *v, unsigned long long *out)
{
	char buf[64], *end;
	size_t len = strlen(v);
	unsigned long long mult = 1;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	strcpy(buf, v);
	end = buf + len - 1;
	switch (tolower((unsigned char)*end)) {
	case 'k': mult = 1ULL << 10; break;
	case 'm': mult = 1ULL << 20; break;
	case 'g': mult = 1ULL << 30; break;
	}
	if (mult != 1)
		*end = '\0';
	if (parse_ull(buf, out) == -1 || *out > ULLONG_MAX / mult)
		return -1;
	*out *= mult;
	return 0;
}

static int
parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return *out = true, 0;
		if (strcasecmp(v, no[i]) == 0)
			return *out = false, 0;
	}
	return -1;
}

static int
parse_level(const char *v, int *out)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	unsigned long long n;
	int i;

	for (i = 0; i < 4; i++)
		if (strcasecmp(v, names[i]) == 0)
			return *out = i, 0;
	if (parse_ull(v, &n) == -1 || n > 3)
		return -1;
	*out = (int)n;
	return 0;
}

static int
parse_uid(const char *v, uid_t *out)
{
	unsigned long long n;
	struct passwd *pw;

	if (parse_ull(v, &n) == 0)
		return n < UINT32_MAX ? (*out = (uid_t)n, 0) : -1;
	if ((pw = getpwnam(v)) == NULL)
		return -1;
	*out = pw->pw_uid;
	return 0;
}

static int
parse_gid(const char *v, gid_t *out)
{
	unsigned long long n;
	struct group *gr;

	if (parse_ull(v, &n) == 0)
		return n < UINT32_MAX ? (*out = (gid_t)n, 0) : -1;
	if ((gr = getgrnam(v)) == NULL)
		return -1;
	*out = gr->gr_gid;
	return 0;
}

static int
set_bind(struct config *cfg, const struct opt *o, const char *v,
    char *err, size_t errlen)
{
	struct sockaddr_storage ss[2];
	socklen_t len[2];
	size_t n, i;
	int port = o->arg == BIND_MANAGEMENT ? 8042 : 80;

	if (addr_parse_bind(v, port, ss, len, &n, err, errlen) != ADDR_OK)
		return -1;
	if (cfg->nbinds + n > CONFIG_MAX_BINDS) {
		snprintf(err, errlen, "too many addresses (at most %d)",
		    CONFIG_MAX_BINDS);
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct bind_addr *b = &cfg->binds[cfg->nbinds++];
		b->kind = o->arg;
		b->ss = ss[i];
		b->sslen = len[i];
		addr_format((struct sockaddr *)&ss[i], b->text, sizeof(b->text));
	}
	return 0;
}

static int
set_uidlist(struct config *cfg, const char *v, char *err, size_t errlen)
{
	char buf[512], *tok, *save;

	snprintf(buf, sizeof(buf), "%s", v);
	for (tok = strtok_r(buf, ", \t", &save); tok != NULL;
	    tok = strtok_r(NULL, ", \t", &save)) {
		if (cfg->ncontrol_allow == 16) {
			snprintf(err, errlen, "at most 16 users");
			return -1;
		}
		if (parse_uid(tok, &cfg->control_allow[cfg->ncontrol_allow++])) {
			snprintf(err, errlen, "unknown user \"%.200s\"", tok);
			return -1;
		}
	}
	return 0;
}

/* Set one option; returns 0 or -1 with err filled (without position). */
static int
set_opt(struct config *cfg, const struct opt *o, const char *v,
    char *err, size_t errlen)
{
	char *field = (char *)cfg + o->off;
	unsigned long long n;

	switch (o->type) {
	case OT_BIND:
		return set_bind(cfg, o, v, err, errlen);
	case OT_UIDLIST:
		return set_uidlist(cfg, v, err, errlen);
	case OT_PATH:
	case OT_STR: {
		size_t cap = o->off == O(management_token) ?
		    sizeof(cfg->management_token) : o->off == O(health_path) ?
		    sizeof(cfg->health_path) : CONFIG_PATH_MAX;
		if (strlen(v) >= cap) {
			snprintf(err, errlen, "value too long (max %zu)", cap - 1);
			return -1;
		}
		if (o->type == OT_PATH && *v != '\0' && *v != '/' &&
		    !(o->off == O(logfile) && (!strcmp(v, "-") ||
		    !strcmp(v, "syslog")))) {
			snprintf(err, errlen, "\"%.200s\" is not an absolute path", v);
			return -1;
		}
		if (o->off == O(health_path) && *v != '\0' && *v != '/') {
			snprintf(err, errlen, "must start with / (or be empty: TCP connect only)");
			return -1;
		}
		strcpy(field, v);
		return 0;
	}
	case OT_UINT:
	case OT_SIZE:
		if ((o->type == OT_UINT ? parse_ull(v, &n) : parse_size(v, &n))
		    == -1 || (long long)n < o->min || (long long)n > o->max) {
			snprintf(err, errlen, "\"%.200s\" is not a%s from %lld to %lld",
			    v, o->type == OT_SIZE ? " size" : " whole number",
			    o->min, o->max);
			return -1;
		}
		if (o->type == OT_SIZE)
			*(size_t *)(void *)field = (size_t)n;
		else if (o->off == O(backlog))
			*(int *)(void *)field = (int)n;
		else
			*(unsigned *)(void *)field = (unsigned)n;
		return 0;
	case OT_BOOL:
		if (parse_bool(v, (bool *)field) == -1) {
			snprintf(err, errlen, "\"%.200s\" is not yes/no/true/false/on/off", v);
			return -1;
		}
		return 0;
	case OT_LEVEL:
		if (parse_level(v, (int *)(void *)field) == -1) {
			snprintf(err, errlen, "\"%.200s\" is not 0-3 or error/warn/info/debug", v);
			return -1;
		}
		return 0;
	case OT_ALF:
		if (strcmp(v, "combined") == 0)
			cfg->access_log_format = ALF_COMBINED;
		else if (strcmp(v, "json") == 0)
			cfg->access_log_format = ALF_JSON;
		else {
			snprintf(err, errlen, "\"%.200s\" is not combined or json", v);
			return -1;
		}
		return 0;
	case OT_USER:
		if (parse_uid(v, &cfg->uid) == -1) {
			snprintf(err, errlen, "unknown user \"%.200s\"", v);
			return -1;
		}
		/* NB: the drop would leave every process, workers too, root. */
		if (cfg->uid == 0) {
			snprintf(err, errlen, "must not be root (uid 0)");
			return -1;
		}
		cfg->have_user = true;
		return 0;
	case OT_GROUP:
		if (parse_gid(v, &cfg->gid) == -1) {
			snprintf(err, errlen, "unknown group \"%.200s\"", v);
			return -1;
		}
		cfg->have_group = true;
		return 0;
	}
	return -1;
}

static const struct opt *
find_opt(const char *name)
{
	size_t i;

	/* NB: any case, as Mantrid's configuration reader took them */
	for (i = 0; i < NOPTS; i++)
		if (strcasecmp(opts[i].name, name) == 0)
			return &opts[i];
	return NULL;
}

static int
repeatable(const struct opt *o)
{
	return o->type == OT_BIND || o->type == OT_UIDLIST;
}

/* uid and user, gid and group: one option, two names (adjacent in opts). */
static size_t
opt_slot(const struct opt *o)
{
	if (o->type == OT_USER || o->type == OT_GROUP)
		while (o > opts && o[-1].type == o->type)
			o--;
	return o - opts;
}

/* Split "name = value # comment" in place; returns -1 on a syntax error. */
static int
split_line(char *line, char **name, char **value)
{
	char *p, *eq;

	if ((p = strchr(line, '#')) != NULL)
		*p = '\0';
	while (isspace((unsigned char)*line))
		line++;
	p = line + strlen(line);
	while (p > line && isspace((unsigned char)p[-1]))
		*--p = '\0';
	if (*line == '\0')
		return *name = NULL, 0;
	if ((eq = strchr(line, '=')) == NULL)
		return -1;
	*eq = '\0';
	*value = eq + 1;
	while (isspace((unsigned char)**value))
		(*value)++;
	p = eq;
	while (p > line && isspace((unsigned char)p[-1]))
		*--p = '\0';
	*name = line;
	return **name == '\0' ? -1 : 0;
}

enum config_err
config_parse_text(struct config *cfg, const char *file, const char *text,
    char *err, size_t errlen)
{
	const struct opt *seen[NOPTS] = { NULL };
	char line[4096], msg[512], *name, *value;
	const char *p = text, *nl;
	unsigned lineno = 0;
	const struct opt *o;
	size_t len;

	while (*p != '\0') {
		lineno++;
		nl = strchr(p, '\n');
		len = nl ? (size_t)(nl - p) : strlen(p);
		if (len >= sizeof(line)) {
			snprintf(err, errlen, "%s:%u: line too long", file, lineno);
			return CONFIG_EINVAL;
		}
		memcpy(line, p, len);
		line[len] = '\0';
		p += len + (nl != NULL);
		if (split_line(line, &name, &value) == -1) {
			snprintf(err, errlen, "%s:%u: expected \"name = value\"",
			    file, lineno);
			return CONFIG_EINVAL;
		}
		if (name == NULL)
			continue;
		if ((o = find_opt(name)) == NULL) {
			snprintf(err, errlen, "%s:%u: %s: unknown option",
			    file, lineno, name);
			return CONFIG_EINVAL;
		}
		if (seen[opt_slot(o)] != NULL && !repeatable(o)) {
			if (seen[opt_slot(o)] != o)
				snprintf(err, errlen, "%s:%u: %s: given twice, "
				    "also as %s (it takes one value)", file,
				    lineno, name, seen[opt_slot(o)]->name);
			else
				snprintf(err, errlen, "%s:%u: %s: given twice "
				    "(it takes one value)", file, lineno, name);
			return CONFIG_EINVAL;
		}
		seen[opt_slot(o)] = o;
		if (set_opt(cfg, o, value, msg, sizeof(msg)) == -1) {
			snprintf(err, errlen, "%s:%u: %s: %s", file, lineno,
			    name, msg);
			return CONFIG_EINVAL;
		}
	}
	return CONFIG_OK;
}

enum config_err
config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
	FILE *fp;
	char *text;
	long size;
	enum config_err rc;

	if ((fp = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return errno == ENOENT ? CONFIG_ENOENT : CONFIG_EINVAL;
	}
	if (fseek(fp, 0, SEEK_END) == -1 || (size = ftell(fp)) < 0 ||
	    size > (1 << 20) || fseek(fp, 0, SEEK_SET) == -1) {
		snprintf(err, errlen, "%s: unreadable or over 1 MiB", path);
		fclose(fp);
		return CONFIG_EINVAL;
	}
	if ((text = calloc(1, size + 1)) == NULL ||
	    fread(text, 1, size, fp) != (size_t)size) {
		snprintf(err, errlen, "%s: read error", path);
		free(text);
		fclose(fp);
		return CONFIG_EINVAL;
	}
	fclose(fp);
	if (memchr(text, '\0', size) != NULL) {
		snprintf(err, errlen, "%s: contains a NUL byte", path);
		free(text);
		return CONFIG_EINVAL;
	}
	snprintf(cfg->path, sizeof(cfg->path), "%s", path);
	rc = config_parse_text(cfg, path, text, err, errlen);
	free(text);
	return rc;
}

static int
have_kind(const struct config *cfg, enum bind_kind kind)
{
	size_t i;

	for (i = 0; i < cfg->nbinds; i++)
		if (cfg->binds[i].kind == kind)
			return 1;
	return 0;
}

void
config_finish(struct config *cfg)
{
	static const struct opt pub = { "bind", OT_BIND, 0, 0, 0, BIND_PUBLIC };
	static const struct opt mgmt = { "bind_management", OT_BIND, 0, 0, 0,
	    BIND_MANAGEMENT };
	char err[128];

	/* Mantrid's defaults: clients on *:80, management on localhost:8042 */
	if (!have_kind(cfg, BIND_PUBLIC) && !have_kind(cfg, BIND_INTERNAL))
		(void)set_bind(cfg, &pub, "*:80", err, sizeof(err));
	if (!have_kind(cfg, BIND_MANAGEMENT))
		(void)set_bind(cfg, &mgmt, "localhost:8042", err, sizeof(err));
}

void
config_dump(const struct config *cfg, FILE *fp)
{
	static const char *const kinds[] = { "bind", "bind_internal",
	    "bind_management" };
	size_t i;

	for (i = 0; i < cfg->nbinds; i++)
		fprintf(fp, "%s = %s\n", kinds[cfg->binds[i].kind],
		    cfg->binds[i].text);
	fprintf(fp, "workers = %u\nshm_size = %zu\nstate_file = %s\n"
	    "static_dir = %s\ncontrol_socket = %s\n", cfg->workers,
	    cfg->shm_size, cfg->state_file, cfg->static_dir,
	    cfg->control_socket);
}

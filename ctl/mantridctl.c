/*
 * mantridctl.c: the command-line client (Mantrid-client's commands and
 * columns, and more). The commands, their synopsis and help come from
 * common/cmd.h's table: positional words map onto the table's argument
 * spec in order; only `set` (HOST ACTION SUBDOMS KEY=VALUE...) and
 * `import` (FILE) build their argument themselves. Exit status: 0 ok,
 * 1 error (from the daemon or the connection), 2 usage.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "../common/conf.h"
#include "../common/ctlproto.h"
#include "ctl.h"

#define EXIT_USAGE	2
#define PRETTY (JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | \
	JSON_C_TO_STRING_NOSLASHESCAPE)

static const char *progname = "mantridctl";
static bool json_out;

static void usage(FILE *, int) __attribute__((noreturn));
static void man_commands(void) __attribute__((noreturn));

static void __attribute__((noreturn, format(printf, 2, 3)))
die(int status, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

static void
usage(FILE *fp, int status)
{
	size_t i;

	fprintf(fp, "usage: %s [-j] [-c CONFIG] [-s SOCKET] [-u URL] "
	    "[-t TOKEN] [-m GEN] COMMAND [ARG ...]\n\n"
	    "  -c, --config FILE    read control_socket (and management_token)"
	    " from FILE\n"
	    "  -s, --socket PATH    talk to the control socket PATH\n"
	    "  -u, --url URL        talk to the REST API at URL instead\n"
	    "  -t, --token TOKEN    REST Bearer token (else $MANTRID_TOKEN)\n"
	    "  -m, --if-match GEN   change only if the generation is GEN\n"
	    "  -j, --json           print replies as JSON\n"
	    "  -h, --help           this help; -V, --version\n\n"
	    "commands:\n", progname);
	for (i = 0; i < CMD_COUNT; i++)
		if (cmd_defs[i].flags & CMD_F_CTL)
			fprintf(fp, "  %-44s %s\n", cmd_defs[i].usage,
			    cmd_defs[i].help);
	exit(status);
}

/* The man page's command list, from the same table. */
static void
man_commands(void)
{
	size_t i;

	for (i = 0; i < CMD_COUNT; i++) {
		if (!(cmd_defs[i].flags & CMD_F_CTL))
			continue;
		printf(".TP\n.B %s\n%s.\n", cmd_defs[i].usage,
		    cmd_defs[i].help);
	}
	exit(0);
}

/* ---- building arguments ------------------------------------------------- */

/* Mantrid-client sent every option as a string; we send numbers and
 * bools as such, and backends as Mantrid's [host, port] pairs. */
/* A value written as JSON (it starts with '[' or '{'), or a usage error. */
static struct json_object *
json_value(const char *key, const char *v)
{
	enum json_tokener_error jerr;
	struct json_object *o;

	if ((o = json_tokener_parse_verbose(v, &jerr)) == NULL)
		die(EXIT_USAGE, "%s: bad JSON: %s", key,
		    json_tokener_error_desc(jerr));
	return o;
}

static struct json_object *
option_value(const char *key, const char *v)
{
	char *end;
	long long n;

	if (strcmp(key, "type") == 0 || strcmp(key, "redirect_to") == 0)
		return json_object_new_string(v);
	if (*v == '[' || *v == '{')
		return json_value(key, v);
	if (strcasecmp(v, "true") == 0 || strcasecmp(v, "false") == 0)
		return json_object_new_boolean(strcasecmp(v, "true") == 0);
	n = strtoll(v, &end, 10);
	if (*v != '\0' && *end == '\0')
		return json_object_new_int64(n);
	if (strcmp(key, "delay") == 0 && *v != '\0' &&
	    (strtod(v, &end), *end == '\0'))
		return json_object_new_double(strtod(v, NULL));
	return json_object_new_string(v);
}

static struct json_object *
backend_pair(const char *s)
{
	struct json_object *a = json_object_new_array();
	const char *colon = strrchr(s, ':');
	char host[256];
	size_t n;

	if (colon == NULL || colon == s)
		die(EXIT_USAGE, "backend %s: expected host:port", s);
	n = (size_t)(colon - s);
	if (s[0] == '[' && colon[-1] == ']') {
		s++;
		n -= 2;
	}
	snprintf(host, sizeof(host), "%.*s", (int)n, s);
	json_object_array_add(a, json_object_new_string(host));
	json_object_array_add(a, option_value("port", colon + 1));
	return a;
}

/*
 * One entry of backends=... or targets=...: "host:port" or a URL, with an
 * optional "*WEIGHT" (rbalancer's url*weight) making it an object.
 */
static struct json_object *
list_entry(const char *key, char *tok)
{
	struct json_object *o, *e;
	char *star = strrchr(tok, '*'), *end;
	long long w = 0;
	bool backends = strcmp(key, "backends") == 0;

	if (star != NULL) {
		*star++ = '\0';
		w = strtoll(star, &end, 10);
		if (*star == '\0' || *end != '\0' || w < 0)
			die(EXIT_USAGE, "%s: %s*%s: the weight must be a "
			    "number >= 0", key, tok, star);
	}
	e = backends ? backend_pair(tok) : json_object_new_string(tok);
	if (star == NULL)
		return e;
	o = json_object_new_object();
	if (backends) {
		json_object_put(e);
		e = json_object_new_string(tok);
	}
	json_object_object_add(o, backends ? "address" : "url", e);
	json_object_object_add(o, "weight", json_object_new_int64(w));
	return o;
}

/* backends=a:80,b:80*3 / targets=http://a*20,http://b*10, or JSON. */
static struct json_object *
list_value(const char *key, char *v)
{
	struct json_object *a;
	char *tok, *save = NULL;

	if (*v == '[')
		return json_value(key, v);
	a = json_object_new_array();
	for (tok = strtok_r(v, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save))
		json_object_array_add(a, list_entry(key, tok));
	return a;
}

/* Mantrid-client's checks, as usage errors. */
static void
set_check(const char *action, struct json_object *kw)
{
	static const char *const need[][2] = {
		{ "proxy", "backends" }, { "static", "type" },
		{ "redirect", "redirect_to" }, { "empty", "code" },
	};
	size_t i;

	for (i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (strcmp(action, need[i][0]) == 0 &&
		    !json_object_object_get_ex(kw, need[i][1], NULL) &&
		    !(strcmp(action, "redirect") == 0 &&
		    json_object_object_get_ex(kw, "targets", NULL)))
			die(EXIT_USAGE, "The %s action requires a %s option.",
			    action, need[i][1]);
}

/* set HOST ACTION true|false [KEY=VALUE ...] */
static void
build_set(struct json_object *args, int argc, char **argv)
{
	struct json_object *rule, *kw;
	char *eq;
	int i;

	if (argc < 3 || (strcasecmp(argv[2], "true") != 0 &&
	    strcasecmp(argv[2], "false") != 0))
		die(EXIT_USAGE, "usage: set HOST ACTION true|false "
		    "[KEY=VALUE ...]");
	kw = json_object_new_object();
	for (i = 3; i < argc; i++) {
		if ((eq = strchr(argv[i], '=')) == NULL || eq == argv[i])
			die(EXIT_USAGE, "%s is not a valid option (no =)",
			    argv[i]);
		*eq++ = '\0';
		json_object_object_add(kw, argv[i],
		    strcmp(argv[i], "backends") == 0 ||
		    strcmp(argv[i], "targets") == 0 ? list_value(argv[i], eq) :
		    option_value(argv[i], eq));
	}
	set_check(argv[1], kw);
	rule = json_object_new_array();
	json_object_array_add(rule, json_object_new_string(argv[1]));
	json_object_array_add(rule, kw);
	json_object_array_add(rule,
	    json_object_new_boolean(strcasecmp(argv[2], "true") == 0));
	json_object_object_add(args, "host", json_object_new_string(argv[0]));
	json_object_object_add(args, "rule", rule);
}

/* import FILE: {host: rule, ...} or a whole state file {"hosts": ...} */
static void
build_import(struct json_object *args, int argc, char **argv)
{
	struct json_object *o, *h;

	if (argc != 1)
		die(EXIT_USAGE, "usage: import FILE");
	o = strcmp(argv[0], "-") == 0 ?
	    json_object_from_fd(0) : json_object_from_file(argv[0]);
	if (o == NULL)
		die(1, "%s: %s", argv[0], json_util_get_last_err());
	if (json_object_object_get_ex(o, "hosts", &h) &&
	    json_object_is_type(h, json_type_object))
		h = json_object_get(h);
	else
		h = json_object_get(o);
	json_object_put(o);
	if (!json_object_is_type(h, json_type_object))
		die(1, "%s: not a JSON object of hosts", argv[0]);
	json_object_object_add(args, "hosts", h);
}

/* Positional words onto the table's spec ("host:s address:s weight:i"). */
static void
build_generic(const struct cmd_def *def, struct json_object *args, int argc,
    char **argv)
{
	const char *p = def->args;
	char name[64], *end;
	int i = 0;
	long long n;

	while (*p != '\0') {
		size_t len = strcspn(p, " ");
		const char *colon = memchr(p, ':', len);

		snprintf(name, sizeof(name), "%.*s", (int)(colon - p), p);
		if (strcmp(name, "if_match") != 0) {
			if (i >= argc && colon[2] != '?')
				die(EXIT_USAGE, "usage: %s", def->usage);
			if (i < argc && colon[1] == 'i') {
				n = strtoll(argv[i], &end, 10);
				if (*argv[i] == '\0' || *end != '\0')
					die(EXIT_USAGE, "%s: not a number",
					    argv[i]);
				json_object_object_add(args, name,
				    json_object_new_int64(n));
			} else if (i < argc && colon[1] == 'b') {
				if (strcmp(argv[i], "true") != 0 &&
				    strcmp(argv[i], "false") != 0)
					die(EXIT_USAGE, "%s: not true or false",
					    argv[i]);
				json_object_object_add(args, name,
				    json_object_new_boolean(argv[i][0] == 't'));
			} else if (i < argc)
				json_object_object_add(args, name,
				    json_object_new_string(argv[i]));
			i++;
		}
		p += len;
		p += strspn(p, " ");
	}
	if (i < argc)
		die(EXIT_USAGE, "usage: %s", def->usage);
}

/* ---- output ------------------------------------------------------------- */

static void
print_json(struct json_object *o)
{
	printf("%s\n", o ? json_object_to_json_string_ext(o, PRETTY) :
	    "null");
}

static int
cmp_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Keys of an object, sorted (Mantrid's client sorted its rows). */
static const char **
sorted_keys(struct json_object *o, size_t *n)
{
	const char **k;

	*n = 0;
	k = calloc((size_t)json_object_object_length(o) + 1, sizeof(*k));
	if (k == NULL)
		die(1, "out of memory");
	json_object_object_foreach(o, key, v) {
		(void)v;
		k[(*n)++] = key;
	}
	qsort(k, *n, sizeof(*k), cmp_keys);
	return k;
}

static void
backend_text(struct json_object *b, char *out, size_t outlen)
{
	struct json_object *v;

	if (json_object_is_type(b, json_type_array) &&
	    json_object_array_length(b) == 2)
		snprintf(out, outlen, "%s:%s",
		    json_object_get_string(json_object_array_get_idx(b, 0)),
		    json_object_get_string(json_object_array_get_idx(b, 1)));
	else if (json_object_object_get_ex(b, "address", &v) ||
	    json_object_object_get_ex(b, "url", &v))
		snprintf(out, outlen, "%s", json_object_get_string(v));
	else
		snprintf(out, outlen, "%s", json_object_get_string(b));
}

/* proxy<a:1,b:2>, static<type>, redirect<to>, empty<code>, spin */
static void
action_summary(struct json_object *rule, char *out, size_t outlen)
{
	const char *a = json_object_get_string(json_object_array_get_idx(rule,
	    0));
	struct json_object *kw = json_object_array_get_idx(rule, 1), *v;
	char one[300];
	size_t i, o;

	if ((strcmp(a, "proxy") == 0 &&
	    json_object_object_get_ex(kw, "backends", &v)) ||
	    (strcmp(a, "redirect") == 0 &&
	    json_object_object_get_ex(kw, "targets", &v))) {
		o = (size_t)snprintf(out, outlen, "%s<", a);
		for (i = 0; i < json_object_array_length(v) && o < outlen; i++) {
			backend_text(json_object_array_get_idx(v, i), one,
			    sizeof(one));
			o += (size_t)snprintf(out + o, outlen - o, "%s%s",
			    i ? "," : "", one);
		}
		if (o < outlen)
			snprintf(out + o, outlen - o, ">");
	} else if ((strcmp(a, "static") == 0 &&
	    json_object_object_get_ex(kw, "type", &v)) ||
	    (strcmp(a, "redirect") == 0 &&
	    json_object_object_get_ex(kw, "redirect_to", &v)) ||
	    (strcmp(a, "empty") == 0 &&
	    json_object_object_get_ex(kw, "code", &v)))
		snprintf(out, outlen, "%s<%s>", a, json_object_get_string(v));
	else
		snprintf(out, outlen, "%s", a);
}

static void
print_list(struct json_object *hosts)
{
	const char **k;
	char action[4096];
	size_t i, n;

	printf("%-35s %-25s %-8s\n", "HOST", "ACTION", "SUBDOMS");
	k = sorted_keys(hosts, &n);
	for (i = 0; i < n; i++) {
		struct json_object *r = json_object_object_get(hosts, k[i]);

		action_summary(r, action, sizeof(action));
		printf("%-35s %-25s %-8s\n", k[i], action,
		    json_object_get_boolean(json_object_array_get_idx(r, 2)) ?
		    "True" : "False");
	}
	free(k);
}

static void
stats_row(const char *host, struct json_object *s)
{
	struct json_object *v;
	const char *f[] = { "open_requests", "completed_requests",
	    "bytes_received", "bytes_sent" };
	long long n[4];
	size_t i;

	for (i = 0; i < 4; i++)
		n[i] = json_object_object_get_ex(s, f[i], &v) ?
		    (long long)json_object_get_int64(v) : 0;
	printf("%-35s %-8lld %-8lld %-8lld %-8lld\n", host, n[0], n[1], n[2],
	    n[3]);
}

static void
print_stats(struct json_object *args, struct json_object *r)
{
	struct json_object *h;
	const char **k;
	size_t i, n;

	printf("%-35s %-8s %-8s %-8s %-8s\n", "HOST", "OPEN", "COMPLETED",
	    "BYTES IN", "BYTES OUT");
	if (json_object_object_get_ex(args, "host", &h)) {
		stats_row(json_object_get_string(h), r);
		return;
	}
	k = sorted_keys(r, &n);
	for (i = 0; i < n; i++)
		stats_row(k[i], json_object_object_get(r, k[i]));
	free(k);
}

static void
print_fields(struct json_object *o)
{
	if (!json_object_is_type(o, json_type_object)) {
		print_json(o);
		return;
	}
	json_object_object_foreach(o, k, v)
		printf("%-22s %s\n", k, json_object_get_string(v));
}

static void
print_backends(struct json_object *r)
{
	const char **k;
	size_t i, n;

	printf("%-40s %-9s %-7s %-8s %-10s %-8s\n", "ADDRESS", "STATE",
	    "WEIGHT", "ACTIVE", "REQUESTS", "FAILURES");
	k = sorted_keys(r, &n);
	for (i = 0; i < n; i++) {
		struct json_object *b = json_object_object_get(r, k[i]);
#define F(name) json_object_get_string(json_object_object_get(b, name))
		printf("%-40s %-9s %-7s %-8s %-10s %-8s\n", k[i], F("state"),
		    F("weight"), F("active"), F("requests"), F("failures"));
#undef F
	}
	free(k);
}

static void
print_result(const struct cmd_def *def, struct json_object *args,
    struct json_object *r, uint64_t gen)
{
	if (json_out && (def->flags & CMD_F_MUTATION)) {
		printf("{\"ok\": true, \"generation\": %llu}\n",
		    (unsigned long long)gen);
		return;
	}
	if (json_out || def->id == CMD_get || def->id == CMD_export) {
		print_json(r);
		return;
	}
	switch (def->id) {
	case CMD_list:
		print_list(r);
		break;
	case CMD_stats:
		print_stats(args, r);
		break;
	case CMD_backends:
		print_backends(r);
		break;
	case CMD_info:
	case CMD_backend_get:
		print_fields(r);
		break;
	default:
		break;		/* Mantrid's client printed nothing */
	}
}

/* ---- main --------------------------------------------------------------- */

static void
default_target(struct ctl_target *t, const char *cfgpath)
{
	static struct config cfg;
	char err[1024];
	enum config_err e;

	config_defaults(&cfg);
	e = config_load(&cfg, cfgpath ? cfgpath : CONFIG_DEFAULT_FILE, err,
	    sizeof(err));
	if (e == CONFIG_EINVAL || (e == CONFIG_ENOENT && cfgpath != NULL))
		die(1, "%s", err);
	if (t->socket == NULL)
		t->socket = cfg.control_socket;
	if (t->token == NULL && cfg.management_token[0] != '\0')
		t->token = cfg.management_token;
}

struct opts {
	struct ctl_target	 t;
	const char		*cfgpath;
	long long		 if_match;	/* -1: none */
};

/* -m GEN: digits only, as a generation is, or a usage error. */
static long long
if_match_value(const char *s)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(s, &end, 10);
	if (!isdigit((unsigned char)*s) || *end != '\0' || errno != 0)
		die(EXIT_USAGE, "--if-match %s: not a generation number", s);
	return n;
}

/* Options before the command; returns the index of the command word. */
static int
parse_options(int argc, char *argv[], struct opts *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "url", required_argument, NULL, 'u' },
		{ "token", required_argument, NULL, 't' },
		{ "if-match", required_argument, NULL, 'm' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "man-commands", no_argument, NULL, 'M' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "+c:s:u:t:m:jhV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c': o->cfgpath = optarg; break;
		case 's': o->t.socket = optarg; break;
		case 'u': o->t.url = optarg; break;
		case 't': o->t.token = optarg; break;
		case 'm': o->if_match = if_match_value(optarg); break;
		case 'j': json_out = true; break;
		case 'h': usage(stdout, 0);
		case 'V': printf("mantridctl %s\n", PACKAGE_VERSION); exit(0);
		case 'M': man_commands();
		default: usage(stderr, EXIT_USAGE);
		}
	}
	return optind;
}

static struct json_object *
build_args(const struct cmd_def *def, int argc, char **argv,
    long long if_match)
{
	struct json_object *args = json_object_new_object();

	json_object_object_add(args, "cmd", json_object_new_string(def->name));
	if (def->id == CMD_set)
		build_set(args, argc, argv);
	else if (def->id == CMD_set_all)
		build_import(args, argc, argv);
	else
		build_generic(def, args, argc, argv);
	if (if_match != -1)
		json_object_object_add(args, "if_match",
		    json_object_new_int64(if_match));
	return args;
}

int
main(int argc, char *argv[])
{
	struct opts o = { { NULL, NULL, getenv("MANTRID_TOKEN") }, NULL, -1 };
	const struct cmd_def *def;
	struct json_object *args, *result;
	char err[2048];
	uint64_t gen;
	int i;

	i = parse_options(argc, argv, &o);
	if (i >= argc)
		usage(stderr, EXIT_USAGE);
	if ((def = cmd_find_ctl(argv[i])) == NULL)
		die(EXIT_USAGE, "Action %s does not exist. Try --help.",
		    argv[i]);
	if (o.t.socket == NULL || (o.t.url != NULL && o.t.token == NULL))
		default_target(&o.t, o.cfgpath);
	args = build_args(def, argc - i - 1, argv + i + 1, o.if_match);
	if (ctl_call(&o.t, def, args, &result, &gen, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s: %s: %s\n", progname, def->ctlname, err);
		json_object_put(args);
		return 1;
	}
	print_result(def, args, result, gen);
	json_object_put(result);
	json_object_put(args);
	return 0;
}

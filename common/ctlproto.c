/*
 * ctlproto.c: the command table's data (expanded from cmd.h) and the
 * control protocol's request/reply helpers. Pure functions over json-c:
 * the master's socket code and mantridctl both link it.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "ctlproto.h"

#define SERIALIZE	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

const struct cmd_def cmd_defs[CMD_COUNT] = {
#define CMD_DEF(id, ctl, fl, args, usage, help) \
	{ CMD_##id, #id, ctl, fl, args, usage, help },
	CMD_TABLE(CMD_DEF)
#undef CMD_DEF
};

static const char *const status_names[] = {
	[CMD_OK] = "ok",
	[CMD_EINVAL] = "invalid",
	[CMD_ENOTFOUND] = "not_found",
	[CMD_EPRECOND] = "precondition_failed",
	[CMD_ETOOBIG] = "too_large",
	[CMD_ENOSPC] = "no_space",
	[CMD_EIO] = "io_error",
	[CMD_ENOTIMPL] = "not_implemented",
};

const struct cmd_def *
cmd_find(const char *name)
{
	size_t i;

	for (i = 0; i < CMD_COUNT; i++)
		if ((cmd_defs[i].flags & CMD_F_MASTER) &&
		    strcmp(cmd_defs[i].name, name) == 0)
			return &cmd_defs[i];
	return NULL;
}

const struct cmd_def *
cmd_find_ctl(const char *name)
{
	size_t i;

	for (i = 0; i < CMD_COUNT; i++)
		if ((cmd_defs[i].flags & CMD_F_CTL) &&
		    strcmp(cmd_defs[i].ctlname, name) == 0)
			return &cmd_defs[i];
	return NULL;
}

const char *
cmd_status_name(enum cmd_status st)
{
	if ((size_t)st >= sizeof(status_names) / sizeof(status_names[0]))
		return "error";
	return status_names[st];
}

static enum ctlproto_err
fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum ctlproto_err
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return CTLPROTO_EINVAL;
}

static bool
type_ok(char t, struct json_object *v)
{
	switch (t) {
	case 's':
		return json_object_is_type(v, json_type_string);
	case 'i':
		return json_object_is_type(v, json_type_int);
	case 'b':
		return json_object_is_type(v, json_type_boolean);
	case 'o':
		return json_object_is_type(v, json_type_object);
	default:
		return true;
	}
}

static const char *
type_name(char t)
{
	switch (t) {
	case 's':
		return "string";
	case 'i':
		return "integer";
	case 'b':
		return "bool";
	case 'o':
		return "object";
	default:
		return "value";
	}
}

/*
 * Is `name` one of spec's argument names? Sets *t to its type.
 * NB: compares whole names, word by word: a strstr() scan never moved on
 * past an empty name ("" from the request), and spun the master.
 */
static bool
spec_has(const char *spec, const char *name, char *t)
{
	size_t n = strlen(name), len;
	const char *colon;

	for (; *spec != '\0'; spec += len, spec += strspn(spec, " ")) {
		len = strcspn(spec, " ");
		colon = memchr(spec, ':', len);
		if (colon != NULL && (size_t)(colon - spec) == n &&
		    memcmp(spec, name, n) == 0) {
			*t = colon[1];
			return true;
		}
	}
	return false;
}

static enum ctlproto_err
check_spec(const struct cmd_def *def, struct json_object *req, char *err,
    size_t errlen)
{
	char name[64], t;
	const char *p = def->args, *colon;
	struct json_object *v;
	size_t n, nl;

	while (*p != '\0') {
		n = strcspn(p, " ");
		colon = memchr(p, ':', n);
		nl = (size_t)(colon - p) < sizeof(name) ?
		    (size_t)(colon - p) : sizeof(name) - 1;
		memcpy(name, p, nl);
		name[nl] = '\0';
		t = colon[1];
		/* null counts as absent, except for a value of any type
		 * (REST's PUT with an empty body gives a null rule, which
		 * the rule parser then names: host_details_not_list). */
		if (!json_object_object_get_ex(req, name, &v) ||
		    (t != 'a' && json_object_is_type(v, json_type_null))) {
			if (colon[2] != '?')
				return fail(err, errlen, "arg_missing:%s",
				    name);
		} else if (!type_ok(t, v))
			return fail(err, errlen, "arg_type:%s:expected %s",
			    name, type_name(t));
		p += n;
		p += strspn(p, " ");
	}
	return CTLPROTO_OK;
}

/*
 * The name of the innermost key above a string with a NUL in it, or NULL.
 * NB: JSON's \u0000 gives json-c a string whose C length is shorter than
 * its length, and the rest of mantrid takes strings as C strings: the
 * checks would see "a.com" and the journal would keep "a.com\0..."; so
 * such a string is refused here, once, for every front door. Recursion
 * is bounded by the tokener's depth (JSON_TOKENER_DEFAULT_DEPTH).
 */
static const char *
nul_in(struct json_object *o, const char *key)
{
	const char *s;
	size_t i, n;

	switch (json_object_get_type(o)) {
	case json_type_string:
		s = json_object_get_string(o);
		n = (size_t)json_object_get_string_len(o);
		return memchr(s, '\0', n) != NULL ? key : NULL;
	case json_type_array:
		n = json_object_array_length(o);
		for (i = 0; i < n; i++)
			if ((s = nul_in(json_object_array_get_idx(o, i), key)))
				return s;
		return NULL;
	case json_type_object:
		json_object_object_foreach(o, k, v)
			if ((s = nul_in(v, k)) != NULL)
				return s;
		return NULL;
	default:
		return NULL;
	}
}

enum ctlproto_err
ctlproto_check_args(const struct cmd_def *def, struct json_object *req,
    char *err, size_t errlen)
{
	const char *k;
	char t;

	json_object_object_foreach(req, name, v) {
		(void)v;
		if (strcmp(name, "cmd") != 0 && !spec_has(def->args, name, &t))
			return fail(err, errlen, "arg_unknown:%s", name);
	}
	if (check_spec(def, req, err, errlen) != CTLPROTO_OK)
		return CTLPROTO_EINVAL;
	if ((k = nul_in(req, NULL)) != NULL)
		return fail(err, errlen, "arg_invalid:%.64s:contains a NUL byte",
		    k);
	return CTLPROTO_OK;
}

/* NB: s is not NUL-terminated (it points into a socket buffer). */
bool
ctlproto_only_space(const char *s, size_t n)
{
	for (; n > 0; s++, n--)
		if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
			return false;
	return true;
}

/*
 * NB: one tokener per thread, reset per request: json_tokener_new()
 * callocs its parse stack, a few % of a set's CPU in the master.
 */
static struct json_object *
parse_json(const char *line, size_t len, char *err, size_t errlen)
{
	static _Thread_local struct json_tokener *tok;
	struct json_object *o;
	enum json_tokener_error je;
	size_t end;

	if (tok == NULL && (tok = json_tokener_new()) == NULL) {
		fail(err, errlen, "out_of_memory");
		return NULL;
	}
	json_tokener_reset(tok);
	o = json_tokener_parse_ex(tok, line, (int)len);
	je = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	/* A bare literal or number ("null", "5") needs its end seen. */
	if (je == json_tokener_continue) {
		o = json_tokener_parse_ex(tok, "", 1);
		if (json_tokener_get_error(tok) == json_tokener_success)
			je = json_tokener_success;
	}
	if (je == json_tokener_success && !ctlproto_only_space(line + end, len - end)) {
		json_object_put(o);
		o = NULL;
		fail(err, errlen, "json_invalid:trailing data");
	} else if (je != json_tokener_success)
		fail(err, errlen, "json_invalid:%s",
		    je == json_tokener_continue ? "unexpected end of input" :
		    json_tokener_error_desc(je));
	return o;
}

enum ctlproto_err
ctlproto_parse_request(const char *line, size_t len, struct json_object **req,
    const struct cmd_def **def, char *err, size_t errlen)
{
	struct json_object *o, *c;

	*req = NULL;
	if (len > CTL_LINE_MAX)
		return fail(err, errlen, "request_too_large");
	if ((o = parse_json(line, len, err, errlen)) == NULL)
		return CTLPROTO_EINVAL;
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return fail(err, errlen, "request_not_object");
	}
	if (!json_object_object_get_ex(o, "cmd", &c) ||
	    !json_object_is_type(c, json_type_string)) {
		json_object_put(o);
		return fail(err, errlen, "cmd_missing");
	}
	if ((*def = cmd_find(json_object_get_string(c))) == NULL) {
		fail(err, errlen, "cmd_unknown:%.64s", json_object_get_string(c));
		json_object_put(o);
		return CTLPROTO_EINVAL;
	}
	if (ctlproto_check_args(*def, o, err, errlen) != CTLPROTO_OK) {
		json_object_put(o);
		return CTLPROTO_EINVAL;
	}
	*req = o;
	return CTLPROTO_OK;
}

struct json_object *
ctlproto_reply(enum cmd_status st, uint64_t gen, struct json_object *result,
    const char *err)
{
	struct json_object *r = json_object_new_object();

	json_object_object_add(r, "ok", json_object_new_boolean(st == CMD_OK));
	if (st == CMD_OK) {
		json_object_object_add(r, "generation",
		    json_object_new_int64((int64_t)gen));
		json_object_object_add(r, "result", result);
	} else {
		json_object_put(result);
		json_object_object_add(r, "status",
		    json_object_new_string(cmd_status_name(st)));
		json_object_object_add(r, "error",
		    json_object_new_string(err != NULL ? err : "error"));
	}
	return r;
}

char *
ctlproto_line(struct json_object *o, size_t *len)
{
	size_t n;
	const char *s;
	char *line;

	s = json_object_to_json_string_length(o, SERIALIZE, &n);
	if ((line = malloc(n + 2)) == NULL)
		return NULL;
	memcpy(line, s, n);
	line[n] = '\n';
	line[n + 1] = '\0';
	*len = n + 1;
	return line;
}

enum ctlproto_err
ctlproto_parse_reply(const char *line, size_t len, bool *ok, uint64_t *gen,
    struct json_object **result, char *err, size_t errlen)
{
	struct json_object *o, *v;

	*result = NULL;
	*gen = 0;
	if ((o = parse_json(line, len, err, errlen)) == NULL)
		return CTLPROTO_EINVAL;
	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "ok", &v)) {
		json_object_put(o);
		return fail(err, errlen, "reply_invalid");
	}
	*ok = json_object_get_boolean(v);
	if (*ok) {
		if (json_object_object_get_ex(o, "generation", &v))
			*gen = (uint64_t)json_object_get_int64(v);
		if (json_object_object_get_ex(o, "result", &v))
			*result = json_object_get(v);
	} else
		snprintf(err, errlen, "%s",
		    json_object_object_get_ex(o, "error", &v) ?
		    json_object_get_string(v) : "error");
	json_object_put(o);
	return CTLPROTO_OK;
}

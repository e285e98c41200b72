/*
 * ctlproto.h: the control socket's line protocol, shared by the master
 * and mantridctl. One JSON object per line each way:
 *
 *	-> {"cmd": "set", "host": "example.com", "rule": ["empty", {"code": 204}, false]}
 *	<- {"ok": true, "generation": 7, "result": null}
 *	<- {"ok": false, "status": "invalid", "error": "host_kwarg_missing:code"}
 *
 * Arguments are checked against the command table (cmd.h) here, so every
 * front door rejects the same inputs with the same message.
 */
#ifndef MANTRID_CTLPROTO_H
#define MANTRID_CTLPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmd.h"

struct json_object;

#define CTL_LINE_MAX	(16u << 20)	/* one request or reply */

enum ctlproto_err {
	CTLPROTO_OK = 0,
	CTLPROTO_EINVAL		/* err says what */
};

/*
 * Parse one request line (without its newline). On success *req is the
 * request object (caller puts it) and *def its command; every argument
 * has been checked against def->args.
 */
enum ctlproto_err ctlproto_parse_request(const char *line, size_t len,
		    struct json_object **req, const struct cmd_def **def,
		    char *err, size_t errlen);
/*
 * Check req's arguments against def->args (also used by REST), and that
 * no string in req holds a NUL ("arg_invalid:<key>:contains a NUL byte").
 */
enum ctlproto_err ctlproto_check_args(const struct cmd_def *,
		    struct json_object *req, char *err, size_t errlen);

/* A reply object (new reference); result is consumed (may be NULL). */
struct json_object *ctlproto_reply(enum cmd_status, uint64_t generation,
		    struct json_object *result, const char *err);
/* The line to send for a JSON value: compact, '\n'-terminated (malloc). */
char		*ctlproto_line(struct json_object *, size_t *len);
/* Only blanks (space, tab, CR, LF) in s[0..n): what may follow a JSON value. */
bool		 ctlproto_only_space(const char *s, size_t n);

/*
 * Client side: parse a reply line. On success *ok tells which kind; a
 * success's result (maybe NULL) is in *result (caller puts it), a
 * failure's message in err.
 */
enum ctlproto_err ctlproto_parse_reply(const char *line, size_t len,
		    bool *ok, uint64_t *generation,
		    struct json_object **result, char *err, size_t errlen);

#endif

/*
 * master_backends.h: the operator's backend commands (issue 5), in the
 * command table (common/cmd.h) and behind REST's /backends/. Implemented
 * in master_backends.c; signatures are master_cmd.h's cmd_handler.
 * Master only.
 *
 * args carries "address" ("host:port" as in the rules), and "weight" for
 * cmd_backend_weight. Unknown address -> CMD_ENOTFOUND with "not_found".
 * The changes honour an optional "if_match" as the rule changes do
 * (cmd_check_if_match: CMD_EPRECOND, nothing changed).
 */
#ifndef MANTRID_MASTER_BACKENDS_H
#define MANTRID_MASTER_BACKENDS_H

#include <stddef.h>

struct master;
struct json_object;

int	cmd_backends(struct master *, struct json_object *args,
	    struct json_object **reply, char *err, size_t errlen);
int	cmd_backend_get(struct master *, struct json_object *args,
	    struct json_object **reply, char *err, size_t errlen);
int	cmd_backend_enable(struct master *, struct json_object *args,
	    struct json_object **reply, char *err, size_t errlen);
int	cmd_backend_disable(struct master *, struct json_object *args,
	    struct json_object **reply, char *err, size_t errlen);
int	cmd_backend_drain(struct master *, struct json_object *args,
	    struct json_object **reply, char *err, size_t errlen);
int	cmd_backend_weight(struct master *, struct json_object *args,
	    struct json_object **reply, char *err, size_t errlen);

#endif

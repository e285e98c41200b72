/*
 * master_cmd.h: the command layer every front door shares (control
 * socket, REST). Handlers are generated from the table in common/cmd.h:
 * each one validates its arguments, runs, and fills a reply; the
 * dispatcher makes mutations durable (master_state.c's journal) before
 * it calls back. Master only.
 */
#ifndef MANTRID_MASTER_CMD_H
#define MANTRID_MASTER_CMD_H

#include <stddef.h>
#include <stdint.h>

#include "../common/cmd.h"

struct master;
struct json_object;

/*
 * The handler signature of every command. args is the request object
 * (already checked against the table's argument spec); *reply gets the
 * result (NULL = JSON null). Returns an enum cmd_status; on failure err
 * holds the user's error string and nothing has changed.
 */
typedef int (*cmd_handler)(struct master *, struct json_object *args,
    struct json_object **reply, char *err, size_t errlen);

#define CMD_PROTO(id, ctl, fl, args, usage, help)			\
	int cmd_##id(struct master *, struct json_object *,		\
	    struct json_object **, char *, size_t);
CMD_TABLE(CMD_PROTO)
#undef CMD_PROTO

/*
 * Called once the command is done (for a mutation: once it is on disk).
 * result is a new reference the callee owns; err is NULL on success.
 */
typedef void (*cmd_done_cb)(enum cmd_status, struct json_object *result,
    uint64_t generation, const char *err, void *arg);

/* Run def with args (borrowed); done may be called before this returns. */
void	master_cmd_run(struct master *, const struct cmd_def *,
	    struct json_object *args, cmd_done_cb done, void *arg);

#endif

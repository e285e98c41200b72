/*
 * master_cmd.h: the command layer every front door shares (control
 * socket, REST). Handlers are generated from the table in common/cmd.h:
 * each one validates its arguments, runs, and fills a reply; the
 * dispatcher makes mutations durable (master_state.c's journal) before
 * it calls back. Master only.
 */
#ifndef MANTRID_MASTER_CMD_H
#define MANTRID_MASTER_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/cmd.h"
#include "../common/rule.h"

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

/*
 * Every change's precondition: args' "if_match", when present, must be
 * the rules' generation, else CMD_EPRECOND (err set). Call it before
 * changing anything.
 */
int	cmd_check_if_match(struct master *, struct json_object *args,
	    char *err, size_t errlen);

/* Run def with args (borrowed); done may be called before this returns. */
void	master_cmd_run(struct master *, const struct cmd_def *,
	    struct json_object *args, cmd_done_cb done, void *arg);

/*
 * A {"host": [action, kwargs, subdomains], ...} object as replace_all
 * entries (set_all, and the state file at start-up). Strict: the first
 * bad host fails it all (CMD_EINVAL, err "<host>:<why>", Mantrid's form).
 * lenient (start-up: RULE_P_LENIENT): bad hosts are logged and skipped.
 * CMD_EIO when out of memory. host_set_free() in every case.
 */
struct host_set {
	struct ruledb_entry	*entries;
	struct rule		*rules;
	char			(*keys)[RULE_KEY_MAX + 1];
	size_t			 n;
};
int	host_set_parse(struct host_set *, struct json_object *hosts,
	    bool lenient, char *err, size_t errlen);
void	host_set_free(struct host_set *);

#endif

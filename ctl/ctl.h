/*
 * ctl.h: mantridctl's parts. mantridctl.c owns the command line and the
 * output; ctl_transport.c owns talking to the daemon, over the control
 * socket (one JSON line each way) or over REST (--url).
 */
#ifndef MANTRID_CTL_H
#define MANTRID_CTL_H

#include <stddef.h>
#include <stdint.h>

#include "../common/cmd.h"

struct json_object;

struct ctl_target {
	const char	*socket;	/* control socket path */
	const char	*url;		/* REST base URL, or NULL */
	const char	*token;		/* Bearer token for REST, or NULL */
};

/*
 * Run one command. args is the request object (with "cmd"). Returns 0
 * with *result (new reference, may be NULL) and *gen, or -1 with err.
 */
int	ctl_call(const struct ctl_target *, const struct cmd_def *,
	    struct json_object *args, struct json_object **result,
	    uint64_t *gen, char *err, size_t errlen);

#endif

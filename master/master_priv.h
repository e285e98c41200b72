/*
 * master_priv.h: choosing the daemon's user and dropping root for good.
 */
#ifndef MANTRID_MASTER_PRIV_H
#define MANTRID_MASTER_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "../common/config-t.h"

#define PRIV_DEFAULT_USER	"mantrid"
#define PRIV_FALLBACK_ID	4321	/* Mantrid's uid/gid */

/* The uid/gid the daemon runs as when started as root. */
void	priv_target(const struct config *, uid_t *, gid_t *);
/*
 * Chroot (if chroot_dir is non-empty), then setgroups, setresgid,
 * setresuid, then verify root cannot be regained. Returns 0, or -1 with
 * err filled; the caller must treat -1 as fatal.
 */
int	priv_drop(uid_t, gid_t, const char *chroot_dir, char *err, size_t);

#endif

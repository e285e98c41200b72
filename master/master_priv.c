/*
 * master_priv.c: the one function that drops privileges, and the choice of
 * the user to drop to. relayd's and nginx's order: chroot while still
 * root, then groups, then gid, then uid (uid last, or the gid change would
 * be refused), then prove that none of it can be undone.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "master_priv.h"

void
priv_target(const struct config *cfg, uid_t *uid, gid_t *gid)
{
	struct passwd *pw = NULL;

	if (cfg->have_user) {
		*uid = cfg->uid;
		pw = getpwuid(cfg->uid);
	} else if ((pw = getpwnam(PRIV_DEFAULT_USER)) != NULL)
		*uid = pw->pw_uid;
	else
		*uid = PRIV_FALLBACK_ID;

	if (cfg->have_group)
		*gid = cfg->gid;
	else if (pw != NULL)
		*gid = pw->pw_gid;
	else
		*gid = PRIV_FALLBACK_ID;
}

static int
verify_dropped(uid_t uid, gid_t gid, char *err, size_t errlen)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1 ||
	    ru != uid || eu != uid || su != uid ||
	    rg != gid || eg != gid || sg != gid) {
		snprintf(err, errlen, "ids not fully changed");
		return -1;
	}
	if (uid != 0 && (setuid(0) != -1 || seteuid(0) != -1)) {
		snprintf(err, errlen, "root could be regained after the drop");
		return -1;
	}
	if (gid != 0 && uid != 0 && (setgid(0) != -1 || setegid(0) != -1)) {
		snprintf(err, errlen, "gid 0 could be regained after the drop");
		return -1;
	}
	return 0;
}

int
priv_drop(uid_t uid, gid_t gid, const char *chroot_dir, char *err,
    size_t errlen)
{
	if (chroot_dir != NULL && *chroot_dir != '\0') {
		if (chroot(chroot_dir) == -1 || chdir("/") == -1) {
			snprintf(err, errlen, "chroot %s: %s", chroot_dir,
			    strerror(errno));
			return -1;
		}
	}
	if (setgroups(1, &gid) == -1) {
		snprintf(err, errlen, "setgroups %u: %s", (unsigned)gid,
		    strerror(errno));
		return -1;
	}
	if (setresgid(gid, gid, gid) == -1) {
		snprintf(err, errlen, "setresgid %u: %s", (unsigned)gid,
		    strerror(errno));
		return -1;
	}
	if (setresuid(uid, uid, uid) == -1) {
		snprintf(err, errlen, "setresuid %u: %s", (unsigned)uid,
		    strerror(errno));
		return -1;
	}
	return verify_dropped(uid, gid, err, errlen);
}

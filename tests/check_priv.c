/*
 * check_priv.c: the privilege drop (master/master_priv.c). Needs root to
 * do anything real; as a normal user it checks what it can (the choice of
 * user, that a drop without root fails cleanly) and says so.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/conf.h"
#include "master/master_priv.h"

START_TEST(test_target_explicit)
{
	struct config cfg;
	uid_t uid;
	gid_t gid;

	config_defaults(&cfg);
	cfg.have_user = cfg.have_group = true;
	cfg.uid = 1234;
	cfg.gid = 5678;
	priv_target(&cfg, &uid, &gid);
	ck_assert_int_eq(uid, 1234);
	ck_assert_int_eq(gid, 5678);
}
END_TEST

START_TEST(test_target_default)
{
	struct config cfg;
	uid_t uid;
	gid_t gid;

	config_defaults(&cfg);
	priv_target(&cfg, &uid, &gid);
	/* "mantrid" if that user exists, else Mantrid's 4321 */
	ck_assert(uid != 0);
	ck_assert(gid != 0);
}
END_TEST

START_TEST(test_drop_unprivileged_fails)
{
	char err[256];

	if (geteuid() == 0) {
		printf("check_priv: running as root, unprivileged case skipped\n");
		return;
	}
	ck_assert_int_eq(priv_drop(0, 0, NULL, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "setgroups"));
}
END_TEST

/* As root, in a child: drop, then every way back to root must fail. */
static int
child_drop(const char *chroot_dir)
{
	char err[256];
	gid_t groups[4];

	if (priv_drop(4321, 4321, chroot_dir, err, sizeof(err)) == -1) {
		fprintf(stderr, "priv_drop: %s\n", err);
		return 1;
	}
	if (getuid() != 4321 || geteuid() != 4321 || getgid() != 4321 ||
	    getegid() != 4321)
		return 2;
	if (getgroups(4, groups) != 1 || groups[0] != 4321)
		return 3;
	if (setuid(0) != -1 || seteuid(0) != -1 || setgid(0) != -1)
		return 4;
	if (chroot_dir != NULL && access("/marker", F_OK) != 0)
		return 5;
	return 0;
}

static void
run_child(const char *chroot_dir)
{
	int status;
	pid_t pid;

	if (geteuid() != 0) {
		printf("check_priv: not root, privilege drop order not tested\n");
		return;
	}
	if ((pid = fork()) == 0)
		_exit(child_drop(chroot_dir));
	ck_assert_int_ne(pid, -1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}

START_TEST(test_drop_root)
{
	run_child(NULL);
}
END_TEST

START_TEST(test_drop_root_chroot)
{
	char dir[] = "/tmp/check_priv.XXXXXX", marker[64];
	FILE *fp;

	if (geteuid() != 0) {
		printf("check_priv: not root, chroot not tested\n");
		return;
	}
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chmod(dir, 0755), 0);	/* searchable once dropped */
	snprintf(marker, sizeof(marker), "%s/marker", dir);
	ck_assert_ptr_nonnull(fp = fopen(marker, "w"));
	fclose(fp);
	run_child(dir);
	unlink(marker);
	rmdir(dir);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("priv");
	TCase *tc = tcase_create("drop");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_target_explicit);
	tcase_add_test(tc, test_target_default);
	tcase_add_test(tc, test_drop_unprivileged_fails);
	tcase_add_test(tc, test_drop_root);
	tcase_add_test(tc, test_drop_root_chroot);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

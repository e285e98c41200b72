/*
 * check_conf.c: the configuration and address parsers (common/conf.c,
 * common/addr.c), table-driven: every option, every error.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "common/conf.h"

static const struct good_case {
	const char	*text;
	const char	*field;		/* what to check */
	long long	 want;
} good[] = {
	{ "timeout_connect = 7", "timeout_connect", 7 },
	{ "timeout_header=3", "timeout_header", 3 },
	{ "timeout_client = 61 # trailing comment", "timeout_client", 61 },
	{ "timeout_server = 62", "timeout_server", 62 },
	{ "timeout_cleanup = 4", "timeout_cleanup", 4 },
	{ "drain_timeout = 0", "drain_timeout", 0 },
	{ "server_retry = 5", "server_retry", 5 },
	{ "backlog = 128", "backlog", 128 },
	{ "loglevel = 3", "loglevel", 3 },
	{ "loglevel = warn", "loglevel", 1 },
	{ "daemonize = yes", "daemonize", 1 },
	{ "daemonize = off", "daemonize", 0 },
	{ "workers = 3", "workers", 3 },
	{ "WORKERS = 4", "workers", 4 },	/* Mantrid: any case */
	{ "shm_size = 64m", "shm_size", 64LL << 20 },
	{ "shm_size = 2G", "shm_size", 2LL << 30 },
	{ "max_connections = 1000", "max_connections", 1000 },
	{ "spin_max = 9", "spin_max", 9 },
	{ "max_uri = 4k", "max_uri", 4096 },
	{ "max_header_size = 16384", "max_header_size", 16384 },
	{ "max_header_lines = 50", "max_header_lines", 50 },
	{ "buffer_size = 32k", "buffer_size", 32768 },
	{ "health_check = true", "health_check", 1 },
	{ "health_interval = 2", "health_interval", 2 },
	{ "health_timeout = 1", "health_timeout", 1 },
	{ "rise = 4", "rise", 4 },
	{ "fall = 5", "fall", 5 },
	{ "uid = 4321", "uid", 4321 },
	{ "gid = 4321", "gid", 4321 },
	{ "group = root", "gid", 0 },
	{ "access_log_format = json", "access_log_format", ALF_JSON },
	{ "control_allow = 0, 1000", "ncontrol_allow", 2 },
	{ "# only a comment\n\n   \n", "workers_default", 0 },
	{ "health_path =", "health_path_empty", 1 },
};

static long long
field_value(const struct config *c, const char *f)
{
#define F(n) if (strcmp(f, #n) == 0) return (long long)c->n
	F(timeout_connect); F(timeout_header); F(timeout_client);
	F(timeout_server); F(timeout_cleanup); F(drain_timeout);
	F(server_retry); F(backlog); F(loglevel); F(daemonize); F(workers);
	F(shm_size); F(max_connections); F(spin_max); F(max_uri);
	F(max_header_size); F(max_header_lines); F(buffer_size);
	F(health_check); F(health_interval); F(health_timeout); F(rise);
	F(fall); F(uid); F(gid); F(access_log_format); F(ncontrol_allow);
#undef F
	if (strcmp(f, "health_path_empty") == 0)
		return c->health_path[0] == '\0';
	if (strcmp(f, "workers_default") == 0)
		return c->workers >= 1 ? 0 : -1;
	ck_abort_msg("no field %s", f);
	return -1;
}

START_TEST(test_good)
{
	const struct good_case *g = &good[_i];
	struct config cfg;
	char err[512] = "";

	config_defaults(&cfg);
	ck_assert_msg(config_parse_text(&cfg, "t.conf", g->text, err,
	    sizeof(err)) == CONFIG_OK, "%s: %s", g->text, err);
	ck_assert_int_eq(field_value(&cfg, g->field), g->want);
}
END_TEST

static const struct bad_case {
	const char	*text;
	const char	*err;		/* exact error */
} bad[] = {
	{ "nosuch = 1", "t.conf:1: nosuch: unknown option" },
	{ "\n\nworkers = 0", "t.conf:3: workers: \"0\" is not a whole number from 1 to 256" },
	{ "workers = two", "t.conf:1: workers: \"two\" is not a whole number from 1 to 256" },
	{ "workers = 2\nworkers = 3", "t.conf:2: workers: given twice (it takes one value)" },
	{ "timeout_connect = -1", "t.conf:1: timeout_connect: \"-1\" is not a whole number from 1 to 3600" },
	{ "shm_size = 10", "t.conf:1: shm_size: \"10\" is not a size from 1048576 to 68719476736" },
	{ "shm_size = 12x", "t.conf:1: shm_size: \"12x\" is not a size from 1048576 to 68719476736" },
	{ "daemonize = maybe", "t.conf:1: daemonize: \"maybe\" is not yes/no/true/false/on/off" },
	{ "loglevel = 9", "t.conf:1: loglevel: \"9\" is not 0-3 or error/warn/info/debug" },
	{ "bind = 1.2.3:80", "t.conf:1: bind: bad address \"1.2.3:80\" (numeric IPv4, [IPv6], * or localhost)" },
	{ "bind = 127.0.0.1:0", "t.conf:1: bind: bad port in \"127.0.0.1:0\" (1-65535)" },
	{ "bind = 127.0.0.1:65536", "t.conf:1: bind: bad port in \"127.0.0.1:65536\" (1-65535)" },
	{ "bind = ::1:80", "t.conf:1: bind: bad address \"::1:80\" (expected ADDR:PORT, [IPV6]:PORT or *:PORT)" },
	{ "bind_management = [::1", "t.conf:1: bind_management: bad address \"[::1\" (expected ADDR:PORT, [IPV6]:PORT or *:PORT)" },
	{ "bind_internal = example.com:80", "t.conf:1: bind_internal: bad address \"example.com:80\" (numeric IPv4, [IPv6], * or localhost)" },
	{ "user = no-such-user-xyz", "t.conf:1: user: unknown user \"no-such-user-xyz\"" },
	/* also the name lookup: root is the one name every system has */
	{ "user = root", "t.conf:1: user: must not be root (uid 0)" },
	{ "\nuid = 0", "t.conf:2: uid: must not be root (uid 0)" },
	{ "uid = 4321\nuser = 4321", "t.conf:2: user: given twice, also as uid (it takes one value)" },
	{ "user = 4321\nuid = 4321", "t.conf:2: uid: given twice, also as user (it takes one value)" },
	{ "gid = 4321\ngroup = 4321", "t.conf:2: group: given twice, also as gid (it takes one value)" },
	{ "group = 4321\n\ngid = 4321", "t.conf:3: gid: given twice, also as group (it takes one value)" },
	{ "group = no-such-group-xyz", "t.conf:1: group: unknown group \"no-such-group-xyz\"" },
	{ "state_file = relative/path", "t.conf:1: state_file: \"relative/path\" is not an absolute path" },
	{ "health_path = nope", "t.conf:1: health_path: must start with / (or be empty: TCP connect only)" },
	{ "access_log_format = xml", "t.conf:1: access_log_format: \"xml\" is not combined or json" },
	{ "just words", "t.conf:1: expected \"name = value\"" },
	{ "= 3", "t.conf:1: expected \"name = value\"" },
};

START_TEST(test_bad)
{
	const struct bad_case *b = &bad[_i];
	struct config cfg;
	char err[512] = "";

	config_defaults(&cfg);
	ck_assert_int_eq(config_parse_text(&cfg, "t.conf", b->text, err,
	    sizeof(err)), CONFIG_EINVAL);
	ck_assert_str_eq(err, b->err);
}
END_TEST

static const struct addr_case {
	const char	*text;
	int		 n;		/* entries, 0 = error */
	const char	*first;		/* printed form of the first */
	const char	*second;
} addrs[] = {
	{ "*:80", 2, "0.0.0.0:80", "[::]:80" },
	{ "*", 2, "0.0.0.0:8000", "[::]:8000" },
	{ "8080", 2, "0.0.0.0:8080", "[::]:8080" },
	{ "0.0.0.0:80", 1, "0.0.0.0:80", NULL },
	{ "10.0.0.1:80", 1, "10.0.0.1:80", NULL },
	{ "127.0.0.1", 1, "127.0.0.1:8000", NULL },
	{ "[::]:80", 1, "[::]:80", NULL },
	{ "[::1]:8042", 1, "[::1]:8042", NULL },
	{ "[::1]", 1, "[::1]:8000", NULL },
	{ "localhost:8042", 2, "127.0.0.1:8042", "[::1]:8042" },
	{ "", 0, NULL, NULL },
	{ ":80", 0, NULL, NULL },
	{ "1.2.3.4:", 0, NULL, NULL },
	{ "1.2.3.4:80x", 0, NULL, NULL },
	{ "[1.2.3.4]:80", 0, NULL, NULL },
	{ "[::1]x", 0, NULL, NULL },
	{ "::1", 0, NULL, NULL },
	{ "256.1.1.1:80", 0, NULL, NULL },
	{ "host.example:80", 0, NULL, NULL },
};

START_TEST(test_addr)
{
	const struct addr_case *a = &addrs[_i];
	struct sockaddr_storage ss[2];
	socklen_t len[2];
	size_t n = 99;
	char err[256], buf[80];
	enum addr_err rc;

	rc = addr_parse_bind(a->text, 8000, ss, len, &n, err, sizeof(err));
	if (a->n == 0) {
		ck_assert_msg(rc == ADDR_EINVAL, "%s accepted", a->text);
		ck_assert_int_gt(strlen(err), 0);
		return;
	}
	ck_assert_msg(rc == ADDR_OK, "%s: %s", a->text, err);
	ck_assert_int_eq(n, a->n);
	addr_format((struct sockaddr *)&ss[0], buf, sizeof(buf));
	ck_assert_str_eq(buf, a->first);
	if (a->second) {
		addr_format((struct sockaddr *)&ss[1], buf, sizeof(buf));
		ck_assert_str_eq(buf, a->second);
	}
}
END_TEST

START_TEST(test_defaults_and_binds)
{
	struct config cfg;
	char err[256];

	config_defaults(&cfg);
	config_finish(&cfg);
	/* Mantrid's defaults: *:80 for clients, localhost:8042 management */
	ck_assert_int_eq(cfg.nbinds, 4);
	ck_assert_str_eq(cfg.binds[0].text, "0.0.0.0:80");
	ck_assert_str_eq(cfg.binds[1].text, "[::]:80");
	ck_assert_int_eq(cfg.binds[2].kind, BIND_MANAGEMENT);
	ck_assert_str_eq(cfg.binds[2].text, "127.0.0.1:8042");
	ck_assert_str_eq(cfg.binds[3].text, "[::1]:8042");

	config_defaults(&cfg);
	ck_assert_int_eq(config_parse_text(&cfg, "t", "bind = 127.0.0.1:8080\n"
	    "bind = [::1]:8080\nbind_internal = 127.0.0.1:8081\n"
	    "bind_management = 127.0.0.1:9042\n", err, sizeof(err)), CONFIG_OK);
	config_finish(&cfg);
	ck_assert_int_eq(cfg.nbinds, 4);
	ck_assert_int_eq(cfg.binds[2].kind, BIND_INTERNAL);
	ck_assert_str_eq(cfg.binds[3].text, "127.0.0.1:9042");
}
END_TEST

START_TEST(test_load_missing)
{
	struct config cfg;
	char err[256];

	config_defaults(&cfg);
	ck_assert_int_eq(config_load(&cfg, "/nonexistent/mantrid.conf", err,
	    sizeof(err)), CONFIG_ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/mantrid.conf"));
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("parse");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_good, 0, sizeof(good) / sizeof(good[0]));
	tcase_add_loop_test(tc, test_bad, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_loop_test(tc, test_addr, 0, sizeof(addrs) / sizeof(addrs[0]));
	tcase_add_test(tc, test_defaults_and_binds);
	tcase_add_test(tc, test_load_missing);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

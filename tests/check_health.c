/*
 * check_health.c: unit tests of master/master_health.c in a real event
 * loop with real sockets: probes against backends that answer 200, answer
 * 500, hang, or refuse; rise/fall; recovery of a passively downed backend
 * every timeout_cleanup; operator states and their state-file form.
 *
 * The backends are forked children running a blocking accept loop on
 * loopback; each test waits on a condition with a deadline.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "../common/conf.h"
#include "../common/ruledb.h"
#include "../master/master.h"
#include "../master/master_pool.h"
#include "../worker/worker_balance.h"

enum mode { B_OK, B_500, B_HANG, B_REFUSE, B_NMODES };

static struct master	 M;
static pid_t		 kids[B_NMODES];
static int		 ports[B_NMODES];
static uint32_t		 idx[B_NMODES];

static void
serve(int ls, enum mode mode)
{
	static const char ok[] = "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
	static const char bad[] =
	    "HTTP/1.0 500 Oops\r\nContent-Length: 0\r\n\r\n";
	char	buf[1024];
	int	c;

	for (;;) {
		if ((c = accept(ls, NULL, NULL)) == -1)
			continue;
		if (mode == B_HANG) {
			pause();
			continue;
		}
		(void)read(c, buf, sizeof(buf));	/* one small request */
		if (mode == B_OK)
			(void)write(c, ok, sizeof(ok) - 1);
		else
			(void)write(c, bad, sizeof(bad) - 1);
		shutdown(c, SHUT_WR);
		while (read(c, buf, sizeof(buf)) > 0)
			;
		close(c);
	}
}

/* A loopback listener; for B_REFUSE the port is closed again at once. */
static int
start_backend(enum mode mode)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	int			s;

	s = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(s, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(s, 16), 0);
	ck_assert_int_eq(getsockname(s, (struct sockaddr *)&sin, &len), 0);
	if (mode == B_REFUSE) {
		close(s);
		return ntohs(sin.sin_port);
	}
	if ((kids[mode] = fork()) == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);	/* never outlive us */
		serve(s, mode);
	}
	close(s);
	return ntohs(sin.sin_port);
}

static void
set_rule(const char *host, int n)
{
	struct rule_backend	 be[B_NMODES];
	struct sockaddr_in	*sin;
	struct rule		 r;
	char			 err[256] = "";
	int			 i;

	memset(&r, 0, sizeof(r));
	memset(be, 0, sizeof(be));
	for (i = 0; i < n; i++) {
		sin = (struct sockaddr_in *)&be[i].ss;
		snprintf(be[i].addr, sizeof(be[i].addr), "127.0.0.1:%d",
		    ports[i]);
		sin->sin_family = AF_INET;
		sin->sin_port = htons(ports[i]);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		be[i].sslen = sizeof(*sin);
		be[i].weight = 1;
		be[i].enabled = true;
	}
	r.action = RULE_PROXY;
	r.backends = be;
	r.nbackends = (size_t)n;
	r.attempts = 1;
	r.delay_ms = 1000;
	r.timeout_s = 120;
	r.kwargs_json = (char *)"{}";
	ck_assert_msg(ruledb_set(M.db, host, &r, err, sizeof(err)) ==
	    RULEDB_OK, "ruledb_set: %s", err);
	for (i = 0; i < n; i++)
		ck_assert_ptr_nonnull(ruledb_backend_find(M.db, be[i].addr,
		    &idx[i]));
}

static uint32_t
health(enum mode b)
{
	return atomic_load(&ruledb_backend(M.db, idx[b])->health);
}

/* Run the loop until every backend in want[] has its health, or 10 s. */
static bool
wait_health(const uint32_t *want, int n)
{
	struct timespec	t0, now;
	int		i, done;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		for (done = 0, i = 0; i < n; i++)
			done += health((enum mode)i) == want[i];
		if (done == n)
			return true;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec >= 10)
			return false;
		event_base_loop(M.base, EVLOOP_ONCE);
	}
}

static void
setup(void)
{
	char	err[256] = "";
	int	i;

	memset(&M, 0, sizeof(M));
	config_defaults(&M.cfg);
	M.cfg.timeout_cleanup = 1;
	M.cfg.health_interval = 1;
	M.cfg.health_timeout = 1;
	M.cfg.rise = 2;
	M.cfg.fall = 2;
	M.ctl_fd = -1;
	M.base = event_base_new();
	M.db = ruledb_create(4u << 20, 1, err, sizeof(err));
	ck_assert_msg(M.db != NULL, "ruledb_create: %s", err);
	balance_init(&M.cfg);
	for (i = 0; i < B_NMODES; i++)
		ports[i] = start_backend((enum mode)i);
}

static void
teardown(void)
{
	int	i;

	for (i = 0; i < B_NMODES; i++)
		if (kids[i] > 0) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
			kids[i] = 0;
		}
}

/* 500, hanging and refusing backends go down, with the reason kept. */
START_TEST(test_active_fall)
{
	static const uint32_t	want[B_NMODES] =
	    { BH_UP, BH_DOWN, BH_DOWN, BH_DOWN };
	struct pool_info	pi;

	M.cfg.health_check = true;
	set_rule("hc.example", B_NMODES);
	ck_assert_int_eq(master_health_start(&M), 0);
	ck_assert_msg(wait_health(want, B_NMODES), "states %u %u %u %u",
	    health(B_OK), health(B_500), health(B_HANG), health(B_REFUSE));
	ck_assert_int_eq(pool_info_get(&M, idx[B_500], &pi), 0);
	ck_assert_str_eq(pi.last_error, "HTTP 500");
	ck_assert(!pi.up);
	ck_assert_int_eq(pool_info_get(&M, idx[B_HANG], &pi), 0);
	ck_assert_str_eq(pi.last_error, "timeout");
	ck_assert_int_eq(pool_info_get(&M, idx[B_REFUSE], &pi), 0);
	ck_assert_str_eq(pi.last_error, "Connection refused");
	ck_assert_int_eq(pool_info_get(&M, idx[B_OK], &pi), 0);
	ck_assert(pi.up && pi.last_ok && pi.last_check != 0);
}
END_TEST

/*
 * Without health_check: workers mark backends down (passive); the
 * master probes them every timeout_cleanup and brings back the one
 * that accepts connections; the refusing one stays down.
 */
START_TEST(test_passive_recovery)
{
	static const uint32_t	down[B_NMODES] =
	    { BH_DOWN, BH_DOWN, BH_DOWN, BH_DOWN };
	static const uint32_t	back[B_NMODES] =
	    { BH_UP, BH_UP, BH_UP, BH_DOWN };
	int			i, k;

	set_rule("plb.example", B_NMODES);
	ck_assert_int_eq(master_health_start(&M), 0);
	for (i = 0; i < B_NMODES; i++)
		for (k = 0; k < 3; k++)		/* server_retry 3 */
			balance_report(M.db, idx[i], false);
	ck_assert(wait_health(down, B_NMODES));
	/* TCP connect is the check: 500 and hanging backends accept */
	ck_assert(wait_health(back, B_NMODES));
	ck_assert_uint_eq(atomic_load(&ruledb_backend(M.db,
	    idx[B_OK])->consecutive_fails), 0);
}
END_TEST

START_TEST(test_admin)
{
	static const uint32_t	up1[1] = { BH_UP };
	struct json_object	*o, *e, *v;
	struct pool_info	 pi;
	int			 k;

	set_rule("adm.example", 1);
	ck_assert_int_eq(master_health_start(&M), 0);

	ck_assert_int_eq(pool_set_admin(&M, idx[0], POOL_DRAINING), 0);
	ck_assert_uint_eq(health(B_OK), BH_DRAINING);
	for (k = 0; k < 5; k++)		/* failures never undo a drain */
		balance_report(M.db, idx[0], false);
	ck_assert_uint_eq(health(B_OK), BH_DRAINING);
	ck_assert_int_eq(pool_set_admin(&M, idx[0], POOL_DISABLED), 0);
	ck_assert_uint_eq(health(B_OK), BH_DISABLED);
	ck_assert_int_eq(pool_set_weight(&M, idx[0], 7), 0);
	ck_assert_uint_eq(atomic_load(&ruledb_backend(M.db,
	    idx[0])->weight_override), 7);

	o = pool_state_save(&M);
	ck_assert(json_object_object_get_ex(o, ruledb_backend(M.db,
	    idx[0])->addr, &e));
	ck_assert(json_object_object_get_ex(e, "enabled", &v));
	ck_assert(!json_object_get_boolean(v));
	ck_assert(json_object_object_get_ex(e, "weight", &v));
	ck_assert_int_eq(json_object_get_int(v), 7);

	ck_assert_int_eq(pool_set_admin(&M, idx[0], POOL_ENABLED), 0);
	ck_assert_int_eq(pool_set_weight(&M, idx[0], 0), 0);
	ck_assert(wait_health(up1, 1));
	json_object_put(pool_state_save(&M));

	pool_state_load(&M, o);		/* back to disabled, weight 7 */
	json_object_put(o);
	ck_assert_uint_eq(health(B_OK), BH_DISABLED);
	ck_assert_int_eq(pool_info_get(&M, idx[0], &pi), 0);
	ck_assert_uint_eq(pi.weight, 7);
	ck_assert_int_eq(pi.admin, POOL_DISABLED);
}
END_TEST

/* A setting loaded before its backend exists waits for it. */
START_TEST(test_pending_load)
{
	struct json_object	*o;
	char			 js[128];

	snprintf(js, sizeof(js), "{\"127.0.0.1:%d\": {\"enabled\": true,"
	    " \"drain\": true, \"weight\": 3}}", ports[0]);
	o = json_tokener_parse(js);
	ck_assert_ptr_nonnull(o);
	pool_state_load(&M, o);
	json_object_put(o);
	ck_assert_int_eq(master_health_start(&M), 0);
	set_rule("late.example", 1);
	event_base_loop(M.base, EVLOOP_ONCE);	/* the 1 s scan adopts it */
	while (health(B_OK) != BH_DRAINING)
		event_base_loop(M.base, EVLOOP_ONCE);
	ck_assert_uint_eq(atomic_load(&ruledb_backend(M.db,
	    idx[0])->weight_override), 3);
}
END_TEST

static Suite *
health_suite(void)
{
	Suite	*s = suite_create("health");
	TCase	*tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_active_fall);
	tcase_add_test(tc, test_passive_recovery);
	tcase_add_test(tc, test_admin);
	tcase_add_test(tc, test_pending_load);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(health_suite());
	int	 failed;

	signal(SIGPIPE, SIG_IGN);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

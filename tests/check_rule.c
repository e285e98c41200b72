/*
 * check_rule.c: the rule model's JSON side (common/rule.c): every action's
 * kwargs, every backend form, every error string, host keys, and records
 * back to JSON through the real rule database.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../common/rule.h"
#include "../common/ruledb.h"

static enum rule_perr
parse(const char *text, struct rule *r, char *err, size_t errlen)
{
	struct json_object *o = json_tokener_parse(text);
	enum rule_perr e;

	e = rule_parse(o, RULE_P_RESOLVE, r, err, errlen);
	json_object_put(o);
	return e;
}

/* ---- accepted ----------------------------------------------------------- */

static const struct {
	const char	*json;
	int		 action;
	size_t		 nbackends;
	const char	*addr0;		/* first backend's canonical addr */
} good[] = {
	{ "[\"proxy\", {\"backends\": [\"127.0.0.1:8000\"]}, false]",
	    RULE_PROXY, 1, "127.0.0.1:8000" },
	{ "[\"proxy\", {\"backends\": [[\"127.0.0.1\", 8000]]}, true]",
	    RULE_PROXY, 1, "127.0.0.1:8000" },
	/* mantrid-client sent ports (and everything) as strings */
	{ "[\"proxy\", {\"backends\": [[\"127.0.0.1\", \"8000\"]], "
	    "\"attempts\": \"3\", \"delay\": \"0.5\"}, true]",
	    RULE_PROXY, 1, "127.0.0.1:8000" },
	{ "[\"proxy\", {\"backends\": [{\"address\": \"[::1]:81\", "
	    "\"weight\": 10, \"enabled\": false}, \"localhost:82\"], "
	    "\"algorithm\": \"roundrobin\", \"hold_when_down\": true, "
	    "\"timeout\": 30}, false]", RULE_PROXY, 2, "[::1]:81" },
	{ "[\"spin\", {}, false]", RULE_SPIN, 0, NULL },
	{ "[\"spin\", {\"timeout\": 5, \"check_interval\": 1}, false]",
	    RULE_SPIN, 0, NULL },
	{ "[\"static\", {\"type\": \"maintenance\"}, false]", RULE_STATIC, 0,
	    NULL },
	{ "[\"redirect\", {\"redirect_to\": \"www.example.com\"}, false]",
	    RULE_REDIRECT, 0, NULL },
	{ "[\"redirect\", {\"targets\": [\"http://127.0.0.1:8080/img\", "
	    "{\"url\": \"https://127.0.0.1\", \"weight\": 2}]}, false]",
	    RULE_REDIRECT, 2, "127.0.0.1:8080" },
	{ "[\"empty\", {\"code\": 204}, true]", RULE_EMPTY, 0, NULL },
	{ "[\"empty\", {\"code\": \"503\"}, true]", RULE_EMPTY, 0, NULL },
	{ "[\"unknown\", {}, false]", RULE_UNKNOWN, 0, NULL },
	{ "[\"redirect\", {\"targets\": [\"http://127.0.0.1:8080\"], "
	    "\"algorithm\": \"roundrobin\"}, false]",
	    RULE_REDIRECT, 1, "127.0.0.1:8080" },
};

START_TEST(test_good)
{
	struct rule r;
	char err[256] = "";

	ck_assert_msg(parse(good[_i].json, &r, err, sizeof(err)) == RULE_OK,
	    "%s: %s", good[_i].json, err);
	ck_assert_int_eq(r.action, good[_i].action);
	ck_assert_uint_eq(r.nbackends, good[_i].nbackends);
	if (good[_i].addr0 != NULL) {
		ck_assert_str_eq(r.backends[0].addr, good[_i].addr0);
		ck_assert_uint_gt(r.backends[0].sslen, 0);
	}
	ck_assert_ptr_nonnull(r.kwargs_json);
	rule_free(&r);
}
END_TEST

START_TEST(test_fields)
{
	struct rule r;
	char err[256];

	ck_assert_int_eq(parse(good[3].json, &r, err, sizeof(err)), RULE_OK);
	ck_assert_int_eq(r.backends[0].weight, 10);
	ck_assert(!r.backends[0].enabled);
	ck_assert_int_eq(r.backends[1].weight, 1);
	ck_assert(r.backends[1].enabled);
	ck_assert_int_eq(r.algorithm, ALGO_ROUNDROBIN);
	ck_assert(r.hold_when_down);
	ck_assert_int_eq(r.timeout_s, 30);
	ck_assert_int_eq(r.attempts, 1);	/* default */
	ck_assert_int_eq(r.delay_ms, 1000);	/* default */
	rule_free(&r);

	ck_assert_int_eq(parse(good[2].json, &r, err, sizeof(err)), RULE_OK);
	ck_assert_int_eq(r.attempts, 3);
	ck_assert_int_eq(r.delay_ms, 500);
	ck_assert(r.subdomains);
	/* kwargs stay as given, so GET returns what was PUT */
	ck_assert_str_eq(r.kwargs_json, "{\"backends\":[[\"127.0.0.1\",\"8000\"]],"
	    "\"attempts\":\"3\",\"delay\":\"0.5\"}");
	rule_free(&r);

	ck_assert_int_eq(parse(good[10].json, &r, err, sizeof(err)), RULE_OK);
	ck_assert_int_eq(r.code, 503);
	rule_free(&r);

	ck_assert_int_eq(parse(good[8].json, &r, err, sizeof(err)), RULE_OK);
	ck_assert_str_eq(r.backends[1].addr, "127.0.0.1:443");
	ck_assert_str_eq(r.backends[1].url, "https://127.0.0.1");
	ck_assert_int_eq(r.backends[1].weight, 2);
	rule_free(&r);
}
END_TEST

/* ---- rejected, with the exact error ------------------------------------- */

static const struct {
	const char	*json;
	const char	*err;
	enum rule_perr	 e;
} bad[] = {
	{ "{\"a\": 1}", "host_details_not_list", RULE_EINVAL },
	{ "null", "host_details_not_list", RULE_EINVAL },
	{ "[\"proxy\", {}]", "host_details_wrong_length", RULE_EINVAL },
	{ "[\"foo\", {}, false]", "host_action_invalid:foo", RULE_EINVAL },
	{ "[\"no-hosts\", {}, false]", "host_action_invalid:no-hosts",
	    RULE_EINVAL },
	{ "[\"spin\", [], false]", "host_kwargs_not_dict", RULE_EINVAL },
	{ "[\"spin\", {}, \"yes\"]", "host_match_subdomains_not_bool",
	    RULE_EINVAL },
	{ "[\"proxy\", {}, false]", "host_kwarg_missing:backends",
	    RULE_EINVAL },
	{ "[\"proxy\", {\"backends\": []}, false]",
	    "host_kwarg_invalid:backends:must be a non-empty list",
	    RULE_EINVAL },
	{ "[\"proxy\", {\"backends\": [\"127.0.0.1:0\"]}, false]",
	    "host_kwarg_invalid:backends:port must be 1-65535", RULE_EINVAL },
	{ "[\"proxy\", {\"backends\": [\"127.0.0.1:65536\"]}, false]",
	    "host_kwarg_invalid:backends:port must be 1-65535", RULE_EINVAL },
	{ "[\"proxy\", {\"backends\": [[\"127.0.0.1\", 70000]]}, false]",
	    "host_kwarg_invalid:backends:port must be 1-65535", RULE_EINVAL },
	{ "[\"proxy\", {\"backends\": [\"127.0.0.1\"]}, false]",
	    "host_kwarg_invalid:backends:expected host:port", RULE_EINVAL },
	{ "[\"proxy\", {\"backends\": [[\"127.0.0.1\"]]}, false]",
	    "host_kwarg_invalid:backends:expected [host, port]", RULE_EINVAL },
	{ "[\"proxy\", {\"backends\": [{\"weight\": 1}]}, false]",
	    "host_kwarg_invalid:backends:address missing", RULE_EINVAL },
	{ "[\"proxy\", {\"backends\": [{\"address\": \"127.0.0.1:80\", "
	    "\"weight\": -1}]}, false]",
	    "host_kwarg_invalid:backends:weight must be 0-1000000",
	    RULE_EINVAL },
	{ "[\"proxy\", {\"backends\": [{\"address\": \"127.0.0.1:80\", "
	    "\"enabled\": 3}]}, false]",
	    "host_kwarg_invalid:backends:enabled must be a bool", RULE_EINVAL },
	{ "[\"proxy\", {\"backends\": [5]}, false]",
	    "host_kwarg_invalid:backends:bad entry", RULE_EINVAL },
	{ "[\"proxy\", {\"backends\": [\"no-such-host.invalid:80\"]}, false]",
	    "backend_unresolvable:no-such-host.invalid:80", RULE_ERESOLVE },
	{ "[\"proxy\", {\"backends\": [\"127.0.0.1:80\"], \"attempts\": 0}, "
	    "false]", "host_kwarg_invalid:attempts:must be 1-100", RULE_EINVAL },
	{ "[\"proxy\", {\"backends\": [\"127.0.0.1:80\"], \"delay\": -1}, "
	    "false]", "host_kwarg_invalid:delay:must be 0-3600 seconds",
	    RULE_EINVAL },
	{ "[\"proxy\", {\"backends\": [\"127.0.0.1:80\"], \"algorithm\": "
	    "\"best\"}, false]", "host_kwarg_invalid:algorithm:unknown algorithm",
	    RULE_EINVAL },
	{ "[\"proxy\", {\"backends\": [\"127.0.0.1:80\"], \"bogus\": 1}, "
	    "false]", "host_kwarg_unknown:bogus", RULE_EINVAL },
	{ "[\"spin\", {\"timeout\": 0}, false]",
	    "host_kwarg_invalid:timeout:must be 1-86400 seconds", RULE_EINVAL },
	{ "[\"spin\", {\"timeout\": \"soon\"}, false]",
	    "host_kwarg_invalid:timeout:must be 1-86400 seconds", RULE_EINVAL },
	{ "[\"spin\", {\"check_interval\": 0}, false]",
	    "host_kwarg_invalid:check_interval:must be a positive integer",
	    RULE_EINVAL },
	{ "[\"static\", {}, false]", "host_kwarg_missing:type", RULE_EINVAL },
	{ "[\"static\", {\"type\": \"../etc/passwd\"}, false]",
	    "host_kwarg_invalid:type:must be a name of [A-Za-z0-9._-]",
	    RULE_EINVAL },
	{ "[\"redirect\", {}, false]", "host_kwarg_missing:redirect_to",
	    RULE_EINVAL },
	{ "[\"redirect\", {\"redirect_to\": \"x\\r\\nSet-Cookie: a\"}, false]",
	    "host_kwarg_invalid:redirect_to:must be a URL or host", RULE_EINVAL },
	{ "[\"redirect\", {\"targets\": [\"ftp://x\"]}, false]",
	    "host_kwarg_invalid:targets:url must be http(s)://", RULE_EINVAL },
	{ "[\"empty\", {}, false]", "host_kwarg_missing:code", RULE_EINVAL },
	{ "[\"empty\", {\"code\": 99}, false]",
	    "host_kwarg_invalid:code:must be 200-599", RULE_EINVAL },
	{ "[\"empty\", {\"code\": 100}, false]",
	    "host_kwarg_invalid:code:must be 200-599", RULE_EINVAL },
	{ "[\"empty\", {\"code\": 199}, false]",
	    "host_kwarg_invalid:code:must be 200-599", RULE_EINVAL },
	{ "[\"empty\", {\"code\": 600}, false]",
	    "host_kwarg_invalid:code:must be 200-599", RULE_EINVAL },
	{ "[\"unknown\", {\"code\": 200}, false]", "host_kwarg_unknown:code",
	    RULE_EINVAL },
};

START_TEST(test_bad)
{
	struct rule r;
	char err[256] = "";

	ck_assert_int_eq(parse(bad[_i].json, &r, err, sizeof(err)), bad[_i].e);
	ck_assert_str_eq(err, bad[_i].err);
}
END_TEST

START_TEST(test_lenient)
{
	struct json_object *o = json_tokener_parse(
	    "[\"proxy\", {\"backends\": [\"no-such-host.invalid:80\"]}, false]");
	struct rule r;
	char err[256];

	ck_assert_int_eq(rule_parse(o, RULE_P_RESOLVE | RULE_P_LENIENT, &r,
	    err, sizeof(err)), RULE_OK);
	ck_assert_uint_eq(r.backends[0].sslen, 0);
	rule_free(&r);
	json_object_put(o);
}
END_TEST

/* ---- host keys ---------------------------------------------------------- */

static const struct {
	const char	*host;
	const char	*key;		/* NULL = rejected */
} keys[] = {
	{ "example.com", "example.com" },
	{ "Example.COM.", "example.com" },
	{ "https://www.Example.com", "https://www.example.com" },
	{ "http://a.b", "http://a.b" },
	{ "localhost", "localhost" },
	{ "a_b.example.com", "a_b.example.com" },
	{ "[::1]", "[::1]" },
	{ "[2001:DB8::1]", "[2001:db8::1]" },
	{ "http://[::1]", "http://[::1]" },
	{ "[::1]:80", NULL },
	{ "[::1", NULL },
	{ "[zz::1]", NULL },
	{ "[]", NULL },
	{ "", NULL },
	{ "bad..host", NULL },
	{ ".lead.dot", NULL },
	{ "-x.com", NULL },
	{ "x-.com", NULL },
	{ "sp ace.com", NULL },
	{ "sl/ash.com", NULL },
	{ "*.example.com", NULL },
	{ "ftp://x.com", NULL },
	{ "https://", NULL },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    ".com", NULL },		/* 64-char label */
};

START_TEST(test_keys)
{
	char key[RULE_KEY_MAX + 1], err[64] = "";
	enum rule_perr e;

	e = rule_key_check(keys[_i].host, key, sizeof(key), err, sizeof(err));
	if (keys[_i].key == NULL) {
		ck_assert_int_eq(e, RULE_EINVAL);
		ck_assert_str_eq(err, "hostname_invalid");
	} else {
		ck_assert_int_eq(e, RULE_OK);
		ck_assert_str_eq(key, keys[_i].key);
	}
}
END_TEST

/* ---- records back to JSON, through the real rule database --------------- */

START_TEST(test_rec_to_json)
{
	const char *in = "[\"proxy\",{\"backends\":[[\"127.0.0.1\",8000]],"
	    "\"attempts\":2},true]";
	struct json_object *o, *back;
	struct ruledb *db;
	struct rule r;
	char err[256];

	db = ruledb_create(1 << 20, 1, err, sizeof(err));
	ck_assert_msg(db != NULL, "%s", err);
	ck_assert_int_eq(parse(in, &r, err, sizeof(err)), RULE_OK);
	ck_assert_int_eq(ruledb_set(db, "example.com", &r, err, sizeof(err)),
	    RULEDB_OK);
	rule_free(&r);
	back = rule_rec_to_json(ruledb_get(db, "example.com"));
	o = json_tokener_parse(in);
	ck_assert(json_object_equal(o, back));
	json_object_put(o);
	json_object_put(back);
	ruledb_destroy(db);
}
END_TEST

START_TEST(test_names)
{
	int i;

	for (i = 0; i < RULE_UNKNOWN + 1; i++)
		ck_assert_int_eq(rule_action_lookup(rule_action_name(i)), i);
	for (i = 0; i < ALGO_COUNT; i++)
		ck_assert_int_eq(rule_algo_lookup(rule_algo_name(i)), i);
	ck_assert_int_eq(rule_action_lookup("mirror"), -1);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("rule");
	TCase *tc = tcase_create("rule");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_good, 0, sizeof(good) / sizeof(good[0]));
	tcase_add_test(tc, test_fields);
	tcase_add_loop_test(tc, test_bad, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, test_lenient);
	tcase_add_loop_test(tc, test_keys, 0, sizeof(keys) / sizeof(keys[0]));
	tcase_add_test(tc, test_rec_to_json);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * check_cmd.c: the command table (common/cmd.h) and the control protocol
 * (common/ctlproto.c): every command parses with good arguments, and
 * every kind of bad request gets its own error string.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../common/ctlproto.h"

/* One good request per command of the protocol. */
static const char *const good[] = {
	"{\"cmd\": \"list\"}",
	"{\"cmd\": \"get\", \"host\": \"example.com\"}",
	"{\"cmd\": \"set\", \"host\": \"example.com\", \"rule\": "
	    "[\"empty\", {\"code\": 204}, false]}",
	"{\"cmd\": \"set\", \"host\": \"example.com\", \"rule\": "
	    "[\"spin\", {}, false], \"if_match\": 7}",
	"{\"cmd\": \"set_all\", \"hosts\": {}}",
	"{\"cmd\": \"delete\", \"host\": \"example.com\"}",
	"{\"cmd\": \"delete\", \"host\": \"example.com\", \"if_match\": null}",
	"{\"cmd\": \"stats\"}",
	"{\"cmd\": \"stats\", \"host\": \"example.com\"}",
	"{\"cmd\": \"info\"}",
	"{\"cmd\": \"save\"}",
	"{\"cmd\": \"export\"}",
	"{\"cmd\": \"backends\"}",
	"{\"cmd\": \"backend_get\", \"address\": \"127.0.0.1:80\"}",
	"{\"cmd\": \"backend_enable\", \"address\": \"127.0.0.1:80\"}",
	"{\"cmd\": \"backend_disable\", \"address\": \"127.0.0.1:80\"}",
	"{\"cmd\": \"backend_drain\", \"address\": \"127.0.0.1:80\"}",
	"{\"cmd\": \"backend_weight\", \"address\": \"127.0.0.1:80\", "
	    "\"weight\": 3}",
	"{\"cmd\": \"backend_weight\", \"address\": \"127.0.0.1:80\", "
	    "\"weight\": 3, \"if_match\": 7}",
	"{\"cmd\": \"backend_disable\", \"address\": \"127.0.0.1:80\", "
	    "\"if_match\": 7}",
	"  {\"cmd\": \"info\"}  \r",
};

START_TEST(test_good)
{
	const struct cmd_def *def = NULL;
	struct json_object *req;
	char err[256] = "";

	ck_assert_msg(ctlproto_parse_request(good[_i], strlen(good[_i]), &req,
	    &def, err, sizeof(err)) == CTLPROTO_OK, "%s: %s", good[_i], err);
	ck_assert_ptr_nonnull(def);
	ck_assert_ptr_nonnull(req);
	json_object_put(req);
}
END_TEST

static const struct {
	const char	*line;
	const char	*err;
} bad[] = {
	{ "not json", "json_invalid:" },
	{ "{\"cmd\": \"list\"", "json_invalid:unexpected end of input" },
	{ "{\"cmd\": \"list\"} {}", "json_invalid:trailing data" },
	{ "[1, 2]", "request_not_object" },
	{ "{}", "cmd_missing" },
	{ "{\"cmd\": 5}", "cmd_missing" },
	{ "{\"cmd\": \"frobnicate\"}", "cmd_unknown:frobnicate" },
	{ "{\"cmd\": \"get\"}", "arg_missing:host" },
	{ "{\"cmd\": \"get\", \"host\": null}", "arg_missing:host" },
	{ "{\"cmd\": \"get\", \"host\": 5}", "arg_type:host:expected string" },
	{ "{\"cmd\": \"set\", \"host\": \"a.com\"}", "arg_missing:rule" },
	{ "{\"cmd\": \"set\", \"host\": \"a.com\", \"rule\": [], "
	    "\"if_match\": \"7\"}", "arg_type:if_match:expected integer" },
	{ "{\"cmd\": \"set_all\", \"hosts\": []}",
	    "arg_type:hosts:expected object" },
	{ "{\"cmd\": \"list\", \"host\": \"a.com\"}", "arg_unknown:host" },
	/* an empty name once spun the master (spec_has) */
	{ "{\"cmd\": \"list\", \"\": 1}", "arg_unknown:" },
	{ "{\"cmd\": \"get\", \"host\": \"a.com\", \"\": 1}",
	    "arg_unknown:" },
	{ "{\"cmd\": \"get\", \"host\": \"a.com\", \"ost\": 1}",
	    "arg_unknown:ost" },
	{ "{\"cmd\": \"backend_weight\", \"address\": \"a:1\"}",
	    "arg_missing:weight" },
	{ "{\"cmd\": \"backend_weight\", \"address\": \"a:1\", "
	    "\"weight\": true}", "arg_type:weight:expected integer" },
	{ "{\"cmd\": \"stats\", \"host\": []}",
	    "arg_type:host:expected string" },
	/* json-c keeps a \u0000; the C string checks would not see past it */
	{ "{\"cmd\": \"get\", \"host\": \"a.com\\u0000.evil\"}",
	    "arg_invalid:host:contains a NUL byte" },
	{ "{\"cmd\": \"set\", \"host\": \"a.com\", \"rule\": [\"redirect\", "
	    "{\"redirect_to\": \"http://a\\u0000\\r\\nX: 1\"}, false]}",
	    "arg_invalid:redirect_to:contains a NUL byte" },
	{ "{\"cmd\": \"set_all\", \"hosts\": {\"a.com\": [\"static\", "
	    "{\"type\": \"ok\\u0000/x\"}, false]}}",
	    "arg_invalid:type:contains a NUL byte" },
	{ "{\"cmd\": \"set\", \"host\": \"a.com\", \"rule\": "
	    "[\"spin\\u0000x\", {}, false]}",
	    "arg_invalid:rule:contains a NUL byte" },
};

START_TEST(test_bad)
{
	const struct cmd_def *def;
	struct json_object *req = (void *)1;
	char err[256] = "";

	ck_assert_int_eq(ctlproto_parse_request(bad[_i].line,
	    strlen(bad[_i].line), &req, &def, err, sizeof(err)),
	    CTLPROTO_EINVAL);
	ck_assert_ptr_null(req);
	ck_assert_msg(strncmp(err, bad[_i].err, strlen(bad[_i].err)) == 0,
	    "%s: got %s, want %s", bad[_i].line, err, bad[_i].err);
}
END_TEST

START_TEST(test_too_large)
{
	const struct cmd_def *def;
	struct json_object *req;
	char err[64];
	size_t n = CTL_LINE_MAX + 1;
	char *line = malloc(n);

	memset(line, ' ', n);
	ck_assert_int_eq(ctlproto_parse_request(line, n, &req, &def, err,
	    sizeof(err)), CTLPROTO_EINVAL);
	ck_assert_str_eq(err, "request_too_large");
	free(line);
}
END_TEST

/* The parser must not read past len: lines point into socket buffers. */
START_TEST(test_not_terminated)
{
	const char buf[] = "{\"cmd\":\"info\"}\n{\"cmd\":";
	const struct cmd_def *def;
	struct json_object *req;
	char err[64];

	ck_assert_int_eq(ctlproto_parse_request(buf, 14, &req, &def, err,
	    sizeof(err)), CTLPROTO_OK);
	ck_assert_int_eq(def->id, CMD_info);
	json_object_put(req);
}
END_TEST

START_TEST(test_table)
{
	size_t i;

	for (i = 0; i < CMD_COUNT; i++) {
		const struct cmd_def *d = &cmd_defs[i];

		ck_assert_int_eq(d->id, (int)i);
		ck_assert(d->usage[0] != '\0' && d->help[0] != '\0');
		ck_assert_ptr_eq(strstr(d->usage, d->ctlname), d->usage);
		if (d->flags & CMD_F_MASTER)
			ck_assert_ptr_eq(cmd_find(d->name), d);
		if (d->flags & CMD_F_CTL)
			ck_assert_ptr_eq(cmd_find_ctl(d->ctlname), d);
	}
	ck_assert_ptr_null(cmd_find("nope"));
	ck_assert_int_eq(cmd_find_ctl("import")->id, CMD_set_all);
	ck_assert(cmd_defs[CMD_set].flags & CMD_F_MUTATION);
	ck_assert(!(cmd_defs[CMD_get].flags & CMD_F_MUTATION));
}
END_TEST

START_TEST(test_replies)
{
	struct json_object *r, *res;
	char err[128], *line;
	size_t len;
	uint64_t gen;
	bool ok;

	r = ctlproto_reply(CMD_OK, 42, json_object_new_string("x"), NULL);
	line = ctlproto_line(r, &len);
	ck_assert_str_eq(line,
	    "{\"ok\":true,\"generation\":42,\"result\":\"x\"}\n");
	ck_assert_int_eq(ctlproto_parse_reply(line, len - 1, &ok, &gen, &res,
	    err, sizeof(err)), CTLPROTO_OK);
	ck_assert(ok);
	ck_assert_uint_eq(gen, 42);
	ck_assert_str_eq(json_object_get_string(res), "x");
	json_object_put(res);
	json_object_put(r);
	free(line);

	r = ctlproto_reply(CMD_EPRECOND, 0, NULL, "precondition_failed");
	line = ctlproto_line(r, &len);
	ck_assert_str_eq(line, "{\"ok\":false,\"status\":\"precondition_failed\","
	    "\"error\":\"precondition_failed\"}\n");
	ck_assert_int_eq(ctlproto_parse_reply(line, len, &ok, &gen, &res,
	    err, sizeof(err)), CTLPROTO_OK);
	ck_assert(!ok);
	ck_assert_str_eq(err, "precondition_failed");
	json_object_put(r);
	free(line);

	ck_assert_int_eq(ctlproto_parse_reply("[]", 2, &ok, &gen, &res, err,
	    sizeof(err)), CTLPROTO_EINVAL);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("cmd");
	TCase *tc = tcase_create("cmd");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_good, 0, sizeof(good) / sizeof(good[0]));
	tcase_add_loop_test(tc, test_bad, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, test_too_large);
	tcase_add_test(tc, test_not_terminated);
	tcase_add_test(tc, test_table);
	tcase_add_test(tc, test_replies);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

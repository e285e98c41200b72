/*
 * check_state.c: the state file and the journal (master/master_state.c,
 * master_state_load.c, master_journal.c) with the real rule database: Mantrid's format
 * loads as is (fixtures written by hand from its documented format), a
 * round trip keeps rules and counters, journals replay (a torn last record
 * is dropped, the zeros ahead of the records end them), the backends'
 * operator settings replay as a whole (what a later record leaves out is
 * back to its default), and a corrupt file is moved aside, never
 * overwritten.
 * Each test runs in its own process (Check's fork mode): master_state*.c
 * keep one process-wide state.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "../common/conf.h"
#include "../common/rule.h"
#include "../common/ruledb.h"
#include "../master/master.h"
#include "../master/master_pool.h"
#include "../master/master_state.h"

/* Written by hand from Mantrid's docs: what its save() wrote. */
static const char mantrid_state[] =
    "{\"hosts\": {"
    "\"example.com\": [\"proxy\", {\"backends\": [[\"127.0.0.1\", 8000], "
    "[\"127.0.0.1\", \"8001\"]]}, true], "
    "\"maint.example.com\": [\"static\", {\"type\": \"test\"}, false], "
    "\"slow.example.com\": [\"spin\", {\"timeout\": 60, \"check_interval\": "
    "5}, false], "
    "\"old.example.com\": [\"redirect\", {\"redirect_to\": "
    "\"www.example.com\"}, false], "
    "\"https://secure.example.com\": [\"empty\", {\"code\": 503}, false], "
    "\"gone.example.com\": [\"unknown\", {}, true]}, "
    "\"stats\": {\"example.com\": {\"open_requests\": 3, "
    "\"completed_requests\": 120, \"bytes_received\": 4096, "
    "\"bytes_sent\": 65536}, \"deleted.example.com\": {}}}";

static char dir[] = "/tmp/check_state.XXXXXX";

static struct master *
setup(void)
{
	static struct master m;
	char err[256];

	/* a "restart": the old database and directory go away */
	if (m.db != NULL) {
		ruledb_destroy(m.db);
		close(m.state_dirfd);
	}
	memset(&m, 0, sizeof(m));
	config_defaults(&m.cfg);
	snprintf(m.cfg.state_file, sizeof(m.cfg.state_file), "%s/state.json",
	    dir);
	m.state_dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(m.state_dirfd, 0);
	m.db = ruledb_create(16 << 20, 1, err, sizeof(err));
	ck_assert_msg(m.db != NULL, "%s", err);
	return &m;
}

static void
put_file(const char *name, const char *text)
{
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ck_assert_ptr_nonnull(fp = fopen(path, "w"));
	fputs(text, fp);
	fclose(fp);
}

static struct json_object *
read_json(const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return json_object_from_file(path);
}

/* Name of the first file starting with prefix, or NULL. */
static char *
find_file(const char *prefix)
{
	static char found[256];
	struct dirent *de;
	DIR *d = opendir(dir);

	while (d != NULL && (de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
			snprintf(found, sizeof(found), "%s", de->d_name);
			closedir(d);
			return found;
		}
	if (d != NULL)
		closedir(d);
	return NULL;
}

static void
clean_dir(void)
{
	struct dirent *de;
	char path[512];
	DIR *d = opendir(dir);

	while (d != NULL && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	if (d != NULL)
		closedir(d);
}

static const char *
rule_text(struct master *m, const char *key)
{
	static char buf[1024];
	const struct rule_rec *rec = ruledb_get(m->db, key);
	struct json_object *o;

	if (rec == NULL)
		return "null";
	o = rule_rec_to_json(rec);
	snprintf(buf, sizeof(buf), "%s", json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return buf;
}

START_TEST(test_missing_file)
{
	struct master *m = setup();
	struct json_object *o, *h;

	ck_assert_int_eq(master_state_load(m), 0);
	ck_assert_uint_eq(ruledb_count(m->db), 0);
	/* A fresh (empty) file is written at once, in Mantrid's shape. */
	ck_assert_ptr_nonnull(o = read_json("state.json"));
	ck_assert(json_object_object_get_ex(o, "hosts", &h));
	ck_assert_int_eq(json_object_object_length(h), 0);
	ck_assert(json_object_object_get_ex(o, "stats", NULL));
	json_object_put(o);
}
END_TEST

START_TEST(test_mantrid_file)
{
	struct master *m = setup();
	const struct rule_rec *rec;
	struct host_counters *c;

	put_file("state.json", mantrid_state);
	ck_assert_int_eq(master_state_load(m), 0);
	ck_assert_uint_eq(ruledb_count(m->db), 6);
	ck_assert_str_eq(rule_text(m, "example.com"), "[\"proxy\",{\"backends\":"
	    "[[\"127.0.0.1\",8000],[\"127.0.0.1\",\"8001\"]]},true]");
	ck_assert_str_eq(rule_text(m, "https://secure.example.com"),
	    "[\"empty\",{\"code\":503},false]");
	ck_assert_str_eq(rule_text(m, "gone.example.com"),
	    "[\"unknown\",{},true]");
	rec = ruledb_get(m->db, "example.com");
	ck_assert_ptr_nonnull(c = ruledb_counters(m->db, rec));
	ck_assert_uint_eq(atomic_load(&c->completed), 120);
	ck_assert_uint_eq(atomic_load(&c->bytes_in), 4096);
	ck_assert_uint_eq(atomic_load(&c->bytes_out), 65536);
	ck_assert_uint_eq(atomic_load(&c->open), 0);	/* nothing open yet */
}
END_TEST

START_TEST(test_round_trip)
{
	struct master *m = setup();
	struct json_object *before, *after, *h1, *h2, *s;

	put_file("state.json", mantrid_state);
	ck_assert_int_eq(master_state_load(m), 0);
	ck_assert_int_eq(master_state_save(m), 0);
	before = read_json("state.json");
	ck_assert_ptr_nonnull(before);
	/* What we wrote loads in a new database and writes the same. */
	m = setup();
	ck_assert_int_eq(master_state_load(m), 0);
	after = read_json("state.json");
	ck_assert(json_object_object_get_ex(before, "hosts", &h1));
	ck_assert(json_object_object_get_ex(after, "hosts", &h2));
	ck_assert(json_object_equal(h1, h2));
	ck_assert(json_object_object_get_ex(after, "stats", &s));
	ck_assert(json_object_object_get_ex(s, "example.com", &s));
	ck_assert_int_eq(json_object_get_int(json_object_object_get(s,
	    "completed_requests")), 120);
	json_object_put(before);
	json_object_put(after);
}
END_TEST

START_TEST(test_journal_replay)
{
	struct master *m = setup();

	put_file("state.json", "{\"hosts\": {\"a.com\": [\"spin\", {}, false], "
	    "\"b.com\": [\"spin\", {}, false]}, \"stats\": {}}");
	put_file("state.json.journal.3",
	    "{\"op\":\"set\",\"host\":\"c.com\",\"rule\":[\"empty\","
	    "{\"code\":204},false]}\n"
	    "{\"op\":\"delete\",\"host\":\"a.com\"}\n");
	put_file("state.json.journal.4",
	    "{\"op\":\"set\",\"host\":\"b.com\",\"rule\":[\"static\","
	    "{\"type\":\"x\"},true]}\n"
	    "{\"op\":\"set\",\"host\":\"torn.com\",\"rule\":[\"emp");
	ck_assert_int_eq(master_state_load(m), 0);
	ck_assert_str_eq(rule_text(m, "a.com"), "null");
	ck_assert_str_eq(rule_text(m, "b.com"),
	    "[\"static\",{\"type\":\"x\"},true]");
	ck_assert_str_eq(rule_text(m, "c.com"),
	    "[\"empty\",{\"code\":204},false]");
	ck_assert_str_eq(rule_text(m, "torn.com"), "null");
	ck_assert_uint_eq(ruledb_count(m->db), 2);
	/* folded: the journals are gone, the state file has it all */
	ck_assert_ptr_null(find_file("state.json.journal.3"));
	ck_assert_ptr_null(find_file("state.json.journal.4"));
	m = setup();
	ck_assert_int_eq(master_state_load(m), 0);
	ck_assert_uint_eq(ruledb_count(m->db), 2);
}
END_TEST

/* A replacement in the journal replaces everything before it. */
START_TEST(test_journal_set_all)
{
	struct master *m = setup();

	put_file("state.json.journal.0",
	    "{\"op\":\"set\",\"host\":\"a.com\",\"rule\":[\"spin\",{},false]}\n"
	    "{\"op\":\"set_all\",\"hosts\":{\"z.com\":[\"spin\",{},true]}}\n");
	ck_assert_int_eq(master_state_load(m), 0);
	ck_assert_uint_eq(ruledb_count(m->db), 1);
	ck_assert_str_eq(rule_text(m, "z.com"), "[\"spin\",{},true]");
}
END_TEST

static void
done_cb(int error, void *arg)
{
	*(int *)arg = error ? 1 : 2;
}

/* The mutation log as master_cmd.c writes it, then a "crash". */
START_TEST(test_log_then_crash)
{
	struct master *m = setup();
	struct json_object *t;
	struct rule r;
	char err[256];
	int done = 0;

	ck_assert_int_eq(master_state_load(m), 0);
	t = json_tokener_parse("[\"empty\", {\"code\": 204}, false]");
	ck_assert_int_eq(rule_parse(t, 0, &r, err, sizeof(err)), RULE_OK);
	ck_assert_int_eq(ruledb_set(m->db, "x.com", &r, err, sizeof(err)),
	    RULEDB_OK);
	rule_free(&r);
	ck_assert_int_eq(master_state_log_set(m, "x.com", t), 0);
	ck_assert_int_eq(master_state_log_set(m, "y.com", t), 0);
	ck_assert_int_eq(master_state_log_delete(m, "y.com"), 0);
	master_state_barrier(m, done_cb, &done);
	ck_assert_int_eq(done, 2);	/* no sync thread: synced inline */
	json_object_put(t);
	/* no flush: what a kill -9 leaves behind */
	m = setup();
	ck_assert_int_eq(master_state_load(m), 0);
	ck_assert_str_eq(rule_text(m, "x.com"),
	    "[\"empty\",{\"code\":204},false]");
	ck_assert_str_eq(rule_text(m, "y.com"), "null");
}
END_TEST

/* The journal is zero-filled ahead of its records: zeros end it. */
START_TEST(test_journal_zero_tail)
{
	static const char rec[] =
	    "{\"op\":\"set\",\"host\":\"a.com\",\"rule\":[\"spin\",{},false]}\n";
	static const char late[] =
	    "{\"op\":\"set\",\"host\":\"b.com\",\"rule\":[\"spin\",{},false]}\n";
	struct master *m = setup();
	char path[512], text[4096];
	FILE *fp;
	size_t n = 0;

	/* a record, zeros, then a record whose page reached the disk
	 * before the one in between: never synced, never acknowledged */
	memcpy(text, rec, sizeof(rec) - 1);
	n += sizeof(rec) - 1;
	memset(text + n, 0, 1000);
	n += 1000;
	memcpy(text + n, late, sizeof(late) - 1);
	n += sizeof(late) - 1;
	memset(text + n, 0, 500);
	n += 500;
	snprintf(path, sizeof(path), "%s/state.json.journal.0", dir);
	ck_assert_ptr_nonnull(fp = fopen(path, "w"));
	ck_assert_uint_eq(fwrite(text, 1, n, fp), n);
	fclose(fp);
	ck_assert_int_eq(master_state_load(m), 0);
	ck_assert_str_eq(rule_text(m, "a.com"), "[\"spin\",{},false]");
	ck_assert_str_eq(rule_text(m, "b.com"), "null");
}
END_TEST

static char *
pool_text(struct master *m)
{
	static char buf[1024];
	struct json_object *o = pool_state_save(m);

	snprintf(buf, sizeof(buf), "%s", json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return buf;
}

/*
 * A "backends" record holds every non-default setting, so one that
 * leaves a backend out says it is back to the default (enabled, the
 * rule's weight); and the journal is newer than the state file.
 */
START_TEST(test_journal_backends)
{
	struct master *m = setup();
	struct json_object *o, *b;

	put_file("state.json", "{\"hosts\": {\"a.com\": [\"proxy\", "
	    "{\"backends\": [\"127.0.0.1:8001\", \"127.0.0.1:8002\"]}, "
	    "false]}, \"stats\": {}, \"backends\": {"
	    "\"127.0.0.1:8001\": {\"enabled\": false, \"drain\": false, "
	    "\"weight\": 0}, "
	    "\"127.0.0.1:8002\": {\"enabled\": true, \"drain\": false, "
	    "\"weight\": 5}, "
	    "\"10.9.9.9:80\": {\"enabled\": false, \"drain\": false, "
	    "\"weight\": 0}}}");
	/* 8001 drained then back to default; 8002's weight changes;
	 * 10.9.9.9:80 (in no rule yet) is enabled again */
	put_file("state.json.journal.0",
	    "{\"op\":\"backends\",\"backends\":{\"127.0.0.1:8001\":"
	    "{\"enabled\":true,\"drain\":true,\"weight\":0},"
	    "\"127.0.0.1:8002\":{\"enabled\":true,\"drain\":false,"
	    "\"weight\":5}}}\n"
	    "{\"op\":\"backends\",\"backends\":{\"127.0.0.1:8002\":"
	    "{\"enabled\":true,\"drain\":false,\"weight\":7}}}\n");
	ck_assert_int_eq(master_state_load(m), 0);
	ck_assert_str_eq(pool_text(m), "{\"127.0.0.1:8002\":{\"enabled\":"
	    "true,\"drain\":false,\"weight\":7}}");
	/* and the fresh state file says the same */
	ck_assert_ptr_nonnull(o = read_json("state.json"));
	ck_assert(json_object_object_get_ex(o, "backends", &b));
	ck_assert_int_eq(json_object_object_length(b), 1);
	ck_assert(json_object_object_get_ex(b, "127.0.0.1:8002", NULL));
	json_object_put(o);
}
END_TEST

/* Entries missing fields or with the wrong types are defaults. */
START_TEST(test_backends_partial_entries)
{
	struct master *m = setup();

	put_file("state.json", "{\"hosts\": {\"a.com\": [\"proxy\", "
	    "{\"backends\": [\"127.0.0.1:8001\", \"127.0.0.1:8002\"]}, "
	    "false]}, \"stats\": {}, \"backends\": {"
	    "\"127.0.0.1:8001\": {}, \"127.0.0.1:8002\": {\"weight\": 3}, "
	    "\"127.0.0.1:8003\": 5}}");
	ck_assert_int_eq(master_state_load(m), 0);
	ck_assert_str_eq(pool_text(m), "{\"127.0.0.1:8002\":{\"enabled\":"
	    "true,\"drain\":false,\"weight\":3}}");
	ck_assert_uint_eq(ruledb_count(m->db), 1);
}
END_TEST

static const char *const corrupt[] = {
	"{\"hosts\": {\"a.com\": [\"spin\", {}, fal",	/* truncated */
	"\x01\x02garbage",
	"[1, 2, 3]",
	"{\"stats\": {}}",
	"{\"hosts\": [\"a.com\"], \"stats\": {}}",
};

START_TEST(test_corrupt)
{
	struct master *m = setup();
	struct json_object *o, *h;
	char *aside, path[512], buf[256];
	FILE *fp;
	size_t n;

	put_file("state.json", corrupt[_i]);
	ck_assert_int_eq(master_state_load(m), 0);
	ck_assert_uint_eq(ruledb_count(m->db), 0);
	ck_assert_ptr_nonnull(aside = find_file("state.json.corrupt-"));
	/* the evidence is intact */
	snprintf(path, sizeof(path), "%s/%s", dir, aside);
	ck_assert_ptr_nonnull(fp = fopen(path, "r"));
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	ck_assert_str_eq(buf, corrupt[_i]);
	/* and a good, empty state file took its place */
	ck_assert_ptr_nonnull(o = read_json("state.json"));
	ck_assert(json_object_object_get_ex(o, "hosts", &h));
	json_object_put(o);
}
END_TEST

/* Mantrid treated a 0- or 1-byte file as empty, not as corrupt. */
START_TEST(test_empty_file)
{
	struct master *m = setup();

	put_file("state.json", "");
	ck_assert_int_eq(master_state_load(m), 0);
	ck_assert_ptr_null(find_file("state.json.corrupt-"));
}
END_TEST

/* One bad host does not cost the others. */
START_TEST(test_bad_host_skipped)
{
	struct master *m = setup();

	put_file("state.json", "{\"hosts\": {\"a.com\": [\"spin\", {}, false], "
	    "\"b.com\": [\"teleport\", {}, false], \"bad..name\": [\"spin\", "
	    "{}, false]}, \"stats\": {}}");
	ck_assert_int_eq(master_state_load(m), 0);
	ck_assert_uint_eq(ruledb_count(m->db), 1);
}
END_TEST

static void
each_setup(void)
{
	clean_dir();
}

int
main(void)
{
	Suite *s = suite_create("state");
	TCase *tc = tcase_create("state");
	SRunner *sr;
	int failed;

	if (mkdtemp(dir) == NULL)
		return EXIT_FAILURE;
	tcase_add_checked_fixture(tc, each_setup, NULL);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_mantrid_file);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_journal_replay);
	tcase_add_test(tc, test_journal_set_all);
	tcase_add_test(tc, test_log_then_crash);
	tcase_add_test(tc, test_journal_zero_tail);
	tcase_add_test(tc, test_journal_backends);
	tcase_add_test(tc, test_backends_partial_entries);
	tcase_add_loop_test(tc, test_corrupt, 0,
	    sizeof(corrupt) / sizeof(corrupt[0]));
	tcase_add_test(tc, test_empty_file);
	tcase_add_test(tc, test_bad_host_skipped);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	clean_dir();
	rmdir(dir);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

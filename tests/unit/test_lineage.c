/*
 * test_lineage.c - the lineage graph through the registry API: what a push
 * records, what the walks return, and what a bad lineage body does.
 *
 * The questions are the auditor's: what made this version (upstream, through
 * parents), and what did this dataset or commit make (downstream, the impact
 * set).  So every walk here is checked as a set of node ids and edges
 * against the graph the test built - including versions that must NOT be in
 * an impact set - plus the rules that keep the graph trustworthy: a push
 * whose parent does not resolve stores nothing, one content under two names
 * is one node, a tombstoned version keeps its edges, and depth and node
 * caps bound every answer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testreg.h"

static char blob[UTIL_DIGEST_LEN + 1];

static const char *hex64(char c)
{
	static char buf[8][80];
	static int i;
	char *b = buf[i++ % 8];
	memcpy(b, "sha256:", 7);
	memset(b + 7, c, 64);
	b[71] = '\0';
	return b;
}

/* Push model with lineage_json (or NULL); returns the version number or the
 * negative error. */
static int64_t push_l(treg *t, const char *model, const char *lineage_json)
{
	char extra[8192];
	cJSON *body, *out = NULL;
	int status = 0, rc;
	int64_t n;
	treg_put_blob(t, "weights", 7, blob); /* each test has its own registry */
	snprintf(extra, sizeof(extra), "{\"lineage\":%s}", lineage_json ? lineage_json : "null");
	body = treg_body("m.bin", 7, blob, extra);
	assert_non_null(body);
	rc = reg_version_create(t->r, &t->admin, model, body, NULL, &status, &out, NULL);
	cJSON_Delete(body);
	if (rc < 0)
		return rc;
	n = (int64_t)cJSON_GetObjectItem(out, "version")->valuedouble;
	cJSON_Delete(out);
	return n;
}

/* Answers carry nodes and edges as raw JSON text: read them back as the
 * API's clients do, by printing and parsing. */
static cJSON *reparse(cJSON *v)
{
	char *text = cJSON_PrintUnformatted(v);
	cJSON *back;
	assert_non_null(text);
	cJSON_Delete(v);
	back = cJSON_Parse(text);
	free(text);
	assert_non_null(back);
	return back;
}

static cJSON *walk(treg *t, const char *ref, const char *dataset, const char *commit, bool down, int64_t depth,
		   int64_t max_nodes)
{
	reg_lineage_query q = {.ref = ref, .dataset = dataset, .commit = commit, .down = down, .depth = depth,
			       .max_depth = 64, .max_nodes = max_nodes ? max_nodes : 100000};
	cJSON *out = NULL;
	if (reg_lineage(t->r, &q, &out) != 0)
		fail_msg("reg_lineage: %s", mlreg_error_last());
	return reparse(out);
}

/* The node ids of a walk, sorted and joined with spaces. */
static const char *ids(const cJSON *g)
{
	static char buf[8192];
	const char *v[256];
	int n = 0;
	size_t used = 0;
	for (const cJSON *x = cJSON_GetObjectItem(g, "nodes")->child; x && n < 256; x = x->next)
		v[n++] = util_json_str(x, "id");
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
			const char *s = v[j];
			v[j] = v[j - 1];
			v[j - 1] = s;
		}
	buf[0] = '\0';
	for (int i = 0; i < n; i++)
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%s", i ? " " : "", v[i]);
	return buf;
}

static bool has_edge(const cJSON *g, const char *from, const char *to, const char *relation)
{
	for (const cJSON *e = cJSON_GetObjectItem(g, "edges")->child; e; e = e->next)
		if (!strcmp(util_json_str(e, "from"), from) && !strcmp(util_json_str(e, "to"), to) &&
		    !strcmp(util_json_str(e, "relation"), relation))
			return true;
	return false;
}

static const cJSON *node(const cJSON *g, const char *id)
{
	for (const cJSON *x = cJSON_GetObjectItem(g, "nodes")->child; x; x = x->next)
		if (!strcmp(util_json_str(x, "id"), id))
			return x;
	return NULL;
}

static void records_all_four_kinds(void **state)
{
	treg *t = *state;
	char l[2048], id[100];
	cJSON *g;
	const cJSON *n;
	assert_int_equal(push_l(t, "base", NULL), 1);
	snprintf(l, sizeof(l),
		 "{\"datasets\":[{\"name\":\"train\",\"digest\":\"%s\"},{\"name\":\"labels\",\"uri\":\"s3://b/labels.csv\"}],"
		 "\"parents\":[\"base:1\"],"
		 "\"git\":{\"commit\":\"%040d\",\"branch\":\"main\",\"remote\":\"https://git.example/r.git\",\"dirty\":true,"
		 "\"changed\":[\"train.py\"]},\"run\":{\"id\":\"run-42\",\"url\":\"https://ci/42\"}}",
		 hex64('a'), 7);
	assert_int_equal(push_l(t, "fraud", l), 1);
	g = walk(t, "fraud:1", NULL, NULL, false, 0, 0);
	snprintf(id, sizeof(id), "commit:%040d", 7);
	assert_string_equal(util_json_str(g, "root"), "version:fraud:1");
	assert_true(has_edge(g, "version:fraud:1", "version:base:1", "derived_from"));
	snprintf(l, sizeof(l), "dataset:%s", hex64('a'));
	assert_true(has_edge(g, "version:fraud:1", l, "trained_on"));
	assert_true(has_edge(g, "version:fraud:1", "dataset:uri:s3://b/labels.csv", "trained_on"));
	assert_true(has_edge(g, "version:fraud:1", id, "built_from"));
	assert_true(has_edge(g, "version:fraud:1", "run:run-42", "produced_by"));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(g, "nodes")), 6);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(g, "edges")), 5);
	/* the git details ride on the edge; the run's url on its node */
	for (const cJSON *e = cJSON_GetObjectItem(g, "edges")->child; e; e = e->next)
		if (!strcmp(util_json_str(e, "relation"), "built_from")) {
			assert_string_equal(util_json_str(e, "branch"), "main");
			assert_true(cJSON_IsTrue(cJSON_GetObjectItem(e, "dirty")));
			assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(e, "changed"), 0)->valuestring, "train.py");
		}
	n = node(g, "run:run-42");
	assert_non_null(n);
	assert_string_equal(util_json_str(n, "url"), "https://ci/42");
	n = node(g, "dataset:uri:s3://b/labels.csv");
	assert_non_null(n);
	assert_string_equal(util_json_str(n, "label"), "labels");
	cJSON_Delete(g);
	/* the hash-chained audit entry names what the version was made from */
	{
		reg_audit_query aq = {.model = "fraud", .action = "version.create", .limit = 10};
		cJSON *a = NULL;
		const cJSON *d;
		char want[200];
		assert_int_equal(reg_audit_list(t->r, &aq, &a), 0);
		d = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(a, "entries"), 0), "details");
		snprintf(want, sizeof(want), "train=%s,labels=uri:s3://b/labels.csv", hex64('a'));
		assert_string_equal(util_json_str(d, "datasets"), want);
		assert_string_equal(util_json_str(d, "parents"), "base:1");
		assert_string_equal(util_json_str(d, "run"), "run-42");
		assert_true(cJSON_IsTrue(cJSON_GetObjectItem(d, "dirty")));
		cJSON_Delete(a);
	}
}

static void missing_parent_stores_nothing(void **state)
{
	treg *t = *state;
	cJSON *v = NULL, *a = NULL;
	reg_audit_query aq = {.limit = 1000};
	int before;
	assert_int_equal(push_l(t, "base", NULL), 1);
	assert_int_equal(reg_audit_list(t->r, &aq, &a), 0);
	before = cJSON_GetArraySize(cJSON_GetObjectItem(a, "entries"));
	cJSON_Delete(a);
	assert_int_equal(push_l(t, "child", "{\"parents\":[\"base:1\",\"base:9\"]}"), MLREG_ENOTFOUND);
	assert_non_null(strstr(mlreg_error_last(), "base:9"));
	assert_int_equal(push_l(t, "child", "{\"parents\":[\"ghost:1\"]}"), MLREG_ENOTFOUND);
	assert_int_equal(push_l(t, "child", "{\"parents\":[\"base:production\"]}"), MLREG_ENOTFOUND);
	/* the version being pushed is visible in its own transaction, yet is
	 * no parent of itself */
	assert_int_equal(push_l(t, "base", "{\"parents\":[\"base:2\"]}"), MLREG_ENOTFOUND);
	assert_int_equal(reg_version_get(t->r, "base", 2, false, &v), MLREG_ENOTFOUND);
	assert_int_equal(reg_version_get(t->r, "child", 1, false, &v), MLREG_ENOTFOUND);
	assert_int_equal(reg_audit_list(t->r, &aq, &a), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(a, "entries")), before);
	cJSON_Delete(a);
	/* nothing half-made: the first good push of child is number 1 */
	assert_int_equal(push_l(t, "child", "{\"parents\":[\"base:1\"]}"), 1);
}

static void parents_resolve_stage_and_alias(void **state)
{
	treg *t = *state;
	cJSON *b = cJSON_Parse("{\"version\":2}"), *out = NULL, *g;
	assert_int_equal(push_l(t, "base", NULL), 1);
	assert_int_equal(push_l(t, "base", NULL), 2);
	assert_int_equal(reg_promote(t->r, &t->admin, "base", "staging", b, &out), 0);
	cJSON_Delete(out);
	cJSON_Delete(b);
	b = cJSON_Parse("{\"version\":1}");
	assert_int_equal(reg_alias_set(t->r, &t->admin, "base", "champion", b, &out), 0);
	cJSON_Delete(out);
	cJSON_Delete(b);
	assert_int_equal(push_l(t, "kid", "{\"parents\":[\"base:staging\",\"base@champion\"]}"), 1);
	g = walk(t, "kid:1", NULL, NULL, false, 1, 0);
	/* resolved to concrete versions at push */
	assert_string_equal(ids(g), "version:base:1 version:base:2 version:kid:1");
	cJSON_Delete(g);
}

/* a diamond: d derives from b and c, both from a; all trained on X */
static void diamond_and_impact(void **state)
{
	treg *t = *state;
	char l[512], root[100];
	cJSON *g;
	snprintf(l, sizeof(l), "{\"datasets\":[{\"name\":\"x\",\"digest\":\"%s\"}]}", hex64('1'));
	assert_int_equal(push_l(t, "a", l), 1);
	assert_int_equal(push_l(t, "b", "{\"parents\":[\"a:1\"]}"), 1);
	assert_int_equal(push_l(t, "c", "{\"parents\":[\"a:1\"]}"), 1);
	assert_int_equal(push_l(t, "d", "{\"parents\":[\"b:1\",\"c:1\"]}"), 1);
	/* unrelated: another dataset, and a version of a with no lineage */
	snprintf(l, sizeof(l), "{\"datasets\":[{\"name\":\"y\",\"digest\":\"%s\"}]}", hex64('2'));
	assert_int_equal(push_l(t, "e", l), 1);
	assert_int_equal(push_l(t, "a", NULL), 2);
	/* upstream of d: each node once, all edges */
	g = walk(t, "d:1", NULL, NULL, false, 0, 0);
	snprintf(root, sizeof(root), "dataset:%s", hex64('1'));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(g, "nodes")), 5);
	assert_true(has_edge(g, "version:d:1", "version:b:1", "derived_from"));
	assert_true(has_edge(g, "version:d:1", "version:c:1", "derived_from"));
	assert_true(has_edge(g, "version:b:1", "version:a:1", "derived_from"));
	assert_true(has_edge(g, "version:c:1", "version:a:1", "derived_from"));
	assert_true(has_edge(g, "version:a:1", root, "trained_on"));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(g, "edges")), 5);
	cJSON_Delete(g);
	/* impact of X: a, b, c, d through parents; not e, not a:2 */
	g = walk(t, NULL, hex64('1'), NULL, true, 0, 0);
	snprintf(l, sizeof(l), "%s version:a:1 version:b:1 version:c:1 version:d:1", root);
	assert_string_equal(ids(g), l);
	cJSON_Delete(g);
	/* depth limits: one level below X is a only */
	g = walk(t, NULL, hex64('1'), NULL, true, 1, 0);
	snprintf(l, sizeof(l), "%s version:a:1", root);
	assert_string_equal(ids(g), l);
	cJSON_Delete(g);
	/* node cap: cut, and said so */
	g = walk(t, NULL, hex64('1'), NULL, true, 0, 3);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(g, "nodes")), 3);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(g, "truncated")));
	cJSON_Delete(g);
	/* dataset dependents: direct only for a */
	{
		cJSON *d = NULL;
		int direct = 0, total = 0;
		assert_int_equal(reg_dataset_get(t->r, hex64('1'), 1000, &d), 0);
		d = reparse(d);
		for (const cJSON *x = cJSON_GetObjectItem(d, "dependents")->child; x; x = x->next, total++)
			direct += cJSON_IsTrue(cJSON_GetObjectItem(x, "direct"));
		assert_int_equal(total, 4);
		assert_int_equal(direct, 1);
		cJSON_Delete(d);
	}
}

static void one_content_two_names(void **state)
{
	treg *t = *state;
	char l[512];
	cJSON *g, *list = NULL;
	const cJSON *n;
	snprintf(l, sizeof(l), "{\"datasets\":[{\"name\":\"train\",\"digest\":\"%s\"}]}", hex64('c'));
	assert_int_equal(push_l(t, "m", l), 1);
	snprintf(l, sizeof(l), "{\"datasets\":[{\"name\":\"train-v2\",\"digest\":\"%s\"}]}", hex64('c'));
	assert_int_equal(push_l(t, "m", l), 2);
	/* one name, a second content later */
	snprintf(l, sizeof(l), "{\"datasets\":[{\"name\":\"train\",\"digest\":\"%s\"}]}", hex64('d'));
	assert_int_equal(push_l(t, "m", l), 3);
	g = walk(t, NULL, "train-v2", NULL, true, 0, 0);
	snprintf(l, sizeof(l), "dataset:%s", hex64('c'));
	n = node(g, l);
	assert_non_null(n);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(n, "names")), 2);
	snprintf(l, sizeof(l), "dataset:%s version:m:1 version:m:2", hex64('c'));
	assert_string_equal(ids(g), l);
	cJSON_Delete(g);
	/* by name "train": both contents are roots */
	g = walk(t, NULL, "train", NULL, true, 0, 0);
	assert_string_equal(util_json_str(g, "root"), "dataset:train");
	snprintf(l, sizeof(l), "dataset:%s dataset:%s version:m:1 version:m:2 version:m:3", hex64('c'), hex64('d'));
	assert_string_equal(ids(g), l);
	cJSON_Delete(g);
	assert_int_equal(reg_dataset_list(t->r, NULL, 100, 0, &list), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(list, "datasets")), 2);
	cJSON_Delete(list);
}

static void tombstone_keeps_edges_and_commit_impact(void **state)
{
	treg *t = *state;
	char l[512], sha[41];
	cJSON *g, *out = NULL;
	snprintf(sha, sizeof(sha), "%040d", 99);
	snprintf(l, sizeof(l), "{\"git\":{\"commit\":\"%s\"}}", sha);
	assert_int_equal(push_l(t, "m", l), 1);
	assert_int_equal(push_l(t, "n", "{\"parents\":[\"m:1\"]}"), 1);
	assert_int_equal(reg_version_delete(t->r, &t->admin, "m", 1, &out), 0);
	cJSON_Delete(out);
	g = walk(t, NULL, NULL, sha, true, 0, 0);
	snprintf(l, sizeof(l), "commit:%s version:m:1 version:n:1", sha);
	assert_string_equal(ids(g), l);
	assert_string_equal(util_json_str(node(g, "version:m:1"), "status"), "deleted");
	cJSON_Delete(g);
	/* a deleted version can still be named as a parent: it is a fact */
	assert_int_equal(push_l(t, "o", "{\"parents\":[\"m:1\"]}"), 1);
}

static void bad_lineage_bodies(void **state)
{
	treg *t = *state;
	char many[8192];
	size_t used;
	const char *bad[] = {
		"[]", "{\"bogus\":1}", "{\"datasets\":{}}", "{\"datasets\":[{\"name\":\"x\"}]}",
		"{\"datasets\":[{\"name\":\"x\",\"digest\":\"sha256:abc\"}]}",
		"{\"datasets\":[{\"name\":\"bad name\",\"uri\":\"s3://a/b\"}]}",
		"{\"datasets\":[{\"name\":\"x\",\"uri\":\"not-a-uri\"}]}",
		"{\"datasets\":[{\"name\":\"x\",\"uri\":\"s3://a\",\"digest\":\"sha256:aaaa\"}]}",
		"{\"parents\":\"base:1\"}", "{\"parents\":[\"Base:1\"]}", "{\"parents\":[1]}",
		"{\"git\":{\"commit\":\"abc\"}}", "{\"git\":{\"commit\":\"ABCDEF0123456789ABCDEF0123456789ABCDEF01\"}}",
		"{\"git\":{\"commit\":\"0000000000000000000000000000000000000000\",\"dirty\":\"yes\"}}",
		"{\"run\":{}}", "{\"run\":{\"id\":\"\"}}", "{\"run\":{\"id\":\"r\",\"extra\":1}}",
	};
	cJSON *v = NULL;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (push_l(t, "m", bad[i]) != MLREG_EINVALID)
			fail_msg("lineage %s must be refused", bad[i]);
	used = (size_t)snprintf(many, sizeof(many), "{\"parents\":[");
	for (int i = 0; i < 65; i++)
		used += (size_t)snprintf(many + used, sizeof(many) - used, "%s\"m:1\"", i ? "," : "");
	snprintf(many + used, sizeof(many) - used, "]}");
	assert_int_equal(push_l(t, "m", many), MLREG_EINVALID);
	assert_int_equal(reg_version_get(t->r, "m", 1, false, &v), MLREG_ENOTFOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(records_all_four_kinds, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(missing_parent_stores_nothing, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(parents_resolve_stage_and_alias, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(diamond_and_impact, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(one_content_two_names, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(tombstone_keeps_edges_and_commit_impact, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(bad_lineage_bodies, treg_setup, treg_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

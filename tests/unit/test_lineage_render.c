/*
 * test_lineage_render.c - unit tests for cli/lineage_render.c, the text
 * tree and Graphviz output of `mlreg lineage`.
 *
 * The text form is compared byte for byte for the shapes that matter: a
 * version's whole ancestry with a diamond, a dataset looked at downward,
 * a cycle (which a registry should never send, and must still end), and
 * strings that would move a terminal's cursor.  The DOT form is handed to
 * the real Graphviz (`dot -Tjson`, Debian package graphviz, installed by
 * scripts/deps) and its node and edge sets compared with the JSON graph,
 * ids with quotes, backslashes, ':' '/' '@' included; without `dot` that
 * test is skipped.
 */
#include "testutil.h"
#include "cli/lineage_render.h"
#include "util/json.h"

#define ELL "\xe2\x80\xa6"
#define DS "sha256:abcd1234ef567890abcd1234ef567890abcd1234ef567890abcd1234ef567890"
#define SHA "abc1234def5678901234567890abcdef12345678"

static cJSON *json(const char *text)
{
	cJSON *v = NULL;
	if (util_json_parse(text, strlen(text), 64, &v) < 0)
		fail_msg("test JSON does not parse: %s", text);
	return v;
}

static void assert_same_graph(const char *graph_text);

static char *render(const char *graph, bool dot, int expect)
{
	cJSON *g = json(graph);
	util_buf b;
	int rc;
	util_buf_init(&b, 1 << 20);
	rc = dot ? cli_lineage_render_dot(g, &b) : cli_lineage_render_text(g, &b);
	cJSON_Delete(g);
	if (rc != expect)
		fail_msg("render returned %d, expected %d (%s)", rc, expect, mlreg_error_last());
	if (rc < 0) {
		util_buf_release(&b);
		return NULL;
	}
	return b.ptr ? util_buf_detach(&b) : strdup("");
}

static const char *UP_GRAPH =
	"{\"root\":\"version:fraud:3\",\"direction\":\"up\",\"depth\":64,\"truncated\":false,"
	"\"nodes\":["
	"{\"id\":\"version:fraud:3\",\"kind\":\"version\",\"label\":\"fraud:3\",\"model\":\"fraud\",\"version\":3,"
	"\"status\":\"ready\",\"stages\":[\"production\"]},"
	"{\"id\":\"dataset:" DS "\",\"kind\":\"dataset\",\"label\":\"train, train-v2\",\"digest\":\"" DS "\","
	"\"names\":[\"train\",\"train-v2\"]},"
	"{\"id\":\"version:base:2\",\"kind\":\"version\",\"label\":\"base:2\",\"model\":\"base\",\"version\":2,"
	"\"status\":\"deprecated\",\"stages\":[]},"
	"{\"id\":\"commit:" SHA "\",\"kind\":\"commit\",\"label\":\"abc1234\",\"sha\":\"" SHA "\"},"
	"{\"id\":\"run:run-42\",\"kind\":\"run\",\"label\":\"run-42\",\"url\":\"https://ci.example.com/runs/42\"},"
	"{\"id\":\"dataset:uri:s3://bucket/labels.csv\",\"kind\":\"dataset\",\"label\":\"labels\","
	"\"uri\":\"s3://bucket/labels.csv\",\"names\":[\"labels\"]}"
	"],\"edges\":["
	"{\"from\":\"version:fraud:3\",\"to\":\"dataset:" DS "\",\"relation\":\"trained_on\"},"
	"{\"from\":\"version:fraud:3\",\"to\":\"version:base:2\",\"relation\":\"derived_from\"},"
	"{\"from\":\"version:base:2\",\"to\":\"dataset:" DS "\",\"relation\":\"trained_on\"},"
	"{\"from\":\"version:base:2\",\"to\":\"dataset:uri:s3://bucket/labels.csv\",\"relation\":\"trained_on\"},"
	"{\"from\":\"version:fraud:3\",\"to\":\"commit:" SHA "\",\"relation\":\"built_from\",\"branch\":\"main\","
	"\"remote\":null,\"dirty\":true,\"changed\":[\"train.py\"]},"
	"{\"from\":\"version:fraud:3\",\"to\":\"run:run-42\",\"relation\":\"produced_by\"}"
	"]}";

static void text_up_with_diamond(void **state)
{
	char *out = render(UP_GRAPH, false, 0);
	assert_string_equal(out, "fraud:3 [production]\n"
				 "  trained_on dataset train sha256:abcd1234" ELL " (names: train, train-v2)\n"
				 "  derived_from base:2 (deprecated)\n"
				 "    trained_on dataset train sha256:abcd1234" ELL " (names: train, train-v2) (see above)\n"
				 "    trained_on dataset labels s3://bucket/labels.csv\n"
				 "  built_from commit abc1234 main (dirty)\n"
				 "  produced_by run run-42 https://ci.example.com/runs/42\n");
	free(out);
}

static void text_down_from_dataset(void **state)
{
	char *out = render(
		"{\"root\":\"dataset:" DS "\",\"direction\":\"down\",\"truncated\":true,\"nodes\":["
		"{\"id\":\"dataset:" DS "\",\"kind\":\"dataset\",\"label\":\"train\",\"digest\":\"" DS "\",\"names\":[\"train\"]},"
		"{\"id\":\"version:fraud:3\",\"kind\":\"version\",\"model\":\"fraud\",\"version\":3,\"status\":\"ready\","
		"\"stages\":[\"staging\",\"production\"]},"
		"{\"id\":\"version:fraud:4\",\"kind\":\"version\",\"model\":\"fraud\",\"version\":4,\"status\":\"deleted\"},"
		"{\"id\":\"version:fraud:4\",\"kind\":\"version\",\"model\":\"repeated\",\"version\":9}"
		"],\"edges\":["
		"{\"from\":\"version:fraud:3\",\"to\":\"dataset:" DS "\",\"relation\":\"trained_on\"},"
		"{\"from\":\"version:fraud:4\",\"to\":\"version:fraud:3\",\"relation\":\"derived_from\"},"
		"{\"from\":\"version:fraud:4\",\"to\":\"dataset:" DS "\",\"relation\":\"trained_on\"}]}",
		false, 0);
	assert_string_equal(out, "dataset train sha256:abcd1234" ELL "\n"
				 "  trained_on fraud:3 [staging, production]\n"
				 "    derived_from fraud:4 (deleted)\n"
				 "  trained_on fraud:4 (deleted) (see above)\n"
				 "(truncated: the registry stopped at its node limit)\n");
	free(out);
}

static void text_down_from_commit(void **state)
{
	char *out = render("{\"root\":\"commit:" SHA "\",\"direction\":\"down\",\"nodes\":["
			   "{\"id\":\"commit:" SHA "\",\"kind\":\"commit\",\"sha\":\"" SHA "\"},"
			   "{\"id\":\"version:a:1\",\"kind\":\"version\",\"model\":\"a\",\"version\":1},"
			   "{\"id\":\"version:b:1\",\"kind\":\"version\",\"model\":\"b\",\"version\":1}],\"edges\":["
			   "{\"from\":\"version:a:1\",\"to\":\"commit:" SHA "\",\"relation\":\"built_from\","
			   "\"branch\":\"main\",\"dirty\":true},"
			   "{\"from\":\"version:b:1\",\"to\":\"commit:" SHA "\",\"relation\":\"built_from\","
			   "\"branch\":null,\"dirty\":false}]}",
			   false, 0);
	assert_string_equal(out, "commit abc1234\n"
				 "  built_from a:1 (main, dirty)\n"
				 "  built_from b:1\n");
	free(out);
}

/* ?dataset=NAME: the root is the name, every content with it a tree. */
static void text_down_from_dataset_name(void **state)
{
	const char *g = "{\"root\":\"dataset:train\",\"direction\":\"down\",\"nodes\":["
			"{\"id\":\"dataset:uri:s3://b/t\",\"kind\":\"dataset\",\"uri\":\"s3://b/t\",\"names\":[\"train\"],"
			"\"depth\":0},"
			"{\"id\":\"version:a:1\",\"kind\":\"version\",\"model\":\"a\",\"version\":1,\"depth\":1},"
			"{\"id\":\"dataset:" DS "\",\"kind\":\"dataset\",\"digest\":\"" DS "\","
			"\"names\":[\"old\",\"train\"],\"depth\":0},"
			"{\"id\":\"version:b:1\",\"kind\":\"version\",\"model\":\"b\",\"version\":1,\"depth\":1}],\"edges\":["
			"{\"from\":\"version:b:1\",\"to\":\"dataset:" DS "\",\"relation\":\"trained_on\"},"
			"{\"from\":\"version:a:1\",\"to\":\"dataset:uri:s3://b/t\",\"relation\":\"trained_on\"},"
			"{\"from\":\"version:b:1\",\"to\":\"dataset:uri:s3://b/t\",\"relation\":\"trained_on\"}]}";
	char *out = render(g, false, 0);
	assert_string_equal(out, "dataset train (2 contents)\n"
				 "  dataset train s3://b/t\n"
				 "    trained_on a:1\n"
				 "    trained_on b:1\n"
				 "  dataset old sha256:abcd1234" ELL " (names: old, train)\n"
				 "    trained_on b:1 (see above)\n");
	free(out);
	out = render(g, true, 0);
	assert_non_null(strstr(out, "\t\"dataset:uri:s3://b/t\" [label=\"dataset train s3://b/t\", shape=cylinder, penwidth=2];"));
	assert_null(strstr(out, "\"dataset:train\""));
	free(out);
	if (system("command -v dot >/dev/null 2>&1") == 0)
		assert_same_graph(g);
}

/* A cycle ends; an edge to an unknown id is shown as such; control
 * characters are neutralised; unknown kinds still print. */
static void text_hostile_shapes(void **state)
{
	char *out = render("{\"root\":\"version:a:1\",\"direction\":\"up\",\"nodes\":["
			   "{\"id\":\"version:a:1\",\"kind\":\"version\",\"model\":\"a\",\"version\":1},"
			   "{\"id\":\"version:b:1\",\"kind\":\"version\",\"model\":\"b\\u001b[31m\",\"version\":1},"
			   "{\"id\":\"x\",\"kind\":\"future\",\"label\":\"thing\\n2\"}],\"edges\":["
			   "{\"from\":\"version:a:1\",\"to\":\"version:b:1\",\"relation\":\"derived_from\"},"
			   "{\"from\":\"version:b:1\",\"to\":\"version:a:1\",\"relation\":\"derived_from\"},"
			   "{\"from\":\"version:b:1\",\"to\":\"gone\",\"relation\":\"trained_on\"},"
			   "{\"from\":\"version:a:1\",\"to\":\"x\",\"relation\":\"made\\rof\"}]}",
			   false, 0);
	assert_string_equal(out, "a:1\n"
				 "  derived_from b?[31m:1\n"
				 "    derived_from a:1 (see above)\n"
				 "    trained_on gone (not among the nodes)\n"
				 "  made?of future thing?2\n");
	free(out);
}

static void malformed_graphs_refused(void **state)
{
	static const char *const bad[] = {
		"[]",
		"{}",
		"{\"root\":\"a\"}",
		"{\"root\":\"a\",\"nodes\":{}}",
		"{\"nodes\":[{\"id\":\"a\"}]}",
		"{\"root\":\"a\",\"nodes\":[{\"kind\":\"version\"}]}",
		"{\"root\":\"a\",\"nodes\":[{\"id\":1}]}",
		"{\"root\":\"b\",\"nodes\":[{\"id\":\"a\"}]}",
		"{\"root\":\"a\",\"nodes\":[{\"id\":\"a\"}],\"edges\":[{\"from\":\"a\",\"to\":\"a\"}]}",
		"{\"root\":\"a\",\"nodes\":[{\"id\":\"a\"}],\"edges\":{}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		render(bad[i], false, MLREG_EIO);
		render(bad[i], true, MLREG_EIO);
	}
	/* the root alone is a graph */
	free(render("{\"root\":\"a\",\"nodes\":[{\"id\":\"a\"}]}", true, 0));
}

static void output_limit(void **state)
{
	cJSON *g = json(UP_GRAPH);
	util_buf b;
	util_buf_init(&b, 64);
	assert_int_equal(cli_lineage_render_text(g, &b), MLREG_ETOOBIG);
	util_buf_release(&b);
	util_buf_init(&b, 64);
	assert_int_equal(cli_lineage_render_dot(g, &b), MLREG_ETOOBIG);
	util_buf_release(&b);
	cJSON_Delete(g);
}

/* ---- DOT through the real Graphviz ---- */

static bool have_dot(void)
{
	return system("command -v dot >/dev/null 2>&1") == 0;
}

/* Graphviz's reading of a DOT text: its -Tjson output, parsed. */
static cJSON *dot_json(const char *dot)
{
	char *dir = tu_mkdtemp(), path[1024], cmd[2200], *data = NULL;
	size_t len = 0;
	cJSON *v = NULL;
	snprintf(path, sizeof(path), "%s/g.dot", dir);
	tu_write(path, dot, strlen(dot));
	snprintf(cmd, sizeof(cmd), "dot -Tjson '%s' > '%s/g.json' 2> '%s/err'", path, dir, dir);
	if (system(cmd) != 0) {
		snprintf(path, sizeof(path), "%s/err", dir);
		util_read_file(path, 4096, &data, &len);
		fail_msg("dot refused the output: %s\n%s", data ? data : "", dot);
	}
	snprintf(path, sizeof(path), "%s/g.json", dir);
	assert_int_equal(util_read_file(path, 1 << 24, &data, &len), 0);
	assert_int_equal(util_json_parse(data, len, 64, &v), 0);
	free(data);
	tu_rmdir(dir);
	return v;
}

static const char *gv_name(const cJSON *gv, int gvid)
{
	const cJSON *o;
	cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(gv, "objects"))
	{
		int64_t id;
		if (util_json_i64(o, "_gvid", &id) == 0 && id == gvid)
			return util_json_str(o, "name");
	}
	return NULL;
}

/* Graphviz's nodes and edges are exactly the JSON's. */
static void assert_same_graph(const char *graph_text)
{
	cJSON *g = json(graph_text), *gv;
	const cJSON *n, *e;
	util_buf b;
	size_t nodes = 0, edges = 0;
	util_buf_init(&b, 1 << 20);
	assert_int_equal(cli_lineage_render_dot(g, &b), 0);
	gv = dot_json(b.ptr);
	cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(g, "nodes"))
	{
		const cJSON *o;
		bool found = false;
		cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(gv, "objects"))
			found |= !strcmp(util_json_str(o, "name"), util_json_str(n, "id"));
		if (!found)
			fail_msg("node '%s' is not in Graphviz's reading of:\n%s", util_json_str(n, "id"), b.ptr);
		nodes++;
	}
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(gv, "objects")), nodes);
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(g, "edges"))
	{
		const cJSON *o;
		bool found = false;
		cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(gv, "edges"))
		{
			int64_t t, h;
			util_json_i64(o, "tail", &t);
			util_json_i64(o, "head", &h);
			found |= !strcmp(gv_name(gv, (int)t), util_json_str(e, "from")) &&
				 !strcmp(gv_name(gv, (int)h), util_json_str(e, "to")) &&
				 !strcmp(util_json_str(o, "label"), util_json_str(e, "relation"));
		}
		if (!found)
			fail_msg("edge %s -> %s is not in Graphviz's reading of:\n%s", util_json_str(e, "from"),
				 util_json_str(e, "to"), b.ptr);
		edges++;
	}
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(gv, "edges")), edges);
	util_buf_release(&b);
	cJSON_Delete(gv);
	cJSON_Delete(g);
}

static void dot_matches_json(void **state)
{
	if (!have_dot())
		skip();
	assert_same_graph(UP_GRAPH);
	/* ids a hostile or merely creative registry could send */
	assert_same_graph("{\"root\":\"run:a\\\"b\",\"direction\":\"down\",\"nodes\":["
			  "{\"id\":\"run:a\\\"b\",\"kind\":\"run\",\"label\":\"a\\\"b \\\\N \\\\G\"},"
			  "{\"id\":\"run:back\\\\slash\",\"kind\":\"run\",\"label\":\"x\\\\\"},"
			  "{\"id\":\"run:two\\\\\\\\back\",\"kind\":\"run\"},"
			  "{\"id\":\"dataset:uri:s3://b/k@v?x=1&y=<2>;{}\",\"kind\":\"dataset\"},"
			  "{\"id\":\"version:risk/fraud:12\",\"kind\":\"version\",\"model\":\"risk/fraud\",\"version\":12},"
			  "{\"id\":\"node\",\"kind\":\"version\"},"
			  "{\"id\":\"-> digraph }\",\"kind\":\"\\u00e9t\\u00e9\"}"
			  "],\"edges\":["
			  "{\"from\":\"run:back\\\\slash\",\"to\":\"run:a\\\"b\",\"relation\":\"trained_on\"},"
			  "{\"from\":\"run:two\\\\\\\\back\",\"to\":\"run:back\\\\slash\",\"relation\":\"derived_from\"},"
			  "{\"from\":\"version:risk/fraud:12\",\"to\":\"dataset:uri:s3://b/k@v?x=1&y=<2>;{}\","
			  "\"relation\":\"a \\\"quoted\\\" relation\"},"
			  "{\"from\":\"node\",\"to\":\"-> digraph }\",\"relation\":\"edge\"}]}");
}

/* An odd run of backslashes before the closing quote cannot be written in
 * DOT: it gets one more backslash, and the output stays valid. */
static void dot_trailing_backslash_stays_valid(void **state)
{
	char *out;
	cJSON *gv;
	out = render("{\"root\":\"run:x\\\\\",\"nodes\":[{\"id\":\"run:x\\\\\"},{\"id\":\"run:y\\\\\\\"z\"}]}", true, 0);
	assert_non_null(strstr(out, "\t\"run:x\\\\\" [label="));
	assert_non_null(strstr(out, "\t\"run:y\\\\\\\"z\" [label="));
	if (!have_dot()) {
		free(out);
		skip();
	}
	gv = dot_json(out);
	assert_string_equal(gv_name(gv, 0), "run:x\\\\");
	assert_string_equal(gv_name(gv, 1), "run:y\\\\\"z");
	cJSON_Delete(gv);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(text_up_with_diamond),
		cmocka_unit_test(text_down_from_dataset),
		cmocka_unit_test(text_down_from_commit),
		cmocka_unit_test(text_down_from_dataset_name),
		cmocka_unit_test(text_hostile_shapes),
		cmocka_unit_test(malformed_graphs_refused),
		cmocka_unit_test(output_limit),
		cmocka_unit_test(dot_matches_json),
		cmocka_unit_test(dot_trailing_backslash_stays_valid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

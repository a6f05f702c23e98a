/*
 * cmd_lineage.c - `mlreg lineage`: what a version was made from (--up:
 * datasets, parent versions transitively, the commit and the run), or
 * what was made from a version, a dataset or a commit (--down), as the
 * registry's graph (GET /api/v1/lineage, docs/api.md).
 *
 * The registry computes the graph; this command only checks its arguments
 * (so a malformed REF, digest or commit is exit 2 before any request) and
 * renders the answer: --format json prints it unchanged, text and dot go
 * through lineage_render.c, which treats the answer as outside input.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/lineage_push.h"
#include "cli/lineage_render.h"
#include "util/json.h"

#define MAX_OUTPUT ((size_t)1 << 30)
#define MAX_DEPTH 1000000

enum { OPT_UP = 256, OPT_DOWN, OPT_DEPTH, OPT_FORMAT, OPT_DATASET, OPT_COMMIT };

static const cli_option lineage_options[] = {
	{"up", OPT_UP, false},
	{"down", OPT_DOWN, false},
	{"depth", OPT_DEPTH, true},
	{"format", OPT_FORMAT, true},
	{"dataset", OPT_DATASET, true},
	{"commit", OPT_COMMIT, true},
	{NULL, 0, false},
};

typedef enum { FORMAT_UNSET, FORMAT_TEXT, FORMAT_JSON, FORMAT_DOT } lineage_format;

typedef struct {
	const char *ref, *dataset;
	char commit[65];
	char digest[UTIL_DIGEST_LEN + 1]; /* --dataset sha256:<hex>, lowercased */
	bool up, down;
	const char *depth;
	lineage_format format;
} lineage_args;

static int parse_format(const char *cmd, const char *s, lineage_format *out)
{
	if (!strcmp(s, "text"))
		*out = FORMAT_TEXT;
	else if (!strcmp(s, "json"))
		*out = FORMAT_JSON;
	else if (!strcmp(s, "dot"))
		*out = FORMAT_DOT;
	else
		return cli_usage_error(cmd, "unknown format '%s': use text, json or dot", s);
	return 0;
}

/* A full object id (40 hex digits, 64 for SHA-256 repositories), kept
 * lowercase: the registry stores commits whole (`git rev-parse HEAD`). */
static int parse_commit(const char *cmd, const char *s, char out[65])
{
	size_t n = strlen(s);
	if (n != 40 && n != 64)
		return cli_usage_error(cmd, "invalid commit '%s': expected the full id, 40 (or 64) hex digits", s);
	for (size_t i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return cli_usage_error(cmd, "invalid commit '%s': expected the full id, 40 (or 64) hex digits", s);
		out[i] = (char)tolower((unsigned char)s[i]);
	}
	out[n] = '\0';
	return 0;
}

static int parse_dataset(const char *cmd, const char *s, lineage_args *la)
{
	if (!strncmp(s, "sha256:", 7)) {
		snprintf(la->digest, sizeof(la->digest), "%s", s);
		for (char *c = la->digest; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		if (strlen(s) != UTIL_DIGEST_LEN || !util_digest_valid(la->digest))
			return cli_usage_error(cmd, "invalid dataset digest '%s': expected sha256:<64 hex>", s);
		la->dataset = la->digest;
		return 0;
	}
	if (!strncmp(s, "uri:", 4)) {
		/* a dataset known by its URI, as in /api/v1/datasets/{id} */
		if (!strstr(s + 4, "://"))
			return cli_usage_error(cmd, "invalid dataset '%s': uri: takes a scheme://… URI", s);
		la->dataset = s;
		return 0;
	}
	if (!cli_lineage_dataset_name_valid(s, strlen(s)))
		return cli_usage_error(cmd, "invalid dataset '%s': a name (letters, digits, '._-/'), sha256:<64 hex> or uri:<uri>",
				       s);
	la->dataset = s;
	return 0;
}

static int parse_args(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv, lineage_args *la)
{
	cli_args a;
	util_ref ref;
	int64_t depth;
	int rc, error = 0, roots;
	memset(la, 0, sizeof(*la));
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END && error == 0) {
		switch (rc) {
		case OPT_UP: la->up = true; break;
		case OPT_DOWN: la->down = true; break;
		case OPT_DEPTH: la->depth = a.value; break;
		case OPT_FORMAT: error = parse_format(self->name, a.value, &la->format); break;
		case OPT_DATASET: error = parse_dataset(self->name, a.value, la); break;
		case OPT_COMMIT: error = parse_commit(self->name, a.value, la->commit); break;
		case CLI_ARGS_POS:
			if (la->ref)
				return cli_usage_error(self->name, "unexpected argument '%s'", a.value);
			if ((error = cli_ref_parse(self->name, a.value, &ref)) == 0)
				la->ref = a.value;
			break;
		default: error = rc; break;
		}
	}
	if (error < 0)
		return error;
	roots = (la->ref != NULL) + (la->dataset != NULL) + (la->commit[0] != '\0');
	if (roots != 1)
		return cli_usage_error(self->name, "expected exactly one of REF, --dataset or --commit");
	if (la->up && la->down)
		return cli_usage_error(self->name, "--up and --down exclude each other");
	if (!la->ref && la->up)
		return cli_usage_error(self->name, "--dataset and --commit look --down only (what was made from them)");
	if (!la->up && !la->down)
		la->down = !la->ref; /* a version looks up by default */
	if (la->depth && (util_parse_i64(la->depth, &depth) < 0 || depth < 1 || depth > MAX_DEPTH))
		return cli_usage_error(self->name, "invalid --depth '%s': a positive whole number", la->depth);
	if (cfg->json && la->format != FORMAT_UNSET && la->format != FORMAT_JSON)
		return cli_usage_error(self->name, "--json and --format %s exclude each other",
				       la->format == FORMAT_DOT ? "dot" : "text");
	if (la->format == FORMAT_UNSET)
		la->format = cfg->json ? FORMAT_JSON : FORMAT_TEXT;
	return 0;
}

static int build_path(const lineage_args *la, util_buf *path)
{
	int error = util_buf_puts(path, "/api/v1/lineage");
	if (error == 0)
		error = la->ref       ? cli_query_add(path, "ref", la->ref)
			: la->dataset ? cli_query_add(path, "dataset", la->dataset)
				      : cli_query_add(path, "commit", la->commit);
	if (error == 0)
		error = cli_query_add(path, "direction", la->down ? "down" : "up");
	if (error == 0 && la->depth)
		error = cli_query_add(path, "depth", la->depth);
	return error;
}

/* Every version node gets "deployments": where it serves now (one extra
 * read of the deployments list, only when the graph holds versions). */
static void annotate_deployments(const cli_config *cfg, cJSON *graph)
{
	cJSON *nodes = cJSON_GetObjectItemCaseSensitive(graph, "nodes"), *n, *all = NULL;
	cJSON_ArrayForEach(n, nodes)
	{
		const char *kind = util_json_str(n, "kind");
		if (!kind || strcmp(kind, "version") != 0 || !util_json_str(n, "model"))
			continue;
		if (!all && !(all = cli_deployments_fetch(cfg)))
			return;
		cJSON_DeleteItemFromObjectCaseSensitive(n, "deployments");
		cJSON_AddItemToObject(n, "deployments",
				      cli_deployments_of(all, util_json_str(n, "model"), cli_json_int(n, "version", 0)));
	}
	cJSON_Delete(all);
}

static int cmd_lineage_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	lineage_args la;
	cli_client *c = NULL;
	cli_response resp;
	util_buf path, out;
	int error;

	memset(&resp, 0, sizeof(resp));
	util_buf_init(&path, 8192);
	util_buf_init(&out, MAX_OUTPUT);
	if ((error = parse_args(self, cfg, argc, argv, &la)) < 0 || (error = build_path(&la, &path)) < 0 ||
	    (error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_json(c, "GET", path.ptr, NULL, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot read the lineage of %s'%s'",
				       la.ref ? "" : la.dataset ? "dataset " : "commit ",
				       la.ref ? la.ref : la.dataset ? la.dataset : la.commit);
		goto done;
	}
	if (!resp.body) {
		error = mlreg_error_set(MLREG_EIO, "registry sent no lineage graph");
		goto done;
	}
	annotate_deployments(cfg, resp.body);
	if (la.format == FORMAT_JSON) {
		error = cli_print_json(resp.body);
		goto done;
	}
	if (la.format == FORMAT_DOT)
		error = cli_lineage_render_dot(resp.body, &out);
	else
		error = cli_lineage_render_text(resp.body, &out);
	if (error == 0 && out.len && fwrite(out.ptr, 1, out.len, stdout) != out.len)
		error = mlreg_error_set(MLREG_EIO, "cannot write output");
done:
	util_buf_release(&path);
	util_buf_release(&out);
	cli_response_release(&resp);
	cli_client_free(c);
	return error;
}

const cli_cmd_entry cli_cmd_lineage_entry = {
	.name = "lineage",
	.usage = "REF [--up|--down] [--depth N] [--format text|json|dot]\n"
		 "       mlreg lineage --dataset NAME|sha256:HEX|uri:URI [--down] [--depth N]\n"
		 "       mlreg lineage --commit SHA [--down] [--depth N] [--format F]",
	.summary = "what a version was made from, or what was made from it",
	.help = "options:\n"
		"  --up            what made REF: datasets, parents (transitively), commit, run\n"
		"                  (the default for a REF)\n"
		"  --down          what was made from REF, a dataset or a commit: the versions,\n"
		"                  transitively (the only direction for --dataset and --commit)\n"
		"  --depth N       follow at most N edges from the root (default: server's cap)\n"
		"  --format F      text (an indented tree), json (the registry's graph, = --json)\n"
		"                  or dot (Graphviz: mlreg lineage M:3 --format dot | dot -Tsvg)\n"
		"  --dataset D     start at a dataset: a name (every content pushed under it),\n"
		"                  its sha256:<hex> digest, or uri:<uri> for one known by its URI\n"
		"  --commit SHA    start at a git commit (the full 40-hex id)\n"
		"\ntext: one node a line, indented below the node it belongs to, after the\n"
		"relation (trained_on, derived_from, built_from, produced_by):\n"
		"  fraud:3 [production]\n"
		"    trained_on dataset train sha256:abcd1234\xe2\x80\xa6 (names: train, train-v2)\n"
		"    derived_from base:2\n"
		"    built_from commit abc1234 main (dirty)\n"
		"    produced_by run run-42 https://ci.example.com/runs/42\n"
		"A node reached again (a diamond) is shown once in full, later as \"(see above)\".\n",
	.options = lineage_options,
	.exec = cmd_lineage_exec,
};

/*
 * cmd_search.c - `mlreg search`: versions across models by name prefix,
 * metric and param filters, tags and status (GET /api/v1/versions).
 *
 * Filters are checked here with the same expression parser the registry
 * uses (util/expr.h), so a typo is a usage error (exit 2) before any
 * request.  Without --limit or --page-token every page is fetched; with
 * either, one page is printed and the next page's token is given (in the
 * JSON as "next_page_token", in text on stderr).
 */
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "util/expr.h"
#include "util/json.h"

enum { OPT_PREFIX = 256, OPT_MODEL, OPT_FILTER, OPT_TAG, OPT_STATUS, OPT_ORDER_BY, OPT_DESC, OPT_LIMIT, OPT_PAGE_TOKEN };

static const cli_option search_options[] = {
	{"prefix", OPT_PREFIX, true},   {"model", OPT_MODEL, true},       {"filter", OPT_FILTER, true},
	{"tag", OPT_TAG, true},         {"status", OPT_STATUS, true},     {"order-by", OPT_ORDER_BY, true},
	{"desc", OPT_DESC, false},      {"limit", OPT_LIMIT, true},       {"page-token", OPT_PAGE_TOKEN, true},
	{NULL, 0, false},
};

static int check_arg(const char *cmd, int opt, const char *v)
{
	util_expr e;
	char *key = NULL;
	const char *value;
	int64_t n;
	int error = 0;
	switch (opt) {
	case OPT_MODEL:
		if (!util_model_name_valid(v))
			error = cli_usage_error(cmd, "invalid model name '%s'", v);
		break;
	case OPT_FILTER:
		if (util_expr_parse(v, false, &e) < 0)
			error = cli_usage_error(cmd, "%s", mlreg_error_last());
		else if (!strncmp(e.name, "metrics.", 8) && !e.numeric)
			error = cli_usage_error(cmd, "invalid filter '%s': a metric compares with a number", v);
		else if (!strncmp(e.name, "params.", 7) && e.op != UTIL_OP_EQ && e.op != UTIL_OP_NE)
			error = cli_usage_error(cmd, "invalid filter '%s': a param compares with = or !=", v);
		else if (strncmp(e.name, "metrics.", 8) != 0 && strncmp(e.name, "params.", 7) != 0)
			error = cli_usage_error(cmd, "invalid filter '%s': the name must start with metrics. or params.", v);
		break;
	case OPT_TAG:
		error = cli_kv_split(cmd, "tag", v, &key, &value);
		free(key);
		break;
	case OPT_STATUS:
		if (strcmp(v, "ready") && strcmp(v, "deprecated") && strcmp(v, "deleted"))
			error = cli_usage_error(cmd, "invalid status '%s': use ready, deprecated or deleted", v);
		break;
	case OPT_LIMIT:
		if (util_parse_i64(v, &n) < 0 || n < 1 || n > 1000)
			error = cli_usage_error(cmd, "invalid limit '%s': use 1 to 1000", v);
		break;
	}
	return error;
}

static int cmd_search_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	static const struct {
		int opt;
		const char *key;
	} query_keys[] = {{OPT_PREFIX, "prefix"}, {OPT_MODEL, "model"},       {OPT_FILTER, "filter"},
			  {OPT_TAG, "tag"},       {OPT_STATUS, "status"},     {OPT_ORDER_BY, "order_by"},
			  {OPT_LIMIT, "limit"},   {OPT_PAGE_TOKEN, "page_token"}};
	cli_args a;
	cli_client *c = NULL;
	cli_response resp;
	cJSON *versions = NULL, *out = NULL;
	const cJSON *next = NULL;
	util_buf path;
	bool one_page = false;
	int rc, error = 0;

	memset(&resp, 0, sizeof(resp));
	util_buf_init(&path, 1 << 16);
	if ((error = util_buf_puts(&path, "/api/v1/versions")) < 0)
		goto done;
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		if (rc == CLI_ARGS_POS) {
			error = cli_usage_error(self->name, "unexpected argument '%s'", a.value);
			goto done;
		}
		if (rc < 0) {
			error = rc;
			goto done;
		}
		if (rc == OPT_DESC) {
			error = cli_query_add(&path, "desc", "true");
			if (error < 0)
				goto done;
			continue;
		}
		if (rc == OPT_LIMIT || rc == OPT_PAGE_TOKEN)
			one_page = true;
		if ((error = check_arg(self->name, rc, a.value)) < 0)
			goto done;
		for (size_t i = 0; i < sizeof(query_keys) / sizeof(query_keys[0]); i++)
			if (query_keys[i].opt == rc && (error = cli_query_add(&path, query_keys[i].key, a.value)) < 0)
				goto done;
	}
	if ((error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if (one_page) {
		if ((error = cli_client_json(c, "GET", path.ptr, NULL, &resp)) < 0)
			goto done;
		versions = cJSON_DetachItemFromObjectCaseSensitive(resp.body, "versions");
		next = cJSON_GetObjectItemCaseSensitive(resp.body, "next_page_token");
		if (!cJSON_IsArray(versions)) {
			error = mlreg_error_set(MLREG_EIO, "registry answer lacks 'versions'");
			goto done;
		}
	} else {
		if ((error = cli_query_add(&path, "limit", "1000")) < 0 ||
		    (error = cli_client_get_all(c, path.ptr, "versions", &versions)) < 0)
			goto done;
	}
	if (cfg->json) {
		if (!(out = cJSON_CreateObject())) {
			error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
			goto done;
		}
		cJSON_AddItemReferenceToObject(out, "versions", versions);
		if (one_page)
			cJSON_AddItemToObject(out, "next_page_token",
					      cJSON_IsString(next) ? cJSON_CreateString(next->valuestring) : cJSON_CreateNull());
		error = cli_print_json(out);
		goto done;
	}
	if ((error = cli_print_versions(versions)) < 0)
		goto done;
	if (cJSON_IsString(next) && next->valuestring[0] && !cfg->quiet)
		fprintf(stderr, "more results: --page-token %s\n", next->valuestring);
done:
	cJSON_Delete(out);
	cJSON_Delete(versions);
	cli_response_release(&resp);
	cli_client_free(c);
	util_buf_release(&path);
	return error;
}

const cli_cmd_entry cli_cmd_search_entry = {
	.name = "search",
	.usage = "[--prefix P] [--model M] [--filter EXPR]... [--tag k=v]... [--status S] [--order-by K] [--desc] "
		 "[--limit N] [--page-token T]",
	.summary = "find versions across models by metrics, params, tags and status",
	.help = "options:\n"
		"  --prefix P        model names starting with P\n"
		"  --model M         versions of model M only\n"
		"  --filter EXPR     metrics.KEY OP NUMBER (OP: >= <= > < == !=), params.KEY=VALUE\n"
		"                    or params.KEY!=VALUE; repeatable, all must hold\n"
		"  --tag KEY=VALUE   versions carrying this tag; repeatable\n"
		"  --status S        ready, deprecated or deleted (deleted are hidden otherwise)\n"
		"  --order-by K      version, created_at, name, size or metrics.KEY\n"
		"  --desc            descending order\n"
		"  --limit N         one page of at most N results (1-1000)\n"
		"  --page-token T    the page after a previous --limit answer\n"
		"\n--json: {\"versions\":[...]} (with --limit/--page-token also \"next_page_token\")\n",
	.options = search_options,
	.exec = cmd_search_exec,
};

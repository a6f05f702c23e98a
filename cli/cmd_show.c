/*
 * cmd_show.c - `mlreg show REF`: one version in full.
 *
 * --json prints the registry's version object unchanged (it already is the
 * contract shape, docs/api.md), so scripts see exactly what the API says;
 * the text form is `key: value` lines (with the stages and aliases the
 * version holds), metadata maps and a file table.  REF may name a stage or
 * an alias; the answer then says which version that was.
 */
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "util/json.h"

static void print_map(const char *title, const cJSON *map)
{
	const cJSON *m;
	size_t w = 0;
	if (!cJSON_IsObject(map) || !map->child)
		return;
	printf("%s:\n", title);
	cJSON_ArrayForEach(m, map)
		if (strlen(m->string) > w)
			w = strlen(m->string);
	cJSON_ArrayForEach(m, map)
	{
		char num[40];
		const char *v = num;
		if (cJSON_IsNumber(m))
			cli_fmt_double(m->valuedouble, num);
		else if (cJSON_IsString(m))
			v = m->valuestring;
		else
			v = cJSON_IsNull(m) ? "null" : "(complex)";
		printf("  %-*s  %s\n", (int)w, m->string, v);
	}
}

/* "stages:      staging, production" (nothing when the list is empty or absent). */
static void print_labels(const char *title, const char *mark, const cJSON *list)
{
	const cJSON *l;
	bool first = true;
	if (!cJSON_IsArray(list) || !list->child)
		return;
	printf("%s ", title);
	cJSON_ArrayForEach(l, list)
	{
		if (!cJSON_IsString(l))
			continue;
		printf("%s%s%s", first ? "" : ", ", mark, l->valuestring);
		first = false;
	}
	printf("\n");
}

static int print_files(const cJSON *files)
{
	static const char *const head[] = {"MODE", "SIZE", "DIGEST", "PATH"};
	cli_table t;
	const cJSON *f;
	int error;
	if (!cJSON_IsArray(files))
		return 0;
	printf("files:\n");
	cli_table_init(&t, 4);
	error = cli_table_add(&t, head);
	cJSON_ArrayForEach(f, files)
	{
		char mode[16], size[32];
		const char *row[4];
		if (error < 0)
			break;
		snprintf(mode, sizeof(mode), "%04llo", (unsigned long long)cli_json_int(f, "mode", 0));
		snprintf(size, sizeof(size), "%lld", (long long)cli_json_int(f, "size", 0));
		row[0] = mode;
		row[1] = size;
		row[2] = cli_json_text(f, "digest", "-");
		row[3] = cli_json_text(f, "path", "?");
		error = cli_table_add(&t, row);
	}
	if (error == 0)
		cli_table_print(&t, stdout);
	cli_table_release(&t);
	return error;
}

static void print_version(const cJSON *v)
{
	char size[32];
	const cJSON *schema = cJSON_GetObjectItemCaseSensitive(v, "schema");
	int64_t bytes = cli_json_int(v, "size", 0);
	cli_fmt_size((uint64_t)bytes, size);
	printf("model:       %s\n", cli_json_text(v, "model", "?"));
	printf("version:     %lld\n", (long long)cli_json_int(v, "version", 0));
	printf("digest:      %s\n", cli_json_text(v, "digest", "-"));
	printf("size:        %lld (%s)\n", (long long)bytes, size);
	printf("status:      %s\n", cli_json_text(v, "status", "-"));
	printf("created_at:  %s\n", cli_json_text(v, "created_at", "-"));
	printf("created_by:  %s\n", cli_json_text(v, "created_by", "-"));
	if (util_json_str(v, "description") && *util_json_str(v, "description"))
		printf("description: %s\n", util_json_str(v, "description"));
	if (cJSON_IsObject(schema)) {
		printf("schema:      %s (%d inputs, %d outputs)\n", cli_json_text(schema, "format", "?"),
		       cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(schema, "inputs")),
		       cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(schema, "outputs")));
	}
	print_labels("stages:     ", "", cJSON_GetObjectItemCaseSensitive(v, "stages"));
	print_labels("aliases:    ", "@", cJSON_GetObjectItemCaseSensitive(v, "aliases"));
	print_map("metrics", cJSON_GetObjectItemCaseSensitive(v, "metrics"));
	print_map("params", cJSON_GetObjectItemCaseSensitive(v, "params"));
	print_map("tags", cJSON_GetObjectItemCaseSensitive(v, "tags"));
}

static void print_deployed(const cJSON *where)
{
	const cJSON *d, *n;
	if (cJSON_GetArraySize(where) == 0)
		return;
	printf("deployed:\n");
	cJSON_ArrayForEach(d, where)
	{
		printf("  %s (%s, %s):", cli_json_text(d, "deployment", "?"), cli_json_text(d, "role", "?"),
		       cli_json_text(d, "phase", "?"));
		cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(d, "nodes"))
		{
			printf(" %s %lld%%", cli_json_text(n, "name", "?"), (long long)cli_json_int(n, "weight", 0));
		}
		printf("\n");
	}
}

static int cmd_show_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_response resp;
	const char *refs;
	int error = cli_version_request(self, cfg, argc, argv, "GET", NULL, &resp, &refs);
	if (error == 0) {
		cJSON *all = cli_deployments_fetch(cfg);
		cJSON *where = cli_deployments_of(all, util_json_str(resp.body, "model"), cli_json_int(resp.body, "version", 0));
		cJSON_Delete(all);
		if (cfg->json) {
			cJSON_AddItemToObject(resp.body, "deployments", where);
			where = NULL;
			error = cli_print_json(resp.body);
		} else {
			print_version(resp.body);
			print_deployed(where);
			error = print_files(cJSON_GetObjectItemCaseSensitive(resp.body, "files"));
		}
		cJSON_Delete(where);
	}
	cli_response_release(&resp);
	return error;
}

const cli_cmd_entry cli_cmd_show_entry = {
	.name = "show",
	.usage = "REF",
	.summary = "show a version: digest, status, metrics, params, tags, files",
	.help = "REF is MODEL:VERSION, MODEL:STAGE or MODEL@ALIAS.\n"
		"--json: the registry's version object as is: {\"model\",\"version\",\"digest\",\"size\",\n"
		"        \"status\",\"files\",\"metrics\",\"params\",\"tags\",\"schema\",\"created_at\",\n"
		"        \"created_by\",\"description\",\"stages\",\"aliases\",\n"
		"        \"deployments\":[{\"deployment\",\"role\":\"stable|target\",\"phase\",\n"
		"        \"nodes\":[{\"name\",\"weight\",\"state\"}]}]} (deployments: where it serves)\n",
	.exec = cmd_show_exec,
};

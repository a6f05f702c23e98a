/*
 * cmd_diff.c - `mlreg diff REF REF`: what changed between two versions,
 * file by file (by digest, so renamed bytes are not re-read) and metric by
 * metric.  The registry computes the diff from the two manifests; this file
 * only asks and prints.  Refs go to the registry as written (`fraud:3`,
 * `fraud:production`, `fraud@champion`) and are resolved there.
 */
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "util/json.h"

static void print_files(const char *mark, const cJSON *list)
{
	const cJSON *f;
	cJSON_ArrayForEach(f, list)
	{
		char size[32];
		cli_fmt_size((uint64_t)cli_json_int(f, "size", 0), size);
		printf("%s %s (%s)\n", mark, cli_json_text(f, "path", "?"), size);
	}
}

static void print_changed(const cJSON *list)
{
	const cJSON *f;
	cJSON_ArrayForEach(f, list)
	{
		const cJSON *from = cJSON_GetObjectItemCaseSensitive(f, "from");
		const cJSON *to = cJSON_GetObjectItemCaseSensitive(f, "to");
		char a[32], b[32];
		cli_fmt_size((uint64_t)cli_json_int(from, "size", 0), a);
		cli_fmt_size((uint64_t)cli_json_int(to, "size", 0), b);
		printf("~ %s (%.19s -> %.19s, %s -> %s", cli_json_text(f, "path", "?"), cli_json_text(from, "digest", "-"),
		       cli_json_text(to, "digest", "-"), a, b);
		if (cli_json_int(from, "mode", 0) != cli_json_int(to, "mode", 0))
			printf(", mode %04llo -> %04llo", (unsigned long long)cli_json_int(from, "mode", 0),
			       (unsigned long long)cli_json_int(to, "mode", 0));
		printf(")\n");
	}
}

static const char *num_text(const cJSON *v, char buf[40])
{
	if (!cJSON_IsNumber(v))
		return "-";
	cli_fmt_double(v->valuedouble, buf);
	return buf;
}

static void print_metrics(const cJSON *metrics)
{
	const cJSON *m;
	cJSON_ArrayForEach(m, metrics)
	{
		char a[40], b[40], d[40];
		const cJSON *delta = cJSON_GetObjectItemCaseSensitive(m, "delta");
		printf("metric %s: %s -> %s", m->string, num_text(cJSON_GetObjectItemCaseSensitive(m, "from"), a),
		       num_text(cJSON_GetObjectItemCaseSensitive(m, "to"), b));
		/* a difference of two rounded values: show what is significant,
		 * not the binary noise (--json keeps the exact number) */
		if (cJSON_IsNumber(delta)) {
			snprintf(d, sizeof(d), "%.6g", delta->valuedouble);
			printf(" (%s%s)", delta->valuedouble >= 0 ? "+" : "", d);
		}
		printf("\n");
	}
}

static void print_params(const cJSON *params)
{
	const cJSON *p;
	cJSON_ArrayForEach(p, params)
		printf("param %s: %s -> %s\n", p->string, cli_json_text(p, "from", "-"), cli_json_text(p, "to", "-"));
}

static int cmd_diff_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_args a;
	cli_client *c = NULL;
	cli_response resp;
	util_ref ref;
	util_buf path;
	const char *refs[2] = {NULL, NULL};
	int n = 0, rc, error = 0;
	const cJSON *body;

	memset(&resp, 0, sizeof(resp));
	util_buf_init(&path, 4096);
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		if (rc != CLI_ARGS_POS) {
			error = rc;
			goto done;
		}
		if (n == 2) {
			error = cli_usage_error(self->name, "unexpected argument '%s'", a.value);
			goto done;
		}
		refs[n++] = a.value;
	}
	if (n != 2) {
		error = cli_usage_error(self->name, "expected two REFs (MODEL:VERSION, MODEL:STAGE or MODEL@ALIAS)");
		goto done;
	}
	/* checked here so a typo is exit 2; sent as written, the registry
	 * resolves stages and aliases */
	if ((error = cli_ref_parse(self->name, refs[0], &ref)) < 0 ||
	    (error = cli_ref_parse(self->name, refs[1], &ref)) < 0)
		goto done;
	if ((error = util_buf_puts(&path, "/api/v1/diff")) < 0 || (error = cli_query_add(&path, "from", refs[0])) < 0 ||
	    (error = cli_query_add(&path, "to", refs[1])) < 0 || (error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_json(c, "GET", path.ptr, NULL, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot diff '%s' and '%s'", refs[0], refs[1]);
		goto done;
	}
	body = resp.body;
	if (cfg->json) {
		error = cli_print_json(body);
		goto done;
	}
	print_files("+", cJSON_GetObjectItemCaseSensitive(body, "added"));
	print_files("-", cJSON_GetObjectItemCaseSensitive(body, "removed"));
	print_changed(cJSON_GetObjectItemCaseSensitive(body, "changed"));
	print_metrics(cJSON_GetObjectItemCaseSensitive(body, "metrics"));
	print_params(cJSON_GetObjectItemCaseSensitive(body, "params"));
done:
	cli_response_release(&resp);
	cli_client_free(c);
	util_buf_release(&path);
	return error;
}

const cli_cmd_entry cli_cmd_diff_entry = {
	.name = "diff",
	.usage = "REF REF",
	.summary = "compare two versions: files, metrics and params",
	.help = "REF is MODEL:VERSION, MODEL:STAGE or MODEL@ALIAS.\n"
		"output: '+ path' added, '- path' removed, '~ path' changed, then\n"
		"        'metric KEY: FROM -> TO (DELTA)' and 'param KEY: FROM -> TO'\n"
		"--json: {\"from\",\"to\",\"added\":[FILE],\"removed\":[FILE],\n"
		"        \"changed\":[{\"path\",\"from\":FILE,\"to\":FILE}],\n"
		"        \"metrics\":{\"KEY\":{\"from\",\"to\",\"delta\"}},\"params\":{\"KEY\":{\"from\",\"to\"}}}\n",
	.exec = cmd_diff_exec,
};

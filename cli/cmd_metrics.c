/*
 * cmd_metrics.c - `mlreg metrics log REF KEY=VALUE[@STEP]...`: append metric
 * points to a version after it was pushed (evaluation jobs, training curves).
 *
 * Each point keeps its step, so a curve can be logged point by point; the
 * version object then shows the latest value per key.
 */
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "util/json.h"

/* "loss=0.25@3" -> {"key":"loss","value":0.25,"step":3} appended to list. */
static int add_point(const char *cmd, cJSON *list, const char *arg)
{
	char *key = NULL, *num = NULL, *at;
	const char *value;
	double v;
	int64_t step = -1;
	cJSON *o = NULL;
	int error;
	if ((error = cli_kv_split(cmd, "metric", arg, &key, &value)) < 0)
		return error;
	if (!(num = strdup(value))) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	if ((at = strrchr(num, '@'))) {
		*at = '\0';
		if (util_parse_i64(at + 1, &step) < 0 || step < 0) {
			error = cli_usage_error(cmd, "invalid step in '%s': expected a whole number >= 0", arg);
			goto done;
		}
	}
	if (util_parse_double(num, &v) < 0) {
		error = cli_usage_error(cmd, "invalid metric '%s': the value must be a number", arg);
		goto done;
	}
	if (!(o = cJSON_CreateObject()) || !cJSON_AddStringToObject(o, "key", key) ||
	    !cJSON_AddNumberToObject(o, "value", v) ||
	    (step >= 0 && !cJSON_AddNumberToObject(o, "step", (double)step)) || !cJSON_AddItemToArray(list, o)) {
		cJSON_Delete(o);
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
done:
	free(key);
	free(num);
	return error;
}

static int cmd_metrics_log_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_args a;
	cli_client *c = NULL;
	cli_response resp;
	util_ref ref;
	util_buf path;
	const char *refs = NULL;
	cJSON *body = cJSON_CreateObject(), *list = body ? cJSON_AddArrayToObject(body, "metrics") : NULL;
	int rc, error = 0;

	memset(&resp, 0, sizeof(resp));
	util_buf_init(&path, 4096);
	if (!list) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		if (rc != CLI_ARGS_POS)
			error = rc;
		else if (!refs)
			refs = a.value;
		else
			error = add_point(self->name, list, a.value);
		if (error < 0)
			goto done;
	}
	if (!refs || cJSON_GetArraySize(list) == 0) {
		error = cli_usage_error(self->name, "expected REF and at least one KEY=VALUE[@STEP]");
		goto done;
	}
	if ((error = cli_ref_parse_version(self->name, refs, &ref)) < 0 ||
	    (error = cli_version_path(&path, &ref, "/metrics")) < 0 ||
	    (error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_json(c, "POST", path.ptr, body, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot log metrics on '%s'", refs);
		goto done;
	}
	if (cfg->json)
		error = cli_print_json(resp.body);
	else
		printf("logged %d metric%s on %s\n", cJSON_GetArraySize(list), cJSON_GetArraySize(list) == 1 ? "" : "s",
		       refs);
done:
	cJSON_Delete(body);
	cli_response_release(&resp);
	cli_client_free(c);
	util_buf_release(&path);
	return error;
}

const cli_cmd_entry cli_cmd_metrics_log_entry = {
	.name = "metrics log",
	.usage = "REF KEY=VALUE[@STEP]...",
	.summary = "record metric values (optionally at a step) on a version",
	.help = "REF is MODEL:VERSION; VALUE is a number, STEP a whole number >= 0.\n"
		"example: mlreg metrics log fraud:3 auc=0.91 loss=0.25@100\n"
		"--json: the updated version object\n",
	.exec = cmd_metrics_log_exec,
};

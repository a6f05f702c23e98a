/*
 * cmd_ls.c - `mlreg ls [MODEL]`: list the models, or the versions of one.
 *
 * Both lists are read page by page (next_page_token) until the end, so the
 * output is complete however many models there are; `search` is the command
 * for filtered, paged listings.
 */
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "util/json.h"

static int print_models(const cli_config *cfg, const cJSON *models)
{
	const cJSON *m;
	int error = 0;
	if (cfg->json) {
		cJSON *out = cJSON_CreateObject(), *arr = out ? cJSON_AddArrayToObject(out, "models") : NULL;
		if (!arr) {
			cJSON_Delete(out);
			return mlreg_error_set(MLREG_ENOMEM, "out of memory");
		}
		cJSON_ArrayForEach(m, models)
		{
			const cJSON *lv = cJSON_GetObjectItemCaseSensitive(m, "latest_version");
			const char *up = util_json_str(m, "updated_at");
			cJSON *o = cJSON_CreateObject();
			if (!o || !cJSON_AddItemToArray(arr, o) ||
			    !cJSON_AddStringToObject(o, "name", cli_json_text(m, "name", "")) ||
			    !(util_json_is_int(lv) ? cJSON_AddNumberToObject(o, "latest_version", lv->valuedouble)
						   : cJSON_AddNullToObject(o, "latest_version")) ||
			    !(up ? cJSON_AddStringToObject(o, "updated_at", up) : cJSON_AddNullToObject(o, "updated_at"))) {
				cJSON_Delete(out);
				return mlreg_error_set(MLREG_ENOMEM, "out of memory");
			}
		}
		error = cli_print_json(out);
		cJSON_Delete(out);
		return error;
	}
	{
		static const char *const head[] = {"MODEL", "LATEST", "UPDATED", "DESCRIPTION"};
		cli_table t;
		cli_table_init(&t, 4);
		error = cli_table_add(&t, head);
		cJSON_ArrayForEach(m, models)
		{
			char latest[32] = "-";
			const char *row[4];
			int64_t lv;
			if (error < 0)
				break;
			if (util_json_i64(m, "latest_version", &lv) == 0)
				snprintf(latest, sizeof(latest), "%lld", (long long)lv);
			row[0] = cli_json_text(m, "name", "?");
			row[1] = latest;
			row[2] = cli_json_text(m, "updated_at", "-");
			row[3] = cli_json_text(m, "description", "");
			error = cli_table_add(&t, row);
		}
		if (error == 0)
			cli_table_print(&t, stdout);
		cli_table_release(&t);
	}
	return error;
}

static int print_versions(const cli_config *cfg, cJSON *versions)
{
	cJSON *out;
	int error;
	if (!cfg->json)
		return cli_print_versions(versions);
	if (!(out = cJSON_CreateObject()))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	cJSON_AddItemReferenceToObject(out, "versions", versions);
	error = cli_print_json(out);
	cJSON_Delete(out);
	return error;
}

static int cmd_ls_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_args a;
	cli_client *c = NULL;
	cJSON *items = NULL;
	util_buf path;
	const char *model = NULL;
	int rc, error = 0;

	util_buf_init(&path, 4096);
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		if (rc != CLI_ARGS_POS) {
			error = rc;
			goto done;
		}
		if (model) {
			error = cli_usage_error(self->name, "unexpected argument '%s'", a.value);
			goto done;
		}
		model = a.value;
	}
	if (model && !util_model_name_valid(model)) {
		error = cli_usage_error(self->name, "invalid model name '%s'", model);
		goto done;
	}
	if ((error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if (model) {
		if ((error = cli_model_path(&path, model, "/versions?limit=1000")) < 0 ||
		    (error = cli_client_get_all(c, path.ptr, "versions", &items)) < 0 ||
		    (error = print_versions(cfg, items)) < 0)
			goto done;
	} else {
		if ((error = cli_client_get_all(c, "/api/v1/models?limit=1000", "models", &items)) < 0 ||
		    (error = print_models(cfg, items)) < 0)
			goto done;
	}
done:
	if (error < 0 && model && error != MLREG_EUSAGE)
		error = cli_error_wrap(error, "cannot list versions of '%s'", model);
	cJSON_Delete(items);
	cli_client_free(c);
	util_buf_release(&path);
	return error;
}

const cli_cmd_entry cli_cmd_ls_entry = {
	.name = "ls",
	.usage = "[MODEL]",
	.summary = "list models, or the versions of MODEL",
	.help = "--json: {\"models\":[{\"name\",\"latest_version\",\"updated_at\"}]}\n"
		"        with MODEL: {\"versions\":[VERSION...]} (version objects without files)\n",
	.exec = cmd_ls_exec,
};

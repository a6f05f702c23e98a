/*
 * cmd_tag.c - `mlreg tag REF|MODEL KEY=VALUE... [--rm KEY]...`: set and
 * remove tags on a version (REF with ':') or on a model (a bare name).
 *
 * All changes go in one PATCH (null removes a key), so they apply together
 * or not at all.
 */
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "util/json.h"

enum { OPT_RM = 256 };

static const cli_option tag_options[] = {
	{"rm", OPT_RM, true},
	{NULL, 0, false},
};

static int set_key(const char *cmd, cJSON *body, const char *key, cJSON *value)
{
	if (!value)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	if (cJSON_GetObjectItemCaseSensitive(body, key)) {
		cJSON_Delete(value);
		return cli_usage_error(cmd, "tag '%s' is given twice", key);
	}
	if (!cJSON_AddItemToObject(body, key, value)) {
		cJSON_Delete(value);
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	return 0;
}

static int cmd_tag_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_args a;
	cli_client *c = NULL;
	cli_response resp;
	util_ref ref;
	util_buf path;
	const char *target = NULL;
	cJSON *body = cJSON_CreateObject();
	bool is_version;
	int rc, error = 0;

	memset(&resp, 0, sizeof(resp));
	util_buf_init(&path, 4096);
	if (!body) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		char *key = NULL;
		const char *value;
		if (rc == OPT_RM) {
			if (!util_key_valid(a.value))
				error = cli_usage_error(self->name, "invalid tag key '%s'", a.value);
			else
				error = set_key(self->name, body, a.value, cJSON_CreateNull());
		} else if (rc == CLI_ARGS_POS && !target) {
			target = a.value;
		} else if (rc == CLI_ARGS_POS) {
			if ((error = cli_kv_split(self->name, "tag", a.value, &key, &value)) == 0)
				error = set_key(self->name, body, key, cJSON_CreateString(value));
			free(key);
		} else {
			error = rc;
		}
		if (error < 0)
			goto done;
	}
	if (!target || !body->child) {
		error = cli_usage_error(self->name, "expected REF or MODEL and at least one KEY=VALUE or --rm KEY");
		goto done;
	}
	is_version = strchr(target, ':') || strchr(target, '@');
	if (is_version) {
		if ((error = cli_ref_parse_version(self->name, target, &ref)) < 0 ||
		    (error = cli_version_path(&path, &ref, "/tags")) < 0)
			goto done;
	} else {
		if (!util_model_name_valid(target)) {
			error = cli_usage_error(self->name, "invalid model name '%s'", target);
			goto done;
		}
		if ((error = cli_model_path(&path, target, "/tags")) < 0)
			goto done;
	}
	if ((error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_json(c, "PATCH", path.ptr, body, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot tag '%s'", target);
		goto done;
	}
	if (cfg->json)
		error = cli_print_json(resp.body);
	else
		printf("tagged %s %s\n", is_version ? "version" : "model", target);
done:
	cJSON_Delete(body);
	cli_response_release(&resp);
	cli_client_free(c);
	util_buf_release(&path);
	return error;
}

const cli_cmd_entry cli_cmd_tag_entry = {
	.name = "tag",
	.usage = "REF|MODEL KEY=VALUE... [--rm KEY]...",
	.summary = "set or remove tags on a version (MODEL:VERSION) or a model",
	.help = "options:\n"
		"  --rm KEY   remove the tag KEY (repeatable)\n"
		"A target containing ':' is a version, otherwise a model.\n"
		"--json: the updated version or model object\n",
	.options = tag_options,
	.exec = cmd_tag_exec,
};

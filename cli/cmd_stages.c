/*
 * cmd_stages.c - `mlreg stages ls` and `mlreg stages set a,b,c`: the
 * ordered list of stages every model shares (default staging, production).
 *
 * The order matters to people reading it (it is the promotion path) and to
 * gate policies (`--from`), so `set` sends the whole list in one PUT and
 * the registry replaces it atomically; it refuses (409, exit 6) to drop a
 * stage that a model holds or a policy names.  Names are checked here with
 * the registry's own rule so a typo is exit 2 before any request.
 */
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "util/json.h"

static int print_stages(const cli_config *cfg, const cJSON *body)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(body, "stages"), *s;
	if (!cJSON_IsArray(list))
		return mlreg_error_set(MLREG_EIO, "registry answer lacks 'stages'");
	if (cfg->json)
		return cli_print_json(body);
	cJSON_ArrayForEach(s, list)
		if (cJSON_IsString(s))
			printf("%s\n", s->valuestring);
	return 0;
}

static int cmd_stages_ls_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_client *c = NULL;
	cli_response resp;
	int error;

	memset(&resp, 0, sizeof(resp));
	if ((error = cli_args_positionals(self, argc, argv, NULL, 0, "")) < 0 || (error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_json(c, "GET", "/api/v1/stages", NULL, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot list stages");
		goto done;
	}
	error = print_stages(cfg, resp.body);
done:
	cli_response_release(&resp);
	cli_client_free(c);
	return error;
}

static int cmd_stages_set_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_client *c = NULL;
	cli_response resp;
	const char *arg = NULL;
	cJSON *body = NULL, *list;
	cli_list names;
	int error;

	memset(&resp, 0, sizeof(resp));
	cli_list_init(&names);
	if ((error = cli_args_positionals(self, argc, argv, &arg, 1, "expected STAGE,STAGE,... (e.g. staging,production)")) < 0 ||
	    (error = cli_list_split(self->name, "stage", arg, util_label_name_valid, &names)) < 0)
		goto done;
	if (!(body = cJSON_CreateObject()) || !(list = cJSON_AddArrayToObject(body, "stages"))) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < names.n; i++) {
		if (!cJSON_AddItemToArray(list, cJSON_CreateString(names.items[i]))) {
			error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
			goto done;
		}
	}
	if ((error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_json(c, "PUT", "/api/v1/stages", body, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot set stages");
		goto done;
	}
	error = print_stages(cfg, resp.body);
done:
	cli_list_release(&names);
	cJSON_Delete(body);
	cli_response_release(&resp);
	cli_client_free(c);
	return error;
}

const cli_cmd_entry cli_cmd_stages_ls_entry = {
	.name = "stages ls",
	.usage = "",
	.summary = "list the stages, in promotion order",
	.help = "output: one stage per line, in order\n"
		"--json: {\"stages\":[\"staging\",\"production\"]}\n",
	.exec = cmd_stages_ls_exec,
};

const cli_cmd_entry cli_cmd_stages_set_entry = {
	.name = "stages set",
	.usage = "STAGE,STAGE,...",
	.summary = "replace the ordered list of stages (admin)",
	.help = "Stage names: lowercase letters, digits and '-', starting with a letter,\n"
		"at most 63 characters, not 'latest'; 1 to 32 distinct names.  Dropping a\n"
		"stage a model holds or a policy names is refused (exit 6).\n"
		"output: the new list, one stage per line\n"
		"--json: {\"stages\":[...]}\n",
	.exec = cmd_stages_set_exec,
};

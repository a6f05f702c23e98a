/*
 * cmd_approve.c - `mlreg approve REF --stage S`: record that the caller
 * approves a version for a stage.
 *
 * Approvals count distinct principals (not tokens) and never the pusher of
 * the version: that separation of duties is the registry's to enforce, so a
 * pusher approving their own version is its 422 `refused`, which the one
 * exit-code table turns into exit 3 with the registry's reason.  REF may be
 * a stage or alias ("approve whatever staging holds"); the text names the
 * version the registry resolved it to.
 */
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "util/json.h"

enum { OPT_STAGE = 256, OPT_COMMENT };

static const cli_option approve_options[] = {
	{"stage", OPT_STAGE, true},
	{"comment", OPT_COMMENT, true},
	{NULL, 0, false},
};

static int cmd_approve_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_args a;
	cli_client *c = NULL;
	cli_response resp;
	util_ref ref;
	util_buf path;
	const char *refs = NULL, *stage = NULL, *comment = NULL;
	cJSON *body = NULL;
	int64_t count;
	int rc, error = 0;

	memset(&resp, 0, sizeof(resp));
	util_buf_init(&path, 4096);
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		if (rc == OPT_STAGE)
			stage = a.value;
		else if (rc == OPT_COMMENT)
			comment = a.value;
		else if (rc == CLI_ARGS_POS && !refs)
			refs = a.value;
		else if (rc == CLI_ARGS_POS)
			error = cli_usage_error(self->name, "unexpected argument '%s'", a.value);
		else
			error = rc;
		if (error < 0)
			goto done;
	}
	if (!refs || !stage) {
		error = cli_usage_error(self->name, "expected REF and --stage STAGE");
		goto done;
	}
	if ((error = cli_ref_parse(self->name, refs, &ref)) < 0 ||
	    (error = cli_label_check(self->name, "stage", stage)) < 0 ||
	    (error = cli_version_path(&path, &ref, "/approvals")) < 0)
		goto done;
	if (!(body = cJSON_CreateObject()) || !cJSON_AddStringToObject(body, "stage", stage) ||
	    (comment && !cJSON_AddStringToObject(body, "comment", comment))) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	if ((error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_json(c, "POST", path.ptr, body, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot approve '%s' for %s", refs, stage);
		goto done;
	}
	if (cfg->json) {
		error = cli_print_json(resp.body);
		goto done;
	}
	count = cli_json_int(resp.body, "count", 0);
	printf("approved %s:%lld for %s (%lld approval%s%s)\n", cli_json_text(resp.body, "model", ref.model),
	       (long long)cli_json_int(resp.body, "version", ref.version), cli_json_text(resp.body, "stage", stage),
	       (long long)count, count == 1 ? "" : "s", resp.status == 200 ? "; yours was already counted" : "");
done:
	cJSON_Delete(body);
	cli_response_release(&resp);
	cli_client_free(c);
	util_buf_release(&path);
	return error;
}

const cli_cmd_entry cli_cmd_approve_entry = {
	.name = "approve",
	.usage = "REF --stage S [--comment TEXT]",
	.summary = "approve a version for a stage (approver; not the pusher)",
	.help = "REF is MODEL:VERSION, MODEL:STAGE or MODEL@ALIAS.\n"
		"options:\n"
		"  --stage S        the stage the approval is for (required)\n"
		"  --comment TEXT   kept with the approval\n"
		"Approving a version you pushed is refused (exit 3).\n"
		"output: approved MODEL:VERSION for STAGE (N approvals)\n"
		"--json: {\"model\",\"version\",\"stage\",\"principal\",\"time\",\"comment\",\"count\"}\n",
	.options = approve_options,
	.exec = cmd_approve_exec,
};

/*
 * cmd_rollback.c - `mlreg rollback MODEL --stage S [--to VERSION]`: put a
 * stage back to the version it held before.
 *
 * A stage's history is a stack: promote pushes, rollback pops (to --to, the
 * stack is popped down to that version).  Rolling back is the on-call
 * engineer's escape hatch, so it passes no gate; the registry refuses only
 * what would make no sense (a stack of one, a --to never held: exit 3), and
 * --force (admin) puts any version on top instead.  The registry pops in one
 * transaction with the audit entry and webhook event.
 */
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "util/json.h"

enum { OPT_STAGE = 256, OPT_TO, OPT_FORCE, OPT_COMMENT };

static const cli_option rollback_options[] = {
	{"stage", OPT_STAGE, true},
	{"to", OPT_TO, true},
	{"force", OPT_FORCE, false},
	{"comment", OPT_COMMENT, true},
	{NULL, 0, false},
};

static const char *num_or_none(const cJSON *obj, const char *key, char buf[32])
{
	int64_t v;
	if (util_json_i64(obj, key, &v) < 0)
		return "none";
	snprintf(buf, 32, "%lld", (long long)v);
	return buf;
}

static int cmd_rollback_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_args a;
	cli_client *c = NULL;
	cli_response resp;
	util_buf path, suffix;
	const char *model = NULL, *stage = NULL, *to = NULL, *comment = NULL;
	cJSON *body = cJSON_CreateObject();
	bool force = false;
	int64_t to_v = 0;
	char from_s[32], to_s[32];
	int rc, error = 0;

	memset(&resp, 0, sizeof(resp));
	util_buf_init(&path, 4096);
	util_buf_init(&suffix, 256);
	if (!body) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		switch (rc) {
		case OPT_STAGE: stage = a.value; break;
		case OPT_TO: to = a.value; break;
		case OPT_FORCE: force = true; break;
		case OPT_COMMENT: comment = a.value; break;
		case CLI_ARGS_POS:
			if (model)
				error = cli_usage_error(self->name, "unexpected argument '%s'", a.value);
			model = a.value;
			break;
		default: error = rc; break;
		}
		if (error < 0)
			goto done;
	}
	if (!model || !stage) {
		error = cli_usage_error(self->name, "expected MODEL and --stage STAGE");
		goto done;
	}
	if (!util_model_name_valid(model)) {
		error = cli_usage_error(self->name, "invalid model name '%s'", model);
		goto done;
	}
	if ((error = cli_label_check(self->name, "stage", stage)) < 0)
		goto done;
	if (to && (util_parse_i64(to, &to_v) < 0 || to_v < 1)) {
		error = cli_usage_error(self->name, "invalid --to '%s': expected a version number", to);
		goto done;
	}
	if (force && !to) {
		error = cli_usage_error(self->name, "--force needs --to VERSION");
		goto done;
	}
	if ((to && !cJSON_AddNumberToObject(body, "to", (double)to_v)) ||
	    (force && !cJSON_AddBoolToObject(body, "force", true)) ||
	    (comment && !cJSON_AddStringToObject(body, "comment", comment))) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	if ((error = util_buf_printf(&suffix, "/stages/%s/rollback", stage)) < 0 ||
	    (error = cli_model_path(&path, model, suffix.ptr)) < 0 || (error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_json(c, "POST", path.ptr, body, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot roll back %s %s", model, stage);
		goto done;
	}
	if (cfg->json)
		error = cli_print_json(resp.body);
	else
		printf("rolled back %s %s: %s -> %s\n", model, stage, num_or_none(resp.body, "from", from_s),
		       num_or_none(resp.body, "to", to_s));
done:
	cJSON_Delete(body);
	cli_response_release(&resp);
	cli_client_free(c);
	util_buf_release(&path);
	util_buf_release(&suffix);
	return error;
}

const cli_cmd_entry cli_cmd_rollback_entry = {
	.name = "rollback",
	.usage = "MODEL --stage S [--to VERSION] [--force] [--comment TEXT]",
	.summary = "put a stage back to the version it held before (deployer)",
	.help = "options:\n"
		"  --stage S        the stage to roll back (required)\n"
		"  --to VERSION     pop the stage's stack down to VERSION\n"
		"  --force          with --to: put VERSION on top even if the stage never\n"
		"                   held it (admin)\n"
		"  --comment TEXT   recorded in the history and audit log\n"
		"A stage with nothing to go back to, or a --to it never held, is refused (exit 3).\n"
		"output: rolled back MODEL STAGE: FROM -> TO\n"
		"--json: {\"model\",\"stage\",\"from\",\"to\"}\n",
	.options = rollback_options,
	.exec = cmd_rollback_exec,
};

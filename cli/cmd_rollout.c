/*
 * cmd_rollout.c - `mlreg rollout pause|resume|promote [--full]|abort|retry
 * NAME`: an operator's say in a deployment's rollout (deployer).
 *
 * Each verb is recorded by the registry as the deployment's pending verb
 * (audited as rollout.<verb>) and the reconciler acts on it in its next
 * pass, so the command returns at once with the status it left: the verb
 * shows as pending there.  A verb that does not fit the rollout's phase
 * (resume when nothing is paused, retry with nothing rejected) is the
 * registry's 409: exit 6.  One function serves all five; the verb is the
 * command's second word.
 */
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/deploy_common.h"
#include "util/json.h"

enum { OPT_FULL = 256 };

static const cli_option promote_options[] = {
	{"full", OPT_FULL, false},
	{NULL, 0, false},
};

static int cmd_rollout_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_args a;
	cli_client *c = NULL;
	cli_response resp;
	util_buf path, suffix;
	const char *name = NULL, *verb = strchr(self->name, ' ') + 1;
	bool full = false;
	int rc, error = 0;

	memset(&resp, 0, sizeof(resp));
	util_buf_init(&path, 4096);
	util_buf_init(&suffix, 64);
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		if (rc == OPT_FULL)
			full = true;
		else if (rc == CLI_ARGS_POS && !name)
			name = a.value;
		else if (rc == CLI_ARGS_POS)
			error = cli_usage_error(self->name, "unexpected argument '%s'", a.value);
		else
			error = rc;
		if (error < 0)
			goto done;
	}
	if (!name) {
		error = cli_usage_error(self->name, "expected NAME (a deployment)");
		goto done;
	}
	if (full)
		verb = "promote-full";
	if ((error = util_buf_printf(&suffix, "/rollout/%s", verb)) < 0 ||
	    (error = cli_deployment_path(self->name, name, suffix.ptr, &path)) < 0 || (error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_json(c, "POST", path.ptr, NULL, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot %s the rollout of '%s'", full ? "fully promote" : verb, name);
		goto done;
	}
	if (cfg->json) {
		error = cli_print_json(resp.body);
	} else {
		printf("requested %s of deployment %s: the controller acts on it in its next pass\n", verb, name);
		cli_deploy_print_status(resp.body, stdout);
	}
done:
	cli_response_release(&resp);
	cli_client_free(c);
	util_buf_release(&path);
	util_buf_release(&suffix);
	return error;
}

#define ROLLOUT_HELP                                                                                    \
	"The verb is recorded as the deployment's pending verb (audited) and the controller acts\n"  \
	"on it in its next pass.  A verb that does not fit the rollout's phase is exit 6.\n"        \
	"output: the status; --json: the status object\n"

const cli_cmd_entry cli_cmd_rollout_pause_entry = {
	.name = "rollout pause",
	.usage = "NAME",
	.summary = "hold a rollout at its current step (deployer)",
	.help = ROLLOUT_HELP,
	.exec = cmd_rollout_exec,
};

const cli_cmd_entry cli_cmd_rollout_resume_entry = {
	.name = "rollout resume",
	.usage = "NAME",
	.summary = "continue a paused rollout (deployer)",
	.help = ROLLOUT_HELP,
	.exec = cmd_rollout_exec,
};

const cli_cmd_entry cli_cmd_rollout_promote_entry = {
	.name = "rollout promote",
	.usage = "NAME [--full]",
	.summary = "end the current step of a rollout; --full: go to weight 100 (deployer)",
	.help = "options:\n"
		"  --full   skip the remaining steps: the target takes all traffic\n" ROLLOUT_HELP,
	.options = promote_options,
	.exec = cmd_rollout_exec,
};

const cli_cmd_entry cli_cmd_rollout_abort_entry = {
	.name = "rollout abort",
	.usage = "NAME",
	.summary = "back out of a rollout: traffic to stable, the target rejected (deployer)",
	.help = ROLLOUT_HELP,
	.exec = cmd_rollout_exec,
};

const cli_cmd_entry cli_cmd_rollout_retry_entry = {
	.name = "rollout retry",
	.usage = "NAME",
	.summary = "forget the rejected version, so it is rolled out again (deployer)",
	.help = ROLLOUT_HELP,
	.exec = cmd_rollout_exec,
};

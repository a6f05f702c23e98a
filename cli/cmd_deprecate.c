/*
 * cmd_deprecate.c - `mlreg deprecate REF`: mark a version deprecated.  It
 * stays pullable (running deployments keep working); the status warns
 * people and pipelines away from it.
 */
#include "cli/cli.h"

static int cmd_deprecate_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	return cli_version_action(self, cfg, argc, argv, "POST", "/deprecate", "deprecated", NULL);
}

const cli_cmd_entry cli_cmd_deprecate_entry = {
	.name = "deprecate",
	.usage = "REF",
	.summary = "mark a version deprecated",
	.help = "REF is MODEL:VERSION.\n--json: the updated version object\n",
	.exec = cmd_deprecate_exec,
};

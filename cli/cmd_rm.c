/*
 * cmd_rm.c - `mlreg rm REF`: delete a version.  The registry keeps a
 * tombstone (metadata, lineage and audit stay; status becomes "deleted") and
 * `mlreg gc` frees the bytes later.  A version a stage or deployment still
 * uses is refused (exit 6).
 */
#include "cli/cli.h"

static int cmd_rm_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	return cli_version_action(self, cfg, argc, argv, "DELETE", NULL, "deleted",
				  " (its bytes are freed by the next gc)");
}

const cli_cmd_entry cli_cmd_rm_entry = {
	.name = "rm",
	.usage = "REF",
	.summary = "delete a version (tombstone; gc frees the bytes)",
	.help = "REF is MODEL:VERSION.  Needs the admin role.\n--json: the version object, status \"deleted\"\n",
	.exec = cmd_rm_exec,
};

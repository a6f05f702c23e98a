/*
 * cmd_server.c - `mlreg server`: run the registry server in this process;
 * and `mlreg controller`: run the deployment reconciler alone.
 *
 * The server parses its own flags (--listen, --data, ...), so main.c hands
 * it the arguments untouched, with argv[0] being the word "server".
 */
#include "api/api.h"
#include "cli/cli.h"
#include "controller/reconcile.h"

static int cmd_server_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	return api_server_main(argc, argv);
}

const cli_cmd_entry cli_cmd_server_entry = {
	.name = "server",
	.usage = "[--listen ADDR:PORT] [--data DIR] [...]",
	.summary = "run the registry server (flags: see 'mlreg server --help')",
	.help = "The server parses its own flags; global CLI flags do not apply to it.\n",
	.raw_args = true,
	.exec = cmd_server_exec,
};

static int cmd_controller_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	return ctl_standalone_main(argc, argv);
}

/* `mlreg controller`: the deployment reconciler in its own process. */
const cli_cmd_entry cli_cmd_controller_entry = {
	.name = "controller",
	.usage = "[--data DIR] [...]",
	.summary = "run the deployment reconciler alone (flags: see 'mlreg controller --help')",
	.help = "Opens only the registry's database; runs beside `mlreg server` (e.g. one started with\n"
		"--no-controller, or as a stand-by: the lease lets one reconciler act at a time).\n",
	.raw_args = true,
	.exec = cmd_controller_exec,
};

/*
 * cmd_server.c - `mlreg server`: run the registry server in this process.
 *
 * The server parses its own flags (--listen, --data, ...), so main.c hands
 * it the arguments untouched, with argv[0] being the word "server".
 */
#include "api/api.h"
#include "cli/cli.h"

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

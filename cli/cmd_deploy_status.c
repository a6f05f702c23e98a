/*
 * cmd_deploy_status.c - `mlreg deploy status NAME [--watch]`: where a
 * deployment's rollout stands, once or as it changes.
 *
 * --watch polls once a second and prints the status again only when it
 * changed, until the rollout has settled - phase Healthy or Degraded with
 * no target left in flight - or Ctrl-C; both end with exit 0, because the
 * watch did what was asked (the final phase is in the output: a pipeline
 * that must fail on Degraded reads it, e.g. from the last --json line).
 * Polling, not a server push: the registry has no streaming endpoint, and
 * one small GET a second per watcher costs it nothing.  With --json every
 * change is one JSON line (JSON lines), the first printed at once.
 */
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/deploy_common.h"
#include "util/json.h"

#define WATCH_INTERVAL_MS 1000

enum { OPT_WATCH = 256 };

static const cli_option status_options[] = {
	{"watch", OPT_WATCH, false},
	{NULL, 0, false},
};

/* Settled: nothing is rolling out and nothing will without a new
 * promotion, rollback or verb. */
static bool settled(const cJSON *st)
{
	const char *phase = util_json_str(st, "phase");
	return phase && (!strcmp(phase, "Healthy") || !strcmp(phase, "Degraded")) &&
	       !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(st, "target_version"));
}

static int cmd_deploy_status_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_args a;
	cli_client *c = NULL;
	cli_response resp;
	util_buf path;
	const char *name = NULL;
	char *last = NULL;
	bool watch = false;
	int rc, error = 0;

	memset(&resp, 0, sizeof(resp));
	util_buf_init(&path, 4096);
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		if (rc == OPT_WATCH)
			watch = true;
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
		error = cli_usage_error(self->name, "expected NAME");
		goto done;
	}
	if ((error = cli_deployment_path(self->name, name, "", &path)) < 0 || (error = cli_client_new(&c, cfg)) < 0)
		goto done;
	for (;;) {
		char *now;
		cli_response_release(&resp);
		memset(&resp, 0, sizeof(resp));
		if ((error = cli_client_json(c, "GET", path.ptr, NULL, &resp)) < 0) {
			if (watch && cli_interrupted()) {
				error = 0; /* Ctrl-C during a request ends the watch */
				break;
			}
			error = cli_error_wrap(error, "cannot read deployment '%s'", name);
			goto done;
		}
		if (!(now = util_json_print(resp.body))) {
			error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
			goto done;
		}
		if (!last || strcmp(now, last) != 0) {
			if (cfg->json) {
				error = cli_print_json(resp.body);
			} else {
				if (last)
					putchar('\n');
				cli_deploy_print_status(resp.body, stdout);
			}
			fflush(stdout);
		}
		free(last);
		last = now;
		if (error < 0 || !watch || settled(resp.body))
			break;
		if (cli_sleep_ms(WATCH_INTERVAL_MS) < 0) {
			error = 0; /* Ctrl-C: the watch ends as asked */
			break;
		}
	}
done:
	free(last);
	cli_response_release(&resp);
	cli_client_free(c);
	util_buf_release(&path);
	return error;
}

const cli_cmd_entry cli_cmd_deploy_status_entry = {
	.name = "deploy status",
	.usage = "NAME [--watch]",
	.summary = "show where a deployment's rollout stands",
	.help = "options:\n"
		"  --watch   print it again each time it changes (polled every second) until the\n"
		"            rollout settles (Healthy or Degraded, no target in flight) or Ctrl-C;\n"
		"            exit 0 either way\n"
		"output: phase and step, stable/target/rejected versions, the steps, the message,\n"
		"        a pending verb, each selected node with the versions and weights it serves,\n"
		"        and the analysis results\n"
		"--json: the status object; with --watch one JSON line per change\n",
	.options = status_options,
	.exec = cmd_deploy_status_exec,
};

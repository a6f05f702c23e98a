/*
 * cmd_gc.c - `mlreg gc [--dry-run]`: ask the registry to sweep blobs no
 * version references (mark and sweep under its writer lock, sparing recent
 * uploads).  The work happens in the server; this waits without a total
 * timeout because a large store takes a while.
 */
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"

enum { OPT_DRY_RUN = 256 };

static const cli_option gc_options[] = {
	{"dry-run", OPT_DRY_RUN, false},
	{NULL, 0, false},
};

static int cmd_gc_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_args a;
	cli_client *c = NULL;
	cli_request req;
	cli_response resp;
	bool dry = false;
	int rc, error = 0;

	memset(&resp, 0, sizeof(resp));
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		if (rc == OPT_DRY_RUN)
			dry = true;
		else if (rc == CLI_ARGS_POS)
			error = cli_usage_error(self->name, "unexpected argument '%s'", a.value);
		else
			error = rc;
		if (error < 0)
			goto done;
	}
	if ((error = cli_client_new(&c, cfg)) < 0)
		goto done;
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.path = dry ? "/api/v1/gc?dry_run=true" : "/api/v1/gc";
	req.timeout_ms = -1;
	if ((error = cli_client_do(c, &req, &resp)) < 0) {
		error = cli_error_wrap(error, "gc failed");
		goto done;
	}
	if (cfg->json) {
		error = cli_print_json(resp.body);
		goto done;
	}
	{
		char freed[32];
		long long blobs = (long long)cli_json_int(resp.body, "deleted_blobs", 0);
		cli_fmt_size((uint64_t)cli_json_int(resp.body, "freed_bytes", 0), freed);
		printf("%s %lld blob%s, %s %s; kept %lld pending, swept %lld stale upload%s\n",
		       dry ? "would delete" : "deleted", blobs, blobs == 1 ? "" : "s", dry ? "would free" : "freed", freed,
		       (long long)cli_json_int(resp.body, "kept_pending", 0),
		       (long long)cli_json_int(resp.body, "swept_uploads", 0),
		       cli_json_int(resp.body, "swept_uploads", 0) == 1 ? "" : "s");
	}
done:
	cli_response_release(&resp);
	cli_client_free(c);
	return error;
}

const cli_cmd_entry cli_cmd_gc_entry = {
	.name = "gc",
	.usage = "[--dry-run]",
	.summary = "delete blobs no version uses (admin)",
	.help = "options:\n"
		"  --dry-run   report what would be deleted, delete nothing\n"
		"--json: {\"deleted_blobs\",\"freed_bytes\",\"kept_pending\",\"swept_uploads\"}\n",
	.options = gc_options,
	.exec = cmd_gc_exec,
};

/*
 * cmd_fsck.c - `mlreg fsck`: ask the registry to rehash every blob and
 * report the ones whose bytes no longer match their digest.  Exits 6 when
 * any is bad, naming each digest and path, so a cron job or CI step fails
 * loudly on silent corruption.
 */
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"

static int cmd_fsck_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_client *c = NULL;
	cli_request req;
	cli_response resp;
	const cJSON *bad, *b;
	int nbad, error = 0;

	memset(&resp, 0, sizeof(resp));
	if ((error = cli_args_positionals(self, argc, argv, NULL, 0, "")) < 0 || (error = cli_client_new(&c, cfg)) < 0)
		goto done;
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.path = "/api/v1/fsck";
	req.timeout_ms = -1; /* rehashing a large store takes minutes */
	if ((error = cli_client_do(c, &req, &resp)) < 0) {
		error = cli_error_wrap(error, "fsck failed");
		goto done;
	}
	bad = cJSON_GetObjectItemCaseSensitive(resp.body, "bad");
	nbad = cJSON_GetArraySize(bad);
	if (cfg->json) {
		if ((error = cli_print_json(resp.body)) < 0)
			goto done;
	} else {
		cJSON_ArrayForEach(b, bad)
			printf("bad %s %s: %s\n", cli_json_text(b, "digest", "?"), cli_json_text(b, "path", "?"),
			       cli_json_text(b, "problem", "digest mismatch"));
		if (nbad == 0)
			printf("fsck ok: %lld blobs checked\n", (long long)cli_json_int(resp.body, "checked", 0));
	}
	if (nbad > 0)
		error = mlreg_error_set(MLREG_EINTEGRITY, "fsck found %d bad blob%s of %lld checked", nbad,
					nbad == 1 ? "" : "s", (long long)cli_json_int(resp.body, "checked", 0));
done:
	cli_response_release(&resp);
	cli_client_free(c);
	return error;
}

const cli_cmd_entry cli_cmd_fsck_entry = {
	.name = "fsck",
	.usage = "",
	.summary = "rehash every blob and report corrupt ones (admin; exit 6 if any)",
	.help = "output: one line 'bad DIGEST PATH: PROBLEM' per corrupt blob, or 'fsck ok: N blobs checked'\n"
		"--json: {\"checked\",\"bad\":[{\"digest\",\"path\",\"problem\"}]}\n",
	.exec = cmd_fsck_exec,
};

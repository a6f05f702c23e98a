/*
 * cmd_import.c - `mlreg import BUNDLE`: bring the versions of a bundle
 * (docs/bundles.md) into the registry, verified, all or nothing.
 *
 * Three steps, and nothing is visible before the last: bundle_read.c reads
 * the archive into a private temp folder without ever letting an entry
 * name choose a path (links, devices, '..', absolute paths and unknown
 * names refuse the bundle; limits stop bombs while reading) and checks
 * every blob against its name and the index against the blobs; the blobs
 * the registry lacks are uploaded (blobs no version references stay
 * invisible and gc collects them); POST /api/v1/import then has the
 * registry check everything again and create the versions with their
 * source numbers in one transaction.  The temp folder is removed in every
 * case.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/bundle.h"
#include "cli/bundle_sig.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/upload.h"

enum { OPT_MAX_ENTRIES = 256, OPT_MAX_SIZE, OPT_MAX_ENTRY_SIZE, OPT_MAX_RATIO, OPT_MAX_INDEX, OPT_REQUIRE_SIG, OPT_TMP };

static const cli_option import_options[] = {
	{"max-entries", OPT_MAX_ENTRIES, true},
	{"max-size", OPT_MAX_SIZE, true},
	{"max-entry-size", OPT_MAX_ENTRY_SIZE, true},
	{"max-ratio", OPT_MAX_RATIO, true},
	{"max-index", OPT_MAX_INDEX, true},
	{"require-signature", OPT_REQUIRE_SIG, false},
	{"tmp-dir", OPT_TMP, true},
	{NULL, 0, false},
};

static int positive(const char *cmd, const char *opt, const char *s, uint64_t *out)
{
	int64_t v;
	if (util_parse_i64(s, &v) < 0 || v < 1)
		return cli_usage_error(cmd, "invalid %s '%s': a positive integer", opt, s);
	*out = (uint64_t)v;
	return 0;
}

/* Upload the blobs the registry does not have yet. */
static int upload_missing(cli_client *c, const cli_bundle *b, int *uploaded)
{
	for (size_t i = 0; i < cli_bundle_blob_count(b); i++) {
		char digest[UTIL_DIGEST_LEN + 1], path[128];
		cli_response resp;
		int rc;
		snprintf(digest, sizeof(digest), "%s", cli_bundle_blob_digest(b, i));
		snprintf(path, sizeof(path), "/api/v1/blobs/%s", digest);
		memset(&resp, 0, sizeof(resp));
		rc = cli_client_json(c, "HEAD", path, NULL, &resp);
		cli_response_release(&resp);
		if (rc == 0)
			continue;
		if (rc != MLREG_ENOTFOUND)
			return cli_error_wrap(rc, "cannot check blob %s", digest);
		if ((rc = cli_upload_blob(c, cli_bundle_blob_path(b, i), cli_bundle_blob_size(b, i), digest, NULL)) < 0)
			return cli_error_wrap(rc, "cannot upload blob %s", digest);
		(*uploaded)++;
	}
	return 0;
}

static void print_result(const cJSON *body)
{
	const char *what[] = {"imported", "skipped"};
	for (int k = 0; k < 2; k++)
		for (const cJSON *v = cJSON_GetObjectItem(body, what[k]) ? cJSON_GetObjectItem(body, what[k])->child : NULL; v;
		     v = v->next)
			printf("%s %s:%lld %s%s\n", what[k], cli_json_text(v, "model", "?"), (long long)cli_json_int(v, "version", 0),
			       cli_json_text(v, "digest", ""), k ? " (already here)" : "");
}

static int cmd_import_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_bundle_limits lim;
	cli_args a;
	cli_client *c = NULL;
	cli_bundle *b = NULL;
	cli_response resp;
	cli_request req;
	const char *path = NULL, *tmp = getenv("TMPDIR");
	bool require_sig = false;
	int fd = -1, rc, error = 0, uploaded = 0;

	memset(&resp, 0, sizeof(resp));
	cli_bundle_limits_default(&lim);
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		switch (rc) {
		case OPT_MAX_ENTRIES: error = positive(self->name, a.opt, a.value, &lim.max_entries); break;
		case OPT_MAX_SIZE: error = positive(self->name, a.opt, a.value, &lim.max_size); break;
		case OPT_MAX_ENTRY_SIZE: error = positive(self->name, a.opt, a.value, &lim.max_entry_size); break;
		case OPT_MAX_RATIO: error = positive(self->name, a.opt, a.value, &lim.max_ratio); break;
		case OPT_MAX_INDEX: error = positive(self->name, a.opt, a.value, &lim.max_index); break;
		case OPT_REQUIRE_SIG: require_sig = true; break;
		case OPT_TMP: tmp = a.value; break;
		case CLI_ARGS_POS:
			error = path ? cli_usage_error(self->name, "unexpected argument '%s'", a.value) : 0;
			path = a.value;
			break;
		default: error = rc;
		}
		if (error < 0)
			goto done;
	}
	if (!path) {
		error = cli_usage_error(self->name, "expected BUNDLE");
		goto done;
	}
	if (!tmp || !*tmp)
		tmp = "/tmp";
	if (!strcmp(path, "-"))
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		error = mlreg_error_set(errno == ENOENT ? MLREG_ENOTFOUND : MLREG_EIO, "cannot open '%s': %s", path,
					strerror(errno));
		goto done;
	}
	if ((error = cli_bundle_read_fd(fd, &lim, tmp, &b)) < 0 || (error = cli_bundle_verify(b)) < 0)
		goto done;
	if ((error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_bundle_sig_check(c, b, require_sig)) < 0 || (error = upload_missing(c, b, &uploaded)) < 0)
		goto done;
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.path = "/api/v1/import";
	req.json = cli_bundle_index(b);
	req.timeout_ms = -1;
	if ((error = cli_client_do(c, &req, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot import '%s'", path);
		goto done;
	}
	if (cfg->json) {
		cJSON_AddNumberToObject(resp.body, "blobs_uploaded", uploaded);
		error = cli_print_json(resp.body);
	} else if (!cfg->quiet)
		print_result(resp.body);
done:
	if (fd > STDIN_FILENO)
		close(fd);
	cli_bundle_free(b);
	cli_response_release(&resp);
	cli_client_free(c);
	return error;
}

const cli_cmd_entry cli_cmd_import_entry = {
	.name = "import",
	.usage = "BUNDLE [--require-signature] [--max-entries N] [--max-size BYTES] [--max-entry-size BYTES] "
		 "[--max-ratio N] [--max-index BYTES] [--tmp-dir DIR]",
	.summary = "import a bundle made by `mlreg export`, verified (admin)",
	.help = "Reads the bundle (a tar, optionally gzip or zstd; '-' reads stdin) into a private temp folder,\n"
		"refusing links, devices, '..', absolute paths and unknown entries, verifies every digest and\n"
		"signature, uploads the missing blobs and creates the versions with their source numbers in one\n"
		"transaction.  A version already here with the same digest is skipped; another digest: exit 6.\n"
		"options:\n"
		"  --require-signature   every version must be signed by a key this registry trusts, and a\n"
		"                        bundle signature (mlreg-bundle.sig) must be by a trusted key\n"
		"  --max-entries N       archive entries (default 100000)\n"
		"  --max-size BYTES      uncompressed bytes of all entries (default 68719476736 = 64 GiB)\n"
		"  --max-entry-size BYTES  bytes of one entry (default 17179869184 = 16 GiB)\n"
		"  --max-ratio N         uncompressed : compressed bytes (default 200)\n"
		"  --max-index BYTES     size of mlreg-bundle.json (default 67108864 = 64 MiB)\n"
		"  --tmp-dir DIR         where the private temp folder goes (default $TMPDIR or /tmp)\n"
		"exit: 6 digest, manifest or signature mismatch; 1 refused entry or limit; 2 usage\n"
		"--json: {\"imported\":[{\"model\",\"version\",\"digest\"}],\"skipped\":[…],\"blobs_uploaded\"}\n",
	.options = import_options,
	.exec = cmd_import_exec,
};

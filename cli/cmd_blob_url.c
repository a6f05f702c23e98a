/*
 * cmd_blob_url.c - `mlreg blob-url DIGEST|REF:PATH [--ttl D]`: ask the
 * registry to sign a short-lived URL for one blob, for a serving system
 * that can fetch a URL but cannot send a bearer token.
 *
 * The registry signs (only it holds the key); this resolves REF:PATH to the
 * file's digest through the version object, then prints the absolute URL.
 * The URL is a credential for its lifetime: it goes to stdout only.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"

enum { OPT_TTL = 256 };

static const cli_option blob_url_options[] = {
	{"ttl", OPT_TTL, true},
	{NULL, 0, false},
};

/* Split "MODEL:VERSION:PATH", "MODEL:STAGE:PATH" or "MODEL@ALIAS:PATH" into
 * a REF (heap copy) and the path inside it. */
static int split_ref_path(const char *cmd, const char *arg, char **ref, const char **path)
{
	const char *at = strchr(arg, '@'), *c1 = strchr(arg, ':'), *sep;
	if (at && (!c1 || at < c1))
		sep = strchr(at, ':');
	else
		sep = c1 ? strchr(c1 + 1, ':') : NULL;
	if (!sep || !sep[1])
		return cli_usage_error(cmd, "expected DIGEST (sha256:<hex>) or REF:PATH, got '%s'", arg);
	if (!(*ref = strndup(arg, (size_t)(sep - arg))))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	*path = sep + 1;
	return 0;
}

/* The digest of file `path` in version `refs`, into digest. */
static int resolve_file(const cli_cmd_entry *self, cli_client *c, const char *refs, const char *path,
			char digest[80])
{
	util_ref ref;
	util_buf p;
	cli_response resp;
	const cJSON *f;
	int error;
	memset(&resp, 0, sizeof(resp));
	util_buf_init(&p, 4096);
	if ((error = cli_ref_parse(self->name, refs, &ref)) < 0 || (error = cli_version_path(&p, &ref, NULL)) < 0)
		goto done;
	if ((error = cli_client_json(c, "GET", p.ptr, NULL, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot read '%s'", refs);
		goto done;
	}
	error = mlreg_error_set(MLREG_ENOTFOUND, "'%s' has no file '%s'", refs, path);
	cJSON_ArrayForEach(f, cJSON_GetObjectItem(resp.body, "files"))
	{
		const char *fp = cli_json_text(f, "path", NULL), *fd = cli_json_text(f, "digest", NULL);
		if (fp && fd && !strcmp(fp, path) && strlen(fd) < 80) {
			strcpy(digest, fd);
			mlreg_error_clear();
			error = 0;
			break;
		}
	}
done:
	cli_response_release(&resp);
	util_buf_release(&p);
	return error;
}

static int cmd_blob_url_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_args a;
	cli_client *c = NULL;
	cli_response resp;
	const char *target = NULL, *ttl = NULL, *path = NULL, *url;
	char digest[80], *refs = NULL, *api = NULL;
	cJSON *body = NULL;
	int64_t ms;
	int rc, error = 0;

	memset(&resp, 0, sizeof(resp));
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		if (rc == OPT_TTL)
			ttl = a.value;
		else if (rc == CLI_ARGS_POS && !target)
			target = a.value;
		else if (rc == CLI_ARGS_POS)
			error = cli_usage_error(self->name, "unexpected argument '%s'", a.value);
		else
			error = rc;
		if (error < 0)
			goto done;
	}
	if (!target) {
		error = cli_usage_error(self->name, "expected DIGEST or REF:PATH");
		goto done;
	}
	if (ttl && (util_duration_ms(ttl, &ms) < 0 || ms < 1000)) {
		error = cli_usage_error(self->name, "--ttl needs a duration of at least 1s such as 15m (got '%s')", ttl);
		goto done;
	}
	if (!util_digest_valid(target) && (error = split_ref_path(self->name, target, &refs, &path)) < 0)
		goto done;
	if ((error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if (refs) {
		if ((error = resolve_file(self, c, refs, path, digest)) < 0)
			goto done;
	} else {
		snprintf(digest, sizeof(digest), "%s", target);
	}
	body = cJSON_CreateObject();
	if (!body || (ttl && !cJSON_AddStringToObject(body, "ttl", ttl)) ||
	    asprintf(&api, "/api/v1/blobs/%s/url", digest) < 0) {
		api = NULL;
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	if ((error = cli_client_json(c, "POST", api, body, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot sign a URL for %s", digest);
		goto done;
	}
	url = cli_json_text(resp.body, "url", NULL);
	if (!url) {
		error = mlreg_error_set(MLREG_ERROR, "the registry answered without a url");
		goto done;
	}
	if (cfg->json) {
		char *abs = NULL;
		if (asprintf(&abs, "%s%s", cfg->registry, url) < 0) {
			error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
			goto done;
		}
		cJSON_ReplaceItemInObject(resp.body, "url", cJSON_CreateString(abs));
		free(abs);
		error = cli_print_json(resp.body);
	} else {
		printf("%s%s\n", cfg->registry, url);
	}
done:
	cJSON_Delete(body);
	free(api);
	free(refs);
	cli_response_release(&resp);
	cli_client_free(c);
	return error;
}

const cli_cmd_entry cli_cmd_blob_url_entry = {
	.name = "blob-url",
	.usage = "DIGEST|REF:PATH [--ttl D]",
	.summary = "print a signed URL that fetches one blob without a token",
	.help = "REF:PATH names a file of a version (MODEL:VERSION:PATH, MODEL:STAGE:PATH, MODEL@ALIAS:PATH).\n"
		"options:\n"
		"  --ttl D     how long the URL works (default 15m; at most the server's --url-max-ttl)\n"
		"--json: {\"url\",\"expires_at\",\"expires\",\"digest\",\"size\"} (url absolute)\n"
		"Anyone holding the URL can read the blob until it expires: treat it as a secret.\n",
	.options = blob_url_options,
	.exec = cmd_blob_url_exec,
};

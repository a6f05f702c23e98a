/*
 * cmd_sign.c - `mlreg sign REF --key KEY.pem` and `mlreg verify REF
 * [--key PUB.pem]`: Ed25519 signatures of versions (docs/security.md
 * "Signing").
 *
 * Signing happens here, on the signer's machine: the private key file is
 * read, used and wiped, and only the signature and the public key go to
 * the registry.  The statement is computed from the version's model,
 * number and digest as the registry reports them (GET of the version), and
 * the signature is posted to that exact number - never to the stage or
 * alias the REF named, which could have moved in between.  The registry
 * verifies again before storing.  `verify` does not take the registry's
 * word either: it recomputes the statement from the reported model, number
 * and digest, and checks every signature itself with the public key - the
 * one given with --key, or (without) the stored key of each signature the
 * registry says it trusts.  Key management (keygen, key add|ls|rm) is in
 * cmd_key.c.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "util/json.h"
#include "util/sign.h"

enum { OPT_KEY = 256 };

static const cli_option key_options[] = {
	{"key", OPT_KEY, true},
	{NULL, 0, false},
};

/* REF and --key from argv; key_required for sign. */
static int ref_and_key(const cli_cmd_entry *self, int argc, char **argv, const char **refs, const char **key,
		       bool key_required)
{
	cli_args a;
	int rc;
	*refs = *key = NULL;
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		if (rc == OPT_KEY)
			*key = a.value;
		else if (rc == CLI_ARGS_POS && !*refs)
			*refs = a.value;
		else if (rc == CLI_ARGS_POS)
			return cli_usage_error(self->name, "unexpected argument '%s'", a.value);
		else
			return rc;
	}
	if (!*refs || (key_required && !*key))
		return cli_usage_error(self->name, key_required ? "expected REF and --key KEY.pem" : "expected REF");
	return 0;
}

/* The key file's bytes (heap, caller frees). */
static int read_key(const char *path, char **out, size_t *len, bool secret)
{
	struct stat sb;
	int rc = util_read_file(path, UTIL_SIG_PEM_MAX, out, len);
	if (rc == MLREG_ETOOBIG)
		return mlreg_error_set(MLREG_EINVALID, "'%s' is not a key file (longer than %d bytes)", path,
				       UTIL_SIG_PEM_MAX);
	if (rc < 0)
		return cli_error_wrap(rc, "cannot read key '%s'", path);
	if (secret && stat(path, &sb) == 0 && (sb.st_mode & 077))
		fprintf(stderr, "mlreg: warning: private key '%s' is readable by others (mode %03o); chmod 600 it\n", path,
			(unsigned)(sb.st_mode & 0777));
	return 0;
}

static int cmd_sign_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	const char *refs, *keyfile;
	cli_client *c = NULL;
	cli_response resp, post;
	util_ref ref, exact;
	util_buf path;
	char *priv = NULL, *pub = NULL, *sig = NULL, *stmt = NULL;
	size_t plen = 0, slen;
	cJSON *body = NULL;
	int64_t number;
	int error;

	memset(&resp, 0, sizeof(resp));
	memset(&post, 0, sizeof(post));
	util_buf_init(&path, 4096);
	if ((error = ref_and_key(self, argc, argv, &refs, &keyfile, true)) < 0 ||
	    (error = cli_ref_parse(self->name, refs, &ref)) < 0 || (error = read_key(keyfile, &priv, &plen, true)) < 0)
		goto done;
	if ((error = cli_version_path(&path, &ref, "")) < 0 || (error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_json(c, "GET", path.ptr, NULL, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot sign '%s'", refs);
		goto done;
	}
	number = cli_json_int(resp.body, "version", 0);
	const char *digest = cli_json_text(resp.body, "digest", NULL);
	if (number < 1 || !digest || !util_digest_valid(digest)) {
		error = mlreg_error_set(MLREG_EIO, "cannot sign '%s': the registry's answer has no version and digest", refs);
		goto done;
	}
	if ((error = util_sig_statement(ref.model, number, digest, &stmt, &slen)) < 0 ||
	    (error = util_sig_sign(priv, plen, stmt, slen, &sig, &pub)) < 0) {
		error = cli_error_wrap(error, "cannot sign with '%s'", keyfile);
		goto done;
	}
	exact = ref;
	exact.kind = UTIL_REF_VERSION;
	exact.version = number;
	if ((error = cli_version_path(&path, &exact, "/signatures")) < 0)
		goto done;
	if (!(body = cJSON_CreateObject()) || !cJSON_AddStringToObject(body, "public_key", pub) ||
	    !cJSON_AddStringToObject(body, "signature", sig)) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	if ((error = cli_client_json(c, "POST", path.ptr, body, &post)) < 0) {
		error = cli_error_wrap(error, "cannot sign '%s'", refs);
		goto done;
	}
	if (cfg->json) {
		error = cli_print_json(post.body);
		goto done;
	}
	const char *key = cli_json_text(post.body, "key", NULL);
	printf("signed %s:%lld (%s) with key %s%s%s%s%s\n", ref.model, (long long)number, digest,
	       cli_json_text(post.body, "fingerprint", "?"), key ? " ('" : "", key ? key : "", key ? "')" : "",
	       post.status == 200 ? "; it was already signed by this key" : "");
	if (!key && !cfg->quiet)
		fprintf(stderr, "mlreg: note: the registry does not trust this key (mlreg key add)\n");
done:
	if (priv) {
		OPENSSL_cleanse(priv, plen);
		free(priv);
	}
	free(pub);
	free(sig);
	free(stmt);
	cJSON_Delete(body);
	cli_response_release(&resp);
	cli_response_release(&post);
	cli_client_free(c);
	util_buf_release(&path);
	return error;
}

const cli_cmd_entry cli_cmd_sign_entry = {
	.name = "sign",
	.usage = "REF --key KEY.pem",
	.summary = "sign a version with an Ed25519 private key (writer)",
	.help = "REF is MODEL:VERSION, MODEL:STAGE or MODEL@ALIAS; the version it names now is signed.\n"
		"options:\n"
		"  --key KEY.pem   the private key (from mlreg keygen); it never leaves this machine\n"
		"The statement signed is computed from the version's model, number and digest\n"
		"(schema/canonical.md); the registry verifies the signature before storing it.\n"
		"output: signed MODEL:VERSION (DIGEST) with key FINGERPRINT ('NAME')\n"
		"--json: {\"model\",\"version\",\"digest\",\"statement\",\"created\",\"fingerprint\",\"key\",\n"
		"         \"trusted\",\"valid\",\"signature\",\"public_key\",\"created_at\",\"created_by\"}\n",
	.options = key_options,
	.exec = cmd_sign_exec,
};

/* One stored signature judged here: *ok and a reason. */
static void judge(const cJSON *e, const char *stmt, size_t slen, const char *given_pem, size_t given_len,
		  const char *given_fp, bool *ok, const char **reason)
{
	const char *fp = cli_json_text(e, "fingerprint", ""), *sig = cli_json_text(e, "signature", "");
	const char *pem = cli_json_text(e, "public_key", "");
	char real[UTIL_SIG_FP_LEN + 1];
	int rc;
	*ok = false;
	if (given_pem) {
		if (strcmp(fp, given_fp) != 0) {
			*reason = "made by another key";
			return;
		}
		rc = util_sig_verify(given_pem, given_len, stmt, slen, sig);
	} else {
		if (!cJSON_IsTrue(cJSON_GetObjectItem(e, "trusted"))) {
			*reason = "key not trusted by the registry";
			return;
		}
		if (util_sig_fingerprint(pem, strlen(pem), real) < 0 || strcmp(real, fp) != 0) {
			*reason = "stored key does not match its fingerprint";
			return;
		}
		rc = util_sig_verify(pem, strlen(pem), stmt, slen, sig);
	}
	if (rc == MLREG_EINTEGRITY)
		*reason = "signature does not verify";
	else if (rc < 0)
		*reason = "malformed signature or key";
	else {
		*ok = true;
		*reason = "ok";
	}
}

static int cmd_verify_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	const char *refs, *keyfile;
	cli_client *c = NULL;
	cli_response resp;
	util_ref ref;
	util_buf path;
	char *given = NULL, *stmt = NULL, fp[UTIL_SIG_FP_LEN + 1] = "";
	size_t glen = 0, slen;
	cJSON *res = NULL, *checked;
	int good = 0, total = 0, error;

	memset(&resp, 0, sizeof(resp));
	util_buf_init(&path, 4096);
	if ((error = ref_and_key(self, argc, argv, &refs, &keyfile, false)) < 0 ||
	    (error = cli_ref_parse(self->name, refs, &ref)) < 0)
		goto done;
	if (keyfile && ((error = read_key(keyfile, &given, &glen, false)) < 0 ||
			(error = util_sig_fingerprint(given, glen, fp)) < 0)) {
		error = cli_error_wrap(error, "cannot use key '%s'", keyfile);
		goto done;
	}
	if ((error = cli_version_path(&path, &ref, "/signatures")) < 0 || (error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_json(c, "GET", path.ptr, NULL, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot verify '%s'", refs);
		goto done;
	}
	int64_t number = cli_json_int(resp.body, "version", 0);
	const char *digest = cli_json_text(resp.body, "digest", "");
	/* our own statement, from what the registry says the version is */
	if ((error = util_sig_statement(ref.model, number, digest, &stmt, &slen)) < 0) {
		error = cli_error_wrap(MLREG_EIO, "cannot verify '%s': the registry's answer", refs);
		goto done;
	}
	res = cJSON_CreateObject();
	cJSON_AddStringToObject(res, "model", ref.model);
	cJSON_AddNumberToObject(res, "version", (double)number);
	cJSON_AddStringToObject(res, "digest", digest);
	cJSON_AddStringToObject(res, "statement", stmt);
	if (keyfile)
		cJSON_AddStringToObject(res, "key", fp);
	else
		cJSON_AddNullToObject(res, "key");
	checked = cJSON_AddArrayToObject(res, "checked");
	for (const cJSON *e = cJSON_GetObjectItem(resp.body, "signatures") ? cJSON_GetObjectItem(resp.body, "signatures")->child
									    : NULL;
	     e; e = e->next) {
		bool ok;
		const char *reason;
		judge(e, stmt, slen, given, glen, fp, &ok, &reason);
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "fingerprint", cli_json_text(e, "fingerprint", ""));
		if (cli_json_text(e, "key", NULL))
			cJSON_AddStringToObject(x, "key", cli_json_text(e, "key", ""));
		else
			cJSON_AddNullToObject(x, "key");
		cJSON_AddBoolToObject(x, "trusted", cJSON_IsTrue(cJSON_GetObjectItem(e, "trusted")));
		cJSON_AddBoolToObject(x, "ok", ok);
		cJSON_AddStringToObject(x, "reason", reason);
		cJSON_AddItemToArray(checked, x);
		good += ok;
		total++;
	}
	cJSON_AddBoolToObject(res, "verified", good > 0);
	if (cfg->json) {
		if ((error = cli_print_json(res)) < 0)
			goto done;
	} else {
		for (const cJSON *x = checked->child; x; x = x->next) {
			const char *k = cli_json_text(x, "key", NULL);
			printf("%s  %s%s%s%s  %s\n", cJSON_IsTrue(cJSON_GetObjectItem(x, "ok")) ? "ok  " : "FAIL",
			       cli_json_text(x, "fingerprint", "?"), k ? " ('" : "", k ? k : "", k ? "')" : "",
			       cli_json_text(x, "reason", ""));
		}
		if (good > 0)
			printf("verified %s:%lld (%s)\n", ref.model, (long long)number, digest);
	}
	if (good == 0)
		error = mlreg_error_set(MLREG_EINTEGRITY, "no signature of %s:%lld verifies %s (%d checked)", ref.model,
					(long long)number, keyfile ? "with the given key" : "by a key the registry trusts",
					total);
done:
	free(given);
	free(stmt);
	cJSON_Delete(res);
	cli_response_release(&resp);
	cli_client_free(c);
	util_buf_release(&path);
	return error;
}

const cli_cmd_entry cli_cmd_verify_entry = {
	.name = "verify",
	.usage = "REF [--key PUB.pem]",
	.summary = "check a version's signatures here (exit 6 when none verifies)",
	.help = "REF is MODEL:VERSION, MODEL:STAGE or MODEL@ALIAS.\n"
		"options:\n"
		"  --key PUB.pem   accept only a signature by this public key\n"
		"Without --key, a signature counts when the registry trusts its key.  Every\n"
		"signature is verified here, against a statement computed here from the\n"
		"version's model, number and digest.  Exit 0 when one verifies, else 6.\n"
		"output: one line per signature (ok|FAIL, fingerprint, key, reason)\n"
		"--json: {\"model\",\"version\",\"digest\",\"statement\",\"key\",\"verified\",\n"
		"         \"checked\":[{\"fingerprint\",\"key\",\"trusted\",\"ok\",\"reason\"}]}\n",
	.options = key_options,
	.exec = cmd_verify_exec,
};

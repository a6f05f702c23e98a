/*
 * bundle_sig.c - signatures in bundles: what export carries and what
 * import verifies (docs/bundles.md "Signatures").
 *
 * Kept apart from bundle_read.c so that the reader stays free of the
 * network and of key handling, and the signature policy sits in one place.
 * Every check is Ed25519 through util/sign.h (OpenSSL): a version's
 * signature over the canonical statement of its model, number and digest
 * (util_sig_statement), the detached bundle signature over the exact bytes
 * of mlreg-bundle.json.  A signature that does not verify refuses the
 * bundle whatever the flags: it means the bundle was altered.  Which keys
 * count as trusted is the target registry's answer (GET /api/v1/keys).
 * The private key read for `export --key` is wiped from memory after use
 * and never appears in a message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "cli/bundle_sig.h"
#include "util/json.h"
#include "util/sign.h"

#define SIG_FORMAT "mlreg-bundle-signature"

/* Check one signature object {"fingerprint","public_key","signature"}:
 * the key is Ed25519 with that fingerprint and the signature verifies over
 * msg.  what names it in messages. */
static int check_one(const cJSON *s, const void *msg, size_t mlen, const char *what)
{
	const char *fp = util_json_str(s, "fingerprint"), *pem = util_json_str(s, "public_key"),
		   *sig = util_json_str(s, "signature");
	char got[UTIL_SIG_FP_LEN + 1];
	int rc;
	if (!fp || !pem || !sig)
		return mlreg_error_set(MLREG_EINTEGRITY, "bundle refused: %s lacks fingerprint, public_key or signature", what);
	if (util_sig_fingerprint(pem, strlen(pem), got) < 0 || strcmp(got, fp) != 0)
		return mlreg_error_set(MLREG_EINTEGRITY, "bundle refused: %s: the public key is not the key %.80s", what, fp);
	if ((rc = util_sig_verify(pem, strlen(pem), msg, mlen, sig)) < 0)
		return mlreg_error_set(MLREG_EINTEGRITY, "bundle refused: %s by %s does not verify%s", what, fp,
				       rc == MLREG_EINVALID ? " (malformed)" : "");
	return 0;
}

/* The fingerprints the registry trusts, as a JSON array of strings. */
static int trusted_keys(cli_client *c, cJSON **out)
{
	cli_response resp;
	cJSON *fps = cJSON_CreateArray();
	int rc;
	memset(&resp, 0, sizeof(resp));
	if ((rc = cli_client_json(c, "GET", "/api/v1/keys", NULL, &resp)) < 0) {
		cJSON_Delete(fps);
		rc = cli_error_wrap(rc, "cannot read the keys this registry trusts");
		cli_response_release(&resp);
		return rc;
	}
	for (const cJSON *k = cJSON_GetObjectItem(resp.body, "keys") ? cJSON_GetObjectItem(resp.body, "keys")->child : NULL;
	     k; k = k->next)
		if (util_json_str(k, "fingerprint"))
			cJSON_AddItemToArray(fps, cJSON_CreateString(util_json_str(k, "fingerprint")));
	cli_response_release(&resp);
	*out = fps;
	return 0;
}

static bool in_list(const cJSON *list, const char *s)
{
	for (const cJSON *e = list ? list->child : NULL; e; e = e->next)
		if (s && !strcmp(e->valuestring, s))
			return true;
	return false;
}

int cli_bundle_sig_check(cli_client *c, const cli_bundle *b, bool require)
{
	const cJSON *vs = cJSON_GetObjectItem(cli_bundle_index(b), "versions");
	cJSON *bsig = NULL, *trusted = NULL;
	const char *sigbytes, *index;
	size_t siglen, ilen;
	int rc = 0, unsigned_versions = 0;
	bool any_signed = false;
	char first_unsigned[UTIL_NAME_MAX + 32] = "";

	/* every signature in the index, trusted or not, must verify */
	for (const cJSON *v = vs ? vs->child : NULL; v; v = v->next) {
		const cJSON *sigs = cJSON_GetObjectItem(v, "signatures");
		char subject[UTIL_NAME_MAX + 32], what[UTIL_NAME_MAX + 64], *stmt = NULL;
		size_t slen;
		snprintf(subject, sizeof(subject), "%s:%lld", cli_json_text(v, "model", "?"), (long long)cli_json_int(v, "version", 0));
		if (sigs && !cJSON_IsArray(sigs))
			return mlreg_error_set(MLREG_EINVALID, "bundle refused: %s: signatures must be an array", subject);
		if (cJSON_GetArraySize(sigs) == 0)
			continue;
		any_signed = true;
		if ((rc = util_sig_statement(cli_json_text(v, "model", ""), cli_json_int(v, "version", 0),
					     cli_json_text(v, "digest", ""), &stmt, &slen)) < 0)
			return mlreg_error_set(MLREG_EINVALID, "bundle refused: %s: %s", subject, mlreg_error_last());
		snprintf(what, sizeof(what), "the signature of %s", subject);
		for (const cJSON *s = sigs->child; s && rc == 0; s = s->next)
			rc = check_one(s, stmt, slen, what);
		free(stmt);
		if (rc < 0)
			return rc;
	}
	/* the detached signature over the index bytes */
	index = cli_bundle_index_bytes(b, &ilen);
	if ((sigbytes = cli_bundle_sig(b, &siglen))) {
		if (util_json_parse(sigbytes, siglen, 4, &bsig) < 0 || !cJSON_IsObject(bsig) ||
		    !util_json_str(bsig, "format") || strcmp(util_json_str(bsig, "format"), SIG_FORMAT) != 0) {
			cJSON_Delete(bsig);
			return mlreg_error_set(MLREG_EINTEGRITY, "bundle refused: %s is not a bundle signature", CLI_BUNDLE_SIG);
		}
		if ((rc = check_one(bsig, index, ilen, "the bundle signature")) < 0) {
			cJSON_Delete(bsig);
			return rc;
		}
	}
	if (require) {
		/* with no signature anywhere, no registry is needed to refuse */
		if ((any_signed || bsig) && (rc = trusted_keys(c, &trusted)) < 0)
			goto done;
		if (bsig && !in_list(trusted, util_json_str(bsig, "fingerprint"))) {
			rc = mlreg_error_set(MLREG_EREFUSED, "bundle refused: --require-signature and the bundle is signed by %s, a key this registry does not trust",
					     util_json_str(bsig, "fingerprint"));
			goto done;
		}
		for (const cJSON *v = vs ? vs->child : NULL; v; v = v->next) {
			bool ok = false;
			const cJSON *sigs = cJSON_GetObjectItem(v, "signatures");
			for (const cJSON *s = sigs ? sigs->child : NULL; s && !ok; s = s->next)
				ok = in_list(trusted, util_json_str(s, "fingerprint"));
			if (!ok && unsigned_versions++ == 0)
				snprintf(first_unsigned, sizeof(first_unsigned), "%s:%lld", cli_json_text(v, "model", "?"),
					 (long long)cli_json_int(v, "version", 0));
		}
		if (unsigned_versions > 0) {
			rc = mlreg_error_set(MLREG_EREFUSED,
					     "bundle refused: --require-signature and %d version(s) are not signed by a key this registry trusts (first: %s)",
					     unsigned_versions, first_unsigned);
			goto done;
		}
	}
done:
	cJSON_Delete(bsig);
	cJSON_Delete(trusted);
	return rc;
}

int cli_bundle_sig_fetch(cli_client *c, const char *model, int64_t number, cJSON **out)
{
	static const char *const keep[] = {"fingerprint", "public_key", "signature", "created_at", "created_by", NULL};
	cli_response resp;
	util_buf path;
	util_ref ref;
	cJSON *arr = cJSON_CreateArray();
	int rc;
	memset(&resp, 0, sizeof(resp));
	memset(&ref, 0, sizeof(ref));
	util_buf_init(&path, 8192);
	snprintf(ref.model, sizeof(ref.model), "%s", model);
	ref.kind = UTIL_REF_VERSION;
	ref.version = number;
	if ((rc = cli_version_path(&path, &ref, "/signatures")) < 0)
		goto done;
	if ((rc = cli_client_json(c, "GET", path.ptr, NULL, &resp)) < 0) {
		rc = cli_error_wrap(rc, "cannot read the signatures of %s:%lld", model, (long long)number);
		goto done;
	}
	for (const cJSON *s = cJSON_GetObjectItem(resp.body, "signatures") ? cJSON_GetObjectItem(resp.body, "signatures")->child
									    : NULL;
	     s; s = s->next) {
		cJSON *o = cJSON_CreateObject();
		/* what the registry stores; "valid" and "trusted" are the source's
		 * view and are judged again by the target */
		for (int k = 0; keep[k]; k++)
			if (cJSON_GetObjectItem(s, keep[k]))
				cJSON_AddItemToObject(o, keep[k], cJSON_Duplicate(cJSON_GetObjectItem(s, keep[k]), true));
		cJSON_AddItemToArray(arr, o);
	}
	*out = arr;
	arr = NULL;
done:
	cJSON_Delete(arr);
	util_buf_release(&path);
	cli_response_release(&resp);
	return rc;
}

int cli_bundle_sig_make(const char *key_path, const char *index, size_t len, char **sig, size_t *sig_len)
{
	char *pem = NULL, *sig_b64 = NULL, *pub = NULL, fp[UTIL_SIG_FP_LEN + 1];
	size_t plen = 0;
	cJSON *o = NULL;
	int rc;
	if ((rc = util_read_file(key_path, UTIL_SIG_PEM_MAX, &pem, &plen)) < 0)
		return mlreg_error_set(rc, "cannot read the key '%s'", key_path);
	rc = util_sig_sign(pem, plen, index, len, &sig_b64, &pub);
	OPENSSL_cleanse(pem, plen);
	free(pem);
	if (rc < 0)
		return mlreg_error_set(rc, "cannot sign with '%s': %s", key_path, mlreg_error_last());
	if ((rc = util_sig_fingerprint(pub, strlen(pub), fp)) < 0)
		goto done;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "format", SIG_FORMAT);
	cJSON_AddStringToObject(o, "fingerprint", fp);
	cJSON_AddStringToObject(o, "public_key", pub);
	cJSON_AddStringToObject(o, "signature", sig_b64);
	if (!(*sig = util_json_print(o))) {
		rc = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	*sig_len = strlen(*sig);
done:
	cJSON_Delete(o);
	free(sig_b64);
	free(pub);
	return rc;
}

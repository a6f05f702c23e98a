/*
 * trust.c - signature enforcement in mlreg-node: with --trust-key PUB.pem
 * (repeatable) a version is loaded only when one of the signatures given
 * with its load verifies against one of those keys (docs/node.md).
 *
 * The node decides with its own keys alone: the public key sent next to a
 * signature is not trusted for anything (a signature made by an unknown
 * key simply verifies against none of ours), and the statement is built
 * here from the registry model, the version number and the digest of the
 * load - the digest every file is then checked against before anything is
 * served (cache.c), so a signature over one digest cannot carry other
 * bytes.  Without --trust-key nothing changes.  The signatures a load
 * brought are kept in state.json, so the restore after a restart checks
 * them again against the keys the node has then.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "node/node.h"
#include "util/sign.h"

#define MAX_SIGNATURES 64

struct node_trust {
	int n;
	char *pem[NODE_MAX_TRUST_KEYS];
	size_t len[NODE_MAX_TRUST_KEYS];
	char fp[NODE_MAX_TRUST_KEYS][UTIL_SIG_FP_LEN + 1];
};

int node_trust_load(const node_config *c, node_trust **out)
{
	node_trust *t;
	*out = NULL;
	if (c->ntrust_keys == 0)
		return 0;
	if (!(t = calloc(1, sizeof(*t))))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	for (int i = 0; i < c->ntrust_keys; i++) {
		int rc = util_read_file(c->trust_keys[i], UTIL_SIG_PEM_MAX, &t->pem[i], &t->len[i]);
		if (rc == 0)
			rc = util_sig_fingerprint(t->pem[i], t->len[i], t->fp[i]);
		t->n = i + 1;
		if (rc < 0) {
			rc = mlreg_error_set(MLREG_EUSAGE, "--trust-key %s: %s", c->trust_keys[i], mlreg_error_last());
			node_trust_free(t);
			return rc;
		}
		LOG_INFO("trusting signing key %s (%s)", t->fp[i], c->trust_keys[i]);
	}
	*out = t;
	return 0;
}

void node_trust_free(node_trust *t)
{
	if (!t)
		return;
	for (int i = 0; i < t->n; i++)
		free(t->pem[i]);
	free(t);
}

int node_trust_parse(const cJSON *sigs, char **out)
{
	int n = 0;
	*out = NULL;
	if (!sigs || cJSON_IsNull(sigs))
		return 0;
	if (!cJSON_IsArray(sigs))
		return mlreg_error_set(MLREG_EINVALID, "parameters.signatures must be an array");
	for (const cJSON *e = sigs->child; e; e = e->next) {
		const cJSON *pk = cJSON_GetObjectItemCaseSensitive(e, "public_key");
		if (++n > MAX_SIGNATURES)
			return mlreg_error_set(MLREG_EINVALID, "parameters.signatures: more than %d", MAX_SIGNATURES);
		if (!cJSON_IsObject(e) || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "signature")) ||
		    (pk && !cJSON_IsString(pk) && !cJSON_IsNull(pk)))
			return mlreg_error_set(MLREG_EINVALID, "parameters.signatures[%d] must be "
							       "{\"public_key\":\"PEM\",\"signature\":\"base64\"}",
					       n - 1);
	}
	if (n == 0)
		return 0;
	if (!(*out = util_json_print(sigs)))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	return 0;
}

int node_trust_check(const node_trust *t, const char *source, int64_t number, const char *digest,
		     const char *signatures)
{
	cJSON *sigs = NULL;
	char *stmt = NULL;
	size_t slen;
	int rc, n = 0;
	if (!t)
		return 0;
	if (!signatures)
		return mlreg_error_set(MLREG_EINTEGRITY, "refused: %s:%lld has no signature and this node requires one "
							  "by a trusted key (--trust-key)",
				       source, (long long)number);
	if ((rc = util_sig_statement(source, number, digest, &stmt, &slen)) < 0)
		return rc;
	if (util_json_parse(signatures, strlen(signatures), UTIL_JSON_MAX_DEPTH, &sigs) < 0) {
		free(stmt);
		return mlreg_error_set(MLREG_EINTEGRITY, "refused: the saved signatures of %s:%lld do not parse", source,
				       (long long)number);
	}
	rc = MLREG_EINTEGRITY;
	for (const cJSON *e = sigs->child; e && rc != 0; e = e->next, n++) {
		const char *sig = util_json_str(e, "signature");
		for (int i = 0; i < t->n && rc != 0; i++)
			if (util_sig_verify(t->pem[i], t->len[i], stmt, slen, sig) == 0) {
				LOG_INFO("%s:%lld: signature by trusted key %s verifies", source, (long long)number, t->fp[i]);
				rc = 0;
			}
	}
	free(stmt);
	cJSON_Delete(sigs);
	if (rc != 0)
		return mlreg_error_set(MLREG_EINTEGRITY,
				       "refused: none of the %d signature%s of %s:%lld (digest %s) verifies against a "
				       "trusted key (--trust-key)",
				       n, n == 1 ? "" : "s", source, (long long)number, digest);
	return 0;
}

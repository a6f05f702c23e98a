/*
 * bundle_sig.c - signatures in bundles: what export carries and what
 * import verifies (docs/bundles.md "Signatures").
 *
 * Kept apart from bundle_read.c so that the reader stays free of the
 * network and the key handling, and so that the signature policy is in
 * one place.  Until the registry stores signatures (util/sign.h, issue 7
 * part 2) a bundle that carries any signature cannot be verified here and
 * is refused rather than imported unverified.
 */
#include <stdio.h>
#include <string.h>
#include "cli/bundle_sig.h"

static bool any_signature(const cli_bundle *b)
{
	size_t len;
	const cJSON *vs = cJSON_GetObjectItem(cli_bundle_index(b), "versions");
	if (cli_bundle_sig(b, &len))
		return true;
	for (const cJSON *v = vs ? vs->child : NULL; v; v = v->next)
		if (cJSON_GetArraySize(cJSON_GetObjectItem(v, "signatures")) > 0)
			return true;
	return false;
}

int cli_bundle_sig_check(cli_client *c, const cli_bundle *b, bool require)
{
	(void)c;
	if (any_signature(b))
		return mlreg_error_set(MLREG_EINTEGRITY, "bundle refused: it carries signatures and this mlreg cannot verify them yet");
	if (require)
		return mlreg_error_set(MLREG_EREFUSED, "bundle refused: --require-signature and the bundle is not signed");
	return 0;
}

int cli_bundle_sig_fetch(cli_client *c, const char *model, int64_t number, cJSON **out)
{
	(void)c;
	(void)model;
	(void)number;
	*out = cJSON_CreateArray();
	return *out ? 0 : mlreg_error_set(MLREG_ENOMEM, "out of memory");
}

int cli_bundle_sig_make(const char *key_path, const char *index, size_t len, char **sig, size_t *sig_len)
{
	(void)key_path;
	(void)index;
	(void)len;
	(void)sig;
	(void)sig_len;
	return mlreg_error_set(MLREG_EINVALID, "--key: this mlreg cannot sign bundles yet");
}

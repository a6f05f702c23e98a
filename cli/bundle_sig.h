/*
 * bundle_sig.h - signatures in bundles (docs/bundles.md "Signatures"):
 * the per-version signatures carried in the index and the detached
 * mlreg-bundle.sig over the index's exact bytes.
 */
#ifndef MLREG_CLI_BUNDLE_SIG_H
#define MLREG_CLI_BUNDLE_SIG_H

#include <stdbool.h>
#include <stddef.h>
#include "cli/bundle.h"
#include "cli/client.h"

/* Import's signature policy, before anything is uploaded: every signature
 * in the index must verify over its version's statement, and a present
 * mlreg-bundle.sig over the index bytes; with require, every version must
 * carry a signature by a key the registry trusts (GET /api/v1/keys) and a
 * present bundle signature must be by a trusted key.  Without require an
 * unsigned bundle is accepted.  Returns 0,
 * MLREG_EINTEGRITY for a signature that does not verify, MLREG_EREFUSED
 * when require is not met, or the registry's error. */
int cli_bundle_sig_check(cli_client *c, const cli_bundle *b, bool require);

/* Export: the signatures of model:number as the index carries them
 * (a new array; empty when it has none). */
int cli_bundle_sig_fetch(cli_client *c, const char *model, int64_t number, cJSON **out);
/* Export --key: the detached signature of the index bytes with the
 * private key at key_path (heap bytes, caller frees). */
int cli_bundle_sig_make(const char *key_path, const char *index, size_t len, char **sig, size_t *sig_len);

#endif

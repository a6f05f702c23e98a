/*
 * blob_url.c - signed blob URLs, so a serving system that cannot send a
 * bearer token can still fetch one blob for a while.
 *
 * The signature is an HMAC-SHA256 (OpenSSL, through util_hmac_sha256_hex)
 * over a canonical string naming the method, the exact path and the expiry,
 * so no byte of the URL that matters can change without the check failing.
 * HEAD and ranged GETs use the same "GET" string: they read the same bytes.
 * The query values are parsed strictly (digits only, fixed-length lowercase
 * hex) before any comparison, and the comparison is CRYPTO_memcmp: how long
 * a refusal takes says nothing about how much of a guess was right.
 */
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include "util/blob_url.h"
#include "util/util.h"

int util_blob_url_sign(const void *key, size_t klen, const char *digest, int64_t expires, char sig[65])
{
	char canon[160];
	int n;
	if (!digest || !util_digest_valid(digest))
		return mlreg_error_set(MLREG_EINVALID, "invalid digest: expected sha256:<64 lowercase hex>");
	if (expires < 0)
		return mlreg_error_set(MLREG_EINVALID, "invalid expiry");
	n = snprintf(canon, sizeof(canon), "GET\n/api/v1/blobs/%s\n%lld", digest, (long long)expires);
	if (n < 0 || (size_t)n >= sizeof(canon))
		return mlreg_error_set(MLREG_EINVALID, "invalid digest");
	return util_hmac_sha256_hex(key, klen, canon, (size_t)n, sig);
}

int util_blob_url_verify(const void *key, size_t klen, const char *digest, const char *expires, const char *sig,
			 int64_t now)
{
	char want[65];
	int64_t exp = 0;
	size_t n;
	if (!expires || !sig || !digest)
		return mlreg_error_set(MLREG_EFORBIDDEN, "signed URL needs both expires and sig");
	n = strlen(expires);
	if (n < 1 || n > 18)
		return mlreg_error_set(MLREG_EFORBIDDEN, "invalid expires");
	for (size_t i = 0; i < n; i++) {
		if (expires[i] < '0' || expires[i] > '9')
			return mlreg_error_set(MLREG_EFORBIDDEN, "invalid expires");
		exp = exp * 10 + (expires[i] - '0');
	}
	if (strlen(sig) != 64)
		return mlreg_error_set(MLREG_EFORBIDDEN, "invalid sig");
	for (size_t i = 0; i < 64; i++)
		if (!((sig[i] >= '0' && sig[i] <= '9') || (sig[i] >= 'a' && sig[i] <= 'f')))
			return mlreg_error_set(MLREG_EFORBIDDEN, "invalid sig");
	if (exp <= now)
		return mlreg_error_set(MLREG_EFORBIDDEN, "signed URL expired");
	/* expires must be written the one way sign writes it: "0123" and
	 * "123" are the same number but not the same URL */
	if (n > 1 && expires[0] == '0')
		return mlreg_error_set(MLREG_EFORBIDDEN, "invalid expires");
	if (util_blob_url_sign(key, klen, digest, exp, want) < 0)
		return mlreg_error_set(MLREG_EFORBIDDEN, "invalid digest");
	if (CRYPTO_memcmp(want, sig, 64) != 0) {
		OPENSSL_cleanse(want, sizeof(want));
		return mlreg_error_set(MLREG_EFORBIDDEN, "signature does not verify");
	}
	OPENSSL_cleanse(want, sizeof(want));
	return 0;
}

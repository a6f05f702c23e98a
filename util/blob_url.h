/*
 * blob_url.h - signed blob URLs: the canonical string, signing, and the
 * check of the `expires` and `sig` query values a client sends back
 * (docs/security.md, "Signed blob URLs").
 */
#ifndef MLREG_UTIL_BLOB_URL_H
#define MLREG_UTIL_BLOB_URL_H

#include <stddef.h>
#include <stdint.h>

/* Shortest key accepted (bytes). */
#define UTIL_BLOB_URL_MIN_KEY 32

/* sig = lowercase hex HMAC-SHA256 under key of
 * "GET\n/api/v1/blobs/<digest>\n<expires>".  MLREG_EINVALID when digest is
 * not sha256:<64 hex> or expires is negative. */
int util_blob_url_sign(const void *key, size_t klen, const char *digest, int64_t expires, char sig[65]);

/* Check the query values of a signed URL for digest at time now (unix
 * seconds): expires must be 1 to 19 decimal digits and later than now,
 * sig exactly 64 lowercase hex digits equal (constant-time) to what
 * util_blob_url_sign gives.  0 when it verifies, MLREG_EFORBIDDEN when not
 * (the reason in the message, never the expected signature). */
int util_blob_url_verify(const void *key, size_t klen, const char *digest, const char *expires, const char *sig,
			 int64_t now);

#endif

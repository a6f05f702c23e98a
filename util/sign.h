/*
 * sign.h - Ed25519 signatures over a version's canonical statement
 * (schema/canonical.md "Signature statement"), through OpenSSL EVP.
 *
 * Keys travel as PEM: public keys as SubjectPublicKeyInfo ("BEGIN PUBLIC
 * KEY"), private keys as PKCS#8 ("BEGIN PRIVATE KEY", unencrypted).  Only
 * Ed25519 keys are accepted; any other algorithm (RSA, EC, ...) is refused
 * with MLREG_EINVALID and a message naming it.  Signatures travel as the
 * standard base64 (with padding) of the 64 signature bytes: exactly 88
 * characters.  A key is named by its fingerprint, "sha256:" and the hex
 * SHA-256 of its DER SubjectPublicKeyInfo.
 */
#ifndef MLREG_UTIL_SIGN_H
#define MLREG_UTIL_SIGN_H

#include <stddef.h>
#include <stdint.h>
#include "util.h"

/* a PEM key is at most this long (an Ed25519 one is ~120 bytes) */
#define UTIL_SIG_PEM_MAX 4096
/* base64 of 64 bytes, with padding */
#define UTIL_SIG_B64_LEN 88
#define UTIL_SIG_FP_LEN UTIL_DIGEST_LEN

/* The canonical statement signed for version `version` of `model` whose
 * manifest digest is `digest`:
 * {"digest":"sha256:…","model":"m","type":"mlreg.signature.v1","version":3}
 * as canonical JSON.  *out is a heap NUL-terminated string (caller frees),
 * *len its length.  MLREG_EINVALID for an invalid model name, a version
 * below 1 or a malformed digest. */
int util_sig_statement(const char *model, int64_t version, const char *digest, char **out, size_t *len);

/* Parse a public key PEM (len bytes, need not be NUL-terminated): 0 when it
 * is one Ed25519 public key.  With pem_out, *pem_out gets its canonical
 * PEM text (heap; what the registry stores).  With fp, its fingerprint.
 * MLREG_EINVALID (with a message) for anything else. */
int util_sig_public_parse(const char *pem, size_t len, char **pem_out, char fp[UTIL_SIG_FP_LEN + 1]);
/* "sha256:<hex of SHA-256 of the DER SubjectPublicKeyInfo>" of a public
 * key PEM; MLREG_EINVALID when it is not an Ed25519 public key. */
int util_sig_fingerprint(const char *pem, size_t len, char out[UTIL_SIG_FP_LEN + 1]);

/* Sign msg with the Ed25519 private key in private_pem (the bytes of the
 * PEM file); *sig_b64 gets the base64 signature (heap, caller frees).
 * With pub_pem, *pub_pem gets the matching public key PEM (heap).
 * MLREG_EINVALID for a malformed, encrypted or non-Ed25519 key.  The key
 * bytes never appear in a message. */
int util_sig_sign(const char *private_pem, size_t plen, const void *msg, size_t mlen, char **sig_b64,
		  char **pub_pem);

/* 0 when sig_b64 is a valid Ed25519 signature of msg under public_pem;
 * MLREG_EINTEGRITY when it is well-formed but does not verify;
 * MLREG_EINVALID when the key is not an Ed25519 public key PEM or the
 * signature is not 88 characters of canonical base64. */
int util_sig_verify(const char *public_pem, size_t plen, const void *msg, size_t mlen, const char *sig_b64);

/* Generate a key pair: the private key PEM at private_path (mode 0600) and
 * the public key PEM at public_path (mode 0644), each written to a
 * temporary file, fsynced and linked into place, so neither is ever seen
 * half written and an existing file is never replaced: MLREG_EEXISTS when
 * either path exists (nothing is written).  fp (optional) gets the new
 * key's fingerprint. */
int util_sig_keygen(const char *private_path, const char *public_path, char fp[UTIL_SIG_FP_LEN + 1]);

#endif

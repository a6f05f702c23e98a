/*
 * sign.c - Ed25519 keys, signatures and the signature statement, all
 * through OpenSSL (EVP_PKEY, PEM, EVP_DigestSign/Verify, EVP base64): no
 * cryptography is written here, only the checks around it.
 *
 * The registry, the CLI and mlreg-node all sign or verify through these
 * few functions, so there is one definition of what is signed (the
 * statement, built with the canonical JSON encoder) and one of what a
 * well-formed key and signature are.  Inputs come from outside (request
 * bodies, files, the node's load body), so every parser is strict: a PEM
 * must hold exactly one key of type Ed25519, a signature must be exactly
 * the 88 characters of canonical base64 of 64 bytes.  OpenSSL's error
 * queue is cleared after every failure so a later, unrelated call never
 * reports a stale error.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "json.h"
#include "sign.h"

#define SIG_RAW_LEN 64

int util_sig_statement(const char *model, int64_t version, const char *digest, char **out, size_t *len)
{
	cJSON *o;
	util_buf b;
	int rc;
	if (!model || !util_model_name_valid(model))
		return mlreg_error_set(MLREG_EINVALID, "statement: invalid model name");
	if (version < 1 || version > ((int64_t)1 << 53))
		return mlreg_error_set(MLREG_EINVALID, "statement: invalid version number");
	if (!digest || !util_digest_valid(digest))
		return mlreg_error_set(MLREG_EINVALID, "statement: invalid digest");
	if (!(o = cJSON_CreateObject()) || !cJSON_AddStringToObject(o, "digest", digest) ||
	    !cJSON_AddStringToObject(o, "model", model) ||
	    !cJSON_AddStringToObject(o, "type", "mlreg.signature.v1") ||
	    !cJSON_AddNumberToObject(o, "version", (double)version)) {
		cJSON_Delete(o);
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	util_buf_init(&b, 1 << 16);
	rc = util_json_canonical(o, &b);
	cJSON_Delete(o);
	if (rc < 0 || !b.ptr) {
		util_buf_release(&b);
		return rc < 0 ? rc : mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	*len = b.len;
	*out = util_buf_detach(&b);
	return 0;
}

static int ossl_fail(int code, const char *msg)
{
	ERR_clear_error();
	return mlreg_error_set(code, "%s", msg);
}

/* MLREG_EINVALID naming the key's algorithm ("RSA", "EC") unless Ed25519 */
static int want_ed25519(EVP_PKEY *k, const char *what)
{
	if (EVP_PKEY_id(k) == EVP_PKEY_ED25519)
		return 0;
	const char *name = EVP_PKEY_get0_type_name(k);
	ERR_clear_error();
	return mlreg_error_set(MLREG_EINVALID, "%s is a %s key: only Ed25519 keys are accepted", what,
			       name ? name : "non-Ed25519");
}

/* Refuses pass-phrase prompts: an encrypted key fails instead of reading
 * the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

/* A memory BIO over exactly one PEM block with nothing but white space
 * around it: text before or after the key is refused rather than ignored. */
static int pem_bio(const char *pem, size_t len, const char *what, BIO **out)
{
	size_t a = 0, b = len;
	if (!pem || len == 0)
		return mlreg_error_set(MLREG_EINVALID, "%s: empty", what);
	if (len > UTIL_SIG_PEM_MAX)
		return mlreg_error_set(MLREG_EINVALID, "%s: longer than %d bytes", what, UTIL_SIG_PEM_MAX);
	if (memchr(pem, '\0', len))
		return mlreg_error_set(MLREG_EINVALID, "%s: not PEM text", what);
	while (a < b && strchr(" \t\r\n", pem[a]))
		a++;
	while (b > a && strchr(" \t\r\n", pem[b - 1]))
		b--;
	if (b - a < 11 || memcmp(pem + a, "-----BEGIN ", 11) != 0)
		return mlreg_error_set(MLREG_EINVALID, "%s: not a PEM key (no BEGIN line)", what);
	/* the block must end the text: exactly one "-----BEGIN" and one "-----END" */
	int begins = 0, ends = 0;
	for (size_t i = a; i < b; i++) {
		if (b - i >= 10 && !memcmp(pem + i, "-----BEGIN", 10))
			begins++;
		if (b - i >= 8 && !memcmp(pem + i, "-----END", 8))
			ends++;
	}
	if (begins != 1 || ends != 1 || b - a < 5 || memcmp(pem + b - 5, "-----", 5) != 0)
		return mlreg_error_set(MLREG_EINVALID, "%s: must hold exactly one PEM block and nothing else", what);
	if (!(*out = BIO_new_mem_buf(pem + a, (int)(b - a))))
		return ossl_fail(MLREG_ENOMEM, "out of memory");
	return 0;
}

static int public_key_of(const char *pem, size_t len, EVP_PKEY **out)
{
	BIO *bio = NULL;
	int rc = pem_bio(pem, len, "public key", &bio);
	if (rc < 0)
		return rc;
	EVP_PKEY *k = PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (!k)
		return ossl_fail(MLREG_EINVALID, "public key: not a PEM public key (BEGIN PUBLIC KEY)");
	if ((rc = want_ed25519(k, "public key")) < 0) {
		EVP_PKEY_free(k);
		return rc;
	}
	*out = k;
	return 0;
}

static int fingerprint_of(EVP_PKEY *k, char fp[UTIL_SIG_FP_LEN + 1])
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(k, &der);
	if (n <= 0)
		return ossl_fail(MLREG_ERROR, "cannot encode the public key");
	util_sha256_buf(der, (size_t)n, fp);
	OPENSSL_free(der);
	return 0;
}

static int public_pem_of(EVP_PKEY *k, char **out)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p = NULL;
	long n;
	if (!bio || PEM_write_bio_PUBKEY(bio, k) != 1 || (n = BIO_get_mem_data(bio, &p)) <= 0) {
		BIO_free(bio);
		return ossl_fail(MLREG_ERROR, "cannot encode the public key");
	}
	if (!(*out = malloc((size_t)n + 1))) {
		BIO_free(bio);
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	memcpy(*out, p, (size_t)n);
	(*out)[n] = '\0';
	BIO_free(bio);
	return 0;
}

int util_sig_public_parse(const char *pem, size_t len, char **pem_out, char fp[UTIL_SIG_FP_LEN + 1])
{
	EVP_PKEY *k = NULL;
	int rc = public_key_of(pem, len, &k);
	if (rc < 0)
		return rc;
	if (fp && (rc = fingerprint_of(k, fp)) < 0)
		goto out;
	if (pem_out)
		rc = public_pem_of(k, pem_out);
out:
	EVP_PKEY_free(k);
	return rc;
}

int util_sig_fingerprint(const char *pem, size_t len, char out[UTIL_SIG_FP_LEN + 1])
{
	return util_sig_public_parse(pem, len, NULL, out);
}

static int private_key_of(const char *pem, size_t len, EVP_PKEY **out)
{
	BIO *bio = NULL;
	int rc = pem_bio(pem, len, "private key", &bio);
	if (rc < 0)
		return rc;
	EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (!k)
		return ossl_fail(MLREG_EINVALID,
				 "private key: not an unencrypted PEM private key (BEGIN PRIVATE KEY)");
	if ((rc = want_ed25519(k, "private key")) < 0) {
		EVP_PKEY_free(k);
		return rc;
	}
	*out = k;
	return 0;
}

int util_sig_sign(const char *private_pem, size_t plen, const void *msg, size_t mlen, char **sig_b64,
		  char **pub_pem)
{
	EVP_PKEY *k = NULL;
	EVP_MD_CTX *ctx = NULL;
	unsigned char sig[SIG_RAW_LEN];
	size_t slen = sizeof(sig);
	char *b64 = NULL;
	int rc = private_key_of(private_pem, plen, &k);
	if (rc < 0)
		return rc;
	if (!(ctx = EVP_MD_CTX_new()) || EVP_DigestSignInit(ctx, NULL, NULL, NULL, k) != 1 ||
	    EVP_DigestSign(ctx, sig, &slen, msg, mlen) != 1 || slen != SIG_RAW_LEN) {
		rc = ossl_fail(MLREG_ERROR, "signing failed");
		goto out;
	}
	if (!(b64 = malloc(UTIL_SIG_B64_LEN + 1))) {
		rc = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto out;
	}
	if (EVP_EncodeBlock((unsigned char *)b64, sig, SIG_RAW_LEN) != UTIL_SIG_B64_LEN) {
		rc = ossl_fail(MLREG_ERROR, "cannot encode the signature");
		goto out;
	}
	if (pub_pem && (rc = public_pem_of(k, pub_pem)) < 0)
		goto out;
	*sig_b64 = b64;
	b64 = NULL;
out:
	free(b64);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(k);
	return rc;
}

/* Exactly 88 characters of standard base64 that re-encode to themselves:
 * one spelling per signature. */
static int sig_decode(const char *b64, unsigned char raw[SIG_RAW_LEN])
{
	unsigned char tmp[UTIL_SIG_B64_LEN / 4 * 3];
	char again[UTIL_SIG_B64_LEN + 1];
	if (!b64 || strnlen(b64, UTIL_SIG_B64_LEN + 1) != UTIL_SIG_B64_LEN)
		return mlreg_error_set(MLREG_EINVALID, "signature: not %d characters of base64", UTIL_SIG_B64_LEN);
	for (size_t i = 0; i < UTIL_SIG_B64_LEN; i++) {
		char c = b64[i];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
			  c == '/' || (c == '=' && i >= UTIL_SIG_B64_LEN - 2);
		if (!ok)
			return mlreg_error_set(MLREG_EINVALID, "signature: not base64");
	}
	if (EVP_DecodeBlock(tmp, (const unsigned char *)b64, UTIL_SIG_B64_LEN) != (int)sizeof(tmp))
		return ossl_fail(MLREG_EINVALID, "signature: not base64");
	if (EVP_EncodeBlock((unsigned char *)again, tmp, SIG_RAW_LEN) != UTIL_SIG_B64_LEN ||
	    memcmp(again, b64, UTIL_SIG_B64_LEN) != 0)
		return mlreg_error_set(MLREG_EINVALID, "signature: not the base64 of a 64-byte Ed25519 signature");
	memcpy(raw, tmp, SIG_RAW_LEN);
	return 0;
}

int util_sig_verify(const char *public_pem, size_t plen, const void *msg, size_t mlen, const char *sig_b64)
{
	unsigned char raw[SIG_RAW_LEN];
	EVP_PKEY *k = NULL;
	EVP_MD_CTX *ctx = NULL;
	int rc;
	if ((rc = sig_decode(sig_b64, raw)) < 0 || (rc = public_key_of(public_pem, plen, &k)) < 0)
		return rc;
	if (!(ctx = EVP_MD_CTX_new()) || EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k) != 1) {
		rc = ossl_fail(MLREG_ERROR, "cannot start verifying");
		goto out;
	}
	if (EVP_DigestVerify(ctx, raw, SIG_RAW_LEN, msg, mlen) != 1)
		rc = ossl_fail(MLREG_EINTEGRITY, "the signature does not verify against this key and statement");
out:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(k);
	return rc;
}

/* Write data to a new temporary next to path and link it into place: the
 * link fails when path exists, so nothing is ever replaced. */
static int write_new(const char *path, const char *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX];
	char rnd[17];
	int fd, rc = 0;
	if (util_random_hex(rnd, 8) < 0)
		return mlreg_error_set(MLREG_ERROR, "no randomness");
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp-%s", path, rnd) >= sizeof(tmp))
		return mlreg_error_set(MLREG_EINVALID, "path too long");
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)) < 0)
		return mlreg_error_set(MLREG_EIO, "cannot create '%s': %s", tmp, strerror(errno));
	if (fchmod(fd, mode) < 0 || util_write_all(fd, data, len) < 0 || fsync(fd) < 0)
		rc = mlreg_error_set(MLREG_EIO, "cannot write '%s': %s", tmp, strerror(errno));
	if (close(fd) < 0 && rc == 0)
		rc = mlreg_error_set(MLREG_EIO, "cannot write '%s': %s", tmp, strerror(errno));
	if (rc == 0 && link(tmp, path) < 0)
		rc = errno == EEXIST ? mlreg_error_set(MLREG_EEXISTS, "'%s' exists: not overwritten", path)
				     : mlreg_error_set(MLREG_EIO, "cannot create '%s': %s", path, strerror(errno));
	unlink(tmp);
	if (rc == 0)
		util_fsync_parent(path);
	return rc;
}

int util_sig_keygen(const char *private_path, const char *public_path, char fp[UTIL_SIG_FP_LEN + 1])
{
	EVP_PKEY *k = NULL;
	BIO *bio = NULL;
	char *priv = NULL, *pub = NULL;
	long n;
	struct stat sb;
	int rc = 0;
	if (lstat(private_path, &sb) == 0)
		return mlreg_error_set(MLREG_EEXISTS, "'%s' exists: not overwritten", private_path);
	if (lstat(public_path, &sb) == 0)
		return mlreg_error_set(MLREG_EEXISTS, "'%s' exists: not overwritten", public_path);
	if (!(k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")))
		return ossl_fail(MLREG_ERROR, "cannot generate an Ed25519 key");
	if (!(bio = BIO_new(BIO_s_mem())) ||
	    PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (n = BIO_get_mem_data(bio, &priv)) <= 0) {
		rc = ossl_fail(MLREG_ERROR, "cannot encode the private key");
		goto out;
	}
	if ((rc = public_pem_of(k, &pub)) < 0 || (fp && (rc = fingerprint_of(k, fp)) < 0))
		goto out;
	if ((rc = write_new(private_path, priv, (size_t)n, 0600)) < 0)
		goto out;
	if ((rc = write_new(public_path, pub, strlen(pub), 0644)) < 0) {
		/* the pair is written together or not at all */
		unlink(private_path);
		goto out;
	}
out:
	if (bio) {
		/* the private key's bytes are wiped before the memory goes back */
		char *p = NULL;
		long m = BIO_get_mem_data(bio, &p);
		if (p && m > 0)
			OPENSSL_cleanse(p, (size_t)m);
		BIO_free(bio);
	}
	free(pub);
	EVP_PKEY_free(k);
	return rc;
}

/*
 * test_sign.c - unit tests for util/sign.c: the signature statement, key
 * parsing and fingerprints, sign/verify, key generation.
 *
 * The signing path is checked against RFC 8032's first Ed25519 test vector
 * (a known key signs a known message into a known signature), so a wrong
 * wiring of OpenSSL fails here; the hostile cases (wrong key, altered
 * statement, garbage PEM and base64, RSA and EC keys, text around a PEM
 * block) each get their own assertion on the error code.  Test keys are
 * built with OpenSSL directly: that is test scaffolding, not a second
 * implementation of what is tested.
 */
#include "testutil.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include "util/sign.h"

#define RFC_SEED "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
#define RFC_SIG                                                                                                       \
	"e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f059" \
	"5bbe24655141438e7a100b"
#define DIGEST "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void unhex(const char *hex, unsigned char *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(sscanf(hex + 2 * i, "%2hhx", &out[i]), 1);
}

static char *pem_of(EVP_PKEY *k, bool priv)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p = NULL, *s;
	long n;
	assert_int_equal(priv ? PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL) : PEM_write_bio_PUBKEY(bio, k),
			 1);
	n = BIO_get_mem_data(bio, &p);
	s = strndup(p, (size_t)n);
	BIO_free(bio);
	return s;
}

/* a fresh Ed25519 pair as PEM texts */
static void pair(char **priv, char **pub)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(k);
	*priv = pem_of(k, true);
	*pub = pem_of(k, false);
	EVP_PKEY_free(k);
}

static void statement_is_canonical(void **state)
{
	char *s = NULL;
	size_t n = 0;
	assert_int_equal(util_sig_statement("risk/fraud", 3, DIGEST, &s, &n), 0);
	assert_string_equal(s, "{\"digest\":\"" DIGEST "\",\"model\":\"risk/fraud\",\"type\":\"mlreg.signature.v1\","
			       "\"version\":3}");
	assert_int_equal(n, strlen(s));
	free(s);
	assert_int_equal(util_sig_statement("Bad Name", 3, DIGEST, &s, &n), MLREG_EINVALID);
	assert_int_equal(util_sig_statement("m", 0, DIGEST, &s, &n), MLREG_EINVALID);
	assert_int_equal(util_sig_statement("m", 1, "sha256:XYZ", &s, &n), MLREG_EINVALID);
	assert_int_equal(util_sig_statement("m", 1, NULL, &s, &n), MLREG_EINVALID);
}

static void rfc8032_vector_one(void **state)
{
	unsigned char seed[32], want[64];
	char want_b64[UTIL_SIG_B64_LEN + 1], *sig = NULL, *pub = NULL, *priv;
	unhex(RFC_SEED, seed, 32);
	unhex(RFC_SIG, want, 64);
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	assert_non_null(k);
	priv = pem_of(k, true);
	EVP_PKEY_free(k);
	assert_int_equal(EVP_EncodeBlock((unsigned char *)want_b64, want, 64), UTIL_SIG_B64_LEN);
	/* the empty message */
	assert_int_equal(util_sig_sign(priv, strlen(priv), "", 0, &sig, &pub), 0);
	assert_string_equal(sig, want_b64);
	assert_int_equal(util_sig_verify(pub, strlen(pub), "", 0, sig), 0);
	free(sig);
	free(pub);
	free(priv);
}

static void roundtrip_and_tamper(void **state)
{
	char *priv, *pub, *pub2 = NULL, *sig = NULL, *stmt = NULL, *other = NULL, *opriv, *opub;
	size_t n;
	char fp[UTIL_SIG_FP_LEN + 1], fp2[UTIL_SIG_FP_LEN + 1];
	pair(&priv, &pub);
	pair(&opriv, &opub);
	assert_int_equal(util_sig_statement("m", 7, DIGEST, &stmt, &n), 0);
	assert_int_equal(util_sig_sign(priv, strlen(priv), stmt, n, &sig, &pub2), 0);
	assert_int_equal(strlen(sig), UTIL_SIG_B64_LEN);
	assert_string_equal(pub, pub2); /* the public half comes back canonical */
	assert_int_equal(util_sig_verify(pub, strlen(pub), stmt, n, sig), 0);
	/* wrong key */
	assert_int_equal(util_sig_verify(opub, strlen(opub), stmt, n, sig), MLREG_EINTEGRITY);
	/* altered statement: another version number */
	assert_int_equal(util_sig_statement("m", 8, DIGEST, &other, &n), 0);
	assert_int_equal(util_sig_verify(pub, strlen(pub), other, n, sig), MLREG_EINTEGRITY);
	/* altered signature (still canonical base64) */
	sig[10] = sig[10] == 'A' ? 'B' : 'A';
	assert_int_equal(util_sig_verify(pub, strlen(pub), stmt, strlen(stmt), sig), MLREG_EINTEGRITY);
	/* fingerprints: stable, distinct, of the DER form */
	assert_int_equal(util_sig_fingerprint(pub, strlen(pub), fp), 0);
	assert_true(util_digest_valid(fp));
	assert_int_equal(util_sig_fingerprint(opub, strlen(opub), fp2), 0);
	assert_string_not_equal(fp, fp2);
	/* surrounding white space is fine, the same key */
	char *padded = malloc(strlen(pub) + 8);
	sprintf(padded, "\n  %s\n\n", pub);
	assert_int_equal(util_sig_fingerprint(padded, strlen(padded), fp2), 0);
	assert_string_equal(fp, fp2);
	free(padded);
	free(priv), free(pub), free(pub2), free(sig), free(stmt), free(other), free(opriv), free(opub);
}

static void garbage_is_invalid(void **state)
{
	char *priv, *pub, *sig = NULL, *stmt = NULL, fp[UTIL_SIG_FP_LEN + 1];
	size_t n;
	pair(&priv, &pub);
	assert_int_equal(util_sig_statement("m", 1, DIGEST, &stmt, &n), 0);
	assert_int_equal(util_sig_sign(priv, strlen(priv), stmt, n, &sig, NULL), 0);
	const char *bad_pems[] = {"", "hello", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
				  "-----BEGIN PUBLIC KEY-----\n", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"};
	for (size_t i = 0; i < sizeof(bad_pems) / sizeof(*bad_pems); i++) {
		assert_int_equal(util_sig_fingerprint(bad_pems[i], strlen(bad_pems[i]), fp), MLREG_EINVALID);
		assert_int_equal(util_sig_verify(bad_pems[i], strlen(bad_pems[i]), stmt, n, sig), MLREG_EINVALID);
	}
	/* a private key where a public one is wanted, and text after the block */
	assert_int_equal(util_sig_fingerprint(priv, strlen(priv), fp), MLREG_EINVALID);
	char *two = malloc(2 * strlen(pub) + 1);
	sprintf(two, "%s%s", pub, pub);
	assert_int_equal(util_sig_fingerprint(two, strlen(two), fp), MLREG_EINVALID);
	sprintf(two, "%sjunk", pub);
	assert_int_equal(util_sig_fingerprint(two, strlen(two), fp), MLREG_EINVALID);
	free(two);
	/* a NUL inside, and past the size cap */
	assert_int_equal(util_sig_fingerprint(pub, strlen(pub) + 1, fp), MLREG_EINVALID);
	char *huge = calloc(1, UTIL_SIG_PEM_MAX + 2);
	memset(huge, 'A', UTIL_SIG_PEM_MAX + 1);
	assert_int_equal(util_sig_fingerprint(huge, UTIL_SIG_PEM_MAX + 1, fp), MLREG_EINVALID);
	free(huge);
	/* base64: wrong length, bad characters, non-canonical padding bits */
	char bad[UTIL_SIG_B64_LEN + 2];
	assert_int_equal(util_sig_verify(pub, strlen(pub), stmt, n, ""), MLREG_EINVALID);
	assert_int_equal(util_sig_verify(pub, strlen(pub), stmt, n, NULL), MLREG_EINVALID);
	snprintf(bad, sizeof(bad), "%s", sig);
	bad[5] = '*';
	assert_int_equal(util_sig_verify(pub, strlen(pub), stmt, n, bad), MLREG_EINVALID);
	snprintf(bad, sizeof(bad), "%sA", sig);
	assert_int_equal(util_sig_verify(pub, strlen(pub), stmt, n, bad), MLREG_EINVALID);
	snprintf(bad, sizeof(bad), "%s", sig);
	bad[85] = bad[85] == 'A' ? 'B' : 'A'; /* last data char: sets bits the padding must keep 0 */
	int rc = util_sig_verify(pub, strlen(pub), stmt, n, bad);
	assert_true(rc == MLREG_EINVALID || rc == MLREG_EINTEGRITY);
	assert_int_not_equal(rc, 0);
	snprintf(bad, sizeof(bad), "%s", sig);
	bad[86] = 'A'; /* padding replaced */
	assert_int_equal(util_sig_verify(pub, strlen(pub), stmt, n, bad), MLREG_EINVALID);
	/* garbage private keys */
	char *out = NULL;
	assert_int_equal(util_sig_sign("nope", 4, stmt, n, &out, NULL), MLREG_EINVALID);
	assert_int_equal(util_sig_sign(pub, strlen(pub), stmt, n, &out, NULL), MLREG_EINVALID);
	assert_null(out);
	free(priv), free(pub), free(sig), free(stmt);
}

static void other_algorithms_refused(void **state)
{
	EVP_PKEY *keys[2] = {EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024),
			     EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")};
	char fp[UTIL_SIG_FP_LEN + 1], *sig = NULL;
	for (int i = 0; i < 2; i++) {
		assert_non_null(keys[i]);
		char *priv = pem_of(keys[i], true), *pub = pem_of(keys[i], false);
		assert_int_equal(util_sig_fingerprint(pub, strlen(pub), fp), MLREG_EINVALID);
		assert_non_null(strstr(mlreg_error_last(), "only Ed25519"));
		assert_int_equal(util_sig_sign(priv, strlen(priv), "x", 1, &sig, NULL), MLREG_EINVALID);
		assert_non_null(strstr(mlreg_error_last(), "only Ed25519"));
		assert_null(strstr(mlreg_error_last(), "PRIVATE")); /* no key bytes in messages */
		free(priv);
		free(pub);
		EVP_PKEY_free(keys[i]);
	}
}

static void keygen_writes_pair_once(void **state)
{
	char *dir = tu_mkdtemp(), priv[600], pub[600], fp[UTIL_SIG_FP_LEN + 1], fp2[UTIL_SIG_FP_LEN + 1];
	char *ptext = NULL, *qtext = NULL, *sig = NULL;
	size_t plen, qlen;
	struct stat sb;
	snprintf(priv, sizeof(priv), "%s/k", dir);
	snprintf(pub, sizeof(pub), "%s/k.pub", dir);
	assert_int_equal(util_sig_keygen(priv, pub, fp), 0);
	assert_int_equal(stat(priv, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(stat(pub, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0644);
	assert_int_equal(util_read_file(priv, 4096, &ptext, &plen), 0);
	assert_int_equal(util_read_file(pub, 4096, &qtext, &qlen), 0);
	assert_int_equal(util_sig_fingerprint(qtext, qlen, fp2), 0);
	assert_string_equal(fp, fp2);
	assert_int_equal(util_sig_sign(ptext, plen, "hi", 2, &sig, NULL), 0);
	assert_int_equal(util_sig_verify(qtext, qlen, "hi", 2, sig), 0);
	/* never overwrites: either file present refuses, nothing changes */
	assert_int_equal(util_sig_keygen(priv, pub, NULL), MLREG_EEXISTS);
	unlink(pub);
	assert_int_equal(util_sig_keygen(priv, pub, NULL), MLREG_EEXISTS);
	assert_int_equal(stat(pub, &sb), -1);
	char *again = NULL;
	size_t alen;
	assert_int_equal(util_read_file(priv, 4096, &again, &alen), 0);
	assert_memory_equal(again, ptext, plen);
	/* no temporaries left behind */
	DIR *d = opendir(dir);
	struct dirent *e;
	int files = 0;
	while ((e = readdir(d)))
		files += e->d_name[0] != '.';
	closedir(d);
	assert_int_equal(files, 1);
	free(again), free(ptext), free(qtext), free(sig);
	tu_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(statement_is_canonical),
		cmocka_unit_test(rfc8032_vector_one),
		cmocka_unit_test(roundtrip_and_tamper),
		cmocka_unit_test(garbage_is_invalid),
		cmocka_unit_test(other_algorithms_refused),
		cmocka_unit_test(keygen_writes_pair_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

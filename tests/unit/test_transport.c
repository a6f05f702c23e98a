/*
 * test_transport.c - unit tests for the transport pieces in util/: signed
 * blob URLs (util/blob_url.c: a known HMAC answer computed independently,
 * refusal of every altered, expired or non-canonical value), the shared
 * transport flags (util/httpd_transport.c: defaults, ranges, the key-file
 * mode check) and the JSON depth pre-scan (util/json.c).
 */
#include "testutil.h"

#include "util/blob_url.h"
#include "util/httpd_transport.h"
#include "util/json.h"

#define KEY "0123456789abcdef0123456789abcdef"
#define DIG "sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"

static void blob_url_sign_known_answer(void **state)
{
	char sig[65];
	FILE *f;
	char want[80] = "";
	(void)state;
	assert_int_equal(util_blob_url_sign(KEY, 32, DIG, 1800000000, sig), 0);
	/* computed by Python's hmac module, not by OpenSSL a second way */
	f = popen("python3 -c 'import hmac,hashlib;print(hmac.new(b\"" KEY "\",b\"GET\\n/api/v1/blobs/" DIG
		  "\\n1800000000\",hashlib.sha256).hexdigest())'",
		  "r");
	assert_non_null(f);
	assert_non_null(fgets(want, sizeof(want), f));
	pclose(f);
	want[strcspn(want, "\n")] = '\0';
	assert_string_equal(sig, want);
	assert_int_equal(util_blob_url_sign(KEY, 32, "sha256:abc", 1, sig), MLREG_EINVALID);
	assert_int_equal(util_blob_url_sign(KEY, 32, DIG, -1, sig), MLREG_EINVALID);
}

static void blob_url_verify_refuses_every_change(void **state)
{
	char sig[65], bad[65], other[80];
	(void)state;
	assert_int_equal(util_blob_url_sign(KEY, 32, DIG, 1800000000, sig), 0);
	assert_int_equal(util_blob_url_verify(KEY, 32, DIG, "1800000000", sig, 1700000000), 0);
	/* expired, and expiring exactly now */
	assert_int_equal(util_blob_url_verify(KEY, 32, DIG, "1800000000", sig, 1800000000), MLREG_EFORBIDDEN);
	assert_int_equal(util_blob_url_verify(KEY, 32, DIG, "1800000000", sig, 1900000000), MLREG_EFORBIDDEN);
	/* every character of the signature matters */
	for (int i = 0; i < 64; i++) {
		strcpy(bad, sig);
		bad[i] = bad[i] == 'a' ? 'b' : 'a';
		assert_int_equal(util_blob_url_verify(KEY, 32, DIG, "1800000000", bad, 1700000000), MLREG_EFORBIDDEN);
	}
	/* another expiry, a padded one, junk, signs, overflow */
	assert_int_equal(util_blob_url_verify(KEY, 32, DIG, "1800000001", sig, 1700000000), MLREG_EFORBIDDEN);
	assert_int_equal(util_blob_url_verify(KEY, 32, DIG, "01800000000", sig, 1700000000), MLREG_EFORBIDDEN);
	assert_int_equal(util_blob_url_verify(KEY, 32, DIG, "+1800000000", sig, 1700000000), MLREG_EFORBIDDEN);
	assert_int_equal(util_blob_url_verify(KEY, 32, DIG, "1800000000 ", sig, 1700000000), MLREG_EFORBIDDEN);
	assert_int_equal(util_blob_url_verify(KEY, 32, DIG, "99999999999999999999", sig, 1700000000), MLREG_EFORBIDDEN);
	assert_int_equal(util_blob_url_verify(KEY, 32, DIG, "", sig, 1700000000), MLREG_EFORBIDDEN);
	assert_int_equal(util_blob_url_verify(KEY, 32, DIG, NULL, sig, 1700000000), MLREG_EFORBIDDEN);
	assert_int_equal(util_blob_url_verify(KEY, 32, DIG, "1800000000", NULL, 1700000000), MLREG_EFORBIDDEN);
	/* signature case and length */
	strcpy(bad, sig);
	for (int i = 0; i < 64; i++)
		if (bad[i] >= 'a')
			bad[i] = (char)(bad[i] - 32);
	assert_int_equal(util_blob_url_verify(KEY, 32, DIG, "1800000000", bad, 1700000000), MLREG_EFORBIDDEN);
	strcpy(bad, sig);
	bad[63] = '\0';
	assert_int_equal(util_blob_url_verify(KEY, 32, DIG, "1800000000", bad, 1700000000), MLREG_EFORBIDDEN);
	/* another digest, another key */
	strcpy(other, DIG);
	other[10] = other[10] == '0' ? '1' : '0';
	assert_int_equal(util_blob_url_verify(KEY, 32, other, "1800000000", sig, 1700000000), MLREG_EFORBIDDEN);
	assert_int_equal(util_blob_url_verify("1" KEY, 33, DIG, "1800000000", sig, 1700000000), MLREG_EFORBIDDEN);
	assert_int_equal(util_blob_url_verify(KEY, 32, "sha256:zz", "1800000000", sig, 1700000000), MLREG_EFORBIDDEN);
}

static void transport_flags(void **state)
{
	util_httpd_transport t;
	(void)state;
	util_httpd_transport_defaults(&t);
	assert_int_equal(t.max_conns, 1024);
	assert_int_equal(t.max_conns_per_ip, 0);
	assert_int_equal(t.request_timeout_ms, 30000);
	assert_null(t.tls_cert);
	assert_int_equal(util_httpd_transport_flag(&t, "max-conns", "10"), 1);
	assert_int_equal(t.max_conns, 10);
	assert_int_equal(util_httpd_transport_flag(&t, "max-conns", "0"), MLREG_EUSAGE);
	assert_int_equal(util_httpd_transport_flag(&t, "max-conns-per-ip", "0"), 1);
	assert_int_equal(t.max_conns_per_ip, 0);
	assert_int_equal(util_httpd_transport_flag(&t, "max-conns-per-ip", "-1"), MLREG_EUSAGE);
	assert_int_equal(util_httpd_transport_flag(&t, "request-timeout", "250ms"), 1);
	assert_int_equal(t.request_timeout_ms, 250);
	assert_int_equal(util_httpd_transport_flag(&t, "request-timeout", "0"), MLREG_EUSAGE);
	assert_int_equal(util_httpd_transport_flag(&t, "listen", "x"), 0);
	assert_string_equal(util_httpd_scheme(&t), "http");
}

static void transport_refuses_open_key_and_half_tls(void **state)
{
	char *dir = tu_mkdtemp(), cert[600], key[600];
	struct MHD_OptionItem items[12];
	unsigned flags;
	util_httpd_transport t;
	(void)state;
	snprintf(cert, sizeof(cert), "%s/c.pem", dir);
	snprintf(key, sizeof(key), "%s/k.pem", dir);
	assert_int_equal(util_write_file_atomic(cert, "-----BEGIN CERTIFICATE-----\n", 28, 0644), 0);
	assert_int_equal(util_write_file_atomic(key, "-----BEGIN PRIVATE KEY-----\n", 28, 0640), 0);
	util_httpd_transport_defaults(&t);
	t.tls_cert = cert;
	assert_int_equal(util_httpd_transport_options(&t, items, &flags), MLREG_EUSAGE);
	assert_non_null(strstr(mlreg_error_last(), "go together"));
	t.tls_key = key;
	assert_int_equal(util_httpd_transport_options(&t, items, &flags), MLREG_EUSAGE);
	assert_non_null(strstr(mlreg_error_last(), "chmod 600"));
	util_httpd_transport_release(&t);
	/* not PEM */
	assert_int_equal(util_write_file_atomic(key, "junk", 4, 0600), 0);
	util_httpd_transport_defaults(&t);
	t.tls_cert = cert;
	t.tls_key = key;
	assert_int_equal(util_httpd_transport_options(&t, items, &flags), MLREG_EUSAGE);
	assert_non_null(strstr(mlreg_error_last(), "not a PEM"));
	util_httpd_transport_release(&t);
	/* plain: options without TLS, the deadline thread starts and stops */
	util_httpd_transport_defaults(&t);
	assert_int_equal(util_httpd_transport_options(&t, items, &flags), 0);
	assert_int_equal(flags, 0);
	assert_int_equal(items[0].option, MHD_OPTION_EXTERNAL_LOGGER); /* its messages join our log */
	assert_int_equal(items[1].option, MHD_OPTION_CONNECTION_LIMIT);
	assert_int_equal(items[4].option, MHD_OPTION_END);
	util_httpd_transport_release(&t);
	tu_rmdir(dir);
}

static void json_depth_prescan(void **state)
{
	cJSON *v = NULL;
	char deep[20001];
	(void)state;
	memset(deep, '[', 10000);
	memset(deep + 10000, ']', 10000);
	deep[20000] = '\0';
	assert_int_equal(util_json_parse(deep, 20000, 32, &v), MLREG_EINVALID);
	assert_non_null(strstr(mlreg_error_last(), "nested deeper than 32"));
	/* brackets inside strings (and escaped quotes) do not count */
	{
		const char *s = "[\"[[[[[[[[[[[[[[[[[[[[\\\"[[[[[[[[[[[[[[[[[[[[[[\"]";
		assert_int_equal(util_json_parse(s, strlen(s), 2, &v), 0);
	}
	cJSON_Delete(v);
	assert_int_equal(util_json_parse("[[[]]]", 6, 3, &v), 0);
	cJSON_Delete(v);
	assert_int_equal(util_json_parse("[[[[]]]]", 8, 3, &v), MLREG_EINVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(blob_url_sign_known_answer),
		cmocka_unit_test(blob_url_verify_refuses_every_change),
		cmocka_unit_test(transport_flags),
		cmocka_unit_test(transport_refuses_open_key_and_half_tls),
		cmocka_unit_test(json_depth_prescan),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_names.c - unit tests for the validators of every outside name:
 * model names (OCI repository grammar), stage/alias labels, metadata keys,
 * manifest paths, and the REF syntax MODEL:VERSION | MODEL:STAGE |
 * MODEL@ALIAS.
 *
 * Each validator gets a table of accepted and refused inputs, with the
 * boundaries (length limits, separators at the edges, '.' and '..'
 * segments) spelled out, because these functions are the only thing
 * standing between a request and a path on disk or a SQL row.
 */
#include "testutil.h"

typedef bool (*validator)(const char *);

static void check_table(validator fn, const char *const *ok, size_t nok, const char *const *bad, size_t nbad)
{
	for (size_t i = 0; i < nok; i++)
		if (!fn(ok[i]))
			fail_msg("expected valid: '%s'", ok[i]);
	for (size_t i = 0; i < nbad; i++)
		if (fn(bad[i]))
			fail_msg("expected invalid: '%s'", bad[i]);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void model_names(void **state)
{
	static const char *const ok[] = {"fraud", "risk/fraud", "a", "0", "a.b_c-d", "a0/b1/c2", "x/y/z/w",
					  "resnet50.v2", "team-a/model_1"};
	static const char *const bad[] = {"", "Fraud", "risk//fraud", "risk/", "/risk", "..", ".", "a..b",
					  "a/../b", "-a", "a-", "a_", ".a", "a b", "a:b", "a@b", "a\\b",
					  "mod\xc3\xa8le", "a__b", "a--b", "a/.b", "a\n"};
	char *max = tu_repeat('a', UTIL_NAME_MAX), *over = tu_repeat('a', UTIL_NAME_MAX + 1);
	check_table(util_model_name_valid, ok, N(ok), bad, N(bad));
	assert_true(util_model_name_valid(max));
	assert_false(util_model_name_valid(over));
	assert_false(util_model_name_valid(NULL));
	free(max);
	free(over);
}

static void label_names(void **state)
{
	static const char *const ok[] = {"prod", "staging", "a", "champion-2", "canary-eu-west1", "x9"};
	static const char *const bad[] = {"", "Prod", "1prod", "latest", "-a", "a_b", "a.b", "a/b",
					  "pr od", "prod\n", "9"};
	char *max = tu_repeat('a', 63), *over = tu_repeat('a', 64);
	check_table(util_label_name_valid, ok, N(ok), bad, N(bad));
	assert_true(util_label_name_valid(max));
	assert_false(util_label_name_valid(over));
	assert_false(util_label_name_valid(NULL));
	free(max);
	free(over);
}

static void metadata_keys(void **state)
{
	static const char *const ok[] = {"accuracy", "eval/f1", "_private", "A.b-c", "lr", "0", "val_loss/epoch-3"};
	static const char *const bad[] = {"", ".a", "-a", "/a", "a b", "a=b", "a:b", "a\"b", "a'b",
					  "k\xc3\xa9", "a\tb", "a;DROP"};
	char *max = tu_repeat('k', 250), *over = tu_repeat('k', 251);
	check_table(util_key_valid, ok, N(ok), bad, N(bad));
	assert_true(util_key_valid(max));
	assert_false(util_key_valid(over));
	assert_false(util_key_valid(NULL));
	free(max);
	free(over);
}

static void manifest_paths(void **state)
{
	static const char *const ok[] = {"model.bin", "a/b/c.txt", ".hidden", "a/.b", "..a", "a..", "a b",
					  "mod\xc3\xa8le.bin", "weights/shard-00001-of-00002.safetensors", "...", "a/.../b"};
	static const char *const bad[] = {"", "/abs", "/", "a//b", "a/", "./a", "a/./b", "a/.", ".", "..",
					  "../a", "a/../b", "a/..", "a\\b", "..\\a", "a\nb", "a\rb", "a\tb",
					  "a\x7f", "a\x01"};
	char seg[300], *path;
	check_table(util_manifest_path_valid, ok, N(ok), bad, N(bad));
	assert_false(util_manifest_path_valid(NULL));
	/* one segment of 255 bytes is fine, 256 is not */
	memset(seg, 's', 255);
	seg[255] = '\0';
	assert_true(util_manifest_path_valid(seg));
	memset(seg, 's', 256);
	seg[256] = '\0';
	assert_false(util_manifest_path_valid(seg));
	/* 4096 bytes in total is the limit: "a/a/a..." */
	path = tu_repeat('a', 4096);
	for (size_t i = 1; i < 4096; i += 2)
		path[i] = '/';
	path[4095] = 'a';
	assert_true(util_manifest_path_valid(path));
	free(path);
	path = tu_repeat('a', 4097);
	for (size_t i = 1; i < 4097; i += 2)
		path[i] = '/';
	assert_false(util_manifest_path_valid(path));
	free(path);
}

static void ref_version_stage_alias(void **state)
{
	util_ref r;
	assert_int_equal(util_ref_parse("fraud:3", &r), 0);
	assert_string_equal(r.model, "fraud");
	assert_int_equal(r.kind, UTIL_REF_VERSION);
	assert_int_equal(r.version, 3);

	assert_int_equal(util_ref_parse("risk/fraud:production", &r), 0);
	assert_string_equal(r.model, "risk/fraud");
	assert_int_equal(r.kind, UTIL_REF_STAGE);
	assert_string_equal(r.label, "production");

	assert_int_equal(util_ref_parse("risk/fraud@champion", &r), 0);
	assert_string_equal(r.model, "risk/fraud");
	assert_int_equal(r.kind, UTIL_REF_ALIAS);
	assert_string_equal(r.label, "champion");

	assert_int_equal(util_ref_parse("m:9223372036854775807", &r), 0);
	assert_true(r.version == INT64_MAX);
}

static void ref_refusals_leave_out_untouched(void **state)
{
	static const char *const bad[] = {"", "fraud", ":3", "fraud:", "fraud:0", "fraud:-1", "fraud:3x",
					  "Fraud:3", "fraud@", "fraud@Prod", "fraud:latest", "fraud@latest",
					  "fraud:99999999999999999999", "fraud@a@b", "a:b:3", "fraud:1.5",
					  "fraud: 3", "fraud:prod ", "risk//fraud:1", "@prod", "fraud:3:", "fraud@1a"};
	util_ref r, sentinel;
	memset(&sentinel, 0x5a, sizeof(sentinel));
	for (size_t i = 0; i < N(bad); i++) {
		memcpy(&r, &sentinel, sizeof(r));
		if (util_ref_parse(bad[i], &r) != MLREG_EINVALID)
			fail_msg("expected MLREG_EINVALID for '%s'", bad[i]);
		assert_memory_equal(&r, &sentinel, sizeof(r));
	}
	assert_int_equal(util_ref_parse(NULL, &r), MLREG_EINVALID);
}

static void ref_model_length_limits(void **state)
{
	char s[UTIL_NAME_MAX + 40];
	util_ref r;
	memset(s, 'm', UTIL_NAME_MAX);
	strcpy(s + UTIL_NAME_MAX, ":1");
	assert_int_equal(util_ref_parse(s, &r), 0);
	assert_int_equal(strlen(r.model), UTIL_NAME_MAX);
	memset(s, 'm', UTIL_NAME_MAX + 1);
	strcpy(s + UTIL_NAME_MAX + 1, ":1");
	assert_int_equal(util_ref_parse(s, &r), MLREG_EINVALID);
	/* alias of exactly 63 characters fits the label field; 64 does not */
	snprintf(s, sizeof(s), "m@%s", "a23456789012345678901234567890123456789012345678901234567890123");
	assert_int_equal(util_ref_parse(s, &r), 0);
	assert_int_equal(strlen(r.label), 63);
	snprintf(s, sizeof(s), "m@%s", "a234567890123456789012345678901234567890123456789012345678901234");
	assert_int_equal(util_ref_parse(s, &r), MLREG_EINVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(model_names),
		cmocka_unit_test(label_names),
		cmocka_unit_test(metadata_keys),
		cmocka_unit_test(manifest_paths),
		cmocka_unit_test(ref_version_stage_alias),
		cmocka_unit_test(ref_refusals_leave_out_untouched),
		cmocka_unit_test(ref_model_length_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_manifest.c - unit tests for registry/manifest.c (normalising,
 * encoding and decoding version manifests), util/model_config.c (parsing
 * mlreg-model.json) and reg_audit_hash, the other byte string mlreg hashes.
 *
 * A manifest's canonical bytes are a version's identity, so the encoding is
 * checked against a byte-exact known answer from schema/canonical.md, and
 * normalisation is checked for each way a hostile file list could make a
 * pull write outside its folder or write the same place twice.
 */
#include "testutil.h"
#include "registry/registry.h"
#include "util/json.h"
#include "util/model_config.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define MEDIA "application/vnd.mlreg.manifest.v1+json"

static cJSON *json(const char *text)
{
	cJSON *v = cJSON_Parse(text);
	if (!v)
		fail_msg("test JSON does not parse: %s", text);
	return v;
}

static int normalise_text(const char *files_json, uint64_t max, cJSON **out, uint64_t *total)
{
	cJSON *f = json(files_json), *n = NULL;
	uint64_t t = 0;
	int rc = reg_manifest_normalise(f, max, &n, &t);
	cJSON_Delete(f);
	if (rc == 0) {
		if (out)
			*out = n;
		else
			cJSON_Delete(n);
		if (total)
			*total = t;
	} else {
		assert_null(n);
	}
	return rc;
}

/* one file entry with the given path */
static char *entry(const char *path)
{
	char *s = malloc(strlen(path) + 200);
	sprintf(s, "{\"path\":\"%s\",\"size\":1,\"digest\":\"%s\"}", path, D1);
	return s;
}

/* normalise a list of paths; returns the rc */
static int paths_rc(const char *const *paths, size_t n)
{
	util_buf b;
	int rc;
	util_buf_init(&b, 1 << 20);
	util_buf_puts(&b, "[");
	for (size_t i = 0; i < n; i++) {
		char *e = entry(paths[i]);
		if (i)
			util_buf_puts(&b, ",");
		util_buf_puts(&b, e);
		free(e);
	}
	util_buf_puts(&b, "]");
	rc = normalise_text(b.ptr, 1000, NULL, NULL);
	util_buf_release(&b);
	return rc;
}

static void normalise_sorts_and_fills_defaults(void **state)
{
	cJSON *n = NULL, *f;
	uint64_t total = 0;
	assert_int_equal(normalise_text("[{\"path\":\"weights/b.bin\",\"size\":10,\"digest\":\"" D2 "\",\"mode\":493},"
					"{\"path\":\"a.json\",\"size\":5,\"digest\":\"" D1 "\",\"extra\":true},"
					"{\"path\":\"weights/a.bin\",\"size\":0,\"digest\":\"" D1 "\"}]",
					10, &n, &total),
			 0);
	assert_int_equal(total, 15);
	assert_int_equal(cJSON_GetArraySize(n), 3);
	f = n->child;
	assert_string_equal(util_json_str(f, "path"), "a.json");
	assert_int_equal(cJSON_GetObjectItem(f, "mode")->valuedouble, 420); /* default 0644 */
	assert_null(cJSON_GetObjectItem(f, "extra"));                        /* unknown members dropped */
	f = f->next;
	assert_string_equal(util_json_str(f, "path"), "weights/a.bin");
	assert_int_equal(cJSON_GetObjectItem(f, "size")->valuedouble, 0);
	f = f->next;
	assert_string_equal(util_json_str(f, "path"), "weights/b.bin");
	assert_int_equal(cJSON_GetObjectItem(f, "mode")->valuedouble, 493);
	assert_string_equal(util_json_str(f, "digest"), D2);
	cJSON_Delete(n);
}

static void normalise_refuses_bad_lists(void **state)
{
	assert_int_equal(normalise_text("{}", 10, NULL, NULL), MLREG_EINVALID);
	assert_int_equal(normalise_text("[]", 10, NULL, NULL), MLREG_EINVALID);
	assert_int_equal(normalise_text("[1]", 10, NULL, NULL), MLREG_EINVALID);
	assert_int_equal(normalise_text("[[\"a\"]]", 10, NULL, NULL), MLREG_EINVALID);
	assert_int_equal(normalise_text("[{\"path\":\"a\",\"size\":1,\"digest\":\"" D1 "\"},"
					"{\"path\":\"b\",\"size\":1,\"digest\":\"" D1 "\"}]",
					1, NULL, NULL),
			 MLREG_EINVALID); /* over max_files */
}

static void normalise_refuses_bad_entries(void **state)
{
	static const char *const bad[] = {
		"[{\"size\":1,\"digest\":\"" D1 "\"}]",                              /* no path */
		"[{\"path\":\"../x\",\"size\":1,\"digest\":\"" D1 "\"}]",            /* escapes */
		"[{\"path\":\"/etc/passwd\",\"size\":1,\"digest\":\"" D1 "\"}]",     /* absolute */
		"[{\"path\":\"a//b\",\"size\":1,\"digest\":\"" D1 "\"}]",            /* empty segment */
		"[{\"path\":\"a\\\\b\",\"size\":1,\"digest\":\"" D1 "\"}]",          /* backslash */
		"[{\"path\":7,\"size\":1,\"digest\":\"" D1 "\"}]",                   /* not a string */
		"[{\"path\":\"a\",\"size\":1}]",                                     /* no digest */
		"[{\"path\":\"a\",\"size\":1,\"digest\":\"sha256:ABC\"}]",           /* bad digest */
		"[{\"path\":\"a\",\"size\":1,\"digest\":\"" D1 "0\"}]",              /* 65 hex */
		"[{\"path\":\"a\",\"digest\":\"" D1 "\"}]",                          /* missing size */
		"[{\"path\":\"a\",\"size\":-1,\"digest\":\"" D1 "\"}]",              /* negative size */
		"[{\"path\":\"a\",\"size\":1.5,\"digest\":\"" D1 "\"}]",             /* fractional */
		"[{\"path\":\"a\",\"size\":\"1\",\"digest\":\"" D1 "\"}]",           /* string */
		"[{\"path\":\"a\",\"size\":1e300,\"digest\":\"" D1 "\"}]",           /* beyond 2^53 */
		"[{\"path\":\"a\",\"size\":1,\"digest\":\"" D1 "\",\"mode\":511}]",  /* 0777 */
		"[{\"path\":\"a\",\"size\":1,\"digest\":\"" D1 "\",\"mode\":644}]",  /* decimal 644 */
		"[{\"path\":\"a\",\"size\":1,\"digest\":\"" D1 "\",\"mode\":\"420\"}]",
		"[{\"path\":\"a\",\"size\":1,\"digest\":\"" D1 "\",\"mode\":420.5}]",
		"[{\"path\":\"a\",\"size\":1,\"digest\":\"" D1 "\",\"mode\":null}]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (normalise_text(bad[i], 10, NULL, NULL) != MLREG_EINVALID)
			fail_msg("expected MLREG_EINVALID for %s", bad[i]);
}

static void normalise_refuses_duplicate_paths(void **state)
{
	static const char *const dup[] = {"b", "a", "b"};
	assert_int_equal(paths_rc(dup, 3), MLREG_EINVALID);
	assert_non_null(strstr(mlreg_error_last(), "duplicate"));
}

static void normalise_refuses_file_and_folder(void **state)
{
	static const char *const simple[] = {"a/b", "a"};
	static const char *const deep[] = {"x/y/z", "x/y"};
	static const char *const fine[] = {"a", "ab/c", "a.txt", "b/a"};
	assert_int_equal(paths_rc(simple, 2), MLREG_EINVALID);
	assert_int_equal(paths_rc(deep, 2), MLREG_EINVALID);
	assert_int_equal(paths_rc(fine, 4), 0);
}

/* Sorting puts "a-b" and "a.txt" ('-' and '.' sort before '/') between "a"
 * and "a/c", so the conflict is not between neighbours; it must still be
 * found or a pull would need "a" to be both a file and a folder. */
static void normalise_refuses_file_and_folder_not_adjacent(void **state)
{
	static const char *const dash[] = {"a", "a-b", "a/c"};
	static const char *const model[] = {"model", "model.bin", "model/weights.bin"};
	assert_int_equal(paths_rc(dash, 3), MLREG_EINVALID);
	assert_int_equal(paths_rc(model, 3), MLREG_EINVALID);
}

static void encode_known_answer(void **state)
{
	cJSON *n = NULL;
	char *data = NULL, digest[UTIL_DIGEST_LEN + 1];
	size_t len = 0;
	static const char want[] =
		"{\"files\":[{\"digest\":\"" D1 "\",\"mode\":420,\"path\":\"model.json\",\"size\":1234},"
		"{\"digest\":\"" D2 "\",\"mode\":493,\"path\":\"run.sh\",\"size\":7}],"
		"\"mediaType\":\"" MEDIA "\",\"schemaVersion\":1}";
	assert_int_equal(normalise_text("[{\"size\":7,\"mode\":493,\"path\":\"run.sh\",\"digest\":\"" D2 "\"},"
					"{\"path\":\"model.json\",\"digest\":\"" D1 "\",\"size\":1234}]",
					10, &n, NULL),
			 0);
	assert_int_equal(reg_manifest_encode(n, &data, &len), 0);
	assert_int_equal(len, strlen(want));
	assert_string_equal(data, want);
	/* the version digest is the SHA-256 of exactly these bytes */
	util_sha256_buf(data, len, digest);
	assert_true(util_digest_valid(digest));
	free(data);
	cJSON_Delete(n);
}

static void encode_is_independent_of_input_order(void **state)
{
	cJSON *a = NULL, *b = NULL;
	char *da = NULL, *db = NULL;
	size_t la, lb;
	assert_int_equal(normalise_text("[{\"path\":\"x/1\",\"size\":1,\"digest\":\"" D1 "\"},"
					"{\"path\":\"x/2\",\"size\":2,\"digest\":\"" D2 "\"},"
					"{\"path\":\"y\",\"size\":3,\"digest\":\"" D1 "\"}]",
					10, &a, NULL),
			 0);
	assert_int_equal(normalise_text("[{\"digest\":\"" D1 "\",\"path\":\"y\",\"size\":3,\"mode\":420},"
					"{\"path\":\"x/2\",\"digest\":\"" D2 "\",\"size\":2},"
					"{\"size\":1,\"path\":\"x/1\",\"digest\":\"" D1 "\"}]",
					10, &b, NULL),
			 0);
	assert_int_equal(reg_manifest_encode(a, &da, &la), 0);
	assert_int_equal(reg_manifest_encode(b, &db, &lb), 0);
	assert_int_equal(la, lb);
	assert_memory_equal(da, db, la);
	free(da);
	free(db);
	cJSON_Delete(a);
	cJSON_Delete(b);
}

static void decode_round_trip(void **state)
{
	cJSON *n = NULL, *back = NULL;
	char *data = NULL, *again = NULL;
	size_t len, len2;
	assert_int_equal(normalise_text("[{\"path\":\"b\",\"size\":2,\"digest\":\"" D2 "\",\"mode\":493},"
					"{\"path\":\"a/x\",\"size\":9007199254740992,\"digest\":\"" D1 "\"}]",
					10, &n, NULL),
			 0);
	assert_int_equal(reg_manifest_encode(n, &data, &len), 0);
	assert_int_equal(reg_manifest_decode(data, len, &back), 0);
	assert_int_equal(cJSON_GetArraySize(back), 2);
	assert_int_equal(reg_manifest_encode(back, &again, &len2), 0);
	assert_int_equal(len, len2);
	assert_memory_equal(data, again, len);
	free(data);
	free(again);
	cJSON_Delete(n);
	cJSON_Delete(back);
}

static void decode_refusals(void **state)
{
	static const char *const bad[] = {
		"",
		"[]",
		"{\"files\":[{\"path\":\"a\",\"size\":1,\"digest\":\"" D1 "\"}]}", /* no mediaType */
		"{\"mediaType\":\"application/json\",\"files\":[{\"path\":\"a\",\"size\":1,\"digest\":\"" D1 "\"}]}",
		"{\"mediaType\":\"" MEDIA "\"}",                                     /* no files */
		"{\"mediaType\":\"" MEDIA "\",\"files\":[]}",
		"{\"mediaType\":\"" MEDIA "\",\"files\":[{\"path\":\"../a\",\"size\":1,\"digest\":\"" D1 "\"}]}",
		"{\"mediaType\":\"" MEDIA "\",\"files\":[{\"path\":\"a\",\"size\":1,\"digest\":\"" D1 "\"}]} x",
		"{\"mediaType\":7,\"files\":[{\"path\":\"a\",\"size\":1,\"digest\":\"" D1 "\"}]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cJSON *f = NULL;
		if (reg_manifest_decode(bad[i], strlen(bad[i]), &f) != MLREG_EINVALID)
			fail_msg("expected MLREG_EINVALID for %s", bad[i]);
		assert_null(f);
	}
}

/* ---- mlreg-model.json ---- */

static const char good_config[] =
	"{\"format\":\"onnx\",\"file\":\"model/model.onnx\","
	"\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[-1,3,224,224]}],"
	"\"outputs\":[{\"name\":\"y\",\"datatype\":\"INT64\",\"shape\":[]}],\"comment\":\"ignored\"}";

static void model_config_accepts_and_projects(void **state)
{
	cJSON *s = NULL;
	assert_int_equal(util_model_config_parse(good_config, strlen(good_config), &s), 0);
	assert_string_equal(util_json_str(s, "format"), "onnx");
	assert_string_equal(util_json_str(s, "file"), "model/model.onnx");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(s, "inputs")), 1);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(s, "outputs")), 1);
	assert_null(cJSON_GetObjectItem(s, "comment"));
	cJSON_Delete(s);
}

static void model_config_refusals(void **state)
{
	static const char *const bad[] = {
		"[]",
		"{\"file\":\"m.onnx\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1]}],"
		"\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[1]}]}", /* no format */
		"{\"format\":\"\",\"file\":\"m\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1]}],"
		"\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[1]}]}",
		"{\"format\":\"onnx\",\"file\":\"../m\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1]}],"
		"\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[1]}]}",
		"{\"format\":\"onnx\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1]}],"
		"\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[1]}]}", /* no file */
		"{\"format\":\"onnx\",\"file\":\"m\",\"inputs\":[],"
		"\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[1]}]}",
		"{\"format\":\"onnx\",\"file\":\"m\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP33\",\"shape\":[1]}],"
		"\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[1]}]}",
		"{\"format\":\"onnx\",\"file\":\"m\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[-2]}],"
		"\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[1]}]}",
		"{\"format\":\"onnx\",\"file\":\"m\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1.5]}],"
		"\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[1]}]}",
		"{\"format\":\"onnx\",\"file\":\"m\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":1}],"
		"\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[1]}]}",
		"{\"format\":\"onnx\",\"file\":\"m\",\"inputs\":[{\"name\":\"\",\"datatype\":\"FP32\",\"shape\":[1]}],"
		"\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[1]}]}",
		"{\"format\":\"onnx\",\"file\":\"m\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1]}]}",
		"{\"format\":\"onnx\",\"file\":\"m\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\","
		"\"shape\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}],\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[1]}]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cJSON *s = NULL;
		if (util_model_config_parse(bad[i], strlen(bad[i]), &s) != MLREG_EINVALID)
			fail_msg("expected MLREG_EINVALID for %s", bad[i]);
		assert_null(s);
	}
}

/* The message for unparsable JSON must carry the parser's reason once,
 * behind one prefix (it is shown to the user by `mlreg push`). */
static void model_config_malformed_message(void **state)
{
	cJSON *s = NULL;
	assert_int_equal(util_model_config_parse("{", 1, &s), MLREG_EINVALID);
	const char *msg = mlreg_error_last();
	if (strncmp(msg, "mlreg-model.json: malformed JSON", 32) != 0 || strstr(msg + 1, "mlreg-model.json"))
		fail_msg("garbled message: '%s'", msg);
}

/* ---- audit entry hash ---- */

static void audit_hash_known_answer(void **state)
{
	char got[65], want[65];
	reg_audit_row row = {
		.seq = 1,
		.ts = 1796000000000LL,
		.actor = "system",
		.action = "token.create",
		.subject = "bootstrap-admin",
		.model = NULL,
		.details = "{\"role\":\"admin\",\"principal\":\"admin\"}",
		.prev_hash = "0000000000000000000000000000000000000000000000000000000000000000",
	};
	/* prev_hash "\n" canonical(E), spelled out as in schema/canonical.md */
	static const char bytes[] =
		"0000000000000000000000000000000000000000000000000000000000000000\n"
		"{\"action\":\"token.create\",\"actor\":\"system\",\"details\":{\"principal\":\"admin\",\"role\":\"admin\"},"
		"\"model\":null,\"seq\":1,\"subject\":\"bootstrap-admin\",\"time\":1796000000000,\"v\":1}";
	util_sha256_hex(bytes, strlen(bytes), want);
	assert_int_equal(reg_audit_hash(&row, got), 0);
	assert_string_equal(got, want);

	/* every field is covered: change one and the hash changes */
	row.model = "risk/fraud";
	assert_int_equal(reg_audit_hash(&row, got), 0);
	assert_string_not_equal(got, want);
	row.model = NULL;
	row.ts++;
	assert_int_equal(reg_audit_hash(&row, got), 0);
	assert_string_not_equal(got, want);
	row.ts--;
	row.prev_hash = "1000000000000000000000000000000000000000000000000000000000000000";
	assert_int_equal(reg_audit_hash(&row, got), 0);
	assert_string_not_equal(got, want);
}

static void audit_hash_refuses_unreadable_details(void **state)
{
	char got[65];
	reg_audit_row row = {.seq = 3, .ts = 1, .actor = "a", .action = "b", .subject = "c",
			     .details = "{not json", .prev_hash = ""};
	assert_int_equal(reg_audit_hash(&row, got), MLREG_EINTEGRITY);
	row.details = "{\"ratio\":0.5}"; /* floats never reach a hash */
	assert_int_equal(reg_audit_hash(&row, got), MLREG_EINVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(normalise_sorts_and_fills_defaults),
		cmocka_unit_test(normalise_refuses_bad_lists),
		cmocka_unit_test(normalise_refuses_bad_entries),
		cmocka_unit_test(normalise_refuses_duplicate_paths),
		cmocka_unit_test(normalise_refuses_file_and_folder),
		cmocka_unit_test(normalise_refuses_file_and_folder_not_adjacent),
		cmocka_unit_test(encode_known_answer),
		cmocka_unit_test(encode_is_independent_of_input_order),
		cmocka_unit_test(decode_round_trip),
		cmocka_unit_test(decode_refusals),
		cmocka_unit_test(model_config_accepts_and_projects),
		cmocka_unit_test(model_config_refusals),
		cmocka_unit_test(model_config_malformed_message),
		cmocka_unit_test(audit_hash_known_answer),
		cmocka_unit_test(audit_hash_refuses_unreadable_details),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_json.c - unit tests for util/json.c: bounded parsing (exact length,
 * no trailing data, depth cap), the typed getters, and the canonical
 * encoding that every manifest digest and audit hash is computed over.
 *
 * The canonical tests are known-answer vectors written out byte for byte
 * from schema/canonical.md and RFC 8785 section 3.2.2.2, so a change in the
 * encoding - which would silently change every digest - fails here first.
 */
#include "testutil.h"
#include "util/json.h"

static cJSON *parse_ok(const char *text)
{
	cJSON *v = NULL;
	if (util_json_parse(text, strlen(text), UTIL_JSON_MAX_DEPTH, &v) != 0)
		fail_msg("cannot parse '%s': %s", text, mlreg_error_last());
	return v;
}

static int parse_rc(const char *data, size_t len, int depth)
{
	cJSON *v = NULL;
	int rc = util_json_parse(data, len, depth, &v);
	if (rc == 0)
		cJSON_Delete(v);
	else
		assert_null(v); /* *out written only on success */
	return rc;
}

/* canonical(text) must equal want exactly */
static void expect_canonical(const char *text, const char *want)
{
	cJSON *v = parse_ok(text);
	util_buf b;
	util_buf_init(&b, 1 << 20);
	if (util_json_canonical(v, &b) != 0)
		fail_msg("canonical('%s') failed: %s", text, mlreg_error_last());
	if (strcmp(b.ptr, want) != 0)
		fail_msg("canonical('%s')\n got: %s\nwant: %s", text, b.ptr, want);
	cJSON_Delete(v);
	util_buf_release(&b);
}

static int canonical_rc(const char *text)
{
	cJSON *v = parse_ok(text);
	util_buf b;
	int rc;
	util_buf_init(&b, 1 << 20);
	rc = util_json_canonical(v, &b);
	cJSON_Delete(v);
	util_buf_release(&b);
	return rc;
}

/* ---- parsing ---- */

static void parse_accepts_and_builds_tree(void **state)
{
	cJSON *v = parse_ok(" {\"a\": [1, \"x\", null, true], \"b\": {\"c\": -2}} \n");
	assert_true(cJSON_IsObject(v));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(v, "a")), 4);
	assert_string_equal(cJSON_GetObjectItem(v, "a")->child->next->valuestring, "x");
	assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(v, "b"), "c")->valuedouble == -2);
	cJSON_Delete(v);
	v = parse_ok("42");
	assert_true(cJSON_IsNumber(v));
	cJSON_Delete(v);
}

static void parse_uses_exactly_len_bytes(void **state)
{
	/* the bytes after len are not part of the document */
	static const char text[] = "[1,2]garbage";
	cJSON *v = NULL;
	assert_int_equal(util_json_parse(text, 5, 8, &v), 0);
	assert_int_equal(cJSON_GetArraySize(v), 2);
	cJSON_Delete(v);
	/* and a document cut short by len is malformed */
	assert_int_equal(parse_rc(text, 4, 8), MLREG_EINVALID);
}

static void parse_refuses_empty_and_malformed(void **state)
{
	assert_int_equal(parse_rc("", 0, 8), MLREG_EINVALID);
	assert_int_equal(parse_rc(NULL, 0, 8), MLREG_EINVALID);
	assert_int_equal(parse_rc("   ", 3, 8), MLREG_EINVALID);
	assert_int_equal(parse_rc("{", 1, 8), MLREG_EINVALID);
	assert_int_equal(parse_rc("{\"a\":}", 6, 8), MLREG_EINVALID);
	assert_int_equal(parse_rc("[1,]", 4, 8), MLREG_EINVALID);
	assert_int_equal(parse_rc("\"\\ud800\"", 8, 8), MLREG_EINVALID); /* lone surrogate */
}

static void parse_refuses_trailing_data(void **state)
{
	assert_int_equal(parse_rc("{} x", 4, 8), MLREG_EINVALID);
	assert_int_equal(parse_rc("{}{}", 4, 8), MLREG_EINVALID);
	assert_int_equal(parse_rc("1 2", 3, 8), MLREG_EINVALID);
	assert_int_equal(parse_rc("{} \t\r\n", 6, 8), 0); /* trailing whitespace is fine */
}

/* A NUL byte inside the len bytes does not end the document: what follows
 * it is trailing data like any other, or two bodies that differ only after
 * a NUL would be "the same" request. */
static void parse_refuses_data_after_nul(void **state)
{
	assert_int_equal(parse_rc("{}\0x", 4, 8), MLREG_EINVALID);
	assert_int_equal(parse_rc("{\"a\":1}\0{\"b\":2}", 15, 8), MLREG_EINVALID);
}

/* depth copies of open, then mid, then depth copies of close */
/* A raw NUL inside a string is not JSON (RFC 8259 section 7: control
 * characters must be escaped), and a C string cannot hold it: accepting it
 * silently drops the rest of the string, so "model.bin\0../x" and
 * "model.bin" would parse to the same tree.  Found by fuzz_manifest. */
static void parse_refuses_raw_nul_in_string(void **state)
{
	assert_int_equal(parse_rc("\"a\0b\"", 5, 8), MLREG_EINVALID);
	assert_int_equal(parse_rc("{\"k\":\"x\0y\"}", 11, 8), MLREG_EINVALID);
	assert_int_equal(parse_rc("{\"k\0z\":1}", 9, 8), MLREG_EINVALID);
}

static char *nested(const char *open, const char *mid, const char *close, int depth)
{
	size_t lo = strlen(open), lm = strlen(mid), lc = strlen(close);
	char *s = malloc((size_t)depth * (lo + lc) + lm + 1), *p = s;
	assert_non_null(s);
	for (int i = 0; i < depth; i++, p += lo)
		memcpy(p, open, lo);
	memcpy(p, mid, lm);
	p += lm;
	for (int i = 0; i < depth; i++, p += lc)
		memcpy(p, close, lc);
	*p = '\0';
	return s;
}

static void parse_depth_limit(void **state)
{
	char *s = nested("[", "", "]", 32);
	assert_int_equal(parse_rc(s, strlen(s), 32), 0);
	assert_int_equal(parse_rc(s, strlen(s), 31), MLREG_EINVALID);
	free(s);
	s = nested("{\"k\":", "0", "}", 5);
	assert_int_equal(parse_rc(s, strlen(s), 5), 0);
	assert_int_equal(parse_rc(s, strlen(s), 4), MLREG_EINVALID);
	free(s);
	assert_int_equal(parse_rc("[1]", 3, 1), 0);
	assert_int_equal(parse_rc("[[1]]", 5, 1), MLREG_EINVALID);
	assert_int_equal(parse_rc("[1,{\"a\":[2]}]", 13, 2), MLREG_EINVALID); /* deep in a later sibling */
	/* far past any limit: refused without exhausting the stack */
	s = nested("[", "", "]", 200000);
	assert_int_equal(parse_rc(s, strlen(s), UTIL_JSON_MAX_DEPTH), MLREG_EINVALID);
	free(s);
}

/* ---- getters ---- */

static void getters(void **state)
{
	cJSON *v = parse_ok("{\"s\":\"x\",\"n\":5,\"f\":1.5,\"big\":9007199254740992,\"huge\":9007199254740994,"
			    "\"neg\":-3,\"str\":\"5\",\"S\":\"upper\"}");
	int64_t i = 77;
	assert_string_equal(util_json_str(v, "s"), "x");
	assert_null(util_json_str(v, "n"));
	assert_null(util_json_str(v, "missing"));
	assert_string_equal(util_json_str(v, "S"), "upper"); /* case-sensitive */
	assert_int_equal(util_json_i64(v, "n", &i), 0);
	assert_int_equal(i, 5);
	assert_int_equal(util_json_i64(v, "neg", &i), 0);
	assert_int_equal(i, -3);
	assert_int_equal(util_json_i64(v, "big", &i), 0);
	assert_true(i == 9007199254740992LL);
	i = 77;
	assert_int_equal(util_json_i64(v, "missing", &i), MLREG_ENOTFOUND);
	assert_int_equal(util_json_i64(v, "f", &i), MLREG_EINVALID);
	assert_int_equal(util_json_i64(v, "huge", &i), MLREG_EINVALID);
	assert_int_equal(util_json_i64(v, "str", &i), MLREG_EINVALID);
	assert_int_equal(i, 77);
	assert_false(util_json_is_int(cJSON_GetObjectItem(v, "s")));
	assert_false(util_json_is_int(NULL));
	cJSON_Delete(v);
}

/* ---- canonical encoding ---- */

static void canonical_sorts_keys_and_strips_whitespace(void **state)
{
	expect_canonical("{ \"b\" : 2 , \"a\" : 1 , \"c\" : { \"z\" : true , \"y\" : null } }",
			 "{\"a\":1,\"b\":2,\"c\":{\"y\":null,\"z\":true}}");
	expect_canonical("[ 3 , 1 , [ ] , { } , false ]", "[3,1,[],{},false]"); /* arrays keep their order */
	expect_canonical("{}", "{}");
	expect_canonical("\"\"", "\"\"");
	/* byte order of the UTF-8 key: 'B' < '_' < 'a' < 'b' < "e-acute" (schema/canonical.md) */
	expect_canonical("{\"b\":1,\"\\u00e9\":5,\"a\":3,\"_\":4,\"B\":2}",
			 "{\"B\":2,\"_\":4,\"a\":3,\"b\":1,\"\xc3\xa9\":5}");
	/* a prefix sorts before its extensions */
	expect_canonical("{\"ab\":1,\"a\":2,\"a/b\":3,\"a-b\":4}", "{\"a\":2,\"a-b\":4,\"a/b\":3,\"ab\":1}");
}

static void canonical_string_escaping_rfc8785(void **state)
{
	/* RFC 8785, 3.2.2.2 */
	expect_canonical("\"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\"",
			 "\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"");
	/* the named short escapes, lowercase \u00XX for the rest, DEL and
	 * non-ASCII verbatim, '/' unescaped */
	expect_canonical("\"\\u0001\\b\\f\\n\\r\\t\\u001F\\u007f\\u00e9/\\ud83d\\ude00\"",
			 "\"\\u0001\\b\\f\\n\\r\\t\\u001f\x7f\xc3\xa9/\xf0\x9f\x98\x80\"");
	/* keys are escaped the same way */
	expect_canonical("{\"a\\nb\":1,\"q\\\"\":2}", "{\"a\\nb\":1,\"q\\\"\":2}");
}

static void canonical_integers_only(void **state)
{
	expect_canonical("[0,-0,1.0,1e2,-17,9007199254740992,-9007199254740992,10E0]",
			 "[0,0,1,100,-17,9007199254740992,-9007199254740992,10]");
	assert_int_equal(canonical_rc("1.5"), MLREG_EINVALID);
	assert_int_equal(canonical_rc("{\"a\":[1,2,0.1]}"), MLREG_EINVALID);
	assert_int_equal(canonical_rc("1e300"), MLREG_EINVALID);
	assert_int_equal(canonical_rc("9007199254740994"), MLREG_EINVALID);
}

static void canonical_refuses_duplicate_keys(void **state)
{
	assert_int_equal(canonical_rc("{\"a\":1,\"a\":2}"), MLREG_EINVALID);
	assert_int_equal(canonical_rc("{\"b\":0,\"a\":1,\"c\":0,\"a\":1}"), MLREG_EINVALID);
	assert_int_equal(canonical_rc("[{\"x\":{\"k\":1,\"k\":1}}]"), MLREG_EINVALID);
	assert_int_equal(canonical_rc("{\"a\":1,\"A\":2}"), 0); /* case differs: distinct keys */
}

static void canonical_is_a_fixpoint(void **state)
{
	static const char *docs[] = {
		"{\"files\":[{\"path\":\"b\",\"size\":2},{\"size\":1,\"path\":\"a\"}],\"mediaType\":\"x\",\"schemaVersion\":1}",
		"[\"\\u0000x\",\"tab\\there\",{\"\":\"\"}]",
		"{\"z\":{\"y\":{\"x\":[true,false,null,-1]}}}",
	};
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		cJSON *v = parse_ok(docs[i]), *w = NULL;
		util_buf a, b;
		util_buf_init(&a, 1 << 16);
		util_buf_init(&b, 1 << 16);
		assert_int_equal(util_json_canonical(v, &a), 0);
		assert_int_equal(util_json_parse(a.ptr, a.len, UTIL_JSON_MAX_DEPTH, &w), 0);
		assert_int_equal(util_json_canonical(w, &b), 0);
		assert_string_equal(a.ptr, b.ptr);
		cJSON_Delete(v);
		cJSON_Delete(w);
		util_buf_release(&a);
		util_buf_release(&b);
	}
}

static void canonical_respects_buffer_limit(void **state)
{
	cJSON *v = parse_ok("{\"key\":\"a long enough value\"}");
	util_buf b;
	util_buf_init(&b, 10);
	assert_int_equal(util_json_canonical(v, &b), MLREG_ETOOBIG);
	assert_true(b.len <= 10);
	util_buf_release(&b);
	cJSON_Delete(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_accepts_and_builds_tree),
		cmocka_unit_test(parse_uses_exactly_len_bytes),
		cmocka_unit_test(parse_refuses_empty_and_malformed),
		cmocka_unit_test(parse_refuses_trailing_data),
		cmocka_unit_test(parse_refuses_data_after_nul),
		cmocka_unit_test(parse_refuses_raw_nul_in_string),
		cmocka_unit_test(parse_depth_limit),
		cmocka_unit_test(getters),
		cmocka_unit_test(canonical_sorts_keys_and_strips_whitespace),
		cmocka_unit_test(canonical_string_escaping_rfc8785),
		cmocka_unit_test(canonical_integers_only),
		cmocka_unit_test(canonical_refuses_duplicate_keys),
		cmocka_unit_test(canonical_is_a_fixpoint),
		cmocka_unit_test(canonical_respects_buffer_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_versions.c - unit tests for getting bytes and versions into a
 * registry without HTTP: the blob writer, resumable upload sessions
 * (resume after restart, take-over by the newest claim), and
 * reg_version_create with its numbering, idempotency keys, missing-blob
 * report, size checks and mlreg-model.json descriptor.
 *
 * A push is the registry's one irreversible write, so each test checks both
 * the answer and what the registry holds afterwards (which versions exist,
 * what the stored manifest hashes to).
 */
#include "testreg.h"

#define ABSENT "sha256:abababababababababababababababababababababababababababababababab"

static void versions_number_from_one(void **state)
{
	treg *t = *state;
	char d[UTIL_DIGEST_LEN + 1];
	cJSON *body, *v = NULL;
	treg_put_blob(t, "weights-1", 9, d);
	body = treg_body("model.bin", 9, d, "{\"metrics\":{\"auc\":0.91},\"params\":{\"lr\":\"0.01\"},"
					    "\"tags\":{\"team\":\"risk\"},\"description\":\"first\"}");
	assert_int_equal(treg_push(t, "risk/fraud", body), 1);
	assert_int_equal(treg_push(t, "risk/fraud", body), 2);
	assert_int_equal(treg_push(t, "other", body), 1); /* numbering is per model */
	cJSON_Delete(body);

	assert_int_equal(reg_version_get(t->r, "risk/fraud", 2, true, &v), 0);
	assert_string_equal(util_json_str(v, "model"), "risk/fraud");
	assert_string_equal(util_json_str(v, "status"), "ready");
	assert_string_equal(util_json_str(v, "description"), "first");
	assert_int_equal(cJSON_GetObjectItem(v, "size")->valuedouble, 9);
	assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(v, "metrics"), "auc")->valuedouble == 0.91);
	assert_string_equal(util_json_str(cJSON_GetObjectItem(v, "params"), "lr"), "0.01");
	assert_string_equal(util_json_str(cJSON_GetObjectItem(v, "tags"), "team"), "risk");
	assert_string_equal(util_json_str(cJSON_GetObjectItem(v, "files")->child, "digest"), d);
	cJSON_Delete(v);
	v = NULL;
	assert_int_equal(reg_version_get(t->r, "risk/fraud", 3, false, &v), MLREG_ENOTFOUND);
	assert_int_equal(reg_version_get(t->r, "risk/fraud", 0, false, &v), MLREG_EINVALID);
	assert_null(v);
}

static void version_digest_is_hash_of_stored_manifest(void **state)
{
	treg *t = *state;
	char d1[UTIL_DIGEST_LEN + 1], d2[UTIL_DIGEST_LEN + 1], mdigest[UTIL_DIGEST_LEN + 1], again[UTIL_DIGEST_LEN + 1];
	cJSON *body, *v = NULL, *files = NULL;
	char *data = NULL;
	size_t len = 0;
	treg_put_blob(t, "aaaa", 4, d1);
	treg_put_blob(t, "#!/bin/sh\n", 10, d2);
	body = treg_body("z/run.sh", 10, d2, NULL);
	cJSON_AddNumberToObject(cJSON_GetObjectItem(body, "files")->child, "mode", 493);
	treg_body_add(body, "a.bin", 4, d1);
	assert_int_equal(treg_push(t, "m", body), 1);
	cJSON_Delete(body);
	assert_int_equal(reg_version_manifest(t->r, "m", 1, &data, &len, mdigest), 0);
	util_sha256_buf(data, len, again);
	assert_string_equal(again, mdigest);
	assert_int_equal(reg_version_get(t->r, "m", 1, false, &v), 0);
	assert_string_equal(util_json_str(v, "digest"), mdigest);
	assert_int_equal(cJSON_GetObjectItem(v, "size")->valuedouble, 14);
	cJSON_Delete(v);
	/* the stored bytes are a valid manifest listing both files, sorted */
	assert_int_equal(reg_manifest_decode(data, len, &files), 0);
	assert_int_equal(cJSON_GetArraySize(files), 2);
	assert_string_equal(util_json_str(files->child, "path"), "a.bin");
	assert_int_equal(cJSON_GetObjectItem(files->child->next, "mode")->valuedouble, 493);
	cJSON_Delete(files);
	free(data);
}

static void idempotency_key_replays_first_answer(void **state)
{
	treg *t = *state;
	char d[UTIL_DIGEST_LEN + 1];
	cJSON *body, *other, *a = NULL, *b = NULL, *c = NULL;
	int status = 0;
	treg_put_blob(t, "bytes", 5, d);
	body = treg_body("f", 5, d, "{\"description\":\"once\"}");
	assert_int_equal(reg_version_create(t->r, &t->admin, "m", body, "push-42", &status, &a, NULL), 0);
	assert_int_equal(status, 201);
	status = 0;
	assert_int_equal(reg_version_create(t->r, &t->admin, "m", body, "push-42", &status, &b, NULL), 0);
	assert_int_equal(status, 201);
	assert_int_equal(cJSON_GetObjectItem(a, "version")->valuedouble, 1);
	assert_int_equal(cJSON_GetObjectItem(b, "version")->valuedouble, 1);
	assert_string_equal(util_json_str(a, "digest"), util_json_str(b, "digest"));
	assert_string_equal(util_json_str(a, "created_at"), util_json_str(b, "created_at"));
	/* only one version was made */
	assert_int_equal(reg_version_get(t->r, "m", 2, false, &c), MLREG_ENOTFOUND);

	/* the same key with a different body is a conflict, and makes nothing */
	other = treg_body("f", 5, d, "{\"description\":\"twice\"}");
	assert_int_equal(reg_version_create(t->r, &t->admin, "m", other, "push-42", &status, &c, NULL), MLREG_ECONFLICT);
	assert_null(c);
	assert_int_equal(reg_version_get(t->r, "m", 2, false, &c), MLREG_ENOTFOUND);
	/* a different key makes version 2 */
	assert_int_equal(reg_version_create(t->r, &t->admin, "m", other, "push-43", &status, &c, NULL), 0);
	assert_int_equal(cJSON_GetObjectItem(c, "version")->valuedouble, 2);
	cJSON_Delete(c);
	c = NULL;
	/* bad keys are refused */
	assert_int_equal(reg_version_create(t->r, &t->admin, "m", other, "", &status, &c, NULL), MLREG_EINVALID);
	char *long_key = tu_repeat('k', 201);
	assert_int_equal(reg_version_create(t->r, &t->admin, "m", other, long_key, &status, &c, NULL), MLREG_EINVALID);
	free(long_key);
	cJSON_Delete(a);
	cJSON_Delete(b);
	cJSON_Delete(body);
	cJSON_Delete(other);
}

static void missing_blobs_are_listed(void **state)
{
	treg *t = *state;
	char d[UTIL_DIGEST_LEN + 1];
	cJSON *body, *out = NULL, *missing = NULL;
	int status = 0;
	treg_put_blob(t, "present", 7, d);
	body = treg_body("present.bin", 7, d, NULL);
	treg_body_add(body, "absent.bin", 3, ABSENT);
	assert_int_equal(reg_version_create(t->r, &t->admin, "m", body, NULL, &status, &out, &missing), MLREG_EINVALID);
	assert_null(out);
	assert_non_null(missing);
	assert_int_equal(cJSON_GetArraySize(missing), 1);
	assert_string_equal(missing->child->valuestring, ABSENT);
	cJSON_Delete(missing);
	/* nothing was created, not even the model */
	assert_int_equal(reg_version_get(t->r, "m", 1, false, &out), MLREG_ENOTFOUND);
	assert_int_equal(reg_model_get(t->r, "m", &out), MLREG_ENOTFOUND);
	/* missing is optional */
	assert_int_equal(reg_version_create(t->r, &t->admin, "m", body, NULL, &status, &out, NULL), MLREG_EINVALID);
	cJSON_Delete(body);
}

static void body_refusals(void **state)
{
	treg *t = *state;
	char d[UTIL_DIGEST_LEN + 1];
	cJSON *body, *out = NULL;
	int status = 0;
	treg_put_blob(t, "12345", 5, d);
	/* declared size differs from the stored blob */
	body = treg_body("f", 6, d, NULL);
	assert_int_equal(reg_version_create(t->r, &t->admin, "m", body, NULL, &status, &out, NULL), MLREG_EINVALID);
	cJSON_Delete(body);
	/* bad model names, metadata and files */
	body = treg_body("f", 5, d, NULL);
	assert_int_equal(reg_version_create(t->r, &t->admin, "Bad/Name", body, NULL, &status, &out, NULL), MLREG_EINVALID);
	assert_int_equal(reg_version_create(t->r, &t->admin, "m/", body, NULL, &status, &out, NULL), MLREG_EINVALID);
	cJSON_Delete(body);
	static const char *const bad_extra[] = {
		"{\"metrics\":{\"auc\":\"high\"}}", "{\"metrics\":{\"bad key\":1}}", "{\"metrics\":[1]}",
		"{\"params\":{\"lr\":0.1}}",        "{\"tags\":{\"t\":null}}",       "{\"description\":5}",
	};
	for (size_t i = 0; i < sizeof(bad_extra) / sizeof(bad_extra[0]); i++) {
		body = treg_body("f", 5, d, bad_extra[i]);
		if (reg_version_create(t->r, &t->admin, "m", body, NULL, &status, &out, NULL) != MLREG_EINVALID)
			fail_msg("expected MLREG_EINVALID for %s", bad_extra[i]);
		cJSON_Delete(body);
	}
	body = treg_body("../escape", 5, d, NULL);
	assert_int_equal(reg_version_create(t->r, &t->admin, "m", body, NULL, &status, &out, NULL), MLREG_EINVALID);
	cJSON_Delete(body);
	assert_null(out);
	assert_int_equal(reg_version_get(t->r, "m", 1, false, &out), MLREG_ENOTFOUND);
}

static void model_config_becomes_schema(void **state)
{
	static const char cfg[] = "{\"format\":\"onnx\",\"file\":\"model.onnx\","
				  "\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[-1,4]}],"
				  "\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[-1]}]}";
	treg *t = *state;
	char dc[UTIL_DIGEST_LEN + 1], dm[UTIL_DIGEST_LEN + 1], dbad[UTIL_DIGEST_LEN + 1];
	cJSON *body, *v = NULL, *out = NULL;
	int status = 0;
	treg_put_blob(t, cfg, strlen(cfg), dc);
	treg_put_blob(t, "onnx-bytes", 10, dm);
	body = treg_body("mlreg-model.json", strlen(cfg), dc, NULL);
	treg_body_add(body, "model.onnx", 10, dm);
	assert_int_equal(treg_push(t, "m", body), 1);
	cJSON_Delete(body);
	assert_int_equal(reg_version_get(t->r, "m", 1, false, &v), 0);
	cJSON *schema = cJSON_GetObjectItem(v, "schema");
	assert_true(cJSON_IsObject(schema));
	assert_string_equal(util_json_str(schema, "format"), "onnx");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(schema, "inputs")), 1);
	cJSON_Delete(v);
	/* an invalid descriptor refuses the push */
	treg_put_blob(t, "{\"format\":\"onnx\"}", 17, dbad);
	body = treg_body("mlreg-model.json", 17, dbad, NULL);
	assert_int_equal(reg_version_create(t->r, &t->admin, "m", body, NULL, &status, &out, NULL), MLREG_EINVALID);
	assert_non_null(strstr(mlreg_error_last(), "mlreg-model.json"));
	cJSON_Delete(body);
	assert_int_equal(reg_version_get(t->r, "m", 2, false, &out), MLREG_ENOTFOUND);
}

static void blob_writer_expected_digest(void **state)
{
	treg *t = *state;
	reg_blob_writer *w = NULL;
	char d[UTIL_DIGEST_LEN + 1];
	uint64_t size = 0;
	int fd = -1;
	assert_int_equal(reg_blob_writer_new(t->r, &w), 0);
	assert_int_equal(reg_blob_writer_write(w, "hello", 5), 0);
	assert_int_equal(reg_blob_writer_commit(w, ABSENT, d, &size), MLREG_EINTEGRITY);
	assert_int_equal(reg_blob_stat(t->r, ABSENT, &size), MLREG_ENOTFOUND);
	assert_int_equal(reg_blob_stat(t->r, "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", &size),
			 MLREG_ENOTFOUND);
	assert_int_equal(reg_blob_stat(t->r, "not-a-digest", &size), MLREG_EINVALID);
	/* abandoning a writer leaves nothing either */
	assert_int_equal(reg_blob_writer_new(t->r, &w), 0);
	assert_int_equal(reg_blob_writer_write(w, "x", 1), 0);
	reg_blob_writer_free(w);
	reg_blob_writer_free(NULL);
	/* a good one is known and readable */
	treg_put_blob(t, "hello", 5, d);
	assert_int_equal(reg_blob_stat(t->r, d, &size), 0);
	assert_int_equal(size, 5);
	assert_int_equal(reg_blob_open(t->r, d, &fd, &size), 0);
	close(fd);
}

static void upload_session_resume_and_finish(void **state)
{
	treg *t = *state;
	char id[33], d[UTIL_DIGEST_LEN + 1];
	reg_upload *u = NULL;
	uint64_t off = 99, size = 0;
	assert_int_equal(reg_upload_create(t->r, id), 0);
	assert_int_equal(strspn(id, "0123456789abcdef"), 32);
	assert_int_equal(reg_upload_offset(t->r, id, &off), 0);
	assert_int_equal(off, 0);
	assert_int_equal(reg_upload_claim(t->r, id, 0, &off, &u), 0);
	assert_int_equal(reg_upload_write(u, "abc", 3), 0);
	assert_int_equal(reg_upload_size(u), 3);
	reg_upload_release(u);
	u = NULL;
	/* a chunk that does not start at the current size is refused with the offset */
	off = 0;
	assert_int_equal(reg_upload_claim(t->r, id, 1, &off, &u), MLREG_ERANGE);
	assert_int_equal(off, 3);
	assert_null(u);
	/* resume across a restart of the registry: the hash is rebuilt */
	reg_close(t->r);
	t->r = NULL;
	treg_open(t);
	assert_int_equal(reg_upload_offset(t->r, id, &off), 0);
	assert_int_equal(off, 3);
	assert_int_equal(reg_upload_claim(t->r, id, -1, &off, &u), 0);
	assert_int_equal(reg_upload_write(u, "def", 3), 0);
	assert_int_equal(reg_upload_finish(u, "sha256:bef57ec7f53a6d40beb640a780a639c83bc29ac8a9816f1fc6c5c6dcd93c4721", d, &size),
			 0);
	assert_int_equal(size, 6);
	assert_int_equal(reg_blob_stat(t->r, d, &size), 0);
	assert_int_equal(reg_upload_offset(t->r, id, &off), MLREG_ENOTFOUND);
	/* cancel removes a session */
	assert_int_equal(reg_upload_create(t->r, id), 0);
	assert_int_equal(reg_upload_cancel(t->r, id), 0);
	assert_int_equal(reg_upload_offset(t->r, id, &off), MLREG_ENOTFOUND);
	assert_int_equal(reg_upload_claim(t->r, id, -1, &off, &u), MLREG_ENOTFOUND);
	assert_int_equal(reg_upload_cancel(t->r, "not-a-session"), MLREG_ENOTFOUND);
}

/* The newest claim takes a session over (a client resuming after a dropped
 * connection must not wait for the server to notice the drop); the older
 * handle's writes and finish are refused, so bytes never interleave. */
static void upload_newest_claim_takes_over(void **state)
{
	treg *t = *state;
	char id[33], d[UTIL_DIGEST_LEN + 1];
	reg_upload *old = NULL, *cur = NULL;
	uint64_t off = 0, size = 0;
	assert_int_equal(reg_upload_create(t->r, id), 0);
	assert_int_equal(reg_upload_claim(t->r, id, 0, &off, &old), 0);
	assert_int_equal(reg_upload_write(old, "abc", 3), 0);
	assert_int_equal(reg_upload_claim(t->r, id, 3, &off, &cur), 0);
	assert_int_equal(off, 3);
	assert_int_equal(reg_upload_write(old, "XXX", 3), MLREG_ECONFLICT);
	assert_int_equal(reg_upload_write(cur, "def", 3), 0);
	assert_int_equal(reg_upload_finish(old, NULL, d, &size), MLREG_ECONFLICT); /* releases old */
	assert_int_equal(reg_upload_offset(t->r, id, &off), 0);
	assert_int_equal(off, 6);
	assert_int_equal(reg_upload_finish(cur, "sha256:bef57ec7f53a6d40beb640a780a639c83bc29ac8a9816f1fc6c5c6dcd93c4721", d, &size),
			 0);
	assert_int_equal(size, 6);
}

/* A claim that is refused (wrong offset) is not a claim: the request that
 * holds the session must be able to carry on.  Otherwise one stale or
 * replayed PATCH aborts a healthy upload. */
static void upload_refused_claim_does_not_take_over(void **state)
{
	treg *t = *state;
	char id[33];
	reg_upload *cur = NULL, *stale = NULL;
	uint64_t off = 0;
	assert_int_equal(reg_upload_create(t->r, id), 0);
	assert_int_equal(reg_upload_claim(t->r, id, 0, &off, &cur), 0);
	assert_int_equal(reg_upload_write(cur, "abc", 3), 0);
	assert_int_equal(reg_upload_claim(t->r, id, 0, &off, &stale), MLREG_ERANGE);
	assert_null(stale);
	int rc = reg_upload_write(cur, "def", 3);
	reg_upload_release(cur); /* before asserting, so a failure leaks nothing */
	assert_int_equal(rc, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(versions_number_from_one, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(version_digest_is_hash_of_stored_manifest, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(idempotency_key_replays_first_answer, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(missing_blobs_are_listed, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(body_refusals, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(model_config_becomes_schema, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(blob_writer_expected_digest, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(upload_session_resume_and_finish, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(upload_newest_claim_takes_over, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(upload_refused_claim_does_not_take_over, treg_setup, treg_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

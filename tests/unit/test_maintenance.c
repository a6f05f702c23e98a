/*
 * test_maintenance.c - unit tests for the registry's self-checks and
 * clean-up: the hash-chained audit log (verify, and detection of rows
 * edited, deleted or re-hashed behind the registry's back), garbage
 * collection of unreferenced blobs with its grace period, and fsck.
 *
 * Tampering is done the way an attacker with file access would do it:
 * close the registry, change DATA/registry.db with sqlite3 directly, and
 * open it again.  Corruption is done by rewriting blob files on disk.
 */
#include "testreg.h"
#include <sqlite3.h>

static void db_exec(const char *dir, const char *sql)
{
	char path[700];
	sqlite3 *db = NULL;
	char *err = NULL;
	snprintf(path, sizeof(path), "%s/registry.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
	sqlite3_close(db);
}

/* A registry with a handful of audit entries: bootstrap token, a token,
 * a model created by a push, a version. */
static void with_history(treg *t)
{
	char d[UTIL_DIGEST_LEN + 1];
	cJSON *out = NULL, *body;
	assert_int_equal(reg_token_create(t->r, &t->admin, "ci", "writer", NULL, &out), 0);
	cJSON_Delete(out);
	treg_put_blob(t, "w", 1, d);
	body = treg_body("w.bin", 1, d, NULL);
	treg_push(t, "m", body);
	cJSON_Delete(body);
}

static void verify(treg *t, bool want_ok, int64_t want_first_bad)
{
	cJSON *v = NULL;
	assert_int_equal(reg_audit_verify(t->r, &v), 0);
	if (cJSON_IsTrue(cJSON_GetObjectItem(v, "ok")) != want_ok) {
		char *s = cJSON_PrintUnformatted(v);
		fail_msg("audit verify: %s", s);
	}
	if (!want_ok)
		assert_int_equal(cJSON_GetObjectItem(v, "first_bad")->valuedouble, want_first_bad);
	else
		assert_null(cJSON_GetObjectItem(v, "first_bad"));
	cJSON_Delete(v);
}

static void reopen(treg *t)
{
	reg_close(t->r);
	t->r = NULL;
	treg_open(t);
}

static void audit_chain_verifies(void **state)
{
	treg *t = *state;
	with_history(t);
	cJSON *v = NULL, *list = NULL;
	reg_audit_query q = {.limit = 100};
	assert_int_equal(reg_audit_verify(t->r, &v), 0);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(v, "ok")));
	/* token.create x2, model.create, version.create */
	assert_int_equal(cJSON_GetObjectItem(v, "entries")->valuedouble, 4);
	cJSON_Delete(v);
	assert_int_equal(reg_audit_list(t->r, &q, &list), 0);
	cJSON *e = cJSON_GetObjectItem(list, "entries");
	assert_int_equal(cJSON_GetArraySize(e), 4);
	assert_string_equal(util_json_str(e->child, "action"), "version.create"); /* newest first */
	assert_string_equal(util_json_str(e->child, "subject"), "m:1");
	cJSON_Delete(list);
	/* still intact after a restart */
	reopen(t);
	verify(t, true, 0);
}

static void audit_detects_edited_row(void **state)
{
	treg *t = *state;
	with_history(t);
	reg_close(t->r);
	t->r = NULL;
	db_exec(t->dir, "UPDATE audit_log SET actor='mallory' WHERE seq=2");
	treg_open(t);
	verify(t, false, 2);
}

static void audit_detects_edited_details(void **state)
{
	treg *t = *state;
	with_history(t);
	reg_close(t->r);
	t->r = NULL;
	db_exec(t->dir, "UPDATE audit_log SET details='{\"principal\":\"ci\",\"role\":\"admin\"}' WHERE seq=2");
	treg_open(t);
	verify(t, false, 2);
}

static void audit_detects_deleted_row(void **state)
{
	treg *t = *state;
	with_history(t);
	reg_close(t->r);
	t->r = NULL;
	db_exec(t->dir, "DELETE FROM audit_log WHERE seq=2");
	treg_open(t);
	verify(t, false, 3);
}

/* An attacker who edits a row and recomputes its hash breaks the link to
 * the next entry instead. */
static void audit_detects_rehashed_row(void **state)
{
	treg *t = *state;
	with_history(t);
	char path[700], hash[65], sql[300];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	reg_audit_row row;
	reg_close(t->r);
	t->r = NULL;
	snprintf(path, sizeof(path), "%s/registry.db", t->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT seq,ts,action,subject,model,details,prev_hash FROM audit_log WHERE seq=2",
					    -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	row = (reg_audit_row){
		.seq = sqlite3_column_int64(st, 0),
		.ts = sqlite3_column_int64(st, 1),
		.actor = "mallory",
		.action = (const char *)sqlite3_column_text(st, 2),
		.subject = (const char *)sqlite3_column_text(st, 3),
		.model = (const char *)sqlite3_column_text(st, 4),
		.details = (const char *)sqlite3_column_text(st, 5),
		.prev_hash = (const char *)sqlite3_column_text(st, 6),
	};
	assert_int_equal(reg_audit_hash(&row, hash), 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	snprintf(sql, sizeof(sql), "UPDATE audit_log SET actor='mallory', hash='%s' WHERE seq=2", hash);
	db_exec(t->dir, sql);
	treg_open(t);
	verify(t, false, 3);
}

static bool blob_file_exists(treg *t, const char *digest)
{
	return tu_exists(reg_blobs_of(t->r)->ops->locate(reg_blobs_of(t->r), digest));
}

static void gc_removes_only_unreferenced(void **state)
{
	treg *t = *state; /* 1 ms grace */
	char kept[UTIL_DIGEST_LEN + 1], junk[UTIL_DIGEST_LEN + 1], manifest[UTIL_DIGEST_LEN + 1];
	cJSON *body, *out = NULL, *v = NULL;
	uint64_t size;
	treg_put_blob(t, "referenced", 10, kept);
	treg_put_blob(t, "unreferenced!", 13, junk);
	body = treg_body("model.bin", 10, kept, NULL);
	assert_int_equal(treg_push(t, "m", body), 1);
	cJSON_Delete(body);
	assert_int_equal(reg_version_get(t->r, "m", 1, false, &v), 0);
	snprintf(manifest, sizeof(manifest), "%s", util_json_str(v, "digest"));
	cJSON_Delete(v);
	usleep(20 * 1000); /* past the grace period */

	/* dry run reports and removes nothing */
	assert_int_equal(reg_gc(t->r, &t->admin, true, &out), 0);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(out, "dry_run")));
	assert_int_equal(cJSON_GetObjectItem(out, "deleted_blobs")->valuedouble, 1);
	assert_int_equal(cJSON_GetObjectItem(out, "freed_bytes")->valuedouble, 13);
	cJSON_Delete(out);
	assert_true(blob_file_exists(t, junk));
	assert_int_equal(reg_blob_stat(t->r, junk, &size), 0);

	assert_int_equal(reg_gc(t->r, &t->admin, false, &out), 0);
	assert_int_equal(cJSON_GetObjectItem(out, "deleted_blobs")->valuedouble, 1);
	assert_int_equal(cJSON_GetObjectItem(out, "freed_bytes")->valuedouble, 13);
	cJSON_Delete(out);
	assert_false(blob_file_exists(t, junk));
	assert_int_equal(reg_blob_stat(t->r, junk, &size), MLREG_ENOTFOUND);
	assert_true(blob_file_exists(t, kept));
	assert_true(blob_file_exists(t, manifest));
	assert_int_equal(reg_blob_stat(t->r, kept, &size), 0);
	assert_int_equal(reg_blob_stat(t->r, manifest, &size), 0);

	/* a tombstoned version no longer holds its blobs */
	assert_int_equal(reg_version_delete(t->r, &t->admin, "m", 1, NULL), 0);
	assert_int_equal(reg_version_delete(t->r, &t->admin, "m", 1, NULL), MLREG_ECONFLICT);
	usleep(20 * 1000);
	assert_int_equal(reg_gc(t->r, &t->admin, false, &out), 0);
	assert_int_equal(cJSON_GetObjectItem(out, "deleted_blobs")->valuedouble, 2);
	cJSON_Delete(out);
	assert_false(blob_file_exists(t, kept));
	assert_false(blob_file_exists(t, manifest));
	/* gc itself is audited and the chain still verifies */
	verify(t, true, 0);
}

static void gc_spares_blobs_inside_grace(void **state)
{
	treg *t = *state; /* 1 h grace */
	char d[UTIL_DIGEST_LEN + 1];
	cJSON *out = NULL;
	treg_put_blob(t, "fresh upload", 12, d);
	assert_int_equal(reg_gc(t->r, &t->admin, false, &out), 0);
	assert_int_equal(cJSON_GetObjectItem(out, "deleted_blobs")->valuedouble, 0);
	assert_int_equal(cJSON_GetObjectItem(out, "kept_pending")->valuedouble, 1);
	cJSON_Delete(out);
	assert_true(blob_file_exists(t, d));
}

/* blobs.c promises "a row always means the bytes exist" and gc.c says
 * "the row goes first, then the file".  If the gc transaction fails after
 * the sweep (here: its audit entry is refused by a trigger), the blob rows
 * are rolled back - so their files must still be there. */
static void gc_failure_keeps_bytes_of_kept_rows(void **state)
{
	treg *t = *state; /* 1 ms grace */
	char junk[UTIL_DIGEST_LEN + 1];
	cJSON *out = NULL, *fsck = NULL;
	uint64_t size;
	treg_put_blob(t, "unreferenced!", 13, junk);
	reg_close(t->r);
	t->r = NULL;
	db_exec(t->dir, "CREATE TRIGGER refuse_gc BEFORE INSERT ON audit_log WHEN NEW.action='gc'"
			" BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
	treg_open(t);
	usleep(20 * 1000);
	assert_true(reg_gc(t->r, &t->admin, false, &out) < 0);
	assert_null(out);
	/* the row survived the rollback ... */
	assert_int_equal(reg_blob_stat(t->r, junk, &size), 0);
	/* ... so the file must have too */
	assert_true(blob_file_exists(t, junk));
	assert_int_equal(reg_fsck(t->r, &fsck), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(fsck, "bad")), 0);
	cJSON_Delete(fsck);
}

static void fsck_names_corrupted_and_missing_blobs(void **state)
{
	treg *t = *state;
	char good[UTIL_DIGEST_LEN + 1], bad[UTIL_DIGEST_LEN + 1], gone[UTIL_DIGEST_LEN + 1];
	cJSON *out = NULL;
	const char *path;
	treg_put_blob(t, "good bytes", 10, good);
	treg_put_blob(t, "soon corrupted", 14, bad);
	treg_put_blob(t, "soon missing", 12, gone);
	assert_int_equal(reg_fsck(t->r, &out), 0);
	assert_int_equal(cJSON_GetObjectItem(out, "checked")->valuedouble, 3);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(out, "bad")), 0);
	cJSON_Delete(out);

	path = reg_blobs_of(t->r)->ops->locate(reg_blobs_of(t->r), bad);
	tu_write(path, "SOON CORRUPTED", 14);
	unlink(reg_blobs_of(t->r)->ops->locate(reg_blobs_of(t->r), gone));

	assert_int_equal(reg_fsck(t->r, &out), 0);
	assert_int_equal(cJSON_GetObjectItem(out, "checked")->valuedouble, 3);
	cJSON *list = cJSON_GetObjectItem(out, "bad");
	assert_int_equal(cJSON_GetArraySize(list), 2);
	bool saw_bad = false, saw_gone = false;
	for (cJSON *e = list->child; e; e = e->next) {
		const char *d = util_json_str(e, "digest");
		assert_non_null(d);
		assert_non_null(util_json_str(e, "path"));
		assert_non_null(strstr(util_json_str(e, "path"), d + 7));
		if (!strcmp(d, bad)) {
			saw_bad = true;
			assert_string_not_equal(util_json_str(e, "problem"), "missing");
		} else if (!strcmp(d, gone)) {
			saw_gone = true;
			assert_string_equal(util_json_str(e, "problem"), "missing");
		} else {
			fail_msg("fsck flagged a good blob: %s", d);
		}
	}
	assert_true(saw_bad && saw_gone);
	cJSON_Delete(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(audit_chain_verifies, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(audit_detects_edited_row, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(audit_detects_edited_details, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(audit_detects_deleted_row, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(audit_detects_rehashed_row, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(gc_removes_only_unreferenced, treg_setup_grace_1ms, treg_teardown),
		cmocka_unit_test_setup_teardown(gc_spares_blobs_inside_grace, treg_setup_grace_1h, treg_teardown),
		cmocka_unit_test_setup_teardown(gc_failure_keeps_bytes_of_kept_rows, treg_setup_grace_1ms, treg_teardown),
		cmocka_unit_test_setup_teardown(fsck_names_corrupted_and_missing_blobs, treg_setup, treg_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_backup.c - the pure parts of backup and restore (the strict
 * backup.json parser and printer, opening paths inside a backup without
 * following links) and gc's refusal while a backup holds gc.lock, against a
 * real registry.  The whole procedure against a running server, with the
 * hostile backups, is tests/integration/t_backup.sh.
 */
#include "testreg.h"
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include "registry/backup.h"
#include "registry/backup_int.h"

static reg_backup_info sample(void)
{
	reg_backup_info in;
	memset(&in, 0, sizeof(in));
	in.format_version = REG_BACKUP_FORMAT;
	snprintf(in.created_at, sizeof(in.created_at), "2026-11-29T05:00:00.000Z");
	snprintf(in.mlreg_version, sizeof(in.mlreg_version), "0.1.0");
	in.schema_version = 7;
	snprintf(in.db_sha256, sizeof(in.db_sha256), "sha256:%064d", 1);
	in.db_size = 4096;
	in.blob_count = 3;
	in.blob_bytes = 1234;
	in.audit_seq = 9;
	snprintf(in.audit_hash, sizeof(in.audit_hash), "%064d", 2);
	in.url_key = true;
	return in;
}

static void info_round_trip(void **state)
{
	(void)state;
	reg_backup_info in = sample(), got;
	char *text = reg_backup_info_print(&in);
	assert_non_null(text);
	memset(&got, 0xff, sizeof(got));
	assert_int_equal(reg_backup_info_parse(text, strlen(text), &got), 0);
	assert_int_equal(got.format_version, 1);
	assert_string_equal(got.created_at, in.created_at);
	assert_string_equal(got.db_sha256, in.db_sha256);
	assert_int_equal(got.db_size, 4096);
	assert_int_equal(got.blob_count, 3);
	assert_int_equal(got.blob_bytes, 1234);
	assert_int_equal(got.audit_seq, 9);
	assert_string_equal(got.audit_hash, in.audit_hash);
	assert_true(got.url_key);
	free(text);
	/* an empty audit log and no secrets */
	in.audit_seq = 0;
	in.audit_hash[0] = '\0';
	in.url_key = false;
	text = reg_backup_info_print(&in);
	assert_int_equal(reg_backup_info_parse(text, strlen(text), &got), 0);
	assert_int_equal(got.audit_seq, 0);
	assert_false(got.url_key);
	free(text);
}

/* Replace the first occurrence of from by to in the printed sample and
 * expect the parser to answer want (and leave *out alone). */
static void expect_edit(const char *from, const char *to, int want)
{
	reg_backup_info in = sample(), got;
	char *text = reg_backup_info_print(&in), *at, *edited;
	assert_non_null(text);
	at = strstr(text, from);
	if (!at)
		fail_msg("'%s' is not in %s", from, text);
	edited = malloc(strlen(text) + strlen(to) + 1);
	memcpy(edited, text, (size_t)(at - text));
	strcpy(edited + (at - text), to);
	strcat(edited, at + strlen(from));
	memset(&got, 0x5a, sizeof(got));
	int rc = reg_backup_info_parse(edited, strlen(edited), &got);
	if (rc != want)
		fail_msg("expected %d, got %d for %s: %s", want, rc, edited, mlreg_error_last());
	assert_int_equal(((unsigned char *)&got)[0], 0x5a);
	free(edited);
	free(text);
}

static void info_refuses_what_is_not_documented(void **state)
{
	(void)state;
	expect_edit("\"format\":\t\"mlreg-backup\"", "\"format\":\t\"tar\"", MLREG_EINTEGRITY);
	expect_edit("\"format_version\":\t1", "\"format_version\":\t2", MLREG_ENEWER);
	expect_edit("\"format_version\":\t1", "\"format_version\":\t1.5", MLREG_EINTEGRITY);
	expect_edit("\"format_version\":\t1", "\"format_version\":\t0", MLREG_EINTEGRITY);
	expect_edit("\"schema_version\":\t7", "\"schema_version\":\t\"7\"", MLREG_EINTEGRITY);
	expect_edit("\"schema_version\":\t7,", "", MLREG_EINTEGRITY);                       /* missing */
	expect_edit("\"schema_version\":\t7,", "\"schema_version\":7,\"schema_version\":7,", MLREG_EINTEGRITY); /* repeated */
	expect_edit("\"schema_version\":\t7,", "\"schema_version\":7,\"extra\":1,", MLREG_EINTEGRITY);
	expect_edit("2026-11-29T05:00:00.000Z", "5m", MLREG_EINTEGRITY);
	expect_edit("2026-11-29T05:00:00.000Z", "yesterday", MLREG_EINTEGRITY);
	expect_edit("\"registry.db\"", "\"../etc/passwd\"", MLREG_EINTEGRITY);
	expect_edit("sha256:0000", "sha256:ZZ00", MLREG_EINTEGRITY);
	expect_edit("\"size\":\t4096", "\"size\":\t-1", MLREG_EINTEGRITY);
	expect_edit("\"count\":\t3", "\"count\":\t1e300", MLREG_EINTEGRITY);
	expect_edit("\"head_seq\":\t9", "\"head_seq\":\t0", MLREG_EINTEGRITY); /* seq 0 with a hash */
	expect_edit("\"url.key\"", "\"admin.token\"", MLREG_EINTEGRITY);
	expect_edit("[\"url.key\"]", "[\"url.key\",\"url.key\"]", MLREG_EINTEGRITY);
	expect_edit("\"mlreg_version\":\t\"0.1.0\"", "\"mlreg_version\":\t\"0.1\\u0001\"", MLREG_EINTEGRITY);
	expect_edit("{", "[", MLREG_EINTEGRITY);
}

static void info_refuses_junk_and_huge(void **state)
{
	(void)state;
	reg_backup_info got;
	char *big = tu_repeat(' ', REG_BACKUP_INFO_MAX + 1);
	assert_int_equal(reg_backup_info_parse("", 0, &got), MLREG_EINTEGRITY);
	assert_int_equal(reg_backup_info_parse("{", 1, &got), MLREG_EINTEGRITY);
	assert_int_equal(reg_backup_info_parse("null", 4, &got), MLREG_EINTEGRITY);
	assert_int_equal(reg_backup_info_parse(big, strlen(big), &got), MLREG_EINTEGRITY);
	free(big);
}

static void open_under_refuses_links(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp(), p[700], q[700];
	int dfd, fd = -1;
	snprintf(p, sizeof(p), "%s/sub", dir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/sub/file", dir);
	tu_write(p, "x", 1);
	snprintf(q, sizeof(q), "%s/link", dir);
	assert_int_equal(symlink("sub", q), 0);
	snprintf(q, sizeof(q), "%s/sub/flink", dir);
	assert_int_equal(symlink("/etc/passwd", q), 0);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	assert_int_equal(bk_open_under(dfd, "sub/file", false, &fd), 0);
	close(fd);
	assert_int_equal(bk_open_under(dfd, "link/file", false, &fd), MLREG_EINTEGRITY);
	assert_int_equal(bk_open_under(dfd, "sub/flink", false, &fd), MLREG_EINTEGRITY);
	assert_int_equal(bk_open_under(dfd, "sub", false, &fd), MLREG_EINTEGRITY); /* a folder, not a file */
	assert_int_equal(bk_open_under(dfd, "sub/none", false, &fd), MLREG_ENOTFOUND);
	assert_int_equal(bk_open_under(dfd, "../x", false, &fd), MLREG_EINVALID);
	assert_int_equal(bk_open_under(dfd, "sub//file", false, &fd), MLREG_EINVALID);
	close(dfd);
	tu_rmdir(dir);
}

/* gc deletes nothing while a backup holds gc.lock shared, and answers a
 * conflict naming the backup; a dry run still reports. */
static void gc_refused_while_backup_holds_lock(void **state)
{
	treg *t = *state; /* 1 ms grace */
	char junk[UTIL_DIGEST_LEN + 1];
	const char *path;
	cJSON *out = NULL;
	int fd = -1;
	treg_put_blob(t, "unreferenced!", 13, junk);
	usleep(20 * 1000);
	path = reg_blobs_of(t->r)->ops->locate(reg_blobs_of(t->r), junk);
	assert_int_equal(reg_gc_lock_open(t->dir, &fd), 0);
	assert_int_equal(flock(fd, LOCK_SH | LOCK_NB), 0);
	assert_int_equal(reg_gc(t->r, &t->admin, false, &out), MLREG_ECONFLICT);
	assert_non_null(strstr(mlreg_error_last(), "a backup is running"));
	assert_null(out);
	assert_true(tu_exists(path));
	assert_int_equal(reg_gc(t->r, &t->admin, true, &out), 0);
	assert_int_equal(cJSON_GetObjectItem(out, "deleted_blobs")->valuedouble, 1);
	cJSON_Delete(out);
	out = NULL;
	assert_true(tu_exists(path));
	/* the backup ends: gc goes on, and leaves the lock free for the next */
	close(fd);
	assert_int_equal(reg_gc(t->r, &t->admin, false, &out), 0);
	assert_int_equal(cJSON_GetObjectItem(out, "deleted_blobs")->valuedouble, 1);
	cJSON_Delete(out);
	assert_false(tu_exists(path));
	assert_int_equal(reg_gc_lock_open(t->dir, &fd), 0);
	assert_int_equal(flock(fd, LOCK_SH | LOCK_NB), 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(info_round_trip),
		cmocka_unit_test(info_refuses_what_is_not_documented),
		cmocka_unit_test(info_refuses_junk_and_huge),
		cmocka_unit_test(open_under_refuses_links),
		cmocka_unit_test_setup_teardown(gc_refused_while_backup_holds_lock, treg_setup_grace_1ms, treg_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_blobstore.c - unit tests for the filesystem blob store
 * (registry/blobstore_fs.c) through its reg_blobstore_ops table, on a
 * fresh temporary folder per test.
 *
 * What matters about a content-addressed store is what is on disk
 * afterwards, so the tests look at the folder directly: the blob's path and
 * bytes, that a refused commit leaves nothing behind, that a second copy
 * shares the first, and that a named temporary outlives the process's
 * handle on it.
 */
#include "testutil.h"
#include <sys/time.h>
#include "registry/store.h"

#define HELLO "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
#define EMPTY "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ABCDEF "sha256:bef57ec7f53a6d40beb640a780a639c83bc29ac8a9816f1fc6c5c6dcd93c4721"
#define SESSION "0123456789abcdef0123456789abcdef"

typedef struct {
	char *dir;
	reg_blobstore *bs;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	f->dir = tu_mkdtemp();
	if (reg_blobstore_fs_new(f->dir, &f->bs) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	if (f->bs)
		f->bs->ops->free(f->bs);
	tu_rmdir(f->dir);
	free(f);
	return 0;
}

static int commit_bytes(reg_blobstore *bs, const char *data, size_t len, const char *expect,
			char digest[UTIL_DIGEST_LEN + 1], uint64_t *size)
{
	reg_blob_tmp *t = NULL;
	assert_int_equal(bs->ops->tmp_new(bs, &t), 0);
	assert_int_equal(bs->ops->tmp_write(t, data, len), 0);
	assert_int_equal(bs->ops->tmp_size(t), len);
	return bs->ops->tmp_commit(t, expect, digest, size);
}

static char *uploads_dir(fixture *f)
{
	static char p[600];
	snprintf(p, sizeof(p), "%s/uploads", f->dir);
	return p;
}

static void commit_stores_under_digest_path(void **state)
{
	fixture *f = *state;
	reg_blob_tmp *t = NULL;
	char digest[UTIL_DIGEST_LEN + 1], want[700], buf[16];
	uint64_t size = 0;
	int fd = -1;
	assert_int_equal(f->bs->ops->tmp_new(f->bs, &t), 0);
	assert_int_equal(tu_count_entries(uploads_dir(f)), 1); /* the temporary is in uploads/ */
	assert_int_equal(f->bs->ops->tmp_write(t, "hel", 3), 0);
	assert_int_equal(f->bs->ops->tmp_write(t, "lo", 2), 0);
	assert_int_equal(f->bs->ops->tmp_commit(t, NULL, digest, &size), 0);
	assert_string_equal(digest, HELLO);
	assert_int_equal(size, 5);
	snprintf(want, sizeof(want), "%s/blobs/sha256/2c/%s", f->dir, &HELLO[7]);
	assert_true(tu_exists(want));
	assert_string_equal(f->bs->ops->locate(f->bs, HELLO), want);
	assert_int_equal(tu_count_entries(uploads_dir(f)), 0); /* temporary gone */
	size = 0;
	assert_int_equal(f->bs->ops->stat(f->bs, HELLO, &size), 0);
	assert_int_equal(size, 5);
	assert_int_equal(f->bs->ops->open(f->bs, HELLO, &fd, &size), 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "hello", 5);
	close(fd);
}

static void empty_blob(void **state)
{
	fixture *f = *state;
	char digest[UTIL_DIGEST_LEN + 1];
	uint64_t size = 9;
	assert_int_equal(commit_bytes(f->bs, "", 0, EMPTY, digest, &size), 0);
	assert_string_equal(digest, EMPTY);
	assert_int_equal(size, 0);
	assert_int_equal(f->bs->ops->verify(f->bs, EMPTY, NULL), 0);
}

static void expected_digest_mismatch_stores_nothing(void **state)
{
	fixture *f = *state;
	char digest[UTIL_DIGEST_LEN + 1], fan[700];
	uint64_t size = 0;
	assert_int_equal(commit_bytes(f->bs, "hello", 5, EMPTY, digest, &size), MLREG_EINTEGRITY);
	assert_int_equal(f->bs->ops->stat(f->bs, HELLO, NULL), MLREG_ENOTFOUND);
	assert_int_equal(f->bs->ops->stat(f->bs, EMPTY, NULL), MLREG_ENOTFOUND);
	/* the store made all 256 fan-out folders up front; they stay empty */
	snprintf(fan, sizeof(fan), "%s/blobs/sha256", f->dir);
	assert_int_equal(tu_count_entries(fan), 256);
	snprintf(fan, sizeof(fan), "%s/blobs/sha256/2c", f->dir);
	assert_int_equal(tu_count_entries(fan), 0);
	snprintf(fan, sizeof(fan), "%s/blobs/sha256/e3", f->dir);
	assert_int_equal(tu_count_entries(fan), 0);
	assert_int_equal(tu_count_entries(uploads_dir(f)), 0);
	/* the matching expectation is accepted */
	assert_int_equal(commit_bytes(f->bs, "hello", 5, HELLO, digest, &size), 0);
	assert_string_equal(digest, HELLO);
}

static void same_bytes_dedupe(void **state)
{
	fixture *f = *state;
	char d1[UTIL_DIGEST_LEN + 1], d2[UTIL_DIGEST_LEN + 1], fan[700];
	uint64_t size = 0;
	struct stat st;
	assert_int_equal(commit_bytes(f->bs, "hello", 5, NULL, d1, &size), 0);
	assert_int_equal(commit_bytes(f->bs, "hello", 5, HELLO, d2, &size), 0);
	assert_string_equal(d1, d2);
	assert_int_equal(size, 5);
	snprintf(fan, sizeof(fan), "%s/blobs/sha256/2c", f->dir);
	assert_int_equal(tu_count_entries(fan), 1);
	assert_int_equal(stat(f->bs->ops->locate(f->bs, HELLO), &st), 0);
	assert_int_equal(st.st_nlink, 1); /* no temporary still linked to it */
	assert_int_equal(tu_count_entries(uploads_dir(f)), 0);
}

static void abort_removes_temporary(void **state)
{
	fixture *f = *state;
	reg_blob_tmp *t = NULL;
	assert_int_equal(f->bs->ops->tmp_new(f->bs, &t), 0);
	assert_int_equal(f->bs->ops->tmp_write(t, "zz", 2), 0);
	f->bs->ops->tmp_abort(t);
	f->bs->ops->tmp_abort(NULL);
	assert_int_equal(tu_count_entries(uploads_dir(f)), 0);
}

static void named_temporary_survives_reopen(void **state)
{
	fixture *f = *state;
	reg_blob_tmp *t = NULL;
	char digest[UTIL_DIGEST_LEN + 1];
	uint64_t size = 0;
	assert_int_equal(f->bs->ops->tmp_open_named(f->bs, SESSION, true, NULL, 0, &t), 0);
	assert_int_equal(f->bs->ops->tmp_write(t, "abc", 3), 0);
	f->bs->ops->tmp_close(t);
	assert_int_equal(f->bs->ops->tmp_named_size(f->bs, SESSION, &size), 0);
	assert_int_equal(size, 3);
	/* creating it a second time is refused */
	t = NULL;
	assert_true(f->bs->ops->tmp_open_named(f->bs, SESSION, true, NULL, 0, &t) < 0);
	assert_null(t);

	/* a new store on the same folder (a restart) rebuilds the hash */
	f->bs->ops->free(f->bs);
	f->bs = NULL;
	assert_int_equal(reg_blobstore_fs_new(f->dir, &f->bs), 0);
	assert_int_equal(f->bs->ops->tmp_open_named(f->bs, SESSION, false, NULL, 0, &t), 0);
	assert_int_equal(f->bs->ops->tmp_size(t), 3);
	assert_int_equal(f->bs->ops->tmp_write(t, "def", 3), 0);
	assert_int_equal(f->bs->ops->tmp_commit(t, ABCDEF, digest, &size), 0);
	assert_string_equal(digest, ABCDEF);
	assert_int_equal(size, 6);
	/* the session is consumed by the commit */
	assert_int_equal(f->bs->ops->tmp_named_size(f->bs, SESSION, &size), MLREG_ENOTFOUND);
	assert_int_equal(f->bs->ops->tmp_open_named(f->bs, SESSION, false, NULL, 0, &t), MLREG_ENOTFOUND);
}

/* A remembered hash state continues the session without rereading it; a
 * state that does not match the bytes on disk is ignored and the hash is
 * rebuilt, so a stale state can never produce a wrong digest. */
static void named_temporary_resumes_from_hash_state(void **state)
{
	fixture *f = *state;
	reg_blob_tmp *t = NULL;
	util_sha256 *h, *stale;
	char digest[UTIL_DIGEST_LEN + 1];
	uint64_t size = 0;
	assert_int_equal(f->bs->ops->tmp_open_named(f->bs, SESSION, true, NULL, 0, &t), 0);
	stale = f->bs->ops->tmp_hash_state(t); /* state of 0 bytes */
	assert_non_null(stale);
	assert_int_equal(f->bs->ops->tmp_write(t, "abc", 3), 0);
	h = f->bs->ops->tmp_hash_state(t);
	assert_non_null(h);
	f->bs->ops->tmp_close(t);

	/* right state, right size: continued */
	assert_int_equal(f->bs->ops->tmp_open_named(f->bs, SESSION, false, h, 3, &t), 0);
	assert_int_equal(f->bs->ops->tmp_size(t), 3);
	assert_int_equal(f->bs->ops->tmp_write(t, "d", 1), 0);
	f->bs->ops->tmp_close(t);

	/* the 0-byte state claims size 0 but the file has 4 bytes: rebuilt */
	assert_int_equal(f->bs->ops->tmp_open_named(f->bs, SESSION, false, stale, 0, &t), 0);
	assert_int_equal(f->bs->ops->tmp_size(t), 4);
	assert_int_equal(f->bs->ops->tmp_write(t, "ef", 2), 0);
	assert_int_equal(f->bs->ops->tmp_commit(t, ABCDEF, digest, &size), 0);
	assert_string_equal(digest, ABCDEF);
	util_sha256_free(h);
	util_sha256_free(stale);
}

/* A crash between linking a committed session into blobs/ and removing
 * its session name leaves one file under two names; resuming the session
 * would append to a stored blob.  Such a session must be treated as gone. */
static void session_still_linked_to_a_blob_is_over(void **state)
{
	fixture *f = *state;
	reg_blob_tmp *t = NULL;
	char session[700], fan[700];
	uint64_t size = 0;
	struct stat st;
	assert_int_equal(f->bs->ops->tmp_open_named(f->bs, SESSION, true, NULL, 0, &t), 0);
	assert_int_equal(f->bs->ops->tmp_write(t, "hello", 5), 0);
	f->bs->ops->tmp_close(t);
	/* what commit's link() did before the crash */
	snprintf(session, sizeof(session), "%s/session-%s", uploads_dir(f), SESSION);
	snprintf(fan, sizeof(fan), "%s", f->bs->ops->locate(f->bs, HELLO));
	assert_int_equal(link(session, fan), 0);

	t = NULL;
	assert_int_equal(f->bs->ops->tmp_open_named(f->bs, SESSION, false, NULL, 0, &t), MLREG_ENOTFOUND);
	assert_null(t);
	assert_int_equal(f->bs->ops->tmp_named_size(f->bs, SESSION, &size), MLREG_ENOTFOUND);
	assert_int_equal(stat(fan, &st), 0);
	assert_int_equal(st.st_size, 5);
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(f->bs->ops->verify(f->bs, HELLO, NULL), 0);
}

static void named_temporary_ids_are_checked(void **state)
{
	fixture *f = *state;
	static const char *const bad[] = {"", "../../etc/passwd", "0123456789ABCDEF0123456789ABCDEF",
					  "0123456789abcdef0123456789abcde", "0123456789abcdef0123456789abcdef0",
					  "0123456789abcdef/123456789abcdef"};
	reg_blob_tmp *t = NULL;
	uint64_t size;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(f->bs->ops->tmp_open_named(f->bs, bad[i], true, NULL, 0, &t), MLREG_ENOTFOUND);
		assert_int_equal(f->bs->ops->tmp_named_size(f->bs, bad[i], &size), MLREG_ENOTFOUND);
	}
	assert_int_equal(tu_count_entries(uploads_dir(f)), 0);
}

static void verify_detects_corruption(void **state)
{
	fixture *f = *state;
	char digest[UTIL_DIGEST_LEN + 1];
	uint64_t size = 0;
	const char *path;
	assert_int_equal(commit_bytes(f->bs, "hello", 5, NULL, digest, &size), 0);
	assert_int_equal(f->bs->ops->verify(f->bs, HELLO, &size), 0);
	assert_int_equal(size, 5);
	path = f->bs->ops->locate(f->bs, HELLO);
	tu_write(path, "jello", 5); /* same size, one byte flipped */
	assert_int_equal(f->bs->ops->verify(f->bs, HELLO, &size), MLREG_EINTEGRITY);
	assert_non_null(strstr(mlreg_error_last(), HELLO));
	unlink(path);
	assert_int_equal(f->bs->ops->verify(f->bs, HELLO, &size), MLREG_ENOTFOUND);
}

static void remove_then_missing(void **state)
{
	fixture *f = *state;
	char digest[UTIL_DIGEST_LEN + 1];
	uint64_t size = 0;
	int fd = -1;
	assert_int_equal(commit_bytes(f->bs, "hello", 5, NULL, digest, &size), 0);
	assert_int_equal(f->bs->ops->remove(f->bs, HELLO), 0);
	assert_int_equal(f->bs->ops->stat(f->bs, HELLO, &size), MLREG_ENOTFOUND);
	assert_int_equal(f->bs->ops->open(f->bs, HELLO, &fd, &size), MLREG_ENOTFOUND);
	assert_int_equal(f->bs->ops->remove(f->bs, HELLO), 0); /* already gone is fine */
}

static void sweep_removes_only_stale_temporaries(void **state)
{
	fixture *f = *state;
	reg_blob_tmp *t = NULL;
	char old_path[700];
	struct timeval tv[2];
	uint64_t size;
	assert_int_equal(f->bs->ops->tmp_open_named(f->bs, SESSION, true, NULL, 0, &t), 0);
	f->bs->ops->tmp_close(t);
	assert_int_equal(f->bs->ops->tmp_open_named(f->bs, "fedcba9876543210fedcba9876543210", true, NULL, 0, &t), 0);
	f->bs->ops->tmp_close(t);
	assert_int_equal(f->bs->ops->sweep_tmp(f->bs, 3600 * 1000, 3600 * 1000), 0);
	assert_int_equal(tu_count_entries(uploads_dir(f)), 2);
	/* age one of them by two hours */
	snprintf(old_path, sizeof(old_path), "%s/session-%s", uploads_dir(f), SESSION);
	gettimeofday(&tv[0], NULL);
	tv[0].tv_sec -= 7200;
	tv[1] = tv[0];
	assert_int_equal(utimes(old_path, tv), 0);
	assert_int_equal(f->bs->ops->sweep_tmp(f->bs, 3600 * 1000, 3600 * 1000), 1);
	assert_int_equal(f->bs->ops->tmp_named_size(f->bs, SESSION, &size), MLREG_ENOTFOUND);
	assert_int_equal(f->bs->ops->tmp_named_size(f->bs, "fedcba9876543210fedcba9876543210", &size), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(commit_stores_under_digest_path, setup, teardown),
		cmocka_unit_test_setup_teardown(empty_blob, setup, teardown),
		cmocka_unit_test_setup_teardown(expected_digest_mismatch_stores_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(same_bytes_dedupe, setup, teardown),
		cmocka_unit_test_setup_teardown(abort_removes_temporary, setup, teardown),
		cmocka_unit_test_setup_teardown(named_temporary_survives_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(named_temporary_resumes_from_hash_state, setup, teardown),
		cmocka_unit_test_setup_teardown(session_still_linked_to_a_blob_is_over, setup, teardown),
		cmocka_unit_test_setup_teardown(named_temporary_ids_are_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(verify_detects_corruption, setup, teardown),
		cmocka_unit_test_setup_teardown(remove_then_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(sweep_removes_only_stale_temporaries, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

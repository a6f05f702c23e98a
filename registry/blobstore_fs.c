/*
 * blobstore_fs.c - the embedded blob store: a content-addressed folder
 * tree, blobs/sha256/<2 hex>/<64 hex>, fed from temporaries in uploads/.
 *
 * Bytes are hashed while they are written, so a blob is never read twice on
 * the way in.  Commit is fsync(file) -> link() into place -> fsync(folder):
 * link() fails with EEXIST when another upload of the same digest won, which
 * is exactly deduplication, and a crash at any point leaves either nothing
 * visible or a complete blob (never a partial one under blobs/).  Named
 * temporaries back the resumable upload sessions; the registry remembers
 * their hash state between requests, and it is rebuilt from the file after a
 * restart.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "registry/store.h"

typedef struct {
	reg_blobstore base;
	char blobs[3072];
	char uploads[3072];
} fs_store;

struct reg_blob_tmp {
	fs_store *fs;
	int fd;
	char path[PATH_MAX];
	bool named;
	uint64_t size;
	util_sha256 *hash;
};

static void blob_path(fs_store *fs, const char *digest, char *out, size_t n)
{
	snprintf(out, n, "%s/sha256/%.2s/%s", fs->blobs, digest + 7, digest + 7);
}

static int fs_tmp_new(reg_blobstore *bs, reg_blob_tmp **out)
{
	fs_store *fs = (fs_store *)bs;
	reg_blob_tmp *t = calloc(1, sizeof(*t));
	char rnd[33];
	if (!t || util_random_hex(rnd, 16) < 0) {
		free(t);
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	t->fs = fs;
	snprintf(t->path, sizeof(t->path), "%s/tmp-%s", fs->uploads, rnd);
	t->fd = open(t->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	t->hash = util_sha256_new();
	if (t->fd < 0 || !t->hash) {
		int rc = mlreg_error_set(MLREG_EIO, "cannot create upload file '%s': %s", t->path, strerror(errno));
		if (t->fd >= 0)
			close(t->fd);
		util_sha256_free(t->hash);
		free(t);
		return rc;
	}
	*out = t;
	return 0;
}

static void tmp_free(reg_blob_tmp *t, bool unlink_file)
{
	if (!t)
		return;
	if (t->fd >= 0)
		close(t->fd);
	if (unlink_file)
		unlink(t->path);
	util_sha256_free(t->hash);
	free(t);
}

static bool session_id_valid(const char *id)
{
	size_t n = 0;
	for (const char *p = id; *p; p++, n++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return n == 32;
}

static int fs_tmp_named_size(reg_blobstore *bs, const char *id, uint64_t *size)
{
	fs_store *fs = (fs_store *)bs;
	char path[PATH_MAX];
	struct stat st;
	if (!session_id_valid(id))
		return mlreg_error_set(MLREG_ENOTFOUND, "upload '%s' not found", id);
	snprintf(path, sizeof(path), "%s/session-%s", fs->uploads, id);
	if (stat(path, &st) < 0)
		return mlreg_error_set(MLREG_ENOTFOUND, "upload '%s' not found", id);
	*size = (uint64_t)st.st_size;
	return 0;
}

static int fs_tmp_remove_named(reg_blobstore *bs, const char *id)
{
	fs_store *fs = (fs_store *)bs;
	char path[PATH_MAX];
	if (!session_id_valid(id))
		return mlreg_error_set(MLREG_ENOTFOUND, "upload '%s' not found", id);
	snprintf(path, sizeof(path), "%s/session-%s", fs->uploads, id);
	if (unlink(path) < 0)
		return errno == ENOENT ? mlreg_error_set(MLREG_ENOTFOUND, "upload '%s' not found", id)
				       : mlreg_error_set(MLREG_EIO, "cannot remove upload '%s': %s", id, strerror(errno));
	return 0;
}

static int fs_tmp_open_named(reg_blobstore *bs, const char *id, bool create, const util_sha256 *resume,
			     uint64_t resume_size, reg_blob_tmp **out)
{
	fs_store *fs = (fs_store *)bs;
	reg_blob_tmp *t;
	struct stat st;
	char *buf;
	ssize_t n;
	int rc;
	if (!session_id_valid(id))
		return mlreg_error_set(MLREG_ENOTFOUND, "upload '%s' not found", id);
	t = calloc(1, sizeof(*t));
	if (!t)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	t->fs = fs;
	t->named = true;
	snprintf(t->path, sizeof(t->path), "%s/session-%s", fs->uploads, id);
	t->fd = open(t->path, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0644);
	if (t->fd < 0) {
		rc = errno == ENOENT ? mlreg_error_set(MLREG_ENOTFOUND, "upload '%s' not found", id)
				     : mlreg_error_set(MLREG_EIO, "cannot open upload '%s': %s", id, strerror(errno));
		free(t);
		return rc;
	}
	/* a session that is also a blob's name is one whose commit linked it
	 * into blobs/ and then crashed before removing the session name:
	 * appending to it would change a stored blob, so the session is over */
	if (fstat(t->fd, &st) == 0 && st.st_nlink > 1) {
		unlink(t->path);
		tmp_free(t, false);
		return mlreg_error_set(MLREG_ENOTFOUND, "upload '%s' not found (already committed)", id);
	}
	/* continue a remembered hash when it covers exactly the bytes on disk:
	 * rereading a session on every chunk would make uploads quadratic */
	if (resume && (uint64_t)st.st_size == resume_size &&
	    (t->hash = util_sha256_dup(resume)) != NULL && lseek(t->fd, 0, SEEK_END) >= 0) {
		t->size = resume_size;
		*out = t;
		return 0;
	}
	util_sha256_free(t->hash);
	t->hash = util_sha256_new();
	buf = malloc(1 << 20);
	if (!t->hash || !buf) {
		free(buf);
		tmp_free(t, false);
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	while ((n = read(t->fd, buf, 1 << 20)) > 0) {
		util_sha256_update(t->hash, buf, (size_t)n);
		t->size += (uint64_t)n;
	}
	free(buf);
	if (n < 0) {
		rc = mlreg_error_set(MLREG_EIO, "cannot read upload '%s': %s", id, strerror(errno));
		tmp_free(t, false);
		return rc;
	}
	*out = t;
	return 0;
}

static util_sha256 *fs_tmp_hash_state(const reg_blob_tmp *t) { return t->hash ? util_sha256_dup(t->hash) : NULL; }

/* Start writeback of every WRITEBACK_STEP bytes as they arrive, without
 * waiting for it, so the fsync at commit finds little left to write. */
#define WRITEBACK_STEP (8u << 20)

static int fs_tmp_write(reg_blob_tmp *t, const void *data, size_t len)
{
	int rc = util_write_all(t->fd, data, len);
	uint64_t before = t->size;
	if (rc < 0)
		return rc;
	util_sha256_update(t->hash, data, len);
	t->size += len;
	if (t->size / WRITEBACK_STEP != before / WRITEBACK_STEP) {
		uint64_t end = t->size / WRITEBACK_STEP * WRITEBACK_STEP;
		sync_file_range(t->fd, (off64_t)(end - WRITEBACK_STEP), WRITEBACK_STEP, SYNC_FILE_RANGE_WRITE);
	}
	return 0;
}

static uint64_t fs_tmp_size(const reg_blob_tmp *t) { return t->size; }


static void fs_tmp_abort(reg_blob_tmp *t) { tmp_free(t, true); }
static void fs_tmp_close(reg_blob_tmp *t) { tmp_free(t, !t || !t->named); }

static int fs_tmp_commit(reg_blob_tmp *t, const char *expect, char digest[UTIL_DIGEST_LEN + 1], uint64_t *size)
{
	char final[PATH_MAX], dir[PATH_MAX], sub[PATH_MAX];
	fs_store *fs = t->fs;
	int rc = 0;
	util_sha256_final(t->hash, digest);
	t->hash = NULL;
	if (expect && strcmp(expect, digest) != 0) {
		rc = mlreg_error_set(MLREG_EINTEGRITY, "digest mismatch: expected %s, got %s", expect, digest);
		goto done;
	}
	if (fsync(t->fd) < 0) {
		rc = mlreg_error_set(MLREG_EIO, "cannot fsync upload: %s", strerror(errno));
		goto done;
	}
	snprintf(sub, sizeof(sub), "%s/sha256", fs->blobs);
	snprintf(dir, sizeof(dir), "%s/sha256/%.2s", fs->blobs, digest + 7);
	if (mkdir(dir, 0755) == 0) {
		/* a new fan-out folder must itself survive a crash */
		if ((rc = util_fsync_dir(sub)) < 0)
			goto done;
	} else if (errno != EEXIST) {
		rc = mlreg_error_set(MLREG_EIO, "cannot create '%s': %s", dir, strerror(errno));
		goto done;
	}
	blob_path(fs, digest, final, sizeof(final));
	if (link(t->path, final) < 0) {
		struct stat have;
		if (errno != EEXIST) {
			rc = mlreg_error_set(MLREG_EIO, "cannot store blob %s: %s", digest, strerror(errno));
			goto done;
		}
		/* another upload of the same bytes got there first (dedupe); a
		 * file of another size under this name is damage, not a copy */
		if (stat(final, &have) < 0 || (uint64_t)have.st_size != t->size) {
			rc = mlreg_error_set(MLREG_EINTEGRITY, "stored blob %s has the wrong size; run mlreg fsck", digest);
			goto done;
		}
	}
	if ((rc = util_fsync_dir(dir)) < 0)
		goto done;
	*size = t->size;
done:
	tmp_free(t, true);
	return rc;
}

static int fs_stat(reg_blobstore *bs, const char *digest, uint64_t *size)
{
	char p[PATH_MAX];
	struct stat st;
	blob_path((fs_store *)bs, digest, p, sizeof(p));
	if (stat(p, &st) < 0)
		return errno == ENOENT ? mlreg_error_set(MLREG_ENOTFOUND, "blob %s not found", digest)
				       : mlreg_error_set(MLREG_EIO, "cannot stat blob %s: %s", digest, strerror(errno));
	if (size)
		*size = (uint64_t)st.st_size;
	return 0;
}

static int fs_open(reg_blobstore *bs, const char *digest, int *fd, uint64_t *size)
{
	char p[PATH_MAX];
	struct stat st;
	int f;
	blob_path((fs_store *)bs, digest, p, sizeof(p));
	f = open(p, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return errno == ENOENT ? mlreg_error_set(MLREG_ENOTFOUND, "blob %s not found", digest)
				       : mlreg_error_set(MLREG_EIO, "cannot open blob %s: %s", digest, strerror(errno));
	if (fstat(f, &st) < 0) {
		close(f);
		return mlreg_error_set(MLREG_EIO, "cannot stat blob %s", digest);
	}
	*fd = f;
	if (size)
		*size = (uint64_t)st.st_size;
	return 0;
}

static int fs_remove(reg_blobstore *bs, const char *digest)
{
	char p[PATH_MAX];
	blob_path((fs_store *)bs, digest, p, sizeof(p));
	if (unlink(p) < 0 && errno != ENOENT)
		return mlreg_error_set(MLREG_EIO, "cannot remove blob %s: %s", digest, strerror(errno));
	return 0;
}

static int fs_verify(reg_blobstore *bs, const char *digest, uint64_t *size)
{
	char p[PATH_MAX], got[UTIL_DIGEST_LEN + 1];
	int rc;
	blob_path((fs_store *)bs, digest, p, sizeof(p));
	if ((rc = util_sha256_file(p, got, size)) < 0)
		return rc;
	if (strcmp(got, digest) != 0)
		return mlreg_error_set(MLREG_EINTEGRITY, "blob %s rehashes to %s", digest, got);
	return 0;
}

static const char *fs_locate(reg_blobstore *bs, const char *digest)
{
	static _Thread_local char p[PATH_MAX];
	blob_path((fs_store *)bs, digest, p, sizeof(p));
	return p;
}

static int fs_sweep_tmp(reg_blobstore *bs, int64_t tmp_max_age_ms, int64_t session_max_age_ms)
{
	fs_store *fs = (fs_store *)bs;
	DIR *d = opendir(fs->uploads);
	struct dirent *de;
	int n = 0;
	time_t now = time(NULL);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		struct stat st;
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		int64_t max_age_ms = strncmp(de->d_name, "session-", 8) == 0 ? session_max_age_ms : tmp_max_age_ms;
		if ((int64_t)(now - st.st_mtime) * 1000 >= max_age_ms && unlinkat(dirfd(d), de->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static void fs_free(reg_blobstore *bs) { free(bs); }

static const reg_blobstore_ops fs_ops = {
	.tmp_new = fs_tmp_new,
	.tmp_open_named = fs_tmp_open_named,
	.tmp_hash_state = fs_tmp_hash_state,
	.tmp_named_size = fs_tmp_named_size,
	.tmp_remove_named = fs_tmp_remove_named,
	.tmp_write = fs_tmp_write,
	.tmp_size = fs_tmp_size,
	.tmp_commit = fs_tmp_commit,
	.tmp_abort = fs_tmp_abort,
	.tmp_close = fs_tmp_close,
	.stat = fs_stat,
	.open = fs_open,
	.remove = fs_remove,
	.verify = fs_verify,
	.locate = fs_locate,
	.sweep_tmp = fs_sweep_tmp,
	.free = fs_free,
};

int reg_blobstore_fs_new(const char *data_dir, reg_blobstore **out)
{
	fs_store *fs = calloc(1, sizeof(*fs));
	char p[3200];
	int rc;
	if (!fs)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	if (strlen(data_dir) > 3000) {
		free(fs);
		return mlreg_error_set(MLREG_EINVALID, "data directory path too long");
	}
	fs->base.ops = &fs_ops;
	snprintf(fs->blobs, sizeof(fs->blobs), "%.3000s/blobs", data_dir);
	snprintf(fs->uploads, sizeof(fs->uploads), "%.3000s/uploads", data_dir);
	snprintf(p, sizeof(p), "%s/sha256", fs->blobs);
	if ((rc = util_mkdir_p(p, 0755)) < 0 || (rc = util_mkdir_p(fs->uploads, 0755)) < 0) {
		free(fs);
		return rc;
	}
	/* all 256 fan-out folders exist before any blob is committed, made
	 * durable once here, so no commit depends on another's folder fsync */
	for (int i = 0; i < 256 && rc == 0; i++) {
		char sub[PATH_MAX];
		snprintf(sub, sizeof(sub), "%s/%02x", p, i);
		if (mkdir(sub, 0755) < 0 && errno != EEXIST)
			rc = mlreg_error_set(MLREG_EIO, "cannot create '%s': %s", sub, strerror(errno));
	}
	if (rc < 0 || (rc = util_fsync_dir(p)) < 0 || (rc = util_fsync_dir(fs->blobs)) < 0 ||
	    (rc = util_fsync_dir(data_dir)) < 0) {
		free(fs);
		return rc;
	}
	*out = &fs->base;
	return 0;
}

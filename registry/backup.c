/*
 * backup.c - `mlreg backup DIR`: a consistent copy of a data directory
 * while its server keeps running.
 *
 * Consistency comes from three things.  The database is copied with
 * SQLite's online backup API from one read transaction: in WAL mode a
 * reader never blocks the server's writer and sees one snapshot for as long
 * as it stays open, so the copy is the registry as of one commit, however
 * many pushes land meanwhile (and the backup never restarts, as it would
 * between steps without the read transaction).  Blobs are only ever added
 * while a server runs, except by gc; a backup holds DATA/gc.lock shared
 * from before the snapshot until the last blob is copied, and gc takes it
 * exclusively without waiting, so no blob the snapshot lists can vanish.
 * The digests to copy come from the copy, never the live database.  Each
 * blob is rehashed while it is copied (a bad live blob fails the backup
 * rather than poisoning it) and lands by fsync + rename; a blob already in
 * DIR with the right bytes is kept, which makes backups into the same DIR
 * incremental.  backup.json is removed first and written last, so a DIR
 * without it is an incomplete backup, whatever step failed.
 *
 * Nothing is written to the live database: a backup is a read, like a
 * pull, and the audit log records mutations (docs/operations.md says why
 * the backup is not an audit entry).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "registry/backup_int.h"

typedef struct {
	const reg_backup_opts *o;
	int datafd, destfd;
	char dbtmp[PATH_MAX], dbpath[PATH_MAX];
	reg_backup_info info;
	int64_t copied, copied_bytes, present, pruned;
} bk_ctx;

static int db_err(sqlite3 *db, const char *what)
{
	return mlreg_error_set(MLREG_EIO, "database backup: %s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
}

static int take_gc_lock(const reg_backup_opts *o, int *fd)
{
	int64_t waited = 0;
	int rc;
	if ((rc = reg_gc_lock_open(o->data_dir, fd)) < 0)
		return rc;
	while (flock(*fd, LOCK_SH | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK) {
			rc = mlreg_error_set(MLREG_EIO, "cannot lock gc.lock: %s", strerror(errno));
			break;
		}
		if (waited >= o->lock_wait_ms) {
			rc = mlreg_error_set(MLREG_ECONFLICT, "a gc is running on '%s' and did not end within %lldms",
					     o->data_dir, (long long)o->lock_wait_ms);
			break;
		}
		usleep(20 * 1000);
		waited += 20;
	}
	if (rc < 0) {
		close(*fd);
		*fd = -1;
	}
	return rc;
}

/* The online backup of DATA/registry.db into DIR/registry.db.tmp, from one
 * read transaction of the source. */
static int copy_database(bk_ctx *c)
{
	sqlite3 *src = NULL, *dst = NULL;
	sqlite3_backup *b = NULL;
	char live[PATH_MAX];
	int rc = 0, s, f;
	snprintf(live, sizeof(live), "%s/registry.db", c->o->data_dir);
	unlinkat(c->destfd, "registry.db.tmp", 0);
	unlinkat(c->destfd, "registry.db.tmp-journal", 0);
	/* made empty (a valid empty database) so it is 0600 from the start:
	 * the copy holds token hashes and webhook secrets */
	f = openat(c->destfd, "registry.db.tmp", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (f < 0)
		return mlreg_error_set(MLREG_EIO, "cannot create '%s': %s", c->dbtmp, strerror(errno));
	close(f);
	if (sqlite3_open_v2(live, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		rc = db_err(src, "cannot open the live database");
		goto done;
	}
	sqlite3_busy_timeout(src, 5000);
	/* the snapshot: a read transaction kept open across every step */
	if (sqlite3_exec(src, "BEGIN; SELECT count(*) FROM sqlite_master;", NULL, NULL, NULL) != SQLITE_OK) {
		rc = db_err(src, "cannot start a read transaction");
		goto done;
	}
	if (sqlite3_open_v2(c->dbtmp, &dst, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		rc = db_err(dst, "cannot open the copy");
		goto done;
	}
	if (!(b = sqlite3_backup_init(dst, "main", src, "main"))) {
		rc = db_err(dst, "cannot start");
		goto done;
	}
	while ((s = sqlite3_backup_step(b, c->o->step_pages > 0 ? c->o->step_pages : 256)) != SQLITE_DONE) {
		if (s != SQLITE_OK && s != SQLITE_BUSY && s != SQLITE_LOCKED) {
			rc = mlreg_error_set(MLREG_EIO, "database backup: step failed: %s", sqlite3_errstr(s));
			goto done;
		}
		if (c->o->step_pause_ms > 0)
			sqlite3_sleep((int)c->o->step_pause_ms);
	}
	s = sqlite3_backup_finish(b);
	b = NULL;
	if (s != SQLITE_OK) {
		rc = db_err(dst, "cannot finish");
		goto done;
	}
	/* a self-contained file: no -wal beside it, rollback journal mode */
	if (sqlite3_exec(dst, "PRAGMA journal_mode=DELETE;", NULL, NULL, NULL) != SQLITE_OK) {
		rc = db_err(dst, "cannot set the copy's journal mode");
		goto done;
	}
done:
	if (b)
		sqlite3_backup_finish(b);
	if (dst && sqlite3_close(dst) != SQLITE_OK && rc == 0)
		rc = db_err(dst, "cannot close the copy");
	if (src) {
		sqlite3_exec(src, "COMMIT", NULL, NULL, NULL);
		sqlite3_close(src);
	}
	if (rc < 0)
		unlinkat(c->destfd, "registry.db.tmp", 0);
	return rc;
}

/* fsync the copy, hash it, rename it into place. */
static int seal_database(bk_ctx *c)
{
	int fd = openat(c->destfd, "registry.db.tmp", O_RDONLY | O_NOFOLLOW | O_CLOEXEC), rc;
	uint64_t size = 0;
	if (fd < 0)
		return mlreg_error_set(MLREG_EIO, "cannot open '%s': %s", c->dbtmp, strerror(errno));
	if (fsync(fd) < 0) {
		close(fd);
		return mlreg_error_set(MLREG_EIO, "cannot fsync '%s': %s", c->dbtmp, strerror(errno));
	}
	rc = util_sha256_fd(fd, c->info.db_sha256, &size);
	close(fd);
	if (rc < 0)
		return rc;
	c->info.db_size = (int64_t)size;
	if (renameat(c->destfd, "registry.db.tmp", c->destfd, "registry.db") < 0)
		return mlreg_error_set(MLREG_EIO, "cannot rename '%s': %s", c->dbtmp, strerror(errno));
	return bk_fsync_fd(c->destfd, c->o->dest);
}

/* mkdirat, and when the folder is new, fsync of the folder holding it: a
 * new blobs/, blobs/sha256/ or fan-out folder must survive a power cut as
 * surely as the files renamed into it, or a backup whose backup.json made
 * it to disk could lose whole folders of blobs. */
static int mkdir_at(int dirfd, const char *name)
{
	const char *slash = strrchr(name, '/');
	int parent = dirfd, rc = 0;
	if (mkdirat(dirfd, name, 0700) < 0)
		return errno == EEXIST ? 0 : mlreg_error_set(MLREG_EIO, "cannot create '%s': %s", name, strerror(errno));
	if (slash) {
		char up[64];
		if ((size_t)(slash - name) >= sizeof(up))
			return mlreg_error_set(MLREG_EIO, "folder name too long: '%s'", name);
		memcpy(up, name, (size_t)(slash - name));
		up[slash - name] = '\0';
		if ((parent = openat(dirfd, up, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
			return mlreg_error_set(MLREG_EIO, "cannot open '%s': %s", up, strerror(errno));
	}
	if (fsync(parent) < 0)
		rc = mlreg_error_set(MLREG_EIO, "cannot fsync the folder holding '%s': %s", name, strerror(errno));
	if (parent != dirfd)
		close(parent);
	return rc;
}

/* A file of the live data directory, which is trusted: links are followed
 * there as the server follows them (blobs/ on another volume is a common
 * setup); only what lands in DIR is guarded against links. */
static int open_live(bk_ctx *c, const char *rel, int *fd)
{
	struct stat st;
	int f = openat(c->datafd, rel, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return errno == ENOENT ? mlreg_error_set(MLREG_ENOTFOUND, "'%s' is missing", rel)
				       : mlreg_error_set(MLREG_EIO, "cannot open '%s' in '%s': %s", rel, c->o->data_dir,
							 strerror(errno));
	if (fstat(f, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(f);
		return mlreg_error_set(MLREG_EINTEGRITY, "'%s' in '%s' is not a regular file", rel, c->o->data_dir);
	}
	*fd = f;
	return 0;
}

/* Is the file `hex` in fan already the blob? */
static bool already_there(int fan, const char *hex, const char *digest, uint64_t size)
{
	char got[UTIL_DIGEST_LEN + 1];
	uint64_t have = 0;
	struct stat st;
	int fd = openat(fan, hex, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK); /* a FIFO: no wait */
	bool ok;
	if (fd < 0)
		return false;
	ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == size &&
	     util_sha256_fd(fd, got, &have) == 0 && have == size && !strcmp(got, digest);
	close(fd);
	mlreg_error_clear();
	return ok;
}

static int copy_blob(bk_ctx *c, const char *digest, uint64_t size)
{
	char rel[128], tmp[80], got[UTIL_DIGEST_LEN + 1];
	const char *hex = digest + 7;
	int src = -1, fan = -1, rc;
	uint64_t n = 0;
	if (!util_digest_valid(digest))
		return mlreg_error_set(MLREG_EINTEGRITY, "the database lists a malformed blob digest '%.80s'", digest);
	if ((rc = mkdir_at(c->destfd, "blobs")) < 0)
		return rc;
	{
		int blobs;
		if ((rc = bk_open_under(c->destfd, "blobs", true, &blobs)) < 0)
			return rc;
		rc = mkdir_at(blobs, "sha256");
		if (rc == 0) {
			char sub[80];
			snprintf(sub, sizeof(sub), "sha256/%.2s", hex);
			rc = mkdir_at(blobs, sub);
			if (rc == 0)
				rc = bk_open_under(blobs, sub, true, &fan);
		}
		close(blobs);
		if (rc < 0)
			return rc;
	}
	if (already_there(fan, hex, digest, size)) {
		c->present++;
		close(fan);
		return 0;
	}
	snprintf(rel, sizeof(rel), "blobs/sha256/%.2s/%s", hex, hex);
	if ((rc = open_live(c, rel, &src)) < 0) {
		if (rc == MLREG_ENOTFOUND)
			rc = mlreg_error_set(MLREG_EINTEGRITY,
					     "blob %s, listed by the database, is missing from '%s': run mlreg fsck", digest,
					     c->o->data_dir);
		goto done;
	}
	snprintf(tmp, sizeof(tmp), ".%s.tmp", hex);
	if ((rc = bk_copy_hashed(src, fan, tmp, 0600, got, &n)) < 0)
		goto done;
	if (strcmp(got, digest) != 0 || n != size) {
		unlinkat(fan, tmp, 0);
		rc = mlreg_error_set(MLREG_EINTEGRITY, "blob %s in '%s' rehashes to %s (%llu bytes, recorded %llu): run mlreg fsck",
				     digest, c->o->data_dir, got, (unsigned long long)n, (unsigned long long)size);
		goto done;
	}
	if (renameat(fan, tmp, fan, hex) < 0) {
		rc = mlreg_error_set(MLREG_EIO, "cannot rename blob %s into place: %s", digest, strerror(errno));
		unlinkat(fan, tmp, 0);
		goto done;
	}
	if ((rc = bk_fsync_fd(fan, "a blob folder")) < 0)
		goto done;
	c->copied++;
	c->copied_bytes += (int64_t)size;
done:
	if (src >= 0)
		close(src);
	close(fan);
	return rc;
}

/* Remove from DIR/blobs what the new snapshot does not list (blobs gc
 * removed since the last backup) and leftover temporaries. */
static int prune_blobs(bk_ctx *c, sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int sha = -1, rc = 0;
	DIR *top;
	struct dirent *de;
	if (bk_open_under(c->destfd, "blobs/sha256", true, &sha) < 0) {
		mlreg_error_clear();
		return 0;
	}
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM blobs WHERE digest=?", -1, &st, NULL) != SQLITE_OK) {
		close(sha);
		return db_err(db, "cannot read the copy");
	}
	if (!(top = fdopendir(sha))) {
		close(sha);
		sqlite3_finalize(st);
		return mlreg_error_set(MLREG_EIO, "cannot list the backup's blobs: %s", strerror(errno));
	}
	while ((de = readdir(top)) && rc == 0) {
		int fan;
		DIR *d;
		struct dirent *fe;
		if (de->d_name[0] == '.' || strlen(de->d_name) != 2)
			continue;
		fan = openat(dirfd(top), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fan < 0 || !(d = fdopendir(fan))) {
			if (fan >= 0)
				close(fan);
			continue;
		}
		while ((fe = readdir(d))) {
			char digest[UTIL_DIGEST_LEN + 1];
			bool keep = false;
			if (!strcmp(fe->d_name, ".") || !strcmp(fe->d_name, ".."))
				continue;
			snprintf(digest, sizeof(digest), "sha256:%.64s", fe->d_name);
			if (fe->d_name[0] != '.' && strlen(fe->d_name) == 64 && util_digest_valid(digest)) {
				sqlite3_reset(st);
				sqlite3_bind_text(st, 1, digest, -1, SQLITE_TRANSIENT);
				keep = sqlite3_step(st) == SQLITE_ROW;
			}
			if (!keep && unlinkat(dirfd(d), fe->d_name, 0) == 0)
				c->pruned++;
		}
		closedir(d);
	}
	closedir(top);
	sqlite3_finalize(st);
	return rc;
}

/* Read the facts and the blob list from the copy and copy every blob. */
static int copy_blobs(bk_ctx *c)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc = 0, s;
	if (sqlite3_open_v2(c->dbpath, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		rc = db_err(db, "cannot open the copy");
		goto done;
	}
	if (sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(version),0) FROM schema_migrations", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rc = db_err(db, "cannot read the schema version of the copy");
		goto done;
	}
	c->info.schema_version = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", -1, &st, NULL) !=
	    SQLITE_OK) {
		rc = db_err(db, "cannot read the audit head of the copy");
		goto done;
	}
	if ((s = sqlite3_step(st)) == SQLITE_ROW) {
		c->info.audit_seq = sqlite3_column_int64(st, 0);
		snprintf(c->info.audit_hash, sizeof(c->info.audit_hash), "%s",
			 sqlite3_column_text(st, 1) ? (const char *)sqlite3_column_text(st, 1) : "");
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT digest, size FROM blobs ORDER BY digest", -1, &st, NULL) != SQLITE_OK) {
		rc = db_err(db, "cannot list the blobs of the copy");
		goto done;
	}
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		const char *d = (const char *)sqlite3_column_text(st, 0);
		int64_t size = sqlite3_column_int64(st, 1);
		if ((rc = copy_blob(c, d ? d : "", (uint64_t)size)) < 0)
			goto done;
		c->info.blob_count++;
		c->info.blob_bytes += size;
	}
	if (s != SQLITE_DONE) {
		rc = db_err(db, "cannot list the blobs of the copy");
		goto done;
	}
	rc = prune_blobs(c, db);
done:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

/* DATA/url.key into DIR/url.key (0600); a DIR/url.key of an earlier
 * backup goes when the data dir has none. */
static int copy_secrets(bk_ctx *c)
{
	char digest[UTIL_DIGEST_LEN + 1];
	uint64_t n;
	int src, rc = open_live(c, "url.key", &src);
	if (rc == MLREG_ENOTFOUND) {
		mlreg_error_clear();
		unlinkat(c->destfd, "url.key", 0);
		return 0;
	}
	if (rc < 0)
		return rc;
	rc = bk_copy_hashed(src, c->destfd, ".url.key.tmp", 0600, digest, &n);
	close(src);
	if (rc < 0)
		return rc;
	if (renameat(c->destfd, ".url.key.tmp", c->destfd, "url.key") < 0) {
		unlinkat(c->destfd, ".url.key.tmp", 0);
		return mlreg_error_set(MLREG_EIO, "cannot rename url.key into place: %s", strerror(errno));
	}
	c->info.url_key = true;
	return 0;
}

static int write_info(bk_ctx *c)
{
	char *text;
	int fd, rc;
	c->info.format_version = REG_BACKUP_FORMAT;
	util_time_format(util_now_ms(), c->info.created_at, sizeof(c->info.created_at));
	snprintf(c->info.mlreg_version, sizeof(c->info.mlreg_version), "%s", MLREG_VERSION_STRING);
	if (!(text = reg_backup_info_print(&c->info)))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	unlinkat(c->destfd, ".backup.json.tmp", 0);
	fd = openat(c->destfd, ".backup.json.tmp", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		free(text);
		return mlreg_error_set(MLREG_EIO, "cannot create backup.json: %s", strerror(errno));
	}
	rc = util_write_all(fd, text, strlen(text));
	if (rc == 0)
		rc = util_write_all(fd, "\n", 1);
	if (rc == 0 && fsync(fd) < 0)
		rc = mlreg_error_set(MLREG_EIO, "cannot fsync backup.json: %s", strerror(errno));
	close(fd);
	free(text);
	if (rc == 0 && renameat(c->destfd, ".backup.json.tmp", c->destfd, "backup.json") < 0)
		rc = mlreg_error_set(MLREG_EIO, "cannot rename backup.json into place: %s", strerror(errno));
	if (rc < 0) {
		unlinkat(c->destfd, ".backup.json.tmp", 0);
		return rc;
	}
	return bk_fsync_fd(c->destfd, c->o->dest);
}

/* Is the folder open as fd the data directory (dev, ino of data) or below
 * it?  Walks up by ".." to the root; fd stays the caller's. */
static void below_data(int fd, const struct stat *data, bool *inside)
{
	struct stat st, up;
	int cur = fd;
	*inside = false;
	for (int depth = 0; depth < 4096; depth++) {
		int parent;
		if (fstat(cur, &st) < 0)
			break;
		if (st.st_dev == data->st_dev && st.st_ino == data->st_ino) {
			*inside = true;
			break;
		}
		if ((parent = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
			break;
		if (cur != fd)
			close(cur);
		cur = parent;
		if (fstat(cur, &up) < 0 || (up.st_dev == st.st_dev && up.st_ino == st.st_ino))
			break; /* the root is its own parent */
	}
	if (cur != fd)
		close(cur);
}

/* DIR must not be the data directory or inside it: the copy of the
 * database is renamed over DIR/registry.db, which there is the live one
 * (the server goes on writing into the old file, and the next start finds
 * a database with its later commits gone or malformed), and the pruning of
 * DIR/blobs would delete blobs the server is uploading.  A DIR that does
 * not exist yet is checked by its parent, before anything is made. */
static int refuse_inside_data(bk_ctx *c, const char *dest)
{
	struct stat data;
	bool inside = false;
	int fd;
	if (fstat(c->datafd, &data) < 0)
		return mlreg_error_set(MLREG_EIO, "cannot inspect data directory '%s': %s", c->o->data_dir, strerror(errno));
	fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		char parent[PATH_MAX];
		char *slash;
		snprintf(parent, sizeof(parent), "%s", dest);
		while (strlen(parent) > 1 && parent[strlen(parent) - 1] == '/')
			parent[strlen(parent) - 1] = '\0';
		slash = strrchr(parent, '/');
		if (!slash)
			snprintf(parent, sizeof(parent), ".");
		else if (slash == parent)
			parent[1] = '\0';
		else
			*slash = '\0';
		fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0)
		return 0; /* nothing to compare: open_dest reports why DIR cannot be made */
	below_data(fd, &data, &inside);
	close(fd);
	if (inside)
		return mlreg_error_set(MLREG_EINVALID,
				       "backup folder '%s' is the data directory '%s' or inside it: back up somewhere else",
				       dest, c->o->data_dir);
	return 0;
}

static int open_dest(const char *dest, int *fd)
{
	struct stat st;
	if (stat(dest, &st) == 0 && !S_ISDIR(st.st_mode))
		return mlreg_error_set(MLREG_EINVALID, "backup folder '%s' exists and is not a folder", dest);
	if (mkdir(dest, 0700) < 0 && errno != EEXIST)
		return mlreg_error_set(MLREG_EIO, "cannot create backup folder '%s': %s", dest, strerror(errno));
	*fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd < 0)
		return mlreg_error_set(MLREG_EIO, "cannot open backup folder '%s': %s", dest, strerror(errno));
	return 0;
}

int reg_backup_run(const reg_backup_opts *o, cJSON **out)
{
	bk_ctx c;
	char dbcheck[PATH_MAX];
	struct stat st;
	int gcfd = -1, lockfd = -1, rc;
	cJSON *res, *o2;

	memset(&c, 0, sizeof(c));
	c.o = o;
	c.datafd = c.destfd = -1;
	snprintf(dbcheck, sizeof(dbcheck), "%s/registry.db", o->data_dir);
	if (stat(dbcheck, &st) < 0)
		return mlreg_error_set(MLREG_ENOTFOUND, "no registry database in '%s' (is it an mlreg data directory?)",
				       o->data_dir);
	if (snprintf(c.dbtmp, sizeof(c.dbtmp), "%s/registry.db.tmp", o->dest) >= (int)sizeof(c.dbtmp) ||
	    snprintf(c.dbpath, sizeof(c.dbpath), "%s/registry.db", o->dest) >= (int)sizeof(c.dbpath))
		return mlreg_error_set(MLREG_EINVALID, "backup folder path too long");
	if ((c.datafd = open(o->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return mlreg_error_set(MLREG_EIO, "cannot open data directory '%s': %s", o->data_dir, strerror(errno));
	if ((rc = refuse_inside_data(&c, o->dest)) < 0 || (rc = open_dest(o->dest, &c.destfd)) < 0)
		goto done;
	/* DIR may be the data directory of another server (a slip of the
	 * fingers): the copy would be renamed over the registry.db that server
	 * is writing, as for DIR inside DATA (refuse_inside_data) */
	if ((lockfd = openat(c.destfd, "lock", O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
		bool held = flock(lockfd, LOCK_EX | LOCK_NB) < 0;
		close(lockfd);
		lockfd = -1;
		if (held) {
			rc = mlreg_error_set(MLREG_ECONFLICT,
					     "a server is running on '%s' (its data directory lock is held): back up somewhere else",
					     o->dest);
			goto done;
		}
	}
	/* one backup at a time into a DIR */
	lockfd = openat(c.destfd, ".lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
		rc = lockfd < 0 ? mlreg_error_set(MLREG_EIO, "cannot lock '%s': %s", o->dest, strerror(errno))
				: mlreg_error_set(MLREG_ECONFLICT, "another backup is writing into '%s'", o->dest);
		goto done;
	}
	/* from here until backup.json is rewritten DIR is incomplete */
	if (unlinkat(c.destfd, "backup.json", 0) < 0 && errno != ENOENT) {
		rc = mlreg_error_set(MLREG_EIO, "cannot remove the old backup.json: %s", strerror(errno));
		goto done;
	}
	if ((rc = bk_fsync_fd(c.destfd, o->dest)) < 0 || (rc = take_gc_lock(o, &gcfd)) < 0 ||
	    (rc = copy_database(&c)) < 0 || (rc = seal_database(&c)) < 0 || (rc = copy_blobs(&c)) < 0)
		goto done;
	close(gcfd); /* every blob is copied: gc may go on */
	gcfd = -1;
	if ((rc = copy_secrets(&c)) < 0 || (rc = write_info(&c)) < 0)
		goto done;
	res = cJSON_CreateObject();
	cJSON_AddStringToObject(res, "dir", o->dest);
	o2 = cJSON_AddObjectToObject(res, "blobs");
	cJSON_AddNumberToObject(o2, "count", (double)c.info.blob_count);
	cJSON_AddNumberToObject(o2, "bytes", (double)c.info.blob_bytes);
	cJSON_AddNumberToObject(o2, "copied", (double)c.copied);
	cJSON_AddNumberToObject(o2, "copied_bytes", (double)c.copied_bytes);
	cJSON_AddNumberToObject(o2, "present", (double)c.present);
	cJSON_AddNumberToObject(o2, "pruned", (double)c.pruned);
	o2 = cJSON_AddObjectToObject(res, "database");
	cJSON_AddNumberToObject(o2, "size", (double)c.info.db_size);
	cJSON_AddStringToObject(o2, "sha256", c.info.db_sha256);
	cJSON_AddNumberToObject(res, "schema_version", (double)c.info.schema_version);
	o2 = cJSON_AddObjectToObject(res, "audit");
	cJSON_AddNumberToObject(o2, "seq", (double)c.info.audit_seq);
	cJSON_AddStringToObject(o2, "hash", c.info.audit_hash);
	cJSON_AddBoolToObject(res, "url_key", c.info.url_key);
	cJSON_AddStringToObject(res, "created_at", c.info.created_at);
	*out = res;
done:
	if (gcfd >= 0)
		close(gcfd);
	if (lockfd >= 0)
		close(lockfd);
	if (c.destfd >= 0)
		close(c.destfd);
	close(c.datafd);
	return rc;
}

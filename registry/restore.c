/*
 * restore.c - `mlreg restore DIR --data NEWDATA`: a new data directory
 * from a backup, checked end to end before it exists.
 *
 * A backup comes back from storage nobody watched, so nothing in it is
 * trusted: backup.json is parsed strictly, the database must hash to the
 * digest it names and pass PRAGMA integrity_check, its schema must be one
 * this mlreg can run (older is fine: the server migrates on start), every
 * blob it lists is rehashed while it is copied, and every blob a live
 * version references must be among them.  All of it is written into a
 * private temporary folder beside NEWDATA and renamed into place only when
 * every check passed; any failure removes the temporary, so a restore
 * leaves either a complete data directory or nothing.  Files inside DIR
 * are opened one path component at a time without following links, and
 * blob paths are built only from validated digests, so a hostile backup
 * cannot make restore read outside DIR.
 *
 * The database is copied byte for byte (its digest is the one backup.json
 * names), so `mlreg audit verify` on the restored registry checks the very
 * chain the backup recorded, up to the head backup.json names.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <libgen.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "registry/backup_int.h"
#include "registry/migrate.h"

typedef struct {
	int srcfd, tmpfd;
	char tmp[PATH_MAX];
	reg_backup_info info;
	int64_t count, bytes;
	bool fan_made[256];
} rs_ctx;

static int read_info(rs_ctx *c, const char *src)
{
	struct stat st;
	char *data = NULL;
	size_t len = 0;
	int fd, rc = bk_open_under(c->srcfd, "backup.json", false, &fd);
	if (rc == MLREG_ENOTFOUND) {
		bool has_db = faccessat(c->srcfd, "registry.db", F_OK, AT_SYMLINK_NOFOLLOW) == 0;
		return has_db ? mlreg_error_set(MLREG_EINTEGRITY,
						"'%s' has no backup.json: an incomplete backup (it is written last)", src)
			      : mlreg_error_set(MLREG_ENOTFOUND, "'%s' is not an mlreg backup (no backup.json)", src);
	}
	if (rc < 0)
		return mlreg_error_set(rc, "backup.json: %s", mlreg_error_last());
	if (fstat(fd, &st) < 0 || st.st_size > REG_BACKUP_INFO_MAX) {
		close(fd);
		return mlreg_error_set(MLREG_EINTEGRITY, "backup.json in '%s' is larger than %d bytes: not an mlreg backup",
				       src, REG_BACKUP_INFO_MAX);
	}
	rc = util_read_fd(fd, REG_BACKUP_INFO_MAX, &data, &len);
	close(fd);
	if (rc < 0)
		return mlreg_error_set(rc == MLREG_ETOOBIG ? MLREG_EINTEGRITY : rc, "backup.json: %s", mlreg_error_last());
	rc = reg_backup_info_parse(data, len, &c->info);
	free(data);
	return rc;
}

/* NEWDATA must not exist, or be an empty folder no server holds. */
static int check_target(const char *new_data)
{
	struct stat st;
	char lock[PATH_MAX];
	int fd, n = 0;
	DIR *d;
	struct dirent *de;
	if (lstat(new_data, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return mlreg_error_set(MLREG_EIO, "cannot inspect '%s': %s", new_data, strerror(errno));
	}
	if (!S_ISDIR(st.st_mode))
		return mlreg_error_set(MLREG_ECONFLICT, "'%s' exists and is not a folder: restore into a new data directory",
				       new_data);
	snprintf(lock, sizeof(lock), "%s/lock", new_data);
	if ((fd = open(lock, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
		bool held = flock(fd, LOCK_EX | LOCK_NB) < 0;
		close(fd);
		if (held)
			return mlreg_error_set(MLREG_ECONFLICT, "a server is running on '%s': stop it, and restore into a new data directory",
					       new_data);
	}
	if (!(d = opendir(new_data)))
		return mlreg_error_set(MLREG_EIO, "cannot read '%s': %s", new_data, strerror(errno));
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	if (n)
		return mlreg_error_set(MLREG_ECONFLICT, "'%s' is not empty: restore into a new (or empty) data directory",
				       new_data);
	return 0;
}

static int rs_db_err(sqlite3 *db, const char *what)
{
	return mlreg_error_set(MLREG_EINTEGRITY, "the backup's database %s: %s", what,
			       db ? sqlite3_errmsg(db) : "out of memory");
}

static int copy_db(rs_ctx *c)
{
	char got[UTIL_DIGEST_LEN + 1];
	uint64_t n = 0;
	int fd, rc = bk_open_under(c->srcfd, "registry.db", false, &fd);
	if (rc == MLREG_ENOTFOUND)
		return mlreg_error_set(MLREG_EINTEGRITY, "the backup has no registry.db");
	if (rc < 0)
		return rc;
	rc = bk_copy_hashed(fd, c->tmpfd, "registry.db", 0600, got, &n);
	close(fd);
	if (rc < 0)
		return rc;
	if (strcmp(got, c->info.db_sha256) != 0 || (int64_t)n != c->info.db_size)
		return mlreg_error_set(MLREG_EINTEGRITY,
				       "the backup's registry.db hashes to %s (%llu bytes); backup.json says %s (%lld bytes)",
				       got, (unsigned long long)n, c->info.db_sha256, (long long)c->info.db_size);
	return 0;
}

static int query_int(sqlite3 *db, const char *sql, int64_t *out)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
		rc = rs_db_err(db, "cannot be read");
	else
		*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc;
}

/* integrity_check, schema version, audit head. */
static int check_db(rs_ctx *c, sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	const int newest = reg_migrations[reg_migrations_count - 1].number;
	int64_t schema = 0;
	int rc = 0;
	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		rc = rs_db_err(db, "fails integrity_check");
	else if (!sqlite3_column_text(st, 0) || strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0)
		rc = mlreg_error_set(MLREG_EINTEGRITY, "the backup's database fails integrity_check: %.200s",
				     sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : "?");
	sqlite3_finalize(st);
	st = NULL;
	if (rc < 0 || (rc = query_int(db, "SELECT COALESCE(MAX(version),0) FROM schema_migrations", &schema)) < 0)
		return rc;
	if (schema != c->info.schema_version)
		return mlreg_error_set(MLREG_EINTEGRITY, "the backup's database is at schema version %lld, backup.json says %lld",
				       (long long)schema, (long long)c->info.schema_version);
	if (schema > newest)
		return mlreg_error_set(MLREG_ENEWER,
				       "the backup's database is at schema version %lld, written by a newer mlreg; this mlreg "
				       "knows up to %d: restore with that mlreg or a newer one",
				       (long long)schema, newest);
	if (sqlite3_prepare_v2(db, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", -1, &st, NULL) !=
	    SQLITE_OK)
		return rs_db_err(db, "has no readable audit log");
	{
		int s = sqlite3_step(st);
		int64_t seq = s == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
		const char *h = s == SQLITE_ROW && sqlite3_column_text(st, 1) ? (const char *)sqlite3_column_text(st, 1) : "";
		if (seq != c->info.audit_seq || strcmp(h, c->info.audit_hash) != 0)
			rc = mlreg_error_set(MLREG_EINTEGRITY,
					     "the backup's audit log ends at %lld, backup.json says %lld (%.16s)", (long long)seq,
					     (long long)c->info.audit_seq, c->info.audit_hash);
	}
	sqlite3_finalize(st);
	return rc;
}

static int fan_dir(rs_ctx *c, const char *hex, int *fan)
{
	char sub[32];
	unsigned v = 0;
	sscanf(hex, "%2x", &v);
	if (mkdirat(c->tmpfd, "blobs", 0755) < 0 && errno != EEXIST)
		return mlreg_error_set(MLREG_EIO, "cannot create blobs/: %s", strerror(errno));
	if (mkdirat(c->tmpfd, "blobs/sha256", 0755) < 0 && errno != EEXIST)
		return mlreg_error_set(MLREG_EIO, "cannot create blobs/sha256/: %s", strerror(errno));
	snprintf(sub, sizeof(sub), "blobs/sha256/%.2s", hex);
	if (mkdirat(c->tmpfd, sub, 0755) < 0 && errno != EEXIST)
		return mlreg_error_set(MLREG_EIO, "cannot create %s/: %s", sub, strerror(errno));
	c->fan_made[v & 0xff] = true;
	return bk_open_under(c->tmpfd, sub, true, fan);
}

static int restore_blob(rs_ctx *c, const char *digest, int64_t size)
{
	char rel[128], got[UTIL_DIGEST_LEN + 1];
	const char *hex;
	uint64_t n = 0;
	int src = -1, fan = -1, rc;
	if (!digest || !util_digest_valid(digest))
		return mlreg_error_set(MLREG_EINTEGRITY, "the backup's database lists a malformed blob digest '%.80s'",
				       digest ? digest : "");
	hex = digest + 7;
	snprintf(rel, sizeof(rel), "blobs/sha256/%.2s/%s", hex, hex);
	if ((rc = bk_open_under(c->srcfd, rel, false, &src)) < 0) {
		if (rc == MLREG_ENOTFOUND)
			return mlreg_error_set(MLREG_EINTEGRITY, "blob %s, listed by the backup's database, is missing from the backup",
					       digest);
		return mlreg_error_set(rc, "blob %s: %s", digest, mlreg_error_last());
	}
	if ((rc = fan_dir(c, hex, &fan)) < 0)
		goto done;
	if ((rc = bk_copy_hashed(src, fan, hex, 0644, got, &n)) < 0)
		goto done;
	if (strcmp(got, digest) != 0 || (int64_t)n != size) {
		rc = mlreg_error_set(MLREG_EINTEGRITY, "blob %s in the backup is corrupt: it hashes to %s (%llu bytes, recorded %lld)",
				     digest, got, (unsigned long long)n, (long long)size);
		goto done;
	}
	c->count++;
	c->bytes += size;
done:
	if (src >= 0)
		close(src);
	if (fan >= 0)
		close(fan);
	return rc;
}

static int restore_blobs(rs_ctx *c, sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int rc = 0, s;
	if (sqlite3_prepare_v2(db, "SELECT digest, size FROM blobs ORDER BY digest", -1, &st, NULL) != SQLITE_OK)
		return rs_db_err(db, "has no readable blob list");
	while ((s = sqlite3_step(st)) == SQLITE_ROW)
		if ((rc = restore_blob(c, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1))) < 0)
			break;
	if (rc == 0 && s != SQLITE_DONE)
		rc = rs_db_err(db, "has no readable blob list");
	sqlite3_finalize(st);
	if (rc < 0)
		return rc;
	if (c->count != c->info.blob_count || c->bytes != c->info.blob_bytes)
		return mlreg_error_set(MLREG_EINTEGRITY, "the backup holds %lld blobs of %lld bytes, backup.json says %lld of %lld",
				       (long long)c->count, (long long)c->bytes, (long long)c->info.blob_count,
				       (long long)c->info.blob_bytes);
	/* every file and manifest of a live version must be a listed blob */
	if (sqlite3_prepare_v2(db,
			       "SELECT d FROM (SELECT vf.digest AS d FROM version_files vf JOIN versions v ON v.id = vf.version_id"
			       " WHERE v.status <> 'deleted' UNION SELECT manifest_digest FROM versions WHERE status <> 'deleted')"
			       " WHERE d NOT IN (SELECT digest FROM blobs) LIMIT 1",
			       -1, &st, NULL) != SQLITE_OK)
		return rs_db_err(db, "has no readable versions");
	if ((s = sqlite3_step(st)) == SQLITE_ROW)
		rc = mlreg_error_set(MLREG_EINTEGRITY, "a version in the backup references blob %.80s, which the backup does not hold",
				     sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : "?");
	else if (s != SQLITE_DONE)
		rc = rs_db_err(db, "has no readable versions");
	sqlite3_finalize(st);
	return rc;
}

static int restore_secrets(rs_ctx *c)
{
	char digest[UTIL_DIGEST_LEN + 1];
	uint64_t n = 0;
	int fd, rc;
	if (!c->info.url_key)
		return 0;
	if ((rc = bk_open_under(c->srcfd, "url.key", false, &fd)) < 0)
		return rc == MLREG_ENOTFOUND ? mlreg_error_set(MLREG_EINTEGRITY, "backup.json lists url.key, the backup has none")
					     : mlreg_error_set(rc, "url.key: %s", mlreg_error_last());
	rc = bk_copy_hashed(fd, c->tmpfd, "url.key", 0600, digest, &n);
	close(fd);
	if (rc == 0 && (n < 32 || n > 4096))
		rc = mlreg_error_set(MLREG_EINTEGRITY, "the backup's url.key holds %llu bytes (32 to 4096 expected)",
				     (unsigned long long)n);
	return rc;
}

/* Everything written below tmp reaches the disk before the rename. */
static int sync_tree(rs_ctx *c)
{
	int fd, rc = 0;
	for (int i = 0; i < 256 && rc == 0; i++) {
		char sub[32];
		if (!c->fan_made[i])
			continue;
		snprintf(sub, sizeof(sub), "blobs/sha256/%02x", i);
		if ((rc = bk_open_under(c->tmpfd, sub, true, &fd)) == 0) {
			rc = bk_fsync_fd(fd, sub);
			close(fd);
		}
	}
	for (int i = 0; i < 2 && rc == 0; i++) {
		if (bk_open_under(c->tmpfd, i ? "blobs" : "blobs/sha256", true, &fd) < 0) {
			mlreg_error_clear();
			continue;
		}
		rc = bk_fsync_fd(fd, "blobs");
		close(fd);
	}
	return rc ? rc : bk_fsync_fd(c->tmpfd, c->tmp);
}

int reg_restore_run(const char *src, const char *new_data, cJSON **out)
{
	rs_ctx c;
	char parent[PATH_MAX], base[PATH_MAX], pcopy[PATH_MAX];
	sqlite3 *db = NULL;
	const int newest = reg_migrations[reg_migrations_count - 1].number;
	int rc;
	cJSON *res, *o;

	memset(&c, 0, sizeof(c));
	c.tmpfd = -1;
	if (strlen(new_data) >= sizeof(pcopy) - 64 || !*new_data)
		return mlreg_error_set(MLREG_EINVALID, "bad data directory path '%s'", new_data);
	if ((c.srcfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return mlreg_error_set(errno == ENOENT || errno == ENOTDIR ? MLREG_ENOTFOUND : MLREG_EIO,
				       "cannot open backup folder '%s': %s", src, strerror(errno));
	if ((rc = read_info(&c, src)) < 0)
		goto done;
	if (c.info.schema_version > newest) {
		rc = mlreg_error_set(MLREG_ENEWER,
				     "the backup is at schema version %lld, written by a newer mlreg; this mlreg knows up to %d: "
				     "restore with that mlreg or a newer one",
				     (long long)c.info.schema_version, newest);
		goto done;
	}
	if ((rc = check_target(new_data)) < 0)
		goto done;
	snprintf(pcopy, sizeof(pcopy), "%s", new_data);
	while (strlen(pcopy) > 1 && pcopy[strlen(pcopy) - 1] == '/')
		pcopy[strlen(pcopy) - 1] = '\0';
	snprintf(base, sizeof(base), "%s", basename(pcopy));
	snprintf(parent, sizeof(parent), "%s", dirname(pcopy));
	if ((rc = util_mkdir_p(parent, 0755)) < 0)
		goto done;
	snprintf(c.tmp, sizeof(c.tmp), "%.3500s/.%.200s.restore-XXXXXX", parent, base);
	if (!mkdtemp(c.tmp)) {
		c.tmp[0] = '\0';
		rc = mlreg_error_set(MLREG_EIO, "cannot create a temporary folder beside '%s': %s", new_data, strerror(errno));
		goto done;
	}
	if ((c.tmpfd = open(c.tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = mlreg_error_set(MLREG_EIO, "cannot open '%s': %s", c.tmp, strerror(errno));
		goto done;
	}
	if ((rc = copy_db(&c)) < 0)
		goto done;
	{
		char dbp[PATH_MAX + 16];
		snprintf(dbp, sizeof(dbp), "%s/registry.db", c.tmp);
		if (sqlite3_open_v2(dbp, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
			rc = rs_db_err(db, "cannot be opened");
			goto done;
		}
		/* the file is outside input: no trigger or view of its schema runs */
		sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
		sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	}
	if ((rc = check_db(&c, db)) < 0 || (rc = restore_blobs(&c, db)) < 0)
		goto done;
	sqlite3_close(db);
	db = NULL;
	if ((rc = restore_secrets(&c)) < 0 || (rc = sync_tree(&c)) < 0)
		goto done;
	/* rename replaces an empty folder; one that filled meanwhile fails */
	if (rename(c.tmp, new_data) < 0) {
		rc = mlreg_error_set(errno == ENOTEMPTY || errno == EEXIST ? MLREG_ECONFLICT : MLREG_EIO,
				     "cannot move the restored data into '%s': %s", new_data, strerror(errno));
		goto done;
	}
	c.tmp[0] = '\0';
	if ((rc = util_fsync_dir(parent)) < 0)
		goto done;
	res = cJSON_CreateObject();
	cJSON_AddStringToObject(res, "data", new_data);
	o = cJSON_AddObjectToObject(res, "blobs");
	cJSON_AddNumberToObject(o, "count", (double)c.count);
	cJSON_AddNumberToObject(o, "bytes", (double)c.bytes);
	cJSON_AddNumberToObject(res, "schema_version", (double)c.info.schema_version);
	o = cJSON_AddObjectToObject(res, "audit");
	cJSON_AddNumberToObject(o, "seq", (double)c.info.audit_seq);
	cJSON_AddStringToObject(o, "hash", c.info.audit_hash);
	cJSON_AddBoolToObject(res, "url_key", c.info.url_key);
	cJSON_AddStringToObject(res, "backup_created_at", c.info.created_at);
	*out = res;
done:
	if (db)
		sqlite3_close(db);
	if (c.tmpfd >= 0)
		close(c.tmpfd);
	if (c.tmp[0]) {
		/* keep the first error's message across the cleanup */
		char msg[1024];
		snprintf(msg, sizeof(msg), "%s", mlreg_error_last());
		util_rm_rf(c.tmp);
		mlreg_error_set(rc, "%s", msg);
	}
	close(c.srcfd);
	return rc;
}

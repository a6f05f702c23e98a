/*
 * backup_info.c - backup.json, the file written last into a backup DIR
 * (a DIR without it is an incomplete backup), and the file steps backup.c
 * and restore.c share.
 *
 * backup.json comes back from storage that may have been damaged or
 * tampered with, so its parser is strict: exactly the documented members,
 * each once, with its type and range, and nothing else; any doubt is an
 * integrity failure rather than a guess (tests/fuzz/fuzz_backup_info.c).
 * Paths inside a backup are opened one component at a time with
 * O_NOFOLLOW, so a planted symbolic link can neither lead restore outside
 * DIR nor make backup write outside it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "registry/backup_int.h"
#include "util/json.h"

#define BK_FORMAT_NAME "mlreg-backup"

int reg_gc_lock_open(const char *data_dir, int *fd)
{
	char path[PATH_MAX];
	int f;
	if (snprintf(path, sizeof(path), "%s/gc.lock", data_dir) >= (int)sizeof(path))
		return mlreg_error_set(MLREG_EINVALID, "data directory path too long");
	/* read-only: flock() needs no write access, and the file may belong to
	 * another user (a backup run as root made it before the server's user
	 * started: opened for writing, the server could not start) */
	f = open(path, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (f < 0)
		return mlreg_error_set(MLREG_EIO, "cannot open '%s': %s", path, strerror(errno));
	*fd = f;
	return 0;
}

static int bad(const char *what)
{
	return mlreg_error_set(MLREG_EINTEGRITY, "backup.json is not a valid mlreg backup description: %s", what);
}

/* Each member of obj must be one of names[] and appear once; every name
 * must be there. */
static int only_members(const cJSON *obj, const char *const *names, const char *where)
{
	int seen[16] = {0}, n = 0;
	char msg[160];
	if (!cJSON_IsObject(obj)) {
		snprintf(msg, sizeof(msg), "%s must be an object", where);
		return bad(msg);
	}
	while (names[n])
		n++;
	for (const cJSON *c = obj->child; c; c = c->next) {
		int i;
		for (i = 0; i < n; i++)
			if (c->string && !strcmp(c->string, names[i]))
				break;
		if (i == n || seen[i]++) {
			snprintf(msg, sizeof(msg), "%s: %s member '%.40s'", where, i == n ? "unknown" : "repeated",
				 c->string ? c->string : "");
			return bad(msg);
		}
	}
	for (int i = 0; i < n; i++)
		if (!seen[i]) {
			snprintf(msg, sizeof(msg), "%s: member '%s' is missing", where, names[i]);
			return bad(msg);
		}
	return 0;
}

static int get_count(const cJSON *obj, const char *key, int64_t min, int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	char msg[96];
	if (!util_json_is_int(v) || v->valuedouble < (double)min) {
		snprintf(msg, sizeof(msg), "'%s' must be an integer of at least %lld", key, (long long)min);
		return bad(msg);
	}
	*out = (int64_t)v->valuedouble;
	return 0;
}

static int get_text(const cJSON *obj, const char *key, char *out, size_t outsz)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	char msg[96];
	size_t n;
	if (!cJSON_IsString(v) || (n = strlen(v->valuestring)) == 0 || n >= outsz) {
		snprintf(msg, sizeof(msg), "'%s' must be a string of 1 to %zu bytes", key, outsz - 1);
		return bad(msg);
	}
	for (const unsigned char *p = (const unsigned char *)v->valuestring; *p; p++)
		if (*p < 0x20 || *p >= 0x7f) {
			snprintf(msg, sizeof(msg), "'%s' holds a character that is not printable ASCII", key);
			return bad(msg);
		}
	memcpy(out, v->valuestring, n + 1);
	return 0;
}

static bool hex64(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == 64;
}

/* YYYY-MM-DDTHH:MM:SS, then anything util_time_parse accepts */
static bool rfc3339_shape(const char *s)
{
	static const char pat[] = "dddd-dd-ddTdd:dd:dd";
	for (size_t i = 0; pat[i]; i++)
		if (pat[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != pat[i])
			return false;
	return true;
}

int reg_backup_info_parse(const char *data, size_t len, reg_backup_info *out)
{
	static const char *const top[] = {"format",	"format_version", "created_at", "mlreg_version", "schema_version",
					  "database", "blobs",		 "audit",      "secrets",	 NULL};
	static const char *const dbm[] = {"file", "sha256", "size", NULL};
	static const char *const blm[] = {"count", "bytes", NULL};
	static const char *const aum[] = {"head_seq", "head_hash", NULL};
	reg_backup_info in;
	cJSON *j = NULL;
	const cJSON *db, *bl, *au, *sec, *v;
	char name[32];
	int64_t when;
	int rc;

	memset(&in, 0, sizeof(in));
	if (len > REG_BACKUP_INFO_MAX)
		return mlreg_error_set(MLREG_EINTEGRITY, "backup.json is %zu bytes, more than %d: not an mlreg backup",
				       len, REG_BACKUP_INFO_MAX);
	if (util_json_parse(data, len, 4, &j) < 0)
		return bad(mlreg_error_last());
	/* format first: a newer format may have other members */
	v = cJSON_GetObjectItemCaseSensitive(j, "format");
	if (!cJSON_IsObject(j) || !cJSON_IsString(v) || strcmp(v->valuestring, BK_FORMAT_NAME) != 0) {
		rc = bad("'format' must be \"" BK_FORMAT_NAME "\"");
		goto done;
	}
	if ((rc = get_count(j, "format_version", 1, &in.format_version)) < 0)
		goto done;
	if (in.format_version > REG_BACKUP_FORMAT) {
		rc = mlreg_error_set(MLREG_ENEWER,
				     "backup format version %lld was written by a newer mlreg; this mlreg reads up to %d: "
				     "upgrade mlreg",
				     (long long)in.format_version, REG_BACKUP_FORMAT);
		goto done;
	}
	if ((rc = only_members(j, top, "the top level")) < 0 ||
	    (rc = get_text(j, "created_at", in.created_at, sizeof(in.created_at))) < 0 ||
	    (rc = get_text(j, "mlreg_version", in.mlreg_version, sizeof(in.mlreg_version))) < 0 ||
	    (rc = get_count(j, "schema_version", 1, &in.schema_version)) < 0)
		goto done;
	/* util_time_parse also takes durations ("5m" ago): the shape first */
	if (!rfc3339_shape(in.created_at) || util_time_parse(in.created_at, &when) < 0) {
		rc = bad("'created_at' must be an RFC 3339 time");
		goto done;
	}
	db = cJSON_GetObjectItemCaseSensitive(j, "database");
	if ((rc = only_members(db, dbm, "'database'")) < 0 || (rc = get_text(db, "file", name, sizeof(name))) < 0 ||
	    (rc = get_text(db, "sha256", in.db_sha256, sizeof(in.db_sha256))) < 0 ||
	    (rc = get_count(db, "size", 1, &in.db_size)) < 0)
		goto done;
	if (strcmp(name, "registry.db") != 0) {
		rc = bad("'database.file' must be \"registry.db\"");
		goto done;
	}
	if (!util_digest_valid(in.db_sha256)) {
		rc = bad("'database.sha256' must be sha256: and 64 lowercase hex digits");
		goto done;
	}
	bl = cJSON_GetObjectItemCaseSensitive(j, "blobs");
	if ((rc = only_members(bl, blm, "'blobs'")) < 0 || (rc = get_count(bl, "count", 0, &in.blob_count)) < 0 ||
	    (rc = get_count(bl, "bytes", 0, &in.blob_bytes)) < 0)
		goto done;
	au = cJSON_GetObjectItemCaseSensitive(j, "audit");
	if ((rc = only_members(au, aum, "'audit'")) < 0 || (rc = get_count(au, "head_seq", 0, &in.audit_seq)) < 0)
		goto done;
	v = cJSON_GetObjectItemCaseSensitive(au, "head_hash");
	if (!cJSON_IsString(v) || strlen(v->valuestring) >= sizeof(in.audit_hash) ||
	    (in.audit_seq == 0 ? v->valuestring[0] != '\0' : !hex64(v->valuestring))) {
		rc = bad("'audit.head_hash' must be 64 lowercase hex digits (\"\" when head_seq is 0)");
		goto done;
	}
	memcpy(in.audit_hash, v->valuestring, strlen(v->valuestring) + 1); /* length checked above */
	sec = cJSON_GetObjectItemCaseSensitive(j, "secrets");
	if (!cJSON_IsArray(sec)) {
		rc = bad("'secrets' must be an array");
		goto done;
	}
	for (const cJSON *s = sec->child; s; s = s->next) {
		if (!cJSON_IsString(s) || strcmp(s->valuestring, "url.key") != 0 || in.url_key) {
			rc = bad("'secrets' may only name \"url.key\", once");
			goto done;
		}
		in.url_key = true;
	}
	*out = in;
	rc = 0;
done:
	cJSON_Delete(j);
	return rc;
}

char *reg_backup_info_print(const reg_backup_info *in)
{
	cJSON *j = cJSON_CreateObject(), *o;
	char *text;
	if (!j)
		return NULL;
	cJSON_AddStringToObject(j, "format", BK_FORMAT_NAME);
	cJSON_AddNumberToObject(j, "format_version", (double)in->format_version);
	cJSON_AddStringToObject(j, "created_at", in->created_at);
	cJSON_AddStringToObject(j, "mlreg_version", in->mlreg_version);
	cJSON_AddNumberToObject(j, "schema_version", (double)in->schema_version);
	o = cJSON_AddObjectToObject(j, "database");
	cJSON_AddStringToObject(o, "file", "registry.db");
	cJSON_AddStringToObject(o, "sha256", in->db_sha256);
	cJSON_AddNumberToObject(o, "size", (double)in->db_size);
	o = cJSON_AddObjectToObject(j, "blobs");
	cJSON_AddNumberToObject(o, "count", (double)in->blob_count);
	cJSON_AddNumberToObject(o, "bytes", (double)in->blob_bytes);
	o = cJSON_AddObjectToObject(j, "audit");
	cJSON_AddNumberToObject(o, "head_seq", (double)in->audit_seq);
	cJSON_AddStringToObject(o, "head_hash", in->audit_hash);
	o = cJSON_AddArrayToObject(j, "secrets");
	if (in->url_key)
		cJSON_AddItemToArray(o, cJSON_CreateString("url.key"));
	text = cJSON_Print(j);
	cJSON_Delete(j);
	return text;
}

int bk_open_under(int dirfd, const char *rel, bool want_dir, int *fd)
{
	char part[256];
	const char *p = rel;
	int cur = dirfd, rc = 0;
	while (*p) {
		size_t n = strcspn(p, "/");
		bool last = p[n] == '\0';
		struct stat st;
		int next;
		if (n == 0 || n >= sizeof(part) || (n <= 2 && !strncmp(p, "..", n)))
			return mlreg_error_set(MLREG_EINVALID, "bad path '%s'", rel);
		memcpy(part, p, n);
		part[n] = '\0';
		/* O_NONBLOCK: opening a FIFO for reading would wait for a writer
		 * forever; it is refused below as not a regular file (reads of a
		 * regular file ignore the flag) */
		next = openat(cur, part,
			      O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | (!last || want_dir ? O_DIRECTORY : 0));
		if (next < 0) {
			int e = errno;
			rc = e == ENOENT ? mlreg_error_set(MLREG_ENOTFOUND, "'%s' is missing", rel)
			     : e == ELOOP || e == ENOTDIR
				     ? mlreg_error_set(MLREG_EINTEGRITY, "'%s' is a symbolic link or not what it should be: refused",
						       rel)
				     : mlreg_error_set(MLREG_EIO, "cannot open '%s': %s", rel, strerror(e));
		} else if (fstat(next, &st) < 0 || (last && !want_dir && !S_ISREG(st.st_mode))) {
			rc = mlreg_error_set(MLREG_EINTEGRITY, "'%s' is not a regular file: refused", rel);
			close(next);
		} else if (last && !want_dir) {
			fcntl(next, F_SETFL, fcntl(next, F_GETFL) & ~O_NONBLOCK); /* plain reads from here */
		}
		if (cur != dirfd)
			close(cur);
		if (rc < 0)
			return rc;
		cur = next;
		p += n + (last ? 0 : 1);
	}
	if (cur == dirfd)
		return mlreg_error_set(MLREG_EINVALID, "empty path");
	*fd = cur;
	return 0;
}

int bk_fsync_fd(int dirfd, const char *what)
{
	if (fsync(dirfd) < 0)
		return mlreg_error_set(MLREG_EIO, "cannot fsync '%s': %s", what, strerror(errno));
	return 0;
}

int bk_copy_hashed(int src, int dstdir, const char *tmpname, mode_t mode, char digest[UTIL_DIGEST_LEN + 1],
		   uint64_t *size)
{
	util_sha256 *h = util_sha256_new();
	char *buf = malloc(1 << 20);
	uint64_t total = 0;
	int out = -1, rc = 0;
	ssize_t n;
	if (!h || !buf) {
		rc = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	unlinkat(dstdir, tmpname, 0);
	out = openat(dstdir, tmpname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (out < 0) {
		rc = mlreg_error_set(MLREG_EIO, "cannot create '%s': %s", tmpname, strerror(errno));
		goto done;
	}
	if (lseek(src, 0, SEEK_SET) < 0) {
		rc = mlreg_error_set(MLREG_EIO, "cannot rewind: %s", strerror(errno));
		goto done;
	}
	for (;;) {
		n = read(src, buf, 1 << 20);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = mlreg_error_set(MLREG_EIO, "read failed: %s", strerror(errno));
			goto done;
		}
		if (n == 0)
			break;
		util_sha256_update(h, buf, (size_t)n);
		total += (uint64_t)n;
		if ((rc = util_write_all(out, buf, (size_t)n)) < 0)
			goto done;
	}
	if (fsync(out) < 0) {
		rc = mlreg_error_set(MLREG_EIO, "cannot fsync '%s': %s", tmpname, strerror(errno));
		goto done;
	}
	util_sha256_final(h, digest);
	h = NULL;
	*size = total;
done:
	if (out >= 0 && close(out) < 0 && rc == 0)
		rc = mlreg_error_set(MLREG_EIO, "cannot close '%s': %s", tmpname, strerror(errno));
	if (rc < 0 && out >= 0)
		unlinkat(dstdir, tmpname, 0);
	util_sha256_free(h);
	free(buf);
	return rc;
}

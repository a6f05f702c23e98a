/*
 * registry.c - opening a data directory, principals, roles and tokens.
 *
 * The data directory is guarded by an flock()ed lock file held for the
 * life of the process: two servers on one directory would each believe they
 * are the only writer.  Tokens are 32 random bytes, shown once, stored only
 * as their SHA-256, and looked up by that hash with a constant-time final
 * comparison.  The role matrix lives here, in one table, and is written out
 * in docs/security.md.
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
#include "registry/registry_int.h"

static const char *role_names[REG_ROLE_COUNT] = {"reader", "writer", "approver", "deployer", "admin", "node"};

/* rows: roles; columns: READ, PULL, WRITE, DELETE, ADMIN, APPROVE, PROMOTE */
static const bool matrix[REG_ROLE_COUNT][7] = {
	[REG_ROLE_READER] = {true, true, false, false, false, false, false},
	[REG_ROLE_WRITER] = {true, true, true, false, false, false, false},
	[REG_ROLE_APPROVER] = {true, true, false, false, false, true, false},
	[REG_ROLE_DEPLOYER] = {true, true, false, false, false, false, true},
	[REG_ROLE_ADMIN] = {true, true, true, true, true, true, true},
	[REG_ROLE_NODE] = {false, true, false, false, false, false, false},
};

const char *reg_role_name(reg_role role) { return role < REG_ROLE_COUNT ? role_names[role] : "?"; }

int reg_role_parse(const char *s, reg_role *out)
{
	for (int i = 0; s && i < REG_ROLE_COUNT; i++)
		if (!strcmp(s, role_names[i])) {
			*out = (reg_role)i;
			return 0;
		}
	return mlreg_error_set(MLREG_EINVALID, "invalid role '%s': use reader, writer, approver, deployer, admin or node",
			       s ? s : "");
}

bool reg_role_allows(reg_role role, reg_perm perm) { return role < REG_ROLE_COUNT && matrix[role][perm]; }

static void token_hash(const char *token, char out[65]) { util_sha256_hex(token, strlen(token), out); }

int reg_authenticate(reg_registry *r, const char *token, reg_principal *out)
{
	char hash[65], role[32];
	int rc;
	if (!token || strncmp(token, "mlr_", 4) != 0 || strlen(token) > 200)
		return mlreg_error_set(MLREG_EAUTH, "invalid or revoked token");
	token_hash(token, hash);
	rc = r->meta->ops->token_lookup(r->meta, hash, out->principal, sizeof(out->principal), role, sizeof(role),
					out->token_name, sizeof(out->token_name));
	if (rc < 0)
		return rc;
	return reg_role_parse(role, &out->role);
}

static int new_token(char *out, size_t outsz)
{
	char body[64];
	int rc = util_random_token(body, sizeof(body), 32);
	if (rc == 0)
		snprintf(out, outsz, "mlr_%s", body);
	return rc;
}

static int insert_token(reg_registry *r, reg_tx *tx, const char *actor, const char *name, const char *role,
			const char *principal, char *token, size_t toksz)
{
	char hash[65];
	cJSON *d;
	int rc;
	if ((rc = new_token(token, toksz)) < 0)
		return rc;
	token_hash(token, hash);
	if ((rc = r->meta->ops->token_insert(tx, name, principal, role, hash, actor, util_now_ms())) < 0)
		return rc;
	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "role", role);
	cJSON_AddStringToObject(d, "principal", principal);
	rc = reg_audit_append(r->meta, tx, actor, "token.create", name, NULL, d);
	cJSON_Delete(d);
	return rc;
}

static bool principal_valid(const char *p)
{
	size_t n = p ? strlen(p) : 0;
	if (n == 0 || n > 100)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("._-@+:", c)))
			return false;
	}
	return true;
}

int reg_token_create(reg_registry *r, const reg_principal *who, const char *name, const char *role,
		     const char *principal, cJSON **out)
{
	reg_role rl;
	reg_tx *tx = NULL;
	char token[96];
	int rc;
	if (!principal_valid(name))
		return mlreg_error_set(MLREG_EINVALID, "invalid token name '%s': use letters, digits and ._-@+:", name ? name : "");
	if ((rc = reg_role_parse(role, &rl)) < 0)
		return rc;
	if (!principal)
		principal = name;
	if (!principal_valid(principal))
		return mlreg_error_set(MLREG_EINVALID, "invalid principal '%s'", principal);
	if ((rc = r->meta->ops->begin(r->meta, &tx)) < 0)
		return rc;
	if ((rc = insert_token(r, tx, who->principal, name, role, principal, token, sizeof(token))) < 0) {
		r->meta->ops->rollback(tx);
		return rc;
	}
	if ((rc = r->meta->ops->commit(tx)) < 0)
		return rc;
	*out = cJSON_CreateObject();
	cJSON_AddStringToObject(*out, "name", name);
	cJSON_AddStringToObject(*out, "role", role);
	cJSON_AddStringToObject(*out, "principal", principal);
	cJSON_AddStringToObject(*out, "token", token);
	return 0;
}

int reg_token_list(reg_registry *r, cJSON **out) { return r->meta->ops->token_list(r->meta, out); }

int reg_token_revoke(reg_registry *r, const reg_principal *who, const char *name, cJSON **out)
{
	reg_tx *tx = NULL;
	int rc;
	if ((rc = r->meta->ops->begin(r->meta, &tx)) < 0)
		return rc;
	if ((rc = r->meta->ops->token_revoke(tx, name, util_now_ms())) < 0 ||
	    (rc = reg_audit_append(r->meta, tx, who->principal, "token.revoke", name, NULL, NULL)) < 0) {
		r->meta->ops->rollback(tx);
		return rc;
	}
	if ((rc = r->meta->ops->commit(tx)) < 0)
		return rc;
	*out = cJSON_CreateObject();
	cJSON_AddStringToObject(*out, "name", name);
	cJSON_AddBoolToObject(*out, "revoked", true);
	return 0;
}

static int lock_dir(reg_registry *r)
{
	char path[PATH_MAX], pid[32];
	snprintf(path, sizeof(path), "%s/lock", r->data_dir);
	r->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (r->lock_fd < 0)
		return mlreg_error_set(MLREG_EIO, "cannot open lock file '%s': %s", path, strerror(errno));
	if (flock(r->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		char other[32] = "";
		ssize_t n = pread(r->lock_fd, other, sizeof(other) - 1, 0);
		other[n > 0 ? n : 0] = '\0';
		other[strcspn(other, "\n")] = '\0';
		close(r->lock_fd);
		r->lock_fd = -1;
		return mlreg_error_set(MLREG_ECONFLICT, "data directory '%s' is locked by another mlreg server (pid %s)",
				       r->data_dir, other[0] ? other : "?");
	}
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(r->lock_fd, 0) == 0 && pwrite(r->lock_fd, pid, strlen(pid), 0) < 0)
		LOG_WARN("cannot write pid to lock file");
	return 0;
}

static int bootstrap(reg_registry *r)
{
	int64_t count = 0;
	reg_tx *tx = NULL;
	char token[96], path[PATH_MAX], line[128];
	int rc;
	if ((rc = r->meta->ops->token_count(r->meta, &count)) < 0 || count > 0)
		return rc;
	if ((rc = r->meta->ops->begin(r->meta, &tx)) < 0)
		return rc;
	if ((rc = insert_token(r, tx, "system", "bootstrap-admin", "admin", "admin", token, sizeof(token))) < 0) {
		r->meta->ops->rollback(tx);
		return rc;
	}
	snprintf(path, sizeof(path), "%s/admin.token", r->data_dir);
	snprintf(line, sizeof(line), "%s\n", token);
	/* the file is written before the commit: a crash in between leaves a
	 * token file that does not work and a retry at the next start */
	if ((rc = util_write_file_atomic(path, line, strlen(line), 0600)) < 0) {
		r->meta->ops->rollback(tx);
		return rc;
	}
	if ((rc = r->meta->ops->commit(tx)) < 0)
		return rc;
	snprintf(r->bootstrap_path, sizeof(r->bootstrap_path), "%s", path);
	return 0;
}

int reg_open(const reg_config *cfg, reg_registry **out)
{
	reg_registry *r = calloc(1, sizeof(*r));
	char real[PATH_MAX];
	int rc;
	if (!r)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	r->lock_fd = -1;
	r->cfg = *cfg;
	if (!r->cfg.gc_grace_ms)
		r->cfg.gc_grace_ms = 3600 * 1000;
	if (!r->cfg.upload_ttl_ms)
		r->cfg.upload_ttl_ms = 24 * 3600 * 1000;
	if (!r->cfg.max_files)
		r->cfg.max_files = 100000;
	pthread_mutex_init(&r->upload_mu, NULL);
	{
		pthread_rwlockattr_t ra;
		pthread_rwlockattr_init(&ra);
		/* gc must not starve behind a steady stream of uploads */
		pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&r->blob_gate, &ra);
		pthread_rwlockattr_destroy(&ra);
	}
	if ((rc = util_mkdir_p(cfg->data_dir, 0755)) < 0)
		goto fail;
	if (!realpath(cfg->data_dir, real) || strlen(real) > 3000) {
		rc = mlreg_error_set(MLREG_EIO, "cannot resolve data directory '%s'", cfg->data_dir);
		goto fail;
	}
	snprintf(r->data_dir, sizeof(r->data_dir), "%.3000s", real);
	r->cfg.data_dir = r->data_dir;
	if (cfg->db_only) {
		char db[3100];
		struct stat sb;
		snprintf(db, sizeof(db), "%s/registry.db", r->data_dir);
		if (stat(db, &sb) != 0) {
			rc = mlreg_error_set(MLREG_ENOTFOUND, "no registry database in '%s' (start mlreg server on it once)",
					     r->data_dir);
			goto fail;
		}
		if ((rc = reg_meta_sqlite_new(r->data_dir, cfg->busy_timeout_ms, cfg->db_mmap_bytes, &r->meta)) < 0)
			goto fail;
		*out = r;
		return 0;
	}
	if ((rc = lock_dir(r)) < 0)
		goto fail;
	if ((rc = reg_meta_sqlite_new(r->data_dir, cfg->busy_timeout_ms, cfg->db_mmap_bytes, &r->meta)) < 0)
		goto fail;
	if ((rc = reg_blobstore_fs_new(r->data_dir, &r->blobs)) < 0)
		goto fail;
	/* nothing is uploading yet: every anonymous temporary is a leftover of
	 * a crash; sessions stay resumable until their TTL */
	r->blobs->ops->sweep_tmp(r->blobs, 0, r->cfg.upload_ttl_ms);
	if ((rc = bootstrap(r)) < 0)
		goto fail;
	*out = r;
	return 0;
fail:
	reg_close(r);
	return rc;
}

void reg_close(reg_registry *r)
{
	if (!r)
		return;
	if (r->meta)
		r->meta->ops->free(r->meta);
	if (r->blobs)
		r->blobs->ops->free(r->blobs);
	reg_uploads_clear(r);
	if (r->lock_fd >= 0)
		close(r->lock_fd);
	pthread_mutex_destroy(&r->upload_mu);
	pthread_rwlock_destroy(&r->blob_gate);
	free(r);
}

const char *reg_bootstrap_token_path(const reg_registry *r) { return r->bootstrap_path[0] ? r->bootstrap_path : NULL; }
reg_meta *reg_meta_of(reg_registry *r) { return r->meta; }
reg_blobstore *reg_blobs_of(reg_registry *r) { return r->blobs; }

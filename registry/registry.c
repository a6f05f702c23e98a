/*
 * registry.c - opening a data directory, principals and roles.
 *
 * The data directory is guarded by an flock()ed lock file held for the
 * life of the process: two servers on one directory would each believe they
 * are the only writer.  A second lock file, gc.lock, is shared between gc
 * (exclusive) and `mlreg backup` (shared): see registry/backup.c.  Tokens themselves live in tokens.c.  The role matrix lives here, in one table, and is written out
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
#include "registry/backup.h"
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
	if ((rc = reg_token_insert_in(r, tx, "system", "bootstrap-admin", "admin", "admin", NULL, token, sizeof(token))) < 0) {
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
	r->gc_lock_fd = -1;
	r->cfg = *cfg;
	if (!r->cfg.gc_grace_ms)
		r->cfg.gc_grace_ms = 3600 * 1000;
	if (!r->cfg.upload_ttl_ms)
		r->cfg.upload_ttl_ms = 24 * 3600 * 1000;
	if (!r->cfg.max_files)
		r->cfg.max_files = 100000;
	pthread_mutex_init(&r->upload_mu, NULL);
	pthread_mutex_init(&r->usage_mu, NULL);
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
	if ((rc = reg_gc_lock_open(r->data_dir, &r->gc_lock_fd)) < 0)
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
	if (r->gc_lock_fd >= 0)
		close(r->gc_lock_fd);
	reg_token_usage_clear(r);
	pthread_mutex_destroy(&r->upload_mu);
	pthread_mutex_destroy(&r->usage_mu);
	pthread_rwlock_destroy(&r->blob_gate);
	free(r);
}

const char *reg_bootstrap_token_path(const reg_registry *r) { return r->bootstrap_path[0] ? r->bootstrap_path : NULL; }
reg_meta *reg_meta_of(reg_registry *r) { return r->meta; }
reg_blobstore *reg_blobs_of(reg_registry *r) { return r->blobs; }

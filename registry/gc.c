/*
 * gc.c - garbage collection and integrity checking of blobs.
 *
 * gc is mark-and-sweep under the writer lock: a blob is garbage when no
 * live (not deleted) version lists it as a file or as its manifest, and it
 * was recorded longer ago than the grace period - the grace spares blobs an
 * in-progress push has uploaded but not yet referenced.  Version creation
 * re-checks its blobs under the same lock, so a push and gc never race into
 * a version with missing bytes.  Rows are deleted in the transaction and the
 * files only after it commits: a failure or crash in between leaves orphan
 * files that cost space, never a row without bytes.
 * fsck rehashes every blob the database knows and reports mismatches and
 * missing files.
 * A sweep also takes DATA/gc.lock exclusively, without waiting: `mlreg
 * backup` holds it shared while it copies the blobs of its snapshot, and
 * a blob deleted under it would make the backup fail or, worse, miss bytes
 * its database copy lists.  gc then answers a conflict and deletes nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include "registry/registry_int.h"

typedef struct {
	reg_registry *r;
	reg_tx *tx;
	bool dry;
	int64_t deleted, freed;
	cJSON *doomed; /* digests whose rows go in this transaction */
} gc_ctx;

static int sweep_one(const char *digest, uint64_t size, int64_t created_at, void *p)
{
	gc_ctx *g = p;
	int rc;
	if (!g->dry) {
		if ((rc = g->r->meta->ops->blob_forget(g->tx, digest)) < 0)
			return rc;
		cJSON_AddItemToArray(g->doomed, cJSON_CreateString(digest));
	}
	g->deleted++;
	g->freed += (int64_t)size;
	return 0;
}

static void gc_unlock(reg_registry *r, bool dry_run)
{
	if (!dry_run && r->gc_lock_fd >= 0)
		flock(r->gc_lock_fd, LOCK_UN);
	pthread_rwlock_unlock(&r->blob_gate);
}

int reg_gc(reg_registry *r, const reg_principal *who, bool dry_run, cJSON **out)
{
	gc_ctx g = {.r = r, .dry = dry_run, .doomed = cJSON_CreateArray()};
	int64_t cutoff = util_now_ms() - r->cfg.gc_grace_ms, pending = 0;
	int swept = 0, rc;
	cJSON *details;
	pthread_rwlock_wrlock(&r->blob_gate);
	if (!dry_run && r->gc_lock_fd >= 0 && flock(r->gc_lock_fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? mlreg_error_set(MLREG_ECONFLICT,
							   "a backup is running: gc deletes nothing until it ends, try again later")
					  : mlreg_error_set(MLREG_EIO, "cannot lock gc.lock: %s", strerror(errno));
		pthread_rwlock_unlock(&r->blob_gate);
		cJSON_Delete(g.doomed);
		return rc;
	}
	if ((rc = META(r)->begin(r->meta, &g.tx)) < 0) {
		gc_unlock(r, dry_run);
		cJSON_Delete(g.doomed);
		return rc;
	}
	if ((rc = META(r)->blob_garbage(g.tx, cutoff, sweep_one, &g)) < 0 ||
	    (rc = META(r)->blob_pending_count(g.tx, cutoff, &pending)) < 0)
		goto fail;
	if (!dry_run) {
		details = cJSON_CreateObject();
		cJSON_AddNumberToObject(details, "deleted_blobs", (double)g.deleted);
		cJSON_AddNumberToObject(details, "freed_bytes", (double)g.freed);
		rc = reg_audit_append(r->meta, g.tx, who->principal, "gc", "blobs", NULL, details);
		cJSON_Delete(details);
		if (rc < 0)
			goto fail;
		if ((rc = META(r)->commit(g.tx)) < 0) {
			gc_unlock(r, dry_run);
			cJSON_Delete(g.doomed);
			return rc;
		}
		/* files go only once their rows are gone for good: a failed commit
		 * must not leave rows without bytes (a crash here leaves orphan
		 * files, which cost space and nothing else) */
		for (const cJSON *d = g.doomed->child; d; d = d->next)
			if (r->blobs->ops->remove(r->blobs, d->valuestring) < 0)
				LOG_WARN("gc: %s", mlreg_error_last());
		swept = r->blobs->ops->sweep_tmp(r->blobs, r->cfg.upload_ttl_ms, r->cfg.upload_ttl_ms);
	} else {
		META(r)->rollback(g.tx);
	}
	gc_unlock(r, dry_run);
	*out = cJSON_CreateObject();
	cJSON_AddBoolToObject(*out, "dry_run", dry_run);
	cJSON_AddNumberToObject(*out, "deleted_blobs", (double)g.deleted);
	cJSON_AddNumberToObject(*out, "freed_bytes", (double)g.freed);
	cJSON_AddNumberToObject(*out, "kept_pending", (double)pending);
	cJSON_AddNumberToObject(*out, "swept_uploads", swept);
	cJSON_Delete(g.doomed);
	return 0;
fail:
	META(r)->rollback(g.tx);
	gc_unlock(r, dry_run);
	cJSON_Delete(g.doomed);
	return rc;
}

typedef struct {
	reg_registry *r;
	int64_t checked;
	cJSON *bad;
} fsck_ctx;

static int check_one(const char *digest, uint64_t size, int64_t created_at, void *p)
{
	fsck_ctx *f = p;
	uint64_t got = 0;
	int rc = f->r->blobs->ops->verify(f->r->blobs, digest, &got);
	f->checked++;
	/* gc may have removed it since this page of rows was read */
	if (rc == MLREG_ENOTFOUND && f->r->meta->ops->blob_known(f->r->meta, digest, NULL) == MLREG_ENOTFOUND) {
		mlreg_error_clear();
		return 0;
	}
	if (rc < 0 || got != size) {
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "digest", digest);
		cJSON_AddStringToObject(e, "path", f->r->blobs->ops->locate(f->r->blobs, digest));
		if (rc == MLREG_ENOTFOUND)
			cJSON_AddStringToObject(e, "problem", "missing");
		else if (rc < 0)
			cJSON_AddStringToObject(e, "problem", mlreg_error_last());
		else
			cJSON_AddStringToObject(e, "problem", "size differs from the recorded size");
		cJSON_AddItemToArray(f->bad, e);
	}
	return 0;
}

int reg_fsck(reg_registry *r, cJSON **out)
{
	fsck_ctx f = {.r = r, .bad = cJSON_CreateArray()};
	int rc = META(r)->blob_each(r->meta, check_one, &f);
	if (rc < 0) {
		cJSON_Delete(f.bad);
		return rc;
	}
	*out = cJSON_CreateObject();
	cJSON_AddNumberToObject(*out, "checked", (double)f.checked);
	cJSON_AddItemToObject(*out, "bad", f.bad);
	return 0;
}

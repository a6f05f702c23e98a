/*
 * blobs.c - getting bytes into the registry: monolithic blob uploads and
 * OCI-style resumable upload sessions, both ending in the blob store's
 * commit and a `blobs` row.
 *
 * A session is just a named temporary in the blob store; a request that
 * appends to it "claims" it so two PATCHes can never interleave bytes.  The
 * claim is in memory: after a restart every session is unclaimed and its
 * hash is rebuilt from the bytes on disk, so a client can always resume
 * from GET /uploads/{id}'s offset.  The database row is written only after
 * the blob is durable, so a row always means the bytes exist.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry/registry_int.h"

struct reg_blob_writer {
	reg_registry *r;
	reg_blob_tmp *tmp;
};

struct reg_upload_slot {
	char id[33];
	reg_upload_slot *next;
};

struct reg_upload {
	reg_registry *r;
	char id[33];
	reg_blob_tmp *tmp;
};

static int record(reg_registry *r, const char *digest, uint64_t size)
{
	reg_tx *tx = NULL;
	int rc;
	if ((rc = META(r)->begin(r->meta, &tx)) < 0)
		return rc;
	if ((rc = META(r)->blob_record(tx, digest, size, util_now_ms())) < 0) {
		META(r)->rollback(tx);
		return rc;
	}
	return META(r)->commit(tx);
}

int reg_blob_writer_new(reg_registry *r, reg_blob_writer **out)
{
	reg_blob_writer *w = calloc(1, sizeof(*w));
	int rc;
	if (!w)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	w->r = r;
	if ((rc = r->blobs->ops->tmp_new(r->blobs, &w->tmp)) < 0) {
		free(w);
		return rc;
	}
	*out = w;
	return 0;
}

int reg_blob_writer_write(reg_blob_writer *w, const void *data, size_t len)
{
	return w->r->blobs->ops->tmp_write(w->tmp, data, len);
}

int reg_blob_writer_commit(reg_blob_writer *w, const char *expect, char digest[UTIL_DIGEST_LEN + 1], uint64_t *size)
{
	reg_registry *r = w->r;
	int rc = r->blobs->ops->tmp_commit(w->tmp, expect, digest, size);
	w->tmp = NULL;
	free(w);
	if (rc < 0)
		return rc;
	return record(r, digest, *size);
}

void reg_blob_writer_free(reg_blob_writer *w)
{
	if (!w)
		return;
	if (w->tmp)
		w->r->blobs->ops->tmp_abort(w->tmp);
	free(w);
}

int reg_blob_stat(reg_registry *r, const char *digest, uint64_t *size)
{
	if (!util_digest_valid(digest))
		return mlreg_error_set(MLREG_EINVALID, "invalid digest '%s': expected sha256:<64 hex>", digest);
	return META(r)->blob_known(r->meta, digest, size);
}

int reg_blob_open(reg_registry *r, const char *digest, int *fd, uint64_t *size)
{
	int rc = reg_blob_stat(r, digest, NULL);
	if (rc < 0)
		return rc;
	return r->blobs->ops->open(r->blobs, digest, fd, size);
}

/* ---- sessions ---- */
static bool claimed(reg_registry *r, const char *id)
{
	for (reg_upload_slot *s = r->uploads; s; s = s->next)
		if (!strcmp(s->id, id))
			return true;
	return false;
}

static void unclaim(reg_registry *r, const char *id)
{
	pthread_mutex_lock(&r->upload_mu);
	for (reg_upload_slot **p = &r->uploads; *p; p = &(*p)->next) {
		if (!strcmp((*p)->id, id)) {
			reg_upload_slot *s = *p;
			*p = s->next;
			free(s);
			break;
		}
	}
	pthread_mutex_unlock(&r->upload_mu);
}

void reg_uploads_clear(reg_registry *r)
{
	while (r->uploads) {
		reg_upload_slot *s = r->uploads;
		r->uploads = s->next;
		free(s);
	}
}

int reg_upload_create(reg_registry *r, char id[33])
{
	reg_blob_tmp *t = NULL;
	int rc;
	if ((rc = util_random_hex(id, 16)) < 0)
		return rc;
	if ((rc = r->blobs->ops->tmp_open_named(r->blobs, id, true, &t)) < 0)
		return rc;
	r->blobs->ops->tmp_close(t);
	return 0;
}

int reg_upload_offset(reg_registry *r, const char *id, uint64_t *offset)
{
	return r->blobs->ops->tmp_named_size(r->blobs, id, offset);
}

int reg_upload_claim(reg_registry *r, const char *id, int64_t start, uint64_t *offset, reg_upload **out)
{
	reg_upload_slot *slot;
	reg_upload *u;
	int rc;
	pthread_mutex_lock(&r->upload_mu);
	if (claimed(r, id)) {
		pthread_mutex_unlock(&r->upload_mu);
		return mlreg_error_set(MLREG_ECONFLICT, "upload '%s' is busy with another request", id);
	}
	slot = calloc(1, sizeof(*slot));
	if (!slot) {
		pthread_mutex_unlock(&r->upload_mu);
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	snprintf(slot->id, sizeof(slot->id), "%s", id);
	slot->next = r->uploads;
	r->uploads = slot;
	pthread_mutex_unlock(&r->upload_mu);

	u = calloc(1, sizeof(*u));
	if (!u) {
		unclaim(r, id);
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	u->r = r;
	snprintf(u->id, sizeof(u->id), "%s", id);
	if ((rc = r->blobs->ops->tmp_open_named(r->blobs, id, false, &u->tmp)) < 0) {
		unclaim(r, id);
		free(u);
		return rc;
	}
	*offset = r->blobs->ops->tmp_size(u->tmp);
	if (start >= 0 && (uint64_t)start != *offset) {
		r->blobs->ops->tmp_close(u->tmp);
		unclaim(r, id);
		free(u);
		return mlreg_error_set(MLREG_ERANGE, "upload '%s' is at offset %llu, chunk starts at %lld", id,
				       (unsigned long long)*offset, (long long)start);
	}
	*out = u;
	return 0;
}

int reg_upload_write(reg_upload *u, const void *data, size_t len)
{
	return u->r->blobs->ops->tmp_write(u->tmp, data, len);
}

uint64_t reg_upload_size(const reg_upload *u) { return u->r->blobs->ops->tmp_size(u->tmp); }

void reg_upload_release(reg_upload *u)
{
	if (!u)
		return;
	if (u->tmp)
		u->r->blobs->ops->tmp_close(u->tmp);
	unclaim(u->r, u->id);
	free(u);
}

int reg_upload_finish(reg_upload *u, const char *expect, char digest[UTIL_DIGEST_LEN + 1], uint64_t *size)
{
	reg_registry *r = u->r;
	int rc = r->blobs->ops->tmp_commit(u->tmp, expect, digest, size);
	u->tmp = NULL;
	unclaim(r, u->id);
	free(u);
	if (rc < 0)
		return rc;
	return record(r, digest, *size);
}

int reg_upload_cancel(reg_registry *r, const char *id)
{
	reg_upload *u = NULL;
	uint64_t off;
	int rc = reg_upload_claim(r, id, -1, &off, &u);
	if (rc < 0)
		return rc;
	r->blobs->ops->tmp_abort(u->tmp);
	u->tmp = NULL;
	reg_upload_release(u);
	return 0;
}

/*
 * blobs.c - getting bytes into the registry: monolithic blob uploads and
 * OCI-style resumable upload sessions, both ending in the blob store's
 * commit and a `blobs` row.
 *
 * A session is just a named temporary in the blob store; a request that
 * appends to it "claims" it so two PATCHes can never interleave bytes.  The
 * claim is in memory, and so is the session's running hash between requests
 * (a session of many chunks is hashed once, not once per chunk); after a
 * restart every session is unclaimed and its hash is rebuilt from the bytes
 * on disk, so a client can always resume from GET /uploads/{id}'s offset.  The database row is written only after
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
	uint64_t gen;       /* bumped by every claim: the newest claim owns the session */
	int refs;           /* live reg_upload handles on this session */
	util_sha256 *hash;  /* hash of the first `hashed` bytes, kept between requests */
	uint64_t hashed;
	pthread_mutex_t mu; /* serialises writes and the hand-over between claims */
	reg_upload_slot *next;
};

struct reg_upload {
	reg_registry *r;
	reg_upload_slot *slot;
	uint64_t gen;
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
	int rc;
	pthread_rwlock_rdlock(&r->blob_gate);
	rc = r->blobs->ops->tmp_commit(w->tmp, expect, digest, size);
	w->tmp = NULL;
	free(w);
	if (rc == 0)
		rc = record(r, digest, *size);
	pthread_rwlock_unlock(&r->blob_gate);
	return rc;
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

/* ---- sessions ----
 * A claim never waits for an older one: a client that resumes after a
 * dropped connection must not be blocked by a server-side request that has
 * not noticed the drop yet (libmicrohttpd can miss a FIN that arrives with
 * a full buffer until the idle timeout).  The newest claim takes the session
 * over under the slot's mutex; the older request's later writes are refused,
 * so no two requests ever interleave bytes. */
static reg_upload_slot *slot_get(reg_registry *r, const char *id)
{
	reg_upload_slot *s;
	pthread_mutex_lock(&r->upload_mu);
	for (s = r->uploads; s; s = s->next)
		if (!strcmp(s->id, id))
			break;
	if (!s && (s = calloc(1, sizeof(*s)))) {
		snprintf(s->id, sizeof(s->id), "%s", id);
		pthread_mutex_init(&s->mu, NULL);
		s->next = r->uploads;
		r->uploads = s;
	}
	if (s)
		s->refs++;
	pthread_mutex_unlock(&r->upload_mu);
	return s;
}

static void slot_free(reg_upload_slot *s)
{
	util_sha256_free(s->hash);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* Idle slots keep only their remembered hash; past this many, forget them
 * (the next claim then rereads the session once). */
#define MAX_IDLE_SLOTS 4096

static void slot_put(reg_registry *r, reg_upload_slot *slot)
{
	int idle = 0;
	pthread_mutex_lock(&r->upload_mu);
	for (reg_upload_slot *s = r->uploads; s; s = s->next)
		idle += s->refs == 0;
	if (--slot->refs == 0 && (!slot->hash || idle >= MAX_IDLE_SLOTS)) {
		for (reg_upload_slot **p = &r->uploads; *p; p = &(*p)->next)
			if (*p == slot) {
				*p = slot->next;
				break;
			}
		slot_free(slot);
	}
	pthread_mutex_unlock(&r->upload_mu);
}

/* Forget the remembered hash (the session is finished, gone or suspect). */
static void slot_forget(reg_upload_slot *s)
{
	util_sha256_free(s->hash);
	s->hash = NULL;
	s->hashed = 0;
}

void reg_uploads_clear(reg_registry *r)
{
	while (r->uploads) {
		reg_upload_slot *s = r->uploads;
		r->uploads = s->next;
		slot_free(s);
	}
}

int reg_upload_create(reg_registry *r, char id[33])
{
	reg_blob_tmp *t = NULL;
	int rc;
	if ((rc = util_random_hex(id, 16)) < 0)
		return rc;
	if ((rc = r->blobs->ops->tmp_open_named(r->blobs, id, true, NULL, 0, &t)) < 0)
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
	reg_upload *u = calloc(1, sizeof(*u));
	int rc;
	if (!u || !(u->slot = slot_get(r, id))) {
		free(u);
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	u->r = r;
	/* holding the slot's mutex stops any older claim's writes while we read
	 * the session; only a claim that is accepted takes it over */
	pthread_mutex_lock(&u->slot->mu);
	rc = r->blobs->ops->tmp_open_named(r->blobs, id, false, u->slot->hash, u->slot->hashed, &u->tmp);
	if (rc < 0)
		slot_forget(u->slot);
	if (rc == 0) {
		*offset = r->blobs->ops->tmp_size(u->tmp);
		if (start >= 0 && (uint64_t)start != *offset)
			rc = mlreg_error_set(MLREG_ERANGE, "upload '%s' is at offset %llu, chunk starts at %lld", id,
					     (unsigned long long)*offset, (long long)start);
		else
			u->gen = ++u->slot->gen; /* any older claim loses the session here */
	}
	pthread_mutex_unlock(&u->slot->mu);
	if (rc < 0) {
		reg_upload_release(u);
		return rc;
	}
	*out = u;
	return 0;
}

int reg_upload_write(reg_upload *u, const void *data, size_t len)
{
	int rc;
	pthread_mutex_lock(&u->slot->mu);
	if (u->gen != u->slot->gen)
		rc = mlreg_error_set(MLREG_ECONFLICT, "upload '%s' was taken over by a newer request", u->slot->id);
	else
		rc = u->r->blobs->ops->tmp_write(u->tmp, data, len);
	pthread_mutex_unlock(&u->slot->mu);
	return rc;
}

uint64_t reg_upload_size(const reg_upload *u) { return u->r->blobs->ops->tmp_size(u->tmp); }

void reg_upload_release(reg_upload *u)
{
	if (!u)
		return;
	if (u->tmp) {
		/* the owner remembers where the hash stands for the next chunk */
		pthread_mutex_lock(&u->slot->mu);
		if (u->gen == u->slot->gen) {
			slot_forget(u->slot);
			u->slot->hash = u->r->blobs->ops->tmp_hash_state(u->tmp);
			u->slot->hashed = u->slot->hash ? u->r->blobs->ops->tmp_size(u->tmp) : 0;
		}
		pthread_mutex_unlock(&u->slot->mu);
		u->r->blobs->ops->tmp_close(u->tmp);
	}
	slot_put(u->r, u->slot);
	free(u);
}

int reg_upload_finish(reg_upload *u, const char *expect, char digest[UTIL_DIGEST_LEN + 1], uint64_t *size)
{
	reg_registry *r = u->r;
	int rc;
	pthread_rwlock_rdlock(&r->blob_gate);
	pthread_mutex_lock(&u->slot->mu);
	if (u->gen != u->slot->gen) {
		rc = mlreg_error_set(MLREG_ECONFLICT, "upload '%s' was taken over by a newer request", u->slot->id);
	} else {
		rc = r->blobs->ops->tmp_commit(u->tmp, expect, digest, size);
		u->tmp = NULL;
		slot_forget(u->slot); /* the session is gone either way */
	}
	pthread_mutex_unlock(&u->slot->mu);
	reg_upload_release(u);
	if (rc == 0)
		rc = record(r, digest, *size);
	pthread_rwlock_unlock(&r->blob_gate);
	return rc;
}

int reg_upload_cancel(reg_registry *r, const char *id)
{
	/* no need to open (and rehash) the session just to drop it: take it
	 * over so any request still writing stops, then remove its file */
	reg_upload_slot *slot = slot_get(r, id);
	int rc;
	if (!slot)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	pthread_mutex_lock(&slot->mu);
	slot->gen++;
	rc = r->blobs->ops->tmp_remove_named(r->blobs, id);
	slot_forget(slot);
	pthread_mutex_unlock(&slot->mu);
	slot_put(r, slot);
	return rc;
}

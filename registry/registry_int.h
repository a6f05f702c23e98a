/*
 * registry_int.h - the registry handle, shared by the registry folder only.
 */
#ifndef MLREG_REGISTRY_INT_H
#define MLREG_REGISTRY_INT_H

#include <limits.h>
#include <pthread.h>
#include "registry/registry.h"

typedef struct reg_upload_slot reg_upload_slot;
typedef struct reg_usage_ent reg_usage_ent;
#define REG_USAGE_BUCKETS 256

struct reg_registry {
	reg_config cfg;
	char data_dir[3072];
	char bootstrap_path[PATH_MAX];
	int lock_fd;
	/* DATA/gc.lock: `mlreg backup` holds it shared while it copies; gc
	 * takes it exclusively without waiting, so no blob a backup is copying
	 * can go (registry/backup.c) */
	int gc_lock_fd;
	reg_meta *meta;
	reg_blobstore *blobs;
	/* gc takes it exclusively for its whole run; making a blob visible
	 * (link into place + its row) and creating a version take it shared.
	 * Without it gc could delete a file that a concurrent upload had just
	 * found already present (EEXIST) and was about to record. */
	pthread_rwlock_t blob_gate;
	pthread_mutex_t upload_mu;
	reg_upload_slot *uploads; /* sessions some request holds */
	void (*event_hook)(void *ctx); /* wakes the webhook sender */
	void *event_ctx;
	void (*ctl_hook)(void *ctx);   /* wakes the reconciler of this process */
	void *ctl_ctx;
	/* last use of each token, in memory until reg_token_flush_usage */
	pthread_mutex_t usage_mu;
	reg_usage_ent *usage[REG_USAGE_BUCKETS];
};

void reg_uploads_clear(reg_registry *r);
/* Insert a token row and its audit entry inside tx (tokens.c); token gets
 * the new secret.  scope may be NULL. */
int reg_token_insert_in(reg_registry *r, reg_tx *tx, const char *actor, const char *name, const char *role,
			const char *principal, const reg_token_scope *scope, char *token, size_t toksz);
void reg_token_usage_clear(reg_registry *r);
/* Forget events queued (and a generation moved) by a transaction that is
 * being rolled back. */
void reg_events_discard(void);
/* Bump the controller generation inside tx (events.c): every change a
 * reconciler must react to calls it; reg_commit then calls the controller
 * hook.  Roll back through promo_finish (or call reg_events_discard). */
int reg_ctl_touch(reg_registry *r, reg_tx *tx);
/* Shared by promotion.c and policies.c. */
int promo_bad_model(const char *model);
int promo_model_of(reg_registry *r, reg_tx *tx, const char *model, int64_t *id);
/* ENOTFOUND for a well-formed stage that is not configured */
int promo_stage_check(reg_registry *r, reg_tx *tx, const char *stage);
int promo_comment_of(const cJSON *body, const char **out);
/* EINVALID for a body that is not an object or has other members */
int promo_only_keys(const cJSON *body, const char *const *keys);
cJSON *promo_num_or_null(int64_t v);
/* A live (not deleted) version of ref of model_id. */
int promo_version_of(reg_registry *r, reg_tx *tx, const util_ref *ref, int64_t model_id, int64_t *number,
		     int64_t *vid);
/* Roll back on rc < 0, else commit (waking the webhook sender). */
int promo_finish(reg_registry *r, reg_tx *tx, int rc);
/* Resolve any ref to an existing (possibly deleted) version inside tx. */
int reg_resolve_in(reg_registry *r, reg_tx *tx, const util_ref *ref, int64_t *number, int64_t *vid);
/* Lineage of a version being created (lineage.c): check the body's
 * "lineage" before the transaction, record it inside. */
int reg_lineage_validate(const cJSON *lineage);
int reg_lineage_record(reg_registry *r, reg_tx *tx, const char *model, int64_t number, int64_t vid,
		       const cJSON *lineage, cJSON *audit_details);
/* Evaluate stage's gate for a version inside tx (gate.c). */
int reg_gate_eval(reg_registry *r, reg_tx *tx, const char *model, int64_t model_id, int64_t version_id,
		  const char *stage, cJSON **out, bool *passed);
/* What a deployment row (store.h deploy_rows) should serve now, inside tx:
 * {"version","digest","via"} with via the kind of the stage's last move
 * ("promote", "rollback") or "alias"; JSON null when the stage is empty or
 * the alias unset.  Caller frees *out.  (deploy_status.c) */
int deploy_desired(reg_registry *r, reg_tx *tx, const cJSON *row, cJSON **out);
/* A node row (store.h node_rows) as docs/api.md's node object (caller
 * frees).  (deploy_status.c) */
cJSON *deploy_node_public(const cJSON *row);
/* The status object of a deployment row, with the nodes rows (all of them:
 * the selector picks) read inside the same tx; caller frees *out. */
int deploy_status_of(reg_registry *r, reg_tx *tx, const cJSON *row, const cJSON *nodes, cJSON **out);
/* Shared by versions.c and bundle_import.c: check a version body's
 * description, metrics, params and tags; read a small blob whole (caller
 * frees *data; EINVALID past max); store bytes as a blob (durable, no row:
 * the caller records it inside its transaction). */
int reg_version_validate_metadata(const cJSON *body);
int reg_blob_read_small(reg_registry *r, const char *digest, size_t max, char **data, size_t *len);
int reg_blob_store_bytes(reg_registry *r, const char *data, size_t len, char digest[UTIL_DIGEST_LEN + 1]);
/* Shorthands for a write transaction with an audit entry. */
#define META(r) ((r)->meta->ops)

#endif

/*
 * registry.h - the registry's domain API: everything `mlreg server` can do,
 * with no knowledge of HTTP.  api/ turns requests into these calls; the
 * storage behind them is reached only through store.h.
 *
 * Conventions: functions return 0 or a negative MLREG_E* code with the
 * message in mlreg_error_last(); cJSON results in *out belong to the caller.
 * Calls marked (blocking) may fsync or write the database and must not run
 * on an HTTP event thread.
 */
#ifndef MLREG_REGISTRY_H
#define MLREG_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "registry/store.h"
#include "util/util.h"

typedef struct reg_registry reg_registry;

typedef struct {
	const char *data_dir;
	int64_t gc_grace_ms;      /* unreferenced blobs younger than this are spared (default 1h) */
	int64_t upload_ttl_ms;    /* idle upload sessions older than this are swept (default 24h) */
	int64_t busy_timeout_ms;  /* SQLite busy timeout (default 5s) */
	int64_t db_mmap_bytes;    /* bytes of the database readers memory-map (0: none) */
	uint64_t max_files;       /* files per version (default 100000) */
	bool db_only;             /* the database alone, for a reconciler in its own
				   * process (`mlreg controller`): no directory lock (the
				   * server holds it; SQLite arbitrates), no blob store,
				   * no bootstrap; the database must exist */
} reg_config;

/* Open DATA: take the exclusive directory lock, open and migrate the
 * database, open the blob store, and on first start write the bootstrap
 * admin token to DATA/admin.token (0600).  (blocking) */
int reg_open(const reg_config *cfg, reg_registry **out);
void reg_close(reg_registry *r);
/* Path of the bootstrap token file when this open created it, else NULL. */
const char *reg_bootstrap_token_path(const reg_registry *r);
reg_meta *reg_meta_of(reg_registry *r);
reg_blobstore *reg_blobs_of(reg_registry *r);

/* ---- principals and roles (docs/security.md) ---- */
typedef enum {
	REG_ROLE_READER, REG_ROLE_WRITER, REG_ROLE_APPROVER, REG_ROLE_DEPLOYER, REG_ROLE_ADMIN, REG_ROLE_NODE, REG_ROLE_COUNT
} reg_role;

typedef enum {
	REG_PERM_READ,      /* models, versions, search, diff, audit */
	REG_PERM_PULL,      /* blobs, manifests, version objects (nodes too) */
	REG_PERM_WRITE,     /* push, metrics, tags, deprecate */
	REG_PERM_DELETE,    /* rm (tombstone) */
	REG_PERM_ADMIN,     /* tokens, gc, fsck, stages, policies, webhooks, nodes */
	REG_PERM_APPROVE,   /* approve a version for a stage */
	REG_PERM_PROMOTE    /* promote, rollback, aliases, deployments, rollout verbs */
} reg_perm;

/* Who is asking.  models and stages are the token's scope (docs/security.md
 * "Token scopes, expiry and last use"); "" means unrestricted, so a zeroed
 * principal is unscoped. */
typedef struct {
	char principal[128];
	char token_name[128];
	reg_role role;
	char models[128];   /* fnmatch glob (no FNM_PATHNAME) of model names */
	char stages[256];   /* comma-separated stages its stage moves may target */
} reg_principal;

/* Why an authentication failed (logged and counted, never told apart to
 * the client). */
typedef enum {
	REG_AUTH_OK, REG_AUTH_MISSING, REG_AUTH_MALFORMED, REG_AUTH_UNKNOWN, REG_AUTH_REVOKED, REG_AUTH_EXPIRED,
	REG_AUTH_REASONS
} reg_auth_reason;
const char *reg_auth_reason_name(reg_auth_reason why);

const char *reg_role_name(reg_role role);
int reg_role_parse(const char *s, reg_role *out);
bool reg_role_allows(reg_role role, reg_perm perm);
/* Resolve a bearer token; MLREG_EAUTH when malformed, unknown, revoked or
 * expired.  Every lookup reads the database (no cache), so a revocation or
 * an expiry takes effect on the next request.  Success records the token's
 * last use in memory (see reg_token_flush_usage). */
int reg_authenticate(reg_registry *r, const char *token, reg_principal *out);
/* The same, telling why it failed in *why (REG_AUTH_OK on success, and
 * when the database failed rather than the token: then rc is not EAUTH). */
int reg_authenticate_why(reg_registry *r, const char *token, reg_principal *out, reg_auth_reason *why);
/* Whether who's scope covers model (NULL: no model named) and stage (NULL:
 * no stage-directed move). */
bool reg_scope_allows(const reg_principal *who, const char *model, const char *stage);
/* 0, or MLREG_EFORBIDDEN with a message that names neither the object nor
 * whether it exists. */
int reg_scope_check(const reg_principal *who, const char *model, const char *stage);
/* Whether the token is restricted to some models / some stages. */
bool reg_scope_models_limited(const reg_principal *who);
bool reg_scope_stages_limited(const reg_principal *who);
/* Check a models glob: 1 to 100 of [a-z0-9._/-] and the glob characters
 * *?[]!; MLREG_EINVALID otherwise. */
int reg_scope_glob_valid(const char *glob);

/* ---- blobs ---- */
typedef struct reg_blob_writer reg_blob_writer;
int reg_blob_writer_new(reg_registry *r, reg_blob_writer **out);
int reg_blob_writer_write(reg_blob_writer *w, const void *data, size_t len);
/* Finish: verify against expect (optional), store, record.  Frees w.
 * (blocking) */
int reg_blob_writer_commit(reg_blob_writer *w, const char *expect, char digest[UTIL_DIGEST_LEN + 1], uint64_t *size);
void reg_blob_writer_free(reg_blob_writer *w);
/* Size of a blob the registry knows; MLREG_ENOTFOUND otherwise. */
int reg_blob_stat(reg_registry *r, const char *digest, uint64_t *size);
int reg_blob_open(reg_registry *r, const char *digest, int *fd, uint64_t *size);

/* ---- resumable upload sessions ---- */
typedef struct reg_upload reg_upload;
int reg_upload_create(reg_registry *r, char id[33]);
int reg_upload_offset(reg_registry *r, const char *id, uint64_t *offset);
/* Claim a session for appending; start (or -1 for "wherever it is") must
 * equal its current size, else MLREG_ERANGE with *offset set.  The newest
 * claim wins: an older request still holding the session gets
 * MLREG_ECONFLICT on its next write. */
int reg_upload_claim(reg_registry *r, const char *id, int64_t start, uint64_t *offset, reg_upload **out);
int reg_upload_write(reg_upload *u, const void *data, size_t len);
/* Bytes in the claimed session so far. */
uint64_t reg_upload_size(const reg_upload *u);
/* Release the claim, keeping every byte written. */
void reg_upload_release(reg_upload *u);
/* Complete a claimed session: digest check, store, record; the session is
 * gone afterwards either way.  (blocking) */
int reg_upload_finish(reg_upload *u, const char *expect, char digest[UTIL_DIGEST_LEN + 1], uint64_t *size);
int reg_upload_cancel(reg_registry *r, const char *id);

/* ---- models and versions ---- */
int reg_model_create(reg_registry *r, const reg_principal *who, const cJSON *body, cJSON **out); /* (blocking) */
int reg_model_get(reg_registry *r, const char *name, cJSON **out);
int reg_model_list(reg_registry *r, const char *prefix, const cJSON *tags, int64_t limit, int64_t offset, cJSON **out);
int reg_model_tag(reg_registry *r, const reg_principal *who, const char *name, const cJSON *tags, cJSON **out); /* (blocking) */

/* Create a version from {"files","metrics","params","tags","description"}.
 * With an idempotency key, a repeated request returns the first answer.
 * *http_status gets 201 (or the remembered status).  On missing blobs the
 * error is MLREG_EINVALID and *missing (if given) lists their digests.
 * (blocking) */
int reg_version_create(reg_registry *r, const reg_principal *who, const char *model, const cJSON *body,
		       const char *idem_key, int *http_status, cJSON **out, cJSON **missing);
int reg_version_get(reg_registry *r, const char *model, int64_t number, bool with_files, cJSON **out);
/* The canonical manifest bytes of a version (heap, caller frees). */
int reg_version_manifest(reg_registry *r, const char *model, int64_t number, char **data, size_t *len,
			 char digest[UTIL_DIGEST_LEN + 1]);
int reg_version_search(reg_registry *r, const reg_search_query *q, cJSON **out);
int reg_version_log_metrics(reg_registry *r, const reg_principal *who, const char *model, int64_t number,
			    const cJSON *body, cJSON **out); /* (blocking) */
int reg_version_tag(reg_registry *r, const reg_principal *who, const char *model, int64_t number,
		    const cJSON *tags, cJSON **out); /* (blocking) */
int reg_version_deprecate(reg_registry *r, const reg_principal *who, const char *model, int64_t number, cJSON **out);
/* Tombstone: status deleted, bytes left to gc.  (blocking) */
int reg_version_delete(reg_registry *r, const reg_principal *who, const char *model, int64_t number, cJSON **out);
int reg_diff(reg_registry *r, const util_ref *a, const util_ref *b, cJSON **out);

/* Validate a tags object {"k":"v"|null}; allow_null permits deletions. */
int reg_validate_tags(const cJSON *tags, bool allow_null);

/* ---- manifests (manifest.c) ---- */
/* Check a files array and return a normalised copy sorted by path. */
int reg_manifest_normalise(const cJSON *files, uint64_t max_files, cJSON **out, uint64_t *total_size);
/* Canonical manifest bytes for a normalised files array (caller frees). */
int reg_manifest_encode(const cJSON *files, char **data, size_t *len);
/* Parse and check manifest bytes (as stored); *files is a normalised array. */
int reg_manifest_decode(const char *data, size_t len, cJSON **files);

/* ---- maintenance (gc.c) ---- */
/* MLREG_ECONFLICT ("a backup is running"), deleting nothing, while a
 * `mlreg backup` holds DATA/gc.lock; a dry run does not need the lock. */
int reg_gc(reg_registry *r, const reg_principal *who, bool dry_run, cJSON **out); /* (blocking) */
int reg_fsck(reg_registry *r, cJSON **out); /* (blocking) */

/* ---- tokens ---- */
int reg_token_create(reg_registry *r, const reg_principal *who, const char *name, const char *role,
		     const char *principal, cJSON **out); /* (blocking) */
typedef struct {
	const char *models;      /* glob or NULL (all) */
	const cJSON *stages;     /* array of stage names or NULL (all) */
	int64_t expires_in_ms;   /* 0: never */
} reg_token_scope;
/* reg_token_create with a scope and a lifetime.  (blocking) */
int reg_token_create_scoped(reg_registry *r, const reg_principal *who, const char *name, const char *role,
			    const char *principal, const reg_token_scope *scope, cJSON **out);
/* The body of POST /api/v1/tokens ({"name","role","principal"?,"models"?,
 * "stages"?,"expires_in"?}) checked and created.  (blocking) */
int reg_token_create_body(reg_registry *r, const reg_principal *who, const cJSON *body, cJSON **out);
/* {"tokens":[{"name","role","principal","created_at","created_by","revoked",
 * "models","stages","expires_at","expired","last_used_at","status"}]};
 * last_used_at includes uses not flushed yet. */
int reg_token_list(reg_registry *r, cJSON **out);
/* Write the last uses recorded in memory since the previous flush, in one
 * transaction (not audited: it is bookkeeping, not a change anyone made).
 * *flushed (optional) gets the number of tokens written.  (blocking) */
int reg_token_flush_usage(reg_registry *r, int *flushed);
int reg_token_revoke(reg_registry *r, const reg_principal *who, const char *name, cJSON **out); /* (blocking) */

/* ---- audit chain (audit.c) ---- */
/* Append an entry inside tx; details is an object of strings/integers. */
int reg_audit_append(reg_meta *m, reg_tx *tx, const char *actor, const char *action, const char *subject,
		     const char *model, const cJSON *details);
/* Hash of one entry: hex SHA-256 over prev_hash and the canonical encoding. */
int reg_audit_hash(const reg_audit_row *row, char out[65]);
int reg_audit_list(reg_registry *r, const reg_audit_query *q, cJSON **out);
/* {"ok":bool,"entries":N[,"first_bad":SEQ,"message"]} */
int reg_audit_verify(reg_registry *r, cJSON **out);

/* ---- stages, aliases, promotion (promotion.c, gate.c) ---- */
/* {"stages":[names in order]} */
int reg_stages_get(reg_registry *r, cJSON **out);
/* body {"stages":[…]}; refuses removing a stage in use.  (blocking) */
int reg_stages_set(reg_registry *r, const reg_principal *who, const cJSON *body, cJSON **out);
/* A version as a path segment: "3", "production" (stage) or "@champion". */
int reg_ref_segment_parse(const char *seg, util_ref *out, const char *model);
/* The version number a ref points to now; ENOTFOUND when the model, the
 * version, an empty stage or an unset alias. */
int reg_resolve(reg_registry *r, const util_ref *ref, int64_t *number);
/* reg_version_get for any ref, resolved and read in one snapshot. */
int reg_version_get_ref(reg_registry *r, const util_ref *ref, bool with_files, cJSON **out);
/* {"model","stages":[…],"aliases":[…]} */
int reg_model_pointers(reg_registry *r, const char *model, cJSON **out);
int reg_alias_set(reg_registry *r, const reg_principal *who, const char *model, const char *alias, const cJSON *body,
		  cJSON **out); /* (blocking) */
int reg_alias_remove(reg_registry *r, const reg_principal *who, const char *model, const char *alias,
		     cJSON **out); /* (blocking) */
/* Gate policies; model is a model name or "*". */
int reg_policy_put(reg_registry *r, const reg_principal *who, const char *model, const char *stage, const cJSON *body,
		   cJSON **out); /* (blocking) */
int reg_policy_delete(reg_registry *r, const reg_principal *who, const char *model, const char *stage,
		      cJSON **out); /* (blocking) */
int reg_policy_list(reg_registry *r, const char *model, cJSON **out);
/* Approve ref for body {"stage","comment"}; *http_status 201 new, 200 repeat;
 * MLREG_EREFUSED for the version's own pusher.  (blocking) */
int reg_approve(reg_registry *r, const reg_principal *who, const util_ref *ref, const cJSON *body, int *http_status,
		cJSON **out);
int reg_approvals_list(reg_registry *r, const util_ref *ref, const char *stage, cJSON **out);
/* Evaluate the gate of stage for ref without changing anything:
 * {"model","version","stage","passed","checks":[…]}. */
int reg_gate(reg_registry *r, const util_ref *ref, const char *stage, cJSON **out);
/* Promote body {"version","expect_current","comment"} onto stage.  On
 * MLREG_EREFUSED *out is the failed gate result; on MLREG_ECONFLICT (CAS)
 * *out is {"current":N|null}.  (blocking) */
int reg_promote(reg_registry *r, const reg_principal *who, const char *model, const char *stage, const cJSON *body,
		cJSON **out);
/* body {"to","force","comment"} -> {"model","stage","from","to"}.  (blocking) */
int reg_rollback(reg_registry *r, const reg_principal *who, const char *model, const char *stage, const cJSON *body,
		 cJSON **out);
/* Stage and alias moves, oldest first; stage/alias filter optional. */
int reg_history(reg_registry *r, const char *model, const char *stage, const char *alias, int64_t limit,
		int64_t offset, cJSON **out);

/* ---- events and webhooks (events.c, webhooks.c) ---- */
/* Queue event for every subscribed webhook inside tx: the body is
 * {"id","event","time","timestamp","actor","model",…fields}.  Takes fields. */
int reg_event_emit(reg_registry *r, reg_tx *tx, const char *event, const char *actor, const char *model,
		   cJSON *fields);
/* Commit tx; when it carried events, call the event hook afterwards. */
int reg_commit(reg_registry *r, reg_tx *tx);
/* Called (from any thread) after a commit that queued events. */
void reg_set_event_hook(reg_registry *r, void (*fn)(void *ctx), void *ctx);
/* The event names webhooks may subscribe to, NULL-terminated. */
extern const char *const reg_event_names[];
int reg_webhook_add(reg_registry *r, const reg_principal *who, const char *url, const cJSON *events,
		    const char *secret, cJSON **out); /* (blocking) */
int reg_webhook_remove(reg_registry *r, const reg_principal *who, const char *id, cJSON **out); /* (blocking) */
int reg_webhook_list(reg_registry *r, cJSON **out);
int reg_webhook_deliveries(reg_registry *r, const char *id, int64_t limit, cJSON **out);
/* Sender side: due rows, the next due time, and the outcome of one attempt. */
int reg_outbox_due(reg_registry *r, int64_t now, int64_t limit, cJSON **out);
int reg_outbox_next_due(reg_registry *r, int64_t *next_at);
/* Rows waiting for delivery to live webhooks (for the /metrics gauge). */
int reg_outbox_pending(reg_registry *r, int64_t *count);
int reg_outbox_record(reg_registry *r, int64_t outbox_id, int64_t attempt, int status, const char *error,
		      const char *outcome, int64_t next_at); /* (blocking) */

/* ---- lineage (lineage.c) ---- */
typedef struct {
	const char *ref;       /* a version REF, or */
	const char *dataset;   /* a dataset name, sha256:<hex> or uri:<uri>, or */
	const char *commit;    /* a commit sha */
	bool down;             /* what was made from the root (else what made it) */
	int64_t depth;         /* edges to follow; <= 0: max_depth */
	int64_t max_depth, max_nodes;
} reg_lineage_query;
/* {"root","direction","depth","truncated","nodes":[…],"edges":[…]} */
int reg_lineage(reg_registry *r, const reg_lineage_query *q, cJSON **out);
int reg_dataset_list(reg_registry *r, const char *name, int64_t limit, int64_t offset, cJSON **out);
/* id: sha256:<hex> or uri:<uri>; with "dependents" (transitively) */
int reg_dataset_get(reg_registry *r, const char *id, int64_t max_nodes, cJSON **out);

/* ---- bundle import (bundle_import.c, docs/bundles.md) ---- */
/* Create the versions of a bundle index whose blobs are already stored,
 * each with its source number, metadata and lineage, in one transaction
 * with one `bundle.import` audit entry per version.  A number that already
 * holds the same digest is skipped; another digest is MLREG_ECONFLICT and
 * nothing is imported.  MLREG_EINTEGRITY when a file list does not hash to
 * its version's digest or a blob's size differs.  *out:
 * {"imported":[{"model","version","digest"}],"skipped":[…]}.  (blocking) */
int reg_bundle_import(reg_registry *r, const reg_principal *who, const cJSON *index, cJSON **out);
/* ---- signing (sign.c; docs/security.md "Signing") ---- */
/* Trust public_key_pem (an Ed25519 public key PEM; anything else is
 * MLREG_EINVALID) under name (1 to 63 of [A-Za-z0-9._-]); audited key.add.
 * *out {"name","fingerprint","public_key","created_at","created_by"}.
 * MLREG_EEXISTS when the name or the key is already trusted.  (blocking) */
int reg_key_add(reg_registry *r, const reg_principal *who, const char *name, const char *public_key_pem,
		cJSON **out);
/* Stop trusting a key (its signatures stay, untrusted); audited key.remove.
 * *out {"name","fingerprint","removed":true}.  (blocking) */
int reg_key_remove(reg_registry *r, const reg_principal *who, const char *name, cJSON **out);
/* {"keys":[key objects by name]} (live keys only) */
int reg_key_list(reg_registry *r, cJSON **out);
/* Sign version ref (a path segment: "3", "production", "@champion") of
 * model: the registry computes the statement from the version's model,
 * number and digest, verifies signature_b64 against public_key_pem
 * (MLREG_EINVALID when it does not verify or either is malformed) and
 * stores it under the key's fingerprint, audited version.sign.  A repeat
 * by the same key changes nothing.  *out {"model","version","digest",
 * "statement","created":bool, + the signature entry as reg_signatures_get
 * lists it}.  (blocking) */
int reg_signature_add(reg_registry *r, const reg_principal *who, const char *model, const char *ref,
		      const char *public_key_pem, const char *signature_b64, cJSON **out);
/* {"model","version","digest","statement","signed",
 *  "signatures":[{"fingerprint","key":name|null,"trusted","valid","signature",
 *  "public_key","created_at","created_by"}]}: every signature re-verified now;
 * "signed" is true when one is valid and by a trusted key. */
int reg_signatures_get(reg_registry *r, const char *model, const char *ref, cJSON **out);
/* Whether version number of model carries a valid signature by a trusted
 * key (re-verified now).  ENOTFOUND when there is no such version. */
int reg_version_signed(reg_registry *r, const char *model, int64_t number, bool *is_signed);
/* The same from request bodies: {"name","public_key"} and
 * {"public_key","signature"}, strings, no other members (MLREG_EINVALID). */
int reg_key_add_body(reg_registry *r, const reg_principal *who, const cJSON *body, cJSON **out);
int reg_signature_add_body(reg_registry *r, const reg_principal *who, const char *model, const char *ref,
			   const cJSON *body, cJSON **out);
/* Transaction-level forms (STABLE CONTRACT: bundle import uses
 * reg_signature_insert_tx inside its import transaction).
 * reg_signature_insert_tx verifies signature_b64 with public_key_pem over
 * the statement of (model, number, digest) - digest being the version's
 * manifest digest - and inserts it for version_id with an audit entry
 * version.sign by actor: 0 with *added true; 0 with *added false when the
 * key already signed that version (nothing written); MLREG_EINVALID when it
 * does not verify or is malformed (nothing written).  fp gets the key's
 * fingerprint. */
int reg_signature_insert_tx(reg_registry *r, reg_tx *tx, const char *actor, const char *model, int64_t number,
			    int64_t version_id, const char *digest, const char *public_key_pem,
			    const char *signature_b64, char fp[UTIL_DIGEST_LEN + 1], bool *added);
/* reg_signatures_get's object for a version already resolved inside tx;
 * out and is_signed are each optional. */
int reg_signatures_in(reg_registry *r, reg_tx *tx, const char *model, int64_t number, int64_t version_id,
		      const char *digest, cJSON **out, bool *is_signed);
/* reg_version_signed inside tx; why (optional) gets a one-line account
 * ("no signature", "2 signatures, 1 valid, 0 by a trusted key, none both"). */
int reg_version_signed_in(reg_registry *r, reg_tx *tx, const char *model, int64_t number, int64_t version_id,
			  bool *is_signed, char *why, size_t wlen);

/* ---- archive (archive.c): a version as a tar stream, pulled in chunks ---- */
typedef struct reg_archive reg_archive;
int reg_archive_open(reg_registry *r, const char *model, int64_t number, reg_archive **out);
/* Fill up to max bytes; returns bytes written, 0 at the end, <0 on error. */
int64_t reg_archive_read(reg_archive *a, char *buf, size_t max);
void reg_archive_free(reg_archive *a);

#endif

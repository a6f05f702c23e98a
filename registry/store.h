/*
 * store.h - the two narrow storage interfaces the registry is written
 * against: a blob store (content-addressed bytes) and a metadata store
 * (models, versions, tokens, audit).  Each is a struct of function pointers
 * so PostgreSQL and S3 backends can be added without touching domain code;
 * the embedded defaults are blobstore_fs.c and meta_sqlite.c.
 *
 * Reads return cJSON trees shaped like the API's objects: the registry is a
 * JSON service, and building C structs only to turn them back into JSON
 * would be code without value.
 */
#ifndef MLREG_REGISTRY_STORE_H
#define MLREG_REGISTRY_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "util/util.h"

/* ------------------------------------------------------------------ */
/* Blob store                                                          */
/* ------------------------------------------------------------------ */
typedef struct reg_blobstore reg_blobstore;
typedef struct reg_blob_tmp reg_blob_tmp;

typedef struct {
	/* Start a new temporary object; bytes are hashed as they are written. */
	int (*tmp_new)(reg_blobstore *bs, reg_blob_tmp **out);
	/* Reopen a named, persistent temporary (resumable upload sessions);
	 * create=true makes it.  When `resume` is the hash state of exactly the
	 * first resume_size bytes and the temporary still has that size, it is
	 * continued from there; otherwise it is rebuilt by reading the bytes. */
	int (*tmp_open_named)(reg_blobstore *bs, const char *id, bool create, const util_sha256 *resume,
			      uint64_t resume_size, reg_blob_tmp **out);
	/* A copy of the running hash of everything written so far (caller frees). */
	util_sha256 *(*tmp_hash_state)(const reg_blob_tmp *t);
	/* Delete a named temporary; MLREG_ENOTFOUND when there is none. */
	int (*tmp_remove_named)(reg_blobstore *bs, const char *id);
	/* Size of a named temporary without opening it for writing. */
	int (*tmp_named_size)(reg_blobstore *bs, const char *id, uint64_t *size);
	int (*tmp_write)(reg_blob_tmp *t, const void *data, size_t len);
	uint64_t (*tmp_size)(const reg_blob_tmp *t);
	/* Make the bytes durable and visible under their digest (fsync, link
	 * into place, fsync folder).  Fails with MLREG_EINTEGRITY, storing
	 * nothing, when expect is set and differs.  Frees t in every case. */
	int (*tmp_commit)(reg_blob_tmp *t, const char *expect, char digest[UTIL_DIGEST_LEN + 1], uint64_t *size);
	/* Drop the temporary (and its file).  NULL is a no-op. */
	void (*tmp_abort)(reg_blob_tmp *t);
	/* Release the handle but keep a named temporary's bytes for later. */
	void (*tmp_close)(reg_blob_tmp *t);
	int (*stat)(reg_blobstore *bs, const char *digest, uint64_t *size);
	/* Open for reading; *fd is owned by the caller. */
	int (*open)(reg_blobstore *bs, const char *digest, int *fd, uint64_t *size);
	int (*remove)(reg_blobstore *bs, const char *digest);
	/* Rehash a stored blob; MLREG_EINTEGRITY on mismatch. */
	int (*verify)(reg_blobstore *bs, const char *digest, uint64_t *size);
	/* Where a blob lives, for messages (borrowed thread-local buffer). */
	const char *(*locate)(reg_blobstore *bs, const char *digest);
	/* Remove anonymous temporaries not touched for tmp_max_age_ms and
	 * named ones (sessions) not touched for session_max_age_ms; returns
	 * the count. */
	int (*sweep_tmp)(reg_blobstore *bs, int64_t tmp_max_age_ms, int64_t session_max_age_ms);
	void (*free)(reg_blobstore *bs);
} reg_blobstore_ops;

struct reg_blobstore {
	const reg_blobstore_ops *ops;
};

/* Local filesystem CAS under DIR/blobs and DIR/uploads. */
int reg_blobstore_fs_new(const char *data_dir, reg_blobstore **out);

/* ------------------------------------------------------------------ */
/* Metadata store                                                      */
/* ------------------------------------------------------------------ */
typedef struct reg_meta reg_meta;
typedef struct reg_tx reg_tx;

typedef struct {
	const char *model;      /* exact model, or NULL */
	const char *prefix;     /* model name prefix, or NULL */
	const char *status;     /* NULL = all but deleted */
	cJSON *filters;         /* array of expression strings (validated) */
	cJSON *tags;            /* object key -> value (AND) */
	const char *order_by;   /* version|created_at|name|size|metrics.K */
	bool desc;
	int64_t limit, offset;
} reg_search_query;

typedef struct {
	const char *model, *action, *actor;
	int64_t since_ms;       /* 0 = from the start */
	int64_t limit;
	bool oldest_first;      /* entries with seq > after_seq, oldest first (else newest first) */
	int64_t after_seq;
} reg_audit_query;

typedef struct {
	int64_t seq, ts;
	const char *actor, *action, *subject, *model, *details, *prev_hash, *hash;
	/* set by the store when the stored row holds more than these fields
	 * show (a NUL inside a text, a non-integer time): bytes the hash would
	 * not cover */
	const char *anomaly;
} reg_audit_row;

typedef int (*reg_audit_cb)(const reg_audit_row *row, void *ctx);
/* The row of a lineage node, enough to write a version node without JSON
 * trees (impact sets are mostly versions). */
typedef struct {
	char kind[16];
	char key[2200];
	char model[UTIL_NAME_MAX + 1];
	char status[16];
	int64_t number, model_id;
} reg_lineage_row;

/* one lineage edge seen from a node: the node at its other end */
typedef int (*reg_edge_cb)(int64_t other, const char *relation, const char *attrs, void *ctx);
typedef int (*reg_digest_cb)(const char *digest, uint64_t size, int64_t created_at, void *ctx);

/* A deployment as created (registry/deploy.c has validated every field). */
typedef struct {
	const char *name;
	int64_t model_id;
	const char *stage, *alias;        /* exactly one is set */
	const char *selector;             /* JSON object text */
	const char *strategy;
	const char *steps;                /* normalised text; NULL: the strategy's preset */
	const char *analysis;             /* normalised conditions, "" for none */
	int64_t min_requests, failure_limit, max_unavailable;
	int64_t progress_deadline_ms, scale_down_delay_ms, analysis_interval_ms;
	double failure_margin;
} reg_deploy_row;

/* The rollout state a reconciler writes: the object verbatim, and the
 * members copied into columns (0 = none). */
typedef struct {
	const char *state;                /* JSON object text */
	const char *phase;                /* Healthy|Progressing|Paused|Degraded */
	int64_t stable_version, target_version, rejected_version;
} reg_rollout_row;

/* A token as stored (token_lookup). */
typedef struct {
	char principal[128], role[32], name[128];
	char models[128];     /* fnmatch glob; "" = all models */
	char stages[256];     /* comma-separated stage names; "" = all stages */
	int64_t expires_at;   /* ms; 0 = never */
	int64_t revoked_at;   /* ms; 0 = live */
} reg_token_row;

typedef struct {
	/* transactions: one writer at a time (BEGIN IMMEDIATE under a mutex) */
	int (*begin)(reg_meta *m, reg_tx **out);
	/* A read-only snapshot on this thread's reader connection: every read
	 * op taking a tx, and the reg_meta reads made on this thread until it
	 * ends, see one consistent state.  End it with commit or rollback. */
	int (*begin_read)(reg_meta *m, reg_tx **out);
	int (*commit)(reg_tx *tx);
	void (*rollback)(reg_tx *tx);

	/* tokens */
	/* models (glob) and stages (comma list) NULL for all; expires_at 0 = never */
	int (*token_insert)(reg_tx *tx, const char *name, const char *principal, const char *role,
			    const char *hash, const char *created_by, int64_t now, const char *models,
			    const char *stages, int64_t expires_at);
	int (*token_revoke)(reg_tx *tx, const char *name, int64_t now);
	/* the row of a token by hash, revoked or expired ones too (the caller
	 * tells them apart); MLREG_EAUTH when none */
	int (*token_lookup)(reg_meta *m, const char *hash, reg_token_row *out);
	/* raise last_used_at to ms (never lowers it) */
	int (*token_touch)(reg_tx *tx, const char *name, int64_t ms);
	int (*token_list)(reg_meta *m, cJSON **out);
	int (*token_count)(reg_meta *m, int64_t *count);

	/* models */
	int (*model_ensure)(reg_tx *tx, const char *name, const char *description, const char *actor,
			    int64_t now, int64_t *id, bool *created);
	int (*model_id)(reg_tx *tx, const char *name, int64_t *id);
	int (*model_set_tags)(reg_tx *tx, int64_t model_id, const cJSON *tags, int64_t now);
	int (*model_get)(reg_meta *m, const char *name, cJSON **out);
	int (*model_list)(reg_meta *m, const char *prefix, const cJSON *tags, int64_t limit, int64_t offset, cJSON **out);

	/* versions: insert allocates the next number inside tx when *number
	 * is 0 on entry; a positive *number is taken as given (a bundle import
	 * keeps the source's numbers; the caller checked that it is free) */
	int (*version_insert)(reg_tx *tx, int64_t model_id, const char *manifest_digest, uint64_t size,
			      const cJSON *files, const cJSON *metrics, const cJSON *params, const cJSON *tags,
			      const char *description, const char *format, const char *schema_json,
			      const char *actor, int64_t now, int64_t *number, int64_t *version_id);
	int (*version_lookup)(reg_tx *tx, const char *model, int64_t number, int64_t *version_id, char *status, size_t slen);
	int (*version_set_status)(reg_tx *tx, int64_t version_id, const char *status, int64_t now);
	int (*version_add_metric)(reg_tx *tx, int64_t version_id, const char *key, double value, bool has_step,
				  int64_t step, int64_t now);
	int (*version_set_tags)(reg_tx *tx, int64_t version_id, const cJSON *tags, int64_t now);
	/* full version object; with_files adds "files" */
	int (*version_get)(reg_meta *m, const char *model, int64_t number, bool with_files, cJSON **out);
	int (*version_search)(reg_meta *m, const reg_search_query *q, cJSON **out);

	/* blobs known to the registry */
	int (*blob_record)(reg_tx *tx, const char *digest, uint64_t size, int64_t now);
	int (*blob_known)(reg_meta *m, const char *digest, uint64_t *size);
	int (*blob_known_tx)(reg_tx *tx, const char *digest, uint64_t *size);
	int (*blob_forget)(reg_tx *tx, const char *digest);
	/* blobs referenced by no live version and created before cutoff */
	int (*blob_garbage)(reg_tx *tx, int64_t cutoff_ms, reg_digest_cb cb, void *ctx);
	int (*blob_pending_count)(reg_tx *tx, int64_t cutoff_ms, int64_t *count);
	int (*blob_each)(reg_meta *m, reg_digest_cb cb, void *ctx);
	int (*blob_stats)(reg_meta *m, int64_t *count, int64_t *bytes);

	/* audit chain */
	int (*audit_tail)(reg_tx *tx, int64_t *seq, char prev_hash[65]);
	int (*audit_insert)(reg_tx *tx, const reg_audit_row *row);
	int (*audit_list)(reg_meta *m, const reg_audit_query *q, cJSON **out);
	int (*audit_each)(reg_meta *m, reg_audit_cb cb, void *ctx);

	/* stages (meta_sqlite_promo.c): names in order */
	int (*stages_list)(reg_tx *tx, cJSON **names);
	int (*stages_replace)(reg_tx *tx, const cJSON *names);
	/* 1 with a description in why when a model holds stage, a policy
	 * names it or a deployment follows it, else 0 */
	int (*stage_in_use)(reg_tx *tx, const char *stage, char *why, size_t wlen);
	/* rollback stacks: top version number (0 when empty) and depth */
	int (*stack_top)(reg_tx *tx, int64_t model_id, const char *stage, int64_t *number, int64_t *depth);
	int (*stack_push)(reg_tx *tx, int64_t model_id, const char *stage, int64_t version_id);
	int (*stack_pop)(reg_tx *tx, int64_t model_id, const char *stage);
	/* version numbers on the stack, bottom first */
	int (*stack_list)(reg_tx *tx, int64_t model_id, const char *stage, cJSON **numbers);
	/* aliases: number 0 when unset */
	int (*alias_get)(reg_tx *tx, int64_t model_id, const char *alias, int64_t *number);
	int (*alias_set)(reg_tx *tx, int64_t model_id, const char *alias, int64_t version_id);
	int (*alias_remove)(reg_tx *tx, int64_t model_id, const char *alias);
	/* {"stages":[{"stage","version","since","by","depth"}],"aliases":[…]} */
	int (*model_pointers)(reg_tx *tx, int64_t model_id, cJSON **out);
	/* history of stage and alias moves */
	int (*move_insert)(reg_tx *tx, int64_t model_id, const char *target, const char *name, const char *kind,
			   int64_t from, int64_t to, const char *actor, int64_t now, const char *comment);
	/* earliest time version `number` was moved onto stage; ENOTFOUND if never */
	int (*move_first_entered)(reg_tx *tx, int64_t model_id, const char *stage, int64_t number, int64_t *ts);
	int (*history_list)(reg_tx *tx, int64_t model_id, const char *target, const char *name, int64_t limit,
			    int64_t offset, cJSON **out);
	/* 1 with a description when a stage stack (at any depth), an alias or
	 * a deployment (the version it serves as stable or rolls out as
	 * target) references the version, else 0 */
	int (*version_refs)(reg_tx *tx, int64_t version_id, char *why, size_t wlen);
	/* the manifest digest of model:number (ENOTFOUND when none) */
	int (*version_digest)(reg_tx *tx, const char *model, int64_t number, char digest[UTIL_DIGEST_LEN + 1]);
	/* what a gate needs of a version: {"version","status","created_by","schema","metrics":{}} */
	int (*version_facts)(reg_tx *tx, int64_t version_id, cJSON **out);
	/* gate policies; model is a name or "*"; metrics a JSON array text */
	int (*policy_put)(reg_tx *tx, const char *model, const char *stage, const char *from, const char *metrics,
			  int64_t approvals, bool require_signature, int64_t soak_ms, bool same_schema,
			  const char *actor, int64_t now);
	int (*policy_delete)(reg_tx *tx, const char *model, const char *stage);
	/* all policies, or (model set) those applying to it: its own and "*" */
	int (*policy_list)(reg_tx *tx, const char *model, cJSON **out);
	/* approvals per (version, stage, principal) */
	int (*approval_add)(reg_tx *tx, int64_t version_id, const char *stage, const char *principal, int64_t now,
			    const char *comment, bool *added);
	int (*approval_count)(reg_tx *tx, int64_t version_id, const char *stage, int64_t *count);
	int (*approval_list)(reg_tx *tx, int64_t version_id, const char *stage, cJSON **out);

	/* webhooks and the outbox (meta_sqlite_webhooks.c) */
	int (*webhook_insert)(reg_tx *tx, const char *id, const char *url, const char *events_json, const char *secret,
			      const char *actor, int64_t now);
	/* ENOTFOUND when unknown or removed; its pending outbox rows become dropped */
	int (*webhook_remove)(reg_tx *tx, const char *id, int64_t now);
	/* live webhooks with pending/delivered/failed counts (no secrets) */
	int (*webhook_list)(reg_tx *tx, cJSON **out);
	int (*webhook_deliveries)(reg_tx *tx, const char *id, int64_t limit, cJSON **out);
	/* one pending row per live webhook subscribed to event (or "*"); *rows = count */
	int (*outbox_enqueue)(reg_tx *tx, const char *event, const char *event_id, const char *body, int64_t now,
			      int64_t *rows);
	/* due rows: [{"id","webhook_id","url","secret","event_id","event","body","attempts"}] */
	int (*outbox_due)(reg_tx *tx, int64_t now, int64_t limit, cJSON **out);
	/* earliest next_at of a pending row; ENOTFOUND when none */
	int (*outbox_next_due)(reg_tx *tx, int64_t *next_at);
	/* log one attempt and move the row: outcome delivered|retry|failed */
	int (*outbox_record)(reg_tx *tx, int64_t outbox_id, int64_t attempt, int64_t now, int status, const char *error,
			     const char *outcome, int64_t next_at);
	/* pending rows of live webhooks (the /metrics gauge) */
	int (*outbox_pending)(reg_tx *tx, int64_t *count);

	/* nodes, deployments, the lease and the generation (meta_sqlite_deploy.c).
	 * Rows come back as JSON objects with integer times (ms) and the stored
	 * JSON texts parsed; registry/deploy.c shapes them for callers. */
	/* MLREG_EEXISTS when the name is taken */
	int (*node_insert)(reg_tx *tx, const char *name, const char *url, const char *driver, const char *labels,
			   const char *actor, int64_t now, int64_t *id);
	/* ENOTFOUND when unknown */
	int (*node_delete)(reg_tx *tx, const char *name);
	/* [{"id","name","url","driver","labels","created_at","created_by",
	 *   "observed"|null,"observed_at"|null,"fails","next_try_at"}] by name */
	int (*node_rows)(reg_tx *tx, cJSON **out);
	/* ENOTFOUND when the node is gone */
	int (*node_observe)(reg_tx *tx, int64_t id, const char *observed, int64_t fails, int64_t next_try_at,
			    int64_t now);
	/* MLREG_EEXISTS when the name is taken */
	int (*deploy_insert)(reg_tx *tx, const reg_deploy_row *d, const char *actor, int64_t now, int64_t *id);
	/* ENOTFOUND when unknown; *id of the row removed (its events go too) */
	int (*deploy_delete)(reg_tx *tx, const char *name, int64_t *id);
	/* [{"id","name","model","model_id","stage"|null,"alias"|null,"selector",
	 *   "strategy","steps"|null,"analysis","min_requests","failure_limit",
	 *   "max_unavailable","progress_deadline_ms","scale_down_delay_ms",
	 *   "analysis_interval_ms","failure_margin","created_at","created_by",
	 *   "state","phase","stable_version","target_version","rejected_version"
	 *   (null when none),"verb"|null,"verb_by","verb_at","updated_at"}] by
	 * name; name set: that one only (ENOTFOUND when unknown) */
	int (*deploy_rows)(reg_tx *tx, const char *name, cJSON **out);
	/* the row of id (ENOTFOUND when gone), shaped as deploy_rows' */
	int (*deploy_row_by_id)(reg_tx *tx, int64_t id, cJSON **out);
	/* ENOTFOUND when the deployment is gone; consume_verb clears the verb */
	int (*deploy_set_state)(reg_tx *tx, int64_t id, const reg_rollout_row *st, bool consume_verb, int64_t now);
	int (*deploy_set_verb)(reg_tx *tx, int64_t id, const char *verb, const char *actor, int64_t now);
	int (*deploy_event_add)(reg_tx *tx, int64_t deployment_id, int64_t now, const char *kind, const char *message,
				const char *details);
	/* {"events":[{"time","kind","message","details"}]} newest first */
	int (*deploy_events)(reg_tx *tx, int64_t deployment_id, int64_t limit, cJSON **out);
	/* kind of the latest move of a stage or alias ("promote", "rollback",
	 * "set", ...); ENOTFOUND when it never moved */
	int (*move_last_kind)(reg_tx *tx, int64_t model_id, const char *target, const char *name, char *kind,
			      size_t klen);
	/* the lease row: holder ("" when never taken), epoch, expiry */
	int (*lease_get)(reg_tx *tx, char *holder, size_t hlen, int64_t *epoch, int64_t *expires_at);
	int (*lease_put)(reg_tx *tx, const char *holder, int64_t epoch, int64_t expires_at);
	int (*generation_get)(reg_tx *tx, int64_t *gen);
	int (*generation_bump)(reg_tx *tx);

	/* lineage graph (meta_sqlite_lineage.c); kinds version|dataset|commit|run */
	int (*lineage_node_ensure)(reg_tx *tx, const char *kind, const char *key, int64_t version_id, const char *attrs,
				   int64_t *id);
	/* ENOTFOUND when there is no such node */
	int (*lineage_node_find)(reg_tx *tx, const char *kind, const char *key, int64_t *id);
	int (*lineage_edge_add)(reg_tx *tx, int64_t src, int64_t dst, const char *relation, const char *attrs);
	int (*dataset_name_add)(reg_tx *tx, int64_t node_id, const char *name);
	/* ids of the dataset nodes carrying name, as a JSON array of numbers */
	int (*dataset_by_name)(reg_tx *tx, const char *name, cJSON **ids);
	/* up: the edges from id to what made it; down: the edges into id */
	int (*lineage_edges_of)(reg_tx *tx, int64_t id, bool up, reg_edge_cb cb, void *ctx);
	/* a dataset, commit or run node as {"id","kind","label",…} (docs/api.md
	 * "Lineage"); version nodes are written from lineage_node_row */
	int (*lineage_node_get)(reg_tx *tx, int64_t id, cJSON **out);
	int (*lineage_node_row)(reg_tx *tx, int64_t id, reg_lineage_row *out);
	/* [[stage, version number],…] for the stages of model_id held now */
	int (*lineage_stage_holders)(reg_tx *tx, int64_t model_id, cJSON **out);
	/* {"datasets":[{"id","digest"|"uri","names","versions"}],"next_page_token"} */
	int (*dataset_list)(reg_tx *tx, const char *name, int64_t limit, int64_t offset, cJSON **out);

	/* signing keys and version signatures (meta_sqlite_sign.c, migration
	 * 0007).  Rows are JSON objects with integer times (ms); nothing here
	 * checks a key or a signature: registry/sign.c verifies first. */
	/* MLREG_EEXISTS when a live key has the name or the fingerprint */
	int (*key_insert)(reg_tx *tx, const char *name, const char *fingerprint, const char *public_key,
			  const char *actor, int64_t now);
	/* ENOTFOUND when no live key has the name; the row stays (removed_at
	 * set); *fingerprint (optional) gets the removed key's */
	int (*key_remove)(reg_tx *tx, const char *name, const char *actor, int64_t now,
			  char fingerprint[UTIL_DIGEST_LEN + 1]);
	/* live keys [{"name","fingerprint","public_key","created_at","created_by"}] by name */
	int (*key_list)(reg_tx *tx, cJSON **out);
	/* the live key with fingerprint, shaped as key_list's; ENOTFOUND */
	int (*key_find)(reg_tx *tx, const char *fingerprint, cJSON **out);
	/* STABLE CONTRACT (bundle import inserts through it inside its own
	 * transaction): one signature row; MLREG_EEXISTS when version_id
	 * already has a signature by fingerprint.  The caller has verified
	 * signature (base64) against public_key (canonical PEM, as
	 * util_sig_public_parse writes it) and the version's statement. */
	int (*signature_insert)(reg_tx *tx, int64_t version_id, const char *fingerprint, const char *public_key,
				const char *signature, const char *actor, int64_t now);
	/* [{"fingerprint","public_key","signature","created_at","created_by"}] oldest first */
	int (*signature_list)(reg_tx *tx, int64_t version_id, cJSON **out);

	/* idempotency keys: MLREG_ENOTFOUND when unseen */
	int (*idem_get)(reg_tx *tx, const char *principal, const char *key, char req_hash[65], int *status, char **response);
	int (*idem_put)(reg_tx *tx, const char *principal, const char *key, const char *req_hash, int status,
			const char *response, int64_t now);

	void (*free)(reg_meta *m);
} reg_meta_ops;

struct reg_meta {
	const reg_meta_ops *ops;
};

/* SQLite at DIR/registry.db: WAL, foreign keys, migrations applied. */
/* mmap_bytes: how much of the database reader connections map (0: none). */
int reg_meta_sqlite_new(const char *data_dir, int64_t busy_timeout_ms, int64_t mmap_bytes, reg_meta **out);

#endif

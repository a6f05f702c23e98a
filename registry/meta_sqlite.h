/*
 * meta_sqlite.h - internals shared by the SQLite metadata store's files.
 */
#ifndef MLREG_REGISTRY_META_SQLITE_H
#define MLREG_REGISTRY_META_SQLITE_H

#include <pthread.h>
#include <sqlite3.h>
#include "registry/store.h"

/* slots of the per-connection statement cache (a power of two, kept at
 * most half full: the statements are the fixed set in these files) */
#define SQ_MAX_STMTS 512

typedef struct {
	sqlite3 *db;
	const char *sql[SQ_MAX_STMTS];  /* open addressing by the SQL's address */
	sqlite3_stmt *st[SQ_MAX_STMTS];
	int n;
} sq_conn;

typedef struct {
	reg_meta base;
	char path[4096];
	int64_t busy_ms;
	int64_t mmap_bytes;
	sq_conn writer;
	pthread_mutex_t wmu;
	pthread_key_t rkey;
	pthread_mutex_t lmu;
	sq_conn **readers;
	size_t nreaders, capreaders;
} sq_meta;

struct reg_tx {
	sq_meta *m;
	sq_conn *c;   /* the writer, or this thread's reader for a read snapshot */
	bool ro;
};

/* The connection a tx runs on. */
#define W(tx) ((tx)->c)

/* A cached prepared statement of conn c for the static string sql, reset
 * and unbound; NULL (error set) on failure.  Callers must sqlite3_reset()
 * it when done so no read transaction stays open. */
sqlite3_stmt *sq_stmt(sq_conn *c, const char *sql);
/* This thread's read-only connection (opened on first use). */
sq_conn *sq_reader(sq_meta *m);
int sq_err(sqlite3 *db, const char *what);
int sq_exec(sqlite3 *db, const char *sql);
/* Bind helpers: NULL text binds SQL NULL. */
void sq_bind_text(sqlite3_stmt *st, int i, const char *s);
/* Column text as a cJSON string (NULL -> JSON null). */
cJSON *sq_col_json_str(sqlite3_stmt *st, int col);
void sq_add_time(cJSON *obj, const char *key, int64_t ms);

/* versions and search (meta_sqlite_versions.c) */
int sq_version_insert(reg_tx *tx, int64_t model_id, const char *manifest_digest, uint64_t size,
		      const cJSON *files, const cJSON *metrics, const cJSON *params, const cJSON *tags,
		      const char *description, const char *format, const char *schema_json,
		      const char *actor, int64_t now, int64_t *number, int64_t *version_id);
int sq_version_lookup(reg_tx *tx, const char *model, int64_t number, int64_t *version_id, char *status, size_t slen);
int sq_version_set_status(reg_tx *tx, int64_t version_id, const char *status, int64_t now);
int sq_version_add_metric(reg_tx *tx, int64_t version_id, const char *key, double value, bool has_step,
			  int64_t step, int64_t now);
int sq_version_set_tags(reg_tx *tx, int64_t version_id, const cJSON *tags, int64_t now);
int sq_version_get(reg_meta *m, const char *model, int64_t number, bool with_files, cJSON **out);
int sq_version_search(reg_meta *m, const reg_search_query *q, cJSON **out);

/* promotion (meta_sqlite_promo.c) and webhooks (meta_sqlite_webhooks.c):
 * their ops are filled into the table by these. */
void sq_promo_ops(reg_meta_ops *ops);
void sq_webhook_ops(reg_meta_ops *ops);
void sq_lineage_ops(reg_meta_ops *ops);
void sq_audit_ops(reg_meta_ops *ops);
/* tokens (meta_sqlite_tokens.c) */
void sq_token_ops(reg_meta_ops *ops);
/* nodes, deployments, lease, generation (meta_sqlite_deploy.c) */
void sq_deploy_ops(reg_meta_ops *ops);
/* signing keys and signatures (meta_sqlite_sign.c) */
void sq_sign_ops(reg_meta_ops *ops);
/* Step a statement expected to finish (reset afterwards); constraint
 * violations are MLREG_EEXISTS. */
int sq_step_done(sqlite3_stmt *st, sqlite3 *db, const char *what);
/* End a statement whose last sqlite3_step() returned last: reset it, and
 * MLREG_EIO unless it reached its end (DONE) or stopped on a row on
 * purpose (ROW) - so an I/O error mid-read is never a short answer. */
int sq_end(sqlite3_stmt *st, int last, const char *what);

#endif

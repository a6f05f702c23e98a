/*
 * meta_sqlite.c - the embedded metadata store: SQLite in WAL mode.
 *
 * One writer connection behind a mutex (every write is BEGIN IMMEDIATE, so
 * version numbers are allocated gap-free and the audit chain is appended in
 * order), plus one read-only connection per thread so reads never wait for
 * a writer and never hold a write lock.  Statements are prepared once per
 * connection and cached by the address of their (static) SQL text; no SQL
 * is ever assembled from user strings - dynamic queries in the search code
 * concatenate only constants and bind every value.  synchronous=FULL makes
 * an acknowledged write survive power loss.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry/meta_sqlite.h"
#include "registry/migrate.h"
#include "util/json.h"

int sq_err(sqlite3 *db, const char *what)
{
	return mlreg_error_set(MLREG_EIO, "database: %s: %s", what, sqlite3_errmsg(db));
}

int sq_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		int rc = mlreg_error_set(MLREG_EIO, "database: %s", err ? err : sqlite3_errmsg(db));
		sqlite3_free(err);
		return rc;
	}
	return 0;
}

sqlite3_stmt *sq_stmt(sq_conn *c, const char *sql)
{
	/* statements are static strings: their address is the key, found in
	 * one or two probes (graph walks run thousands per answer) */
	size_t h = ((uintptr_t)sql >> 4) * 0x9E3779B97F4A7C15ull >> 32 & (SQ_MAX_STMTS - 1);
	sqlite3_stmt *st;
	while (c->sql[h] && c->sql[h] != sql)
		h = (h + 1) & (SQ_MAX_STMTS - 1);
	if (c->sql[h]) {
		sqlite3_reset(c->st[h]);
		sqlite3_clear_bindings(c->st[h]);
		return c->st[h];
	}
	if (sqlite3_prepare_v3(c->db, sql, -1, c->n < SQ_MAX_STMTS / 2 ? SQLITE_PREPARE_PERSISTENT : 0, &st, NULL) !=
	    SQLITE_OK) {
		sq_err(c->db, "prepare");
		return NULL;
	}
	if (c->n < SQ_MAX_STMTS / 2) {
		c->sql[h] = sql;
		c->st[h] = st;
		c->n++;
	} else {
		/* cache full: should not happen with our fixed set of statements */
		LOG_WARN("statement cache full");
	}
	return st;
}

void sq_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

cJSON *sq_col_json_str(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	return t ? cJSON_CreateString((const char *)t) : cJSON_CreateNull();
}

void sq_add_time(cJSON *obj, const char *key, int64_t ms)
{
	char ts[40];
	util_time_format(ms, ts, sizeof(ts));
	cJSON_AddStringToObject(obj, key, ts);
}

static int conn_open(sq_meta *m, sq_conn *c, bool readonly)
{
	int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	memset(c, 0, sizeof(*c));
	if (sqlite3_open_v2(m->path, &c->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		int rc = mlreg_error_set(MLREG_EIO, "cannot open database '%s': %s", m->path,
					 c->db ? sqlite3_errmsg(c->db) : "out of memory");
		sqlite3_close(c->db);
		c->db = NULL;
		return rc;
	}
	sqlite3_busy_timeout(c->db, (int)m->busy_ms);
	sqlite3_extended_result_codes(c->db, 1);
	if (!readonly)
		return sq_exec(c->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
	if (m->mmap_bytes > 0) {
		/* readers map the file: a walk over a big graph reads pages without
		 * a copy per page (bench/lineage measured 35 ms of 170 in copies) */
		char pragma[64];
		snprintf(pragma, sizeof(pragma), "PRAGMA mmap_size=%lld;", (long long)m->mmap_bytes);
		if (sq_exec(c->db, pragma) < 0)
			return MLREG_EIO;
	}
	return sq_exec(c->db, "PRAGMA foreign_keys=ON;");
}

static void conn_close(sq_conn *c)
{
	for (int i = 0; i < SQ_MAX_STMTS; i++)
		if (c->sql[i]) {
			sqlite3_finalize(c->st[i]);
			c->sql[i] = NULL;
		}
	c->n = 0;
	sqlite3_close(c->db);
	c->db = NULL;
}

static sq_meta *destructor_owner; /* one store per process in practice */

static void reader_destroy(void *p)
{
	sq_conn *c = p;
	sq_meta *m = destructor_owner;
	if (m) {
		pthread_mutex_lock(&m->lmu);
		for (size_t i = 0; i < m->nreaders; i++)
			if (m->readers[i] == c) {
				m->readers[i] = m->readers[--m->nreaders];
				break;
			}
		pthread_mutex_unlock(&m->lmu);
	}
	conn_close(c);
	free(c);
}

sq_conn *sq_reader(sq_meta *m)
{
	sq_conn *c = pthread_getspecific(m->rkey);
	if (c)
		return c;
	c = calloc(1, sizeof(*c));
	if (!c) {
		mlreg_error_set(MLREG_ENOMEM, "out of memory");
		return NULL;
	}
	if (conn_open(m, c, true) < 0) {
		free(c);
		return NULL;
	}
	pthread_mutex_lock(&m->lmu);
	if (m->nreaders == m->capreaders) {
		size_t nc = m->capreaders ? m->capreaders * 2 : 16;
		sq_conn **nr = realloc(m->readers, nc * sizeof(*nr));
		if (!nr) {
			pthread_mutex_unlock(&m->lmu);
			conn_close(c);
			free(c);
			mlreg_error_set(MLREG_ENOMEM, "out of memory");
			return NULL;
		}
		m->readers = nr;
		m->capreaders = nc;
	}
	m->readers[m->nreaders++] = c;
	pthread_mutex_unlock(&m->lmu);
	pthread_setspecific(m->rkey, c);
	return c;
}

/* ---- transactions ---- */
static int sq_begin(reg_meta *base, reg_tx **out)
{
	sq_meta *m = (sq_meta *)base;
	reg_tx *tx = malloc(sizeof(*tx));
	int rc;
	if (!tx)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	pthread_mutex_lock(&m->wmu);
	if ((rc = sq_exec(m->writer.db, "BEGIN IMMEDIATE")) < 0) {
		pthread_mutex_unlock(&m->wmu);
		free(tx);
		return rc;
	}
	tx->m = m;
	tx->c = &m->writer;
	tx->ro = false;
	*out = tx;
	return 0;
}

static int sq_begin_read(reg_meta *base, reg_tx **out)
{
	sq_meta *m = (sq_meta *)base;
	sq_conn *c = sq_reader(m);
	reg_tx *tx;
	int rc;
	if (!c)
		return MLREG_EIO;
	if (!(tx = malloc(sizeof(*tx))))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	if ((rc = sq_exec(c->db, "BEGIN")) < 0) {
		free(tx);
		return rc;
	}
	tx->m = m;
	tx->c = c;
	tx->ro = true;
	*out = tx;
	return 0;
}

static int sq_commit(reg_tx *tx)
{
	sq_meta *m = tx->m;
	int rc = sq_exec(tx->c->db, "COMMIT");
	if (rc < 0)
		sqlite3_exec(tx->c->db, "ROLLBACK", NULL, NULL, NULL);
	if (!tx->ro)
		pthread_mutex_unlock(&m->wmu);
	free(tx);
	return rc;
}

static void sq_rollback(reg_tx *tx)
{
	if (!tx)
		return;
	sqlite3_exec(tx->c->db, "ROLLBACK", NULL, NULL, NULL);
	if (!tx->ro)
		pthread_mutex_unlock(&tx->m->wmu);
	free(tx);
}

int sq_end(sqlite3_stmt *st, int last, const char *what)
{
	int rc = 0;
	if (last != SQLITE_DONE && last != SQLITE_ROW)
		rc = sq_err(sqlite3_db_handle(st), what);
	sqlite3_reset(st);
	return rc;
}

int sq_step_done(sqlite3_stmt *st, sqlite3 *db, const char *what)
{
	int s = sqlite3_step(st);
	sqlite3_reset(st);
	if (s == SQLITE_DONE)
		return 0;
	if ((s & 0xff) == SQLITE_CONSTRAINT)
		return mlreg_error_set(MLREG_EEXISTS, "%s: already exists", what);
	return sq_err(db, what);
}

static int sq_token_count(reg_meta *base, int64_t *count)
{
	static const char sql[] = "SELECT COUNT(*) FROM tokens";
	sq_conn *c = sq_reader((sq_meta *)base);
	sqlite3_stmt *st;
	if (!c || !(st = sq_stmt(c, sql)))
		return MLREG_EIO;
	*count = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return 0;
}

/* ---- models ---- */
static int sq_model_id(reg_tx *tx, const char *name, int64_t *id)
{
	static const char sql[] = "SELECT id FROM models WHERE name=?";
	sqlite3_stmt *st = sq_stmt(W(tx), sql);
	int rc;
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, name);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		rc = 0;
	} else {
		rc = mlreg_error_set(MLREG_ENOTFOUND, "model '%s' not found", name);
	}
	sqlite3_reset(st);
	return rc;
}

static int sq_model_ensure(reg_tx *tx, const char *name, const char *description, const char *actor, int64_t now,
			   int64_t *id, bool *created)
{
	static const char sql[] = "INSERT INTO models(name,description,created_at,created_by,updated_at) VALUES(?,?,?,?,?)";
	sqlite3_stmt *st;
	if (sq_model_id(tx, name, id) == 0) {
		*created = false;
		mlreg_error_clear();
		return 0;
	}
	if (!(st = sq_stmt(W(tx), sql)))
		return MLREG_EIO;
	sq_bind_text(st, 1, name);
	sq_bind_text(st, 2, description ? description : "");
	sqlite3_bind_int64(st, 3, now);
	sq_bind_text(st, 4, actor);
	sqlite3_bind_int64(st, 5, now);
	if (sq_step_done(st, W(tx)->db, "insert model") < 0)
		return MLREG_EIO;
	*id = sqlite3_last_insert_rowid(W(tx)->db);
	*created = true;
	return 0;
}

static int set_tags(sq_conn *c, const char *upsert, const char *del, int64_t owner, const cJSON *tags)
{
	for (const cJSON *t = tags ? tags->child : NULL; t; t = t->next) {
		sqlite3_stmt *st = sq_stmt(c, cJSON_IsNull(t) ? del : upsert);
		if (!st)
			return MLREG_EIO;
		sqlite3_bind_int64(st, 1, owner);
		sq_bind_text(st, 2, t->string);
		if (!cJSON_IsNull(t))
			sq_bind_text(st, 3, t->valuestring);
		if (sq_step_done(st, c->db, "set tag") < 0)
			return MLREG_EIO;
	}
	return 0;
}

static int sq_model_set_tags(reg_tx *tx, int64_t model_id, const cJSON *tags, int64_t now)
{
	static const char up[] = "INSERT INTO model_tags(model_id,key,value) VALUES(?,?,?) ON CONFLICT(model_id,key) DO UPDATE SET value=excluded.value";
	static const char del[] = "DELETE FROM model_tags WHERE model_id=? AND key=?";
	static const char touch[] = "UPDATE models SET updated_at=? WHERE id=?";
	sqlite3_stmt *st;
	int rc = set_tags(W(tx), up, del, model_id, tags);
	if (rc < 0 || !(st = sq_stmt(W(tx), touch)))
		return rc < 0 ? rc : MLREG_EIO;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, model_id);
	return sq_step_done(st, W(tx)->db, "touch model");
}

static cJSON *tags_of(sq_conn *c, const char *sql, int64_t owner)
{
	sqlite3_stmt *st = sq_stmt(c, sql);
	cJSON *o = cJSON_CreateObject();
	if (!st)
		return o;
	sqlite3_bind_int64(st, 1, owner);
	while (sqlite3_step(st) == SQLITE_ROW)
		cJSON_AddItemToObject(o, (const char *)sqlite3_column_text(st, 0), sq_col_json_str(st, 1));
	sqlite3_reset(st);
	return o;
}

#define MODEL_COLS                                                                                        \
	"SELECT m.id, m.name, m.description, m.created_at, m.created_by, m.updated_at,"                   \
	" (SELECT MAX(number) FROM versions v WHERE v.model_id=m.id AND v.status!='deleted') FROM models m"
static const char model_cols[] = MODEL_COLS;

/* The stages a model holds now, in the configured order, each with its
 * version (the top of its stack) and since when (its latest move): what a
 * list of models shows without a request per model. */
static cJSON *stages_held(sq_conn *c, int64_t model_id)
{
	static const char sql[] =
		"SELECT s.stage, v.number,"
		" (SELECT mv.ts FROM moves mv WHERE mv.model_id=s.model_id AND mv.target='stage' AND mv.name=s.stage"
		"  ORDER BY mv.id DESC LIMIT 1)"
		" FROM stage_stack s JOIN versions v ON v.id=s.version_id JOIN stages g ON g.name=s.stage"
		" WHERE s.model_id=?1 AND s.pos=(SELECT MAX(pos) FROM stage_stack t WHERE t.model_id=?1 AND t.stage=s.stage)"
		" ORDER BY g.position";
	sqlite3_stmt *st = sq_stmt(c, sql);
	cJSON *a = cJSON_CreateArray();
	if (!st)
		return a;
	sqlite3_bind_int64(st, 1, model_id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		cJSON *e = cJSON_CreateObject();
		cJSON_AddItemToObject(e, "stage", sq_col_json_str(st, 0));
		cJSON_AddNumberToObject(e, "version", (double)sqlite3_column_int64(st, 1));
		if (sqlite3_column_type(st, 2) == SQLITE_NULL)
			cJSON_AddNullToObject(e, "since");
		else
			sq_add_time(e, "since", sqlite3_column_int64(st, 2));
		cJSON_AddItemToArray(a, e);
	}
	sqlite3_reset(st);
	return a;
}

static cJSON *model_row(sq_conn *c, sqlite3_stmt *st)
{
	static const char tsql[] = "SELECT key, value FROM model_tags WHERE model_id=? ORDER BY key";
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "name", sq_col_json_str(st, 1));
	cJSON_AddItemToObject(o, "description", sq_col_json_str(st, 2));
	cJSON_AddItemToObject(o, "tags", tags_of(c, tsql, sqlite3_column_int64(st, 0)));
	if (sqlite3_column_type(st, 6) == SQLITE_NULL)
		cJSON_AddNullToObject(o, "latest_version");
	else
		cJSON_AddNumberToObject(o, "latest_version", (double)sqlite3_column_int64(st, 6));
	sq_add_time(o, "created_at", sqlite3_column_int64(st, 3));
	cJSON_AddItemToObject(o, "created_by", sq_col_json_str(st, 4));
	sq_add_time(o, "updated_at", sqlite3_column_int64(st, 5));
	cJSON_AddItemToObject(o, "stages", stages_held(c, sqlite3_column_int64(st, 0)));
	return o;
}

static int sq_model_get(reg_meta *base, const char *name, cJSON **out)
{
	static const char sql[] = MODEL_COLS " WHERE m.name=?";
	sq_conn *c = sq_reader((sq_meta *)base);
	sqlite3_stmt *st;
	int rc;
	if (!c || !(st = sq_stmt(c, sql)))
		return MLREG_EIO;
	sq_bind_text(st, 1, name);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*out = model_row(c, st);
		rc = 0;
	} else {
		rc = mlreg_error_set(MLREG_ENOTFOUND, "model '%s' not found", name);
	}
	sqlite3_reset(st);
	return rc;
}

static int sq_model_list(reg_meta *base, const char *prefix, const cJSON *tags, int64_t limit, int64_t offset, cJSON **out)
{
	sq_conn *c = sq_reader((sq_meta *)base);
	util_buf sql;
	sqlite3_stmt *st = NULL;
	cJSON *root, *arr;
	int i = 1, n = 0;
	if (!c)
		return MLREG_EIO;
	util_buf_init(&sql, 1 << 16);
	util_buf_puts(&sql, model_cols);
	util_buf_puts(&sql, " WHERE 1=1");
	if (prefix)
		util_buf_puts(&sql, " AND substr(m.name,1,length(?))=?");
	for (const cJSON *t = tags ? tags->child : NULL; t; t = t->next)
		util_buf_puts(&sql, " AND EXISTS(SELECT 1 FROM model_tags mt WHERE mt.model_id=m.id AND mt.key=? AND mt.value=?)");
	util_buf_puts(&sql, " ORDER BY m.name LIMIT ? OFFSET ?");
	if (sqlite3_prepare_v2(c->db, sql.ptr, -1, &st, NULL) != SQLITE_OK) {
		util_buf_release(&sql);
		return sq_err(c->db, "list models");
	}
	util_buf_release(&sql);
	if (prefix) {
		sq_bind_text(st, i++, prefix);
		sq_bind_text(st, i++, prefix);
	}
	for (const cJSON *t = tags ? tags->child : NULL; t; t = t->next) {
		sq_bind_text(st, i++, t->string);
		sq_bind_text(st, i++, t->valuestring);
	}
	sqlite3_bind_int64(st, i++, limit + 1);
	sqlite3_bind_int64(st, i++, offset);
	root = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(root, "models");
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (n++ == limit)
			break;
		cJSON_AddItemToArray(arr, model_row(c, st));
	}
	sqlite3_finalize(st);
	if (n > limit) {
		char tok[32];
		snprintf(tok, sizeof(tok), "%lld", (long long)(offset + limit));
		cJSON_AddStringToObject(root, "next_page_token", tok);
	} else {
		cJSON_AddNullToObject(root, "next_page_token");
	}
	*out = root;
	return 0;
}

/* ---- blobs ---- */
static int sq_blob_record(reg_tx *tx, const char *digest, uint64_t size, int64_t now)
{
	static const char sql[] = "INSERT INTO blobs(digest,size,created_at) VALUES(?,?,?) ON CONFLICT(digest) DO UPDATE SET created_at=excluded.created_at";
	sqlite3_stmt *st = sq_stmt(W(tx), sql);
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, digest);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)size);
	sqlite3_bind_int64(st, 3, now);
	return sq_step_done(st, W(tx)->db, "record blob");
}

static int blob_known_on(sq_conn *c, const char *digest, uint64_t *size)
{
	static const char sql[] = "SELECT size FROM blobs WHERE digest=?";
	sqlite3_stmt *st = sq_stmt(c, sql);
	int rc;
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, digest);
	if (sqlite3_step(st) == SQLITE_ROW) {
		if (size)
			*size = (uint64_t)sqlite3_column_int64(st, 0);
		rc = 0;
	} else {
		rc = mlreg_error_set(MLREG_ENOTFOUND, "blob %s not found", digest);
	}
	sqlite3_reset(st);
	return rc;
}

static int sq_blob_known(reg_meta *base, const char *digest, uint64_t *size)
{
	sq_conn *c = sq_reader((sq_meta *)base);
	return c ? blob_known_on(c, digest, size) : MLREG_EIO;
}

static int sq_blob_known_tx(reg_tx *tx, const char *digest, uint64_t *size) { return blob_known_on(W(tx), digest, size); }

static int sq_blob_forget(reg_tx *tx, const char *digest)
{
	static const char sql[] = "DELETE FROM blobs WHERE digest=?";
	sqlite3_stmt *st = sq_stmt(W(tx), sql);
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, digest);
	return sq_step_done(st, W(tx)->db, "forget blob");
}

static const char garbage_sql[] =
	"SELECT b.digest, b.size, b.created_at FROM blobs b WHERE b.created_at < ?"
	" AND NOT EXISTS (SELECT 1 FROM version_files f JOIN versions v ON v.id=f.version_id"
	"                 WHERE f.digest=b.digest AND v.status!='deleted')"
	" AND NOT EXISTS (SELECT 1 FROM versions v WHERE v.manifest_digest=b.digest AND v.status!='deleted')";

static int sq_blob_garbage(reg_tx *tx, int64_t cutoff_ms, reg_digest_cb cb, void *ctx)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;
	/* collect first: the callback deletes rows */
	cJSON *list = cJSON_CreateArray();
	if (sqlite3_prepare_v2(W(tx)->db, garbage_sql, -1, &st, NULL) != SQLITE_OK) {
		cJSON_Delete(list);
		return sq_err(W(tx)->db, "gc mark");
	}
	sqlite3_bind_int64(st, 1, cutoff_ms);
	while (sqlite3_step(st) == SQLITE_ROW) {
		cJSON *e = cJSON_CreateArray();
		cJSON_AddItemToArray(e, sq_col_json_str(st, 0));
		cJSON_AddItemToArray(e, cJSON_CreateNumber((double)sqlite3_column_int64(st, 1)));
		cJSON_AddItemToArray(e, cJSON_CreateNumber((double)sqlite3_column_int64(st, 2)));
		cJSON_AddItemToArray(list, e);
	}
	sqlite3_finalize(st);
	for (cJSON *e = list->child; e && rc == 0; e = e->next)
		rc = cb(cJSON_GetArrayItem(e, 0)->valuestring, (uint64_t)cJSON_GetArrayItem(e, 1)->valuedouble,
			(int64_t)cJSON_GetArrayItem(e, 2)->valuedouble, ctx);
	cJSON_Delete(list);
	return rc;
}

static int sq_blob_pending_count(reg_tx *tx, int64_t cutoff_ms, int64_t *count)
{
	static const char sql[] =
		"SELECT COUNT(*) FROM blobs b WHERE b.created_at >= ?"
		" AND NOT EXISTS (SELECT 1 FROM version_files f JOIN versions v ON v.id=f.version_id"
		"                 WHERE f.digest=b.digest AND v.status!='deleted')"
		" AND NOT EXISTS (SELECT 1 FROM versions v WHERE v.manifest_digest=b.digest AND v.status!='deleted')";
	sqlite3_stmt *st = sq_stmt(W(tx), sql);
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, cutoff_ms);
	*count = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return 0;
}

static int sq_blob_each(reg_meta *base, reg_digest_cb cb, void *ctx)
{
	/* page through by key so no read transaction spans the callbacks */
	static const char sql[] = "SELECT digest, size, created_at FROM blobs WHERE digest > ? ORDER BY digest LIMIT 256";
	sq_conn *c = sq_reader((sq_meta *)base);
	char last[UTIL_DIGEST_LEN + 1] = "";
	int rc = 0;
	if (!c)
		return MLREG_EIO;
	for (;;) {
		cJSON *page = cJSON_CreateArray();
		sqlite3_stmt *st = sq_stmt(c, sql);
		int n = 0;
		if (!st) {
			cJSON_Delete(page);
			return MLREG_EIO;
		}
		sq_bind_text(st, 1, last);
		while (sqlite3_step(st) == SQLITE_ROW) {
			cJSON *e = cJSON_CreateArray();
			cJSON_AddItemToArray(e, sq_col_json_str(st, 0));
			cJSON_AddItemToArray(e, cJSON_CreateNumber((double)sqlite3_column_int64(st, 1)));
			cJSON_AddItemToArray(e, cJSON_CreateNumber((double)sqlite3_column_int64(st, 2)));
			cJSON_AddItemToArray(page, e);
			n++;
		}
		sqlite3_reset(st);
		for (cJSON *e = page->child; e && rc == 0; e = e->next) {
			const char *d = cJSON_GetArrayItem(e, 0)->valuestring;
			snprintf(last, sizeof(last), "%s", d);
			rc = cb(d, (uint64_t)cJSON_GetArrayItem(e, 1)->valuedouble, (int64_t)cJSON_GetArrayItem(e, 2)->valuedouble, ctx);
		}
		cJSON_Delete(page);
		if (rc || n < 256)
			return rc;
	}
}

static int sq_blob_stats(reg_meta *base, int64_t *count, int64_t *bytes)
{
	static const char sql[] = "SELECT COUNT(*), COALESCE(SUM(size),0) FROM blobs";
	sq_conn *c = sq_reader((sq_meta *)base);
	sqlite3_stmt *st;
	if (!c || !(st = sq_stmt(c, sql)))
		return MLREG_EIO;
	if (sqlite3_step(st) == SQLITE_ROW) {
		*count = sqlite3_column_int64(st, 0);
		*bytes = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	return 0;
}

/* ---- idempotency ---- */
static int sq_idem_get(reg_tx *tx, const char *principal, const char *key, char req_hash[65], int *status, char **response)
{
	static const char sql[] = "SELECT request_hash, status, response FROM idempotency WHERE principal=? AND key=?";
	sqlite3_stmt *st = sq_stmt(W(tx), sql);
	int rc = MLREG_ENOTFOUND;
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, principal);
	sq_bind_text(st, 2, key);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(req_hash, 65, "%s", sqlite3_column_text(st, 0));
		*status = sqlite3_column_int(st, 1);
		*response = strdup((const char *)sqlite3_column_text(st, 2));
		rc = *response ? 0 : MLREG_ENOMEM;
	}
	sqlite3_reset(st);
	return rc;
}

static int sq_idem_put(reg_tx *tx, const char *principal, const char *key, const char *req_hash, int status,
		       const char *response, int64_t now)
{
	static const char sql[] = "INSERT INTO idempotency(principal,key,request_hash,status,response,created_at) VALUES(?,?,?,?,?,?)";
	sqlite3_stmt *st = sq_stmt(W(tx), sql);
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, principal);
	sq_bind_text(st, 2, key);
	sq_bind_text(st, 3, req_hash);
	sqlite3_bind_int(st, 4, status);
	sq_bind_text(st, 5, response);
	sqlite3_bind_int64(st, 6, now);
	return sq_step_done(st, W(tx)->db, "record idempotency key");
}

/* ---- lifecycle ---- */
static void sq_free(reg_meta *base)
{
	sq_meta *m = (sq_meta *)base;
	if (!m)
		return;
	pthread_mutex_lock(&m->lmu);
	for (size_t i = 0; i < m->nreaders; i++) {
		conn_close(m->readers[i]);
		free(m->readers[i]);
	}
	m->nreaders = 0;
	free(m->readers);
	m->readers = NULL;
	pthread_mutex_unlock(&m->lmu);
	pthread_setspecific(m->rkey, NULL);
	pthread_key_delete(m->rkey);
	destructor_owner = NULL;
	conn_close(&m->writer);
	pthread_mutex_destroy(&m->wmu);
	pthread_mutex_destroy(&m->lmu);
	free(m);
}

/* Filled in by the sq_*_ops of the other store files once, before first use. */
static reg_meta_ops sq_ops = {
	.begin = sq_begin,
	.begin_read = sq_begin_read,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.token_count = sq_token_count,
	.model_ensure = sq_model_ensure,
	.model_id = sq_model_id,
	.model_set_tags = sq_model_set_tags,
	.model_get = sq_model_get,
	.model_list = sq_model_list,
	.version_insert = sq_version_insert,
	.version_lookup = sq_version_lookup,
	.version_set_status = sq_version_set_status,
	.version_add_metric = sq_version_add_metric,
	.version_set_tags = sq_version_set_tags,
	.version_get = sq_version_get,
	.version_search = sq_version_search,
	.blob_record = sq_blob_record,
	.blob_known = sq_blob_known,
	.blob_known_tx = sq_blob_known_tx,
	.blob_forget = sq_blob_forget,
	.blob_garbage = sq_blob_garbage,
	.blob_pending_count = sq_blob_pending_count,
	.blob_each = sq_blob_each,
	.blob_stats = sq_blob_stats,
	.idem_get = sq_idem_get,
	.idem_put = sq_idem_put,
	.free = sq_free,
};

static pthread_once_t ops_once = PTHREAD_ONCE_INIT;

static void ops_fill(void)
{
	sq_promo_ops(&sq_ops);
	sq_webhook_ops(&sq_ops);
	sq_deploy_ops(&sq_ops);
	sq_lineage_ops(&sq_ops);
	sq_audit_ops(&sq_ops);
	sq_sign_ops(&sq_ops);
	sq_token_ops(&sq_ops);
}

int reg_meta_sqlite_new(const char *data_dir, int64_t busy_timeout_ms, int64_t mmap_bytes, reg_meta **out)
{
	sq_meta *m = calloc(1, sizeof(*m));
	int rc;
	if (!m)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	pthread_once(&ops_once, ops_fill);
	m->base.ops = &sq_ops;
	m->busy_ms = busy_timeout_ms > 0 ? busy_timeout_ms : 5000;
	m->mmap_bytes = mmap_bytes;
	snprintf(m->path, sizeof(m->path), "%s/registry.db", data_dir);
	pthread_mutex_init(&m->wmu, NULL);
	pthread_mutex_init(&m->lmu, NULL);
	pthread_key_create(&m->rkey, reader_destroy);
	destructor_owner = m;
	if ((rc = conn_open(m, &m->writer, false)) < 0 ||
	    (rc = reg_migrate_apply(m->writer.db, reg_migrations, reg_migrations_count, NULL)) < 0) {
		sq_free(&m->base);
		return rc;
	}
	*out = &m->base;
	return 0;
}

/*
 * meta_sqlite_versions.c - versions, their files and metadata, and search,
 * in the SQLite metadata store.
 *
 * Version numbers are allocated as MAX(number)+1 inside the caller's
 * BEGIN IMMEDIATE transaction on the single writer connection, which makes
 * them monotonic and gap-free under any number of concurrent pushes.  The
 * latest value of each metric is kept in metric_latest (highest step, then
 * latest logged) so that search filters and ordering are one indexed join.
 * Search SQL is assembled from constant fragments only; every value is bound.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry/meta_sqlite.h"
#include "util/expr.h"
#include "util/json.h"


static int done(sqlite3_stmt *st, sqlite3 *db, const char *what)
{
	int s = sqlite3_step(st);
	sqlite3_reset(st);
	return s == SQLITE_DONE ? 0 : sq_err(db, what);
}

int sq_version_add_metric(reg_tx *tx, int64_t version_id, const char *key, double value, bool has_step,
			  int64_t step, int64_t now)
{
	static const char ins[] = "INSERT INTO metrics(version_id,key,value,step,ts) VALUES(?,?,?,?,?)";
	static const char latest[] =
		"INSERT INTO metric_latest(version_id,key,value,step,metric_id) VALUES(?,?,?,?,?)"
		" ON CONFLICT(version_id,key) DO UPDATE SET value=excluded.value, step=excluded.step, metric_id=excluded.metric_id"
		" WHERE COALESCE(excluded.step,-9223372036854775807) >= COALESCE(metric_latest.step,-9223372036854775807)";
	sqlite3_stmt *st = sq_stmt(W(tx), ins);
	int64_t mid;
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, version_id);
	sq_bind_text(st, 2, key);
	sqlite3_bind_double(st, 3, value);
	if (has_step)
		sqlite3_bind_int64(st, 4, step);
	sqlite3_bind_int64(st, 5, now);
	if (done(st, W(tx)->db, "insert metric") < 0)
		return MLREG_EIO;
	mid = sqlite3_last_insert_rowid(W(tx)->db);
	if (!(st = sq_stmt(W(tx), latest)))
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, version_id);
	sq_bind_text(st, 2, key);
	sqlite3_bind_double(st, 3, value);
	if (has_step)
		sqlite3_bind_int64(st, 4, step);
	sqlite3_bind_int64(st, 5, mid);
	return done(st, W(tx)->db, "update latest metric");
}

int sq_version_set_tags(reg_tx *tx, int64_t version_id, const cJSON *tags, int64_t now)
{
	static const char up[] = "INSERT INTO version_tags(version_id,key,value) VALUES(?,?,?) ON CONFLICT(version_id,key) DO UPDATE SET value=excluded.value";
	static const char del[] = "DELETE FROM version_tags WHERE version_id=? AND key=?";
	static const char touch[] = "UPDATE versions SET updated_at=? WHERE id=?";
	sqlite3_stmt *st;
	for (const cJSON *t = tags ? tags->child : NULL; t; t = t->next) {
		if (!(st = sq_stmt(W(tx), cJSON_IsNull(t) ? del : up)))
			return MLREG_EIO;
		sqlite3_bind_int64(st, 1, version_id);
		sq_bind_text(st, 2, t->string);
		if (!cJSON_IsNull(t))
			sq_bind_text(st, 3, t->valuestring);
		if (done(st, W(tx)->db, "set version tag") < 0)
			return MLREG_EIO;
	}
	if (!(st = sq_stmt(W(tx), touch)))
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, version_id);
	return done(st, W(tx)->db, "touch version");
}

int sq_version_insert(reg_tx *tx, int64_t model_id, const char *manifest_digest, uint64_t size, const cJSON *files,
		      const cJSON *metrics, const cJSON *params, const cJSON *tags, const char *description,
		      const char *format, const char *schema_json, const char *actor, int64_t now, int64_t *number,
		      int64_t *version_id)
{
	static const char next[] = "SELECT COALESCE(MAX(number),0)+1 FROM versions WHERE model_id=?";
	static const char ins[] =
		"INSERT INTO versions(model_id,number,manifest_digest,size,file_count,status,description,format,schema_json,created_at,created_by,updated_at)"
		" VALUES(?,?,?,?,?,'ready',?,?,?,?,?,?)";
	static const char insf[] = "INSERT INTO version_files(version_id,path,size,digest,mode) VALUES(?,?,?,?,?)";
	static const char insp[] = "INSERT INTO params(version_id,key,value) VALUES(?,?,?)";
	static const char touch[] = "UPDATE models SET updated_at=? WHERE id=?";
	sqlite3_stmt *st = sq_stmt(W(tx), next);
	int64_t num, vid;
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, model_id);
	num = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 1;
	sqlite3_reset(st);
	if (*number > 0) /* an import keeps the number its signatures cover */
		num = *number;
	if (!(st = sq_stmt(W(tx), ins)))
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, model_id);
	sqlite3_bind_int64(st, 2, num);
	sq_bind_text(st, 3, manifest_digest);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)size);
	sqlite3_bind_int64(st, 5, cJSON_GetArraySize(files));
	sq_bind_text(st, 6, description ? description : "");
	sq_bind_text(st, 7, format);
	sq_bind_text(st, 8, schema_json);
	sqlite3_bind_int64(st, 9, now);
	sq_bind_text(st, 10, actor);
	sqlite3_bind_int64(st, 11, now);
	if (done(st, W(tx)->db, "insert version") < 0)
		return MLREG_EIO;
	vid = sqlite3_last_insert_rowid(W(tx)->db);
	for (const cJSON *f = files->child; f; f = f->next) {
		if (!(st = sq_stmt(W(tx), insf)))
			return MLREG_EIO;
		sqlite3_bind_int64(st, 1, vid);
		sq_bind_text(st, 2, util_json_str(f, "path"));
		sqlite3_bind_int64(st, 3, (sqlite3_int64)cJSON_GetObjectItem(f, "size")->valuedouble);
		sq_bind_text(st, 4, util_json_str(f, "digest"));
		sqlite3_bind_int64(st, 5, (sqlite3_int64)cJSON_GetObjectItem(f, "mode")->valuedouble);
		if (done(st, W(tx)->db, "insert version file") < 0)
			return MLREG_EIO;
	}
	for (const cJSON *p = params ? params->child : NULL; p; p = p->next) {
		if (!(st = sq_stmt(W(tx), insp)))
			return MLREG_EIO;
		sqlite3_bind_int64(st, 1, vid);
		sq_bind_text(st, 2, p->string);
		sq_bind_text(st, 3, p->valuestring);
		if (done(st, W(tx)->db, "insert param") < 0)
			return MLREG_EIO;
	}
	for (const cJSON *mt = metrics ? metrics->child : NULL; mt; mt = mt->next)
		if (sq_version_add_metric(tx, vid, mt->string, mt->valuedouble, false, 0, now) < 0)
			return MLREG_EIO;
	if (tags && tags->child && sq_version_set_tags(tx, vid, tags, now) < 0)
		return MLREG_EIO;
	if (!(st = sq_stmt(W(tx), touch)))
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, model_id);
	if (done(st, W(tx)->db, "touch model") < 0)
		return MLREG_EIO;
	*number = num;
	*version_id = vid;
	return 0;
}

int sq_version_lookup(reg_tx *tx, const char *model, int64_t number, int64_t *version_id, char *status, size_t slen)
{
	static const char sql[] = "SELECT v.id, v.status FROM versions v JOIN models m ON m.id=v.model_id WHERE m.name=? AND v.number=?";
	sqlite3_stmt *st = sq_stmt(W(tx), sql);
	int rc;
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, model);
	sqlite3_bind_int64(st, 2, number);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*version_id = sqlite3_column_int64(st, 0);
		if (status)
			snprintf(status, slen, "%s", sqlite3_column_text(st, 1));
		rc = 0;
	} else {
		rc = mlreg_error_set(MLREG_ENOTFOUND, "version '%s:%lld' not found", model, (long long)number);
	}
	sqlite3_reset(st);
	return rc;
}

int sq_version_set_status(reg_tx *tx, int64_t version_id, const char *status, int64_t now)
{
	static const char sql[] = "UPDATE versions SET status=?, updated_at=? WHERE id=?";
	sqlite3_stmt *st = sq_stmt(W(tx), sql);
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, status);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, version_id);
	return done(st, W(tx)->db, "set version status");
}

/* Columns every version query selects, in this order. */
#define VCOLS "v.id, m.name, v.number, v.manifest_digest, v.size, v.status, v.schema_json, v.created_at, v.created_by, v.description"

static cJSON *kv_object(sq_conn *c, const char *sql, int64_t vid, bool numeric)
{
	sqlite3_stmt *st = sq_stmt(c, sql);
	cJSON *o = cJSON_CreateObject();
	if (!st)
		return o;
	sqlite3_bind_int64(st, 1, vid);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		if (numeric)
			cJSON_AddNumberToObject(o, k, sqlite3_column_double(st, 1));
		else
			cJSON_AddItemToObject(o, k, sq_col_json_str(st, 1));
	}
	sqlite3_reset(st);
	return o;
}

/* Build the version object from a row of VCOLS; st stays positioned. */
/* First column of every row of a one-parameter query, as strings. */
static cJSON *name_list(sq_conn *c, const char *sql, int64_t id)
{
	cJSON *a = cJSON_CreateArray();
	sqlite3_stmt *st = sq_stmt(c, sql);
	if (!st)
		return a;
	sqlite3_bind_int64(st, 1, id);
	while (sqlite3_step(st) == SQLITE_ROW)
		cJSON_AddItemToArray(a, sq_col_json_str(st, 0));
	sqlite3_reset(st);
	return a;
}

static cJSON *version_row(sq_conn *c, sqlite3_stmt *st, bool with_files)
{
	static const char msql[] = "SELECT key, value FROM metric_latest WHERE version_id=? ORDER BY key";
	static const char psql[] = "SELECT key, value FROM params WHERE version_id=? ORDER BY key";
	static const char tsql[] = "SELECT key, value FROM version_tags WHERE version_id=? ORDER BY key";
	static const char fsql[] = "SELECT path, size, digest, mode FROM version_files WHERE version_id=? ORDER BY path";
	/* stages it holds now: it is the top of their stack */
	/* one primary-key probe per configured stage, however often the
	 * version sits deeper in a rollback stack */
	static const char ssql[] =
		"SELECT g.name FROM stages g JOIN versions v ON v.id=?1"
		" WHERE (SELECT s.version_id FROM stage_stack s WHERE s.model_id=v.model_id AND s.stage=g.name"
		" ORDER BY s.pos DESC LIMIT 1)=?1 ORDER BY g.position";
	static const char asql[] = "SELECT alias FROM aliases WHERE version_id=? ORDER BY alias";
	int64_t vid = sqlite3_column_int64(st, 0);
	const char *schema = (const char *)sqlite3_column_text(st, 6);
	cJSON *o = cJSON_CreateObject(), *sch = NULL;
	cJSON_AddItemToObject(o, "model", sq_col_json_str(st, 1));
	cJSON_AddNumberToObject(o, "version", (double)sqlite3_column_int64(st, 2));
	cJSON_AddItemToObject(o, "digest", sq_col_json_str(st, 3));
	cJSON_AddNumberToObject(o, "size", (double)sqlite3_column_int64(st, 4));
	cJSON_AddItemToObject(o, "status", sq_col_json_str(st, 5));
	if (with_files) {
		cJSON *files = cJSON_AddArrayToObject(o, "files");
		sqlite3_stmt *fs = sq_stmt(c, fsql);
		if (fs) {
			sqlite3_bind_int64(fs, 1, vid);
			while (sqlite3_step(fs) == SQLITE_ROW) {
				cJSON *f = cJSON_CreateObject();
				cJSON_AddItemToObject(f, "path", sq_col_json_str(fs, 0));
				cJSON_AddNumberToObject(f, "size", (double)sqlite3_column_int64(fs, 1));
				cJSON_AddItemToObject(f, "digest", sq_col_json_str(fs, 2));
				cJSON_AddNumberToObject(f, "mode", (double)sqlite3_column_int64(fs, 3));
				cJSON_AddItemToArray(files, f);
			}
			sqlite3_reset(fs);
		}
	}
	cJSON_AddItemToObject(o, "metrics", kv_object(c, msql, vid, true));
	cJSON_AddItemToObject(o, "params", kv_object(c, psql, vid, false));
	cJSON_AddItemToObject(o, "tags", kv_object(c, tsql, vid, false));
	cJSON_AddItemToObject(o, "stages", name_list(c, ssql, vid));
	cJSON_AddItemToObject(o, "aliases", name_list(c, asql, vid));
	if (schema && util_json_parse(schema, strlen(schema), UTIL_JSON_MAX_DEPTH, &sch) == 0)
		cJSON_AddItemToObject(o, "schema", sch);
	else
		cJSON_AddNullToObject(o, "schema");
	sq_add_time(o, "created_at", sqlite3_column_int64(st, 7));
	cJSON_AddItemToObject(o, "created_by", sq_col_json_str(st, 8));
	cJSON_AddItemToObject(o, "description", sq_col_json_str(st, 9));
	return o;
}

int sq_version_get(reg_meta *base, const char *model, int64_t number, bool with_files, cJSON **out)
{
	static const char sql[] = "SELECT " VCOLS " FROM versions v JOIN models m ON m.id=v.model_id WHERE m.name=? AND v.number=?";
	sq_conn *c = sq_reader((sq_meta *)base);
	sqlite3_stmt *st;
	bool own;
	int rc;
	if (!c || !(st = sq_stmt(c, sql)))
		return MLREG_EIO;
	/* one snapshot for the version row and its children, unless the
	 * caller already holds one on this connection (begin_read) */
	own = sqlite3_get_autocommit(c->db) != 0;
	if (own && sq_exec(c->db, "BEGIN") < 0)
		return MLREG_EIO;
	sq_bind_text(st, 1, model);
	sqlite3_bind_int64(st, 2, number);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*out = version_row(c, st, with_files);
		rc = 0;
	} else {
		rc = mlreg_error_set(MLREG_ENOTFOUND, "version '%s:%lld' not found", model, (long long)number);
	}
	sqlite3_reset(st);
	if (own)
		sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
	return rc;
}

static const char *op_sql(util_op op)
{
	switch (op) {
	case UTIL_OP_GE: return ">=";
	case UTIL_OP_LE: return "<=";
	case UTIL_OP_GT: return ">";
	case UTIL_OP_LT: return "<";
	case UTIL_OP_EQ: return "=";
	case UTIL_OP_NE: return "!=";
	}
	return "=";
}

int sq_version_search(reg_meta *base, const reg_search_query *q, cJSON **out)
{
	sq_conn *c = sq_reader((sq_meta *)base);
	util_buf sql;
	sqlite3_stmt *st = NULL;
	cJSON *root, *arr;
	int bi = 1, n = 0, rc = 0;
	const char *order_metric = NULL;
	util_expr *ex = NULL;
	int nex = cJSON_GetArraySize(q->filters);
	if (!c)
		return MLREG_EIO;
	if (nex > 0 && !(ex = calloc((size_t)nex, sizeof(*ex))))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	util_buf_init(&sql, 1 << 16);
	util_buf_puts(&sql, "SELECT " VCOLS " FROM versions v JOIN models m ON m.id=v.model_id");
	if (q->order_by && !strncmp(q->order_by, "metrics.", 8)) {
		order_metric = q->order_by + 8;
		util_buf_puts(&sql, " LEFT JOIN metric_latest mo ON mo.version_id=v.id AND mo.key=?");
	}
	util_buf_puts(&sql, q->status ? " WHERE v.status=?" : " WHERE v.status!='deleted'");
	if (q->model)
		util_buf_puts(&sql, " AND m.name=?");
	if (q->prefix)
		util_buf_puts(&sql, " AND substr(m.name,1,length(?))=?");
	for (int i = 0; i < nex; i++) {
		const char *f = cJSON_GetArrayItem(q->filters, i)->valuestring;
		bool is_metric = !strncmp(f, "metrics.", 8);
		if ((rc = util_expr_parse(f, is_metric, &ex[i])) < 0)
			goto done;
		if (is_metric) {
			util_buf_printf(&sql, " AND EXISTS(SELECT 1 FROM metric_latest mf WHERE mf.version_id=v.id AND mf.key=? AND mf.value %s ?)",
					op_sql(ex[i].op));
		} else if (!strncmp(f, "params.", 7) && (ex[i].op == UTIL_OP_EQ || ex[i].op == UTIL_OP_NE)) {
			util_buf_printf(&sql, " AND %sEXISTS(SELECT 1 FROM params pf WHERE pf.version_id=v.id AND pf.key=? AND pf.value=?)",
					ex[i].op == UTIL_OP_NE ? "NOT " : "");
		} else {
			rc = mlreg_error_set(MLREG_EINVALID,
					     "invalid filter '%s': use metrics.KEY OP NUMBER or params.KEY=VALUE / params.KEY!=VALUE", f);
			goto done;
		}
	}
	for (const cJSON *t = q->tags ? q->tags->child : NULL; t; t = t->next)
		util_buf_puts(&sql, " AND EXISTS(SELECT 1 FROM version_tags tf WHERE tf.version_id=v.id AND tf.key=? AND tf.value=?)");
	if (order_metric)
		util_buf_printf(&sql, " ORDER BY (mo.value IS NULL), mo.value %s, m.name, v.number", q->desc ? "DESC" : "ASC");
	else if (q->order_by && !strcmp(q->order_by, "created_at"))
		util_buf_printf(&sql, " ORDER BY v.created_at %s, v.id %s", q->desc ? "DESC" : "ASC", q->desc ? "DESC" : "ASC");
	else if (q->order_by && !strcmp(q->order_by, "size"))
		util_buf_printf(&sql, " ORDER BY v.size %s, v.id", q->desc ? "DESC" : "ASC");
	else if (q->order_by && !strcmp(q->order_by, "name"))
		util_buf_printf(&sql, " ORDER BY m.name %s, v.number", q->desc ? "DESC" : "ASC");
	else if (!q->order_by || !strcmp(q->order_by, "version"))
		util_buf_printf(&sql, " ORDER BY m.name, v.number %s", q->desc ? "DESC" : "ASC");
	else {
		rc = mlreg_error_set(MLREG_EINVALID, "invalid order_by '%s': use version, created_at, name, size or metrics.KEY", q->order_by);
		goto done;
	}
	util_buf_puts(&sql, " LIMIT ? OFFSET ?");
	if (sqlite3_prepare_v2(c->db, sql.ptr, -1, &st, NULL) != SQLITE_OK) {
		rc = sq_err(c->db, "search");
		goto done;
	}
	if (order_metric)
		sq_bind_text(st, bi++, order_metric);
	if (q->status)
		sq_bind_text(st, bi++, q->status);
	if (q->model)
		sq_bind_text(st, bi++, q->model);
	if (q->prefix) {
		sq_bind_text(st, bi++, q->prefix);
		sq_bind_text(st, bi++, q->prefix);
	}
	for (int i = 0; i < nex; i++) {
		const char *dot = strchr(ex[i].name, '.');
		sq_bind_text(st, bi++, dot + 1);
		if (ex[i].numeric && !strncmp(ex[i].name, "metrics.", 8))
			sqlite3_bind_double(st, bi++, ex[i].value);
		else
			sq_bind_text(st, bi++, ex[i].text);
	}
	for (const cJSON *t = q->tags ? q->tags->child : NULL; t; t = t->next) {
		sq_bind_text(st, bi++, t->string);
		sq_bind_text(st, bi++, t->valuestring);
	}
	sqlite3_bind_int64(st, bi++, q->limit + 1);
	sqlite3_bind_int64(st, bi++, q->offset);
	root = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(root, "versions");
	if (sq_exec(c->db, "BEGIN") < 0) {
		cJSON_Delete(root);
		rc = MLREG_EIO;
		goto done;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (n++ == q->limit)
			break;
		cJSON_AddItemToArray(arr, version_row(c, st, false));
	}
	sqlite3_reset(st);
	sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
	if (n > q->limit) {
		char tok[32];
		snprintf(tok, sizeof(tok), "%lld", (long long)(q->offset + q->limit));
		cJSON_AddStringToObject(root, "next_page_token", tok);
	} else {
		cJSON_AddNullToObject(root, "next_page_token");
	}
	*out = root;
done:
	sqlite3_finalize(st);
	util_buf_release(&sql);
	free(ex);
	return rc;
}

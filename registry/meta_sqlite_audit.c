/*
 * meta_sqlite_audit.c - the audit chain's rows in the SQLite metadata store.
 *
 * Appending reads the tail (seq, hash) and inserts the next row inside the
 * caller's write transaction, so the chain is extended by exactly the
 * transactions that commit.  Reading for verification pages through the
 * log by seq and hands each row to a callback with what the row holds
 * beyond its visible text (a NUL inside a field, a non-integer time), so
 * verification can refuse bytes the hash would not cover.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry/meta_sqlite.h"
#include "util/json.h"

/* ---- audit ---- */
static int sq_audit_tail(reg_tx *tx, int64_t *seq, char prev_hash[65])
{
	static const char sql[] = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";
	sqlite3_stmt *st = sq_stmt(W(tx), sql);
	if (!st)
		return MLREG_EIO;
	if (sqlite3_step(st) == SQLITE_ROW) {
		*seq = sqlite3_column_int64(st, 0);
		snprintf(prev_hash, 65, "%s", sqlite3_column_text(st, 1));
	} else {
		*seq = 0;
		memset(prev_hash, '0', 64);
		prev_hash[64] = '\0';
	}
	sqlite3_reset(st);
	return 0;
}

static int sq_audit_insert(reg_tx *tx, const reg_audit_row *r)
{
	static const char sql[] = "INSERT INTO audit_log(seq,ts,actor,action,subject,model,details,prev_hash,hash) VALUES(?,?,?,?,?,?,?,?,?)";
	sqlite3_stmt *st = sq_stmt(W(tx), sql);
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, r->seq);
	sqlite3_bind_int64(st, 2, r->ts);
	sq_bind_text(st, 3, r->actor);
	sq_bind_text(st, 4, r->action);
	sq_bind_text(st, 5, r->subject);
	sq_bind_text(st, 6, r->model);
	sq_bind_text(st, 7, r->details);
	sq_bind_text(st, 8, r->prev_hash);
	sq_bind_text(st, 9, r->hash);
	return sq_step_done(st, W(tx)->db, "append audit entry");
}

static cJSON *audit_json(sqlite3_stmt *st)
{
	cJSON *o = cJSON_CreateObject(), *details = NULL;
	const char *d = (const char *)sqlite3_column_text(st, 6);
	cJSON_AddNumberToObject(o, "seq", (double)sqlite3_column_int64(st, 0));
	sq_add_time(o, "time", sqlite3_column_int64(st, 1));
	cJSON_AddNumberToObject(o, "ts", (double)sqlite3_column_int64(st, 1));
	cJSON_AddItemToObject(o, "actor", sq_col_json_str(st, 2));
	cJSON_AddItemToObject(o, "action", sq_col_json_str(st, 3));
	cJSON_AddItemToObject(o, "subject", sq_col_json_str(st, 4));
	cJSON_AddItemToObject(o, "model", sq_col_json_str(st, 5));
	if (d && util_json_parse(d, strlen(d), 64, &details) == 0)
		cJSON_AddItemToObject(o, "details", details);
	else
		cJSON_AddItemToObject(o, "details", cJSON_CreateObject());
	cJSON_AddItemToObject(o, "prev_hash", sq_col_json_str(st, 7));
	cJSON_AddItemToObject(o, "hash", sq_col_json_str(st, 8));
	return o;
}

static int sq_audit_list(reg_meta *base, const reg_audit_query *q, cJSON **out)
{
	sq_conn *c = sq_reader((sq_meta *)base);
	util_buf sql;
	sqlite3_stmt *st = NULL;
	cJSON *root, *arr;
	int i = 1;
	if (!c)
		return MLREG_EIO;
	util_buf_init(&sql, 4096);
	util_buf_puts(&sql, "SELECT seq,ts,actor,action,subject,model,details,prev_hash,hash FROM audit_log WHERE 1=1");
	if (q->model)
		util_buf_puts(&sql, " AND model=?");
	if (q->action)
		util_buf_puts(&sql, " AND action=?");
	if (q->actor)
		util_buf_puts(&sql, " AND actor=?");
	if (q->since_ms)
		util_buf_puts(&sql, " AND ts>=?");
	if (q->oldest_first)
		util_buf_puts(&sql, " AND seq>? ORDER BY seq LIMIT ?");
	else
		util_buf_puts(&sql, " ORDER BY seq DESC LIMIT ?");
	if (sqlite3_prepare_v2(c->db, sql.ptr, -1, &st, NULL) != SQLITE_OK) {
		util_buf_release(&sql);
		return sq_err(c->db, "list audit");
	}
	util_buf_release(&sql);
	if (q->model)
		sq_bind_text(st, i++, q->model);
	if (q->action)
		sq_bind_text(st, i++, q->action);
	if (q->actor)
		sq_bind_text(st, i++, q->actor);
	if (q->since_ms)
		sqlite3_bind_int64(st, i++, q->since_ms);
	if (q->oldest_first)
		sqlite3_bind_int64(st, i++, q->after_seq);
	sqlite3_bind_int64(st, i++, q->limit);
	root = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(root, "entries");
	while (sqlite3_step(st) == SQLITE_ROW)
		cJSON_AddItemToArray(arr, audit_json(st));
	sqlite3_finalize(st);
	*out = root;
	return 0;
}

static int sq_audit_each(reg_meta *base, reg_audit_cb cb, void *ctx)
{
	static const char sql[] = "SELECT seq,ts,actor,action,subject,model,details,prev_hash,hash FROM audit_log WHERE seq > ? ORDER BY seq LIMIT 512";
	sq_conn *c = sq_reader((sq_meta *)base);
	int64_t last = 0;
	int rc = 0;
	if (!c)
		return MLREG_EIO;
	for (;;) {
		sqlite3_stmt *st = sq_stmt(c, sql);
		int n = 0, step = SQLITE_DONE;
		if (!st)
			return MLREG_EIO;
		sqlite3_bind_int64(st, 1, last);
		/* the callback only hashes: it is safe to run it on the live row */
		while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
			/* the stored types first: reading a column as text converts it */
			bool typed = sqlite3_column_type(st, 0) == SQLITE_INTEGER && sqlite3_column_type(st, 1) == SQLITE_INTEGER;
			bool blob = false;
			for (int col = 2; col <= 8; col++)
				blob = blob || sqlite3_column_type(st, col) == SQLITE_BLOB;
			reg_audit_row r = {
				.seq = sqlite3_column_int64(st, 0),
				.ts = sqlite3_column_int64(st, 1),
				.actor = (const char *)sqlite3_column_text(st, 2),
				.action = (const char *)sqlite3_column_text(st, 3),
				.subject = (const char *)sqlite3_column_text(st, 4),
				.model = (const char *)sqlite3_column_text(st, 5),
				.details = (const char *)sqlite3_column_text(st, 6),
				.prev_hash = (const char *)sqlite3_column_text(st, 7),
				.hash = (const char *)sqlite3_column_text(st, 8),
			};
			last = r.seq;
			if (!typed)
				r.anomaly = "seq or time is not an integer";
			else if (blob)
				r.anomaly = "a text field is stored as a blob";
			for (int col = 2; col <= 8 && !r.anomaly; col++)
				if (sqlite3_column_text(st, col) &&
				    strlen((const char *)sqlite3_column_text(st, col)) != (size_t)sqlite3_column_bytes(st, col))
					r.anomaly = "a text field holds bytes after a NUL";
			rc = cb(&r, ctx);
			n++;
		}
		if (rc == 0 && step != SQLITE_ROW && step != SQLITE_DONE)
			rc = sq_err(c->db, "read audit log"); /* never a short chain that verifies */
		sqlite3_reset(st);
		if (rc || n < 512)
			return rc;
	}
}

void sq_audit_ops(reg_meta_ops *ops)
{
	ops->audit_tail = sq_audit_tail;
	ops->audit_insert = sq_audit_insert;
	ops->audit_list = sq_audit_list;
	ops->audit_each = sq_audit_each;
}

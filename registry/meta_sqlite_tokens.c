/*
 * meta_sqlite_tokens.c - API tokens in the SQLite metadata store.
 *
 * Only a token's SHA-256 is stored.  A lookup returns the row whether it is
 * live, revoked or expired, so the registry can tell the reason of a refusal
 * (for its log line and metric) while the client always gets the same 401.
 * last_used_at is written in batches by reg_token_flush_usage(), never per
 * request, and only ever moves forward.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry/meta_sqlite.h"

/* ---- tokens ---- */
static void bind_text_or_null(sqlite3_stmt *st, int i, const char *v)
{
	if (v && *v)
		sq_bind_text(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

static int sq_token_insert(reg_tx *tx, const char *name, const char *principal, const char *role, const char *hash,
			   const char *created_by, int64_t now, const char *models, const char *stages,
			   int64_t expires_at)
{
	static const char sql[] = "INSERT INTO tokens(name,principal,role,token_hash,created_at,created_by,models,stages,"
				  "expires_at) VALUES(?,?,?,?,?,?,?,?,?)";
	sqlite3_stmt *st = sq_stmt(W(tx), sql);
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, name);
	sq_bind_text(st, 2, principal);
	sq_bind_text(st, 3, role);
	sq_bind_text(st, 4, hash);
	sqlite3_bind_int64(st, 5, now);
	sq_bind_text(st, 6, created_by);
	bind_text_or_null(st, 7, models);
	bind_text_or_null(st, 8, stages);
	if (expires_at > 0)
		sqlite3_bind_int64(st, 9, expires_at);
	else
		sqlite3_bind_null(st, 9);
	if (sq_step_done(st, W(tx)->db, "insert token") < 0)
		return mlreg_error_code() == MLREG_EEXISTS
			       ? mlreg_error_set(MLREG_EEXISTS, "token '%s' already exists", name)
			       : MLREG_EIO;
	return 0;
}

static int sq_token_revoke(reg_tx *tx, const char *name, int64_t now)
{
	static const char sql[] = "UPDATE tokens SET revoked_at=? WHERE name=? AND revoked_at IS NULL";
	sqlite3_stmt *st = sq_stmt(W(tx), sql);
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, now);
	sq_bind_text(st, 2, name);
	if (sq_step_done(st, W(tx)->db, "revoke token") < 0)
		return MLREG_EIO;
	if (sqlite3_changes(W(tx)->db) == 0)
		return mlreg_error_set(MLREG_ENOTFOUND, "token '%s' not found or already revoked", name);
	return 0;
}

static int sq_token_touch(reg_tx *tx, const char *name, int64_t ms)
{
	static const char sql[] =
		"UPDATE tokens SET last_used_at=? WHERE name=? AND (last_used_at IS NULL OR last_used_at<?)";
	sqlite3_stmt *st = sq_stmt(W(tx), sql);
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, ms);
	sq_bind_text(st, 2, name);
	sqlite3_bind_int64(st, 3, ms);
	return sq_step_done(st, W(tx)->db, "touch token") < 0 ? MLREG_EIO : 0;
}

static void col_copy(sqlite3_stmt *st, int i, char *out, size_t n)
{
	const unsigned char *v = sqlite3_column_text(st, i);
	snprintf(out, n, "%s", v ? (const char *)v : "");
}

static int sq_token_lookup(reg_meta *base, const char *hash, reg_token_row *out)
{
	static const char sql[] = "SELECT principal, role, name, token_hash, models, stages, expires_at, revoked_at "
				  "FROM tokens WHERE token_hash=?";
	sq_conn *c = sq_reader((sq_meta *)base);
	sqlite3_stmt *st;
	int rc;
	if (!c || !(st = sq_stmt(c, sql)))
		return MLREG_EIO;
	sq_bind_text(st, 1, hash);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && util_consttime_eq((const char *)sqlite3_column_text(st, 3), hash)) {
		memset(out, 0, sizeof(*out));
		col_copy(st, 0, out->principal, sizeof(out->principal));
		col_copy(st, 1, out->role, sizeof(out->role));
		col_copy(st, 2, out->name, sizeof(out->name));
		col_copy(st, 4, out->models, sizeof(out->models));
		col_copy(st, 5, out->stages, sizeof(out->stages));
		out->expires_at = sqlite3_column_int64(st, 6);
		out->revoked_at = sqlite3_column_int64(st, 7);
		rc = 0;
	} else {
		rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? mlreg_error_set(MLREG_EAUTH, "invalid, expired or revoked token")
							   : sq_err(c->db, "token lookup");
	}
	sqlite3_reset(st);
	return rc;
}

static int sq_token_list(reg_meta *base, cJSON **out)
{
	static const char sql[] = "SELECT name, role, principal, created_at, created_by, revoked_at, models, stages, "
				  "expires_at, last_used_at FROM tokens ORDER BY id";
	sq_conn *c = sq_reader((sq_meta *)base);
	sqlite3_stmt *st;
	cJSON *root, *arr;
	if (!c || !(st = sq_stmt(c, sql)))
		return MLREG_EIO;
	root = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(root, "tokens");
	while (sqlite3_step(st) == SQLITE_ROW) {
		cJSON *t = cJSON_CreateObject();
		cJSON_AddItemToObject(t, "name", sq_col_json_str(st, 0));
		cJSON_AddItemToObject(t, "role", sq_col_json_str(st, 1));
		cJSON_AddItemToObject(t, "principal", sq_col_json_str(st, 2));
		sq_add_time(t, "created_at", sqlite3_column_int64(st, 3));
		cJSON_AddItemToObject(t, "created_by", sq_col_json_str(st, 4));
		cJSON_AddBoolToObject(t, "revoked", sqlite3_column_type(st, 5) != SQLITE_NULL);
		/* raw scope and times; the registry adds the derived members */
		cJSON_AddItemToObject(t, "models", sqlite3_column_type(st, 6) == SQLITE_NULL ? cJSON_CreateNull()
											: sq_col_json_str(st, 6));
		cJSON_AddItemToObject(t, "stages", sqlite3_column_type(st, 7) == SQLITE_NULL ? cJSON_CreateNull()
											: sq_col_json_str(st, 7));
		cJSON_AddNumberToObject(t, "expires_at_ms", (double)sqlite3_column_int64(st, 8));
		cJSON_AddNumberToObject(t, "last_used_at_ms", (double)sqlite3_column_int64(st, 9));
		cJSON_AddItemToArray(arr, t);
	}
	sqlite3_reset(st);
	*out = root;
	return 0;
}

void sq_token_ops(reg_meta_ops *ops)
{
	ops->token_insert = sq_token_insert;
	ops->token_revoke = sq_token_revoke;
	ops->token_lookup = sq_token_lookup;
	ops->token_touch = sq_token_touch;
	ops->token_list = sq_token_list;
}

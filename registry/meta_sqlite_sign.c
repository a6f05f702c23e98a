/*
 * meta_sqlite_sign.c - trusted signing keys and version signatures in the
 * SQLite metadata store (tables keys and signatures, migration 0007).
 *
 * Rows come back as JSON objects with integer times (ms); registry/sign.c
 * shapes them for callers and does every cryptographic check - this file
 * only stores and finds.  A key's name and fingerprint are unique among
 * live keys (partial unique indexes), so removing a key keeps its row for
 * history and still lets it be added again.  Every function runs on the
 * connection of the transaction it is given, so bundle import can insert
 * signatures inside its own import transaction and a gate reads keys and
 * signatures in the same snapshot as the rest of its facts.  Only constant
 * SQL; every value is bound.
 */
#include <stdio.h>
#include <string.h>
#include "registry/meta_sqlite.h"

static sqlite3_stmt *prep(reg_tx *tx, const char *sql) { return sq_stmt(W(tx), sql); }

static int key_insert(reg_tx *tx, const char *name, const char *fingerprint, const char *public_key,
		      const char *actor, int64_t now)
{
	static const char sql[] = "INSERT INTO keys(name, fingerprint, public_key, created_at, created_by)"
				  " VALUES(?,?,?,?,?)";
	sqlite3_stmt *st = prep(tx, sql);
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, name);
	sq_bind_text(st, 2, fingerprint);
	sq_bind_text(st, 3, public_key);
	sqlite3_bind_int64(st, 4, now);
	sq_bind_text(st, 5, actor);
	return sq_step_done(st, W(tx)->db, "insert key");
}

static int key_remove(reg_tx *tx, const char *name, const char *actor, int64_t now,
		      char fingerprint[UTIL_DIGEST_LEN + 1])
{
	static const char sel[] = "SELECT id, fingerprint FROM keys WHERE name=? AND removed_at IS NULL";
	static const char upd[] = "UPDATE keys SET removed_at=?, removed_by=? WHERE id=?";
	sqlite3_stmt *st = prep(tx, sel);
	int64_t id = 0;
	int last;
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, name);
	if ((last = sqlite3_step(st)) == SQLITE_ROW) {
		id = sqlite3_column_int64(st, 0);
		if (fingerprint)
			snprintf(fingerprint, UTIL_DIGEST_LEN + 1, "%s", (const char *)sqlite3_column_text(st, 1));
	}
	if (sq_end(st, last, "find key") < 0)
		return MLREG_EIO;
	if (!id)
		return mlreg_error_set(MLREG_ENOTFOUND, "no key named '%s'", name);
	if (!(st = prep(tx, upd)))
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, now);
	sq_bind_text(st, 2, actor);
	sqlite3_bind_int64(st, 3, id);
	return sq_step_done(st, W(tx)->db, "remove key");
}

static cJSON *key_row(sqlite3_stmt *st)
{
	cJSON *k = cJSON_CreateObject();
	cJSON_AddItemToObject(k, "name", sq_col_json_str(st, 0));
	cJSON_AddItemToObject(k, "fingerprint", sq_col_json_str(st, 1));
	cJSON_AddItemToObject(k, "public_key", sq_col_json_str(st, 2));
	cJSON_AddNumberToObject(k, "created_at", (double)sqlite3_column_int64(st, 3));
	cJSON_AddItemToObject(k, "created_by", sq_col_json_str(st, 4));
	return k;
}

static int key_list(reg_tx *tx, cJSON **out)
{
	static const char sql[] = "SELECT name, fingerprint, public_key, created_at, created_by FROM keys"
				  " WHERE removed_at IS NULL ORDER BY name";
	sqlite3_stmt *st = prep(tx, sql);
	cJSON *a;
	int last;
	if (!st)
		return MLREG_EIO;
	a = cJSON_CreateArray();
	while ((last = sqlite3_step(st)) == SQLITE_ROW)
		cJSON_AddItemToArray(a, key_row(st));
	if (sq_end(st, last, "list keys") < 0) {
		cJSON_Delete(a);
		return MLREG_EIO;
	}
	*out = a;
	return 0;
}

static int key_find(reg_tx *tx, const char *fingerprint, cJSON **out)
{
	static const char sql[] = "SELECT name, fingerprint, public_key, created_at, created_by FROM keys"
				  " WHERE fingerprint=? AND removed_at IS NULL";
	sqlite3_stmt *st = prep(tx, sql);
	cJSON *k = NULL;
	int last;
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, fingerprint);
	if ((last = sqlite3_step(st)) == SQLITE_ROW)
		k = key_row(st);
	if (sq_end(st, last, "find key") < 0) {
		cJSON_Delete(k);
		return MLREG_EIO;
	}
	if (!k)
		return mlreg_error_set(MLREG_ENOTFOUND, "no trusted key with fingerprint %s", fingerprint);
	*out = k;
	return 0;
}

static int signature_insert(reg_tx *tx, int64_t version_id, const char *fingerprint, const char *public_key,
			    const char *signature, const char *actor, int64_t now)
{
	static const char sql[] = "INSERT INTO signatures(version_id, fingerprint, public_key, signature, created_at,"
				  " created_by) VALUES(?,?,?,?,?,?)";
	sqlite3_stmt *st = prep(tx, sql);
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, version_id);
	sq_bind_text(st, 2, fingerprint);
	sq_bind_text(st, 3, public_key);
	sq_bind_text(st, 4, signature);
	sqlite3_bind_int64(st, 5, now);
	sq_bind_text(st, 6, actor);
	return sq_step_done(st, W(tx)->db, "insert signature");
}

static int signature_list(reg_tx *tx, int64_t version_id, cJSON **out)
{
	static const char sql[] = "SELECT fingerprint, public_key, signature, created_at, created_by FROM signatures"
				  " WHERE version_id=? ORDER BY id";
	sqlite3_stmt *st = prep(tx, sql);
	cJSON *a;
	int last;
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, version_id);
	a = cJSON_CreateArray();
	while ((last = sqlite3_step(st)) == SQLITE_ROW) {
		cJSON *s = cJSON_CreateObject();
		cJSON_AddItemToObject(s, "fingerprint", sq_col_json_str(st, 0));
		cJSON_AddItemToObject(s, "public_key", sq_col_json_str(st, 1));
		cJSON_AddItemToObject(s, "signature", sq_col_json_str(st, 2));
		cJSON_AddNumberToObject(s, "created_at", (double)sqlite3_column_int64(st, 3));
		cJSON_AddItemToObject(s, "created_by", sq_col_json_str(st, 4));
		cJSON_AddItemToArray(a, s);
	}
	if (sq_end(st, last, "list signatures") < 0) {
		cJSON_Delete(a);
		return MLREG_EIO;
	}
	*out = a;
	return 0;
}

void sq_sign_ops(reg_meta_ops *ops)
{
	ops->key_insert = key_insert;
	ops->key_remove = key_remove;
	ops->key_list = key_list;
	ops->key_find = key_find;
	ops->signature_insert = signature_insert;
	ops->signature_list = signature_list;
}

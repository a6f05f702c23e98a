/*
 * meta_sqlite_promo.c - stages, rollback stacks, aliases, the move history,
 * gate policies and approvals in the SQLite metadata store.
 *
 * A stage's history is a stack of rows (model, stage, pos): promote inserts
 * pos = top+1, rollback deletes the top, and the holder is the row with the
 * highest pos, found through the primary key in one index probe - which is
 * what makes resolving MODEL:STAGE as cheap as resolving a number.  Every
 * function runs on the connection of the transaction it is given: the
 * writer inside a write transaction, or the thread's reader inside a
 * begin_read snapshot, so a gate evaluated for `mlreg gate` reads one
 * consistent state, and the same code evaluated inside `promote` reads the
 * state it is about to change.  Only constant SQL; every value is bound.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry/meta_sqlite.h"
#include "util/json.h"

static sqlite3_stmt *prep(reg_tx *tx, const char *sql) { return sq_stmt(W(tx), sql); }

static int done(reg_tx *tx, sqlite3_stmt *st, const char *what) { return sq_step_done(st, W(tx)->db, what); }

static cJSON *num_or_null(int64_t v) { return v > 0 ? cJSON_CreateNumber((double)v) : cJSON_CreateNull(); }

static cJSON *col_num_or_null(sqlite3_stmt *st, int col)
{
	return sqlite3_column_type(st, col) == SQLITE_NULL ? cJSON_CreateNull()
							   : cJSON_CreateNumber((double)sqlite3_column_int64(st, col));
}

/* ---- stages ---- */
static int stages_list(reg_tx *tx, cJSON **names)
{
	static const char sql[] = "SELECT name FROM stages ORDER BY position";
	sqlite3_stmt *st = prep(tx, sql);
	cJSON *a;
	if (!st)
		return MLREG_EIO;
	int last;
	a = cJSON_CreateArray();
	while ((last = sqlite3_step(st)) == SQLITE_ROW)
		cJSON_AddItemToArray(a, sq_col_json_str(st, 0));
	if (sq_end(st, last, "list stages") < 0) {
		cJSON_Delete(a);
		return MLREG_EIO;
	}
	*names = a;
	return 0;
}

static int stages_replace(reg_tx *tx, const cJSON *names)
{
	static const char del[] = "DELETE FROM stages";
	static const char ins[] = "INSERT INTO stages(name, position) VALUES(?,?)";
	sqlite3_stmt *st = prep(tx, del);
	int pos = 0, rc;
	if (!st || (rc = done(tx, st, "clear stages")) < 0)
		return st ? rc : MLREG_EIO;
	for (const cJSON *n = names->child; n; n = n->next) {
		if (!(st = prep(tx, ins)))
			return MLREG_EIO;
		sq_bind_text(st, 1, n->valuestring);
		sqlite3_bind_int(st, 2, ++pos);
		if ((rc = done(tx, st, "insert stage")) < 0)
			return rc;
	}
	return 0;
}

static int stage_in_use(reg_tx *tx, const char *stage, char *why, size_t wlen)
{
	static const char held[] =
		"SELECT m.name FROM stage_stack s JOIN models m ON m.id=s.model_id WHERE s.stage=? LIMIT 1";
	static const char pol[] = "SELECT model, stage FROM policies WHERE stage=?1 OR from_stage=?1 LIMIT 1";
	static const char dep[] = "SELECT name FROM deployments WHERE stage=? ORDER BY name LIMIT 1";
	sqlite3_stmt *st = prep(tx, held);
	int found = 0;
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, stage);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(why, wlen, "model '%.200s' holds it", (const char *)sqlite3_column_text(st, 0));
		found = 1;
	}
	sqlite3_reset(st);
	if (found)
		return 1;
	if (!(st = prep(tx, pol)))
		return MLREG_EIO;
	sq_bind_text(st, 1, stage);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(why, wlen, "the policy for '%.200s' at stage '%.63s' names it",
			 (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1));
		found = 1;
	}
	sqlite3_reset(st);
	if (found)
		return 1;
	/* a deployment following a removed stage would never again have a
	 * desired version: refused like a held stage */
	if (!(st = prep(tx, dep)))
		return MLREG_EIO;
	sq_bind_text(st, 1, stage);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(why, wlen, "deployment '%.63s' follows it", (const char *)sqlite3_column_text(st, 0));
		found = 1;
	}
	sqlite3_reset(st);
	return found;
}

/* ---- rollback stacks ---- */
static int stack_top(reg_tx *tx, int64_t model_id, const char *stage, int64_t *number, int64_t *depth)
{
	int last;
	/* positions stay 1..depth (push adds top+1, pop removes the top), so
	 * the top's pos is the depth: no count over a long stack */
	static const char sql[] =
		"SELECT v.number, s.pos FROM stage_stack s JOIN versions v ON v.id=s.version_id"
		" WHERE s.model_id=?1 AND s.stage=?2 ORDER BY s.pos DESC LIMIT 1";
	sqlite3_stmt *st = prep(tx, sql);
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, model_id);
	sq_bind_text(st, 2, stage);
	*number = 0;
	if (depth)
		*depth = 0;
	if ((last = sqlite3_step(st)) == SQLITE_ROW) {
		*number = sqlite3_column_int64(st, 0);
		if (depth)
			*depth = sqlite3_column_int64(st, 1);
	}
	return sq_end(st, last, "read stage holder");
}

static int stack_push(reg_tx *tx, int64_t model_id, const char *stage, int64_t version_id)
{
	static const char sql[] =
		"INSERT INTO stage_stack(model_id, stage, pos, version_id)"
		" VALUES(?1, ?2, COALESCE((SELECT MAX(pos) FROM stage_stack WHERE model_id=?1 AND stage=?2), 0) + 1, ?3)";
	sqlite3_stmt *st = prep(tx, sql);
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, model_id);
	sq_bind_text(st, 2, stage);
	sqlite3_bind_int64(st, 3, version_id);
	return done(tx, st, "push onto stage");
}

static int stack_pop(reg_tx *tx, int64_t model_id, const char *stage)
{
	static const char sql[] =
		"DELETE FROM stage_stack WHERE model_id=?1 AND stage=?2"
		" AND pos=(SELECT MAX(pos) FROM stage_stack WHERE model_id=?1 AND stage=?2)";
	sqlite3_stmt *st = prep(tx, sql);
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, model_id);
	sq_bind_text(st, 2, stage);
	return done(tx, st, "pop stage");
}

static int stack_list(reg_tx *tx, int64_t model_id, const char *stage, cJSON **numbers)
{
	int last;
	static const char sql[] =
		"SELECT v.number FROM stage_stack s JOIN versions v ON v.id=s.version_id"
		" WHERE s.model_id=? AND s.stage=? ORDER BY s.pos";
	sqlite3_stmt *st = prep(tx, sql);
	cJSON *a;
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, model_id);
	sq_bind_text(st, 2, stage);
	a = cJSON_CreateArray();
	while ((last = sqlite3_step(st)) == SQLITE_ROW)
		cJSON_AddItemToArray(a, cJSON_CreateNumber((double)sqlite3_column_int64(st, 0)));
	if (sq_end(st, last, "read rollback stack") < 0) {
		cJSON_Delete(a);
		return MLREG_EIO;
	}
	*numbers = a;
	return 0;
}

/* ---- aliases ---- */
static int alias_get(reg_tx *tx, int64_t model_id, const char *alias, int64_t *number)
{
	int last;
	static const char sql[] =
		"SELECT v.number FROM aliases a JOIN versions v ON v.id=a.version_id WHERE a.model_id=? AND a.alias=?";
	sqlite3_stmt *st = prep(tx, sql);
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, model_id);
	sq_bind_text(st, 2, alias);
	*number = (last = sqlite3_step(st)) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	return sq_end(st, last, "read alias");
}

static int alias_set(reg_tx *tx, int64_t model_id, const char *alias, int64_t version_id)
{
	static const char sql[] =
		"INSERT INTO aliases(model_id, alias, version_id) VALUES(?,?,?)"
		" ON CONFLICT(model_id, alias) DO UPDATE SET version_id=excluded.version_id";
	sqlite3_stmt *st = prep(tx, sql);
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, model_id);
	sq_bind_text(st, 2, alias);
	sqlite3_bind_int64(st, 3, version_id);
	return done(tx, st, "set alias");
}

static int alias_remove(reg_tx *tx, int64_t model_id, const char *alias)
{
	static const char sql[] = "DELETE FROM aliases WHERE model_id=? AND alias=?";
	sqlite3_stmt *st = prep(tx, sql);
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, model_id);
	sq_bind_text(st, 2, alias);
	return done(tx, st, "remove alias");
}

/* The latest move of a target: when and by whom it got its holder. */
static void add_last_move(reg_tx *tx, int64_t model_id, const char *target, const char *name, cJSON *o)
{
	static const char sql[] =
		"SELECT ts, actor FROM moves WHERE model_id=? AND target=? AND name=? ORDER BY id DESC LIMIT 1";
	sqlite3_stmt *st = prep(tx, sql);
	bool found = false;
	if (st) {
		sqlite3_bind_int64(st, 1, model_id);
		sq_bind_text(st, 2, target);
		sq_bind_text(st, 3, name);
		if (sqlite3_step(st) == SQLITE_ROW) {
			sq_add_time(o, "since", sqlite3_column_int64(st, 0));
			cJSON_AddItemToObject(o, "by", sq_col_json_str(st, 1));
			found = true;
		}
		sqlite3_reset(st);
	}
	if (!found) {
		cJSON_AddNullToObject(o, "since");
		cJSON_AddNullToObject(o, "by");
	}
}

static int model_pointers(reg_tx *tx, int64_t model_id, cJSON **out)
{
	static const char asql[] =
		"SELECT a.alias, v.number FROM aliases a JOIN versions v ON v.id=a.version_id WHERE a.model_id=? ORDER BY a.alias";
	cJSON *names = NULL, *o, *sa, *aa;
	sqlite3_stmt *st;
	int rc;
	if ((rc = stages_list(tx, &names)) < 0)
		return rc;
	o = cJSON_CreateObject();
	sa = cJSON_AddArrayToObject(o, "stages");
	for (const cJSON *n = names->child; n; n = n->next) {
		cJSON *e = cJSON_CreateObject();
		int64_t number, depth;
		if ((rc = stack_top(tx, model_id, n->valuestring, &number, &depth)) < 0) {
			cJSON_Delete(e);
			cJSON_Delete(o);
			cJSON_Delete(names);
			return rc;
		}
		cJSON_AddStringToObject(e, "stage", n->valuestring);
		cJSON_AddItemToObject(e, "version", num_or_null(number));
		if (number > 0) {
			add_last_move(tx, model_id, "stage", n->valuestring, e);
		} else {
			cJSON_AddNullToObject(e, "since");
			cJSON_AddNullToObject(e, "by");
		}
		cJSON_AddNumberToObject(e, "depth", (double)depth);
		cJSON_AddItemToArray(sa, e);
	}
	cJSON_Delete(names);
	aa = cJSON_AddArrayToObject(o, "aliases");
	if (!(st = prep(tx, asql))) {
		cJSON_Delete(o);
		return MLREG_EIO;
	}
	sqlite3_bind_int64(st, 1, model_id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		cJSON *e = cJSON_CreateObject();
		cJSON_AddItemToObject(e, "alias", sq_col_json_str(st, 0));
		cJSON_AddNumberToObject(e, "version", (double)sqlite3_column_int64(st, 1));
		cJSON_AddItemToArray(aa, e);
	}
	sqlite3_reset(st);
	for (cJSON *e = aa->child; e; e = e->next)
		add_last_move(tx, model_id, "alias", cJSON_GetObjectItem(e, "alias")->valuestring, e);
	*out = o;
	return 0;
}

/* ---- history ---- */
static int move_insert(reg_tx *tx, int64_t model_id, const char *target, const char *name, const char *kind,
		       int64_t from, int64_t to, const char *actor, int64_t now, const char *comment)
{
	static const char sql[] =
		"INSERT INTO moves(model_id, target, name, kind, from_version, to_version, actor, ts, comment)"
		" VALUES(?,?,?,?,?,?,?,?,?)";
	sqlite3_stmt *st = prep(tx, sql);
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, model_id);
	sq_bind_text(st, 2, target);
	sq_bind_text(st, 3, name);
	sq_bind_text(st, 4, kind);
	if (from > 0)
		sqlite3_bind_int64(st, 5, from);
	if (to > 0)
		sqlite3_bind_int64(st, 6, to);
	sq_bind_text(st, 7, actor);
	sqlite3_bind_int64(st, 8, now);
	sq_bind_text(st, 9, comment ? comment : "");
	return done(tx, st, "record move");
}

static int move_first_entered(reg_tx *tx, int64_t model_id, const char *stage, int64_t number, int64_t *ts)
{
	int last;
	static const char sql[] =
		"SELECT MIN(ts) FROM moves WHERE model_id=? AND target='stage' AND name=? AND to_version=?";
	sqlite3_stmt *st = prep(tx, sql);
	int rc = MLREG_ENOTFOUND;
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, model_id);
	sq_bind_text(st, 2, stage);
	sqlite3_bind_int64(st, 3, number);
	if ((last = sqlite3_step(st)) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		*ts = sqlite3_column_int64(st, 0);
		rc = 0;
	}
	if (sq_end(st, last, "read stage history") < 0)
		return MLREG_EIO;
	return rc == 0 ? 0 : mlreg_error_set(MLREG_ENOTFOUND, "version %lld never held stage '%s'", (long long)number, stage);
}

static int history_list(reg_tx *tx, int64_t model_id, const char *target, const char *name, int64_t limit,
			int64_t offset, cJSON **out)
{
	static const char sql[] =
		"SELECT id, target, name, kind, from_version, to_version, actor, ts, comment FROM moves"
		" WHERE model_id=?1 AND (?2 IS NULL OR target=?2) AND (?3 IS NULL OR name=?3)"
		" ORDER BY id LIMIT ?4 OFFSET ?5";
	sqlite3_stmt *st = prep(tx, sql);
	cJSON *o, *a;
	int64_t n = 0;
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, model_id);
	sq_bind_text(st, 2, target);
	sq_bind_text(st, 3, name);
	sqlite3_bind_int64(st, 4, limit + 1);
	sqlite3_bind_int64(st, 5, offset);
	o = cJSON_CreateObject();
	a = cJSON_AddArrayToObject(o, "history");
	while (sqlite3_step(st) == SQLITE_ROW) {
		cJSON *e;
		const char *t = (const char *)sqlite3_column_text(st, 1);
		if (n++ == limit)
			break;
		e = cJSON_CreateObject();
		cJSON_AddNumberToObject(e, "id", (double)sqlite3_column_int64(st, 0));
		cJSON_AddStringToObject(e, "target", t);
		cJSON_AddItemToObject(e, !strcmp(t, "stage") ? "stage" : "alias", sq_col_json_str(st, 2));
		cJSON_AddItemToObject(e, "kind", sq_col_json_str(st, 3));
		cJSON_AddItemToObject(e, "from", col_num_or_null(st, 4));
		cJSON_AddItemToObject(e, "to", col_num_or_null(st, 5));
		cJSON_AddItemToObject(e, "actor", sq_col_json_str(st, 6));
		sq_add_time(e, "time", sqlite3_column_int64(st, 7));
		cJSON_AddItemToObject(e, "comment", sq_col_json_str(st, 8));
		cJSON_AddItemToArray(a, e);
	}
	sqlite3_reset(st);
	if (n > limit) {
		char tok[32];
		snprintf(tok, sizeof(tok), "%lld", (long long)(offset + limit));
		cJSON_AddStringToObject(o, "next_page_token", tok);
	} else {
		cJSON_AddNullToObject(o, "next_page_token");
	}
	*out = o;
	return 0;
}

static int version_refs(reg_tx *tx, int64_t version_id, char *why, size_t wlen)
{
	static const char ssql[] = "SELECT stage, pos FROM stage_stack WHERE version_id=? ORDER BY pos DESC LIMIT 1";
	static const char asql[] = "SELECT alias FROM aliases WHERE version_id=? ORDER BY alias LIMIT 1";
	static const char dsql[] =
		"SELECT d.name, CASE WHEN d.stable_version=v.number THEN 'stable' ELSE 'target' END"
		" FROM versions v JOIN deployments d ON d.model_id=v.model_id"
		" WHERE v.id=? AND (d.stable_version=v.number OR d.target_version=v.number) ORDER BY d.name LIMIT 1";
	sqlite3_stmt *st = prep(tx, ssql);
	int found = 0;
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, version_id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(why, wlen, "it is on the rollback stack of stage '%.63s'", (const char *)sqlite3_column_text(st, 0));
		found = 1;
	}
	sqlite3_reset(st);
	if (found)
		return 1;
	if (!(st = prep(tx, asql)))
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, version_id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(why, wlen, "alias '%.63s' points to it", (const char *)sqlite3_column_text(st, 0));
		found = 1;
	}
	sqlite3_reset(st);
	if (found)
		return 1;
	/* nodes serve a deployment's stable version and load its target: a
	 * tombstone there would be bytes gc frees under a serving fleet */
	if (!(st = prep(tx, dsql)))
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, version_id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(why, wlen, "deployment '%.63s' serves it as its %s version", (const char *)sqlite3_column_text(st, 0),
			 (const char *)sqlite3_column_text(st, 1));
		found = 1;
	}
	sqlite3_reset(st);
	return found;
}

static int version_digest(reg_tx *tx, const char *model, int64_t number, char digest[UTIL_DIGEST_LEN + 1])
{
	static const char sql[] =
		"SELECT v.manifest_digest FROM versions v JOIN models m ON m.id=v.model_id WHERE m.name=? AND v.number=?";
	sqlite3_stmt *st = prep(tx, sql);
	int rc = MLREG_ENOTFOUND;
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, model);
	sqlite3_bind_int64(st, 2, number);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(digest, UTIL_DIGEST_LEN + 1, "%s", (const char *)sqlite3_column_text(st, 0));
		rc = 0;
	}
	sqlite3_reset(st);
	return rc == 0 ? 0 : mlreg_error_set(MLREG_ENOTFOUND, "version '%s:%lld' not found", model, (long long)number);
}

static int version_facts(reg_tx *tx, int64_t version_id, cJSON **out)
{
	int last;
	static const char vsql[] = "SELECT number, status, created_by, schema_json FROM versions WHERE id=?";
	static const char msql[] = "SELECT key, value FROM metric_latest WHERE version_id=?";
	sqlite3_stmt *st = prep(tx, vsql);
	cJSON *o, *metrics, *schema = NULL;
	const char *sch;
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, version_id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return mlreg_error_set(MLREG_ENOTFOUND, "version not found");
	}
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "version", (double)sqlite3_column_int64(st, 0));
	cJSON_AddItemToObject(o, "status", sq_col_json_str(st, 1));
	cJSON_AddItemToObject(o, "created_by", sq_col_json_str(st, 2));
	sch = (const char *)sqlite3_column_text(st, 3);
	if (sch && util_json_parse(sch, strlen(sch), UTIL_JSON_MAX_DEPTH, &schema) == 0)
		cJSON_AddItemToObject(o, "schema", schema);
	else
		cJSON_AddNullToObject(o, "schema");
	sqlite3_reset(st);
	metrics = cJSON_AddObjectToObject(o, "metrics");
	if (!(st = prep(tx, msql))) {
		cJSON_Delete(o);
		return MLREG_EIO;
	}
	sqlite3_bind_int64(st, 1, version_id);
	while ((last = sqlite3_step(st)) == SQLITE_ROW)
		cJSON_AddNumberToObject(metrics, (const char *)sqlite3_column_text(st, 0), sqlite3_column_double(st, 1));
	if (sq_end(st, last, "read metrics") < 0) {
		cJSON_Delete(o);
		return MLREG_EIO;
	}
	*out = o;
	return 0;
}

/* ---- policies ---- */
static int policy_put(reg_tx *tx, const char *model, const char *stage, const char *from, const char *metrics,
		      int64_t approvals, bool require_signature, int64_t soak_ms, bool same_schema, const char *actor,
		      int64_t now)
{
	static const char sql[] =
		"INSERT INTO policies(model, stage, from_stage, metrics, approvals, require_signature, soak_ms, same_schema,"
		" updated_at, updated_by) VALUES(?,?,?,?,?,?,?,?,?,?)"
		" ON CONFLICT(model, stage) DO UPDATE SET from_stage=excluded.from_stage, metrics=excluded.metrics,"
		" approvals=excluded.approvals, require_signature=excluded.require_signature, soak_ms=excluded.soak_ms,"
		" same_schema=excluded.same_schema, updated_at=excluded.updated_at, updated_by=excluded.updated_by";
	sqlite3_stmt *st = prep(tx, sql);
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, model);
	sq_bind_text(st, 2, stage);
	sq_bind_text(st, 3, from);
	sq_bind_text(st, 4, metrics);
	sqlite3_bind_int64(st, 5, approvals);
	sqlite3_bind_int(st, 6, require_signature);
	if (soak_ms > 0)
		sqlite3_bind_int64(st, 7, soak_ms);
	sqlite3_bind_int(st, 8, same_schema);
	sqlite3_bind_int64(st, 9, now);
	sq_bind_text(st, 10, actor);
	return done(tx, st, "set policy");
}

static int policy_delete(reg_tx *tx, const char *model, const char *stage)
{
	static const char sql[] = "DELETE FROM policies WHERE model=? AND stage=?";
	sqlite3_stmt *st = prep(tx, sql);
	int rc;
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, model);
	sq_bind_text(st, 2, stage);
	if ((rc = done(tx, st, "remove policy")) < 0)
		return rc;
	return sqlite3_changes(W(tx)->db) > 0
		       ? 0
		       : mlreg_error_set(MLREG_ENOTFOUND, "no policy for '%s' at stage '%s'", model, stage);
}

static int policy_list(reg_tx *tx, const char *model, cJSON **out)
{
	int last;
	static const char sql[] =
		"SELECT p.model, p.stage, p.from_stage, p.metrics, p.approvals, p.require_signature, p.soak_ms,"
		" p.same_schema, p.updated_at, p.updated_by FROM policies p LEFT JOIN stages g ON g.name=p.stage"
		" WHERE ?1 IS NULL OR p.model=?1 OR p.model='*' ORDER BY g.position, p.model='*' DESC, p.model";
	sqlite3_stmt *st = prep(tx, sql);
	cJSON *o, *a;
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, model);
	o = cJSON_CreateObject();
	a = cJSON_AddArrayToObject(o, "policies");
	while ((last = sqlite3_step(st)) == SQLITE_ROW) {
		cJSON *e = cJSON_CreateObject(), *metrics = NULL;
		const char *mt = (const char *)sqlite3_column_text(st, 3);
		cJSON_AddItemToObject(e, "model", sq_col_json_str(st, 0));
		cJSON_AddItemToObject(e, "stage", sq_col_json_str(st, 1));
		cJSON_AddItemToObject(e, "from", sq_col_json_str(st, 2));
		if (!mt || util_json_parse(mt, strlen(mt), 4, &metrics) < 0 || !cJSON_IsArray(metrics)) {
			cJSON_Delete(metrics);
			metrics = cJSON_CreateArray();
		}
		cJSON_AddItemToObject(e, "metrics", metrics);
		cJSON_AddNumberToObject(e, "approvals", (double)sqlite3_column_int64(st, 4));
		cJSON_AddBoolToObject(e, "require_signature", sqlite3_column_int(st, 5) != 0);
		if (sqlite3_column_type(st, 6) == SQLITE_NULL) {
			cJSON_AddNullToObject(e, "soak");
			cJSON_AddNullToObject(e, "soak_ms");
		} else {
			char d[32];
			util_duration_format(sqlite3_column_int64(st, 6), d, sizeof(d));
			cJSON_AddStringToObject(e, "soak", d);
			cJSON_AddNumberToObject(e, "soak_ms", (double)sqlite3_column_int64(st, 6));
		}
		cJSON_AddBoolToObject(e, "same_schema", sqlite3_column_int(st, 7) != 0);
		sq_add_time(e, "updated_at", sqlite3_column_int64(st, 8));
		cJSON_AddItemToObject(e, "updated_by", sq_col_json_str(st, 9));
		cJSON_AddItemToArray(a, e);
	}
	/* a policy missed here would be a gate check skipped */
	if (sq_end(st, last, "read policies") < 0) {
		cJSON_Delete(o);
		return MLREG_EIO;
	}
	*out = o;
	return 0;
}

/* ---- approvals ---- */
static int approval_add(reg_tx *tx, int64_t version_id, const char *stage, const char *principal, int64_t now,
			const char *comment, bool *added)
{
	static const char sql[] =
		"INSERT INTO approvals(version_id, stage, principal, ts, comment) VALUES(?,?,?,?,?)"
		" ON CONFLICT(version_id, stage, principal) DO NOTHING";
	sqlite3_stmt *st = prep(tx, sql);
	int rc;
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, version_id);
	sq_bind_text(st, 2, stage);
	sq_bind_text(st, 3, principal);
	sqlite3_bind_int64(st, 4, now);
	sq_bind_text(st, 5, comment ? comment : "");
	if ((rc = done(tx, st, "record approval")) < 0)
		return rc;
	*added = sqlite3_changes(W(tx)->db) > 0;
	return 0;
}

static int approval_count(reg_tx *tx, int64_t version_id, const char *stage, int64_t *count)
{
	int last;
	static const char sql[] = "SELECT COUNT(*) FROM approvals WHERE version_id=? AND stage=?";
	sqlite3_stmt *st = prep(tx, sql);
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, version_id);
	sq_bind_text(st, 2, stage);
	*count = (last = sqlite3_step(st)) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	return sq_end(st, last, "count approvals");
}

static int approval_list(reg_tx *tx, int64_t version_id, const char *stage, cJSON **out)
{
	static const char sql[] =
		"SELECT stage, principal, ts, comment FROM approvals WHERE version_id=?1 AND (?2 IS NULL OR stage=?2)"
		" ORDER BY ts, principal";
	sqlite3_stmt *st = prep(tx, sql);
	cJSON *o, *a;
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, version_id);
	sq_bind_text(st, 2, stage);
	o = cJSON_CreateObject();
	a = cJSON_AddArrayToObject(o, "approvals");
	while (sqlite3_step(st) == SQLITE_ROW) {
		cJSON *e = cJSON_CreateObject();
		cJSON_AddItemToObject(e, "stage", sq_col_json_str(st, 0));
		cJSON_AddItemToObject(e, "principal", sq_col_json_str(st, 1));
		sq_add_time(e, "time", sqlite3_column_int64(st, 2));
		cJSON_AddItemToObject(e, "comment", sq_col_json_str(st, 3));
		cJSON_AddItemToArray(a, e);
	}
	sqlite3_reset(st);
	*out = o;
	return 0;
}

void sq_promo_ops(reg_meta_ops *ops)
{
	ops->stages_list = stages_list;
	ops->stages_replace = stages_replace;
	ops->stage_in_use = stage_in_use;
	ops->stack_top = stack_top;
	ops->stack_push = stack_push;
	ops->stack_pop = stack_pop;
	ops->stack_list = stack_list;
	ops->alias_get = alias_get;
	ops->alias_set = alias_set;
	ops->alias_remove = alias_remove;
	ops->model_pointers = model_pointers;
	ops->move_insert = move_insert;
	ops->move_first_entered = move_first_entered;
	ops->history_list = history_list;
	ops->version_refs = version_refs;
	ops->version_facts = version_facts;
	ops->version_digest = version_digest;
	ops->policy_put = policy_put;
	ops->policy_delete = policy_delete;
	ops->policy_list = policy_list;
	ops->approval_add = approval_add;
	ops->approval_count = approval_count;
	ops->approval_list = approval_list;
}

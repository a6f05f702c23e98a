/*
 * meta_sqlite_deploy.c - serving nodes, deployments and their rollout
 * state, deployment events, the reconciler's lease and the generation
 * counter in the SQLite metadata store.
 *
 * The rollout state is the reconciler's object, kept verbatim as JSON text
 * (so what a reconciler wrote is exactly what the next one reads back); the
 * few members the registry itself must reason about - the phase and the
 * stable, target and rejected versions - are copied into columns by the
 * same UPDATE, so "may this version be deleted", "does this verb apply"
 * and a status listing are plain column reads.  The lease and the
 * generation are single rows: every write transaction already holds the
 * one writer, so a read-modify-write of them inside it cannot race.  Like
 * the other store files, every function runs on the connection of the
 * transaction it is given, with constant SQL and bound values only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry/meta_sqlite.h"
#include "util/json.h"

static sqlite3_stmt *prep(reg_tx *tx, const char *sql) { return sq_stmt(W(tx), sql); }

static int done(reg_tx *tx, sqlite3_stmt *st, const char *what) { return sq_step_done(st, W(tx)->db, what); }

static cJSON *col_int_or_null(sqlite3_stmt *st, int col)
{
	return sqlite3_column_type(st, col) == SQLITE_NULL ? cJSON_CreateNull()
							   : cJSON_CreateNumber((double)sqlite3_column_int64(st, col));
}

/* A stored JSON text as a tree; what cannot be read (it never should)
 * becomes `fallback` so one bad row does not hide the others. */
static cJSON *col_json(sqlite3_stmt *st, int col, cJSON *(*fallback)(void))
{
	const char *t = (const char *)sqlite3_column_text(st, col);
	cJSON *v = NULL;
	if (!t)
		return fallback();
	if (util_json_parse(t, strlen(t), UTIL_JSON_MAX_DEPTH, &v) < 0) {
		LOG_WARN("unreadable JSON in a controller row: %.80s", t);
		mlreg_error_clear();
		return fallback();
	}
	return v;
}

/* ---- nodes ---- */
static int node_insert(reg_tx *tx, const char *name, const char *url, const char *driver, const char *labels,
		       const char *actor, int64_t now, int64_t *id)
{
	static const char sql[] =
		"INSERT INTO nodes(name, url, driver, labels, created_at, created_by) VALUES(?,?,?,?,?,?)";
	sqlite3_stmt *st = prep(tx, sql);
	int rc;
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, name);
	sq_bind_text(st, 2, url);
	sq_bind_text(st, 3, driver);
	sq_bind_text(st, 4, labels);
	sqlite3_bind_int64(st, 5, now);
	sq_bind_text(st, 6, actor);
	if ((rc = done(tx, st, "insert node")) < 0)
		return rc == MLREG_EEXISTS ? mlreg_error_set(MLREG_EEXISTS, "node '%s' already exists", name) : rc;
	*id = sqlite3_last_insert_rowid(W(tx)->db);
	return 0;
}

static int node_delete(reg_tx *tx, const char *name)
{
	static const char sql[] = "DELETE FROM nodes WHERE name=?";
	sqlite3_stmt *st = prep(tx, sql);
	int rc;
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, name);
	if ((rc = done(tx, st, "remove node")) < 0)
		return rc;
	return sqlite3_changes(W(tx)->db) > 0 ? 0 : mlreg_error_set(MLREG_ENOTFOUND, "node '%s' not found", name);
}

static int node_rows(reg_tx *tx, cJSON **out)
{
	static const char sql[] =
		"SELECT id, name, url, driver, labels, created_at, created_by, observed, observed_at, fails, next_try_at"
		" FROM nodes ORDER BY name";
	sqlite3_stmt *st = prep(tx, sql);
	cJSON *a;
	int last;
	if (!st)
		return MLREG_EIO;
	a = cJSON_CreateArray();
	while ((last = sqlite3_step(st)) == SQLITE_ROW) {
		cJSON *e = cJSON_CreateObject();
		cJSON_AddNumberToObject(e, "id", (double)sqlite3_column_int64(st, 0));
		cJSON_AddItemToObject(e, "name", sq_col_json_str(st, 1));
		cJSON_AddItemToObject(e, "url", sq_col_json_str(st, 2));
		cJSON_AddItemToObject(e, "driver", sq_col_json_str(st, 3));
		cJSON_AddItemToObject(e, "labels", col_json(st, 4, cJSON_CreateObject));
		cJSON_AddNumberToObject(e, "created_at", (double)sqlite3_column_int64(st, 5));
		cJSON_AddItemToObject(e, "created_by", sq_col_json_str(st, 6));
		cJSON_AddItemToObject(e, "observed", col_json(st, 7, cJSON_CreateNull));
		cJSON_AddItemToObject(e, "observed_at", col_int_or_null(st, 8));
		cJSON_AddNumberToObject(e, "fails", (double)sqlite3_column_int64(st, 9));
		cJSON_AddNumberToObject(e, "next_try_at", (double)sqlite3_column_int64(st, 10));
		cJSON_AddItemToArray(a, e);
	}
	if (sq_end(st, last, "read nodes") < 0) {
		cJSON_Delete(a);
		return MLREG_EIO;
	}
	*out = a;
	return 0;
}

static int node_observe(reg_tx *tx, int64_t id, const char *observed, int64_t fails, int64_t next_try_at, int64_t now)
{
	static const char sql[] = "UPDATE nodes SET observed=?, observed_at=?, fails=?, next_try_at=? WHERE id=?";
	sqlite3_stmt *st = prep(tx, sql);
	int rc;
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, observed);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, fails);
	sqlite3_bind_int64(st, 4, next_try_at);
	sqlite3_bind_int64(st, 5, id);
	if ((rc = done(tx, st, "record node observation")) < 0)
		return rc;
	return sqlite3_changes(W(tx)->db) > 0 ? 0 : mlreg_error_set(MLREG_ENOTFOUND, "node %lld is gone", (long long)id);
}

/* ---- deployments ---- */
static int deploy_insert(reg_tx *tx, const reg_deploy_row *d, const char *actor, int64_t now, int64_t *id)
{
	static const char sql[] =
		"INSERT INTO deployments(name, model_id, stage, alias, selector, strategy, steps, analysis, min_requests,"
		" failure_limit, max_unavailable, progress_deadline_ms, scale_down_delay_ms, analysis_interval_ms,"
		" failure_margin, created_at, created_by, updated_at) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?16,?,?16)";
	sqlite3_stmt *st = prep(tx, sql);
	int rc;
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, d->name);
	sqlite3_bind_int64(st, 2, d->model_id);
	sq_bind_text(st, 3, d->stage);
	sq_bind_text(st, 4, d->alias);
	sq_bind_text(st, 5, d->selector);
	sq_bind_text(st, 6, d->strategy);
	sq_bind_text(st, 7, d->steps);
	sq_bind_text(st, 8, d->analysis ? d->analysis : "");
	sqlite3_bind_int64(st, 9, d->min_requests);
	sqlite3_bind_int64(st, 10, d->failure_limit);
	sqlite3_bind_int64(st, 11, d->max_unavailable);
	sqlite3_bind_int64(st, 12, d->progress_deadline_ms);
	sqlite3_bind_int64(st, 13, d->scale_down_delay_ms);
	sqlite3_bind_int64(st, 14, d->analysis_interval_ms);
	sqlite3_bind_double(st, 15, d->failure_margin);
	sqlite3_bind_int64(st, 16, now);
	sq_bind_text(st, 17, actor);
	if ((rc = done(tx, st, "insert deployment")) < 0)
		return rc == MLREG_EEXISTS ? mlreg_error_set(MLREG_EEXISTS, "deployment '%s' already exists", d->name)
					   : rc;
	*id = sqlite3_last_insert_rowid(W(tx)->db);
	return 0;
}

static int deploy_delete(reg_tx *tx, const char *name, int64_t *id)
{
	static const char find[] = "SELECT id FROM deployments WHERE name=?";
	static const char del[] = "DELETE FROM deployments WHERE id=?";
	sqlite3_stmt *st = prep(tx, find);
	int last;
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, name);
	*id = (last = sqlite3_step(st)) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	if (sq_end(st, last, "find deployment") < 0)
		return MLREG_EIO;
	if (*id == 0)
		return mlreg_error_set(MLREG_ENOTFOUND, "deployment '%s' not found", name);
	if (!(st = prep(tx, del)))
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, *id);
	return done(tx, st, "remove deployment");
}

#define DEPLOY_COLS                                                                                            \
	"SELECT d.id, d.name, m.name, d.model_id, d.stage, d.alias, d.selector, d.strategy, d.steps, d.analysis," \
	" d.min_requests, d.failure_limit, d.max_unavailable, d.progress_deadline_ms, d.scale_down_delay_ms,"     \
	" d.analysis_interval_ms, d.failure_margin, d.created_at, d.created_by, d.state, d.phase,"               \
	" d.stable_version, d.target_version, d.rejected_version, d.verb, d.verb_by, d.verb_at, d.updated_at"     \
	" FROM deployments d JOIN models m ON m.id=d.model_id"

static cJSON *deploy_row(sqlite3_stmt *st)
{
	static const char *const ints[] = {"min_requests",        "failure_limit",        "max_unavailable",
					   "progress_deadline_ms", "scale_down_delay_ms", "analysis_interval_ms"};
	cJSON *e = cJSON_CreateObject();
	cJSON_AddNumberToObject(e, "id", (double)sqlite3_column_int64(st, 0));
	cJSON_AddItemToObject(e, "name", sq_col_json_str(st, 1));
	cJSON_AddItemToObject(e, "model", sq_col_json_str(st, 2));
	cJSON_AddNumberToObject(e, "model_id", (double)sqlite3_column_int64(st, 3));
	cJSON_AddItemToObject(e, "stage", sq_col_json_str(st, 4));
	cJSON_AddItemToObject(e, "alias", sq_col_json_str(st, 5));
	cJSON_AddItemToObject(e, "selector", col_json(st, 6, cJSON_CreateObject));
	cJSON_AddItemToObject(e, "strategy", sq_col_json_str(st, 7));
	cJSON_AddItemToObject(e, "steps", sq_col_json_str(st, 8));
	cJSON_AddItemToObject(e, "analysis", sq_col_json_str(st, 9));
	for (int i = 0; i < 6; i++)
		cJSON_AddNumberToObject(e, ints[i], (double)sqlite3_column_int64(st, 10 + i));
	cJSON_AddNumberToObject(e, "failure_margin", sqlite3_column_double(st, 16));
	cJSON_AddNumberToObject(e, "created_at", (double)sqlite3_column_int64(st, 17));
	cJSON_AddItemToObject(e, "created_by", sq_col_json_str(st, 18));
	cJSON_AddItemToObject(e, "state", col_json(st, 19, cJSON_CreateObject));
	cJSON_AddItemToObject(e, "phase", sq_col_json_str(st, 20));
	cJSON_AddItemToObject(e, "stable_version", col_int_or_null(st, 21));
	cJSON_AddItemToObject(e, "target_version", col_int_or_null(st, 22));
	cJSON_AddItemToObject(e, "rejected_version", col_int_or_null(st, 23));
	cJSON_AddItemToObject(e, "verb", sq_col_json_str(st, 24));
	cJSON_AddItemToObject(e, "verb_by", sq_col_json_str(st, 25));
	cJSON_AddItemToObject(e, "verb_at", col_int_or_null(st, 26));
	cJSON_AddNumberToObject(e, "updated_at", (double)sqlite3_column_int64(st, 27));
	return e;
}

static int deploy_rows(reg_tx *tx, const char *name, cJSON **out)
{
	static const char all[] = DEPLOY_COLS " ORDER BY d.name";
	static const char one[] = DEPLOY_COLS " WHERE d.name=?";
	sqlite3_stmt *st = prep(tx, name ? one : all);
	cJSON *a;
	int last;
	if (!st)
		return MLREG_EIO;
	if (name)
		sq_bind_text(st, 1, name);
	a = cJSON_CreateArray();
	while ((last = sqlite3_step(st)) == SQLITE_ROW)
		cJSON_AddItemToArray(a, deploy_row(st));
	if (sq_end(st, last, "read deployments") < 0) {
		cJSON_Delete(a);
		return MLREG_EIO;
	}
	if (name && !a->child) {
		cJSON_Delete(a);
		return mlreg_error_set(MLREG_ENOTFOUND, "deployment '%s' not found", name);
	}
	*out = a;
	return 0;
}

static int deploy_row_by_id(reg_tx *tx, int64_t id, cJSON **out)
{
	static const char sql[] = DEPLOY_COLS " WHERE d.id=?";
	sqlite3_stmt *st = prep(tx, sql);
	cJSON *e = NULL;
	int last;
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, id);
	if ((last = sqlite3_step(st)) == SQLITE_ROW)
		e = deploy_row(st);
	if (sq_end(st, last, "read deployment") < 0) {
		cJSON_Delete(e);
		return MLREG_EIO;
	}
	if (!e)
		return mlreg_error_set(MLREG_ENOTFOUND, "deployment %lld is gone", (long long)id);
	*out = e;
	return 0;
}

static int deploy_set_state(reg_tx *tx, int64_t id, const reg_rollout_row *s, bool consume_verb, int64_t now)
{
	static const char sql[] =
		"UPDATE deployments SET state=?, phase=?, stable_version=?, target_version=?, rejected_version=?,"
		" updated_at=?, verb=CASE WHEN ?7 THEN NULL ELSE verb END, verb_by=CASE WHEN ?7 THEN NULL ELSE verb_by END,"
		" verb_at=CASE WHEN ?7 THEN NULL ELSE verb_at END WHERE id=?8";
	sqlite3_stmt *st = prep(tx, sql);
	int rc;
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, s->state);
	sq_bind_text(st, 2, s->phase);
	if (s->stable_version > 0)
		sqlite3_bind_int64(st, 3, s->stable_version);
	if (s->target_version > 0)
		sqlite3_bind_int64(st, 4, s->target_version);
	if (s->rejected_version > 0)
		sqlite3_bind_int64(st, 5, s->rejected_version);
	sqlite3_bind_int64(st, 6, now);
	sqlite3_bind_int(st, 7, consume_verb);
	sqlite3_bind_int64(st, 8, id);
	if ((rc = done(tx, st, "write rollout state")) < 0)
		return rc;
	return sqlite3_changes(W(tx)->db) > 0 ? 0
					       : mlreg_error_set(MLREG_ENOTFOUND, "deployment %lld is gone", (long long)id);
}

static int deploy_set_verb(reg_tx *tx, int64_t id, const char *verb, const char *actor, int64_t now)
{
	static const char sql[] = "UPDATE deployments SET verb=?, verb_by=?, verb_at=? WHERE id=?";
	sqlite3_stmt *st = prep(tx, sql);
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, verb);
	sq_bind_text(st, 2, actor);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, id);
	return done(tx, st, "record rollout verb");
}

static int deploy_event_add(reg_tx *tx, int64_t deployment_id, int64_t now, const char *kind, const char *message,
			    const char *details)
{
	static const char sql[] =
		"INSERT INTO deployment_events(deployment_id, ts, kind, message, details) VALUES(?,?,?,?,?)";
	sqlite3_stmt *st = prep(tx, sql);
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, deployment_id);
	sqlite3_bind_int64(st, 2, now);
	sq_bind_text(st, 3, kind);
	sq_bind_text(st, 4, message ? message : "");
	sq_bind_text(st, 5, details ? details : "{}");
	return done(tx, st, "record deployment event");
}

static int deploy_events(reg_tx *tx, int64_t deployment_id, int64_t limit, cJSON **out)
{
	static const char sql[] =
		"SELECT ts, kind, message, details FROM deployment_events WHERE deployment_id=? ORDER BY id DESC LIMIT ?";
	sqlite3_stmt *st = prep(tx, sql);
	cJSON *o, *a;
	int last;
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, deployment_id);
	sqlite3_bind_int64(st, 2, limit);
	o = cJSON_CreateObject();
	a = cJSON_AddArrayToObject(o, "events");
	while ((last = sqlite3_step(st)) == SQLITE_ROW) {
		cJSON *e = cJSON_CreateObject();
		sq_add_time(e, "time", sqlite3_column_int64(st, 0));
		cJSON_AddItemToObject(e, "kind", sq_col_json_str(st, 1));
		cJSON_AddItemToObject(e, "message", sq_col_json_str(st, 2));
		cJSON_AddItemToObject(e, "details", col_json(st, 3, cJSON_CreateObject));
		cJSON_AddItemToArray(a, e);
	}
	if (sq_end(st, last, "read deployment events") < 0) {
		cJSON_Delete(o);
		return MLREG_EIO;
	}
	*out = o;
	return 0;
}

static int move_last_kind(reg_tx *tx, int64_t model_id, const char *target, const char *name, char *kind, size_t klen)
{
	static const char sql[] = "SELECT kind FROM moves WHERE model_id=? AND target=? AND name=? ORDER BY id DESC LIMIT 1";
	sqlite3_stmt *st = prep(tx, sql);
	int last, found = 0;
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, model_id);
	sq_bind_text(st, 2, target);
	sq_bind_text(st, 3, name);
	if ((last = sqlite3_step(st)) == SQLITE_ROW) {
		snprintf(kind, klen, "%s", (const char *)sqlite3_column_text(st, 0));
		found = 1;
	}
	if (sq_end(st, last, "read the last move") < 0)
		return MLREG_EIO;
	return found ? 0 : mlreg_error_set(MLREG_ENOTFOUND, "%s '%s' never moved", target, name);
}

/* ---- lease and generation ---- */
static int lease_get(reg_tx *tx, char *holder, size_t hlen, int64_t *epoch, int64_t *expires_at)
{
	static const char sql[] = "SELECT holder, epoch, expires_at FROM controller_lease WHERE id=1";
	sqlite3_stmt *st = prep(tx, sql);
	int last;
	if (!st)
		return MLREG_EIO;
	if ((last = sqlite3_step(st)) != SQLITE_ROW) {
		sq_end(st, last, "read the controller lease");
		return mlreg_error_set(MLREG_EIO, "database: the controller lease row is missing");
	}
	snprintf(holder, hlen, "%s", (const char *)sqlite3_column_text(st, 0));
	*epoch = sqlite3_column_int64(st, 1);
	*expires_at = sqlite3_column_int64(st, 2);
	return sq_end(st, last, "read the controller lease");
}

static int lease_put(reg_tx *tx, const char *holder, int64_t epoch, int64_t expires_at)
{
	static const char sql[] = "UPDATE controller_lease SET holder=?, epoch=?, expires_at=? WHERE id=1";
	sqlite3_stmt *st = prep(tx, sql);
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, holder);
	sqlite3_bind_int64(st, 2, epoch);
	sqlite3_bind_int64(st, 3, expires_at);
	return done(tx, st, "write the controller lease");
}

static int generation_get(reg_tx *tx, int64_t *gen)
{
	static const char sql[] = "SELECT generation FROM controller_generation WHERE id=1";
	sqlite3_stmt *st = prep(tx, sql);
	int last;
	if (!st)
		return MLREG_EIO;
	*gen = (last = sqlite3_step(st)) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	return sq_end(st, last, "read the controller generation");
}

static int generation_bump(reg_tx *tx)
{
	static const char sql[] = "UPDATE controller_generation SET generation=generation+1 WHERE id=1";
	sqlite3_stmt *st = prep(tx, sql);
	if (!st)
		return MLREG_EIO;
	return done(tx, st, "bump the controller generation");
}

void sq_deploy_ops(reg_meta_ops *ops)
{
	ops->node_insert = node_insert;
	ops->node_delete = node_delete;
	ops->node_rows = node_rows;
	ops->node_observe = node_observe;
	ops->deploy_insert = deploy_insert;
	ops->deploy_delete = deploy_delete;
	ops->deploy_rows = deploy_rows;
	ops->deploy_row_by_id = deploy_row_by_id;
	ops->deploy_set_state = deploy_set_state;
	ops->deploy_set_verb = deploy_set_verb;
	ops->deploy_event_add = deploy_event_add;
	ops->deploy_events = deploy_events;
	ops->move_last_kind = move_last_kind;
	ops->lease_get = lease_get;
	ops->lease_put = lease_put;
	ops->generation_get = generation_get;
	ops->generation_bump = generation_bump;
}

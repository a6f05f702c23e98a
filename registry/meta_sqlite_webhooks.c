/*
 * meta_sqlite_webhooks.c - webhook subscriptions, the event outbox and the
 * delivery log in the SQLite metadata store.
 *
 * The outbox is the transactional half of at-least-once delivery: a change
 * and the rows announcing it commit together (outbox_enqueue runs inside
 * the change's transaction), so no event is lost to a crash between the two
 * and none is sent for a change that rolled back.  The sender reads due
 * rows, delivers with no transaction open, then records the outcome in a
 * short write transaction of its own (outbox_record).  Subscription
 * matching uses SQLite's JSON1 json_each over the stored events array.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry/meta_sqlite.h"
#include "util/json.h"

static sqlite3_stmt *prep(reg_tx *tx, const char *sql) { return sq_stmt(W(tx), sql); }

static int webhook_insert(reg_tx *tx, const char *id, const char *url, const char *events_json, const char *secret,
			  const char *actor, int64_t now)
{
	static const char sql[] =
		"INSERT INTO webhooks(id, url, events, secret, created_at, created_by) VALUES(?,?,?,?,?,?)";
	sqlite3_stmt *st = prep(tx, sql);
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, id);
	sq_bind_text(st, 2, url);
	sq_bind_text(st, 3, events_json);
	sq_bind_text(st, 4, secret);
	sqlite3_bind_int64(st, 5, now);
	sq_bind_text(st, 6, actor);
	return sq_step_done(st, W(tx)->db, "insert webhook");
}

static int webhook_remove(reg_tx *tx, const char *id, int64_t now)
{
	static const char rm[] = "UPDATE webhooks SET removed_at=? WHERE id=? AND removed_at IS NULL";
	static const char drop[] = "UPDATE outbox SET state='dropped', done_at=? WHERE webhook_id=? AND state='pending'";
	sqlite3_stmt *st = prep(tx, rm);
	int rc;
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, now);
	sq_bind_text(st, 2, id);
	if ((rc = sq_step_done(st, W(tx)->db, "remove webhook")) < 0)
		return rc;
	if (sqlite3_changes(W(tx)->db) == 0)
		return mlreg_error_set(MLREG_ENOTFOUND, "webhook '%s' not found", id);
	if (!(st = prep(tx, drop)))
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, now);
	sq_bind_text(st, 2, id);
	return sq_step_done(st, W(tx)->db, "drop pending deliveries");
}

static int webhook_list(reg_tx *tx, cJSON **out)
{
	static const char sql[] =
		"SELECT w.id, w.url, w.events, w.created_at,"
		" (SELECT COUNT(*) FROM outbox o WHERE o.webhook_id=w.id AND o.state='pending'),"
		" (SELECT COUNT(*) FROM outbox o WHERE o.webhook_id=w.id AND o.state='delivered'),"
		" (SELECT COUNT(*) FROM outbox o WHERE o.webhook_id=w.id AND o.state='failed')"
		" FROM webhooks w WHERE w.removed_at IS NULL ORDER BY w.created_at, w.id";
	sqlite3_stmt *st = prep(tx, sql);
	cJSON *o, *a;
	if (!st)
		return MLREG_EIO;
	o = cJSON_CreateObject();
	a = cJSON_AddArrayToObject(o, "webhooks");
	while (sqlite3_step(st) == SQLITE_ROW) {
		cJSON *e = cJSON_CreateObject(), *ev = NULL;
		const char *evs = (const char *)sqlite3_column_text(st, 2);
		cJSON_AddItemToObject(e, "id", sq_col_json_str(st, 0));
		cJSON_AddItemToObject(e, "url", sq_col_json_str(st, 1));
		if (!evs || util_json_parse(evs, strlen(evs), 4, &ev) < 0)
			ev = cJSON_CreateArray();
		cJSON_AddItemToObject(e, "events", ev);
		sq_add_time(e, "created_at", sqlite3_column_int64(st, 3));
		cJSON_AddNumberToObject(e, "pending", (double)sqlite3_column_int64(st, 4));
		cJSON_AddNumberToObject(e, "delivered", (double)sqlite3_column_int64(st, 5));
		cJSON_AddNumberToObject(e, "failed", (double)sqlite3_column_int64(st, 6));
		cJSON_AddItemToArray(a, e);
	}
	sqlite3_reset(st);
	*out = o;
	return 0;
}

static int webhook_deliveries(reg_tx *tx, const char *id, int64_t limit, cJSON **out)
{
	static const char known[] = "SELECT 1 FROM webhooks WHERE id=?";
	static const char sql[] =
		"SELECT o.event_id, o.event, d.attempt, d.ts, d.status, d.error, d.outcome"
		" FROM deliveries d JOIN outbox o ON o.id=d.outbox_id WHERE d.webhook_id=? ORDER BY d.id DESC LIMIT ?";
	sqlite3_stmt *st = prep(tx, known);
	cJSON *o, *a;
	bool found;
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, id);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_reset(st);
	if (!found)
		return mlreg_error_set(MLREG_ENOTFOUND, "webhook '%s' not found", id);
	if (!(st = prep(tx, sql)))
		return MLREG_EIO;
	sq_bind_text(st, 1, id);
	sqlite3_bind_int64(st, 2, limit);
	o = cJSON_CreateObject();
	a = cJSON_AddArrayToObject(o, "deliveries");
	while (sqlite3_step(st) == SQLITE_ROW) {
		cJSON *e = cJSON_CreateObject();
		cJSON_AddItemToObject(e, "event_id", sq_col_json_str(st, 0));
		cJSON_AddItemToObject(e, "event", sq_col_json_str(st, 1));
		cJSON_AddNumberToObject(e, "attempt", (double)sqlite3_column_int64(st, 2));
		sq_add_time(e, "time", sqlite3_column_int64(st, 3));
		if (sqlite3_column_type(st, 4) == SQLITE_NULL)
			cJSON_AddNullToObject(e, "status");
		else
			cJSON_AddNumberToObject(e, "status", (double)sqlite3_column_int64(st, 4));
		cJSON_AddItemToObject(e, "error", sq_col_json_str(st, 5));
		cJSON_AddItemToObject(e, "outcome", sq_col_json_str(st, 6));
		cJSON_AddItemToArray(a, e);
	}
	sqlite3_reset(st);
	*out = o;
	return 0;
}

static int outbox_enqueue(reg_tx *tx, const char *event, const char *event_id, const char *body, int64_t now,
			  int64_t *rows)
{
	static const char sql[] =
		"INSERT INTO outbox(webhook_id, event_id, event, body, created_at, next_at)"
		" SELECT w.id, ?1, ?2, ?3, ?4, ?4 FROM webhooks w WHERE w.removed_at IS NULL"
		" AND EXISTS (SELECT 1 FROM json_each(w.events) e WHERE e.value=?2 OR e.value='*')";
	sqlite3_stmt *st = prep(tx, sql);
	int rc;
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, event_id);
	sq_bind_text(st, 2, event);
	sq_bind_text(st, 3, body);
	sqlite3_bind_int64(st, 4, now);
	if ((rc = sq_step_done(st, W(tx)->db, "queue event")) < 0)
		return rc;
	*rows = sqlite3_changes(W(tx)->db);
	return 0;
}

static int outbox_due(reg_tx *tx, int64_t now, int64_t limit, cJSON **out)
{
	static const char sql[] =
		"SELECT o.id, o.webhook_id, w.url, w.secret, o.event_id, o.event, o.body, o.attempts"
		" FROM outbox o JOIN webhooks w ON w.id=o.webhook_id"
		" WHERE o.state='pending' AND o.next_at<=? AND w.removed_at IS NULL ORDER BY o.next_at, o.id LIMIT ?";
	sqlite3_stmt *st = prep(tx, sql);
	cJSON *a;
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, limit);
	a = cJSON_CreateArray();
	while (sqlite3_step(st) == SQLITE_ROW) {
		cJSON *e = cJSON_CreateObject();
		cJSON_AddNumberToObject(e, "id", (double)sqlite3_column_int64(st, 0));
		cJSON_AddItemToObject(e, "webhook_id", sq_col_json_str(st, 1));
		cJSON_AddItemToObject(e, "url", sq_col_json_str(st, 2));
		cJSON_AddItemToObject(e, "secret", sq_col_json_str(st, 3));
		cJSON_AddItemToObject(e, "event_id", sq_col_json_str(st, 4));
		cJSON_AddItemToObject(e, "event", sq_col_json_str(st, 5));
		cJSON_AddItemToObject(e, "body", sq_col_json_str(st, 6));
		cJSON_AddNumberToObject(e, "attempts", (double)sqlite3_column_int64(st, 7));
		cJSON_AddItemToArray(a, e);
	}
	sqlite3_reset(st);
	*out = a;
	return 0;
}

static int outbox_next_due(reg_tx *tx, int64_t *next_at)
{
	static const char sql[] =
		"SELECT MIN(o.next_at) FROM outbox o JOIN webhooks w ON w.id=o.webhook_id"
		" WHERE o.state='pending' AND w.removed_at IS NULL";
	sqlite3_stmt *st = prep(tx, sql);
	int rc = MLREG_ENOTFOUND;
	if (!st)
		return MLREG_EIO;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		*next_at = sqlite3_column_int64(st, 0);
		rc = 0;
	}
	sqlite3_reset(st);
	return rc == 0 ? 0 : mlreg_error_set(MLREG_ENOTFOUND, "nothing pending");
}

static int outbox_record(reg_tx *tx, int64_t outbox_id, int64_t attempt, int64_t now, int status, const char *error,
			 const char *outcome, int64_t next_at)
{
	static const char log[] =
		"INSERT INTO deliveries(outbox_id, webhook_id, attempt, ts, status, error, outcome)"
		" SELECT id, webhook_id, ?2, ?3, ?4, ?5, ?6 FROM outbox WHERE id=?1";
	static const char move[] =
		"UPDATE outbox SET attempts=?2, next_at=?3,"
		" state=CASE ?4 WHEN 'retry' THEN 'pending' ELSE ?4 END,"
		" done_at=CASE ?4 WHEN 'retry' THEN NULL ELSE ?5 END WHERE id=?1 AND state='pending'";
	sqlite3_stmt *st = prep(tx, log);
	int rc;
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, outbox_id);
	sqlite3_bind_int64(st, 2, attempt);
	sqlite3_bind_int64(st, 3, now);
	if (status > 0)
		sqlite3_bind_int(st, 4, status);
	sq_bind_text(st, 5, error ? error : "");
	sq_bind_text(st, 6, outcome);
	if ((rc = sq_step_done(st, W(tx)->db, "log delivery")) < 0)
		return rc;
	if (!(st = prep(tx, move)))
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, outbox_id);
	sqlite3_bind_int64(st, 2, attempt);
	sqlite3_bind_int64(st, 3, next_at);
	sq_bind_text(st, 4, outcome);
	sqlite3_bind_int64(st, 5, now);
	return sq_step_done(st, W(tx)->db, "update outbox");
}

static int outbox_pending(reg_tx *tx, int64_t *count)
{
	/* walks the pending range of the outbox_due index only */
	static const char sql[] =
		"SELECT COUNT(*) FROM outbox o JOIN webhooks w ON w.id=o.webhook_id"
		" WHERE o.state='pending' AND w.removed_at IS NULL";
	sqlite3_stmt *st = prep(tx, sql);
	if (!st)
		return MLREG_EIO;
	*count = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return 0;
}

void sq_webhook_ops(reg_meta_ops *ops)
{
	ops->webhook_insert = webhook_insert;
	ops->webhook_remove = webhook_remove;
	ops->webhook_list = webhook_list;
	ops->webhook_deliveries = webhook_deliveries;
	ops->outbox_enqueue = outbox_enqueue;
	ops->outbox_due = outbox_due;
	ops->outbox_next_due = outbox_next_due;
	ops->outbox_record = outbox_record;
	ops->outbox_pending = outbox_pending;
}

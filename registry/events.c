/*
 * events.c - change events and webhook subscriptions: what goes into the
 * outbox, and the registry calls the webhook sender and the API use.
 *
 * reg_event_emit() is called by every change that announces itself, inside
 * the change's own transaction; it writes nothing when nobody subscribes.
 * reg_commit() commits and, when the transaction queued events, calls the
 * event hook so the sender wakes at once instead of at its next poll; when
 * it moved the controller generation (reg_ctl_touch) it calls the
 * controller hook too, so a reconciler in this process wakes at once.  The
 * delivery itself (HTTP, HMAC, backoff, the refusal of private addresses)
 * lives in api/webhook_sender.c: this file knows no HTTP.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry/registry_int.h"
#include "util/json.h"

/* The rollout.* events are written by the reconciler through
 * reg_ctl_write (deploy.c), one per event of that kind it records. */
const char *const reg_event_names[] = {
	"push",           "promote",          "rollback",         "alias",           "approve",
	"policy",         "stages",           "deprecate",        "delete",          "rollout.started",
	"rollout.step",   "rollout.paused",   "rollout.resumed",  "rollout.promoted", "rollout.retry",
	"rollout.superseded", "rollout.healthy", "rollout.aborted", NULL};

/* Set by reg_event_emit when rows were queued and by reg_ctl_touch when
 * the generation moved, consumed by reg_commit: a transaction never
 * leaves the thread that began it. */
static _Thread_local bool queued, touched;

int reg_event_emit(reg_registry *r, reg_tx *tx, const char *event, const char *actor, const char *model,
		   cJSON *fields)
{
	char id[40], ts[40];
	int64_t now = util_now_ms(), rows = 0;
	cJSON *body = cJSON_CreateObject();
	char *text;
	int rc;
	memcpy(id, "evt_", 4);
	if ((rc = util_random_hex(id + 4, 12)) < 0) {
		cJSON_Delete(body);
		cJSON_Delete(fields);
		return rc;
	}
	util_time_format(now, ts, sizeof(ts));
	cJSON_AddStringToObject(body, "id", id);
	cJSON_AddStringToObject(body, "event", event);
	cJSON_AddStringToObject(body, "time", ts);
	cJSON_AddNumberToObject(body, "timestamp", (double)now);
	cJSON_AddStringToObject(body, "actor", actor);
	if (model)
		cJSON_AddStringToObject(body, "model", model);
	else
		cJSON_AddNullToObject(body, "model");
	for (cJSON *f = fields ? fields->child : NULL; f;) {
		cJSON *next = f->next;
		cJSON_AddItemToObject(body, f->string, cJSON_DetachItemViaPointer(fields, f));
		f = next;
	}
	cJSON_Delete(fields);
	text = cJSON_PrintUnformatted(body);
	cJSON_Delete(body);
	if (!text)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	rc = META(r)->outbox_enqueue(tx, event, id, text, now, &rows);
	free(text);
	if (rc == 0 && rows > 0)
		queued = true;
	return rc;
}

void reg_events_discard(void) { queued = touched = false; }

int reg_ctl_touch(reg_registry *r, reg_tx *tx)
{
	int rc = META(r)->generation_bump(tx);
	if (rc == 0)
		touched = true;
	return rc;
}

int reg_commit(reg_registry *r, reg_tx *tx)
{
	bool wake = queued, ctl = touched;
	int rc;
	queued = touched = false;
	if ((rc = META(r)->commit(tx)) < 0)
		return rc;
	if (wake && r->event_hook)
		r->event_hook(r->event_ctx);
	if (ctl && r->ctl_hook)
		r->ctl_hook(r->ctl_ctx);
	return 0;
}

void reg_set_event_hook(reg_registry *r, void (*fn)(void *ctx), void *ctx)
{
	r->event_ctx = ctx;
	r->event_hook = fn;
}

void reg_set_ctl_hook(reg_registry *r, void (*fn)(void *ctx), void *ctx)
{
	r->ctl_ctx = ctx;
	r->ctl_hook = fn;
}

/* ---- subscriptions ---- */
static bool event_known(const char *e)
{
	if (!strcmp(e, "*"))
		return true;
	for (int i = 0; reg_event_names[i]; i++)
		if (!strcmp(e, reg_event_names[i]))
			return true;
	return false;
}

int reg_webhook_add(reg_registry *r, const reg_principal *who, const char *url, const cJSON *events,
		    const char *secret, cJSON **out)
{
	char id[32], gen[64], ts[40];
	cJSON *d, *ev;
	char *evtext;
	reg_tx *tx = NULL;
	int64_t now = util_now_ms();
	int n = 0, rc;
	if (!url || !*url || strlen(url) > 2048)
		return mlreg_error_set(MLREG_EINVALID, "webhook url missing or longer than 2048 bytes");
	if (!cJSON_IsArray(events) || cJSON_GetArraySize(events) == 0)
		return mlreg_error_set(MLREG_EINVALID, "webhook events must be a non-empty array of event names");
	for (const cJSON *e = events->child; e; e = e->next, n++) {
		if (!cJSON_IsString(e) || !event_known(e->valuestring)) {
			char names[512];
			size_t used = 0;
			for (int i = 0; reg_event_names[i]; i++)
				used += (size_t)snprintf(names + used, sizeof(names) - used, "%s, ", reg_event_names[i]);
			return mlreg_error_set(MLREG_EINVALID, "unknown webhook event '%.64s': use %s or *",
					       cJSON_IsString(e) ? e->valuestring : "?", names);
		}
		for (const cJSON *f = events->child; f != e; f = f->next)
			if (!strcmp(f->valuestring, e->valuestring))
				return mlreg_error_set(MLREG_EINVALID, "webhook event '%s' listed twice", e->valuestring);
	}
	if (secret && (strlen(secret) < 8 || strlen(secret) > 256))
		return mlreg_error_set(MLREG_EINVALID, "webhook secret must be 8 to 256 bytes");
	memcpy(id, "wh_", 3);
	if ((rc = util_random_hex(id + 3, 8)) < 0)
		return rc;
	if (!secret) {
		if ((rc = util_random_token(gen, sizeof(gen), 24)) < 0)
			return rc;
		secret = gen;
	}
	ev = cJSON_Duplicate(events, true);
	evtext = cJSON_PrintUnformatted(ev);
	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "url", url);
	cJSON_AddStringToObject(d, "events", evtext ? evtext : "[]");
	if (!evtext)
		rc = mlreg_error_set(MLREG_ENOMEM, "out of memory");
	else if ((rc = META(r)->begin(r->meta, &tx)) == 0) {
		if ((rc = META(r)->webhook_insert(tx, id, url, evtext, secret, who->principal, now)) < 0 ||
		    (rc = reg_audit_append(r->meta, tx, who->principal, "webhook.add", id, NULL, d)) < 0)
			META(r)->rollback(tx);
		else
			rc = reg_commit(r, tx);
	}
	free(evtext);
	cJSON_Delete(d);
	if (rc < 0) {
		cJSON_Delete(ev);
		return rc;
	}
	util_time_format(now, ts, sizeof(ts));
	*out = cJSON_CreateObject();
	cJSON_AddStringToObject(*out, "id", id);
	cJSON_AddStringToObject(*out, "url", url);
	cJSON_AddItemToObject(*out, "events", ev);
	cJSON_AddStringToObject(*out, "created_at", ts);
	cJSON_AddStringToObject(*out, "secret", secret);
	return 0;
}

int reg_webhook_remove(reg_registry *r, const reg_principal *who, const char *id, cJSON **out)
{
	reg_tx *tx = NULL;
	int rc;
	if ((rc = META(r)->begin(r->meta, &tx)) < 0)
		return rc;
	if ((rc = META(r)->webhook_remove(tx, id, util_now_ms())) < 0 ||
	    (rc = reg_audit_append(r->meta, tx, who->principal, "webhook.remove", id, NULL, NULL)) < 0) {
		META(r)->rollback(tx);
		return rc;
	}
	if ((rc = reg_commit(r, tx)) < 0)
		return rc;
	*out = cJSON_CreateObject();
	cJSON_AddStringToObject(*out, "id", id);
	cJSON_AddTrueToObject(*out, "removed");
	return 0;
}

/* Run a read op inside a snapshot. */
#define WITH_READ(r, call)                                            \
	do {                                                          \
		reg_tx *tx_ = NULL;                                   \
		int rc_ = META(r)->begin_read((r)->meta, &tx_);       \
		if (rc_ < 0)                                          \
			return rc_;                                   \
		rc_ = (call);                                         \
		META(r)->commit(tx_);                                 \
		return rc_;                                           \
	} while (0)

int reg_webhook_list(reg_registry *r, cJSON **out) { WITH_READ(r, META(r)->webhook_list(tx_, out)); }

int reg_webhook_deliveries(reg_registry *r, const char *id, int64_t limit, cJSON **out)
{
	WITH_READ(r, META(r)->webhook_deliveries(tx_, id, limit, out));
}

int reg_outbox_due(reg_registry *r, int64_t now, int64_t limit, cJSON **out)
{
	WITH_READ(r, META(r)->outbox_due(tx_, now, limit, out));
}

int reg_outbox_next_due(reg_registry *r, int64_t *next_at) { WITH_READ(r, META(r)->outbox_next_due(tx_, next_at)); }

int reg_outbox_pending(reg_registry *r, int64_t *count) { WITH_READ(r, META(r)->outbox_pending(tx_, count)); }

int reg_outbox_record(reg_registry *r, int64_t outbox_id, int64_t attempt, int status, const char *error,
		      const char *outcome, int64_t next_at)
{
	reg_tx *tx = NULL;
	int rc;
	if ((rc = META(r)->begin(r->meta, &tx)) < 0)
		return rc;
	if ((rc = META(r)->outbox_record(tx, outbox_id, attempt, util_now_ms(), status, error, outcome, next_at)) < 0) {
		META(r)->rollback(tx);
		return rc;
	}
	return META(r)->commit(tx);
}

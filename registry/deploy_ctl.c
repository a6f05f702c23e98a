/*
 * deploy_ctl.c - the reconciler's side of the registry (registry/deploy.h):
 * the lease that lets exactly one reconciler act, the generation counter
 * that wakes it, the read snapshot a pass starts from, and the fenced
 * writes a pass ends with.
 *
 * Fencing is the point of this file.  A reconciler that was paused (a GC
 * stop, a suspended VM, a partition) past its lease may wake up and write
 * decisions based on a stale snapshot while another reconciler already
 * acts.  So the lease carries an epoch that grows on every change of
 * holder, every write names the epoch its reconciler holds, and the write
 * transaction (BEGIN IMMEDIATE, on the single writer) first compares it to
 * the lease row: a stale epoch is MLREG_ECONFLICT with nothing written.
 * Renewing keeps the epoch; expiry alone does not change it, so a holder
 * whose lease lapsed but was not taken over may still write.
 *
 * The rollout state is the reconciler's own object: it is checked only for
 * what the registry reads out of it (phase - none means Healthy - and
 * version numbers) and for
 * being storable unchanged (finite numbers, bounded size and depth), and
 * given back verbatim by the next snapshot.  Events whose kind starts with
 * "rollout." are audited (actor "controller") and announced to webhooks in
 * the same transaction as the state they go with; the kinds are the
 * reconciler's to choose (webhooks can subscribe by name to those
 * reg_event_names lists, and "*" gets them all).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry/deploy.h"
#include "registry/registry_int.h"
#include "util/json.h"

#define MAX_STATE (1 << 20)
#define MAX_EVENTS 64
#define MAX_EVENT_MESSAGE 4096
#define MAX_EVENT_DETAILS (64 << 10)
#define MAX_HOLDER 128

static const char *const phases[] = {"Healthy", "Progressing", "Paused", "Degraded", NULL};

/* ---- generation ---- */
int reg_ctl_generation(reg_registry *r, int64_t *gen)
{
	reg_tx *tx = NULL;
	int rc;
	if ((rc = META(r)->begin_read(r->meta, &tx)) < 0)
		return rc;
	rc = META(r)->generation_get(tx, gen);
	META(r)->commit(tx);
	return rc;
}

/* ---- the lease ---- */
static int holder_check(const char *holder)
{
	size_t n = holder ? strlen(holder) : 0;
	if (n < 1 || n > MAX_HOLDER)
		return mlreg_error_set(MLREG_EINVALID, "lease holder must be 1 to %d characters", MAX_HOLDER);
	for (size_t i = 0; i < n; i++)
		if (!((holder[i] >= 'a' && holder[i] <= 'z') || (holder[i] >= 'A' && holder[i] <= 'Z') ||
		      (holder[i] >= '0' && holder[i] <= '9') || strchr("._:@-", holder[i])))
			return mlreg_error_set(MLREG_EINVALID, "invalid lease holder '%.64s': letters, digits and ._:@-",
					       holder);
	return 0;
}

int reg_ctl_lease(reg_registry *r, const char *holder, int64_t ttl_ms, bool *held, int64_t *epoch)
{
	char cur[MAX_HOLDER + 1];
	int64_t cur_epoch, expires, now;
	reg_tx *tx = NULL;
	int rc;
	if ((rc = holder_check(holder)) < 0)
		return rc;
	if (ttl_ms < 1 || ttl_ms > 24LL * 3600 * 1000)
		return mlreg_error_set(MLREG_EINVALID, "lease ttl must be 1 ms to 24 h");
	if ((rc = META(r)->begin(r->meta, &tx)) < 0)
		return rc;
	if ((rc = META(r)->lease_get(tx, cur, sizeof(cur), &cur_epoch, &expires)) < 0) {
		META(r)->rollback(tx);
		return rc;
	}
	now = util_now_ms();
	if (strcmp(cur, holder) != 0 && expires > now) {
		/* another live holder: nothing to write */
		META(r)->rollback(tx);
		*held = false;
		*epoch = cur_epoch;
		return 0;
	}
	if (strcmp(cur, holder) != 0)
		cur_epoch++; /* a change of holder: earlier holders are fenced off */
	if ((rc = META(r)->lease_put(tx, holder, cur_epoch, now + ttl_ms)) < 0) {
		META(r)->rollback(tx);
		return rc;
	}
	if ((rc = META(r)->commit(tx)) < 0)
		return rc;
	*held = true;
	*epoch = cur_epoch;
	return 0;
}

int reg_ctl_release(reg_registry *r, const char *holder)
{
	char cur[MAX_HOLDER + 1];
	int64_t epoch, expires, now = util_now_ms();
	reg_tx *tx = NULL;
	int rc;
	if ((rc = holder_check(holder)) < 0 || (rc = META(r)->begin(r->meta, &tx)) < 0)
		return rc;
	if ((rc = META(r)->lease_get(tx, cur, sizeof(cur), &epoch, &expires)) < 0 || strcmp(cur, holder) != 0 ||
	    expires <= now) {
		META(r)->rollback(tx);
		return rc < 0 ? rc : 0;
	}
	if ((rc = META(r)->lease_put(tx, holder, epoch, now)) < 0) {
		META(r)->rollback(tx);
		return rc;
	}
	return META(r)->commit(tx);
}

/* Inside a write transaction: MLREG_ECONFLICT unless epoch is the lease's. */
static int fence(reg_registry *r, reg_tx *tx, int64_t epoch)
{
	char cur[MAX_HOLDER + 1];
	int64_t cur_epoch, expires;
	int rc;
	if ((rc = META(r)->lease_get(tx, cur, sizeof(cur), &cur_epoch, &expires)) < 0)
		return rc;
	if (epoch < 1 || epoch != cur_epoch)
		return mlreg_error_set(MLREG_ECONFLICT,
				       "controller lease epoch %lld is stale: the lease is at epoch %lld, held by '%s'",
				       (long long)epoch, (long long)cur_epoch, cur[0] ? cur : "nobody");
	return 0;
}

/* ---- the snapshot ---- */
static void copy(cJSON *to, const cJSON *from, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(from, key);
	cJSON_AddItemToObject(to, key, v ? cJSON_Duplicate(v, true) : cJSON_CreateNull());
}

static int snapshot_in(reg_registry *r, reg_tx *tx, cJSON **out)
{
	static const char *const node_keys[] = {"id", "name", "url", "driver", "labels", "observed", "fails", "next_try_at"};
	static const char *const deploy_keys[] = {
		"id",           "name",         "model",           "stage",
		"alias",        "selector",     "strategy",        "steps",
		"analysis",     "min_requests", "failure_limit",   "max_unavailable",
		"progress_deadline_ms", "scale_down_delay_ms", "analysis_interval_ms", "failure_margin"};
	cJSON *rows = NULL, *nodes = NULL, *o, *na, *da;
	int64_t gen;
	int rc;
	if ((rc = META(r)->generation_get(tx, &gen)) < 0 || (rc = META(r)->node_rows(tx, &nodes)) < 0 ||
	    (rc = META(r)->deploy_rows(tx, NULL, &rows)) < 0) {
		cJSON_Delete(nodes);
		return rc;
	}
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "generation", (double)gen);
	na = cJSON_AddArrayToObject(o, "nodes");
	for (const cJSON *n = nodes->child; n; n = n->next) {
		cJSON *e = cJSON_CreateObject();
		for (size_t i = 0; i < sizeof(node_keys) / sizeof(node_keys[0]); i++)
			copy(e, n, node_keys[i]);
		cJSON_AddItemToArray(na, e);
	}
	da = cJSON_AddArrayToObject(o, "deployments");
	for (const cJSON *d = rows->child; d && rc == 0; d = d->next) {
		cJSON *e = cJSON_CreateObject(), *desired = NULL;
		for (size_t i = 0; i < sizeof(deploy_keys) / sizeof(deploy_keys[0]); i++)
			copy(e, d, deploy_keys[i]);
		if ((rc = deploy_desired(r, tx, d, &desired)) == 0)
			cJSON_AddItemToObject(e, "desired", desired);
		copy(e, d, "state");
		copy(e, d, "verb");
		cJSON_AddItemToArray(da, e);
	}
	cJSON_Delete(nodes);
	cJSON_Delete(rows);
	if (rc < 0) {
		cJSON_Delete(o);
		return rc;
	}
	*out = o;
	return 0;
}

int reg_ctl_snapshot(reg_registry *r, cJSON **out)
{
	reg_tx *tx = NULL;
	int rc;
	if ((rc = META(r)->begin_read(r->meta, &tx)) < 0)
		return rc;
	rc = snapshot_in(r, tx, out);
	META(r)->commit(tx);
	return rc;
}

/* ---- fenced writes ---- */
/* Every number finite: cJSON prints a NaN or an infinity as null, which
 * would not read back as what was written. */
static bool all_finite(const cJSON *v, int depth)
{
	if (depth > UTIL_JSON_MAX_DEPTH)
		return false;
	if (cJSON_IsNumber(v))
		return isfinite(v->valuedouble);
	for (const cJSON *c = v->child; c; c = c->next)
		if (!all_finite(c, depth + 1))
			return false;
	return true;
}

/* The state as stored text: an object that reads back unchanged. */
static int state_text(const cJSON *state, reg_rollout_row *row, char **text)
{
	const char *phase = util_json_str(state, "phase");
	static const char *const vkeys[] = {"stable_version", "target_version", "rejected_version"};
	int64_t *vout[] = {&row->stable_version, &row->target_version, &row->rejected_version};
	char *t;
	if (!cJSON_IsObject(state))
		return mlreg_error_set(MLREG_EINVALID, "rollout state must be a JSON object");
	if (!all_finite(state, 1))
		return mlreg_error_set(MLREG_EINVALID, "rollout state: numbers must be finite, nesting at most %d",
				       UTIL_JSON_MAX_DEPTH);
	/* no phase (absent or null) reads as Healthy, as the reconciler reads
	 * its own state */
	if (!cJSON_GetObjectItem(state, "phase") || cJSON_IsNull(cJSON_GetObjectItem(state, "phase")))
		phase = phases[0];
	if (!phase || !(!strcmp(phase, phases[0]) || !strcmp(phase, phases[1]) || !strcmp(phase, phases[2]) ||
			!strcmp(phase, phases[3])))
		return mlreg_error_set(MLREG_EINVALID, "rollout state: phase must be Healthy, Progressing, Paused or Degraded");
	row->phase = phase;
	for (int i = 0; i < 3; i++) {
		const cJSON *v = cJSON_GetObjectItem(state, vkeys[i]);
		*vout[i] = 0;
		if (!v || cJSON_IsNull(v))
			continue;
		if (!util_json_is_int(v) || v->valuedouble < 1)
			return mlreg_error_set(MLREG_EINVALID, "rollout state: %s must be a version number or null", vkeys[i]);
		*vout[i] = (int64_t)v->valuedouble;
	}
	if (!(t = cJSON_PrintUnformatted(state)))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	if (strlen(t) > MAX_STATE) {
		free(t);
		return mlreg_error_set(MLREG_EINVALID, "rollout state larger than %d bytes", MAX_STATE);
	}
	row->state = t;
	*text = t;
	return 0;
}

static int events_check(const cJSON *events)
{
	int n = 0;
	if (!events || cJSON_IsNull(events))
		return 0;
	if (!cJSON_IsArray(events))
		return mlreg_error_set(MLREG_EINVALID, "rollout events must be an array");
	for (const cJSON *e = events->child; e; e = e->next) {
		const char *kind = util_json_str(e, "kind");
		const cJSON *msg = cJSON_GetObjectItem(e, "message"), *details = cJSON_GetObjectItem(e, "details");
		size_t k = kind ? strlen(kind) : 0;
		if (++n > MAX_EVENTS)
			return mlreg_error_set(MLREG_EINVALID, "at most %d rollout events per write", MAX_EVENTS);
		if (!cJSON_IsObject(e) || k < 1 || k > 64 || strspn(kind, "abcdefghijklmnopqrstuvwxyz0123456789._-") != k ||
		    kind[k - 1] == '.')
			return mlreg_error_set(MLREG_EINVALID,
					       "a rollout event needs a kind of 1 to 64 of [a-z0-9._-], not ending in '.'");
		if (msg && !cJSON_IsNull(msg) && (!cJSON_IsString(msg) || strlen(msg->valuestring) > MAX_EVENT_MESSAGE))
			return mlreg_error_set(MLREG_EINVALID, "event message must be a string of at most %d bytes",
					       MAX_EVENT_MESSAGE);
		if (details && !cJSON_IsNull(details) && (!cJSON_IsObject(details) || !all_finite(details, 2)))
			return mlreg_error_set(MLREG_EINVALID, "event details must be an object with finite numbers");
	}
	return 0;
}

/* A copy the audit chain can hash: its canonical encoding has no floating
 * point (schema/canonical.md), so non-integers become strings. */
static cJSON *hashable(const cJSON *v)
{
	cJSON *c;
	if (cJSON_IsNumber(v)) {
		char buf[40];
		if (util_json_is_int(v))
			return cJSON_CreateNumber(v->valuedouble);
		snprintf(buf, sizeof(buf), "%.17g", v->valuedouble);
		return cJSON_CreateString(buf);
	}
	if (!cJSON_IsArray(v) && !cJSON_IsObject(v))
		return cJSON_Duplicate(v, true);
	c = cJSON_IsArray(v) ? cJSON_CreateArray() : cJSON_CreateObject();
	for (const cJSON *e = v->child; e; e = e->next) {
		if (cJSON_IsArray(v))
			cJSON_AddItemToArray(c, hashable(e));
		else if (!cJSON_GetObjectItemCaseSensitive(c, e->string)) /* canonical JSON refuses duplicate keys */
			cJSON_AddItemToObject(c, e->string, hashable(e));
	}
	return c;
}

/* One event: its row, and for rollout.* its audit entry and webhook. */
static int write_event(reg_registry *r, reg_tx *tx, const cJSON *row, const cJSON *state, const char *phase,
		       const cJSON *e, int64_t now)
{
	static const char *const vkeys[] = {"stable_version", "target_version", "rejected_version"};
	const char *kind = util_json_str(e, "kind"), *msg = util_json_str(e, "message");
	const char *name = util_json_str(row, "name"), *model = util_json_str(row, "model");
	const cJSON *details = cJSON_GetObjectItem(e, "details");
	char *dtext = NULL;
	cJSON *d, *ev;
	int rc;
	if (cJSON_IsObject(details) && !(dtext = cJSON_PrintUnformatted(details)))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	if (dtext && strlen(dtext) > MAX_EVENT_DETAILS) {
		free(dtext);
		return mlreg_error_set(MLREG_EINVALID, "event details larger than %d bytes", MAX_EVENT_DETAILS);
	}
	rc = META(r)->deploy_event_add(tx, (int64_t)cJSON_GetObjectItem(row, "id")->valuedouble, now, kind, msg, dtext);
	free(dtext);
	if (rc < 0 || strncmp(kind, "rollout.", 8) != 0)
		return rc;
	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "message", msg ? msg : "");
	cJSON_AddStringToObject(d, "phase", phase);
	ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "deployment", name);
	copy(ev, row, "stage");
	copy(ev, row, "alias");
	cJSON_AddStringToObject(ev, "phase", phase);
	for (int i = 0; i < 3; i++) {
		const cJSON *v = cJSON_GetObjectItem(state, vkeys[i]);
		cJSON_AddItemToObject(d, vkeys[i], v ? cJSON_Duplicate(v, true) : cJSON_CreateNull());
		cJSON_AddItemToObject(ev, vkeys[i], v ? cJSON_Duplicate(v, true) : cJSON_CreateNull());
	}
	cJSON_AddStringToObject(ev, "message", msg ? msg : "");
	if (cJSON_IsObject(details)) {
		cJSON_AddItemToObject(d, "details", hashable(details));
		cJSON_AddItemToObject(ev, "details", cJSON_Duplicate(details, true));
	} else {
		cJSON_AddItemToObject(ev, "details", cJSON_CreateObject());
	}
	if ((rc = reg_audit_append(r->meta, tx, "controller", kind, name, model, d)) < 0)
		cJSON_Delete(ev);
	else
		rc = reg_event_emit(r, tx, kind, "controller", model, ev);
	cJSON_Delete(d);
	return rc;
}

int reg_ctl_write(reg_registry *r, int64_t epoch, int64_t deployment_id, const cJSON *state, bool consume_verb,
		  const cJSON *events)
{
	reg_rollout_row row = {0};
	reg_tx *tx = NULL;
	cJSON *drow = NULL;
	char *text = NULL;
	int64_t now = util_now_ms();
	int rc;
	if ((rc = state_text(state, &row, &text)) < 0)
		return rc;
	if ((rc = events_check(events)) < 0 || (rc = META(r)->begin(r->meta, &tx)) < 0) {
		free(text);
		return rc;
	}
	if ((rc = fence(r, tx, epoch)) == 0 && (rc = META(r)->deploy_row_by_id(tx, deployment_id, &drow)) == 0 &&
	    (rc = META(r)->deploy_set_state(tx, deployment_id, &row, consume_verb, now)) == 0) {
		for (const cJSON *e = cJSON_IsArray(events) ? events->child : NULL; e && rc == 0; e = e->next)
			rc = write_event(r, tx, drow, state, row.phase, e, now);
	}
	cJSON_Delete(drow);
	free(text);
	return promo_finish(r, tx, rc);
}

int reg_ctl_node_observed(reg_registry *r, int64_t epoch, int64_t node_id, const cJSON *observed, int64_t fails,
			  int64_t next_try_at)
{
	reg_tx *tx = NULL;
	char *text = NULL;
	int rc;
	if (observed && !cJSON_IsNull(observed)) {
		if (!cJSON_IsObject(observed) || !all_finite(observed, 1))
			return mlreg_error_set(MLREG_EINVALID, "node observation must be an object with finite numbers");
		if (!(text = cJSON_PrintUnformatted(observed)))
			return mlreg_error_set(MLREG_ENOMEM, "out of memory");
		if (strlen(text) > MAX_STATE) {
			free(text);
			return mlreg_error_set(MLREG_EINVALID, "node observation larger than %d bytes", MAX_STATE);
		}
	}
	if (fails < 0 || next_try_at < 0) {
		free(text);
		return mlreg_error_set(MLREG_EINVALID, "node fails and next_try_at must not be negative");
	}
	if ((rc = META(r)->begin(r->meta, &tx)) < 0) {
		free(text);
		return rc;
	}
	if ((rc = fence(r, tx, epoch)) == 0)
		rc = META(r)->node_observe(tx, node_id, text, fails, next_try_at, util_now_ms());
	free(text);
	return promo_finish(r, tx, rc);
}

int reg_ctl_nodes_observed(reg_registry *r, int64_t epoch, size_t n, const int64_t *node_ids,
			   cJSON *const *observed, const int64_t *fails, const int64_t *next_try_at)
{
	reg_tx *tx = NULL;
	char **text = calloc(n + 1, sizeof(char *));
	int rc = 0;
	if (!text)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (!observed[i] || cJSON_IsNull(observed[i]))
			continue;
		if (!cJSON_IsObject(observed[i]) || !all_finite(observed[i], 1))
			rc = mlreg_error_set(MLREG_EINVALID, "node observation must be an object with finite numbers");
		else if (!(text[i] = cJSON_PrintUnformatted(observed[i])))
			rc = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		else if (strlen(text[i]) > MAX_STATE)
			rc = mlreg_error_set(MLREG_EINVALID, "node observation larger than %d bytes", MAX_STATE);
		else if (fails[i] < 0 || next_try_at[i] < 0)
			rc = mlreg_error_set(MLREG_EINVALID, "node fails and next_try_at must not be negative");
	}
	if (rc == 0 && (rc = META(r)->begin(r->meta, &tx)) == 0) {
		int64_t now = util_now_ms();
		if ((rc = fence(r, tx, epoch)) == 0)
			for (size_t i = 0; i < n && rc == 0; i++) {
				rc = META(r)->node_observe(tx, node_ids[i], text[i], fails[i], next_try_at[i], now);
				if (rc == MLREG_ENOTFOUND) /* removed meanwhile */
					rc = 0;
			}
		rc = promo_finish(r, tx, rc);
	}
	for (size_t i = 0; i < n; i++)
		free(text[i]);
	free(text);
	return rc;
}

/*
 * deploy_status.c - the answers of registry/deploy.h in the shapes
 * docs/api.md shows: a node object, a deployment's status, and the
 * version a deployment should serve now (shared with the reconciler's
 * snapshot in deploy_ctl.c).
 *
 * A status joins three sources read in one transaction: the deployment's
 * row (settings, and the phase and versions copied out of the rollout
 * state), the rollout state itself (message, analysis results, step), and
 * the nodes the selector picks with what each last reported serving under
 * the deployment's name.  Everything the reconciler and the nodes wrote is
 * read defensively - a version the node sent as a string becomes an
 * integer, a step index past the list has no kind - because a status must
 * render whatever state a reconciler of another version left behind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry/deploy.h"
#include "registry/registry_int.h"
#include "util/json.h"

static cJSON *time_or_null(const cJSON *ms)
{
	char ts[40];
	if (!cJSON_IsNumber(ms))
		return cJSON_CreateNull();
	util_time_format((int64_t)ms->valuedouble, ts, sizeof(ts));
	return cJSON_CreateString(ts);
}

static void add_copy(cJSON *to, const char *key, const cJSON *from, const char *from_key)
{
	const cJSON *v = cJSON_GetObjectItem(from, from_key ? from_key : key);
	cJSON_AddItemToObject(to, key, v ? cJSON_Duplicate(v, true) : cJSON_CreateNull());
}

cJSON *deploy_node_public(const cJSON *row)
{
	cJSON *o = cJSON_CreateObject();
	const cJSON *obs = cJSON_GetObjectItem(row, "observed");
	add_copy(o, "name", row, NULL);
	add_copy(o, "url", row, NULL);
	add_copy(o, "driver", row, NULL);
	add_copy(o, "labels", row, NULL);
	cJSON_AddItemToObject(o, "created_at", time_or_null(cJSON_GetObjectItem(row, "created_at")));
	add_copy(o, "created_by", row, NULL);
	if (cJSON_IsObject(obs)) {
		cJSON *c = cJSON_Duplicate(obs, true);
		cJSON_DeleteItemFromObject(c, "at");
		cJSON_DeleteItemFromObject(c, "fails");
		cJSON_AddItemToObject(c, "at", time_or_null(cJSON_GetObjectItem(row, "observed_at")));
		add_copy(c, "fails", row, NULL);
		cJSON_AddItemToObject(o, "observed", c);
	} else {
		cJSON_AddNullToObject(o, "observed");
	}
	return o;
}

static bool selects(const cJSON *selector, const cJSON *labels)
{
	for (const cJSON *s = selector ? selector->child : NULL; s; s = s->next) {
		const char *v = util_json_str(labels, s->string);
		if (!v || !cJSON_IsString(s) || strcmp(v, s->valuestring))
			return false;
	}
	return true;
}

/* A version number or weight as the node reported it: integer or digits. */
static cJSON *int_of(const cJSON *v)
{
	if (util_json_is_int(v))
		return cJSON_CreateNumber(v->valuedouble);
	if (cJSON_IsString(v)) {
		int64_t n;
		if (util_parse_i64(v->valuestring, &n) == 0)
			return cJSON_CreateNumber((double)n);
		mlreg_error_clear();
	}
	return cJSON_CreateNull();
}

/* "nodes" of a status: the nodes the selector picks, each with what it
 * reported serving under the deployment's name. */
static cJSON *status_nodes(const cJSON *row, const cJSON *nodes)
{
	const cJSON *selector = cJSON_GetObjectItem(row, "selector");
	const char *name = util_json_str(row, "name");
	cJSON *a = cJSON_CreateArray();
	for (const cJSON *n = nodes ? nodes->child : NULL; n; n = n->next) {
		const cJSON *obs = cJSON_GetObjectItem(n, "observed"), *models = cJSON_GetObjectItem(obs, "models");
		cJSON *e, *vs;
		if (!selects(selector, cJSON_GetObjectItem(n, "labels")))
			continue;
		e = cJSON_CreateObject();
		add_copy(e, "name", n, NULL);
		cJSON_AddBoolToObject(e, "healthy", cJSON_IsTrue(cJSON_GetObjectItem(obs, "healthy")));
		vs = cJSON_AddArrayToObject(e, "versions");
		for (const cJSON *m = cJSON_IsArray(models) ? models->child : NULL; m; m = m->next) {
			const char *mn = util_json_str(m, "name"), *state = util_json_str(m, "state");
			cJSON *v;
			if (!mn || !name || strcmp(mn, name))
				continue;
			v = cJSON_CreateObject();
			cJSON_AddItemToObject(v, "version", int_of(cJSON_GetObjectItem(m, "version")));
			cJSON_AddItemToObject(v, "weight", int_of(cJSON_GetObjectItem(m, "weight")));
			cJSON_AddItemToObject(v, "state", state ? cJSON_CreateString(state) : cJSON_CreateNull());
			cJSON_AddItemToArray(vs, v);
		}
		cJSON_AddItemToArray(a, e);
	}
	return a;
}

/* "step" of a status: the state's step index with the count and kind of
 * the stored steps, an object the reconciler wrote as is, or null. */
static cJSON *status_step(const cJSON *row)
{
	const cJSON *state = cJSON_GetObjectItem(row, "state"), *step = cJSON_GetObjectItem(state, "step");
	const char *steps = util_json_str(row, "steps");
	int64_t index, count = 0;
	cJSON *o;
	if (cJSON_IsObject(step))
		return cJSON_Duplicate(step, true);
	if (!util_json_is_int(step) || step->valuedouble < 0 || cJSON_IsNull(cJSON_GetObjectItem(row, "target_version")))
		return cJSON_CreateNull();
	index = (int64_t)step->valuedouble;
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "index", (double)index);
	if (!steps) {
		cJSON_AddNullToObject(o, "count");
		cJSON_AddNullToObject(o, "kind");
		return o;
	}
	/* normalised steps are "kind[:arg]" items joined by ',' */
	for (const char *p = steps;; p++) {
		size_t len = strcspn(p, ",");
		if (count++ == index) {
			char kind[32];
			snprintf(kind, sizeof(kind), "%.*s", (int)strcspn(p, ":,"), p);
			cJSON_AddStringToObject(o, "kind", kind);
		}
		p += len;
		if (!*p)
			break;
	}
	cJSON_AddNumberToObject(o, "count", (double)count);
	if (!cJSON_GetObjectItem(o, "kind"))
		cJSON_AddNullToObject(o, "kind");
	return o;
}

static void add_duration(cJSON *o, const char *key, const cJSON *row, const char *row_key)
{
	char d[32];
	util_duration_format((int64_t)cJSON_GetObjectItem(row, row_key)->valuedouble, d, sizeof(d));
	cJSON_AddStringToObject(o, key, d);
}

int deploy_status_of(reg_registry *r, reg_tx *tx, const cJSON *row, const cJSON *nodes, cJSON **out)
{
	const cJSON *state = cJSON_GetObjectItem(row, "state"), *analysis = cJSON_GetObjectItem(state, "analysis");
	const char *message = util_json_str(state, "message");
	cJSON *o = cJSON_CreateObject(), *desired = NULL, *settings;
	int rc;
	if ((rc = deploy_desired(r, tx, row, &desired)) < 0) {
		cJSON_Delete(o);
		return rc;
	}
	add_copy(o, "name", row, NULL);
	add_copy(o, "model", row, NULL);
	add_copy(o, "stage", row, NULL);
	add_copy(o, "alias", row, NULL);
	add_copy(o, "selector", row, NULL);
	add_copy(o, "strategy", row, NULL);
	add_copy(o, "steps", row, NULL);
	add_copy(o, "stable_version", row, NULL);
	add_copy(o, "target_version", row, NULL);
	add_copy(o, "rejected_version", row, NULL);
	add_copy(o, "phase", row, NULL);
	cJSON_AddItemToObject(o, "step", status_step(row));
	if (!message && !(state && state->child)) /* never written */
		message = "waiting for the controller";
	cJSON_AddStringToObject(o, "message", message ? message : "");
	cJSON_AddItemToObject(o, "updated_at", time_or_null(cJSON_GetObjectItem(row, "updated_at")));
	cJSON_AddItemToObject(o, "desired_version", cJSON_IsObject(desired)
							    ? cJSON_Duplicate(cJSON_GetObjectItem(desired, "version"), true)
							    : cJSON_CreateNull());
	cJSON_Delete(desired);
	add_copy(o, "verb", row, NULL);
	cJSON_AddItemToObject(o, "nodes", status_nodes(row, nodes));
	cJSON_AddItemToObject(o, "analysis", cJSON_IsArray(analysis) ? cJSON_Duplicate(analysis, true) : cJSON_CreateArray());
	settings = cJSON_AddObjectToObject(o, "settings");
	add_copy(settings, "analysis", row, NULL);
	add_copy(settings, "min_requests", row, NULL);
	add_copy(settings, "failure_limit", row, NULL);
	add_copy(settings, "max_unavailable", row, NULL);
	add_duration(settings, "progress_deadline", row, "progress_deadline_ms");
	add_duration(settings, "scale_down_delay", row, "scale_down_delay_ms");
	add_duration(settings, "analysis_interval", row, "analysis_interval_ms");
	add_copy(settings, "failure_margin", row, NULL);
	cJSON_AddItemToObject(o, "created_at", time_or_null(cJSON_GetObjectItem(row, "created_at")));
	add_copy(o, "created_by", row, NULL);
	*out = o;
	return 0;
}

int deploy_desired(reg_registry *r, reg_tx *tx, const cJSON *row, cJSON **out)
{
	const char *model = util_json_str(row, "model"), *stage = util_json_str(row, "stage");
	const char *alias = util_json_str(row, "alias");
	int64_t mid = (int64_t)cJSON_GetObjectItem(row, "model_id")->valuedouble, number = 0;
	char digest[UTIL_DIGEST_LEN + 1], kind[32] = "promote";
	cJSON *o;
	int rc;
	if (stage)
		rc = META(r)->stack_top(tx, mid, stage, &number, NULL);
	else
		rc = META(r)->alias_get(tx, mid, alias ? alias : "", &number);
	if (rc < 0)
		return rc;
	if (number <= 0) {
		*out = cJSON_CreateNull();
		return 0;
	}
	if ((rc = META(r)->version_digest(tx, model, number, digest)) < 0)
		return rc;
	if (!stage) {
		snprintf(kind, sizeof(kind), "alias");
	} else if ((rc = META(r)->move_last_kind(tx, mid, "stage", stage, kind, sizeof(kind))) < 0) {
		if (rc != MLREG_ENOTFOUND)
			return rc;
		mlreg_error_clear();
	}
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "version", (double)number);
	cJSON_AddStringToObject(o, "digest", digest);
	cJSON_AddStringToObject(o, "via", kind);
	*out = o;
	return 0;
}

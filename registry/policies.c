/*
 * policies.c - gate policies and approvals: the rules a promotion is
 * checked against and the sign-offs it may need.
 *
 * A policy belongs to (model or "*", stage) and is replaced whole by each
 * set, so what is stored is exactly what the last admin wrote; metric
 * thresholds are normalised through util/expr.h, the grammar the gate
 * evaluates with.  Approvals are rows per (version, stage, principal):
 * a principal counts once, the version's pusher is refused, and nothing
 * ever deletes one, so they survive rollbacks.  Every change is one write
 * transaction with its audit entry and webhook event (promotion.c's
 * promo_* helpers).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry/registry_int.h"
#include "util/expr.h"
#include "util/json.h"

#define MAX_POLICY_METRICS 64

/* ---- policies ---- */
typedef struct {
	const char *from;
	char *metrics;          /* JSON array text (heap) */
	char metrics_csv[4096];
	int64_t approvals, soak_ms;
	bool require_signature, same_schema;
} policy_in;

static int policy_parse(const cJSON *body, const char *stage, policy_in *p)
{
	static const char *const keys[] = {"from", "metrics", "approvals", "require_signature", "soak", "same_schema", NULL};
	const cJSON *from = cJSON_GetObjectItem(body, "from"), *metrics = cJSON_GetObjectItem(body, "metrics");
	const cJSON *sig = cJSON_GetObjectItem(body, "require_signature"), *same = cJSON_GetObjectItem(body, "same_schema");
	const cJSON *soak = cJSON_GetObjectItem(body, "soak");
	cJSON *norm;
	size_t used = 0;
	int rc;
	memset(p, 0, sizeof(*p));
	if ((rc = promo_only_keys(body, keys)) < 0)
		return rc;
	if (from && !cJSON_IsNull(from)) {
		if (!cJSON_IsString(from) || !util_label_name_valid(from->valuestring))
			return mlreg_error_set(MLREG_EINVALID, "'from' must be a stage name");
		if (!strcmp(from->valuestring, stage))
			return mlreg_error_set(MLREG_EINVALID, "'from' cannot be the stage itself");
		p->from = from->valuestring;
	}
	if (metrics && !cJSON_IsNull(metrics) &&
	    (!cJSON_IsArray(metrics) || cJSON_GetArraySize(metrics) > MAX_POLICY_METRICS))
		return mlreg_error_set(MLREG_EINVALID, "'metrics' must be an array of at most %d expressions", MAX_POLICY_METRICS);
	norm = cJSON_CreateArray();
	for (const cJSON *m = cJSON_IsArray(metrics) ? metrics->child : NULL; m; m = m->next) {
		util_expr e;
		char text[600];
		if (!cJSON_IsString(m) || util_expr_parse(m->valuestring, true, &e) < 0) {
			cJSON_Delete(norm);
			return mlreg_error_set(MLREG_EINVALID, "invalid metric threshold '%.200s': use NAME OP NUMBER, OP one of >= <= > < == !=",
					       cJSON_IsString(m) ? m->valuestring : "?");
		}
		snprintf(text, sizeof(text), "%s%s%s", e.name, util_op_str(e.op), e.text);
		cJSON_AddItemToArray(norm, cJSON_CreateString(text));
		used += (size_t)snprintf(p->metrics_csv + used, sizeof(p->metrics_csv) - used, "%s%s", used ? "," : "", text);
		if (used >= sizeof(p->metrics_csv)) {
			cJSON_Delete(norm);
			return mlreg_error_set(MLREG_EINVALID, "metric thresholds too long");
		}
	}
	p->metrics = cJSON_PrintUnformatted(norm);
	cJSON_Delete(norm);
	if (!p->metrics)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	if ((rc = util_json_i64(body, "approvals", &p->approvals)) == MLREG_EINVALID || p->approvals < 0 ||
	    p->approvals > 100) {
		free(p->metrics);
		return mlreg_error_set(MLREG_EINVALID, "'approvals' must be an integer from 0 to 100");
	}
	if ((sig && !cJSON_IsBool(sig)) || (same && !cJSON_IsBool(same))) {
		free(p->metrics);
		return mlreg_error_set(MLREG_EINVALID, "'require_signature' and 'same_schema' must be booleans");
	}
	p->require_signature = cJSON_IsTrue(sig);
	p->same_schema = cJSON_IsTrue(same);
	if (soak && !cJSON_IsNull(soak)) {
		if (!cJSON_IsString(soak) || util_duration_ms(soak->valuestring, &p->soak_ms) < 0 || p->soak_ms <= 0) {
			free(p->metrics);
			return mlreg_error_set(MLREG_EINVALID, "'soak' must be a positive duration such as 30m or 24h");
		}
		if (!p->from) {
			free(p->metrics);
			return mlreg_error_set(MLREG_EINVALID, "'soak' needs 'from': soak is the time since entering that stage");
		}
	}
	return 0;
}

static int policy_target(const char *model)
{
	if (model && !strcmp(model, "*"))
		return 0;
	return util_model_name_valid(model) ? 0 : promo_bad_model(model);
}

int reg_policy_put(reg_registry *r, const reg_principal *who, const char *model, const char *stage, const cJSON *body,
		   cJSON **out)
{
	policy_in p;
	reg_tx *tx = NULL;
	char subject[UTIL_NAME_MAX + 80];
	cJSON *d, *ev, *all = NULL;
	int64_t now = util_now_ms();
	int rc;
	if ((rc = policy_target(model)) < 0 || (rc = policy_parse(body, stage, &p)) < 0)
		return rc;
	if ((rc = META(r)->begin(r->meta, &tx)) < 0) {
		free(p.metrics);
		return rc;
	}
	if ((rc = promo_stage_check(r, tx, stage)) < 0 || (p.from && (rc = promo_stage_check(r, tx, p.from)) < 0)) {
		free(p.metrics);
		return promo_finish(r, tx, rc);
	}
	snprintf(subject, sizeof(subject), "policy:%s:%s", model, stage);
	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "stage", stage);
	if (p.from)
		cJSON_AddStringToObject(d, "from", p.from);
	cJSON_AddStringToObject(d, "metrics", p.metrics_csv);
	cJSON_AddNumberToObject(d, "approvals", (double)p.approvals);
	cJSON_AddNumberToObject(d, "soak_ms", (double)p.soak_ms);
	cJSON_AddBoolToObject(d, "require_signature", p.require_signature);
	cJSON_AddBoolToObject(d, "same_schema", p.same_schema);
	ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "policy_model", model);
	cJSON_AddStringToObject(ev, "stage", stage);
	cJSON_AddFalseToObject(ev, "removed");
	if ((rc = META(r)->policy_put(tx, model, stage, p.from, p.metrics, p.approvals, p.require_signature, p.soak_ms,
				      p.same_schema, who->principal, now)) < 0 ||
	    (rc = reg_audit_append(r->meta, tx, who->principal, "policy.set", subject,
				   strcmp(model, "*") ? model : NULL, d)) < 0)
		cJSON_Delete(ev);
	else
		rc = reg_event_emit(r, tx, "policy", who->principal, strcmp(model, "*") ? model : NULL, ev);
	cJSON_Delete(d);
	free(p.metrics);
	if (rc == 0)
		rc = META(r)->policy_list(tx, strcmp(model, "*") ? model : NULL, &all);
	if ((rc = promo_finish(r, tx, rc)) < 0) {
		cJSON_Delete(all);
		return rc;
	}
	for (cJSON *e = cJSON_GetObjectItem(all, "policies")->child; e; e = e->next)
		if (!strcmp(util_json_str(e, "model"), model) && !strcmp(util_json_str(e, "stage"), stage)) {
			*out = cJSON_DetachItemViaPointer(cJSON_GetObjectItem(all, "policies"), e);
			break;
		}
	cJSON_Delete(all);
	return 0;
}

int reg_policy_delete(reg_registry *r, const reg_principal *who, const char *model, const char *stage, cJSON **out)
{
	reg_tx *tx = NULL;
	char subject[UTIL_NAME_MAX + 80];
	cJSON *ev;
	int rc;
	if ((rc = policy_target(model)) < 0)
		return rc;
	if (!util_label_name_valid(stage))
		return mlreg_error_set(MLREG_EINVALID, "invalid stage name '%s'", stage ? stage : "");
	snprintf(subject, sizeof(subject), "policy:%s:%s", model, stage);
	if ((rc = META(r)->begin(r->meta, &tx)) < 0)
		return rc;
	ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "policy_model", model);
	cJSON_AddStringToObject(ev, "stage", stage);
	cJSON_AddTrueToObject(ev, "removed");
	if ((rc = META(r)->policy_delete(tx, model, stage)) < 0 ||
	    (rc = reg_audit_append(r->meta, tx, who->principal, "policy.remove", subject,
				   strcmp(model, "*") ? model : NULL, NULL)) < 0)
		cJSON_Delete(ev);
	else
		rc = reg_event_emit(r, tx, "policy", who->principal, strcmp(model, "*") ? model : NULL, ev);
	if ((rc = promo_finish(r, tx, rc)) < 0)
		return rc;
	*out = cJSON_CreateObject();
	cJSON_AddStringToObject(*out, "model", model);
	cJSON_AddStringToObject(*out, "stage", stage);
	cJSON_AddTrueToObject(*out, "removed");
	return 0;
}

int reg_policy_list(reg_registry *r, const char *model, cJSON **out)
{
	reg_tx *tx = NULL;
	int rc;
	if (model && !util_model_name_valid(model))
		return promo_bad_model(model);
	if ((rc = META(r)->begin_read(r->meta, &tx)) < 0)
		return rc;
	rc = META(r)->policy_list(tx, model, out);
	META(r)->commit(tx);
	return rc;
}

/* ---- approvals ---- */
int reg_approve(reg_registry *r, const reg_principal *who, const util_ref *ref, const cJSON *body, int *http_status,
		cJSON **out)
{
	static const char *const keys[] = {"stage", "comment", NULL};
	const char *stage = util_json_str(body, "stage"), *comment, *pusher;
	reg_tx *tx = NULL;
	char subject[UTIL_NAME_MAX + 32], ts[40];
	int64_t mid, number, vid, count = 0, now = util_now_ms();
	cJSON *facts = NULL, *d, *ev;
	bool added = false;
	int rc;
	if ((rc = promo_only_keys(body, keys)) < 0 || (rc = promo_comment_of(body, &comment)) < 0)
		return rc;
	if (!stage)
		return mlreg_error_set(MLREG_EINVALID, "approval needs \"stage\"");
	if ((rc = META(r)->begin(r->meta, &tx)) < 0)
		return rc;
	if ((rc = promo_stage_check(r, tx, stage)) < 0 || (rc = promo_model_of(r, tx, ref->model, &mid)) < 0 ||
	    (rc = promo_version_of(r, tx, ref, mid, &number, &vid)) < 0 || (rc = META(r)->version_facts(tx, vid, &facts)) < 0)
		return promo_finish(r, tx, rc);
	pusher = util_json_str(facts, "created_by");
	if (pusher && !strcmp(pusher, who->principal)) {
		rc = mlreg_error_set(MLREG_EREFUSED,
				     "'%s' pushed %s:%lld and cannot approve it: approvals must come from someone else",
				     who->principal, ref->model, (long long)number);
		cJSON_Delete(facts);
		return promo_finish(r, tx, rc);
	}
	cJSON_Delete(facts);
	if ((rc = META(r)->approval_add(tx, vid, stage, who->principal, now, comment, &added)) < 0)
		return promo_finish(r, tx, rc);
	if (added) {
		snprintf(subject, sizeof(subject), "%s:%lld", ref->model, (long long)number);
		d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "stage", stage);
		if (*comment)
			cJSON_AddStringToObject(d, "comment", comment);
		ev = cJSON_CreateObject();
		cJSON_AddNumberToObject(ev, "version", (double)number);
		cJSON_AddStringToObject(ev, "stage", stage);
		cJSON_AddStringToObject(ev, "principal", who->principal);
		if ((rc = reg_audit_append(r->meta, tx, who->principal, "approve", subject, ref->model, d)) < 0)
			cJSON_Delete(ev);
		else
			rc = reg_event_emit(r, tx, "approve", who->principal, ref->model, ev);
		cJSON_Delete(d);
	}
	if (rc == 0)
		rc = META(r)->approval_count(tx, vid, stage, &count);
	if ((rc = promo_finish(r, tx, rc)) < 0)
		return rc;
	*http_status = added ? 201 : 200;
	util_time_format(now, ts, sizeof(ts));
	*out = cJSON_CreateObject();
	cJSON_AddStringToObject(*out, "model", ref->model);
	cJSON_AddNumberToObject(*out, "version", (double)number);
	cJSON_AddStringToObject(*out, "stage", stage);
	cJSON_AddStringToObject(*out, "principal", who->principal);
	cJSON_AddStringToObject(*out, "time", ts);
	cJSON_AddStringToObject(*out, "comment", comment);
	cJSON_AddNumberToObject(*out, "count", (double)count);
	cJSON_AddBoolToObject(*out, "added", added);
	return 0;
}

int reg_approvals_list(reg_registry *r, const util_ref *ref, const char *stage, cJSON **out)
{
	reg_tx *tx = NULL;
	int64_t mid, number, vid;
	int rc;
	if ((rc = META(r)->begin_read(r->meta, &tx)) < 0)
		return rc;
	if ((rc = promo_model_of(r, tx, ref->model, &mid)) == 0 && (!stage || (rc = promo_stage_check(r, tx, stage)) == 0) &&
	    (rc = promo_version_of(r, tx, ref, mid, &number, &vid)) == 0 &&
	    (rc = META(r)->approval_list(tx, vid, stage, out)) == 0) {
		cJSON_AddStringToObject(*out, "model", ref->model);
		cJSON_AddNumberToObject(*out, "version", (double)number);
	}
	META(r)->commit(tx);
	return rc;
}

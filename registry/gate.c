/*
 * gate.c - evaluation of the gate policies of a stage for one version.
 *
 * One function, reg_gate_eval(), serves both `mlreg gate` (inside a read
 * snapshot, changing nothing) and `mlreg promote` (inside the promotion's
 * write transaction, so the state that passed the gate is the state that
 * is changed).  Every check is reported, passing or not, with what was
 * required and what was found, because a pipeline's log must say why a
 * version was refused without anyone re-running it by hand.  Both the
 * model's own policy and the "*" policy of the stage apply.  Metric
 * thresholds use util/expr.h, the grammar rollout analysis uses too.
 * The signature check re-verifies the stored signatures (registry/sign.c)
 * inside the same transaction, against the keys trusted at that moment.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry/registry_int.h"
#include "util/expr.h"
#include "util/json.h"

static void add_check(cJSON *checks, const char *policy, const char *check, bool passed, const char *required,
		      const char *actual)
{
	cJSON *c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "check", check);
	cJSON_AddBoolToObject(c, "passed", passed);
	cJSON_AddStringToObject(c, "required", required);
	cJSON_AddStringToObject(c, "actual", actual);
	if (policy)
		cJSON_AddStringToObject(c, "policy", policy);
	else
		cJSON_AddNullToObject(c, "policy");
	cJSON_AddItemToArray(checks, c);
}

/* Inputs and outputs only: the I/O contract, not the file name. */
static bool schema_equal(const cJSON *a, const cJSON *b)
{
	if (!a || cJSON_IsNull(a) || !b || cJSON_IsNull(b))
		return (!a || cJSON_IsNull(a)) && (!b || cJSON_IsNull(b));
	return cJSON_Compare(cJSON_GetObjectItem(a, "inputs"), cJSON_GetObjectItem(b, "inputs"), true) &&
	       cJSON_Compare(cJSON_GetObjectItem(a, "outputs"), cJSON_GetObjectItem(b, "outputs"), true);
}

static int check_from(reg_registry *r, reg_tx *tx, const cJSON *p, int64_t model_id, int64_t number,
		      cJSON *checks, bool *all)
{
	const char *pol = util_json_str(p, "model"), *from = util_json_str(p, "from");
	const cJSON *soak = cJSON_GetObjectItem(p, "soak_ms");
	char req[128], act[160], ts[40], d[32];
	int64_t first = 0;
	int rc = META(r)->move_first_entered(tx, model_id, from, number, &first);
	bool held = rc == 0;
	if (rc < 0 && rc != MLREG_ENOTFOUND)
		return rc;
	snprintf(req, sizeof(req), "holds or held %s", from);
	if (held) {
		util_time_format(first, ts, sizeof(ts));
		snprintf(act, sizeof(act), "entered %s at %s", from, ts);
	} else {
		snprintf(act, sizeof(act), "never held %s", from);
	}
	add_check(checks, pol, "from", held, req, act);
	*all = *all && held;
	if (cJSON_IsNumber(soak)) {
		int64_t need = (int64_t)soak->valuedouble, have = held ? util_now_ms() - first : 0;
		bool ok = held && have >= need;
		util_duration_format(need, d, sizeof(d));
		snprintf(req, sizeof(req), ">= %s in %s", d, from);
		if (held) {
			util_duration_format(have >= 1000 ? have - have % 1000 : have, d, sizeof(d));
			snprintf(act, sizeof(act), "%s since entering %s", d, from);
		} else {
			snprintf(act, sizeof(act), "never entered %s", from);
		}
		add_check(checks, pol, "soak", ok, req, act);
		*all = *all && ok;
	}
	return 0;
}

static void check_metrics(const cJSON *p, const cJSON *metrics, cJSON *checks, bool *all)
{
	const char *pol = util_json_str(p, "model");
	for (const cJSON *m = cJSON_GetObjectItem(p, "metrics") ? cJSON_GetObjectItem(p, "metrics")->child : NULL; m;
	     m = m->next) {
		util_expr e;
		char name[300], act[64];
		const cJSON *v;
		bool ok = false;
		if (!cJSON_IsString(m) || util_expr_parse(m->valuestring, true, &e) < 0) {
			add_check(checks, pol, "metric", false, cJSON_IsString(m) ? m->valuestring : "?", "unreadable policy");
			*all = false;
			continue;
		}
		snprintf(name, sizeof(name), "metric %s", e.name);
		v = cJSON_GetObjectItemCaseSensitive(metrics, e.name); /* metric keys are exact */
		if (cJSON_IsNumber(v)) {
			ok = util_expr_eval(&e, v->valuedouble);
			/* shortest form that reads back as the same double */
			snprintf(act, sizeof(act), "%.15g", v->valuedouble);
			if (strtod(act, NULL) != v->valuedouble)
				snprintf(act, sizeof(act), "%.17g", v->valuedouble);
		} else {
			snprintf(act, sizeof(act), "missing");
		}
		add_check(checks, pol, name, ok, m->valuestring, act);
		*all = *all && ok;
	}
}

int reg_gate_eval(reg_registry *r, reg_tx *tx, const char *model, int64_t model_id, int64_t version_id,
		  const char *stage, cJSON **out, bool *passed)
{
	cJSON *facts = NULL, *policies = NULL, *holder = NULL, *res, *checks;
	const char *status;
	int64_t number, current = 0;
	bool all = true;
	char req[128], act[160];
	int rc;
	if ((rc = META(r)->version_facts(tx, version_id, &facts)) < 0)
		return rc;
	if ((rc = META(r)->policy_list(tx, model, &policies)) < 0 ||
	    (rc = META(r)->stack_top(tx, model_id, stage, &current, NULL)) < 0) {
		cJSON_Delete(facts);
		cJSON_Delete(policies);
		return rc;
	}
	number = (int64_t)cJSON_GetObjectItem(facts, "version")->valuedouble;
	res = cJSON_CreateObject();
	cJSON_AddStringToObject(res, "model", model);
	cJSON_AddNumberToObject(res, "version", (double)number);
	cJSON_AddStringToObject(res, "stage", stage);
	checks = cJSON_CreateArray();

	status = util_json_str(facts, "status");
	add_check(checks, NULL, "status", status && !strcmp(status, "ready"), "ready", status ? status : "?");
	all = status && !strcmp(status, "ready");

	for (const cJSON *p = cJSON_GetObjectItem(policies, "policies")->child; p; p = p->next) {
		const char *pol = util_json_str(p, "model");
		int64_t need = 0;
		if (strcmp(util_json_str(p, "stage"), stage) != 0)
			continue;
		if (util_json_str(p, "from") && (rc = check_from(r, tx, p, model_id, number, checks, &all)) < 0)
			goto fail;
		check_metrics(p, cJSON_GetObjectItem(facts, "metrics"), checks, &all);
		util_json_i64(p, "approvals", &need);
		if (need > 0) {
			int64_t have = 0;
			if ((rc = META(r)->approval_count(tx, version_id, stage, &have)) < 0)
				goto fail;
			snprintf(req, sizeof(req), ">= %lld distinct approvers", (long long)need);
			snprintf(act, sizeof(act), "%lld", (long long)have);
			add_check(checks, pol, "approvals", have >= need, req, act);
			all = all && have >= need;
		}
		if (cJSON_IsTrue(cJSON_GetObjectItem(p, "same_schema"))) {
			bool ok = true;
			if (current <= 0) {
				snprintf(act, sizeof(act), "no current holder");
			} else {
				int64_t hid;
				char hstatus[16];
				if (!holder) {
					if ((rc = META(r)->version_lookup(tx, model, current, &hid, hstatus, sizeof(hstatus))) < 0 ||
					    (rc = META(r)->version_facts(tx, hid, &holder)) < 0)
						goto fail;
				}
				ok = schema_equal(cJSON_GetObjectItem(facts, "schema"), cJSON_GetObjectItem(holder, "schema"));
				snprintf(act, sizeof(act), "%s version %lld's", ok ? "equal to" : "differs from", (long long)current);
			}
			snprintf(req, sizeof(req), "inputs and outputs equal to the current holder's");
			add_check(checks, pol, "same_schema", ok, req, act);
			all = all && ok;
		}
		if (cJSON_IsTrue(cJSON_GetObjectItem(p, "require_signature"))) {
			/* re-verified now, against the keys trusted now (sign.c) */
			bool ok = false;
			if ((rc = reg_version_signed_in(r, tx, model, number, version_id, &ok, act, sizeof(act))) < 0)
				goto fail;
			add_check(checks, pol, "signature", ok, "a valid signature by a trusted key", act);
			all = all && ok;
		}
	}
	cJSON_AddBoolToObject(res, "passed", all);
	cJSON_AddItemToObject(res, "checks", checks);
	cJSON_Delete(facts);
	cJSON_Delete(policies);
	cJSON_Delete(holder);
	*out = res;
	*passed = all;
	return 0;
fail:
	cJSON_Delete(checks);
	cJSON_Delete(res);
	cJSON_Delete(facts);
	cJSON_Delete(policies);
	cJSON_Delete(holder);
	return rc;
}

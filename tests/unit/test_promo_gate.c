/*
 * test_promo_gate.c - unit tests for the promotion gate (registry/gate.c
 * through registry/registry.h): every check alone - metric thresholds
 * (exact at the threshold, case-sensitive keys, the latest logged value),
 * "from", soak, approvals, same_schema and the version's status - both
 * through reg_gate and through reg_promote; how a model's own policy and the
 * "*" policy combine; the order the checks are reported in; and separation
 * of duties: whoever pushed a version cannot approve it, and approvals
 * outlive a rollback.
 *
 * The gate is what stands between a pushed version and production, so each
 * check is driven to pass and to fail on its own, and the "actual" it
 * reports is asserted too.  reg_gate must change nothing, and a refused
 * reg_promote must leave the stage, its stack, the history and the audit
 * exactly as they were (snapshot and assert_unchanged in testpromo.h).  Each
 * test runs on its own fresh registry (treg_setup / treg_teardown).
 */
#include "testpromo.h"

/* ---- helpers of the gate tests ---- */

/* Push a version carrying an mlreg-model.json descriptor whose model file is
 * `file` and whose outputs are outputs_json (inputs are always one x). */
static int64_t push_schema(treg *t, const char *model, const char *file, const char *outputs_json)
{
	static int seq;
	char cfg[1024], bytes[64], dc[UTIL_DIGEST_LEN + 1], dm[UTIL_DIGEST_LEN + 1];
	int clen = snprintf(cfg, sizeof(cfg),
			    "{\"format\":\"onnx\",\"file\":\"%s\","
			    "\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[-1,4]}],\"outputs\":%s}",
			    file, outputs_json);
	int blen = snprintf(bytes, sizeof(bytes), "onnx-bytes-%d", ++seq);
	cJSON *body, *out = NULL;
	int status = 0;
	int64_t n;
	treg_put_blob(t, cfg, (size_t)clen, dc);
	treg_put_blob(t, bytes, (size_t)blen, dm);
	body = treg_body("mlreg-model.json", (uint64_t)clen, dc, NULL);
	treg_body_add(body, file, (uint64_t)blen, dm);
	if (reg_version_create(t->r, &t->admin, model, body, NULL, &status, &out, NULL) != 0)
		fail_msg("push with mlreg-model.json: %s", mlreg_error_last());
	cJSON_Delete(body);
	n = jnum(out, "version");
	cJSON_Delete(out);
	return n;
}

/* Approve and expect it to be recorded: 201 the first time, 200 after. */
static void approve_ok(treg *t, const reg_principal *who, const char *model, int64_t v, const char *stage,
		       int expect_status, int64_t expect_count)
{
	char seg[32], body[128];
	cJSON *o = NULL;
	int status = 0;
	snprintf(seg, sizeof(seg), "%lld", (long long)v);
	snprintf(body, sizeof(body), "{\"stage\":\"%s\",\"comment\":\"looks good\"}", stage);
	if (approve(t, who, model, seg, body, &status, &o) != 0)
		fail_msg("%s approving %s:%lld for %s: %s", who->principal, model, (long long)v, stage, mlreg_error_last());
	assert_int_equal(status, expect_status);
	assert_int_equal(jnum(o, "count"), expect_count);
	assert_int_equal(jnum(o, "version"), v);
	assert_string_equal(util_json_str(o, "stage"), stage);
	assert_string_equal(util_json_str(o, "principal"), who->principal);
	assert_true(cJSON_IsBool(cJSON_GetObjectItem(o, "added")));
	assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItem(o, "added")), expect_status == 201);
	cJSON_Delete(o);
}

/* reg_gate for model:seg at stage; asserts it changed nothing.  Caller frees. */
static cJSON *gate(treg *t, const char *model, const char *seg, const char *stage)
{
	util_ref ref;
	cJSON *o = NULL;
	snap before = snapshot(t, model, stage);
	ref_of(model, seg, &ref);
	if (reg_gate(t->r, &ref, stage, &o) != 0)
		fail_msg("reg_gate(%s:%s, %s): %s", model, seg, stage, mlreg_error_last());
	assert_unchanged(before, snapshot(t, model, stage));
	assert_string_equal(util_json_str(o, "model"), model);
	assert_string_equal(util_json_str(o, "stage"), stage);
	assert_true(cJSON_IsBool(cJSON_GetObjectItem(o, "passed")));
	assert_true(cJSON_IsArray(cJSON_GetObjectItem(o, "checks")));
	return o;
}

/* The check named name from policy (NULL: the policy member is null). */
static const cJSON *check_of(const cJSON *res, const char *name, const char *policy)
{
	for (const cJSON *c = cJSON_GetObjectItem(res, "checks")->child; c; c = c->next) {
		const cJSON *p = cJSON_GetObjectItem(c, "policy");
		if (strcmp(util_json_str(c, "check"), name) != 0)
			continue;
		if (policy ? (cJSON_IsString(p) && !strcmp(p->valuestring, policy)) : cJSON_IsNull(p))
			return c;
	}
	return NULL;
}

static int count_checks(const cJSON *res, const char *name)
{
	int n = 0;
	for (const cJSON *c = cJSON_GetObjectItem(res, "checks")->child; c; c = c->next)
		n += !strcmp(util_json_str(c, "check"), name);
	return n;
}

/* Assert one check's outcome; actual_prefix (optional) must start "actual". */
static void assert_check(const cJSON *res, const char *name, const char *policy, bool ok, const char *actual_prefix)
{
	const cJSON *c = check_of(res, name, policy);
	const char *actual;
	if (!c)
		fail_msg("no check '%s' of policy %s in %s", name, policy ? policy : "null", cJSON_PrintUnformatted(res));
	actual = util_json_str(c, "actual");
	assert_non_null(actual);
	assert_non_null(util_json_str(c, "required"));
	if (cJSON_IsTrue(cJSON_GetObjectItem(c, "passed")) != ok)
		fail_msg("check '%s' should have %s: %s", name, ok ? "passed" : "failed", cJSON_PrintUnformatted(c));
	if (actual_prefix && strncmp(actual, actual_prefix, strlen(actual_prefix)) != 0)
		fail_msg("check '%s': actual '%s' does not start with '%s'", name, actual, actual_prefix);
}

/* ==== 1. gate checks, each alone ==== */

static void gate_metric_check(void **state)
{
	treg *t = *state;
	cJSON *g, *res, *body;
	int64_t at = push(t, "m", "{\"metrics\":{\"accuracy\":0.9}}");      /* exactly the threshold */
	int64_t below = push(t, "m", "{\"metrics\":{\"accuracy\":0.89}}");
	int64_t none = push(t, "m", "{\"metrics\":{\"loss\":0.1}}");
	policy_ok(t, "m", "production", "{\"metrics\":[\"accuracy >= 0.9\"]}");

	g = gate(t, "m", "1", "production");
	assert_true(passed(g));
	assert_check(g, "metric accuracy", "m", true, "0.9");
	assert_string_equal(util_json_str(check_of(g, "metric accuracy", "m"), "required"), "accuracy>=0.9");
	assert_check(g, "status", NULL, true, "ready");
	assert_int_equal(jnum(g, "version"), at);
	cJSON_Delete(g);

	g = gate(t, "m", "2", "production");
	assert_false(passed(g));
	assert_check(g, "metric accuracy", "m", false, "0.89");
	cJSON_Delete(g);
	res = promote_refused(t, &t->admin, "m", "production", below);
	assert_check(res, "metric accuracy", "m", false, "0.89");
	cJSON_Delete(res);

	g = gate(t, "m", "3", "production");
	assert_false(passed(g));
	assert_check(g, "metric accuracy", "m", false, "missing");
	cJSON_Delete(g);
	res = promote_refused(t, &t->admin, "m", "production", none);
	assert_check(res, "metric accuracy", "m", false, "missing");
	cJSON_Delete(res);

	promote_ok(t, &t->admin, "m", "production", at, 0);

	/* the gate reads the latest value: a better metric logged later passes */
	body = J("{\"metrics\":[{\"key\":\"accuracy\",\"value\":0.95}]}");
	assert_int_equal(reg_version_log_metrics(t->r, &t->admin, "m", below, body, NULL), 0);
	cJSON_Delete(body);
	g = gate(t, "m", "2", "production");
	assert_true(passed(g));
	assert_check(g, "metric accuracy", "m", true, "0.95");
	cJSON_Delete(g);
	promote_ok(t, &t->admin, "m", "production", below, at);
	assert_audit_ok(t);
}

/* Metric keys are case-sensitive everywhere else (stored per exact key,
 * searched with key = ?, expr.h: "a threshold means the same thing
 * everywhere"), so a policy on "accuracy" must not read "Accuracy". */
static void gate_metric_names_are_case_sensitive(void **state)
{
	treg *t = *state;
	cJSON *g, *res, *v = NULL;
	int64_t only_upper = push(t, "m", "{\"metrics\":{\"Accuracy\":0.95}}");
	int64_t both = push(t, "m", "{\"metrics\":{\"Accuracy\":0.1,\"accuracy\":0.95}}");
	/* the registry keeps them as two metrics */
	assert_int_equal(reg_version_get(t->r, "m", both, false, &v), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(v, "metrics")), 2);
	cJSON_Delete(v);
	policy_ok(t, "m", "production", "{\"metrics\":[\"accuracy>=0.9\"]}");

	/* "accuracy" is missing from version 1: only "Accuracy" exists */
	g = gate(t, "m", "1", "production");
	assert_check(g, "metric accuracy", "m", false, "missing");
	assert_false(passed(g));
	cJSON_Delete(g);
	res = promote_refused(t, &t->admin, "m", "production", only_upper);
	cJSON_Delete(res);

	/* version 2 has accuracy 0.95: it passes on that value, not on Accuracy's */
	g = gate(t, "m", "2", "production");
	assert_check(g, "metric accuracy", "m", true, "0.95");
	assert_true(passed(g));
	cJSON_Delete(g);
	promote_ok(t, &t->admin, "m", "production", both, 0);
}

static void gate_from_check(void **state)
{
	treg *t = *state;
	cJSON *g, *res;
	int64_t v1 = push(t, "m", NULL), v2 = push(t, "m", NULL), v3 = push(t, "m", NULL);
	policy_ok(t, "m", "production", "{\"from\":\"staging\"}");
	promote_ok(t, &t->admin, "m", "staging", v1, 0);
	promote_ok(t, &t->admin, "m", "staging", v2, v1);
	rollback_ok(t, &t->admin, "m", "staging", "{}", v2, v1); /* v2 held staging, not any more */

	/* holds it now */
	g = gate(t, "m", "1", "production");
	assert_true(passed(g));
	assert_check(g, "from", "m", true, "entered staging at ");
	cJSON_Delete(g);
	/* held it before */
	g = gate(t, "m", "2", "production");
	assert_true(passed(g));
	assert_check(g, "from", "m", true, "entered staging at ");
	cJSON_Delete(g);
	/* never held it */
	g = gate(t, "m", "3", "production");
	assert_false(passed(g));
	assert_check(g, "from", "m", false, "never held staging");
	assert_int_equal(count_checks(g, "soak"), 0); /* no soak in this policy */
	cJSON_Delete(g);
	res = promote_refused(t, &t->admin, "m", "production", v3);
	assert_check(res, "from", "m", false, "never held staging");
	cJSON_Delete(res);

	promote_ok(t, &t->admin, "m", "production", v2, 0);
	promote_ok(t, &t->admin, "m", "production", v1, v2);
	assert_audit_ok(t);
}

static void gate_soak_check(void **state)
{
	treg *t = *state;
	cJSON *g, *res;
	int64_t v1 = push(t, "m", NULL);
	policy_ok(t, "m", "production", "{\"from\":\"staging\",\"soak\":\"200ms\"}");
	/* never entered: both from and soak fail */
	g = gate(t, "m", "1", "production");
	assert_check(g, "from", "m", false, NULL);
	assert_check(g, "soak", "m", false, "never entered staging");
	cJSON_Delete(g);

	promote_ok(t, &t->admin, "m", "staging", v1, 0);
	/* right after entering: from passes, soak does not */
	g = gate(t, "m", "1", "production");
	assert_false(passed(g));
	assert_check(g, "from", "m", true, NULL);
	assert_check(g, "soak", "m", false, NULL);
	cJSON_Delete(g);
	res = promote_refused(t, &t->admin, "m", "production", v1);
	assert_check(res, "soak", "m", false, NULL);
	cJSON_Delete(res);

	usleep(300 * 1000);
	g = gate(t, "m", "1", "production");
	assert_true(passed(g));
	assert_check(g, "soak", "m", true, NULL);
	cJSON_Delete(g);
	promote_ok(t, &t->admin, "m", "production", v1, 0);
	assert_audit_ok(t);
}

static void gate_approvals_check(void **state)
{
	treg *t = *state;
	reg_principal alice, bob, carol, dave;
	cJSON *g, *res, *o = NULL;
	int status = 0;
	int64_t v;
	principal(t, "alice", "writer", &alice);
	principal(t, "bob", "approver", &bob);
	principal(t, "carol", "approver", &carol);
	principal(t, "dave", "deployer", &dave);
	policy_ok(t, "m", "production", "{\"approvals\":2}");
	v = push_as(t, &alice, "m", NULL);

	g = gate(t, "m", "1", "production");
	assert_false(passed(g));
	assert_check(g, "approvals", "m", false, "0");
	assert_string_equal(util_json_str(check_of(g, "approvals", "m"), "required"), ">= 2 distinct approvers");
	cJSON_Delete(g);
	res = promote_refused(t, &dave, "m", "production", v);
	assert_check(res, "approvals", "m", false, "0");
	cJSON_Delete(res);

	approve_ok(t, &bob, "m", v, "production", 201, 1);
	assert_int_equal(audit_count(t, "approve"), 1);
	assert_last_audit(t, "approve", "m:1", "bob");
	g = gate(t, "m", "1", "production");
	assert_check(g, "approvals", "m", false, "1");
	cJSON_Delete(g);
	res = promote_refused(t, &dave, "m", "production", v);
	cJSON_Delete(res);

	/* the same principal again: 200, counted once, not audited again */
	approve_ok(t, &bob, "m", v, "production", 200, 1);
	assert_int_equal(audit_count(t, "approve"), 1);
	/* an approval for another stage does not count for this one */
	approve_ok(t, &bob, "m", v, "staging", 201, 1);
	g = gate(t, "m", "1", "production");
	assert_check(g, "approvals", "m", false, "1");
	cJSON_Delete(g);
	res = promote_refused(t, &dave, "m", "production", v);
	cJSON_Delete(res);

	approve_ok(t, &carol, "m", v, "production", 201, 2);
	g = gate(t, "m", "1", "production");
	assert_true(passed(g));
	assert_check(g, "approvals", "m", true, "2");
	cJSON_Delete(g);
	promote_ok(t, &dave, "m", "production", v, 0);

	/* the approvals as listed */
	{
		util_ref ref;
		char buf[256] = "";
		size_t used = 0;
		ref_of("m", "production", &ref); /* by stage: the version holding it */
		assert_int_equal(reg_approvals_list(t->r, &ref, "production", &o), 0);
		assert_int_equal(jnum(o, "version"), v);
		for (const cJSON *a = cJSON_GetObjectItem(o, "approvals")->child; a; a = a->next) {
			assert_string_equal(util_json_str(a, "stage"), "production");
			used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s;", util_json_str(a, "principal"));
		}
		assert_true(!strcmp(buf, "bob;carol;") || !strcmp(buf, "carol;bob;"));
		cJSON_Delete(o);
		o = NULL;
		assert_int_equal(reg_approvals_list(t->r, &ref, NULL, &o), 0);
		assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "approvals")), 3);
		cJSON_Delete(o);
		o = NULL;
		assert_int_equal(reg_approvals_list(t->r, &ref, "canary", &o), MLREG_ENOTFOUND);
	}
	/* bad approvals */
	assert_int_equal(approve(t, &bob, "m", "1", "{\"stage\":\"canary\"}", &status, &o), MLREG_ENOTFOUND);
	assert_int_equal(approve(t, &bob, "m", "1", "{}", &status, &o), MLREG_EINVALID);
	assert_int_equal(approve(t, &bob, "m", "1", "{\"stage\":\"production\",\"why\":1}", &status, &o),
			 MLREG_EINVALID);
	assert_int_equal(approve(t, &bob, "m", "9", "{\"stage\":\"production\"}", &status, &o), MLREG_ENOTFOUND);
	assert_null(o);
	assert_int_equal(audit_count(t, "approve"), 3);
	assert_audit_ok(t);
}

static void gate_same_schema_check(void **state)
{
	static const char out_y[] = "[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[-1]}]";
	static const char out_score[] = "[{\"name\":\"score\",\"datatype\":\"FP32\",\"shape\":[-1,2]}]";
	treg *t = *state;
	cJSON *g, *res;
	int64_t v1 = push_schema(t, "m", "model.onnx", out_y);
	int64_t v2 = push_schema(t, "m", "model-v2.onnx", out_y); /* another file, same I/O */
	int64_t v3 = push_schema(t, "m", "model.onnx", out_score);
	policy_ok(t, "m", "production", "{\"same_schema\":true}");

	/* no current holder: passes */
	g = gate(t, "m", "3", "production");
	assert_true(passed(g));
	assert_check(g, "same_schema", "m", true, "no current holder");
	cJSON_Delete(g);
	promote_ok(t, &t->admin, "m", "production", v1, 0);

	g = gate(t, "m", "2", "production");
	assert_true(passed(g));
	assert_check(g, "same_schema", "m", true, NULL);
	cJSON_Delete(g);
	g = gate(t, "m", "3", "production");
	assert_false(passed(g));
	assert_check(g, "same_schema", "m", false, NULL);
	assert_true(contains(util_json_str(check_of(g, "same_schema", "m"), "actual"), "1"));
	cJSON_Delete(g);
	res = promote_refused(t, &t->admin, "m", "production", v3);
	assert_check(res, "same_schema", "m", false, NULL);
	cJSON_Delete(res);

	/* a version without a descriptor differs from a holder with one */
	int64_t v4 = push(t, "m", NULL);
	g = gate(t, "m", "4", "production");
	assert_check(g, "same_schema", "m", false, NULL);
	cJSON_Delete(g);
	res = promote_refused(t, &t->admin, "m", "production", v4);
	cJSON_Delete(res);

	promote_ok(t, &t->admin, "m", "production", v2, v1);
	assert_audit_ok(t);
}

static void gate_status_check(void **state)
{
	treg *t = *state;
	cJSON *g, *res;
	int64_t v1 = push(t, "m", NULL), v2 = push(t, "m", NULL);
	assert_int_equal(reg_version_deprecate(t->r, &t->admin, "m", v1, NULL), 0);
	/* no policy at all: the status check is the only one */
	g = gate(t, "m", "1", "production");
	assert_false(passed(g));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(g, "checks")), 1);
	assert_check(g, "status", NULL, false, "deprecated");
	assert_string_equal(util_json_str(check_of(g, "status", NULL), "required"), "ready");
	cJSON_Delete(g);
	res = promote_refused(t, &t->admin, "m", "production", v1);
	assert_check(res, "status", NULL, false, "deprecated");
	cJSON_Delete(res);

	g = gate(t, "m", "2", "production");
	assert_true(passed(g));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(g, "checks")), 1);
	assert_check(g, "status", NULL, true, "ready");
	cJSON_Delete(g);
	promote_ok(t, &t->admin, "m", "production", v2, 0);

	/* a deleted version is not found, not merely refused */
	int64_t v3 = push(t, "m", NULL);
	util_ref ref;
	assert_int_equal(reg_version_delete(t->r, &t->admin, "m", v3, NULL), 0);
	ref_of("m", "3", &ref);
	g = NULL;
	assert_int_equal(reg_gate(t->r, &ref, "production", &g), MLREG_ENOTFOUND);
	{
		snap before = snapshot(t, "m", "production");
		assert_int_equal(promote(t, &t->admin, "m", "production", "{\"version\":3}", NULL), MLREG_ENOTFOUND);
		assert_unchanged(before, snapshot(t, "m", "production"));
	}
	/* the gate needs a known stage */
	ref_of("m", "2", &ref);
	assert_int_equal(reg_gate(t->r, &ref, "canary", &g), MLREG_ENOTFOUND);
	assert_int_equal(reg_gate(t->r, &ref, NULL, &g), MLREG_EINVALID);
	assert_null(g);
	assert_audit_ok(t);
}

static void gate_model_and_star_policies_apply(void **state)
{
	treg *t = *state;
	cJSON *g, *res;
	int64_t v = push(t, "m", "{\"metrics\":{\"accuracy\":0.9,\"latency_ms\":200}}");
	int64_t o1 = push(t, "other", "{\"metrics\":{\"accuracy\":0.9,\"latency_ms\":200}}");
	int64_t o2 = push(t, "other", "{\"metrics\":{\"accuracy\":0.4}}");
	policy_ok(t, "*", "production", "{\"metrics\":[\"accuracy>=0.5\"]}");
	policy_ok(t, "m", "production", "{\"metrics\":[\"latency_ms<=100\"]}");
	policy_ok(t, "m", "staging", "{\"metrics\":[\"accuracy>=0.99\"]}"); /* another stage */

	g = gate(t, "m", "1", "production");
	assert_false(passed(g));
	assert_check(g, "status", NULL, true, NULL);
	assert_check(g, "metric accuracy", "*", true, "0.9");
	assert_check(g, "metric latency_ms", "m", false, "200");
	assert_int_equal(count_checks(g, "metric accuracy"), 1); /* the staging policy does not apply */
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(g, "checks")), 3);
	cJSON_Delete(g);
	res = promote_refused(t, &t->admin, "m", "production", v);
	assert_check(res, "metric latency_ms", "m", false, "200");
	assert_check(res, "metric accuracy", "*", true, NULL);
	cJSON_Delete(res);

	/* another model gets only the "*" policy */
	g = gate(t, "other", "1", "production");
	assert_true(passed(g));
	assert_int_equal(count_checks(g, "metric latency_ms"), 0);
	assert_check(g, "metric accuracy", "*", true, NULL);
	cJSON_Delete(g);
	g = gate(t, "other", "2", "production");
	assert_false(passed(g));
	assert_check(g, "metric accuracy", "*", false, "0.4");
	cJSON_Delete(g);
	res = promote_refused(t, &t->admin, "other", "production", o2);
	cJSON_Delete(res);
	promote_ok(t, &t->admin, "other", "production", o1, 0);

	/* the "*" policy fails alone too */
	policy_ok(t, "m", "production", "{}");
	g = gate(t, "m", "1", "production");
	assert_true(passed(g));
	cJSON_Delete(g);
	policy_ok(t, "*", "production", "{\"metrics\":[\"accuracy>0.95\"]}");
	res = promote_refused(t, &t->admin, "m", "production", v);
	assert_check(res, "metric accuracy", "*", false, "0.9");
	cJSON_Delete(res);
	assert_int_equal(policy_del(t, "*", "production"), 0);
	promote_ok(t, &t->admin, "m", "production", v, 0);
	assert_audit_ok(t);
}

/* One policy with every kind of check: they come in the order of the table
 * in docs/api.md, each naming its policy, and the signature check is
 * refused without a signature. */
static void gate_checks_in_documented_order(void **state)
{
	static const char *const order[] = {"status",         "from",      "soak",       "metric auc",
					    "metric latency", "approvals", "same_schema", "signature"};
	treg *t = *state;
	cJSON *g;
	const cJSON *c;
	size_t i = 0;
	push(t, "m", "{\"metrics\":{\"auc\":0.9,\"latency\":10}}");
	policy_ok(t, "m", "production",
		  "{\"from\":\"staging\",\"soak\":\"1h\",\"metrics\":[\"auc>0.5\",\"latency<50\"],\"approvals\":1,"
		  "\"same_schema\":true,\"require_signature\":true}");
	g = gate(t, "m", "1", "production");
	for (c = cJSON_GetObjectItem(g, "checks")->child; c; c = c->next, i++) {
		assert_true(i < sizeof(order) / sizeof(order[0]));
		assert_string_equal(util_json_str(c, "check"), order[i]);
		assert_true(cJSON_IsString(cJSON_GetObjectItem(c, "required")));
		assert_true(cJSON_IsString(cJSON_GetObjectItem(c, "actual")));
		assert_true(cJSON_IsBool(cJSON_GetObjectItem(c, "passed")));
		if (i == 0)
			assert_true(cJSON_IsNull(cJSON_GetObjectItem(c, "policy")));
		else
			assert_string_equal(util_json_str(c, "policy"), "m");
	}
	assert_int_equal(i, sizeof(order) / sizeof(order[0]));
	assert_check(g, "signature", "m", false, "no signature");
	assert_check(g, "same_schema", "m", true, "no current holder");
	assert_check(g, "metric auc", "m", true, "0.9");
	assert_check(g, "metric latency", "m", true, "10");
	assert_check(g, "from", "m", false, "never held staging");
	assert_check(g, "approvals", "m", false, "0");
	assert_false(passed(g));
	cJSON_Delete(g);
}

/* ==== 2. separation of duties ==== */

static void pusher_cannot_approve(void **state)
{
	treg *t = *state;
	reg_principal alice, bob;
	cJSON *o = NULL;
	util_ref ref;
	int status = 0;
	int64_t v, va;
	principal(t, "alice", "writer", &alice);
	principal(t, "bob", "approver", &bob);
	v = push_as(t, &alice, "m", NULL);
	{
		snap before = snapshot(t, "m", "production");
		assert_int_equal(approve(t, &alice, "m", "1", "{\"stage\":\"production\"}", &status, &o), MLREG_EREFUSED);
		assert_true(contains(mlreg_error_last(), "alice"));
		assert_null(o);
		assert_unchanged(before, snapshot(t, "m", "production"));
	}
	ref_of("m", "1", &ref);
	assert_int_equal(reg_approvals_list(t->r, &ref, "production", &o), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "approvals")), 0);
	cJSON_Delete(o);
	o = NULL;

	/* someone else can; so can the admin, who did not push it */
	approve_ok(t, &bob, "m", v, "production", 201, 1);
	approve_ok(t, &t->admin, "m", v, "production", 201, 2);
	/* the rule binds the admin as well for what the admin pushed */
	va = push(t, "m", NULL);
	assert_int_equal(approve(t, &t->admin, "m", "2", "{\"stage\":\"production\"}", &status, &o), MLREG_EREFUSED);
	assert_true(contains(mlreg_error_last(), "admin"));
	approve_ok(t, &alice, "m", va, "production", 201, 1);
	assert_int_equal(audit_count(t, "approve"), 3);
	assert_audit_ok(t);
}

static void approvals_survive_rollback(void **state)
{
	treg *t = *state;
	reg_principal bob, dave;
	cJSON *g, *o = NULL;
	util_ref ref;
	int64_t v1, v2;
	principal(t, "bob", "approver", &bob);
	principal(t, "dave", "deployer", &dave);
	policy_ok(t, "m", "production", "{\"approvals\":1}");
	v1 = push(t, "m", NULL);
	v2 = push(t, "m", NULL);
	approve_ok(t, &bob, "m", v1, "production", 201, 1);
	approve_ok(t, &bob, "m", v2, "production", 201, 1);
	promote_ok(t, &dave, "m", "production", v1, 0);
	promote_ok(t, &dave, "m", "production", v2, v1);
	rollback_ok(t, &dave, "m", "production", "{\"comment\":\"v2 misbehaves\"}", v2, v1);

	g = gate(t, "m", "2", "production");
	assert_true(passed(g));
	assert_check(g, "approvals", "m", true, "1");
	cJSON_Delete(g);
	ref_of("m", "2", &ref);
	assert_int_equal(reg_approvals_list(t->r, &ref, "production", &o), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "approvals")), 1);
	assert_string_equal(util_json_str(cJSON_GetObjectItem(o, "approvals")->child, "principal"), "bob");
	cJSON_Delete(o);
	/* and the fixed-up version goes back without a new approval */
	promote_ok(t, &dave, "m", "production", v2, v1);
	assert_int_equal(depth_of(t, "m", "production"), 2);
	assert_int_equal(assert_chain(t, "m", "production"), 4);
	assert_audit_ok(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(gate_metric_check, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(gate_metric_names_are_case_sensitive, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(gate_from_check, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(gate_soak_check, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(gate_approvals_check, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(gate_same_schema_check, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(gate_status_check, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(gate_model_and_star_policies_apply, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(gate_checks_in_documented_order, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(pusher_cannot_approve, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(approvals_survive_rollback, treg_setup, treg_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_promotion.c - unit tests for the release workflow of the registry
 * (registry/promotion.c and registry/gate.c) driven through the public API
 * of registry/registry.h, without HTTP: the stage list, version references
 * by stage and alias, every gate check alone (through reg_gate and through
 * reg_promote), separation of duties for approvals, compare-and-swap with
 * expect_current, the rollback stack, racing promotions from several
 * threads, aliases, refusing to delete referenced versions, gate policies
 * and the audit chain after all of it.
 *
 * Promotion decides what production serves, so every test checks the
 * answer AND the state afterwards: who holds the stage, how deep its
 * rollback stack is, the history rows (each row's "from" must be the
 * previous row's "to", so the history can be replayed), and the audit
 * chain (exactly one entry per move, none for a refusal).  A refused or
 * conflicting promotion must change nothing at all, which is asserted by
 * comparing a snapshot of that state before and after.  Each test runs on
 * its own fresh registry (treg_setup / treg_teardown).
 */
#include <pthread.h>
#include "testreg.h"

/* ---- small JSON helpers ---- */

static cJSON *J(const char *text)
{
	cJSON *j = cJSON_Parse(text);
	if (!j)
		fail_msg("test JSON does not parse: %s", text);
	return j;
}

/* A number member, 0 when null or absent (version numbers start at 1). */
static int64_t jnum(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(o, key);
	return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

/* Assert o[key] is the version number expect, or null when expect is 0. */
static void assert_ver(const cJSON *o, const char *key, int64_t expect)
{
	const cJSON *v = cJSON_GetObjectItem(o, key);
	if (expect == 0) {
		if (!cJSON_IsNull(v))
			fail_msg("'%s' should be null, is %s", key, v ? cJSON_PrintUnformatted(v) : "absent");
	} else {
		if (!cJSON_IsNumber(v) || (int64_t)v->valuedouble != expect)
			fail_msg("'%s' should be %lld, is %s", key, (long long)expect, v ? cJSON_PrintUnformatted(v) : "absent");
	}
}

/* The strings of an array joined by ',' into buf. */
static const char *joined(const cJSON *arr, char *buf, size_t n)
{
	size_t used = 0;
	buf[0] = '\0';
	assert_true(cJSON_IsArray(arr));
	for (const cJSON *s = arr->child; s; s = s->next) {
		assert_true(cJSON_IsString(s));
		used += (size_t)snprintf(buf + used, n - used, "%s%s", s == arr->child ? "" : ",", s->valuestring);
		assert_true(used < n);
	}
	return buf;
}

static bool contains(const char *hay, const char *needle) { return hay && strstr(hay, needle) != NULL; }

/* ---- registry helpers ---- */

/* A principal with its own token: created by the admin, then authenticated
 * as a client would, so the role and principal are the registry's own. */
static void principal(treg *t, const char *name, const char *role, reg_principal *out)
{
	cJSON *o = NULL;
	reg_role want;
	if (reg_token_create(t->r, &t->admin, name, role, name, &o) != 0)
		fail_msg("reg_token_create(%s): %s", name, mlreg_error_last());
	if (reg_authenticate(t->r, util_json_str(o, "token"), out) != 0)
		fail_msg("token of %s does not authenticate: %s", name, mlreg_error_last());
	cJSON_Delete(o);
	assert_string_equal(out->principal, name);
	assert_int_equal(reg_role_parse(role, &want), 0);
	assert_int_equal(out->role, want);
}

/* Push a version of model as who (unique bytes each time); extra_json adds
 * members such as metrics.  Returns the version number. */
static int64_t push_as(treg *t, const reg_principal *who, const char *model, const char *extra_json)
{
	static int seq;
	char content[64], d[UTIL_DIGEST_LEN + 1];
	int len = snprintf(content, sizeof(content), "weights-%d", ++seq);
	cJSON *body, *out = NULL;
	int status = 0;
	int64_t n;
	treg_put_blob(t, content, (size_t)len, d);
	body = treg_body("model.bin", (uint64_t)len, d, extra_json);
	if (reg_version_create(t->r, who, model, body, NULL, &status, &out, NULL) != 0)
		fail_msg("reg_version_create(%s): %s", model, mlreg_error_last());
	cJSON_Delete(body);
	assert_int_equal(status, 201);
	n = jnum(out, "version");
	cJSON_Delete(out);
	assert_true(n > 0);
	return n;
}

static int64_t push(treg *t, const char *model, const char *extra_json) { return push_as(t, &t->admin, model, extra_json); }

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

static void ref_of(const char *model, const char *seg, util_ref *ref)
{
	if (reg_ref_segment_parse(seg, ref, model) != 0)
		fail_msg("reg_ref_segment_parse('%s'): %s", seg, mlreg_error_last());
}

/* The version a stage holds now, 0 when empty. */
static int64_t holder(treg *t, const char *model, const char *stage)
{
	util_ref ref;
	int64_t n = -1;
	int rc;
	ref_of(model, stage, &ref);
	rc = reg_resolve(t->r, &ref, &n);
	if (rc == MLREG_ENOTFOUND)
		return 0;
	if (rc != 0)
		fail_msg("reg_resolve(%s:%s): %s", model, stage, mlreg_error_last());
	return n;
}

/* The depth of a stage's rollback stack, from reg_model_pointers. */
static int64_t depth_of(treg *t, const char *model, const char *stage)
{
	cJSON *p = NULL;
	int64_t d = -1;
	if (reg_model_pointers(t->r, model, &p) != 0)
		fail_msg("reg_model_pointers(%s): %s", model, mlreg_error_last());
	for (const cJSON *e = cJSON_GetObjectItem(p, "stages")->child; e; e = e->next)
		if (!strcmp(util_json_str(e, "stage"), stage))
			d = jnum(e, "depth");
	cJSON_Delete(p);
	if (d < 0)
		fail_msg("stage '%s' missing from the pointers of %s", stage, model);
	return d;
}

/* Audit entries, all or of one action. */
static int audit_count(treg *t, const char *action)
{
	reg_audit_query q = {.action = action, .limit = 1000000, .oldest_first = true, .after_seq = 0};
	cJSON *o = NULL;
	int n;
	assert_int_equal(reg_audit_list(t->r, &q, &o), 0);
	n = cJSON_GetArraySize(cJSON_GetObjectItem(o, "entries"));
	cJSON_Delete(o);
	return n;
}

/* The newest audit entry (caller frees). */
static cJSON *audit_last(treg *t)
{
	reg_audit_query q = {.limit = 1};
	cJSON *o = NULL, *e;
	assert_int_equal(reg_audit_list(t->r, &q, &o), 0);
	e = cJSON_DetachItemFromArray(cJSON_GetObjectItem(o, "entries"), 0);
	cJSON_Delete(o);
	assert_non_null(e);
	return e;
}

static void assert_last_audit(treg *t, const char *action, const char *subject, const char *actor)
{
	cJSON *e = audit_last(t);
	assert_string_equal(util_json_str(e, "action"), action);
	if (subject)
		assert_string_equal(util_json_str(e, "subject"), subject);
	if (actor)
		assert_string_equal(util_json_str(e, "actor"), actor);
	cJSON_Delete(e);
}

static void assert_audit_ok(treg *t)
{
	cJSON *v = NULL;
	assert_int_equal(reg_audit_verify(t->r, &v), 0);
	if (!cJSON_IsTrue(cJSON_GetObjectItem(v, "ok")))
		fail_msg("audit chain does not verify: %s", cJSON_PrintUnformatted(v));
	assert_int_equal(jnum(v, "entries"), audit_count(t, NULL));
	cJSON_Delete(v);
}

/* History rows of a model (stage or alias filter optional; caller frees). */
static cJSON *history(treg *t, const char *model, const char *stage, const char *alias)
{
	cJSON *h = NULL;
	if (reg_history(t->r, model, stage, alias, 10000, 0, &h) != 0)
		fail_msg("reg_history(%s): %s", model, mlreg_error_last());
	return h;
}

static int history_len(treg *t, const char *model, const char *stage, const char *alias)
{
	cJSON *h = history(t, model, stage, alias);
	int n = cJSON_GetArraySize(cJSON_GetObjectItem(h, "history"));
	cJSON_Delete(h);
	return n;
}

/* Walk the history of one stage: kinds promote/rollback, the first "from"
 * null, every later "from" the previous row's "to", and the last "to" the
 * current holder.  Returns the number of rows. */
static int assert_chain(treg *t, const char *model, const char *stage)
{
	cJSON *h = history(t, model, stage, NULL);
	int64_t prev = 0;
	int n = 0;
	for (const cJSON *e = cJSON_GetObjectItem(h, "history")->child; e; e = e->next, n++) {
		const char *kind = util_json_str(e, "kind");
		assert_string_equal(util_json_str(e, "target"), "stage");
		assert_string_equal(util_json_str(e, "stage"), stage);
		if (!kind || (strcmp(kind, "promote") && strcmp(kind, "rollback")))
			fail_msg("row %d of %s:%s has kind '%s'", n, model, stage, kind ? kind : "?");
		if (jnum(e, "from") != prev)
			fail_msg("row %d of %s:%s: from %lld, but the previous row went to %lld", n, model, stage,
				 (long long)jnum(e, "from"), (long long)prev);
		if (prev == 0)
			assert_ver(e, "from", 0);
		prev = jnum(e, "to");
		assert_true(prev > 0);
	}
	cJSON_Delete(h);
	assert_int_equal(holder(t, model, stage), prev);
	return n;
}

/* What a refused or conflicting change must leave alone. */
typedef struct {
	int64_t holder, depth;
	int moves, audit, approvals;
} snap;

static snap snapshot(treg *t, const char *model, const char *stage)
{
	snap s;
	s.holder = holder(t, model, stage);
	s.depth = depth_of(t, model, stage);
	s.moves = history_len(t, model, NULL, NULL);
	s.audit = audit_count(t, NULL);
	s.approvals = audit_count(t, "approve");
	return s;
}

static void assert_unchanged(snap a, snap b)
{
	assert_int_equal(a.holder, b.holder);
	assert_int_equal(a.depth, b.depth);
	assert_int_equal(a.moves, b.moves);
	assert_int_equal(a.audit, b.audit);
	assert_int_equal(a.approvals, b.approvals);
}

/* ---- thin wrappers taking JSON text ---- */

static int promote(treg *t, const reg_principal *who, const char *model, const char *stage, const char *body,
		   cJSON **out)
{
	cJSON *b = J(body), *o = NULL;
	int rc = reg_promote(t->r, who, model, stage, b, &o);
	cJSON_Delete(b);
	if (out)
		*out = o;
	else
		cJSON_Delete(o);
	return rc;
}

static int rollback(treg *t, const reg_principal *who, const char *model, const char *stage, const char *body,
		    cJSON **out)
{
	cJSON *b = J(body), *o = NULL;
	int rc = reg_rollback(t->r, who, model, stage, b, &o);
	cJSON_Delete(b);
	if (out)
		*out = o;
	else
		cJSON_Delete(o);
	return rc;
}

static int alias_set(treg *t, const char *model, const char *alias, const char *body, cJSON **out)
{
	cJSON *b = J(body), *o = NULL;
	int rc = reg_alias_set(t->r, &t->admin, model, alias, b, &o);
	cJSON_Delete(b);
	if (out)
		*out = o;
	else
		cJSON_Delete(o);
	return rc;
}

static int policy_put(treg *t, const char *model, const char *stage, const char *body, cJSON **out)
{
	cJSON *b = J(body), *o = NULL;
	int rc = reg_policy_put(t->r, &t->admin, model, stage, b, &o);
	cJSON_Delete(b);
	if (out)
		*out = o;
	else
		cJSON_Delete(o);
	return rc;
}

static void policy_ok(treg *t, const char *model, const char *stage, const char *body)
{
	if (policy_put(t, model, stage, body, NULL) != 0)
		fail_msg("reg_policy_put(%s, %s, %s): %s", model, stage, body, mlreg_error_last());
}

static int policy_del(treg *t, const char *model, const char *stage)
{
	cJSON *o = NULL;
	int rc = reg_policy_delete(t->r, &t->admin, model, stage, &o);
	cJSON_Delete(o);
	return rc;
}

static int stages_set(treg *t, const char *body, cJSON **out)
{
	cJSON *b = J(body), *o = NULL;
	int rc = reg_stages_set(t->r, &t->admin, b, &o);
	cJSON_Delete(b);
	if (out)
		*out = o;
	else
		cJSON_Delete(o);
	return rc;
}

static const char *stages_now(treg *t, char *buf, size_t n)
{
	cJSON *o = NULL;
	assert_int_equal(reg_stages_get(t->r, &o), 0);
	joined(cJSON_GetObjectItem(o, "stages"), buf, n);
	cJSON_Delete(o);
	return buf;
}

static int approve(treg *t, const reg_principal *who, const char *model, const char *seg, const char *body,
		   int *status, cJSON **out)
{
	util_ref ref;
	cJSON *b = J(body), *o = NULL;
	int rc;
	ref_of(model, seg, &ref);
	rc = reg_approve(t->r, who, &ref, b, status, &o);
	cJSON_Delete(b);
	if (out)
		*out = o;
	else
		cJSON_Delete(o);
	return rc;
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

static bool passed(const cJSON *res) { return cJSON_IsTrue(cJSON_GetObjectItem(res, "passed")); }

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

/* Promote and expect success: "promoted":true, the new holder on top of a
 * stack one deeper, one history row and exactly one audit entry. */
static void promote_ok(treg *t, const reg_principal *who, const char *model, const char *stage, int64_t v,
		       int64_t expect_from)
{
	char body[128], subject[300];
	cJSON *o = NULL;
	snap before = snapshot(t, model, stage), after;
	snprintf(body, sizeof(body), "{\"version\":%lld}", (long long)v);
	if (promote(t, who, model, stage, body, &o) != 0)
		fail_msg("promote %s:%lld to %s: %s (%s)", model, (long long)v, stage, mlreg_error_last(),
			 o ? cJSON_PrintUnformatted(o) : "");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "promoted")));
	assert_true(passed(o));
	assert_int_equal(jnum(o, "version"), v);
	assert_ver(o, "from", expect_from);
	cJSON_Delete(o);
	after = snapshot(t, model, stage);
	assert_int_equal(after.holder, v);
	assert_int_equal(after.depth, before.depth + 1);
	assert_int_equal(after.moves, before.moves + 1);
	assert_int_equal(after.audit, before.audit + 1);
	snprintf(subject, sizeof(subject), "%s:%s", model, stage);
	assert_last_audit(t, "promote", subject, who->principal);
}

/* Promote and expect the gate to refuse: MLREG_EREFUSED, *out the failed
 * gate result with "promoted":false, and nothing changed.  Caller frees. */
static cJSON *promote_refused(treg *t, const reg_principal *who, const char *model, const char *stage, int64_t v)
{
	char body[128];
	cJSON *o = NULL;
	snap before = snapshot(t, model, stage);
	int rc;
	snprintf(body, sizeof(body), "{\"version\":%lld,\"comment\":\"should not happen\"}", (long long)v);
	rc = promote(t, who, model, stage, body, &o);
	if (rc != MLREG_EREFUSED)
		fail_msg("promote %s:%lld to %s: expected MLREG_EREFUSED, got %d (%s)", model, (long long)v, stage, rc,
			 mlreg_error_last());
	assert_non_null(o);
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "promoted")));
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "passed")));
	assert_int_equal(jnum(o, "version"), v);
	assert_true(cJSON_GetArraySize(cJSON_GetObjectItem(o, "checks")) > 0);
	assert_unchanged(before, snapshot(t, model, stage));
	return o;
}

/* Roll back and expect success with from/to, one history row of kind
 * rollback and exactly one audit entry. */
static void rollback_ok(treg *t, const reg_principal *who, const char *model, const char *stage, const char *body,
			int64_t from, int64_t to)
{
	char subject[300];
	cJSON *o = NULL;
	snap before = snapshot(t, model, stage), after;
	if (rollback(t, who, model, stage, body, &o) != 0)
		fail_msg("rollback %s:%s %s: %s", model, stage, body, mlreg_error_last());
	assert_int_equal(jnum(o, "from"), from);
	assert_int_equal(jnum(o, "to"), to);
	assert_string_equal(util_json_str(o, "stage"), stage);
	cJSON_Delete(o);
	after = snapshot(t, model, stage);
	assert_int_equal(after.holder, to);
	assert_int_equal(after.moves, before.moves + 1);
	assert_int_equal(after.audit, before.audit + 1);
	snprintf(subject, sizeof(subject), "%s:%s", model, stage);
	assert_last_audit(t, "rollback", subject, who->principal);
}

static void rollback_refused(treg *t, const reg_principal *who, const char *model, const char *stage,
			     const char *body, int expect_rc)
{
	snap before = snapshot(t, model, stage);
	int rc = rollback(t, who, model, stage, body, NULL);
	if (rc != expect_rc)
		fail_msg("rollback %s:%s %s: expected %d, got %d (%s)", model, stage, body, expect_rc, rc,
			 mlreg_error_last());
	assert_unchanged(before, snapshot(t, model, stage));
}

static void assert_version_pointers(treg *t, const char *model, int64_t v, const char *stages, const char *aliases)
{
	cJSON *o = NULL;
	char buf[512];
	assert_int_equal(reg_version_get(t->r, model, v, false, &o), 0);
	if (strcmp(joined(cJSON_GetObjectItem(o, "stages"), buf, sizeof(buf)), stages) != 0)
		fail_msg("%s:%lld holds stages [%s], expected [%s]", model, (long long)v, buf, stages);
	if (strcmp(joined(cJSON_GetObjectItem(o, "aliases"), buf, sizeof(buf)), aliases) != 0)
		fail_msg("%s:%lld has aliases [%s], expected [%s]", model, (long long)v, buf, aliases);
	cJSON_Delete(o);
}

/* ==== 1. stages ==== */

static void stages_default_and_set(void **state)
{
	treg *t = *state;
	cJSON *o = NULL, *e;
	char buf[512];
	assert_string_equal(stages_now(t, buf, sizeof(buf)), "staging,production");
	assert_int_equal(audit_count(t, "stages.set"), 0);

	assert_int_equal(stages_set(t, "{\"stages\":[\"dev\",\"staging\",\"canary\",\"production\"]}", &o), 0);
	assert_string_equal(joined(cJSON_GetObjectItem(o, "stages"), buf, sizeof(buf)), "dev,staging,canary,production");
	cJSON_Delete(o);
	assert_string_equal(stages_now(t, buf, sizeof(buf)), "dev,staging,canary,production");
	/* audited once, naming the new list */
	assert_int_equal(audit_count(t, "stages.set"), 1);
	e = audit_last(t);
	assert_string_equal(util_json_str(e, "action"), "stages.set");
	assert_string_equal(util_json_str(e, "actor"), "admin");
	assert_string_equal(util_json_str(cJSON_GetObjectItem(e, "details"), "stages"), "dev,staging,canary,production");
	cJSON_Delete(e);

	/* a new stage is usable at once, and the pointers follow the new order */
	int64_t v = push(t, "m", NULL);
	promote_ok(t, &t->admin, "m", "canary", v, 0);
	assert_int_equal(reg_model_pointers(t->r, "m", &o), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "stages")), 4);
	assert_string_equal(util_json_str(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "stages"), 2), "stage"), "canary");
	assert_int_equal(jnum(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "stages"), 2), "version"), v);
	assert_int_equal(jnum(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "stages"), 2), "depth"), 1);
	assert_ver(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "stages"), 0), "version", 0);
	cJSON_Delete(o);
	/* reordering keeps a held stage: allowed */
	assert_int_equal(stages_set(t, "{\"stages\":[\"canary\",\"production\"]}", NULL), 0);
	assert_string_equal(stages_now(t, buf, sizeof(buf)), "canary,production");
	assert_int_equal(holder(t, "m", "canary"), v);
	assert_int_equal(audit_count(t, "stages.set"), 2);
	assert_audit_ok(t);
}

static void stages_refuse_removing_held_stage(void **state)
{
	treg *t = *state;
	char buf[512];
	int64_t v = push(t, "risk/fraud", NULL);
	int audit;
	promote_ok(t, &t->admin, "risk/fraud", "staging", v, 0);
	audit = audit_count(t, NULL);
	assert_int_equal(stages_set(t, "{\"stages\":[\"production\"]}", NULL), MLREG_ECONFLICT);
	assert_true(contains(mlreg_error_last(), "staging"));
	assert_true(contains(mlreg_error_last(), "risk/fraud"));
	/* nothing changed */
	assert_string_equal(stages_now(t, buf, sizeof(buf)), "staging,production");
	assert_int_equal(audit_count(t, NULL), audit);
	assert_int_equal(audit_count(t, "stages.set"), 0);
	assert_int_equal(holder(t, "risk/fraud", "staging"), v);
	/* removing the unused one is fine */
	assert_int_equal(stages_set(t, "{\"stages\":[\"staging\"]}", NULL), 0);
	assert_string_equal(stages_now(t, buf, sizeof(buf)), "staging");
	assert_audit_ok(t);
}

static void stages_refuse_removing_policy_stage(void **state)
{
	treg *t = *state;
	char buf[512];
	/* a policy's own stage */
	policy_ok(t, "*", "production", "{\"approvals\":1}");
	assert_int_equal(stages_set(t, "{\"stages\":[\"staging\"]}", NULL), MLREG_ECONFLICT);
	assert_true(contains(mlreg_error_last(), "production"));
	assert_string_equal(stages_now(t, buf, sizeof(buf)), "staging,production");
	assert_int_equal(policy_del(t, "*", "production"), 0);
	/* a policy's "from" */
	policy_ok(t, "m", "production", "{\"from\":\"staging\"}");
	assert_int_equal(stages_set(t, "{\"stages\":[\"production\"]}", NULL), MLREG_ECONFLICT);
	assert_true(contains(mlreg_error_last(), "staging"));
	assert_int_equal(stages_set(t, "{\"stages\":[\"staging\"]}", NULL), MLREG_ECONFLICT);
	assert_string_equal(stages_now(t, buf, sizeof(buf)), "staging,production");
	assert_int_equal(audit_count(t, "stages.set"), 0);
	/* without the policy the stage can go */
	assert_int_equal(policy_del(t, "m", "production"), 0);
	assert_int_equal(stages_set(t, "{\"stages\":[\"staging\"]}", NULL), 0);
	assert_string_equal(stages_now(t, buf, sizeof(buf)), "staging");
	assert_int_equal(audit_count(t, "stages.set"), 1);
	assert_audit_ok(t);
}

static void stages_invalid_lists(void **state)
{
	static const char *const bad[] = {
		"{\"stages\":[]}",
		"{\"stages\":[\"dev\",\"dev\"]}",
		"{\"stages\":[\"staging\",\"prod\",\"staging\"]}",
		"{\"stages\":[\"Prod\"]}",
		"{\"stages\":[\"1st\"]}",
		"{\"stages\":[\"123\"]}",
		"{\"stages\":[\"latest\"]}",
		"{\"stages\":[\"\"]}",
		"{\"stages\":[\"has space\"]}",
		"{\"stages\":[\"under_score\"]}",
		"{\"stages\":[5]}",
		"{\"stages\":[null]}",
		"{\"stages\":\"production\"}",
		"{\"stages\":null}",
		"{}",
		"[\"production\"]",
		"{\"stages\":[\"production\"],\"extra\":true}",
	};
	treg *t = *state;
	char buf[4096], body[4096];
	size_t used;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (stages_set(t, bad[i], NULL) != MLREG_EINVALID)
			fail_msg("expected MLREG_EINVALID for %s", bad[i]);
	/* a name of 64 characters is one too many */
	char *long_name = tu_repeat('a', 64);
	snprintf(body, sizeof(body), "{\"stages\":[\"%s\"]}", long_name);
	assert_int_equal(stages_set(t, body, NULL), MLREG_EINVALID);
	long_name[63] = '\0';
	snprintf(body, sizeof(body), "{\"stages\":[\"staging\",\"production\",\"%s\"]}", long_name);
	free(long_name);
	assert_int_equal(stages_set(t, body, NULL), 0);
	assert_int_equal(stages_set(t, "{\"stages\":[\"staging\",\"production\"]}", NULL), 0);
	/* 33 stages are too many; 32 are fine */
	used = (size_t)snprintf(body, sizeof(body), "{\"stages\":[\"staging\",\"production\"");
	for (int i = 3; i <= 33; i++)
		used += (size_t)snprintf(body + used, sizeof(body) - used, ",\"s%d\"", i);
	snprintf(body + used, sizeof(body) - used, "]}");
	assert_int_equal(stages_set(t, body, NULL), MLREG_EINVALID);
	assert_string_equal(stages_now(t, buf, sizeof(buf)), "staging,production");
	assert_int_equal(audit_count(t, "stages.set"), 2);
	*strrchr(body, ',') = '\0'; /* drop s33 */
	strcat(body, "]}");
	assert_int_equal(stages_set(t, body, NULL), 0);
	{
		cJSON *o = NULL;
		assert_int_equal(reg_stages_get(t->r, &o), 0);
		assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "stages")), 32);
		cJSON_Delete(o);
	}
	assert_audit_ok(t);
}

/* ==== 2. references ==== */

static void ref_segments_parse(void **state)
{
	static const char *const bad[] = {"", "0", "-1", "3x", "1.5", "Prod", "@", "@Prod", "@3", "latest", "@latest",
					  "a:b", "a@b", "@a@b", "under_score", "has space", "prod/x"};
	util_ref ref;
	char *long_seg;
	(void)state;
	memset(&ref, 0, sizeof(ref));
	assert_int_equal(reg_ref_segment_parse("3", &ref, "risk/fraud"), 0);
	assert_int_equal(ref.kind, UTIL_REF_VERSION);
	assert_int_equal(ref.version, 3);
	assert_string_equal(ref.model, "risk/fraud");
	assert_int_equal(reg_ref_segment_parse("production", &ref, "risk/fraud"), 0);
	assert_int_equal(ref.kind, UTIL_REF_STAGE);
	assert_string_equal(ref.label, "production");
	assert_string_equal(ref.model, "risk/fraud");
	assert_int_equal(reg_ref_segment_parse("@champion", &ref, "risk/fraud"), 0);
	assert_int_equal(ref.kind, UTIL_REF_ALIAS);
	assert_string_equal(ref.label, "champion");
	assert_string_equal(ref.model, "risk/fraud");
	assert_int_equal(reg_ref_segment_parse("canary-2", &ref, "m"), 0);
	assert_int_equal(ref.kind, UTIL_REF_STAGE);
	assert_string_equal(ref.label, "canary-2");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (reg_ref_segment_parse(bad[i], &ref, "m") != MLREG_EINVALID)
			fail_msg("expected MLREG_EINVALID for segment '%s'", bad[i]);
	assert_int_equal(reg_ref_segment_parse(NULL, &ref, "m"), MLREG_EINVALID);
	long_seg = tu_repeat('a', 64);
	assert_int_equal(reg_ref_segment_parse(long_seg, &ref, "m"), MLREG_EINVALID);
	free(long_seg);
	/* a bad model is refused too */
	assert_int_equal(reg_ref_segment_parse("3", &ref, "Bad"), MLREG_EINVALID);
}

static void refs_resolve_stage_and_alias(void **state)
{
	treg *t = *state;
	util_ref ref;
	cJSON *o = NULL;
	char buf[256];
	int64_t n = 0, v1 = push(t, "risk/fraud", NULL), v2 = push(t, "risk/fraud", NULL), v3 = push(t, "risk/fraud", NULL);
	promote_ok(t, &t->admin, "risk/fraud", "staging", v1, 0);
	assert_int_equal(alias_set(t, "risk/fraud", "champion", "{\"version\":2}", NULL), 0);

	ref_of("risk/fraud", "staging", &ref);
	assert_int_equal(reg_resolve(t->r, &ref, &n), 0);
	assert_int_equal(n, v1);
	assert_int_equal(reg_version_get_ref(t->r, &ref, true, &o), 0);
	assert_int_equal(jnum(o, "version"), v1);
	assert_string_equal(joined(cJSON_GetObjectItem(o, "stages"), buf, sizeof(buf)), "staging");
	assert_string_equal(joined(cJSON_GetObjectItem(o, "aliases"), buf, sizeof(buf)), "");
	assert_true(cJSON_IsArray(cJSON_GetObjectItem(o, "files")));
	cJSON_Delete(o);
	o = NULL;

	ref_of("risk/fraud", "@champion", &ref);
	assert_int_equal(reg_resolve(t->r, &ref, &n), 0);
	assert_int_equal(n, v2);
	assert_int_equal(reg_version_get_ref(t->r, &ref, false, &o), 0);
	assert_int_equal(jnum(o, "version"), v2);
	assert_string_equal(joined(cJSON_GetObjectItem(o, "stages"), buf, sizeof(buf)), "");
	assert_string_equal(joined(cJSON_GetObjectItem(o, "aliases"), buf, sizeof(buf)), "champion");
	cJSON_Delete(o);
	o = NULL;

	ref_of("risk/fraud", "3", &ref);
	assert_int_equal(reg_resolve(t->r, &ref, &n), 0);
	assert_int_equal(n, v3);
	assert_int_equal(reg_version_get_ref(t->r, &ref, false, &o), 0);
	assert_int_equal(jnum(o, "version"), v3);
	cJSON_Delete(o);
	o = NULL;

	/* empty stage, unset alias, unknown stage, unknown model, absent version */
	static const char *const missing[] = {"production", "@nobody", "canary"};
	for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
		ref_of("risk/fraud", missing[i], &ref);
		if (reg_resolve(t->r, &ref, &n) != MLREG_ENOTFOUND)
			fail_msg("reg_resolve(%s): expected MLREG_ENOTFOUND", missing[i]);
		if (reg_version_get_ref(t->r, &ref, false, &o) != MLREG_ENOTFOUND)
			fail_msg("reg_version_get_ref(%s): expected MLREG_ENOTFOUND", missing[i]);
		assert_null(o);
	}
	ref_of("nope", "staging", &ref);
	assert_int_equal(reg_resolve(t->r, &ref, &n), MLREG_ENOTFOUND);
	assert_int_equal(reg_version_get_ref(t->r, &ref, false, &o), MLREG_ENOTFOUND);
	ref_of("risk/fraud", "9", &ref);
	assert_int_equal(reg_version_get_ref(t->r, &ref, false, &o), MLREG_ENOTFOUND);
	assert_null(o);

	/* a promote body's "version" may be a stage or an alias of the model */
	assert_int_equal(promote(t, &t->admin, "risk/fraud", "production", "{\"version\":\"staging\"}", &o), 0);
	assert_int_equal(jnum(o, "version"), v1);
	cJSON_Delete(o);
	assert_int_equal(promote(t, &t->admin, "risk/fraud", "staging", "{\"version\":\"@champion\"}", &o), 0);
	assert_int_equal(jnum(o, "version"), v2);
	assert_ver(o, "from", v1);
	cJSON_Delete(o);
	/* an empty stage or unset alias as "version" is not found, and does nothing */
	{
		snap before = snapshot(t, "risk/fraud", "production");
		assert_int_equal(promote(t, &t->admin, "risk/fraud", "production", "{\"version\":\"@nobody\"}", NULL),
				 MLREG_ENOTFOUND);
		assert_unchanged(before, snapshot(t, "risk/fraud", "production"));
	}
	assert_version_pointers(t, "risk/fraud", v1, "production", "");
	assert_version_pointers(t, "risk/fraud", v2, "staging", "champion");
	assert_version_pointers(t, "risk/fraud", v3, "", "");

	/* the model's pointers */
	assert_int_equal(reg_model_pointers(t->r, "risk/fraud", &o), 0);
	assert_string_equal(util_json_str(o, "model"), "risk/fraud");
	{
		const cJSON *st = cJSON_GetObjectItem(o, "stages"), *al = cJSON_GetObjectItem(o, "aliases");
		assert_int_equal(cJSON_GetArraySize(st), 2);
		assert_string_equal(util_json_str(cJSON_GetArrayItem(st, 0), "stage"), "staging");
		assert_int_equal(jnum(cJSON_GetArrayItem(st, 0), "version"), v2);
		assert_int_equal(jnum(cJSON_GetArrayItem(st, 0), "depth"), 2);
		assert_string_equal(util_json_str(cJSON_GetArrayItem(st, 0), "by"), "admin");
		assert_string_equal(util_json_str(cJSON_GetArrayItem(st, 1), "stage"), "production");
		assert_int_equal(jnum(cJSON_GetArrayItem(st, 1), "version"), v1);
		assert_int_equal(jnum(cJSON_GetArrayItem(st, 1), "depth"), 1);
		assert_int_equal(cJSON_GetArraySize(al), 1);
		assert_string_equal(util_json_str(al->child, "alias"), "champion");
		assert_int_equal(jnum(al->child, "version"), v2);
	}
	cJSON_Delete(o);
	assert_int_equal(reg_model_pointers(t->r, "nope", &o), MLREG_ENOTFOUND);
	assert_audit_ok(t);
}

/* registry.h: reg_resolve gives "ENOTFOUND when the model, the version, an
 * empty stage or an unset alias" - a plain number must name a version that
 * exists, of a model that exists, like the other three kinds. */
static void resolve_number_needs_existing_version(void **state)
{
	treg *t = *state;
	util_ref ref;
	int64_t n = 0;
	push(t, "m", NULL);
	ref_of("m", "1", &ref);
	assert_int_equal(reg_resolve(t->r, &ref, &n), 0);
	assert_int_equal(n, 1);
	ref_of("m", "9", &ref);
	n = 0;
	if (reg_resolve(t->r, &ref, &n) != MLREG_ENOTFOUND)
		fail_msg("reg_resolve(m:9) of an absent version answered %lld instead of MLREG_ENOTFOUND", (long long)n);
	ref_of("nope", "1", &ref);
	n = 0;
	if (reg_resolve(t->r, &ref, &n) != MLREG_ENOTFOUND)
		fail_msg("reg_resolve(nope:1) of an absent model answered %lld instead of MLREG_ENOTFOUND", (long long)n);
}

/* "stages" of a version lists only the stages it holds now - the top of
 * their stack - not the ones it is buried in. */
static void version_stages_are_current_only(void **state)
{
	treg *t = *state;
	int64_t v1 = push(t, "m", NULL), v2 = push(t, "m", NULL);
	promote_ok(t, &t->admin, "m", "production", v1, 0);
	assert_version_pointers(t, "m", v1, "production", "");
	promote_ok(t, &t->admin, "m", "production", v2, v1);
	assert_version_pointers(t, "m", v1, "", "");
	assert_version_pointers(t, "m", v2, "production", "");
	promote_ok(t, &t->admin, "m", "staging", v2, 0);
	assert_version_pointers(t, "m", v2, "staging,production", ""); /* in stage order */
	rollback_ok(t, &t->admin, "m", "production", "{}", v2, v1);
	assert_version_pointers(t, "m", v1, "production", "");
	assert_version_pointers(t, "m", v2, "staging", "");
	assert_audit_ok(t);
}

/* ==== 3. gate checks, each alone ==== */

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
		assert_int_equal(reg_approvals_list(t->r, &ref, "canary", &o), MLREG_EINVALID);
	}
	/* bad approvals */
	assert_int_equal(approve(t, &bob, "m", "1", "{\"stage\":\"canary\"}", &status, &o), MLREG_EINVALID);
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
	assert_int_equal(reg_gate(t->r, &ref, "canary", &g), MLREG_EINVALID);
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
 * reported as passed but not enforced. */
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
	assert_check(g, "signature", "m", true, "not enforced until signing exists");
	assert_check(g, "same_schema", "m", true, "no current holder");
	assert_check(g, "metric auc", "m", true, "0.9");
	assert_check(g, "metric latency", "m", true, "10");
	assert_check(g, "from", "m", false, "never held staging");
	assert_check(g, "approvals", "m", false, "0");
	assert_false(passed(g));
	cJSON_Delete(g);
}

/* ==== 4. separation of duties ==== */

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

/* ==== 5. compare-and-swap ==== */

static void cas_expect_current(void **state)
{
	treg *t = *state;
	cJSON *o = NULL;
	snap before;
	int64_t v1 = push(t, "m", NULL), v2 = push(t, "m", NULL), v3 = push(t, "m", NULL);
	(void)v3;

	/* 0: the stage must be empty - it is */
	assert_int_equal(promote(t, &t->admin, "m", "production", "{\"version\":1,\"expect_current\":0}", &o), 0);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "promoted")));
	assert_ver(o, "from", 0);
	cJSON_Delete(o);
	assert_int_equal(holder(t, "m", "production"), v1);

	/* 0 on a non-empty stage, or the wrong holder: conflict naming the holder */
	before = snapshot(t, "m", "production");
	assert_int_equal(promote(t, &t->admin, "m", "production", "{\"version\":2,\"expect_current\":0}", &o),
			 MLREG_ECONFLICT);
	assert_non_null(o);
	assert_int_equal(jnum(o, "current"), v1);
	cJSON_Delete(o);
	o = NULL;
	assert_int_equal(promote(t, &t->admin, "m", "production", "{\"version\":2,\"expect_current\":3}", &o),
			 MLREG_ECONFLICT);
	assert_int_equal(jnum(o, "current"), v1);
	cJSON_Delete(o);
	o = NULL;
	assert_unchanged(before, snapshot(t, "m", "production"));

	/* on an empty stage a non-zero expectation conflicts with "current":null */
	before = snapshot(t, "m", "staging");
	assert_int_equal(promote(t, &t->admin, "m", "staging", "{\"version\":2,\"expect_current\":1}", &o),
			 MLREG_ECONFLICT);
	assert_non_null(o);
	assert_ver(o, "current", 0);
	cJSON_Delete(o);
	o = NULL;
	assert_unchanged(before, snapshot(t, "m", "staging"));

	/* the right expectation moves it */
	assert_int_equal(promote(t, &t->admin, "m", "production", "{\"version\":2,\"expect_current\":1}", &o), 0);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "promoted")));
	assert_ver(o, "from", v1);
	cJSON_Delete(o);
	assert_int_equal(holder(t, "m", "production"), v2);
	/* null means no expectation */
	assert_int_equal(promote(t, &t->admin, "m", "production", "{\"version\":3,\"expect_current\":null}", NULL), 0);
	assert_int_equal(holder(t, "m", "production"), 3);

	/* malformed bodies */
	static const char *const bad[] = {
		"{\"version\":1,\"expect_current\":-1}", "{\"version\":1,\"expect_current\":\"2\"}",
		"{\"version\":1,\"expect_current\":1.5}", "{\"version\":0}", "{}", "{\"version\":\"Bad\"}",
		"{\"version\":1,\"force\":true}", "{\"version\":1,\"comment\":5}", "[1]",
	};
	before = snapshot(t, "m", "production");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o = NULL;
		if (promote(t, &t->admin, "m", "production", bad[i], &o) != MLREG_EINVALID)
			fail_msg("expected MLREG_EINVALID for %s", bad[i]);
		cJSON_Delete(o);
	}
	assert_int_equal(promote(t, &t->admin, "m", "canary", "{\"version\":1}", NULL), MLREG_EINVALID);
	assert_int_equal(promote(t, &t->admin, "nope", "production", "{\"version\":1}", NULL), MLREG_ENOTFOUND);
	assert_int_equal(promote(t, &t->admin, "m", "production", "{\"version\":9}", NULL), MLREG_ENOTFOUND);
	assert_unchanged(before, snapshot(t, "m", "production"));
	assert_int_equal(assert_chain(t, "m", "production"), 3);
	assert_audit_ok(t);
}

static void promote_current_holder_is_noop(void **state)
{
	treg *t = *state;
	cJSON *o = NULL;
	snap before;
	int64_t v1 = push(t, "m", NULL);
	promote_ok(t, &t->admin, "m", "production", v1, 0);
	before = snapshot(t, "m", "production");
	assert_int_equal(promote(t, &t->admin, "m", "production", "{\"version\":1,\"comment\":\"again\"}", &o), 0);
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "promoted")));
	assert_true(passed(o));
	assert_int_equal(jnum(o, "version"), v1);
	assert_non_null(util_json_str(o, "message"));
	cJSON_Delete(o);
	o = NULL;
	/* with a matching expectation too */
	assert_int_equal(promote(t, &t->admin, "m", "production", "{\"version\":1,\"expect_current\":1}", &o), 0);
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "promoted")));
	cJSON_Delete(o);
	/* and by stage reference */
	assert_int_equal(promote(t, &t->admin, "m", "production", "{\"version\":\"production\"}", &o), 0);
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "promoted")));
	cJSON_Delete(o);
	assert_unchanged(before, snapshot(t, "m", "production"));
	assert_int_equal(history_len(t, "m", "production", NULL), 1);
	assert_int_equal(audit_count(t, "promote"), 1);
	assert_audit_ok(t);
}

/* ==== 6. the rollback stack ==== */

static void rollback_pops_the_stack(void **state)
{
	treg *t = *state;
	reg_principal dave;
	cJSON *h;
	const cJSON *e;
	int64_t v[4];
	principal(t, "dave", "deployer", &dave);
	for (int i = 1; i <= 3; i++)
		v[i] = push(t, "m", NULL);
	assert_int_equal(promote(t, &dave, "m", "production", "{\"version\":1,\"comment\":\"first\"}", NULL), 0);
	assert_int_equal(promote(t, &dave, "m", "production", "{\"version\":2,\"comment\":\"second\"}", NULL), 0);
	assert_int_equal(promote(t, &dave, "m", "production", "{\"version\":3,\"comment\":\"third\"}", NULL), 0);
	assert_int_equal(depth_of(t, "m", "production"), 3);

	rollback_ok(t, &dave, "m", "production", "{\"comment\":\"3 is slow\"}", v[3], v[2]);
	assert_int_equal(depth_of(t, "m", "production"), 2);
	rollback_ok(t, &dave, "m", "production", "{}", v[2], v[1]);
	assert_int_equal(depth_of(t, "m", "production"), 1);
	/* a stack of one has nothing to go back to */
	rollback_refused(t, &dave, "m", "production", "{}", MLREG_EREFUSED);
	rollback_refused(t, &t->admin, "m", "production", "{}", MLREG_EREFUSED);
	assert_int_equal(holder(t, "m", "production"), v[1]);
	/* an empty stage neither */
	rollback_refused(t, &dave, "m", "staging", "{}", MLREG_EREFUSED);
	rollback_refused(t, &dave, "m", "staging", "{\"to\":1}", MLREG_EREFUSED);

	/* the history: kinds, from/to, actors and comments */
	assert_int_equal(assert_chain(t, "m", "production"), 5);
	h = history(t, "m", "production", NULL);
	e = cJSON_GetObjectItem(h, "history")->child;
	static const char *const kinds[] = {"promote", "promote", "promote", "rollback", "rollback"};
	static const char *const comments[] = {"first", "second", "third", "3 is slow", ""};
	static const int64_t tos[] = {1, 2, 3, 2, 1};
	for (int i = 0; i < 5; i++, e = e->next) {
		assert_non_null(e);
		assert_string_equal(util_json_str(e, "kind"), kinds[i]);
		assert_string_equal(util_json_str(e, "comment"), comments[i]);
		assert_string_equal(util_json_str(e, "actor"), "dave");
		assert_int_equal(jnum(e, "to"), tos[i]);
		assert_non_null(util_json_str(e, "time"));
	}
	assert_null(e);
	cJSON_Delete(h);
	assert_int_equal(audit_count(t, "promote"), 3);
	assert_int_equal(audit_count(t, "rollback"), 2);
	/* the popped versions hold nothing now */
	assert_version_pointers(t, "m", v[3], "", "");
	assert_version_pointers(t, "m", v[1], "production", "");
	assert_audit_ok(t);
}

static void promote_after_rollback(void **state)
{
	treg *t = *state;
	int64_t v[5];
	for (int i = 1; i <= 4; i++)
		v[i] = push(t, "m", NULL);
	promote_ok(t, &t->admin, "m", "production", v[1], 0);
	promote_ok(t, &t->admin, "m", "production", v[2], v[1]);
	promote_ok(t, &t->admin, "m", "production", v[3], v[2]);
	rollback_ok(t, &t->admin, "m", "production", "{}", v[3], v[2]);
	/* promote pushes onto what is left: 1,2,4 */
	promote_ok(t, &t->admin, "m", "production", v[4], v[2]);
	assert_int_equal(depth_of(t, "m", "production"), 3);
	rollback_ok(t, &t->admin, "m", "production", "{}", v[4], v[2]);
	rollback_ok(t, &t->admin, "m", "production", "{}", v[2], v[1]);
	assert_int_equal(depth_of(t, "m", "production"), 1);
	assert_int_equal(assert_chain(t, "m", "production"), 7);
	assert_audit_ok(t);
}

static void rollback_to_pops_down(void **state)
{
	treg *t = *state;
	int64_t v[4];
	for (int i = 1; i <= 3; i++)
		v[i] = push(t, "m", NULL);
	for (int i = 1; i <= 3; i++)
		promote_ok(t, &t->admin, "m", "production", v[i], i > 1 ? v[i - 1] : 0);
	/* to 1 pops 3 and 2 in one move: one history row, one audit entry */
	rollback_ok(t, &t->admin, "m", "production", "{\"to\":1,\"comment\":\"back to the start\"}", v[3], v[1]);
	assert_int_equal(depth_of(t, "m", "production"), 1);
	assert_int_equal(audit_count(t, "rollback"), 1);
	assert_version_pointers(t, "m", v[2], "", "");
	/* to the current holder: nothing to do, refused */
	rollback_refused(t, &t->admin, "m", "production", "{\"to\":1}", MLREG_EREFUSED);
	/* malformed */
	static const char *const bad[] = {"{\"to\":0}", "{\"to\":-2}", "{\"to\":\"1\"}", "{\"to\":1.5}",
					  "{\"force\":\"yes\"}", "{\"bogus\":1}", "{\"comment\":false}", "[]"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		rollback_refused(t, &t->admin, "m", "production", bad[i], MLREG_EINVALID);
	assert_int_equal(rollback(t, &t->admin, "m", "canary", "{}", NULL), MLREG_EINVALID);
	assert_int_equal(rollback(t, &t->admin, "nope", "production", "{}", NULL), MLREG_ENOTFOUND);
	assert_int_equal(assert_chain(t, "m", "production"), 4);
	assert_audit_ok(t);
}

static void rollback_off_stack_needs_admin_force(void **state)
{
	treg *t = *state;
	reg_principal dave;
	cJSON *e;
	int64_t v[5];
	principal(t, "dave", "deployer", &dave);
	for (int i = 1; i <= 4; i++)
		v[i] = push(t, "m", NULL);
	for (int i = 1; i <= 3; i++)
		promote_ok(t, &dave, "m", "production", v[i], i > 1 ? v[i - 1] : 0);
	rollback_ok(t, &dave, "m", "production", "{}", v[3], v[2]); /* stack 1,2 */

	rollback_refused(t, &dave, "m", "production", "{\"to\":3}", MLREG_EREFUSED);
	rollback_refused(t, &t->admin, "m", "production", "{\"to\":3}", MLREG_EREFUSED);
	rollback_refused(t, &t->admin, "m", "production", "{\"to\":3,\"force\":false}", MLREG_EREFUSED);
	rollback_refused(t, &dave, "m", "production", "{\"to\":3,\"force\":true}", MLREG_EFORBIDDEN);

	/* an admin's force puts it on top: 1,2,3 */
	rollback_ok(t, &t->admin, "m", "production", "{\"to\":3,\"force\":true,\"comment\":\"hotfix\"}", v[2], v[3]);
	assert_int_equal(depth_of(t, "m", "production"), 3);
	e = audit_last(t);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "details"), "forced")));
	cJSON_Delete(e);
	rollback_ok(t, &dave, "m", "production", "{}", v[3], v[2]);
	/* even a version that never held the stage: 1,2,4 */
	rollback_ok(t, &t->admin, "m", "production", "{\"to\":4,\"force\":true}", v[2], v[4]);
	assert_int_equal(depth_of(t, "m", "production"), 3);
	assert_version_pointers(t, "m", v[4], "production", "");
	/* but not one that does not exist */
	rollback_refused(t, &t->admin, "m", "production", "{\"to\":9,\"force\":true}", MLREG_ENOTFOUND);
	rollback_ok(t, &dave, "m", "production", "{}", v[4], v[2]);

	assert_int_equal(assert_chain(t, "m", "production"), 8);
	assert_int_equal(audit_count(t, "rollback"), 5);
	assert_int_equal(audit_count(t, "promote"), 3);
	assert_audit_ok(t);
}

/* Moves on several stages and aliases of one model: each stage's history
 * is its own consistent chain; the unfiltered history holds all of them in
 * order. */
static void history_chain_per_stage(void **state)
{
	treg *t = *state;
	cJSON *h;
	int64_t v[5];
	int total;
	for (int i = 1; i <= 4; i++)
		v[i] = push(t, "m", NULL);
	promote_ok(t, &t->admin, "m", "staging", v[1], 0);
	promote_ok(t, &t->admin, "m", "production", v[1], 0);
	promote_ok(t, &t->admin, "m", "staging", v[2], v[1]);
	assert_int_equal(alias_set(t, "m", "champion", "{\"version\":\"staging\"}", NULL), 0);
	promote_ok(t, &t->admin, "m", "staging", v[3], v[2]);
	promote_ok(t, &t->admin, "m", "production", v[3], v[1]);
	rollback_ok(t, &t->admin, "m", "staging", "{}", v[3], v[2]);
	promote_ok(t, &t->admin, "m", "staging", v[4], v[2]);
	rollback_ok(t, &t->admin, "m", "production", "{}", v[3], v[1]);
	assert_int_equal(assert_chain(t, "m", "staging"), 5);
	assert_int_equal(assert_chain(t, "m", "production"), 3);
	assert_int_equal(history_len(t, "m", NULL, "champion"), 1);
	total = history_len(t, "m", NULL, NULL);
	assert_int_equal(total, 9);
	/* oldest first, ids increasing */
	h = history(t, "m", NULL, NULL);
	{
		int64_t last = 0;
		for (const cJSON *e = cJSON_GetObjectItem(h, "history")->child; e; e = e->next) {
			assert_true(jnum(e, "id") > last);
			last = jnum(e, "id");
		}
	}
	cJSON_Delete(h);
	/* paging */
	assert_int_equal(reg_history(t->r, "m", NULL, NULL, 4, 0, &h), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(h, "history")), 4);
	assert_non_null(util_json_str(h, "next_page_token"));
	cJSON_Delete(h);
	assert_int_equal(reg_history(t->r, "m", NULL, NULL, 4, 8, &h), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(h, "history")), 1);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(h, "next_page_token")));
	cJSON_Delete(h);
	h = NULL;
	assert_int_equal(reg_history(t->r, "m", "staging", "champion", 10, 0, &h), MLREG_EINVALID);
	assert_int_equal(reg_history(t->r, "nope", NULL, NULL, 10, 0, &h), MLREG_ENOTFOUND);
	assert_null(h);
	assert_int_equal(audit_count(t, "promote") + audit_count(t, "rollback") + audit_count(t, "alias.set"), total);
	assert_audit_ok(t);
}

/* ==== 7. racing promotions ==== */

#define RACERS 8
#define RACE_ROUNDS 3
#define CAS_RACERS 6
#define CAS_ROUNDS 5

typedef struct {
	treg *t;
	const char *model, *stage;
	int64_t version;
	bool use_expect;
	pthread_barrier_t *barrier;
	/* results, asserted by the main thread (cmocka is not thread-safe) */
	int read_rc, rc, promoted;
	int64_t expected, from, current;
} racer;

static void *race_one(void *p)
{
	racer *a = p;
	char body[160];
	cJSON *b, *out = NULL;
	a->read_rc = 0;
	if (a->use_expect) {
		util_ref ref;
		int64_t n = 0;
		a->read_rc = reg_ref_segment_parse(a->stage, &ref, a->model);
		if (a->read_rc == 0) {
			a->read_rc = reg_resolve(a->t->r, &ref, &n);
			if (a->read_rc == MLREG_ENOTFOUND)
				a->read_rc = 0, n = 0;
		}
		a->expected = n;
	}
	pthread_barrier_wait(a->barrier);
	if (a->use_expect)
		snprintf(body, sizeof(body), "{\"version\":%lld,\"expect_current\":%lld,\"comment\":\"racer %lld\"}",
			 (long long)a->version, (long long)a->expected, (long long)a->version);
	else
		snprintf(body, sizeof(body), "{\"version\":%lld,\"comment\":\"racer %lld\"}", (long long)a->version,
			 (long long)a->version);
	b = cJSON_Parse(body);
	a->rc = reg_promote(a->t->r, &a->t->admin, a->model, a->stage, b, &out);
	a->promoted = cJSON_IsTrue(cJSON_GetObjectItem(out, "promoted"));
	a->from = jnum(out, "from");
	a->current = jnum(out, "current");
	cJSON_Delete(out);
	cJSON_Delete(b);
	return NULL;
}

static void run_racers(racer *rs, int n)
{
	pthread_t th[RACERS > CAS_RACERS ? RACERS : CAS_RACERS];
	pthread_barrier_t barrier;
	assert_true(n <= (int)(sizeof(th) / sizeof(th[0])));
	assert_int_equal(pthread_barrier_init(&barrier, NULL, (unsigned)n), 0);
	for (int i = 0; i < n; i++) {
		rs[i].barrier = &barrier;
		assert_int_equal(pthread_create(&th[i], NULL, race_one, &rs[i]), 0);
	}
	for (int i = 0; i < n; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	pthread_barrier_destroy(&barrier);
}

static void racing_promotions_serialise(void **state)
{
	treg *t = *state;
	racer rs[RACERS];
	int64_t total = 0;
	for (int round = 0; round < RACE_ROUNDS; round++) {
		cJSON *h;
		memset(rs, 0, sizeof(rs));
		for (int i = 0; i < RACERS; i++) {
			rs[i].t = t;
			rs[i].model = "m";
			rs[i].stage = "production";
			rs[i].version = push(t, "m", NULL);
		}
		run_racers(rs, RACERS);
		for (int i = 0; i < RACERS; i++) {
			if (rs[i].rc != 0)
				fail_msg("racer for version %lld: rc %d", (long long)rs[i].version, rs[i].rc);
			assert_true(rs[i].promoted);
		}
		total += RACERS;
		/* the history is one chain, every racer's version in it once, and
		 * each racer was told the "from" its own row records */
		assert_int_equal(assert_chain(t, "m", "production"), total);
		h = history(t, "m", "production", NULL);
		for (int i = 0; i < RACERS; i++) {
			int seen = 0;
			for (const cJSON *e = cJSON_GetObjectItem(h, "history")->child; e; e = e->next)
				if (jnum(e, "to") == rs[i].version) {
					char c[64];
					seen++;
					assert_int_equal(jnum(e, "from"), rs[i].from);
					snprintf(c, sizeof(c), "racer %lld", (long long)rs[i].version);
					assert_string_equal(util_json_str(e, "comment"), c);
					assert_string_equal(util_json_str(e, "kind"), "promote");
				}
			assert_int_equal(seen, 1);
		}
		cJSON_Delete(h);
		assert_int_equal(depth_of(t, "m", "production"), total);
		assert_int_equal(audit_count(t, "promote"), total);
	}
	/* the stack unwinds in history order */
	{
		cJSON *h = history(t, "m", "production", NULL);
		const cJSON *last = NULL;
		for (const cJSON *e = cJSON_GetObjectItem(h, "history")->child; e; e = e->next)
			last = e;
		rollback_ok(t, &t->admin, "m", "production", "{}", jnum(last, "to"), jnum(last, "from"));
		cJSON_Delete(h);
	}
	assert_audit_ok(t);
}

static void racing_cas_one_winner_per_round(void **state)
{
	treg *t = *state;
	racer rs[CAS_RACERS];
	int64_t prev = 0;
	for (int round = 0; round < CAS_ROUNDS; round++) {
		int winners = 0;
		int64_t winner = 0;
		memset(rs, 0, sizeof(rs));
		for (int i = 0; i < CAS_RACERS; i++) {
			rs[i].t = t;
			rs[i].model = "m";
			rs[i].stage = "production";
			rs[i].use_expect = true;
			rs[i].version = push(t, "m", NULL);
		}
		run_racers(rs, CAS_RACERS);
		for (int i = 0; i < CAS_RACERS; i++) {
			assert_int_equal(rs[i].read_rc, 0);
			assert_int_equal(rs[i].expected, prev); /* all read before anyone moved */
			if (rs[i].rc == 0) {
				winners++;
				winner = rs[i].version;
				assert_true(rs[i].promoted);
				assert_int_equal(rs[i].from, prev);
			} else if (rs[i].rc != MLREG_ECONFLICT) {
				fail_msg("racer for version %lld: rc %d, expected 0 or MLREG_ECONFLICT", (long long)rs[i].version,
					 rs[i].rc);
			}
		}
		assert_int_equal(winners, 1);
		for (int i = 0; i < CAS_RACERS; i++)
			if (rs[i].rc == MLREG_ECONFLICT)
				assert_int_equal(rs[i].current, winner); /* the losers are told who won */
		assert_int_equal(holder(t, "m", "production"), winner);
		prev = winner;
	}
	assert_int_equal(assert_chain(t, "m", "production"), CAS_ROUNDS);
	assert_int_equal(depth_of(t, "m", "production"), CAS_ROUNDS);
	assert_int_equal(audit_count(t, "promote"), CAS_ROUNDS);
	assert_audit_ok(t);
}

/* ==== 8. aliases ==== */

static void alias_set_move_remove(void **state)
{
	treg *t = *state;
	cJSON *o = NULL, *h;
	const cJSON *e;
	int64_t v1 = push(t, "m", NULL), v2 = push(t, "m", NULL);
	util_ref ref;
	int64_t n;

	assert_int_equal(alias_set(t, "m", "champion", "{\"version\":1,\"comment\":\"first champion\"}", &o), 0);
	assert_string_equal(util_json_str(o, "alias"), "champion");
	assert_int_equal(jnum(o, "version"), v1);
	assert_ver(o, "from", 0);
	cJSON_Delete(o);
	assert_last_audit(t, "alias.set", "m@champion", "admin");
	assert_version_pointers(t, "m", v1, "", "champion");

	/* move it, by stage reference this time */
	promote_ok(t, &t->admin, "m", "staging", v2, 0);
	assert_int_equal(alias_set(t, "m", "champion", "{\"version\":\"staging\"}", &o), 0);
	assert_int_equal(jnum(o, "version"), v2);
	assert_ver(o, "from", v1);
	cJSON_Delete(o);
	assert_version_pointers(t, "m", v1, "", "");
	assert_version_pointers(t, "m", v2, "staging", "champion");
	/* another alias from an alias */
	assert_int_equal(alias_set(t, "m", "backup", "{\"version\":\"@champion\"}", &o), 0);
	assert_int_equal(jnum(o, "version"), v2);
	cJSON_Delete(o);
	assert_version_pointers(t, "m", v2, "staging", "backup,champion");

	/* remove */
	{
		snap before = snapshot(t, "m", "staging");
		assert_int_equal(reg_alias_remove(t->r, &t->admin, "m", "champion", &o), 0);
		assert_int_equal(jnum(o, "from"), v2);
		cJSON_Delete(o);
		o = NULL;
		assert_int_equal(snapshot(t, "m", "staging").audit, before.audit + 1);
		assert_last_audit(t, "alias.remove", "m@champion", "admin");
	}
	ref_of("m", "@champion", &ref);
	assert_int_equal(reg_resolve(t->r, &ref, &n), MLREG_ENOTFOUND);
	assert_version_pointers(t, "m", v2, "staging", "backup");
	/* removing an unset alias: not found, nothing recorded */
	{
		snap before = snapshot(t, "m", "staging");
		assert_int_equal(reg_alias_remove(t->r, &t->admin, "m", "champion", &o), MLREG_ENOTFOUND);
		assert_int_equal(reg_alias_remove(t->r, &t->admin, "m", "never", &o), MLREG_ENOTFOUND);
		assert_null(o);
		assert_unchanged(before, snapshot(t, "m", "staging"));
	}

	/* the alias history */
	h = history(t, "m", NULL, "champion");
	e = cJSON_GetObjectItem(h, "history")->child;
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(h, "history")), 3);
	assert_string_equal(util_json_str(e, "target"), "alias");
	assert_string_equal(util_json_str(e, "alias"), "champion");
	assert_string_equal(util_json_str(e, "kind"), "set");
	assert_ver(e, "from", 0);
	assert_ver(e, "to", v1);
	assert_string_equal(util_json_str(e, "comment"), "first champion");
	e = e->next;
	assert_string_equal(util_json_str(e, "kind"), "set");
	assert_ver(e, "from", v1);
	assert_ver(e, "to", v2);
	e = e->next;
	assert_string_equal(util_json_str(e, "kind"), "remove");
	assert_ver(e, "from", v2);
	assert_ver(e, "to", 0);
	cJSON_Delete(h);
	assert_int_equal(audit_count(t, "alias.set"), 3);
	assert_int_equal(audit_count(t, "alias.remove"), 1);

	/* refusals */
	{
		snap before = snapshot(t, "m", "staging");
		assert_int_equal(alias_set(t, "m", "Champion", "{\"version\":1}", NULL), MLREG_EINVALID);
		assert_int_equal(alias_set(t, "m", "latest", "{\"version\":1}", NULL), MLREG_EINVALID);
		assert_int_equal(alias_set(t, "m", "123", "{\"version\":1}", NULL), MLREG_EINVALID);
		assert_int_equal(alias_set(t, "m", "champion", "{\"version\":1,\"extra\":1}", NULL), MLREG_EINVALID);
		assert_int_equal(alias_set(t, "m", "champion", "{}", NULL), MLREG_EINVALID);
		assert_int_equal(alias_set(t, "m", "champion", "{\"version\":9}", NULL), MLREG_ENOTFOUND);
		assert_int_equal(alias_set(t, "m", "champion", "{\"version\":\"production\"}", NULL), MLREG_ENOTFOUND);
		assert_int_equal(alias_set(t, "nope", "champion", "{\"version\":1}", NULL), MLREG_ENOTFOUND);
		assert_int_equal(reg_alias_remove(t->r, &t->admin, "m", "Bad", &o), MLREG_EINVALID);
		assert_unchanged(before, snapshot(t, "m", "staging"));
	}
	assert_audit_ok(t);
}

static void alias_refuses_deleted_version(void **state)
{
	treg *t = *state;
	util_ref ref;
	int64_t n, v1 = push(t, "m", NULL);
	snap before;
	push(t, "m", NULL);
	assert_int_equal(reg_version_delete(t->r, &t->admin, "m", v1, NULL), 0);
	before = snapshot(t, "m", "production");
	assert_int_equal(alias_set(t, "m", "champion", "{\"version\":1}", NULL), MLREG_ENOTFOUND);
	assert_true(contains(mlreg_error_last(), "deleted"));
	assert_unchanged(before, snapshot(t, "m", "production"));
	assert_int_equal(audit_count(t, "alias.set"), 0);
	ref_of("m", "@champion", &ref);
	assert_int_equal(reg_resolve(t->r, &ref, &n), MLREG_ENOTFOUND);
	/* nor can it be approved or promoted */
	{
		int status = 0;
		cJSON *o = NULL;
		reg_principal bob;
		principal(t, "bob", "approver", &bob);
		before = snapshot(t, "m", "production");
		assert_int_equal(approve(t, &bob, "m", "1", "{\"stage\":\"production\"}", &status, &o), MLREG_ENOTFOUND);
		assert_int_equal(promote(t, &t->admin, "m", "production", "{\"version\":1}", NULL), MLREG_ENOTFOUND);
		assert_unchanged(before, snapshot(t, "m", "production"));
	}
	/* the live version still works */
	assert_int_equal(alias_set(t, "m", "champion", "{\"version\":2}", NULL), 0);
	assert_audit_ok(t);
}

/* ==== 9. deleting referenced versions ==== */

static void delete_refuses_referenced_versions(void **state)
{
	treg *t = *state;
	cJSON *o = NULL;
	int64_t v1 = push(t, "m", NULL), v2 = push(t, "m", NULL), v3 = push(t, "m", NULL), v4 = push(t, "m", NULL);
	promote_ok(t, &t->admin, "m", "production", v1, 0);
	promote_ok(t, &t->admin, "m", "production", v2, v1); /* v1 only deeper in the stack now */
	assert_int_equal(alias_set(t, "m", "champion", "{\"version\":3}", NULL), 0);

	int64_t held[] = {v1, v2, v3};
	for (size_t i = 0; i < 3; i++) {
		snap before = snapshot(t, "m", "production");
		if (reg_version_delete(t->r, &t->admin, "m", held[i], &o) != MLREG_ECONFLICT)
			fail_msg("deleting referenced version %lld: expected MLREG_ECONFLICT", (long long)held[i]);
		assert_true(contains(mlreg_error_last(), i == 2 ? "champion" : "production"));
		assert_null(o);
		assert_unchanged(before, snapshot(t, "m", "production"));
		assert_int_equal(reg_version_get(t->r, "m", held[i], false, &o), 0);
		assert_string_equal(util_json_str(o, "status"), "ready");
		cJSON_Delete(o);
		o = NULL;
	}
	assert_int_equal(audit_count(t, "version.delete"), 0);
	/* an unreferenced version can go */
	assert_int_equal(reg_version_delete(t->r, &t->admin, "m", v4, NULL), 0);
	/* once nothing points at them, they can go too */
	rollback_ok(t, &t->admin, "m", "production", "{}", v2, v1);
	assert_int_equal(reg_version_delete(t->r, &t->admin, "m", v2, NULL), 0);
	assert_int_equal(reg_alias_remove(t->r, &t->admin, "m", "champion", &o), 0);
	cJSON_Delete(o);
	assert_int_equal(reg_version_delete(t->r, &t->admin, "m", v3, NULL), 0);
	assert_int_equal(reg_version_delete(t->r, &t->admin, "m", v1, NULL), MLREG_ECONFLICT); /* still the holder */
	assert_int_equal(audit_count(t, "version.delete"), 3);
	/* a deleted version cannot be forced back onto the stack */
	rollback_refused(t, &t->admin, "m", "production", "{\"to\":2,\"force\":true}", MLREG_ENOTFOUND);
	assert_audit_ok(t);
}

/* ==== 10. policies ==== */

static void policy_put_list_delete(void **state)
{
	treg *t = *state;
	cJSON *o = NULL, *l = NULL;
	char buf[256];
	int audit_before = audit_count(t, "policy.set");
	assert_int_equal(policy_put(t, "m", "production",
				    "{\"from\":\"staging\",\"metrics\":[\"accuracy >= 0.9\",\"latency_ms<200\"],\"approvals\":2,"
				    "\"soak\":\"1h\",\"same_schema\":true,\"require_signature\":true}",
				    &o),
			 0);
	assert_non_null(o);
	assert_string_equal(util_json_str(o, "model"), "m");
	assert_string_equal(util_json_str(o, "stage"), "production");
	assert_string_equal(util_json_str(o, "from"), "staging");
	assert_string_equal(joined(cJSON_GetObjectItem(o, "metrics"), buf, sizeof(buf)), "accuracy>=0.9,latency_ms<200");
	assert_int_equal(jnum(o, "approvals"), 2);
	assert_string_equal(util_json_str(o, "soak"), "1h");
	assert_int_equal(jnum(o, "soak_ms"), 3600000);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "same_schema")));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "require_signature")));
	assert_string_equal(util_json_str(o, "updated_by"), "admin");
	assert_non_null(util_json_str(o, "updated_at"));
	cJSON_Delete(o);
	o = NULL;
	assert_last_audit(t, "policy.set", "policy:m:production", "admin");

	policy_ok(t, "*", "production", "{\"metrics\":[\"accuracy>=0.5\"]}");
	policy_ok(t, "other", "production", "{\"approvals\":1}");
	policy_ok(t, "m", "staging", "{}");
	assert_int_equal(audit_count(t, "policy.set"), audit_before + 4);

	/* with a model: its own and "*" */
	assert_int_equal(reg_policy_list(t->r, "m", &l), 0);
	{
		int own = 0, star = 0, n = 0;
		for (const cJSON *p = cJSON_GetObjectItem(l, "policies")->child; p; p = p->next, n++) {
			own += !strcmp(util_json_str(p, "model"), "m");
			star += !strcmp(util_json_str(p, "model"), "*");
		}
		assert_int_equal(n, 3);
		assert_int_equal(own, 2);
		assert_int_equal(star, 1);
	}
	cJSON_Delete(l);
	assert_int_equal(reg_policy_list(t->r, "other", &l), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(l, "policies")), 2);
	cJSON_Delete(l);
	assert_int_equal(reg_policy_list(t->r, NULL, &l), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(l, "policies")), 4);
	cJSON_Delete(l);

	/* put replaces the whole policy */
	assert_int_equal(policy_put(t, "m", "production", "{\"approvals\":1}", &o), 0);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "from")));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "metrics")), 0);
	assert_int_equal(jnum(o, "approvals"), 1);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "soak")));
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "same_schema")));
	cJSON_Delete(o);

	/* delete */
	assert_int_equal(reg_policy_delete(t->r, &t->admin, "m", "production", &o), 0);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "removed")));
	cJSON_Delete(o);
	o = NULL;
	assert_last_audit(t, "policy.remove", "policy:m:production", "admin");
	assert_int_equal(reg_policy_delete(t->r, &t->admin, "m", "production", &o), MLREG_ENOTFOUND);
	assert_int_equal(reg_policy_delete(t->r, &t->admin, "m", "canary", &o), MLREG_ENOTFOUND);
	assert_int_equal(reg_policy_delete(t->r, &t->admin, "Bad", "production", &o), MLREG_EINVALID);
	assert_null(o);
	assert_int_equal(audit_count(t, "policy.remove"), 1);
	assert_int_equal(reg_policy_list(t->r, "m", &l), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(l, "policies")), 2);
	cJSON_Delete(l);
	assert_int_equal(reg_policy_list(t->r, "Bad Name", &l), MLREG_EINVALID);
	assert_audit_ok(t);
}

static void policy_refusals(void **state)
{
	static const char *const bad[] = {
		"{\"metrics\":[\"accuracy\"]}",
		"{\"metrics\":[\"accuracy >> 1\"]}",
		"{\"metrics\":[\"accuracy>=high\"]}",
		"{\"metrics\":[\"accuracy=0.9\"]}",
		"{\"metrics\":[\">=0.9\"]}",
		"{\"metrics\":[\"bad key>=1\"]}",
		"{\"metrics\":\"accuracy>=0.9\"}",
		"{\"metrics\":[5]}",
		"{\"approvals\":-1}",
		"{\"approvals\":101}",
		"{\"approvals\":\"2\"}",
		"{\"approvals\":1.5}",
		"{\"soak\":\"1h\"}",
		"{\"from\":\"staging\",\"soak\":\"0s\"}",
		"{\"from\":\"staging\",\"soak\":\"soon\"}",
		"{\"from\":\"staging\",\"soak\":60}",
		"{\"from\":\"production\"}",
		"{\"from\":\"canary\"}",
		"{\"from\":\"Staging\"}",
		"{\"from\":5}",
		"{\"same_schema\":\"yes\"}",
		"{\"require_signature\":1}",
		"{\"approval\":1}",
		"{\"metrics\":[],\"extra\":null}",
		"[]",
		"\"approvals\"",
	};
	treg *t = *state;
	cJSON *l = NULL;
	int audit = audit_count(t, NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cJSON *o = NULL;
		if (policy_put(t, "m", "production", bad[i], &o) != MLREG_EINVALID)
			fail_msg("expected MLREG_EINVALID for policy %s", bad[i]);
		assert_null(o);
	}
	/* too many metric expressions */
	{
		char body[8192];
		size_t used = (size_t)snprintf(body, sizeof(body), "{\"metrics\":[");
		for (int i = 0; i < 65; i++)
			used += (size_t)snprintf(body + used, sizeof(body) - used, "%s\"m%d>=1\"", i ? "," : "", i);
		snprintf(body + used, sizeof(body) - used, "]}");
		assert_int_equal(policy_put(t, "m", "production", body, NULL), MLREG_EINVALID);
	}
	/* unknown or invalid stage, invalid model */
	assert_int_equal(policy_put(t, "m", "canary", "{}", NULL), MLREG_EINVALID);
	assert_int_equal(policy_put(t, "m", "Prod", "{}", NULL), MLREG_EINVALID);
	assert_int_equal(policy_put(t, "Bad", "production", "{}", NULL), MLREG_EINVALID);
	assert_int_equal(policy_put(t, "**", "production", "{}", NULL), MLREG_EINVALID);
	/* nothing was stored or audited */
	assert_int_equal(reg_policy_list(t->r, NULL, &l), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(l, "policies")), 0);
	cJSON_Delete(l);
	assert_int_equal(audit_count(t, NULL), audit);
	/* and the valid neighbours of those are accepted */
	policy_ok(t, "m", "production", "{\"from\":\"staging\",\"soak\":\"30m\",\"approvals\":100,\"metrics\":null}");
	policy_ok(t, "m", "production", "{\"from\":null,\"soak\":null,\"approvals\":0}");
	assert_audit_ok(t);
}

/* ==== 11. the audit chain after a whole workflow ==== */

static void audit_chain_verifies_after_workflow(void **state)
{
	treg *t = *state;
	reg_principal alice, bob, dave;
	cJSON *o = NULL, *v = NULL;
	int status = 0;
	int64_t v1, v2, v3;
	int before;
	principal(t, "alice", "writer", &alice);
	principal(t, "bob", "approver", &bob);
	principal(t, "dave", "deployer", &dave);
	before = audit_count(t, NULL);
	assert_int_equal(stages_set(t, "{\"stages\":[\"dev\",\"staging\",\"production\"]}", NULL), 0);
	policy_ok(t, "m", "production", "{\"from\":\"staging\",\"approvals\":1,\"metrics\":[\"auc>=0.8\"]}");
	v1 = push_as(t, &alice, "m", "{\"metrics\":{\"auc\":0.85}}");
	v2 = push_as(t, &alice, "m", "{\"metrics\":{\"auc\":0.9}}");
	v3 = push_as(t, &alice, "m", "{\"metrics\":{\"auc\":0.7}}");
	promote_ok(t, &dave, "m", "staging", v1, 0);
	promote_ok(t, &dave, "m", "staging", v2, v1);
	promote_ok(t, &dave, "m", "staging", v3, v2);
	cJSON_Delete(promote_refused(t, &dave, "m", "production", v1)); /* no approval yet */
	assert_int_equal(approve(t, &bob, "m", "1", "{\"stage\":\"production\"}", &status, &o), 0);
	cJSON_Delete(o);
	assert_int_equal(approve(t, &bob, "m", "3", "{\"stage\":\"production\"}", &status, &o), 0);
	cJSON_Delete(o);
	promote_ok(t, &dave, "m", "production", v1, 0);
	cJSON_Delete(promote_refused(t, &dave, "m", "production", v3)); /* auc too low */
	rollback_ok(t, &dave, "m", "staging", "{\"to\":1}", v3, v1);
	assert_int_equal(alias_set(t, "m", "champion", "{\"version\":\"production\"}", NULL), 0);
	assert_int_equal(reg_version_delete(t->r, &t->admin, "m", v3, NULL), 0);
	assert_int_equal(policy_del(t, "m", "production"), 0);
	/* 1 stages.set + 1 policy.set + 3 version.create + 1 model.create + 3
	 * promote + 2 approve + 1 promote + 1 rollback + 1 alias.set + 1
	 * version.delete + 1 policy.remove */
	assert_int_equal(audit_count(t, NULL) - before, 16);
	assert_int_equal(reg_audit_verify(t->r, &v), 0);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(v, "ok")));
	assert_int_equal(jnum(v, "entries"), audit_count(t, NULL));
	assert_int_equal(jnum(cJSON_GetObjectItem(v, "head"), "seq"), audit_count(t, NULL));
	cJSON_Delete(v);
	assert_int_equal(assert_chain(t, "m", "staging"), 4);
	assert_int_equal(assert_chain(t, "m", "production"), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(stages_default_and_set, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(stages_refuse_removing_held_stage, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(stages_refuse_removing_policy_stage, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(stages_invalid_lists, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(ref_segments_parse, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(refs_resolve_stage_and_alias, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(resolve_number_needs_existing_version, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(version_stages_are_current_only, treg_setup, treg_teardown),
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
		cmocka_unit_test_setup_teardown(cas_expect_current, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(promote_current_holder_is_noop, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(rollback_pops_the_stack, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(promote_after_rollback, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(rollback_to_pops_down, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(rollback_off_stack_needs_admin_force, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(history_chain_per_stage, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(racing_promotions_serialise, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(racing_cas_one_winner_per_round, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(alias_set_move_remove, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(alias_refuses_deleted_version, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(delete_refuses_referenced_versions, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(policy_put_list_delete, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(policy_refusals, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(audit_chain_verifies_after_workflow, treg_setup, treg_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

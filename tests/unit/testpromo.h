/*
 * testpromo.h - helpers shared by the promotion unit tests
 * (test_promo_stages.c, test_promo_gate.c and test_promo_moves.c), which
 * drive the release workflow of the registry (registry/promotion.c and
 * registry/gate.c) through the public API of registry/registry.h, without
 * HTTP.  Header-only (static inline) like testreg.h, because each test_*.c
 * file is its own test program.
 *
 * Promotion decides what production serves, so these helpers check the
 * answer AND the state afterwards: who holds the stage, how deep its
 * rollback stack is, the history rows (each row's "from" must be the
 * previous row's "to", so the history can be replayed: assert_chain), and
 * the audit chain (exactly one entry per move, none for a refusal).  A
 * refused or conflicting change must change nothing at all, which snapshot
 * and assert_unchanged compare before and after.  promote_ok,
 * promote_refused, rollback_ok and rollback_refused make one move with all
 * of those assertions; the thin wrappers (promote, rollback, alias_set,
 * policy_put, stages_set, approve) take the body as JSON text and leave the
 * asserting to the caller.
 */
#ifndef MLREG_TESTS_UNIT_TESTPROMO_H
#define MLREG_TESTS_UNIT_TESTPROMO_H

#include "testreg.h"

/* ---- small JSON helpers ---- */

static inline cJSON *J(const char *text)
{
	cJSON *j = cJSON_Parse(text);
	if (!j)
		fail_msg("test JSON does not parse: %s", text);
	return j;
}

/* A number member, 0 when null or absent (version numbers start at 1). */
static inline int64_t jnum(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(o, key);
	return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

/* Assert o[key] is the version number expect, or null when expect is 0. */
static inline void assert_ver(const cJSON *o, const char *key, int64_t expect)
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
static inline const char *joined(const cJSON *arr, char *buf, size_t n)
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

static inline bool contains(const char *hay, const char *needle) { return hay && strstr(hay, needle) != NULL; }

/* ---- registry helpers ---- */

/* A principal with its own token: created by the admin, then authenticated
 * as a client would, so the role and principal are the registry's own. */
static inline void principal(treg *t, const char *name, const char *role, reg_principal *out)
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
static inline int64_t push_as(treg *t, const reg_principal *who, const char *model, const char *extra_json)
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

static inline int64_t push(treg *t, const char *model, const char *extra_json)
{
	return push_as(t, &t->admin, model, extra_json);
}

static inline void ref_of(const char *model, const char *seg, util_ref *ref)
{
	if (reg_ref_segment_parse(seg, ref, model) != 0)
		fail_msg("reg_ref_segment_parse('%s'): %s", seg, mlreg_error_last());
}

/* The version a stage holds now, 0 when empty. */
static inline int64_t holder(treg *t, const char *model, const char *stage)
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
static inline int64_t depth_of(treg *t, const char *model, const char *stage)
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
static inline int audit_count(treg *t, const char *action)
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
static inline cJSON *audit_last(treg *t)
{
	reg_audit_query q = {.limit = 1};
	cJSON *o = NULL, *e;
	assert_int_equal(reg_audit_list(t->r, &q, &o), 0);
	e = cJSON_DetachItemFromArray(cJSON_GetObjectItem(o, "entries"), 0);
	cJSON_Delete(o);
	assert_non_null(e);
	return e;
}

static inline void assert_last_audit(treg *t, const char *action, const char *subject, const char *actor)
{
	cJSON *e = audit_last(t);
	assert_string_equal(util_json_str(e, "action"), action);
	if (subject)
		assert_string_equal(util_json_str(e, "subject"), subject);
	if (actor)
		assert_string_equal(util_json_str(e, "actor"), actor);
	cJSON_Delete(e);
}

static inline void assert_audit_ok(treg *t)
{
	cJSON *v = NULL;
	assert_int_equal(reg_audit_verify(t->r, &v), 0);
	if (!cJSON_IsTrue(cJSON_GetObjectItem(v, "ok")))
		fail_msg("audit chain does not verify: %s", cJSON_PrintUnformatted(v));
	assert_int_equal(jnum(v, "entries"), audit_count(t, NULL));
	cJSON_Delete(v);
}

/* History rows of a model (stage or alias filter optional; caller frees). */
static inline cJSON *history(treg *t, const char *model, const char *stage, const char *alias)
{
	cJSON *h = NULL;
	if (reg_history(t->r, model, stage, alias, 10000, 0, &h) != 0)
		fail_msg("reg_history(%s): %s", model, mlreg_error_last());
	return h;
}

static inline int history_len(treg *t, const char *model, const char *stage, const char *alias)
{
	cJSON *h = history(t, model, stage, alias);
	int n = cJSON_GetArraySize(cJSON_GetObjectItem(h, "history"));
	cJSON_Delete(h);
	return n;
}

/* Walk the history of one stage: kinds promote/rollback, the first "from"
 * null, every later "from" the previous row's "to", and the last "to" the
 * current holder.  Returns the number of rows. */
static inline int assert_chain(treg *t, const char *model, const char *stage)
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

static inline snap snapshot(treg *t, const char *model, const char *stage)
{
	snap s;
	s.holder = holder(t, model, stage);
	s.depth = depth_of(t, model, stage);
	s.moves = history_len(t, model, NULL, NULL);
	s.audit = audit_count(t, NULL);
	s.approvals = audit_count(t, "approve");
	return s;
}

static inline void assert_unchanged(snap a, snap b)
{
	assert_int_equal(a.holder, b.holder);
	assert_int_equal(a.depth, b.depth);
	assert_int_equal(a.moves, b.moves);
	assert_int_equal(a.audit, b.audit);
	assert_int_equal(a.approvals, b.approvals);
}

/* ---- thin wrappers taking JSON text ---- */

static inline int promote(treg *t, const reg_principal *who, const char *model, const char *stage, const char *body,
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

static inline int rollback(treg *t, const reg_principal *who, const char *model, const char *stage, const char *body,
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

static inline int alias_set(treg *t, const char *model, const char *alias, const char *body, cJSON **out)
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

static inline int policy_put(treg *t, const char *model, const char *stage, const char *body, cJSON **out)
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

static inline void policy_ok(treg *t, const char *model, const char *stage, const char *body)
{
	if (policy_put(t, model, stage, body, NULL) != 0)
		fail_msg("reg_policy_put(%s, %s, %s): %s", model, stage, body, mlreg_error_last());
}

static inline int policy_del(treg *t, const char *model, const char *stage)
{
	cJSON *o = NULL;
	int rc = reg_policy_delete(t->r, &t->admin, model, stage, &o);
	cJSON_Delete(o);
	return rc;
}

static inline int stages_set(treg *t, const char *body, cJSON **out)
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

static inline int approve(treg *t, const reg_principal *who, const char *model, const char *seg, const char *body,
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

static inline bool passed(const cJSON *res) { return cJSON_IsTrue(cJSON_GetObjectItem(res, "passed")); }

/* Promote and expect success: "promoted":true, the new holder on top of a
 * stack one deeper, one history row and exactly one audit entry. */
static inline void promote_ok(treg *t, const reg_principal *who, const char *model, const char *stage, int64_t v,
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
static inline cJSON *promote_refused(treg *t, const reg_principal *who, const char *model, const char *stage, int64_t v)
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
static inline void rollback_ok(treg *t, const reg_principal *who, const char *model, const char *stage,
			       const char *body, int64_t from, int64_t to)
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

static inline void rollback_refused(treg *t, const reg_principal *who, const char *model, const char *stage,
				    const char *body, int expect_rc)
{
	snap before = snapshot(t, model, stage);
	int rc = rollback(t, who, model, stage, body, NULL);
	if (rc != expect_rc)
		fail_msg("rollback %s:%s %s: expected %d, got %d (%s)", model, stage, body, expect_rc, rc,
			 mlreg_error_last());
	assert_unchanged(before, snapshot(t, model, stage));
}

static inline void assert_version_pointers(treg *t, const char *model, int64_t v, const char *stages,
					   const char *aliases)
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

#endif

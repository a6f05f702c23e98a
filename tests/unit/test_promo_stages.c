/*
 * test_promo_stages.c - unit tests for the names a release is addressed by
 * and the rules around them (registry/promotion.c through
 * registry/registry.h): the stage list (the default, setting it, refusing
 * to drop a stage that a version holds or a policy names, invalid lists),
 * version references by number, stage and alias (parsing, resolving, which
 * stages and aliases a version reports), setting, moving and removing
 * aliases, refusing to delete a version that a stage, a rollback stack or
 * an alias still points at, and storing, listing and refusing gate
 * policies.
 *
 * Every promotion names its version and stage through these, so a wrong
 * answer here moves the wrong version without any gate noticing.  Each test
 * therefore checks the stored state and the audit chain afterwards as well
 * as the return code, and that a refusal changed nothing (the helpers are
 * in testpromo.h).  Each test runs on its own fresh registry (treg_setup /
 * treg_teardown).
 */
#include "testpromo.h"

/* ---- helpers of the stage tests ---- */

static const char *stages_now(treg *t, char *buf, size_t n)
{
	cJSON *o = NULL;
	assert_int_equal(reg_stages_get(t->r, &o), 0);
	joined(cJSON_GetObjectItem(o, "stages"), buf, n);
	cJSON_Delete(o);
	return buf;
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

/* ==== 3. aliases ==== */

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

/* ==== 4. deleting referenced versions ==== */

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

/* ==== 5. policies ==== */

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
	/* a well-formed but unconfigured stage is not found, like everywhere */
	assert_int_equal(policy_put(t, "m", "production", "{\"from\":\"canary\"}", NULL), MLREG_ENOTFOUND);
	/* too many metric expressions */
	{
		char body[8192];
		size_t used = (size_t)snprintf(body, sizeof(body), "{\"metrics\":[");
		for (int i = 0; i < 65; i++)
			used += (size_t)snprintf(body + used, sizeof(body) - used, "%s\"m%d>=1\"", i ? "," : "", i);
		snprintf(body + used, sizeof(body) - used, "]}");
		assert_int_equal(policy_put(t, "m", "production", body, NULL), MLREG_EINVALID);
	}
	/* unknown stage (not found), invalid stage, invalid model */
	assert_int_equal(policy_put(t, "m", "canary", "{}", NULL), MLREG_ENOTFOUND);
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
		cmocka_unit_test_setup_teardown(alias_set_move_remove, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(alias_refuses_deleted_version, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(delete_refuses_referenced_versions, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(policy_put_list_delete, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(policy_refusals, treg_setup, treg_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * promotion.c - stages, aliases, gate policies, approvals, promote and
 * rollback: the registry's release workflow.
 *
 * Every change here is one write transaction (BEGIN IMMEDIATE on the single
 * writer) that reads what it decides on, changes it, records the move in
 * the history, appends the audit entry and queues the webhook event - so a
 * promotion that passed its gate is exactly the promotion that happened,
 * racing pipelines serialise (each history row's `from` is the previous
 * row's `to`), and `expect_current` turns a lost race into a conflict
 * instead of a silent overwrite.  Every move also bumps the controller
 * generation in the same transaction, so a reconciler rolls out exactly
 * what committed.  Reads (resolve, gate, history) run in a
 * read snapshot on the calling thread's reader connection.  A stage's
 * history is a stack: promote pushes, rollback pops.  Gate policies and
 * approvals are in policies.c; the helpers both share are promo_* here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry/registry_int.h"
#include "util/json.h"

#define MAX_STAGES 32
#define MAX_COMMENT 1000

/* ---- helpers ---- */
int promo_bad_model(const char *model)
{
	return mlreg_error_set(MLREG_EINVALID, "invalid model name '%s'", model ? model : "");
}

int promo_model_of(reg_registry *r, reg_tx *tx, const char *model, int64_t *id)
{
	if (!util_model_name_valid(model))
		return promo_bad_model(model);
	return META(r)->model_id(tx, model, id);
}

int promo_stage_check(reg_registry *r, reg_tx *tx, const char *stage)
{
	cJSON *names = NULL;
	util_buf list;
	int rc;
	bool found = false;
	if (!util_label_name_valid(stage))
		return mlreg_error_set(MLREG_EINVALID, "invalid stage name '%s'", stage ? stage : "");
	if ((rc = META(r)->stages_list(tx, &names)) < 0)
		return rc;
	util_buf_init(&list, 4096);
	for (const cJSON *n = names->child; n; n = n->next) {
		found = found || !strcmp(n->valuestring, stage);
		util_buf_printf(&list, "%s%s", n == names->child ? "" : ", ", n->valuestring);
	}
	if (!found)
		rc = mlreg_error_set(MLREG_ENOTFOUND, "unknown stage '%s': the stages are %s", stage, list.ptr ? list.ptr : "");
	util_buf_release(&list);
	cJSON_Delete(names);
	return rc;
}

int promo_comment_of(const cJSON *body, const char **out)
{
	const cJSON *c = cJSON_GetObjectItem(body, "comment");
	*out = "";
	if (!c || cJSON_IsNull(c))
		return 0;
	if (!cJSON_IsString(c) || strlen(c->valuestring) > MAX_COMMENT)
		return mlreg_error_set(MLREG_EINVALID, "comment must be a string of at most %d bytes", MAX_COMMENT);
	*out = c->valuestring;
	return 0;
}

/* Refuse members a body must not have, so a typo is not silently ignored. */
int promo_only_keys(const cJSON *body, const char *const *keys)
{
	if (!cJSON_IsObject(body))
		return mlreg_error_set(MLREG_EINVALID, "body must be a JSON object");
	for (const cJSON *m = body->child; m; m = m->next) {
		bool ok = false;
		for (int i = 0; keys[i] && !ok; i++)
			ok = !strcmp(m->string, keys[i]);
		if (!ok)
			return mlreg_error_set(MLREG_EINVALID, "unknown member '%.64s' in body", m->string);
	}
	return 0;
}

cJSON *promo_num_or_null(int64_t v) { return v > 0 ? cJSON_CreateNumber((double)v) : cJSON_CreateNull(); }

int reg_ref_segment_parse(const char *seg, util_ref *out, const char *model)
{
	char buf[UTIL_NAME_MAX + 80];
	if (!seg || !*seg || strlen(seg) > 70)
		return mlreg_error_set(MLREG_EINVALID, "invalid version reference '%s'", seg ? seg : "");
	snprintf(buf, sizeof(buf), "%s%s%s", model, seg[0] == '@' ? "" : ":", seg);
	return util_ref_parse(buf, out);
}

/* Resolve ref (of model_id) to a version number inside tx. */
static int resolve_tx(reg_registry *r, reg_tx *tx, const util_ref *ref, int64_t model_id, int64_t *number)
{
	int rc;
	switch (ref->kind) {
	case UTIL_REF_VERSION:
		*number = ref->version;
		return 0;
	case UTIL_REF_STAGE:
		if ((rc = META(r)->stack_top(tx, model_id, ref->label, number, NULL)) < 0)
			return rc;
		if (*number > 0)
			return 0;
		if ((rc = promo_stage_check(r, tx, ref->label)) < 0)
			return rc;
		return mlreg_error_set(MLREG_ENOTFOUND, "no version of '%s' holds stage '%s'", ref->model, ref->label);
	case UTIL_REF_ALIAS:
		if ((rc = META(r)->alias_get(tx, model_id, ref->label, number)) < 0)
			return rc;
		if (*number > 0)
			return 0;
		return mlreg_error_set(MLREG_ENOTFOUND, "alias '%s@%s' is not set", ref->model, ref->label);
	}
	return mlreg_error_set(MLREG_EINVALID, "bad reference");
}

/* A live version of a ref: number, row id. */
int promo_version_of(reg_registry *r, reg_tx *tx, const util_ref *ref, int64_t model_id, int64_t *number,
		      int64_t *vid)
{
	char status[16];
	int rc;
	if ((rc = resolve_tx(r, tx, ref, model_id, number)) < 0 ||
	    (rc = META(r)->version_lookup(tx, ref->model, *number, vid, status, sizeof(status))) < 0)
		return rc;
	if (!strcmp(status, "deleted"))
		return mlreg_error_set(MLREG_ENOTFOUND, "version '%s:%lld' is deleted", ref->model, (long long)*number);
	return 0;
}

/* A body's "version": a number, or a stage name / "@alias" of model. */
static int body_ref(const cJSON *body, const char *key, const char *model, util_ref *ref)
{
	const cJSON *v = cJSON_GetObjectItem(body, key);
	if (util_json_is_int(v) && v->valuedouble >= 1) {
		memset(ref, 0, sizeof(*ref));
		snprintf(ref->model, sizeof(ref->model), "%s", model);
		ref->kind = UTIL_REF_VERSION;
		ref->version = (int64_t)v->valuedouble;
		return 0;
	}
	if (cJSON_IsString(v))
		return reg_ref_segment_parse(v->valuestring, ref, model);
	return mlreg_error_set(MLREG_EINVALID, "'%s' must be a version number, a stage name or @alias", key);
}

int promo_finish(reg_registry *r, reg_tx *tx, int rc)
{
	if (rc < 0) {
		reg_events_discard();
		META(r)->rollback(tx);
		return rc;
	}
	return reg_commit(r, tx);
}

/* ---- resolving ---- */
int reg_resolve_in(reg_registry *r, reg_tx *tx, const util_ref *ref, int64_t *number, int64_t *vid)
{
	char status[16];
	int64_t mid;
	int rc;
	if ((rc = promo_model_of(r, tx, ref->model, &mid)) < 0 || (rc = resolve_tx(r, tx, ref, mid, number)) < 0)
		return rc;
	return META(r)->version_lookup(tx, ref->model, *number, vid, status, sizeof(status));
}

int reg_resolve(reg_registry *r, const util_ref *ref, int64_t *number)
{
	reg_tx *tx = NULL;
	int64_t mid;
	int rc;
	int64_t vid;
	char status[16];
	if ((rc = META(r)->begin_read(r->meta, &tx)) < 0)
		return rc;
	if ((rc = promo_model_of(r, tx, ref->model, &mid)) == 0 && (rc = resolve_tx(r, tx, ref, mid, number)) == 0)
		rc = META(r)->version_lookup(tx, ref->model, *number, &vid, status, sizeof(status));
	META(r)->commit(tx);
	return rc;
}

int reg_version_get_ref(reg_registry *r, const util_ref *ref, bool with_files, cJSON **out)
{
	reg_tx *tx = NULL;
	int64_t mid, number;
	int rc;
	if (ref->kind == UTIL_REF_VERSION)
		return reg_version_get(r, ref->model, ref->version, with_files, out);
	/* one snapshot: the pointer and the version it points to */
	if ((rc = META(r)->begin_read(r->meta, &tx)) < 0)
		return rc;
	if ((rc = promo_model_of(r, tx, ref->model, &mid)) == 0 && (rc = resolve_tx(r, tx, ref, mid, &number)) == 0)
		rc = META(r)->version_get(r->meta, ref->model, number, with_files, out);
	META(r)->commit(tx);
	return rc;
}

/* ---- stages ---- */
int reg_stages_get(reg_registry *r, cJSON **out)
{
	reg_tx *tx = NULL;
	cJSON *names = NULL;
	int rc;
	if ((rc = META(r)->begin_read(r->meta, &tx)) < 0)
		return rc;
	rc = META(r)->stages_list(tx, &names);
	META(r)->commit(tx);
	if (rc < 0)
		return rc;
	*out = cJSON_CreateObject();
	cJSON_AddItemToObject(*out, "stages", names);
	return 0;
}

static int validate_stage_list(const cJSON *body, const cJSON **list)
{
	static const char *const keys[] = {"stages", NULL};
	const cJSON *a = cJSON_GetObjectItem(body, "stages");
	int n = 0, rc;
	if ((rc = promo_only_keys(body, keys)) < 0)
		return rc;
	if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) < 1 || cJSON_GetArraySize(a) > MAX_STAGES)
		return mlreg_error_set(MLREG_EINVALID, "stages must be an array of 1 to %d names", MAX_STAGES);
	for (const cJSON *s = a->child; s; s = s->next, n++) {
		if (!cJSON_IsString(s) || !util_label_name_valid(s->valuestring))
			return mlreg_error_set(MLREG_EINVALID,
					       "invalid stage name '%.64s': lowercase letters, digits and '-', starting with a letter",
					       cJSON_IsString(s) ? s->valuestring : "?");
		for (const cJSON *t = a->child; t != s; t = t->next)
			if (!strcmp(t->valuestring, s->valuestring))
				return mlreg_error_set(MLREG_EINVALID, "stage '%s' listed twice", s->valuestring);
	}
	*list = a;
	return 0;
}

int reg_stages_set(reg_registry *r, const reg_principal *who, const cJSON *body, cJSON **out)
{
	const cJSON *list = NULL;
	cJSON *old = NULL, *d, *ev;
	util_buf joined;
	reg_tx *tx = NULL;
	int rc;
	if ((rc = validate_stage_list(body, &list)) < 0)
		return rc;
	if ((rc = META(r)->begin(r->meta, &tx)) < 0)
		return rc;
	if ((rc = META(r)->stages_list(tx, &old)) < 0)
		return promo_finish(r, tx, rc);
	for (const cJSON *o = old->child; o; o = o->next) {
		char why[512];
		bool kept = false;
		for (const cJSON *n = list->child; n && !kept; n = n->next)
			kept = !strcmp(n->valuestring, o->valuestring);
		if (kept)
			continue;
		if ((rc = META(r)->stage_in_use(tx, o->valuestring, why, sizeof(why))) < 0)
			break;
		if (rc == 1) {
			rc = mlreg_error_set(MLREG_ECONFLICT, "cannot remove stage '%s': %s", o->valuestring, why);
			break;
		}
	}
	cJSON_Delete(old);
	if (rc < 0)
		return promo_finish(r, tx, rc);
	util_buf_init(&joined, 1 << 16);
	for (const cJSON *n = list->child; n; n = n->next)
		util_buf_printf(&joined, "%s%s", n == list->child ? "" : ",", n->valuestring);
	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "stages", joined.ptr);
	util_buf_release(&joined);
	ev = cJSON_CreateObject();
	cJSON_AddItemToObject(ev, "stages", cJSON_Duplicate(list, true));
	if ((rc = META(r)->stages_replace(tx, list)) < 0 ||
	    (rc = reg_audit_append(r->meta, tx, who->principal, "stages.set", "stages", NULL, d)) < 0) {
		cJSON_Delete(ev);
	} else {
		rc = reg_event_emit(r, tx, "stages", who->principal, NULL, ev);
	}
	cJSON_Delete(d);
	if ((rc = promo_finish(r, tx, rc)) < 0)
		return rc;
	/* the answer is what was written (a read after the commit could fail
	 * and report an error for a change that happened) */
	*out = cJSON_CreateObject();
	cJSON_AddItemToObject(*out, "stages", cJSON_Duplicate(list, true));
	return 0;
}

int reg_model_pointers(reg_registry *r, const char *model, cJSON **out)
{
	reg_tx *tx = NULL;
	int64_t mid;
	int rc;
	if ((rc = META(r)->begin_read(r->meta, &tx)) < 0)
		return rc;
	if ((rc = promo_model_of(r, tx, model, &mid)) == 0 && (rc = META(r)->model_pointers(tx, mid, out)) == 0) {
		cJSON_AddItemToObject(*out, "model", cJSON_CreateString(model));
	}
	META(r)->commit(tx);
	return rc;
}

/* ---- aliases ---- */
int reg_alias_set(reg_registry *r, const reg_principal *who, const char *model, const char *alias, const cJSON *body,
		  cJSON **out)
{
	static const char *const keys[] = {"version", "comment", NULL};
	util_ref ref;
	reg_tx *tx = NULL;
	const char *comment;
	char subject[UTIL_NAME_MAX + 80];
	int64_t mid, number = 0, vid, old = 0;
	cJSON *d, *ev;
	int rc;
	if (!util_model_name_valid(model))
		return promo_bad_model(model);
	if (!util_label_name_valid(alias))
		return mlreg_error_set(MLREG_EINVALID, "invalid alias '%s': lowercase letters, digits and '-', starting with a letter",
				       alias ? alias : "");
	if ((rc = promo_only_keys(body, keys)) < 0 || (rc = promo_comment_of(body, &comment)) < 0 ||
	    (rc = body_ref(body, "version", model, &ref)) < 0)
		return rc;
	if ((rc = META(r)->begin(r->meta, &tx)) < 0)
		return rc;
	if ((rc = promo_model_of(r, tx, model, &mid)) < 0 || (rc = promo_version_of(r, tx, &ref, mid, &number, &vid)) < 0 ||
	    (rc = META(r)->alias_get(tx, mid, alias, &old)) < 0)
		return promo_finish(r, tx, rc);
	snprintf(subject, sizeof(subject), "%s@%s", model, alias);
	d = cJSON_CreateObject();
	cJSON_AddNumberToObject(d, "version", (double)number);
	if (old > 0)
		cJSON_AddNumberToObject(d, "from", (double)old);
	if (*comment)
		cJSON_AddStringToObject(d, "comment", comment);
	ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "alias", alias);
	cJSON_AddNumberToObject(ev, "version", (double)number);
	cJSON_AddItemToObject(ev, "from", promo_num_or_null(old));
	if ((rc = META(r)->alias_set(tx, mid, alias, vid)) < 0 ||
	    (rc = META(r)->move_insert(tx, mid, "alias", alias, "set", old, number, who->principal, util_now_ms(), comment)) < 0 ||
	    (rc = reg_ctl_touch(r, tx)) < 0 ||
	    (rc = reg_audit_append(r->meta, tx, who->principal, "alias.set", subject, model, d)) < 0)
		cJSON_Delete(ev);
	else
		rc = reg_event_emit(r, tx, "alias", who->principal, model, ev);
	cJSON_Delete(d);
	if ((rc = promo_finish(r, tx, rc)) < 0)
		return rc;
	*out = cJSON_CreateObject();
	cJSON_AddStringToObject(*out, "model", model);
	cJSON_AddStringToObject(*out, "alias", alias);
	cJSON_AddNumberToObject(*out, "version", (double)number);
	cJSON_AddItemToObject(*out, "from", promo_num_or_null(old));
	return 0;
}

int reg_alias_remove(reg_registry *r, const reg_principal *who, const char *model, const char *alias, cJSON **out)
{
	reg_tx *tx = NULL;
	char subject[UTIL_NAME_MAX + 80];
	int64_t mid, old = 0;
	cJSON *d, *ev;
	int rc;
	if (!util_model_name_valid(model))
		return promo_bad_model(model);
	if (!util_label_name_valid(alias))
		return mlreg_error_set(MLREG_EINVALID, "invalid alias '%s'", alias ? alias : "");
	if ((rc = META(r)->begin(r->meta, &tx)) < 0)
		return rc;
	if ((rc = promo_model_of(r, tx, model, &mid)) < 0 || (rc = META(r)->alias_get(tx, mid, alias, &old)) < 0)
		return promo_finish(r, tx, rc);
	if (old == 0)
		return promo_finish(r, tx, mlreg_error_set(MLREG_ENOTFOUND, "alias '%s@%s' is not set", model, alias));
	snprintf(subject, sizeof(subject), "%s@%s", model, alias);
	d = cJSON_CreateObject();
	cJSON_AddNumberToObject(d, "from", (double)old);
	ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "alias", alias);
	cJSON_AddNullToObject(ev, "version");
	cJSON_AddNumberToObject(ev, "from", (double)old);
	if ((rc = META(r)->alias_remove(tx, mid, alias)) < 0 ||
	    (rc = META(r)->move_insert(tx, mid, "alias", alias, "remove", old, 0, who->principal, util_now_ms(), "")) < 0 ||
	    (rc = reg_ctl_touch(r, tx)) < 0 ||
	    (rc = reg_audit_append(r->meta, tx, who->principal, "alias.remove", subject, model, d)) < 0)
		cJSON_Delete(ev);
	else
		rc = reg_event_emit(r, tx, "alias", who->principal, model, ev);
	cJSON_Delete(d);
	if ((rc = promo_finish(r, tx, rc)) < 0)
		return rc;
	*out = cJSON_CreateObject();
	cJSON_AddStringToObject(*out, "model", model);
	cJSON_AddStringToObject(*out, "alias", alias);
	cJSON_AddNumberToObject(*out, "from", (double)old);
	return 0;
}

/* ---- gate and promote ---- */
int reg_gate(reg_registry *r, const util_ref *ref, const char *stage, cJSON **out)
{
	reg_tx *tx = NULL;
	int64_t mid, number, vid;
	bool passed;
	int rc;
	if (!stage)
		return mlreg_error_set(MLREG_EINVALID, "gate needs ?stage=S");
	if ((rc = META(r)->begin_read(r->meta, &tx)) < 0)
		return rc;
	if ((rc = promo_stage_check(r, tx, stage)) == 0 && (rc = promo_model_of(r, tx, ref->model, &mid)) == 0 &&
	    (rc = promo_version_of(r, tx, ref, mid, &number, &vid)) == 0)
		rc = reg_gate_eval(r, tx, ref->model, mid, vid, stage, out, &passed);
	META(r)->commit(tx);
	return rc;
}

static int expect_of(const cJSON *body, int64_t *expect, bool *has)
{
	const cJSON *e = cJSON_GetObjectItem(body, "expect_current");
	*has = false;
	if (!e || cJSON_IsNull(e))
		return 0;
	if (!util_json_is_int(e) || e->valuedouble < 0)
		return mlreg_error_set(MLREG_EINVALID, "'expect_current' must be a version number, or 0 for an empty stage");
	*expect = (int64_t)e->valuedouble;
	*has = true;
	return 0;
}

int reg_promote(reg_registry *r, const reg_principal *who, const char *model, const char *stage, const cJSON *body,
		cJSON **out)
{
	static const char *const keys[] = {"version", "expect_current", "comment", NULL};
	util_ref ref;
	reg_tx *tx = NULL;
	const char *comment;
	char subject[UTIL_NAME_MAX + 80];
	int64_t mid, number, vid, current = 0, expect = 0;
	bool has_expect, passed = false;
	cJSON *res = NULL, *d, *ev;
	int rc;
	*out = NULL;
	if (!util_model_name_valid(model))
		return promo_bad_model(model);
	if ((rc = promo_only_keys(body, keys)) < 0 || (rc = promo_comment_of(body, &comment)) < 0 ||
	    (rc = expect_of(body, &expect, &has_expect)) < 0 || (rc = body_ref(body, "version", model, &ref)) < 0)
		return rc;
	if ((rc = META(r)->begin(r->meta, &tx)) < 0)
		return rc;
	if ((rc = promo_stage_check(r, tx, stage)) < 0 || (rc = promo_model_of(r, tx, model, &mid)) < 0 ||
	    (rc = promo_version_of(r, tx, &ref, mid, &number, &vid)) < 0 ||
	    (rc = META(r)->stack_top(tx, mid, stage, &current, NULL)) < 0)
		return promo_finish(r, tx, rc);
	if (has_expect && expect != current) {
		*out = cJSON_CreateObject();
		cJSON_AddItemToObject(*out, "current", promo_num_or_null(current));
		if (current > 0)
			rc = mlreg_error_set(MLREG_ECONFLICT, "stage '%s' of '%s' holds version %lld, not %lld as expected",
					     stage, model, (long long)current, (long long)expect);
		else
			rc = mlreg_error_set(MLREG_ECONFLICT, "stage '%s' of '%s' is empty, not holding %lld as expected",
					     stage, model, (long long)expect);
		return promo_finish(r, tx, rc);
	}
	if (current == number) {
		META(r)->rollback(tx);
		res = cJSON_CreateObject();
		cJSON_AddStringToObject(res, "model", model);
		cJSON_AddNumberToObject(res, "version", (double)number);
		cJSON_AddStringToObject(res, "stage", stage);
		cJSON_AddTrueToObject(res, "passed");
		cJSON_AddFalseToObject(res, "promoted");
		cJSON_AddNumberToObject(res, "from", (double)current);
		cJSON_AddItemToObject(res, "checks", cJSON_CreateArray());
		cJSON_AddStringToObject(res, "message", "the stage already holds this version; nothing changed");
		*out = res;
		return 0;
	}
	if ((rc = reg_gate_eval(r, tx, model, mid, vid, stage, &res, &passed)) < 0)
		return promo_finish(r, tx, rc);
	if (!passed) {
		int failed = 0, total = 0;
		for (const cJSON *c = cJSON_GetObjectItem(res, "checks")->child; c; c = c->next, total++)
			failed += !cJSON_IsTrue(cJSON_GetObjectItem(c, "passed"));
		cJSON_AddFalseToObject(res, "promoted");
		*out = res;
		return promo_finish(r, tx, mlreg_error_set(MLREG_EREFUSED, "%s:%lld may not enter %s: %d of %d checks failed", model,
						     (long long)number, stage, failed, total));
	}
	snprintf(subject, sizeof(subject), "%s:%s", model, stage);
	d = cJSON_CreateObject();
	cJSON_AddNumberToObject(d, "version", (double)number);
	if (current > 0)
		cJSON_AddNumberToObject(d, "from", (double)current);
	if (*comment)
		cJSON_AddStringToObject(d, "comment", comment);
	ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "stage", stage);
	cJSON_AddNumberToObject(ev, "version", (double)number);
	cJSON_AddItemToObject(ev, "from", promo_num_or_null(current));
	cJSON_AddStringToObject(ev, "comment", comment);
	if ((rc = META(r)->stack_push(tx, mid, stage, vid)) < 0 ||
	    (rc = META(r)->move_insert(tx, mid, "stage", stage, "promote", current, number, who->principal, util_now_ms(),
				       comment)) < 0 ||
	    (rc = reg_ctl_touch(r, tx)) < 0 ||
	    (rc = reg_audit_append(r->meta, tx, who->principal, "promote", subject, model, d)) < 0)
		cJSON_Delete(ev);
	else
		rc = reg_event_emit(r, tx, "promote", who->principal, model, ev);
	cJSON_Delete(d);
	if ((rc = promo_finish(r, tx, rc)) < 0) {
		cJSON_Delete(res);
		return rc;
	}
	cJSON_AddTrueToObject(res, "promoted");
	cJSON_AddItemToObject(res, "from", promo_num_or_null(current));
	*out = res;
	return 0;
}

/* ---- rollback ---- */
int reg_rollback(reg_registry *r, const reg_principal *who, const char *model, const char *stage, const cJSON *body,
		 cJSON **out)
{
	static const char *const keys[] = {"to", "force", "comment", NULL};
	const cJSON *force = cJSON_GetObjectItem(body, "force");
	reg_tx *tx = NULL;
	const char *comment;
	char subject[UTIL_NAME_MAX + 80];
	int64_t mid, to = 0, current, target = 0, pops = 0, depth;
	bool has_to, forced = false;
	cJSON *stack = NULL, *d, *ev;
	int rc;
	if (!util_model_name_valid(model))
		return promo_bad_model(model);
	if ((rc = promo_only_keys(body, keys)) < 0 || (rc = promo_comment_of(body, &comment)) < 0)
		return rc;
	if ((rc = util_json_i64(body, "to", &to)) == MLREG_EINVALID || (rc == 0 && to < 1))
		return mlreg_error_set(MLREG_EINVALID, "'to' must be a version number");
	has_to = rc == 0;
	if (force && !cJSON_IsBool(force))
		return mlreg_error_set(MLREG_EINVALID, "'force' must be a boolean");
	if (cJSON_IsTrue(force) && who->role != REG_ROLE_ADMIN)
		return mlreg_error_set(MLREG_EFORBIDDEN, "rollback --force needs the admin role");
	if ((rc = META(r)->begin(r->meta, &tx)) < 0)
		return rc;
	if ((rc = promo_stage_check(r, tx, stage)) < 0 || (rc = promo_model_of(r, tx, model, &mid)) < 0 ||
	    (rc = META(r)->stack_list(tx, mid, stage, &stack)) < 0)
		return promo_finish(r, tx, rc);
	depth = cJSON_GetArraySize(stack);
	current = depth > 0 ? (int64_t)cJSON_GetArrayItem(stack, (int)depth - 1)->valuedouble : 0;
	if (depth == 0) {
		rc = mlreg_error_set(MLREG_EREFUSED, "no version of '%s' holds stage '%s': nothing to roll back", model, stage);
	} else if (!has_to) {
		if (depth < 2)
			rc = mlreg_error_set(MLREG_EREFUSED,
					     "stage '%s' of '%s' has only version %lld on its stack: nothing to roll back to",
					     stage, model, (long long)current);
		target = depth >= 2 ? (int64_t)cJSON_GetArrayItem(stack, (int)depth - 2)->valuedouble : 0;
		pops = 1;
	} else if (to == current) {
		rc = mlreg_error_set(MLREG_EREFUSED, "stage '%s' of '%s' already holds version %lld", stage, model,
				     (long long)to);
	} else {
		for (int64_t i = depth - 2; i >= 0; i--)
			if ((int64_t)cJSON_GetArrayItem(stack, (int)i)->valuedouble == to) {
				pops = depth - 1 - i;
				break;
			}
		target = to;
		if (pops == 0) {
			if (!cJSON_IsTrue(force)) {
				rc = mlreg_error_set(MLREG_EREFUSED,
						     "version %lld is not below the current holder on the stack of stage '%s': "
						     "an admin can put it there with --force",
						     (long long)to, stage);
			} else {
				util_ref ref = {.kind = UTIL_REF_VERSION, .version = to};
				int64_t n, vid;
				snprintf(ref.model, sizeof(ref.model), "%s", model);
				if ((rc = promo_version_of(r, tx, &ref, mid, &n, &vid)) == 0)
					rc = META(r)->stack_push(tx, mid, stage, vid);
				forced = true;
			}
		}
	}
	cJSON_Delete(stack);
	if (rc < 0)
		return promo_finish(r, tx, rc);
	for (int64_t i = 0; i < pops && rc == 0; i++)
		rc = META(r)->stack_pop(tx, mid, stage);
	if (rc < 0)
		return promo_finish(r, tx, rc);
	snprintf(subject, sizeof(subject), "%s:%s", model, stage);
	d = cJSON_CreateObject();
	cJSON_AddNumberToObject(d, "from", (double)current);
	cJSON_AddNumberToObject(d, "to", (double)target);
	if (forced)
		cJSON_AddTrueToObject(d, "forced");
	if (*comment)
		cJSON_AddStringToObject(d, "comment", comment);
	ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "stage", stage);
	cJSON_AddNumberToObject(ev, "from", (double)current);
	cJSON_AddNumberToObject(ev, "to", (double)target);
	cJSON_AddStringToObject(ev, "comment", comment);
	if ((rc = META(r)->move_insert(tx, mid, "stage", stage, "rollback", current, target, who->principal,
				       util_now_ms(), comment)) < 0 ||
	    (rc = reg_ctl_touch(r, tx)) < 0 ||
	    (rc = reg_audit_append(r->meta, tx, who->principal, "rollback", subject, model, d)) < 0)
		cJSON_Delete(ev);
	else
		rc = reg_event_emit(r, tx, "rollback", who->principal, model, ev);
	cJSON_Delete(d);
	if ((rc = promo_finish(r, tx, rc)) < 0)
		return rc;
	*out = cJSON_CreateObject();
	cJSON_AddStringToObject(*out, "model", model);
	cJSON_AddStringToObject(*out, "stage", stage);
	cJSON_AddNumberToObject(*out, "from", (double)current);
	cJSON_AddNumberToObject(*out, "to", (double)target);
	return 0;
}

int reg_history(reg_registry *r, const char *model, const char *stage, const char *alias, int64_t limit,
		int64_t offset, cJSON **out)
{
	reg_tx *tx = NULL;
	int64_t mid;
	int rc;
	if (stage && alias)
		return mlreg_error_set(MLREG_EINVALID, "history takes a stage or an alias, not both");
	if ((stage && !util_label_name_valid(stage)) || (alias && !util_label_name_valid(alias)))
		return mlreg_error_set(MLREG_EINVALID, "invalid stage or alias name");
	if ((rc = META(r)->begin_read(r->meta, &tx)) < 0)
		return rc;
	if ((rc = promo_model_of(r, tx, model, &mid)) == 0 &&
	    (rc = META(r)->history_list(tx, mid, stage ? "stage" : alias ? "alias" : NULL, stage ? stage : alias, limit,
					offset, out)) == 0)
		cJSON_AddItemToObject(*out, "model", cJSON_CreateString(model));
	META(r)->commit(tx);
	return rc;
}

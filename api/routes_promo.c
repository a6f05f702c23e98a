/*
 * routes_promo.c - stages, aliases, gate policies, approvals, promote,
 * rollback and history over HTTP.
 *
 * Like the other route files this only translates between HTTP and the
 * registry: all rules live in registry/promotion.c and registry/gate.c.
 * Two answers carry more than an error: a refused promotion (422) returns
 * the whole gate result with its checks next to the error, and a lost
 * compare-and-swap (409) returns the version the stage holds now, so a
 * pipeline can print why without a second request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/http.h"
#include "util/json.h"

/* Answer body (owned) with an "error" member for code added. */
static int reply_error_with(api_req *q, int code, cJSON *body)
{
	cJSON *e = cJSON_AddObjectToObject(body, "error");
	cJSON_AddStringToObject(e, "code", mlreg_error_name(code));
	cJSON_AddStringToObject(e, "message", mlreg_error_last());
	return api_reply_json(q, (int)api_status_of(code), body);
}

static int with_body(api_req *q, cJSON **body)
{
	*body = NULL;
	return api_body_json(q, body);
}

static int ref_param(api_req *q, util_ref *ref)
{
	return reg_ref_segment_parse(q->params[1], ref, q->params[0]);
}

static int stages_get(api_req *q)
{
	cJSON *out = NULL;
	int rc = reg_stages_get(q->srv->reg, &out);
	return rc < 0 ? rc : api_reply_json(q, 200, out);
}

static int stages_put(api_req *q)
{
	cJSON *body, *out = NULL;
	int rc;
	if ((rc = with_body(q, &body)) < 0)
		return rc;
	rc = reg_stages_set(q->srv->reg, &q->who, body, &out);
	cJSON_Delete(body);
	return rc < 0 ? rc : api_reply_json(q, 200, out);
}

static int model_stages(api_req *q)
{
	cJSON *out = NULL;
	int rc = reg_model_pointers(q->srv->reg, q->params[0], &out);
	return rc < 0 ? rc : api_reply_json(q, 200, out);
}

static int promote(api_req *q)
{
	cJSON *body, *out = NULL;
	int rc;
	if ((rc = with_body(q, &body)) < 0)
		return rc;
	rc = reg_promote(q->srv->reg, &q->who, q->params[0], q->params[1], body, &out);
	cJSON_Delete(body);
	if (rc < 0)
		return out ? reply_error_with(q, rc, out) : rc;
	return api_reply_json(q, 200, out);
}

static int rollback(api_req *q)
{
	cJSON *body, *out = NULL;
	int rc;
	if ((rc = with_body(q, &body)) < 0)
		return rc;
	rc = reg_rollback(q->srv->reg, &q->who, q->params[0], q->params[1], body, &out);
	cJSON_Delete(body);
	return rc < 0 ? rc : api_reply_json(q, 200, out);
}

static int history(api_req *q)
{
	const char *l = api_query(q, "limit"), *t = api_query(q, "page_token");
	int64_t limit = 1000, offset = 0;
	cJSON *out = NULL;
	int rc;
	if (l && (util_parse_i64(l, &limit) < 0 || limit < 1 || limit > 10000))
		return mlreg_error_set(MLREG_EINVALID, "invalid limit '%s': use 1 to 10000", l);
	if (t && (util_parse_i64(t, &offset) < 0 || offset < 0))
		return mlreg_error_set(MLREG_EINVALID, "invalid page_token '%s'", t);
	rc = reg_history(q->srv->reg, q->params[0], api_query(q, "stage"), api_query(q, "alias"), limit, offset, &out);
	return rc < 0 ? rc : api_reply_json(q, 200, out);
}

static int gate(api_req *q)
{
	util_ref ref;
	cJSON *out = NULL;
	int rc;
	if ((rc = ref_param(q, &ref)) < 0 || (rc = reg_gate(q->srv->reg, &ref, api_query(q, "stage"), &out)) < 0)
		return rc;
	return api_reply_json(q, 200, out);
}

static int approve(api_req *q)
{
	util_ref ref;
	cJSON *body, *out = NULL;
	int status = 201, rc;
	if ((rc = ref_param(q, &ref)) < 0 || (rc = with_body(q, &body)) < 0)
		return rc;
	/* approving is a stage-directed move: the stage is in the body */
	if ((rc = api_scope(q, NULL, cJSON_IsString(cJSON_GetObjectItemCaseSensitive(body, "stage"))
					     ? util_json_str(body, "stage") : "")) < 0) {
		cJSON_Delete(body);
		return rc;
	}
	rc = reg_approve(q->srv->reg, &q->who, &ref, body, &status, &out);
	cJSON_Delete(body);
	return rc < 0 ? rc : api_reply_json(q, status, out);
}

static int approvals(api_req *q)
{
	util_ref ref;
	cJSON *out = NULL;
	int rc;
	if ((rc = ref_param(q, &ref)) < 0 || (rc = reg_approvals_list(q->srv->reg, &ref, api_query(q, "stage"), &out)) < 0)
		return rc;
	return api_reply_json(q, 200, out);
}

static int alias_put(api_req *q)
{
	cJSON *body, *out = NULL;
	int rc;
	if ((rc = with_body(q, &body)) < 0)
		return rc;
	rc = reg_alias_set(q->srv->reg, &q->who, q->params[0], q->params[1], body, &out);
	cJSON_Delete(body);
	return rc < 0 ? rc : api_reply_json(q, 200, out);
}

static int alias_delete(api_req *q)
{
	cJSON *out = NULL;
	int rc = reg_alias_remove(q->srv->reg, &q->who, q->params[0], q->params[1], &out);
	return rc < 0 ? rc : api_reply_json(q, 200, out);
}

static int policy_put(api_req *q)
{
	cJSON *body, *out = NULL;
	int rc;
	if ((rc = with_body(q, &body)) < 0)
		return rc;
	rc = reg_policy_put(q->srv->reg, &q->who, q->params[0], q->params[1], body, &out);
	cJSON_Delete(body);
	return rc < 0 ? rc : api_reply_json(q, 200, out);
}

static int policy_delete(api_req *q)
{
	cJSON *out = NULL;
	int rc = reg_policy_delete(q->srv->reg, &q->who, q->params[0], q->params[1], &out);
	return rc < 0 ? rc : api_reply_json(q, 200, out);
}

static int policies(api_req *q)
{
	cJSON *out = NULL;
	int rc = reg_policy_list(q->srv->reg, api_query(q, "model"), &out);
	if (rc < 0)
		return rc;
	api_scope_filter(q, out, "policies", "model");
	return api_reply_json(q, 200, out);
}

const api_route api_routes_promo[] = {
	{"GET", "api/v1/stages", stages_get, REG_PERM_READ, API_INLINE, "/api/v1/stages"},
	{"PUT", "api/v1/stages", stages_put, REG_PERM_ADMIN, API_WORKER, "/api/v1/stages"},
	{"GET", "api/v1/models/{}/stages", model_stages, REG_PERM_READ, API_INLINE, "/api/v1/models/{name}/stages"},
	{"POST", "api/v1/models/{}/stages/{}/promote", promote, REG_PERM_PROMOTE, API_WORKER,
	 "/api/v1/models/{name}/stages/{stage}/promote"},
	{"POST", "api/v1/models/{}/stages/{}/rollback", rollback, REG_PERM_PROMOTE, API_WORKER,
	 "/api/v1/models/{name}/stages/{stage}/rollback"},
	{"GET", "api/v1/models/{}/history", history, REG_PERM_READ, API_INLINE, "/api/v1/models/{name}/history"},
	{"GET", "api/v1/models/{}/versions/{}/gate", gate, REG_PERM_READ, API_INLINE,
	 "/api/v1/models/{name}/versions/{ref}/gate"},
	{"POST", "api/v1/models/{}/versions/{}/approvals", approve, REG_PERM_APPROVE, API_WORKER,
	 "/api/v1/models/{name}/versions/{ref}/approvals"},
	{"GET", "api/v1/models/{}/versions/{}/approvals", approvals, REG_PERM_READ, API_INLINE,
	 "/api/v1/models/{name}/versions/{ref}/approvals"},
	{"PUT", "api/v1/models/{}/aliases/{}", alias_put, REG_PERM_PROMOTE, API_WORKER, "/api/v1/models/{name}/aliases/{alias}"},
	{"DELETE", "api/v1/models/{}/aliases/{}", alias_delete, REG_PERM_PROMOTE, API_WORKER,
	 "/api/v1/models/{name}/aliases/{alias}"},
	{"GET", "api/v1/policies", policies, REG_PERM_READ, API_INLINE, "/api/v1/policies"},
	{"PUT", "api/v1/policies/{}/{}", policy_put, REG_PERM_ADMIN, API_WORKER, "/api/v1/policies/{model}/{stage}"},
	{"DELETE", "api/v1/policies/{}/{}", policy_delete, REG_PERM_ADMIN, API_WORKER, "/api/v1/policies/{model}/{stage}"},
	{NULL, NULL, NULL, 0, 0, NULL},
};

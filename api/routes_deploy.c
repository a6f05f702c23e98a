/*
 * routes_deploy.c - serving nodes, deployments, their events and rollout
 * verbs over HTTP (docs/api.md "Nodes and deployments").  Roles: admin for
 * nodes, deployer for deployments and verbs, reader for every read.
 *
 * Like the other route files this translates between HTTP and the
 * registry (registry/deploy.c), with one addition: the rollout steps of a
 * new deployment are parsed here, with the controller's own parser
 * (controller/ctl.h), because the registry may not depend on the
 * controller and must not carry a second parser that could drift from the
 * one the reconciler runs.  Given steps are parsed and replaced by their
 * normalised text (ctl_steps_format); without steps the strategy's preset
 * is written out, so what is stored and shown is always the concrete list
 * the reconciler will run.  Writes run on workers; reads answer inline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/http.h"
#include "controller/ctl.h"
#include "registry/deploy.h"
#include "util/json.h"

static int nodes_add(api_req *q)
{
	cJSON *body = NULL, *out = NULL;
	int rc;
	if ((rc = api_body_json(q, &body)) < 0)
		return rc;
	rc = reg_node_add(q->srv->reg, &q->who, body, &out);
	cJSON_Delete(body);
	return rc < 0 ? rc : api_reply_json(q, 201, out);
}

static int nodes_list(api_req *q)
{
	cJSON *out = NULL;
	int rc = reg_node_list(q->srv->reg, &out);
	return rc < 0 ? rc : api_reply_json(q, 200, out);
}

static int nodes_remove(api_req *q)
{
	cJSON *out = NULL;
	int rc = reg_node_remove(q->srv->reg, &q->who, q->params[0], &out);
	return rc < 0 ? rc : api_reply_json(q, 200, out);
}

/* Replace the body's "steps" by the normalised text of the given steps,
 * or of the strategy's preset when none are given.  Anything that is not
 * a string is left for the registry to refuse with its own message. */
static int normalise_steps(cJSON *body)
{
	const cJSON *steps = cJSON_GetObjectItemCaseSensitive(body, "steps");
	const char *strategy = util_json_str(body, "strategy");
	ctl_step parsed[CTL_MAX_STEPS];
	util_buf text;
	int n = 0, rc;
	if (steps && !cJSON_IsNull(steps) && !cJSON_IsString(steps))
		return 0;
	if (cJSON_IsString(steps))
		rc = ctl_steps_parse(steps->valuestring, parsed, &n);
	else
		rc = ctl_steps_preset(strategy, 0, parsed, &n);
	if (rc < 0)
		return rc;
	util_buf_init(&text, 4096);
	if ((rc = ctl_steps_format(parsed, n, &text)) < 0) {
		util_buf_release(&text);
		return mlreg_error_set(MLREG_EINVALID, "steps too long");
	}
	cJSON_DeleteItemFromObjectCaseSensitive(body, "steps");
	cJSON_AddStringToObject(body, "steps", text.ptr ? text.ptr : "");
	util_buf_release(&text);
	return 0;
}

/* The scope test of a deployment: its model, and for a move its stage (a
 * deployment that follows an alias is out of a stage-scoped token's
 * reach).  Unknown deployments answer like out-of-scope ones for a scoped
 * token, so the answer does not tell whether the name exists. */
static int deploy_scope_of(api_req *q, const char *model, const char *stage, const char *alias, bool move)
{
	int rc = api_scope(q, model ? model : "", move && stage ? stage : NULL);
	if (rc == 0 && move && !stage && alias && reg_scope_stages_limited(&q->who))
		rc = mlreg_error_set(MLREG_EFORBIDDEN, "forbidden: the token's scope does not cover this stage");
	return rc;
}

static int deploy_scope(api_req *q, bool move)
{
	cJSON *st = NULL;
	int rc;
	if (!reg_scope_models_limited(&q->who) && !(move && reg_scope_stages_limited(&q->who)))
		return 0;
	if (reg_deploy_status(q->srv->reg, q->params[0], &st) < 0) {
		cJSON_Delete(st);
		return mlreg_error_set(MLREG_EFORBIDDEN, "forbidden: the token's scope does not cover this model");
	}
	rc = deploy_scope_of(q, util_json_str(st, "model"), util_json_str(st, "stage"), util_json_str(st, "alias"), move);
	cJSON_Delete(st);
	return rc;
}

static int deployments_create(api_req *q)
{
	cJSON *body = NULL, *out = NULL;
	int rc;
	if ((rc = api_body_json(q, &body)) < 0)
		return rc;
	if (!cJSON_IsObject(body))
		rc = mlreg_error_set(MLREG_EINVALID, "body must be a JSON object");
	else if ((rc = deploy_scope_of(q, util_json_str(body, "model"), util_json_str(body, "stage"),
				       util_json_str(body, "alias"), true)) == 0 &&
		 (rc = normalise_steps(body)) == 0)
		rc = reg_deploy_create(q->srv->reg, &q->who, body, &out);
	cJSON_Delete(body);
	return rc < 0 ? rc : api_reply_json(q, 201, out);
}

static int deployments_list(api_req *q)
{
	cJSON *out = NULL;
	int rc = reg_deploy_list(q->srv->reg, &out);
	if (rc < 0)
		return rc;
	api_scope_filter(q, out, "deployments", "model");
	return api_reply_json(q, 200, out);
}

static int deployment_get(api_req *q)
{
	cJSON *out = NULL;
	int rc = deploy_scope(q, false);
	if (rc < 0)
		return rc;
	rc = reg_deploy_status(q->srv->reg, q->params[0], &out);
	return rc < 0 ? rc : api_reply_json(q, 200, out);
}

static int deployment_remove(api_req *q)
{
	cJSON *out = NULL;
	int rc = deploy_scope(q, true);
	if (rc < 0)
		return rc;
	rc = reg_deploy_remove(q->srv->reg, &q->who, q->params[0], &out);
	return rc < 0 ? rc : api_reply_json(q, 200, out);
}

static int deployment_events(api_req *q)
{
	const char *ls = api_query(q, "limit");
	int64_t limit = 100;
	cJSON *out = NULL;
	int rc;
	if ((rc = deploy_scope(q, false)) < 0)
		return rc;
	if (ls && (util_parse_i64(ls, &limit) < 0 || limit < 1 || limit > 10000))
		return mlreg_error_set(MLREG_EINVALID, "invalid limit '%.64s': use 1 to 10000", ls);
	rc = reg_deploy_events(q->srv->reg, q->params[0], limit, &out);
	return rc < 0 ? rc : api_reply_json(q, 200, out);
}

static int rollout_verb(api_req *q)
{
	cJSON *out = NULL;
	int rc = deploy_scope(q, true);
	if (rc < 0)
		return rc;
	rc = reg_rollout_verb(q->srv->reg, &q->who, q->params[0], q->params[1], &out);
	/* accepted: the reconciler acts on it in its next pass */
	return rc < 0 ? rc : api_reply_json(q, 202, out);
}

const api_route api_routes_deploy[] = {
	{"POST", "api/v1/nodes", nodes_add, REG_PERM_ADMIN, API_WORKER, "/api/v1/nodes"},
	{"GET", "api/v1/nodes", nodes_list, REG_PERM_READ, API_INLINE, "/api/v1/nodes"},
	{"DELETE", "api/v1/nodes/{}", nodes_remove, REG_PERM_ADMIN, API_WORKER, "/api/v1/nodes/{name}"},
	{"POST", "api/v1/deployments", deployments_create, REG_PERM_PROMOTE, API_WORKER, "/api/v1/deployments"},
	{"GET", "api/v1/deployments", deployments_list, REG_PERM_READ, API_INLINE, "/api/v1/deployments"},
	{"GET", "api/v1/deployments/{}", deployment_get, REG_PERM_READ, API_INLINE, "/api/v1/deployments/{name}"},
	{"DELETE", "api/v1/deployments/{}", deployment_remove, REG_PERM_PROMOTE, API_WORKER, "/api/v1/deployments/{name}"},
	{"GET", "api/v1/deployments/{}/events", deployment_events, REG_PERM_READ, API_INLINE,
	 "/api/v1/deployments/{name}/events"},
	{"POST", "api/v1/deployments/{}/rollout/{}", rollout_verb, REG_PERM_PROMOTE, API_WORKER,
	 "/api/v1/deployments/{name}/rollout/{verb}"},
	{NULL, NULL, NULL, 0, 0, NULL},
};

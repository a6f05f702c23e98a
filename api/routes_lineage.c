/*
 * routes_lineage.c - the lineage graph and datasets over HTTP.
 *
 * Translation only: the walk and its limits are in registry/lineage.c.
 * The depth and node caps come from the server's flags, so one request
 * cannot make the server walk an unbounded graph; an answer cut by the
 * node cap says so ("truncated":true) instead of pretending to be whole.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/http.h"

/* Lineage and datasets cross models: a model-scoped token gets 403 rather
 * than a graph with holes (docs/security.md). */
static int cross_model(api_req *q)
{
	if (reg_scope_models_limited(&q->who))
		return mlreg_error_set(MLREG_EFORBIDDEN, "forbidden: the token's scope does not cover cross-model routes");
	return 0;
}

static int lineage(api_req *q)
{
	if (cross_model(q) < 0)
		return MLREG_EFORBIDDEN;
	reg_lineage_query lq = {0};
	const char *dir = api_query(q, "direction"), *depth = api_query(q, "depth");
	cJSON *out = NULL;
	int given, rc;
	lq.ref = api_query(q, "ref");
	lq.dataset = api_query(q, "dataset");
	lq.commit = api_query(q, "commit");
	given = (lq.ref != NULL) + (lq.dataset != NULL) + (lq.commit != NULL);
	if (given != 1)
		return mlreg_error_set(MLREG_EINVALID, "lineage needs exactly one of ?ref=, ?dataset= and ?commit=");
	if (dir && strcmp(dir, "up") != 0 && strcmp(dir, "down") != 0)
		return mlreg_error_set(MLREG_EINVALID, "direction must be up or down");
	lq.down = dir ? !strcmp(dir, "down") : lq.ref == NULL;
	if (!lq.down && !lq.ref)
		return mlreg_error_set(MLREG_EINVALID, "datasets and commits have no upstream: use direction=down");
	if (depth && (util_parse_i64(depth, &lq.depth) < 0 || lq.depth < 1))
		return mlreg_error_set(MLREG_EINVALID, "invalid depth '%s': a positive integer", depth);
	lq.max_depth = q->srv->cfg.lineage_max_depth;
	lq.max_nodes = q->srv->cfg.lineage_max_nodes;
	if ((rc = reg_lineage(q->srv->reg, &lq, &out)) < 0)
		return rc;
	return api_reply_json(q, 200, out);
}

static int datasets(api_req *q)
{
	if (cross_model(q) < 0)
		return MLREG_EFORBIDDEN;
	const char *l = api_query(q, "limit"), *t = api_query(q, "page_token");
	int64_t limit = 100, offset = 0;
	cJSON *out = NULL;
	int rc;
	if (l && (util_parse_i64(l, &limit) < 0 || limit < 1 || limit > 1000))
		return mlreg_error_set(MLREG_EINVALID, "invalid limit '%s': use 1 to 1000", l);
	if (t && (util_parse_i64(t, &offset) < 0 || offset < 0))
		return mlreg_error_set(MLREG_EINVALID, "invalid page_token '%s'", t);
	if ((rc = reg_dataset_list(q->srv->reg, api_query(q, "name"), limit, offset, &out)) < 0)
		return rc;
	return api_reply_json(q, 200, out);
}

static int dataset(api_req *q)
{
	if (cross_model(q) < 0)
		return MLREG_EFORBIDDEN;
	cJSON *out = NULL;
	int rc = reg_dataset_get(q->srv->reg, q->params[0], q->srv->cfg.lineage_max_nodes, &out);
	return rc < 0 ? rc : api_reply_json(q, 200, out);
}

const api_route api_routes_lineage[] = {
	{"GET", "api/v1/lineage", lineage, REG_PERM_READ, API_WORKER, "/api/v1/lineage"},
	{"GET", "api/v1/datasets", datasets, REG_PERM_READ, API_INLINE, "/api/v1/datasets"},
	{"GET", "api/v1/datasets/{}", dataset, REG_PERM_READ, API_WORKER, "/api/v1/datasets/{id}"},
	{NULL, NULL, NULL, 0, 0, NULL},
};

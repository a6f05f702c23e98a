/*
 * routes.c - the Open Inference Protocol (KServe v2) endpoints of
 * mlreg-node and its route table: health, server and model metadata,
 * readiness, inference, and /metrics.  The repository endpoints (load,
 * unload, traffic, index) are in repo.c.
 *
 * An inference takes the table lock only to pick a version and take a
 * reference to it, then decodes, checks and predicts without any lock; the
 * reference keeps the model alive even if it is unloaded meanwhile.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include "node/node.h"

/* Repository handlers (repo.c). */
int node_h_load(node_req *q);
int node_h_unload(node_req *q);
int node_h_traffic(node_req *q);
int node_h_index(node_req *q);

static int h_live(node_req *q)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "live", 1);
	return node_reply_json(q, 200, o);
}

/* 200 when ready; 400 otherwise (the protocol's "4xx means false"). */
static int h_ready(node_req *q)
{
	bool ready = node_table_ready(q->srv->table);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "ready", ready);
	if (!ready)
		cJSON_AddStringToObject(o, "error", node_table_is_restoring(q->srv->table)
							    ? "restoring the models it served before the restart"
							    : "a model it serves has no READY version taking traffic");
	return node_reply_json(q, ready ? 200 : 400, o);
}

static int h_server(node_req *q)
{
	cJSON *o = cJSON_CreateObject(), *ext = cJSON_CreateArray();
	cJSON_AddStringToObject(o, "name", "mlreg-node");
	cJSON_AddStringToObject(o, "version", MLREG_VERSION_STRING);
	cJSON_AddItemToArray(ext, cJSON_CreateString("model_repository"));
	cJSON_AddItemToArray(ext, cJSON_CreateString("traffic"));
	cJSON_AddItemToObject(o, "extensions", ext);
	cJSON_AddStringToObject(o, "node", q->srv->cfg.name);
	return node_reply_json(q, 200, o);
}

static int h_model(node_req *q)
{
	const char *version = q->nparams > 1 ? q->params[1] : NULL;
	node_version *v;
	cJSON *o;
	int rc;
	if ((rc = node_table_get(q->srv->table, q->params[0], version, &v)) < 0)
		return rc;
	o = node_oip_metadata(q->params[0], v, version ? NULL : node_table_versions(q->srv->table, q->params[0]));
	node_version_unref(v);
	return node_reply_json(q, 200, o);
}

static int h_model_ready(node_req *q)
{
	const char *version = q->nparams > 1 ? q->params[1] : NULL;
	node_version *v;
	cJSON *o = cJSON_CreateObject();
	int rc = node_table_get(q->srv->table, q->params[0], version, &v);
	cJSON_AddStringToObject(o, "name", q->params[0]);
	if (version)
		cJSON_AddStringToObject(o, "version", version);
	cJSON_AddBoolToObject(o, "ready", rc == 0);
	if (rc == 0)
		node_version_unref(v);
	else
		cJSON_AddStringToObject(o, "error", mlreg_error_last());
	return node_reply_json(q, rc == 0 ? 200 : 400, o);
}

static int h_infer(node_req *q)
{
	node_server *s = q->srv;
	const char *model = q->params[0], *version = q->nparams > 1 ? q->params[1] : NULL, *id;
	node_version *v = NULL, *shadow = NULL;
	node_infer_req in = {0};
	node_output out = {0};
	cJSON *doc = NULL;
	int rc;
	if ((rc = node_oip_decode(q->body.ptr ? q->body.ptr : "", q->body.len, &doc, &id)) < 0)
		return rc;
	if ((rc = node_table_pick(s->table, model, version, id, &v, &shadow)) < 0)
		goto done;
	q->metrics = v->metrics;
	if ((rc = node_oip_tensor(doc, &v->m->spec, s->cfg.max_rows, &in)) < 0)
		goto done;
	if ((rc = node_model_predict(v->m, in.x, in.rows, &out)) < 0) {
		rc = mlreg_error_set(MLREG_ERROR, "prediction failed: %s", mlreg_error_last());
		goto done;
	}
	if ((rc = node_oip_answer(&q->text, model, v->version, id, &v->m->spec, &out)) < 0)
		goto done;
	q->status = 200;
	q->content_type = "application/json";
	if (shadow) { /* the queue takes the reference */
		node_shadow_submit(s->shadow, shadow, in.x, in.rows, in.cols, &out);
		shadow = NULL;
	}
done:
	node_version_unref(shadow);
	node_version_unref(v);
	node_infer_req_release(&in);
	free(out.data);
	cJSON_Delete(doc);
	return rc;
}

static int h_metrics(node_req *q)
{
	int rc = node_metrics_render(q->srv->table, &q->text);
	if (rc < 0)
		return rc;
	q->status = 200;
	q->content_type = "text/plain; version=0.0.4";
	return 0;
}

const node_route node_routes[] = {
	{"GET", "v2/health/live", h_live, false, false},
	{"GET", "v2/health/ready", h_ready, false, false},
	{"GET", "v2", h_server, false, false},
	{"GET", "v2/models/{}", h_model, false, false},
	{"GET", "v2/models/{}/ready", h_model_ready, false, false},
	{"GET", "v2/models/{}/versions/{}", h_model, false, false},
	{"GET", "v2/models/{}/versions/{}/ready", h_model_ready, false, false},
	{"POST", "v2/models/{}/infer", h_infer, false, false},
	{"POST", "v2/models/{}/versions/{}/infer", h_infer, false, false},
	{"POST", "v2/repository/index", node_h_index, false, true},
	{"POST", "v2/repository/models/{}/load", node_h_load, true, true},
	{"POST", "v2/repository/models/{}/unload", node_h_unload, true, true},
	{"POST", "v2/repository/models/{}/traffic", node_h_traffic, true, true},
	{"GET", "metrics", h_metrics, false, false},
	{NULL, NULL, NULL, false, false},
};

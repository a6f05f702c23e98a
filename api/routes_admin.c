/*
 * routes_admin.c - health, Prometheus metrics, tokens, audit, gc and fsck.
 *
 * /healthz, /readyz and /metrics are the only unauthenticated routes; the
 * rest need the role the matrix in docs/security.md gives them.  gc, fsck
 * and audit verification scan everything, so they run on workers.
 */
#include <stdlib.h>
#include <string.h>
#include "api/http.h"
#include "util/json.h"

static int healthz(api_req *q)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "status", "ok");
	return api_reply_json(q, 200, o);
}

static int readyz(api_req *q)
{
	cJSON *o = cJSON_CreateObject();
	int64_t n = 0, b = 0;
	if (reg_meta_of(q->srv->reg)->ops->blob_stats(reg_meta_of(q->srv->reg), &n, &b) < 0) {
		cJSON_AddStringToObject(o, "status", "database unavailable");
		return api_reply_json(q, 503, o);
	}
	cJSON_AddStringToObject(o, "status", "ready");
	return api_reply_json(q, 200, o);
}

static int metrics(api_req *q)
{
	util_buf b;
	size_t n;
	char *text;
	util_buf_init(&b, 1 << 24);
	api_metrics_render(q->srv, &b);
	n = b.len;
	text = util_buf_detach(&b);
	q->resp = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
	api_add_header(q->resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4");
	q->status = 200;
	q->bytes_out += n;
	return 0;
}

static int whoami(api_req *q)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "principal", q->who.principal);
	cJSON_AddStringToObject(o, "role", reg_role_name(q->who.role));
	cJSON_AddStringToObject(o, "token_name", q->who.token_name);
	/* the token's scope: null when unrestricted */
	if (q->who.models[0])
		cJSON_AddStringToObject(o, "models", q->who.models);
	else
		cJSON_AddNullToObject(o, "models");
	if (q->who.stages[0])
		cJSON_AddStringToObject(o, "stages", q->who.stages);
	else
		cJSON_AddNullToObject(o, "stages");
	return api_reply_json(q, 200, o);
}

static int tokens_create(api_req *q)
{
	cJSON *body = NULL, *out = NULL;
	int rc;
	/* a scoped token could otherwise mint one without its limits */
	if (reg_scope_models_limited(&q->who) || reg_scope_stages_limited(&q->who))
		return mlreg_error_set(MLREG_EFORBIDDEN, "forbidden: a scoped token cannot create tokens");
	if ((rc = api_body_json(q, &body)) < 0)
		return rc;
	rc = reg_token_create_body(q->srv->reg, &q->who, body, &out);
	cJSON_Delete(body);
	return rc < 0 ? rc : api_reply_json(q, 201, out);
}

static int tokens_list(api_req *q)
{
	cJSON *out = NULL;
	int rc = reg_token_list(q->srv->reg, &out);
	return rc < 0 ? rc : api_reply_json(q, 200, out);
}

static int tokens_revoke(api_req *q)
{
	cJSON *out = NULL;
	int rc = reg_token_revoke(q->srv->reg, &q->who, q->params[0], &out);
	return rc < 0 ? rc : api_reply_json(q, 200, out);
}

static int audit_list(api_req *q)
{
	reg_audit_query aq = {0};
	const char *since = api_query(q, "since"), *limit = api_query(q, "limit"), *after = api_query(q, "after_seq");
	cJSON *out = NULL;
	int rc;
	if (after && (util_parse_i64(after, &aq.after_seq) < 0 || aq.after_seq < 0))
		return mlreg_error_set(MLREG_EINVALID, "invalid after_seq '%s'", after);
	aq.oldest_first = after != NULL;
	aq.model = api_query(q, "model");
	aq.action = api_query(q, "action");
	aq.actor = api_query(q, "actor");
	aq.limit = 100;
	if (since && (rc = util_time_parse(since, &aq.since_ms)) < 0)
		return rc;
	if (limit && (util_parse_i64(limit, &aq.limit) < 0 || aq.limit < 1 || aq.limit > 10000))
		return mlreg_error_set(MLREG_EINVALID, "invalid limit '%s': use 1 to 10000", limit);
	rc = reg_audit_list(q->srv->reg, &aq, &out);
	if (rc < 0)
		return rc;
	/* a model-scoped token sees the entries of its models only */
	api_scope_filter(q, out, "entries", "model");
	return api_reply_json(q, 200, out);
}

static int audit_verify(api_req *q)
{
	cJSON *out = NULL;
	int rc = reg_audit_verify(q->srv->reg, &out);
	return rc < 0 ? rc : api_reply_json(q, 200, out);
}

static int gc(api_req *q)
{
	const char *dry = api_query(q, "dry_run");
	cJSON *out = NULL;
	int rc = reg_gc(q->srv->reg, &q->who, dry && (!strcmp(dry, "true") || !strcmp(dry, "1")), &out);
	return rc < 0 ? rc : api_reply_json(q, 200, out);
}

static int fsck(api_req *q)
{
	cJSON *out = NULL;
	int rc = reg_fsck(q->srv->reg, &out);
	return rc < 0 ? rc : api_reply_json(q, 200, out);
}

const api_route api_routes_admin[] = {
	{"GET", "healthz", healthz, API_AUTH_NONE, API_INLINE, "/healthz"},
	{"GET", "readyz", readyz, API_AUTH_NONE, API_INLINE, "/readyz"},
	{"GET", "metrics", metrics, API_AUTH_NONE, API_INLINE, "/metrics"},
	{"GET", "api/v1/whoami", whoami, API_AUTH_ANY, API_INLINE, "/api/v1/whoami"},
	{"POST", "api/v1/tokens", tokens_create, REG_PERM_ADMIN, API_WORKER, "/api/v1/tokens"},
	{"GET", "api/v1/tokens", tokens_list, REG_PERM_ADMIN, API_INLINE, "/api/v1/tokens"},
	{"DELETE", "api/v1/tokens/{}", tokens_revoke, REG_PERM_ADMIN, API_WORKER, "/api/v1/tokens/{name}"},
	{"GET", "api/v1/audit", audit_list, REG_PERM_READ, API_INLINE, "/api/v1/audit"},
	{"GET", "api/v1/audit/verify", audit_verify, REG_PERM_READ, API_WORKER, "/api/v1/audit/verify"},
	{"POST", "api/v1/gc", gc, REG_PERM_ADMIN, API_WORKER, "/api/v1/gc"},
	{"POST", "api/v1/fsck", fsck, REG_PERM_ADMIN, API_WORKER, "/api/v1/fsck"},
	{NULL, NULL, NULL, 0, 0, NULL},
};

/*
 * routes_models.c - models, versions, search and diff over HTTP.
 *
 * Handlers here only translate: path segments and query arguments in,
 * registry calls, JSON out.  All validation of names, refs and bodies is
 * in registry/ so the CLI, the API and later callers share one set of
 * rules.  Reads run on the HTTP thread; writes are marked API_WORKER.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/http.h"
#include "util/json.h"

static int page_args(api_req *q, int64_t *limit, int64_t *offset)
{
	const char *l = api_query(q, "limit"), *t = api_query(q, "page_token");
	*limit = 100;
	*offset = 0;
	if (l && (util_parse_i64(l, limit) < 0 || *limit < 1 || *limit > 1000))
		return mlreg_error_set(MLREG_EINVALID, "invalid limit '%s': use 1 to 1000", l);
	if (t && (util_parse_i64(t, offset) < 0 || *offset < 0))
		return mlreg_error_set(MLREG_EINVALID, "invalid page_token '%s'", t);
	return 0;
}

/* ?tag=k=v (repeatable) as an object */
static int tag_args(api_req *q, cJSON **out)
{
	cJSON *all = api_query_all(q, "tag"), *o = cJSON_CreateObject();
	for (cJSON *t = all->child; t; t = t->next) {
		char *eq = strchr(t->valuestring, '=');
		if (!eq || eq == t->valuestring) {
			cJSON_Delete(all);
			cJSON_Delete(o);
			return mlreg_error_set(MLREG_EINVALID, "invalid tag filter '%s': use tag=KEY=VALUE", t->valuestring);
		}
		*eq = '\0';
		if (!util_key_valid(t->valuestring)) {
			cJSON_Delete(all);
			cJSON_Delete(o);
			return mlreg_error_set(MLREG_EINVALID, "invalid tag key '%s'", t->valuestring);
		}
		cJSON_AddStringToObject(o, t->valuestring, eq + 1);
	}
	cJSON_Delete(all);
	*out = o;
	return 0;
}

static int models_list(api_req *q)
{
	int64_t limit, offset;
	cJSON *tags = NULL, *out = NULL;
	int rc;
	if ((rc = page_args(q, &limit, &offset)) < 0 || (rc = tag_args(q, &tags)) < 0)
		return rc;
	rc = reg_model_list(q->srv->reg, api_query(q, "prefix"), tags, limit, offset, &out);
	cJSON_Delete(tags);
	if (rc < 0)
		return rc;
	api_scope_filter(q, out, "models", "name");
	return api_reply_json(q, 200, out);
}

static int models_create(api_req *q)
{
	cJSON *body = NULL, *out = NULL;
	int rc;
	if ((rc = api_body_json(q, &body)) < 0)
		return rc;
	if ((rc = api_scope(q, cJSON_IsString(cJSON_GetObjectItemCaseSensitive(body, "name"))
				      ? util_json_str(body, "name") : "", NULL)) < 0) {
		cJSON_Delete(body);
		return rc;
	}
	rc = reg_model_create(q->srv->reg, &q->who, body, &out);
	cJSON_Delete(body);
	return rc < 0 ? rc : api_reply_json(q, 201, out);
}

static int model_get(api_req *q)
{
	cJSON *out = NULL;
	int rc = reg_model_get(q->srv->reg, q->params[0], &out);
	return rc < 0 ? rc : api_reply_json(q, 200, out);
}

static int model_tags(api_req *q)
{
	cJSON *body = NULL, *out = NULL;
	int rc;
	if ((rc = api_body_json(q, &body)) < 0)
		return rc;
	rc = reg_model_tag(q->srv->reg, &q->who, q->params[0], body, &out);
	cJSON_Delete(body);
	return rc < 0 ? rc : api_reply_json(q, 200, out);
}

static int versions_create(api_req *q)
{
	cJSON *body = NULL, *out = NULL, *missing = NULL;
	int status = 201, rc;
	if ((rc = api_body_json(q, &body)) < 0)
		return rc;
	rc = reg_version_create(q->srv->reg, &q->who, q->params[0], body, api_header(q, "Idempotency-Key"), &status, &out,
				&missing);
	cJSON_Delete(body);
	if (rc < 0) {
		if (missing) {
			q->err_extra = cJSON_CreateObject();
			cJSON_AddItemToObject(q->err_extra, "missing", missing);
		}
		return rc;
	}
	return api_reply_json(q, status, out);
}

static int search_common(api_req *q, const char *model)
{
	reg_search_query sq = {0};
	cJSON *out = NULL;
	const char *desc = api_query(q, "desc");
	int rc;
	if ((rc = page_args(q, &sq.limit, &sq.offset)) < 0)
		return rc;
	if ((rc = tag_args(q, &sq.tags)) < 0)
		return rc;
	sq.model = model ? model : api_query(q, "model");
	sq.prefix = api_query(q, "prefix");
	sq.status = api_query(q, "status");
	sq.order_by = api_query(q, "order_by");
	sq.desc = desc && (!strcmp(desc, "true") || !strcmp(desc, "1"));
	sq.filters = api_query_all(q, "filter");
	rc = reg_version_search(q->srv->reg, &sq, &out);
	cJSON_Delete(sq.tags);
	cJSON_Delete(sq.filters);
	if (rc < 0)
		return rc;
	api_scope_filter(q, out, "versions", "model");
	if (model && cJSON_GetArraySize(cJSON_GetObjectItem(out, "versions")) == 0) {
		/* an empty list for an unknown model would hide a typo */
		cJSON *m = NULL;
		if ((rc = reg_model_get(q->srv->reg, model, &m)) < 0) {
			cJSON_Delete(out);
			return rc;
		}
		cJSON_Delete(m);
	}
	return api_reply_json(q, 200, out);
}

static int versions_list(api_req *q) { return search_common(q, q->params[0]); }
static int versions_search(api_req *q) { return search_common(q, NULL); }

static int version_get(api_req *q)
{
	util_ref ref;
	cJSON *out = NULL;
	int rc;
	if ((rc = reg_ref_segment_parse(q->params[1], &ref, q->params[0])) < 0 ||
	    (rc = reg_version_get_ref(q->srv->reg, &ref, true, &out)) < 0)
		return rc;
	/* "signed": a valid signature by a trusted key (a few Ed25519 checks) */
	{
		int64_t number = 0;
		bool is_signed = false;
		if (util_json_i64(out, "version", &number) == 0 &&
		    reg_version_signed(q->srv->reg, q->params[0], number, &is_signed) == 0)
			cJSON_AddBoolToObject(out, "signed", is_signed);
		mlreg_error_clear();
	}
	return api_reply_json(q, 200, out);
}

static int version_manifest(api_req *q)
{
	int64_t v;
	char *data = NULL, digest[UTIL_DIGEST_LEN + 1], etag[UTIL_DIGEST_LEN + 3];
	size_t len;
	int rc;
	if ((rc = api_resolve_param(q, 1, &v)) < 0 ||
	    (rc = reg_version_manifest(q->srv->reg, q->params[0], v, &data, &len, digest)) < 0)
		return rc;
	q->resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
	snprintf(etag, sizeof(etag), "\"%s\"", digest);
	api_add_header(q->resp, MHD_HTTP_HEADER_ETAG, etag);
	api_add_header(q->resp, "Docker-Content-Digest", digest);
	api_add_header(q->resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/vnd.mlreg.manifest.v1+json");
	q->status = 200;
	q->bytes_out += len;
	return 0;
}

static ssize_t archive_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	reg_archive *a = cls;
	int64_t n = reg_archive_read(a, buf, max);
	if (n < 0) {
		LOG_WARN("archive stream aborted: %s", mlreg_error_last());
		return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : (ssize_t)n;
}

static void archive_done(void *cls) { reg_archive_free(cls); }

static int version_archive(api_req *q)
{
	int64_t v;
	reg_archive *a = NULL;
	char disp[UTIL_NAME_MAX + 64], name[UTIL_NAME_MAX + 1];
	int rc;
	if ((rc = api_resolve_param(q, 1, &v)) < 0 || (rc = reg_archive_open(q->srv->reg, q->params[0], v, &a)) < 0)
		return rc;
	q->resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, archive_reader, a, archive_done);
	if (!q->resp) {
		reg_archive_free(a);
		return mlreg_error_set(MLREG_ENOMEM, "cannot create response");
	}
	snprintf(name, sizeof(name), "%s", q->params[0]);
	for (char *p = name; *p; p++)
		if (*p == '/')
			*p = '_';
	snprintf(disp, sizeof(disp), "attachment; filename=\"%s-%lld.tar\"", name, (long long)v);
	api_add_header(q->resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-tar");
	api_add_header(q->resp, "Content-Disposition", disp);
	q->status = 200;
	return 0;
}

static int version_metrics(api_req *q)
{
	int64_t v;
	cJSON *body = NULL, *out = NULL;
	int rc;
	if ((rc = api_version_param(q, 1, &v)) < 0 || (rc = api_body_json(q, &body)) < 0)
		return rc;
	rc = reg_version_log_metrics(q->srv->reg, &q->who, q->params[0], v, body, &out);
	cJSON_Delete(body);
	return rc < 0 ? rc : api_reply_json(q, 200, out);
}

static int version_tags(api_req *q)
{
	int64_t v;
	cJSON *body = NULL, *out = NULL;
	int rc;
	if ((rc = api_version_param(q, 1, &v)) < 0 || (rc = api_body_json(q, &body)) < 0)
		return rc;
	rc = reg_version_tag(q->srv->reg, &q->who, q->params[0], v, body, &out);
	cJSON_Delete(body);
	return rc < 0 ? rc : api_reply_json(q, 200, out);
}

static int version_deprecate(api_req *q)
{
	int64_t v;
	cJSON *out = NULL;
	int rc;
	if ((rc = api_version_param(q, 1, &v)) < 0 || (rc = reg_version_deprecate(q->srv->reg, &q->who, q->params[0], v, &out)) < 0)
		return rc;
	return api_reply_json(q, 200, out);
}

static int version_delete(api_req *q)
{
	int64_t v;
	cJSON *out = NULL;
	int rc;
	if ((rc = api_version_param(q, 1, &v)) < 0 || (rc = reg_version_delete(q->srv->reg, &q->who, q->params[0], v, &out)) < 0)
		return rc;
	return api_reply_json(q, 200, out);
}

static int diff(api_req *q)
{
	const char *from = api_query(q, "from"), *to = api_query(q, "to");
	util_ref a, b;
	cJSON *out = NULL;
	int rc;
	if (!from || !to)
		return mlreg_error_set(MLREG_EINVALID, "diff needs ?from=REF&to=REF");
	if ((rc = util_ref_parse(from, &a)) < 0 || (rc = util_ref_parse(to, &b)) < 0 ||
	    (rc = api_scope(q, a.model, NULL)) < 0 || (rc = api_scope(q, b.model, NULL)) < 0 ||
	    (rc = reg_diff(q->srv->reg, &a, &b, &out)) < 0)
		return rc;
	return api_reply_json(q, 200, out);
}

const api_route api_routes_models[] = {
	{"GET", "api/v1/models", models_list, REG_PERM_READ, API_INLINE, "/api/v1/models"},
	{"POST", "api/v1/models", models_create, REG_PERM_WRITE, API_WORKER, "/api/v1/models"},
	{"GET", "api/v1/models/{}", model_get, REG_PERM_READ, API_INLINE, "/api/v1/models/{name}"},
	{"PATCH", "api/v1/models/{}/tags", model_tags, REG_PERM_WRITE, API_WORKER, "/api/v1/models/{name}/tags"},
	{"POST", "api/v1/models/{}/versions", versions_create, REG_PERM_WRITE, API_WORKER, "/api/v1/models/{name}/versions"},
	{"GET", "api/v1/models/{}/versions", versions_list, REG_PERM_READ, API_INLINE, "/api/v1/models/{name}/versions"},
	{"GET", "api/v1/models/{}/versions/{}", version_get, REG_PERM_PULL, API_INLINE, "/api/v1/models/{name}/versions/{ref}"},
	{"DELETE", "api/v1/models/{}/versions/{}", version_delete, REG_PERM_DELETE, API_WORKER, "/api/v1/models/{name}/versions/{ref}"},
	{"GET", "api/v1/models/{}/versions/{}/manifest", version_manifest, REG_PERM_PULL, API_INLINE, "/api/v1/models/{name}/versions/{ref}/manifest"},
	{"GET", "api/v1/models/{}/versions/{}/archive", version_archive, REG_PERM_PULL, API_INLINE, "/api/v1/models/{name}/versions/{ref}/archive"},
	{"POST", "api/v1/models/{}/versions/{}/metrics", version_metrics, REG_PERM_WRITE, API_WORKER, "/api/v1/models/{name}/versions/{ref}/metrics"},
	{"PATCH", "api/v1/models/{}/versions/{}/tags", version_tags, REG_PERM_WRITE, API_WORKER, "/api/v1/models/{name}/versions/{ref}/tags"},
	{"POST", "api/v1/models/{}/versions/{}/deprecate", version_deprecate, REG_PERM_WRITE, API_WORKER, "/api/v1/models/{name}/versions/{ref}/deprecate"},
	{"GET", "api/v1/versions", versions_search, REG_PERM_READ, API_INLINE, "/api/v1/versions"},
	{"GET", "api/v1/diff", diff, REG_PERM_READ, API_INLINE, "/api/v1/diff"},
	{NULL, NULL, NULL, 0, 0, NULL},
};

/*
 * routes_bundles.c - POST /api/v1/import, the registry end of
 * `mlreg import` (docs/bundles.md).
 *
 * Translation only: the body is the bundle's index; registry/bundle_import.c
 * checks it again and creates every version in one transaction.  The route
 * is admin-only because an import writes what a push cannot: version
 * numbers, authors and times chosen by the source registry, lineage and
 * signatures.  A token scoped to some models may import versions of those
 * models only.  It runs on a worker (database write, blob reads).
 */
#include "api/http.h"

static int import_bundle(api_req *q)
{
	cJSON *body = NULL, *out = NULL;
	int rc;
	if ((rc = api_body_json(q, &body)) < 0)
		return rc;
	/* the models are in the body, not the path: a model-scoped token may
	 * import only versions of models in its scope (403 for the bundle) */
	rc = 0;
	for (const cJSON *v = cJSON_IsObject(body) && cJSON_IsArray(cJSON_GetObjectItem(body, "versions"))
				      ? cJSON_GetObjectItem(body, "versions")->child
				      : NULL;
	     v && rc == 0; v = v->next) {
		const cJSON *m = cJSON_GetObjectItem(v, "model");
		rc = api_scope(q, cJSON_IsString(m) ? m->valuestring : "", NULL);
	}
	if (rc == 0)
		rc = reg_bundle_import(q->srv->reg, &q->who, body, &out);
	cJSON_Delete(body);
	if (rc < 0)
		return rc;
	return api_reply_json(q, cJSON_GetArraySize(cJSON_GetObjectItem(out, "imported")) > 0 ? 201 : 200, out);
}

const api_route api_routes_bundles[] = {
	{"POST", "api/v1/import", import_bundle, REG_PERM_ADMIN, API_WORKER, "/api/v1/import"},
	{NULL, NULL, NULL, 0, 0, NULL},
};

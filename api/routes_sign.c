/*
 * routes_sign.c - trusted signing keys and version signatures over HTTP
 * (docs/api.md "Signing").
 *
 * Only translation between HTTP and registry/sign.c, which holds every
 * rule: bodies go to the *_body registry calls (the same calls the fuzz
 * target drives), so what the network can send is exactly what is fuzzed.
 * Keys are an admin matter; signing needs REG_PERM_WRITE (writer, admin):
 * a signature is an attestation by whoever holds the private key, and the
 * registry's trust decision is the key list, not who uploaded the bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/http.h"

static int keys_get(api_req *q)
{
	cJSON *out = NULL;
	int rc = reg_key_list(q->srv->reg, &out);
	return rc < 0 ? rc : api_reply_json(q, 200, out);
}

static int keys_post(api_req *q)
{
	cJSON *body = NULL, *out = NULL;
	int rc;
	if ((rc = api_body_json(q, &body)) < 0)
		return rc;
	rc = reg_key_add_body(q->srv->reg, &q->who, body, &out);
	cJSON_Delete(body);
	return rc < 0 ? rc : api_reply_json(q, 201, out);
}

static int key_delete(api_req *q)
{
	cJSON *out = NULL;
	int rc = reg_key_remove(q->srv->reg, &q->who, q->params[0], &out);
	return rc < 0 ? rc : api_reply_json(q, 200, out);
}

static int signatures_post(api_req *q)
{
	cJSON *body = NULL, *out = NULL;
	int rc;
	if ((rc = api_body_json(q, &body)) < 0)
		return rc;
	rc = reg_signature_add_body(q->srv->reg, &q->who, q->params[0], q->params[1], body, &out);
	cJSON_Delete(body);
	if (rc < 0)
		return rc;
	return api_reply_json(q, cJSON_IsTrue(cJSON_GetObjectItem(out, "created")) ? 201 : 200, out);
}

static int signatures_get(api_req *q)
{
	cJSON *out = NULL;
	int rc = reg_signatures_get(q->srv->reg, q->params[0], q->params[1], &out);
	return rc < 0 ? rc : api_reply_json(q, 200, out);
}

const api_route api_routes_sign[] = {
	{"GET", "api/v1/keys", keys_get, REG_PERM_READ, API_INLINE, "/api/v1/keys"},
	{"POST", "api/v1/keys", keys_post, REG_PERM_ADMIN, API_WORKER, "/api/v1/keys"},
	{"DELETE", "api/v1/keys/{}", key_delete, REG_PERM_ADMIN, API_WORKER, "/api/v1/keys/{name}"},
	{"POST", "api/v1/models/{}/versions/{}/signatures", signatures_post, REG_PERM_WRITE, API_WORKER,
	 "/api/v1/models/{name}/versions/{ref}/signatures"},
	/* re-verifies every signature (~50 µs each): a worker, not the HTTP thread */
	{"GET", "api/v1/models/{}/versions/{}/signatures", signatures_get, REG_PERM_READ, API_WORKER,
	 "/api/v1/models/{name}/versions/{ref}/signatures"},
	{NULL, NULL, NULL, 0, 0, NULL},
};

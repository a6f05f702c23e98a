/*
 * driver_mlreg.c - the "mlreg" driver: how the controller's calls map onto
 * mlreg-node's repository endpoints (docs/node.md), and how its index
 * answer becomes the normalised list the reconciler reads.
 *
 * A driver only builds requests and reads answers; the transfers
 * themselves are ctl_calls_run's (calls.c), so every driver gets the same
 * timeouts, parallelism and size limits.  The served name goes into the
 * path as one percent-encoded segment (anything but RFC 3986 unreserved
 * characters is encoded, '/' included), so no name can reach another
 * route; "." and ".." are refused outright since a client or proxy may
 * collapse them.  The index is checked strictly: a node that answers
 * something we cannot read fails the call rather than being taken to serve
 * nothing, which would make the reconciler reload a healthy node.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "controller/ctl.h"
#include "util/json.h"

static bool unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
	       c == '_' || c == '~';
}

/* "/v2/repository/models/<served>/<verb>" into a heap string. */
static int model_path(const char *served, const char *verb, char **out)
{
	static const char hex[] = "0123456789ABCDEF";
	util_buf b;
	int rc;
	if (!served || !*served || !strcmp(served, ".") || !strcmp(served, ".."))
		return mlreg_error_set(MLREG_EINVALID, "invalid served name '%s'", served ? served : "");
	if (strlen(served) > UTIL_NAME_MAX)
		return mlreg_error_set(MLREG_EINVALID, "served name longer than %d bytes", UTIL_NAME_MAX);
	util_buf_init(&b, 4096);
	rc = util_buf_puts(&b, "/v2/repository/models/");
	for (const unsigned char *p = (const unsigned char *)served; *p && rc == 0; p++) {
		char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
		rc = unreserved(*p) ? util_buf_put(&b, p, 1) : util_buf_put(&b, e, 3);
	}
	if (rc == 0)
		rc = util_buf_printf(&b, "/%s", verb);
	if (rc < 0) {
		util_buf_release(&b);
		return rc;
	}
	*out = util_buf_detach(&b);
	return 0;
}

static int body_of(cJSON *o, char **out)
{
	char *s = o ? util_json_print(o) : NULL;
	cJSON_Delete(o);
	if (!s)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	*out = s;
	return 0;
}

static int load_body(const ctl_call *c, char **out)
{
	cJSON *o, *p;
	char v[32];
	if (c->version <= 0)
		return mlreg_error_set(MLREG_EINVALID, "cannot load version %lld: versions start at 1",
				       (long long)c->version);
	if (!c->digest || !util_digest_valid(c->digest))
		return mlreg_error_set(MLREG_EINVALID, "cannot load version %lld: invalid digest '%s'",
				       (long long)c->version, c->digest ? c->digest : "");
	if (c->model && !util_model_name_valid(c->model))
		return mlreg_error_set(MLREG_EINVALID, "cannot load version %lld: invalid model name '%s'",
				       (long long)c->version, c->model);
	snprintf(v, sizeof(v), "%lld", (long long)c->version);
	o = cJSON_CreateObject();
	p = o ? cJSON_AddObjectToObject(o, "parameters") : NULL;
	if (!p || !cJSON_AddStringToObject(p, "version", v) || !cJSON_AddStringToObject(p, "digest", c->digest) ||
	    (c->model && !cJSON_AddStringToObject(p, "model", c->model))) {
		cJSON_Delete(o);
		o = NULL;
	}
	/* the version's signatures: a node with --trust-key loads only what
	 * one of its keys signed (docs/node.md) */
	if (o && cJSON_GetArraySize(c->signatures) > 0) {
		cJSON *sigs = cJSON_Duplicate(c->signatures, true);
		if (!sigs || !cJSON_AddItemToObject(p, "signatures", sigs)) {
			cJSON_Delete(sigs);
			cJSON_Delete(o);
			o = NULL;
		}
	}
	return body_of(o, out);
}

static int traffic_body(const ctl_call *c, char **out)
{
	cJSON *o, *w;
	if (!cJSON_IsObject(c->weights))
		return mlreg_error_set(MLREG_EINVALID, "traffic needs weights as a JSON object");
	o = cJSON_CreateObject();
	w = cJSON_Duplicate(c->weights, true);
	if (!o || !w || !cJSON_AddItemToObject(o, "weights", w)) {
		cJSON_Delete(w);
		cJSON_Delete(o);
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	if (!(c->shadow ? cJSON_AddStringToObject(o, "shadow", c->shadow) : cJSON_AddNullToObject(o, "shadow"))) {
		cJSON_Delete(o);
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	return body_of(o, out);
}

static int unload_body(const ctl_call *c, char **out)
{
	cJSON *o, *p;
	char v[32];
	if (c->version < 0)
		return mlreg_error_set(MLREG_EINVALID, "cannot unload version %lld", (long long)c->version);
	o = cJSON_CreateObject();
	if (o && c->version > 0) {
		snprintf(v, sizeof(v), "%lld", (long long)c->version);
		if (!(p = cJSON_AddObjectToObject(o, "parameters")) || !cJSON_AddStringToObject(p, "version", v)) {
			cJSON_Delete(o);
			o = NULL;
		}
	}
	return body_of(o, out);
}

static int mlreg_request(const ctl_call *c, const char **method, char **path, char **body)
{
	char *p = NULL, *b = NULL;
	int rc = 0;
	const char *m = "POST";
	switch (c->kind) {
	case CTL_CALL_INDEX:
		if (!(p = strdup("/v2/repository/index")) || !(b = strdup("{}")))
			rc = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		break;
	case CTL_CALL_LOAD:
		if ((rc = model_path(c->served, "load", &p)) == 0)
			rc = load_body(c, &b);
		break;
	case CTL_CALL_TRAFFIC:
		if ((rc = model_path(c->served, "traffic", &p)) == 0)
			rc = traffic_body(c, &b);
		break;
	case CTL_CALL_UNLOAD:
		if ((rc = model_path(c->served, "unload", &p)) == 0)
			rc = unload_body(c, &b);
		break;
	case CTL_CALL_METRICS:
		m = "GET";
		if (!(p = strdup("/metrics")))
			rc = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		break;
	default:
		rc = mlreg_error_set(MLREG_EINVALID, "the mlreg driver has no call of kind %d", (int)c->kind);
	}
	if (rc < 0) {
		free(p);
		free(b);
		return rc;
	}
	*method = m;
	*path = p;
	*body = b;
	return 0;
}

static int bad_entry(int i, const char *what)
{
	return mlreg_error_set(MLREG_EINVALID, "invalid index answer: entry %d %s", i + 1, what);
}

static int mlreg_index(ctl_call *c)
{
	cJSON *out, *e;
	int i = 0, rc = 0;
	if (!cJSON_IsArray(c->json))
		return mlreg_error_set(MLREG_EINVALID, "invalid index answer: not a JSON array");
	if (!(out = cJSON_CreateArray()))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	cJSON_ArrayForEach(e, c->json)
	{
		const char *name = util_json_str(e, "name"), *ver = util_json_str(e, "version"),
			   *state = util_json_str(e, "state"), *digest = util_json_str(e, "digest"),
			   *reason = util_json_str(e, "reason"), *source = util_json_str(e, "source");
		const cJSON *shadow = cJSON_GetObjectItemCaseSensitive(e, "shadow");
		int64_t version, weight;
		char canon[32];
		cJSON *o;
		if (!cJSON_IsObject(e) || !name || !*name || !state || !*state) {
			rc = bad_entry(i, "lacks a name or a state");
			break;
		}
		/* versions are the registry's numbers, written canonically, and
		 * within 2^53: the normalised list holds them as JSON numbers,
		 * which past that would name a neighbouring version */
		if (!ver || util_parse_i64(ver, &version) < 0 || version <= 0 || version > ((int64_t)1 << 53) ||
		    (snprintf(canon, sizeof(canon), "%lld", (long long)version), strcmp(canon, ver) != 0)) {
			rc = bad_entry(i, "has no version number");
			break;
		}
		if (util_json_i64(e, "weight", &weight) < 0 || weight < 0 || weight > 100) {
			rc = bad_entry(i, "has no weight from 0 to 100");
			break;
		}
		if (shadow && !cJSON_IsBool(shadow)) {
			rc = bad_entry(i, "has a shadow that is not true or false");
			break;
		}
		if (!(o = cJSON_CreateObject()) || !cJSON_AddItemToArray(out, o)) {
			cJSON_Delete(o);
			rc = mlreg_error_set(MLREG_ENOMEM, "out of memory");
			break;
		}
		/* o belongs to out from here */
		if (!cJSON_AddStringToObject(o, "name", name) || !cJSON_AddNumberToObject(o, "version", (double)version) ||
		    !cJSON_AddStringToObject(o, "state", state) || !cJSON_AddNumberToObject(o, "weight", (double)weight) ||
		    !(digest ? cJSON_AddStringToObject(o, "digest", digest) : cJSON_AddNullToObject(o, "digest")) ||
		    !cJSON_AddBoolToObject(o, "shadow", cJSON_IsTrue(shadow)) ||
		    !(source ? cJSON_AddStringToObject(o, "model", source) : cJSON_AddNullToObject(o, "model")) ||
		    (reason && *reason && !cJSON_AddStringToObject(o, "reason", reason))) {
			rc = mlreg_error_set(MLREG_ENOMEM, "out of memory");
			break;
		}
		i++;
	}
	if (rc < 0) {
		cJSON_Delete(out);
		return rc;
	}
	cJSON_Delete(c->json);
	c->json = out;
	return 0;
}

const ctl_driver ctl_driver_mlreg = {"mlreg", mlreg_request, mlreg_index};

/*
 * oip.c - the Open Inference Protocol (KServe v2) codec of mlreg-node: an
 * infer request in, checked against the model's declared input; the answer
 * and the model metadata out.
 *
 * Requests come from anyone who can reach the node, so everything is
 * checked before a number reaches the runtime: the input's name and
 * datatype must be the declared ones, the shape must have the declared rank
 * and match every fixed dimension, its element count must equal the data's
 * (nested or flat, as the protocol allows), integers must be integral and
 * in range, and the batch may not pass --max-rows.  JSON is parsed by cJSON
 * (bounded depth, no trailing bytes); answers are written straight into a
 * buffer, since an answer is mostly numbers and building a cJSON node per
 * number would cost more than the prediction.
 */
#define _GNU_SOURCE
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "node/node.h"
#include "util/json.h"

#define DATA_MAX_DEPTH 16

typedef struct {
	node_dtype dt;
	float *x;
	size_t n, cap;
} sink;

static int put_value(sink *s, const cJSON *v)
{
	float f;
	if (s->n == s->cap)
		return mlreg_error_set(MLREG_EINVALID, "input 'data' holds more values than its shape says");
	switch (s->dt) {
	case NODE_DT_FP32:
	case NODE_DT_FP64:
		if (cJSON_IsNull(v)) {
			f = NAN; /* a missing value, as XGBoost understands it */
			break;
		}
		if (!cJSON_IsNumber(v))
			return mlreg_error_set(MLREG_EINVALID, "input 'data' must hold numbers (or null for missing)");
		if (s->dt == NODE_DT_FP32 && fabs(v->valuedouble) > FLT_MAX)
			return mlreg_error_set(MLREG_EINVALID, "input value %g is out of FP32 range", v->valuedouble);
		f = (float)v->valuedouble;
		break;
	case NODE_DT_INT32:
	case NODE_DT_INT64:
		if (!util_json_is_int(v) ||
		    (s->dt == NODE_DT_INT32 && (v->valuedouble < -2147483648.0 || v->valuedouble > 2147483647.0)))
			return mlreg_error_set(MLREG_EINVALID, "input 'data' must hold %s integers",
					       s->dt == NODE_DT_INT32 ? "INT32" : "INT64");
		f = (float)v->valuedouble;
		break;
	case NODE_DT_BOOL:
		if (!cJSON_IsBool(v))
			return mlreg_error_set(MLREG_EINVALID, "input 'data' must hold true or false");
		f = cJSON_IsTrue(v) ? 1.0f : 0.0f;
		break;
	default:
		return mlreg_error_set(MLREG_EINVALID, "unsupported input datatype");
	}
	s->x[s->n++] = f;
	return 0;
}

/* Flatten data (row-major, nested arrays allowed) into the sink. */
static int flatten(sink *s, const cJSON *a, int depth)
{
	if (depth > DATA_MAX_DEPTH)
		return mlreg_error_set(MLREG_EINVALID, "input 'data' is nested too deeply");
	for (const cJSON *v = a->child; v; v = v->next) {
		int rc = cJSON_IsArray(v) ? flatten(s, v, depth + 1) : put_value(s, v);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int check_tensor(const cJSON *in, const node_spec *spec, int64_t max_rows, node_infer_req *out)
{
	const node_tensor_spec *ts = &spec->input;
	const char *name = util_json_str(in, "name"), *dt = util_json_str(in, "datatype");
	const cJSON *shape = cJSON_GetObjectItemCaseSensitive(in, "shape"), *data = cJSON_GetObjectItemCaseSensitive(in, "data");
	int64_t dims[NODE_MAX_DIMS];
	int rank = 0;
	size_t count = 1, cols = 1;
	sink s;
	int rc;
	if (!name)
		return mlreg_error_set(MLREG_EINVALID, "every input needs a 'name'");
	if (strcmp(name, ts->name) != 0)
		return mlreg_error_set(MLREG_EINVALID, "unknown input '%s' (the model takes '%s')", name, ts->name);
	if (!dt)
		return mlreg_error_set(MLREG_EINVALID, "input '%s' needs a 'datatype'", name);
	if (strcmp(dt, ts->datatype) != 0)
		return mlreg_error_set(MLREG_EINVALID, "input '%s' has datatype %s; the model takes %s", name, dt,
				       ts->datatype);
	if (!cJSON_IsArray(shape))
		return mlreg_error_set(MLREG_EINVALID, "input '%s' needs a 'shape' array", name);
	for (const cJSON *d = shape->child; d; d = d->next) {
		if (rank == NODE_MAX_DIMS || !util_json_is_int(d) || d->valuedouble < 0 || d->valuedouble > 1e12)
			return mlreg_error_set(MLREG_EINVALID, "input '%s' has an invalid shape", name);
		dims[rank++] = (int64_t)d->valuedouble;
	}
	if (rank != ts->dims)
		return mlreg_error_set(MLREG_EINVALID, "input '%s' has rank %d; the model takes rank %d", name, rank, ts->dims);
	for (int i = 0; i < rank; i++) {
		if (ts->shape[i] >= 0 && dims[i] != ts->shape[i])
			return mlreg_error_set(MLREG_EINVALID, "input '%s' has %lld in dimension %d; the model takes %lld", name,
					       (long long)dims[i], i, (long long)ts->shape[i]);
		if (i > 0)
			cols *= (size_t)dims[i];
	}
	if (rank < 1 || dims[0] < 1)
		return mlreg_error_set(MLREG_EINVALID, "input '%s' holds no rows", name);
	if (dims[0] > max_rows)
		return mlreg_error_set(MLREG_ETOOBIG, "input '%s' has %lld rows; this node takes at most %lld per request",
				       name, (long long)dims[0], (long long)max_rows);
	if (cols != node_spec_features(spec))
		return mlreg_error_set(MLREG_EINVALID, "input '%s' rows have %zu values; the model takes %zu", name, cols,
				       node_spec_features(spec));
	count = (size_t)dims[0] * cols;
	if (!cJSON_IsArray(data))
		return mlreg_error_set(MLREG_EINVALID, "input '%s' needs a 'data' array", name);
	s = (sink){.dt = ts->dtype, .cap = count};
	if (!(s.x = malloc((count ? count : 1) * sizeof(float))))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	if ((rc = flatten(&s, data, 0)) < 0) {
		free(s.x);
		return rc;
	}
	if (s.n != count) {
		free(s.x);
		return mlreg_error_set(MLREG_EINVALID, "input '%s' holds %zu values; its shape says %zu", name, s.n, count);
	}
	out->x = s.x;
	out->rows = (size_t)dims[0];
	out->cols = cols;
	return 0;
}

int node_oip_decode(const char *body, size_t len, cJSON **doc, const char **id)
{
	cJSON *d = NULL;
	const cJSON *i;
	*doc = NULL;
	*id = NULL;
	if (util_json_parse(body, len, UTIL_JSON_MAX_DEPTH, &d) < 0)
		return mlreg_error_set(MLREG_EINVALID, "request body is not JSON: %s", mlreg_error_last());
	if (!cJSON_IsObject(d)) {
		cJSON_Delete(d);
		return mlreg_error_set(MLREG_EINVALID, "request body must be a JSON object");
	}
	i = cJSON_GetObjectItemCaseSensitive(d, "id");
	if (i && !cJSON_IsNull(i)) {
		if (!cJSON_IsString(i) || strlen(i->valuestring) > 256) {
			cJSON_Delete(d);
			return mlreg_error_set(MLREG_EINVALID, "'id' must be a string of at most 256 bytes");
		}
		*id = i->valuestring;
	}
	*doc = d;
	return 0;
}

int node_oip_tensor(const cJSON *doc, const node_spec *spec, int64_t max_rows, node_infer_req *out)
{
	const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(doc, "inputs");
	memset(out, 0, sizeof(*out));
	if (!cJSON_IsArray(inputs) || cJSON_GetArraySize(inputs) == 0)
		return mlreg_error_set(MLREG_EINVALID, "'inputs' must be a non-empty array");
	if (cJSON_GetArraySize(inputs) > 1)
		return mlreg_error_set(MLREG_EINVALID, "the model takes one input ('%s'); the request has %d",
				       spec->input.name, cJSON_GetArraySize(inputs));
	if (!cJSON_IsObject(inputs->child))
		return mlreg_error_set(MLREG_EINVALID, "every input must be an object");
	return check_tensor(inputs->child, spec, max_rows, out);
}

int node_oip_parse(const char *body, size_t len, const node_spec *spec, int64_t max_rows, node_infer_req *out)
{
	cJSON *doc;
	const char *id;
	int rc;
	memset(out, 0, sizeof(*out));
	if ((rc = node_oip_decode(body, len, &doc, &id)) < 0)
		return rc;
	if ((rc = node_oip_tensor(doc, spec, max_rows, out)) == 0 && id && !(out->id = strdup(id)))
		rc = mlreg_error_set(MLREG_ENOMEM, "out of memory");
	cJSON_Delete(doc);
	if (rc < 0)
		node_infer_req_release(out);
	return rc;
}

void node_infer_req_release(node_infer_req *r)
{
	free(r->id);
	free(r->x);
	memset(r, 0, sizeof(*r));
}

int node_oip_answer(util_buf *b, const char *model, const char *version, const char *id, const node_spec *spec,
		    const node_output *o)
{
	int rc = 0;
	rc |= util_buf_puts(b, "{\"model_name\":");
	rc |= util_json_put_string(b, model);
	rc |= util_buf_puts(b, ",\"model_version\":");
	rc |= util_json_put_string(b, version);
	if (id) {
		rc |= util_buf_puts(b, ",\"id\":");
		rc |= util_json_put_string(b, id);
	}
	rc |= util_buf_puts(b, ",\"outputs\":[{\"name\":");
	rc |= util_json_put_string(b, spec->output.name);
	rc |= util_buf_puts(b, ",\"datatype\":");
	rc |= util_json_put_string(b, spec->output.datatype);
	rc |= util_buf_puts(b, ",\"shape\":[");
	for (int i = 0; i < o->dims; i++)
		rc |= util_buf_printf(b, "%s%lld", i ? "," : "", (long long)o->shape[i]);
	rc |= util_buf_puts(b, "],\"data\":[");
	for (size_t i = 0; i < o->n; i++) {
		if (isfinite(o->data[i]))
			rc |= util_buf_printf(b, "%s%.9g", i ? "," : "", (double)o->data[i]);
		else
			rc |= util_buf_puts(b, i ? ",null" : "null");
	}
	rc |= util_buf_puts(b, "]}]}\n");
	return rc < 0 ? mlreg_error_set(MLREG_ENOMEM, "answer too large") : 0;
}

cJSON *node_oip_metadata(const char *model, const node_version *v, cJSON *versions)
{
	cJSON *o = cJSON_CreateObject();
	if (!o) {
		cJSON_Delete(versions);
		return NULL;
	}
	cJSON_AddStringToObject(o, "name", model);
	if (versions)
		cJSON_AddItemToObject(o, "versions", versions);
	else
		cJSON_AddStringToObject(o, "version", v->version);
	cJSON_AddStringToObject(o, "platform", v->m->spec.format);
	cJSON_AddItemToObject(o, "inputs", cJSON_Duplicate(cJSON_GetObjectItem(v->m->spec.schema, "inputs"), 1));
	cJSON_AddItemToObject(o, "outputs", cJSON_Duplicate(cJSON_GetObjectItem(v->m->spec.schema, "outputs"), 1));
	cJSON_AddStringToObject(o, "digest", v->digest);
	return o;
}

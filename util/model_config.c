/*
 * model_config.c - parsing mlreg-model.json, the serving descriptor of a
 * model version: its format, its model file and its input and output
 * tensors.
 *
 * It lives in util/ rather than registry/ because two sides read the same
 * bytes: the registry at push time (to record the schema a gate may
 * compare) and mlreg-node before it serves a version.  The parser is strict
 * about the shape and lenient about extra members, and it returns a fresh
 * projection holding only the members it checked, so a caller never sees an
 * unchecked field.
 */
#include <stdbool.h>
#include <string.h>
#include "util/json.h"
#include "util/model_config.h"

static int check_tensors(const cJSON *arr, const char *what)
{
	static const char *types[] = {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32",
				      "INT64", "FP16", "FP32", "FP64", "BYTES", "BF16"};
	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0 || cJSON_GetArraySize(arr) > 64)
		return mlreg_error_set(MLREG_EINVALID, "mlreg-model.json: '%s' must be a non-empty array", what);
	for (const cJSON *t = arr->child; t; t = t->next) {
		const char *name = util_json_str(t, "name"), *dt = util_json_str(t, "datatype");
		const cJSON *shape = cJSON_GetObjectItem(t, "shape");
		bool ok = false;
		if (!name || !*name || strlen(name) > 128)
			return mlreg_error_set(MLREG_EINVALID, "mlreg-model.json: every %s needs a name", what);
		for (size_t i = 0; dt && i < sizeof(types) / sizeof(types[0]); i++)
			ok |= !strcmp(dt, types[i]);
		if (!ok)
			return mlreg_error_set(MLREG_EINVALID, "mlreg-model.json: %s '%s' has an unknown datatype", what, name);
		if (!cJSON_IsArray(shape) || cJSON_GetArraySize(shape) > 16)
			return mlreg_error_set(MLREG_EINVALID, "mlreg-model.json: %s '%s' needs a shape array", what, name);
		for (const cJSON *d = shape->child; d; d = d->next)
			if (!util_json_is_int(d) || d->valuedouble < -1)
				return mlreg_error_set(MLREG_EINVALID, "mlreg-model.json: %s '%s' has a bad dimension", what, name);
	}
	return 0;
}

int util_model_config_parse(const char *data, size_t len, cJSON **schema)
{
	cJSON *c = NULL, *out;
	const char *format, *file;
	int rc;
	if ((rc = util_json_parse(data, len, UTIL_JSON_MAX_DEPTH, &c)) < 0)
		return mlreg_error_set(MLREG_EINVALID, "mlreg-model.json: %s", mlreg_error_last());
	format = util_json_str(c, "format");
	file = util_json_str(c, "file");
	if (!cJSON_IsObject(c) || !format || !*format || strlen(format) > 64) {
		rc = mlreg_error_set(MLREG_EINVALID, "mlreg-model.json: 'format' is required");
		goto done;
	}
	if (!file || !util_manifest_path_valid(file)) {
		rc = mlreg_error_set(MLREG_EINVALID, "mlreg-model.json: 'file' must be a relative path inside the version");
		goto done;
	}
	if ((rc = check_tensors(cJSON_GetObjectItem(c, "inputs"), "inputs")) < 0 ||
	    (rc = check_tensors(cJSON_GetObjectItem(c, "outputs"), "outputs")) < 0)
		goto done;
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "format", format);
	cJSON_AddStringToObject(out, "file", file);
	cJSON_AddItemToObject(out, "inputs", cJSON_Duplicate(cJSON_GetObjectItem(c, "inputs"), 1));
	cJSON_AddItemToObject(out, "outputs", cJSON_Duplicate(cJSON_GetObjectItem(c, "outputs"), 1));
	*schema = out;
done:
	cJSON_Delete(c);
	return rc;
}

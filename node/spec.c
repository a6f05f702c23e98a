/*
 * spec.c - what a model version asks of the node, read from its
 * mlreg-model.json, and whether this node can serve it.
 *
 * The descriptor is parsed by util_model_config_parse, the same parser the
 * registry ran at push time, so a version the registry accepted reads the
 * same here.  This file then narrows it to what the node actually serves
 * today: one input that is a batch of fixed-width rows of numbers, one output
 * of floats, a format with a runtime compiled in, and a model file that is a
 * plain file inside the version folder.  Each refusal names the file and the
 * field, because the reason travels back to whoever asked for the load.
 * Files are checked with lstat, component by component, so a symlink in a
 * version folder can never point the runtime at a file outside it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "node/runtime.h"
#include "util/json.h"
#include "util/model_config.h"

#define MODEL_CONFIG "mlreg-model.json"
#define MODEL_CONFIG_MAX (1u << 20)
/* A row is read into memory as floats: bound it (4 MiB per row). */
#define MAX_FEATURES (1 << 20)
/* A fixed batch is allocated whole for the warm-up prediction. */
#define MAX_FIXED_BATCH 65536
#define MAX_FIXED_VALUES (1 << 24)

static const struct {
	const char *name;
	node_dtype type;
} dtypes[] = {
	{"FP32", NODE_DT_FP32}, {"FP64", NODE_DT_FP64}, {"INT32", NODE_DT_INT32},
	{"INT64", NODE_DT_INT64}, {"BOOL", NODE_DT_BOOL},
};

node_dtype node_dtype_parse(const char *s)
{
	for (size_t i = 0; s && i < sizeof(dtypes) / sizeof(dtypes[0]); i++)
		if (!strcmp(s, dtypes[i].name))
			return dtypes[i].type;
	return NODE_DT_OTHER;
}

const char *node_dtype_name(node_dtype t)
{
	for (size_t i = 0; i < sizeof(dtypes) / sizeof(dtypes[0]); i++)
		if (dtypes[i].type == t)
			return dtypes[i].name;
	return "OTHER";
}

/* Fill *t from one {"name","datatype","shape"} the parser already checked
 * (so the members exist and the dimensions are integers >= -1). */
static int tensor_from_json(const cJSON *j, node_tensor_spec *t)
{
	const cJSON *shape = cJSON_GetObjectItem(j, "shape");
	int n = 0;
	memset(t, 0, sizeof(*t));
	for (const cJSON *d = shape->child; d; d = d->next)
		t->shape[n++] = (int64_t)d->valuedouble;
	t->dims = n;
	t->name = strdup(util_json_str(j, "name"));
	t->datatype = strdup(util_json_str(j, "datatype"));
	t->dtype = node_dtype_parse(t->datatype);
	if (!t->name || !t->datatype)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	return 0;
}

static void tensor_release(node_tensor_spec *t)
{
	free(t->name);
	free(t->datatype);
	memset(t, 0, sizeof(*t));
}

static void shape_text(const node_tensor_spec *t, char *out, size_t outsz)
{
	size_t used = 0;
	out[0] = '\0';
	used += (size_t)snprintf(out, outsz, "[");
	for (int i = 0; i < t->dims && used < outsz; i++)
		used += (size_t)snprintf(out + used, outsz - used, "%s%lld", i ? "," : "", (long long)t->shape[i]);
	if (used < outsz)
		snprintf(out + used, outsz - used, "]");
}

static int check_input(const node_tensor_spec *t)
{
	char shape[256];
	shape_text(t, shape, sizeof(shape));
	if (t->dtype == NODE_DT_OTHER)
		return mlreg_error_set(MLREG_EINVALID,
				       MODEL_CONFIG ": input '%s' has datatype %s; this node takes FP32, FP64, INT32, "
						    "INT64 or BOOL",
				       t->name, t->datatype);
	if (t->dims != 2)
		return mlreg_error_set(MLREG_EINVALID,
				       MODEL_CONFIG ": input '%s' has shape %s; this node takes rows of features, "
						    "[-1, N] or [B, N]",
				       t->name, shape);
	if (t->shape[0] == 0 || t->shape[0] > MAX_FIXED_BATCH)
		return mlreg_error_set(MLREG_EINVALID,
				       MODEL_CONFIG ": input '%s' has shape %s; its batch must be -1 or 1 to %d",
				       t->name, shape, MAX_FIXED_BATCH);
	if (t->shape[1] <= 0 || t->shape[1] > MAX_FEATURES)
		return mlreg_error_set(MLREG_EINVALID,
				       MODEL_CONFIG ": input '%s' has shape %s; its feature count must be fixed, "
						    "1 to %d",
				       t->name, shape, MAX_FEATURES);
	if (t->shape[0] > 0 && t->shape[0] * t->shape[1] > MAX_FIXED_VALUES)
		return mlreg_error_set(MLREG_EINVALID,
				       MODEL_CONFIG ": input '%s' has shape %s; a fixed batch holds at most %d values",
				       t->name, shape, MAX_FIXED_VALUES);
	return 0;
}

static int check_output(const node_tensor_spec *t)
{
	char shape[256];
	shape_text(t, shape, sizeof(shape));
	/* every runtime answers floats (node_output); a declared integer output
	 * would be a promise the node cannot keep */
	if (t->dtype != NODE_DT_FP32 && t->dtype != NODE_DT_FP64)
		return mlreg_error_set(MLREG_EINVALID,
				       MODEL_CONFIG ": output '%s' has datatype %s; this node answers FP32 or FP64",
				       t->name, t->datatype);
	if (t->dims < 1 || t->dims > 2)
		return mlreg_error_set(MLREG_EINVALID,
				       MODEL_CONFIG ": output '%s' has shape %s; this node answers [-1] or [-1, K]",
				       t->name, shape);
	if (t->shape[0] == 0 || (t->dims == 2 && t->shape[1] == 0))
		return mlreg_error_set(MLREG_EINVALID, MODEL_CONFIG ": output '%s' has an empty dimension in %s",
				       t->name, shape);
	return 0;
}

/* The model file must be a regular file reached through real folders only:
 * every component of FILE under DIR is lstat'ed, none may be a symlink. */
static int check_model_file(const char *dir, const char *file)
{
	char path[PATH_MAX];
	size_t dlen = strlen(dir);
	struct stat st;
	int n = snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (n < 0 || (size_t)n >= sizeof(path))
		return mlreg_error_set(MLREG_EINVALID, MODEL_CONFIG ": model file path '%s' is too long", file);
	for (char *p = path + dlen + 1;; p++) {
		bool last = (*p == '\0');
		if (*p != '/' && !last)
			continue;
		*p = '\0';
		if (lstat(path, &st) < 0) {
			if (errno == ENOENT || errno == ENOTDIR)
				return mlreg_error_set(MLREG_ENOTFOUND, MODEL_CONFIG ": model file '%s' is missing", file);
			return mlreg_error_set(MLREG_EIO, MODEL_CONFIG ": cannot stat model file '%s': %s", file,
					       strerror(errno));
		}
		if (S_ISLNK(st.st_mode))
			return mlreg_error_set(MLREG_EINVALID,
					       MODEL_CONFIG ": model file '%s' goes through a symlink ('%s'); refused",
					       file, path + dlen + 1);
		if (last) {
			if (!S_ISREG(st.st_mode))
				return mlreg_error_set(MLREG_EINVALID,
						       MODEL_CONFIG ": model file '%s' is not a regular file", file);
			return 0;
		}
		if (!S_ISDIR(st.st_mode))
			return mlreg_error_set(MLREG_ENOTFOUND, MODEL_CONFIG ": model file '%s' is missing", file);
		*p = '/';
	}
}

int node_spec_load(const char *dir, node_spec *s)
{
	char path[PATH_MAX], known[256];
	char *text = NULL;
	size_t len = 0;
	cJSON *schema = NULL;
	const cJSON *inputs, *outputs;
	struct stat st;
	node_spec sp;
	int rc, n;
	memset(&sp, 0, sizeof(sp));
	n = snprintf(path, sizeof(path), "%s/" MODEL_CONFIG, dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return mlreg_error_set(MLREG_EINVALID, "version folder path too long: '%s'", dir);
	if (lstat(path, &st) < 0)
		return mlreg_error_set(errno == ENOENT ? MLREG_ENOTFOUND : MLREG_EIO,
				       "cannot read " MODEL_CONFIG " in '%s': %s", dir, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return mlreg_error_set(MLREG_EINVALID, MODEL_CONFIG " in '%s' is not a regular file (symlinks refused)",
				       dir);
	if ((rc = util_read_file(path, MODEL_CONFIG_MAX, &text, &len)) < 0) {
		if (rc == MLREG_ETOOBIG)
			rc = mlreg_error_set(MLREG_EINVALID, MODEL_CONFIG " is larger than 1 MiB");
		return rc;
	}
	if ((rc = util_model_config_parse(text, len, &schema)) < 0)
		goto done;
	sp.format = strdup(util_json_str(schema, "format"));
	sp.file = strdup(util_json_str(schema, "file"));
	if (!sp.format || !sp.file) {
		rc = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	if (!node_runtime_find(sp.format)) {
		node_runtime_formats(known, sizeof(known));
		rc = mlreg_error_set(MLREG_EINVALID, MODEL_CONFIG ": format '%s' has no runtime in this node (known: %s)",
				     sp.format, known);
		goto done;
	}
	inputs = cJSON_GetObjectItem(schema, "inputs");
	outputs = cJSON_GetObjectItem(schema, "outputs");
	if (cJSON_GetArraySize(inputs) != 1) {
		rc = mlreg_error_set(MLREG_EINVALID, MODEL_CONFIG ": %d inputs declared; this node serves exactly one",
				     cJSON_GetArraySize(inputs));
		goto done;
	}
	if (cJSON_GetArraySize(outputs) != 1) {
		rc = mlreg_error_set(MLREG_EINVALID, MODEL_CONFIG ": %d outputs declared; this node serves exactly one",
				     cJSON_GetArraySize(outputs));
		goto done;
	}
	if ((rc = tensor_from_json(inputs->child, &sp.input)) < 0 ||
	    (rc = tensor_from_json(outputs->child, &sp.output)) < 0 || (rc = check_input(&sp.input)) < 0 ||
	    (rc = check_output(&sp.output)) < 0 || (rc = check_model_file(dir, sp.file)) < 0)
		goto done;
	sp.schema = schema;
	schema = NULL;
	*s = sp;
	memset(&sp, 0, sizeof(sp));
done:
	node_spec_free(&sp);
	cJSON_Delete(schema);
	free(text);
	return rc;
}

void node_spec_free(node_spec *s)
{
	if (!s)
		return;
	free(s->format);
	free(s->file);
	tensor_release(&s->input);
	tensor_release(&s->output);
	cJSON_Delete(s->schema);
	memset(s, 0, sizeof(*s));
}

size_t node_spec_features(const node_spec *s)
{
	return s->input.dims > 0 ? (size_t)s->input.shape[s->input.dims - 1] : 0;
}

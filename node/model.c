/*
 * model.c - a model as the node holds it: its spec, its runtime and the
 * runtime's handle, opened only after one prediction has worked.
 *
 * Opening runs a warm-up prediction on zero rows (one row, or the fixed
 * batch) and compares what came back with the output the descriptor
 * declares, so a version whose mlreg-model.json and model file disagree is
 * refused at load time with a reason instead of answering its first caller
 * with a surprise.  The warm-up also leaves the runtime configured, which is
 * what makes later concurrent predictions on one handle safe (XGBoost
 * configures a booster lazily, on its first prediction).
 *
 * The table of runtimes lives here: another format adds its ops table in a
 * runtime_*.c and one line below.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "node/runtime.h"
#include "util/util.h"

static const node_runtime_ops *const runtimes[] = {
	&node_runtime_xgboost,
};

const node_runtime_ops *node_runtime_find(const char *format)
{
	for (size_t i = 0; format && i < sizeof(runtimes) / sizeof(runtimes[0]); i++)
		if (!strcmp(runtimes[i]->format, format))
			return runtimes[i];
	return NULL;
}

void node_runtime_formats(char *out, size_t outsz)
{
	size_t used = 0;
	if (!outsz)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(runtimes) / sizeof(runtimes[0]) && used < outsz; i++)
		used += (size_t)snprintf(out + used, outsz - used, "%s%s", i ? ", " : "", runtimes[i]->format);
}

static void output_text(const node_output *o, char *buf, size_t bufsz)
{
	if (o->dims == 2)
		snprintf(buf, bufsz, "[%lld, %lld]", (long long)o->shape[0], (long long)o->shape[1]);
	else
		snprintf(buf, bufsz, "[%lld]", (long long)o->shape[0]);
}

/* Does the warm-up's answer fit the declared output?  Rank must match,
 * the batch must follow the input's, a fixed class count must match. */
static int check_warmup(const node_spec *s, const node_output *o)
{
	const node_tensor_spec *t = &s->output;
	char got[64];
	output_text(o, got, sizeof(got));
	if (o->dims != t->dims)
		return mlreg_error_set(MLREG_EINVALID,
				       "mlreg-model.json: output '%s' is declared with %d dimension%s but the model "
				       "answers %s for %lld row%s",
				       t->name, t->dims, t->dims == 1 ? "" : "s", got, (long long)o->shape[0],
				       o->shape[0] == 1 ? "" : "s");
	if (t->shape[0] != -1 && t->shape[0] != s->input.shape[0])
		return mlreg_error_set(MLREG_EINVALID,
				       "mlreg-model.json: output '%s' has batch %lld but input '%s' has batch %lld",
				       t->name, (long long)t->shape[0], s->input.name, (long long)s->input.shape[0]);
	if (t->dims == 2 && t->shape[1] != -1 && t->shape[1] != o->shape[1])
		return mlreg_error_set(MLREG_EINVALID,
				       "mlreg-model.json: output '%s' declares %lld values per row but the model "
				       "answers %lld",
				       t->name, (long long)t->shape[1], (long long)o->shape[1]);
	return 0;
}

int node_model_open(const char *dir, node_model **out)
{
	node_model *m = NULL;
	node_output o = {0};
	float *zeros = NULL;
	char path[PATH_MAX];
	size_t rows, features;
	int rc, n;
	if (!(m = calloc(1, sizeof(*m))))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	if ((rc = node_spec_load(dir, &m->spec)) < 0)
		goto done;
	m->ops = node_runtime_find(m->spec.format);
	n = snprintf(path, sizeof(path), "%s/%s", dir, m->spec.file);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		rc = mlreg_error_set(MLREG_EINVALID, "model file path too long");
		goto done;
	}
	if ((rc = m->ops->load(path, &m->h)) < 0) {
		rc = mlreg_error_set(rc, "cannot load model file '%s': %s", m->spec.file, mlreg_error_last());
		goto done;
	}
	features = node_spec_features(&m->spec);
	rows = m->spec.input.shape[0] > 0 ? (size_t)m->spec.input.shape[0] : 1;
	if (!(zeros = calloc(rows * features, sizeof(float)))) {
		rc = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	if ((rc = node_model_predict(m, zeros, rows, &o)) < 0) {
		rc = mlreg_error_set(rc, "warm-up prediction on '%s' failed: %s", m->spec.file, mlreg_error_last());
		goto done;
	}
	if ((rc = check_warmup(&m->spec, &o)) < 0)
		goto done;
	*out = m;
	m = NULL;
done:
	free(o.data);
	free(zeros);
	node_model_close(m);
	return rc;
}

int node_model_predict(const node_model *m, const float *x, size_t rows, node_output *out)
{
	const node_tensor_spec *in = &m->spec.input;
	if (rows == 0)
		return mlreg_error_set(MLREG_EINVALID, "input '%s' has no rows", in->name);
	if (in->shape[0] > 0 && (int64_t)rows != in->shape[0])
		return mlreg_error_set(MLREG_EINVALID, "input '%s' takes batches of %lld rows, got %zu", in->name,
				       (long long)in->shape[0], rows);
	return m->ops->predict(m->h, x, rows, node_spec_features(&m->spec), out);
}

void node_model_close(node_model *m)
{
	if (!m)
		return;
	if (m->h)
		m->ops->free(m->h);
	node_spec_free(&m->spec);
	free(m);
}

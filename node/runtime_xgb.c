/*
 * runtime_xgb.c - the XGBoost runtime: models saved by XGBoost as JSON or
 * UBJSON, served through XGBoost's C API (Debian's libxgboost 1.7).
 *
 * Prediction is in place (XGBoosterPredictFromDense on the caller's rows,
 * described by an __array_interface__), so a request never builds a DMatrix,
 * and each call runs on the calling thread alone (nthread=1): the server's
 * worker threads are the parallelism, and one heavy request cannot take
 * every core from the others.  In-place prediction is safe from many threads
 * on one booster once it is configured, which the warm-up prediction in
 * node_model_open does; XGBoost keeps each thread's result in a buffer of
 * its own, which is copied out before the call returns.
 *
 * Files are taken by extension only, .json or .ubj (in any case, as XGBoost
 * compares them).  XGBoost 1.7 reads any other name by sniffing its first
 * bytes, which also accepts the deprecated binary format, and a mistaken
 * extension would then decide the parser; refusing it keeps what a file is
 * a property of its name.  XGBoost's errors are one line of text plus a
 * stack trace; the adapter keeps the line, drops the timestamp, and
 * replaces bytes that are not printable ASCII, since the line can quote the
 * model file itself.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <xgboost/c_api.h>
#include "node/runtime.h"
#include "util/util.h"

/* Debian's 1.7 refuses in-place prediction without cache_id and missing
 * (docs/model-format.md, FACTS.md); NaN marks a missing feature. */
static const char predict_config[] = "{\"type\":0,\"training\":false,\"iteration_begin\":0,\"iteration_end\":0,"
				     "\"strict_shape\":false,\"cache_id\":0,\"missing\":NaN}";

/* Each thread's proxy DMatrix, made on its first prediction and passed to
 * every later one.  Without it XGBoost 1.7 makes a proxy per call, and with
 * it a Context whose constructor reads the cgroup CPU quota files (two
 * open/read/close each time): half the cost of a one-row prediction.  A
 * proxy holds the caller's array interface until the next call, so it is
 * per thread.  They are freed together at shutdown, after the threads are
 * joined (node_runtime_shutdown), not in a thread-exit destructor: XGBoost
 * registers thread_local objects of its own when called there, after the
 * thread's thread_local destructors already ran, and those would leak.  The
 * node's threads live as long as it does, so the list does not grow. */
static pthread_mutex_t proxies_mu = PTHREAD_MUTEX_INITIALIZER;
static DMatrixHandle *proxies;
static size_t nproxies, proxies_cap;
static _Thread_local DMatrixHandle proxy;

static DMatrixHandle thread_proxy(void)
{
	DMatrixHandle p;
	if (proxy)
		return proxy;
	if (XGProxyDMatrixCreate(&p) != 0)
		return NULL; /* XGBoost then makes its own per call */
	pthread_mutex_lock(&proxies_mu);
	if (nproxies == proxies_cap) {
		size_t cap = proxies_cap ? proxies_cap * 2 : 16;
		DMatrixHandle *grown = realloc(proxies, cap * sizeof(*grown));
		if (!grown) {
			pthread_mutex_unlock(&proxies_mu);
			XGDMatrixFree(p);
			return NULL;
		}
		proxies = grown;
		proxies_cap = cap;
	}
	proxies[nproxies++] = p;
	pthread_mutex_unlock(&proxies_mu);
	return proxy = p;
}

void node_runtime_shutdown(void)
{
	pthread_mutex_lock(&proxies_mu);
	for (size_t i = 0; i < nproxies; i++)
		XGDMatrixFree(proxies[i]);
	free(proxies);
	proxies = NULL;
	nproxies = proxies_cap = 0;
	pthread_mutex_unlock(&proxies_mu);
	proxy = NULL; /* the calling thread's; the others have ended */
}

/* XGBoost's last error on this thread, as one clean line. */
static int xgb_error(int code, const char *what)
{
	const char *e = XGBGetLastError();
	char line[512];
	size_t n = 0;
	if (!e || !*e)
		e = "unknown XGBoost error";
	/* "[23:45:59] ./src/c_api/c_api.cc:1073: Check failed: ..." */
	if (e[0] == '[') {
		const char *close = strchr(e, ']');
		if (close && close - e <= 12 && close[1] == ' ')
			e = close + 2;
	}
	for (; *e && *e != '\n' && n < sizeof(line) - 1; e++)
		line[n++] = (*e >= 0x20 && *e < 0x7f) ? *e : '?';
	while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == ':'))
		n--;
	line[n] = '\0';
	return mlreg_error_set(code, "%s: %s", what, line);
}

static int xgb_load(const char *path, void **h)
{
	const char *slash = strrchr(path, '/'), *dot = strrchr(slash ? slash : path, '.');
	BoosterHandle b = NULL;
	if (!dot || (strcasecmp(dot, ".json") != 0 && strcasecmp(dot, ".ubj") != 0))
		return mlreg_error_set(MLREG_EINVALID,
				       "an XGBoost model file is named *.json (JSON) or *.ubj (UBJSON), not '%s'",
				       slash ? slash + 1 : path);
	if (XGBoosterCreate(NULL, 0, &b) != 0)
		return xgb_error(MLREG_ERROR, "cannot create an XGBoost booster");
	if (XGBoosterLoadModel(b, path) != 0) {
		xgb_error(MLREG_EINVALID, "XGBoost cannot read the model");
		XGBoosterFree(b);
		return MLREG_EINVALID;
	}
	if (XGBoosterSetParam(b, "nthread", "1") != 0) {
		xgb_error(MLREG_EINVALID, "XGBoost refuses nthread=1");
		XGBoosterFree(b);
		return MLREG_EINVALID;
	}
	*h = b;
	return 0;
}

static int xgb_predict(void *h, const float *x, size_t rows, size_t cols, node_output *out)
{
	char arr[160];
	const bst_ulong *shape = NULL;
	bst_ulong dim = 0;
	const float *res = NULL;
	size_t n, k = 1;
	float *data;
	snprintf(arr, sizeof(arr), "{\"data\":[%ju,true],\"shape\":[%zu,%zu],\"typestr\":\"<f4\",\"version\":3}",
		 (uintmax_t)(uintptr_t)x, rows, cols);
	if (XGBoosterPredictFromDense(h, arr, predict_config, thread_proxy(), &shape, &dim, &res) != 0)
		return xgb_error(MLREG_EINVALID, "XGBoost prediction failed");
	/* without strict_shape: [rows] for one value per row (binary:logistic,
	 * regression, multi:softmax), [rows, k] for one per class (softprob) */
	if ((dim != 1 && dim != 2) || shape[0] != rows)
		return mlreg_error_set(MLREG_EINVALID, "XGBoost answered an unexpected shape (%llu dimensions) for %zu rows",
				       (unsigned long long)dim, rows);
	if (dim == 2)
		k = (size_t)shape[1];
	if (k != 0 && rows > SIZE_MAX / sizeof(float) / k)
		return mlreg_error_set(MLREG_ENOMEM, "prediction too large");
	n = rows * k;
	if (!(data = malloc(n ? n * sizeof(float) : 1)))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	if (n)
		memcpy(data, res, n * sizeof(float));
	out->data = data;
	out->n = n;
	out->dims = (int)dim;
	out->shape[0] = (int64_t)rows;
	out->shape[1] = dim == 2 ? (int64_t)k : 0;
	return 0;
}

static void xgb_free(void *h)
{
	if (h)
		XGBoosterFree(h);
}

const node_runtime_ops node_runtime_xgboost = {
	.format = "xgboost",
	.load = xgb_load,
	.predict = xgb_predict,
	.free = xgb_free,
};

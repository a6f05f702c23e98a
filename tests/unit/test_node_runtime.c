/*
 * test_node_runtime.c - unit tests for mlreg-node's model runtime:
 * node/spec.c (what mlreg-model.json asks and whether the node can serve
 * it), node/runtime_xgb.c and node/model.c (loading and predicting with
 * XGBoost) and node/check.c (the check in a child process).
 *
 * The models are trained here, with XGBoost's own C API, on a small
 * synthetic data set, and saved as JSON and UBJSON, so the unit level needs
 * no python.  Predictions are compared with XGBoost's DMatrix prediction
 * on the same rows from a booster loaded independently, bit for bit, since
 * the two paths walk the same trees; four threads predicting at once on one
 * model must give the same answers as one.  The check is run against the
 * real node_check_main and against node_check_helper, a child that crashes,
 * hangs, spins, allocates, floods stderr or reports the descriptors, limits,
 * signal state and environment it was given.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <errno.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <xgboost/c_api.h>
#include "node/runtime.h"

#ifndef NODE_CHECK_HELPER
#error "NODE_CHECK_HELPER (the path of node_check_helper) must be defined by the build"
#endif

/* ASan and TSan reserve terabytes of shadow address space at start: a child
 * under an RLIMIT_AS cannot even begin, so node_check_run leaves that limit
 * out in such builds and the memory limit is tested only without them. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_ASAN 1
#else
#define UNDER_ASAN 0
#endif
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#else
#define UNDER_TSAN 0
#endif

#define ROWS 300
#define COLS 6
#define CLASSES 3

static float X[ROWS * COLS];
static char *tmp;           /* one folder for the whole run */
static char bin_json[512];  /* trained models */
static char bin_ubj[512];
static char multi_json[512];

#define XGB_OK(call)                                                                                                   \
	do {                                                                                                           \
		if ((call) != 0)                                                                                       \
			fail_msg("%s: %s", #call, XGBGetLastError());                                                  \
	} while (0)

static void train(const char *objective, const float *y, const char *json_path, const char *ubj_path)
{
	DMatrixHandle d;
	BoosterHandle b;
	XGB_OK(XGDMatrixCreateFromMat(X, ROWS, COLS, NAN, &d));
	XGB_OK(XGDMatrixSetFloatInfo(d, "label", y, ROWS));
	XGB_OK(XGBoosterCreate(&d, 1, &b));
	XGB_OK(XGBoosterSetParam(b, "objective", objective));
	if (!strcmp(objective, "multi:softprob"))
		XGB_OK(XGBoosterSetParam(b, "num_class", "3"));
	XGB_OK(XGBoosterSetParam(b, "max_depth", "4"));
	XGB_OK(XGBoosterSetParam(b, "nthread", "1"));
	XGB_OK(XGBoosterSetParam(b, "seed", "7"));
	for (int i = 0; i < 12; i++)
		XGB_OK(XGBoosterUpdateOneIter(b, i, d));
	XGB_OK(XGBoosterSaveModel(b, json_path));
	if (ubj_path)
		XGB_OK(XGBoosterSaveModel(b, ubj_path));
	XGB_OK(XGBoosterFree(b));
	XGB_OK(XGDMatrixFree(d));
}

static int setup(void **state)
{
	float ybin[ROWS], ymulti[ROWS];
	unsigned s = 12345;
	tmp = tu_mkdtemp();
	if (UNDER_ASAN) {
		/* a crash in the child (XGBoost is not instrumented) should end it
		 * by the signal, as in a normal build, not by the sanitizer's report
		 * and exit 1; the options are read by the children as they start */
		const char *var = UNDER_TSAN ? "TSAN_OPTIONS" : "ASAN_OPTIONS";
		const char *opts = getenv(var);
		char buf[1024];
		snprintf(buf, sizeof(buf), "%s%shandle_segv=0", opts ? opts : "", opts && *opts ? ":" : "");
		setenv(var, buf, 1);
	}
	for (int i = 0; i < ROWS * COLS; i++) {
		s = s * 1103515245u + 12345u;
		X[i] = (float)((s >> 8) & 0xffff) / 65536.0f;
	}
	/* a few missing values, so the default branches are part of the test */
	for (int i = 7; i < ROWS * COLS; i += 97)
		X[i] = NAN;
	for (int r = 0; r < ROWS; r++) {
		float a = isnan(X[r * COLS]) ? 0.5f : X[r * COLS], b = X[r * COLS + 1];
		ybin[r] = (a + (isnan(b) ? 0.5f : b) > 1.0f) ? 1.0f : 0.0f;
		ymulti[r] = (float)((int)(a * 3.0f) % 3);
	}
	snprintf(bin_json, sizeof(bin_json), "%s/bin.json", tmp);
	snprintf(bin_ubj, sizeof(bin_ubj), "%s/bin.ubj", tmp);
	snprintf(multi_json, sizeof(multi_json), "%s/multi.json", tmp);
	train("binary:logistic", ybin, bin_json, bin_ubj);
	train("multi:softprob", ymulti, multi_json, NULL);
	return 0;
}

static int teardown(void **state)
{
	tu_rmdir(tmp);
	return 0;
}

/* ---- building version folders ---- */

/* not inlined: GCC 12 then mistakes the result for the address of its local */
static __attribute__((noinline)) char *read_all(const char *path, size_t *len)
{
	char *data = NULL;
	if (util_read_file(path, 64u << 20, &data, len) < 0)
		fail_msg("%s", mlreg_error_last());
	return data;
}

/* A fresh version folder NAME holding mlreg-model.json (CONFIG; NULL for
 * none) and, unless MODEL is NULL, a copy of MODEL as FILE. */
static char *version_dir(const char *name, const char *config, const char *model, const char *file)
{
	char path[1024], *dir = malloc(1024);
	assert_non_null(dir);
	snprintf(dir, 1024, "%s/%s", tmp, name);
	util_rm_rf(dir);
	assert_int_equal(util_mkdir_p(dir, 0755), 0);
	if (config) {
		snprintf(path, sizeof(path), "%s/mlreg-model.json", dir);
		tu_write(path, config, strlen(config));
	}
	if (model) {
		size_t len;
		char *data = read_all(model, &len);
		snprintf(path, sizeof(path), "%s/%s", dir, file);
		tu_write(path, data, len);
		free(data);
	}
	return dir;
}

static char *config(const char *file, const char *in_shape, const char *out_shape)
{
	static char buf[1024];
	snprintf(buf, sizeof(buf),
		 "{\"format\":\"xgboost\",\"file\":\"%s\",\"inputs\":[{\"name\":\"input\",\"datatype\":\"FP32\","
		 "\"shape\":%s}],\"outputs\":[{\"name\":\"output\",\"datatype\":\"FP32\",\"shape\":%s}]}",
		 file, in_shape, out_shape);
	return buf;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("expected '%s' in '%s'", needle, hay);
}

/* ---- spec ---- */

static void dtype_names(void **state)
{
	static const char *const names[] = {"FP32", "FP64", "INT32", "INT64", "BOOL"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		node_dtype t = node_dtype_parse(names[i]);
		assert_int_not_equal(t, NODE_DT_OTHER);
		assert_string_equal(node_dtype_name(t), names[i]);
	}
	assert_int_equal(node_dtype_parse("FP16"), NODE_DT_OTHER);
	assert_int_equal(node_dtype_parse("fp32"), NODE_DT_OTHER);
	assert_int_equal(node_dtype_parse(NULL), NODE_DT_OTHER);
}

static void spec_good(void **state)
{
	char *dir = version_dir("spec_good",
				"{\"format\":\"xgboost\",\"file\":\"m/model.json\",\"inputs\":[{\"name\":\"x\","
				"\"datatype\":\"FP64\",\"shape\":[-1,6]}],\"outputs\":[{\"name\":\"p\",\"datatype\":"
				"\"FP32\",\"shape\":[-1]}],\"extra\":1}",
				NULL, NULL);
	char path[1100];
	node_spec s;
	snprintf(path, sizeof(path), "%s/m", dir);
	assert_int_equal(util_mkdir_p(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/m/model.json", dir);
	tu_write(path, "{}", 2);
	assert_int_equal(node_spec_load(dir, &s), 0);
	assert_string_equal(s.format, "xgboost");
	assert_string_equal(s.file, "m/model.json");
	assert_string_equal(s.input.name, "x");
	assert_string_equal(s.input.datatype, "FP64");
	assert_int_equal(s.input.dtype, NODE_DT_FP64);
	assert_int_equal(s.input.dims, 2);
	assert_int_equal(s.input.shape[0], -1);
	assert_int_equal(node_spec_features(&s), 6);
	assert_string_equal(s.output.name, "p");
	assert_int_equal(s.output.dims, 1);
	assert_non_null(s.schema);
	assert_null(cJSON_GetObjectItem(s.schema, "extra"));
	node_spec_free(&s);
	assert_null(s.format);
	node_spec_free(&s); /* twice is harmless */
	tu_rmdir(dir);
}

static void spec_refusals(void **state)
{
	static const struct {
		const char *config;
		int code;
		const char *reason;
	} cases[] = {
		{"{\"format\":\"onnx\",\"file\":\"model.json\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\","
		 "\"shape\":[-1,6]}],\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[-1]}]}",
		 MLREG_EINVALID, "mlreg-model.json: format 'onnx' has no runtime in this node (known: xgboost)"},
		{"{\"format\":\"xgboost\",\"file\":\"model.json\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\","
		 "\"shape\":[-1,6]},{\"name\":\"z\",\"datatype\":\"FP32\",\"shape\":[-1,6]}],"
		 "\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[-1]}]}",
		 MLREG_EINVALID, "2 inputs declared; this node serves exactly one"},
		{"{\"format\":\"xgboost\",\"file\":\"model.json\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\","
		 "\"shape\":[-1,6]}],\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[-1]},"
		 "{\"name\":\"y2\",\"datatype\":\"FP32\",\"shape\":[-1]}]}",
		 MLREG_EINVALID, "2 outputs declared; this node serves exactly one"},
		{"{\"format\":\"xgboost\",\"file\":\"model.json\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\","
		 "\"shape\":[6]}],\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[-1]}]}",
		 MLREG_EINVALID, "input 'x' has shape [6]; this node takes rows of features"},
		{"{\"format\":\"xgboost\",\"file\":\"model.json\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\","
		 "\"shape\":[-1,2,3]}],\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[-1]}]}",
		 MLREG_EINVALID, "input 'x' has shape [-1,2,3]"},
		{"{\"format\":\"xgboost\",\"file\":\"model.json\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\","
		 "\"shape\":[-1,-1]}],\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[-1]}]}",
		 MLREG_EINVALID, "its feature count must be fixed"},
		{"{\"format\":\"xgboost\",\"file\":\"model.json\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\","
		 "\"shape\":[-1,0]}],\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[-1]}]}",
		 MLREG_EINVALID, "its feature count must be fixed"},
		{"{\"format\":\"xgboost\",\"file\":\"model.json\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\","
		 "\"shape\":[0,6]}],\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[-1]}]}",
		 MLREG_EINVALID, "its batch must be -1 or 1 to"},
		{"{\"format\":\"xgboost\",\"file\":\"model.json\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\","
		 "\"shape\":[65536,1024]}],\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[-1]}]}",
		 MLREG_EINVALID, "a fixed batch holds at most"},
		{"{\"format\":\"xgboost\",\"file\":\"model.json\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"BYTES\","
		 "\"shape\":[-1,6]}],\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[-1]}]}",
		 MLREG_EINVALID, "input 'x' has datatype BYTES"},
		{"{\"format\":\"xgboost\",\"file\":\"model.json\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP16\","
		 "\"shape\":[-1,6]}],\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[-1]}]}",
		 MLREG_EINVALID, "input 'x' has datatype FP16"},
		{"{\"format\":\"xgboost\",\"file\":\"model.json\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\","
		 "\"shape\":[-1,6]}],\"outputs\":[{\"name\":\"y\",\"datatype\":\"INT64\",\"shape\":[-1]}]}",
		 MLREG_EINVALID, "output 'y' has datatype INT64; this node answers FP32 or FP64"},
		{"{\"format\":\"xgboost\",\"file\":\"model.json\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\","
		 "\"shape\":[-1,6]}],\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[]}]}",
		 MLREG_EINVALID, "output 'y' has shape []"},
		{"{\"format\":\"xgboost\",\"file\":\"model.json\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\","
		 "\"shape\":[-1,6]}],\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[-1,3,1]}]}",
		 MLREG_EINVALID, "output 'y' has shape [-1,3,1]"},
		{"{\"format\":\"xgboost\",\"file\":\"nope.json\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\","
		 "\"shape\":[-1,6]}],\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[-1]}]}",
		 MLREG_ENOTFOUND, "mlreg-model.json: model file 'nope.json' is missing"},
		{"{\"format\":\"xgboost\",\"file\":\"model.json/x\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\","
		 "\"shape\":[-1,6]}],\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[-1]}]}",
		 MLREG_ENOTFOUND, "model file 'model.json/x' is missing"},
		{"{\"format\":\"xgboost\",\"file\":\"../model.json\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\","
		 "\"shape\":[-1,6]}],\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[-1]}]}",
		 MLREG_EINVALID, "'file' must be a relative path inside the version"},
		{"{\"format\":\"xgboost\"", MLREG_EINVALID, "mlreg-model.json: malformed JSON"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *dir = version_dir("spec_bad", cases[i].config, bin_json, "model.json");
		node_spec s = {.format = (char *)"untouched"};
		int rc = node_spec_load(dir, &s);
		if (rc != cases[i].code)
			fail_msg("case %zu: rc %d, want %d (%s)", i, rc, cases[i].code, mlreg_error_last());
		assert_contains(mlreg_error_last(), cases[i].reason);
		assert_string_equal(s.format, "untouched"); /* *s only written on success */
		tu_rmdir(dir);
	}
}

static void spec_files(void **state)
{
	char *good = strdup(config("model.json", "[-1,6]", "[-1]")); /* config() reuses its buffer */
	char *dir, path[1200], target[1200];
	node_spec s;

	/* no mlreg-model.json at all */
	dir = version_dir("spec_files", NULL, bin_json, "model.json");
	assert_int_equal(node_spec_load(dir, &s), MLREG_ENOTFOUND);
	assert_contains(mlreg_error_last(), "mlreg-model.json");
	tu_rmdir(dir);

	/* mlreg-model.json itself a symlink to a good one */
	dir = version_dir("spec_files", NULL, bin_json, "model.json");
	snprintf(target, sizeof(target), "%s/elsewhere.json", tmp);
	tu_write(target, good, strlen(good));
	snprintf(path, sizeof(path), "%s/mlreg-model.json", dir);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(node_spec_load(dir, &s), MLREG_EINVALID);
	assert_contains(mlreg_error_last(), "not a regular file");
	tu_rmdir(dir);

	/* the model file a symlink to a real model outside the folder */
	dir = version_dir("spec_files", good, NULL, NULL);
	snprintf(path, sizeof(path), "%s/model.json", dir);
	assert_int_equal(symlink(bin_json, path), 0);
	assert_int_equal(node_spec_load(dir, &s), MLREG_EINVALID);
	assert_contains(mlreg_error_last(), "model file 'model.json' goes through a symlink");
	tu_rmdir(dir);

	/* a folder on the way a symlink */
	dir = version_dir("spec_files", config("sub/bin.json", "[-1,6]", "[-1]"), NULL, NULL);
	snprintf(path, sizeof(path), "%s/sub", dir);
	assert_int_equal(symlink(tmp, path), 0);
	assert_int_equal(node_spec_load(dir, &s), MLREG_EINVALID);
	assert_contains(mlreg_error_last(), "goes through a symlink ('sub')");
	tu_rmdir(dir);

	/* the model file a folder */
	dir = version_dir("spec_files", good, NULL, NULL);
	snprintf(path, sizeof(path), "%s/model.json", dir);
	assert_int_equal(util_mkdir_p(path, 0755), 0);
	assert_int_equal(node_spec_load(dir, &s), MLREG_EINVALID);
	assert_contains(mlreg_error_last(), "model file 'model.json' is not a regular file");
	tu_rmdir(dir);

	/* and the good case in the same shape, so the ones above fail for
	 * the reason they name */
	dir = version_dir("spec_files", good, bin_json, "model.json");
	assert_int_equal(node_spec_load(dir, &s), 0);
	node_spec_free(&s);
	tu_rmdir(dir);
	free(good);
}

/* ---- predictions ---- */

/* XGBoost's own DMatrix prediction of ROWS rows from FIRST, from a booster
 * loaded independently of the runtime; *k values per row. */
static float *reference(const char *model, size_t first, size_t rows, size_t *k)
{
	BoosterHandle b;
	DMatrixHandle d;
	const bst_ulong *shape;
	bst_ulong dim;
	const float *res;
	float *copy;
	XGB_OK(XGBoosterCreate(NULL, 0, &b));
	XGB_OK(XGBoosterLoadModel(b, model));
	XGB_OK(XGDMatrixCreateFromMat(X + first * COLS, rows, COLS, NAN, &d));
	XGB_OK(XGBoosterPredictFromDMatrix(b, d,
					   "{\"type\":0,\"training\":false,\"iteration_begin\":0,"
					   "\"iteration_end\":0,\"strict_shape\":false}",
					   &shape, &dim, &res));
	*k = dim == 2 ? shape[1] : 1;
	copy = malloc(rows * *k * sizeof(float));
	assert_non_null(copy);
	memcpy(copy, res, rows * *k * sizeof(float));
	XGB_OK(XGDMatrixFree(d));
	XGB_OK(XGBoosterFree(b));
	return copy;
}

static void assert_same_floats(const float *got, const float *want, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(&got[i], &want[i], sizeof(float)) != 0)
			fail_msg("value %zu: got %.9g, want %.9g", i, got[i], want[i]);
}

static void predict_matches(const char *model, const char *file)
{
	char *dir = version_dir("predict", config(file, "[-1,6]", "[-1]"), model, file);
	node_model *m = NULL;
	node_output o = {0};
	size_t k;
	float *want = reference(model, 0, ROWS, &k);
	if (node_model_open(dir, &m) < 0)
		fail_msg("%s", mlreg_error_last());
	assert_int_equal(k, 1);
	assert_int_equal(node_model_predict(m, X, ROWS, &o), 0);
	assert_int_equal(o.dims, 1);
	assert_int_equal(o.shape[0], ROWS);
	assert_int_equal(o.n, ROWS);
	assert_same_floats(o.data, want, ROWS);
	free(o.data);
	/* one row at a time, from the middle: the same numbers */
	for (size_t r = 100; r < 110; r++) {
		assert_int_equal(node_model_predict(m, X + r * COLS, 1, &o), 0);
		assert_int_equal(o.n, 1);
		assert_same_floats(o.data, want + r, 1);
		free(o.data);
	}
	/* probabilities, not margins */
	for (size_t r = 0; r < ROWS; r++)
		assert_true(want[r] > 0.0f && want[r] < 1.0f);
	node_model_close(m);
	free(want);
	tu_rmdir(dir);
}

static void predict_json(void **state)
{
	predict_matches(bin_json, "model.json");
}

static void predict_ubj(void **state)
{
	predict_matches(bin_ubj, "model.ubj");
}

static void predict_multiclass(void **state)
{
	char *dir = version_dir("multi", config("model.json", "[-1,6]", "[-1,3]"), multi_json, "model.json");
	node_model *m = NULL;
	node_output o = {0};
	size_t k;
	float *want = reference(multi_json, 10, 40, &k);
	if (node_model_open(dir, &m) < 0)
		fail_msg("%s", mlreg_error_last());
	assert_int_equal(k, CLASSES);
	assert_int_equal(node_model_predict(m, X + 10 * COLS, 40, &o), 0);
	assert_int_equal(o.dims, 2);
	assert_int_equal(o.shape[0], 40);
	assert_int_equal(o.shape[1], CLASSES);
	assert_int_equal(o.n, 40 * CLASSES);
	assert_same_floats(o.data, want, 40 * CLASSES);
	for (int r = 0; r < 40; r++) {
		float sum = o.data[r * 3] + o.data[r * 3 + 1] + o.data[r * 3 + 2];
		assert_true(fabsf(sum - 1.0f) < 1e-5f);
	}
	free(o.data);
	node_model_close(m);
	free(want);
	tu_rmdir(dir);

	/* an output of any class count is fine too */
	dir = version_dir("multi", config("model.json", "[-1,6]", "[-1,-1]"), multi_json, "model.json");
	assert_int_equal(node_model_open(dir, &m), 0);
	node_model_close(m);
	tu_rmdir(dir);
}

/* What the descriptor declares must be what the model does. */
static void open_refuses_mismatch(void **state)
{
	static const struct {
		const char *model_var, *in, *out, *reason;
	} cases[] = {
		{"multi", "[-1,6]", "[-1]", "output 'output' is declared with 1 dimension but the model answers [1, 3]"},
		{"multi", "[-1,6]", "[-1,4]", "output 'output' declares 4 values per row but the model answers 3"},
		{"bin", "[-1,6]", "[-1,1]", "is declared with 2 dimensions but the model answers [1]"},
		{"bin", "[-1,6]", "[1]", "output 'output' has batch 1 but input 'input' has batch -1"},
		{"bin", "[-1,5]", "[-1]", "warm-up prediction on 'model.json' failed: XGBoost prediction failed"},
		{"bin", "[-1,7]", "[-1]", "Number of columns in data must equal to trained model"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *model = !strcmp(cases[i].model_var, "multi") ? multi_json : bin_json;
		char *dir = version_dir("mismatch", config("model.json", cases[i].in, cases[i].out), model, "model.json");
		node_model *m = (node_model *)0x1;
		int rc = node_model_open(dir, &m);
		if (rc != MLREG_EINVALID)
			fail_msg("case %zu: rc %d (%s)", i, rc, mlreg_error_last());
		assert_contains(mlreg_error_last(), cases[i].reason);
		assert_ptr_equal(m, (node_model *)0x1);
		tu_rmdir(dir);
	}
}

static void fixed_batch(void **state)
{
	char *dir = version_dir("batch", config("model.json", "[4,6]", "[4]"), bin_json, "model.json");
	node_model *m = NULL;
	node_output o = {0};
	size_t k;
	float *want = reference(bin_json, 0, 4, &k);
	if (node_model_open(dir, &m) < 0)
		fail_msg("%s", mlreg_error_last());
	assert_int_equal(node_model_predict(m, X, 3, &o), MLREG_EINVALID);
	assert_contains(mlreg_error_last(), "input 'input' takes batches of 4 rows, got 3");
	assert_null(o.data);
	assert_int_equal(node_model_predict(m, X, 0, &o), MLREG_EINVALID);
	assert_contains(mlreg_error_last(), "has no rows");
	assert_int_equal(node_model_predict(m, X, 4, &o), 0);
	assert_int_equal(o.n, 4);
	assert_same_floats(o.data, want, 4);
	free(o.data);
	free(want);
	node_model_close(m);
	tu_rmdir(dir);
}

/* ---- many threads on one model ---- */

#define THREADS 4
#define ROUNDS 300

typedef struct {
	const node_model *m;
	const float *want;
	int id;
	int mismatches;
	int errors;
} worker_arg;

static void *worker(void *p)
{
	worker_arg *a = p;
	for (int i = 0; i < ROUNDS; i++) {
		/* each thread and round its own rows and batch size, so a result
		 * buffer shared between threads would show as wrong numbers */
		size_t first = (size_t)(a->id * 37 + i * 13) % (ROWS - 32), rows = 1 + (size_t)(i + a->id) % 31;
		node_output o = {0};
		if (node_model_predict(a->m, X + first * COLS, rows, &o) < 0) {
			a->errors++;
			continue;
		}
		if (o.n != rows || memcmp(o.data, a->want + first, rows * sizeof(float)) != 0)
			a->mismatches++;
		free(o.data);
	}
	return NULL;
}

static void threads_agree(void **state)
{
	char *dir = version_dir("threads", config("model.json", "[-1,6]", "[-1]"), bin_json, "model.json");
	node_model *m = NULL;
	pthread_t t[THREADS];
	worker_arg args[THREADS];
	size_t k;
	float *want = reference(bin_json, 0, ROWS, &k);
	if (node_model_open(dir, &m) < 0)
		fail_msg("%s", mlreg_error_last());
	for (int i = 0; i < THREADS; i++) {
		args[i] = (worker_arg){.m = m, .want = want, .id = i};
		assert_int_equal(pthread_create(&t[i], NULL, worker, &args[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		if (args[i].mismatches || args[i].errors)
			fail_msg("thread %d: %d wrong answers, %d errors in %d rounds", i, args[i].mismatches,
				 args[i].errors, ROUNDS);
	}
	node_model_close(m);
	free(want);
	tu_rmdir(dir);
}

/* ---- bad model files ---- */

static void corrupt_models(void **state)
{
	size_t jlen, ulen;
	char *j = read_all(bin_json, &jlen), *u = read_all(bin_ubj, &ulen);
	static char junk[4096];
	struct {
		const char *name, *file;
		const void *data;
		size_t len;
		const char *reason;
	} cases[] = {
		{"truncated json", "model.json", j, jlen / 2, "XGBoost cannot read the model"},
		{"truncated ubj", "model.ubj", u, ulen / 2, "XGBoost cannot read the model"},
		{"one byte short", "model.json", j, jlen - 1, "XGBoost cannot read the model"},
		{"garbage", "model.json", junk, sizeof(junk), "XGBoost cannot read the model"},
		{"garbage ubj", "model.ubj", junk, sizeof(junk), "XGBoost cannot read the model"},
		{"empty", "model.json", "", 0, "XGBoost cannot read the model"},
		{"empty object", "model.json", "{}", 2, "XGBoost cannot read the model"},
		{"no trees", "model.json", "{\"learner\":{}}", 14, "XGBoost cannot read the model"},
		{"ubj named json", "model.json", u, ulen, "XGBoost cannot read the model"},
		{"json named ubj", "model.ubj", j, jlen, "XGBoost cannot read the model"},
		{"other extension", "model.bin", j, jlen, "is named *.json (JSON) or *.ubj (UBJSON), not 'model.bin'"},
	};
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 7 + 3);
	junk[0] = '{';
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *dir = version_dir("corrupt", config(cases[i].file, "[-1,6]", "[-1]"), NULL, NULL), path[1200];
		node_model *m = NULL;
		int rc;
		snprintf(path, sizeof(path), "%s/%s", dir, cases[i].file);
		tu_write(path, cases[i].data, cases[i].len);
		rc = node_model_open(dir, &m);
		if (rc != MLREG_EINVALID)
			fail_msg("%s: rc %d (%s)", cases[i].name, rc, mlreg_error_last());
		assert_null(m);
		assert_contains(mlreg_error_last(), "cannot load model file '");
		assert_contains(mlreg_error_last(), cases[i].reason);
		/* one line of printable text: no stack trace, no raw bytes */
		for (const char *c = mlreg_error_last(); *c; c++)
			if (*c < 0x20 || *c >= 0x7f)
				fail_msg("%s: unprintable byte 0x%02x in '%s'", cases[i].name, (unsigned char)*c,
					 mlreg_error_last());
		tu_rmdir(dir);
	}
	free(j);
	free(u);
}

/* ---- the check in a child ---- */

static node_check_limits limits(void)
{
	node_check_limits l = {
		.exe = NODE_CHECK_HELPER,
		.memory_bytes = (uint64_t)2 << 30,
		.timeout_ms = 30000,
		.cpu_seconds = 30,
	};
	return l;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run the helper on a folder named MODE; its rc and reason. */
static int run_mode(const node_check_limits *l, const char *mode)
{
	char dir[1024];
	snprintf(dir, sizeof(dir), "%s/%s", tmp, mode);
	mlreg_error_clear();
	return node_check_run(l, dir);
}

static void check_good_model(void **state)
{
	node_check_limits l = limits();
	char *dir = version_dir("checked", config("model.json", "[-1,6]", "[-1]"), bin_json, "model.json");
	int rc = node_check_run(&l, dir);
	if (rc != 0)
		fail_msg("rc %d: %s", rc, mlreg_error_last());
	tu_rmdir(dir);
	dir = version_dir("checked", config("model.json", "[-1,6]", "[-1,3]"), multi_json, "model.json");
	rc = node_check_run(&l, dir);
	if (rc != 0)
		fail_msg("rc %d: %s", rc, mlreg_error_last());
	tu_rmdir(dir);
}

static void check_corrupt_model(void **state)
{
	node_check_limits l = limits();
	size_t len;
	char *j = read_all(bin_json, &len), path[1200];
	char *dir = version_dir("checked", config("model.json", "[-1,6]", "[-1]"), NULL, NULL);
	snprintf(path, sizeof(path), "%s/model.json", dir);
	tu_write(path, j, len / 3);
	assert_int_equal(node_check_run(&l, dir), MLREG_EINVALID);
	assert_contains(mlreg_error_last(),
			"model check failed: exit 1: cannot load model file 'model.json': XGBoost cannot read the model");
	free(j);
	tu_rmdir(dir);
	/* and a spec refusal comes back the same way */
	dir = version_dir("checked", config("model.json", "[-1,6]", "[-1]"), NULL, NULL);
	assert_int_equal(node_check_run(&l, dir), MLREG_EINVALID);
	assert_contains(mlreg_error_last(), "model check failed: exit 1: mlreg-model.json: model file 'model.json' is missing");
	tu_rmdir(dir);
}

/* A copy of the binary model whose first tree's root has left child
 * CHILD: XGBoost 1.7 reads it without complaint, and then, predicting,
 * follows the index wherever it points.  Edited as text: a JSON library
 * would write 1.0 as 1, which XGBoost then refuses as an integer. */
static char *hostile_model(const char *name, int child)
{
	static const char key[] = "\"left_children\":[";
	size_t len, at, rest;
	char *text = read_all(bin_json, &len), path[1200];
	util_buf b;
	assert_non_null(strstr(text, key));
	at = (size_t)(strstr(text, key) - text) + strlen(key);
	rest = at + strspn(text + at, "0123456789-");
	util_buf_init(&b, 64u << 20);
	assert_int_equal(util_buf_put(&b, text, at), 0);
	assert_int_equal(util_buf_printf(&b, "%d", child), 0);
	assert_int_equal(util_buf_puts(&b, text + rest), 0);
	snprintf(path, sizeof(path), "%s/%s.json", tmp, name);
	tu_write(path, b.ptr, b.len);
	util_buf_release(&b);
	free(text);
	return strdup(path);
}

/* Real model files that take XGBoost down, run by the real check. */
static void check_hostile_models(void **state)
{
	node_check_limits l = limits();
	char *model = hostile_model("far_child", 100000000), *dir;
	dir = version_dir("checked", config("model.json", "[-1,6]", "[-1]"), model, "model.json");
	assert_int_equal(node_check_run(&l, dir), MLREG_EINVALID);
	assert_contains(mlreg_error_last(), "model check failed: killed by signal 11 (SIGSEGV)");
	tu_rmdir(dir);
	free(model);
	/* the root its own child: prediction never ends */
	model = hostile_model("loop", 0);
	dir = version_dir("checked", config("model.json", "[-1,6]", "[-1]"), model, "model.json");
	l.timeout_ms = 1000;
	assert_int_equal(node_check_run(&l, dir), MLREG_EINVALID);
	assert_string_equal(mlreg_error_last(), "model check failed: timed out after 1s");
	tu_rmdir(dir);
	free(model);
}

static void check_crash(void **state)
{
	node_check_limits l = limits();
	assert_int_equal(run_mode(&l, "segv"), MLREG_EINVALID);
	assert_contains(mlreg_error_last(), "model check failed: killed by signal 11 (SIGSEGV)");
}

static void check_timeout(void **state)
{
	node_check_limits l = limits();
	int64_t t0 = mono_ms(), took;
	l.timeout_ms = 300;
	assert_int_equal(run_mode(&l, "sleep"), MLREG_EINVALID);
	took = mono_ms() - t0;
	assert_string_equal(mlreg_error_last(), "model check failed: timed out after 300ms");
	if (took < 300 || took > 5000)
		fail_msg("the check took %lld ms for a 300 ms timeout", (long long)took);
	l.timeout_ms = 1000;
	assert_int_equal(run_mode(&l, "sleep"), MLREG_EINVALID);
	assert_string_equal(mlreg_error_last(), "model check failed: timed out after 1s");
}

static void check_cpu_limit(void **state)
{
	node_check_limits l = limits();
	l.cpu_seconds = 1;
	assert_int_equal(run_mode(&l, "spin"), MLREG_EINVALID);
	assert_contains(mlreg_error_last(), "model check failed: killed by signal 24 (SIGXCPU), past the cpu limit of 1s");
}

static void check_memory_limit(void **state)
{
	node_check_limits l = limits();
	char *dir;
	int rc;
	if (UNDER_ASAN)
		skip();
	l.memory_bytes = 512u << 20;
	assert_int_equal(run_mode(&l, "alloc"), MLREG_EINVALID);
	assert_string_equal(mlreg_error_last(), "model check failed: exit 1: cannot allocate 1073741824 bytes");
	/* without the limit the same child succeeds: the limit made the difference */
	l.memory_bytes = 0;
	rc = run_mode(&l, "alloc");
	if (rc != 0)
		fail_msg("unlimited: %s", mlreg_error_last());
	/* a real model under a limit too small for XGBoost is refused, cleanly */
	l.memory_bytes = 8u << 20;
	dir = version_dir("checked", config("model.json", "[-1,6]", "[-1]"), bin_json, "model.json");
	assert_int_equal(node_check_run(&l, dir), MLREG_EINVALID);
	assert_contains(mlreg_error_last(), "model check failed: ");
	tu_rmdir(dir);
}

static void check_limits_applied(void **state)
{
	node_check_limits l = limits();
	char want[128];
	l.cpu_seconds = 7;
	assert_int_equal(run_mode(&l, "limits"), MLREG_EINVALID);
	if (UNDER_ASAN)
		snprintf(want, sizeof(want), "exit 3: as=%llu cpu=7/8 core=0", (unsigned long long)RLIM_INFINITY);
	else
		snprintf(want, sizeof(want), "exit 3: as=%llu cpu=7/8 core=0", (unsigned long long)l.memory_bytes);
	assert_contains(mlreg_error_last(), want);
}

/* Limits above the server's own hard limits are lowered to them, not
 * turned into a child that cannot start. */
static void check_limits_clamped(void **state)
{
	node_check_limits l = limits();
	struct rlimit old, low;
	assert_int_equal(getrlimit(RLIMIT_CPU, &old), 0);
	if (old.rlim_max != RLIM_INFINITY && old.rlim_max < 1000)
		skip();
	low.rlim_cur = low.rlim_max = 1000;
	assert_int_equal(setrlimit(RLIMIT_CPU, &low), 0);
	l.cpu_seconds = 5000;
	int rc = run_mode(&l, "limits");
	setrlimit(RLIMIT_CPU, &old); /* needs CAP_SYS_RESOURCE; else 1000 s stays, harmless */
	assert_int_equal(rc, MLREG_EINVALID);
	assert_contains(mlreg_error_last(), "cpu=1000/1000 core=0");
}

static void check_closes_descriptors(void **state)
{
	node_check_limits l = limits();
	int leak = open("/dev/null", O_RDONLY), p[2];
	assert_true(leak >= 0);
	assert_int_equal(pipe(p), 0); /* no O_CLOEXEC: the child must close them anyway */
	if (run_mode(&l, "fds") != 0)
		fail_msg("%s", mlreg_error_last());
	close(leak);
	close(p[0]);
	close(p[1]);
}

/* The child inherits the environment, but runs OpenMP on one thread. */
static void check_environment(void **state)
{
	node_check_limits l = limits();
	setenv("OMP_NUM_THREADS", "8", 1);
	setenv("MLREG_TEST_MARK", "kept", 1);
	assert_int_equal(run_mode(&l, "env"), MLREG_EINVALID);
	assert_contains(mlreg_error_last(), "exit 4: OMP_NUM_THREADS=1 MLREG_TEST_MARK=kept");
	unsetenv("OMP_NUM_THREADS");
	assert_int_equal(run_mode(&l, "env"), MLREG_EINVALID);
	assert_contains(mlreg_error_last(), "exit 4: OMP_NUM_THREADS=1 MLREG_TEST_MARK=kept");
	unsetenv("MLREG_TEST_MARK");
}

/* The parent side leaves nothing behind: no descriptor, no zombie. */
static void check_cleans_up(void **state)
{
	static const char *const modes[] = {"segv", "flood", "fds", "limits", "sleep"};
	node_check_limits l = limits();
	int before = tu_count_entries("/proc/self/fd"), after;
	l.timeout_ms = 200;
	for (int round = 0; round < 3; round++)
		for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
			run_mode(&l, modes[i]);
	after = tu_count_entries("/proc/self/fd");
	if (after != before)
		fail_msg("%d descriptors open before 15 checks, %d after", before, after);
	errno = 0;
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

static void check_resets_signals(void **state)
{
	node_check_limits l = limits();
	sigset_t block, old;
	struct sigaction ign = {.sa_handler = SIG_IGN}, oldpipe;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGXCPU);
	assert_int_equal(pthread_sigmask(SIG_BLOCK, &block, &old), 0);
	assert_int_equal(sigaction(SIGPIPE, &ign, &oldpipe), 0);
	int rc = run_mode(&l, "signals");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	sigaction(SIGPIPE, &oldpipe, NULL);
	if (rc != 0)
		fail_msg("%s", mlreg_error_last());
}

static void check_stderr_flood(void **state)
{
	node_check_limits l = limits();
	assert_int_equal(run_mode(&l, "flood"), MLREG_EINVALID);
	assert_string_equal(mlreg_error_last(), "model check failed: exit 2: last words");
}

static void check_bad_exe(void **state)
{
	node_check_limits l = limits();
	l.exe = "/nonexistent/mlreg-node";
	assert_int_equal(run_mode(&l, "segv"), MLREG_EIO);
	assert_contains(mlreg_error_last(), "cannot run '/nonexistent/mlreg-node'");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dtype_names),
		cmocka_unit_test(spec_good),
		cmocka_unit_test(spec_refusals),
		cmocka_unit_test(spec_files),
		cmocka_unit_test(predict_json),
		cmocka_unit_test(predict_ubj),
		cmocka_unit_test(predict_multiclass),
		cmocka_unit_test(open_refuses_mismatch),
		cmocka_unit_test(fixed_batch),
		cmocka_unit_test(threads_agree),
		cmocka_unit_test(corrupt_models),
		cmocka_unit_test(check_good_model),
		cmocka_unit_test(check_corrupt_model),
		cmocka_unit_test(check_hostile_models),
		cmocka_unit_test(check_crash),
		cmocka_unit_test(check_timeout),
		cmocka_unit_test(check_cpu_limit),
		cmocka_unit_test(check_memory_limit),
		cmocka_unit_test(check_limits_applied),
		cmocka_unit_test(check_limits_clamped),
		cmocka_unit_test(check_closes_descriptors),
		cmocka_unit_test(check_resets_signals),
		cmocka_unit_test(check_cleans_up),
		cmocka_unit_test(check_environment),
		cmocka_unit_test(check_stderr_flood),
		cmocka_unit_test(check_bad_exe),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

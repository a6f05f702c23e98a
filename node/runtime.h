/*
 * runtime.h - what mlreg-node knows about a model: its declared tensors
 * (from mlreg-model.json, docs/model-format.md), the small runtime interface
 * a format plugs in behind (load, predict, free), and the check that runs a
 * model in a child process before it may enter the serving process.
 *
 * Only the XGBoost runtime exists today (runtime_xgb.c); another format adds
 * one node_runtime_ops table and one line in node_runtime_find().
 */
#ifndef MLREG_NODE_RUNTIME_H
#define MLREG_NODE_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#define NODE_MAX_DIMS 16

/* Open Inference Protocol datatypes the node accepts on input. */
typedef enum { NODE_DT_FP32, NODE_DT_FP64, NODE_DT_INT32, NODE_DT_INT64, NODE_DT_BOOL, NODE_DT_OTHER } node_dtype;

/* "FP32" -> NODE_DT_FP32; NODE_DT_OTHER for anything else. */
node_dtype node_dtype_parse(const char *s);
const char *node_dtype_name(node_dtype t);

typedef struct {
	char *name;
	char *datatype;             /* as declared ("FP32") */
	node_dtype dtype;
	int64_t shape[NODE_MAX_DIMS]; /* -1 = any size */
	int dims;
} node_tensor_spec;

/* A version's mlreg-model.json, read from its folder. */
typedef struct {
	char *format;      /* "xgboost" */
	char *file;        /* model file, relative to the version folder */
	node_tensor_spec input;   /* the one input tensor */
	node_tensor_spec output;  /* the one output tensor */
	cJSON *schema;     /* {"format","file","inputs","outputs"} as parsed */
} node_spec;

/* Read DIR/mlreg-model.json (util_model_config_parse), and check what this
 * node can serve: a known format, exactly one input of rank 2 with a fixed
 * feature count ([-1, N] or [B, N]) and datatype FP32, FP64, INT32, INT64
 * or BOOL; exactly one output, FP32 or FP64, [-1] or [-1, K]; a model file
 * that is a regular file reached without symlinks (lstat, every component).
 * MLREG_EINVALID / MLREG_ENOTFOUND with a reason that names the file; *s
 * (caller-owned, release with node_spec_free) is written only on success. */
int node_spec_load(const char *dir, node_spec *s);
/* Free what *s holds and zero it; twice, or on a zeroed spec, is harmless. */
void node_spec_free(node_spec *s);
/* Features per row: the input's last dimension. */
size_t node_spec_features(const node_spec *s);

/* A prediction: data (malloc'ed, caller frees) of n floats, shaped
 * shape[0..dims) (dims 1: [rows]; dims 2: [rows, k]). */
typedef struct {
	float *data;
	size_t n;
	int64_t shape[2];
	int dims;
} node_output;

typedef struct {
	const char *format;
	/* Load the model file at path; *h is the runtime's handle.  A bad file
	 * is MLREG_EINVALID with the runtime's reason. */
	int (*load)(const char *path, void **h);
	/* Predict rows x cols row-major floats (NaN = missing).  Safe to call
	 * from many threads at once on one handle; one thread per call. */
	int (*predict)(void *h, const float *x, size_t rows, size_t cols, node_output *out);
	void (*free)(void *h);
} node_runtime_ops;

/* Free what the runtimes keep per thread (XGBoost's proxy DMatrices);
 * call once every thread that predicted has been joined. */
void node_runtime_shutdown(void);

/* The runtime for a format, or NULL. */
const node_runtime_ops *node_runtime_find(const char *format);
/* The formats this node serves, comma-separated ("xgboost"), into out
 * (truncated to outsz); for messages and the server's metadata. */
void node_runtime_formats(char *out, size_t outsz);

/* The runtimes compiled in (one table per format, in runtime_*.c). */
extern const node_runtime_ops node_runtime_xgboost;

/* A loaded model: its spec and a runtime handle. */
typedef struct {
	node_spec spec;
	const node_runtime_ops *ops;
	void *h;
} node_model;

/* Spec, load, and one warm-up prediction on a zero row (a fixed batch of
 * them), whose shape must fit the declared output.  Errors with reason:
 * MLREG_ENOTFOUND (no mlreg-model.json or model file), MLREG_EINVALID (the
 * descriptor, the model file, or the two disagree).  *out (free with
 * node_model_close) is written only on success. */
int node_model_open(const char *dir, node_model **out);
/* Predict rows of node_spec_features() floats each (x holds rows times
 * that).  MLREG_EINVALID for no rows or a fixed batch of another size.
 * *out written only on success; the caller frees out->data.  Thread-safe on
 * one model. */
int node_model_predict(const node_model *m, const float *x, size_t rows, node_output *out);
/* Free the runtime handle and the spec; NULL is a no-op. */
void node_model_close(node_model *m);

/* ---- the check in a child process (check.c) ---- */
typedef struct {
	const char *exe;        /* the node binary to exec ("/proc/self/exe") */
	uint64_t memory_bytes;  /* RLIMIT_AS of the child; 0 = none (and none in ASan builds) */
	int64_t timeout_ms;     /* wall clock; the child is killed past it; <= 0 = none */
	int64_t cpu_seconds;    /* RLIMIT_CPU (SIGXCPU, SIGKILL a second later); 0 = none */
} node_check_limits;

/* Run `exe --check DIR` with the limits: the child opens the model and
 * predicts once.  0 when it exited 0; otherwise MLREG_EINVALID with a reason
 * ("model check failed: exit 1: <child's last stderr line>", "model check
 * failed: killed by signal 11 (SIGSEGV)", "model check failed: timed out
 * after 10s"); MLREG_EIO when exe cannot be run or the fork fails.
 * Blocking: call from a worker thread.  The process must not ignore SIGCHLD
 * (the child would be reaped before its status is read). */
int node_check_run(const node_check_limits *lim, const char *dir);
/* The child's side: open the model in DIR (the warm-up predicts zeros),
 * predict once more on missing values, print the reason as one line on
 * stderr on failure.  Returns the process exit status (0 or 1). */
int node_check_main(const char *dir);

#endif

/*
 * ctl.h - the building blocks of the deployment controller
 * (docs/controller.md): rollout steps, the Prometheus text a node exports,
 * analysis windows, and the driver interface through which the reconciler
 * talks to serving nodes (mlreg-node first; TorchServe and Triton later,
 * without touching the reconciler).
 *
 * Everything here is free of the database: the reconciler (reconcile.c)
 * reads its snapshot from the registry, uses these, and writes back.
 */
#ifndef MLREG_CONTROLLER_CTL_H
#define MLREG_CONTROLLER_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "util/util.h"

/* ---- steps (steps.c) ---- */
typedef enum { CTL_STEP_WEIGHT, CTL_STEP_PAUSE, CTL_STEP_ANALYSIS, CTL_STEP_SHADOW } ctl_step_kind;

typedef struct {
	ctl_step_kind kind;
	int weight;        /* CTL_STEP_WEIGHT: 0..100 */
	int64_t ms;        /* pause/analysis/shadow duration; -1: pause until resumed */
} ctl_step;

#define CTL_MAX_STEPS 64
/* The analysis window of the canary and blue-green presets when none is
 * given. */
#define CTL_ANALYSIS_DEFAULT_MS 60000

/* Parse "weight:10,analysis:30s,weight:50,pause:1m,pause,shadow:10s,weight:100".
 * Weights 0..100; durations util_duration_ms (>0); at most CTL_MAX_STEPS.
 * MLREG_EINVALID naming the bad step. */
int ctl_steps_parse(const char *s, ctl_step *out, int *n);
/* The steps of a preset (NULL: "canary", the default):
 *   recreate    weight:100
 *   rolling     weight:100 (the node waves come from max_unavailable)
 *   canary      weight:10,analysis:A,weight:50,analysis:A,weight:100
 *   blue-green  weight:0,analysis:A,weight:100
 * where A is analysis_ms (<= 0: CTL_ANALYSIS_DEFAULT_MS).
 * MLREG_EINVALID for an unknown name. */
int ctl_steps_preset(const char *strategy, int64_t analysis_ms, ctl_step *out, int *n);
/* As JSON [{"kind":"weight","weight":10},{"kind":"pause","ms":null},…] and back.
 * ctl_steps_json returns NULL when out of memory (caller deletes);
 * from_json checks like parse (MLREG_EINVALID naming the step). */
cJSON *ctl_steps_json(const ctl_step *s, int n);
int ctl_steps_from_json(const cJSON *a, ctl_step *out, int *n);
/* "weight:10,analysis:30s,…" appended to out (durations formatted with
 * util_duration_format, so ctl_steps_parse reads it back as the same
 * steps); the buffer's error when it is full. */
int ctl_steps_format(const ctl_step *s, int n, util_buf *out);

/* ---- Prometheus text (prom.c) ---- */
typedef struct {
	char *name;        /* metric name, e.g. mlreg_node_requests_total */
	char **keys;       /* label names */
	char **values;     /* label values (unescaped) */
	int nlabels;
	double value;
} ctl_sample;

typedef struct {
	ctl_sample *s;
	size_t n;
} ctl_samples;

#define CTL_PROM_MAX_LINE 16384 /* bytes in one line */
#define CTL_PROM_MAX_LABELS 32  /* labels on one sample */

/* Parse Prometheus text exposition format (0.0.4): comments and blank
 * lines skipped, samples with optional labels and optional timestamp
 * (dropped).  Any malformed line (also one filtered out) is MLREG_EINVALID
 * naming the line number; more than max_samples kept samples is
 * MLREG_ETOOBIG.  Only metric names starting with `prefix` are kept (NULL
 * keeps all).  *out is written only on success; the caller releases it
 * with ctl_samples_release. */
int ctl_prom_parse(const char *text, size_t len, const char *prefix, size_t max_samples, ctl_samples *out);
/* Frees what ctl_prom_parse gave (each sample is one block starting at
 * its keys array) and empties s; NULL is a no-op. */
void ctl_samples_release(ctl_samples *s);
/* Value of a label in a sample, NULL when absent. */
const char *ctl_sample_label(const ctl_sample *s, const char *key);

/* ---- analysis (analysis.c) ---- */
/* Counters of one version on one node, read from mlreg-node's metrics. */
typedef struct {
	double requests;    /* mlreg_node_requests_total summed over codes */
	double failures;    /* … over non-2xx codes */
	double buckets[32]; /* mlreg_node_request_duration_seconds_bucket cumulative */
	double bounds[32];  /* their le bounds (+Inf last) */
	int nbuckets;
} ctl_counts;

/* The counters of (served model, version) in parsed samples.  Samples with
 * a negative or non-finite value are ignored; at most 32 bucket bounds are
 * kept (past that the highest finite ones merge into the last). */
void ctl_counts_of(const ctl_samples *s, const char *model, const char *version, ctl_counts *out);
/* end - start, where a counter that dropped means the node restarted:
 * then end counts from zero. */
void ctl_counts_delta(const ctl_counts *start, const ctl_counts *end, ctl_counts *out);
/* Sum b into a (bucket bounds must match; mismatched bounds are skipped,
 * a's histogram stays as it was while requests and failures add up). */
void ctl_counts_add(ctl_counts *a, const ctl_counts *b);

typedef struct {
	double requests, failures, failure_rate, p99_ms;
} ctl_window;

/* failure_rate is 0 without requests; p99_ms is histogram_quantile(0.99)
 * in milliseconds, NaN without observations or without a +Inf bucket. */
void ctl_window_of(const ctl_counts *c, ctl_window *out);

typedef enum { CTL_ANALYSIS_SUCCESSFUL, CTL_ANALYSIS_FAILED, CTL_ANALYSIS_INCONCLUSIVE } ctl_verdict;

#define CTL_MAX_CONDITIONS 16

/* Judge the target's window against the conditions ("failure_rate<0.01,
 * p99_ms<250", the util/expr.h grammar over requests, failures,
 * failure_rate, p99_ms; NULL or "" for none) and against stable's failure
 * rate plus margin (skipped when stable is NULL or served nothing, or
 * margin is negative or NaN).  Fewer than min_requests target requests
 * (and never fewer than one): INCONCLUSIVE.  A condition on an unknown
 * p99 (NaN) fails.  *result (when result is not NULL; caller deletes) gets
 * {"result","reason","metrics":{"requests",…},"stable":{…}|null,
 *  "checks":[{"condition","actual","passed"}]}.  MLREG_EINVALID for bad
 * conditions; *verdict and *result are written only on success. */
int ctl_judge(const ctl_window *target, const ctl_window *stable, const char *conditions, double margin,
	      int64_t min_requests, ctl_verdict *verdict, cJSON **result);
/* "Successful", "Failed", "Inconclusive". */
const char *ctl_verdict_name(ctl_verdict v);
/* 0 when conditions would be accepted by ctl_judge, MLREG_EINVALID naming
 * the bad one otherwise (for checking --analysis when a deployment is
 * created). */
int ctl_conditions_check(const char *conditions);

/* ---- drivers (driver.h, driver_mlreg.c) ---- */
#include "controller/driver.h"

#endif

/*
 * metrics.c - mlreg-node's Prometheus metrics (docs/node.md lists them).
 *
 * Counters live in one entry per (model, version), created the first time
 * the pair is seen and kept for the life of the process, so a counter never
 * goes backwards when a version is unloaded and loaded again (the
 * controller's analysis takes differences of them).  Recording is a few
 * relaxed atomic adds on the entry the version already points to: no lock
 * and no lookup on the inference path.  Gauges (loaded, weight) are read
 * from the table at scrape time.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "node/node.h"

static const double bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
				0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};
#define NB (sizeof(bounds) / sizeof(bounds[0]))

typedef struct {
	_Atomic uint64_t buckets[NB + 1];
	_Atomic uint64_t sum_ns;
} histogram;

struct node_metrics_entry {
	char *model, *version;
	_Atomic uint64_t codes[600];
	histogram latency;
	_Atomic uint64_t shadow_requests, shadow_mismatch, shadow_errors;
	histogram shadow_latency;
	struct node_metrics_entry *next;
};

typedef struct failure {
	char *model;
	_Atomic uint64_t n;
	struct failure *next;
} failure;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static node_metrics_entry *entries;
static failure *failures;
static _Atomic uint64_t shadow_dropped;

node_metrics_entry *node_metrics_entry_get(const char *model, const char *version)
{
	node_metrics_entry *e;
	pthread_mutex_lock(&mu);
	for (e = entries; e; e = e->next)
		if (!strcmp(e->model, model) && !strcmp(e->version, version))
			break;
	if (!e && (e = calloc(1, sizeof(*e)))) {
		e->model = strdup(model);
		e->version = strdup(version);
		if (!e->model || !e->version) {
			free(e->model);
			free(e->version);
			free(e);
			e = NULL;
		} else {
			e->next = entries;
			entries = e;
		}
	}
	pthread_mutex_unlock(&mu);
	return e;
}

static void observe(histogram *h, double seconds)
{
	size_t b = 0;
	while (b < NB && seconds > bounds[b])
		b++;
	atomic_fetch_add_explicit(&h->buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_ns, (uint64_t)(seconds * 1e9), memory_order_relaxed);
}

void node_metrics_request(node_metrics_entry *e, unsigned code, double seconds)
{
	if (!e)
		return;
	atomic_fetch_add_explicit(&e->codes[code < 600 ? code : 599], 1, memory_order_relaxed);
	observe(&e->latency, seconds);
}

void node_metrics_shadow(node_metrics_entry *e, double seconds, bool mismatch, bool failed)
{
	if (!e)
		return;
	atomic_fetch_add_explicit(&e->shadow_requests, 1, memory_order_relaxed);
	if (mismatch)
		atomic_fetch_add_explicit(&e->shadow_mismatch, 1, memory_order_relaxed);
	if (failed)
		atomic_fetch_add_explicit(&e->shadow_errors, 1, memory_order_relaxed);
	observe(&e->shadow_latency, seconds);
}

void node_metrics_shadow_dropped(void)
{
	atomic_fetch_add_explicit(&shadow_dropped, 1, memory_order_relaxed);
}

void node_metrics_load_failure(const char *model)
{
	failure *f;
	pthread_mutex_lock(&mu);
	for (f = failures; f; f = f->next)
		if (!strcmp(f->model, model))
			break;
	if (!f && (f = calloc(1, sizeof(*f)))) {
		if (!(f->model = strdup(model))) {
			free(f);
			f = NULL;
		} else {
			f->next = failures;
			failures = f;
		}
	}
	if (f)
		atomic_fetch_add_explicit(&f->n, 1, memory_order_relaxed);
	pthread_mutex_unlock(&mu);
}

/* Label values: backslash, double quote and newline escaped. */
static int label(util_buf *b, const char *s)
{
	int rc = util_buf_puts(b, "\"");
	for (; *s && rc == 0; s++) {
		if (*s == '\\' || *s == '"')
			rc = util_buf_printf(b, "\\%c", *s);
		else if (*s == '\n')
			rc = util_buf_puts(b, "\\n");
		else
			rc = util_buf_put(b, s, 1);
	}
	return rc < 0 ? rc : util_buf_puts(b, "\"");
}

static int mv(util_buf *b, const char *name, const node_metrics_entry *e)
{
	int rc = util_buf_printf(b, "%s{model=", name);
	rc |= label(b, e->model);
	rc |= util_buf_puts(b, ",version=");
	rc |= label(b, e->version);
	return rc;
}

static int render_histogram(util_buf *b, const char *name, const node_metrics_entry *e, const histogram *h)
{
	uint64_t acc = 0;
	int rc = 0;
	for (size_t i = 0; i <= NB; i++) {
		acc += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
		rc |= mv(b, name, e);
		if (i < NB)
			rc |= util_buf_printf(b, ",le=\"%g\"} %llu\n", bounds[i], (unsigned long long)acc);
		else
			rc |= util_buf_printf(b, ",le=\"+Inf\"} %llu\n", (unsigned long long)acc);
	}
	return rc;
}

typedef struct {
	util_buf *b;
	const char *metric;
	bool weight;
	int rc;
} gauge_walk;

static void gauge(void *arg, const node_version *v, int weight)
{
	gauge_walk *g = arg;
	node_metrics_entry e = {.model = v->model, .version = v->version};
	g->rc |= mv(g->b, g->metric, &e);
	g->rc |= util_buf_printf(g->b, "} %d\n", g->weight ? weight : v->state == NODE_READY);
}

int node_metrics_render(node_table *t, util_buf *b)
{
	node_metrics_entry *e;
	int rc = 0;
	pthread_mutex_lock(&mu);
	rc |= util_buf_puts(b, "# HELP mlreg_node_requests_total Inference requests by model, version and HTTP status.\n"
			       "# TYPE mlreg_node_requests_total counter\n");
	for (e = entries; e; e = e->next)
		for (unsigned c = 100; c < 600; c++) {
			uint64_t n = atomic_load_explicit(&e->codes[c], memory_order_relaxed);
			if (!n)
				continue;
			rc |= mv(b, "mlreg_node_requests_total", e);
			rc |= util_buf_printf(b, ",code=\"%u\"} %llu\n", c, (unsigned long long)n);
		}
	rc |= util_buf_puts(b, "# HELP mlreg_node_request_duration_seconds Inference latency by model and version.\n"
			       "# TYPE mlreg_node_request_duration_seconds histogram\n");
	for (e = entries; e; e = e->next) {
		uint64_t count = 0;
		for (size_t i = 0; i <= NB; i++)
			count += atomic_load_explicit(&e->latency.buckets[i], memory_order_relaxed);
		if (!count)
			continue;
		rc |= render_histogram(b, "mlreg_node_request_duration_seconds_bucket", e, &e->latency);
		rc |= mv(b, "mlreg_node_request_duration_seconds_sum", e);
		rc |= util_buf_printf(b, "} %.9f\n", (double)atomic_load(&e->latency.sum_ns) / 1e9);
		rc |= mv(b, "mlreg_node_request_duration_seconds_count", e);
		rc |= util_buf_printf(b, "} %llu\n", (unsigned long long)count);
	}
	rc |= util_buf_puts(b, "# HELP mlreg_node_shadow_requests_total Requests mirrored to a shadow version and run.\n"
			       "# TYPE mlreg_node_shadow_requests_total counter\n");
	for (e = entries; e; e = e->next)
		if (atomic_load(&e->shadow_requests)) {
			rc |= mv(b, "mlreg_node_shadow_requests_total", e);
			rc |= util_buf_printf(b, "} %llu\n", (unsigned long long)atomic_load(&e->shadow_requests));
		}
	rc |= util_buf_puts(b, "# HELP mlreg_node_shadow_mismatch_total Shadow answers that disagreed with the primary.\n"
			       "# TYPE mlreg_node_shadow_mismatch_total counter\n");
	for (e = entries; e; e = e->next)
		if (atomic_load(&e->shadow_requests)) {
			rc |= mv(b, "mlreg_node_shadow_mismatch_total", e);
			rc |= util_buf_printf(b, "} %llu\n", (unsigned long long)atomic_load(&e->shadow_mismatch));
		}
	rc |= util_buf_puts(b, "# HELP mlreg_node_shadow_errors_total Shadow predictions that failed.\n"
			       "# TYPE mlreg_node_shadow_errors_total counter\n");
	for (e = entries; e; e = e->next)
		if (atomic_load(&e->shadow_requests)) {
			rc |= mv(b, "mlreg_node_shadow_errors_total", e);
			rc |= util_buf_printf(b, "} %llu\n", (unsigned long long)atomic_load(&e->shadow_errors));
		}
	rc |= util_buf_puts(b, "# HELP mlreg_node_shadow_duration_seconds Shadow prediction latency.\n"
			       "# TYPE mlreg_node_shadow_duration_seconds histogram\n");
	for (e = entries; e; e = e->next) {
		uint64_t count = atomic_load(&e->shadow_requests);
		if (!count)
			continue;
		rc |= render_histogram(b, "mlreg_node_shadow_duration_seconds_bucket", e, &e->shadow_latency);
		rc |= mv(b, "mlreg_node_shadow_duration_seconds_sum", e);
		rc |= util_buf_printf(b, "} %.9f\n", (double)atomic_load(&e->shadow_latency.sum_ns) / 1e9);
		rc |= mv(b, "mlreg_node_shadow_duration_seconds_count", e);
		rc |= util_buf_printf(b, "} %llu\n", (unsigned long long)count);
	}
	rc |= util_buf_printf(b,
			      "# HELP mlreg_node_shadow_dropped_total Shadow copies dropped because the queue was full.\n"
			      "# TYPE mlreg_node_shadow_dropped_total counter\n"
			      "mlreg_node_shadow_dropped_total %llu\n",
			      (unsigned long long)atomic_load(&shadow_dropped));
	rc |= util_buf_puts(b, "# HELP mlreg_node_load_failures_total Loads that failed, by model.\n"
			       "# TYPE mlreg_node_load_failures_total counter\n");
	for (failure *f = failures; f; f = f->next) {
		rc |= util_buf_puts(b, "mlreg_node_load_failures_total{model=");
		rc |= label(b, f->model);
		rc |= util_buf_printf(b, "} %llu\n", (unsigned long long)atomic_load(&f->n));
	}
	pthread_mutex_unlock(&mu);
	{
		gauge_walk g = {.b = b, .metric = "mlreg_node_model_loaded"};
		rc |= util_buf_puts(b, "# HELP mlreg_node_model_loaded 1 when the version is READY.\n"
				       "# TYPE mlreg_node_model_loaded gauge\n");
		node_table_each(t, gauge, &g);
		g.metric = "mlreg_node_traffic_weight";
		g.weight = true;
		g.rc |= util_buf_puts(b, "# HELP mlreg_node_traffic_weight Percent of the model's traffic the version takes.\n"
					 "# TYPE mlreg_node_traffic_weight gauge\n");
		node_table_each(t, gauge, &g);
		rc |= g.rc;
	}
	return rc < 0 ? mlreg_error_set(MLREG_ENOMEM, "out of memory") : 0;
}

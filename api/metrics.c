/*
 * metrics.c - Prometheus counters for the HTTP layer.
 *
 * Counters are plain arrays of relaxed atomics indexed by route (and by
 * status class and latency bucket), so recording a request costs a few
 * uncontended atomic adds and no lock; /metrics renders them as text.
 * Status codes are kept exactly (100..599) per route, which is small enough
 * (a few hundred KiB) to avoid any map.  Webhook delivery attempts are
 * counted the same way by outcome; the pending gauge is read from the
 * outbox at scrape time (an index range over pending rows only, small in
 * steady state).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include "api/http.h"

static const double bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define NB (sizeof(bounds) / sizeof(bounds[0]))

struct api_metrics {
	int nroutes;
	_Atomic uint64_t *status;   /* [route][600] */
	_Atomic uint64_t *buckets;  /* [route][NB+1] */
	_Atomic uint64_t *sum_us;   /* [route] */
	_Atomic uint64_t bytes_in, bytes_out;
	_Atomic uint64_t webhook[API_WEBHOOK_OUTCOMES];
	_Atomic uint64_t auth_fail[REG_AUTH_REASONS];
	_Atomic uint64_t limited[API_LIMITS];
};

struct api_metrics *api_metrics_new(int nroutes)
{
	struct api_metrics *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	/* the second half of every table counts HEAD requests of GET routes */
	nroutes *= 2;
	m->nroutes = nroutes;
	m->status = calloc((size_t)nroutes * 600, sizeof(*m->status));
	m->buckets = calloc((size_t)nroutes * (NB + 1), sizeof(*m->buckets));
	m->sum_us = calloc((size_t)nroutes, sizeof(*m->sum_us));
	if (!m->status || !m->buckets || !m->sum_us) {
		api_metrics_free(m);
		return NULL;
	}
	return m;
}

void api_metrics_free(struct api_metrics *m)
{
	if (!m)
		return;
	free(m->status);
	free(m->buckets);
	free(m->sum_us);
	free(m);
}

static const char *method_of(const struct api_metrics *m, int r)
{
	return r >= m->nroutes / 2 ? "HEAD" : api_route_method(r);
}

void api_metrics_observe(struct api_metrics *m, int route, bool head, unsigned status, double seconds, uint64_t in,
			 uint64_t out)
{
	size_t b = 0;
	int half = m->nroutes / 2;
	if (route < 0 || route >= half)
		route = half - 1;
	if (head)
		route += half;
	if (status >= 600)
		status = 599;
	atomic_fetch_add_explicit(&m->status[(size_t)route * 600 + status], 1, memory_order_relaxed);
	while (b < NB && seconds > bounds[b])
		b++;
	atomic_fetch_add_explicit(&m->buckets[(size_t)route * (NB + 1) + b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->sum_us[route], (uint64_t)(seconds * 1e6), memory_order_relaxed);
	atomic_fetch_add_explicit(&m->bytes_in, in, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->bytes_out, out, memory_order_relaxed);
}

void api_metrics_auth_failure(struct api_metrics *m, reg_auth_reason why)
{
	if (m && why > REG_AUTH_OK && why < REG_AUTH_REASONS)
		atomic_fetch_add_explicit(&m->auth_fail[why], 1, memory_order_relaxed);
}

void api_metrics_rate_limited(struct api_metrics *m, api_limit which)
{
	if (m && which >= 0 && which < API_LIMITS)
		atomic_fetch_add_explicit(&m->limited[which], 1, memory_order_relaxed);
}

void api_metrics_webhook(struct api_metrics *m, api_webhook_outcome outcome)
{
	if (m && outcome >= 0 && outcome < API_WEBHOOK_OUTCOMES)
		atomic_fetch_add_explicit(&m->webhook[outcome], 1, memory_order_relaxed);
}

int api_metrics_render(api_server *s, util_buf *o)
{
	static const char *const outcomes[API_WEBHOOK_OUTCOMES] = {"delivered", "retry", "failed"};
	struct api_metrics *m = s->metrics;
	int64_t blobs = 0, bytes = 0, pending = 0;
	util_buf_puts(o, "# HELP mlreg_http_requests_total HTTP requests by route, method and status.\n"
			 "# TYPE mlreg_http_requests_total counter\n");
	for (int r = 0; r < m->nroutes; r++)
		for (unsigned st = 100; st < 600; st++) {
			uint64_t n = atomic_load_explicit(&m->status[(size_t)r * 600 + st], memory_order_relaxed);
			if (n)
				util_buf_printf(o, "mlreg_http_requests_total{route=\"%s\",method=\"%s\",status=\"%u\"} %llu\n",
						api_route_label(r % (m->nroutes / 2)), method_of(m, r), st, (unsigned long long)n);
		}
	util_buf_printf(o, "# HELP mlreg_http_request_timeouts_total Connections closed because a request did not arrive within --request-timeout.\n"
			   "# TYPE mlreg_http_request_timeouts_total counter\n"
			   "mlreg_http_request_timeouts_total %llu\n",
			(unsigned long long)util_httpd_guard_cut(s->cfg.tr.guard));
	util_buf_puts(o, "# HELP mlreg_http_request_duration_seconds Time from request start to completion.\n"
			 "# TYPE mlreg_http_request_duration_seconds histogram\n");
	for (int r = 0; r < m->nroutes; r++) {
		uint64_t cum = 0;
		for (size_t b = 0; b <= NB; b++)
			cum += atomic_load_explicit(&m->buckets[(size_t)r * (NB + 1) + b], memory_order_relaxed);
		if (!cum)
			continue;
		cum = 0;
		for (size_t b = 0; b <= NB; b++) {
			cum += atomic_load_explicit(&m->buckets[(size_t)r * (NB + 1) + b], memory_order_relaxed);
			if (b < NB)
				util_buf_printf(o, "mlreg_http_request_duration_seconds_bucket{route=\"%s\",method=\"%s\",le=\"%g\"} %llu\n",
						api_route_label(r % (m->nroutes / 2)), method_of(m, r), bounds[b], (unsigned long long)cum);
			else
				util_buf_printf(o, "mlreg_http_request_duration_seconds_bucket{route=\"%s\",method=\"%s\",le=\"+Inf\"} %llu\n",
						api_route_label(r % (m->nroutes / 2)), method_of(m, r), (unsigned long long)cum);
		}
		util_buf_printf(o, "mlreg_http_request_duration_seconds_sum{route=\"%s\",method=\"%s\"} %.6f\n",
				api_route_label(r % (m->nroutes / 2)), method_of(m, r),
				(double)atomic_load_explicit(&m->sum_us[r], memory_order_relaxed) / 1e6);
		util_buf_printf(o, "mlreg_http_request_duration_seconds_count{route=\"%s\",method=\"%s\"} %llu\n",
				api_route_label(r % (m->nroutes / 2)), method_of(m, r), (unsigned long long)cum);
	}
	reg_meta_of(s->reg)->ops->blob_stats(reg_meta_of(s->reg), &blobs, &bytes);
	util_buf_printf(o,
			"# HELP mlreg_http_bytes_received_total Request body bytes received.\n"
			"# TYPE mlreg_http_bytes_received_total counter\n"
			"mlreg_http_bytes_received_total %llu\n"
			"# HELP mlreg_http_bytes_sent_total Response body bytes queued.\n"
			"# TYPE mlreg_http_bytes_sent_total counter\n"
			"mlreg_http_bytes_sent_total %llu\n"
			"# HELP mlreg_blobs_stored Blobs known to the registry.\n"
			"# TYPE mlreg_blobs_stored gauge\n"
			"mlreg_blobs_stored %lld\n"
			"# HELP mlreg_blob_bytes_stored Bytes in blobs known to the registry.\n"
			"# TYPE mlreg_blob_bytes_stored gauge\n"
			"mlreg_blob_bytes_stored %lld\n",
			(unsigned long long)atomic_load(&m->bytes_in), (unsigned long long)atomic_load(&m->bytes_out),
			(long long)blobs, (long long)bytes);
	util_buf_puts(o, "# HELP mlreg_webhook_deliveries_total Webhook delivery attempts by outcome.\n"
			 "# TYPE mlreg_webhook_deliveries_total counter\n");
	for (int i = 0; i < API_WEBHOOK_OUTCOMES; i++)
		util_buf_printf(o, "mlreg_webhook_deliveries_total{outcome=\"%s\"} %llu\n", outcomes[i],
				(unsigned long long)atomic_load_explicit(&m->webhook[i], memory_order_relaxed));
	util_buf_puts(o, "# HELP mlreg_auth_failures_total Requests refused for their credentials, by reason.\n"
			 "# TYPE mlreg_auth_failures_total counter\n");
	for (int i = REG_AUTH_OK + 1; i < REG_AUTH_REASONS; i++)
		util_buf_printf(o, "mlreg_auth_failures_total{reason=\"%s\"} %llu\n", reg_auth_reason_name((reg_auth_reason)i),
				(unsigned long long)atomic_load_explicit(&m->auth_fail[i], memory_order_relaxed));
	util_buf_puts(o, "# HELP mlreg_http_rate_limited_total Requests answered 429, by the limit they hit.\n"
			 "# TYPE mlreg_http_rate_limited_total counter\n");
	util_buf_printf(o, "mlreg_http_rate_limited_total{limit=\"token\"} %llu\n",
			(unsigned long long)atomic_load_explicit(&m->limited[API_LIMIT_TOKEN], memory_order_relaxed));
	util_buf_printf(o, "mlreg_http_rate_limited_total{limit=\"auth_failures\"} %llu\n",
			(unsigned long long)atomic_load_explicit(&m->limited[API_LIMIT_AUTH_FAIL], memory_order_relaxed));
	if (reg_outbox_pending(s->reg, &pending) == 0)
		util_buf_printf(o,
				"# HELP mlreg_webhook_pending Webhook deliveries waiting in the outbox.\n"
				"# TYPE mlreg_webhook_pending gauge\n"
				"mlreg_webhook_pending %lld\n",
				(long long)pending);
	ctl_metrics_render(o);
	return 0;
}

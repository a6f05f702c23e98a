/*
 * metrics.c - the reconciler's Prometheus metrics, rendered into the
 * server's /metrics (api/metrics.c): passes and their duration, node call
 * failures, aborts, and the deployments by phase as of the last pass.
 *
 * Plain relaxed atomics in one process-wide block: the reconciler thread
 * writes them, a scrape reads them; no lock is needed and nothing here can
 * slow a pass down.
 */
#include <stdatomic.h>
#include <string.h>
#include "controller/pass.h"

static const double bounds[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60};
#define NB (sizeof(bounds) / sizeof(bounds[0]))
static const char *const phases[] = {"Healthy", "Progressing", "Paused", "Degraded"};

static _Atomic uint64_t passes, pass_buckets[NB + 1], pass_sum_us, node_errors, aborts;
static _Atomic int64_t by_phase[4];
static _Atomic bool running;

void ctl_metrics_pass(double seconds, const int64_t phase_counts[4], uint64_t node_failures, uint64_t aborted)
{
	size_t b = 0;
	while (b < NB && seconds > bounds[b])
		b++;
	atomic_fetch_add_explicit(&passes, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&pass_buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&pass_sum_us, (uint64_t)(seconds * 1e6), memory_order_relaxed);
	atomic_fetch_add_explicit(&node_errors, node_failures, memory_order_relaxed);
	atomic_fetch_add_explicit(&aborts, aborted, memory_order_relaxed);
	for (int i = 0; i < 4; i++)
		atomic_store_explicit(&by_phase[i], phase_counts[i], memory_order_relaxed);
	atomic_store_explicit(&running, true, memory_order_relaxed);
}

int ctl_phase_index(const char *phase)
{
	for (int i = 0; i < 4; i++)
		if (phase && !strcmp(phase, phases[i]))
			return i;
	return 0;
}

void ctl_metrics_render(util_buf *o)
{
	uint64_t cum = 0;
	if (!atomic_load_explicit(&running, memory_order_relaxed))
		return; /* no reconciler in this process (or none has run a pass) */
	util_buf_puts(o, "# HELP mlreg_controller_pass_duration_seconds Time of one reconciler pass.\n"
			 "# TYPE mlreg_controller_pass_duration_seconds histogram\n");
	for (size_t b = 0; b <= NB; b++) {
		cum += atomic_load_explicit(&pass_buckets[b], memory_order_relaxed);
		if (b < NB)
			util_buf_printf(o, "mlreg_controller_pass_duration_seconds_bucket{le=\"%g\"} %llu\n", bounds[b],
					(unsigned long long)cum);
		else
			util_buf_printf(o, "mlreg_controller_pass_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
					(unsigned long long)cum);
	}
	util_buf_printf(o,
			"mlreg_controller_pass_duration_seconds_sum %.6f\n"
			"mlreg_controller_pass_duration_seconds_count %llu\n"
			"# HELP mlreg_controller_node_errors_total Node calls that failed (no answer, or the node's own error).\n"
			"# TYPE mlreg_controller_node_errors_total counter\n"
			"mlreg_controller_node_errors_total %llu\n"
			"# HELP mlreg_controller_aborts_total Rollouts aborted.\n"
			"# TYPE mlreg_controller_aborts_total counter\n"
			"mlreg_controller_aborts_total %llu\n"
			"# HELP mlreg_controller_deployments Deployments by phase at the last pass.\n"
			"# TYPE mlreg_controller_deployments gauge\n",
			(double)atomic_load(&pass_sum_us) / 1e6, (unsigned long long)atomic_load(&passes),
			(unsigned long long)atomic_load(&node_errors), (unsigned long long)atomic_load(&aborts));
	for (int i = 0; i < 4; i++)
		util_buf_printf(o, "mlreg_controller_deployments{phase=\"%s\"} %lld\n", phases[i],
				(long long)atomic_load(&by_phase[i]));
}

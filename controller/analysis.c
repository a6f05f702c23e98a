/*
 * analysis.c - what a rollout's analysis step measures and how it judges:
 * per-version counters read from mlreg-node's metrics, their differences
 * over a window, sums over nodes, failure rate and p99 latency, and the
 * verdict.
 *
 * Counters, not rates: a node exports running totals (requests by HTTP
 * status, a cumulative latency histogram), the controller scrapes them at
 * the start and end of a window and subtracts.  A node that restarted in
 * between shows a total lower than before; then its end value is the
 * window's (it counted from zero since the restart), as Prometheus' rate()
 * treats a counter reset.  p99 is read from the histogram the way
 * Prometheus' histogram_quantile reads it (linear inside the bucket that
 * holds the 99th percentile, the highest finite bound when that is the
 * +Inf bucket), so the number the controller acts on is the number a
 * Grafana panel over the same metrics shows.  Conditions are parsed with
 * util/expr.h, the grammar gate policies use, so `p99_ms<250` means the
 * same in a gate and in a rollout.  Nothing here allocates except the
 * verdict's JSON.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "controller/ctl.h"
#include "util/expr.h"

#define REQUESTS "mlreg_node_requests_total"
#define BUCKET "mlreg_node_request_duration_seconds_bucket"
#define MAX_FOUND 256 /* distinct le bounds looked at before keeping 32 */

static bool is_2xx(const char *code)
{
	return code && code[0] == '2' && code[1] >= '0' && code[1] <= '9' && code[2] >= '0' && code[2] <= '9' &&
	       code[3] == '\0';
}

static bool le_of(const char *s, double *out)
{
	if (!s)
		return false;
	if (!strcmp(s, "+Inf") || !strcmp(s, "Inf") || !strcmp(s, "+inf") || !strcmp(s, "inf")) {
		*out = INFINITY;
		return true;
	}
	return util_parse_double(s, out) == 0;
}

static bool same_series(const ctl_sample *s, const char *model, const char *version)
{
	const char *m = ctl_sample_label(s, "model"), *v = ctl_sample_label(s, "version");
	return m && v && !strcmp(m, model) && !strcmp(v, version);
}

void ctl_counts_of(const ctl_samples *s, const char *model, const char *version, ctl_counts *out)
{
	double bound[MAX_FOUND], count[MAX_FOUND];
	int n = 0;
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; s && i < s->n; i++) {
		const ctl_sample *x = &s->s[i];
		double le;
		int j;
		/* counters are finite and never negative; anything else is noise */
		if (!isfinite(x->value) || x->value < 0 || !same_series(x, model, version))
			continue;
		if (!strcmp(x->name, REQUESTS)) {
			out->requests += x->value;
			if (!is_2xx(ctl_sample_label(x, "code")))
				out->failures += x->value;
		} else if (!strcmp(x->name, BUCKET) && le_of(ctl_sample_label(x, "le"), &le) && !isnan(le)) {
			for (j = 0; j < n && bound[j] != le; j++)
				;
			if (j < n || n == MAX_FOUND)
				continue; /* a repeated bound keeps its first value */
			/* insertion in bound order */
			for (j = n; j > 0 && bound[j - 1] > le; j--) {
				bound[j] = bound[j - 1];
				count[j] = count[j - 1];
			}
			bound[j] = le;
			count[j] = x->value;
			n++;
		}
	}
	/* Past 32 bounds, the highest finite ones merge into the last bucket
	 * (dropping a cumulative bucket only makes the histogram coarser). */
	if (n > 32) {
		bound[31] = bound[n - 1];
		count[31] = count[n - 1];
		n = 32;
	}
	memcpy(out->bounds, bound, sizeof(double) * (size_t)n);
	memcpy(out->buckets, count, sizeof(double) * (size_t)n);
	out->nbuckets = n;
}

static bool same_bounds(const ctl_counts *a, const ctl_counts *b)
{
	if (a->nbuckets != b->nbuckets)
		return false;
	for (int i = 0; i < a->nbuckets; i++)
		if (a->bounds[i] != b->bounds[i])
			return false;
	return true;
}

void ctl_counts_delta(const ctl_counts *start, const ctl_counts *end, ctl_counts *out)
{
	ctl_counts d = *end;
	bool restarted = end->requests < start->requests || end->failures < start->failures;
	/* A histogram that vanished or changed its bounds belongs to another
	 * process: a restart too.  One that appeared counts from zero. */
	if (!restarted && start->nbuckets > 0) {
		restarted = !same_bounds(start, end);
		for (int i = 0; !restarted && i < end->nbuckets; i++)
			restarted = end->buckets[i] < start->buckets[i];
	}
	if (!restarted) {
		d.requests = end->requests - start->requests;
		d.failures = end->failures - start->failures;
		for (int i = 0; start->nbuckets > 0 && i < d.nbuckets; i++)
			d.buckets[i] = end->buckets[i] - start->buckets[i];
	}
	*out = d;
}

void ctl_counts_add(ctl_counts *a, const ctl_counts *b)
{
	a->requests += b->requests;
	a->failures += b->failures;
	if (b->nbuckets == 0)
		return;
	if (a->nbuckets == 0) {
		memcpy(a->bounds, b->bounds, sizeof(a->bounds));
		memcpy(a->buckets, b->buckets, sizeof(a->buckets));
		a->nbuckets = b->nbuckets;
	} else if (same_bounds(a, b)) {
		for (int i = 0; i < a->nbuckets; i++)
			a->buckets[i] += b->buckets[i];
	}
}

/* Prometheus' bucketQuantile: NaN without a +Inf bucket or observations. */
static double quantile(double q, const ctl_counts *c)
{
	double cum[32], rank, start = 0, count;
	int n = c->nbuckets, b;
	if (n < 2 || !isinf(c->bounds[n - 1]))
		return NAN;
	/* cumulative counts cannot go down; a scrape racing an observation
	 * could make them (Prometheus' ensureMonotonic) */
	for (int i = 0; i < n; i++)
		cum[i] = i && c->buckets[i] < cum[i - 1] ? cum[i - 1] : c->buckets[i];
	if (!(cum[n - 1] > 0))
		return NAN;
	rank = q * cum[n - 1];
	for (b = 0; b < n - 1 && cum[b] < rank; b++)
		;
	if (b == n - 1)
		return c->bounds[n - 2];
	if (b == 0 && c->bounds[0] <= 0)
		return c->bounds[0];
	count = cum[b];
	if (b > 0) {
		start = c->bounds[b - 1];
		count -= cum[b - 1];
		rank -= cum[b - 1];
	}
	return start + (c->bounds[b] - start) * (rank / count);
}

void ctl_window_of(const ctl_counts *c, ctl_window *out)
{
	out->requests = c->requests;
	out->failures = c->failures;
	out->failure_rate = c->requests > 0 ? c->failures / c->requests : 0;
	out->p99_ms = quantile(0.99, c) * 1000;
}

/* ---- verdicts ---- */

static const char *const metric_names[] = {"requests", "failures", "failure_rate", "p99_ms"};

static double metric_of(const ctl_window *w, const char *name)
{
	if (!strcmp(name, "requests"))
		return w->requests;
	if (!strcmp(name, "failures"))
		return w->failures;
	if (!strcmp(name, "failure_rate"))
		return w->failure_rate;
	return w->p99_ms;
}

/* Split "a<1, b>2" into at most CTL_MAX_CONDITIONS parsed expressions. */
static int parse_conditions(const char *conditions, util_expr *out, int *n)
{
	const char *p = conditions;
	int count = 0;
	*n = 0;
	if (!conditions || !*conditions)
		return 0;
	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char one[512];
		bool known = false;
		int rc;
		if (len >= sizeof(one))
			return mlreg_error_set(MLREG_EINVALID, "invalid analysis condition %d: too long", count + 1);
		memcpy(one, p, len);
		one[len] = '\0';
		if (strspn(one, " \t") == len)
			return mlreg_error_set(MLREG_EINVALID, "invalid analysis conditions '%s': condition %d is empty",
					       conditions, count + 1);
		if (count == CTL_MAX_CONDITIONS)
			return mlreg_error_set(MLREG_EINVALID, "invalid analysis conditions: more than %d",
					       CTL_MAX_CONDITIONS);
		if ((rc = util_expr_parse(one, true, &out[count])) < 0)
			return rc;
		for (size_t i = 0; i < sizeof(metric_names) / sizeof(metric_names[0]); i++)
			known = known || !strcmp(out[count].name, metric_names[i]);
		if (!known)
			return mlreg_error_set(MLREG_EINVALID,
					       "invalid analysis condition '%s': unknown metric '%s' (requests, failures, "
					       "failure_rate or p99_ms)",
					       one, out[count].name);
		count++;
		if (!end)
			break;
		p = end + 1;
	}
	*n = count;
	return 0;
}

int ctl_conditions_check(const char *conditions)
{
	util_expr e[CTL_MAX_CONDITIONS];
	int n;
	return parse_conditions(conditions, e, &n);
}

/* A JSON number, null for NaN (JSON has none) and infinities. */
static cJSON *number(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

/* Add item to o under key; false (item freed) when either is missing. */
static bool put(cJSON *o, const char *key, cJSON *item)
{
	if (item && cJSON_AddItemToObject(o, key, item))
		return true;
	cJSON_Delete(item);
	return false;
}

static cJSON *window_json(const ctl_window *w)
{
	cJSON *o = cJSON_CreateObject();
	if (o && put(o, "requests", number(w->requests)) && put(o, "failures", number(w->failures)) &&
	    put(o, "failure_rate", number(w->failure_rate)) && put(o, "p99_ms", number(w->p99_ms)))
		return o;
	cJSON_Delete(o);
	return NULL;
}

static bool add_check(cJSON *checks, const char *condition, double actual, bool passed)
{
	cJSON *c;
	if (!checks)
		return true; /* the caller wants no JSON */
	if (!(c = cJSON_CreateObject()) || !cJSON_AddStringToObject(c, "condition", condition) ||
	    !put(c, "actual", number(actual)) || !cJSON_AddBoolToObject(c, "passed", passed) ||
	    !cJSON_AddItemToArray(checks, c)) {
		cJSON_Delete(c);
		return false;
	}
	return true;
}

int ctl_judge(const ctl_window *target, const ctl_window *stable, const char *conditions, double margin,
	      int64_t min_requests, ctl_verdict *verdict, cJSON **result)
{
	util_expr conds[CTL_MAX_CONDITIONS];
	int nconds, rc;
	double need = min_requests > 1 ? (double)min_requests : 1;
	bool enough = target->requests >= need, all = true, mem = true;
	char text[600], reason[700] = "";
	cJSON *res = NULL, *checks = NULL;
	ctl_verdict v;
	if ((rc = parse_conditions(conditions, conds, &nconds)) < 0)
		return rc;
	if (result && (!(res = cJSON_CreateObject()) || !(checks = cJSON_CreateArray())))
		goto oom;

	/* No traffic at all is always inconclusive: nothing was measured. */
	snprintf(text, sizeof(text), "requests>=%.0f (min requests)", need);
	mem = add_check(checks, text, target->requests, enough);
	if (!enough)
		snprintf(reason, sizeof(reason), "%.0f requests reached the target, fewer than %.0f", target->requests,
			 need);
	for (int i = 0; i < nconds; i++) {
		double actual = metric_of(target, conds[i].name);
		/* NaN (no latency observed) fails every comparison, as a
		 * missing metric fails a gate */
		bool ok = !isnan(actual) && util_expr_eval(&conds[i], actual);
		snprintf(text, sizeof(text), "%.255s%s%.255s", conds[i].name, util_op_str(conds[i].op), conds[i].text);
		mem = mem && add_check(checks, text, actual, ok);
		if (!ok && all && enough) {
			if (isnan(actual))
				snprintf(reason, sizeof(reason), "%.550s failed: %.60s is unknown (no latency observed)", text,
					 conds[i].name);
			else
				snprintf(reason, sizeof(reason), "%.550s failed: %.60s is %.6g", text, conds[i].name, actual);
		}
		all = all && ok;
	}
	/* Against stable only when stable served something to compare with. */
	if (stable && stable->requests > 0 && isfinite(margin) && margin >= 0) {
		double limit = stable->failure_rate + margin;
		bool ok = target->failure_rate <= limit;
		snprintf(text, sizeof(text), "failure_rate<=%.6g (stable's %.6g + margin %.6g)", limit,
			 stable->failure_rate, margin);
		mem = mem && add_check(checks, text, target->failure_rate, ok);
		if (!ok && all && enough)
			snprintf(reason, sizeof(reason), "failure rate %.6g exceeds stable's %.6g by more than %.6g",
				 target->failure_rate, stable->failure_rate, margin);
		all = all && ok;
	}
	v = !enough ? CTL_ANALYSIS_INCONCLUSIVE : all ? CTL_ANALYSIS_SUCCESSFUL : CTL_ANALYSIS_FAILED;
	if (v == CTL_ANALYSIS_SUCCESSFUL)
		snprintf(reason, sizeof(reason), "every check passed");
	if (res) {
		if (!mem || !cJSON_AddStringToObject(res, "result", ctl_verdict_name(v)) ||
		    !cJSON_AddStringToObject(res, "reason", reason) || !put(res, "metrics", window_json(target)) ||
		    !put(res, "stable", stable ? window_json(stable) : cJSON_CreateNull()))
			goto oom;
		if (!put(res, "checks", checks)) {
			checks = NULL; /* put() freed it */
			goto oom;
		}
		*result = res;
	}
	*verdict = v;
	return 0;
oom:
	cJSON_Delete(checks);
	cJSON_Delete(res);
	return mlreg_error_set(MLREG_ENOMEM, "out of memory");
}

const char *ctl_verdict_name(ctl_verdict v)
{
	switch (v) {
	case CTL_ANALYSIS_SUCCESSFUL: return "Successful";
	case CTL_ANALYSIS_FAILED: return "Failed";
	case CTL_ANALYSIS_INCONCLUSIVE: return "Inconclusive";
	}
	return "?";
}

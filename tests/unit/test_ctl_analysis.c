/*
 * test_ctl_analysis.c - unit tests for controller/analysis.c: counters of
 * a version read from a node's metrics, their differences over a window
 * (a node that restarted in between), sums over nodes, p99 from the
 * latency histogram, and the verdict of an analysis step.
 *
 * p99 values are computed here by hand, step by step in the comments, the
 * way Prometheus' histogram_quantile does it (linear inside the bucket
 * holding rank 0.99 * count, the highest finite bound when that bucket is
 * +Inf), so a change of formula fails here rather than silently moving
 * every rollout's latency threshold.  Metrics come in as Prometheus text
 * parsed by the real parser, written in the form mlreg-node prints.
 */
#include "testutil.h"
#include <math.h>
#include "controller/ctl.h"
#include "util/json.h"

static const double node_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
				     0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5,   INFINITY};

/* mlreg-node's text for one (model, version): requests by code and the
 * histogram with the node's bounds and the given cumulative counts. */
static void node_text(util_buf *b, const char *model, const char *version, const int *codes, const double *counts,
		      int ncodes, const double *cum)
{
	for (int i = 0; i < ncodes; i++)
		assert_int_equal(util_buf_printf(b, "mlreg_node_requests_total{model=\"%s\",version=\"%s\",code=\"%d\"} %.17g\n",
						 model, version, codes[i], counts[i]),
				 0);
	for (int i = 0; cum && i < 15; i++) {
		char le[32];
		if (isinf(node_bounds[i]))
			snprintf(le, sizeof(le), "+Inf");
		else
			snprintf(le, sizeof(le), "%g", node_bounds[i]);
		assert_int_equal(util_buf_printf(b,
						 "mlreg_node_request_duration_seconds_bucket{model=\"%s\",version=\"%s\","
						 "le=\"%s\"} %.17g\n",
						 model, version, le, cum[i]),
				 0);
	}
}

static void counts_from(const char *text, const char *model, const char *version, ctl_counts *out)
{
	ctl_samples s = {0};
	if (ctl_prom_parse(text, strlen(text), "mlreg_node_", 10000, &s) != 0)
		fail_msg("cannot parse: %s", mlreg_error_last());
	ctl_counts_of(&s, model, version, out);
	ctl_samples_release(&s);
}

static bool near(double a, double b) { return fabs(a - b) <= 1e-9 * (fabs(b) > 1 ? fabs(b) : 1); }
#define assert_near(a, b)                                                                                             \
	do {                                                                                                           \
		double a_ = (a), b_ = (b);                                                                             \
		if (!near(a_, b_))                                                                                     \
			fail_msg("%s is %.17g, expected %.17g", #a, a_, b_);                                           \
	} while (0)

static void counts_of_node_text(void **state)
{
	static const int codes3[] = {200, 503, 404};
	static const double n3[] = {990, 10, 0};
	static const int codes2[] = {200, 500};
	static const double n2[] = {9000, 3};
	static const double cum3[] = {0, 0, 10, 100, 500, 900, 980, 995, 999, 1000, 1000, 1000, 1000, 1000, 1000};
	util_buf b;
	ctl_counts c;
	util_buf_init(&b, 1 << 20);
	node_text(&b, "fraud", "3", codes3, n3, 3, cum3);
	node_text(&b, "fraud", "2", codes2, n2, 2, NULL);
	node_text(&b, "other", "3", codes2, n2, 2, cum3); /* another served model: not counted */
	assert_int_equal(util_buf_puts(&b, "mlreg_node_requests_total{model=\"fraud\",version=\"3\"} 7\n" /* no code */
					   "mlreg_node_requests_total{model=\"fraud\",version=\"3\",code=\"2000\"} 1\n"
					   "mlreg_node_requests_total{model=\"fraud\",version=\"3\",code=\"abc\"} 1\n"
					   "mlreg_node_requests_total{model=\"fraud\",version=\"3\",code=\"200\"} -4\n"
					   "mlreg_node_requests_total{model=\"fraud\",version=\"3\",code=\"200\"} NaN\n"
					   "mlreg_node_requests_total{model=\"fraud\",code=\"200\"} 50\n"
					   "mlreg_node_request_duration_seconds_bucket{model=\"fraud\",version=\"3\",le=\"x\"} 1\n"
					   "mlreg_node_request_duration_seconds_bucket{model=\"fraud\",version=\"3\",le=\"0.01\"} 3\n"),
			 0);
	counts_from(b.ptr, "fraud", "3", &c);
	/* 990 + 10 + 0 + 7 + 1 + 1 requests; everything but the 200s fails
	 * (no code, "2000" and "abc" are not 2xx); negative and NaN ignored */
	assert_near(c.requests, 1009);
	assert_near(c.failures, 19);
	assert_int_equal(c.nbuckets, 15);
	for (int i = 0; i < 15; i++) {
		assert_true(c.bounds[i] == node_bounds[i]);
		assert_near(c.buckets[i], cum3[i]); /* the repeated le="0.01" keeps its first value */
	}
	counts_from(b.ptr, "fraud", "2", &c);
	assert_near(c.requests, 9003);
	assert_near(c.failures, 3);
	assert_int_equal(c.nbuckets, 0);
	counts_from(b.ptr, "fraud", "9", &c);
	assert_true(c.requests == 0 && c.failures == 0 && c.nbuckets == 0);
	ctl_counts_of(NULL, "fraud", "3", &c);
	assert_true(c.requests == 0 && c.nbuckets == 0);

	/* buckets out of order come out sorted; more than 32 bounds keep the
	 * 31 lowest and the last */
	b.len = 0;
	for (int i = 40; i >= 1; i--)
		assert_int_equal(util_buf_printf(&b, "mlreg_node_request_duration_seconds_bucket{model=\"m\",version=\"1\","
						     "le=\"%d\"} %d\n",
						 i, i),
				 0);
	assert_int_equal(util_buf_puts(&b, "mlreg_node_request_duration_seconds_bucket{model=\"m\",version=\"1\","
					   "le=\"+Inf\"} 50\n"),
			 0);
	counts_from(b.ptr, "m", "1", &c);
	assert_int_equal(c.nbuckets, 32);
	for (int i = 0; i < 31; i++)
		assert_true(c.bounds[i] == i + 1 && c.buckets[i] == i + 1);
	assert_true(isinf(c.bounds[31]) && c.buckets[31] == 50);
	util_buf_release(&b);
}

static ctl_counts hist(const double *bounds, const double *cum, int n)
{
	ctl_counts c;
	memset(&c, 0, sizeof(c));
	for (int i = 0; i < n; i++) {
		c.bounds[i] = bounds[i];
		c.buckets[i] = cum[i];
	}
	c.nbuckets = n;
	c.requests = n ? cum[n - 1] : 0;
	return c;
}

static void p99_interpolation(void **state)
{
	ctl_window w;
	ctl_counts c;
	{
		/* 100 observations, rank 99: the bucket (0.5, 1] holds it
		 * (cumulative 90 -> 99), 9 in it, 9 past its start:
		 * 0.5 + 0.5 * 9/9 = 1.0 s */
		static const double b[] = {0.1, 0.5, 1, INFINITY}, k[] = {50, 90, 99, 100};
		c = hist(b, k, 4);
		ctl_window_of(&c, &w);
		assert_near(w.p99_ms, 1000);
	}
	{
		/* all 100 in (0.01, 0.1]: 0.01 + 0.09 * 99/100 = 0.0991 s */
		static const double b[] = {0.001, 0.01, 0.1, INFINITY}, k[] = {0, 0, 100, 100};
		c = hist(b, k, 4);
		ctl_window_of(&c, &w);
		assert_near(w.p99_ms, 99.1);
	}
	{
		/* rank 99 only reached in +Inf: the highest finite bound, 1 s */
		static const double b[] = {0.1, 0.5, 1, INFINITY}, k[] = {10, 20, 20, 100};
		c = hist(b, k, 4);
		ctl_window_of(&c, &w);
		assert_near(w.p99_ms, 1000);
	}
	{
		/* the first bucket starts at 0: 0.005 * 99/100 = 0.00495 s */
		static const double b[] = {0.005, 0.01, INFINITY}, k[] = {100, 100, 100};
		c = hist(b, k, 3);
		ctl_window_of(&c, &w);
		assert_near(w.p99_ms, 4.95);
	}
	{
		/* the node's bounds, 1000 observations, rank 990: cumulative
		 * 980 at 0.01 and 995 at 0.025, so 15 in the bucket and 10
		 * past its start: 0.01 + 0.015 * 10/15 = 0.02 s */
		static const double k[] = {0, 0, 10, 100, 500, 900, 980, 995, 999, 1000, 1000, 1000, 1000, 1000, 1000};
		c = hist(node_bounds, k, 15);
		ctl_window_of(&c, &w);
		assert_near(w.p99_ms, 20);
	}
	{
		/* 7 observations, rank 6.93: cumulative 5 at 0.001, 7 at
		 * 0.0025: 0.001 + 0.0015 * 1.93/2 = 0.0024475 s */
		static const double k[] = {0, 1, 2, 5, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};
		c = hist(node_bounds, k, 15);
		ctl_window_of(&c, &w);
		assert_near(w.p99_ms, 2.4475);
	}
	{
		/* a cumulative count that goes down (a scrape racing an
		 * observation) is lifted to its predecessor, as Prometheus
		 * does: {50, 40->50, 100, 100}: rank 99 in (0.5, 1]:
		 * 0.5 + 0.5 * 49/50 = 0.99 s */
		static const double b[] = {0.1, 0.5, 1, INFINITY}, k[] = {50, 40, 100, 100};
		c = hist(b, k, 4);
		ctl_window_of(&c, &w);
		assert_near(w.p99_ms, 990);
	}
	{
		/* a first bound at or below 0 holding the rank is the answer */
		static const double b[] = {-1, 1, INFINITY}, k[] = {100, 100, 100};
		c = hist(b, k, 3);
		ctl_window_of(&c, &w);
		assert_near(w.p99_ms, -1000);
	}
	{
		/* unknown: no observations, no +Inf bucket, only +Inf, nothing */
		static const double b[] = {0.1, 0.5, 1, INFINITY}, z[] = {0, 0, 0, 0}, b2[] = {0.1, 0.5}, k2[] = {5, 10},
				    b3[] = {INFINITY}, k3[] = {10};
		c = hist(b, z, 4);
		ctl_window_of(&c, &w);
		assert_true(isnan(w.p99_ms));
		c = hist(b2, k2, 2);
		ctl_window_of(&c, &w);
		assert_true(isnan(w.p99_ms));
		c = hist(b3, k3, 1);
		ctl_window_of(&c, &w);
		assert_true(isnan(w.p99_ms));
		c = hist(NULL, NULL, 0);
		ctl_window_of(&c, &w);
		assert_true(isnan(w.p99_ms));
		assert_true(w.failure_rate == 0 && w.requests == 0);
	}
	/* failure rate */
	memset(&c, 0, sizeof(c));
	c.requests = 400;
	c.failures = 3;
	ctl_window_of(&c, &w);
	assert_near(w.failure_rate, 0.0075);
	assert_true(w.requests == 400 && w.failures == 3);
}

static void delta_and_restart(void **state)
{
	static const double b[] = {0.1, 0.5, INFINITY};
	static const double k0[] = {10, 15, 20}, k1[] = {40, 60, 70}, kr[] = {3, 4, 5};
	ctl_counts start = hist(b, k0, 3), end = hist(b, k1, 3), d;
	start.failures = 2;
	end.failures = 5;
	/* ordinary window: differences */
	ctl_counts_delta(&start, &end, &d);
	assert_near(d.requests, 50);
	assert_near(d.failures, 3);
	assert_int_equal(d.nbuckets, 3);
	assert_near(d.buckets[0], 30);
	assert_near(d.buckets[1], 45);
	assert_near(d.buckets[2], 50);
	/* the node restarted: its requests dropped, so the end values are
	 * the window's (it counted from zero since) */
	end = hist(b, kr, 3);
	end.failures = 1;
	ctl_counts_delta(&start, &end, &d);
	assert_near(d.requests, 5);
	assert_near(d.failures, 1);
	assert_near(d.buckets[0], 3);
	assert_near(d.buckets[2], 5);
	/* only failures dropped: a restart too */
	end = hist(b, k1, 3);
	end.failures = 1;
	ctl_counts_delta(&start, &end, &d);
	assert_near(d.requests, 70);
	assert_near(d.failures, 1);
	/* only one bucket dropped */
	end = hist(b, k1, 3);
	end.failures = 5;
	end.buckets[0] = 9;
	ctl_counts_delta(&start, &end, &d);
	assert_near(d.requests, 70);
	assert_near(d.buckets[0], 9);
	/* the histogram vanished, or came back with other bounds: restart */
	end = hist(b, k1, 3);
	end.failures = 5;
	end.nbuckets = 0;
	ctl_counts_delta(&start, &end, &d);
	assert_near(d.requests, 70);
	assert_int_equal(d.nbuckets, 0);
	{
		static const double b2[] = {0.2, 0.5, INFINITY};
		end = hist(b2, k1, 3);
		end.failures = 5;
		ctl_counts_delta(&start, &end, &d);
		assert_near(d.requests, 70);
		assert_near(d.buckets[0], 40);
	}
	/* a histogram that appeared during the window counts from zero */
	start.nbuckets = 0;
	start.requests = 0;
	start.failures = 0;
	end = hist(b, k1, 3);
	ctl_counts_delta(&start, &end, &d);
	assert_near(d.requests, 70);
	assert_near(d.buckets[1], 60);
	/* in place (out aliasing end) works */
	start = hist(b, k0, 3);
	end = hist(b, k1, 3);
	ctl_counts_delta(&start, &end, &end);
	assert_near(end.requests, 50);
	assert_near(end.buckets[0], 30);
}

static void sums_over_nodes(void **state)
{
	static const double b[] = {0.1, 0.5, INFINITY}, b2[] = {0.2, INFINITY};
	static const double k1[] = {1, 2, 3}, k2[] = {10, 20, 30}, k3[] = {5, 9};
	ctl_counts sum, x;
	memset(&sum, 0, sizeof(sum));
	x = hist(b, k1, 3);
	x.failures = 1;
	ctl_counts_add(&sum, &x); /* empty takes the first histogram */
	x = hist(b, k2, 3);
	x.failures = 2;
	ctl_counts_add(&sum, &x);
	assert_near(sum.requests, 33);
	assert_near(sum.failures, 3);
	assert_int_equal(sum.nbuckets, 3);
	assert_near(sum.buckets[0], 11);
	assert_near(sum.buckets[2], 33);
	/* other bounds: requests and failures add, the histogram is skipped */
	x = hist(b2, k3, 2);
	ctl_counts_add(&sum, &x);
	assert_near(sum.requests, 42);
	assert_int_equal(sum.nbuckets, 3);
	assert_near(sum.buckets[2], 33);
	/* a node without a histogram adds its counters only */
	memset(&x, 0, sizeof(x));
	x.requests = 8;
	ctl_counts_add(&sum, &x);
	assert_near(sum.requests, 50);
	assert_near(sum.buckets[2], 33);
}

/* Judge and return the result JSON (caller deletes). */
static cJSON *judge(const ctl_window *t, const ctl_window *s, const char *cond, double margin, int64_t min,
		    ctl_verdict want)
{
	ctl_verdict v = (ctl_verdict)99;
	cJSON *res = NULL;
	if (ctl_judge(t, s, cond, margin, min, &v, &res) != 0)
		fail_msg("judge '%s': %s", cond ? cond : "(null)", mlreg_error_last());
	if (v != want) {
		char *text = util_json_print(res);
		fail_msg("judge '%s': %s, expected %s: %s", cond ? cond : "(null)", ctl_verdict_name(v),
			 ctl_verdict_name(want), text);
	}
	assert_string_equal(util_json_str(res, "result"), ctl_verdict_name(want));
	return res;
}

static const cJSON *check_named(const cJSON *res, const char *prefix)
{
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItem(res, "checks"))
	if (!strncmp(util_json_str(c, "condition"), prefix, strlen(prefix)))
		return c;
	fail_msg("no check starting '%s'", prefix);
	return NULL;
}

static void verdicts(void **state)
{
	ctl_window target = {.requests = 1000, .failures = 5, .failure_rate = 0.005, .p99_ms = 120};
	ctl_window stable = {.requests = 9000, .failures = 9, .failure_rate = 0.001, .p99_ms = 100};
	const char *cond = "failure_rate<0.01,p99_ms<250";
	const cJSON *c;
	cJSON *res;

	/* passes the conditions, and 0.005 <= 0.001 + 0.01 */
	res = judge(&target, &stable, cond, 0.01, 100, CTL_ANALYSIS_SUCCESSFUL);
	assert_string_equal(util_json_str(res, "reason"), "every check passed");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(res, "checks")), 4);
	c = check_named(res, "p99_ms<250");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(c, "passed")));
	assert_true(cJSON_GetObjectItem(c, "actual")->valuedouble == 120);
	c = check_named(res, "requests>=100");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(c, "passed")));
	assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(res, "metrics"), "requests")->valuedouble == 1000);
	assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(res, "stable"), "failure_rate")->valuedouble == 0.001);
	cJSON_Delete(res);

	/* the margin: 0.005 > 0.001 + 0.002 fails though every condition passes */
	res = judge(&target, &stable, cond, 0.002, 100, CTL_ANALYSIS_FAILED);
	assert_non_null(strstr(util_json_str(res, "reason"), "failure rate 0.005 exceeds stable's 0.001 by more than 0.002"));
	c = check_named(res, "failure_rate<=0.003");
	assert_false(cJSON_IsTrue(cJSON_GetObjectItem(c, "passed")));
	cJSON_Delete(res);
	/* exactly at the margin passes */
	target.failure_rate = 0.25;
	stable.failure_rate = 0.125;
	cJSON_Delete(judge(&target, &stable, NULL, 0.125, 100, CTL_ANALYSIS_SUCCESSFUL));
	target.failure_rate = 0.005;
	stable.failure_rate = 0.001;
	/* no comparison: negative or NaN margin, no stable, stable idle */
	cJSON_Delete(judge(&target, &stable, cond, -1, 100, CTL_ANALYSIS_SUCCESSFUL));
	cJSON_Delete(judge(&target, &stable, cond, NAN, 100, CTL_ANALYSIS_SUCCESSFUL));
	res = judge(&target, NULL, cond, 0, 100, CTL_ANALYSIS_SUCCESSFUL);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(res, "stable")));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(res, "checks")), 3);
	cJSON_Delete(res);
	{
		ctl_window idle = {0};
		cJSON_Delete(judge(&target, &idle, cond, 0, 100, CTL_ANALYSIS_SUCCESSFUL));
	}

	/* a condition fails: the reason names it and the value */
	target.p99_ms = 300;
	res = judge(&target, &stable, cond, 0.01, 100, CTL_ANALYSIS_FAILED);
	assert_string_equal(util_json_str(res, "reason"), "p99_ms<250 failed: p99_ms is 300");
	cJSON_Delete(res);
	/* ... but with fewer requests than the minimum it is inconclusive */
	res = judge(&target, &stable, cond, 0.01, 1001, CTL_ANALYSIS_INCONCLUSIVE);
	assert_string_equal(util_json_str(res, "reason"), "1000 requests reached the target, fewer than 1001");
	c = check_named(res, "requests>=1001");
	assert_false(cJSON_IsTrue(cJSON_GetObjectItem(c, "passed")));
	cJSON_Delete(res);
	/* exactly the minimum is enough */
	cJSON_Delete(judge(&target, &stable, cond, 0.01, 1000, CTL_ANALYSIS_FAILED));
	/* no traffic at all is inconclusive whatever the minimum */
	{
		ctl_window none = {.p99_ms = NAN};
		res = judge(&none, &stable, cond, 0.01, 0, CTL_ANALYSIS_INCONCLUSIVE);
		assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(res, "metrics"), "p99_ms")));
		cJSON_Delete(res);
		cJSON_Delete(judge(&none, NULL, NULL, 0, -5, CTL_ANALYSIS_INCONCLUSIVE));
	}
	/* an unknown p99 fails a condition on it, with actual null */
	target.p99_ms = NAN;
	res = judge(&target, &stable, cond, 0.01, 1, CTL_ANALYSIS_FAILED);
	assert_string_equal(util_json_str(res, "reason"), "p99_ms<250 failed: p99_ms is unknown (no latency observed)");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(check_named(res, "p99_ms<250"), "actual")));
	cJSON_Delete(res);
	/* ... and does not matter without one */
	cJSON_Delete(judge(&target, &stable, "failure_rate<0.01", 0.01, 1, CTL_ANALYSIS_SUCCESSFUL));
	target.p99_ms = 120;
	/* every metric name, every operator, blanks */
	cJSON_Delete(judge(&target, &stable, " requests >= 1000 , failures<=5,failure_rate!=1, p99_ms>100,p99_ms==120 ",
			   -1, 1, CTL_ANALYSIS_SUCCESSFUL));
	cJSON_Delete(judge(&target, &stable, "failures<5", -1, 1, CTL_ANALYSIS_FAILED));
	/* the caller may not want the JSON */
	{
		ctl_verdict v;
		assert_int_equal(ctl_judge(&target, &stable, cond, 0.01, 1, &v, NULL), 0);
		assert_int_equal(v, CTL_ANALYSIS_SUCCESSFUL);
	}
	assert_string_equal(ctl_verdict_name(CTL_ANALYSIS_SUCCESSFUL), "Successful");
	assert_string_equal(ctl_verdict_name(CTL_ANALYSIS_FAILED), "Failed");
	assert_string_equal(ctl_verdict_name(CTL_ANALYSIS_INCONCLUSIVE), "Inconclusive");
}

static void bad_conditions(void **state)
{
	static const struct {
		const char *cond, *msg;
	} bad[] = {
		{"latency<5", "unknown metric 'latency'"},
		{"failure_rate<", "bad value"},
		{"failure_rate<abc", "is not a number"},
		{"p99_ms=5", "unknown operator"},
		{"failure_rate<0.01,,p99_ms<5", "condition 2 is empty"},
		{"failure_rate<0.01, ", "condition 2 is empty"},
		{"failure_rate", "expected NAME OP VALUE"},
		{"p99_ms<inf", "is not a number"},
	};
	ctl_window w = {.requests = 10};
	ctl_verdict v = (ctl_verdict)42;
	cJSON *res = (cJSON *)0x1;
	util_buf b;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ctl_judge(&w, NULL, bad[i].cond, 0, 1, &v, &res) != MLREG_EINVALID)
			fail_msg("'%s' was accepted", bad[i].cond);
		if (!strstr(mlreg_error_last(), bad[i].msg))
			fail_msg("'%s': message '%s' lacks '%s'", bad[i].cond, mlreg_error_last(), bad[i].msg);
		assert_int_equal(ctl_conditions_check(bad[i].cond), MLREG_EINVALID);
	}
	assert_int_equal(v, 42);
	assert_ptr_equal(res, (cJSON *)0x1);
	/* 16 conditions, then 17 */
	util_buf_init(&b, 4096);
	for (int i = 0; i < CTL_MAX_CONDITIONS; i++)
		assert_int_equal(util_buf_printf(&b, "%srequests>=%d", i ? "," : "", i), 0);
	assert_int_equal(ctl_conditions_check(b.ptr), 0);
	assert_int_equal(util_buf_puts(&b, ",requests>=1"), 0);
	assert_int_equal(ctl_conditions_check(b.ptr), MLREG_EINVALID);
	assert_non_null(strstr(mlreg_error_last(), "more than 16"));
	util_buf_release(&b);
	assert_int_equal(ctl_conditions_check(NULL), 0);
	assert_int_equal(ctl_conditions_check(""), 0);
	assert_int_equal(ctl_conditions_check("failure_rate<0.01,p99_ms<250"), 0);
}

/* Two nodes scraped at the start and end of a window; node b restarted in
 * between.  Stable (v2) and target (v3) through the whole pipeline. */
static void window_over_two_nodes(void **state)
{
	static const int codes[] = {200, 500};
	/* node a: v3 went from 100 (1 failure) to 300 (3 failures) */
	static const double a0[] = {99, 1}, a1[] = {297, 3};
	static const double ha0[] = {0, 0, 0, 50, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100};
	static const double ha1[] = {0, 0, 0, 150, 280, 300, 300, 300, 300, 300, 300, 300, 300, 300, 300};
	/* node b: v3 at 500 before, 100 after its restart */
	static const double b0[] = {500, 0}, b1[] = {99, 1};
	static const double hb0[] = {0, 0, 0, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500};
	static const double hb1[] = {0, 0, 0, 0, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100};
	/* stable v2 on node a only: 1000 -> 3000 requests, no failures */
	static const double s0[] = {1000, 0}, s1[] = {3000, 0};
	util_buf t;
	ctl_counts start, end, d, target, stable;
	ctl_window tw, sw;
	ctl_verdict v;
	cJSON *res = NULL;
	memset(&target, 0, sizeof(target));
	memset(&stable, 0, sizeof(stable));
	util_buf_init(&t, 1 << 20);

	node_text(&t, "dep", "3", codes, a0, 2, ha0);
	node_text(&t, "dep", "2", codes, s0, 2, NULL);
	counts_from(t.ptr, "dep", "3", &start);
	t.len = 0;
	node_text(&t, "dep", "3", codes, a1, 2, ha1);
	node_text(&t, "dep", "2", codes, s1, 2, NULL);
	counts_from(t.ptr, "dep", "3", &end);
	ctl_counts_delta(&start, &end, &d);
	ctl_counts_add(&target, &d);
	t.len = 0;
	node_text(&t, "dep", "2", codes, s0, 2, NULL);
	counts_from(t.ptr, "dep", "2", &start);
	t.len = 0;
	node_text(&t, "dep", "2", codes, s1, 2, NULL);
	counts_from(t.ptr, "dep", "2", &end);
	ctl_counts_delta(&start, &end, &d);
	ctl_counts_add(&stable, &d);

	t.len = 0;
	node_text(&t, "dep", "3", codes, b0, 2, hb0);
	counts_from(t.ptr, "dep", "3", &start);
	t.len = 0;
	node_text(&t, "dep", "3", codes, b1, 2, hb1);
	counts_from(t.ptr, "dep", "3", &end);
	ctl_counts_delta(&start, &end, &d);
	ctl_counts_add(&target, &d);
	util_buf_release(&t);

	/* a: 200 requests, 2 failures; b (restarted): 100 and 1 */
	ctl_window_of(&target, &tw);
	assert_near(tw.requests, 300);
	assert_near(tw.failures, 3);
	assert_near(tw.failure_rate, 0.01);
	/* buckets summed: a {.., 100 at 1ms, 180 at 2.5ms, 200 at 5ms}, b {0
	 * at 1ms, 100 at 2.5ms}: cumulative 100 at 0.001, 280 at 0.0025, 300
	 * at 0.005; rank 297 in (0.0025, 0.005]: 20 in it, 17 past its
	 * start: 0.0025 + 0.0025 * 17/20 = 0.004625 s */
	assert_near(tw.p99_ms, 4.625);
	ctl_window_of(&stable, &sw);
	assert_near(sw.requests, 2000);
	assert_near(sw.failure_rate, 0);
	assert_true(isnan(sw.p99_ms));

	assert_int_equal(ctl_judge(&tw, &sw, "failure_rate<0.02,p99_ms<5", 0.005, 100, &v, &res), 0);
	assert_int_equal(v, CTL_ANALYSIS_FAILED); /* 0.01 > 0 + 0.005 */
	cJSON_Delete(res);
	assert_int_equal(ctl_judge(&tw, &sw, "failure_rate<0.02,p99_ms<5", 0.01, 100, &v, NULL), 0);
	assert_int_equal(v, CTL_ANALYSIS_SUCCESSFUL);
	assert_int_equal(ctl_judge(&tw, &sw, "failure_rate<0.02,p99_ms<4.5", 0.01, 100, &v, NULL), 0);
	assert_int_equal(v, CTL_ANALYSIS_FAILED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(counts_of_node_text), cmocka_unit_test(p99_interpolation),
		cmocka_unit_test(delta_and_restart),   cmocka_unit_test(sums_over_nodes),
		cmocka_unit_test(verdicts),            cmocka_unit_test(bad_conditions),
		cmocka_unit_test(window_over_two_nodes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

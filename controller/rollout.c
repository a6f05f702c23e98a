/*
 * rollout.c - what one deployment does next (docs/controller.md, "A pass of
 * the reconciler"): act on a pending verb, notice a new desired version,
 * run the current step (weight, pause, analysis, shadow), abort on a
 * failed analysis, a refused load or a missed deadline, complete, and keep
 * a Healthy deployment's nodes serving its stable version.
 *
 * The function is level-triggered and restartable: everything it needs to
 * continue is in the state object (persisted after the pass), and every
 * node action is "make it so" rather than "do this", so a reconciler killed
 * anywhere, or a node restarted empty, converges on the next pass.  Aborts
 * move traffic back to stable on every node before unloading the target.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "controller/pass.h"
#include "util/json.h"

/* ------------------------------------------------------------------ */
/* state helpers                                                       */
/* ------------------------------------------------------------------ */
int64_t st_int(const cJSON *st, const char *key)
{
	int64_t v = 0;
	return util_json_i64(st, key, &v) == 0 ? v : 0;
}

const char *st_str(const cJSON *st, const char *key)
{
	return util_json_str(st, key);
}

void st_set_int(cJSON *st, const char *key, int64_t v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(st, key);
	if (v)
		cJSON_AddNumberToObject(st, key, (double)v);
	else
		cJSON_AddNullToObject(st, key);
}

void st_set_str(cJSON *st, const char *key, const char *v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(st, key);
	if (v)
		cJSON_AddStringToObject(st, key, v);
	else
		cJSON_AddNullToObject(st, key);
}

static void st_set_bool(cJSON *st, const char *key, bool v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(st, key);
	cJSON_AddBoolToObject(st, key, v);
}

static void st_set_item(cJSON *st, const char *key, cJSON *item)
{
	cJSON_DeleteItemFromObjectCaseSensitive(st, key);
	cJSON_AddItemToObject(st, key, item ? item : cJSON_CreateNull());
}

void dep_event(dep *d, const char *kind, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	cJSON *e = cJSON_CreateObject();
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!e)
		return;
	cJSON_AddStringToObject(e, "kind", kind);
	cJSON_AddStringToObject(e, "message", msg);
	{
		cJSON *det = cJSON_AddObjectToObject(e, "details");
		cJSON_AddStringToObject(det, "deployment", d->name);
		cJSON_AddStringToObject(det, "model", d->model);
		if (st_int(d->st, "target_version"))
			cJSON_AddNumberToObject(det, "target_version", (double)st_int(d->st, "target_version"));
		if (st_int(d->st, "stable_version"))
			cJSON_AddNumberToObject(det, "stable_version", (double)st_int(d->st, "stable_version"));
	}
	cJSON_AddItemToArray(d->events, e);
	LOG_INFO("deployment %s: %s", d->name, msg);
}

static void set_message(dep *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_message(dep *d, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	st_set_str(d->st, "message", msg);
}

/* Numbers JSON cannot carry (a p99 of nothing is NaN) become null. */
static void finite_only(cJSON *v)
{
	for (cJSON *c = v ? v->child : NULL; c; c = c->next) {
		if (cJSON_IsNumber(c) && !(c->valuedouble - c->valuedouble == 0)) {
			cJSON *n = cJSON_CreateNull();
			if (n)
				cJSON_ReplaceItemViaPointer(v, c, n), c = n;
		} else {
			finite_only(c);
		}
	}
}

static const char *phase(const dep *d)
{
	const char *p = st_str(d->st, "phase");
	return p ? p : "Healthy";
}

static void set_phase(dep *d, const char *p)
{
	st_set_str(d->st, "phase", p);
}

/* {"<v>":w, …} */
static cJSON *weights2(int64_t a, int wa, int64_t b, int wb)
{
	cJSON *w = cJSON_CreateObject();
	char k[32];
	if (a) {
		snprintf(k, sizeof(k), "%lld", (long long)a);
		cJSON_AddNumberToObject(w, k, wa);
	}
	if (b && b != a) {
		snprintf(k, sizeof(k), "%lld", (long long)b);
		cJSON_AddNumberToObject(w, k, wb);
	}
	return w;
}

/* ------------------------------------------------------------------ */
/* analysis windows                                                    */
/* ------------------------------------------------------------------ */
static cJSON *counts_json(const ctl_counts *c)
{
	cJSON *o = cJSON_CreateObject(), *b = cJSON_AddArrayToObject(o, "b"), *l = cJSON_AddArrayToObject(o, "l");
	cJSON_AddNumberToObject(o, "r", c->requests);
	cJSON_AddNumberToObject(o, "f", c->failures);
	for (int i = 0; i < c->nbuckets; i++) {
		cJSON_AddItemToArray(b, cJSON_CreateNumber(c->buckets[i]));
		/* +Inf is not JSON: the last bound is implied */
		cJSON_AddItemToArray(l, cJSON_CreateNumber(i + 1 < c->nbuckets ? c->bounds[i] : 0));
	}
	return o;
}

static void counts_from(const cJSON *o, ctl_counts *c)
{
	const cJSON *b = cJSON_GetObjectItem(o, "b"), *l = cJSON_GetObjectItem(o, "l");
	memset(c, 0, sizeof(*c));
	c->requests = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "r"));
	c->failures = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "f"));
	for (int i = 0; i < cJSON_GetArraySize(b) && i < 32; i++) {
		c->buckets[i] = cJSON_GetNumberValue(cJSON_GetArrayItem(b, i));
		c->bounds[i] = cJSON_GetNumberValue(cJSON_GetArrayItem(l, i));
		c->nbuckets = i + 1;
	}
	if (c->nbuckets)
		c->bounds[c->nbuckets - 1] = 1.0 / 0.0;
	for (int i = 0; i < c->nbuckets; i++)
		if (c->buckets[i] != c->buckets[i]) /* NaN from a broken row */
			c->buckets[i] = 0;
}

/* {"<node>":{"t":counts,"s":counts,"sr":shadow requests,"sm":shadow mismatches}} for the answering nodes. */
static cJSON *snapshot(dep *d, int64_t target, int64_t stable)
{
	ctl_samples *s = calloc(d->nsel + 1, sizeof(*s));
	cJSON *o = cJSON_CreateObject();
	char tv[32], sv[32];
	snprintf(tv, sizeof(tv), "%lld", (long long)target);
	snprintf(sv, sizeof(sv), "%lld", (long long)stable);
	if (!s || !o) {
		free(s);
		return o;
	}
	scrape(d, s);
	for (size_t i = 0; i < d->nsel; i++) {
		ctl_counts t, st;
		cJSON *n;
		double sr = 0, sm = 0;
		if (!s[i].n)
			continue;
		ctl_counts_of(&s[i], d->name, tv, &t);
		ctl_counts_of(&s[i], d->name, sv, &st);
		for (size_t k = 0; k < s[i].n; k++) {
			const ctl_sample *x = &s[i].s[k];
			const char *m = ctl_sample_label(x, "model"), *v = ctl_sample_label(x, "version");
			if (!m || !v || strcmp(m, d->name) != 0 || strcmp(v, tv) != 0)
				continue;
			if (!strcmp(x->name, "mlreg_node_shadow_requests_total"))
				sr = x->value;
			else if (!strcmp(x->name, "mlreg_node_shadow_mismatch_total"))
				sm = x->value;
		}
		n = cJSON_AddObjectToObject(o, d->sel[i]->node.name);
		cJSON_AddItemToObject(n, "t", counts_json(&t));
		cJSON_AddItemToObject(n, "s", counts_json(&st));
		cJSON_AddNumberToObject(n, "sr", sr);
		cJSON_AddNumberToObject(n, "sm", sm);
		ctl_samples_release(&s[i]);
	}
	free(s);
	return o;
}

/* Sum over nodes of end - start (nodes in both). */
static void window_sum(const cJSON *start, const cJSON *end, ctl_window *tw, ctl_window *sw, double *sreq,
		       double *smis)
{
	ctl_counts t = {0}, s = {0};
	const cJSON *e;
	bool first = true;
	*sreq = *smis = 0;
	cJSON_ArrayForEach(e, end)
	{
		const cJSON *b = cJSON_GetObjectItemCaseSensitive(start, e->string);
		ctl_counts a0, a1, d0, b0, b1, d1;
		double sr0, sr1, sm0, sm1;
		if (!b)
			continue;
		counts_from(cJSON_GetObjectItem(b, "t"), &a0);
		counts_from(cJSON_GetObjectItem(e, "t"), &a1);
		counts_from(cJSON_GetObjectItem(b, "s"), &b0);
		counts_from(cJSON_GetObjectItem(e, "s"), &b1);
		ctl_counts_delta(&a0, &a1, &d0);
		ctl_counts_delta(&b0, &b1, &d1);
		if (first) {
			t = d0;
			s = d1;
			first = false;
		} else {
			ctl_counts_add(&t, &d0);
			ctl_counts_add(&s, &d1);
		}
		sr0 = cJSON_GetNumberValue(cJSON_GetObjectItem(b, "sr"));
		sr1 = cJSON_GetNumberValue(cJSON_GetObjectItem(e, "sr"));
		sm0 = cJSON_GetNumberValue(cJSON_GetObjectItem(b, "sm"));
		sm1 = cJSON_GetNumberValue(cJSON_GetObjectItem(e, "sm"));
		*sreq += sr1 >= sr0 ? sr1 - sr0 : sr1;
		*smis += sm1 >= sm0 ? sm1 - sm0 : sm1;
	}
	ctl_window_of(&t, tw);
	ctl_window_of(&s, sw);
}

/* ------------------------------------------------------------------ */
/* transitions                                                         */
/* ------------------------------------------------------------------ */
static void step_to(dep *d, int64_t step)
{
	cJSON_DeleteItemFromObjectCaseSensitive(d->st, "step");
	cJSON_AddNumberToObject(d->st, "step", (double)step);
	st_set_int(d->st, "step_started_at", d->p->now);
	st_set_int(d->st, "progress_at", d->p->now);
	st_set_item(d->st, "window", NULL);
	cJSON_DeleteItemFromObjectCaseSensitive(d->st, "inconclusive");
	cJSON_AddNumberToObject(d->st, "inconclusive", 0);
}

static int64_t cur_step(const dep *d)
{
	int64_t s = 0;
	util_json_i64(d->st, "step", &s);
	return s;
}

static void add_scale_down(dep *d, int64_t version)
{
	cJSON *a = cJSON_GetObjectItemCaseSensitive(d->st, "scale_down"), *o;
	int64_t delay = 0;
	util_json_i64(d->row, "scale_down_delay_ms", &delay);
	if (!cJSON_IsArray(a)) {
		a = cJSON_CreateArray();
		st_set_item(d->st, "scale_down", a);
	}
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "version", (double)version);
	cJSON_AddNumberToObject(o, "at", (double)(d->p->now + delay));
	cJSON_AddItemToArray(a, o);
}

static void complete(dep *d)
{
	int64_t old = st_int(d->st, "stable_version"), t = st_int(d->st, "target_version");
	st_set_int(d->st, "stable_version", t);
	st_set_str(d->st, "stable_digest", st_str(d->st, "target_digest"));
	st_set_int(d->st, "target_version", 0);
	st_set_str(d->st, "target_digest", NULL);
	st_set_item(d->st, "window", NULL);
	st_set_bool(d->st, "paused", false);
	set_phase(d, "Healthy");
	set_message(d, "serving version %lld", (long long)t);
	if (old && old != t)
		add_scale_down(d, old);
	dep_event(d, "rollout.healthy", "version %lld is serving on every node%s", (long long)t,
		  old ? "" : " (first rollout)");
}

/* Traffic back to stable on every node first, then the target unloaded
 * (nodes that do not answer converge on a later pass); the target is
 * forgotten. */
static void drop_target(dep *d)
{
	int64_t stable = st_int(d->st, "stable_version");
	if (stable) {
		cJSON *w = weights2(stable, 100, 0, 0);
		converge_traffic(d, w, 0);
		cJSON_Delete(w);
		converge_unload(d, &stable, 1);
	}
	st_set_int(d->st, "target_version", 0);
	st_set_str(d->st, "target_digest", NULL);
	st_set_item(d->st, "window", NULL);
	st_set_bool(d->st, "paused", false);
}

/* A failed rollout: the target is rejected until retry, a new promotion
 * or a rollback. */
static void abort_rollout(dep *d, const char *reason)
{
	int64_t target = st_int(d->st, "target_version");
	drop_target(d);
	st_set_int(d->st, "rejected_version", target);
	st_set_str(d->st, "rejected_reason", reason);
	set_phase(d, "Degraded");
	set_message(d, "version %lld aborted: %s", (long long)target, reason);
	dep_event(d, "rollout.aborted", "version %lld aborted: %s", (long long)target, reason);
}

static void start_target(dep *d, int64_t version, const char *digest, bool fast)
{
	st_set_int(d->st, "target_version", version);
	st_set_str(d->st, "target_digest", digest);
	st_set_bool(d->st, "fast", fast);
	cJSON_DeleteItemFromObjectCaseSensitive(d->st, "wave");
	st_set_bool(d->st, "paused", false);
	st_set_item(d->st, "analysis", cJSON_CreateArray());
	cJSON_DeleteItemFromObjectCaseSensitive(d->st, "weight");
	cJSON_AddNumberToObject(d->st, "weight", 0);
	step_to(d, 0);
	set_phase(d, "Progressing");
	set_message(d, "rolling out version %lld%s", (long long)version, fast ? " (straight to 100)" : "");
	dep_event(d, "rollout.started", "rolling out version %lld%s", (long long)version,
		  fast ? (st_int(d->st, "stable_version") ? " (registry rollback: fast path)" : " (first rollout)") : "");
}

/* Keep a version-less or Healthy deployment's nodes serving stable. */
static void steady(dep *d)
{
	int64_t stable = st_int(d->st, "stable_version"), keep[64];
	int nkeep = 0;
	cJSON *sd = cJSON_GetObjectItemCaseSensitive(d->st, "scale_down");
	if (!stable)
		return;
	keep[nkeep++] = stable;
	int rc = converge_load(d, stable, st_str(d->st, "stable_digest"));
	if (rc != 0) {
		if (rc == MLREG_EREFUSED)
			set_message(d, "stable version %lld does not load everywhere: %s", (long long)stable,
				    mlreg_error_last());
		d->p->busy = true;
	}
	{
		cJSON *w = weights2(stable, 100, 0, 0);
		if (converge_traffic(d, w, 0) != 0)
			d->p->busy = true;
		cJSON_Delete(w);
	}
	if (cJSON_IsArray(sd)) {
		for (cJSON *e = sd->child, *next; e; e = next) {
			int64_t v = st_int(e, "version"), at = st_int(e, "at");
			next = e->next;
			if (at > d->p->now && nkeep < 64) {
				keep[nkeep++] = v;
				/* nothing moves until then: a pass at that time, not every tick */
				if (!d->p->due_at || at < d->p->due_at)
					d->p->due_at = at;
			} else {
				cJSON_Delete(cJSON_DetachItemViaPointer(sd, e));
			}
		}
	}
	converge_unload(d, keep, nkeep);
}

/* Run the steps from the current one while they complete at once. */
static void run_steps(dep *d)
{
	int64_t stable = st_int(d->st, "stable_version"), target = st_int(d->st, "target_version");
	int64_t interval = 0, min_req = 0, fail_limit = 0, now = d->p->now;
	double margin = cJSON_GetNumberValue(cJSON_GetObjectItem(d->row, "failure_margin"));
	const char *conds = util_json_str(d->row, "analysis");
	util_json_i64(d->row, "analysis_interval_ms", &interval);
	util_json_i64(d->row, "min_requests", &min_req);
	util_json_i64(d->row, "failure_limit", &fail_limit);
	if (margin != margin)
		margin = 0;
	for (int guard = 0; guard < CTL_MAX_STEPS + 2; guard++) {
		int64_t i = cur_step(d), w = st_int(d->st, "weight");
		cJSON *weights;
		if (i >= d->nsteps) {
			weights = weights2(target, 100, stable, 0);
			if (converge_traffic(d, weights, 0) == 0)
				complete(d);
			else
				d->p->busy = true;
			cJSON_Delete(weights);
			return;
		}
		const ctl_step *s = &d->steps[i];
		if (s->kind == CTL_STEP_WEIGHT) {
			weights = weights2(stable, 100 - s->weight, target, s->weight);
			if (converge_traffic(d, weights, 0) != 0) {
				d->p->busy = true;
				cJSON_Delete(weights);
				return;
			}
			cJSON_Delete(weights);
			cJSON_DeleteItemFromObjectCaseSensitive(d->st, "weight");
			cJSON_AddNumberToObject(d->st, "weight", s->weight);
			dep_event(d, "rollout.step", "step %lld: version %lld takes %d%% of the traffic", (long long)i + 1,
				  (long long)target, s->weight);
			step_to(d, i + 1);
			continue;
		}
		weights = weights2(stable, 100 - (int)w, target, (int)w);
		if (converge_traffic(d, weights, s->kind == CTL_STEP_SHADOW ? target : 0) != 0) {
			d->p->busy = true;
			cJSON_Delete(weights);
			return;
		}
		cJSON_Delete(weights);
		if (s->kind == CTL_STEP_PAUSE) {
			if (s->ms < 0) {
				st_set_bool(d->st, "paused", true);
				set_phase(d, "Paused");
				set_message(d, "paused at step %lld of %d: mlreg rollout resume or promote", (long long)i + 1,
					    d->nsteps);
				return;
			}
			if (now < st_int(d->st, "step_started_at") + s->ms) {
				d->p->busy = true;
				return;
			}
			step_to(d, i + 1);
			continue;
		}
		/* analysis or shadow: a measured window */
		{
			cJSON *win = cJSON_GetObjectItemCaseSensitive(d->st, "window");
			cJSON *end, *res = NULL;
			ctl_window tw, sw;
			double sreq, smis;
			ctl_verdict v = CTL_ANALYSIS_INCONCLUSIVE;
			bool final;
			d->p->busy = true;
			if (!cJSON_IsObject(win)) {
				win = cJSON_CreateObject();
				cJSON_AddNumberToObject(win, "started_at", (double)now);
				cJSON_AddNumberToObject(win, "checked_at", (double)now);
				cJSON_AddItemToObject(win, "start", snapshot(d, target, stable));
				st_set_item(d->st, "window", win);
				return;
			}
			final = now >= st_int(win, "started_at") + s->ms;
			if (!final && now < st_int(win, "checked_at") + interval)
				return;
			end = snapshot(d, target, stable);
			window_sum(cJSON_GetObjectItem(win, "start"), end, &tw, &sw, &sreq, &smis);
			cJSON_Delete(end);
			if (s->kind == CTL_STEP_SHADOW) {
				if (!final)
					return;
				res = cJSON_CreateObject();
				cJSON_AddStringToObject(res, "result", "Successful");
				cJSON *m = cJSON_AddObjectToObject(res, "metrics");
				cJSON_AddNumberToObject(m, "shadow_requests", sreq);
				cJSON_AddNumberToObject(m, "shadow_mismatches", smis);
				cJSON_AddNumberToObject(m, "mismatch_rate", sreq > 0 ? smis / sreq : 0);
				v = CTL_ANALYSIS_SUCCESSFUL;
			} else if (ctl_judge(&tw, &sw, conds ? conds : "", margin, min_req, &v, &res) < 0) {
				abort_rollout(d, mlreg_error_last());
				return;
			}
			if (!final && v != CTL_ANALYSIS_FAILED) { /* early look: only a failure counts */
				cJSON_Delete(res);
				cJSON_DeleteItemFromObjectCaseSensitive(win, "checked_at");
				cJSON_AddNumberToObject(win, "checked_at", (double)now);
				d->changed = true;
				return;
			}
			cJSON_AddNumberToObject(res, "step", (double)i + 1);
			finite_only(res);
			{
				cJSON *a = cJSON_GetObjectItemCaseSensitive(d->st, "analysis");
				if (!cJSON_IsArray(a)) {
					a = cJSON_CreateArray();
					st_set_item(d->st, "analysis", a);
				}
				cJSON_AddItemToArray(a, res);
			}
			if (v == CTL_ANALYSIS_FAILED) {
				char why[512];
				snprintf(why, sizeof(why), "analysis at step %lld failed (requests %.0f, failure rate %.4f, p99 %.1f ms)",
					 (long long)i + 1, tw.requests, tw.failure_rate, tw.p99_ms);
				abort_rollout(d, why);
				return;
			}
			if (v == CTL_ANALYSIS_INCONCLUSIVE) {
				int64_t n = st_int(d->st, "inconclusive") + 1;
				if (n > fail_limit) {
					char why[256];
					snprintf(why, sizeof(why), "analysis inconclusive %lld times (fewer than %lld requests)",
						 (long long)n, (long long)min_req);
					abort_rollout(d, why);
					return;
				}
				cJSON_DeleteItemFromObjectCaseSensitive(d->st, "inconclusive");
				cJSON_AddNumberToObject(d->st, "inconclusive", (double)n);
				st_set_item(d->st, "window", NULL); /* measure again */
				return;
			}
			dep_event(d, "rollout.step", "step %lld: %s of version %lld passed", (long long)i + 1,
				  s->kind == CTL_STEP_SHADOW ? "shadow" : "analysis", (long long)target);
			step_to(d, i + 1);
		}
	}
}

/* The rolling strategy: whole nodes switch from stable to the target, in
 * waves of --max-unavailable nodes (in the order the nodes are listed),
 * each wave once the previous one confirmed. */
static void rolling(dep *d)
{
	int64_t stable = st_int(d->st, "stable_version"), target = st_int(d->st, "target_version");
	int64_t k = 1, wave = st_int(d->st, "wave");
	size_t upto;
	dep on = *d, off = *d;
	cJSON *w_on = weights2(target, 100, stable, 0), *w_off = weights2(stable, 100, target, 0);
	int rc_on, rc_off;
	util_json_i64(d->row, "max_unavailable", &k);
	if (k < 1)
		k = 1;
	upto = (size_t)((wave + 1) * k) < d->nsel ? (size_t)((wave + 1) * k) : d->nsel;
	on.nsel = upto;
	off.sel = d->sel + upto;
	off.nsel = d->nsel - upto;
	rc_on = converge_traffic(&on, w_on, 0);
	rc_off = off.nsel ? converge_traffic(&off, w_off, 0) : 0;
	cJSON_Delete(w_on);
	cJSON_Delete(w_off);
	if (rc_on != 0 || rc_off != 0) {
		d->p->busy = true;
		return;
	}
	if (upto >= d->nsel) {
		cJSON_DeleteItemFromObjectCaseSensitive(d->st, "wave");
		complete(d);
		return;
	}
	dep_event(d, "rollout.step", "wave %lld: %zu of %zu nodes serve version %lld", (long long)wave + 1, upto, d->nsel,
		  (long long)target);
	st_set_int(d->st, "wave", wave + 1);
	st_set_int(d->st, "progress_at", d->p->now);
	d->p->busy = true;
}

static void act_on_verb(dep *d, const char *verb)
{
	bool has_target = st_int(d->st, "target_version") != 0;
	d->consume_verb = true;
	if (!strcmp(verb, "pause") && has_target) {
		st_set_bool(d->st, "paused", true);
		set_phase(d, "Paused");
		set_message(d, "paused by an operator: mlreg rollout resume");
		dep_event(d, "rollout.paused", "paused");
	} else if (!strcmp(verb, "resume") && has_target) {
		int64_t i = cur_step(d);
		st_set_bool(d->st, "paused", false);
		set_phase(d, "Progressing");
		if (i < d->nsteps && d->steps[i].kind == CTL_STEP_PAUSE && d->steps[i].ms < 0)
			step_to(d, i + 1);
		st_set_int(d->st, "progress_at", d->p->now);
		dep_event(d, "rollout.resumed", "resumed");
	} else if (!strcmp(verb, "promote") && has_target) {
		st_set_bool(d->st, "paused", false);
		set_phase(d, "Progressing");
		dep_event(d, "rollout.promoted", "step %lld skipped by an operator", (long long)cur_step(d) + 1);
		step_to(d, cur_step(d) + 1);
	} else if (!strcmp(verb, "promote-full") && has_target) {
		st_set_bool(d->st, "paused", false);
		set_phase(d, "Progressing");
		dep_event(d, "rollout.promoted", "every remaining step skipped by an operator");
		step_to(d, d->nsteps);
	} else if (!strcmp(verb, "abort") && has_target) {
		abort_rollout(d, "aborted by an operator");
	} else if (!strcmp(verb, "retry")) {
		if (st_int(d->st, "rejected_version"))
			dep_event(d, "rollout.retry", "version %lld may be rolled out again",
				  (long long)st_int(d->st, "rejected_version"));
		st_set_int(d->st, "rejected_version", 0);
		if (!strcmp(phase(d), "Degraded"))
			set_phase(d, "Healthy");
	}
}

void rollout_step(dep *d)
{
	const cJSON *desired = cJSON_GetObjectItemCaseSensitive(d->row, "desired");
	const char *verb = util_json_str(d->row, "verb");
	int64_t dv = cJSON_IsObject(desired) ? st_int(desired, "version") : 0;
	const char *ddigest = cJSON_IsObject(desired) ? util_json_str(desired, "digest") : NULL;
	const char *via = cJSON_IsObject(desired) ? util_json_str(desired, "via") : NULL;
	int64_t stable, target, rejected, deadline = 0;
	int rc;

	if (verb)
		act_on_verb(d, verb);
	if (!strcmp(phase(d), "Degraded") && st_int(d->st, "target_version") == 0 && !st_int(d->st, "rejected_version"))
		set_phase(d, "Healthy");
	stable = st_int(d->st, "stable_version");
	target = st_int(d->st, "target_version");
	rejected = st_int(d->st, "rejected_version");

	if (d->nselected == 0) {
		set_message(d, "no node matches the selector");
		return;
	}
	if (d->nsel == 0) { /* nothing to act on: wait for a node to answer */
		set_message(d, "none of the %zu selected nodes answers", d->nselected);
		d->p->busy = true;
		return;
	}
	if (!dv) {
		if (target) { /* the stage was emptied under a rollout: back to stable */
			dep_event(d, "rollout.superseded", "version %lld dropped: the %s no longer names a version",
				  (long long)target, util_json_str(d->row, "stage") ? "stage" : "alias");
			drop_target(d);
			set_phase(d, "Healthy");
		}
		if (!stable)
			set_message(d, "nothing to deploy: the %s has no version", util_json_str(d->row, "stage") ? "stage" : "alias");
		steady(d);
		return;
	}
	if (target && dv != target) {
		/* the stage moved during a rollout: drop the target (not rejected) */
		dep_event(d, "rollout.superseded", "version %lld superseded by version %lld", (long long)target,
			  (long long)dv);
		drop_target(d);
		set_phase(d, "Healthy");
		target = 0;
	}
	if (!target) {
		if (dv == stable) {
			if (!strcmp(phase(d), "Degraded") && rejected && rejected != dv)
				set_phase(d, "Healthy");
			if (!strcmp(phase(d), "Healthy"))
				set_message(d, "serving version %lld", (long long)stable);
			steady(d);
			return;
		}
		if (dv == rejected) {
			set_phase(d, "Degraded");
			set_message(d, "version %lld aborted: %s; serving version %lld (mlreg rollout retry %s)",
				    (long long)dv, st_str(d->st, "rejected_reason") ? st_str(d->st, "rejected_reason") : "rejected",
				    (long long)stable, d->name);
			steady(d);
			return;
		}
		start_target(d, dv, ddigest, !stable || (via && !strcmp(via, "rollback")));
		target = dv;
	}

	/* a rollout in progress */
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d->st, "fast"))) {
		cJSON *w;
		rc = converge_load(d, target, st_str(d->st, "target_digest"));
		if (rc == MLREG_EREFUSED) {
			if (stable) {
				abort_rollout(d, mlreg_error_last());
			} else {
				char why[1024];
				snprintf(why, sizeof(why), "%s", mlreg_error_last());
				abort_rollout(d, why);
			}
			return;
		}
		if (rc != 0) {
			d->p->busy = true;
			return;
		}
		w = weights2(target, 100, stable, 0);
		rc = converge_traffic(d, w, 0);
		cJSON_Delete(w);
		if (rc == 0)
			complete(d);
		else
			d->p->busy = true;
		return;
	}
	util_json_i64(d->row, "progress_deadline_ms", &deadline);
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d->st, "paused")) && deadline > 0 &&
	    d->p->now - st_int(d->st, "progress_at") > deadline) {
		char why[128], dur[32];
		util_duration_format(deadline, dur, sizeof(dur));
		snprintf(why, sizeof(why), "no progress within the deadline of %s", dur);
		abort_rollout(d, why);
		return;
	}
	if (stable && converge_load(d, stable, st_str(d->st, "stable_digest")) == 1)
		d->p->busy = true;
	rc = converge_load(d, target, st_str(d->st, "target_digest"));
	if (rc == MLREG_EREFUSED) {
		abort_rollout(d, mlreg_error_last());
		return;
	}
	if (rc != 0) {
		d->p->busy = true;
		return;
	}
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d->st, "paused"))) {
		int64_t w = st_int(d->st, "weight");
		const char *strategy = util_json_str(d->row, "strategy");
		if (!strategy || strcmp(strategy, "rolling") != 0) { /* rolling nodes keep their wave */
			cJSON *ws = weights2(stable, 100 - (int)w, target, (int)w);
			converge_traffic(d, ws, 0);
			cJSON_Delete(ws);
		}
		set_phase(d, "Paused");
		return;
	}
	set_phase(d, "Progressing");
	if (util_json_str(d->row, "strategy") && !strcmp(util_json_str(d->row, "strategy"), "rolling") &&
	    cur_step(d) < d->nsteps)
		rolling(d);
	else
		run_steps(d);
}

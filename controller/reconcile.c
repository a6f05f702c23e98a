/*
 * reconcile.c - the reconciler's loop: hold the lease, read one snapshot of
 * the desired state, read every node's index in parallel, let each
 * deployment take its next step (rollout.c), and write what changed, fenced
 * by the lease epoch.
 *
 * Level-triggered: a pass decides from what the database and the nodes say
 * now, so a missed wake-up or a crash costs at most one resync period.
 * Wake-ups come from this process (a promote, rollback or verb calls
 * ctl_wake through the registry's hook), from the generation counter (a
 * change made by another process, polled every poll_ms), and from the clock
 * (tick_ms while a rollout moves, resync_ms otherwise).  No database
 * transaction is ever open while a node is called: the snapshot is read
 * first, the writes come after.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "controller/pass.h"
#include "util/httpd.h"
#include "util/json.h"

struct ctl_reconciler {
	reg_registry *r;
	ctl_config cfg;
	char holder[128];
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop, woken;
};

void ctl_config_defaults(ctl_config *c)
{
	*c = (ctl_config){
		.resync_ms = 10000, .tick_ms = 250, .poll_ms = 1000, .lease_ttl_ms = 15000,
		.node_timeout_ms = 5000, .load_timeout_ms = 300000, .backoff_ms = 1000, .backoff_max_ms = 60000,
		.max_parallel = 64,
	};
}

/* ------------------------------------------------------------------ */
/* nodes                                                               */
/* ------------------------------------------------------------------ */
static bool selected(const cJSON *selector, const cJSON *labels)
{
	const cJSON *s;
	cJSON_ArrayForEach(s, selector)
	{
		const char *v = util_json_str(labels, s->string);
		if (!cJSON_IsString(s) || !v || strcmp(v, s->valuestring) != 0)
			return false;
	}
	return true;
}

static void nodes_free(pass *p)
{
	for (size_t i = 0; i < p->nn; i++) {
		cJSON_Delete(p->nodes[i].index);
		free(p->nodes[i].error);
	}
	free(p->nodes);
	p->nodes = NULL;
	p->nn = 0;
}

/* Build the pass's node list and read every index in parallel. */
static int nodes_observe(pass *p, const cJSON *snap)
{
	const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(snap, "nodes"), *n;
	ctl_call *calls;
	size_t k = 0;
	p->nn = (size_t)cJSON_GetArraySize(nodes);
	p->nodes = calloc(p->nn + 1, sizeof(pnode));
	calls = calloc(p->nn + 1, sizeof(ctl_call));
	if (!p->nodes || !calls) {
		free(calls);
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	p->nn = 0;
	cJSON_ArrayForEach(n, nodes)
	{
		pnode *pn = &p->nodes[p->nn++];
		int64_t next = 0;
		util_json_i64(n, "id", &pn->id);
		util_json_i64(n, "fails", &pn->fails);
		util_json_i64(n, "next_try_at", &next);
		pn->node.name = util_json_str(n, "name");
		pn->node.url = util_json_str(n, "url");
		pn->node.token = p->cfg->node_token;
		pn->node.cacert = p->cfg->node_cacert;
		pn->driver_name = util_json_str(n, "driver");
		pn->node.driver = pn->driver_name;
		pn->driver = ctl_driver_find(pn->driver_name ? pn->driver_name : "mlreg");
		pn->labels = cJSON_GetObjectItemCaseSensitive(n, "labels");
		if (!pn->node.name || !pn->node.url || !pn->driver) {
			pn->skip = true;
			pn->error = strdup("unknown driver");
			continue;
		}
		if (next > p->now) {
			pn->skip = true;
			continue;
		}
		memset(&calls[k], 0, sizeof(calls[k]));
		calls[k].kind = CTL_CALL_INDEX;
		calls[k].node = pn->node;
		calls[k].user = pn;
		k++;
	}
	ctl_calls_run(calls, k, p->cfg->node_timeout_ms, p->cfg->max_parallel);
	for (size_t i = 0; i < k; i++) {
		pnode *pn = calls[i].user;
		if (calls[i].ok && cJSON_IsArray(calls[i].json)) { /* normalised by ctl_calls_run */
			pn->reachable = true;
			pn->index = calls[i].json;
			calls[i].json = NULL;
		} else {
			pn->failed_now = true;
			pn->error = strdup(calls[i].error ? calls[i].error
							 : calls[i].status ? "unexpected index answer" : "no answer");
		}
		ctl_call_release(&calls[i]);
	}
	free(calls);
	return 0;
}

/* Persist what each node showed, and its backoff: one transaction for
 * the whole pass. */
static void nodes_record(pass *p)
{
	int64_t *ids = calloc(p->nn + 1, sizeof(int64_t)), *fails = calloc(p->nn + 1, sizeof(int64_t));
	int64_t *next = calloc(p->nn + 1, sizeof(int64_t));
	cJSON **obs = calloc(p->nn + 1, sizeof(cJSON *));
	size_t k = 0;
	if (!ids || !fails || !next || !obs)
		goto done;
	for (size_t i = 0; i < p->nn; i++) {
		pnode *pn = &p->nodes[i];
		cJSON *o;
		if (pn->skip)
			continue;
		ids[k] = pn->id;
		fails[k] = pn->failed_now ? pn->fails + 1 : 0;
		next[k] = 0;
		if (fails[k])
			next[k] = p->now + ctl_backoff_ms(p->cfg->backoff_ms, p->cfg->backoff_max_ms, fails[k],
							  (double)(rand() % 1000) / 999.0);
		o = cJSON_CreateObject();
		cJSON_AddBoolToObject(o, "healthy", pn->reachable && !pn->failed_now);
		cJSON_AddNumberToObject(o, "at", (double)p->now);
		if (pn->error)
			cJSON_AddStringToObject(o, "error", pn->error);
		else
			cJSON_AddNullToObject(o, "error");
		cJSON_AddItemToObject(o, "models", pn->index ? cJSON_Duplicate(pn->index, 1) : cJSON_CreateArray());
		obs[k++] = o;
	}
	if (k && reg_ctl_nodes_observed(p->r, p->epoch, k, ids, obs, fails, next) < 0)
		LOG_WARN("cannot record %zu node observations: %s", k, mlreg_error_last());
done:
	for (size_t i = 0; i < k; i++)
		cJSON_Delete(obs[i]);
	free(obs);
	free(ids);
	free(fails);
	free(next);
}

/* ------------------------------------------------------------------ */
/* a pass                                                              */
/* ------------------------------------------------------------------ */
static void deployment_pass(pass *p, const cJSON *row)
{
	dep d;
	const cJSON *steps = cJSON_GetObjectItemCaseSensitive(row, "steps");
	const cJSON *selector = cJSON_GetObjectItemCaseSensitive(row, "selector");
	cJSON *before;
	memset(&d, 0, sizeof(d));
	d.p = p;
	d.row = row;
	util_json_i64(row, "id", &d.id);
	d.name = util_json_str(row, "name");
	d.model = util_json_str(row, "model");
	before = cJSON_GetObjectItemCaseSensitive(row, "state");
	d.st = cJSON_IsObject(before) ? cJSON_Duplicate(before, 1) : cJSON_CreateObject();
	d.events = cJSON_CreateArray();
	d.sel = calloc(p->nn + 1, sizeof(pnode *));
	if (!d.name || !d.model || !d.st || !d.events || !d.sel ||
	    (cJSON_IsString(steps) ? ctl_steps_parse(steps->valuestring, d.steps, &d.nsteps)
				   : ctl_steps_preset(util_json_str(row, "strategy"), 0, d.steps, &d.nsteps)) < 0) {
		LOG_ERROR("deployment %s: unreadable row, skipped", d.name ? d.name : "?");
		goto done;
	}
	for (size_t i = 0; i < p->nn; i++) {
		if (!selected(selector, p->nodes[i].labels))
			continue;
		d.nselected++;
		if (p->nodes[i].reachable)
			d.sel[d.nsel++] = &p->nodes[i];
	}
	rollout_step(&d);
	if (!util_json_str(d.st, "phase")) /* a deployment never acted on yet */
		cJSON_AddStringToObject(d.st, "phase", st_int(d.st, "stable_version") ? "Healthy" : "Progressing");
	p->phases[ctl_phase_index(util_json_str(d.st, "phase"))]++;
	{
		const cJSON *e;
		cJSON_ArrayForEach(e, d.events)
		{
			if (!strcmp(util_json_str(e, "kind") ? util_json_str(e, "kind") : "", "rollout.aborted"))
				p->aborts++;
		}
	}
	if (d.consume_verb || cJSON_GetArraySize(d.events) > 0 || d.changed ||
	    !cJSON_Compare(before, d.st, true)) {
		if (reg_ctl_write(p->r, p->epoch, d.id, d.st, d.consume_verb, d.events) < 0)
			LOG_WARN("deployment %s: state not written: %s", d.name, mlreg_error_last());
	}
done:
	cJSON_Delete(d.st);
	cJSON_Delete(d.events);
	free(d.sel);
}

/* A node registered with the controller is managed by it: a model it
 * serves under a name no deployment has (the deployment was removed) is
 * unloaded. */
static void unload_orphans(pass *p, const cJSON *deployments)
{
	ctl_call *calls = NULL;
	size_t n = 0, cap = 0;
	for (size_t i = 0; i < p->nn; i++) {
		pnode *pn = &p->nodes[i];
		const cJSON *e;
		if (!pn->reachable)
			continue;
		cJSON_ArrayForEach(e, pn->index)
		{
			const char *name = util_json_str(e, "name");
			const cJSON *d;
			bool known = false, queued = false;
			if (!name)
				continue;
			cJSON_ArrayForEach(d, deployments)
			{
				const char *dn = util_json_str(d, "name");
				known |= dn && !strcmp(dn, name);
			}
			for (size_t k = 0; k < n; k++)
				queued |= calls[k].user == pn && !strcmp(calls[k].served, name);
			if (known || queued)
				continue;
			if (n == cap) {
				ctl_call *grown = realloc(calls, (cap = cap ? cap * 2 : 8) * sizeof(*calls));
				if (!grown)
					break;
				calls = grown;
			}
			memset(&calls[n], 0, sizeof(calls[n]));
			calls[n].kind = CTL_CALL_UNLOAD;
			calls[n].node = pn->node;
			calls[n].served = name; /* borrowed from pn->index, alive until nodes_free */
			calls[n].user = pn;
			n++;
			LOG_INFO("node %s: unloading '%s', which no deployment serves any more", pn->node.name, name);
		}
	}
	if (n)
		ctl_calls_run(calls, n, p->cfg->node_timeout_ms, p->cfg->max_parallel);
	for (size_t k = 0; k < n; k++)
		ctl_call_release(&calls[k]);
	free(calls);
}

int ctl_pass(reg_registry *r, const ctl_config *cfg, int64_t epoch, bool *busy, int64_t *due_at)
{
	pass p = {.r = r, .cfg = cfg, .epoch = epoch, .now = util_now_ms()};
	cJSON *snap = NULL;
	const cJSON *row;
	int64_t t0 = util_mono_ns();
	uint64_t failures = 0;
	int rc;
	*busy = false;
	if ((rc = reg_ctl_snapshot(r, &snap)) < 0)
		return rc;
	if ((rc = nodes_observe(&p, snap)) == 0) {
		cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(snap, "deployments"))
		{
			p.now = util_now_ms();
			deployment_pass(&p, row);
		}
		unload_orphans(&p, cJSON_GetObjectItemCaseSensitive(snap, "deployments"));
		nodes_record(&p);
		for (size_t i = 0; i < p.nn; i++)
			failures += p.nodes[i].failed_now;
		ctl_metrics_pass((double)(util_mono_ns() - t0) / 1e9, p.phases, failures, p.aborts);
	}
	*busy = p.busy;
	*due_at = p.due_at;
	nodes_free(&p);
	cJSON_Delete(snap);
	return rc;
}

/* ------------------------------------------------------------------ */
/* the thread                                                          */
/* ------------------------------------------------------------------ */
static void wait_ms(ctl_reconciler *c, int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&c->mu);
	while (!c->stop && !c->woken)
		if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) != 0)
			break;
	c->woken = false;
	pthread_mutex_unlock(&c->mu);
}

static bool stopping(ctl_reconciler *c)
{
	bool s;
	pthread_mutex_lock(&c->mu);
	s = c->stop;
	pthread_mutex_unlock(&c->mu);
	return s;
}

static void *ctl_main(void *arg)
{
	ctl_reconciler *c = arg;
	int64_t last_gen = -1, last_pass = 0, lease_at = 0, epoch = 0, due_at = 0;
	bool held = false, busy = false;
	int was_held = -1; /* unknown: the first answer is always logged */
	while (!stopping(c)) {
		int64_t now = util_now_ms(), gen = -1;
		bool due;
		/* renew well before the lease runs out */
		if (!held || now - lease_at >= c->cfg.lease_ttl_ms / 3) {
			if (reg_ctl_lease(c->r, c->holder, c->cfg.lease_ttl_ms, &held, &epoch) < 0) {
				LOG_WARN("controller lease: %s", mlreg_error_last());
				held = false;
			}
			lease_at = now;
			if ((int)held != was_held)
				LOG_INFO("controller %s the lease (epoch %lld)", held ? "holds" : "does not hold",
					 (long long)epoch);
			was_held = held;
		}
		if (reg_ctl_generation(c->r, &gen) < 0)
			gen = -1;
		due = held && (gen != last_gen || now - last_pass >= (busy ? c->cfg.tick_ms : c->cfg.resync_ms) ||
			       (due_at && now >= due_at));
		if (due) {
			last_gen = gen;
			last_pass = now;
			if (ctl_pass(c->r, &c->cfg, epoch, &busy, &due_at) < 0)
				LOG_WARN("controller pass: %s", mlreg_error_last());
			continue; /* see at once whether the pass's own writes call for another */
		}
		{
			int64_t wait = held ? (busy ? c->cfg.tick_ms : c->cfg.resync_ms) - (now - last_pass) : c->cfg.poll_ms;
			if (held && due_at && due_at - now < wait)
				wait = due_at - now;
			if (wait > c->cfg.poll_ms)
				wait = c->cfg.poll_ms;
			if (held && wait > c->cfg.lease_ttl_ms / 3)
				wait = c->cfg.lease_ttl_ms / 3;
			wait_ms(c, wait > 0 ? wait : 1);
		}
	}
	if (held)
		reg_ctl_release(c->r, c->holder);
	return NULL;
}

static void hook(void *ctx)
{
	ctl_wake(ctx);
}

int ctl_start(reg_registry *r, const ctl_config *cfg, ctl_reconciler **out)
{
	ctl_reconciler *c = calloc(1, sizeof(*c));
	char host[64] = "host";
	if (!c)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	c->r = r;
	c->cfg = *cfg;
	gethostname(host, sizeof(host) - 1);
	if (cfg->holder)
		snprintf(c->holder, sizeof(c->holder), "%s", cfg->holder);
	else {
		char rnd[17];
		util_random_hex(rnd, 8);
		snprintf(c->holder, sizeof(c->holder), "%s:%d:%s", host, (int)getpid(), rnd);
	}
	c->cfg.holder = c->holder;
	pthread_mutex_init(&c->mu, NULL);
	{
		pthread_condattr_t a;
		pthread_condattr_init(&a);
		pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
		pthread_cond_init(&c->cv, &a);
		pthread_condattr_destroy(&a);
	}
	reg_set_ctl_hook(r, hook, c);
	if (pthread_create(&c->tid, NULL, ctl_main, c) != 0) {
		reg_set_ctl_hook(r, NULL, NULL);
		free(c);
		return mlreg_error_set(MLREG_ERROR, "cannot start the controller thread");
	}
	*out = c;
	return 0;
}

void ctl_wake(ctl_reconciler *c)
{
	pthread_mutex_lock(&c->mu);
	c->woken = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

void ctl_stop(ctl_reconciler *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->tid, NULL);
	reg_set_ctl_hook(c->r, NULL, NULL);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
}

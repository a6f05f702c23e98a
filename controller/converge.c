/*
 * converge.c - make the nodes of a deployment serve what the rollout wants:
 * loads, traffic splits, unloads and metric scrapes, each a batch of calls
 * run in parallel on all the deployment's answering nodes (driver.h).
 *
 * Everything here is idempotent and driven by what the nodes last showed
 * (their index): a call is made only where a node differs from the wish,
 * and after a batch the index of those nodes is read again, so the next
 * decision rests on what the nodes say, not on what we asked.  A node that
 * does not answer is marked failed (backoff) and left out; it never holds
 * the others back.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "controller/pass.h"
#include "util/json.h"

/* The normalised index (driver.h) carries versions as numbers. */
static int64_t entry_version(const cJSON *e)
{
	int64_t v = 0;
	return util_json_i64(e, "version", &v) == 0 ? v : 0;
}

const cJSON *node_entry(const pnode *n, const char *served, int64_t version)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, n->index)
	{
		const char *name = util_json_str(e, "name");
		if (name && !strcmp(name, served) && entry_version(e) == version)
			return e;
	}
	return NULL;
}

static int64_t entry_weight(const cJSON *e)
{
	int64_t w = 0;
	return e && util_json_i64(e, "weight", &w) == 0 ? w : 0;
}

static bool entry_ready(const cJSON *e)
{
	const char *s = e ? util_json_str(e, "state") : NULL;
	return s && !strcmp(s, "READY");
}

/* Run the batch; a transport failure marks its node failed and unreachable. */
static void run(dep *d, ctl_call *calls, size_t n, int64_t timeout_ms)
{
	if (n == 0)
		return;
	ctl_calls_run(calls, n, timeout_ms, d->p->cfg->max_parallel);
	for (size_t i = 0; i < n; i++) {
		pnode *pn = calls[i].user;
		if (calls[i].status == 0) {
			pn->reachable = false;
			pn->failed_now = true;
			free(pn->error);
			pn->error = strdup(calls[i].error ? calls[i].error : "no answer");
		}
	}
}

static void call_init(ctl_call *c, dep *d, pnode *n, ctl_call_kind kind)
{
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	c->node = n->node;
	c->served = d->name;
	c->model = d->model;
	c->user = n;
}

void refresh(dep *d)
{
	ctl_call *calls = calloc(d->nsel + 1, sizeof(*calls));
	size_t n = 0;
	if (!calls)
		return;
	for (size_t i = 0; i < d->nsel; i++)
		if (d->sel[i]->reachable)
			call_init(&calls[n++], d, d->sel[i], CTL_CALL_INDEX);
	run(d, calls, n, d->p->cfg->node_timeout_ms);
	for (size_t i = 0; i < n; i++) {
		pnode *pn = calls[i].user;
		if (calls[i].ok && cJSON_IsArray(calls[i].json)) { /* normalised by ctl_calls_run */
			cJSON_Delete(pn->index);
			pn->index = calls[i].json;
			calls[i].json = NULL;
		}
		ctl_call_release(&calls[i]);
	}
	free(calls);
}

/* mlreg-node refuses a load carrying more signatures than this (node/trust.c) */
#define LOAD_MAX_SIGNATURES 64

/* The valid signatures of model:version as the load body carries them,
 * read (and re-verified) through the registry; NULL when there are none or
 * they cannot be read - a node that requires one then refuses the load,
 * which is the safe side.  Any writer can attach valid signatures made with
 * keys of their own, so at most LOAD_MAX_SIGNATURES are sent, those by keys
 * the registry trusts first: junk signatures cannot push the load past the
 * node's limit nor crowd out the one that counts. */
static cJSON *load_signatures(dep *d, int64_t version)
{
	char ref[32];
	cJSON *all = NULL, *out = NULL;
	const cJSON *e;
	int n = 0;
	snprintf(ref, sizeof(ref), "%lld", (long long)version);
	if (reg_signatures_get(d->p->r, d->model, ref, &all) < 0) {
		LOG_WARN("deployment %s: cannot read the signatures of %s:%lld: %s", d->name, d->model, (long long)version,
			 mlreg_error_last());
		return NULL;
	}
	for (int round = 0; round < 2; round++)
		cJSON_ArrayForEach(e, cJSON_GetObjectItem(all, "signatures"))
		{
			cJSON *s;
			if (!cJSON_IsTrue(cJSON_GetObjectItem(e, "valid")) ||
			    cJSON_IsTrue(cJSON_GetObjectItem(e, "trusted")) != (round == 0))
				continue;
			if (n == LOAD_MAX_SIGNATURES || (!out && !(out = cJSON_CreateArray())) || !(s = cJSON_CreateObject()))
				break;
			cJSON_AddItemToArray(out, s);
			n++;
			cJSON_AddStringToObject(s, "public_key", util_json_str(e, "public_key"));
			cJSON_AddStringToObject(s, "signature", util_json_str(e, "signature"));
		}
	cJSON_Delete(all);
	return out;
}

int converge_load(dep *d, int64_t version, const char *digest)
{
	ctl_call *calls = calloc(d->nsel + 1, sizeof(*calls));
	cJSON *sigs = NULL;
	size_t n = 0;
	int rc = 0;
	if (!calls)
		return 1;
	for (size_t i = 0; i < d->nsel; i++) {
		pnode *pn = d->sel[i];
		if (!pn->reachable || entry_ready(node_entry(pn, d->name, version)))
			continue;
		if (n == 0)
			sigs = load_signatures(d, version);
		call_init(&calls[n], d, pn, CTL_CALL_LOAD);
		calls[n].version = version;
		calls[n].digest = digest;
		calls[n].signatures = sigs;
		n++;
	}
	if (n == 0) {
		free(calls);
		for (size_t i = 0; i < d->nsel; i++)
			if (!d->sel[i]->reachable)
				return 1;
		return 0;
	}
	run(d, calls, n, d->p->cfg->load_timeout_ms);
	for (size_t i = 0; i < n; i++) {
		pnode *pn = calls[i].user;
		if (calls[i].ok)
			continue;
		if (calls[i].status >= 400 && calls[i].status < 500 && calls[i].status != 401 && calls[i].status != 403 &&
		    rc == 0) {
			/* the node refused the version itself: a failure of the version */
			rc = mlreg_error_set(MLREG_EREFUSED, "version %lld failed to load on node %s: %s", (long long)version,
					     pn->node.name, calls[i].error ? calls[i].error : "refused");
		} else if (calls[i].status != 0) {
			pn->failed_now = true; /* the node's trouble (5xx, auth): back off */
			free(pn->error);
			pn->error = strdup(calls[i].error ? calls[i].error : "load failed");
		}
		if (rc == 0)
			rc = 1;
	}
	for (size_t i = 0; i < n; i++)
		ctl_call_release(&calls[i]);
	free(calls);
	cJSON_Delete(sigs);
	refresh(d);
	if (rc == 1) { /* perhaps READY now everywhere after all */
		rc = 0;
		for (size_t i = 0; i < d->nsel; i++)
			if (!d->sel[i]->reachable || !entry_ready(node_entry(d->sel[i], d->name, version)))
				rc = 1;
	}
	return rc;
}

/* Does the node serve exactly weights and shadow for d? */
static bool node_matches(const dep *d, const pnode *pn, const cJSON *weights, int64_t shadow)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, pn->index)
	{
		const char *name = util_json_str(e, "name");
		const cJSON *want, *sh;
		int64_t v = entry_version(e);
		char ver[32];
		if (!name || !v || strcmp(name, d->name) != 0)
			continue;
		snprintf(ver, sizeof(ver), "%lld", (long long)v);
		want = cJSON_GetObjectItemCaseSensitive(weights, ver);
		if (entry_weight(e) != (want ? (int64_t)want->valuedouble : 0))
			return false;
		sh = cJSON_GetObjectItemCaseSensitive(e, "shadow");
		if (cJSON_IsTrue(sh) != (shadow > 0 && v == shadow))
			return false;
	}
	/* every weighted version must be there */
	cJSON_ArrayForEach(e, weights)
	{
		if (e->valuedouble > 0 && !entry_ready(node_entry(pn, d->name, atoll(e->string))))
			return false;
	}
	return true;
}

int converge_traffic(dep *d, const cJSON *weights, int64_t shadow)
{
	ctl_call *calls = calloc(d->nsel + 1, sizeof(*calls));
	char sh[32];
	size_t n = 0;
	int rc = 0;
	if (!calls)
		return 1;
	snprintf(sh, sizeof(sh), "%lld", (long long)shadow);
	for (size_t i = 0; i < d->nsel; i++) {
		pnode *pn = d->sel[i];
		if (!pn->reachable) {
			rc = 1;
			continue;
		}
		if (node_matches(d, pn, weights, shadow))
			continue;
		call_init(&calls[n], d, pn, CTL_CALL_TRAFFIC);
		calls[n].weights = weights;
		calls[n].shadow = shadow > 0 ? sh : NULL;
		n++;
	}
	if (n) {
		run(d, calls, n, d->p->cfg->node_timeout_ms);
		for (size_t i = 0; i < n; i++) {
			pnode *pn = calls[i].user;
			if (!calls[i].ok) {
				rc = 1;
				if (calls[i].status != 0) {
					free(pn->error);
					pn->error = strdup(calls[i].error ? calls[i].error : "traffic change refused");
				}
			}
			ctl_call_release(&calls[i]);
		}
		refresh(d);
	}
	free(calls);
	if (rc == 0)
		for (size_t i = 0; i < d->nsel; i++)
			if (!d->sel[i]->reachable || !node_matches(d, d->sel[i], weights, shadow))
				rc = 1;
	return rc;
}

void converge_unload(dep *d, const int64_t *keep, int nkeep)
{
	ctl_call *calls = NULL;
	size_t n = 0, cap = 0;
	for (size_t i = 0; i < d->nsel; i++) {
		pnode *pn = d->sel[i];
		const cJSON *e;
		if (!pn->reachable)
			continue;
		cJSON_ArrayForEach(e, pn->index)
		{
			const char *name = util_json_str(e, "name");
			int64_t v = entry_version(e);
			bool kept = false;
			if (!name || strcmp(name, d->name) != 0 || v <= 0 || entry_weight(e) > 0)
				continue;
			for (int k = 0; k < nkeep; k++)
				kept |= keep[k] == v;
			if (kept)
				continue;
			if (n == cap) {
				ctl_call *grown = realloc(calls, (cap = cap ? cap * 2 : 8) * sizeof(*calls));
				if (!grown)
					break;
				calls = grown;
			}
			call_init(&calls[n], d, pn, CTL_CALL_UNLOAD);
			calls[n].version = v;
			n++;
		}
	}
	if (n) {
		run(d, calls, n, d->p->cfg->node_timeout_ms);
		for (size_t i = 0; i < n; i++)
			ctl_call_release(&calls[i]);
		refresh(d);
	}
	free(calls);
}

void scrape(dep *d, ctl_samples *samples)
{
	ctl_call *calls = calloc(d->nsel + 1, sizeof(*calls));
	if (!calls)
		return;
	for (size_t i = 0; i < d->nsel; i++) {
		memset(&samples[i], 0, sizeof(samples[i]));
		call_init(&calls[i], d, d->sel[i], CTL_CALL_METRICS);
	}
	run(d, calls, d->nsel, d->p->cfg->node_timeout_ms);
	for (size_t i = 0; i < d->nsel; i++) {
		if (calls[i].ok && calls[i].text &&
		    ctl_prom_parse(calls[i].text, calls[i].text_len, "mlreg_node_", 1000000, &samples[i]) < 0)
			memset(&samples[i], 0, sizeof(samples[i]));
		ctl_call_release(&calls[i]);
	}
	free(calls);
}

/*
 * repo.c - the repository endpoints of mlreg-node (load, unload, traffic,
 * index), the restore at start-up, and the state file they keep current.
 *
 * A load is synchronous, like Triton's: the answer comes once the version
 * is READY or has failed.  Its steps: the version's files from the cache
 * (re-verified) or from the registry (every digest checked, cache.c), the
 * model checked in a child process (check.c) so a model that crashes
 * XGBoost crashes the child and not the node, then loaded here with one
 * warm-up prediction.  Any failure leaves the versions already loaded
 * serving exactly as before; the failed version shows as UNAVAILABLE with
 * its reason in the index.
 *
 * With --trust-key, a version is loaded only when a signature given with
 * its load verifies against a trusted key (trust.c), checked before any
 * byte is fetched and again on every restore.
 *
 * Every change is written to the cache's state.json before it is answered,
 * so a node killed at any moment restarts serving what it last confirmed.
 * While the restore runs, nothing is written: a crash in the middle of a
 * restore must not replace the full state with a partial one.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "node/node.h"

int node_persist(node_server *s)
{
	uint64_t gen;
	cJSON *st;
	int rc = 0;
	if (node_table_is_restoring(s->table))
		return 0;
	if (!(st = node_table_state(s->table, &gen)))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	pthread_mutex_lock(&s->persist_mu);
	if (gen > s->persisted_gen) {
		if ((rc = node_cache_save_state(s->cache, st)) == 0)
			s->persisted_gen = gen;
		else
			LOG_ERROR("cannot save the node state: %s", mlreg_error_last());
	}
	pthread_mutex_unlock(&s->persist_mu);
	cJSON_Delete(st);
	return rc;
}

/* A version given as "3" or 3. */
static const char *version_param(const cJSON *p, char *buf, size_t bufsz)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, "version");
	if (cJSON_IsString(v))
		return v->valuestring;
	if (util_json_is_int(v)) {
		snprintf(buf, bufsz, "%lld", (long long)v->valuedouble);
		return buf;
	}
	return NULL;
}

static bool version_valid(const char *s)
{
	int64_t n;
	char canon[32];
	if (util_parse_i64(s, &n) < 0 || n <= 0)
		return false;
	snprintf(canon, sizeof(canon), "%lld", (long long)n);
	return strcmp(canon, s) == 0;
}

/* The version's folder: the cache's copy when it still verifies, else a
 * fresh download from the registry (node_cache_fetch verifies first). */
static int fetch(node_server *s, const node_version *v, bool confirmed, char **dir, unsigned *status)
{
	int rc;
	/* a restore reloads what this node confirmed before: the cached copy
	 * is enough, the registry is asked only when it is gone or damaged */
	if (confirmed) {
		if ((rc = node_cache_verify(s->cache, v->digest, dir)) == 0)
			return 0;
		if (rc == MLREG_EINTEGRITY) /* removed: say why */
			LOG_WARN("%s", mlreg_error_last());
	}
	if (!s->client.registry) {
		if ((rc = node_cache_verify(s->cache, v->digest, dir)) == 0)
			return 0;
		*status = rc == MLREG_ENOTFOUND ? 404 : 422;
		if (rc == MLREG_ENOTFOUND)
			return mlreg_error_set(rc, "%s is not in the cache and no --registry is set", v->digest);
		return rc;
	}
	if ((rc = node_cache_fetch(s->cache, &s->client, v->source, v->number, v->digest, dir)) < 0) {
		switch (rc) {
		case MLREG_ENOTFOUND: *status = 404; break;
		case MLREG_EINTEGRITY:
		case MLREG_EINVALID: *status = 422; break;
		default: *status = 502; break; /* the registry is down or refused us */
		}
		LOG_WARN("%s", mlreg_error_last());
	}
	return rc;
}

/* Fetch, check in a child, load, warm up.  0 with *m, or the failure with
 * its HTTP status. */
static int load_version(node_server *s, const node_version *v, bool confirmed, node_model **m, unsigned *status)
{
	char *dir = NULL;
	int rc;
	*status = 422;
	/* before any byte is fetched: the statement names the digest the
	 * files are then checked against */
	if ((rc = node_trust_check(s->trust, v->source, v->number, v->digest, v->signatures)) < 0)
		return rc;
	*status = 500;
	if ((rc = fetch(s, v, confirmed, &dir, status)) < 0)
		return rc;
	*status = 422;
	if ((rc = node_check_run(&s->cfg.check, dir)) == 0 && (rc = node_model_open(dir, m)) < 0)
		rc = mlreg_error_set(rc, "cannot load the model: %s", mlreg_error_last());
	free(dir);
	/* XGBoost parses the whole model file into a JSON tree before it builds
	 * the trees, and glibc keeps the freed parse in this worker's arena:
	 * give it back (about 7 bytes of RSS per byte of model file otherwise) */
	malloc_trim(0);
	return rc;
}

static cJSON *version_json(const node_version *v, const char *state)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", v->model);
	cJSON_AddStringToObject(o, "version", v->version);
	cJSON_AddStringToObject(o, "state", state);
	cJSON_AddStringToObject(o, "digest", v->digest);
	return o;
}

int node_h_load(node_req *q)
{
	node_server *s = q->srv;
	const char *model = q->params[0], *version, *digest, *source;
	const cJSON *p;
	cJSON *body = NULL;
	node_version *v;
	node_model *m = NULL;
	char vbuf[32], *sigs = NULL;
	unsigned status;
	int rc;
	if (!util_model_name_valid(model))
		return mlreg_error_set(MLREG_EINVALID, "invalid model name '%s'", model);
	if ((rc = node_body_json(q, &body)) < 0)
		return rc;
	p = cJSON_GetObjectItemCaseSensitive(body, "parameters");
	version = version_param(p, vbuf, sizeof(vbuf));
	digest = util_json_str(p, "digest");
	source = util_json_str(p, "model") ? util_json_str(p, "model") : model;
	if (!cJSON_IsObject(p) || !version || !version_valid(version)) {
		rc = mlreg_error_set(MLREG_EINVALID, "expected {\"parameters\":{\"version\":\"N\",\"digest\":\"sha256:…\"}}");
		goto done;
	}
	if (!digest || !util_digest_valid(digest)) {
		rc = mlreg_error_set(MLREG_EINVALID, "parameters.digest must be the version digest (sha256:<64 hex>)");
		goto done;
	}
	if (!util_model_name_valid(source)) {
		rc = mlreg_error_set(MLREG_EINVALID, "invalid registry model name '%s'", source);
		goto done;
	}
	if ((rc = node_trust_parse(cJSON_GetObjectItemCaseSensitive(p, "signatures"), &sigs)) < 0)
		goto done;
	if ((rc = node_table_begin_load(s->table, model, version, digest, source, &v)) < 0)
		goto done;
	if (rc == 0) { /* LOADING: ours until end_load, and state.json skips it */
		free(v->signatures);
		v->signatures = sigs;
		sigs = NULL;
	}
	if (rc == 1) { /* already READY with this digest */
		rc = node_reply_json(q, 200, version_json(v, "READY"));
		node_version_unref(v);
		goto done;
	}
	LOG_INFO("loading %s version %s (%s:%s, %s)", model, version, source, version, digest);
	if ((rc = load_version(s, v, false, &m, &status)) < 0) {
		char reason[1024];
		snprintf(reason, sizeof(reason), "%s", mlreg_error_last());
		LOG_WARN("load of %s version %s failed: %s", model, version, reason);
		node_metrics_load_failure(model);
		node_table_end_load(s->table, v, NULL, reason);
		mlreg_error_set(rc, "%s", reason);
		{
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "error", reason);
			cJSON_AddStringToObject(o, "state", "UNAVAILABLE");
			rc = node_reply_json(q, status, o);
		}
		goto done;
	}
	{
		cJSON *o = version_json(v, "READY");
		node_table_end_load(s->table, v, m, NULL); /* drops our reference */
		if ((rc = node_persist(s)) < 0) {
			cJSON_Delete(o);
			rc = mlreg_error_set(MLREG_EIO, "loaded, but the cache could not record it: %s", mlreg_error_last());
			goto done;
		}
		LOG_INFO("%s version %s is READY", model, version);
		rc = node_reply_json(q, 200, o);
	}
done:
	free(sigs);
	cJSON_Delete(body);
	return rc;
}

int node_h_unload(node_req *q)
{
	node_server *s = q->srv;
	const char *version = NULL;
	const cJSON *p;
	cJSON *body = NULL, *o;
	char vbuf[32], **gone = NULL;
	int n = 0, rc;
	if ((rc = node_body_json(q, &body)) < 0)
		return rc;
	p = cJSON_GetObjectItemCaseSensitive(body, "parameters");
	if (p && !cJSON_IsObject(p)) {
		rc = mlreg_error_set(MLREG_EINVALID, "'parameters' must be an object");
		goto done;
	}
	if (p && cJSON_GetObjectItemCaseSensitive(p, "version") && !(version = version_param(p, vbuf, sizeof(vbuf)))) {
		rc = mlreg_error_set(MLREG_EINVALID, "parameters.version must be a version number");
		goto done;
	}
	if ((rc = node_table_unload(s->table, q->params[0], version, &gone, &n)) < 0)
		goto done;
	for (int i = 0; i < n; i++) {
		if (node_cache_remove(s->cache, gone[i]) < 0)
			LOG_WARN("cannot remove %s from the cache: %s", gone[i], mlreg_error_last());
		free(gone[i]);
	}
	free(gone);
	if ((rc = node_persist(s)) < 0) {
		rc = mlreg_error_set(MLREG_EIO, "unloaded, but the cache could not record it: %s", mlreg_error_last());
		goto done;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", q->params[0]);
	cJSON_AddStringToObject(o, "unloaded", version ? version : "all");
	rc = node_reply_json(q, 200, o);
done:
	cJSON_Delete(body);
	return rc;
}

int node_h_traffic(node_req *q)
{
	node_server *s = q->srv;
	const cJSON *shadow;
	cJSON *body = NULL;
	int rc;
	if ((rc = node_body_json(q, &body)) < 0)
		return rc;
	shadow = cJSON_GetObjectItemCaseSensitive(body, "shadow");
	if (shadow && !cJSON_IsNull(shadow) && !cJSON_IsString(shadow)) {
		rc = mlreg_error_set(MLREG_EINVALID, "'shadow' must be a version (a string) or null");
		goto done;
	}
	if ((rc = node_table_traffic(s->table, q->params[0], cJSON_GetObjectItemCaseSensitive(body, "weights"),
				     cJSON_IsString(shadow) ? shadow->valuestring : NULL)) < 0)
		goto done;
	if ((rc = node_persist(s)) < 0) {
		rc = mlreg_error_set(MLREG_EIO, "traffic changed, but the cache could not record it: %s", mlreg_error_last());
		goto done;
	}
	LOG_INFO("traffic of %s changed", q->params[0]);
	rc = node_reply_json(q, 200, node_table_traffic_json(s->table, q->params[0]));
done:
	cJSON_Delete(body);
	return rc;
}

int node_h_index(node_req *q)
{
	cJSON *body = NULL, *all;
	const cJSON *ready;
	int rc;
	if ((rc = node_body_json(q, &body)) < 0)
		return rc;
	ready = cJSON_GetObjectItemCaseSensitive(body, "ready");
	all = node_table_index(q->srv->table);
	if (all && cJSON_IsTrue(ready)) { /* Triton's filter: READY versions only */
		for (cJSON *it = all->child, *next; it; it = next) {
			next = it->next;
			if (strcmp(util_json_str(it, "state"), "READY") != 0)
				cJSON_Delete(cJSON_DetachItemViaPointer(all, it));
		}
	}
	cJSON_Delete(body);
	return node_reply_json(q, 200, all);
}

/* ------------------------------------------------------------------ */
/* restore                                                             */
/* ------------------------------------------------------------------ */
static void restore_model(node_server *s, const char *name, const cJSON *m)
{
	const cJSON *versions = cJSON_GetObjectItemCaseSensitive(m, "versions"), *it;
	const cJSON *weights = cJSON_GetObjectItemCaseSensitive(m, "weights");
	const cJSON *shadow = cJSON_GetObjectItemCaseSensitive(m, "shadow");
	cJSON_ArrayForEach(it, versions)
	{
		const char *digest = util_json_str(it, "digest"), *source = util_json_str(it, "source");
		node_version *v;
		node_model *model = NULL;
		unsigned status;
		if (!version_valid(it->string) || !digest || !util_digest_valid(digest) || !source ||
		    !util_model_name_valid(source)) {
			LOG_ERROR("state.json: skipping an invalid entry for %s version %s", name, it->string);
			continue;
		}
		char *sigs = NULL;
		if (node_trust_parse(cJSON_GetObjectItemCaseSensitive(it, "signatures"), &sigs) < 0)
			LOG_ERROR("state.json: ignoring the malformed signatures of %s version %s", name, it->string);
		if (node_table_begin_load(s->table, name, it->string, digest, source, &v) != 0) {
			free(sigs);
			continue;
		}
		free(v->signatures);
		v->signatures = sigs;
		if (load_version(s, v, true, &model, &status) < 0) {
			char reason[1024];
			snprintf(reason, sizeof(reason), "%s", mlreg_error_last());
			LOG_ERROR("cannot restore %s version %s: %s", name, it->string, reason);
			node_metrics_load_failure(name);
			node_table_end_load(s->table, v, NULL, reason);
			continue;
		}
		node_table_end_load(s->table, v, model, NULL);
		LOG_INFO("restored %s version %s", name, it->string);
	}
	node_table_want(s->table, name);
	/* succeeds only when every version with a weight came back; otherwise
	 * the model's traffic stays on what did (the first READY version) */
	if (node_table_traffic(s->table, name, weights, cJSON_IsString(shadow) ? shadow->valuestring : NULL) < 0)
		LOG_WARN("%s: saved traffic split not restored: %s", name, mlreg_error_last());
}

void node_restore(void *arg)
{
	node_server *s = arg;
	cJSON *state = NULL;
	const cJSON *models, *it;
	if (node_cache_load_state(s->cache, &state) < 0) {
		LOG_ERROR("cannot read the saved state: %s; starting empty", mlreg_error_last());
	} else if (state) {
		models = cJSON_GetObjectItemCaseSensitive(state, "models");
		cJSON_ArrayForEach(it, models)
		{
			if (!cJSON_IsObject(it) || !util_model_name_valid(it->string)) {
				LOG_ERROR("state.json: skipping an invalid model entry");
				continue;
			}
			restore_model(s, it->string, it);
		}
	}
	cJSON_Delete(state);
	node_table_set_restoring(s->table, false);
	node_persist(s);
	LOG_INFO("restore finished; %s", node_table_ready(s->table) ? "ready" : "not ready");
}

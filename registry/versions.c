/*
 * versions.c - models and versions: create (the push), read, metadata
 * updates, deprecate, tombstone, diff.
 *
 * A push is checked completely before anything is written: names, paths,
 * metadata keys, that every file's blob is already stored, and the serving
 * descriptor when present.  The manifest blob is made durable outside the
 * writer lock; the version row, its files and metadata, the manifest's blob
 * row, the idempotency record and the audit entry then commit in one
 * transaction, so a retried push either sees its first answer or creates
 * exactly one version.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "registry/registry_int.h"
#include "util/json.h"
#include "util/model_config.h"

#define MAX_DESCRIPTION 4096
#define MAX_META_ENTRIES 1000
#define MAX_VALUE_LEN 4096
#define MODEL_CONFIG "mlreg-model.json"
#define MODEL_CONFIG_MAX (1 << 20)

int reg_validate_tags(const cJSON *tags, bool allow_null)
{
	int n = 0;
	if (!tags)
		return 0;
	if (!cJSON_IsObject(tags))
		return mlreg_error_set(MLREG_EINVALID, "tags must be an object of strings");
	for (const cJSON *t = tags->child; t; t = t->next) {
		if (++n > MAX_META_ENTRIES)
			return mlreg_error_set(MLREG_EINVALID, "too many tags (limit %d)", MAX_META_ENTRIES);
		if (!util_key_valid(t->string))
			return mlreg_error_set(MLREG_EINVALID, "invalid tag key '%s'", t->string);
		if (cJSON_IsNull(t) && allow_null)
			continue;
		if (!cJSON_IsString(t) || strlen(t->valuestring) > MAX_VALUE_LEN)
			return mlreg_error_set(MLREG_EINVALID, "tag '%s' must be a string of at most %d bytes", t->string, MAX_VALUE_LEN);
	}
	return 0;
}

int reg_version_validate_metadata(const cJSON *body)
{
	const cJSON *metrics = cJSON_GetObjectItem(body, "metrics"), *params = cJSON_GetObjectItem(body, "params");
	const cJSON *desc = cJSON_GetObjectItem(body, "description");
	int n = 0;
	if (desc && !cJSON_IsNull(desc) && (!cJSON_IsString(desc) || strlen(desc->valuestring) > MAX_DESCRIPTION))
		return mlreg_error_set(MLREG_EINVALID, "description must be a string of at most %d bytes", MAX_DESCRIPTION);
	if (metrics && !cJSON_IsObject(metrics))
		return mlreg_error_set(MLREG_EINVALID, "metrics must be an object of numbers");
	for (const cJSON *m = metrics ? metrics->child : NULL; m; m = m->next) {
		if (++n > MAX_META_ENTRIES)
			return mlreg_error_set(MLREG_EINVALID, "too many metrics (limit %d)", MAX_META_ENTRIES);
		if (!util_key_valid(m->string))
			return mlreg_error_set(MLREG_EINVALID, "invalid metric key '%s'", m->string);
		if (!cJSON_IsNumber(m) || !isfinite(m->valuedouble))
			return mlreg_error_set(MLREG_EINVALID, "metric '%s' must be a finite number", m->string);
	}
	if (params && !cJSON_IsObject(params))
		return mlreg_error_set(MLREG_EINVALID, "params must be an object of strings");
	n = 0;
	for (const cJSON *p = params ? params->child : NULL; p; p = p->next) {
		if (++n > MAX_META_ENTRIES)
			return mlreg_error_set(MLREG_EINVALID, "too many params (limit %d)", MAX_META_ENTRIES);
		if (!util_key_valid(p->string))
			return mlreg_error_set(MLREG_EINVALID, "invalid param key '%s'", p->string);
		if (!cJSON_IsString(p) || strlen(p->valuestring) > MAX_VALUE_LEN)
			return mlreg_error_set(MLREG_EINVALID, "param '%s' must be a string of at most %d bytes", p->string, MAX_VALUE_LEN);
	}
	return reg_validate_tags(cJSON_GetObjectItem(body, "tags"), false);
}

static int check_model_name(const char *model)
{
	if (!util_model_name_valid(model))
		return mlreg_error_set(MLREG_EINVALID,
				       "invalid model name '%s': use lowercase [a-z0-9] separated by . _ - and '/' namespaces",
				       model ? model : "");
	return 0;
}

/* ---- models ---- */
int reg_model_create(reg_registry *r, const reg_principal *who, const cJSON *body, cJSON **out)
{
	const char *name = util_json_str(body, "name");
	const cJSON *desc = cJSON_GetObjectItem(body, "description"), *tags = cJSON_GetObjectItem(body, "tags");
	reg_tx *tx = NULL;
	int64_t id;
	bool created;
	int rc;
	if ((rc = check_model_name(name)) < 0 || (rc = reg_version_validate_metadata(body)) < 0 || (rc = reg_validate_tags(tags, false)) < 0)
		return rc;
	if ((rc = META(r)->begin(r->meta, &tx)) < 0)
		return rc;
	if ((rc = META(r)->model_ensure(tx, name, cJSON_IsString(desc) ? desc->valuestring : "", who->principal,
					util_now_ms(), &id, &created)) < 0)
		goto fail;
	if (!created) {
		rc = mlreg_error_set(MLREG_EEXISTS, "model '%s' already exists", name);
		goto fail;
	}
	if ((tags && (rc = META(r)->model_set_tags(tx, id, tags, util_now_ms())) < 0) ||
	    (rc = reg_audit_append(r->meta, tx, who->principal, "model.create", name, name, NULL)) < 0)
		goto fail;
	if ((rc = META(r)->commit(tx)) < 0)
		return rc;
	return reg_model_get(r, name, out);
fail:
	reg_events_discard();
	META(r)->rollback(tx);
	return rc;
}

int reg_model_get(reg_registry *r, const char *name, cJSON **out)
{
	int rc = check_model_name(name);
	return rc < 0 ? rc : META(r)->model_get(r->meta, name, out);
}

#define MAX_SEARCH_TERMS 64

int reg_model_list(reg_registry *r, const char *prefix, const cJSON *tags, int64_t limit, int64_t offset, cJSON **out)
{
	if (cJSON_GetArraySize(tags) > MAX_SEARCH_TERMS)
		return mlreg_error_set(MLREG_EINVALID, "too many tag conditions (limit %d)", MAX_SEARCH_TERMS);
	return META(r)->model_list(r->meta, prefix, tags, limit, offset, out);
}

int reg_model_tag(reg_registry *r, const reg_principal *who, const char *name, const cJSON *tags, cJSON **out)
{
	reg_tx *tx = NULL;
	int64_t id;
	int rc;
	if ((rc = check_model_name(name)) < 0 || (rc = reg_validate_tags(tags, true)) < 0)
		return rc;
	if (!tags || !tags->child)
		return mlreg_error_set(MLREG_EINVALID, "no tags given");
	if ((rc = META(r)->begin(r->meta, &tx)) < 0)
		return rc;
	if ((rc = META(r)->model_id(tx, name, &id)) < 0 || (rc = META(r)->model_set_tags(tx, id, tags, util_now_ms())) < 0 ||
	    (rc = reg_audit_append(r->meta, tx, who->principal, "model.tag", name, name, tags)) < 0) {
		reg_events_discard();
		META(r)->rollback(tx);
		return rc;
	}
	if ((rc = META(r)->commit(tx)) < 0)
		return rc;
	return reg_model_get(r, name, out);
}

/* ---- versions ---- */
int reg_blob_read_small(reg_registry *r, const char *digest, size_t max, char **data, size_t *len)
{
	int fd, rc;
	uint64_t size;
	if ((rc = r->blobs->ops->open(r->blobs, digest, &fd, &size)) < 0)
		return rc;
	if (size > max) {
		close(fd);
		return mlreg_error_set(MLREG_EINVALID, "blob %s is larger than %zu bytes", digest, max);
	}
	rc = util_read_fd(fd, max, data, len);
	close(fd);
	return rc;
}

int reg_blob_store_bytes(reg_registry *r, const char *data, size_t len, char digest[UTIL_DIGEST_LEN + 1])
{
	reg_blob_tmp *t = NULL;
	uint64_t size;
	int rc;
	if ((rc = r->blobs->ops->tmp_new(r->blobs, &t)) < 0)
		return rc;
	if ((rc = r->blobs->ops->tmp_write(t, data, len)) < 0) {
		r->blobs->ops->tmp_abort(t);
		return rc;
	}
	return r->blobs->ops->tmp_commit(t, NULL, digest, &size);
}

static cJSON *version_answer(const char *model, int64_t number, const char *digest, uint64_t size, const cJSON *body,
			     const cJSON *schema, const char *actor, int64_t now)
{
	const cJSON *desc = cJSON_GetObjectItem(body, "description");
	const cJSON *m = cJSON_GetObjectItem(body, "metrics"), *p = cJSON_GetObjectItem(body, "params"),
		    *t = cJSON_GetObjectItem(body, "tags");
	cJSON *o = cJSON_CreateObject();
	char ts[40];
	cJSON_AddStringToObject(o, "model", model);
	cJSON_AddNumberToObject(o, "version", (double)number);
	cJSON_AddStringToObject(o, "digest", digest);
	cJSON_AddNumberToObject(o, "size", (double)size);
	cJSON_AddStringToObject(o, "status", "ready");
	cJSON_AddItemToObject(o, "metrics", m ? cJSON_Duplicate(m, 1) : cJSON_CreateObject());
	cJSON_AddItemToObject(o, "params", p ? cJSON_Duplicate(p, 1) : cJSON_CreateObject());
	cJSON_AddItemToObject(o, "tags", t ? cJSON_Duplicate(t, 1) : cJSON_CreateObject());
	cJSON_AddItemToObject(o, "schema", schema ? cJSON_Duplicate(schema, 1) : cJSON_CreateNull());
	util_time_format(now, ts, sizeof(ts));
	cJSON_AddStringToObject(o, "created_at", ts);
	cJSON_AddStringToObject(o, "created_by", actor);
	cJSON_AddStringToObject(o, "description", cJSON_IsString(desc) ? desc->valuestring : "");
	return o;
}

/* Replay of an idempotency key: 1 = answered from the record, 0 = unseen. */
static int idem_replay(reg_registry *r, reg_tx *tx, const reg_principal *who, const char *key, const char *req_hash,
		       int *status, cJSON **out)
{
	char seen_hash[65], *resp = NULL;
	int rc = META(r)->idem_get(tx, who->principal, key, seen_hash, status, &resp);
	if (rc == MLREG_ENOTFOUND)
		return 0;
	if (rc < 0)
		return rc;
	if (strcmp(seen_hash, req_hash) != 0) {
		free(resp);
		return mlreg_error_set(MLREG_ECONFLICT, "idempotency key '%s' was used for a different request", key);
	}
	rc = util_json_parse(resp, strlen(resp), UTIL_JSON_MAX_DEPTH, out);
	free(resp);
	return rc < 0 ? rc : 1;
}

int reg_version_create(reg_registry *r, const reg_principal *who, const char *model, const cJSON *body,
		       const char *idem_key, int *http_status, cJSON **out, cJSON **missing)
{
	cJSON *files = NULL, *schema = NULL, *miss = NULL, *answer = NULL, *details;
	char *manifest = NULL, *req_text = NULL, *cfg = NULL, *answer_text = NULL, *schema_text = NULL;
	char digest[UTIL_DIGEST_LEN + 1], req_hash[65];
	size_t mlen, cfglen;
	uint64_t total = 0;
	int64_t model_id, number = 0, vid, now;
	bool created, gated = false;
	reg_tx *tx = NULL;
	int rc;
	const cJSON *desc = cJSON_GetObjectItem(body, "description");

	if ((rc = check_model_name(model)) < 0)
		return rc;
	if (!cJSON_IsObject(body))
		return mlreg_error_set(MLREG_EINVALID, "request body must be a JSON object");
	if (idem_key && (strlen(idem_key) == 0 || strlen(idem_key) > 200))
		return mlreg_error_set(MLREG_EINVALID, "Idempotency-Key must be 1 to 200 characters");
	if ((rc = reg_version_validate_metadata(body)) < 0 || (rc = reg_lineage_validate(cJSON_GetObjectItem(body, "lineage"))) < 0 ||
	    (rc = reg_manifest_normalise(cJSON_GetObjectItem(body, "files"), r->cfg.max_files, &files, &total)) < 0)
		return rc;
	req_text = cJSON_PrintUnformatted(body);
	if (!req_text) {
		rc = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	{ /* the request is the model and the body: one key, one push */
		util_sha256 *h = util_sha256_new();
		char d[UTIL_DIGEST_LEN + 1];
		if (!h) {
			rc = mlreg_error_set(MLREG_ENOMEM, "out of memory");
			goto done;
		}
		util_sha256_update(h, model, strlen(model) + 1);
		util_sha256_update(h, req_text, strlen(req_text));
		util_sha256_final(h, d);
		memcpy(req_hash, d + 7, 65);
	}

	if (idem_key) { /* cheap early answer for a retry */
		if ((rc = META(r)->begin(r->meta, &tx)) < 0)
			goto done;
		rc = idem_replay(r, tx, who, idem_key, req_hash, http_status, out);
		reg_events_discard();
		META(r)->rollback(tx);
		tx = NULL;
		if (rc != 0) {
			rc = rc > 0 ? 0 : rc;
			goto done;
		}
	}

	miss = cJSON_CreateArray();
	for (const cJSON *f = files->child; f; f = f->next) {
		uint64_t known;
		const char *d = util_json_str(f, "digest");
		if (META(r)->blob_known(r->meta, d, &known) < 0) {
			bool listed = false; /* files with equal bytes share one blob */
			for (const cJSON *m = miss->child; m && !listed; m = m->next)
				listed = !strcmp(m->valuestring, d);
			if (!listed)
				cJSON_AddItemToArray(miss, cJSON_CreateString(d));
		}
		else if (known != (uint64_t)cJSON_GetObjectItem(f, "size")->valuedouble) {
			rc = mlreg_error_set(MLREG_EINVALID, "size of '%s' is %llu but its blob has %llu bytes",
					     util_json_str(f, "path"), (unsigned long long)cJSON_GetObjectItem(f, "size")->valuedouble,
					     (unsigned long long)known);
			goto done;
		}
	}
	mlreg_error_clear();
	if (cJSON_GetArraySize(miss) > 0) {
		rc = mlreg_error_set(MLREG_EINVALID, "%d blob(s) of this version are not uploaded", cJSON_GetArraySize(miss));
		if (missing) {
			*missing = miss;
			miss = NULL;
		}
		goto done;
	}
	for (const cJSON *f = files->child; f; f = f->next) {
		if (strcmp(util_json_str(f, "path"), MODEL_CONFIG) != 0)
			continue;
		if ((rc = reg_blob_read_small(r, util_json_str(f, "digest"), MODEL_CONFIG_MAX, &cfg, &cfglen)) < 0 ||
		    (rc = util_model_config_parse(cfg, cfglen, &schema)) < 0)
			goto done;
		schema_text = cJSON_PrintUnformatted(schema);
	}
	if ((rc = reg_manifest_encode(files, &manifest, &mlen)) < 0)
		goto done;
	/* from making the manifest visible to recording it (and the version
	 * that references the files), gc must not run */
	pthread_rwlock_rdlock(&r->blob_gate);
	gated = true;
	if ((rc = reg_blob_store_bytes(r, manifest, mlen, digest)) < 0)
		goto done;

	now = util_now_ms();
	if ((rc = META(r)->begin(r->meta, &tx)) < 0)
		goto done;
	if (idem_key && (rc = idem_replay(r, tx, who, idem_key, req_hash, http_status, out)) != 0) {
		rc = rc > 0 ? 0 : rc;
		goto done;
	}
	/* gc may have swept a blob since the check above: look again under the lock */
	for (const cJSON *f = files->child; f; f = f->next)
		if (META(r)->blob_known_tx(tx, util_json_str(f, "digest"), NULL) < 0) {
			rc = mlreg_error_set(MLREG_EINVALID, "blob %s of '%s' was removed meanwhile; upload it again",
					     util_json_str(f, "digest"), util_json_str(f, "path"));
			if (missing) {
				*missing = cJSON_CreateArray();
				cJSON_AddItemToArray(*missing, cJSON_CreateString(util_json_str(f, "digest")));
			}
			goto done;
		}
	if ((rc = META(r)->model_ensure(tx, model, "", who->principal, now, &model_id, &created)) < 0 ||
	    (rc = META(r)->blob_record(tx, digest, mlen, now)) < 0 ||
	    (rc = META(r)->version_insert(tx, model_id, digest, total, files, cJSON_GetObjectItem(body, "metrics"),
					  cJSON_GetObjectItem(body, "params"), cJSON_GetObjectItem(body, "tags"),
					  cJSON_IsString(desc) ? desc->valuestring : "", schema ? util_json_str(schema, "format") : NULL,
					  schema_text, who->principal, now, &number, &vid)) < 0)
		goto done;
	{
		char subject[UTIL_NAME_MAX + 32];
		snprintf(subject, sizeof(subject), "%s:%lld", model, (long long)number);
		details = cJSON_CreateObject();
		cJSON_AddStringToObject(details, "digest", digest);
		cJSON_AddNumberToObject(details, "size", (double)total);
		cJSON_AddNumberToObject(details, "files", cJSON_GetArraySize(files));
		if (created && (rc = reg_audit_append(r->meta, tx, who->principal, "model.create", model, model, NULL)) < 0) {
			cJSON_Delete(details);
			goto done;
		}
		if ((rc = reg_lineage_record(r, tx, model, number, vid, cJSON_GetObjectItem(body, "lineage"), details)) < 0) {
			cJSON_Delete(details);
			goto done;
		}
		rc = reg_audit_append(r->meta, tx, who->principal, "version.create", subject, model, details);
		cJSON_Delete(details);
		if (rc < 0)
			goto done;
		details = cJSON_CreateObject();
		cJSON_AddNumberToObject(details, "version", (double)number);
		cJSON_AddStringToObject(details, "digest", digest);
		cJSON_AddNumberToObject(details, "size", (double)total);
		if ((rc = reg_event_emit(r, tx, "push", who->principal, model, details)) < 0)
			goto done;
	}
	answer = version_answer(model, number, digest, total, body, schema, who->principal, now);
	if (idem_key) {
		answer_text = cJSON_PrintUnformatted(answer);
		if ((rc = META(r)->idem_put(tx, who->principal, idem_key, req_hash, 201, answer_text, now)) < 0)
			goto done;
	}
	rc = reg_commit(r, tx);
	tx = NULL;
	if (rc < 0)
		goto done;
	*http_status = 201;
	*out = answer;
	answer = NULL;
done:
	if (tx) {
		reg_events_discard();
		META(r)->rollback(tx);
	}
	if (gated)
		pthread_rwlock_unlock(&r->blob_gate);
	cJSON_Delete(files);
	cJSON_Delete(schema);
	cJSON_Delete(miss);
	cJSON_Delete(answer);
	free(manifest);
	free(req_text);
	free(cfg);
	free(answer_text);
	free(schema_text);
	return rc;
}

int reg_version_get(reg_registry *r, const char *model, int64_t number, bool with_files, cJSON **out)
{
	int rc = check_model_name(model);
	if (rc < 0)
		return rc;
	if (number < 1)
		return mlreg_error_set(MLREG_EINVALID, "invalid version %lld", (long long)number);
	return META(r)->version_get(r->meta, model, number, with_files, out);
}

int reg_version_manifest(reg_registry *r, const char *model, int64_t number, char **data, size_t *len,
			 char digest[UTIL_DIGEST_LEN + 1])
{
	reg_tx *tx = NULL;
	int rc;
	if ((rc = check_model_name(model)) < 0 || (rc = META(r)->begin_read(r->meta, &tx)) < 0)
		return rc;
	rc = META(r)->version_digest(tx, model, number, digest);
	META(r)->commit(tx);
	return rc < 0 ? rc : reg_blob_read_small(r, digest, (size_t)1 << 30, data, len);
}

int reg_version_search(reg_registry *r, const reg_search_query *q, cJSON **out)
{
	if (cJSON_GetArraySize(q->filters) > MAX_SEARCH_TERMS || cJSON_GetArraySize(q->tags) > MAX_SEARCH_TERMS)
		return mlreg_error_set(MLREG_EINVALID, "too many filters or tag conditions (limit %d each)", MAX_SEARCH_TERMS);
	if (q->model && check_model_name(q->model) < 0)
		return MLREG_EINVALID;
	if (q->status && strcmp(q->status, "ready") && strcmp(q->status, "deprecated") && strcmp(q->status, "deleted"))
		return mlreg_error_set(MLREG_EINVALID, "invalid status '%s': use ready, deprecated or deleted", q->status);
	return META(r)->version_search(r->meta, q, out);
}

/* Run fn inside a write transaction on version model:number, then audit. */
typedef int (*version_op)(reg_registry *r, reg_tx *tx, int64_t vid, const char *status, const void *arg);

/* Webhook events of version changes: deprecate and delete announce
 * themselves; metrics and tags are too chatty to. */
static int announce(reg_registry *r, reg_tx *tx, const reg_principal *who, const char *action, const char *model,
		    int64_t number)
{
	const char *event = !strcmp(action, "version.deprecate") ? "deprecate"
			    : !strcmp(action, "version.delete")  ? "delete"
								 : NULL;
	cJSON *f;
	if (!event)
		return 0;
	f = cJSON_CreateObject();
	cJSON_AddNumberToObject(f, "version", (double)number);
	return reg_event_emit(r, tx, event, who->principal, model, f);
}

static int with_version(reg_registry *r, const reg_principal *who, const char *model, int64_t number, const char *action,
			const cJSON *details, version_op fn, const void *arg, cJSON **out)
{
	reg_tx *tx = NULL;
	int64_t vid;
	char status[16], subject[UTIL_NAME_MAX + 32];
	int rc;
	if ((rc = check_model_name(model)) < 0)
		return rc;
	snprintf(subject, sizeof(subject), "%s:%lld", model, (long long)number);
	if ((rc = META(r)->begin(r->meta, &tx)) < 0)
		return rc;
	if ((rc = META(r)->version_lookup(tx, model, number, &vid, status, sizeof(status))) < 0 ||
	    (rc = fn(r, tx, vid, status, arg)) < 0 ||
	    (rc = reg_audit_append(r->meta, tx, who->principal, action, subject, model, details)) < 0 ||
	    (rc = announce(r, tx, who, action, model, number)) < 0) {
		reg_events_discard();
		META(r)->rollback(tx);
		return rc;
	}
	if ((rc = reg_commit(r, tx)) < 0)
		return rc;
	return out ? reg_version_get(r, model, number, false, out) : 0;
}

static int op_metrics(reg_registry *r, reg_tx *tx, int64_t vid, const char *status, const void *arg)
{
	const cJSON *list = arg;
	int64_t now = util_now_ms();
	if (!strcmp(status, "deleted"))
		return mlreg_error_set(MLREG_ECONFLICT, "version is deleted");
	for (const cJSON *m = list->child; m; m = m->next) {
		const cJSON *step = cJSON_GetObjectItem(m, "step");
		int rc = META(r)->version_add_metric(tx, vid, util_json_str(m, "key"), cJSON_GetObjectItem(m, "value")->valuedouble,
						     step != NULL && !cJSON_IsNull(step), step ? (int64_t)step->valuedouble : 0, now);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int reg_version_log_metrics(reg_registry *r, const reg_principal *who, const char *model, int64_t number,
			    const cJSON *body, cJSON **out)
{
	const cJSON *list = cJSON_GetObjectItem(body, "metrics");
	cJSON *details;
	int n = 0, rc;
	if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0)
		return mlreg_error_set(MLREG_EINVALID, "'metrics' must be a non-empty array of {key,value,step?}");
	for (const cJSON *m = list->child; m; m = m->next) {
		const cJSON *v = cJSON_GetObjectItem(m, "value"), *step = cJSON_GetObjectItem(m, "step");
		if (++n > MAX_META_ENTRIES)
			return mlreg_error_set(MLREG_EINVALID, "too many metrics (limit %d)", MAX_META_ENTRIES);
		if (!util_key_valid(util_json_str(m, "key")))
			return mlreg_error_set(MLREG_EINVALID, "invalid metric key '%s'", util_json_str(m, "key") ? util_json_str(m, "key") : "");
		if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
			return mlreg_error_set(MLREG_EINVALID, "metric '%s' needs a finite numeric value", util_json_str(m, "key"));
		if (step && !cJSON_IsNull(step) && !util_json_is_int(step))
			return mlreg_error_set(MLREG_EINVALID, "metric '%s': step must be an integer", util_json_str(m, "key"));
	}
	details = cJSON_CreateObject();
	cJSON_AddNumberToObject(details, "count", n);
	rc = with_version(r, who, model, number, "version.metrics", details, op_metrics, list, out);
	cJSON_Delete(details);
	return rc;
}

static int op_tags(reg_registry *r, reg_tx *tx, int64_t vid, const char *status, const void *arg)
{
	return META(r)->version_set_tags(tx, vid, arg, util_now_ms());
}

int reg_version_tag(reg_registry *r, const reg_principal *who, const char *model, int64_t number, const cJSON *tags, cJSON **out)
{
	int rc = reg_validate_tags(tags, true);
	if (rc < 0)
		return rc;
	if (!tags || !tags->child)
		return mlreg_error_set(MLREG_EINVALID, "no tags given");
	return with_version(r, who, model, number, "version.tag", tags, op_tags, tags, out);
}

static int op_deprecate(reg_registry *r, reg_tx *tx, int64_t vid, const char *status, const void *arg)
{
	if (!strcmp(status, "deleted"))
		return mlreg_error_set(MLREG_ECONFLICT, "version is deleted");
	return META(r)->version_set_status(tx, vid, "deprecated", util_now_ms());
}

int reg_version_deprecate(reg_registry *r, const reg_principal *who, const char *model, int64_t number, cJSON **out)
{
	return with_version(r, who, model, number, "version.deprecate", NULL, op_deprecate, NULL, out);
}

static int op_delete(reg_registry *r, reg_tx *tx, int64_t vid, const char *status, const void *arg)
{
	if (!strcmp(status, "deleted"))
		return mlreg_error_set(MLREG_ECONFLICT, "version is already deleted");
	char why[256];
	int rc;
	/* a stage (at any depth of its rollback stack), an alias or a
	 * deployment (its stable or target version) pointing at a tombstone
	 * would serve or restore bytes gc may free */
	if ((rc = META(r)->version_refs(tx, vid, why, sizeof(why))) < 0)
		return rc;
	if (rc == 1)
		return mlreg_error_set(MLREG_ECONFLICT, "version is still referenced: %s", why);
	return META(r)->version_set_status(tx, vid, "deleted", util_now_ms());
}

int reg_version_delete(reg_registry *r, const reg_principal *who, const char *model, int64_t number, cJSON **out)
{
	return with_version(r, who, model, number, "version.delete", NULL, op_delete, NULL, out);
}

/* ---- diff ---- */
static int resolve(reg_registry *r, const util_ref *ref, cJSON **out)
{
	return reg_version_get_ref(r, ref, true, out);
}

static cJSON *num_or_null(const cJSON *v) { return cJSON_IsNumber(v) ? cJSON_CreateNumber(v->valuedouble) : cJSON_CreateNull(); }
static cJSON *str_or_null(const cJSON *v) { return cJSON_IsString(v) ? cJSON_CreateString(v->valuestring) : cJSON_CreateNull(); }

static void diff_kv(const cJSON *a, const cJSON *b, bool numeric, cJSON *out)
{
	const cJSON *x;
	for (int pass = 0; pass < 2; pass++) {
		for (x = (pass ? b : a)->child; x; x = x->next) {
			const cJSON *va = cJSON_GetObjectItem(a, x->string), *vb = cJSON_GetObjectItem(b, x->string);
			cJSON *e;
			if (pass == 1 && va)
				continue; /* already seen */
			if (numeric ? (va && vb && va->valuedouble == vb->valuedouble)
				    : (va && vb && !strcmp(va->valuestring, vb->valuestring)))
				continue;
			e = cJSON_CreateObject();
			cJSON_AddItemToObject(e, "from", numeric ? num_or_null(va) : str_or_null(va));
			cJSON_AddItemToObject(e, "to", numeric ? num_or_null(vb) : str_or_null(vb));
			if (numeric) {
				if (va && vb)
					cJSON_AddNumberToObject(e, "delta", vb->valuedouble - va->valuedouble);
				else
					cJSON_AddNullToObject(e, "delta");
			}
			cJSON_AddItemToObject(out, x->string, e);
		}
	}
}

int reg_diff(reg_registry *r, const util_ref *ra, const util_ref *rb, cJSON **out)
{
	cJSON *a = NULL, *b = NULL, *o, *added, *removed, *changed;
	const cJSON *fa, *fb;
	char name[UTIL_NAME_MAX + 32];
	int rc;
	if ((rc = resolve(r, ra, &a)) < 0 || (rc = resolve(r, rb, &b)) < 0) {
		cJSON_Delete(a);
		return rc;
	}
	o = cJSON_CreateObject();
	snprintf(name, sizeof(name), "%s:%lld", ra->model, (long long)ra->version);
	cJSON_AddStringToObject(o, "from", name);
	snprintf(name, sizeof(name), "%s:%lld", rb->model, (long long)rb->version);
	cJSON_AddStringToObject(o, "to", name);
	added = cJSON_AddArrayToObject(o, "added");
	removed = cJSON_AddArrayToObject(o, "removed");
	changed = cJSON_AddArrayToObject(o, "changed");
	fa = cJSON_GetObjectItem(a, "files")->child;
	fb = cJSON_GetObjectItem(b, "files")->child;
	while (fa || fb) {
		int c = !fa ? 1 : !fb ? -1 : strcmp(util_json_str(fa, "path"), util_json_str(fb, "path"));
		if (c < 0) {
			cJSON_AddItemToArray(removed, cJSON_Duplicate(fa, 1));
			fa = fa->next;
		} else if (c > 0) {
			cJSON_AddItemToArray(added, cJSON_Duplicate(fb, 1));
			fb = fb->next;
		} else {
			if (strcmp(util_json_str(fa, "digest"), util_json_str(fb, "digest")) ||
			    cJSON_GetObjectItem(fa, "mode")->valuedouble != cJSON_GetObjectItem(fb, "mode")->valuedouble) {
				cJSON *e = cJSON_CreateObject();
				cJSON_AddStringToObject(e, "path", util_json_str(fa, "path"));
				cJSON_AddItemToObject(e, "from", cJSON_Duplicate(fa, 1));
				cJSON_AddItemToObject(e, "to", cJSON_Duplicate(fb, 1));
				cJSON_AddItemToArray(changed, e);
			}
			fa = fa->next;
			fb = fb->next;
		}
	}
	diff_kv(cJSON_GetObjectItem(a, "metrics"), cJSON_GetObjectItem(b, "metrics"), true, cJSON_AddObjectToObject(o, "metrics"));
	diff_kv(cJSON_GetObjectItem(a, "params"), cJSON_GetObjectItem(b, "params"), false, cJSON_AddObjectToObject(o, "params"));
	cJSON_Delete(a);
	cJSON_Delete(b);
	*out = o;
	return 0;
}

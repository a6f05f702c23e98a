/*
 * bundle_import.c - the registry side of `mlreg import`: create the
 * versions a bundle's index describes (docs/bundles.md), all or nothing.
 *
 * The CLI has already read the bundle safely, verified every digest and
 * signature, and uploaded the blobs (which stay invisible garbage until a
 * version references them).  We trust none of that: every version is
 * checked again here - names, metadata, lineage, that the file list hashes
 * to the version's digest through the one canonical manifest encoder, that
 * every file's blob is stored with its size - before the writer
 * transaction starts.  Inside one transaction each version keeps the
 * number it had in the source registry (its signatures cover the number):
 * a number already holding the same digest is skipped as imported before,
 * a number holding another digest is a conflict that rolls everything
 * back.  Lineage is recorded in a second pass so that a parent that comes
 * later in the index is already visible; a parent that is neither in the
 * bundle nor in this registry refuses the import.  Each created version
 * gets one `bundle.import` audit entry in the same transaction, and each of
 * its signatures is verified over the version's statement and stored
 * through the signing code's transaction-level insert (audited
 * `version.sign`); one that does not verify rolls everything back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry/registry_int.h"
#include "util/json.h"
#include "util/model_config.h"
#include "util/sign.h"

#define MAX_VERSIONS 1000
#define MAX_SOURCE 2048
#define MODEL_CONFIG "mlreg-model.json"
#define MODEL_CONFIG_MAX (1 << 20)

/* One version of the index, checked and ready to insert. */
typedef struct {
	const cJSON *v;          /* the index entry (borrowed) */
	const char *model;
	int64_t number;
	const char *digest;
	cJSON *files;            /* normalised */
	uint64_t total;
	char *manifest;
	size_t mlen;
	cJSON *schema;
	char *schema_text;
	const cJSON *meta;       /* metadata object */
	const cJSON *lineage;
	const char *created_by;
	int64_t created_at;
	bool skip;               /* already here with this digest */
	int64_t vid;
} imp_version;

static void imp_release(imp_version *iv)
{
	cJSON_Delete(iv->files);
	cJSON_Delete(iv->schema);
	free(iv->manifest);
	free(iv->schema_text);
}

static int only_keys(const cJSON *o, const char *what, const char *const *keys)
{
	if (!cJSON_IsObject(o))
		return mlreg_error_set(MLREG_EINVALID, "%s must be an object", what);
	for (const cJSON *m = o->child; m; m = m->next) {
		bool ok = false;
		for (int i = 0; keys[i] && !ok; i++)
			ok = !strcmp(m->string, keys[i]);
		if (!ok)
			return mlreg_error_set(MLREG_EINVALID, "unknown member '%.64s' in %s", m->string, what);
	}
	return 0;
}

/* Parents in a bundle name concrete versions: MODEL:N only. */
static int check_parents(const cJSON *lineage, const char *subject)
{
	const cJSON *p = cJSON_GetObjectItem(lineage, "parents");
	for (const cJSON *e = p ? p->child : NULL; e; e = e->next) {
		util_ref ref;
		if (util_ref_parse(e->valuestring, &ref) < 0 || ref.kind != UTIL_REF_VERSION)
			return mlreg_error_set(MLREG_EINVALID, "%s: lineage parent '%.80s' must be MODEL:N in a bundle", subject,
					       e->valuestring);
	}
	return 0;
}

/* Everything about one entry that needs no transaction. */
static int check_version(reg_registry *r, const cJSON *v, imp_version *iv)
{
	static const char *const keys[] = {"model", "version", "digest", "size", "files", "metadata", "lineage", "signatures", NULL};
	static const char *const mkeys[] = {"description", "metrics", "params", "tags", "schema", "created_at", "created_by", NULL};
	const cJSON *sigs;
	char subject[UTIL_NAME_MAX + 32], digest[UTIL_DIGEST_LEN + 1];
	int rc;
	memset(iv, 0, sizeof(*iv));
	iv->v = v;
	if ((rc = only_keys(v, "a bundle version", keys)) < 0)
		return rc;
	iv->model = util_json_str(v, "model");
	if (!iv->model || !util_model_name_valid(iv->model))
		return mlreg_error_set(MLREG_EINVALID, "bundle version has an invalid model name '%.80s'",
				       iv->model ? iv->model : "");
	if (util_json_i64(v, "version", &iv->number) < 0 || iv->number < 1)
		return mlreg_error_set(MLREG_EINVALID, "bundle version of '%s' needs a version number >= 1", iv->model);
	snprintf(subject, sizeof(subject), "%s:%lld", iv->model, (long long)iv->number);
	iv->digest = util_json_str(v, "digest");
	if (!iv->digest || !util_digest_valid(iv->digest))
		return mlreg_error_set(MLREG_EINVALID, "%s: invalid digest", subject);
	iv->meta = cJSON_GetObjectItem(v, "metadata");
	if (!iv->meta)
		return mlreg_error_set(MLREG_EINVALID, "%s: metadata missing", subject);
	if ((rc = only_keys(iv->meta, "bundle metadata", mkeys)) < 0 || (rc = reg_version_validate_metadata(iv->meta)) < 0)
		return mlreg_error_set(rc, "%s: %s", subject, mlreg_error_last());
	iv->created_by = util_json_str(iv->meta, "created_by");
	if (!iv->created_by || !*iv->created_by || strlen(iv->created_by) > 127)
		return mlreg_error_set(MLREG_EINVALID, "%s: metadata created_by must be 1 to 127 bytes", subject);
	if (!util_json_str(iv->meta, "created_at") || util_time_parse(util_json_str(iv->meta, "created_at"), &iv->created_at) < 0)
		return mlreg_error_set(MLREG_EINVALID, "%s: metadata created_at must be an RFC 3339 time", subject);
	iv->lineage = cJSON_GetObjectItem(v, "lineage");
	if ((rc = reg_lineage_validate(iv->lineage)) < 0 || (rc = check_parents(iv->lineage, subject)) < 0)
		return mlreg_error_set(rc, "%s: %s", subject, mlreg_error_last());
	sigs = cJSON_GetObjectItem(v, "signatures");
	if (sigs && !cJSON_IsArray(sigs))
		return mlreg_error_set(MLREG_EINVALID, "%s: signatures must be an array", subject);
	for (const cJSON *sg = sigs ? sigs->child : NULL; sg; sg = sg->next) {
		const char *fp = util_json_str(sg, "fingerprint"), *pem = util_json_str(sg, "public_key"),
			   *sig = util_json_str(sg, "signature");
		if (!fp || !pem || !sig || strlen(pem) > UTIL_SIG_PEM_MAX || strlen(sig) != UTIL_SIG_B64_LEN)
			return mlreg_error_set(MLREG_EINVALID, "%s: a signature needs fingerprint, public_key and signature", subject);
	}
	if ((rc = reg_manifest_normalise(cJSON_GetObjectItem(v, "files"), r->cfg.max_files, &iv->files, &iv->total)) < 0)
		return mlreg_error_set(rc, "%s: %s", subject, mlreg_error_last());
	if ((rc = reg_manifest_encode(iv->files, &iv->manifest, &iv->mlen)) < 0)
		return rc;
	util_sha256_buf(iv->manifest, iv->mlen, digest);
	if (strcmp(digest, iv->digest) != 0)
		return mlreg_error_set(MLREG_EINTEGRITY, "%s: its file list hashes to %s, not to its digest %s", subject, digest,
				       iv->digest);
	for (const cJSON *f = iv->files->child; f; f = f->next) {
		uint64_t known;
		const char *d = util_json_str(f, "digest");
		if (META(r)->blob_known(r->meta, d, &known) < 0)
			return mlreg_error_set(MLREG_EINVALID, "%s: blob %s of '%s' is not uploaded", subject, d,
					       util_json_str(f, "path"));
		if (known != (uint64_t)cJSON_GetObjectItem(f, "size")->valuedouble)
			return mlreg_error_set(MLREG_EINTEGRITY, "%s: '%s' has %llu bytes in the index but its blob has %llu", subject,
					       util_json_str(f, "path"),
					       (unsigned long long)cJSON_GetObjectItem(f, "size")->valuedouble,
					       (unsigned long long)known);
		if (!strcmp(util_json_str(f, "path"), MODEL_CONFIG)) {
			char *cfg = NULL;
			size_t cfglen;
			if ((rc = reg_blob_read_small(r, d, MODEL_CONFIG_MAX, &cfg, &cfglen)) == 0)
				rc = util_model_config_parse(cfg, cfglen, &iv->schema);
			free(cfg);
			if (rc < 0)
				return mlreg_error_set(rc, "%s: %s", subject, mlreg_error_last());
			iv->schema_text = cJSON_PrintUnformatted(iv->schema);
		}
	}
	mlreg_error_clear();
	return 0;
}

static int audit_import(reg_registry *r, reg_tx *tx, const reg_principal *who, const imp_version *iv,
			const char *source)
{
	char subject[UTIL_NAME_MAX + 32];
	cJSON *d = cJSON_CreateObject();
	int rc;
	snprintf(subject, sizeof(subject), "%s:%lld", iv->model, (long long)iv->number);
	cJSON_AddStringToObject(d, "digest", iv->digest);
	cJSON_AddNumberToObject(d, "size", (double)iv->total);
	cJSON_AddNumberToObject(d, "files", cJSON_GetArraySize(iv->files));
	cJSON_AddStringToObject(d, "created_by", iv->created_by);
	cJSON_AddStringToObject(d, "source", source);
	cJSON_AddNumberToObject(d, "signatures", cJSON_GetArraySize(cJSON_GetObjectItem(iv->v, "signatures")));
	if ((rc = reg_lineage_record(r, tx, iv->model, iv->number, iv->vid, iv->lineage, d)) == 0)
		rc = reg_audit_append(r->meta, tx, who->principal, "bundle.import", subject, iv->model, d);
	cJSON_Delete(d);
	/* each signature verified over the version's statement and stored
	 * (audited version.sign), or the whole import is rolled back */
	for (const cJSON *sg = cJSON_GetObjectItem(iv->v, "signatures") ? cJSON_GetObjectItem(iv->v, "signatures")->child : NULL;
	     sg && rc == 0; sg = sg->next) {
		char fp[UTIL_DIGEST_LEN + 1];
		bool added;
		rc = reg_signature_insert_tx(r, tx, who->principal, iv->model, iv->number, iv->vid, iv->digest,
					     util_json_str(sg, "public_key"), util_json_str(sg, "signature"), fp, &added);
		if (rc < 0)
			rc = mlreg_error_set(MLREG_EINTEGRITY, "%s: a signature does not verify: %s", subject, mlreg_error_last());
		else if (strcmp(fp, util_json_str(sg, "fingerprint")) != 0)
			rc = mlreg_error_set(MLREG_EINTEGRITY, "%s: the signature's public key is not the key %.80s", subject,
					     util_json_str(sg, "fingerprint"));
	}
	return rc;
}

static cJSON *answer_item(const imp_version *iv)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "model", iv->model);
	cJSON_AddNumberToObject(o, "version", (double)iv->number);
	cJSON_AddStringToObject(o, "digest", iv->digest);
	return o;
}

int reg_bundle_import(reg_registry *r, const reg_principal *who, const cJSON *index, cJSON **out)
{
	static const char *const keys[] = {"format", "format_version", "source", "exported_at", "versions", NULL};
	const cJSON *versions = cJSON_GetObjectItem(index, "versions");
	const char *source = util_json_str(index, "source");
	imp_version *iv = NULL;
	cJSON *imported = NULL, *skipped = NULL;
	reg_tx *tx = NULL;
	bool gated = false;
	int64_t fv = 0;
	int n = 0, rc;

	if ((rc = only_keys(index, "the bundle index", keys)) < 0)
		return rc;
	if (!util_json_str(index, "format") || strcmp(util_json_str(index, "format"), "mlreg-bundle") != 0 ||
	    util_json_i64(index, "format_version", &fv) < 0 || fv != 1)
		return mlreg_error_set(MLREG_EINVALID, "not an mlreg bundle index of format_version 1");
	if (!source || strlen(source) > MAX_SOURCE)
		return mlreg_error_set(MLREG_EINVALID, "bundle source must be a string of at most %d bytes", MAX_SOURCE);
	if (!cJSON_IsArray(versions) || (n = cJSON_GetArraySize(versions)) < 1 || n > MAX_VERSIONS)
		return mlreg_error_set(MLREG_EINVALID, "bundle versions must be an array of 1 to %d versions", MAX_VERSIONS);
	if (!(iv = calloc((size_t)n, sizeof(*iv))))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	n = 0;
	for (const cJSON *v = versions->child; v; v = v->next, n++) {
		if ((rc = check_version(r, v, &iv[n])) < 0) {
			n++;
			goto done;
		}
		for (int j = 0; j < n; j++)
			if (iv[j].number == iv[n].number && !strcmp(iv[j].model, iv[n].model)) {
				rc = mlreg_error_set(MLREG_EINVALID, "%s:%lld appears twice in the bundle", iv[n].model,
						     (long long)iv[n].number);
				n++;
				goto done;
			}
	}

	/* from making the manifests visible to the versions that reference
	 * them (and their files), gc must not run */
	pthread_rwlock_rdlock(&r->blob_gate);
	gated = true;
	for (int i = 0; i < n; i++) {
		char d[UTIL_DIGEST_LEN + 1];
		if ((rc = reg_blob_store_bytes(r, iv[i].manifest, iv[i].mlen, d)) < 0)
			goto done;
	}
	if ((rc = META(r)->begin(r->meta, &tx)) < 0)
		goto done;
	imported = cJSON_CreateArray();
	skipped = cJSON_CreateArray();
	for (int i = 0; i < n; i++) {
		char have[UTIL_DIGEST_LEN + 1];
		int64_t model_id, number = iv[i].number, now = util_now_ms();
		bool created;
		rc = META(r)->version_digest(tx, iv[i].model, iv[i].number, have);
		if (rc == 0) {
			if (strcmp(have, iv[i].digest) != 0) {
				rc = mlreg_error_set(MLREG_ECONFLICT, "%s:%lld already exists here with digest %s, the bundle has %s",
						     iv[i].model, (long long)iv[i].number, have, iv[i].digest);
				goto done;
			}
			iv[i].skip = true;
			cJSON_AddItemToArray(skipped, answer_item(&iv[i]));
			continue;
		}
		if (rc != MLREG_ENOTFOUND)
			goto done;
		for (const cJSON *f = iv[i].files->child; f; f = f->next)
			if (META(r)->blob_known_tx(tx, util_json_str(f, "digest"), NULL) < 0) {
				rc = mlreg_error_set(MLREG_EINVALID, "blob %s was removed meanwhile; import again",
						     util_json_str(f, "digest"));
				goto done;
			}
		if ((rc = META(r)->model_ensure(tx, iv[i].model, "", who->principal, now, &model_id, &created)) < 0 ||
		    (created && (rc = reg_audit_append(r->meta, tx, who->principal, "model.create", iv[i].model, iv[i].model,
						       NULL)) < 0) ||
		    (rc = META(r)->blob_record(tx, iv[i].digest, iv[i].mlen, now)) < 0 ||
		    (rc = META(r)->version_insert(tx, model_id, iv[i].digest, iv[i].total, iv[i].files,
						  cJSON_GetObjectItem(iv[i].meta, "metrics"), cJSON_GetObjectItem(iv[i].meta, "params"),
						  cJSON_GetObjectItem(iv[i].meta, "tags"), util_json_str(iv[i].meta, "description"),
						  iv[i].schema ? util_json_str(iv[i].schema, "format") : NULL, iv[i].schema_text,
						  iv[i].created_by, iv[i].created_at, &number, &iv[i].vid)) < 0)
			goto done;
		if (number != iv[i].number) {
			rc = mlreg_error_set(MLREG_EIO, "%s:%lld was stored as number %lld", iv[i].model, (long long)iv[i].number,
					     (long long)number);
			goto done;
		}
		cJSON_AddItemToArray(imported, answer_item(&iv[i]));
	}
	/* second pass: lineage (parents may come later in the index) and audit */
	for (int i = 0; i < n; i++)
		if (!iv[i].skip && (rc = audit_import(r, tx, who, &iv[i], source)) < 0)
			goto done;
	rc = reg_commit(r, tx);
	tx = NULL;
	if (rc < 0)
		goto done;
	*out = cJSON_CreateObject();
	cJSON_AddItemToObject(*out, "imported", imported);
	cJSON_AddItemToObject(*out, "skipped", skipped);
	imported = skipped = NULL;
done:
	if (tx) {
		reg_events_discard();
		META(r)->rollback(tx);
	}
	if (gated)
		pthread_rwlock_unlock(&r->blob_gate);
	for (int i = 0; i < n; i++)
		imp_release(&iv[i]);
	free(iv);
	cJSON_Delete(imported);
	cJSON_Delete(skipped);
	return rc;
}

/*
 * sign.c - trusted keys and version signatures: the registry's side of
 * Ed25519 signing (docs/security.md "Signing").
 *
 * A signature is over the canonical statement of a version (model, number,
 * manifest digest; util/sign.h), made on the signer's machine: the private
 * key never reaches the registry.  The registry verifies every signature
 * before storing it (one that does not verify is refused, not kept), and
 * verifies again each time it relies on one - the gate, the signatures
 * listing, what the controller hands to nodes - because a database row is
 * not proof: re-checking costs ~50 µs per signature and closes the door on
 * a row edited behind the registry's back.  Trust is separate from
 * validity: a signature names the key that made it by fingerprint, and is
 * trusted only while a live row of `keys` has that fingerprint, so removing
 * a key withdraws the trust in everything it signed at once, without
 * touching the signatures.  Mutations are audited in their transaction
 * (key.add, key.remove, version.sign).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry/registry_int.h"
#include "util/json.h"
#include "util/sign.h"

static int key_name_check(const char *name)
{
	if (!name || !util_label_value_valid(name))
		return mlreg_error_set(MLREG_EINVALID, "invalid key name '%.64s': use 1 to 63 of letters, digits and ._-",
				       name ? name : "");
	return 0;
}

/* A store row (integer times) as the API's key object. */
static cJSON *key_public(const cJSON *row)
{
	cJSON *k = cJSON_CreateObject();
	char ts[40];
	int64_t at = 0;
	util_json_i64(row, "created_at", &at);
	util_time_format(at, ts, sizeof(ts));
	cJSON_AddStringToObject(k, "name", util_json_str(row, "name"));
	cJSON_AddStringToObject(k, "fingerprint", util_json_str(row, "fingerprint"));
	cJSON_AddStringToObject(k, "public_key", util_json_str(row, "public_key"));
	cJSON_AddStringToObject(k, "created_at", ts);
	cJSON_AddStringToObject(k, "created_by", util_json_str(row, "created_by"));
	return k;
}

int reg_key_add(reg_registry *r, const reg_principal *who, const char *name, const char *public_key_pem, cJSON **out)
{
	char fp[UTIL_SIG_FP_LEN + 1];
	char *pem = NULL;
	reg_tx *tx = NULL;
	cJSON *row = NULL, *d;
	int rc;
	if ((rc = key_name_check(name)) < 0)
		return rc;
	if (!public_key_pem)
		return mlreg_error_set(MLREG_EINVALID, "'public_key' (a PEM Ed25519 public key) is required");
	if ((rc = util_sig_public_parse(public_key_pem, strlen(public_key_pem), &pem, fp)) < 0)
		return rc;
	if ((rc = META(r)->begin(r->meta, &tx)) < 0) {
		free(pem);
		return rc;
	}
	rc = META(r)->key_insert(tx, name, fp, pem, who->principal, util_now_ms());
	if (rc == MLREG_EEXISTS) {
		/* say which: the name or the key itself */
		if (META(r)->key_find(tx, fp, &row) == 0)
			rc = mlreg_error_set(MLREG_EEXISTS, "this key (%s) is already trusted as '%s'", fp,
					     util_json_str(row, "name"));
		else
			rc = mlreg_error_set(MLREG_EEXISTS, "a key named '%s' already exists", name);
		cJSON_Delete(row);
		row = NULL;
	}
	if (rc == 0) {
		d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "fingerprint", fp);
		rc = reg_audit_append(r->meta, tx, who->principal, "key.add", name, NULL, d);
		cJSON_Delete(d);
	}
	if (rc == 0)
		rc = META(r)->key_find(tx, fp, &row);
	if ((rc = promo_finish(r, tx, rc)) < 0) {
		cJSON_Delete(row);
		free(pem);
		return rc;
	}
	*out = key_public(row);
	cJSON_Delete(row);
	free(pem);
	return 0;
}

int reg_key_remove(reg_registry *r, const reg_principal *who, const char *name, cJSON **out)
{
	char fp[UTIL_SIG_FP_LEN + 1] = "";
	reg_tx *tx = NULL;
	cJSON *d;
	int rc;
	if ((rc = key_name_check(name)) < 0)
		return rc;
	if ((rc = META(r)->begin(r->meta, &tx)) < 0)
		return rc;
	rc = META(r)->key_remove(tx, name, who->principal, util_now_ms(), fp);
	if (rc == 0) {
		d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "fingerprint", fp);
		rc = reg_audit_append(r->meta, tx, who->principal, "key.remove", name, NULL, d);
		cJSON_Delete(d);
	}
	/* a gate may now refuse what it passed: reconcilers look again */
	if (rc == 0)
		rc = reg_ctl_touch(r, tx);
	if ((rc = promo_finish(r, tx, rc)) < 0)
		return rc;
	*out = cJSON_CreateObject();
	cJSON_AddStringToObject(*out, "name", name);
	cJSON_AddStringToObject(*out, "fingerprint", fp);
	cJSON_AddBoolToObject(*out, "removed", true);
	return 0;
}

int reg_key_list(reg_registry *r, cJSON **out)
{
	reg_tx *tx = NULL;
	cJSON *rows = NULL, *keys;
	int rc;
	if ((rc = META(r)->begin_read(r->meta, &tx)) < 0)
		return rc;
	rc = META(r)->key_list(tx, &rows);
	META(r)->rollback(tx);
	if (rc < 0)
		return rc;
	*out = cJSON_CreateObject();
	keys = cJSON_AddArrayToObject(*out, "keys");
	for (const cJSON *k = rows->child; k; k = k->next)
		cJSON_AddItemToArray(keys, key_public(k));
	cJSON_Delete(rows);
	return 0;
}

/* The version ref (a path segment of model) names, live, inside tx. */
static int version_in(reg_registry *r, reg_tx *tx, const char *model, const char *ref, int64_t *number,
		      int64_t *vid, char digest[UTIL_DIGEST_LEN + 1])
{
	util_ref u;
	int64_t mid;
	int rc;
	if ((rc = promo_model_of(r, tx, model, &mid)) < 0 || (rc = reg_ref_segment_parse(ref, &u, model)) < 0 ||
	    (rc = promo_version_of(r, tx, &u, mid, number, vid)) < 0)
		return rc;
	return META(r)->version_digest(tx, model, *number, digest);
}

int reg_signature_insert_tx(reg_registry *r, reg_tx *tx, const char *actor, const char *model, int64_t number,
			    int64_t version_id, const char *digest, const char *public_key_pem,
			    const char *signature_b64, char fp[UTIL_SIG_FP_LEN + 1], bool *added)
{
	char *pem = NULL, *stmt = NULL;
	size_t slen;
	cJSON *have = NULL, *d;
	int rc;
	*added = false;
	if (!public_key_pem || !signature_b64)
		return mlreg_error_set(MLREG_EINVALID, "a signature needs 'public_key' (PEM) and 'signature' (base64)");
	if ((rc = util_sig_public_parse(public_key_pem, strlen(public_key_pem), &pem, fp)) < 0 ||
	    (rc = util_sig_statement(model, number, digest, &stmt, &slen)) < 0)
		goto out;
	if ((rc = util_sig_verify(pem, strlen(pem), stmt, slen, signature_b64)) < 0) {
		if (rc == MLREG_EINTEGRITY)
			rc = mlreg_error_set(MLREG_EINVALID,
					     "the signature does not verify with key %s for %s:%lld (digest %s)", fp,
					     model, (long long)number, digest);
		goto out;
	}
	rc = META(r)->signature_insert(tx, version_id, fp, pem, signature_b64, actor, util_now_ms());
	if (rc == MLREG_EEXISTS) {
		/* Ed25519 is deterministic: the same key signs a statement one
		 * way, so a repeat is the same signature, kept as it is */
		mlreg_error_clear();
		rc = 0;
		goto out;
	}
	if (rc < 0)
		goto out;
	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "fingerprint", fp);
	cJSON_AddStringToObject(d, "digest", digest);
	if (META(r)->key_find(tx, fp, &have) == 0)
		cJSON_AddStringToObject(d, "key", util_json_str(have, "name"));
	mlreg_error_clear();
	char subject[UTIL_NAME_MAX + 32];
	snprintf(subject, sizeof(subject), "%s:%lld", model, (long long)number);
	rc = reg_audit_append(r->meta, tx, actor, "version.sign", subject, model, d);
	cJSON_Delete(d);
	if (rc == 0)
		*added = true;
out:
	cJSON_Delete(have);
	free(pem);
	free(stmt);
	return rc;
}

/* One stored signature as the API shows it, re-verified now against stmt
 * and judged against the live keys. */
static int entry_of(reg_registry *r, reg_tx *tx, const cJSON *row, const char *stmt, size_t slen, cJSON **out,
		    bool *trusted_valid)
{
	const char *pem = util_json_str(row, "public_key"), *sig = util_json_str(row, "signature");
	const char *fp = util_json_str(row, "fingerprint");
	char real[UTIL_SIG_FP_LEN + 1] = "", ts[40];
	cJSON *key = NULL, *e = cJSON_CreateObject();
	int64_t at = 0;
	int rc;
	/* the fingerprint column is a claim too: it must be the key's */
	bool valid = pem && sig && fp && util_sig_fingerprint(pem, strlen(pem), real) == 0 && !strcmp(real, fp) &&
		     util_sig_verify(pem, strlen(pem), stmt, slen, sig) == 0;
	mlreg_error_clear();
	rc = fp ? META(r)->key_find(tx, fp, &key) : MLREG_ENOTFOUND;
	if (rc < 0 && rc != MLREG_ENOTFOUND) {
		cJSON_Delete(e);
		return rc;
	}
	mlreg_error_clear();
	util_json_i64(row, "created_at", &at);
	util_time_format(at, ts, sizeof(ts));
	cJSON_AddStringToObject(e, "fingerprint", fp ? fp : "");
	if (key)
		cJSON_AddStringToObject(e, "key", util_json_str(key, "name"));
	else
		cJSON_AddNullToObject(e, "key");
	cJSON_AddBoolToObject(e, "trusted", key != NULL);
	cJSON_AddBoolToObject(e, "valid", valid);
	cJSON_AddStringToObject(e, "signature", sig ? sig : "");
	cJSON_AddStringToObject(e, "public_key", pem ? pem : "");
	cJSON_AddStringToObject(e, "created_at", ts);
	cJSON_AddStringToObject(e, "created_by", util_json_str(row, "created_by") ? util_json_str(row, "created_by") : "");
	if (trusted_valid)
		*trusted_valid = *trusted_valid || (valid && key != NULL);
	cJSON_Delete(key);
	*out = e;
	return 0;
}

int reg_signatures_in(reg_registry *r, reg_tx *tx, const char *model, int64_t number, int64_t version_id,
		      const char *digest, cJSON **out, bool *is_signed)
{
	char *stmt = NULL;
	size_t slen;
	cJSON *rows = NULL, *res = NULL, *arr;
	bool ok = false;
	int rc;
	if ((rc = util_sig_statement(model, number, digest, &stmt, &slen)) < 0 ||
	    (rc = META(r)->signature_list(tx, version_id, &rows)) < 0)
		goto out;
	res = cJSON_CreateObject();
	cJSON_AddStringToObject(res, "model", model);
	cJSON_AddNumberToObject(res, "version", (double)number);
	cJSON_AddStringToObject(res, "digest", digest);
	cJSON_AddStringToObject(res, "statement", stmt);
	arr = cJSON_AddArrayToObject(res, "signatures");
	for (const cJSON *row = rows->child; row; row = row->next) {
		cJSON *e = NULL;
		if ((rc = entry_of(r, tx, row, stmt, slen, &e, &ok)) < 0)
			goto out;
		cJSON_AddItemToArray(arr, e);
	}
	cJSON_AddBoolToObject(res, "signed", ok);
	if (is_signed)
		*is_signed = ok;
	if (out) {
		*out = res;
		res = NULL;
	}
out:
	cJSON_Delete(res);
	cJSON_Delete(rows);
	free(stmt);
	return rc;
}

int reg_signature_add(reg_registry *r, const reg_principal *who, const char *model, const char *ref,
		      const char *public_key_pem, const char *signature_b64, cJSON **out)
{
	char digest[UTIL_DIGEST_LEN + 1], fp[UTIL_SIG_FP_LEN + 1];
	int64_t number = 0, vid = 0;
	reg_tx *tx = NULL;
	cJSON *all = NULL;
	bool added = false;
	int rc;
	if ((rc = META(r)->begin(r->meta, &tx)) < 0)
		return rc;
	if ((rc = version_in(r, tx, model, ref, &number, &vid, digest)) == 0 &&
	    (rc = reg_signature_insert_tx(r, tx, who->principal, model, number, vid, digest, public_key_pem,
					  signature_b64, fp, &added)) == 0)
		rc = reg_signatures_in(r, tx, model, number, vid, digest, &all, NULL);
	/* a gate requiring a signature may pass now: reconcilers look again */
	if (rc == 0 && added)
		rc = reg_ctl_touch(r, tx);
	if ((rc = promo_finish(r, tx, rc)) < 0) {
		cJSON_Delete(all);
		return rc;
	}
	/* {"model","version","digest","statement","created", + the entry} */
	cJSON *res = cJSON_CreateObject(), *sigs = cJSON_GetObjectItem(all, "signatures");
	cJSON_AddStringToObject(res, "model", model);
	cJSON_AddNumberToObject(res, "version", (double)number);
	cJSON_AddStringToObject(res, "digest", digest);
	cJSON_AddStringToObject(res, "statement", util_json_str(all, "statement"));
	cJSON_AddBoolToObject(res, "created", added);
	for (cJSON *e = sigs ? sigs->child : NULL; e; e = e->next)
		if (!strcmp(util_json_str(e, "fingerprint") ? util_json_str(e, "fingerprint") : "", fp)) {
			for (cJSON *m = e->child; m; m = m->next)
				cJSON_AddItemToObject(res, m->string, cJSON_Duplicate(m, true));
			break;
		}
	cJSON_Delete(all);
	*out = res;
	return 0;
}

int reg_signatures_get(reg_registry *r, const char *model, const char *ref, cJSON **out)
{
	char digest[UTIL_DIGEST_LEN + 1];
	int64_t number = 0, vid = 0;
	reg_tx *tx = NULL;
	int rc;
	if ((rc = META(r)->begin_read(r->meta, &tx)) < 0)
		return rc;
	if ((rc = version_in(r, tx, model, ref, &number, &vid, digest)) == 0)
		rc = reg_signatures_in(r, tx, model, number, vid, digest, out, NULL);
	META(r)->rollback(tx);
	return rc;
}

int reg_version_signed_in(reg_registry *r, reg_tx *tx, const char *model, int64_t number, int64_t version_id,
			  bool *is_signed, char *why, size_t wlen)
{
	char digest[UTIL_DIGEST_LEN + 1];
	cJSON *res = NULL;
	int rc, total = 0, valid = 0, trusted = 0;
	*is_signed = false;
	if ((rc = META(r)->version_digest(tx, model, number, digest)) < 0 ||
	    (rc = reg_signatures_in(r, tx, model, number, version_id, digest, &res, is_signed)) < 0)
		return rc;
	for (const cJSON *e = cJSON_GetObjectItem(res, "signatures")->child; e; e = e->next) {
		total++;
		valid += cJSON_IsTrue(cJSON_GetObjectItem(e, "valid"));
		trusted += cJSON_IsTrue(cJSON_GetObjectItem(e, "trusted"));
	}
	if (why) {
		if (*is_signed)
			snprintf(why, wlen, "signed by a trusted key (%d signature%s)", total, total == 1 ? "" : "s");
		else if (total == 0)
			snprintf(why, wlen, "no signature");
		else
			snprintf(why, wlen, "%d signature%s, %d valid, %d by a trusted key, none both", total,
				 total == 1 ? "" : "s", valid, trusted);
	}
	cJSON_Delete(res);
	return 0;
}

int reg_version_signed(reg_registry *r, const char *model, int64_t number, bool *is_signed)
{
	char status[16];
	int64_t vid = 0;
	reg_tx *tx = NULL;
	int rc;
	if ((rc = META(r)->begin_read(r->meta, &tx)) < 0)
		return rc;
	if ((rc = META(r)->version_lookup(tx, model, number, &vid, status, sizeof(status))) == 0)
		rc = reg_version_signed_in(r, tx, model, number, vid, is_signed, NULL, 0);
	META(r)->rollback(tx);
	return rc;
}

/* The strings of body's members keys (in order) into vals; nothing else
 * may be in body. */
static int body_strings(const cJSON *body, const char *const *keys, const char **vals)
{
	int rc;
	if ((rc = promo_only_keys(body, keys)) < 0)
		return rc;
	for (int i = 0; keys[i]; i++) {
		const cJSON *v = cJSON_GetObjectItem(body, keys[i]);
		if (!cJSON_IsString(v) || !v->valuestring[0])
			return mlreg_error_set(MLREG_EINVALID, "'%s' must be a non-empty string", keys[i]);
		vals[i] = v->valuestring;
	}
	return 0;
}

int reg_key_add_body(reg_registry *r, const reg_principal *who, const cJSON *body, cJSON **out)
{
	static const char *const keys[] = {"name", "public_key", NULL};
	const char *v[2];
	int rc = body_strings(body, keys, v);
	return rc < 0 ? rc : reg_key_add(r, who, v[0], v[1], out);
}

int reg_signature_add_body(reg_registry *r, const reg_principal *who, const char *model, const char *ref,
			   const cJSON *body, cJSON **out)
{
	static const char *const keys[] = {"public_key", "signature", NULL};
	const char *v[2];
	int rc = body_strings(body, keys, v);
	return rc < 0 ? rc : reg_signature_add(r, who, model, ref, v[0], v[1], out);
}

/*
 * audit.c - the append-only, hash-chained audit log.
 *
 * Every mutation appends an entry inside its own transaction, so an entry
 * exists exactly when its change does.  hash = SHA-256(prev_hash "\n"
 * canonical(entry)), where canonical() is the RFC 8785 subset of
 * util_json_canonical over {v,seq,time,actor,action,subject,model,details}
 * with integer times and no floating point (schema/canonical.md).  Verifying
 * recomputes every hash from the stored fields and checks each link, so an
 * edited, deleted or reordered row is named by its sequence number.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry/registry_int.h"
#include "util/json.h"

#define AUDIT_FORMAT 1

int reg_audit_hash(const reg_audit_row *row, char out[65])
{
	cJSON *e = cJSON_CreateObject(), *details = NULL;
	util_buf b;
	int rc;
	if (row->details && util_json_parse(row->details, strlen(row->details), 64, &details) < 0) {
		cJSON_Delete(e);
		return mlreg_error_set(MLREG_EINTEGRITY, "audit entry %lld has unreadable details", (long long)row->seq);
	}
	cJSON_AddNumberToObject(e, "v", AUDIT_FORMAT);
	cJSON_AddNumberToObject(e, "seq", (double)row->seq);
	cJSON_AddNumberToObject(e, "time", (double)row->ts);
	cJSON_AddStringToObject(e, "actor", row->actor ? row->actor : "");
	cJSON_AddStringToObject(e, "action", row->action ? row->action : "");
	cJSON_AddStringToObject(e, "subject", row->subject ? row->subject : "");
	if (row->model)
		cJSON_AddStringToObject(e, "model", row->model);
	else
		cJSON_AddNullToObject(e, "model");
	cJSON_AddItemToObject(e, "details", details ? details : cJSON_CreateObject());
	util_buf_init(&b, 1 << 24);
	if ((rc = util_buf_puts(&b, row->prev_hash ? row->prev_hash : "")) == 0 && (rc = util_buf_put(&b, "\n", 1)) == 0)
		rc = util_json_canonical(e, &b);
	cJSON_Delete(e);
	if (rc == 0)
		util_sha256_hex(b.ptr, b.len, out);
	util_buf_release(&b);
	return rc;
}

int reg_audit_append(reg_meta *m, reg_tx *tx, const char *actor, const char *action, const char *subject,
		     const char *model, const cJSON *details)
{
	reg_audit_row row;
	char prev[65], hash[65];
	util_buf b;
	int rc;
	int64_t seq;
	util_buf_init(&b, 1 << 24);
	if (details)
		rc = util_json_canonical(details, &b);
	else
		rc = util_buf_puts(&b, "{}");
	if (rc < 0) {
		util_buf_release(&b);
		return rc;
	}
	if ((rc = m->ops->audit_tail(tx, &seq, prev)) < 0) {
		util_buf_release(&b);
		return rc;
	}
	row = (reg_audit_row){
		.seq = seq + 1,
		.ts = util_now_ms(),
		.actor = actor,
		.action = action,
		.subject = subject,
		.model = model,
		.details = b.ptr,
		.prev_hash = prev,
		.hash = hash,
	};
	if ((rc = reg_audit_hash(&row, hash)) == 0)
		rc = m->ops->audit_insert(tx, &row);
	util_buf_release(&b);
	return rc;
}

int reg_audit_list(reg_registry *r, const reg_audit_query *q, cJSON **out)
{
	return META(r)->audit_list(r->meta, q, out);
}

typedef struct {
	int64_t count, expect_seq, last_seq;
	char last_hash[65];
	char prev[65];
	int64_t bad_seq;
	char message[256];
} verify_ctx;

/* Entries are written with canonical details; any other spelling of the
 * same JSON (escapes, spacing, key order) is bytes the hash does not cover. */
static bool details_canonical(const char *details)
{
	cJSON *d = NULL;
	util_buf b;
	bool same;
	if (!details || util_json_parse(details, strlen(details), 64, &d) < 0)
		return false;
	util_buf_init(&b, 1 << 24);
	same = util_json_canonical(d, &b) == 0 && b.len == strlen(details) && memcmp(b.ptr, details, b.len) == 0;
	util_buf_release(&b);
	cJSON_Delete(d);
	return same;
}

static int verify_one(const reg_audit_row *row, void *p)
{
	verify_ctx *v = p;
	char hash[65];
	v->count++;
	v->last_seq = row->seq;
	snprintf(v->last_hash, sizeof(v->last_hash), "%s", row->hash ? row->hash : "");
	if (row->seq != v->expect_seq) {
		v->bad_seq = row->seq;
		snprintf(v->message, sizeof(v->message), "expected entry %lld, found %lld (entries missing)",
			 (long long)v->expect_seq, (long long)row->seq);
		return 1;
	}
	if (!row->prev_hash || strcmp(row->prev_hash, v->prev) != 0) {
		v->bad_seq = row->seq;
		snprintf(v->message, sizeof(v->message), "prev_hash does not match the hash of entry %lld",
			 (long long)row->seq - 1);
		return 1;
	}
	if (row->anomaly) {
		v->bad_seq = row->seq;
		snprintf(v->message, sizeof(v->message), "stored row is malformed: %s", row->anomaly);
		return 1;
	}
	if (!details_canonical(row->details)) {
		v->bad_seq = row->seq;
		snprintf(v->message, sizeof(v->message), "stored details are not in canonical form (edited by hand?)");
		return 1;
	}
	if (reg_audit_hash(row, hash) < 0 || !row->hash || strcmp(hash, row->hash) != 0) {
		v->bad_seq = row->seq;
		snprintf(v->message, sizeof(v->message), "stored hash does not match the entry's content");
		return 1;
	}
	snprintf(v->prev, sizeof(v->prev), "%s", row->hash);
	v->expect_seq++;
	return 0;
}

int reg_audit_verify(reg_registry *r, cJSON **out)
{
	verify_ctx v = {.expect_seq = 1};
	cJSON *head;
	int rc;
	memset(v.prev, '0', 64);
	v.prev[64] = '\0';
	rc = META(r)->audit_each(r->meta, verify_one, &v);
	if (rc < 0)
		return rc;
	*out = cJSON_CreateObject();
	cJSON_AddBoolToObject(*out, "ok", rc == 0);
	cJSON_AddNumberToObject(*out, "entries", (double)(rc == 0 ? v.count : v.count));
	if (rc) {
		cJSON_AddNumberToObject(*out, "first_bad", (double)v.bad_seq);
		cJSON_AddStringToObject(*out, "message", v.message);
	}
	/* the last entry read: what an external anchor (audit export) compares */
	head = cJSON_AddObjectToObject(*out, "head");
	cJSON_AddNumberToObject(head, "seq", (double)v.last_seq);
	cJSON_AddStringToObject(head, "hash", v.last_hash);
	return 0;
}

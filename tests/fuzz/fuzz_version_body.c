/*
 * fuzz_version_body.c - libFuzzer target for the bodies that create and
 * annotate models and versions: POST models ({"name","description","tags"}),
 * the push POST versions ({"files","metrics","params","tags","description"},
 * with and without an Idempotency-Key), PATCH metrics ({"metrics":[…]}) and
 * the tags PATCH bodies of a model and of a version, all fed to the real
 * registry calls on a real (temporary) registry.
 *
 * These are the bodies every training job sends, and each one is validated
 * in front of a write transaction.  The invariants checked after each call:
 * a refused body adds no audit entry and no version; an accepted push adds
 * exactly one version whose stored manifest decodes and encodes back to the
 * same bytes; the audit chain verifies.  The registry holds two known
 * blobs (the seeds name their digests), so pushes can get past the "missing
 * blobs" check, and one model "m" with one version that the PATCH bodies hit.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry/registry.h"
#include "fuzz_registry.h"
#include "util/json.h"

/* the seeds name the two blobs the registry holds by their digests */
#define CFG_DIGEST "sha256:e67d23e7820c49a8051dac2831f38290f5e72f66c8db5079eeb60d82f14894c0" /* "cfg" */

static reg_registry *reg;
static reg_principal admin = {.principal = "fuzz-admin", .token_name = "fuzz", .role = REG_ROLE_ADMIN};
static int64_t versions; /* versions of "m" so far */
static unsigned long idem_seq;

static void blob(const char *bytes)
{
	reg_blob_writer *w = NULL;
	char digest[UTIL_DIGEST_LEN + 1];
	uint64_t size;
	if (reg_blob_writer_new(reg, &w) != 0 || reg_blob_writer_write(w, bytes, strlen(bytes)) != 0 ||
	    reg_blob_writer_commit(w, NULL, digest, &size) != 0)
		abort();
}

static void setup(void)
{
	cJSON *b, *out = NULL;
	int status;
	reg = fuzz_registry_open("version");
	blob("weights");
	blob("cfg");
	b = cJSON_Parse("{\"files\":[{\"path\":\"m.bin\",\"size\":3,\"digest\":\"" CFG_DIGEST "\"}]}");
	if (reg_version_create(reg, &admin, "m", b, NULL, &status, &out, NULL) != 0)
		abort();
	versions = 1;
	cJSON_Delete(b);
	cJSON_Delete(out);
}

/* The newest audit sequence number (verifying the whole chain after each
 * call would make the campaign quadratic; it is verified once per input). */
static int64_t audit_entries(void)
{
	reg_audit_query q = {.limit = 1};
	cJSON *v = NULL;
	int64_t n = -1;
	if (reg_audit_list(reg, &q, &v) != 0 ||
	    util_json_i64(cJSON_GetArrayItem(cJSON_GetObjectItem(v, "entries"), 0), "seq", &n) != 0)
		abort();
	cJSON_Delete(v);
	return n;
}

/* The whole chain verifies: after each of the first 64 inputs (all a
 * replay runs), then after every 64th, since the walk grows with the log. */
static void audit_verify(void)
{
	static unsigned long inputs;
	cJSON *v = NULL;
	if (++inputs > 64 && inputs % 64 != 0)
		return;
	if (reg_audit_verify(reg, &v) != 0 || !cJSON_IsTrue(cJSON_GetObjectItem(v, "ok")))
		abort();
	cJSON_Delete(v);
}

/* A refused call must leave the audit log as it was; an accepted one gives
 * an answer and (unless it replays an idempotency key) an audit entry.  rc
 * is the call's result, before the newest audit seq before it. */
static void check(int rc, cJSON **out, int64_t before, bool replay)
{
	int64_t after = audit_entries();
	if (rc == 0 ? (!*out || (!replay && after <= before)) : after != before)
		abort();
	cJSON_Delete(*out);
	*out = NULL;
}

/* The manifest of an accepted version reads back and re-encodes exactly. */
static void check_manifest(int64_t number)
{
	char *data = NULL, *enc = NULL, digest[UTIL_DIGEST_LEN + 1];
	size_t len = 0, len2 = 0;
	cJSON *files = NULL, *v = NULL;
	if (reg_version_manifest(reg, "m", number, &data, &len, digest) != 0 || reg_manifest_decode(data, len, &files) != 0 ||
	    reg_manifest_encode(files, &enc, &len2) != 0 || len != len2 || memcmp(data, enc, len) != 0 ||
	    reg_version_get(reg, "m", number, true, &v) != 0)
		abort();
	free(data);
	free(enc);
	cJSON_Delete(files);
	cJSON_Delete(v);
}

static void push(const cJSON *body, const char *idem)
{
	cJSON *out = NULL, *missing = NULL, *v = NULL;
	int64_t before = audit_entries(), number = 0;
	int status = 0;
	int rc = reg_version_create(reg, &admin, "m", body, idem, &status, &out, &missing);
	bool replay = false;
	cJSON_Delete(missing);
	if (rc == 0) {
		if (!out || util_json_i64(out, "version", &number) != 0 || number < 1 || number > versions + 1)
			abort();
		if (number == versions + 1)
			versions++;
		else if (idem) /* only a repeated key may answer an older version */
			replay = true;
		else
			abort();
		check_manifest(number);
	} else if (reg_version_get(reg, "m", versions + 1, false, &v) == 0) {
		abort(); /* refused, yet a version was stored */
	}
	cJSON_Delete(v);
	check(rc, &out, before, replay);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *body = NULL, *out = NULL;
	char idem[64];
	int64_t before;
	if (!reg)
		setup();
	if (size > 65536 || util_json_parse((const char *)data, size, 32, &body) != 0)
		return 0;

	push(body, NULL);
	/* the same body twice under one fresh key: the second is the first's answer */
	snprintf(idem, sizeof(idem), "fuzz-%lu", ++idem_seq);
	push(body, idem);
	push(body, idem);

	before = audit_entries();
	check(reg_model_create(reg, &admin, body, &out), &out, before, false);
	before = audit_entries();
	check(reg_model_tag(reg, &admin, "m", body, &out), &out, before, false);
	before = audit_entries();
	check(reg_version_tag(reg, &admin, "m", 1, body, &out), &out, before, false);
	before = audit_entries();
	check(reg_model_tag(reg, &admin, "m", cJSON_GetObjectItem(body, "tags"), &out), &out, before, false);
	before = audit_entries();
	check(reg_version_log_metrics(reg, &admin, "m", 1, body, &out), &out, before, false);
	cJSON_Delete(body);
	audit_verify();
	return 0;
}

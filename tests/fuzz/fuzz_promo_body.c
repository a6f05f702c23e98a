/*
 * fuzz_promo_body.c - libFuzzer target for the request bodies of the
 * promotion pipeline: stages, policies, aliases, approvals, promote and
 * rollback, fed to the real registry calls on a real (temporary) registry.
 *
 * These validators sit between the network and a write transaction, so a
 * crash, a leak or a half-applied change on hostile input would be a bug in
 * a place every CI pipeline reaches.  Each input is parsed as JSON and
 * handed to every body-taking call; afterwards the audit chain must still
 * verify and the stage list must still be non-empty - a refused body must
 * leave nothing behind.  The registry is opened once per process in a
 * fresh temporary folder with one model of two versions.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry/registry.h"
#include "fuzz_registry.h"
#include "util/json.h"

static reg_registry *reg;
static reg_principal admin = {.principal = "fuzz-admin", .token_name = "fuzz", .role = REG_ROLE_ADMIN};
static reg_principal approver = {.principal = "fuzz-approver", .token_name = "fuzz2", .role = REG_ROLE_APPROVER};

static void setup(void)
{
	reg_blob_writer *w = NULL;
	char digest[UTIL_DIGEST_LEN + 1], body[512];
	uint64_t size;
	cJSON *b, *out = NULL;
	int status;
	reg = fuzz_registry_open("promo");
	if (reg_blob_writer_new(reg, &w) != 0 || reg_blob_writer_write(w, "weights", 7) != 0 ||
	    reg_blob_writer_commit(w, NULL, digest, &size) != 0)
		abort();
	snprintf(body, sizeof(body), "{\"files\":[{\"path\":\"m.bin\",\"size\":7,\"digest\":\"%s\"}],\"metrics\":{\"accuracy\":0.9}}",
		 digest);
	for (int i = 0; i < 2; i++) {
		b = cJSON_Parse(body);
		if (reg_version_create(reg, &admin, "m", b, NULL, &status, &out, NULL) != 0)
			abort();
		cJSON_Delete(b);
		cJSON_Delete(out);
	}
}

static void drop(cJSON **out)
{
	cJSON_Delete(*out);
	*out = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *body = NULL, *out = NULL, *v = NULL;
	util_ref ref = {.kind = UTIL_REF_VERSION, .model = "m", .version = 2};
	int status;
	if (!reg)
		setup();
	if (size > 65536 || util_json_parse((const char *)data, size, 32, &body) != 0)
		return 0;
	reg_policy_put(reg, &admin, "*", "production", body, &out);
	drop(&out);
	reg_policy_put(reg, &admin, "m", "staging", body, &out);
	drop(&out);
	reg_promote(reg, &admin, "m", "staging", body, &out);
	drop(&out);
	reg_promote(reg, &admin, "m", "production", body, &out);
	drop(&out);
	reg_rollback(reg, &admin, "m", "staging", body, &out);
	drop(&out);
	reg_alias_set(reg, &admin, "m", "champion", body, &out);
	drop(&out);
	reg_approve(reg, &approver, &ref, body, &status, &out);
	drop(&out);
	reg_stages_set(reg, &admin, body, &out);
	drop(&out);
	cJSON_Delete(body);

	/* nothing a body did may break the chain or empty the stage list */
	if (reg_audit_verify(reg, &v) != 0 || !cJSON_IsTrue(cJSON_GetObjectItem(v, "ok")))
		abort();
	drop(&v);
	if (reg_stages_get(reg, &v) != 0 || cJSON_GetArraySize(cJSON_GetObjectItem(v, "stages")) < 1)
		abort();
	drop(&v);
	/* restore the default stages so the next input starts from them */
	body = cJSON_Parse("{\"stages\":[\"staging\",\"production\"]}");
	reg_stages_set(reg, &admin, body, &out);
	cJSON_Delete(body);
	drop(&out);
	return 0;
}

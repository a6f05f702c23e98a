/*
 * fuzz_lineage_body.c - libFuzzer target for the "lineage" member of a
 * version-create body, pushed through the real registry call on a real
 * temporary registry.
 *
 * Lineage is written in the push's own transaction, so a body that is
 * refused half-way (a bad dataset after good ones, a parent that does not
 * resolve) must leave nothing: no version, no audit entry.  After each
 * input the audit chain must verify, a refused push must not have created
 * the next version of "child", and an accepted one must be walkable.
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
static char files[512];
static int64_t accepted; /* versions of "child" so far */

static void setup(void)
{
	reg_blob_writer *w = NULL;
	char digest[UTIL_DIGEST_LEN + 1];
	uint64_t size;
	cJSON *b, *out = NULL;
	int status;
	reg = fuzz_registry_open("lineage");
	if (reg_blob_writer_new(reg, &w) != 0 || reg_blob_writer_write(w, "weights", 7) != 0 ||
	    reg_blob_writer_commit(w, NULL, digest, &size) != 0)
		abort();
	snprintf(files, sizeof(files), "[{\"path\":\"m.bin\",\"size\":7,\"digest\":\"%s\"}]", digest);
	b = cJSON_CreateObject();
	cJSON_AddItemToObject(b, "files", cJSON_Parse(files));
	if (reg_version_create(reg, &admin, "m", b, NULL, &status, &out, NULL) != 0)
		abort();
	cJSON_Delete(b);
	cJSON_Delete(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *lineage = NULL, *body, *out = NULL, *v = NULL;
	int status, rc;
	if (!reg)
		setup();
	if (size > 65536 || util_json_parse((const char *)data, size, 32, &lineage) != 0)
		return 0;
	body = cJSON_CreateObject();
	cJSON_AddItemToObject(body, "files", cJSON_Parse(files));
	cJSON_AddItemToObject(body, "lineage", lineage);
	rc = reg_version_create(reg, &admin, "child", body, NULL, &status, &out, NULL);
	cJSON_Delete(body);
	cJSON_Delete(out);
	if (rc == 0) {
		/* what was stored can be walked */
		char ref[64];
		reg_lineage_query q = {.ref = ref, .max_depth = 64, .max_nodes = 1000};
		cJSON *g = NULL;
		snprintf(ref, sizeof(ref), "child:%lld", (long long)++accepted);
		if (reg_lineage(reg, &q, &g) != 0)
			abort();
		cJSON_Delete(g);
	} else if (reg_version_get(reg, "child", accepted + 1, false, &v) == 0) {
		abort(); /* refused, yet a version was stored */
	}
	if (reg_audit_verify(reg, &v) != 0 || !cJSON_IsTrue(cJSON_GetObjectItem(v, "ok")))
		abort();
	cJSON_Delete(v);
	return 0;
}

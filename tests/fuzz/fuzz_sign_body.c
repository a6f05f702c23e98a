/*
 * fuzz_sign_body.c - libFuzzer target for the signing request bodies:
 * POST /api/v1/keys ({"name","public_key"}) and POST .../signatures
 * ({"public_key","signature"}), fed to the real registry calls
 * (reg_key_add_body, reg_signature_add_body) on a real temporary registry.
 *
 * These bodies carry PEM and base64 from the network into OpenSSL's
 * parsers and then into a write transaction.  A crash, a leak, a stored
 * signature that does not verify, or a refused body that leaves an audit
 * entry behind would each be a bug.  After every input the audit chain
 * must verify, and every stored signature must still verify (the registry
 * stores only what verifies).  The registry holds one model of one version,
 * and a trusted key is removed again after each input so keys do not pile
 * up across inputs.
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

static void setup(void)
{
	reg_blob_writer *w = NULL;
	char digest[UTIL_DIGEST_LEN + 1], body[512];
	uint64_t size;
	cJSON *b, *out = NULL;
	int status;
	reg = fuzz_registry_open("sign");
	if (reg_blob_writer_new(reg, &w) != 0 || reg_blob_writer_write(w, "weights", 7) != 0 ||
	    reg_blob_writer_commit(w, NULL, digest, &size) != 0)
		abort();
	snprintf(body, sizeof(body), "{\"files\":[{\"path\":\"m.bin\",\"size\":7,\"digest\":\"%s\"}]}", digest);
	b = cJSON_Parse(body);
	if (reg_version_create(reg, &admin, "m", b, NULL, &status, &out, NULL) != 0)
		abort();
	cJSON_Delete(b);
	cJSON_Delete(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *body = NULL, *out = NULL, *v = NULL;
	if (!reg)
		setup();
	if (size > 65536 || util_json_parse((const char *)data, size, 32, &body) != 0)
		return 0;
	if (reg_key_add_body(reg, &admin, body, &out) == 0) {
		const char *name = util_json_str(out, "name");
		cJSON *gone = NULL;
		if (!name || reg_key_remove(reg, &admin, name, &gone) != 0)
			abort();
		cJSON_Delete(gone);
	}
	cJSON_Delete(out);
	out = NULL;
	reg_signature_add_body(reg, &admin, "m", "1", body, &out);
	cJSON_Delete(out);
	out = NULL;
	reg_signature_add_body(reg, &admin, "m", "@champion", body, &out);
	cJSON_Delete(out);
	cJSON_Delete(body);

	if (reg_audit_verify(reg, &v) != 0 || !cJSON_IsTrue(cJSON_GetObjectItem(v, "ok")))
		abort();
	cJSON_Delete(v);
	/* whatever was stored verifies */
	if (reg_signatures_get(reg, "m", "1", &v) != 0)
		abort();
	for (const cJSON *e = cJSON_GetObjectItem(v, "signatures")->child; e; e = e->next)
		if (!cJSON_IsTrue(cJSON_GetObjectItem(e, "valid")))
			abort();
	cJSON_Delete(v);
	return 0;
}

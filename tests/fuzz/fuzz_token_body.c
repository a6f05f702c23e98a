/*
 * fuzz_token_body.c - libFuzzer target for the body of POST /api/v1/tokens
 * ({"name","role","principal"?,"models"?,"stages"?,"expires_in"?}), fed to
 * reg_token_create_body, the registry call the route makes, on a real
 * temporary registry.
 *
 * The answer to an accepted body is the only place a token may ever show,
 * so beyond "no crash" the target checks what must hold for that secret:
 * the audit entry the call wrote and the token list never contain it, the
 * new token authenticates with exactly the role and scope the list shows,
 * and a refused body writes no audit entry and no token.  Accepted tokens
 * are revoked again (names then stay taken, so a repeated name exercises
 * the 409 path).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry/registry.h"
#include "fuzz_registry.h"
#include "util/json.h"

static reg_principal admin = {.principal = "fuzz-admin", .token_name = "fuzz", .role = REG_ROLE_ADMIN};
static reg_registry *reg; /* fuzz_registry.h opens it once */

/* The token list as text, without what changes with the clock alone
 * ("expired" and "status" flip when an earlier input's token reaches its
 * expiry between two reads). */
static char *list_text(void)
{
	cJSON *v = NULL, *t;
	char *s;
	if (reg_token_list(reg, &v) != 0)
		abort();
	cJSON_ArrayForEach(t, cJSON_GetObjectItem(v, "tokens")) {
		cJSON_DeleteItemFromObjectCaseSensitive(t, "expired");
		cJSON_DeleteItemFromObjectCaseSensitive(t, "status");
	}
	if (!(s = cJSON_PrintUnformatted(v)))
		abort();
	cJSON_Delete(v);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *body = NULL, *out = NULL, *v = NULL;
	char *before, *after, *added;
	const char *token, *name;
	reg_principal who;
	int64_t seq;
	reg = fuzz_registry_open("token");
	if (size > 65536 || util_json_parse((const char *)data, size, 32, &body) != 0)
		return 0;
	seq = fuzz_audit_seq(reg);
	before = list_text();
	if (reg_token_create_body(reg, &admin, body, &out) == 0) {
		token = util_json_str(out, "token");
		name = util_json_str(out, "name");
		if (!token || !name || strlen(token) < 32)
			abort();
		added = fuzz_audit_text(reg, seq);
		after = list_text();
		/* audited, never showing the token, and listed without it */
		if (fuzz_audit_seq(reg) <= seq || strstr(added, token) || strstr(after, token) || !strcmp(before, after))
			abort();
		/* the token works, with the role and the scope it was given */
		if (reg_authenticate(reg, token, &who) != 0 || strcmp(who.token_name, name) != 0 ||
		    strcmp(reg_role_name(who.role), util_json_str(out, "role")) != 0)
			abort();
		if (reg_token_revoke(reg, &admin, name, &v) != 0 || reg_authenticate(reg, token, &who) == 0)
			abort(); /* revocation must take at once */
		free(added);
		free(after);
	} else {
		after = list_text();
		if (fuzz_audit_seq(reg) != seq || strcmp(before, after) != 0)
			abort(); /* a refused body changed something */
		free(after);
	}
	free(before);
	cJSON_Delete(v);
	cJSON_Delete(out);
	cJSON_Delete(body);
	return 0;
}

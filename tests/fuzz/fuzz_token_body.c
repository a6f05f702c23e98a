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
#include "util/json.h"

static reg_registry *reg;
static reg_principal admin = {.principal = "fuzz-admin", .token_name = "fuzz", .role = REG_ROLE_ADMIN};
static char dir[] = "/tmp/mlreg-fuzz-token-XXXXXX";

static void cleanup(void)
{
	reg_close(reg);
	util_rm_rf(dir);
}

static void setup(void)
{
	reg_config cfg = {0};
	if (!mkdtemp(dir))
		abort();
	cfg.data_dir = dir;
	if (reg_open(&cfg, &reg) != 0)
		abort();
	atexit(cleanup);
}

/* The newest audit sequence number (0 for an empty log). */
static int64_t audit_seq(void)
{
	reg_audit_query q = {.limit = 1};
	cJSON *v = NULL;
	int64_t n = 0;
	if (reg_audit_list(reg, &q, &v) != 0)
		abort();
	if (util_json_i64(cJSON_GetArrayItem(cJSON_GetObjectItem(v, "entries"), 0), "seq", &n) != 0)
		n = 0;
	cJSON_Delete(v);
	return n;
}

/* Entries after seq, as text; the caller frees. */
static char *audit_text(int64_t after)
{
	reg_audit_query q = {.limit = 100, .oldest_first = true, .after_seq = after};
	cJSON *v = NULL;
	char *s;
	if (reg_audit_list(reg, &q, &v) != 0 || !(s = cJSON_PrintUnformatted(v)))
		abort();
	cJSON_Delete(v);
	return s;
}

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
	if (!reg)
		setup();
	if (size > 65536 || util_json_parse((const char *)data, size, 32, &body) != 0)
		return 0;
	seq = audit_seq();
	before = list_text();
	if (reg_token_create_body(reg, &admin, body, &out) == 0) {
		token = util_json_str(out, "token");
		name = util_json_str(out, "name");
		if (!token || !name || strlen(token) < 32)
			abort();
		added = audit_text(seq);
		after = list_text();
		/* audited, never showing the token, and listed without it */
		if (audit_seq() <= seq || strstr(added, token) || strstr(after, token) || !strcmp(before, after))
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
		if (audit_seq() != seq || strcmp(before, after) != 0)
			abort(); /* a refused body changed something */
		free(after);
	}
	free(before);
	cJSON_Delete(v);
	cJSON_Delete(out);
	cJSON_Delete(body);
	return 0;
}

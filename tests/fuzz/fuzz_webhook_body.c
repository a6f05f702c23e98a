/*
 * fuzz_webhook_body.c - libFuzzer target for the body of POST webhooks
 * ({"url","events","secret"}), taken through the same steps as the route:
 * the member types, the URL check (api_webhook_url_check, with private
 * addresses allowed as in tests, so nothing is resolved) and the real
 * reg_webhook_add on a real temporary registry.
 *
 * The body carries a secret (the HMAC key deliveries are signed with), so
 * beyond "no crash" the target checks what must hold for a secret: an
 * accepted webhook answers with it once, while the audit log and the
 * webhook list never show it; a refused body adds no audit entry and no
 * webhook.  Accepted webhooks are removed again so the list stays short.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/http.h"
#include "registry/registry.h"
#include "fuzz_registry.h"
#include "util/json.h"

static reg_principal admin = {.principal = "fuzz-admin", .token_name = "fuzz", .role = REG_ROLE_ADMIN};
static reg_registry *reg; /* fuzz_registry.h opens it once */

static char *list_text(void)
{
	cJSON *v = NULL;
	char *s;
	if (reg_webhook_list(reg, &v) != 0 || !(s = cJSON_PrintUnformatted(v)))
		abort();
	cJSON_Delete(v);
	return s;
}

/* Whether the secret shows in text, where it does not merely repeat the
 * URL or the events (an accepted secret may well be a substring of them)
 * or a run of hex digits (which a hash in the audit entry may contain). */
static bool shown(const char *text, const char *secret, const cJSON *body)
{
	const char *url = util_json_str(body, "url");
	char *events = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(body, "events"));
	bool hex = strspn(secret, "0123456789abcdef") == strlen(secret);
	bool r = strstr(text, secret) && !strstr(url, secret) && !(events && strstr(events, secret)) && !hex;
	free(events);
	return r;
}

/* The route's own checks, then the registry call. */
static int add(const cJSON *body, cJSON **out)
{
	const cJSON *url = cJSON_GetObjectItemCaseSensitive(body, "url");
	const cJSON *secret = cJSON_GetObjectItemCaseSensitive(body, "secret");
	int rc;
	if (!cJSON_IsObject(body) || !cJSON_IsString(url) || (secret && !cJSON_IsNull(secret) && !cJSON_IsString(secret)))
		return MLREG_EINVALID;
	if ((rc = api_webhook_url_check(url->valuestring, true)) != 0)
		return rc;
	return reg_webhook_add(reg, &admin, url->valuestring, cJSON_GetObjectItemCaseSensitive(body, "events"),
			       cJSON_IsString(secret) ? secret->valuestring : NULL, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *body = NULL, *out = NULL, *v = NULL;
	char *list_before, *list_after, *added;
	const char *secret, *id;
	int64_t seq;
	reg = fuzz_registry_open("webhook");
	if (size > 65536 || util_json_parse((const char *)data, size, 32, &body) != 0)
		return 0;
	seq = fuzz_audit_seq(reg);
	list_before = list_text(); /* empty: every accepted webhook is removed */
	if (add(body, &out) == 0) {
		secret = util_json_str(out, "secret");
		id = util_json_str(out, "id");
		if (!secret || strlen(secret) < 8 || !id)
			abort();
		added = fuzz_audit_text(reg, seq);
		list_after = list_text();
		if (fuzz_audit_seq(reg) <= seq || shown(added, secret, body) || shown(list_after, secret, body) ||
		    !strcmp(list_after, list_before))
			abort(); /* not audited, a secret shown, or nothing added */
		free(added);
		if (reg_webhook_remove(reg, &admin, id, &v) != 0)
			abort();
		cJSON_Delete(v);
	} else {
		list_after = list_text();
		if (out || fuzz_audit_seq(reg) != seq || strcmp(list_after, list_before))
			abort(); /* a refused body left something behind */
	}
	free(list_before);
	free(list_after);
	cJSON_Delete(out);
	cJSON_Delete(body);
	return 0;
}

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
#include "util/json.h"

static reg_registry *reg;
static reg_principal admin = {.principal = "fuzz-admin", .token_name = "fuzz", .role = REG_ROLE_ADMIN};
static char dir[] = "/tmp/mlreg-fuzz-webhook-XXXXXX";

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

/* The newest audit sequence number, and the entries after seq as text
 * (only what this input's call wrote: an older entry may hold a URL that
 * contains this input's secret by chance); the caller frees. */
static int64_t audit_seq(void)
{
	reg_audit_query q = {.limit = 1};
	cJSON *v = NULL;
	int64_t n = -1;
	if (reg_audit_list(reg, &q, &v) != 0)
		abort();
	if (util_json_i64(cJSON_GetArrayItem(cJSON_GetObjectItem(v, "entries"), 0), "seq", &n) != 0)
		n = 0; /* an empty log */
	cJSON_Delete(v);
	return n;
}

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
	if (!reg)
		setup();
	if (size > 65536 || util_json_parse((const char *)data, size, 32, &body) != 0)
		return 0;
	seq = audit_seq();
	list_before = list_text(); /* empty: every accepted webhook is removed */
	if (add(body, &out) == 0) {
		secret = util_json_str(out, "secret");
		id = util_json_str(out, "id");
		if (!secret || strlen(secret) < 8 || !id)
			abort();
		added = audit_text(seq);
		list_after = list_text();
		if (audit_seq() <= seq || shown(added, secret, body) || shown(list_after, secret, body) ||
		    !strcmp(list_after, list_before))
			abort(); /* not audited, a secret shown, or nothing added */
		free(added);
		if (reg_webhook_remove(reg, &admin, id, &v) != 0)
			abort();
		cJSON_Delete(v);
	} else {
		list_after = list_text();
		if (out || audit_seq() != seq || strcmp(list_after, list_before))
			abort(); /* a refused body left something behind */
	}
	free(list_before);
	free(list_after);
	cJSON_Delete(out);
	cJSON_Delete(body);
	return 0;
}

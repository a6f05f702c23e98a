/*
 * tokens.c - API tokens: creation with a scope and a lifetime, bearer
 * authentication, the scope test every model route applies, and the
 * in-memory record of each token's last use.
 *
 * Tokens are 32 random bytes (OpenSSL), shown once, stored only as their
 * SHA-256, and looked up by that hash with a constant-time final
 * comparison.  There is no lookup cache: every request reads the token's
 * row, so a revocation or an expiry counts from the very next request, in
 * this process and in any other reading the same database.  The row is
 * read even when revoked or expired so the server can log why a request
 * was refused; the client is told the same thing in every case.
 *
 * Writing last_used_at on every request would turn each read into a
 * database write.  Instead a successful authentication stamps the time in
 * a small hash table (one entry per token name that has been used, so it is
 * bounded by the tokens an admin created), and reg_token_flush_usage()
 * writes what moved since the last flush in one transaction; the server
 * calls it every --token-touch-interval and at shutdown.  reg_token_list()
 * shows the newer of the stored and the in-memory time.
 */
#define _GNU_SOURCE
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry/registry_int.h"
#include "util/json.h"

struct reg_usage_ent {
	reg_usage_ent *next;
	int64_t used;    /* last accepted request (ms) */
	int64_t flushed; /* value last written to the database */
	char name[];
};

static const char *const reason_names[REG_AUTH_REASONS] = {"ok",      "missing", "malformed",
							   "unknown", "revoked", "expired"};

const char *reg_auth_reason_name(reg_auth_reason why) { return why < REG_AUTH_REASONS ? reason_names[why] : "?"; }

static void token_hash(const char *token, char out[65]) { util_sha256_hex(token, strlen(token), out); }

/* ---- last use ---- */
static unsigned name_bucket(const char *s)
{
	unsigned h = 2166136261u; /* FNV-1a: spreading names, not a security boundary */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % REG_USAGE_BUCKETS;
}

static void usage_touch(reg_registry *r, const char *name, int64_t now)
{
	unsigned b = name_bucket(name);
	reg_usage_ent *e;
	pthread_mutex_lock(&r->usage_mu);
	for (e = r->usage[b]; e && strcmp(e->name, name) != 0; e = e->next)
		;
	if (!e && (e = calloc(1, sizeof(*e) + strlen(name) + 1))) {
		strcpy(e->name, name);
		e->next = r->usage[b];
		r->usage[b] = e;
	}
	if (e && now > e->used)
		e->used = now;
	pthread_mutex_unlock(&r->usage_mu);
}

static int64_t usage_get(reg_registry *r, const char *name)
{
	int64_t v = 0;
	pthread_mutex_lock(&r->usage_mu);
	for (reg_usage_ent *e = r->usage[name_bucket(name)]; e; e = e->next)
		if (!strcmp(e->name, name)) {
			v = e->used;
			break;
		}
	pthread_mutex_unlock(&r->usage_mu);
	return v;
}

void reg_token_usage_clear(reg_registry *r)
{
	for (int b = 0; b < REG_USAGE_BUCKETS; b++) {
		while (r->usage[b]) {
			reg_usage_ent *e = r->usage[b];
			r->usage[b] = e->next;
			free(e);
		}
	}
}

int reg_token_flush_usage(reg_registry *r, int *flushed)
{
	/* snapshot what moved, write it without holding the mutex (requests
	 * keep stamping meanwhile), then mark what was written */
	typedef struct {
		char *name;
		int64_t used;
	} pending;
	pending *p = NULL;
	size_t n = 0, cap = 0;
	reg_tx *tx = NULL;
	int rc = 0;
	if (flushed)
		*flushed = 0;
	pthread_mutex_lock(&r->usage_mu);
	for (int b = 0; b < REG_USAGE_BUCKETS; b++)
		for (reg_usage_ent *e = r->usage[b]; e; e = e->next) {
			if (e->used <= e->flushed)
				continue;
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 16;
				pending *np = realloc(p, nc * sizeof(*p));
				if (!np)
					break;
				p = np;
				cap = nc;
			}
			if (!(p[n].name = strdup(e->name)))
				break;
			p[n++].used = e->used;
		}
	pthread_mutex_unlock(&r->usage_mu);
	if (n == 0)
		goto done;
	if ((rc = META(r)->begin(r->meta, &tx)) < 0)
		goto done;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = META(r)->token_touch(tx, p[i].name, p[i].used);
	if (rc < 0) {
		META(r)->rollback(tx);
		goto done;
	}
	if ((rc = META(r)->commit(tx)) < 0)
		goto done;
	pthread_mutex_lock(&r->usage_mu);
	for (size_t i = 0; i < n; i++)
		for (reg_usage_ent *e = r->usage[name_bucket(p[i].name)]; e; e = e->next)
			if (!strcmp(e->name, p[i].name) && p[i].used > e->flushed)
				e->flushed = p[i].used;
	pthread_mutex_unlock(&r->usage_mu);
	if (flushed)
		*flushed = (int)n;
done:
	for (size_t i = 0; i < n; i++)
		free(p[i].name);
	free(p);
	return rc;
}

/* ---- authentication ---- */
int reg_authenticate_why(reg_registry *r, const char *token, reg_principal *out, reg_auth_reason *why)
{
	reg_token_row row;
	char hash[65];
	int64_t now = util_now_ms();
	int rc;
	*why = REG_AUTH_MALFORMED;
	memset(out, 0, sizeof(*out));
	if (!token || strncmp(token, "mlr_", 4) != 0 || strlen(token) > 200)
		return mlreg_error_set(MLREG_EAUTH, "invalid, expired or revoked token");
	token_hash(token, hash);
	if ((rc = META(r)->token_lookup(r->meta, hash, &row)) < 0) {
		*why = rc == MLREG_EAUTH ? REG_AUTH_UNKNOWN : REG_AUTH_OK; /* OK: not the token's fault */
		return rc;
	}
	if (row.revoked_at) {
		*why = REG_AUTH_REVOKED;
		return mlreg_error_set(MLREG_EAUTH, "invalid, expired or revoked token");
	}
	if (row.expires_at && now >= row.expires_at) {
		*why = REG_AUTH_EXPIRED;
		return mlreg_error_set(MLREG_EAUTH, "invalid, expired or revoked token");
	}
	if ((rc = reg_role_parse(row.role, &out->role)) < 0)
		return rc;
	snprintf(out->principal, sizeof(out->principal), "%s", row.principal);
	snprintf(out->token_name, sizeof(out->token_name), "%s", row.name);
	snprintf(out->models, sizeof(out->models), "%s", row.models);
	snprintf(out->stages, sizeof(out->stages), "%s", row.stages);
	usage_touch(r, row.name, now);
	*why = REG_AUTH_OK;
	return 0;
}

int reg_authenticate(reg_registry *r, const char *token, reg_principal *out)
{
	reg_auth_reason why;
	return reg_authenticate_why(r, token, out, &why);
}

/* ---- scope ---- */
bool reg_scope_models_limited(const reg_principal *who) { return who && who->models[0]; }
bool reg_scope_stages_limited(const reg_principal *who) { return who && who->stages[0]; }

static bool stage_listed(const char *list, const char *stage)
{
	size_t n = strlen(stage);
	for (const char *p = list; *p;) {
		const char *c = strchr(p, ',');
		size_t len = c ? (size_t)(c - p) : strlen(p);
		if (len == n && !strncmp(p, stage, n))
			return true;
		if (!c)
			break;
		p = c + 1;
	}
	return false;
}

bool reg_scope_allows(const reg_principal *who, const char *model, const char *stage)
{
	if (!who)
		return false;
	if (model && who->models[0] && fnmatch(who->models, model, 0) != 0)
		return false;
	if (stage && who->stages[0] && !stage_listed(who->stages, stage))
		return false;
	return true;
}

int reg_scope_check(const reg_principal *who, const char *model, const char *stage)
{
	if (model && who && who->models[0] && fnmatch(who->models, model, 0) != 0)
		return mlreg_error_set(MLREG_EFORBIDDEN, "forbidden: the token's scope does not cover this model");
	if (!reg_scope_allows(who, model, stage))
		return mlreg_error_set(MLREG_EFORBIDDEN, "forbidden: the token's scope does not cover this stage");
	return 0;
}

int reg_scope_glob_valid(const char *glob)
{
	size_t n = glob ? strlen(glob) : 0;
	if (n == 0 || n > 100)
		return mlreg_error_set(MLREG_EINVALID, "invalid models glob: use 1 to 100 characters");
	for (size_t i = 0; i < n; i++) {
		char c = glob[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("._/-*?[]!", c)))
			return mlreg_error_set(MLREG_EINVALID,
					       "invalid models glob '%s': use model-name characters [a-z0-9._/-] and *?[]!",
					       glob);
	}
	return 0;
}

/* The stages array of a scope as the stored comma list. */
static int stages_join(const cJSON *arr, char *out, size_t outsz)
{
	const cJSON *s;
	size_t len = 0;
	int count = 0;
	out[0] = '\0';
	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1 || cJSON_GetArraySize(arr) > 16)
		return mlreg_error_set(MLREG_EINVALID, "stages must be an array of 1 to 16 stage names");
	cJSON_ArrayForEach(s, arr)
	{
		if (!cJSON_IsString(s) || !util_label_name_valid(s->valuestring))
			return mlreg_error_set(MLREG_EINVALID, "invalid stage name '%s' in stages",
					       cJSON_IsString(s) ? s->valuestring : "(not a string)");
		if (stage_listed(out, s->valuestring))
			continue;
		if (len + strlen(s->valuestring) + 2 > outsz)
			return mlreg_error_set(MLREG_EINVALID, "stages list too long");
		len += (size_t)snprintf(out + len, outsz - len, "%s%s", count++ ? "," : "", s->valuestring);
	}
	return 0;
}

/* ---- creation, listing, revocation ---- */
static int new_token(char *out, size_t outsz)
{
	char body[64];
	int rc = util_random_token(body, sizeof(body), 32);
	if (rc == 0)
		snprintf(out, outsz, "mlr_%s", body);
	return rc;
}

int reg_token_insert_in(reg_registry *r, reg_tx *tx, const char *actor, const char *name, const char *role,
			const char *principal, const reg_token_scope *scope, char *token, size_t toksz)
{
	char hash[65], stages[256] = "";
	int64_t now = util_now_ms(), expires = 0;
	cJSON *d;
	int rc;
	if (scope && scope->stages && (rc = stages_join(scope->stages, stages, sizeof(stages))) < 0)
		return rc;
	if (scope && scope->models && (rc = reg_scope_glob_valid(scope->models)) < 0)
		return rc;
	if (scope && scope->expires_in_ms)
		expires = now + scope->expires_in_ms;
	if ((rc = new_token(token, toksz)) < 0)
		return rc;
	token_hash(token, hash);
	if ((rc = META(r)->token_insert(tx, name, principal, role, hash, actor, now, scope ? scope->models : NULL,
					stages, expires)) < 0)
		return rc;
	/* what the token may do and until when; never the token itself */
	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "role", role);
	cJSON_AddStringToObject(d, "principal", principal);
	if (scope && scope->models)
		cJSON_AddStringToObject(d, "models", scope->models);
	if (stages[0])
		cJSON_AddStringToObject(d, "stages", stages);
	if (expires)
		cJSON_AddNumberToObject(d, "expires_at", (double)expires);
	rc = reg_audit_append(r->meta, tx, actor, "token.create", name, NULL, d);
	cJSON_Delete(d);
	return rc;
}

static bool principal_valid(const char *p)
{
	size_t n = p ? strlen(p) : 0;
	if (n == 0 || n > 100)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("._-@+:", c)))
			return false;
	}
	return true;
}

/* "a,b" -> ["a","b"]; NULL stays JSON null */
static cJSON *stages_array(const char *list)
{
	cJSON *a;
	char *copy, *save = NULL;
	if (!list || !*list)
		return cJSON_CreateNull();
	a = cJSON_CreateArray();
	if (!(copy = strdup(list)))
		return a;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
		cJSON_AddItemToArray(a, cJSON_CreateString(t));
	free(copy);
	return a;
}

static void add_time_or_null(cJSON *o, const char *key, int64_t ms)
{
	char ts[40];
	if (ms <= 0) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	util_time_format(ms, ts, sizeof(ts));
	cJSON_AddStringToObject(o, key, ts);
}

int reg_token_create_scoped(reg_registry *r, const reg_principal *who, const char *name, const char *role,
			    const char *principal, const reg_token_scope *scope, cJSON **out)
{
	reg_role rl;
	reg_tx *tx = NULL;
	reg_token_row row;
	char token[96], stages[256] = "";
	int64_t before = util_now_ms();
	int rc;
	if (!principal_valid(name))
		return mlreg_error_set(MLREG_EINVALID, "invalid token name '%s': use letters, digits and ._-@+:", name ? name : "");
	if ((rc = reg_role_parse(role, &rl)) < 0)
		return rc;
	if (!principal)
		principal = name;
	if (!principal_valid(principal))
		return mlreg_error_set(MLREG_EINVALID, "invalid principal '%s'", principal);
	if (scope && scope->expires_in_ms < 0)
		return mlreg_error_set(MLREG_EINVALID, "expires_in must be a positive duration");
	if (scope && scope->stages && (rc = stages_join(scope->stages, stages, sizeof(stages))) < 0)
		return rc;
	if ((rc = META(r)->begin(r->meta, &tx)) < 0)
		return rc;
	if ((rc = reg_token_insert_in(r, tx, who->principal, name, role, principal, scope, token, sizeof(token))) < 0) {
		META(r)->rollback(tx);
		return rc;
	}
	if ((rc = META(r)->commit(tx)) < 0)
		return rc;
	*out = cJSON_CreateObject();
	cJSON_AddStringToObject(*out, "name", name);
	cJSON_AddStringToObject(*out, "role", role);
	cJSON_AddStringToObject(*out, "principal", principal);
	if (scope && scope->models)
		cJSON_AddStringToObject(*out, "models", scope->models);
	else
		cJSON_AddNullToObject(*out, "models");
	cJSON_AddItemToObject(*out, "stages", stages_array(stages));
	/* the stored expiry (the insert took its own now, a moment after before) */
	memset(&row, 0, sizeof(row));
	{
		char hash[65];
		token_hash(token, hash);
		if (META(r)->token_lookup(r->meta, hash, &row) < 0)
			row.expires_at = scope && scope->expires_in_ms ? before + scope->expires_in_ms : 0;
	}
	add_time_or_null(*out, "expires_at", row.expires_at);
	cJSON_AddStringToObject(*out, "token", token);
	return 0;
}

int reg_token_create(reg_registry *r, const reg_principal *who, const char *name, const char *role,
		     const char *principal, cJSON **out)
{
	return reg_token_create_scoped(r, who, name, role, principal, NULL, out);
}

int reg_token_list(reg_registry *r, cJSON **out)
{
	cJSON *t;
	int64_t now = util_now_ms();
	int rc = META(r)->token_list(r->meta, out);
	if (rc < 0)
		return rc;
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(*out, "tokens"))
	{
		const char *name = util_json_str(t, "name");
		cJSON *st = cJSON_GetObjectItemCaseSensitive(t, "stages");
		int64_t exp = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(t, "expires_at_ms"));
		int64_t used = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(t, "last_used_at_ms"));
		int64_t mem = name ? usage_get(r, name) : 0;
		bool revoked = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "revoked"));
		bool expired = exp > 0 && now >= exp;
		cJSON_ReplaceItemInObjectCaseSensitive(t, "stages",
						       stages_array(cJSON_IsString(st) ? st->valuestring : NULL));
		cJSON_DeleteItemFromObjectCaseSensitive(t, "expires_at_ms");
		cJSON_DeleteItemFromObjectCaseSensitive(t, "last_used_at_ms");
		add_time_or_null(t, "expires_at", exp);
		cJSON_AddBoolToObject(t, "expired", expired);
		add_time_or_null(t, "last_used_at", mem > used ? mem : used);
		cJSON_AddStringToObject(t, "status", revoked ? "revoked" : expired ? "expired" : "active");
	}
	return 0;
}

int reg_token_revoke(reg_registry *r, const reg_principal *who, const char *name, cJSON **out)
{
	reg_tx *tx = NULL;
	int rc;
	if ((rc = META(r)->begin(r->meta, &tx)) < 0)
		return rc;
	if ((rc = META(r)->token_revoke(tx, name, util_now_ms())) < 0 ||
	    (rc = reg_audit_append(r->meta, tx, who->principal, "token.revoke", name, NULL, NULL)) < 0) {
		META(r)->rollback(tx);
		return rc;
	}
	if ((rc = META(r)->commit(tx)) < 0)
		return rc;
	*out = cJSON_CreateObject();
	cJSON_AddStringToObject(*out, "name", name);
	cJSON_AddBoolToObject(*out, "revoked", true);
	return 0;
}

int reg_token_create_body(reg_registry *r, const reg_principal *who, const cJSON *body, cJSON **out)
{
	const cJSON *models, *stages, *exp;
	reg_token_scope scope = {0};
	int rc = 0;
	*out = NULL;
	if (!cJSON_IsObject(body))
		return mlreg_error_set(MLREG_EINVALID, "the body must be a JSON object");
	models = cJSON_GetObjectItemCaseSensitive(body, "models");
	stages = cJSON_GetObjectItemCaseSensitive(body, "stages");
	exp = cJSON_GetObjectItemCaseSensitive(body, "expires_in");
	if (models && !cJSON_IsNull(models) && !cJSON_IsString(models))
		return mlreg_error_set(MLREG_EINVALID, "models must be a glob string or null");
	if (exp && !cJSON_IsNull(exp) && !cJSON_IsString(exp))
		return mlreg_error_set(MLREG_EINVALID, "expires_in must be a duration string such as 30d, or null");
	if (cJSON_IsString(exp) && ((rc = util_duration_ms(exp->valuestring, &scope.expires_in_ms)) < 0 ||
				    scope.expires_in_ms < 1 || scope.expires_in_ms > 3650LL * 86400000))
		return mlreg_error_set(MLREG_EINVALID, "expires_in must be a duration from 1ms to 3650d");
	scope.models = cJSON_IsString(models) ? models->valuestring : NULL;
	scope.stages = stages && !cJSON_IsNull(stages) ? stages : NULL;
	return reg_token_create_scoped(r, who, util_json_str(body, "name"), util_json_str(body, "role"),
				       util_json_str(body, "principal"), &scope, out);
}

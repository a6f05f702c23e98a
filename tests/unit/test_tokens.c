/*
 * test_tokens.c - token scope, expiry, the reasons authentication fails, and
 * last use kept in memory and flushed (registry/tokens.c), on a real
 * registry in a temporary folder.
 *
 * The HTTP side of the same rules (403 before lookup, 429, logging) is in
 * tests/integration/t_tokens.sh and t_role_matrix.sh; here each rule is
 * checked at the registry call the routes use.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testreg.h"

static char *create(treg *t, const char *name, const char *role, const char *models, const char *stages_json,
		    int64_t expires_in_ms)
{
	cJSON *out = NULL, *stages = stages_json ? cJSON_Parse(stages_json) : NULL;
	reg_token_scope scope = {.models = models, .stages = stages, .expires_in_ms = expires_in_ms};
	char *tok;
	if (reg_token_create_scoped(t->r, &t->admin, name, role, NULL, &scope, &out) != 0)
		fail_msg("create %s: %s", name, mlreg_error_last());
	tok = strdup(util_json_str(out, "token"));
	cJSON_Delete(out);
	cJSON_Delete(stages);
	return tok;
}

static cJSON *listed(treg *t, const char *name)
{
	cJSON *list = NULL, *it, *found = NULL;
	assert_int_equal(reg_token_list(t->r, &list), 0);
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(list, "tokens"))
	{
		if (!strcmp(util_json_str(it, "name"), name))
			found = cJSON_Duplicate(it, 1);
	}
	cJSON_Delete(list);
	assert_non_null(found);
	return found;
}

static void scope_models_and_stages(void **state)
{
	treg *t = *state;
	reg_principal p;
	char *tok = create(t, "ci", "deployer", "fraud-*", "[\"staging\",\"canary\",\"staging\"]", 0);
	cJSON *l;
	assert_int_equal(reg_authenticate(t->r, tok, &p), 0);
	assert_string_equal(p.models, "fraud-*");
	assert_string_equal(p.stages, "staging,canary"); /* duplicates folded */
	assert_true(reg_scope_models_limited(&p) && reg_scope_stages_limited(&p));
	assert_true(reg_scope_allows(&p, "fraud-eu", NULL));
	assert_true(reg_scope_allows(&p, "fraud-eu/v2", "canary")); /* '*' crosses '/' */
	assert_false(reg_scope_allows(&p, "churn", NULL));
	assert_false(reg_scope_allows(&p, "fraud-eu", "production"));
	assert_false(reg_scope_allows(&p, "fraud-eu", "stag")); /* whole names only */
	assert_true(reg_scope_allows(&p, NULL, "staging"));
	assert_int_equal(reg_scope_check(&p, "churn", NULL), MLREG_EFORBIDDEN);
	assert_non_null(strstr(mlreg_error_last(), "scope"));
	assert_null(strstr(mlreg_error_last(), "churn")); /* names nothing */
	assert_int_equal(reg_scope_check(&p, "fraud-x", "production"), MLREG_EFORBIDDEN);
	assert_int_equal(reg_scope_check(&p, "fraud-x", "staging"), 0);
	l = listed(t, "ci");
	assert_string_equal(util_json_str(l, "models"), "fraud-*");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(l, "stages")), 2);
	assert_string_equal(util_json_str(l, "status"), "active");
	cJSON_Delete(l);
	free(tok);
	/* an unscoped principal (the zeroed struct) may do everything */
	memset(&p, 0, sizeof(p));
	assert_true(reg_scope_allows(&p, "anything", "production"));
	assert_false(reg_scope_models_limited(&p));
}

static void scope_validation(void **state)
{
	treg *t = *state;
	cJSON *out = NULL, *st;
	reg_token_scope scope = {0};
	static const char *const bad_globs[] = {"", "Fraud", "a b", "x;y", "a\\b", NULL};
	static const char *const bad_stages[] = {"[]", "[1]", "[\"Prod\"]", "\"staging\"", "[\"a,b\"]", NULL};
	for (int i = 0; bad_globs[i]; i++) {
		scope = (reg_token_scope){.models = bad_globs[i]};
		assert_int_equal(reg_token_create_scoped(t->r, &t->admin, "b", "reader", NULL, &scope, &out), MLREG_EINVALID);
	}
	assert_int_equal(reg_scope_glob_valid("team-a/*"), 0);
	assert_int_equal(reg_scope_glob_valid("[!x]?.v2"), 0);
	for (int i = 0; bad_stages[i]; i++) {
		st = cJSON_Parse(bad_stages[i]);
		scope = (reg_token_scope){.stages = st};
		assert_int_equal(reg_token_create_scoped(t->r, &t->admin, "b", "reader", NULL, &scope, &out), MLREG_EINVALID);
		cJSON_Delete(st);
	}
	scope = (reg_token_scope){.expires_in_ms = -5};
	assert_int_equal(reg_token_create_scoped(t->r, &t->admin, "b", "reader", NULL, &scope, &out), MLREG_EINVALID);
	/* nothing was created by the refusals */
	assert_int_equal(reg_token_list(t->r, &out), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(out, "tokens")), 1);
	cJSON_Delete(out);
}

static void expiry_and_reasons(void **state)
{
	treg *t = *state;
	reg_principal p;
	reg_auth_reason why;
	char *tok = create(t, "short", "reader", NULL, NULL, 150), *rv = create(t, "rv", "reader", NULL, NULL, 0);
	cJSON *l, *out = NULL;
	assert_int_equal(reg_authenticate_why(t->r, tok, &p, &why), 0);
	assert_int_equal(why, REG_AUTH_OK);
	usleep(200 * 1000);
	assert_int_equal(reg_authenticate_why(t->r, tok, &p, &why), MLREG_EAUTH);
	assert_int_equal(why, REG_AUTH_EXPIRED);
	l = listed(t, "short");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(l, "expired")));
	assert_string_equal(util_json_str(l, "status"), "expired");
	cJSON_Delete(l);
	assert_int_equal(reg_token_revoke(t->r, &t->admin, "rv", &out), 0);
	cJSON_Delete(out);
	assert_int_equal(reg_authenticate_why(t->r, rv, &p, &why), MLREG_EAUTH);
	assert_int_equal(why, REG_AUTH_REVOKED);
	assert_int_equal(reg_authenticate_why(t->r, "mlr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &p, &why), MLREG_EAUTH);
	assert_int_equal(why, REG_AUTH_UNKNOWN);
	assert_int_equal(reg_authenticate_why(t->r, "Basic xyz", &p, &why), MLREG_EAUTH);
	assert_int_equal(why, REG_AUTH_MALFORMED);
	/* one message for every reason, naming no token */
	assert_string_equal(mlreg_error_last(), "invalid, expired or revoked token");
	free(tok);
	free(rv);
}

static void last_use_in_memory_then_flushed(void **state)
{
	treg *t = *state;
	reg_principal p;
	char *tok = create(t, "lu", "reader", NULL, NULL, 0);
	int n = -1;
	cJSON *l = listed(t, "lu");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(l, "last_used_at")));
	cJSON_Delete(l);
	assert_int_equal(reg_authenticate(t->r, tok, &p), 0);
	l = listed(t, "lu"); /* shown before any flush */
	assert_true(cJSON_IsString(cJSON_GetObjectItem(l, "last_used_at")));
	cJSON_Delete(l);
	/* lu and the bootstrap admin (treg_new authenticated it) */
	assert_int_equal(reg_token_flush_usage(t->r, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(reg_token_flush_usage(t->r, &n), 0);
	assert_int_equal(n, 0); /* nothing moved: no write */
	/* a reopened registry (empty memory) reads the flushed value */
	reg_close(t->r);
	treg_open(t);
	l = listed(t, "lu");
	assert_true(cJSON_IsString(cJSON_GetObjectItem(l, "last_used_at")));
	cJSON_Delete(l);
	free(tok);
}

static void audit_names_scope_never_token(void **state)
{
	treg *t = *state;
	reg_audit_query q = {.limit = 100};
	cJSON *out = NULL;
	char *tok = create(t, "aud", "writer", "m*", "[\"staging\"]", 60000), *text;
	assert_int_equal(reg_audit_list(t->r, &q, &out), 0);
	text = cJSON_PrintUnformatted(out);
	assert_non_null(strstr(text, "\"models\":\"m*\""));
	assert_non_null(strstr(text, "\"stages\":\"staging\""));
	assert_non_null(strstr(text, "\"expires_at\":"));
	assert_null(strstr(text, tok));
	assert_null(strstr(text, tok + 8)); /* nor a piece of it */
	free(text);
	cJSON_Delete(out);
	free(tok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(scope_models_and_stages, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(scope_validation, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(expiry_and_reasons, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(last_use_in_memory_then_flushed, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(audit_names_scope_never_token, treg_setup, treg_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

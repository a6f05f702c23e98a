/*
 * test_registry.c - unit tests for opening a registry and for principals:
 * the data-directory lock, the bootstrap admin token, authentication,
 * token creation and revocation, and the role matrix.
 *
 * These run the real registry (SQLite store, filesystem blob store) on a
 * temporary folder, no HTTP: the properties under test - one server per
 * folder, a token file only its owner can read, a revoked token that stops
 * working at once - are properties of the registry itself.
 */
#include "testreg.h"

static void open_writes_bootstrap_token_0600(void **state)
{
	treg *t = *state;
	char path[700], *tok = NULL;
	struct stat st;
	size_t len = 0;
	snprintf(path, sizeof(path), "%s/admin.token", t->dir);
	assert_non_null(reg_bootstrap_token_path(t->r));
	assert_non_null(strstr(reg_bootstrap_token_path(t->r), "/admin.token"));
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(util_read_file(path, 4096, &tok, &len), 0);
	assert_int_equal(strncmp(tok, "mlr_", 4), 0);
	assert_int_equal(tok[len - 1], '\n');
	assert_int_equal(len, 4 + 43 + 1);
	free(tok);
	assert_string_equal(t->admin.principal, "admin");
	assert_string_equal(t->admin.token_name, "bootstrap-admin");
	assert_int_equal(t->admin.role, REG_ROLE_ADMIN);
}

static void second_open_conflicts_while_first_is_open(void **state)
{
	treg *t = *state;
	reg_registry *second = NULL;
	reg_config cfg = {.data_dir = t->dir};
	char path[700], *before = NULL, *after = NULL;
	assert_int_equal(reg_open(&cfg, &second), MLREG_ECONFLICT);
	assert_null(second);
	assert_non_null(strstr(mlreg_error_last(), "locked"));
	/* after the first closes, the folder opens again; no new bootstrap */
	snprintf(path, sizeof(path), "%s/admin.token", t->dir);
	assert_int_equal(util_read_file(path, 4096, &before, NULL), 0);
	reg_close(t->r);
	t->r = NULL;
	assert_int_equal(reg_open(&cfg, &second), 0);
	t->r = second; /* closed by the teardown */
	assert_null(reg_bootstrap_token_path(second));
	assert_int_equal(util_read_file(path, 4096, &after, NULL), 0);
	assert_string_equal(before, after);
	/* and the original token still works across the restart */
	before[strcspn(before, "\n")] = '\0';
	reg_principal p;
	assert_int_equal(reg_authenticate(second, before, &p), 0);
	assert_int_equal(p.role, REG_ROLE_ADMIN);
	free(before);
	free(after);
}

static void authenticate_refusals(void **state)
{
	treg *t = *state;
	reg_principal p;
	char long_tok[300];
	assert_int_equal(reg_authenticate(t->r, NULL, &p), MLREG_EAUTH);
	assert_int_equal(reg_authenticate(t->r, "", &p), MLREG_EAUTH);
	assert_int_equal(reg_authenticate(t->r, "mlr_", &p), MLREG_EAUTH);
	assert_int_equal(reg_authenticate(t->r, "mlr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &p), MLREG_EAUTH);
	assert_int_equal(reg_authenticate(t->r, "Bearer mlr_x", &p), MLREG_EAUTH);
	memset(long_tok, 'a', sizeof(long_tok) - 1);
	memcpy(long_tok, "mlr_", 4);
	long_tok[sizeof(long_tok) - 1] = '\0';
	assert_int_equal(reg_authenticate(t->r, long_tok, &p), MLREG_EAUTH);
}

static void token_create_authenticate_revoke(void **state)
{
	treg *t = *state;
	cJSON *out = NULL, *list = NULL;
	reg_principal p;
	char tok[128];
	assert_int_equal(reg_token_create(t->r, &t->admin, "ci", "writer", "ci-bot@example", &out), 0);
	assert_string_equal(util_json_str(out, "name"), "ci");
	assert_string_equal(util_json_str(out, "role"), "writer");
	snprintf(tok, sizeof(tok), "%s", util_json_str(out, "token"));
	cJSON_Delete(out);
	assert_int_equal(strncmp(tok, "mlr_", 4), 0);
	assert_int_equal(reg_authenticate(t->r, tok, &p), 0);
	assert_int_equal(p.role, REG_ROLE_WRITER);
	assert_string_equal(p.principal, "ci-bot@example");
	assert_string_equal(p.token_name, "ci");

	/* principal defaults to the token name */
	assert_int_equal(reg_token_create(t->r, &t->admin, "node-1", "node", NULL, &out), 0);
	assert_string_equal(util_json_str(out, "principal"), "node-1");
	cJSON_Delete(out);

	/* names are unique; roles and names are validated */
	out = NULL;
	assert_int_equal(reg_token_create(t->r, &t->admin, "ci", "reader", NULL, &out), MLREG_EEXISTS);
	assert_int_equal(reg_token_create(t->r, &t->admin, "x", "root", NULL, &out), MLREG_EINVALID);
	assert_int_equal(reg_token_create(t->r, &t->admin, "bad name", "reader", NULL, &out), MLREG_EINVALID);
	assert_int_equal(reg_token_create(t->r, &t->admin, "", "reader", NULL, &out), MLREG_EINVALID);
	assert_int_equal(reg_token_create(t->r, &t->admin, "y", "reader", "a/b", &out), MLREG_EINVALID);
	assert_null(out);

	/* revoke: the token stops working at once; a second revoke is not found */
	assert_int_equal(reg_token_revoke(t->r, &t->admin, "ci", &out), 0);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(out, "revoked")));
	cJSON_Delete(out);
	assert_int_equal(reg_authenticate(t->r, tok, &p), MLREG_EAUTH);
	assert_int_equal(reg_token_revoke(t->r, &t->admin, "ci", &out), MLREG_ENOTFOUND);
	assert_int_equal(reg_token_revoke(t->r, &t->admin, "never-made", &out), MLREG_ENOTFOUND);

	/* the list shows all three, never a token or its hash */
	assert_int_equal(reg_token_list(t->r, &list), 0);
	cJSON *arr = cJSON_GetObjectItem(list, "tokens");
	assert_int_equal(cJSON_GetArraySize(arr), 3);
	for (cJSON *e = arr->child; e; e = e->next) {
		assert_null(cJSON_GetObjectItem(e, "token"));
		assert_null(cJSON_GetObjectItem(e, "token_hash"));
		assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItem(e, "revoked")), !strcmp(util_json_str(e, "name"), "ci"));
	}
	char *text = cJSON_PrintUnformatted(list);
	assert_null(strstr(text, tok + 4));
	free(text);
	cJSON_Delete(list);
}

static void role_matrix(void **state)
{
	/* columns: READ, PULL, WRITE, DELETE, ADMIN (docs/security.md) */
	static const bool want[REG_ROLE_COUNT][5] = {
		[REG_ROLE_READER] = {1, 1, 0, 0, 0},   [REG_ROLE_WRITER] = {1, 1, 1, 0, 0},
		[REG_ROLE_APPROVER] = {1, 1, 0, 0, 0}, [REG_ROLE_DEPLOYER] = {1, 1, 0, 0, 0},
		[REG_ROLE_ADMIN] = {1, 1, 1, 1, 1},    [REG_ROLE_NODE] = {0, 1, 0, 0, 0},
	};
	for (int r = 0; r < REG_ROLE_COUNT; r++)
		for (int p = 0; p <= REG_PERM_ADMIN; p++)
			if (reg_role_allows((reg_role)r, (reg_perm)p) != want[r][p])
				fail_msg("role %s, permission %d: expected %d", reg_role_name((reg_role)r), p, want[r][p]);
	assert_false(reg_role_allows(REG_ROLE_COUNT, REG_PERM_READ));
	assert_false(reg_role_allows((reg_role)99, REG_PERM_PULL));
}

static void role_names_round_trip(void **state)
{
	static const char *names[] = {"reader", "writer", "approver", "deployer", "admin", "node"};
	reg_role r;
	for (int i = 0; i < REG_ROLE_COUNT; i++) {
		assert_int_equal(reg_role_parse(names[i], &r), 0);
		assert_int_equal(r, i);
		assert_string_equal(reg_role_name(r), names[i]);
	}
	r = REG_ROLE_NODE;
	assert_int_equal(reg_role_parse("Admin", &r), MLREG_EINVALID);
	assert_int_equal(reg_role_parse("", &r), MLREG_EINVALID);
	assert_int_equal(reg_role_parse(NULL, &r), MLREG_EINVALID);
	assert_int_equal(r, REG_ROLE_NODE);
	assert_string_equal(reg_role_name(REG_ROLE_COUNT), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(open_writes_bootstrap_token_0600, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(second_open_conflicts_while_first_is_open, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(authenticate_refusals, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(token_create_authenticate_revoke, treg_setup, treg_teardown),
		cmocka_unit_test(role_matrix),
		cmocka_unit_test(role_names_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * cmd_token.c - `mlreg token create|ls|revoke`: API tokens (admin).
 *
 * A token is shown exactly once, when it is created: the registry stores
 * only its SHA-256.  The text form therefore puts the token alone on stdout
 * (so `T=$(mlreg -q token create ci --role writer)` works) and the warning on
 * stderr.
 */
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "util/json.h"

enum { OPT_ROLE = 256, OPT_PRINCIPAL };

static const cli_option create_options[] = {
	{"role", OPT_ROLE, true},
	{"principal", OPT_PRINCIPAL, true},
	{NULL, 0, false},
};

static bool role_valid(const char *r)
{
	static const char *const roles[] = {"reader", "writer", "approver", "deployer", "admin", "node"};
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (!strcmp(r, roles[i]))
			return true;
	return false;
}

static int cmd_token_create_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_args a;
	cli_client *c = NULL;
	cli_response resp;
	cJSON *body = NULL;
	const char *name = NULL, *role = NULL, *principal = NULL, *token;
	int rc, error = 0;

	memset(&resp, 0, sizeof(resp));
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		if (rc == OPT_ROLE)
			role = a.value;
		else if (rc == OPT_PRINCIPAL)
			principal = a.value;
		else if (rc == CLI_ARGS_POS && !name)
			name = a.value;
		else if (rc == CLI_ARGS_POS)
			error = cli_usage_error(self->name, "unexpected argument '%s'", a.value);
		else
			error = rc;
		if (error < 0)
			goto done;
	}
	if (!name || !role) {
		error = cli_usage_error(self->name, "expected NAME and --role ROLE");
		goto done;
	}
	if (!role_valid(role)) {
		error = cli_usage_error(self->name,
					"invalid role '%s': use reader, writer, approver, deployer, admin or node", role);
		goto done;
	}
	if (!(body = cJSON_CreateObject()) || !cJSON_AddStringToObject(body, "name", name) ||
	    !cJSON_AddStringToObject(body, "role", role) ||
	    (principal && !cJSON_AddStringToObject(body, "principal", principal))) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	if ((error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_json(c, "POST", "/api/v1/tokens", body, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot create token '%s'", name);
		goto done;
	}
	token = util_json_str(resp.body, "token");
	if (!token) {
		error = mlreg_error_set(MLREG_EIO, "registry did not return the token");
		goto done;
	}
	if (cfg->json) {
		error = cli_print_json(resp.body);
		goto done;
	}
	printf("%s\n", token);
	if (!cfg->quiet)
		fprintf(stderr, "created token '%s' for principal '%s' with role %s\n"
				"warning: the token is shown only once; store it now\n",
			cli_json_text(resp.body, "name", name), cli_json_text(resp.body, "principal", principal ? principal : name),
			cli_json_text(resp.body, "role", role));
done:
	cJSON_Delete(body);
	cli_response_release(&resp);
	cli_client_free(c);
	return error;
}

static int no_args(const cli_cmd_entry *self, int argc, char **argv)
{
	return cli_args_positionals(self, argc, argv, NULL, 0, "");
}

static int cmd_token_ls_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	static const char *const head[] = {"NAME", "ROLE", "PRINCIPAL", "CREATED", "REVOKED"};
	cli_client *c = NULL;
	cli_response resp;
	cli_table t;
	const cJSON *tok;
	int error;

	memset(&resp, 0, sizeof(resp));
	cli_table_init(&t, 5);
	if ((error = no_args(self, argc, argv)) < 0 || (error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_json(c, "GET", "/api/v1/tokens", NULL, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot list tokens");
		goto done;
	}
	if (cfg->json) {
		error = cli_print_json(resp.body);
		goto done;
	}
	if ((error = cli_table_add(&t, head)) < 0)
		goto done;
	cJSON_ArrayForEach(tok, cJSON_GetObjectItemCaseSensitive(resp.body, "tokens"))
	{
		const char *row[5];
		row[0] = cli_json_text(tok, "name", "?");
		row[1] = cli_json_text(tok, "role", "?");
		row[2] = cli_json_text(tok, "principal", "-");
		row[3] = cli_json_text(tok, "created_at", "-");
		row[4] = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(tok, "revoked")) ? "yes" : "no";
		if ((error = cli_table_add(&t, row)) < 0)
			goto done;
	}
	cli_table_print(&t, stdout);
done:
	cli_table_release(&t);
	cli_response_release(&resp);
	cli_client_free(c);
	return error;
}

static int cmd_token_revoke_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_args a;
	cli_client *c = NULL;
	cli_response resp;
	util_buf path;
	const char *name = NULL;
	char *e = NULL;
	int rc, error = 0;

	memset(&resp, 0, sizeof(resp));
	util_buf_init(&path, 4096);
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		if (rc != CLI_ARGS_POS)
			error = rc;
		else if (name)
			error = cli_usage_error(self->name, "unexpected argument '%s'", a.value);
		else
			name = a.value;
		if (error < 0)
			goto done;
	}
	if (!name) {
		error = cli_usage_error(self->name, "expected NAME");
		goto done;
	}
	if (!(e = cli_escape(name)) || util_buf_printf(&path, "/api/v1/tokens/%s", e) < 0) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	if ((error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_json(c, "DELETE", path.ptr, NULL, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot revoke token '%s'", name);
		goto done;
	}
	if (cfg->json)
		error = cli_print_json(resp.body);
	else
		printf("revoked token '%s'\n", name);
done:
	free(e);
	cli_response_release(&resp);
	cli_client_free(c);
	util_buf_release(&path);
	return error;
}

const cli_cmd_entry cli_cmd_token_create_entry = {
	.name = "token create",
	.usage = "NAME --role ROLE [--principal P]",
	.summary = "create an API token (admin); it is shown once",
	.help = "options:\n"
		"  --role ROLE       reader, writer, approver, deployer, admin or node\n"
		"  --principal P     the person or service it acts for (default: NAME)\n"
		"output: the token alone on stdout; a warning on stderr\n"
		"--json: {\"name\",\"role\",\"principal\",\"token\"}\n",
	.options = create_options,
	.exec = cmd_token_create_exec,
};

const cli_cmd_entry cli_cmd_token_ls_entry = {
	.name = "token ls",
	.usage = "",
	.summary = "list API tokens (admin)",
	.help = "--json: {\"tokens\":[{\"name\",\"role\",\"principal\",\"created_at\",\"revoked\"}]}\n",
	.exec = cmd_token_ls_exec,
};

const cli_cmd_entry cli_cmd_token_revoke_entry = {
	.name = "token revoke",
	.usage = "NAME",
	.summary = "revoke an API token (admin)",
	.help = "--json: {\"name\",\"revoked\":true}\n",
	.exec = cmd_token_revoke_exec,
};

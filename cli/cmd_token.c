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

enum { OPT_ROLE = 256, OPT_PRINCIPAL, OPT_MODELS, OPT_STAGES, OPT_EXPIRES };

static const cli_option create_options[] = {
	{"role", OPT_ROLE, true},
	{"principal", OPT_PRINCIPAL, true},
	{"models", OPT_MODELS, true},
	{"stages", OPT_STAGES, true},
	{"expires", OPT_EXPIRES, true},
	{NULL, 0, false},
};

/* "staging,production" -> ["staging","production"]; empty items refused */
static int stages_body(const char *list, cJSON *body)
{
	cJSON *arr = cJSON_AddArrayToObject(body, "stages");
	const char *p = list;
	if (!arr)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	for (;;) {
		const char *c = strchr(p, ',');
		size_t n = c ? (size_t)(c - p) : strlen(p);
		char item[64];
		if (n == 0 || n >= sizeof(item))
			return cli_usage_error("token create", "invalid --stages '%s': use a comma-separated list of stages", list);
		memcpy(item, p, n);
		item[n] = '\0';
		cJSON_AddItemToArray(arr, cJSON_CreateString(item));
		if (!c)
			return 0;
		p = c + 1;
	}
}

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
	const char *models = NULL, *stages = NULL, *expires = NULL;
	int64_t exp_ms = 0;
	int rc, error = 0;

	memset(&resp, 0, sizeof(resp));
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		if (rc == OPT_ROLE)
			role = a.value;
		else if (rc == OPT_PRINCIPAL)
			principal = a.value;
		else if (rc == OPT_MODELS)
			models = a.value;
		else if (rc == OPT_STAGES)
			stages = a.value;
		else if (rc == OPT_EXPIRES)
			expires = a.value;
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
	if (expires && (util_duration_ms(expires, &exp_ms) < 0 || exp_ms < 1)) {
		error = cli_usage_error(self->name, "invalid --expires '%s': use a duration such as 12h or 30d", expires);
		goto done;
	}
	if (!(body = cJSON_CreateObject()) || !cJSON_AddStringToObject(body, "name", name) ||
	    !cJSON_AddStringToObject(body, "role", role) ||
	    (principal && !cJSON_AddStringToObject(body, "principal", principal)) ||
	    (models && !cJSON_AddStringToObject(body, "models", models)) ||
	    (expires && !cJSON_AddStringToObject(body, "expires_in", expires))) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	if (stages && (error = stages_body(stages, body)) < 0)
		goto done;
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
		fprintf(stderr, "created token '%s' for principal '%s' with role %s%s%s%s%s%s%s\n"
				"warning: the token is shown only once; store it now\n",
			cli_json_text(resp.body, "name", name), cli_json_text(resp.body, "principal", principal ? principal : name),
			cli_json_text(resp.body, "role", role), models ? ", models " : "", models ? models : "",
			stages ? ", stages " : "", stages ? stages : "", expires ? ", expires " : "",
			expires ? cli_json_text(resp.body, "expires_at", expires) : "");
done:
	cJSON_Delete(body);
	cli_response_release(&resp);
	cli_client_free(c);
	return error;
}

static void token_row(const cJSON *tok, const char **row, char buf[CLI_ROW_BUFS][CLI_ROW_BUF])
{
	char *stages = buf[0];
	const cJSON *st;
	stages[0] = 0;
	cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(tok, "stages"))
	{
		if (cJSON_IsString(st) && strlen(stages) + strlen(st->valuestring) + 2 < CLI_ROW_BUF) {
			if (stages[0])
				strcat(stages, ",");
			strcat(stages, st->valuestring);
		}
	}
	row[0] = cli_json_text(tok, "name", "?");
	row[1] = cli_json_text(tok, "role", "?");
	row[2] = cli_json_text(tok, "principal", "-");
	row[3] = cli_json_text(tok, "models", "*");
	row[4] = stages[0] ? stages : "*";
	row[5] = cli_json_text(tok, "expires_at", "never");
	row[6] = cli_json_text(tok, "status", "?");
	row[7] = cli_json_text(tok, "last_used_at", "never");
	row[8] = cli_json_text(tok, "created_at", "-");
}

static int cmd_token_ls_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	static const char *const head[] = {"NAME",    "ROLE",    "PRINCIPAL", "MODELS",   "STAGES",
					   "EXPIRES", "STATUS",  "LAST USED", "CREATED"};
	return cli_list_table(self, cfg, argc, argv, "/api/v1/tokens", "tokens", "tokens", head, 9, token_row);
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
	.usage = "NAME --role ROLE [--principal P] [--models GLOB] [--stages A,B] [--expires DUR]",
	.summary = "create an API token (admin); it is shown once",
	.help = "options:\n"
		"  --role ROLE       reader, writer, approver, deployer, admin or node\n"
		"  --principal P     the person or service it acts for (default: NAME)\n"
		"  --models GLOB     only models whose name matches GLOB (fnmatch: * ? [..]; '*' crosses '/')\n"
		"  --stages A,B      stage-directed moves (promote, rollback, approve, deployments) only to\n"
		"                    these stages; such a token cannot move aliases\n"
		"  --expires DUR     refused after DUR (e.g. 12h, 30d, 500ms)\n"
		"output: the token alone on stdout; a warning on stderr\n"
		"--json: {\"name\",\"role\",\"principal\",\"models\",\"stages\",\"expires_at\",\"token\"}\n",
	.options = create_options,
	.exec = cmd_token_create_exec,
};

const cli_cmd_entry cli_cmd_token_ls_entry = {
	.name = "token ls",
	.usage = "",
	.summary = "list API tokens (admin)",
	.help = "STATUS is active, expired or revoked; LAST USED may lag by up to the server's\n"
		"--token-touch-interval only when the server restarted uncleanly\n"
		"--json: {\"tokens\":[{\"name\",\"role\",\"principal\",\"created_at\",\"created_by\",\"revoked\",\n"
		"        \"models\",\"stages\",\"expires_at\",\"expired\",\"last_used_at\",\"status\"}]}\n",
	.exec = cmd_token_ls_exec,
};

const cli_cmd_entry cli_cmd_token_revoke_entry = {
	.name = "token revoke",
	.usage = "NAME",
	.summary = "revoke an API token (admin)",
	.help = "--json: {\"name\",\"revoked\":true}\n",
	.exec = cmd_token_revoke_exec,
};

/*
 * cmd_alias.c - `mlreg alias set MODEL@ALIAS VERSION` and `mlreg alias rm
 * MODEL@ALIAS`: free pointers such as champion and challenger.
 *
 * Unlike stages, aliases pass no gate: moving one is a deployer's decision,
 * recorded in the model's history and the audit log by the registry.  The
 * target is a version number here (the API also takes a ref, but an alias
 * that silently follows "whatever staging holds right now" is a surprise
 * in a pipeline); the text output names the move, old -> new, so a log
 * line says what changed.
 */
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "util/json.h"

enum { OPT_COMMENT = 256 };

static const cli_option set_options[] = {
	{"comment", OPT_COMMENT, true},
	{NULL, 0, false},
};

/* MODEL@ALIAS -> ref (kind alias) and the path of that alias. */
static int alias_target(const char *cmd, const char *s, util_ref *ref, util_buf *path)
{
	util_buf suffix;
	int error;
	if (util_ref_parse(s, ref) < 0 || ref->kind != UTIL_REF_ALIAS)
		return cli_usage_error(cmd, "invalid alias '%s': expected MODEL@ALIAS (e.g. fraud@champion)", s);
	util_buf_init(&suffix, 256);
	if ((error = util_buf_printf(&suffix, "/aliases/%s", ref->label)) == 0)
		error = cli_model_path(path, ref->model, suffix.ptr);
	util_buf_release(&suffix);
	return error;
}

/* "2" or "none" for a version field that may be null. */
static const char *version_text(const cJSON *obj, const char *key, char buf[32])
{
	int64_t v;
	if (util_json_i64(obj, key, &v) < 0)
		return "none";
	snprintf(buf, 32, "%lld", (long long)v);
	return buf;
}

static int cmd_alias_set_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_args a;
	cli_client *c = NULL;
	cli_response resp;
	util_ref ref;
	util_buf path;
	const char *pos[2] = {NULL, NULL}, *comment = NULL;
	cJSON *body = NULL;
	int64_t version;
	int n = 0, rc, error = 0;
	char from[32], to[32];

	memset(&resp, 0, sizeof(resp));
	util_buf_init(&path, 4096);
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		if (rc == OPT_COMMENT)
			comment = a.value;
		else if (rc == CLI_ARGS_POS && n < 2)
			pos[n++] = a.value;
		else if (rc == CLI_ARGS_POS)
			error = cli_usage_error(self->name, "unexpected argument '%s'", a.value);
		else
			error = rc;
		if (error < 0)
			goto done;
	}
	if (n != 2) {
		error = cli_usage_error(self->name, "expected MODEL@ALIAS and VERSION");
		goto done;
	}
	if ((error = alias_target(self->name, pos[0], &ref, &path)) < 0)
		goto done;
	if (util_parse_i64(pos[1], &version) < 0 || version < 1) {
		error = cli_usage_error(self->name, "invalid version '%s': expected a version number", pos[1]);
		goto done;
	}
	if (!(body = cJSON_CreateObject()) || !cJSON_AddNumberToObject(body, "version", (double)version) ||
	    (comment && !cJSON_AddStringToObject(body, "comment", comment))) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	if ((error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_json(c, "PUT", path.ptr, body, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot set alias '%s'", pos[0]);
		goto done;
	}
	if (cfg->json)
		error = cli_print_json(resp.body);
	else
		printf("alias %s@%s: %s -> %s\n", ref.model, ref.label, version_text(resp.body, "from", from),
		       version_text(resp.body, "version", to));
done:
	cJSON_Delete(body);
	cli_response_release(&resp);
	cli_client_free(c);
	util_buf_release(&path);
	return error;
}

static int cmd_alias_rm_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_client *c = NULL;
	cli_response resp;
	util_ref ref;
	util_buf path;
	const char *target = NULL;
	char from[32];
	int error;

	memset(&resp, 0, sizeof(resp));
	util_buf_init(&path, 4096);
	if ((error = cli_args_positionals(self, argc, argv, &target, 1, "expected MODEL@ALIAS")) < 0 ||
	    (error = alias_target(self->name, target, &ref, &path)) < 0 || (error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_json(c, "DELETE", path.ptr, NULL, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot remove alias '%s'", target);
		goto done;
	}
	if (cfg->json)
		error = cli_print_json(resp.body);
	else
		printf("alias %s@%s: %s -> none\n", ref.model, ref.label, version_text(resp.body, "from", from));
done:
	cli_response_release(&resp);
	cli_client_free(c);
	util_buf_release(&path);
	return error;
}

const cli_cmd_entry cli_cmd_alias_set_entry = {
	.name = "alias set",
	.usage = "MODEL@ALIAS VERSION [--comment TEXT]",
	.summary = "point an alias (champion, challenger, ...) at a version (deployer)",
	.help = "options:\n"
		"  --comment TEXT   recorded in the model's history\n"
		"output: alias MODEL@ALIAS: OLD -> NEW ('none' when it was unset)\n"
		"--json: {\"model\",\"alias\",\"version\",\"from\"}\n",
	.options = set_options,
	.exec = cmd_alias_set_exec,
};

const cli_cmd_entry cli_cmd_alias_rm_entry = {
	.name = "alias rm",
	.usage = "MODEL@ALIAS",
	.summary = "remove an alias (deployer)",
	.help = "An unset alias is exit 5.\n"
		"output: alias MODEL@ALIAS: OLD -> none\n"
		"--json: {\"model\",\"alias\",\"from\"}\n",
	.exec = cmd_alias_rm_exec,
};

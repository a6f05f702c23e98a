/*
 * cmd_history.c - `mlreg history MODEL [--stage S] [--alias A]`: every move
 * of a model's stages and aliases, oldest first, with who and why.
 *
 * Every page is fetched (following next_page_token) before anything is
 * printed, so the table's columns fit and --json is one document; a model's
 * history is small (a move per release), unlike the audit log.
 */
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "util/json.h"

enum { OPT_STAGE = 256, OPT_ALIAS };

static const cli_option history_options[] = {
	{"stage", OPT_STAGE, true},
	{"alias", OPT_ALIAS, true},
	{NULL, 0, false},
};

static const char *num_or_none(const cJSON *obj, const char *key, char buf[32])
{
	int64_t v;
	if (util_json_i64(obj, key, &v) < 0)
		return "none";
	snprintf(buf, 32, "%lld", (long long)v);
	return buf;
}

static int print_history(const cJSON *moves)
{
	static const char *const head[] = {"TIME", "TARGET", "KIND", "FROM -> TO", "ACTOR", "COMMENT"};
	cli_table t;
	const cJSON *m;
	int error;
	cli_table_init(&t, 6);
	error = cli_table_add(&t, head);
	cJSON_ArrayForEach(m, moves)
	{
		char target[80], from[32], to[32], move[80];
		const char *row[6];
		bool alias = !strcmp(cli_json_text(m, "target", "stage"), "alias");
		if (error < 0)
			break;
		if (alias)
			snprintf(target, sizeof(target), "@%s", cli_json_text(m, "alias", "?"));
		else
			snprintf(target, sizeof(target), "%s", cli_json_text(m, "stage", "?"));
		snprintf(move, sizeof(move), "%s -> %s", num_or_none(m, "from", from), num_or_none(m, "to", to));
		row[0] = cli_json_text(m, "time", "-");
		row[1] = target;
		row[2] = cli_json_text(m, "kind", "-");
		row[3] = move;
		row[4] = cli_json_text(m, "actor", "-");
		row[5] = util_json_str(m, "comment") && *util_json_str(m, "comment") ? util_json_str(m, "comment") : "-";
		error = cli_table_add(&t, row);
	}
	if (error == 0)
		cli_table_print(&t, stdout);
	cli_table_release(&t);
	return error;
}

static int cmd_history_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_args a;
	cli_client *c = NULL;
	util_buf path;
	const char *model = NULL, *stage = NULL, *alias = NULL;
	cJSON *moves = NULL, *out = NULL;
	int rc, error = 0;

	util_buf_init(&path, 4096);
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		if (rc == OPT_STAGE)
			error = cli_label_check(self->name, "stage", stage = a.value);
		else if (rc == OPT_ALIAS)
			/* "@champion" is how aliases are written elsewhere: take it too */
			error = cli_label_check(self->name, "alias", alias = a.value + (a.value[0] == '@'));
		else if (rc == CLI_ARGS_POS && !model)
			model = a.value;
		else if (rc == CLI_ARGS_POS)
			error = cli_usage_error(self->name, "unexpected argument '%s'", a.value);
		else
			error = rc;
		if (error < 0)
			goto done;
	}
	if (!model) {
		error = cli_usage_error(self->name, "expected MODEL");
		goto done;
	}
	if (!util_model_name_valid(model)) {
		error = cli_usage_error(self->name, "invalid model name '%s'", model);
		goto done;
	}
	if ((error = cli_model_path(&path, model, "/history")) < 0 ||
	    (stage && (error = cli_query_add(&path, "stage", stage)) < 0) ||
	    (alias && (error = cli_query_add(&path, "alias", alias)) < 0) || (error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_get_all(c, path.ptr, "history", &moves)) < 0) {
		error = cli_error_wrap(error, "cannot read the history of '%s'", model);
		goto done;
	}
	if (!cfg->json) {
		error = print_history(moves);
		goto done;
	}
	if (!(out = cJSON_CreateObject()) || !cJSON_AddStringToObject(out, "model", model) ||
	    !cJSON_AddItemToObject(out, "history", moves)) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	moves = NULL;
	error = cli_print_json(out);
done:
	cJSON_Delete(moves);
	cJSON_Delete(out);
	cli_client_free(c);
	util_buf_release(&path);
	return error;
}

const cli_cmd_entry cli_cmd_history_entry = {
	.name = "history",
	.usage = "MODEL [--stage S] [--alias A]",
	.summary = "show the moves of a model's stages and aliases, oldest first",
	.help = "options:\n"
		"  --stage S   only the moves of stage S\n"
		"  --alias A   only the moves of alias A ('@A' works too)\n"
		"output: a table TIME, TARGET (stage or @alias), KIND (promote, rollback, set,\n"
		"        remove), FROM -> TO, ACTOR, COMMENT\n"
		"--json: {\"model\",\"history\":[{\"id\",\"target\",\"stage\"|\"alias\",\"kind\",\"from\",\"to\",\n"
		"        \"actor\",\"time\",\"comment\"}]} (every page)\n",
	.options = history_options,
	.exec = cmd_history_exec,
};

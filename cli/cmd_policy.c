/*
 * cmd_policy.c - `mlreg policy set|show|rm`: the gate policy of a (model or
 * `*`, stage) pair, which `gate` and `promote` evaluate.
 *
 * `set` replaces the whole policy in one PUT, so the command line is the
 * complete policy and re-running it is idempotent; what is not given is
 * off.  Metric thresholds are parsed here with util_expr_parse, the grammar
 * the registry and the rollout analysis use, so a typo such as `acc=>0.9`
 * is exit 2 before any request, and the registry sees the text as written.
 */
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "util/expr.h"
#include "util/json.h"

enum { OPT_STAGE = 256, OPT_FROM, OPT_METRIC, OPT_APPROVALS, OPT_SIGNATURE, OPT_SOAK, OPT_SAME_SCHEMA };

static const cli_option set_options[] = {
	{"stage", OPT_STAGE, true},
	{"from", OPT_FROM, true},
	{"metric", OPT_METRIC, true},
	{"approvals", OPT_APPROVALS, true},
	{"require-signature", OPT_SIGNATURE, false},
	{"soak", OPT_SOAK, true},
	{"same-schema", OPT_SAME_SCHEMA, false},
	{NULL, 0, false},
};

static const cli_option rm_options[] = {
	{"stage", OPT_STAGE, true},
	{NULL, 0, false},
};

/* MODEL or '*': checked, then "/api/v1/policies/<model>/<stage>". */
static int policy_path(const char *cmd, const char *model, const char *stage, util_buf *path)
{
	char *e;
	int error;
	if (strcmp(model, "*") != 0 && !util_model_name_valid(model))
		return cli_usage_error(cmd, "invalid model name '%s' (use a model name or '*' for every model)", model);
	if ((error = cli_label_check(cmd, "stage", stage)) < 0)
		return error;
	/* '*' goes as is: the registry's route names it so, unescaped */
	if (!(e = strcmp(model, "*") ? cli_escape(model) : strdup("*")))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	error = util_buf_printf(path, "/api/v1/policies/%s/%s", e, stage);
	free(e);
	return error;
}

static void print_policy(const cJSON *p)
{
	const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(p, "metrics"), *m;
	const char *from = util_json_str(p, "from"), *soak = util_json_str(p, "soak");
	int64_t approvals = cli_json_int(p, "approvals", 0);
	bool any = false;
	printf("policy %s, stage %s\n", cli_json_text(p, "model", "?"), cli_json_text(p, "stage", "?"));
	if (from) {
		printf("  from        %s (held now or before)\n", from);
		any = true;
	}
	if (soak) {
		printf("  soak        %s since it entered %s\n", soak, from ? from : "the previous stage");
		any = true;
	}
	cJSON_ArrayForEach(m, metrics)
	{
		if (cJSON_IsString(m)) {
			printf("  metric      %s\n", m->valuestring);
			any = true;
		}
	}
	if (approvals > 0) {
		printf("  approvals   %lld (distinct principals, not the pusher)\n", (long long)approvals);
		any = true;
	}
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "require_signature"))) {
		printf("  signature   required\n");
		any = true;
	}
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "same_schema"))) {
		printf("  same_schema I/O schema equal to the current holder's\n");
		any = true;
	}
	if (!any)
		printf("  (no checks beyond status)\n");
	if (util_json_str(p, "updated_at"))
		printf("  updated     %s by %s\n", util_json_str(p, "updated_at"), cli_json_text(p, "updated_by", "?"));
}

static int add_metric(const char *cmd, cJSON *list, const char *s)
{
	util_expr e;
	if (util_expr_parse(s, true, &e) < 0)
		return cli_usage_error(cmd, "invalid --metric: %s", mlreg_error_last());
	if (!cJSON_AddItemToArray(list, cJSON_CreateString(s)))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	return 0;
}

static int cmd_policy_set_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_args a;
	cli_client *c = NULL;
	cli_response resp;
	util_buf path;
	const char *model = NULL, *stage = NULL, *from = NULL, *soak = NULL;
	cJSON *body = cJSON_CreateObject(), *metrics = body ? cJSON_AddArrayToObject(body, "metrics") : NULL;
	int64_t approvals = 0, soak_ms;
	bool signature = false, same_schema = false;
	int rc, error = 0;

	memset(&resp, 0, sizeof(resp));
	util_buf_init(&path, 4096);
	if (!metrics) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		switch (rc) {
		case OPT_STAGE: stage = a.value; break;
		case OPT_FROM: error = cli_label_check(self->name, "stage", from = a.value); break;
		case OPT_METRIC: error = add_metric(self->name, metrics, a.value); break;
		case OPT_APPROVALS:
			if (util_parse_i64(a.value, &approvals) < 0 || approvals < 0 || approvals > 1000)
				error = cli_usage_error(self->name, "invalid --approvals '%s': expected a number 0..1000", a.value);
			break;
		case OPT_SIGNATURE: signature = true; break;
		case OPT_SOAK:
			if (util_duration_ms(a.value, &soak_ms) < 0 || soak_ms < 0)
				error = cli_usage_error(self->name, "invalid --soak '%s': expected a duration (30m, 24h, 7d)",
							a.value);
			soak = a.value;
			break;
		case OPT_SAME_SCHEMA: same_schema = true; break;
		case CLI_ARGS_POS:
			if (model)
				error = cli_usage_error(self->name, "unexpected argument '%s'", a.value);
			model = a.value;
			break;
		default: error = rc; break;
		}
		if (error < 0)
			goto done;
	}
	if (!model || !stage) {
		error = cli_usage_error(self->name, "expected MODEL (or '*') and --stage STAGE");
		goto done;
	}
	if (soak && !from) {
		error = cli_usage_error(self->name, "--soak needs --from: soak time counts from entering that stage");
		goto done;
	}
	if ((error = policy_path(self->name, model, stage, &path)) < 0)
		goto done;
	if ((from && !cJSON_AddStringToObject(body, "from", from)) ||
	    !cJSON_AddNumberToObject(body, "approvals", (double)approvals) ||
	    !cJSON_AddBoolToObject(body, "require_signature", signature) ||
	    (soak && !cJSON_AddStringToObject(body, "soak", soak)) ||
	    !cJSON_AddBoolToObject(body, "same_schema", same_schema)) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	if ((error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_json(c, "PUT", path.ptr, body, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot set the policy of '%s' for stage '%s'", model, stage);
		goto done;
	}
	if (cfg->json)
		error = cli_print_json(resp.body);
	else
		print_policy(resp.body);
done:
	cJSON_Delete(body);
	cli_response_release(&resp);
	cli_client_free(c);
	util_buf_release(&path);
	return error;
}

static int cmd_policy_show_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_args a;
	cli_client *c = NULL;
	cli_response resp;
	util_buf path;
	const char *model = NULL;
	const cJSON *list, *p;
	int rc, error = 0;

	memset(&resp, 0, sizeof(resp));
	util_buf_init(&path, 4096);
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		if (rc != CLI_ARGS_POS)
			error = rc;
		else if (model)
			error = cli_usage_error(self->name, "unexpected argument '%s'", a.value);
		else if (!util_model_name_valid(a.value))
			error = cli_usage_error(self->name, "invalid model name '%s'", a.value);
		else
			model = a.value;
		if (error < 0)
			goto done;
	}
	if ((error = util_buf_puts(&path, "/api/v1/policies")) < 0 ||
	    (model && (error = cli_query_add(&path, "model", model)) < 0) || (error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_json(c, "GET", path.ptr, NULL, &resp)) < 0) {
		error = model ? cli_error_wrap(error, "cannot read the policies of '%s'", model)
			      : cli_error_wrap(error, "cannot read the policies");
		goto done;
	}
	list = cJSON_GetObjectItemCaseSensitive(resp.body, "policies");
	if (!cJSON_IsArray(list)) {
		error = mlreg_error_set(MLREG_EIO, "registry answer lacks 'policies'");
		goto done;
	}
	if (cfg->json) {
		error = cli_print_json(resp.body);
		goto done;
	}
	if (!list->child)
		printf("no policies%s%s: every stage takes any ready version\n", model ? " apply to " : "",
		       model ? model : "");
	cJSON_ArrayForEach(p, list)
	{
		if (p != list->child)
			printf("\n");
		print_policy(p);
	}
done:
	cli_response_release(&resp);
	cli_client_free(c);
	util_buf_release(&path);
	return error;
}

static int cmd_policy_rm_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_args a;
	cli_client *c = NULL;
	cli_response resp;
	util_buf path;
	const char *model = NULL, *stage = NULL;
	int rc, error = 0;

	memset(&resp, 0, sizeof(resp));
	util_buf_init(&path, 4096);
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		if (rc == OPT_STAGE)
			stage = a.value;
		else if (rc == CLI_ARGS_POS && !model)
			model = a.value;
		else if (rc == CLI_ARGS_POS)
			error = cli_usage_error(self->name, "unexpected argument '%s'", a.value);
		else
			error = rc;
		if (error < 0)
			goto done;
	}
	if (!model || !stage) {
		error = cli_usage_error(self->name, "expected MODEL (or '*') and --stage STAGE");
		goto done;
	}
	if ((error = policy_path(self->name, model, stage, &path)) < 0 || (error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_json(c, "DELETE", path.ptr, NULL, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot remove the policy of '%s' for stage '%s'", model, stage);
		goto done;
	}
	if (cfg->json)
		error = cli_print_json(resp.body);
	else
		printf("removed policy %s, stage %s\n", model, stage);
done:
	cli_response_release(&resp);
	cli_client_free(c);
	util_buf_release(&path);
	return error;
}

const cli_cmd_entry cli_cmd_policy_set_entry = {
	.name = "policy set",
	.usage = "MODEL|'*' --stage S [--from STAGE] [--metric 'NAME>=N']... [--approvals N]\n"
		 "                  [--require-signature] [--soak DURATION] [--same-schema]",
	.summary = "replace the gate policy of a model (or '*') for a stage (admin)",
	.help = "options:\n"
		"  --stage S            the stage the policy guards (required)\n"
		"  --from STAGE         the version must hold STAGE now or have held it\n"
		"  --metric EXPR        NAME OP NUMBER, OP one of >= <= > < == != (repeatable)\n"
		"  --approvals N        distinct approvers other than the pusher\n"
		"  --require-signature  the version must be signed\n"
		"  --soak DURATION      time since it entered --from (30m, 24h, 7d)\n"
		"  --same-schema        I/O schema equal to the current holder's\n"
		"What is not given is off: the command line is the whole policy.\n"
		"output: the policy, one check per line\n"
		"--json: {\"model\",\"stage\",\"from\",\"metrics\",\"approvals\",\"require_signature\",\n"
		"        \"soak\",\"soak_ms\",\"same_schema\",\"updated_at\",\"updated_by\"}\n",
	.options = set_options,
	.exec = cmd_policy_set_exec,
};

const cli_cmd_entry cli_cmd_policy_show_entry = {
	.name = "policy show",
	.usage = "[MODEL]",
	.summary = "show the gate policies that apply to a model (its own and '*')",
	.help = "Without MODEL: every policy.\n"
		"output: one block per policy listing its checks\n"
		"--json: {\"policies\":[POLICY...]}\n",
	.exec = cmd_policy_show_exec,
};

const cli_cmd_entry cli_cmd_policy_rm_entry = {
	.name = "policy rm",
	.usage = "MODEL|'*' --stage S",
	.summary = "remove the gate policy of a model (or '*') for a stage (admin)",
	.help = "A missing policy is exit 5.\n"
		"output: removed policy MODEL, stage S\n"
		"--json: {\"model\",\"stage\",\"removed\":true}\n",
	.options = rm_options,
	.exec = cmd_policy_rm_exec,
};

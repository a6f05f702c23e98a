/*
 * cmd_deploy.c - `mlreg deploy create|ls|rm|events`: deployments, each
 * rolling the version a stage or alias points at out to the nodes its
 * selector picks (deployer to change, any reader to list).
 *
 * `create` checks everything it can locally - names, the stage or alias,
 * the selector, numbers, durations, and the analysis conditions with
 * util/expr.h (the grammar the gate and the analysis use) - so a typo is
 * exit 2 before any request.  The steps are the exception: their parser
 * is the controller's, and the registry runs it (a bad step is the
 * registry's 400, exit 1), so the CLI does not carry a copy.  `deploy
 * status` (with --watch) is in cmd_deploy_status.c.
 */
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/deploy_common.h"
#include "util/expr.h"
#include "util/json.h"

enum {
	OPT_MODEL = 256,
	OPT_STAGE,
	OPT_ALIAS,
	OPT_SELECTOR,
	OPT_STRATEGY,
	OPT_STEPS,
	OPT_ANALYSIS,
	OPT_MIN_REQUESTS,
	OPT_FAILURE_LIMIT,
	OPT_MAX_UNAVAILABLE,
	OPT_PROGRESS_DEADLINE,
	OPT_SCALE_DOWN_DELAY,
	OPT_ANALYSIS_INTERVAL,
	OPT_FAILURE_MARGIN,
	OPT_LIMIT
};

static const cli_option create_options[] = {
	{"model", OPT_MODEL, true},
	{"stage", OPT_STAGE, true},
	{"alias", OPT_ALIAS, true},
	{"selector", OPT_SELECTOR, true},
	{"strategy", OPT_STRATEGY, true},
	{"steps", OPT_STEPS, true},
	{"analysis", OPT_ANALYSIS, true},
	{"min-requests", OPT_MIN_REQUESTS, true},
	{"failure-limit", OPT_FAILURE_LIMIT, true},
	{"max-unavailable", OPT_MAX_UNAVAILABLE, true},
	{"progress-deadline", OPT_PROGRESS_DEADLINE, true},
	{"scale-down-delay", OPT_SCALE_DOWN_DELAY, true},
	{"analysis-interval", OPT_ANALYSIS_INTERVAL, true},
	{"failure-margin", OPT_FAILURE_MARGIN, true},
	{NULL, 0, false},
};

static const cli_option events_options[] = {
	{"limit", OPT_LIMIT, true},
	{NULL, 0, false},
};

/* An integer flag sent as a JSON number. */
static int add_int(const char *cmd, cJSON *body, const char *key, const char *opt, const char *s)
{
	int64_t v;
	if (util_parse_i64(s, &v) < 0 || v < 0)
		return cli_usage_error(cmd, "invalid %s '%s': expected a number", opt, s);
	return cJSON_AddNumberToObject(body, key, (double)v) ? 0 : mlreg_error_set(MLREG_ENOMEM, "out of memory");
}

/* A duration flag sent as written, once it parses. */
static int add_duration(const char *cmd, cJSON *body, const char *key, const char *opt, const char *s)
{
	int64_t ms;
	if (util_duration_ms(s, &ms) < 0)
		return cli_usage_error(cmd, "invalid %s '%s': expected a duration such as 500ms, 30s, 5m, 1h", opt, s);
	return cJSON_AddStringToObject(body, key, s) ? 0 : mlreg_error_set(MLREG_ENOMEM, "out of memory");
}

static int check_analysis(const char *cmd, const char *s)
{
	for (const char *p = s;;) {
		size_t n = strcspn(p, ",");
		char one[512];
		util_expr e;
		snprintf(one, sizeof(one), "%.*s", (int)(n < sizeof(one) ? n : sizeof(one) - 1), p);
		if (util_expr_parse(one, true, &e) < 0)
			return cli_usage_error(cmd, "invalid --analysis condition '%s': %s", one, mlreg_error_last());
		if (!p[n])
			return 0;
		p += n + 1;
	}
}

static int cmd_deploy_create_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	static const char *const strategies[] = {"recreate", "rolling", "canary", "blue-green"};
	cli_args a;
	cli_client *c = NULL;
	cli_response resp;
	const char *name = NULL, *model = NULL, *stage = NULL, *alias = NULL, *strategy = NULL;
	cJSON *body = cJSON_CreateObject(), *selector = body ? cJSON_AddObjectToObject(body, "selector") : NULL;
	double margin;
	int rc, error = 0;

	memset(&resp, 0, sizeof(resp));
	if (!selector) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		const char *v = a.value;
		switch (rc) {
		case OPT_MODEL: model = v; break;
		case OPT_STAGE: stage = v; break;
		case OPT_ALIAS: alias = v[0] == '@' ? v + 1 : v; break;
		case OPT_SELECTOR: error = cli_label_pairs_add(self->name, "--selector", v, selector); break;
		case OPT_STRATEGY: strategy = v; break;
		case OPT_STEPS:
			error = cJSON_AddStringToObject(body, "steps", v) ? 0 : mlreg_error_set(MLREG_ENOMEM, "out of memory");
			break;
		case OPT_ANALYSIS:
			if ((error = check_analysis(self->name, v)) == 0 && !cJSON_AddStringToObject(body, "analysis", v))
				error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
			break;
		case OPT_MIN_REQUESTS: error = add_int(self->name, body, "min_requests", a.opt, v); break;
		case OPT_FAILURE_LIMIT: error = add_int(self->name, body, "failure_limit", a.opt, v); break;
		case OPT_MAX_UNAVAILABLE: error = add_int(self->name, body, "max_unavailable", a.opt, v); break;
		case OPT_PROGRESS_DEADLINE: error = add_duration(self->name, body, "progress_deadline", a.opt, v); break;
		case OPT_SCALE_DOWN_DELAY: error = add_duration(self->name, body, "scale_down_delay", a.opt, v); break;
		case OPT_ANALYSIS_INTERVAL: error = add_duration(self->name, body, "analysis_interval", a.opt, v); break;
		case OPT_FAILURE_MARGIN:
			if (util_parse_double(v, &margin) < 0 || margin < 0 || margin > 1)
				error = cli_usage_error(self->name, "invalid --failure-margin '%s': expected a number from 0 to 1", v);
			else if (!cJSON_AddNumberToObject(body, "failure_margin", margin))
				error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
			break;
		case CLI_ARGS_POS:
			if (name)
				error = cli_usage_error(self->name, "unexpected argument '%s'", v);
			name = v;
			break;
		default: error = rc; break;
		}
		if (error < 0)
			goto done;
	}
	if (!name || !model || !selector->child || !stage == !alias) {
		error = cli_usage_error(self->name, "expected NAME --model M (--stage S | --alias A) --selector K=V[,K=V]");
		goto done;
	}
	if ((error = cli_resource_name_check(self->name, "deployment", name)) < 0 ||
	    (stage && (error = cli_label_check(self->name, "stage", stage)) < 0) ||
	    (alias && (error = cli_label_check(self->name, "alias", alias)) < 0))
		goto done;
	if (!util_model_name_valid(model)) {
		error = cli_usage_error(self->name, "invalid model name '%s'", model);
		goto done;
	}
	if (strategy) {
		bool known = false;
		for (size_t i = 0; i < sizeof(strategies) / sizeof(strategies[0]); i++)
			known = known || !strcmp(strategy, strategies[i]);
		if (!known) {
			error = cli_usage_error(self->name, "unknown strategy '%s': use recreate, rolling, canary or blue-green",
						strategy);
			goto done;
		}
	}
	if (!cJSON_AddStringToObject(body, "name", name) || !cJSON_AddStringToObject(body, "model", model) ||
	    !cJSON_AddStringToObject(body, stage ? "stage" : "alias", stage ? stage : alias) ||
	    (strategy && !cJSON_AddStringToObject(body, "strategy", strategy))) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	if ((error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_json(c, "POST", "/api/v1/deployments", body, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot create deployment '%s'", name);
		goto done;
	}
	if (cfg->json) {
		error = cli_print_json(resp.body);
	} else {
		printf("created deployment %s\n", name);
		cli_deploy_print_status(resp.body, stdout);
	}
done:
	cJSON_Delete(body);
	cli_response_release(&resp);
	cli_client_free(c);
	return error;
}

static const char *num_or_dash(const cJSON *o, const char *key, char *buf)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsNumber(v))
		return "-";
	snprintf(buf, CLI_ROW_BUF, "%lld", (long long)v->valuedouble);
	return buf;
}

static void deploy_row(const cJSON *d, const char **row, char buf[CLI_ROW_BUFS][CLI_ROW_BUF])
{
	if (util_json_str(d, "stage"))
		snprintf(buf[0], CLI_ROW_BUF, "%s", util_json_str(d, "stage"));
	else
		snprintf(buf[0], CLI_ROW_BUF, "@%s", cli_json_text(d, "alias", "?"));
	snprintf(buf[1], CLI_ROW_BUF, "%d", cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(d, "nodes")));
	row[0] = cli_json_text(d, "name", "?");
	row[1] = cli_json_text(d, "model", "?");
	row[2] = buf[0];
	row[3] = cli_json_text(d, "phase", "?");
	row[4] = num_or_dash(d, "stable_version", buf[2]);
	row[5] = num_or_dash(d, "target_version", buf[3]);
	row[6] = num_or_dash(d, "rejected_version", buf[4]);
	row[7] = buf[1];
}

static int cmd_deploy_ls_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	static const char *const head[] = {"NAME", "MODEL", "FOLLOWS", "PHASE", "STABLE", "TARGET", "REJECTED", "NODES"};
	return cli_list_table(self, cfg, argc, argv, "/api/v1/deployments", "deployments", "deployments", head, 8,
			      deploy_row);
}

static int cmd_deploy_rm_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_client *c = NULL;
	cli_response resp;
	util_buf path;
	const char *name = NULL;
	int error;

	memset(&resp, 0, sizeof(resp));
	util_buf_init(&path, 4096);
	if ((error = cli_args_positionals(self, argc, argv, &name, 1, "expected NAME")) < 0 ||
	    (error = cli_deployment_path(self->name, name, "", &path)) < 0 || (error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_json(c, "DELETE", path.ptr, NULL, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot remove deployment '%s'", name);
		goto done;
	}
	if (cfg->json)
		error = cli_print_json(resp.body);
	else
		printf("removed deployment %s (nodes serve it until the controller unloads it)\n", name);
done:
	cli_response_release(&resp);
	cli_client_free(c);
	util_buf_release(&path);
	return error;
}

static void event_row(const cJSON *e, const char **row, char buf[CLI_ROW_BUFS][CLI_ROW_BUF])
{
	/* the reconciler's and the nodes' words: no control characters */
	snprintf(buf[0], CLI_ROW_BUF, "%s", cli_json_text(e, "message", ""));
	for (char *p = buf[0]; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	row[0] = cli_json_text(e, "time", "-");
	row[1] = cli_json_text(e, "kind", "-");
	row[2] = buf[0][0] ? buf[0] : "-";
}

static int cmd_deploy_events_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	static const char *const head[] = {"TIME", "KIND", "MESSAGE"};
	char what[300];
	cli_args a;
	util_buf path;
	const char *name = NULL, *limit = NULL;
	int64_t n;
	int rc, error = 0;

	util_buf_init(&path, 4096);
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		if (rc == OPT_LIMIT && (util_parse_i64(a.value, &n) < 0 || n < 1 || n > 10000))
			error = cli_usage_error(self->name, "invalid limit '%s': use 1 to 10000", a.value);
		else if (rc == OPT_LIMIT)
			limit = a.value;
		else if (rc == CLI_ARGS_POS && !name)
			name = a.value;
		else if (rc == CLI_ARGS_POS)
			error = cli_usage_error(self->name, "unexpected argument '%s'", a.value);
		else
			error = rc;
		if (error < 0)
			goto done;
	}
	if (!name) {
		error = cli_usage_error(self->name, "expected NAME");
		goto done;
	}
	if ((error = cli_deployment_path(self->name, name, "/events", &path)) < 0 ||
	    (limit && (error = cli_query_add(&path, "limit", limit)) < 0))
		goto done;
	snprintf(what, sizeof(what), "the events of deployment '%s'", name);
	error = cli_list_get(cfg, path.ptr, what, "events", head, 3, event_row);
done:
	util_buf_release(&path);
	return error;
}

const cli_cmd_entry cli_cmd_deploy_create_entry = {
	.name = "deploy create",
	.usage = "NAME --model M (--stage S | --alias A) --selector K=V[,K=V] [options]",
	.summary = "roll a stage's or alias's version out to serving nodes (deployer)",
	.help = "options:\n"
		"  --model M               the model (required)\n"
		"  --stage S | --alias A   what to follow: exactly one\n"
		"  --selector K=V[,K=V]    the nodes whose labels match all pairs (required, repeatable)\n"
		"  --strategy S            recreate, rolling, canary (default) or blue-green\n"
		"  --steps LIST            e.g. weight:10,analysis:30s,weight:50,pause:1m,weight:100\n"
		"                          (overrides the strategy's steps)\n"
		"  --analysis CONDS        e.g. 'failure_rate<0.01,p99_ms<250' (requests, failures,\n"
		"                          failure_rate, p99_ms)\n"
		"  --min-requests N        fewer in a window is inconclusive (default 50)\n"
		"  --failure-limit N       inconclusive windows before failing (default 3)\n"
		"  --max-unavailable N     nodes switched at once by rolling (default 1)\n"
		"  --progress-deadline D   abort a rollout making no progress this long (default 10m)\n"
		"  --scale-down-delay D    unload the old version this long after Healthy (default 30s)\n"
		"  --analysis-interval D   measure this often inside a window (default 10s)\n"
		"  --failure-margin X      fail when the failure rate exceeds stable's by more (default 0.01)\n"
		"On the nodes the model is served under NAME.\n"
		"output: the status (see 'mlreg deploy status --help'); --json: the status object\n",
	.options = create_options,
	.exec = cmd_deploy_create_exec,
};

const cli_cmd_entry cli_cmd_deploy_ls_entry = {
	.name = "deploy ls",
	.usage = "",
	.summary = "list deployments with their rollout phase",
	.help = "output: a table NAME, MODEL, FOLLOWS, PHASE, STABLE, TARGET, REJECTED, NODES\n"
		"--json: {\"deployments\":[status objects]}\n",
	.exec = cmd_deploy_ls_exec,
};

const cli_cmd_entry cli_cmd_deploy_rm_entry = {
	.name = "deploy rm",
	.usage = "NAME",
	.summary = "remove a deployment (deployer)",
	.help = "The nodes serve it until the controller unloads it.\n--json: {\"name\",\"removed\":true}\n",
	.exec = cmd_deploy_rm_exec,
};

const cli_cmd_entry cli_cmd_deploy_events_entry = {
	.name = "deploy events",
	.usage = "NAME [--limit N]",
	.summary = "show what happened to a deployment, newest first",
	.help = "options:\n"
		"  --limit N   at most N events (default 100, at most 10000)\n"
		"output: a table TIME, KIND, MESSAGE\n"
		"--json: {\"events\":[{\"time\",\"kind\",\"message\",\"details\"}]}\n",
	.options = events_options,
	.exec = cmd_deploy_events_exec,
};

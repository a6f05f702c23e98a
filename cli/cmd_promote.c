/*
 * cmd_promote.c - `mlreg gate REF --to S` (may this version go to S?) and
 * `mlreg promote REF --to S` (move it there if so): the two commands a
 * CI/CD pipeline branches on, so both print the same check table and use
 * the exit codes as the verdict: 0 passed / moved, 3 refused, 6 when
 * --expect-current no longer holds (another pipeline moved the stage).
 *
 * The registry evaluates the gate; the CLI never decides.  promote is one
 * request in which the registry resolves REF, evaluates and moves inside
 * one transaction, so a stage or alias ref ("promote whatever staging
 * holds") cannot change between the check and the move.  --expect-current
 * makes it a compare-and-swap for racing pipelines.  A refusal is an
 * answer with content (which checks failed): it is printed, also as JSON
 * on stdout with --json, before the command exits 3.
 */
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "util/json.h"

enum { OPT_TO = 256, OPT_EXPECT, OPT_COMMENT };

static const cli_option gate_options[] = {
	{"to", OPT_TO, true},
	{NULL, 0, false},
};

static const cli_option promote_options[] = {
	{"to", OPT_TO, true},
	{"expect-current", OPT_EXPECT, true},
	{"comment", OPT_COMMENT, true},
	{NULL, 0, false},
};

/* Print the checks of a gate result as a table; count the failures. */
static int print_checks(const cJSON *checks, int *failed, int *total)
{
	static const char *const head[] = {"CHECK", "RESULT", "REQUIRED", "ACTUAL"};
	cli_table t;
	const cJSON *ck;
	int error;
	*failed = *total = 0;
	cli_table_init(&t, 4);
	error = cli_table_add(&t, head);
	cJSON_ArrayForEach(ck, checks)
	{
		bool ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ck, "passed"));
		const char *row[4];
		if (error < 0)
			break;
		++*total;
		if (!ok)
			++*failed;
		row[0] = cli_json_text(ck, "check", "?");
		row[1] = ok ? "pass" : "FAIL";
		row[2] = cli_json_text(ck, "required", "-");
		row[3] = cli_json_text(ck, "actual", "-");
		error = cli_table_add(&t, row);
	}
	if (error == 0 && *total > 0)
		cli_table_print(&t, stdout);
	cli_table_release(&t);
	return error;
}

/* "metric accuracy, approvals": the names of the failed checks. */
static void failed_names(const cJSON *checks, char *out, size_t outsz)
{
	const cJSON *ck;
	size_t used = 0;
	out[0] = '\0';
	cJSON_ArrayForEach(ck, checks)
	{
		int n;
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ck, "passed")))
			continue;
		n = snprintf(out + used, outsz - used, "%s%s", used ? ", " : "", cli_json_text(ck, "check", "?"));
		if (n < 0 || (size_t)n >= outsz - used)
			break;
		used += (size_t)n;
	}
}

/* The shape both commands answer with: a "passed" boolean and "checks". */
static int result_valid(const cJSON *body)
{
	if (!cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(body, "passed")) ||
	    !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(body, "checks")))
		return mlreg_error_set(MLREG_EIO, "registry answer lacks 'passed' or 'checks'");
	return 0;
}

/* Print a refused result (table + verdict, or the JSON) and record the
 * refusal as the command's error. */
static int refused(const cli_config *cfg, const cJSON *body, const char *verb, const char *refs, const char *stage)
{
	const cJSON *checks = cJSON_GetObjectItemCaseSensitive(body, "checks");
	char names[512];
	int failed, total, error;
	if (cfg->json)
		error = cli_print_json(body);
	else if ((error = print_checks(checks, &failed, &total)) == 0)
		printf("refused: %d of %d checks failed\n", failed, total);
	if (error < 0)
		return error;
	failed_names(checks, names, sizeof(names));
	if (!names[0])
		return mlreg_error_set(MLREG_EREFUSED, "%s of %s:%lld to %s refused: %s", verb,
				       cli_json_text(body, "model", refs), (long long)cli_json_int(body, "version", 0), stage,
				       cli_json_text(cJSON_GetObjectItemCaseSensitive(body, "error"), "message",
						     "the registry refused it"));
	return mlreg_error_set(MLREG_EREFUSED, "%s of %s:%lld to %s refused: failed %s", verb,
			       cli_json_text(body, "model", refs), (long long)cli_json_int(body, "version", 0), stage, names);
}

/* Options shared by gate and promote: one REF, --to STAGE. */
typedef struct {
	const char *refs, *stage, *expect, *comment;
	util_ref ref;
} promo_args;

static int parse_args(const cli_cmd_entry *self, int argc, char **argv, promo_args *p)
{
	cli_args a;
	int rc, error = 0;
	memset(p, 0, sizeof(*p));
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		if (rc == OPT_TO)
			p->stage = a.value;
		else if (rc == OPT_EXPECT)
			p->expect = a.value;
		else if (rc == OPT_COMMENT)
			p->comment = a.value;
		else if (rc == CLI_ARGS_POS && !p->refs)
			p->refs = a.value;
		else if (rc == CLI_ARGS_POS)
			error = cli_usage_error(self->name, "unexpected argument '%s'", a.value);
		else
			error = rc;
		if (error < 0)
			return error;
	}
	if (!p->refs || !p->stage)
		return cli_usage_error(self->name, "expected REF and --to STAGE");
	if ((error = cli_ref_parse(self->name, p->refs, &p->ref)) < 0)
		return error;
	return cli_label_check(self->name, "stage", p->stage);
}

static int cmd_gate_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	promo_args p;
	cli_client *c = NULL;
	cli_response resp;
	util_buf path;
	int failed, total, error;

	memset(&resp, 0, sizeof(resp));
	util_buf_init(&path, 4096);
	if ((error = parse_args(self, argc, argv, &p)) < 0 || (error = cli_version_path(&path, &p.ref, "/gate")) < 0 ||
	    (error = cli_query_add(&path, "stage", p.stage)) < 0 || (error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_json(c, "GET", path.ptr, NULL, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot evaluate the gate of '%s' for %s", p.refs, p.stage);
		goto done;
	}
	if ((error = result_valid(resp.body)) < 0)
		goto done;
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(resp.body, "passed"))) {
		error = refused(cfg, resp.body, "promotion", p.refs, p.stage);
		goto done;
	}
	if (cfg->json) {
		error = cli_print_json(resp.body);
		goto done;
	}
	if ((error = print_checks(cJSON_GetObjectItemCaseSensitive(resp.body, "checks"), &failed, &total)) == 0)
		printf("%s:%lld may be promoted to %s\n", cli_json_text(resp.body, "model", p.ref.model),
		       (long long)cli_json_int(resp.body, "version", 0), p.stage);
done:
	cli_response_release(&resp);
	cli_client_free(c);
	util_buf_release(&path);
	return error;
}

/* The 409 of a failed compare-and-swap names the current holder in
 * "current" (beside "error", or inside it). */
static int expect_mismatch(const cli_response *resp, const promo_args *p)
{
	const cJSON *cur = cJSON_GetObjectItemCaseSensitive(resp->body, "current");
	char holder[48] = "no version";
	if (!cur && resp->error)
		cur = cJSON_GetObjectItemCaseSensitive(resp->error, "current");
	if (cJSON_IsNumber(cur))
		snprintf(holder, sizeof(holder), "version %lld", (long long)cur->valuedouble);
	else if (!cJSON_IsNull(cur))
		return cli_error_wrap(MLREG_ECONFLICT, "cannot promote '%s' to %s", p->refs, p->stage);
	if (!strcmp(p->expect, "none"))
		return mlreg_error_set(MLREG_ECONFLICT, "cannot promote '%s' to %s: it holds %s now, not none as expected",
				       p->refs, p->stage, holder);
	return mlreg_error_set(MLREG_ECONFLICT, "cannot promote '%s' to %s: it holds %s now, not version %s as expected",
			       p->refs, p->stage, holder, p->expect);
}

static int promote_body(const cli_cmd_entry *self, const promo_args *p, cJSON **out)
{
	cJSON *body = cJSON_CreateObject();
	char seg[80];
	int64_t expect = -1;
	bool ok;
	if (p->expect && strcmp(p->expect, "none") != 0 && (util_parse_i64(p->expect, &expect) < 0 || expect < 1)) {
		cJSON_Delete(body);
		return cli_usage_error(self->name, "invalid --expect-current '%s': a version number or 'none'", p->expect);
	}
	if (p->expect && !strcmp(p->expect, "none"))
		expect = 0;
	if (!body || cli_ref_segment(&p->ref, seg) < 0) {
		cJSON_Delete(body);
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	/* a number stays a number; a stage or @alias goes as a string and is
	 * resolved inside the registry's transaction */
	if (p->ref.kind == UTIL_REF_VERSION)
		ok = cJSON_AddNumberToObject(body, "version", (double)p->ref.version) != NULL;
	else
		ok = cJSON_AddStringToObject(body, "version", seg) != NULL;
	if (!ok || (expect >= 0 && !cJSON_AddNumberToObject(body, "expect_current", (double)expect)) ||
	    (p->comment && !cJSON_AddStringToObject(body, "comment", p->comment))) {
		cJSON_Delete(body);
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	*out = body;
	return 0;
}

static int cmd_promote_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	promo_args p;
	cli_client *c = NULL;
	cli_response resp;
	util_buf path, suffix;
	cJSON *body = NULL;
	const cJSON *r;
	char was[32] = "none";
	int failed, total, error;

	memset(&resp, 0, sizeof(resp));
	util_buf_init(&path, 4096);
	util_buf_init(&suffix, 256);
	if ((error = parse_args(self, argc, argv, &p)) < 0 || (error = promote_body(self, &p, &body)) < 0 ||
	    (error = util_buf_printf(&suffix, "/stages/%s/promote", p.stage)) < 0 ||
	    (error = cli_model_path(&path, p.ref.model, suffix.ptr)) < 0 || (error = cli_client_new(&c, cfg)) < 0)
		goto done;
	error = cli_client_json(c, "POST", path.ptr, body, &resp);
	r = resp.body;
	if (error == MLREG_EREFUSED && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(r, "checks"))) {
		error = refused(cfg, r, "promotion", p.refs, p.stage);
		goto done;
	}
	if (error == MLREG_ECONFLICT && p.expect) {
		error = expect_mismatch(&resp, &p);
		goto done;
	}
	if (error < 0) {
		error = cli_error_wrap(error, "cannot promote '%s' to %s", p.refs, p.stage);
		goto done;
	}
	if ((error = result_valid(r)) < 0)
		goto done;
	if (cfg->json) {
		error = cli_print_json(r);
		goto done;
	}
	if ((error = print_checks(cJSON_GetObjectItemCaseSensitive(r, "checks"), &failed, &total)) < 0)
		goto done;
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "promoted"))) {
		printf("%s:%lld already holds %s: nothing changed\n", cli_json_text(r, "model", p.ref.model),
		       (long long)cli_json_int(r, "version", 0), p.stage);
		goto done;
	}
	if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(r, "from")))
		snprintf(was, sizeof(was), "%lld", (long long)cli_json_int(r, "from", 0));
	printf("promoted %s:%lld to %s (was %s)\n", cli_json_text(r, "model", p.ref.model),
	       (long long)cli_json_int(r, "version", 0), p.stage, was);
done:
	cJSON_Delete(body);
	cli_response_release(&resp);
	cli_client_free(c);
	util_buf_release(&path);
	util_buf_release(&suffix);
	return error;
}

const cli_cmd_entry cli_cmd_gate_entry = {
	.name = "gate",
	.usage = "REF --to STAGE",
	.summary = "evaluate whether a version may be promoted to a stage (exit 3 if not)",
	.help = "REF is MODEL:VERSION, MODEL:STAGE or MODEL@ALIAS.  Changes nothing.\n"
		"output: a table CHECK, RESULT (pass/FAIL), REQUIRED, ACTUAL, then\n"
		"        'MODEL:VERSION may be promoted to STAGE' (exit 0) or\n"
		"        'refused: N of M checks failed' (exit 3)\n"
		"--json: {\"model\",\"version\",\"stage\",\"passed\",\"checks\":[{\"check\",\"passed\",\n"
		"        \"required\",\"actual\",\"policy\"}]} (also when refused, then exit 3)\n",
	.options = gate_options,
	.exec = cmd_gate_exec,
};

const cli_cmd_entry cli_cmd_promote_entry = {
	.name = "promote",
	.usage = "REF --to STAGE [--expect-current VERSION|none] [--comment TEXT]",
	.summary = "move a version to a stage if its gate passes (deployer)",
	.help = "REF is MODEL:VERSION, MODEL:STAGE or MODEL@ALIAS (resolved by the registry in\n"
		"the same transaction as the move).\n"
		"options:\n"
		"  --to STAGE                      the stage to move it to (required)\n"
		"  --expect-current VERSION|none   move only if the stage holds VERSION now\n"
		"                                  (none: only if it is empty); else exit 6\n"
		"  --comment TEXT                  recorded in the history and audit log\n"
		"output: the check table, then 'promoted MODEL:VERSION to STAGE (was N)' (exit 0),\n"
		"        'MODEL:VERSION already holds STAGE: nothing changed' (exit 0) or\n"
		"        'refused: N of M checks failed' (exit 3)\n"
		"--json: {\"model\",\"version\",\"stage\",\"passed\",\"promoted\",\"from\",\"checks\":[...]}\n"
		"        (also when refused, then exit 3)\n",
	.options = promote_options,
	.exec = cmd_promote_exec,
};

/*
 * cmd_audit.c - `mlreg audit` (read the audit log) and `mlreg audit verify`
 * (have the registry recompute the hash chain).
 *
 * Every mutation in the registry appends an entry whose hash covers the
 * previous entry's hash, so rewriting history breaks the chain; `verify`
 * exits 6 naming the first broken entry, which makes it usable as a CI or
 * cron check.  --since accepts RFC 3339 or a duration ("24h" = that long
 * ago) and is sent as an RFC 3339 time, so client and server agree on "now".
 * `verify --against DIR` then compares the chain with an export
 * (cmd_audit_export.c), which catches what recomputing cannot: a chain
 * rewritten with fresh hashes, or cut short.
 */
#include <stdlib.h>
#include <string.h>
#include "cli/audit_git.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "util/json.h"

enum { OPT_MODEL = 256, OPT_ACTION, OPT_ACTOR, OPT_SINCE, OPT_LIMIT };

static const cli_option audit_options[] = {
	{"model", OPT_MODEL, true},
	{"action", OPT_ACTION, true},
	{"actor", OPT_ACTOR, true},
	{"since", OPT_SINCE, true},
	{"limit", OPT_LIMIT, true},
	{NULL, 0, false},
};

static int print_entries(const cJSON *entries)
{
	static const char *const head[] = {"SEQ", "TIME", "ACTOR", "ACTION", "SUBJECT"};
	cli_table t;
	const cJSON *e;
	int error;
	cli_table_init(&t, 5);
	error = cli_table_add(&t, head);
	cJSON_ArrayForEach(e, entries)
	{
		char seq[32];
		const char *row[5];
		if (error < 0)
			break;
		snprintf(seq, sizeof(seq), "%lld", (long long)cli_json_int(e, "seq", 0));
		row[0] = seq;
		row[1] = cli_json_text(e, "time", "-");
		row[2] = cli_json_text(e, "actor", "-");
		row[3] = cli_json_text(e, "action", "-");
		row[4] = cli_json_text(e, "subject", "-");
		error = cli_table_add(&t, row);
	}
	if (error == 0)
		cli_table_print(&t, stdout);
	cli_table_release(&t);
	return error;
}

static int cmd_audit_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_args a;
	cli_client *c = NULL;
	cli_response resp;
	util_buf path;
	int rc, error = 0;

	memset(&resp, 0, sizeof(resp));
	util_buf_init(&path, 1 << 14);
	if ((error = util_buf_puts(&path, "/api/v1/audit")) < 0)
		goto done;
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		int64_t n;
		char when[40];
		switch (rc) {
		case OPT_MODEL:
			if (!util_model_name_valid(a.value))
				error = cli_usage_error(self->name, "invalid model name '%s'", a.value);
			else
				error = cli_query_add(&path, "model", a.value);
			break;
		case OPT_ACTION: error = cli_query_add(&path, "action", a.value); break;
		case OPT_ACTOR: error = cli_query_add(&path, "actor", a.value); break;
		case OPT_SINCE:
			if (util_time_parse(a.value, &n) < 0) {
				error = cli_usage_error(self->name, "%s", mlreg_error_last());
				break;
			}
			util_time_format(n, when, sizeof(when));
			error = cli_query_add(&path, "since", when);
			break;
		case OPT_LIMIT:
			if (util_parse_i64(a.value, &n) < 0 || n < 1)
				error = cli_usage_error(self->name, "invalid limit '%s': use a positive number", a.value);
			else
				error = cli_query_add(&path, "limit", a.value);
			break;
		case CLI_ARGS_POS: error = cli_usage_error(self->name, "unexpected argument '%s'", a.value); break;
		default: error = rc; break;
		}
		if (error < 0)
			goto done;
	}
	if ((error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_json(c, "GET", path.ptr, NULL, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot read the audit log");
		goto done;
	}
	if (cfg->json)
		error = cli_print_json(resp.body);
	else
		error = print_entries(cJSON_GetObjectItemCaseSensitive(resp.body, "entries"));
done:
	cli_response_release(&resp);
	cli_client_free(c);
	util_buf_release(&path);
	return error;
}

/* verify --against: the report printed with --json, and the exit. */
static int against_result(const cli_config *cfg, const cJSON *verify, int error, int64_t export_head, int64_t first_bad)
{
	cJSON *o = cJSON_CreateObject();
	char msg[1024];
	int perr;
	snprintf(msg, sizeof(msg), "%s", error < 0 ? mlreg_error_last() : "");
	if (!o || !cJSON_AddBoolToObject(o, "ok", error == 0) ||
	    !cJSON_AddNumberToObject(o, "entries", (double)cli_json_int(verify, "entries", 0)) ||
	    !cJSON_AddNumberToObject(o, "export_head", (double)export_head) ||
	    (first_bad > 0 && !cJSON_AddNumberToObject(o, "first_bad", (double)first_bad)) ||
	    (error < 0 && !cJSON_AddStringToObject(o, "message", msg))) {
		cJSON_Delete(o);
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	if (cfg->json)
		perr = cli_print_json(o);
	else if (error == 0)
		perr = printf("audit chain verified: %lld entries, matches export up to seq %lld\n",
			      (long long)cli_json_int(verify, "entries", 0), (long long)export_head) < 0 ? MLREG_EIO : 0;
	else
		perr = 0;
	cJSON_Delete(o);
	if (perr < 0)
		return perr;
	return error < 0 ? mlreg_error_set(error, "%s", msg) : 0;
}

enum { OPT_AGAINST = 300 };

static const cli_option verify_options[] = {
	{"against", OPT_AGAINST, true},
	{NULL, 0, false},
};

static int cmd_audit_verify_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_args a;
	cli_client *c = NULL;
	cli_request req;
	cli_response resp;
	const cJSON *ok;
	const char *against = NULL;
	int64_t export_head = 0, first_bad = 0;
	int rc, error = 0;

	memset(&resp, 0, sizeof(resp));
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		if (rc == OPT_AGAINST)
			against = a.value;
		else if (rc == CLI_ARGS_POS)
			error = cli_usage_error(self->name, "unexpected argument '%s'", a.value);
		else
			error = rc;
		if (error < 0)
			goto done;
	}
	if ((error = cli_client_new(&c, cfg)) < 0)
		goto done;
	memset(&req, 0, sizeof(req));
	req.path = "/api/v1/audit/verify";
	req.timeout_ms = -1; /* rehashes the whole chain */
	if ((error = cli_client_do(c, &req, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot verify the audit chain");
		goto done;
	}
	ok = cJSON_GetObjectItemCaseSensitive(resp.body, "ok");
	if (!cJSON_IsBool(ok)) {
		error = mlreg_error_set(MLREG_EIO, "registry answer lacks 'ok'");
		goto done;
	}
	if (!cJSON_IsTrue(ok)) {
		if (cfg->json && (error = cli_print_json(resp.body)) < 0)
			goto done;
		error = mlreg_error_set(MLREG_EINTEGRITY, "audit chain broken at entry %lld: %s",
					(long long)cli_json_int(resp.body, "first_bad", 0),
					cli_json_text(resp.body, "message", "hash mismatch"));
		goto done;
	}
	if (!against) {
		if (cfg->json)
			error = cli_print_json(resp.body);
		else
			printf("audit chain ok: %lld entries\n", (long long)cli_json_int(resp.body, "entries", 0));
		goto done;
	}
	/* the chain is consistent in itself; now is it the chain exported? */
	error = cli_audit_export_compare(c, against, &export_head, &first_bad);
	if (error == 0 || error == MLREG_EINTEGRITY)
		error = against_result(cfg, resp.body, error, export_head, first_bad);
	else
		error = cli_error_wrap(error, "cannot compare with the export at '%s'", against);
done:
	cli_response_release(&resp);
	cli_client_free(c);
	return error;
}

const cli_cmd_entry cli_cmd_audit_entry = {
	.name = "audit",
	.usage = "[--model M] [--action A] [--actor P] [--since T] [--limit N]",
	.summary = "show audit log entries, newest first",
	.help = "options:\n"
		"  --model M      entries about model M\n"
		"  --action A     entries of one action (e.g. version.create)\n"
		"  --actor P      entries by one principal (e.g. ci-bot, controller)\n"
		"  --since T      RFC 3339 time or a duration ago (24h, 7d)\n"
		"  --limit N      at most N entries\n"
		"--json: {\"entries\":[{\"seq\",\"time\",\"actor\",\"action\",\"subject\",\"details\",\"prev_hash\",\"hash\"}]}\n"
		"see also: mlreg audit verify\n",
	.options = audit_options,
	.exec = cmd_audit_exec,
};

const cli_cmd_entry cli_cmd_audit_verify_entry = {
	.name = "audit verify",
	.usage = "[--against DIR]",
	.summary = "recompute the audit chain, optionally against an export (exit 6 if broken)",
	.help = "options:\n"
		"  --against DIR   also compare every entry of the export in the git repository\n"
		"                  DIR (see 'mlreg audit export') with the registry's, by hash\n"
		"output: 'audit chain ok: N entries' (with --against: 'audit chain verified: N\n"
		"        entries, matches export up to seq K'), or on stderr\n"
		"        'mlreg: audit chain broken at entry SEQ: MESSAGE', 'mlreg: entry N differs\n"
		"        from the export ...' or 'mlreg: audit log truncated: ...' with exit 6\n"
		"--json: {\"ok\",\"entries\"[,\"first_bad\",\"message\"]}; with --against\n"
		"        {\"ok\",\"entries\",\"export_head\"[,\"first_bad\",\"message\"]} (exit status as above)\n",
	.options = verify_options,
	.exec = cmd_audit_verify_exec,
};

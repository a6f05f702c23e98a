/*
 * cmd_webhook.c - `mlreg webhook add|ls|rm|deliveries`: receivers of the
 * registry's events (promote, rollback, push, ...), admin only.
 *
 * The signing secret is shown once, when the webhook is added (the registry
 * keeps it to sign deliveries and never returns it again), so `add` puts it
 * on its own stdout line and warns on stderr, like `token create`.  Event
 * names are checked here against the list in docs/api.md, so a typo is
 * exit 2 instead of a webhook that silently never fires.
 */
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "util/json.h"

enum { OPT_EVENTS = 256, OPT_SECRET, OPT_LIMIT };

static const cli_option add_options[] = {
	{"events", OPT_EVENTS, true},
	{"secret", OPT_SECRET, true},
	{NULL, 0, false},
};

static const cli_option deliveries_options[] = {
	{"limit", OPT_LIMIT, true},
	{NULL, 0, false},
};

static bool event_valid(const char *e)
{
	static const char *const events[] = {
		"*",               "push",          "promote",         "rollback",        "alias",
		"approve",         "policy",        "stages",          "deprecate",       "delete",
		"rollout.started", "rollout.step",  "rollout.paused",  "rollout.resumed", "rollout.promoted",
		"rollout.retry",   "rollout.superseded", "rollout.healthy", "rollout.aborted"};
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
		if (!strcmp(e, events[i]))
			return true;
	return false;
}

/* "promote,rollback" from a JSON array of strings. */
static void join_events(const cJSON *list, char *out, size_t outsz)
{
	const cJSON *e;
	size_t used = 0;
	out[0] = '\0';
	cJSON_ArrayForEach(e, list)
	{
		int n;
		if (!cJSON_IsString(e))
			continue;
		n = snprintf(out + used, outsz - used, "%s%s", used ? "," : "", e->valuestring);
		if (n < 0 || (size_t)n >= outsz - used)
			break;
		used += (size_t)n;
	}
}

/* "/api/v1/webhooks/<id><suffix>" */
static int webhook_path(const char *id, const char *suffix, util_buf *path)
{
	char *e = cli_escape(id);
	int rc;
	if (!e)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	rc = util_buf_printf(path, "/api/v1/webhooks/%s%s", e, suffix);
	free(e);
	return rc;
}

static int cmd_webhook_add_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_args a;
	cli_client *c = NULL;
	cli_response resp;
	cli_list events;
	const char *url = NULL, *secret = NULL, *events_arg = NULL, *shown;
	cJSON *body = NULL, *list;
	char names[512];
	int rc, error = 0;

	memset(&resp, 0, sizeof(resp));
	cli_list_init(&events);
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		if (rc == OPT_EVENTS)
			events_arg = a.value;
		else if (rc == OPT_SECRET)
			secret = a.value;
		else if (rc == CLI_ARGS_POS && !url)
			url = a.value;
		else if (rc == CLI_ARGS_POS)
			error = cli_usage_error(self->name, "unexpected argument '%s'", a.value);
		else
			error = rc;
		if (error < 0)
			goto done;
	}
	if (!url || !events_arg) {
		error = cli_usage_error(self->name, "expected URL and --events EVENT,... (or --events '*')");
		goto done;
	}
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
		error = cli_usage_error(self->name, "invalid URL '%s': must start with http:// or https://", url);
		goto done;
	}
	if ((error = cli_list_split(self->name, "event", events_arg, NULL, &events)) < 0)
		goto done;
	for (size_t i = 0; i < events.n; i++) {
		if (!event_valid(events.items[i])) {
			error = cli_usage_error(self->name,
						"unknown event '%s': use push, promote, rollback, alias, approve, policy, "
						"stages, deprecate, delete, rollout.started, rollout.step, rollout.paused, "
						"rollout.resumed, rollout.promoted, rollout.retry, rollout.superseded, "
						"rollout.healthy, rollout.aborted or '*'",
						events.items[i]);
			goto done;
		}
	}
	if (secret && !*secret) {
		error = cli_usage_error(self->name, "empty --secret (leave it out to have one generated)");
		goto done;
	}
	if (!(body = cJSON_CreateObject()) || !cJSON_AddStringToObject(body, "url", url) ||
	    !(list = cJSON_AddArrayToObject(body, "events")) ||
	    (secret && !cJSON_AddStringToObject(body, "secret", secret))) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < events.n; i++) {
		if (!cJSON_AddItemToArray(list, cJSON_CreateString(events.items[i]))) {
			error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
			goto done;
		}
	}
	if ((error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_json(c, "POST", "/api/v1/webhooks", body, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot add webhook '%s'", url);
		goto done;
	}
	if (cfg->json) {
		error = cli_print_json(resp.body);
		goto done;
	}
	join_events(cJSON_GetObjectItemCaseSensitive(resp.body, "events"), names, sizeof(names));
	printf("webhook %s: %s (events %s)\n", cli_json_text(resp.body, "id", "?"), cli_json_text(resp.body, "url", url),
	       names);
	shown = util_json_str(resp.body, "secret");
	if (shown) {
		printf("secret: %s\n", shown);
		if (!cfg->quiet)
			fprintf(stderr, "warning: the secret is shown only once; the receiver checks X-Mlreg-Signature "
					"with it\n");
	}
done:
	cli_list_release(&events);
	cJSON_Delete(body);
	cli_response_release(&resp);
	cli_client_free(c);
	return error;
}

static void webhook_row(const cJSON *w, const char **row, char buf[CLI_ROW_BUFS][CLI_ROW_BUF])
{
	join_events(cJSON_GetObjectItemCaseSensitive(w, "events"), buf[0], CLI_ROW_BUF);
	snprintf(buf[1], CLI_ROW_BUF, "%lld", (long long)cli_json_int(w, "pending", 0));
	snprintf(buf[2], CLI_ROW_BUF, "%lld", (long long)cli_json_int(w, "delivered", 0));
	snprintf(buf[3], CLI_ROW_BUF, "%lld", (long long)cli_json_int(w, "failed", 0));
	row[0] = cli_json_text(w, "id", "?");
	row[1] = cli_json_text(w, "url", "?");
	row[2] = buf[0];
	row[3] = buf[1];
	row[4] = buf[2];
	row[5] = buf[3];
	row[6] = cli_json_text(w, "created_at", "-");
}

static int cmd_webhook_ls_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	static const char *const head[] = {"ID", "URL", "EVENTS", "PENDING", "DELIVERED", "FAILED", "CREATED"};
	return cli_list_table(self, cfg, argc, argv, "/api/v1/webhooks", "webhooks", "webhooks", head, 7, webhook_row);
}

static int cmd_webhook_rm_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_client *c = NULL;
	cli_response resp;
	util_buf path;
	const char *id = NULL;
	int error;

	memset(&resp, 0, sizeof(resp));
	util_buf_init(&path, 4096);
	if ((error = cli_args_positionals(self, argc, argv, &id, 1, "expected ID")) < 0 ||
	    (error = webhook_path(id, "", &path)) < 0 || (error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_json(c, "DELETE", path.ptr, NULL, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot remove webhook '%s'", id);
		goto done;
	}
	if (cfg->json)
		error = cli_print_json(resp.body);
	else
		printf("removed webhook %s (its pending deliveries are dropped)\n", id);
done:
	cli_response_release(&resp);
	cli_client_free(c);
	util_buf_release(&path);
	return error;
}

static void delivery_row(const cJSON *d, const char **row, char buf[CLI_ROW_BUFS][CLI_ROW_BUF])
{
	int64_t st;
	snprintf(buf[0], CLI_ROW_BUF, "%lld", (long long)cli_json_int(d, "attempt", 0));
	snprintf(buf[1], CLI_ROW_BUF, "-");
	if (util_json_i64(d, "status", &st) == 0)
		snprintf(buf[1], CLI_ROW_BUF, "%lld", (long long)st);
	row[0] = cli_json_text(d, "time", "-");
	row[1] = cli_json_text(d, "event", "-");
	row[2] = cli_json_text(d, "event_id", "-");
	row[3] = buf[0];
	row[4] = buf[1];
	row[5] = cli_json_text(d, "outcome", "-");
	row[6] = util_json_str(d, "error") && *util_json_str(d, "error") ? util_json_str(d, "error") : "-";
}

static int cmd_webhook_deliveries_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	static const char *const head[] = {"TIME", "EVENT", "EVENT ID", "ATTEMPT", "STATUS", "OUTCOME", "ERROR"};
	char what[300];
	cli_args a;
	util_buf path;
	const char *id = NULL, *limit = NULL;
	int64_t n;
	int rc, error = 0;

	util_buf_init(&path, 4096);
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		if (rc == OPT_LIMIT && (util_parse_i64(a.value, &n) < 0 || n < 1))
			error = cli_usage_error(self->name, "invalid limit '%s': use a positive number", a.value);
		else if (rc == OPT_LIMIT)
			limit = a.value;
		else if (rc == CLI_ARGS_POS && !id)
			id = a.value;
		else if (rc == CLI_ARGS_POS)
			error = cli_usage_error(self->name, "unexpected argument '%s'", a.value);
		else
			error = rc;
		if (error < 0)
			goto done;
	}
	if (!id) {
		error = cli_usage_error(self->name, "expected ID");
		goto done;
	}
	if ((error = webhook_path(id, "/deliveries", &path)) < 0 ||
	    (limit && (error = cli_query_add(&path, "limit", limit)) < 0))
		goto done;
	snprintf(what, sizeof(what), "the deliveries of webhook '%s'", id);
	error = cli_list_get(cfg, path.ptr, what, "deliveries", head, 7, delivery_row);
done:
	util_buf_release(&path);
	return error;
}

const cli_cmd_entry cli_cmd_webhook_add_entry = {
	.name = "webhook add",
	.usage = "URL --events EVENT,... [--secret S]",
	.summary = "send signed event notifications to a URL (admin)",
	.help = "options:\n"
		"  --events LIST   comma-separated: push, promote, rollback, alias, approve,\n"
		"                  policy, stages, deprecate, delete, or the controller's rollout.started,\n"
		"                  rollout.step, rollout.paused, rollout.resumed, rollout.promoted,\n"
		"                  rollout.retry, rollout.superseded, rollout.healthy, rollout.aborted;\n"
		"                  '*' for all (required)\n"
		"  --secret S      HMAC-SHA256 signing secret (default: generated)\n"
		"output: 'webhook ID: URL (events ...)' and 'secret: S' (shown only here)\n"
		"--json: {\"id\",\"url\",\"events\",\"created_at\",\"secret\"}\n",
	.options = add_options,
	.exec = cmd_webhook_add_exec,
};

const cli_cmd_entry cli_cmd_webhook_ls_entry = {
	.name = "webhook ls",
	.usage = "",
	.summary = "list webhooks with their delivery counts (admin)",
	.help = "output: a table ID, URL, EVENTS, PENDING, DELIVERED, FAILED, CREATED\n"
		"--json: {\"webhooks\":[{\"id\",\"url\",\"events\",\"created_at\",\"pending\",\"delivered\",\"failed\"}]}\n",
	.exec = cmd_webhook_ls_exec,
};

const cli_cmd_entry cli_cmd_webhook_rm_entry = {
	.name = "webhook rm",
	.usage = "ID",
	.summary = "remove a webhook and its pending deliveries (admin)",
	.help = "--json: {\"id\",\"removed\":true}\n",
	.exec = cmd_webhook_rm_exec,
};

const cli_cmd_entry cli_cmd_webhook_deliveries_entry = {
	.name = "webhook deliveries",
	.usage = "ID [--limit N]",
	.summary = "show a webhook's delivery attempts, newest first (admin)",
	.help = "options:\n"
		"  --limit N   at most N attempts\n"
		"output: a table TIME, EVENT, EVENT ID, ATTEMPT, STATUS, OUTCOME, ERROR\n"
		"--json: {\"deliveries\":[{\"event_id\",\"event\",\"attempt\",\"time\",\"status\",\"error\",\"outcome\"}]}\n",
	.options = deliveries_options,
	.exec = cmd_webhook_deliveries_exec,
};

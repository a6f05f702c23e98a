/*
 * cmd_node.c - `mlreg node add|ls|rm`: the serving nodes the deployment
 * controller drives (admin to change, any reader to list).
 *
 * Names, URLs and labels are checked here with the registry's own rules
 * (util/names.c), so a typo is exit 2 before any request; what only the
 * registry can judge (a taken name, a driver it does not know) comes back
 * from it.  `ls` shows what the reconciler last observed on each node:
 * whether it answered, when, how often it failed in a row, and what it
 * serves, since that is the first thing an operator asks when a rollout
 * stalls.
 */
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/deploy_common.h"
#include "util/json.h"

enum { OPT_DRIVER = 256, OPT_LABEL };

static const cli_option add_options[] = {
	{"driver", OPT_DRIVER, true},
	{"label", OPT_LABEL, true},
	{NULL, 0, false},
};

static int cmd_node_add_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_args a;
	cli_client *c = NULL;
	cli_response resp;
	const char *name = NULL, *url = NULL, *driver = NULL;
	cJSON *body = cJSON_CreateObject(), *labels = body ? cJSON_AddObjectToObject(body, "labels") : NULL;
	int rc, error = 0;

	memset(&resp, 0, sizeof(resp));
	if (!labels) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		if (rc == OPT_DRIVER)
			driver = a.value;
		else if (rc == OPT_LABEL)
			error = cli_label_pairs_add(self->name, "--label", a.value, labels);
		else if (rc == CLI_ARGS_POS && !name)
			name = a.value;
		else if (rc == CLI_ARGS_POS && !url)
			url = a.value;
		else if (rc == CLI_ARGS_POS)
			error = cli_usage_error(self->name, "unexpected argument '%s'", a.value);
		else
			error = rc;
		if (error < 0)
			goto done;
	}
	if (!name || !url) {
		error = cli_usage_error(self->name, "expected NAME and URL");
		goto done;
	}
	if ((error = cli_resource_name_check(self->name, "node", name)) < 0)
		goto done;
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
		error = cli_usage_error(self->name, "invalid URL '%s': must start with http:// or https://", url);
		goto done;
	}
	if (!cJSON_AddStringToObject(body, "name", name) || !cJSON_AddStringToObject(body, "url", url) ||
	    (driver && !cJSON_AddStringToObject(body, "driver", driver))) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	if ((error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_json(c, "POST", "/api/v1/nodes", body, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot add node '%s'", name);
		goto done;
	}
	if (cfg->json) {
		error = cli_print_json(resp.body);
	} else {
		char lbl[1024];
		cli_labels_join(cJSON_GetObjectItemCaseSensitive(resp.body, "labels"), lbl, sizeof(lbl));
		printf("added node %s: %s (driver %s, labels %s)\n", name, cli_json_text(resp.body, "url", url),
		       cli_json_text(resp.body, "driver", "?"), lbl[0] ? lbl : "none");
	}
done:
	cJSON_Delete(body);
	cli_response_release(&resp);
	cli_client_free(c);
	return error;
}

/* "fraud:2@90,fraud:3@10" from an observation's models. */
static void served(const cJSON *obs, char *out, size_t outsz)
{
	const cJSON *m;
	size_t used = 0;
	out[0] = '\0';
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(obs, "models"))
	{
		char v[32] = "?", w[32] = "";
		const cJSON *vv = cJSON_GetObjectItemCaseSensitive(m, "version"), *ww = cJSON_GetObjectItemCaseSensitive(m, "weight");
		int n;
		if (cJSON_IsNumber(vv))
			snprintf(v, sizeof(v), "%lld", (long long)vv->valuedouble);
		else if (cJSON_IsString(vv))
			snprintf(v, sizeof(v), "%.20s", vv->valuestring);
		if (cJSON_IsNumber(ww))
			snprintf(w, sizeof(w), "@%lld", (long long)ww->valuedouble);
		n = snprintf(out + used, outsz - used, "%s%.64s:%s%s", used ? "," : "", cli_json_text(m, "name", "?"), v, w);
		if (n < 0 || (size_t)n >= outsz - used) {
			out[used] = '\0';
			break;
		}
		used += (size_t)n;
	}
}

static void node_row(const cJSON *n, const char **row, char buf[CLI_ROW_BUFS][CLI_ROW_BUF])
{
	const cJSON *obs = cJSON_GetObjectItemCaseSensitive(n, "observed");
	char *lbl = buf[0], *srv = buf[1], *fails = buf[2];
	cli_labels_join(cJSON_GetObjectItemCaseSensitive(n, "labels"), lbl, CLI_ROW_BUF);
	served(obs, srv, CLI_ROW_BUF);
	snprintf(fails, CLI_ROW_BUF, "-");
	if (cJSON_IsObject(obs))
		snprintf(fails, CLI_ROW_BUF, "%lld", (long long)cli_json_int(obs, "fails", 0));
	row[0] = cli_json_text(n, "name", "?");
	row[1] = cli_json_text(n, "url", "?");
	row[2] = cli_json_text(n, "driver", "?");
	row[3] = lbl[0] ? lbl : "-";
	row[4] = !cJSON_IsObject(obs) ? "unknown"
		 : cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obs, "healthy")) ? "yes"
										    : "no";
	row[5] = fails;
	row[6] = cJSON_IsObject(obs) ? cli_json_text(obs, "at", "-") : "never";
	row[7] = srv[0] ? srv : "-";
}

static int cmd_node_ls_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	static const char *const head[] = {"NAME", "URL", "DRIVER", "LABELS", "HEALTHY", "FAILS", "SEEN", "SERVES"};
	return cli_list_table(self, cfg, argc, argv, "/api/v1/nodes", "nodes", "nodes", head, 8, node_row);
}

static int cmd_node_rm_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_client *c = NULL;
	cli_response resp;
	util_buf path;
	const char *name = NULL;
	int error;

	memset(&resp, 0, sizeof(resp));
	util_buf_init(&path, 4096);
	if ((error = cli_args_positionals(self, argc, argv, &name, 1, "expected NAME")) < 0 ||
	    (error = cli_resource_name_check(self->name, "node", name)) < 0 ||
	    (error = util_buf_printf(&path, "/api/v1/nodes/%s", name)) < 0 || (error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_json(c, "DELETE", path.ptr, NULL, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot remove node '%s'", name);
		goto done;
	}
	if (cfg->json)
		error = cli_print_json(resp.body);
	else
		printf("removed node %s\n", name);
done:
	cli_response_release(&resp);
	cli_client_free(c);
	util_buf_release(&path);
	return error;
}

const cli_cmd_entry cli_cmd_node_add_entry = {
	.name = "node add",
	.usage = "NAME URL [--driver mlreg] [--label KEY=VALUE]...",
	.summary = "register a serving node the controller drives (admin)",
	.help = "options:\n"
		"  --driver D         how to talk to it: mlreg (mlreg-node, the default)\n"
		"  --label KEY=VALUE  a label deployments select nodes by (repeatable)\n"
		"NAME: 1 to 63 lowercase letters and digits separated by single '.', '_' or '-';\n"
		"URL: the node's base URL, http or https, without user info or query.\n"
		"output: added node NAME: URL (driver D, labels K=V,...)\n"
		"--json: {\"name\",\"url\",\"driver\",\"labels\",\"created_at\",\"created_by\",\"observed\"}\n",
	.options = add_options,
	.exec = cmd_node_add_exec,
};

const cli_cmd_entry cli_cmd_node_ls_entry = {
	.name = "node ls",
	.usage = "",
	.summary = "list serving nodes with what the controller last saw on them",
	.help = "output: a table NAME, URL, DRIVER, LABELS, HEALTHY, FAILS, SEEN, SERVES\n"
		"--json: {\"nodes\":[{\"name\",\"url\",\"driver\",\"labels\",\"created_at\",\"created_by\",\n"
		"         \"observed\":{\"healthy\",\"at\",\"error\",\"fails\",\"models\":[…]}|null}]}\n",
	.exec = cmd_node_ls_exec,
};

const cli_cmd_entry cli_cmd_node_rm_entry = {
	.name = "node rm",
	.usage = "NAME",
	.summary = "remove a serving node (admin)",
	.help = "The node keeps serving what it has; the controller stops driving it.\n"
		"--json: {\"name\",\"removed\":true}\n",
	.exec = cmd_node_rm_exec,
};

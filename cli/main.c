/*
 * main.c - entry point of `mlreg`: global flags, configuration, the command
 * table, and the single place where an error becomes `mlreg: <message>` on
 * stderr and an exit status.
 *
 * Global flags (--registry, --token, --json, -q) are accepted before or after
 * the subcommand.  They are removed from the argument list before the command
 * runs, using the command's own option table to skip option values, so a
 * command never has to know about them.  `server` is the exception: its
 * arguments go to api_server_main() untouched because the server parses its
 * own flags.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <curl/curl.h>
#include "cli/cli.h"

static const cli_cmd_entry *const commands[] = {
	&cli_cmd_server_entry,        &cli_cmd_controller_entry,    &cli_cmd_push_entry,          &cli_cmd_pull_entry,
	&cli_cmd_ls_entry,            &cli_cmd_show_entry,          &cli_cmd_search_entry,
	&cli_cmd_diff_entry,          &cli_cmd_metrics_log_entry,   &cli_cmd_tag_entry,
	&cli_cmd_deprecate_entry,     &cli_cmd_rm_entry,            &cli_cmd_stages_ls_entry,
	&cli_cmd_stages_set_entry,    &cli_cmd_alias_set_entry,     &cli_cmd_alias_rm_entry,
	&cli_cmd_policy_set_entry,    &cli_cmd_policy_show_entry,   &cli_cmd_policy_rm_entry,
	&cli_cmd_approve_entry,       &cli_cmd_gate_entry,          &cli_cmd_promote_entry,
	&cli_cmd_rollback_entry,      &cli_cmd_history_entry,       &cli_cmd_lineage_entry,
	&cli_cmd_gc_entry,            &cli_cmd_fsck_entry,          &cli_cmd_blob_url_entry,          &cli_cmd_token_create_entry,
	&cli_cmd_token_ls_entry,      &cli_cmd_token_revoke_entry,  &cli_cmd_audit_entry,
	&cli_cmd_audit_verify_entry,  &cli_cmd_audit_export_entry,  &cli_cmd_webhook_add_entry,
	&cli_cmd_webhook_ls_entry,    &cli_cmd_webhook_rm_entry,    &cli_cmd_webhook_deliveries_entry,
	&cli_cmd_node_add_entry,      &cli_cmd_node_ls_entry,       &cli_cmd_node_rm_entry,
	&cli_cmd_deploy_create_entry, &cli_cmd_deploy_ls_entry,     &cli_cmd_deploy_status_entry,
	&cli_cmd_deploy_events_entry, &cli_cmd_deploy_rm_entry,     &cli_cmd_rollout_pause_entry,
	&cli_cmd_rollout_resume_entry, &cli_cmd_rollout_promote_entry, &cli_cmd_rollout_abort_entry,
	&cli_cmd_rollout_retry_entry, &cli_cmd_keygen_entry,        &cli_cmd_key_add_entry,       &cli_cmd_key_ls_entry,
	&cli_cmd_key_rm_entry,        &cli_cmd_sign_entry,          &cli_cmd_verify_entry,
	&cli_cmd_export_entry,        &cli_cmd_import_entry,
	&cli_cmd_backup_entry,        &cli_cmd_restore_entry,
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* Flags as given, before environment and defaults are applied. */
typedef struct {
	const char *registry;
	const char *token;
	const char *cacert;
	bool json;
	bool quiet;
	bool help;
	bool version;
} global_flags;

static void print_main_help(FILE *out)
{
	fprintf(out, "usage: mlreg [--registry URL] [--token T] [--json] [-q] COMMAND [ARGS]\n\n"
		     "commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  %-19s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(out,
		"\nglobal options (before or after the command):\n"
		"  --registry URL  registry base URL (env MLREG_REGISTRY, default http://127.0.0.1:8470)\n"
		"  --token T       bearer token (env MLREG_TOKEN, else ~/.config/mlreg/token)\n"
		"  --cacert FILE   CA certificates (PEM) that verify an https registry (env MLREG_CACERT;\n"
		"                  default the system's)\n"
		"  --json          machine-readable output on stdout\n"
		"  -q, --quiet     no progress or informational lines on stderr\n"
		"  --help          help for mlreg or a command\n"
		"  --version       print the version\n"
		"\nexit codes: 0 ok, 1 error, 2 usage, 3 refused by gate or policy,\n"
		"  4 unauthenticated or forbidden, 5 not found, 6 conflict or integrity failure\n"
		"\nrun 'mlreg COMMAND --help' for a command's options; see docs/cli.md\n");
}

static void print_cmd_help(const cli_cmd_entry *e)
{
	printf("usage: mlreg %s%s%s\n\n%s\n", e->name, e->usage[0] ? " " : "", e->usage, e->summary);
	if (e->help)
		printf("\n%s", e->help);
}

/* Consume a global flag at argv[*i]: 1 when it was one (and *i moved past
 * it and its value), 0 when not, MLREG_EUSAGE when its value is missing. */
static int take_global(global_flags *g, int argc, char **argv, int *i)
{
	const char *a = argv[*i];
	const char **slot = NULL;
	size_t n = 0;
	if (!strcmp(a, "--json")) {
		g->json = true;
	} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
		g->quiet = true;
	} else if (!strncmp(a, "--registry", 10) && (a[10] == '\0' || a[10] == '=')) {
		slot = &g->registry;
		n = 10;
	} else if (!strncmp(a, "--token", 7) && (a[7] == '\0' || a[7] == '=')) {
		slot = &g->token;
		n = 7;
	} else if (!strncmp(a, "--cacert", 8) && (a[8] == '\0' || a[8] == '=')) {
		slot = &g->cacert;
		n = 8;
	} else {
		return 0;
	}
	if (slot) {
		if (a[n] == '=') {
			*slot = a + n + 1;
		} else {
			if (*i + 1 >= argc)
				return cli_usage_error(NULL, "option '%s' needs a value", a);
			*slot = argv[++*i];
		}
	}
	++*i;
	return 1;
}

/* Find the command at argv[*i] ("token create" spans two words; global
 * flags between the two words are taken too). */
static int find_command(global_flags *g, int argc, char **argv, int *i, const cli_cmd_entry **out)
{
	const char *w1 = argv[*i];
	size_t l1 = strlen(w1);
	bool has_sub = false;
	int j = *i + 1, rc;
	for (size_t k = 0; k < NCOMMANDS; k++)
		if (!strncmp(commands[k]->name, w1, l1) && commands[k]->name[l1] == ' ')
			has_sub = true;
	while (has_sub && j < argc && (rc = take_global(g, argc, argv, &j)) != 0)
		if (rc < 0)
			return rc;
	if (has_sub && j < argc) {
		for (size_t k = 0; k < NCOMMANDS; k++) {
			const char *name = commands[k]->name;
			if (!strncmp(name, w1, l1) && name[l1] == ' ' && !strcmp(name + l1 + 1, argv[j])) {
				*i = j + 1;
				*out = commands[k];
				return 0;
			}
		}
	}
	for (size_t k = 0; k < NCOMMANDS; k++) {
		if (!strcmp(commands[k]->name, w1)) {
			*i = *i + 1;
			*out = commands[k];
			return 0;
		}
	}
	if (has_sub) {
		char subs[256] = "";
		for (size_t k = 0; k < NCOMMANDS; k++) {
			const char *name = commands[k]->name;
			if (!strncmp(name, w1, l1) && name[l1] == ' ' &&
			    strlen(subs) + strlen(name + l1) + 2 < sizeof(subs))
				strcat(strcat(subs, subs[0] ? ", " : ""), name + l1 + 1);
		}
		return cli_usage_error(NULL, "'%s' needs a subcommand: %s", w1, subs);
	}
	return cli_usage_error(NULL, "unknown command '%s'", w1);
}

static char *token_file_path(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	util_buf b;
	util_buf_init(&b, 8192);
	if (xdg && *xdg)
		util_buf_printf(&b, "%s/mlreg/token", xdg);
	else if (home && *home)
		util_buf_printf(&b, "%s/.config/mlreg/token", home);
	else
		return NULL;
	return util_buf_detach(&b);
}

static bool token_chars_ok(const char *t)
{
	for (const unsigned char *p = (const unsigned char *)t; *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return false;
	return *t != '\0';
}

/* Fill cfg from flags, environment and the token file; *owned collects the
 * heap strings cfg points to (freed by the caller). */
static int load_config(const global_flags *g, cli_config *cfg, char **owned_registry, char **owned_token,
		       char **owned_path)
{
	const char *reg = g->registry, *tok = g->token, *t;
	size_t n;
	char *copy;
	memset(cfg, 0, sizeof(*cfg));
	cfg->json = g->json;
	cfg->quiet = g->quiet;
	cfg->timeout_ms = 60000;
	if ((t = getenv("MLREG_TIMEOUT")) && *t && util_duration_ms(t, &cfg->timeout_ms) < 0)
		return cli_error_wrap(MLREG_EUSAGE, "invalid MLREG_TIMEOUT");
	if (cfg->timeout_ms <= 0)
		cfg->timeout_ms = 1;
	cfg->connect_timeout_ms = cfg->timeout_ms < 10000 ? cfg->timeout_ms : 10000;
	cfg->cacert = g->cacert && *g->cacert ? g->cacert : getenv("MLREG_CACERT");
	if (cfg->cacert && !*cfg->cacert)
		cfg->cacert = NULL;
	if (cfg->cacert && access(cfg->cacert, R_OK) != 0)
		return mlreg_error_set(MLREG_EUSAGE, "--cacert %s: cannot read it", cfg->cacert);

	if (!reg || !*reg)
		reg = getenv("MLREG_REGISTRY");
	if (!reg || !*reg)
		reg = "http://127.0.0.1:8470";
	if (strncmp(reg, "http://", 7) != 0 && strncmp(reg, "https://", 8) != 0)
		return mlreg_error_set(MLREG_EUSAGE, "invalid registry URL '%s': must start with http:// or https://",
				       reg);
	if (!(copy = strdup(reg)))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	for (n = strlen(copy); n > 0 && copy[n - 1] == '/'; n--)
		copy[n - 1] = '\0';
	*owned_registry = copy;
	cfg->registry = copy;

	cfg->token_source = "--token";
	if (!tok || !*tok) {
		tok = getenv("MLREG_TOKEN");
		cfg->token_source = "MLREG_TOKEN";
	}
	if ((!tok || !*tok) && (*owned_path = token_file_path())) {
		char *data = NULL;
		int rc = util_read_token_file(*owned_path, &data);
		if (rc == 0) {
			*owned_token = data;
			tok = data;
			cfg->token_source = *owned_path;
		} else if (rc == MLREG_EINVALID) {
			return mlreg_error_set(MLREG_EUSAGE, "invalid token: %s", mlreg_error_last());
		} else if (rc != MLREG_ENOTFOUND) {
			return cli_error_wrap(MLREG_ERROR, "cannot read the token file");
		}
	}
	if (tok && *tok) {
		if (!token_chars_ok(tok))
			return mlreg_error_set(MLREG_EUSAGE, "invalid token from %s: it contains spaces or control characters",
					       cfg->token_source);
		cfg->token = tok;
	}
	mlreg_error_clear();
	return 0;
}

/* Copy argv without the global flags into *out (the array is heap, the
 * strings borrowed); --help anywhere before "--" sets g->help. */
static int strip_globals(global_flags *g, const cli_cmd_entry *e, int argc, char **argv, int *out_argc,
			 char ***out)
{
	char **v = calloc((size_t)argc + 1, sizeof(char *));
	int n = 0, i = 0, rc;
	if (!v)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	while (i < argc) {
		const char *a = argv[i];
		const cli_option *o;
		if (!strcmp(a, "--")) {
			while (i < argc)
				v[n++] = argv[i++];
			break;
		}
		if ((rc = take_global(g, argc, argv, &i)) < 0) {
			free(v);
			return rc;
		}
		if (rc > 0)
			continue;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			g->help = true;
			i++;
			continue;
		}
		o = cli_option_find(e->options, a);
		v[n++] = argv[i++];
		if (o && o->has_value == true && !strchr(a, '=') && i < argc)
			v[n++] = argv[i++];
	}
	*out_argc = n;
	*out = v;
	return 0;
}

static int run(int argc, char **argv)
{
	global_flags g;
	cli_config cfg;
	const cli_cmd_entry *e = NULL;
	char *owned_registry = NULL, *owned_token = NULL, *owned_path = NULL;
	char **cargv = NULL;
	int cargc = 0, i = 1, rc, error;

	memset(&g, 0, sizeof(g));
	while (i < argc && argv[i][0] == '-') {
		if ((rc = take_global(&g, argc, argv, &i)) < 0)
			return cli_exit_code(rc);
		if (rc > 0)
			continue;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			print_main_help(stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--version") || !strcmp(argv[i], "-V")) {
			printf("mlreg %s\n", MLREG_VERSION_STRING);
			return 0;
		}
		fprintf(stderr, "mlreg: unknown option '%s' (see 'mlreg --help')\n", argv[i]);
		return CLI_EXIT_USAGE;
	}
	if (i >= argc) {
		print_main_help(stderr);
		return CLI_EXIT_USAGE;
	}
	if (!strcmp(argv[i], "help")) {
		if (i + 1 >= argc) {
			print_main_help(stdout);
			return 0;
		}
		i++;
		g.help = true;
	}
	if ((error = find_command(&g, argc, argv, &i, &e)) < 0)
		goto done;
	if (e->raw_args && !g.help) {
		/* argv[0] of the server's own parser is the word "server"; it
		 * owns its signals, so ours are not installed. */
		return e->exec(e, NULL, argc - (i - 1), argv + (i - 1));
	}
	cli_signals_install();
	if ((error = strip_globals(&g, e, argc - i, argv + i, &cargc, &cargv)) < 0)
		goto done;
	if (g.help) {
		print_cmd_help(e);
		error = 0;
		goto done;
	}
	if ((error = load_config(&g, &cfg, &owned_registry, &owned_token, &owned_path)) < 0)
		goto done;
	error = e->exec(e, &cfg, cargc, cargv);
done:
	if (fflush(stdout) != 0 && error == 0)
		error = mlreg_error_set(MLREG_EIO, "cannot write output");
	if (error < 0) {
		const char *msg = mlreg_error_last();
		fprintf(stderr, "mlreg: %s\n", msg[0] ? msg : mlreg_error_name(error));
	}
	free(cargv);
	free(owned_registry);
	free(owned_token);
	free(owned_path);
	return cli_exit_code(error);
}

int main(int argc, char **argv)
{
	int code;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "mlreg: cannot initialise libcurl\n");
		return CLI_EXIT_ERROR;
	}
	code = run(argc, argv);
	curl_global_cleanup();
	return code;
}

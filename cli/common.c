/*
 * common.c - the pieces every command shares: the option iterator, the one
 * error-code -> exit-status table, interrupt handling, REF and key=value
 * arguments, and output formatting (JSON lines, sizes, numbers, tables).
 *
 * Options are parsed by a small iterator instead of getopt_long because
 * global flags may appear after the subcommand (main.c strips them first)
 * and because each command's table doubles as documentation for the
 * pre-scan that tells option values from positional arguments.
 */
#define _GNU_SOURCE
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "util/json.h"

void cli_args_init(cli_args *a, const char *cmd, const cli_option *opts, int argc, char **argv)
{
	memset(a, 0, sizeof(*a));
	a->cmd = cmd;
	a->opts = opts;
	a->argc = argc;
	a->argv = argv;
}

const cli_option *cli_option_find(const cli_option *opts, const char *arg)
{
	const char *name;
	size_t n;
	if (!opts || arg[0] != '-' || !arg[1])
		return NULL;
	name = arg[1] == '-' ? arg + 2 : arg + 1;
	n = strcspn(name, "=");
	for (const cli_option *o = opts; o->name; o++) {
		bool long_form = strlen(o->name) > 1;
		if (long_form != (arg[1] == '-'))
			continue;
		if (strlen(o->name) == n && !strncmp(o->name, name, n))
			return o;
	}
	return NULL;
}

int cli_args_next(cli_args *a)
{
	const char *arg;
	const cli_option *o;
	const char *eq;
	if (a->i >= a->argc)
		return CLI_ARGS_END;
	arg = a->argv[a->i++];
	a->opt = NULL;
	if (a->only_positional || arg[0] != '-' || !arg[1]) {
		a->value = arg;
		return CLI_ARGS_POS;
	}
	if (!strcmp(arg, "--")) {
		a->only_positional = true;
		return cli_args_next(a);
	}
	o = cli_option_find(a->opts, arg);
	if (!o)
		return cli_usage_error(a->cmd, "unknown option '%s'", arg);
	a->opt = arg;
	eq = strchr(arg, '=');
	if (!o->has_value) {
		if (eq)
			return cli_usage_error(a->cmd, "option '--%s' takes no value", o->name);
		a->value = NULL;
		return o->id;
	}
	if (o->has_value == CLI_VALUE_OPTIONAL) {
		a->value = eq ? eq + 1 : NULL;
		return o->id;
	}
	if (eq) {
		a->value = eq + 1;
	} else {
		if (a->i >= a->argc)
			return cli_usage_error(a->cmd, "option '%s' needs a value", arg);
		a->value = a->argv[a->i++];
	}
	return o->id;
}

int cli_args_positionals(const cli_cmd_entry *self, int argc, char **argv, const char **pos, int want,
			 const char *expected)
{
	cli_args a;
	int rc, n = 0;
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		if (rc != CLI_ARGS_POS)
			return rc < 0 ? rc : cli_usage_error(self->name, "unexpected option");
		if (n == want)
			return cli_usage_error(self->name, "unexpected argument '%s'", a.value);
		pos[n++] = a.value;
	}
	if (n < want)
		return cli_usage_error(self->name, "%s", expected);
	return 0;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	char msg[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (cmd)
		return mlreg_error_set(MLREG_EUSAGE, "%s: %s (see 'mlreg %s --help')", cmd, msg, cmd);
	return mlreg_error_set(MLREG_EUSAGE, "%s (see 'mlreg --help')", msg);
}

int cli_error_wrap(int code, const char *fmt, ...)
{
	char prefix[512], last[1024];
	va_list ap;
	snprintf(last, sizeof(last), "%s", mlreg_error_last());
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	if (!last[0])
		return mlreg_error_set(code, "%s", prefix);
	return mlreg_error_set(code, "%s: %s", prefix, last);
}

void cli_error_save(cli_error_saved *s, int code)
{
	s->code = code;
	snprintf(s->msg, sizeof(s->msg), "%s", mlreg_error_last());
}

int cli_error_restore(const cli_error_saved *s)
{
	return mlreg_error_set(s->code, "%s", s->msg);
}

int cli_exit_code(int err)
{
	static const struct {
		int err;
		int exit;
	} table[] = {
		{MLREG_OK, CLI_EXIT_OK},
		{MLREG_EUSAGE, CLI_EXIT_USAGE},
		{MLREG_EREFUSED, CLI_EXIT_REFUSED},
		{MLREG_EAUTH, CLI_EXIT_AUTH},
		{MLREG_EFORBIDDEN, CLI_EXIT_AUTH},
		{MLREG_ENOTFOUND, CLI_EXIT_NOTFOUND},
		{MLREG_ECONFLICT, CLI_EXIT_CONFLICT},
		{MLREG_EEXISTS, CLI_EXIT_CONFLICT},
		{MLREG_EINTEGRITY, CLI_EXIT_CONFLICT},
	};
	if (err < 0 && cli_interrupted())
		return CLI_EXIT_INTERRUPTED;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].err == err)
			return table[i].exit;
	return CLI_EXIT_ERROR;
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

void cli_signals_install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

bool cli_interrupted(void) { return interrupted != 0; }

int cli_sleep_ms(int64_t ms)
{
	while (ms > 0) {
		int64_t step = ms < 50 ? ms : 50;
		struct timespec ts = {(time_t)(step / 1000), (long)(step % 1000) * 1000000L};
		if (cli_interrupted())
			return mlreg_error_set(MLREG_ERROR, "interrupted");
		nanosleep(&ts, NULL);
		ms -= step;
	}
	return cli_interrupted() ? mlreg_error_set(MLREG_ERROR, "interrupted") : 0;
}

int cli_ref_parse(const char *cmd, const char *s, util_ref *out)
{
	util_ref r;
	if (util_ref_parse(s, &r) < 0)
		return cli_usage_error(cmd, "%s", mlreg_error_last());
	*out = r;
	return 0;
}

int cli_ref_parse_version(const char *cmd, const char *s, util_ref *out)
{
	util_ref r;
	int error;
	if ((error = cli_ref_parse(cmd, s, &r)) < 0)
		return error;
	if (r.kind != UTIL_REF_VERSION)
		return cli_usage_error(cmd, "reference '%s' names a%s; %s changes one version and needs a version number (MODEL:VERSION)",
				       s, r.kind == UTIL_REF_STAGE ? " stage" : "n alias", cmd);
	*out = r;
	return 0;
}

int cli_ref_segment(const util_ref *ref, char out[80])
{
	switch (ref->kind) {
	case UTIL_REF_VERSION: snprintf(out, 80, "%lld", (long long)ref->version); break;
	case UTIL_REF_STAGE: snprintf(out, 80, "%s", ref->label); break;
	case UTIL_REF_ALIAS: snprintf(out, 80, "@%s", ref->label); break;
	default: return mlreg_error_set(MLREG_EINVALID, "unknown reference kind");
	}
	return 0;
}

int cli_kv_split(const char *cmd, const char *what, const char *s, char **key, const char **value)
{
	const char *eq = strchr(s, '=');
	char *k;
	if (!eq || eq == s)
		return cli_usage_error(cmd, "invalid %s '%s': expected KEY=VALUE", what, s);
	k = strndup(s, (size_t)(eq - s));
	if (!k)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	if (!util_key_valid(k)) {
		free(k);
		return cli_usage_error(cmd, "invalid %s key in '%s': use letters, digits, '_', '.', '-', '/'",
				       what, s);
	}
	*key = k;
	*value = eq + 1;
	return 0;
}

void cli_list_init(cli_list *l) { memset(l, 0, sizeof(*l)); }

void cli_list_release(cli_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	cli_list_init(l);
}

int cli_list_split(const char *cmd, const char *what, const char *s, bool (*valid)(const char *), cli_list *l)
{
	const char *p = s;
	cli_list_release(l);
	for (;;) {
		size_t n = strcspn(p, ",");
		char *item, **grown;
		if (n == 0) {
			cli_list_release(l);
			return cli_usage_error(cmd, "empty %s name in '%s'", what, s);
		}
		if (!(item = strndup(p, n)) || !(grown = realloc(l->items, (l->n + 1) * sizeof(char *)))) {
			free(item);
			cli_list_release(l);
			return mlreg_error_set(MLREG_ENOMEM, "out of memory");
		}
		l->items = grown;
		l->items[l->n++] = item;
		if (valid && !valid(item)) {
			int rc = cli_usage_error(cmd, "invalid %s name '%s'", what, item);
			cli_list_release(l);
			return rc;
		}
		for (size_t i = 0; i + 1 < l->n; i++) {
			if (!strcmp(l->items[i], item)) {
				int rc = cli_usage_error(cmd, "%s '%s' is given twice", what, item);
				cli_list_release(l);
				return rc;
			}
		}
		if (!p[n])
			return 0;
		p += n + 1;
	}
}

int cli_label_check(const char *cmd, const char *what, const char *s)
{
	if (util_label_name_valid(s))
		return 0;
	return cli_usage_error(cmd,
			       "invalid %s name '%s': use lowercase letters, digits and '-', starting with a letter "
			       "(at most 63, not all digits, not 'latest')",
			       what, s);
}

int cli_print_json(const cJSON *v)
{
	char *s = util_json_print(v);
	if (!s)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	fputs(s, stdout);
	fputc('\n', stdout);
	free(s);
	return 0;
}

void cli_fmt_size(uint64_t n, char out[32])
{
	static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)n;
	int u = 0;
	if (n < 1024) {
		snprintf(out, 32, "%llu B", (unsigned long long)n);
		return;
	}
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(out, 32, "%.1f %s", v, units[u]);
}

void cli_fmt_double(double v, char out[40])
{
	snprintf(out, 40, "%.15g", v);
	if (strtod(out, NULL) != v)
		snprintf(out, 40, "%.17g", v);
}

int64_t cli_json_int(const cJSON *obj, const char *key, int64_t def)
{
	int64_t v;
	return util_json_i64(obj, key, &v) == 0 ? v : def;
}

const char *cli_json_text(const cJSON *obj, const char *key, const char *def)
{
	const char *s = util_json_str(obj, key);
	return s ? s : def;
}

void cli_table_init(cli_table *t, size_t ncols)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
}

int cli_table_add(cli_table *t, const char *const *row)
{
	if (t->nrows == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 16;
		char **p = realloc(t->cells, ncap * t->ncols * sizeof(char *));
		if (!p)
			return mlreg_error_set(MLREG_ENOMEM, "out of memory");
		t->cells = p;
		t->cap = ncap;
	}
	for (size_t c = 0; c < t->ncols; c++) {
		char *s = strdup(row[c] ? row[c] : "-");
		if (!s) {
			for (size_t k = 0; k < c; k++)
				free(t->cells[t->nrows * t->ncols + k]);
			return mlreg_error_set(MLREG_ENOMEM, "out of memory");
		}
		t->cells[t->nrows * t->ncols + c] = s;
	}
	t->nrows++;
	return 0;
}

void cli_table_print(const cli_table *t, FILE *out)
{
	size_t *w = calloc(t->ncols ? t->ncols : 1, sizeof(size_t));
	if (!w)
		return;
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t n = strlen(t->cells[r * t->ncols + c]);
			if (n > w[c])
				w[c] = n;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			if (c + 1 == t->ncols)
				fprintf(out, "%s\n", s);
			else
				fprintf(out, "%-*s  ", (int)w[c], s);
		}
	}
	free(w);
}

void cli_table_release(cli_table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	cli_table_init(t, t->ncols);
}

int cli_print_versions(const cJSON *versions)
{
	static const char *const head[] = {"VERSION", "STATUS", "SIZE", "CREATED", "DIGEST", "METRICS"};
	cli_table t;
	const cJSON *v;
	int error = 0;
	cli_table_init(&t, 6);
	if ((error = cli_table_add(&t, head)) < 0)
		goto done;
	cJSON_ArrayForEach(v, versions)
	{
		char ref[300], size[32], digest[24], metrics[200] = "";
		const char *d = cli_json_text(v, "digest", "-");
		const cJSON *m, *ms = cJSON_GetObjectItemCaseSensitive(v, "metrics");
		const char *row[6];
		size_t used = 0;
		snprintf(ref, sizeof(ref), "%s:%lld", cli_json_text(v, "model", "?"),
			 (long long)cli_json_int(v, "version", 0));
		cli_fmt_size((uint64_t)cli_json_int(v, "size", 0), size);
		snprintf(digest, sizeof(digest), "%.19s", d);
		cJSON_ArrayForEach(m, ms)
		{
			char num[40];
			int n;
			if (!cJSON_IsNumber(m))
				continue;
			cli_fmt_double(m->valuedouble, num);
			n = snprintf(metrics + used, sizeof(metrics) - used, "%s%s=%s", used ? "," : "", m->string, num);
			if (n < 0 || (size_t)n >= sizeof(metrics) - used) {
				/* keep the cell short: mark the cut */
				snprintf(metrics + (sizeof(metrics) > 4 ? sizeof(metrics) - 4 : 0), 4, "...");
				break;
			}
			used += (size_t)n;
		}
		row[0] = ref;
		row[1] = cli_json_text(v, "status", "-");
		row[2] = size;
		row[3] = cli_json_text(v, "created_at", "-");
		row[4] = digest;
		row[5] = metrics[0] ? metrics : "-";
		if ((error = cli_table_add(&t, row)) < 0)
			goto done;
	}
	cli_table_print(&t, stdout);
done:
	cli_table_release(&t);
	return error;
}

int cli_version_request(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv, const char *method,
			const char *suffix, cli_response *resp, const char **refs)
{
	cli_client *c = NULL;
	util_ref ref;
	util_buf path;
	bool read_only;
	int error;

	memset(resp, 0, sizeof(*resp));
	*refs = NULL;
	util_buf_init(&path, 4096);
	/* docs/api.md: reads take any REF, changes to a version a number only */
	read_only = !strcmp(method, "GET");
	if ((error = cli_args_positionals(self, argc, argv, refs, 1,
					  read_only ? "expected REF (MODEL:VERSION, MODEL:STAGE or MODEL@ALIAS)"
						    : "expected REF (MODEL:VERSION)")) < 0 ||
	    (error = (read_only ? cli_ref_parse : cli_ref_parse_version)(self->name, *refs, &ref)) < 0 ||
	    (error = cli_version_path(&path, &ref, suffix)) < 0 ||
	    (error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_json(c, method, path.ptr, NULL, resp)) < 0)
		error = cli_error_wrap(error, "cannot %s '%s'", self->name, *refs);
done:
	cli_client_free(c);
	util_buf_release(&path);
	return error;
}

int cli_version_action(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv,
		       const char *method, const char *suffix, const char *verb, const char *note)
{
	cli_response resp;
	const char *refs;
	int error = cli_version_request(self, cfg, argc, argv, method, suffix, &resp, &refs);
	if (error == 0) {
		if (cfg->json)
			error = cli_print_json(resp.body);
		else
			printf("%s %s%s\n", verb, refs, note ? note : "");
	}
	cli_response_release(&resp);
	return error;
}

cJSON *cli_deployments_fetch(const cli_config *cfg)
{
	cli_client *c = NULL;
	cli_response resp;
	cJSON *out = NULL;
	memset(&resp, 0, sizeof(resp));
	if (cli_client_new(&c, cfg) == 0 && cli_client_json(c, "GET", "/api/v1/deployments", NULL, &resp) == 0)
		out = cJSON_DetachItemFromObjectCaseSensitive(resp.body, "deployments");
	mlreg_error_clear();
	cli_response_release(&resp);
	cli_client_free(c);
	return cJSON_IsArray(out) ? out : (cJSON_Delete(out), cJSON_CreateArray());
}

cJSON *cli_deployments_of(const cJSON *all, const char *model, int64_t version)
{
	cJSON *out = cJSON_CreateArray();
	const cJSON *d;
	if (!out || !model)
		return out;
	cJSON_ArrayForEach(d, all)
	{
		const char *role = cli_json_int(d, "stable_version", 0) == version   ? "stable"
				   : cli_json_int(d, "target_version", 0) == version ? "target"
										      : NULL;
		const cJSON *n;
		cJSON *o, *nodes;
		if (!role || strcmp(cli_json_text(d, "model", ""), model) != 0)
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "deployment", cli_json_text(d, "name", "?"));
		cJSON_AddStringToObject(o, "role", role);
		cJSON_AddStringToObject(o, "phase", cli_json_text(d, "phase", "?"));
		nodes = cJSON_AddArrayToObject(o, "nodes");
		cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(d, "nodes"))
		{
			const cJSON *e;
			cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(n, "versions"))
			{
				cJSON *x;
				if (cli_json_int(e, "version", 0) != version)
					continue;
				x = cJSON_CreateObject();
				cJSON_AddStringToObject(x, "name", cli_json_text(n, "name", "?"));
				cJSON_AddNumberToObject(x, "weight", (double)cli_json_int(e, "weight", 0));
				cJSON_AddStringToObject(x, "state", cli_json_text(e, "state", "?"));
				cJSON_AddItemToArray(nodes, x);
			}
		}
		cJSON_AddItemToArray(out, o);
	}
	return out;
}

int cli_list_get(const cli_config *cfg, const char *path, const char *what, const char *key,
		 const char *const *head, size_t ncols, cli_row_fn row)
{
	cli_client *c = NULL;
	cli_response resp;
	cli_table t;
	const cJSON *it;
	int error;
	memset(&resp, 0, sizeof(resp));
	cli_table_init(&t, ncols);
	if ((error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_json(c, "GET", path, NULL, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot list %s", what);
		goto done;
	}
	if (cfg->json) {
		error = cli_print_json(resp.body);
		goto done;
	}
	if ((error = cli_table_add(&t, head)) < 0)
		goto done;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(resp.body, key))
	{
		const char *cells[16] = {0};
		char buf[CLI_ROW_BUFS][CLI_ROW_BUF];
		if (ncols > 16)
			abort(); /* a programming error: tables here are narrow */
		row(it, cells, buf);
		if ((error = cli_table_add(&t, cells)) < 0)
			goto done;
	}
	cli_table_print(&t, stdout);
done:
	cli_table_release(&t);
	cli_response_release(&resp);
	cli_client_free(c);
	return error;
}

int cli_list_table(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv, const char *path,
		   const char *what, const char *key, const char *const *head, size_t ncols, cli_row_fn row)
{
	int error = cli_args_positionals(self, argc, argv, NULL, 0, "");
	return error < 0 ? error : cli_list_get(cfg, path, what, key, head, ncols, row);
}

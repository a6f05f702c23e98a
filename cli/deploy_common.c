/*
 * deploy_common.c - helpers of the controller's commands: names and label
 * lists checked with the registry's own rules (util/names.c) so a typo is
 * exit 2 before any request, and the one rendering of a deployment status
 * that `deploy status`, `deploy create` and the rollout verbs print.
 *
 * Every string in a status comes from the registry, and parts of it
 * (messages, node names, states) from the reconciler and the nodes, so the
 * rendering prints them through a filter that turns control characters
 * into '?': a hostile node cannot move the operator's cursor.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cli/deploy_common.h"
#include "util/json.h"

int cli_resource_name_check(const char *cmd, const char *what, const char *name)
{
	if (util_resource_name_valid(name))
		return 0;
	return cli_usage_error(cmd,
			       "invalid %s name '%s': 1 to 63 lowercase letters and digits, separated by single '.', '_' "
			       "or '-'",
			       what, name ? name : "");
}

int cli_label_pairs_add(const char *cmd, const char *opt, const char *s, cJSON *labels)
{
	const char *p = s;
	for (;;) {
		size_t n = strcspn(p, ",");
		const char *eq = memchr(p, '=', n);
		char key[80], value[80];
		if (!eq || eq == p || (size_t)(eq - p) >= sizeof(key) || n - (size_t)(eq - p) - 1 >= sizeof(value))
			return cli_usage_error(cmd, "invalid %s '%s': expected KEY=VALUE[,KEY=VALUE]", opt, s);
		snprintf(key, sizeof(key), "%.*s", (int)(eq - p), p);
		snprintf(value, sizeof(value), "%.*s", (int)(n - (size_t)(eq - p) - 1), eq + 1);
		if (!util_label_name_valid(key))
			return cli_usage_error(cmd,
					       "invalid label key '%s' in %s: lowercase letters, digits and '-', starting "
					       "with a letter",
					       key, opt);
		if (!util_label_value_valid(value))
			return cli_usage_error(cmd, "invalid value of label '%s' in %s: 1 to 63 letters, digits, '.', '_' or '-'",
					       key, opt);
		if (cJSON_GetObjectItemCaseSensitive(labels, key))
			return cli_usage_error(cmd, "label '%s' is given twice", key);
		if (!cJSON_AddStringToObject(labels, key, value))
			return mlreg_error_set(MLREG_ENOMEM, "out of memory");
		if (!p[n])
			return 0;
		p += n + 1;
	}
}

void cli_labels_join(const cJSON *labels, char *out, size_t outsz)
{
	const cJSON *l;
	size_t used = 0;
	out[0] = '\0';
	cJSON_ArrayForEach(l, labels)
	{
		int n;
		if (!cJSON_IsString(l))
			continue;
		n = snprintf(out + used, outsz - used, "%s%s=%s", used ? "," : "", l->string, l->valuestring);
		if (n < 0 || (size_t)n >= outsz - used) {
			out[used] = '\0';
			return;
		}
		used += (size_t)n;
	}
}

int cli_deployment_path(const char *cmd, const char *name, const char *suffix, util_buf *path)
{
	int error;
	/* a valid name has nothing to escape */
	if ((error = cli_resource_name_check(cmd, "deployment", name)) < 0)
		return error;
	return util_buf_printf(path, "/api/v1/deployments/%s%s", name, suffix);
}

/* Registry text with control characters shown as '?'. */
static void put_text(FILE *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)(s ? s : "-"); *p; p++)
		fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, out);
}

/* An integer member as text; "none" for anything else, a number past
 * +-2^53 included (converting 1e300 to an integer is undefined behaviour,
 * and a registry never sends one). */
static const char *num_text(const cJSON *o, const char *key, char buf[32])
{
	int64_t v;
	if (util_json_i64(o, key, &v) != 0)
		return "none";
	snprintf(buf, 32, "%lld", (long long)v);
	return buf;
}

static void print_nodes(const cJSON *nodes, FILE *out)
{
	const cJSON *n, *v;
	if (!cJSON_GetArraySize(nodes)) {
		fputs("nodes      none match the selector\n", out);
		return;
	}
	fputs("nodes\n", out);
	cJSON_ArrayForEach(n, nodes)
	{
		bool first = true;
		fputs("  ", out);
		put_text(out, util_json_str(n, "name"));
		fputs(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(n, "healthy")) ? "  healthy  " : "  unhealthy  ", out);
		cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(n, "versions"))
		{
			char ver[32], w[32];
			fprintf(out, "%sv%s", first ? "" : ", ", num_text(v, "version", ver));
			if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(v, "weight")))
				fprintf(out, " %s%%", num_text(v, "weight", w));
			if (util_json_str(v, "state")) {
				fputc(' ', out);
				put_text(out, util_json_str(v, "state"));
			}
			first = false;
		}
		fputs(first ? "serves nothing of it\n" : "\n", out);
	}
}

static void print_analysis(const cJSON *analysis, FILE *out)
{
	const cJSON *a, *m;
	if (!cJSON_GetArraySize(analysis))
		return;
	fputs("analysis\n", out);
	cJSON_ArrayForEach(a, analysis)
	{
		char step[32];
		fprintf(out, "  step %s: ", num_text(a, "step", step));
		put_text(out, util_json_str(a, "result"));
		cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(a, "metrics"))
		{
			if (cJSON_IsNumber(m)) {
				/* measurements, not stored values: counts whole, rates and
				 * latencies to 4 significant digits (--json keeps them exact) */
				char d[40];
				if (m->valuedouble == (double)(long long)m->valuedouble && fabs(m->valuedouble) < 1e15)
					snprintf(d, sizeof(d), "%lld", (long long)m->valuedouble);
				else
					snprintf(d, sizeof(d), "%.4g", m->valuedouble);
				fputc(' ', out);
				put_text(out, m->string);
				fprintf(out, "=%s", d);
			}
		}
		fputc('\n', out);
	}
}

void cli_deploy_print_status(const cJSON *st, FILE *out)
{
	const cJSON *step = cJSON_GetObjectItemCaseSensitive(st, "step");
	const char *stage = util_json_str(st, "stage"), *verb = util_json_str(st, "verb");
	char a[32], b[32], c[32], d[32], sel[1024];
	fputs("deployment ", out);
	put_text(out, util_json_str(st, "name"));
	fputs(" (model ", out);
	put_text(out, util_json_str(st, "model"));
	fputs(stage ? ", stage " : ", alias @", out);
	put_text(out, stage ? stage : util_json_str(st, "alias"));
	cli_labels_join(cJSON_GetObjectItemCaseSensitive(st, "selector"), sel, sizeof(sel));
	fputs(", nodes ", out);
	put_text(out, sel);
	fputs(")\n", out);
	fputs("phase      ", out);
	put_text(out, util_json_str(st, "phase"));
	if (cJSON_IsObject(step)) {
		char i[32], n[32];
		int64_t idx;
		if (util_json_i64(step, "index", &idx) != 0 || idx < 0)
			idx = -1;
		snprintf(i, sizeof(i), "%lld", (long long)idx + 1);
		fprintf(out, ", step %s of %s ", i, num_text(step, "count", n));
		put_text(out, util_json_str(step, "kind"));
	}
	fputc('\n', out);
	fprintf(out, "versions   stable %s, target %s, rejected %s; the %s points at %s\n", num_text(st, "stable_version", a),
		num_text(st, "target_version", b), num_text(st, "rejected_version", c), stage ? "stage" : "alias",
		num_text(st, "desired_version", d));
	fputs("strategy   ", out);
	put_text(out, util_json_str(st, "strategy"));
	fputs(": ", out);
	put_text(out, util_json_str(st, "steps") ? util_json_str(st, "steps") : "its preset");
	fputc('\n', out);
	if (util_json_str(st, "message") && *util_json_str(st, "message")) {
		fputs("message    ", out);
		put_text(out, util_json_str(st, "message"));
		fputc('\n', out);
	}
	if (verb) {
		fputs("pending    ", out);
		put_text(out, verb);
		fputs(" (the controller acts on it in its next pass)\n", out);
	}
	fputs("updated    ", out);
	put_text(out, util_json_str(st, "updated_at"));
	fputc('\n', out);
	print_nodes(cJSON_GetObjectItemCaseSensitive(st, "nodes"), out);
	print_analysis(cJSON_GetObjectItemCaseSensitive(st, "analysis"), out);
}

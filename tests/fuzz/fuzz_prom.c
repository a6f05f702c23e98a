/*
 * fuzz_prom.c - libFuzzer target for ctl_prom_parse, the parser of the
 * Prometheus text serving nodes answer on /metrics (outside input the
 * controller acts on).
 *
 * Beyond "no crash, no leak", an accepted text must hold what the grammar
 * promises: at most max_samples samples, every kept name a metric name
 * starting with the prefix, at most CTL_PROM_MAX_LABELS distinct and
 * well-formed label names per sample.  And printing the samples back as
 * text (values escaped, numbers in their shortest exact form) must parse
 * to the very same samples.  The counts the analysis derives from them are
 * computed too, so ctl_counts_of and ctl_window_of see hostile samples.
 * The seeds include real /metrics answers of mlreg-node.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "controller/ctl.h"

static bool name_ok(const char *s, bool metric)
{
	if (!*s)
		return false;
	for (const char *p = s; *p; p++) {
		bool alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || (metric && *p == ':');
		if (!alpha && !(p > s && *p >= '0' && *p <= '9'))
			return false;
	}
	return true;
}

static void check_samples(const ctl_samples *s, const char *prefix, size_t max)
{
	if (s->n > max)
		abort();
	for (size_t i = 0; i < s->n; i++) {
		const ctl_sample *x = &s->s[i];
		if (!name_ok(x->name, true) || (prefix && strncmp(x->name, prefix, strlen(prefix)) != 0))
			abort();
		if (x->nlabels < 0 || x->nlabels > CTL_PROM_MAX_LABELS)
			abort();
		for (int j = 0; j < x->nlabels; j++) {
			if (!name_ok(x->keys[j], false) || ctl_sample_label(x, x->keys[j]) != x->values[j])
				abort(); /* the first with its name is itself: names are distinct */
		}
	}
}

static void put_value(util_buf *b, double v)
{
	char t[40];
	if (isnan(v)) {
		util_buf_puts(b, "NaN");
		return;
	}
	if (isinf(v)) {
		util_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(t, sizeof(t), "%.*g", prec, v);
		if (strtod(t, NULL) == v)
			break;
	}
	util_buf_puts(b, t);
}

/* Print the samples back; false when a line would pass the limit. */
static bool render(const ctl_samples *s, util_buf *b)
{
	for (size_t i = 0; i < s->n; i++) {
		size_t start = b->len;
		const ctl_sample *x = &s->s[i];
		util_buf_puts(b, x->name);
		util_buf_puts(b, "{");
		for (int j = 0; j < x->nlabels; j++) {
			util_buf_printf(b, "%s%s=\"", j ? "," : "", x->keys[j]);
			for (const char *p = x->values[j]; *p; p++)
				if (*p == '\\' || *p == '"')
					util_buf_printf(b, "\\%c", *p);
				else if (*p == '\n')
					util_buf_puts(b, "\\n");
				else
					util_buf_put(b, p, 1);
			util_buf_puts(b, "\"");
		}
		util_buf_puts(b, "} ");
		put_value(b, x->value);
		if (b->len - start > CTL_PROM_MAX_LINE)
			return false;
		util_buf_puts(b, "\n");
	}
	return true;
}

static void round_trip(const ctl_samples *s)
{
	util_buf b;
	ctl_samples again = {0};
	util_buf_init(&b, (size_t)64 << 20);
	if (render(s, &b) && b.len > 0) {
		if (ctl_prom_parse(b.ptr, b.len, NULL, s->n, &again) != 0 || again.n != s->n)
			abort();
		for (size_t i = 0; i < s->n; i++) {
			const ctl_sample *x = &s->s[i], *y = &again.s[i];
			if (strcmp(x->name, y->name) || x->nlabels != y->nlabels ||
			    !(x->value == y->value || (isnan(x->value) && isnan(y->value))))
				abort();
			for (int j = 0; j < x->nlabels; j++)
				if (strcmp(x->keys[j], y->keys[j]) || strcmp(x->values[j], y->values[j]))
					abort();
		}
		ctl_samples_release(&again);
	}
	util_buf_release(&b);
}

static void analyse(const ctl_samples *s)
{
	ctl_counts a, b, d;
	ctl_window w;
	for (size_t i = 0; i < s->n && i < 4; i++) {
		const char *m = ctl_sample_label(&s->s[i], "model"), *v = ctl_sample_label(&s->s[i], "version");
		if (!m || !v)
			continue;
		ctl_counts_of(s, m, v, &a);
		if (a.nbuckets < 0 || a.nbuckets > 32 || !(a.requests >= 0) || !(a.failures >= 0) ||
		    a.failures > a.requests)
			abort();
		for (int j = 1; j < a.nbuckets; j++)
			if (!(a.bounds[j - 1] < a.bounds[j]))
				abort();
		memset(&b, 0, sizeof(b));
		ctl_counts_delta(&b, &a, &d);
		ctl_counts_add(&d, &a);
		ctl_window_of(&d, &w);
		if (!isnan(w.p99_ms) && d.nbuckets >= 2 && (w.p99_ms < 0 && d.bounds[0] >= 0))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ctl_samples s = {0};
	if (size > (1 << 20))
		return 0;
	if (ctl_prom_parse((const char *)data, size, NULL, 1000, &s) == 0) {
		check_samples(&s, NULL, 1000);
		round_trip(&s);
		analyse(&s);
		ctl_samples_release(&s);
	}
	if (ctl_prom_parse((const char *)data, size, "mlreg_node_", 50, &s) == 0) {
		check_samples(&s, "mlreg_node_", 50);
		ctl_samples_release(&s);
	}
	return 0;
}

/*
 * fuzz_conffile.c - libFuzzer target for the config file of `mlreg server`
 * and `mlreg-node` (util/conffile.c), read from /etc/mlreg by a service
 * and written by hand.
 *
 * The parser turns lines into command-line flags, so what matters is what
 * it lets through: every accepted setting must come out as "--name" or
 * "--name=value" with a name from the table (never "config" or "help"), a
 * value free of control characters, lines in increasing order, and a
 * non-repeatable name at most once.  A refusal must name its line.  And an
 * accepted file written back as "name = value" lines must parse to the
 * same arguments (nothing the parser accepts depends on how it was laid
 * out).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "util/conffile.h"
#include "util/util.h"

static const struct option opts[] = {
	{"listen", required_argument, 0, 'l'}, {"data", required_argument, 0, 'd'},
	{"no-controller", no_argument, 0, 'C'}, {"trust-key", required_argument, 0, 'k'},
	{"log-level", required_argument, 0, 'L'}, {"config", required_argument, 0, 'c'},
	{"print-routes", no_argument, 0, 'R'}, {"help", no_argument, 0, 'h'},
	{0, 0, 0, 0}};
static const char *const repeatable[] = {"trust-key", NULL};
static const char *const refused[] = {"print-routes", NULL};

static void check(const util_conf *c)
{
	for (int i = 0; i < c->n; i++) {
		const char *a = c->args[i], *eq;
		size_t nl;
		int known = 0;
		if (strncmp(a, "--", 2) != 0 || (i > 0 && c->lines[i] <= c->lines[i - 1]) || c->lines[i] < 1)
			abort();
		eq = strchr(a, '=');
		nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
		for (const struct option *o = opts; o->name; o++)
			if (strlen(o->name) == nl && !memcmp(o->name, a + 2, nl)) {
				known = 1;
				/* a boolean has no value, a value flag always one */
				if ((o->has_arg == no_argument) != !eq || !strcmp(o->name, "config") ||
				    !strcmp(o->name, "help") || !strcmp(o->name, "print-routes"))
					abort();
			}
		if (!known || (eq && !eq[1]))
			abort();
		for (const char *p = a; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				abort();
		for (int j = 0; j < i; j++)
			if (strncmp(a, "--trust-key=", 12) != 0 && !strncmp(c->args[j], a, nl + 2) &&
			    (c->args[j][nl + 2] == '=' || !c->args[j][nl + 2]))
				abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const util_conf_spec spec = {.opts = opts, .repeatable = repeatable, .refused = refused};
	util_conf c, again;
	util_buf b;
	if (util_conf_parse((const char *)data, size, &spec, &c) < 0) {
		const char *m = mlreg_error_last();
		if (strncmp(m, "line ", 5) != 0 && strncmp(m, "larger than", 11) != 0)
			abort();
		return 0;
	}
	check(&c);
	util_buf_init(&b, (size_t)1 << 20);
	for (int i = 0; i < c.n; i++) {
		const char *eq = strchr(c.args[i], '=');
		if (eq)
			util_buf_printf(&b, "%.*s = %s\n", (int)(eq - c.args[i] - 2), c.args[i] + 2, eq + 1);
		else
			util_buf_printf(&b, "%s = true\n", c.args[i] + 2);
	}
	if (util_conf_parse(b.ptr ? b.ptr : "", b.len, &spec, &again) < 0 || again.n != c.n)
		abort();
	for (int i = 0; i < c.n; i++)
		if (strcmp(again.args[i], c.args[i]) != 0)
			abort();
	util_conf_release(&again);
	util_buf_release(&b);
	util_conf_release(&c);
	return 0;
}

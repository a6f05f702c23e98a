/*
 * conffile.c - the config file of `mlreg server` and `mlreg-node`.
 *
 * A config file is nothing but command-line flags written one per line
 * (`listen = 0.0.0.0:8470` is `--listen=0.0.0.0:8470`), so every setting has
 * exactly one parser and one range check: the flag's own.  The file's
 * settings are placed before the real arguments, so a flag on the command
 * line overrides the file (getopt keeps the last value).  The parser is
 * strict on purpose: an operator's typo in /etc/mlreg/server.conf must stop
 * the start with the line named, never leave a setting silently at its
 * default.  Unknown names, a name set twice (unless the flag is repeatable),
 * a comment after a value, control characters, over-long lines and
 * over-large files are all errors.  The file's name and the line each
 * argument came from are kept, so an out-of-range value found later by the
 * flag parser is reported against its line too (util_conf_blame).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/conffile.h"
#include "util/util.h"

/* the file the process started with: its arguments live as long as the
 * process, since the programs' configs point into them (as into argv) */
static struct {
	util_conf conf;
	char **argv;
	char *path;
} loaded;

static int is_blank(char c) { return c == ' ' || c == '\t'; }

static int in_list(const char *const *list, const char *name, size_t n)
{
	for (; list && *list; list++)
		if (strlen(*list) == n && !memcmp(*list, name, n))
			return 1;
	return 0;
}

static const struct option *find_opt(const struct option *opts, const char *name, size_t n)
{
	for (; opts && opts->name; opts++)
		if (strlen(opts->name) == n && !memcmp(opts->name, name, n))
			return opts;
	return NULL;
}

void util_conf_release(util_conf *c)
{
	for (int i = 0; i < c->n; i++)
		free(c->args[i]);
	free(c->args);
	free(c->lines);
	*c = (util_conf){0};
}

/* one non-blank, non-comment line [p, p+n): append its argument to *c */
static int parse_line(const char *p, size_t n, int line, const util_conf_spec *spec, util_conf *c,
		      const char **names, size_t *name_lens, int *name_lines, int *nnames)
{
	size_t i = 0, name_len, vstart, vend;
	const struct option *opt;
	char *arg;
	for (; i < n && ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '-'); i++)
		;
	name_len = i;
	for (; i < n && is_blank(p[i]); i++)
		;
	if (name_len == 0 || name_len > 64 || !(p[0] >= 'a' && p[0] <= 'z') || i == n || p[i] != '=')
		return mlreg_error_set(MLREG_EUSAGE, "line %d: expected 'name = value' (a flag's long name without dashes)",
				       line);
	for (i++; i < n && is_blank(p[i]); i++)
		;
	vstart = i;
	for (vend = n; vend > vstart && is_blank(p[vend - 1]); vend--)
		;
	if (vstart == vend)
		return mlreg_error_set(MLREG_EUSAGE, "line %d: '%.*s' has no value", line, (int)name_len, p);
	for (i = vstart; i < vend; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (ch < 0x20 || ch == 0x7f)
			return mlreg_error_set(MLREG_EUSAGE, "line %d: control character in the value of '%.*s'", line,
					       (int)name_len, p);
		/* "a = #x" and "a =#x" alike: a value never starts a comment */
		if (ch == '#' && (i == vstart || is_blank(p[i - 1])))
			return mlreg_error_set(MLREG_EUSAGE, "line %d: a comment must be on a line of its own", line);
	}
	if ((name_len == 6 && !memcmp(p, "config", 6)) || (name_len == 4 && !memcmp(p, "help", 4)) ||
	    in_list(spec->refused, p, name_len))
		return mlreg_error_set(MLREG_EUSAGE, "line %d: '%.*s' cannot be set in a config file", line,
				       (int)name_len, p);
	if (!(opt = find_opt(spec->opts, p, name_len)))
		return mlreg_error_set(MLREG_EUSAGE, "line %d: unknown setting '%.*s'", line, (int)name_len, p);
	if (!in_list(spec->repeatable, p, name_len))
		for (int k = 0; k < *nnames; k++)
			if (name_lens[k] == name_len && !memcmp(names[k], p, name_len))
				return mlreg_error_set(MLREG_EUSAGE, "line %d: '%.*s' is already set on line %d", line,
						       (int)name_len, p, name_lines[k]);
	if (*nnames >= UTIL_CONF_MAX_ENTRIES)
		return mlreg_error_set(MLREG_EUSAGE, "line %d: more than %d settings", line, UTIL_CONF_MAX_ENTRIES);
	names[*nnames] = p;
	name_lens[*nnames] = name_len;
	name_lines[(*nnames)++] = line;
	if (opt->has_arg == no_argument) {
		if (vend - vstart == 5 && !memcmp(p + vstart, "false", 5))
			return 0;
		if (!(vend - vstart == 4 && !memcmp(p + vstart, "true", 4)))
			return mlreg_error_set(MLREG_EUSAGE, "line %d: '%.*s' is true or false", line, (int)name_len, p);
		vend = vstart;
	}
	/* "--" name ["=" value] NUL */
	if (!(arg = malloc(2 + name_len + 1 + (vend - vstart) + 1)))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	if (vend > vstart)
		sprintf(arg, "--%.*s=%.*s", (int)name_len, p, (int)(vend - vstart), p + vstart);
	else
		sprintf(arg, "--%.*s", (int)name_len, p);
	c->args[c->n] = arg;
	c->lines[c->n++] = line;
	return 0;
}

int util_conf_parse(const char *text, size_t len, const util_conf_spec *spec, util_conf *out)
{
	util_conf c = {0};
	const char **names = NULL;
	size_t *name_lens = NULL, pos = 0;
	int *name_lines = NULL, nnames = 0, line = 0, rc = 0;
	*out = (util_conf){0};
	if (len > UTIL_CONF_MAX_FILE)
		return mlreg_error_set(MLREG_EUSAGE, "larger than %d bytes", UTIL_CONF_MAX_FILE);
	c.args = calloc(UTIL_CONF_MAX_ENTRIES, sizeof(*c.args));
	c.lines = calloc(UTIL_CONF_MAX_ENTRIES, sizeof(*c.lines));
	names = calloc(UTIL_CONF_MAX_ENTRIES, sizeof(*names));
	name_lens = calloc(UTIL_CONF_MAX_ENTRIES, sizeof(*name_lens));
	name_lines = calloc(UTIL_CONF_MAX_ENTRIES, sizeof(*name_lines));
	if (!c.args || !c.lines || !names || !name_lens || !name_lines) {
		rc = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	while (pos < len) {
		const char *p = text + pos, *nl = memchr(p, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - p) : len - pos, i = 0;
		pos += n + (nl ? 1 : 0);
		line++;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n > UTIL_CONF_MAX_LINE) {
			rc = mlreg_error_set(MLREG_EUSAGE, "line %d: longer than %d bytes", line, UTIL_CONF_MAX_LINE);
			goto done;
		}
		for (; i < n && is_blank(p[i]); i++)
			;
		if (i == n || p[i] == '#')
			continue;
		if ((rc = parse_line(p + i, n - i, line, spec, &c, names, name_lens, name_lines, &nnames)) < 0)
			goto done;
	}
	*out = c;
	c = (util_conf){0};
done:
	util_conf_release(&c);
	free(names);
	free(name_lens);
	free(name_lines);
	return rc;
}

static int find_config(int argc, char **argv, const util_conf_spec *spec, const char **path)
{
	int o, idx, err = 0, saved_opterr = opterr;
	*path = NULL;
	opterr = 0;
	optind = 1;
	while ((o = getopt_long(argc, argv, "", spec->opts, &idx)) != -1) {
		if (o == '?' || o == ':' || strcmp(spec->opts[idx].name, "config") != 0)
			continue;
		if (*path) {
			err = mlreg_error_set(MLREG_EUSAGE, "--config given twice");
			break;
		}
		*path = optarg;
	}
	optind = 1;
	opterr = saved_opterr;
	return err;
}

int util_conf_args(int argc, char **argv, const util_conf_spec *spec, int *out_argc, char ***out_argv)
{
	const char *path;
	char *text = NULL, **nargv;
	size_t len = 0;
	util_conf c;
	int rc;
	*out_argc = argc;
	*out_argv = argv;
	if ((rc = find_config(argc, argv, spec, &path)) < 0 || !path)
		return rc;
	if (loaded.argv)
		return mlreg_error_set(MLREG_EUSAGE, "%s: a config file is already loaded", path);
	if ((rc = util_read_file(path, UTIL_CONF_MAX_FILE, &text, &len)) < 0) {
		if (rc == MLREG_ETOOBIG)
			return mlreg_error_set(MLREG_EUSAGE, "%s: larger than %d bytes", path, UTIL_CONF_MAX_FILE);
		return mlreg_error_set(MLREG_EUSAGE, "--config: %s", mlreg_error_last());
	}
	rc = util_conf_parse(text, len, spec, &c);
	free(text);
	if (rc < 0) {
		/* "line N: why" becomes "PATH:N: why" */
		const char *m = mlreg_error_last();
		if (strncmp(m, "line ", 5) != 0)
			return mlreg_error_set(MLREG_EUSAGE, "%s: %s", path, m);
		return mlreg_error_set(MLREG_EUSAGE, "%s:%s", path, m + 5);
	}
	if (!(nargv = calloc((size_t)argc + (size_t)c.n + 1, sizeof(*nargv))) || !(loaded.path = strdup(path))) {
		free(nargv);
		util_conf_release(&c);
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	nargv[0] = argv[0];
	for (int i = 0; i < c.n; i++)
		nargv[1 + i] = c.args[i];
	for (int i = 1; i < argc; i++)
		nargv[c.n + i] = argv[i];
	loaded.conf = c;
	loaded.argv = nargv;
	*out_argc = argc + c.n;
	*out_argv = nargv;
	return 0;
}

int util_conf_blame(int rc, int index)
{
	char msg[1024];
	if (rc >= 0 || !loaded.argv || index < 1 || index > loaded.conf.n)
		return rc;
	snprintf(msg, sizeof(msg), "%s", mlreg_error_last());
	mlreg_error_set(rc, "%s:%d: %s", loaded.path, loaded.conf.lines[index - 1], msg);
	return rc;
}

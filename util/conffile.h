/*
 * conffile.h - `--config FILE` for `mlreg server` and `mlreg-node`: a file of
 * `name = value` lines that becomes command-line flags placed before the
 * real ones (so a flag on the command line wins).
 */
#ifndef MLREG_UTIL_CONFFILE_H
#define MLREG_UTIL_CONFFILE_H

#include <getopt.h>
#include <stddef.h>
#include "mlreg/error.h"

#define UTIL_CONF_MAX_FILE (64 * 1024) /* bytes a config file may hold */
#define UTIL_CONF_MAX_LINE 4096        /* bytes of one line, without its newline */
#define UTIL_CONF_MAX_ENTRIES 512      /* settings in one file */

/* What a file may set: getopt's table (names, and has_arg: no_argument
 * flags are booleans written `name = true` or `name = false`), the names
 * that may appear more than once, and names a file may not set besides
 * "config" and "help" (always refused).  Both lists end with NULL and may
 * be NULL. */
typedef struct {
	const struct option *opts;
	const char *const *repeatable;
	const char *const *refused;
} util_conf_spec;

/* A parsed file: each setting as one argument ("--name=value" or "--name")
 * with the line it came from.  `name = false` yields no argument. */
typedef struct {
	char **args;
	int *lines;
	int n;
} util_conf;

/* Parse `len` bytes of config text (need not be NUL-terminated).  Returns 0
 * with *out filled (release with util_conf_release), or MLREG_EUSAGE with a
 * message naming the line ("line 3: unknown setting 'lisen'"); *out is left
 * empty on error.  Rules: one `name = value` per line; blank lines and
 * lines whose first non-blank character is '#' are ignored (no comment
 * after a value: a value never starts with "#" nor holds a blank before
 * one); a value is the rest of the line with surrounding blanks
 * removed, non-empty, without control characters; CRLF line ends are
 * accepted. */
int util_conf_parse(const char *text, size_t len, const util_conf_spec *spec, util_conf *out);
void util_conf_release(util_conf *c);

/* The arguments a program parses: argv[0], then the settings of the file
 * named by --config (found in argv with getopt_long over spec->opts, which
 * must include "config"), then argv[1..].  Without --config, *out_argv is
 * argv itself.  The new list and its strings live until the process ends
 * (the program's config keeps pointers into them, as it does into argv).
 * Errors (MLREG_EUSAGE): --config given twice, the file unreadable or too
 * large, any parse error, each message starting with "FILE:LINE:" or
 * "FILE:". */
int util_conf_args(int argc, char **argv, const util_conf_spec *spec, int *out_argc, char ***out_argv);

/* After a flag parser failed on argument `index` of the list
 * util_conf_args returned: when that argument came from the file, rewrite
 * the last error as "FILE:LINE: message".  Returns rc unchanged. */
int util_conf_blame(int rc, int index);

#endif

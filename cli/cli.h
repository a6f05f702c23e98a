/*
 * cli.h - what every `mlreg` command shares: the global options, the
 * command table entry (tmux style: one `cli/cmd_*.c` per command, each
 * exporting a cli_cmd_entry), a small option iterator, the one table that
 * turns error codes into exit codes, and output helpers.
 *
 * Commands return 0 or a negative MLREG_E* code with the message recorded
 * through mlreg_error_set(); main.c prints `mlreg: <message>` and maps the
 * code to the exit status, so no command calls exit() itself.
 */
#ifndef MLREG_CLI_H
#define MLREG_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <cjson/cJSON.h>
#include "util/util.h"

/* Exit statuses of the CLI contract (docs/cli.md). */
enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_ERROR = 1,
	CLI_EXIT_USAGE = 2,
	CLI_EXIT_REFUSED = 3,
	CLI_EXIT_AUTH = 4,
	CLI_EXIT_NOTFOUND = 5,
	CLI_EXIT_CONFLICT = 6,
	CLI_EXIT_INTERRUPTED = 130
};

/* Settings every command sees; filled by main.c from flags, environment and
 * the token file.  Strings are borrowed from argv/environ or owned by
 * main.c for the life of the process. */
typedef struct {
	const char *registry;   /* base URL, no trailing '/' */
	const char *token;      /* bearer token, NULL when none is configured */
	const char *token_source; /* "--token", "MLREG_TOKEN" or the file path */
	bool json;
	bool quiet;
	int64_t timeout_ms;     /* per request; stall limit for streams */
	int64_t connect_timeout_ms;
	const char *cacert;     /* --cacert / MLREG_CACERT: CA bundle for https, NULL = system CAs */
} cli_config;

/* An option a command accepts, spelled without the leading "--" (a one-letter
 * name is spelled with one dash, e.g. "n" for -n). */
typedef struct {
	const char *name;
	int id;          /* returned by cli_args_next(); must be > 1 */
	int has_value;   /* false, true, or CLI_VALUE_OPTIONAL */
} cli_option;

/* has_value of an option whose value is optional: "--git" alone (value
 * NULL) or "--git=DIR", never the next argument, which stays positional. */
enum { CLI_VALUE_OPTIONAL = 2 };

typedef struct cli_cmd_entry cli_cmd_entry;
struct cli_cmd_entry {
	const char *name;      /* "push", "token create" */
	const char *usage;     /* arguments after the name */
	const char *summary;   /* one line for `mlreg --help` */
	const char *help;      /* option and detail text for `--help`, may be NULL */
	const cli_option *options; /* NULL-name terminated, may be NULL */
	bool raw_args;         /* pass arguments untouched (server) */
	/* Run the command on the arguments after its name (global flags
	 * removed).  Returns 0 or a negative MLREG_E* code with the message
	 * recorded; a raw_args command gets cfg NULL and argv[0] = its name,
	 * and returns the process exit status instead. */
	int (*exec)(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv);
};

/* ---- option iterator ---- */
enum { CLI_ARGS_END = 0, CLI_ARGS_POS = 1 };

typedef struct {
	int argc;
	char **argv;
	int i;
	bool only_positional;  /* after "--" */
	const cli_option *opts;
	const char *cmd;       /* for messages */
	const char *value;     /* option value or positional argument */
	const char *opt;       /* option name as written, for messages */
} cli_args;

void cli_args_init(cli_args *a, const char *cmd, const cli_option *opts, int argc, char **argv);
/* Next argument: an option id (value in a->value when it takes one; NULL
 * for an optional value not given),
 * CLI_ARGS_POS (a->value is the argument), CLI_ARGS_END, or MLREG_EUSAGE
 * for an unknown option or a missing value. */
int cli_args_next(cli_args *a);
/* For commands without options of their own: take exactly `want`
 * positional arguments into pos[], refusing options and any other count
 * with a usage error naming `expected` (e.g. "expected REF"). */
int cli_args_positionals(const cli_cmd_entry *self, int argc, char **argv, const char **pos, int want,
			 const char *expected);
/* Find an option by its written form ("--metric", "--metric=x", "-q");
 * NULL when opts does not have it. */
const cli_option *cli_option_find(const cli_option *opts, const char *arg);

/* ---- errors and exit codes ---- */
/* The one code -> exit status table. */
int cli_exit_code(int err);
/* Re-record the last error as "<fmt...>: <last message>" with code `code`
 * (the message buffer is reused, so this copies it first). */
int cli_error_wrap(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Keep an error across calls that may record others (cleanup requests). */
typedef struct {
	int code;
	char msg[1024];
} cli_error_saved;
void cli_error_save(cli_error_saved *s, int code);
int cli_error_restore(const cli_error_saved *s);

/* Record a usage error for `cmd` and return MLREG_EUSAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- interrupts ---- */
/* Install SIGINT/SIGTERM handlers that only set a flag, so transfers stop
 * at the next callback and commands clean up their temp files. */
void cli_signals_install(void);
bool cli_interrupted(void);
/* Sleep up to ms, returning early (MLREG_ERROR) when interrupted. */
int cli_sleep_ms(int64_t ms);

/* ---- arguments shared by several commands ---- */
/* Parse any REF: MODEL:VERSION, MODEL:STAGE or MODEL@ALIAS (commands that
 * read a version).  A malformed REF is a usage error. */
int cli_ref_parse(const char *cmd, const char *s, util_ref *out);
/* Parse a REF that must be MODEL:VERSION: commands that change one version
 * (metrics log, tag, deprecate, rm) refuse stage and alias refs with a
 * usage error, as the registry takes a number only there. */
int cli_ref_parse_version(const char *cmd, const char *s, util_ref *out);
/* The {ref} path segment of a parsed REF: "3", "production" or "@champion"
 * (labels are [a-z0-9-], nothing to escape).  Also the string form of
 * promote's "version" for stage and alias refs. */
int cli_ref_segment(const util_ref *ref, char out[80]);
/* Split "key=value" in place-free fashion: *key is a heap copy (caller
 * frees), *value points into s.  The key must satisfy util_key_valid. */
int cli_kv_split(const char *cmd, const char *what, const char *s, char **key, const char **value);

/* A comma-separated argument ("staging,production", "promote,rollback")
 * split into heap strings. */
typedef struct {
	char **items;
	size_t n;
} cli_list;
void cli_list_init(cli_list *l);
void cli_list_release(cli_list *l);
/* Split s at commas into *l (released first).  Every item must pass
 * valid() (when given) and appear once; an empty item or list is a usage
 * error naming `what`. */
int cli_list_split(const char *cmd, const char *what, const char *s, bool (*valid)(const char *), cli_list *l);

/* A stage or alias name argument: a usage error naming `what` unless it
 * follows the registry's rule (util_label_name_valid). */
int cli_label_check(const char *cmd, const char *what, const char *s);

/* ---- output ---- */
/* Print v unformatted on one line to stdout. */
int cli_print_json(const cJSON *v);
/* "1.5 KiB" style size into out. */
void cli_fmt_size(uint64_t n, char out[32]);
/* Shortest text that reads back as the same double. */
void cli_fmt_double(double v, char out[40]);
/* Integer member or def. */
int64_t cli_json_int(const cJSON *obj, const char *key, int64_t def);
/* String member or def. */
const char *cli_json_text(const cJSON *obj, const char *key, const char *def);

/* A text table that sizes its columns to the widest cell. */
typedef struct {
	size_t ncols;
	size_t nrows;
	size_t cap;
	char **cells;       /* nrows * ncols heap strings */
} cli_table;

void cli_table_init(cli_table *t, size_t ncols);
/* Append one row of ncols strings (copied); NULL cells print as "-". */
int cli_table_add(cli_table *t, const char *const *row);
void cli_table_print(const cli_table *t, FILE *out);
void cli_table_release(cli_table *t);

/* The `ls` of a resource with no arguments (keys, nodes, tokens, webhooks):
 * GET path, print the answer with --json, else a table of head (ncols
 * columns) with one row per item of the answer's array `key`, made by row.
 * row fills row[0..ncols) with strings that live until it returns; it may
 * format into the CLI_ROW_BUFS scratch buffers of CLI_ROW_BUF bytes.
 * Errors are wrapped as "cannot list <what>". */
#define CLI_ROW_BUFS 6
#define CLI_ROW_BUF 1024
typedef void (*cli_row_fn)(const cJSON *item, const char **row, char buf[CLI_ROW_BUFS][CLI_ROW_BUF]);
int cli_list_table(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv, const char *path,
		   const char *what, const char *key, const char *const *head, size_t ncols, cli_row_fn row);
/* The same after the command read its own arguments: GET path (a list of
 * one object's things, e.g. a deployment's events), --json or the table. */
int cli_list_get(const cli_config *cfg, const char *path, const char *what, const char *key,
		 const char *const *head, size_t ncols, cli_row_fn row);

/* The body of `deprecate` and `rm`: parse exactly one REF, send
 * `method` to the version's path + suffix, print the version object
 * (--json) or "<verb> REF<note>". */
int cli_version_action(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv,
		       const char *method, const char *suffix, const char *verb, const char *note);

/* Where versions serve: the deployments list (GET /api/v1/deployments; an
 * empty array when it cannot be read, e.g. the token may not), and from it
 * the deployments whose stable or target is model:version as
 * [{"deployment","role":"stable|target","phase","nodes":[{"name","weight","state"}]}]. */
cJSON *cli_deployments_fetch(const cli_config *cfg);
cJSON *cli_deployments_of(const cJSON *all, const char *model, int64_t version);

/* Print versions (objects of the version shape) as a table on stdout. */
int cli_print_versions(const cJSON *versions);

/* The command table (main.c) and the commands (cmd_*.c). */
extern const cli_cmd_entry cli_cmd_server_entry;
extern const cli_cmd_entry cli_cmd_controller_entry;
extern const cli_cmd_entry cli_cmd_push_entry;
extern const cli_cmd_entry cli_cmd_pull_entry;
extern const cli_cmd_entry cli_cmd_ls_entry;
extern const cli_cmd_entry cli_cmd_show_entry;
extern const cli_cmd_entry cli_cmd_search_entry;
extern const cli_cmd_entry cli_cmd_diff_entry;
extern const cli_cmd_entry cli_cmd_metrics_log_entry;
extern const cli_cmd_entry cli_cmd_tag_entry;
extern const cli_cmd_entry cli_cmd_deprecate_entry;
extern const cli_cmd_entry cli_cmd_rm_entry;
extern const cli_cmd_entry cli_cmd_gc_entry;
extern const cli_cmd_entry cli_cmd_blob_url_entry;
extern const cli_cmd_entry cli_cmd_fsck_entry;
extern const cli_cmd_entry cli_cmd_token_create_entry;
extern const cli_cmd_entry cli_cmd_token_ls_entry;
extern const cli_cmd_entry cli_cmd_token_revoke_entry;
extern const cli_cmd_entry cli_cmd_audit_entry;
extern const cli_cmd_entry cli_cmd_audit_verify_entry;
extern const cli_cmd_entry cli_cmd_audit_export_entry;
extern const cli_cmd_entry cli_cmd_stages_ls_entry;
extern const cli_cmd_entry cli_cmd_stages_set_entry;
extern const cli_cmd_entry cli_cmd_alias_set_entry;
extern const cli_cmd_entry cli_cmd_alias_rm_entry;
extern const cli_cmd_entry cli_cmd_policy_set_entry;
extern const cli_cmd_entry cli_cmd_policy_show_entry;
extern const cli_cmd_entry cli_cmd_policy_rm_entry;
extern const cli_cmd_entry cli_cmd_approve_entry;
extern const cli_cmd_entry cli_cmd_gate_entry;
extern const cli_cmd_entry cli_cmd_promote_entry;
extern const cli_cmd_entry cli_cmd_rollback_entry;
extern const cli_cmd_entry cli_cmd_history_entry;
extern const cli_cmd_entry cli_cmd_lineage_entry;
extern const cli_cmd_entry cli_cmd_webhook_add_entry;
extern const cli_cmd_entry cli_cmd_webhook_ls_entry;
extern const cli_cmd_entry cli_cmd_webhook_rm_entry;
extern const cli_cmd_entry cli_cmd_webhook_deliveries_entry;
extern const cli_cmd_entry cli_cmd_node_add_entry;
extern const cli_cmd_entry cli_cmd_node_ls_entry;
extern const cli_cmd_entry cli_cmd_node_rm_entry;
extern const cli_cmd_entry cli_cmd_deploy_create_entry;
extern const cli_cmd_entry cli_cmd_deploy_ls_entry;
extern const cli_cmd_entry cli_cmd_deploy_status_entry;
extern const cli_cmd_entry cli_cmd_deploy_events_entry;
extern const cli_cmd_entry cli_cmd_deploy_rm_entry;
extern const cli_cmd_entry cli_cmd_rollout_pause_entry;
extern const cli_cmd_entry cli_cmd_rollout_resume_entry;
extern const cli_cmd_entry cli_cmd_rollout_promote_entry;
extern const cli_cmd_entry cli_cmd_rollout_abort_entry;
extern const cli_cmd_entry cli_cmd_rollout_retry_entry;
/* bundles (docs/bundles.md) */
extern const cli_cmd_entry cli_cmd_export_entry;
extern const cli_cmd_entry cli_cmd_import_entry;
extern const cli_cmd_entry cli_cmd_keygen_entry;
extern const cli_cmd_entry cli_cmd_key_add_entry;
extern const cli_cmd_entry cli_cmd_key_ls_entry;
extern const cli_cmd_entry cli_cmd_key_rm_entry;
extern const cli_cmd_entry cli_cmd_sign_entry;
extern const cli_cmd_entry cli_cmd_verify_entry;
/* operations (docs/operations.md "Back up and restore") */
extern const cli_cmd_entry cli_cmd_backup_entry;
extern const cli_cmd_entry cli_cmd_restore_entry;

#endif

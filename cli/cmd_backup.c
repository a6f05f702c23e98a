/*
 * cmd_backup.c - `mlreg backup DIR` and `mlreg restore DIR --data NEWDATA`.
 *
 * Both run on the registry host against the data directory itself, not
 * through the API: a backup needs the database file and the blob tree, and
 * a server that wrote backups wherever an HTTP client asked would be a new
 * way to write files on the host.  The work is in registry/backup.c and
 * registry/restore.c; this file parses the flags (every wait and pace is
 * one) and prints what happened.
 */
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "registry/backup.h"

enum { OPT_DATA = 256, OPT_LOCK_WAIT, OPT_STEP_PAGES, OPT_STEP_PAUSE };

static const cli_option backup_options[] = {
	{"data", OPT_DATA, true},
	{"lock-wait", OPT_LOCK_WAIT, true},
	{"step-pages", OPT_STEP_PAGES, true},
	{"step-pause", OPT_STEP_PAUSE, true},
	{NULL, 0, false},
};

static const cli_option restore_options[] = {
	{"data", OPT_DATA, true},
	{NULL, 0, false},
};

static int cmd_backup_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	reg_backup_opts o = {.lock_wait_ms = 5 * 60 * 1000, .step_pages = 256, .step_pause_ms = 0};
	cli_args a;
	cJSON *res = NULL;
	int64_t n;
	int rc;
	o.data_dir = getenv("MLREG_DATA") && *getenv("MLREG_DATA") ? getenv("MLREG_DATA") : "./mlreg-data";
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		if (rc == OPT_DATA)
			o.data_dir = a.value;
		else if (rc == OPT_LOCK_WAIT) {
			if (util_duration_ms(a.value, &o.lock_wait_ms) < 0)
				return cli_usage_error(self->name, "--lock-wait: bad duration '%s'", a.value);
		} else if (rc == OPT_STEP_PAUSE) {
			if (util_duration_ms(a.value, &o.step_pause_ms) < 0)
				return cli_usage_error(self->name, "--step-pause: bad duration '%s'", a.value);
		} else if (rc == OPT_STEP_PAGES) {
			if (util_parse_i64(a.value, &n) < 0 || n < 1 || n > 1000000)
				return cli_usage_error(self->name, "--step-pages: expected 1 to 1000000, got '%s'", a.value);
			o.step_pages = (int)n;
		} else if (rc == CLI_ARGS_POS) {
			if (o.dest)
				return cli_usage_error(self->name, "unexpected argument '%s'", a.value);
			o.dest = a.value;
		} else
			return rc;
	}
	if (!o.dest || !*o.dest)
		return cli_usage_error(self->name, "expected DIR");
	if (!*o.data_dir)
		return cli_usage_error(self->name, "--data: empty path");
	if ((rc = reg_backup_run(&o, &res)) < 0)
		return cli_error_wrap(rc, "backup of '%s' into '%s' failed (the folder holds no complete backup)", o.data_dir,
				      o.dest);
	if (cfg->json)
		rc = cli_print_json(res);
	else if (!cfg->quiet) {
		const cJSON *b = cJSON_GetObjectItemCaseSensitive(res, "blobs");
		const cJSON *au = cJSON_GetObjectItemCaseSensitive(res, "audit");
		char total[32], copied[32];
		cli_fmt_size((uint64_t)cli_json_int(b, "bytes", 0), total);
		cli_fmt_size((uint64_t)cli_json_int(b, "copied_bytes", 0), copied);
		printf("backup of %s in %s: %lld blobs (%s), %lld copied (%s), %lld already there, %lld pruned; "
		       "schema %lld, audit head %lld\n",
		       o.data_dir, o.dest, (long long)cli_json_int(b, "count", 0), total,
		       (long long)cli_json_int(b, "copied", 0), copied, (long long)cli_json_int(b, "present", 0),
		       (long long)cli_json_int(b, "pruned", 0), (long long)cli_json_int(res, "schema_version", 0),
		       (long long)cli_json_int(au, "seq", 0));
	}
	cJSON_Delete(res);
	return rc;
}

static int cmd_restore_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	const char *src = NULL, *data = NULL;
	cli_args a;
	cJSON *res = NULL;
	int rc;
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		if (rc == OPT_DATA)
			data = a.value;
		else if (rc == CLI_ARGS_POS) {
			if (src)
				return cli_usage_error(self->name, "unexpected argument '%s'", a.value);
			src = a.value;
		} else
			return rc;
	}
	if (!src || !*src)
		return cli_usage_error(self->name, "expected DIR");
	if (!data || !*data)
		return cli_usage_error(self->name, "expected --data NEWDATA (a new or empty data directory)");
	if ((rc = reg_restore_run(src, data, &res)) < 0)
		return cli_error_wrap(rc, "restore of '%s' into '%s' failed (nothing was written there)", src, data);
	if (cfg->json)
		rc = cli_print_json(res);
	else if (!cfg->quiet) {
		const cJSON *b = cJSON_GetObjectItemCaseSensitive(res, "blobs");
		const cJSON *au = cJSON_GetObjectItemCaseSensitive(res, "audit");
		char total[32];
		cli_fmt_size((uint64_t)cli_json_int(b, "bytes", 0), total);
		printf("restored %s into %s: %lld blobs (%s) verified, schema %lld, audit head %lld %s (backup of %s)\n"
		       "start it with: mlreg server --data %s\n",
		       src, data, (long long)cli_json_int(b, "count", 0), total,
		       (long long)cli_json_int(res, "schema_version", 0), (long long)cli_json_int(au, "seq", 0),
		       cli_json_text(au, "hash", ""), cli_json_text(res, "backup_created_at", "?"), data);
	}
	cJSON_Delete(res);
	return rc;
}

const cli_cmd_entry cli_cmd_backup_entry = {
	.name = "backup",
	.usage = "DIR [--data DATA] [--lock-wait D] [--step-pages N] [--step-pause D]",
	.summary = "copy a data directory into DIR, consistent while the server runs (on the registry host)",
	.help = "options:\n"
		"  --data DATA        the data directory (default $MLREG_DATA or ./mlreg-data, as the server)\n"
		"  --lock-wait D      wait this long for a running gc to end (default 5m)\n"
		"  --step-pages N     database pages copied per step (default 256)\n"
		"  --step-pause D     pause between steps (default 0ms)\n"
		"Copies the database (one snapshot, SQLite online backup), every blob it lists (rehashed;\n"
		"blobs already in DIR are kept: backups into the same DIR are incremental) and url.key,\n"
		"then writes DIR/backup.json last.  gc is refused (409) while a backup runs.\n"
		"--json: {\"dir\",\"blobs\":{\"count\",\"bytes\",\"copied\",\"copied_bytes\",\"present\",\"pruned\"},\n"
		"        \"database\":{\"size\",\"sha256\"},\"schema_version\",\"audit\":{\"seq\",\"hash\"},\"url_key\",\"created_at\"}\n"
		"exit 6: a live blob is missing or corrupt (run mlreg fsck), or another backup writes into DIR\n",
	.options = backup_options,
	.exec = cmd_backup_exec,
};

const cli_cmd_entry cli_cmd_restore_entry = {
	.name = "restore",
	.usage = "DIR --data NEWDATA",
	.summary = "make a new data directory from a backup, every byte verified (on the registry host)",
	.help = "options:\n"
		"  --data NEWDATA   the data directory to create: must not exist, or be empty\n"
		"Checks backup.json, the database digest, PRAGMA integrity_check, the schema (newer than this\n"
		"mlreg is refused; older is migrated when the server starts), every blob's digest, and that\n"
		"every blob a live version references is there, in a temporary folder beside NEWDATA that is\n"
		"renamed into place only when all passed.\n"
		"--json: {\"data\",\"blobs\":{\"count\",\"bytes\"},\"schema_version\",\"audit\":{\"seq\",\"hash\"},\n"
		"        \"url_key\",\"backup_created_at\"}\n"
		"exit 5: DIR is not a backup; exit 6: the backup is damaged or incomplete, NEWDATA is not empty\n"
		"or a server runs on it\n",
	.options = restore_options,
	.exec = cmd_restore_exec,
};

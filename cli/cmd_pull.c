/*
 * cmd_pull.c - `mlreg pull REF DEST`: fetch a version's files, verified.
 *
 * All or nothing: every blob is downloaded (fetch.c: 4 at a time, hashed
 * while it is written, checked against the manifest's digest and size,
 * fsynced) into a private staging folder beside DEST on the same
 * filesystem, and only when every file is verified are they renamed into
 * place.  A mismatch, a failure or Ctrl-C removes the staging folder and
 * leaves DEST as it was.
 *
 * The manifest comes from the registry, which we do not trust with our
 * filesystem: fetch.c vets its paths (relative, no '..', no repeats, no
 * file that is also a folder) and sizes, and when merging into an existing
 * DEST no existing symbolic link is followed, so nothing is written
 * outside DEST.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/fetch.h"
#include "util/json.h"

/* Check that every file can be renamed into the existing folder dest
 * without following a symbolic link or replacing a folder. */
static int check_merge(const cli_fetch *f, const char *dest)
{
	for (size_t i = 0; i < cli_fetch_count(f); i++) {
		const char *p = cli_fetch_path(f, i);
		for (const char *s = p;; s++) {
			struct stat sb;
			char *cur;
			bool last = (*s == '\0');
			if (*s != '/' && !last)
				continue;
			if (asprintf(&cur, "%s/%.*s", dest, (int)(s - p), p) < 0)
				return mlreg_error_set(MLREG_ENOMEM, "out of memory");
			if (lstat(cur, &sb) < 0) {
				int e = errno;
				free(cur);
				if (e == ENOENT)
					break;
				return mlreg_error_set(MLREG_EIO, "cannot check '%s/%s': %s", dest, p, strerror(e));
			}
			if (!last && !S_ISDIR(sb.st_mode)) {
				int error = mlreg_error_set(MLREG_ECONFLICT, "cannot write '%s/%s': '%s' is %s", dest, p, cur,
							    S_ISLNK(sb.st_mode) ? "a symbolic link" : "not a folder");
				free(cur);
				return error;
			}
			if (last && S_ISDIR(sb.st_mode)) {
				int error = mlreg_error_set(MLREG_ECONFLICT, "cannot write '%s': a folder is in the way", cur);
				free(cur);
				return error;
			}
			free(cur);
			if (last)
				break;
		}
	}
	return 0;
}

/* Move the verified files into the existing folder dest. */
static int merge(const cli_fetch *f, const char *dest)
{
	for (size_t i = 0; i < cli_fetch_count(f); i++) {
		const char *p = cli_fetch_path(f, i);
		char *target = NULL;
		for (const char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
			char *dir;
			if (asprintf(&dir, "%s/%.*s", dest, (int)(s - p), p) < 0)
				return mlreg_error_set(MLREG_ENOMEM, "out of memory");
			if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
				int error = mlreg_error_set(MLREG_EIO, "cannot create '%s': %s", dir, strerror(errno));
				free(dir);
				return error;
			}
			free(dir);
		}
		if (asprintf(&target, "%s/%s", dest, p) < 0)
			return mlreg_error_set(MLREG_ENOMEM, "out of memory");
		if (rename(cli_fetch_staged(f, i), target) < 0) {
			int error = mlreg_error_set(MLREG_EIO, "cannot move '%s' into place: %s", target, strerror(errno));
			free(target);
			return error;
		}
		util_fsync_parent(target);
		free(target);
	}
	return util_fsync_dir(dest);
}

/* Create the staging folder "<parent>/.<base>.mlreg-pull-XXXXXX". */
static int make_staging(const char *parent, const char *base, char **out)
{
	char *s;
	if (asprintf(&s, "%s/.%s%smlreg-pull-XXXXXX", parent, base, *base ? "." : "") < 0)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	if (!mkdtemp(s)) {
		int error = mlreg_error_set(MLREG_EIO, "cannot create a staging folder in '%s': %s", parent,
					    strerror(errno));
		free(s);
		return error;
	}
	*out = s;
	return 0;
}

/* The version number printed and recorded is the one in the version object
 * the files came from: a stage or alias may move while the pull runs, but
 * the files were fetched by the digests of that one object. */
static int print_result(const cli_config *cfg, const cli_fetch *f, const cJSON *v, const char *refs,
			const char *dest)
{
	uint64_t total = cli_fetch_total(f);
	size_t nfiles = cli_fetch_count(f);
	if (cfg->json) {
		cJSON *o = cJSON_CreateObject();
		int error;
		if (!o || !cJSON_AddStringToObject(o, "model", cli_json_text(v, "model", "")) ||
		    !cJSON_AddNumberToObject(o, "version", (double)cli_json_int(v, "version", 0)) ||
		    !cJSON_AddStringToObject(o, "digest", cli_json_text(v, "digest", "")) ||
		    !cJSON_AddStringToObject(o, "path", dest) || !cJSON_AddStringToObject(o, "ref", refs) ||
		    !cJSON_AddNumberToObject(o, "files", (double)nfiles) ||
		    !cJSON_AddNumberToObject(o, "size", (double)total))
			error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		else
			error = cli_print_json(o);
		cJSON_Delete(o);
		return error;
	}
	{
		char concrete[300];
		snprintf(concrete, sizeof(concrete), "%s:%lld", cli_json_text(v, "model", "?"),
			 (long long)cli_json_int(v, "version", 0));
		printf("pulled %s%s%s%s to %s (%zu files, %llu bytes)\n", concrete, strcmp(concrete, refs) ? " (" : "",
		       strcmp(concrete, refs) ? refs : "", strcmp(concrete, refs) ? ")" : "", dest, nfiles,
		       (unsigned long long)total);
	}
	return 0;
}

static int cmd_pull_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_fetch *fetch = NULL;
	cli_client *client = NULL;
	cli_args a;
	cli_response resp;
	cli_progress progress;
	util_ref ref;
	util_buf vpath;
	struct stat sb;
	const char *refs = NULL, *parent;
	char *dest = NULL, *dcopy = NULL, *bcopy = NULL, *staging = NULL, *root = NULL;
	bool single, exists, progress_on = false;
	int rc, error = 0;

	memset(&resp, 0, sizeof(resp));
	util_buf_init(&vpath, 4096);
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		if (rc != CLI_ARGS_POS) {
			error = rc;
			goto done;
		}
		if (!refs) {
			refs = a.value;
		} else if (!dest) {
			if (!(dest = strdup(a.value))) {
				error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
				goto done;
			}
		} else {
			error = cli_usage_error(self->name, "unexpected argument '%s'", a.value);
			goto done;
		}
	}
	if (!refs || !dest || !*dest) {
		error = cli_usage_error(self->name, "expected REF and DEST");
		goto done;
	}
	for (size_t n = strlen(dest); n > 1 && dest[n - 1] == '/'; n--)
		dest[n - 1] = '\0';
	if ((error = cli_ref_parse(self->name, refs, &ref)) < 0)
		goto done;
	if ((error = cli_client_new(&client, cfg)) < 0 || (error = cli_version_path(&vpath, &ref, NULL)) < 0)
		goto done;
	if ((error = cli_client_json(client, "GET", vpath.ptr, NULL, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot pull '%s'", refs);
		goto done;
	}
	/* The downloads open their own connections. */
	cli_client_free(client);
	client = NULL;
	if ((error = cli_fetch_plan(resp.body, &fetch)) < 0)
		goto done;

	exists = stat(dest, &sb) == 0;
	single = cli_fetch_count(fetch) == 1 && !(exists && S_ISDIR(sb.st_mode));
	if (exists && !single && !S_ISDIR(sb.st_mode)) {
		error = mlreg_error_set(MLREG_ECONFLICT, "cannot pull %zu files to '%s': it exists and is not a folder",
					cli_fetch_count(fetch), dest);
		goto done;
	}
	if (!(dcopy = strdup(dest)) || !(bcopy = strdup(dest))) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	/* Like `git clone a/b/c`, create DEST's parent folders. */
	parent = dirname(dcopy);
	if ((error = util_mkdir_p(parent, 0755)) < 0 ||
	    (error = make_staging(parent, basename(bcopy), &staging)) < 0)
		goto done;
	if (exists && !single) {
		struct stat ss;
		/* Renames cannot cross filesystems: stage inside DEST when
		 * it is a mount point or a link to another disk. */
		if (stat(staging, &ss) == 0 && ss.st_dev != sb.st_dev) {
			util_rm_rf(staging);
			free(staging);
			staging = NULL;
			if ((error = make_staging(dest, "", &staging)) < 0)
				goto done;
		}
		if ((error = check_merge(fetch, dest)) < 0)
			goto done;
	}
	if (asprintf(&root, "%s/tree", staging) < 0) {
		root = NULL;
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	cli_progress_init(&progress, "pull", cli_fetch_total(fetch), cli_progress_wanted(cfg->quiet));
	progress_on = true;
	error = cli_fetch_run(fetch, cfg, single ? staging : root, single, &progress, NULL);
	cli_progress_release(&progress);
	progress_on = false;
	if (error < 0)
		goto done;

	/* Every file is verified: now, and only now, touch DEST. */
	if (single) {
		if (rename(cli_fetch_staged(fetch, 0), dest) < 0) {
			error = mlreg_error_set(MLREG_EIO, "cannot write '%s': %s", dest, strerror(errno));
			goto done;
		}
		util_fsync_parent(dest);
	} else if (!exists) {
		if (rename(root, dest) < 0) {
			error = mlreg_error_set(MLREG_EIO, "cannot create '%s': %s", dest, strerror(errno));
			goto done;
		}
		util_fsync_parent(dest);
	} else if ((error = merge(fetch, dest)) < 0) {
		goto done;
	}
	error = print_result(cfg, fetch, resp.body, refs, dest);
done:
	if (progress_on)
		cli_progress_release(&progress);
	if (staging) {
		cli_error_saved saved;
		cli_error_save(&saved, error);
		util_rm_rf(staging);
		if (error < 0)
			cli_error_restore(&saved);
	}
	cli_fetch_free(fetch); /* before resp: it points into the version */
	cli_response_release(&resp);
	cli_client_free(client);
	free(staging);
	free(root);
	free(dest);
	free(dcopy);
	free(bcopy);
	util_buf_release(&vpath);
	return error;
}

const cli_cmd_entry cli_cmd_pull_entry = {
	.name = "pull",
	.usage = "REF DEST",
	.summary = "download and verify the files of a version",
	.help = "REF is MODEL:VERSION, MODEL:STAGE or MODEL@ALIAS; the version it names\n"
		"when the pull starts is the one fetched and printed.  A one-file version is written to the file DEST unless\n"
		"DEST is an existing folder; otherwise the files are placed under the folder\n"
		"DEST (created when missing).  Every file is verified (SHA-256 and size)\n"
		"before anything in DEST changes; on a mismatch nothing is written (exit 6).\n"
		"\noutput: pulled MODEL:VERSION [(REF)] to DEST (N files, X bytes)\n"
		"--json:  {\"model\",\"version\",\"digest\",\"path\",\"ref\",\"files\",\"size\"}\n",
	.exec = cmd_pull_exec,
};

/*
 * cmd_pull.c - `mlreg pull REF DEST`: fetch a version's files, verified.
 *
 * All or nothing: every blob is downloaded (4 at a time) into a private
 * staging folder beside DEST on the same filesystem, hashed while it is
 * written, checked against the manifest's digest and size, fsynced, and only
 * when every file is verified are they renamed into place.  A mismatch, a
 * failure or Ctrl-C removes the staging folder and leaves DEST as it was.
 *
 * One thread per download receives and writes; another hashes the staging
 * file just behind it (pread from the page cache) and starts the disk
 * writes of what it hashed (sync_file_range), so receiving, hashing and
 * writeback overlap and the final fsync has little left to do.  Hashing on
 * the receiving thread made that one thread the limit (~280 MB/s).
 *
 * The manifest comes from the registry, which we do not trust with our
 * filesystem: every path must pass util_manifest_path_valid (relative, no
 * '..'), paths may not repeat or be both a file and a folder, no download may
 * grow past its announced size, and when merging into an existing DEST no
 * existing symbolic link is followed, so nothing is written outside DEST.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/pool.h"
#include "util/json.h"

#define WORKERS 4
#define TRIES 3
#define HASH_CHUNK ((size_t)1 << 20)
#define WRITEBACK_STEP ((uint64_t)8 << 20) /* start disk writes every 8 MiB */

typedef struct {
	const char *path;   /* manifest path, borrowed from the version JSON */
	const char *digest; /* borrowed */
	uint64_t size;
	int64_t mode;       /* as the manifest says (420 or 493) */
	bool exec;
	char *tmp;          /* where it is staged */
} pull_file;

typedef struct {
	const cli_config *cfg;
	pull_file *files;
	size_t nfiles;
	mode_t umask;
	cli_client *clients[WORKERS];
	cli_progress *progress;
} pull_state;

static int cmp_path(const void *a, const void *b)
{
	return strcmp(((const pull_file *)a)->path, ((const pull_file *)b)->path);
}

/* Read and vet the version's file list. */
static int load_files(pull_state *st, const cJSON *version)
{
	const cJSON *files = cJSON_GetObjectItemCaseSensitive(version, "files"), *f;
	size_t n = 0;
	if (!cJSON_IsArray(files))
		return mlreg_error_set(MLREG_EIO, "registry sent a version without a file list");
	st->files = calloc((size_t)cJSON_GetArraySize(files) + 1, sizeof(pull_file));
	if (!st->files)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	cJSON_ArrayForEach(f, files)
	{
		pull_file *p = &st->files[n];
		int64_t size, mode = 420;
		p->path = util_json_str(f, "path");
		p->digest = util_json_str(f, "digest");
		if (!p->path || !util_manifest_path_valid(p->path))
			return mlreg_error_set(MLREG_EINVALID, "registry sent an invalid file path '%s'; refusing to write it",
					       p->path ? p->path : "(none)");
		if (!util_digest_valid(p->digest))
			return mlreg_error_set(MLREG_EINVALID, "registry sent an invalid digest for '%s'", p->path);
		if (util_json_i64(f, "size", &size) < 0 || size < 0)
			return mlreg_error_set(MLREG_EINVALID, "registry sent an invalid size for '%s'", p->path);
		if (util_json_i64(f, "mode", &mode) == MLREG_EINVALID)
			return mlreg_error_set(MLREG_EINVALID, "registry sent an invalid mode for '%s'", p->path);
		p->size = (uint64_t)size;
		p->mode = mode;
		p->exec = (mode & 0100) != 0;
		n++;
	}
	st->nfiles = n;
	qsort(st->files, n, sizeof(pull_file), cmp_path);
	for (size_t i = 0; i < n; i++) {
		const char *p = st->files[i].path;
		if (i > 0 && !strcmp(p, st->files[i - 1].path))
			return mlreg_error_set(MLREG_EINVALID, "registry sent path '%s' twice", p);
		/* A file may not also be a folder of another file. */
		for (const char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
			pull_file key;
			char *prefix = strndup(p, (size_t)(s - p));
			bool clash;
			if (!prefix)
				return mlreg_error_set(MLREG_ENOMEM, "out of memory");
			key.path = prefix;
			clash = bsearch(&key, st->files, n, sizeof(pull_file), cmp_path) != NULL;
			free(prefix);
			if (clash)
				return mlreg_error_set(MLREG_EINVALID, "registry sent '%s' both as a file and a folder", p);
		}
	}
	return 0;
}

/* Recompute the version digest from the file list (schema/canonical.md:
 * the SHA-256 of the canonical manifest) so the list we are about to trust
 * is the one the version's digest commits to. */
static int check_manifest(const pull_state *st, const cJSON *version)
{
	const char *want = util_json_str(version, "digest");
	cJSON *m = cJSON_CreateObject(), *files = m ? cJSON_AddArrayToObject(m, "files") : NULL;
	char got[UTIL_DIGEST_LEN + 1];
	util_buf b;
	int error = 0;
	util_buf_init(&b, (size_t)1 << 30);
	if (!files || !cJSON_AddStringToObject(m, "mediaType", "application/vnd.mlreg.manifest.v1+json") ||
	    !cJSON_AddNumberToObject(m, "schemaVersion", 1)) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < st->nfiles; i++) { /* already sorted by path */
		const pull_file *f = &st->files[i];
		cJSON *o = cJSON_CreateObject();
		if (!o || !cJSON_AddItemToArray(files, o) || !cJSON_AddStringToObject(o, "digest", f->digest) ||
		    !cJSON_AddNumberToObject(o, "mode", (double)f->mode) || !cJSON_AddStringToObject(o, "path", f->path) ||
		    !cJSON_AddNumberToObject(o, "size", (double)f->size)) {
			error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
			goto done;
		}
	}
	if ((error = util_json_canonical(m, &b)) < 0)
		goto done;
	util_sha256_buf(b.ptr, b.len, got);
	if (!want || strcmp(want, got) != 0)
		error = mlreg_error_set(MLREG_EINTEGRITY, "the file list of %s:%lld does not match its digest %s (it hashes to %s)",
					cli_json_text(version, "model", "?"), (long long)cli_json_int(version, "version", 0),
					want ? want : "(none)", got);
done:
	util_buf_release(&b);
	cJSON_Delete(m);
	return error;
}

static int worker_client(pull_state *st, int worker, cli_client **out)
{
	if (!st->clients[worker]) {
		int error = cli_client_new(&st->clients[worker], st->cfg);
		if (error < 0)
			return error;
	}
	*out = st->clients[worker];
	return 0;
}

/* Hashes a staging file up to where its writer has got, on its own thread. */
typedef struct {
	pthread_mutex_t mu;
	pthread_cond_t moved;
	int fd;
	const char *path;   /* for messages; borrowed */
	uint64_t written;   /* by the writer so far (under mu) */
	bool finished;      /* the writer is done (under mu) */
	bool quit;          /* give up (under mu) */
	util_sha256 *h;
	int error;          /* MLREG_EIO when a read failed, message in msg */
	char msg[256];
	pthread_t tid;
} hasher;

static void *hasher_main(void *arg)
{
	hasher *hs = arg;
	char *buf = malloc(HASH_CHUNK);
	uint64_t hashed = 0, started = 0;
	if (!buf) {
		hs->error = MLREG_ENOMEM;
		snprintf(hs->msg, sizeof(hs->msg), "out of memory");
		return NULL;
	}
	for (;;) {
		uint64_t upto;
		bool finished;
		pthread_mutex_lock(&hs->mu);
		while (hs->written == hashed && !hs->finished && !hs->quit)
			pthread_cond_wait(&hs->moved, &hs->mu);
		upto = hs->written;
		finished = hs->finished;
		if (hs->quit) {
			pthread_mutex_unlock(&hs->mu);
			break;
		}
		pthread_mutex_unlock(&hs->mu);
		if (upto == hashed && finished)
			break;
		while (hashed < upto) {
			size_t want = upto - hashed < HASH_CHUNK ? (size_t)(upto - hashed) : HASH_CHUNK;
			ssize_t n = pread(hs->fd, buf, want, (off_t)hashed);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				hs->error = MLREG_EIO;
				snprintf(hs->msg, sizeof(hs->msg), "cannot read back '%s': %s", hs->path,
					 n < 0 ? strerror(errno) : "file shrank");
				goto done;
			}
			util_sha256_update(hs->h, buf, (size_t)n);
			hashed += (uint64_t)n;
		}
		/* Start writing back what is hashed; fsync then waits for less.
		 * Advisory: where it is not supported, fsync does it all. */
		if (hashed - started >= WRITEBACK_STEP) {
			sync_file_range(hs->fd, (off_t)started, (off_t)(hashed - started), SYNC_FILE_RANGE_WRITE);
			started = hashed;
		}
	}
done:
	free(buf);
	return NULL;
}

static void hasher_moved(void *arg, uint64_t total)
{
	hasher *hs = arg;
	pthread_mutex_lock(&hs->mu);
	hs->written = total;
	pthread_cond_signal(&hs->moved);
	pthread_mutex_unlock(&hs->mu);
}

static int hasher_start(hasher *hs, int fd, const char *path)
{
	memset(hs, 0, sizeof(*hs));
	hs->fd = fd;
	hs->path = path;
	if (!(hs->h = util_sha256_new()))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	pthread_mutex_init(&hs->mu, NULL);
	pthread_cond_init(&hs->moved, NULL);
	if (pthread_create(&hs->tid, NULL, hasher_main, hs) != 0) {
		pthread_mutex_destroy(&hs->mu);
		pthread_cond_destroy(&hs->moved);
		util_sha256_free(hs->h);
		return mlreg_error_set(MLREG_ERROR, "cannot start a thread");
	}
	return 0;
}

/* Wait for the hasher: with got non-NULL, let it hash everything written
 * and give the digest; otherwise abandon it.  Frees what it holds. */
static int hasher_stop(hasher *hs, char got[UTIL_DIGEST_LEN + 1])
{
	int error = 0;
	pthread_mutex_lock(&hs->mu);
	hs->finished = true;
	hs->quit = got == NULL;
	pthread_cond_signal(&hs->moved);
	pthread_mutex_unlock(&hs->mu);
	pthread_join(hs->tid, NULL);
	pthread_mutex_destroy(&hs->mu);
	pthread_cond_destroy(&hs->moved);
	if (got && hs->error) {
		error = mlreg_error_set(hs->error, "%s", hs->msg);
	} else if (got) {
		util_sha256_final(hs->h, got); /* frees it */
		hs->h = NULL;
	}
	util_sha256_free(hs->h);
	return error;
}

static int fetch(pull_state *st, const pull_file *f, int fd, cli_client *c)
{
	cli_request req;
	cli_response resp;
	char path[128], got[UTIL_DIGEST_LEN + 1];
	uint64_t received = 0;
	int error = 0;
	snprintf(path, sizeof(path), "/api/v1/blobs/%s", f->digest);
	for (int attempt = 0;; attempt++) {
		hasher hs;
		struct stat sb;
		if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
			return mlreg_error_set(MLREG_EIO, "cannot rewind '%s': %s", f->tmp, strerror(errno));
		if ((error = hasher_start(&hs, fd, f->tmp)) < 0)
			return error;
		memset(&req, 0, sizeof(req));
		req.path = path;
		req.download = true;
		req.download_fd = fd;
		req.on_written = hasher_moved;
		req.on_written_arg = &hs;
		req.download_max = f->size;
		req.progress = st->progress;
		error = cli_client_do(c, &req, &resp);
		received = fstat(fd, &sb) == 0 ? (uint64_t)sb.st_size : 0;
		if (error == 0 || !resp.transport_failed || attempt + 1 >= TRIES) {
			cli_response_release(&resp);
			if (error < 0) {
				hasher_stop(&hs, NULL);
				return cli_error_wrap(error, "cannot download '%s' (%s)", f->path, f->digest);
			}
			if ((error = hasher_stop(&hs, got)) < 0)
				return error;
			break;
		}
		cli_response_release(&resp);
		hasher_stop(&hs, NULL);
		cli_progress_add(st->progress, -(int64_t)received);
		if ((error = cli_sleep_ms(300LL << attempt)) < 0)
			return error;
	}
	if (received != f->size)
		return mlreg_error_set(MLREG_EINTEGRITY, "size mismatch for '%s': registry sent %llu bytes, expected %llu",
				       f->path, (unsigned long long)received, (unsigned long long)f->size);
	if (strcmp(got, f->digest) != 0)
		return mlreg_error_set(MLREG_EINTEGRITY, "digest mismatch for '%s': expected %s, got %s", f->path,
				       f->digest, got);
	return 0;
}

static int download_one(void *arg, size_t i, int worker)
{
	pull_state *st = arg;
	const pull_file *f = &st->files[i];
	cli_client *c;
	int fd, error;
	if ((error = worker_client(st, worker, &c)) < 0)
		return error;
	fd = open(f->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600); /* read back by the hasher */
	if (fd < 0)
		return mlreg_error_set(MLREG_EIO, "cannot create '%s': %s", f->tmp, strerror(errno));
	if ((error = fetch(st, f, fd, c)) == 0) {
		mode_t mode = (f->exec ? 0755 : 0644) & ~st->umask;
		if (fchmod(fd, mode) < 0 || fsync(fd) < 0)
			error = mlreg_error_set(MLREG_EIO, "cannot write '%s': %s", f->tmp, strerror(errno));
	}
	if (close(fd) < 0 && error == 0)
		error = mlreg_error_set(MLREG_EIO, "cannot write '%s': %s", f->tmp, strerror(errno));
	return error;
}

/* Check that every file can be renamed into the existing folder dest
 * without following a symbolic link or replacing a folder. */
static int check_merge(const pull_state *st, const char *dest)
{
	for (size_t i = 0; i < st->nfiles; i++) {
		const char *p = st->files[i].path;
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
static int merge(const pull_state *st, const char *dest)
{
	for (size_t i = 0; i < st->nfiles; i++) {
		const char *p = st->files[i].path;
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
		if (rename(st->files[i].tmp, target) < 0) {
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

/* Give each file its staging path and create the folders they need. */
static int plan(pull_state *st, const char *root, bool single)
{
	for (size_t i = 0; i < st->nfiles; i++) {
		pull_file *f = &st->files[i];
		const char *slash = strrchr(f->path, '/');
		if (asprintf(&f->tmp, "%s/%s", root, single ? "file" : f->path) < 0) {
			f->tmp = NULL;
			return mlreg_error_set(MLREG_ENOMEM, "out of memory");
		}
		if (!single && slash) {
			char *dir;
			int error;
			if (asprintf(&dir, "%s/%.*s", root, (int)(slash - f->path), f->path) < 0)
				return mlreg_error_set(MLREG_ENOMEM, "out of memory");
			error = util_mkdir_p(dir, 0755);
			free(dir);
			if (error < 0)
				return error;
		}
	}
	return util_mkdir_p(root, 0755);
}

/* The version number printed and recorded is the one in the version object
 * the files came from: a stage or alias may move while the pull runs, but
 * the files were fetched by the digests of that one object. */
static int print_result(const pull_state *st, const cJSON *v, const char *refs, const char *dest)
{
	uint64_t total = 0;
	for (size_t i = 0; i < st->nfiles; i++)
		total += st->files[i].size;
	if (st->cfg->json) {
		cJSON *o = cJSON_CreateObject();
		int error;
		if (!o || !cJSON_AddStringToObject(o, "model", cli_json_text(v, "model", "")) ||
		    !cJSON_AddNumberToObject(o, "version", (double)cli_json_int(v, "version", 0)) ||
		    !cJSON_AddStringToObject(o, "digest", cli_json_text(v, "digest", "")) ||
		    !cJSON_AddStringToObject(o, "path", dest) || !cJSON_AddStringToObject(o, "ref", refs) ||
		    !cJSON_AddNumberToObject(o, "files", (double)st->nfiles) ||
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
		       strcmp(concrete, refs) ? refs : "", strcmp(concrete, refs) ? ")" : "", dest, st->nfiles,
		       (unsigned long long)total);
	}
	return 0;
}

static int cmd_pull_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	pull_state st;
	cli_args a;
	cli_response resp;
	cli_progress progress;
	util_ref ref;
	util_buf vpath;
	struct stat sb;
	const char *refs = NULL, *parent;
	char *dest = NULL, *dcopy = NULL, *bcopy = NULL, *staging = NULL, *root = NULL;
	bool single, exists, progress_on = false;
	uint64_t total = 0;
	int rc, error = 0;

	memset(&st, 0, sizeof(st));
	memset(&resp, 0, sizeof(resp));
	util_buf_init(&vpath, 4096);
	st.cfg = cfg;
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
	if ((error = worker_client(&st, 0, &st.clients[0])) < 0 ||
	    (error = cli_version_path(&vpath, &ref, NULL)) < 0)
		goto done;
	if ((error = cli_client_json(st.clients[0], "GET", vpath.ptr, NULL, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot pull '%s'", refs);
		goto done;
	}
	if ((error = load_files(&st, resp.body)) < 0 || (error = check_manifest(&st, resp.body)) < 0)
		goto done;

	exists = stat(dest, &sb) == 0;
	single = st.nfiles == 1 && !(exists && S_ISDIR(sb.st_mode));
	if (exists && !single && !S_ISDIR(sb.st_mode)) {
		error = mlreg_error_set(MLREG_ECONFLICT, "cannot pull %zu files to '%s': it exists and is not a folder",
					st.nfiles, dest);
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
		if ((error = check_merge(&st, dest)) < 0)
			goto done;
	}
	if (asprintf(&root, "%s/tree", staging) < 0) {
		root = NULL;
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	if ((error = plan(&st, single ? staging : root, single)) < 0)
		goto done;

	st.umask = umask(0);
	umask(st.umask);
	for (size_t i = 0; i < st.nfiles; i++)
		total += st.files[i].size;
	cli_progress_init(&progress, "pull", total, cli_progress_wanted(cfg->quiet));
	progress_on = true;
	st.progress = &progress;
	error = cli_pool_run(st.nfiles, WORKERS, download_one, &st);
	st.progress = NULL;
	cli_progress_release(&progress);
	progress_on = false;
	if (error < 0)
		goto done;

	/* Every file is verified: now, and only now, touch DEST. */
	if (single) {
		if (rename(st.files[0].tmp, dest) < 0) {
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
	} else if ((error = merge(&st, dest)) < 0) {
		goto done;
	}
	error = print_result(&st, resp.body, refs, dest);
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
	cli_response_release(&resp);
	for (int i = 0; i < WORKERS; i++)
		cli_client_free(st.clients[i]);
	for (size_t i = 0; i < st.nfiles; i++)
		free(st.files[i].tmp);
	free(st.files);
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

/*
 * fetch.c - the verified download of a version's files, shared by
 * `mlreg pull` (cmd_pull.c) and mlreg-node's cache (node/cache.c).
 *
 * The version object comes from the registry, which we do not trust with
 * our filesystem: every path must pass util_manifest_path_valid (relative,
 * no '..'), paths may not repeat or be both a file and a folder, the list
 * must hash to the version's digest, and no download may grow past its
 * announced size.  Where the verified files go is up to the caller; this
 * file only fills a folder it is given.
 *
 * One thread per download receives and writes; another hashes the staged
 * file just behind it (pread from the page cache) and starts the disk
 * writes of what it hashed (sync_file_range), so receiving, hashing and
 * writeback overlap and the final fsync has little left to do.  Hashing on
 * the receiving thread made that one thread the limit (~280 MB/s).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli/client.h"
#include "cli/fetch.h"
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
} fetch_file;

struct cli_fetch {
	fetch_file *files;
	size_t nfiles;
	uint64_t total;
	/* while cli_fetch_run() runs */
	const cli_config *cfg;
	mode_t umask;
	cli_client *clients[WORKERS];
	cli_progress *progress;
	const atomic_bool *stop;
};

static int cmp_path(const void *a, const void *b)
{
	return strcmp(((const fetch_file *)a)->path, ((const fetch_file *)b)->path);
}

/* Read and vet the version's file list. */
static int load_files(cli_fetch *st, const cJSON *version)
{
	const cJSON *files = cJSON_GetObjectItemCaseSensitive(version, "files"), *f;
	size_t n = 0;
	if (!cJSON_IsArray(files))
		return mlreg_error_set(MLREG_EIO, "registry sent a version without a file list");
	st->files = calloc((size_t)cJSON_GetArraySize(files) + 1, sizeof(fetch_file));
	if (!st->files)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	cJSON_ArrayForEach(f, files)
	{
		fetch_file *p = &st->files[n];
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
		st->total += p->size;
		n++;
	}
	st->nfiles = n;
	qsort(st->files, n, sizeof(fetch_file), cmp_path);
	for (size_t i = 0; i < n; i++) {
		const char *p = st->files[i].path;
		if (i > 0 && !strcmp(p, st->files[i - 1].path))
			return mlreg_error_set(MLREG_EINVALID, "registry sent path '%s' twice", p);
		/* A file may not also be a folder of another file. */
		for (const char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
			fetch_file key;
			char *prefix = strndup(p, (size_t)(s - p));
			bool clash;
			if (!prefix)
				return mlreg_error_set(MLREG_ENOMEM, "out of memory");
			key.path = prefix;
			clash = bsearch(&key, st->files, n, sizeof(fetch_file), cmp_path) != NULL;
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
static int check_manifest(const cli_fetch *st, const cJSON *version)
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
		const fetch_file *f = &st->files[i];
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

int cli_fetch_plan(const cJSON *version, cli_fetch **out)
{
	cli_fetch *f = calloc(1, sizeof(*f));
	int error;
	if (!f)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	if ((error = load_files(f, version)) < 0 || (error = check_manifest(f, version)) < 0) {
		cli_fetch_free(f);
		return error;
	}
	*out = f;
	return 0;
}

void cli_fetch_free(cli_fetch *f)
{
	if (!f)
		return;
	for (int i = 0; i < WORKERS; i++)
		cli_client_free(f->clients[i]);
	for (size_t i = 0; i < f->nfiles; i++)
		free(f->files[i].tmp);
	free(f->files);
	free(f);
}

size_t cli_fetch_count(const cli_fetch *f) { return f->nfiles; }
uint64_t cli_fetch_total(const cli_fetch *f) { return f->total; }
const char *cli_fetch_path(const cli_fetch *f, size_t i) { return f->files[i].path; }
const char *cli_fetch_digest(const cli_fetch *f, size_t i) { return f->files[i].digest; }
uint64_t cli_fetch_size(const cli_fetch *f, size_t i) { return f->files[i].size; }
const char *cli_fetch_staged(const cli_fetch *f, size_t i) { return f->files[i].tmp; }

static int worker_client(cli_fetch *st, int worker, cli_client **out)
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

/* Wait before a retry; the stop flag ends the wait like Ctrl-C does. */
static int retry_pause(const cli_fetch *st, int attempt)
{
	int64_t left = 300LL << attempt;
	while (left > 0) {
		int64_t step = left < 50 ? left : 50;
		int error;
		if (st->stop && atomic_load(st->stop))
			return mlreg_error_set(MLREG_ERROR, "transfer stopped");
		if ((error = cli_sleep_ms(step)) < 0)
			return error;
		left -= step;
	}
	return 0;
}

static int fetch(cli_fetch *st, const fetch_file *f, int fd, cli_client *c)
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
		req.stop = st->stop;
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
		if ((error = retry_pause(st, attempt)) < 0)
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
	cli_fetch *st = arg;
	const fetch_file *f = &st->files[i];
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

/* Give each file its staging path and create the folders they need. */
static int plan(cli_fetch *st, const char *root, bool single)
{
	for (size_t i = 0; i < st->nfiles; i++) {
		fetch_file *f = &st->files[i];
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

/* The process umask without changing it: umask() can only be read by
 * setting it, and another thread (mlreg-node serves while it fetches)
 * creating a file in that moment would get the wrong mode.  Linux shows it
 * in /proc/self/status; the set-and-restore is the fallback. */
static mode_t process_umask(void)
{
	FILE *fp = fopen("/proc/self/status", "re");
	char line[256];
	mode_t m;
	if (fp) {
		while (fgets(line, sizeof(line), fp)) {
			unsigned int v;
			if (sscanf(line, "Umask: %o", &v) == 1) {
				fclose(fp);
				return (mode_t)v & 0777;
			}
		}
		fclose(fp);
	}
	m = umask(0);
	umask(m);
	return m;
}

int cli_fetch_run(cli_fetch *f, const cli_config *cfg, const char *root, bool single, cli_progress *progress,
		  const atomic_bool *stop)
{
	int error;
	if (single && f->nfiles != 1)
		return mlreg_error_set(MLREG_EINVALID, "a single-file fetch needs exactly one file, not %zu", f->nfiles);
	if ((error = plan(f, root, single)) < 0)
		return error;
	f->cfg = cfg;
	f->umask = process_umask();
	f->progress = progress;
	f->stop = stop;
	error = cli_pool_run(f->nfiles, WORKERS, download_one, f);
	f->progress = NULL;
	f->stop = NULL;
	for (int i = 0; i < WORKERS; i++) {
		cli_client_free(f->clients[i]);
		f->clients[i] = NULL;
	}
	return error;
}

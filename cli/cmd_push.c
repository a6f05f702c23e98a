/*
 * cmd_push.c - `mlreg push MODEL PATH`: register a new version from a file
 * or a folder.
 *
 * The push is content-addressed like a git or OCI push: walk PATH, learn
 * every file's digest, ask the registry which blobs it already has (HEAD),
 * upload only the missing ones (4 at a time, each worker with its own
 * connection), then create the version from the manifest.  A config change
 * beside unchanged 10 GB weights uploads the config only.  The create
 * request carries an Idempotency-Key so that a retry after a lost answer
 * cannot make two versions.  Only regular files and folders are pushed: a
 * symbolic link, device, FIFO or socket anywhere under PATH stops the push
 * before anything is uploaded.
 *
 * Digests cost a full read of every file (OpenSSL hashes ~1.8 GB/s per
 * core), so two things keep hashing off the critical path:
 *   - the local digest cache (digests.c): a file whose device, inode, size,
 *     mtime and ctime are unchanged since it was last hashed is not read;
 *   - speculation: a large file (>= CLI_UPLOAD_SESSION_MIN) missing from the
 *     cache is hashed on one thread while another already uploads it through
 *     a session.  When the digest is known, the push checks it against the
 *     other files of the push and the registry (HEAD); if the content is
 *     there already, the transfer is stopped and the session deleted.  The
 *     price is at most a hash-time's worth of bytes sent for nothing, paid
 *     only on a cache miss for content the registry has (--no-speculate).
 * Small files missing from the cache are hashed first, 4 at a time.
 *
 * The lineage flags (--dataset, --parent, --git, --run) live in
 * lineage_push.c; they are resolved after the walk and before any hashing
 * of the model or upload, so a bad dataset or a refused dirty tree costs
 * nothing on the registry.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/digests.h"
#include "cli/lineage_push.h"
#include "cli/pool.h"
#include "cli/upload.h"
#include "cli/walk.h"
#include "util/json.h"

#define MAX_FILES 100000
#define WORKERS 4
#define CREATE_TRIES 3

typedef struct {
	char *rel;        /* manifest path, '/'-separated */
	char *abs;        /* path on disk */
	uint64_t size;
	int mode;         /* 420 or 493 */
	size_t blob;      /* index into push_state.blobs */
	cli_file_stamp stamp; /* from the walk: the digest cache key */
	bool cached;      /* digest taken from the cache */
	bool speculate;   /* hashed while it uploads */
	bool claimed;     /* speculating, and the one file of its digest to upload */
	bool uploaded;    /* its bytes were uploaded by this push */
	char digest[UTIL_DIGEST_LEN + 1]; /* "" until known */
} push_file;

/* One transfer: a blob to upload (digest known) or a file to speculate on. */
typedef struct {
	bool speculate;
	size_t index;     /* blob index, or file index when speculating */
	uint64_t size;
} push_job;

typedef struct {
	const cli_config *cfg;
	push_file *files;
	size_t nfiles, cap;
	size_t *blobs;      /* index of the first file of each distinct digest, sorted by digest */
	size_t nblobs;
	bool *missing;      /* per blob: the registry does not have it */
	bool *uploaded;     /* per blob: uploaded by this push */
	push_job *jobs;     /* transfers of the current round */
	size_t njobs;
	cli_client *clients[WORKERS];
	cli_client *head_clients[WORKERS]; /* for the HEAD of a speculating worker's hash thread */
	cli_progress *progress;
	cli_digest_cache *cache;
	bool speculate;     /* not --no-speculate */
	pthread_mutex_t mu; /* claims of speculating files, hash slots */
	pthread_cond_t slot_freed;
	int hash_slots;     /* hash threads that may run now, beside the uploads */
	atomic_uint_least64_t wasted; /* bytes sent by speculative uploads that were not needed */
} push_state;

static int add_file(push_state *st, const char *abs, const char *rel, const struct stat *sb)
{
	push_file *f;
	if (st->nfiles >= MAX_FILES)
		return mlreg_error_set(MLREG_ETOOBIG, "cannot push more than %d files", MAX_FILES);
	if (st->nfiles == st->cap) {
		size_t ncap = st->cap ? st->cap * 2 : 64;
		push_file *p = realloc(st->files, ncap * sizeof(*p));
		if (!p)
			return mlreg_error_set(MLREG_ENOMEM, "out of memory");
		st->files = p;
		st->cap = ncap;
	}
	f = &st->files[st->nfiles];
	memset(f, 0, sizeof(*f));
	f->rel = strdup(rel);
	f->abs = strdup(abs);
	if (!f->rel || !f->abs) {
		free(f->rel);
		free(f->abs);
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	f->size = (uint64_t)sb->st_size;
	f->mode = (sb->st_mode & S_IXUSR) ? 493 : 420;
	cli_file_stamp_from_stat(&f->stamp, sb);
	st->nfiles++;
	return 0;
}

static int on_file(void *arg, const char *abs, const char *rel, const struct stat *sb)
{
	return add_file(arg, abs, rel, sb);
}

/* Every regular file under path (walk.c refuses anything else). */
static int collect(push_state *st, const char *path)
{
	return cli_walk(path, "push", "pushed", on_file, st);
}

/* Hash file i (a cache miss), recording the digest in the cache when the
 * file's state allows it. */
static int hash_file(push_state *st, push_file *f, const atomic_bool *stop)
{
	cli_file_stamp stamp;
	bool cacheable;
	uint64_t size;
	int error = cli_digest_file(f->abs, f->digest, &size, &stamp, &cacheable, stop);
	if (error < 0)
		return error;
	if (size != f->size)
		return mlreg_error_set(MLREG_ECONFLICT, "'%s' changed while it was being read", f->abs);
	if (cacheable)
		cli_digest_cache_put(st->cache, &stamp, f->digest);
	return 0;
}

static int hash_one(void *arg, size_t i, int worker)
{
	push_state *st = arg;
	push_file *f = &st->files[i];
	if (f->digest[0] || f->speculate)
		return 0;
	return hash_file(st, f, NULL);
}

static int cmp_digest(const void *a, const void *b, void *arg)
{
	const push_state *st = arg;
	return strcmp(st->files[*(const size_t *)a].digest, st->files[*(const size_t *)b].digest);
}

/* One blob per distinct digest among the files whose digest is known (two
 * identical files upload once); a blob counts as uploaded when one of its
 * files was. */
static int dedupe(push_state *st)
{
	size_t *idx = malloc(st->nfiles * sizeof(size_t) + 1), n = 0;
	free(st->blobs);
	free(st->missing);
	free(st->uploaded);
	st->blobs = NULL;
	st->missing = st->uploaded = NULL;
	if (!idx)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	for (size_t i = 0; i < st->nfiles; i++)
		if (st->files[i].digest[0])
			idx[n++] = i;
	qsort_r(idx, n, sizeof(size_t), cmp_digest, st);
	st->blobs = idx; /* sorted by digest */
	st->missing = calloc(n + 1, sizeof(bool));
	st->uploaded = calloc(n + 1, sizeof(bool));
	if (!st->missing || !st->uploaded)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	st->nblobs = 0;
	for (size_t i = 0; i < n; i++) {
		size_t f = idx[i];
		if (i == 0 || strcmp(st->files[f].digest, st->files[idx[st->nblobs - 1]].digest) != 0)
			idx[st->nblobs++] = f;
		st->files[f].blob = st->nblobs - 1;
		if (st->files[f].uploaded)
			st->uploaded[st->nblobs - 1] = true;
	}
	return 0;
}

/* The blob of digest d, or st->nblobs. */
static size_t find_blob(const push_state *st, const char *d)
{
	size_t lo = 0, hi = st->nblobs;
	while (lo < hi) { /* blobs are sorted by digest */
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(st->files[st->blobs[mid]].digest, d);
		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return st->nblobs;
}

static int worker_client(push_state *st, int worker, cli_client **out)
{
	if (!st->clients[worker]) {
		int error = cli_client_new(&st->clients[worker], st->cfg);
		if (error < 0)
			return error;
	}
	*out = st->clients[worker];
	return 0;
}

/* Does the registry have digest d?  1 yes, 0 no, or the error. */
static int blob_known(cli_client *c, const char *d)
{
	cli_response resp;
	char path[128];
	int error;
	snprintf(path, sizeof(path), "/api/v1/blobs/%s", d);
	error = cli_client_json(c, "HEAD", path, NULL, &resp);
	cli_response_release(&resp);
	if (error == MLREG_ENOTFOUND)
		return 0;
	return error < 0 ? cli_error_wrap(error, "cannot check blob %s", d) : 1;
}

static int head_one(void *arg, size_t b, int worker)
{
	push_state *st = arg;
	cli_client *c;
	int error;
	if ((error = worker_client(st, worker, &c)) < 0 ||
	    (error = blob_known(c, st->files[st->blobs[b]].digest)) < 0)
		return error;
	st->missing[b] = error == 0;
	return 0;
}

static int upload_one(push_state *st, size_t b, int worker)
{
	push_file *f = &st->files[st->blobs[b]];
	cli_client *c;
	int error;
	if ((error = worker_client(st, worker, &c)) < 0)
		return error;
	if ((error = cli_upload_blob(c, f->abs, f->size, f->digest, st->progress)) < 0)
		return error;
	st->uploaded[b] = true;
	f->uploaded = true;
	return 0;
}

/* ---- speculation: hash on one thread while the upload runs ---- */

typedef struct {
	push_state *st;
	push_file *f;
	int worker;
	atomic_bool stop;    /* set by the hash thread: end the transfer, it is not needed */
	atomic_bool abandon; /* set by the uploader: the upload failed, stop hashing */
	pthread_t tid;
	bool running;        /* tid not joined yet */
	bool keep;           /* the registry needs these bytes */
	int error;           /* of the hash thread, message in msg */
	char msg[1024];
} spec_job;

static void slot_take(push_state *st, spec_job *j)
{
	pthread_mutex_lock(&st->mu);
	while (st->hash_slots == 0 && !atomic_load(&j->abandon))
		pthread_cond_wait(&st->slot_freed, &st->mu);
	st->hash_slots--;
	pthread_mutex_unlock(&st->mu);
}

static void slot_give(push_state *st)
{
	pthread_mutex_lock(&st->mu);
	st->hash_slots++;
	pthread_cond_broadcast(&st->slot_freed);
	pthread_mutex_unlock(&st->mu);
}

/* Is the digest of f, just learned, already taken care of by this push:
 * a file whose digest was known before (the registry has it, or a worker
 * uploads it), or another speculating file that claimed it?  If not, f
 * claims it. */
static bool already_covered(push_state *st, push_file *f)
{
	bool covered;
	pthread_mutex_lock(&st->mu);
	covered = find_blob(st, f->digest) < st->nblobs;
	for (size_t i = 0; i < st->nfiles && !covered; i++) {
		const push_file *o = &st->files[i];
		covered = o != f && o->claimed && !strcmp(o->digest, f->digest);
	}
	f->claimed = !covered;
	pthread_mutex_unlock(&st->mu);
	return covered;
}

static int decide(spec_job *j)
{
	push_state *st = j->st;
	cli_client **c = &st->head_clients[j->worker];
	int error;
	slot_take(st, j);
	error = hash_file(st, j->f, &j->abandon);
	slot_give(st);
	if (error < 0)
		return error;
	if (already_covered(st, j->f))
		return 0;
	if (!*c && (error = cli_client_new(c, st->cfg)) < 0)
		return error;
	/* When the registry cannot say, upload: the PUT will tell. */
	j->keep = blob_known(*c, j->f->digest) != 1;
	return 0;
}

static void *hash_main(void *arg)
{
	spec_job *j = arg;
	j->error = decide(j);
	if (j->error < 0)
		snprintf(j->msg, sizeof(j->msg), "%s", mlreg_error_last());
	if (j->error < 0 || !j->keep)
		atomic_store(&j->stop, true);
	return NULL;
}

static void spec_join(spec_job *j)
{
	if (j->running) {
		pthread_join(j->tid, NULL);
		j->running = false;
	}
}

static int spec_resolve(void *arg, char digest[UTIL_DIGEST_LEN + 1], bool *keep)
{
	spec_job *j = arg;
	spec_join(j);
	if (j->error < 0)
		return mlreg_error_set(j->error, "%s", j->msg);
	memcpy(digest, j->f->digest, UTIL_DIGEST_LEN + 1);
	*keep = j->keep;
	return 0;
}

static int speculate_one(push_state *st, size_t i, int worker)
{
	spec_job j;
	uint64_t wire = 0;
	cli_client *c;
	int error;
	memset(&j, 0, sizeof(j));
	j.st = st;
	j.f = &st->files[i];
	j.worker = worker;
	atomic_init(&j.stop, false);
	atomic_init(&j.abandon, false);
	if ((error = worker_client(st, worker, &c)) < 0)
		return error;
	if (pthread_create(&j.tid, NULL, hash_main, &j) != 0) {
		/* no thread: hash first, then upload as usual */
		if ((error = decide(&j)) < 0)
			return error;
		if (!j.keep) {
			cli_progress_add_total(st->progress, -(int64_t)j.f->size);
			return 0;
		}
		if ((error = cli_upload_blob(c, j.f->abs, j.f->size, j.f->digest, st->progress)) == 0)
			j.f->uploaded = true;
		return error;
	}
	j.running = true;
	error = cli_upload_speculative(c, j.f->abs, j.f->size, &j.stop, spec_resolve, &j, st->progress, &wire);
	if (j.running) {
		/* the upload failed before it asked for the digest */
		cli_error_saved saved;
		cli_error_save(&saved, error);
		atomic_store(&j.abandon, true);
		pthread_mutex_lock(&st->mu);
		pthread_cond_broadcast(&st->slot_freed);
		pthread_mutex_unlock(&st->mu);
		spec_join(&j);
		error = cli_error_restore(&saved);
	}
	if (error == 0) {
		j.f->uploaded = true;
	} else if (error == 1) {
		/* the bytes sent stay on the bar, the rest of the file leaves it */
		atomic_fetch_add(&st->wasted, wire);
		cli_progress_add_total(st->progress, (int64_t)wire - (int64_t)j.f->size);
		error = 0;
	}
	return error;
}

static int transfer_one(void *arg, size_t i, int worker)
{
	push_state *st = arg;
	const push_job *j = &st->jobs[i];
	return j->speculate ? speculate_one(st, j->index, worker) : upload_one(st, j->index, worker);
}

static int cmp_job_size(const void *a, const void *b)
{
	const push_job *x = a, *y = b;
	return x->size < y->size ? 1 : x->size > y->size ? -1 : 0;
}

/* Upload the blobs marked missing and not uploaded yet and, with
 * speculate, the files marked so, largest first. */
static int transfer(push_state *st, bool speculate)
{
	cli_progress progress;
	uint64_t bytes = 0;
	size_t n = 0;
	int error;
	free(st->jobs);
	st->njobs = 0;
	if (!(st->jobs = calloc(st->nblobs + st->nfiles + 1, sizeof(push_job))))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	for (size_t b = 0; b < st->nblobs; b++)
		if (st->missing[b] && !st->uploaded[b])
			st->jobs[n++] = (push_job){false, b, st->files[st->blobs[b]].size};
	for (size_t i = 0; speculate && i < st->nfiles; i++)
		if (st->files[i].speculate)
			st->jobs[n++] = (push_job){true, i, st->files[i].size};
	qsort(st->jobs, n, sizeof(push_job), cmp_job_size);
	st->njobs = n;
	for (size_t k = 0; k < n; k++)
		bytes += st->jobs[k].size;
	cli_progress_init(&progress, "push", bytes, cli_progress_wanted(st->cfg->quiet));
	st->progress = &progress;
	error = cli_pool_run(st->njobs, WORKERS, transfer_one, st);
	st->progress = NULL;
	cli_progress_release(&progress);
	return error;
}

static int upload_missing(push_state *st)
{
	return transfer(st, false);
}

/* Mark the digests of a blob_unknown answer missing; they must be ours. */
static int mark_unknown(push_state *st, const cJSON *err)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(err, "missing"), *d;
	size_t marked = 0;
	cJSON_ArrayForEach(d, list)
	{
		size_t b;
		if (!cJSON_IsString(d))
			continue;
		if ((b = find_blob(st, d->valuestring)) < st->nblobs) {
			st->missing[b] = true;
			st->uploaded[b] = false;
			marked++;
		} else {
			return mlreg_error_set(MLREG_EINVALID, "registry asks for blob %s, which this push does not have",
					       d->valuestring);
		}
	}
	if (!marked)
		return mlreg_error_set(MLREG_EINVALID, "registry reported missing blobs without naming them");
	return 0;
}

static int create_version(push_state *st, const char *model, const cJSON *body, cli_response *resp)
{
	char key[33], header[64];
	cli_request req;
	util_buf path;
	bool reuploaded = false;
	int error;

	util_buf_init(&path, 4096);
	if ((error = cli_model_path(&path, model, "/versions")) < 0 || (error = util_random_hex(key, 16)) < 0)
		goto done;
	for (int attempt = 0;; attempt++) {
		snprintf(header, sizeof(header), "Idempotency-Key: %s", key);
		memset(&req, 0, sizeof(req));
		req.method = "POST";
		req.path = path.ptr;
		req.json = body;
		req.headers[0] = header;
		cli_response_release(resp);
		error = cli_client_do(st->clients[0], &req, resp);
		if (error == 0)
			break;
		if (resp->transport_failed && attempt + 1 < CREATE_TRIES) {
			/* Same key: if the first request did land, the registry
			 * answers with that version instead of making another. */
			if ((error = cli_sleep_ms(500LL << attempt)) < 0)
				break;
			continue;
		}
		if (resp->status == 400 && resp->error_code && !strcmp(resp->error_code, "blob_unknown") &&
		    !reuploaded) {
			reuploaded = true;
			if ((error = mark_unknown(st, resp->error)) < 0 || (error = upload_missing(st)) < 0 ||
			    (error = util_random_hex(key, 16)) < 0)
				break;
			attempt = -1;
			continue;
		}
		break;
	}
done:
	util_buf_release(&path);
	return error;
}

static int add_kv(const char *cmd, cJSON *obj, const char *what, const char *arg, bool numeric)
{
	char *key = NULL;
	const char *value;
	double num;
	cJSON *item;
	int error;
	if ((error = cli_kv_split(cmd, what, arg, &key, &value)) < 0)
		return error;
	if (numeric && util_parse_double(value, &num) < 0) {
		error = cli_usage_error(cmd, "invalid metric '%s': the value must be a number", arg);
		goto done;
	}
	item = numeric ? cJSON_CreateNumber(num) : cJSON_CreateString(value);
	cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
	if (!item || !cJSON_AddItemToObject(obj, key, item)) {
		cJSON_Delete(item);
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
done:
	free(key);
	return error;
}

static int build_body(const push_state *st, cJSON *body)
{
	cJSON *files = cJSON_AddArrayToObject(body, "files");
	if (!files)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	for (size_t i = 0; i < st->nfiles; i++) {
		const push_file *f = &st->files[i];
		cJSON *o = cJSON_CreateObject();
		if (!o || !cJSON_AddItemToArray(files, o) || !cJSON_AddStringToObject(o, "path", f->rel) ||
		    !cJSON_AddNumberToObject(o, "size", (double)f->size) ||
		    !cJSON_AddStringToObject(o, "digest", f->digest) ||
		    !cJSON_AddNumberToObject(o, "mode", f->mode))
			return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	return 0;
}

enum { OPT_METRIC = 256, OPT_PARAM, OPT_TAG, OPT_DESCRIPTION, OPT_NO_CACHE, OPT_NO_SPECULATE };

static const cli_option push_options[] = {
	{"metric", OPT_METRIC, true},
	{"param", OPT_PARAM, true},
	{"tag", OPT_TAG, true},
	{"description", OPT_DESCRIPTION, true},
	{"no-cache", OPT_NO_CACHE, false},
	{"no-speculate", OPT_NO_SPECULATE, false},
	CLI_LINEAGE_OPTIONS,
	{NULL, 0, false},
};

static int print_result(const push_state *st, const cli_lineage *lin, const cJSON *v)
{
	const char *model = cli_json_text(v, "model", "?"), *digest = cli_json_text(v, "digest", "?");
	int64_t version = cli_json_int(v, "version", 0), size = cli_json_int(v, "size", 0);
	uint64_t total = 0, up_bytes = 0;
	size_t up_files = 0;
	for (size_t i = 0; i < st->nfiles; i++) {
		total += st->files[i].size;
		if (st->uploaded[st->files[i].blob])
			up_files++;
	}
	for (size_t b = 0; b < st->nblobs; b++)
		if (st->uploaded[b])
			up_bytes += st->files[st->blobs[b]].size;
	up_bytes += atomic_load(&st->wasted);
	if (!st->cfg->quiet)
		fprintf(stderr, "uploaded %zu of %zu files (%llu of %llu bytes)\n", up_files, st->nfiles,
			(unsigned long long)up_bytes, (unsigned long long)total);
	if (st->cfg->json) {
		cJSON *out = cJSON_CreateObject();
		int error = 0;
		if (!out || !cJSON_AddStringToObject(out, "model", model) ||
		    !cJSON_AddNumberToObject(out, "version", (double)version) ||
		    !cJSON_AddStringToObject(out, "digest", digest) ||
		    !cJSON_AddNumberToObject(out, "size", (double)size))
			error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		else
			error = cli_print_json(out);
		cJSON_Delete(out);
		return error;
	}
	printf("pushed %s:%lld %s (%zu files, %lld bytes, uploaded %llu bytes)\n", model, (long long)version,
	       digest, st->nfiles, (long long)size, (unsigned long long)up_bytes);
	if (cli_lineage_given(lin)) {
		util_buf line;
		int error;
		util_buf_init(&line, 4096);
		if ((error = cli_lineage_summary(lin, &line)) == 0)
			printf("%s\n", line.ptr);
		util_buf_release(&line);
		return error;
	}
	return 0;
}

static int cmd_push_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	push_state st;
	cli_lineage lin;
	cli_args a;
	cli_response resp;
	cJSON *body = cJSON_CreateObject(), *metrics = cJSON_CreateObject(), *params = cJSON_CreateObject(),
	      *tags = cJSON_CreateObject(), *lineage = NULL;
	const char *model = NULL, *path = NULL, *description = NULL, *env;
	bool use_cache = true;
	int rc, error = 0;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	memset(&st, 0, sizeof(st));
	memset(&resp, 0, sizeof(resp));
	cli_lineage_init(&lin);
	st.cfg = cfg;
	st.speculate = true;
	/* Hashing a speculating file competes with the uploads (and, on one
	 * machine, with the server) for the CPUs: half of them at most. */
	st.hash_slots = ncpu >= 4 ? (int)(ncpu / 2) : 1;
	if (st.hash_slots > WORKERS)
		st.hash_slots = WORKERS;
	atomic_init(&st.wasted, 0);
	pthread_mutex_init(&st.mu, NULL);
	pthread_cond_init(&st.slot_freed, NULL);
	if ((env = getenv("MLREG_NO_DIGEST_CACHE")) && *env && strcmp(env, "0") != 0)
		use_cache = false;
	if (!body || !metrics || !params || !tags) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		switch (rc) {
		case OPT_METRIC: error = add_kv(self->name, metrics, "metric", a.value, true); break;
		case OPT_PARAM: error = add_kv(self->name, params, "param", a.value, false); break;
		case OPT_TAG: error = add_kv(self->name, tags, "tag", a.value, false); break;
		case OPT_DESCRIPTION: description = a.value; break;
		case OPT_NO_CACHE: use_cache = false; break;
		case OPT_NO_SPECULATE: st.speculate = false; break;
		case CLI_ARGS_POS:
			if (!model)
				model = a.value;
			else if (!path)
				path = a.value;
			else
				error = cli_usage_error(self->name, "unexpected argument '%s'", a.value);
			break;
		default:
			error = CLI_LINEAGE_IS_OPTION(rc) ? cli_lineage_option(&lin, self->name, rc, a.value) : rc;
			break;
		}
		if (error < 0)
			goto done;
	}
	if ((error = cli_lineage_check(&lin, self->name)) < 0)
		goto done;
	if (!model || !path) {
		error = cli_usage_error(self->name, "expected MODEL and PATH");
		goto done;
	}
	if (!util_model_name_valid(model)) {
		error = cli_usage_error(self->name, "invalid model name '%s'", model);
		goto done;
	}
	if ((error = collect(&st, path)) < 0)
		goto done;
	if (use_cache && (error = cli_digest_cache_open(&st.cache, NULL)) < 0)
		goto done;
	/* datasets and git first: a refusal there costs no upload */
	if ((error = cli_lineage_resolve(&lin, st.cache)) < 0)
		goto done;
	for (size_t i = 0; i < st.nfiles; i++) {
		push_file *f = &st.files[i];
		f->cached = cli_digest_cache_get(st.cache, &f->stamp, f->digest);
		f->speculate = !f->cached && st.speculate && f->size >= CLI_UPLOAD_SESSION_MIN;
	}
	/* Hash the rest on up to 4 threads (one core hashes faster than most
	 * disks read), ask for the blobs known so far, then upload what is
	 * missing while the speculating files hash and upload. */
	if ((error = cli_pool_run(st.nfiles, WORKERS, hash_one, &st)) < 0 || (error = dedupe(&st)) < 0 ||
	    (error = worker_client(&st, 0, &st.clients[0])) < 0 ||
	    (error = cli_pool_run(st.nblobs, WORKERS, head_one, &st)) < 0 || (error = transfer(&st, true)) < 0 ||
	    (error = dedupe(&st)) < 0)
		goto done;
	if ((error = build_body(&st, body)) < 0 || (error = cli_lineage_json(&lin, &lineage)) < 0)
		goto done;
	if (lineage)
		cJSON_AddItemToObject(body, "lineage", lineage);
	lineage = NULL;
	cJSON_AddItemToObject(body, "metrics", metrics);
	cJSON_AddItemToObject(body, "params", params);
	cJSON_AddItemToObject(body, "tags", tags);
	metrics = params = tags = NULL;
	if (description && !cJSON_AddStringToObject(body, "description", description)) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	if ((error = create_version(&st, model, body, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot create a version of '%s'", model);
		goto done;
	}
	error = print_result(&st, &lin, resp.body);
done:
	if (st.cache) {
		/* The registry refused bytes for a digest: if it came from the
		 * cache, the entry must go (a file changed without a new ctime,
		 * e.g. through a shared memory map). */
		if (error == MLREG_EINTEGRITY)
			for (size_t i = 0; i < st.nfiles; i++)
				if (st.files[i].cached)
					cli_digest_cache_forget(st.cache, &st.files[i].stamp);
		cli_digest_cache_save(st.cache);
		cli_digest_cache_free(st.cache);
	}
	cli_response_release(&resp);
	for (int i = 0; i < WORKERS; i++) {
		cli_client_free(st.clients[i]);
		cli_client_free(st.head_clients[i]);
	}
	pthread_mutex_destroy(&st.mu);
	pthread_cond_destroy(&st.slot_freed);
	for (size_t i = 0; i < st.nfiles; i++) {
		free(st.files[i].rel);
		free(st.files[i].abs);
	}
	free(st.files);
	free(st.blobs);
	free(st.missing);
	free(st.uploaded);
	free(st.jobs);
	cJSON_Delete(body);
	cJSON_Delete(metrics);
	cJSON_Delete(params);
	cJSON_Delete(tags);
	cJSON_Delete(lineage);
	cli_lineage_release(&lin);
	return error;
}

const cli_cmd_entry cli_cmd_push_entry = {
	.name = "push",
	.usage = "MODEL PATH [--metric k=v]... [--param k=v]... [--tag k=v]... [--description TEXT]\n"
		 "       [--no-cache] [--no-speculate] [--dataset NAME=PATH|URI[@sha256:HEX]]...\n"
		 "       [--parent REF]... [--git[=DIR] [--require-clean]]\n"
		 "       [--run ID [--run-url URL]]",
	.summary = "register a new version of MODEL from a file or folder",
	.help = "options:\n"
		"  --metric KEY=NUMBER   record a metric (repeatable)\n"
		"  --param KEY=VALUE     record a parameter (repeatable)\n"
		"  --tag KEY=VALUE       tag the version (repeatable)\n"
		"  --description TEXT    describe the version\n"
		"  --no-cache            hash every file; do not read or write the digest cache\n"
		"                        (also MLREG_NO_DIGEST_CACHE=1)\n"
		"  --no-speculate        hash large files before uploading them, not meanwhile\n"
		"\nlineage (recorded with the version, never changed afterwards):\n"
		"  --dataset NAME=PATH   trained on the file or folder PATH, sent as its digest\n"
		"                        (a folder's: the digest of its canonical manifest)\n"
		"  --dataset NAME=URI    trained on what a scheme:// URI names, sent as the URI\n"
		"                        (append @sha256:HEX to identify either by that digest; a\n"
		"                        PATH must then hash to it, else exit 6); repeatable\n"
		"  --parent REF          derived from that version (repeatable; 404 = exit 5)\n"
		"  --git[=DIR]           the git commit, branch, origin URL and changed paths of\n"
		"                        the repository holding DIR (default .)\n"
		"  --require-clean       with --git: refuse a work tree with changes (exit 3)\n"
		"  --run ID              the training run; --run-url URL its page\n"
		"\nOnly blobs the registry lacks are uploaded; files of 32 MiB and more go\n"
		"through resumable upload sessions.  Digests of files unchanged since the\n"
		"last push (same inode, size, mtime and ctime) come from a local cache,\n"
		"$XDG_CACHE_HOME/mlreg/digests.  A large file not in the cache starts\n"
		"uploading while it is hashed; if the registry turns out to have it, the\n"
		"upload stops and the bytes sent so far count as uploaded.  Symbolic links,\n"
		"devices, FIFOs and sockets are refused before anything is uploaded.\n"
		"\noutput: pushed MODEL:VERSION DIGEST (N files, X bytes, uploaded Y bytes)\n"
		"        lineage: 2 datasets, 1 parent, commit abc1234 (main, dirty), run ID\n"
		"--json:  {\"model\",\"version\",\"digest\",\"size\"}\n",
	.options = push_options,
	.exec = cmd_push_exec,
};

/*
 * cache.c - mlreg-node's cache folder (layout in cache.h): the verified
 * files of each version it serves, by digest, and its desired state.
 *
 * A version enters the cache the way `mlreg pull` fills a folder, with the
 * same code (cli/fetch.c): downloaded into a private folder under staging/,
 * every file checked and fsynced, then renamed to versions/<hex> in one
 * step.  The version object it came with is renamed to versions/<hex>.json
 * only after that, and an entry counts only with both, so a crash at any
 * point leaves either nothing the node would serve or a complete entry.
 * Nothing in versions/ is trusted when read back: node_cache_verify()
 * re-checks the stored object against the digest and every file against the
 * object, opening nothing through a symbolic link, and removes an entry
 * that fails.
 *
 * Entries appear (commit) and disappear (removal) under one mutex, and a
 * removal takes only the very folder and object that were found bad
 * (device and inode compared), so a verify that raced a fresh fetch cannot
 * delete the fresh copy.  One process per folder: an flock on CACHE/lock.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli/client.h"
#include "cli/fetch.h"
#include "cli/pool.h"
#include "node/cache.h"
#include "util/json.h"

#define STATE_MAX ((size_t)16 << 20)
#define VERSION_MAX ((size_t)256 << 20) /* what the client accepts from the registry */
#define VERIFY_WORKERS 4

struct node_cache {
	char *dir;
	char *versions;
	char *staging;
	char *state;
	int lock_fd;
	pthread_mutex_t entries; /* entries appear and disappear under it */
	pthread_mutex_t state_mu; /* one state.json writer at a time (shared temp name) */
};

/* One cache entry's paths, and what was found there when it was looked at. */
typedef struct {
	char *folder; /* CACHE/versions/<hex> */
	char *json;   /* CACHE/versions/<hex>.json */
	bool has_folder, has_json;
	struct stat fsb, jsb; /* lstat of each when present */
} entry;

static int oom(void) { return mlreg_error_set(MLREG_ENOMEM, "out of memory"); }

/* "<a><sep><b>" on the heap, NULL when out of memory. */
static char *join(const char *a, const char *sep, const char *b)
{
	char *s;
	return asprintf(&s, "%s%s%s", a, sep, b) < 0 ? NULL : s;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Remove the leftovers of util_write_file_atomic ("state.json.tmp.<pid>")
 * a crash may have left in the cache folder. */
static void remove_state_temps(const node_cache *c)
{
	DIR *d = opendir(c->dir);
	struct dirent *de;
	if (!d)
		return;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "state.json.tmp.", 15))
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
}

int node_cache_open(const char *dir, node_cache **out)
{
	node_cache *c = calloc(1, sizeof(*c));
	char *lock = NULL;
	size_t n;
	int error = 0;
	if (!c)
		return oom();
	c->lock_fd = -1;
	pthread_mutex_init(&c->entries, NULL);
	pthread_mutex_init(&c->state_mu, NULL);
	if (!dir || !*dir) {
		error = mlreg_error_set(MLREG_EINVALID, "no cache folder given");
		goto done;
	}
	if (!(c->dir = strdup(dir))) {
		error = oom();
		goto done;
	}
	for (n = strlen(c->dir); n > 1 && c->dir[n - 1] == '/'; n--)
		c->dir[n - 1] = '\0';
	if (!(c->versions = join(c->dir, "/", "versions")) || !(c->staging = join(c->dir, "/", "staging")) ||
	    !(c->state = join(c->dir, "/", "state.json")) || !(lock = join(c->dir, "/", "lock"))) {
		error = oom();
		goto done;
	}
	if ((error = util_mkdir_p(c->dir, 0755)) < 0)
		goto done;
	c->lock_fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (c->lock_fd < 0) {
		error = mlreg_error_set(MLREG_EIO, "cannot open '%s': %s", lock, strerror(errno));
		goto done;
	}
	if (flock(c->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			error = mlreg_error_set(MLREG_ECONFLICT, "cache folder '%s' is in use by another mlreg-node",
						c->dir);
		else
			error = mlreg_error_set(MLREG_EIO, "cannot lock '%s': %s", lock, strerror(errno));
		goto done;
	}
	/* Downloads a previous run left unfinished are of no use: every
	 * fetch starts over in a folder of its own. */
	if ((error = util_rm_rf(c->staging)) < 0 || (error = util_mkdir_p(c->staging, 0755)) < 0 ||
	    (error = util_mkdir_p(c->versions, 0755)) < 0)
		goto done;
	remove_state_temps(c);
done:
	free(lock);
	if (error < 0) {
		node_cache_close(c);
		return error;
	}
	*out = c;
	return 0;
}

void node_cache_close(node_cache *c)
{
	if (!c)
		return;
	if (c->lock_fd >= 0)
		close(c->lock_fd); /* releases the flock */
	pthread_mutex_destroy(&c->entries);
	pthread_mutex_destroy(&c->state_mu);
	free(c->dir);
	free(c->versions);
	free(c->staging);
	free(c->state);
	free(c);
}

const char *node_cache_dir(const node_cache *c) { return c->dir; }

/* ---------------------------------------------------------------- entries */

static int entry_init(entry *e, const node_cache *c, const char *digest)
{
	memset(e, 0, sizeof(*e));
	if (!util_digest_valid(digest))
		return mlreg_error_set(MLREG_EINVALID, "invalid digest '%s'", digest ? digest : "(none)");
	if (!(e->folder = join(c->versions, "/", digest + 7)) || !(e->json = join(e->folder, "", ".json")))
		return oom();
	return 0;
}

static void entry_release(entry *e)
{
	free(e->folder);
	free(e->json);
}

/* See what the entry holds now; call with c->entries held, so a commit
 * (folder and object together) is seen whole or not at all. */
static int entry_look(entry *e)
{
	e->has_folder = lstat(e->folder, &e->fsb) == 0;
	if (!e->has_folder && errno != ENOENT)
		return mlreg_error_set(MLREG_EIO, "cannot check '%s': %s", e->folder, strerror(errno));
	e->has_json = lstat(e->json, &e->jsb) == 0;
	if (!e->has_json && errno != ENOENT)
		return mlreg_error_set(MLREG_EIO, "cannot check '%s': %s", e->json, strerror(errno));
	return 0;
}

/* Remove what entry_look() found, if it is still the same folder and the
 * same object: anything else there came from a later commit. */
static void entry_remove_seen(node_cache *c, const entry *e)
{
	struct stat sb;
	pthread_mutex_lock(&c->entries);
	if (e->has_json && lstat(e->json, &sb) == 0 && same_file(&sb, &e->jsb))
		unlink(e->json);
	if (e->has_folder && lstat(e->folder, &sb) == 0 && same_file(&sb, &e->fsb))
		util_rm_rf(e->folder);
	util_fsync_dir(c->versions);
	pthread_mutex_unlock(&c->entries);
}

/* ---------------------------------------------------------------- verify */

/* Set the reason an entry is damaged; returns MLREG_EINTEGRITY. */
static int damaged(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int damaged(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return mlreg_error_set(MLREG_EINTEGRITY, "%s", msg);
}

/* Open "a/b/c" below the folder dfd without following a symbolic link at
 * any step (O_NOFOLLOW on every component).  -1 with errno on failure. */
static int open_beneath(int dfd, const char *path)
{
	char *copy = strdup(path), *seg = copy, *slash;
	int cur = dfd, fd, e;
	if (!copy) {
		errno = ENOMEM;
		return -1;
	}
	while ((slash = strchr(seg, '/'))) {
		int next;
		*slash = '\0';
		next = openat(cur, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		e = errno;
		if (cur != dfd)
			close(cur);
		if (next < 0) {
			free(copy);
			errno = e;
			return -1;
		}
		cur = next;
		seg = slash + 1;
	}
	/* O_NONBLOCK: a FIFO planted in the folder must not hang us. */
	fd = openat(cur, seg, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	e = errno;
	if (cur != dfd)
		close(cur);
	free(copy);
	errno = e;
	return fd;
}

typedef struct {
	int dfd;
	const cli_fetch *f;
} verify_job;

/* Check one file's type, size and SHA-256 (a pool job). */
static int verify_file(void *arg, size_t i, int worker)
{
	const verify_job *job = arg;
	const char *path = cli_fetch_path(job->f, i);
	char got[UTIL_DIGEST_LEN + 1];
	uint64_t size = 0;
	struct stat sb;
	int fd = open_beneath(job->dfd, path), error;
	(void)worker;
	if (fd < 0) {
		if (errno == ENOENT)
			return damaged("'%s' is missing", path);
		if (errno == ELOOP || errno == ENOTDIR)
			return damaged("'%s' is reached through a symbolic link or is not where the manifest puts it",
				       path);
		return mlreg_error_set(MLREG_EIO, "cannot open cached '%s': %s", path, strerror(errno));
	}
	if (fstat(fd, &sb) < 0) {
		error = mlreg_error_set(MLREG_EIO, "cannot check cached '%s': %s", path, strerror(errno));
	} else if (!S_ISREG(sb.st_mode)) {
		error = damaged("'%s' is not a regular file", path);
	} else if ((uint64_t)sb.st_size != cli_fetch_size(job->f, i)) {
		error = damaged("'%s' has %llu bytes, expected %llu", path, (unsigned long long)sb.st_size,
				(unsigned long long)cli_fetch_size(job->f, i));
	} else {
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
		if ((error = util_sha256_fd(fd, got, &size)) < 0)
			error = cli_error_wrap(error, "cannot read cached '%s'", path);
		else if (size != cli_fetch_size(job->f, i))
			error = damaged("'%s' changed while it was read", path);
		else if (strcmp(got, cli_fetch_digest(job->f, i)) != 0)
			error = damaged("'%s' hashes to %s, expected %s", path, got, cli_fetch_digest(job->f, i));
	}
	close(fd);
	return error;
}

/* Is path one of f's files (sorted by path)? */
static bool in_manifest(const cli_fetch *f, const char *path)
{
	size_t lo = 0, hi = cli_fetch_count(f);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int cmp = strcmp(cli_fetch_path(f, mid), path);
		if (cmp == 0)
			return true;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Walk the folder dfd (rel is its path in the entry, "" at the top): every
 * entry must be a folder or a regular file the manifest names.  A file the
 * manifest does not name is damage even though nothing would read it: the
 * folder is no longer what was fetched.  Empty folders are let be.
 * Takes ownership of dfd. */
static int check_tree(int dfd, const char *rel, const cli_fetch *f)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int error = 0;
	if (!d) {
		close(dfd);
		return mlreg_error_set(MLREG_EIO, "cannot list cached '%s': %s", *rel ? rel : ".", strerror(errno));
	}
	while (error == 0 && (errno = 0, de = readdir(d))) {
		struct stat sb;
		char *p;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!(p = join(rel, *rel ? "/" : "", de->d_name))) {
			error = oom();
			break;
		}
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			error = mlreg_error_set(MLREG_EIO, "cannot check cached '%s': %s", p, strerror(errno));
		} else if (S_ISDIR(sb.st_mode)) {
			int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0)
				error = mlreg_error_set(MLREG_EIO, "cannot open cached '%s': %s", p, strerror(errno));
			else
				error = check_tree(sub, p, f);
		} else if (!S_ISREG(sb.st_mode)) {
			error = damaged("'%s' is %s", p, S_ISLNK(sb.st_mode) ? "a symbolic link" : "not a regular file");
		} else if (!in_manifest(f, p)) {
			error = damaged("'%s' is not in the manifest", p);
		}
		free(p);
	}
	if (error == 0 && errno != 0)
		error = mlreg_error_set(MLREG_EIO, "cannot list cached '%s': %s", *rel ? rel : ".", strerror(errno));
	closedir(d);
	return error;
}

/* Read back the stored version object and check it against digest. */
static int read_version(const entry *e, const char *digest, cJSON **out)
{
	char *text = NULL;
	size_t len = 0;
	cJSON *v = NULL;
	struct stat sb;
	int fd = open(e->json, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), error = 0;
	if (fd < 0) {
		if (errno == ENOENT || errno == ELOOP)
			return damaged("its version object is %s", errno == ENOENT ? "missing" : "a symbolic link");
		return mlreg_error_set(MLREG_EIO, "cannot open '%s': %s", e->json, strerror(errno));
	}
	if (fstat(fd, &sb) < 0) {
		error = mlreg_error_set(MLREG_EIO, "cannot check '%s': %s", e->json, strerror(errno));
	} else if (!S_ISREG(sb.st_mode) || !same_file(&sb, &e->jsb)) {
		error = damaged("its version object is not the file it was");
	} else if ((error = util_read_fd(fd, VERSION_MAX, &text, &len)) < 0) {
		error = error == MLREG_ETOOBIG ? damaged("its version object is larger than %zu bytes", VERSION_MAX)
					       : cli_error_wrap(error, "cannot read '%s'", e->json);
	} else if (util_json_parse(text, len, UTIL_JSON_MAX_DEPTH, &v) < 0 || !cJSON_IsObject(v)) {
		error = damaged("its version object is not a JSON object");
	} else if (!util_json_str(v, "digest") || strcmp(util_json_str(v, "digest"), digest) != 0) {
		error = damaged("its version object names digest %s", util_json_str(v, "digest") ? util_json_str(v, "digest")
												 : "(none)");
	}
	close(fd);
	free(text);
	if (error < 0) {
		cJSON_Delete(v);
		return error;
	}
	*out = v;
	return 0;
}

/* Everything node_cache_verify() checks, on an entry already looked at.
 * MLREG_EINTEGRITY (reason recorded) when the entry is damaged. */
static int check_entry(const entry *e, const char *digest)
{
	cJSON *v = NULL;
	cli_fetch *f = NULL;
	verify_job job = {-1, NULL};
	struct stat sb;
	int error;
	if (!e->has_json)
		return damaged("its version object is missing");
	if (!S_ISDIR(e->fsb.st_mode))
		return damaged("'%s' is not a folder", e->folder);
	if ((error = read_version(e, digest, &v)) < 0)
		return error;
	/* The stored object passes the checks a fetch makes: vetted paths,
	 * and a file list that hashes to the digest. */
	if ((error = cli_fetch_plan(v, &f)) < 0) {
		if (error != MLREG_ENOMEM)
			error = damaged("its version object fails the fetch checks: %s", mlreg_error_last());
		goto done;
	}
	job.f = f;
	job.dfd = open(e->folder, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (job.dfd < 0) {
		error = errno == ENOENT || errno == ELOOP || errno == ENOTDIR
				? damaged("'%s' went away or is not a folder", e->folder)
				: mlreg_error_set(MLREG_EIO, "cannot open '%s': %s", e->folder, strerror(errno));
		goto done;
	}
	if (fstat(job.dfd, &sb) < 0 || !same_file(&sb, &e->fsb)) {
		error = damaged("'%s' is not the folder it was", e->folder);
		goto done;
	}
	{
		int walk = dup(job.dfd);
		if (walk < 0) {
			error = mlreg_error_set(MLREG_EIO, "cannot open '%s': %s", e->folder, strerror(errno));
			goto done;
		}
		if ((error = check_tree(walk, "", f)) < 0)
			goto done;
	}
	error = cli_pool_run(cli_fetch_count(f), VERIFY_WORKERS, verify_file, &job);
done:
	if (job.dfd >= 0)
		close(job.dfd);
	cli_fetch_free(f);
	cJSON_Delete(v);
	return error;
}

int node_cache_verify(node_cache *c, const char *digest, char **dir)
{
	entry e;
	char *out = NULL;
	int error;
	if ((error = entry_init(&e, c, digest)) < 0)
		goto done;
	pthread_mutex_lock(&c->entries);
	error = entry_look(&e);
	pthread_mutex_unlock(&c->entries);
	if (error < 0)
		goto done;
	if (!e.has_folder) {
		/* An object without its folder: a removal or a commit cut
		 * short by a crash.  Not an entry; tidy it away. */
		if (e.has_json)
			entry_remove_seen(c, &e);
		error = mlreg_error_set(MLREG_ENOTFOUND, "version %s is not in the cache", digest);
		goto done;
	}
	if ((error = check_entry(&e, digest)) == MLREG_EINTEGRITY) {
		cli_error_saved saved;
		cli_error_save(&saved, error);
		entry_remove_seen(c, &e);
		cli_error_restore(&saved);
		error = cli_error_wrap(MLREG_EINTEGRITY, "cached copy of %s was damaged and is removed", digest);
		goto done;
	}
	if (error < 0)
		goto done;
	if (dir) {
		if (!(out = strdup(e.folder))) {
			error = oom();
			goto done;
		}
		*dir = out;
	}
done:
	entry_release(&e);
	return error;
}

int node_cache_remove(node_cache *c, const char *digest)
{
	entry e;
	int error;
	if ((error = entry_init(&e, c, digest)) < 0)
		goto done;
	pthread_mutex_lock(&c->entries);
	/* The object first: a folder without one is never served, so a
	 * crash halfway leaves nothing that counts. */
	if (unlink(e.json) < 0 && errno != ENOENT)
		error = mlreg_error_set(MLREG_EIO, "cannot remove '%s': %s", e.json, strerror(errno));
	if (error == 0)
		error = util_rm_rf(e.folder);
	if (error == 0)
		error = util_fsync_dir(c->versions);
	pthread_mutex_unlock(&c->entries);
done:
	entry_release(&e);
	return error;
}

/* ---------------------------------------------------------------- fetch */

/* fsync every folder of the tree at path (the files are fsynced by the
 * download), so the renamed entry survives a power cut whole. */
static int sync_folders(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), error = 0;
	DIR *d;
	struct dirent *de;
	if (fd < 0)
		return mlreg_error_set(MLREG_EIO, "cannot open folder '%s': %s", path, strerror(errno));
	if (!(d = fdopendir(fd))) {
		close(fd);
		return mlreg_error_set(MLREG_EIO, "cannot open folder '%s': %s", path, strerror(errno));
	}
	while (error == 0 && (de = readdir(d))) {
		struct stat sb;
		char *sub;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(sb.st_mode))
			continue;
		if (!(sub = join(path, "/", de->d_name))) {
			error = oom();
			break;
		}
		error = sync_folders(sub);
		free(sub);
	}
	if (error == 0 && fsync(dirfd(d)) < 0)
		error = mlreg_error_set(MLREG_EIO, "cannot fsync folder '%s': %s", path, strerror(errno));
	closedir(d);
	return error;
}

/* The version object must be the one asked for. */
static int check_answer(const cJSON *v, const char *model, int64_t version, const char *digest)
{
	const char *got_digest = util_json_str(v, "digest"), *got_model = util_json_str(v, "model");
	int64_t got_version = 0;
	if (!got_digest || strcmp(got_digest, digest) != 0)
		return mlreg_error_set(MLREG_EINTEGRITY, "registry sent digest %s for %s:%lld, expected %s",
				       got_digest ? got_digest : "(none)", model, (long long)version, digest);
	if (!got_model || strcmp(got_model, model) != 0 || util_json_i64(v, "version", &got_version) < 0 ||
	    got_version != version)
		return mlreg_error_set(MLREG_EINTEGRITY, "registry answered %s:%lld when asked for %s:%lld",
				       got_model ? got_model : "?", (long long)got_version, model, (long long)version);
	return 0;
}

/* Move the verified download into versions/: the folder, then its
 * object.  When another fetch put the folder there first, ours is
 * dropped and theirs used. */
static int commit(node_cache *c, const entry *e, const char *root, const char *json_tmp)
{
	struct stat sb;
	int error = 0;
	pthread_mutex_lock(&c->entries);
	if (rename(root, e->folder) < 0) {
		if (errno != EEXIST && errno != ENOTEMPTY) {
			error = mlreg_error_set(MLREG_EIO, "cannot move the download to '%s': %s", e->folder,
						strerror(errno));
			goto done;
		}
		/* Theirs: committed under this mutex, with its object. */
		if (lstat(e->json, &sb) == 0)
			goto done;
	}
	if ((error = util_fsync_dir(c->versions)) < 0)
		goto fail;
	if (rename(json_tmp, e->json) < 0) {
		error = mlreg_error_set(MLREG_EIO, "cannot move the version object to '%s': %s", e->json,
					strerror(errno));
		goto fail;
	}
	if ((error = util_fsync_dir(c->versions)) < 0)
		goto fail;
	goto done;
fail:
	/* A folder without its object would never be served: take it away
	 * now rather than at the next verify. */
	unlink(e->json);
	util_rm_rf(e->folder);
done:
	pthread_mutex_unlock(&c->entries);
	return error;
}

/* True when the cached entry of digest was fetched as model:version. */
static bool cached_as(node_cache *c, const char *digest, const char *model, int64_t version)
{
	entry e;
	cJSON *v = NULL;
	int64_t got = 0;
	bool same = false;
	if (entry_init(&e, c, digest) == 0) {
		pthread_mutex_lock(&c->entries);
		if (entry_look(&e) == 0 && e.has_json && read_version(&e, digest, &v) == 0)
			same = util_json_str(v, "model") && !strcmp(util_json_str(v, "model"), model) &&
			       util_json_i64(v, "version", &got) == 0 && got == version;
		pthread_mutex_unlock(&c->entries);
	}
	cJSON_Delete(v);
	entry_release(&e);
	mlreg_error_clear();
	return same;
}

int node_cache_fetch(node_cache *c, const cli_config *cfg, const char *model, int64_t version, const char *digest,
		     char **dir)
{
	entry e;
	util_ref ref;
	util_buf vpath;
	cli_response resp;
	cli_client *client = NULL;
	cli_fetch *f = NULL;
	char *tmp = NULL, *root = NULL, *json_tmp = NULL, *text = NULL, *out = NULL;
	bool confirm_only = false;
	int error;

	*dir = NULL;
	memset(&e, 0, sizeof(e));
	memset(&resp, 0, sizeof(resp));
	util_buf_init(&vpath, 4096);
	if (!model || !util_model_name_valid(model) || strlen(model) > UTIL_NAME_MAX) {
		error = mlreg_error_set(MLREG_EINVALID, "invalid model name '%s'", model ? model : "(none)");
		goto done;
	}
	if (version <= 0) {
		error = mlreg_error_set(MLREG_EINVALID, "invalid version %lld of '%s'", (long long)version, model);
		goto done;
	}
	/* A good copy in the cache is used as it is when it was fetched as
	 * this very model:version.  The same files fetched under another name
	 * are reused too, but only once the registry confirms that
	 * model:version has this digest: the cache must not let a caller label
	 * any cached content with any version. */
	error = node_cache_verify(c, digest, dir);
	if (error == 0) {
		if (cached_as(c, digest, model, version))
			goto done;
		confirm_only = true;
	} else if (error != MLREG_ENOTFOUND && error != MLREG_EINTEGRITY) {
		goto done;
	} else if (error == MLREG_EINTEGRITY) { /* removed; say why before fetching it again */
		LOG_WARN("%s; fetching it again", mlreg_error_last());
	}
	if ((error = entry_init(&e, c, digest)) < 0)
		goto done;

	memset(&ref, 0, sizeof(ref));
	strcpy(ref.model, model);
	ref.kind = UTIL_REF_VERSION;
	ref.version = version;
	if ((error = cli_client_new(&client, cfg)) < 0 || (error = cli_version_path(&vpath, &ref, NULL)) < 0)
		goto wrap;
	if ((error = cli_client_json(client, "GET", vpath.ptr, NULL, &resp)) < 0)
		goto wrap;
	cli_client_free(client); /* the downloads open their own connections */
	client = NULL;
	if (!cJSON_IsObject(resp.body)) {
		error = mlreg_error_set(MLREG_EIO, "registry sent no version object");
		goto wrap;
	}
	if ((error = check_answer(resp.body, model, version, digest)) < 0)
		goto wrap;
	if (confirm_only) /* the cached files are this version's */
		goto done;
	if ((error = cli_fetch_plan(resp.body, &f)) < 0)
		goto wrap;

	if (!(tmp = join(c->staging, "/", "fetch-XXXXXX"))) {
		error = oom();
		goto done;
	}
	if (!mkdtemp(tmp)) {
		error = mlreg_error_set(MLREG_EIO, "cannot create a staging folder in '%s': %s", c->staging,
					strerror(errno));
		free(tmp);
		tmp = NULL;
		goto wrap;
	}
	if (!(root = join(tmp, "/", "tree")) || !(json_tmp = join(tmp, "/", "version.json"))) {
		error = oom();
		goto done;
	}
	if ((error = cli_fetch_run(f, cfg, root, false, NULL, NULL)) < 0 || (error = sync_folders(root)) < 0)
		goto wrap;
	if (!(text = util_json_print(resp.body))) {
		error = oom();
		goto done;
	}
	if ((error = util_write_file_atomic(json_tmp, text, strlen(text), 0644)) < 0 ||
	    (error = commit(c, &e, root, json_tmp)) < 0)
		goto wrap;
	if (!(out = strdup(e.folder))) {
		error = oom();
		goto done;
	}
	*dir = out;
	goto done;
wrap:
	error = cli_error_wrap(error, "cannot fetch %s:%lld", model, (long long)version);
	if (confirm_only) {
		free(*dir);
		*dir = NULL;
	}
done:
	if (tmp) {
		cli_error_saved saved;
		cli_error_save(&saved, error);
		util_rm_rf(tmp);
		if (error < 0)
			cli_error_restore(&saved);
	}
	cli_fetch_free(f); /* before resp: it points into the version */
	cli_response_release(&resp);
	cli_client_free(client);
	util_buf_release(&vpath);
	entry_release(&e);
	free(tmp);
	free(root);
	free(json_tmp);
	free(text);
	return error;
}

/* ---------------------------------------------------------------- state */

int node_cache_save_state(node_cache *c, const cJSON *state)
{
	char *text = util_json_print(state);
	int error;
	if (!text)
		return oom();
	pthread_mutex_lock(&c->state_mu);
	error = util_write_file_atomic(c->state, text, strlen(text), 0644);
	pthread_mutex_unlock(&c->state_mu);
	free(text);
	if (error < 0)
		return cli_error_wrap(error, "cannot save the node state");
	return 0;
}

int node_cache_load_state(node_cache *c, cJSON **state)
{
	char *text = NULL;
	size_t len = 0;
	cJSON *v = NULL;
	int error;
	pthread_mutex_lock(&c->state_mu);
	error = util_read_file(c->state, STATE_MAX, &text, &len);
	pthread_mutex_unlock(&c->state_mu);
	if (error == MLREG_ENOTFOUND) {
		*state = NULL;
		return 0;
	}
	if (error == MLREG_ETOOBIG)
		return mlreg_error_set(MLREG_EINVALID, "node state '%s' is larger than %zu MiB; move it away to start "
				       "without it", c->state, STATE_MAX >> 20);
	if (error < 0)
		return cli_error_wrap(error, "cannot load the node state");
	if (util_json_parse(text, len, UTIL_JSON_MAX_DEPTH, &v) < 0) {
		error = mlreg_error_set(MLREG_EINVALID, "node state '%s' is corrupt (%s); move it away to start "
					"without it", c->state, mlreg_error_last());
		free(text);
		return error;
	}
	free(text);
	*state = v;
	return 0;
}

/*
 * lineage_push.c - what push records about where a version came from: the
 * datasets it was trained on, its parent versions, the code commit and the
 * run, sent as the "lineage" member of the version-create body
 * (docs/api.md, "Lineage") and checked locally first, so that a malformed
 * flag is exit 2 and a dirty tree under --require-clean is exit 3 before a
 * single byte is uploaded.
 *
 * A dataset is identified by content where it can be: a file by its
 * SHA-256, a folder by the digest of the canonical manifest of its files,
 * byte for byte the encoding of a version manifest (schema/canonical.md),
 * built with the registry's own reg_manifest_normalise/encode so the two
 * can never drift.  Folders are walked by push's walk (walk.c: regular
 * files only, nothing skipped silently) and hashed through push's digest
 * cache on 4 threads, so re-pushing with an unchanged 100 GB dataset
 * costs a stat per file.  A URI is identified by itself unless the user
 * vouches for its content with @sha256:<hex>; a PATH given with a digest
 * is verified against it (exit 6 on mismatch).  Parents are sent as the
 * REFs given: the registry resolves them inside the push's transaction.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cli/lineage_push.h"
#include "cli/pool.h"
#include "cli/walk.h"
#include "registry/registry.h"

#define NAME_MAX_LEN 128
#define URI_MAX_LEN 2048
#define RUN_ID_MAX_LEN 256
#define HASH_WORKERS 4
#define DIGEST_PREFIX "@sha256:"

void cli_lineage_init(cli_lineage *l)
{
	memset(l, 0, sizeof(*l));
}

void cli_lineage_release(cli_lineage *l)
{
	for (size_t i = 0; i < l->ndatasets; i++) {
		free(l->datasets[i].name);
		free(l->datasets[i].source);
	}
	free(l->datasets);
	l->datasets = NULL;
	l->ndatasets = 0;
	cli_git_state_release(&l->git);
}

bool cli_lineage_given(const cli_lineage *l)
{
	return l->ndatasets || l->nparents || l->git_dir || l->run_id;
}

bool cli_lineage_dataset_name_valid(const char *s, size_t n)
{
	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-/", s[i]))
			return false;
	return true;
}

/* "scheme://" at the start (RFC 3986 scheme). */
static bool has_scheme(const char *s)
{
	const char *p = s;
	if (!isalpha((unsigned char)*p))
		return false;
	while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
		p++;
	return !strncmp(p, "://", 3);
}

static bool has_control(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return true;
	return false;
}

static int add_dataset(cli_lineage *l, const char *cmd, const char *spec)
{
	const char *eq = strchr(spec, '='), *value, *suffix = NULL;
	cli_lineage_dataset d, *p;
	size_t vlen;
	memset(&d, 0, sizeof(d));
	if (l->ndatasets == CLI_LINEAGE_MAX_DATASETS)
		return cli_usage_error(cmd, "at most %d --dataset flags", CLI_LINEAGE_MAX_DATASETS);
	if (!eq || !eq[1])
		return cli_usage_error(cmd, "invalid --dataset '%s': expected NAME=PATH or NAME=URI", spec);
	if (!cli_lineage_dataset_name_valid(spec, (size_t)(eq - spec)))
		return cli_usage_error(cmd, "invalid dataset name in '%s': 1 to %d letters, digits, '.', '_', '-' or '/'",
				       spec, NAME_MAX_LEN);
	value = eq + 1;
	vlen = strlen(value);
	/* the last "@sha256:" starts a digest, which must end the value */
	for (const char *s = strstr(value, DIGEST_PREFIX); s; s = strstr(s + 1, DIGEST_PREFIX))
		suffix = s;
	if (suffix) {
		const char *hex = suffix + strlen(DIGEST_PREFIX);
		if (strlen(hex) != 64)
			return cli_usage_error(cmd, "invalid digest in --dataset '%s': expected @sha256:<64 hex>", spec);
		snprintf(d.expect, sizeof(d.expect), "sha256:%s", hex);
		for (char *c = d.expect; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		if (!util_digest_valid(d.expect))
			return cli_usage_error(cmd, "invalid digest in --dataset '%s': expected @sha256:<64 hex>", spec);
		vlen = (size_t)(suffix - value);
	}
	if (vlen == 0)
		return cli_usage_error(cmd, "invalid --dataset '%s': no PATH or URI before the digest", spec);
	d.name = strndup(spec, (size_t)(eq - spec));
	d.source = strndup(value, vlen);
	if (!d.name || !d.source) {
		free(d.name);
		free(d.source);
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	d.uri = has_scheme(d.source);
	if (d.uri && !util_uri_valid(d.source)) {
		free(d.name);
		free(d.source);
		return cli_usage_error(cmd, "invalid dataset URI in --dataset '%s': scheme://…, at most %d bytes of RFC 3986 characters",
				       spec, URI_MAX_LEN);
	}
	if (!(p = realloc(l->datasets, (l->ndatasets + 1) * sizeof(*p)))) {
		free(d.name);
		free(d.source);
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	l->datasets = p;
	l->datasets[l->ndatasets++] = d;
	return 0;
}

int cli_lineage_option(cli_lineage *l, const char *cmd, int id, const char *value)
{
	util_ref ref;
	int error;
	switch (id) {
	case CLI_LINEAGE_OPT_DATASET: return add_dataset(l, cmd, value);
	case CLI_LINEAGE_OPT_PARENT:
		if ((error = cli_ref_parse(cmd, value, &ref)) < 0)
			return error;
		if (l->nparents == CLI_LINEAGE_MAX_PARENTS)
			return cli_usage_error(cmd, "at most %d --parent flags", CLI_LINEAGE_MAX_PARENTS);
		l->parents[l->nparents++] = value;
		return 0;
	case CLI_LINEAGE_OPT_GIT:
		if (value && !*value)
			return cli_usage_error(cmd, "--git= needs a folder (or give --git alone for '.')");
		l->git_dir = value ? value : ".";
		return 0;
	case CLI_LINEAGE_OPT_REQUIRE_CLEAN: l->require_clean = true; return 0;
	case CLI_LINEAGE_OPT_RUN:
		if (!util_run_id_valid(value))
			return cli_usage_error(cmd, "invalid --run '%s': 1 to %d of letters, digits and ._:/@+=-", value,
					       RUN_ID_MAX_LEN);
		l->run_id = value;
		return 0;
	case CLI_LINEAGE_OPT_RUN_URL:
		if (!*value || has_control(value))
			return cli_usage_error(cmd, "invalid --run-url: empty or with control characters");
		l->run_url = value;
		return 0;
	default: return cli_usage_error(cmd, "unknown lineage option");
	}
}

int cli_lineage_check(const cli_lineage *l, const char *cmd)
{
	if (l->run_url && !l->run_id)
		return cli_usage_error(cmd, "--run-url needs --run ID");
	if (l->require_clean && !l->git_dir)
		return cli_usage_error(cmd, "--require-clean needs --git (the work tree it checks)");
	return 0;
}

/* ---- dataset digests ---- */

typedef struct {
	char *abs, *rel;
	uint64_t size;
	int mode;
	cli_file_stamp stamp;
	char digest[UTIL_DIGEST_LEN + 1];
} ds_file;

typedef struct {
	ds_file *files;
	size_t n, cap;
	cli_digest_cache *cache;
} ds_walk;

static int ds_add(void *arg, const char *abs, const char *rel, const struct stat *sb)
{
	ds_walk *w = arg;
	ds_file *f;
	if (w->n >= CLI_LINEAGE_MAX_DATASET_FILES)
		return mlreg_error_set(MLREG_ETOOBIG, "more than %d files", CLI_LINEAGE_MAX_DATASET_FILES);
	if (w->n == w->cap) {
		size_t ncap = w->cap ? w->cap * 2 : 64;
		ds_file *p = realloc(w->files, ncap * sizeof(*p));
		if (!p)
			return mlreg_error_set(MLREG_ENOMEM, "out of memory");
		w->files = p;
		w->cap = ncap;
	}
	f = &w->files[w->n];
	memset(f, 0, sizeof(*f));
	f->abs = strdup(abs);
	f->rel = strdup(rel);
	if (!f->abs || !f->rel) {
		free(f->abs);
		free(f->rel);
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	f->size = (uint64_t)sb->st_size;
	f->mode = (sb->st_mode & S_IXUSR) ? 493 : 420; /* as push records it */
	cli_file_stamp_from_stat(&f->stamp, sb);
	w->n++;
	return 0;
}

/* File i's digest: from the cache, else read (and cached when allowed). */
static int ds_hash(void *arg, size_t i, int worker)
{
	ds_walk *w = arg;
	ds_file *f = &w->files[i];
	cli_file_stamp stamp;
	uint64_t size;
	bool cacheable;
	int error;
	if (cli_digest_cache_get(w->cache, &f->stamp, f->digest))
		return 0;
	if ((error = cli_digest_file(f->abs, f->digest, &size, &stamp, &cacheable, NULL)) < 0)
		return error;
	if (size != f->size)
		return mlreg_error_set(MLREG_ECONFLICT, "'%s' changed while it was being read", f->abs);
	if (cacheable)
		cli_digest_cache_put(w->cache, &stamp, f->digest);
	return 0;
}

static void ds_walk_release(ds_walk *w)
{
	for (size_t i = 0; i < w->n; i++) {
		free(w->files[i].abs);
		free(w->files[i].rel);
	}
	free(w->files);
}

/* The manifest's digest: the registry's normalisation and encoding. */
static int manifest_digest(const ds_walk *w, char digest[UTIL_DIGEST_LEN + 1])
{
	cJSON *files = cJSON_CreateArray(), *norm = NULL;
	char *data = NULL;
	size_t len = 0;
	uint64_t total;
	int error = 0;
	if (!files)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	for (size_t i = 0; i < w->n; i++) {
		const ds_file *f = &w->files[i];
		cJSON *o = cJSON_CreateObject();
		if (!o || !cJSON_AddItemToArray(files, o) || !cJSON_AddStringToObject(o, "path", f->rel) ||
		    !cJSON_AddNumberToObject(o, "size", (double)f->size) ||
		    !cJSON_AddStringToObject(o, "digest", f->digest) || !cJSON_AddNumberToObject(o, "mode", f->mode)) {
			error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
			goto done;
		}
	}
	if ((error = reg_manifest_normalise(files, CLI_LINEAGE_MAX_DATASET_FILES, &norm, &total)) < 0 ||
	    (error = reg_manifest_encode(norm, &data, &len)) < 0)
		goto done;
	util_sha256_buf(data, len, digest);
done:
	free(data);
	cJSON_Delete(norm);
	cJSON_Delete(files);
	return error;
}

int cli_lineage_folder_digest(const char *path, cli_digest_cache *cache, char digest[UTIL_DIGEST_LEN + 1],
			      size_t *files)
{
	ds_walk w;
	int error;
	memset(&w, 0, sizeof(w));
	w.cache = cache;
	if ((error = cli_walk(path, "hash", "hashed", ds_add, &w)) == 0 &&
	    (error = cli_pool_run(w.n, HASH_WORKERS, ds_hash, &w)) == 0 && (error = manifest_digest(&w, digest)) == 0)
		*files = w.n;
	ds_walk_release(&w);
	return error;
}

/* A single file's digest through the cache. */
static int file_digest(const char *path, const struct stat *sb, cli_digest_cache *cache,
		       char digest[UTIL_DIGEST_LEN + 1])
{
	ds_walk w;
	int error;
	memset(&w, 0, sizeof(w));
	w.cache = cache;
	if ((error = ds_add(&w, path, "file", sb)) == 0 && (error = ds_hash(&w, 0, 0)) == 0)
		memcpy(digest, w.files[0].digest, UTIL_DIGEST_LEN + 1);
	ds_walk_release(&w);
	return error;
}

static int resolve_dataset(cli_lineage *l, size_t i, cli_digest_cache *cache)
{
	cli_lineage_dataset *d = &l->datasets[i];
	struct stat sb;
	int error = 0;
	if (d->uri) {
		/* with @sha256: the digest is the identity, else the URI */
		memcpy(d->digest, d->expect, sizeof(d->digest));
		return 0;
	}
	for (size_t j = 0; j < i; j++) {
		const cli_lineage_dataset *o = &l->datasets[j];
		if (!o->uri && !strcmp(o->source, d->source)) {
			/* one path under two names: hashed once */
			memcpy(d->digest, o->digest, sizeof(d->digest));
			d->folder = o->folder;
			d->files = o->files;
			goto check;
		}
	}
	if (lstat(d->source, &sb) < 0)
		memset(&sb, 0, sizeof(sb)); /* neither: the walk below says why */
	if (S_ISDIR(sb.st_mode)) {
		d->folder = true;
		error = cli_lineage_folder_digest(d->source, cache, d->digest, &d->files);
	} else if (S_ISREG(sb.st_mode)) {
		d->files = 1;
		error = file_digest(d->source, &sb, cache, d->digest);
	} else {
		/* missing, a link or a special file: the walk says which */
		ds_walk w;
		memset(&w, 0, sizeof(w));
		error = cli_walk(d->source, "hash", "hashed", ds_add, &w);
		ds_walk_release(&w);
		if (error == 0)
			error = mlreg_error_set(MLREG_EIO, "cannot hash '%s': it changed while being read", d->source);
	}
	if (error < 0)
		return cli_error_wrap(error, "dataset '%s'", d->name);
check:
	if (d->expect[0] && strcmp(d->expect, d->digest) != 0)
		return mlreg_error_set(MLREG_EINTEGRITY, "dataset '%s': '%s' hashes to %s, not %s as given", d->name,
				       d->source, d->digest, d->expect);
	return 0;
}

/* "a, b, c and 7 more" of the first 10 changed paths. */
static int list_changed(const cli_git_state *g, util_buf *b)
{
	int error = 0;
	for (size_t i = 0; i < g->nchanged && i < 10 && error == 0; i++)
		error = util_buf_printf(b, "%s%s", i ? ", " : "", g->changed[i]);
	if (error == 0 && g->nchanged_total > 10)
		error = util_buf_printf(b, " and %zu more", g->nchanged_total - 10);
	return error;
}

int cli_lineage_resolve(cli_lineage *l, cli_digest_cache *cache)
{
	int error;
	for (size_t i = 0; i < l->ndatasets; i++)
		if ((error = resolve_dataset(l, i, cache)) < 0)
			return error;
	if (l->git_dir) {
		cli_git_state_release(&l->git);
		if ((error = cli_git_state_read(l->git_dir, &l->git)) < 0)
			return cli_error_wrap(error, "--git");
		if (l->require_clean && l->git.dirty) {
			util_buf b;
			util_buf_init(&b, 1 << 16);
			error = list_changed(&l->git, &b);
			if (error == 0)
				error = mlreg_error_set(MLREG_EREFUSED,
							"refusing to push with --require-clean: the work tree of '%s' has %zu changed path%s: %s",
							l->git_dir, l->git.nchanged_total, l->git.nchanged_total == 1 ? "" : "s",
							b.ptr ? b.ptr : "");
			util_buf_release(&b);
			return error;
		}
	}
	l->resolved = true;
	return 0;
}

/* ---- the body member ---- */

static int git_json(const cli_git_state *g, cJSON *lineage)
{
	cJSON *o = cJSON_AddObjectToObject(lineage, "git"), *changed;
	if (!o || !cJSON_AddStringToObject(o, "commit", g->commit) ||
	    !(g->branch ? cJSON_AddStringToObject(o, "branch", g->branch) : cJSON_AddNullToObject(o, "branch")) ||
	    !(g->remote ? cJSON_AddStringToObject(o, "remote", g->remote) : cJSON_AddNullToObject(o, "remote")) ||
	    !cJSON_AddBoolToObject(o, "dirty", g->dirty) || !(changed = cJSON_AddArrayToObject(o, "changed")))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	for (size_t i = 0; i < g->nchanged; i++) {
		cJSON *s = cJSON_CreateString(g->changed[i]);
		if (!s || !cJSON_AddItemToArray(changed, s)) {
			cJSON_Delete(s);
			return mlreg_error_set(MLREG_ENOMEM, "out of memory");
		}
	}
	return 0;
}

static int build(const cli_lineage *l, cJSON *o)
{
	cJSON *arr, *item;
	if (l->ndatasets) {
		if (!(arr = cJSON_AddArrayToObject(o, "datasets")))
			return mlreg_error_set(MLREG_ENOMEM, "out of memory");
		for (size_t i = 0; i < l->ndatasets; i++) {
			const cli_lineage_dataset *d = &l->datasets[i];
			if (!(item = cJSON_CreateObject()) || !cJSON_AddItemToArray(arr, item) ||
			    !cJSON_AddStringToObject(item, "name", d->name) ||
			    !(d->digest[0] ? cJSON_AddStringToObject(item, "digest", d->digest)
					   : cJSON_AddStringToObject(item, "uri", d->source)))
				return mlreg_error_set(MLREG_ENOMEM, "out of memory");
		}
	}
	if (l->nparents) {
		if (!(arr = cJSON_AddArrayToObject(o, "parents")))
			return mlreg_error_set(MLREG_ENOMEM, "out of memory");
		for (size_t i = 0; i < l->nparents; i++) {
			cJSON *s = cJSON_CreateString(l->parents[i]);
			if (!s || !cJSON_AddItemToArray(arr, s)) {
				cJSON_Delete(s);
				return mlreg_error_set(MLREG_ENOMEM, "out of memory");
			}
		}
	}
	if (l->git_dir) {
		int error = git_json(&l->git, o);
		if (error < 0)
			return error;
	}
	if (l->run_id) {
		if (!(item = cJSON_AddObjectToObject(o, "run")) || !cJSON_AddStringToObject(item, "id", l->run_id) ||
		    (l->run_url && !cJSON_AddStringToObject(item, "url", l->run_url)))
			return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	return 0;
}

int cli_lineage_json(const cli_lineage *l, cJSON **out)
{
	cJSON *o;
	int error;
	*out = NULL;
	if (!cli_lineage_given(l))
		return 0;
	if (!l->resolved)
		return mlreg_error_set(MLREG_EINVALID, "lineage used before it was resolved");
	if (!(o = cJSON_CreateObject()))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	if ((error = build(l, o)) < 0) {
		cJSON_Delete(o);
		return error;
	}
	*out = o;
	return 0;
}

int cli_lineage_summary(const cli_lineage *l, util_buf *out)
{
	const char *sep = "lineage: ";
	int error = 0;
	util_buf_release(out);
	if (!cli_lineage_given(l))
		return util_buf_puts(out, "");
	if (l->ndatasets) {
		error = util_buf_printf(out, "%s%zu dataset%s", sep, l->ndatasets, l->ndatasets == 1 ? "" : "s");
		sep = ", ";
	}
	if (error == 0 && l->nparents) {
		error = util_buf_printf(out, "%s%zu parent%s", sep, l->nparents, l->nparents == 1 ? "" : "s");
		sep = ", ";
	}
	if (error == 0 && l->git_dir) {
		error = util_buf_printf(out, "%scommit %.7s (%s%s)", sep, l->git.commit,
					l->git.branch ? l->git.branch : "detached", l->git.dirty ? ", dirty" : "");
		sep = ", ";
	}
	if (error == 0 && l->run_id)
		error = util_buf_printf(out, "%srun %s", sep, l->run_id);
	return error;
}

/*
 * cmd_export.c - `mlreg export REF... -o BUNDLE [--key KEY.pem]`: write
 * versions with everything the registry knows of them into one tar for
 * air-gapped and edge sites or another registry (docs/bundles.md).
 *
 * Every file is fetched with the code `mlreg pull` uses (fetch.c: the
 * file list must hash to the version's digest, each blob is hashed while
 * it is written), so a bundle never carries bytes we have not verified.
 * The files are staged in a private folder beside BUNDLE; the archive is
 * written with libarchive (POSIX pax, optionally gzip or zstd) to a temp
 * file in BUNDLE's folder, fsynced, made 0644 and renamed over BUNDLE, so
 * BUNDLE is either the old file or a complete bundle, never a part.
 */
#define _GNU_SOURCE
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli/bundle.h"
#include "cli/bundle_sig.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/fetch.h"
#include "util/json.h"

enum { OPT_OUT = 256, OPT_KEY, OPT_COMPRESS };

static const cli_option export_options[] = {
	{"o", OPT_OUT, true},
	{"output", OPT_OUT, true},
	{"key", OPT_KEY, true},
	{"compress", OPT_COMPRESS, true},
	{NULL, 0, false},
};

typedef struct {
	char digest[UTIL_DIGEST_LEN + 1];
	char *path;
	uint64_t size;
} ex_blob;

typedef struct {
	const cli_config *cfg;
	cli_client *c;
	char *stage;
	cJSON *versions;
	cli_fetch **plans;
	size_t nplans;
	ex_blob *blobs;
	size_t nblobs, cap;
} exporter;

static int add_blob(exporter *x, const char *digest, const char *path, uint64_t size)
{
	for (size_t i = 0; i < x->nblobs; i++)
		if (!strcmp(x->blobs[i].digest, digest))
			return 0;
	if (x->nblobs == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 16;
		ex_blob *nb = realloc(x->blobs, cap * sizeof(*nb));
		if (!nb)
			return mlreg_error_set(MLREG_ENOMEM, "out of memory");
		x->blobs = nb;
		x->cap = cap;
	}
	snprintf(x->blobs[x->nblobs].digest, sizeof(x->blobs[0].digest), "%s", digest);
	if (!(x->blobs[x->nblobs].path = strdup(path)))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	x->blobs[x->nblobs++].size = size;
	return 0;
}

/* The push-body form of a version's lineage from GET /api/v1/lineage
 * (direction up, depth 1); JSON null when it has none. */
static int lineage_of(exporter *x, const char *model, int64_t number, cJSON **out)
{
	cli_response resp;
	util_buf path;
	char ref[UTIL_NAME_MAX + 32];
	const char *root;
	cJSON *l = cJSON_CreateObject(), *datasets = cJSON_CreateArray(), *parents = cJSON_CreateArray();
	int rc;
	memset(&resp, 0, sizeof(resp));
	util_buf_init(&path, 8192);
	snprintf(ref, sizeof(ref), "%s:%lld", model, (long long)number);
	if ((rc = util_buf_puts(&path, "/api/v1/lineage")) < 0 || (rc = cli_query_add(&path, "ref", ref)) < 0 ||
	    (rc = cli_query_add(&path, "direction", "up")) < 0 || (rc = cli_query_add(&path, "depth", "1")) < 0)
		goto done;
	if ((rc = cli_client_json(x->c, "GET", path.ptr, NULL, &resp)) < 0) {
		rc = cli_error_wrap(rc, "cannot read the lineage of %s", ref);
		goto done;
	}
	root = util_json_str(resp.body, "root");
	for (const cJSON *e = cJSON_GetObjectItem(resp.body, "edges") ? cJSON_GetObjectItem(resp.body, "edges")->child : NULL;
	     e; e = e->next) {
		const char *rel = util_json_str(e, "relation"), *to = util_json_str(e, "to");
		const cJSON *node = NULL;
		if (!root || !util_json_str(e, "from") || strcmp(util_json_str(e, "from"), root) != 0 || !rel || !to)
			continue;
		for (const cJSON *n = cJSON_GetObjectItem(resp.body, "nodes")->child; n && !node; n = n->next)
			if (util_json_str(n, "id") && !strcmp(util_json_str(n, "id"), to))
				node = n;
		if (!node)
			continue;
		if (!strcmp(rel, "trained_on")) {
			/* one entry per name the content carries */
			for (const cJSON *nm = cJSON_GetObjectItem(node, "names") ? cJSON_GetObjectItem(node, "names")->child : NULL;
			     nm; nm = nm->next) {
				cJSON *d = cJSON_CreateObject();
				cJSON_AddStringToObject(d, "name", nm->valuestring);
				if (util_json_str(node, "digest"))
					cJSON_AddStringToObject(d, "digest", util_json_str(node, "digest"));
				else
					cJSON_AddStringToObject(d, "uri", cli_json_text(node, "uri", ""));
				cJSON_AddItemToArray(datasets, d);
			}
		} else if (!strcmp(rel, "derived_from")) {
			char p[UTIL_NAME_MAX + 32];
			snprintf(p, sizeof(p), "%s:%lld", cli_json_text(node, "model", "?"), (long long)cli_json_int(node, "version", 0));
			cJSON_AddItemToArray(parents, cJSON_CreateString(p));
		} else if (!strcmp(rel, "built_from")) {
			static const char *const keys[] = {"branch", "remote", "dirty", "changed", NULL};
			cJSON *g = cJSON_AddObjectToObject(l, "git");
			cJSON_AddStringToObject(g, "commit", cli_json_text(node, "sha", ""));
			for (int k = 0; keys[k]; k++)
				if (cJSON_GetObjectItem(e, keys[k]))
					cJSON_AddItemToObject(g, keys[k], cJSON_Duplicate(cJSON_GetObjectItem(e, keys[k]), true));
		} else if (!strcmp(rel, "produced_by")) {
			cJSON *run = cJSON_AddObjectToObject(l, "run");
			cJSON_AddStringToObject(run, "id", cli_json_text(node, "label", ""));
			if (util_json_str(node, "url"))
				cJSON_AddStringToObject(run, "url", util_json_str(node, "url"));
		}
	}
	if (cJSON_GetArraySize(datasets) > 0) {
		cJSON_AddItemToObject(l, "datasets", datasets);
		datasets = NULL;
	}
	if (cJSON_GetArraySize(parents) > 0) {
		cJSON_AddItemToObject(l, "parents", parents);
		parents = NULL;
	}
	if (!l->child) {
		cJSON_Delete(l);
		l = cJSON_CreateNull();
	}
	*out = l;
	l = NULL;
done:
	cJSON_Delete(l);
	cJSON_Delete(datasets);
	cJSON_Delete(parents);
	util_buf_release(&path);
	cli_response_release(&resp);
	return rc;
}

/* Download the manifest bytes of model:number into the stage and check
 * them against the digest. */
static int fetch_manifest(exporter *x, const util_ref *ref, const char *digest, size_t idx)
{
	cli_request req;
	cli_response resp;
	util_buf path;
	char *file = NULL, got[UTIL_DIGEST_LEN + 1];
	uint64_t size = 0;
	int fd = -1, rc;
	memset(&req, 0, sizeof(req));
	memset(&resp, 0, sizeof(resp));
	util_buf_init(&path, 8192);
	if (asprintf(&file, "%s/manifest.%zu", x->stage, idx) < 0) {
		file = NULL;
		rc = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	if ((fd = open(file, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
		rc = mlreg_error_set(MLREG_EIO, "cannot create '%s': %s", file, strerror(errno));
		goto done;
	}
	if ((rc = cli_version_path(&path, ref, "/manifest")) < 0)
		goto done;
	req.path = path.ptr;
	req.download = true;
	req.download_fd = fd;
	req.download_max = (uint64_t)1 << 30;
	if ((rc = cli_client_do(x->c, &req, &resp)) < 0) {
		rc = cli_error_wrap(rc, "cannot fetch the manifest of %s:%lld", ref->model, (long long)ref->version);
		goto done;
	}
	if (lseek(fd, 0, SEEK_SET) < 0 || (rc = util_sha256_fd(fd, got, &size)) < 0) {
		rc = mlreg_error_set(MLREG_EIO, "cannot read '%s'", file);
		goto done;
	}
	if (strcmp(got, digest) != 0) {
		rc = mlreg_error_set(MLREG_EINTEGRITY, "the manifest of %s:%lld hashes to %s, not to its digest %s", ref->model,
				     (long long)ref->version, got, digest);
		goto done;
	}
	rc = add_blob(x, digest, file, size);
done:
	if (fd >= 0)
		close(fd);
	free(file);
	util_buf_release(&path);
	cli_response_release(&resp);
	return rc;
}

static int export_ref(exporter *x, const char *arg)
{
	static const char *const meta_keys[] = {"description", "metrics", "params", "tags", "schema", "created_at", "created_by", NULL};
	cli_response resp;
	util_buf path;
	util_ref ref;
	cli_fetch *plan = NULL;
	cJSON *v = NULL, *meta, *lineage = NULL, *sigs = NULL;
	char dir[4200];
	const char *digest;
	int rc;
	memset(&resp, 0, sizeof(resp));
	util_buf_init(&path, 8192);
	if ((rc = cli_ref_parse("export", arg, &ref)) < 0 || (rc = cli_version_path(&path, &ref, "")) < 0)
		goto done;
	if ((rc = cli_client_json(x->c, "GET", path.ptr, NULL, &resp)) < 0) {
		rc = cli_error_wrap(rc, "cannot export '%s'", arg);
		goto done;
	}
	ref.kind = UTIL_REF_VERSION;
	ref.version = cli_json_int(resp.body, "version", 0);
	digest = util_json_str(resp.body, "digest");
	for (const cJSON *w = x->versions->child; w; w = w->next)
		if (!strcmp(util_json_str(w, "model"), ref.model) && cli_json_int(w, "version", 0) == ref.version)
			goto done; /* named twice (e.g. a number and a stage): once */
	if (!strcmp(cli_json_text(resp.body, "status", ""), "deleted")) {
		rc = mlreg_error_set(MLREG_ENOTFOUND, "cannot export '%s': %s:%lld is deleted", arg, ref.model, (long long)ref.version);
		goto done;
	}
	if (!digest || !util_digest_valid(digest)) {
		rc = mlreg_error_set(MLREG_EIO, "cannot export '%s': the registry sent no digest", arg);
		goto done;
	}
	if ((rc = lineage_of(x, ref.model, ref.version, &lineage)) < 0 ||
	    (rc = cli_bundle_sig_fetch(x->c, ref.model, ref.version, &sigs)) < 0)
		goto done;
	/* fetch and verify every file, as pull does */
	if ((rc = cli_fetch_plan(resp.body, &plan)) < 0)
		goto done;
	snprintf(dir, sizeof(dir), "%s/v%zu", x->stage, x->nplans);
	if ((rc = cli_fetch_run(plan, x->cfg, dir, false, NULL, NULL)) < 0) {
		rc = cli_error_wrap(rc, "cannot fetch the files of %s:%lld", ref.model, (long long)ref.version);
		goto done;
	}
	for (size_t i = 0; i < cli_fetch_count(plan); i++)
		if ((rc = add_blob(x, cli_fetch_digest(plan, i), cli_fetch_staged(plan, i), cli_fetch_size(plan, i))) < 0)
			goto done;
	if ((rc = fetch_manifest(x, &ref, digest, x->nplans)) < 0)
		goto done;

	v = cJSON_CreateObject();
	cJSON_AddStringToObject(v, "model", ref.model);
	cJSON_AddNumberToObject(v, "version", (double)ref.version);
	cJSON_AddStringToObject(v, "digest", digest);
	cJSON_AddNumberToObject(v, "size", (double)cli_json_int(resp.body, "size", 0));
	cJSON_AddItemToObject(v, "files", cJSON_Duplicate(cJSON_GetObjectItem(resp.body, "files"), true));
	meta = cJSON_AddObjectToObject(v, "metadata");
	for (int k = 0; meta_keys[k]; k++)
		if (cJSON_GetObjectItem(resp.body, meta_keys[k]))
			cJSON_AddItemToObject(meta, meta_keys[k], cJSON_Duplicate(cJSON_GetObjectItem(resp.body, meta_keys[k]), true));
	cJSON_AddItemToObject(v, "lineage", lineage);
	cJSON_AddItemToObject(v, "signatures", sigs);
	lineage = sigs = NULL;
	cJSON_AddItemToArray(x->versions, v);
	x->plans[x->nplans++] = plan;
	plan = NULL;
done:
	cli_fetch_free(plan);
	cJSON_Delete(lineage);
	cJSON_Delete(sigs);
	util_buf_release(&path);
	cli_response_release(&resp);
	return rc;
}

static int add_entry(struct archive *a, const char *name, int64_t size, time_t mtime)
{
	struct archive_entry *e = archive_entry_new();
	int st;
	if (!e)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, size);
	archive_entry_set_mtime(e, mtime, 0);
	st = archive_write_header(a, e);
	archive_entry_free(e);
	return st == ARCHIVE_OK ? 0 : mlreg_error_set(MLREG_EIO, "cannot write bundle entry '%s': %s", name, archive_error_string(a));
}

static int add_bytes(struct archive *a, const char *name, const char *data, size_t len, time_t mtime)
{
	int rc = add_entry(a, name, (int64_t)len, mtime);
	if (rc == 0 && len > 0 && archive_write_data(a, data, len) != (la_ssize_t)len)
		rc = mlreg_error_set(MLREG_EIO, "cannot write bundle entry '%s': %s", name, archive_error_string(a));
	return rc;
}

static int add_file(struct archive *a, const ex_blob *b, time_t mtime)
{
	char name[96], buf[65536];
	uint64_t done = 0;
	int fd, rc;
	snprintf(name, sizeof(name), "blobs/sha256/%s", b->digest + 7);
	if ((fd = open(b->path, O_RDONLY | O_CLOEXEC)) < 0)
		return mlreg_error_set(MLREG_EIO, "cannot open '%s': %s", b->path, strerror(errno));
	if ((rc = add_entry(a, name, (int64_t)b->size, mtime)) < 0)
		goto done;
	while (done < b->size) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0) {
			rc = mlreg_error_set(MLREG_EIO, "cannot read '%s': %s", b->path, n < 0 ? strerror(errno) : "file shrank");
			goto done;
		}
		if ((uint64_t)n > b->size - done)
			n = (ssize_t)(b->size - done);
		if (archive_write_data(a, buf, (size_t)n) != n) {
			rc = mlreg_error_set(MLREG_EIO, "cannot write bundle entry '%s': %s", name, archive_error_string(a));
			goto done;
		}
		done += (uint64_t)n;
	}
done:
	close(fd);
	return rc;
}

/* Write the archive to a temp file beside out, then rename it into place. */
static int write_bundle(exporter *x, const char *out, const char *compress, const char *key, cJSON *index)
{
	struct archive *a = NULL;
	char *tmp = NULL, *index_text = NULL, *sig = NULL;
	size_t sig_len = 0;
	time_t now = (time_t)(util_now_ms() / 1000);
	int fd = -1, rc = 0;
	if (!(index_text = util_json_print(index)))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	if (key && (rc = cli_bundle_sig_make(key, index_text, strlen(index_text), &sig, &sig_len)) < 0)
		goto done;
	if (asprintf(&tmp, "%s.tmp.XXXXXX", out) < 0) {
		tmp = NULL;
		rc = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		rc = mlreg_error_set(MLREG_EIO, "cannot create a temp file beside '%s': %s", out, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto done;
	}
	if (!(a = archive_write_new()) || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    (!strcmp(compress, "gzip") && archive_write_add_filter_gzip(a) != ARCHIVE_OK) ||
	    (!strcmp(compress, "zstd") && archive_write_add_filter_zstd(a) != ARCHIVE_OK) ||
	    archive_write_open_fd(a, fd) != ARCHIVE_OK) {
		rc = mlreg_error_set(MLREG_EIO, "cannot start the bundle: %s", a ? archive_error_string(a) : "out of memory");
		goto done;
	}
	if ((rc = add_bytes(a, CLI_BUNDLE_INDEX, index_text, strlen(index_text), now)) < 0 ||
	    (sig && (rc = add_bytes(a, CLI_BUNDLE_SIG, sig, sig_len, now)) < 0))
		goto done;
	for (size_t i = 0; i < x->nblobs; i++)
		if ((rc = add_file(a, &x->blobs[i], now)) < 0)
			goto done;
	if (archive_write_close(a) != ARCHIVE_OK) {
		rc = mlreg_error_set(MLREG_EIO, "cannot finish the bundle: %s", archive_error_string(a));
		goto done;
	}
	if (fsync(fd) < 0 || fchmod(fd, 0644) < 0 || close(fd) < 0) {
		fd = -1;
		rc = mlreg_error_set(MLREG_EIO, "cannot write '%s': %s", tmp, strerror(errno));
		goto done;
	}
	fd = -1;
	if (rename(tmp, out) < 0) {
		rc = mlreg_error_set(MLREG_EIO, "cannot rename '%s' to '%s': %s", tmp, out, strerror(errno));
		goto done;
	}
	free(tmp);
	tmp = NULL;
	util_fsync_parent(out);
done:
	if (a)
		archive_write_free(a);
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	free(index_text);
	free(sig);
	return rc;
}

/* The registry URL without user information: the index (and the target's
 * audit log, which records the source) must never carry a credential. */
static char *source_of(const char *url)
{
	const char *host = strstr(url, "://"), *at, *end;
	char *out;
	if (!host)
		return strdup(url);
	host += 3;
	end = host + strcspn(host, "/?#");
	at = memchr(host, '@', (size_t)(end - host));
	if (!at)
		return strdup(url);
	if (asprintf(&out, "%.*s%s", (int)(host - url), url, at + 1) < 0)
		return NULL;
	return out;
}

static int cmd_export_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	exporter x = {.cfg = cfg};
	cli_args a;
	const char *out = NULL, *key = NULL, *compress = "none";
	const char **refs = calloc((size_t)argc + 1, sizeof(*refs));
	cJSON *index = NULL;
	size_t nrefs = 0;
	int rc, error = 0;
	char *dircopy = NULL, ts[40];

	if (!refs)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		if (rc == OPT_OUT)
			out = a.value;
		else if (rc == OPT_KEY)
			key = a.value;
		else if (rc == OPT_COMPRESS)
			compress = a.value;
		else if (rc == CLI_ARGS_POS)
			refs[nrefs++] = a.value;
		else
			error = rc;
		if (error < 0)
			goto done;
	}
	if (!nrefs || !out) {
		error = cli_usage_error(self->name, "expected REF... -o BUNDLE");
		goto done;
	}
	if (strcmp(compress, "none") && strcmp(compress, "gzip") && strcmp(compress, "zstd")) {
		error = cli_usage_error(self->name, "invalid --compress '%s': none, gzip or zstd", compress);
		goto done;
	}
	if (key) { /* a bad key fails now, not after every file was fetched */
		char *probe = NULL;
		size_t plen;
		if ((error = cli_bundle_sig_make(key, "", 0, &probe, &plen)) < 0)
			goto done;
		free(probe);
	}
	if (!(dircopy = strdup(out)) || asprintf(&x.stage, "%s/.mlreg-export.XXXXXX", dirname(dircopy)) < 0) {
		x.stage = NULL;
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	if (!mkdtemp(x.stage)) {
		error = mlreg_error_set(MLREG_EIO, "cannot create a staging folder beside '%s': %s", out, strerror(errno));
		free(x.stage);
		x.stage = NULL;
		goto done;
	}
	if (!(x.plans = calloc(nrefs, sizeof(*x.plans))) || !(x.versions = cJSON_CreateArray())) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	if ((error = cli_client_new(&x.c, cfg)) < 0)
		goto done;
	for (size_t i = 0; i < nrefs; i++)
		if ((error = export_ref(&x, refs[i])) < 0)
			goto done;
	index = cJSON_CreateObject();
	cJSON_AddStringToObject(index, "format", "mlreg-bundle");
	cJSON_AddNumberToObject(index, "format_version", 1);
	{
		char *src = source_of(cfg->registry);
		cJSON_AddStringToObject(index, "source", src ? src : "");
		free(src);
	}
	util_time_format(util_now_ms(), ts, sizeof(ts));
	cJSON_AddStringToObject(index, "exported_at", ts);
	cJSON_AddItemToObject(index, "versions", x.versions);
	x.versions = NULL;
	if ((error = write_bundle(&x, out, compress, key, index)) < 0)
		goto done;
	if (cfg->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "bundle", out);
		cJSON_AddItemToObject(o, "versions", cJSON_Duplicate(cJSON_GetObjectItem(index, "versions"), true));
		cJSON_AddNumberToObject(o, "blobs", (double)x.nblobs);
		cJSON_AddBoolToObject(o, "signed", key != NULL);
		error = cli_print_json(o);
		cJSON_Delete(o);
	} else if (!cfg->quiet) {
		for (const cJSON *v = cJSON_GetObjectItem(index, "versions")->child; v; v = v->next)
			printf("exported %s:%lld %s\n", util_json_str(v, "model"), (long long)cli_json_int(v, "version", 0),
			       util_json_str(v, "digest"));
		printf("wrote %s (%zu blob%s%s)\n", out, x.nblobs, x.nblobs == 1 ? "" : "s", key ? ", signed" : "");
	}
done:
	for (size_t i = 0; i < x.nplans; i++)
		cli_fetch_free(x.plans[i]);
	free(x.plans);
	for (size_t i = 0; i < x.nblobs; i++)
		free(x.blobs[i].path);
	free(x.blobs);
	if (x.stage) {
		cli_error_saved saved;
		cli_error_save(&saved, error);
		util_rm_rf(x.stage);
		cli_error_restore(&saved);
		free(x.stage);
	}
	cJSON_Delete(x.versions);
	cJSON_Delete(index);
	cli_client_free(x.c);
	free(dircopy);
	free(refs);
	return error;
}

const cli_cmd_entry cli_cmd_export_entry = {
	.name = "export",
	.usage = "REF... -o BUNDLE [--key KEY.pem] [--compress none|gzip|zstd]",
	.summary = "write versions with their metadata, lineage and signatures into a bundle",
	.help = "Every file is fetched and verified as `pull` does; BUNDLE (a POSIX pax tar, 0644) is written\n"
		"to a temp file and renamed, so it is never left half written.\n"
		"options:\n"
		"  -o, --output BUNDLE   the bundle to write\n"
		"  --key KEY.pem         sign the index (mlreg-bundle.sig, Ed25519) with this private key\n"
		"  --compress C          none (default), gzip or zstd\n"
		"--json: {\"bundle\",\"versions\":[…index entries],\"blobs\",\"signed\"}\n",
	.options = export_options,
	.exec = cmd_export_exec,
};

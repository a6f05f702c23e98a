/*
 * bundle_read.c - read an mlreg bundle safely (docs/bundles.md, the
 * "Bundles" section of docs/security.md).
 *
 * A bundle comes from outside (a USB stick, another registry), so the
 * archive is treated as hostile.  We never extract: libarchive only
 * streams headers and bytes to us, and no entry name ever becomes a path.
 * The name decides only which of three things an entry is - the index,
 * the detached signature, or the blob whose 64 lowercase hex digits it
 * ends with - and anything else (a link of either kind, a device, a fifo,
 * another name, '..', an absolute path, an entry seen twice) refuses the
 * whole bundle with a message naming the entry.  The only folders taken
 * are "blobs" and "blobs/sha256", which tar writes when a folder is packed
 * by hand; they create nothing.  Blobs are written into a private mkdtemp
 * folder (0700) as "<hex>" with O_EXCL|O_NOFOLLOW, hashed while read and
 * refused when the bytes do not hash to the name.  The limits (entries,
 * total bytes, bytes per entry, compression ratio against the compressed
 * bytes libarchive has consumed, index size) are checked after every block
 * read, so a decompression bomb stops after a few MiB, not at the disk's
 * end.  Only the tar formats (ustar, pax, GNU) and the gzip and zstd
 * filters are enabled.
 */
#define _GNU_SOURCE
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli/bundle.h"
#include "cli/cli.h"
#include "cli/fetch.h"
#include "util/json.h"

#define BLOB_PREFIX "blobs/sha256/"
#define MAX_SIG 65536
#define RATIO_FLOOR ((uint64_t)1 << 20) /* ratios of tiny archives mean nothing */
#define MAX_VERSIONS 1000

typedef struct {
	char digest[UTIL_DIGEST_LEN + 1]; /* "sha256:" + hex */
	uint64_t size;
	char *path;
	bool used;
} bundle_blob;

struct cli_bundle {
	char *dir;
	char *index;
	size_t index_len;
	char *sig;
	size_t sig_len;
	cJSON *json;
	bundle_blob *blobs;
	size_t nblobs, capblobs;
};

void cli_bundle_limits_default(cli_bundle_limits *l)
{
	l->max_entries = 100000;
	l->max_size = (uint64_t)64 << 30;
	l->max_entry_size = (uint64_t)16 << 30;
	l->max_ratio = 200;
	l->max_index = (uint64_t)64 << 20;
}

void cli_bundle_free(cli_bundle *b)
{
	if (!b)
		return;
	if (b->dir) {
		util_rm_rf(b->dir);
		free(b->dir);
	}
	for (size_t i = 0; i < b->nblobs; i++)
		free(b->blobs[i].path);
	free(b->blobs);
	free(b->index);
	free(b->sig);
	cJSON_Delete(b->json);
	free(b);
}

const cJSON *cli_bundle_index(const cli_bundle *b) { return b->json; }
const char *cli_bundle_dir(const cli_bundle *b) { return b->dir; }
size_t cli_bundle_blob_count(const cli_bundle *b) { return b->nblobs; }
uint64_t cli_bundle_blob_size(const cli_bundle *b, size_t i) { return b->blobs[i].size; }
const char *cli_bundle_blob_path(const cli_bundle *b, size_t i) { return b->blobs[i].path; }

const char *cli_bundle_blob_digest(const cli_bundle *b, size_t i) { return b->blobs[i].digest; }

const char *cli_bundle_index_bytes(const cli_bundle *b, size_t *len)
{
	*len = b->index_len;
	return b->index;
}

const char *cli_bundle_sig(const cli_bundle *b, size_t *len)
{
	*len = b->sig_len;
	return b->sig;
}

/* The entry name, printable, for messages (control bytes as '?'). */
static void printable(const char *name, char out[160])
{
	size_t i = 0;
	for (; name && name[i] && i < 150; i++)
		out[i] = (unsigned char)name[i] < 0x20 || name[i] == 0x7f ? '?' : name[i];
	out[i] = '\0';
	if (name && name[i])
		snprintf(out + i, 160 - i, "...");
}

static bool hex64(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == 64;
}

/* Why a name is not allowed, for the message. */
static const char *why_name(const char *name)
{
	if (name[0] == '/')
		return "an absolute path";
	for (const char *s = name; (s = strstr(s, "..")); s += 2)
		if ((s == name || s[-1] == '/') && (s[2] == '\0' || s[2] == '/'))
			return "a path with '..'";
	return "not a bundle entry (only " CLI_BUNDLE_INDEX ", " CLI_BUNDLE_SIG " and " BLOB_PREFIX "<64 hex> are)";
}

static const char *kind_name(mode_t type)
{
	switch (type) {
	case AE_IFLNK: return "a symbolic link";
	case AE_IFCHR: return "a character device";
	case AE_IFBLK: return "a block device";
	case AE_IFIFO: return "a fifo";
	case AE_IFSOCK: return "a socket";
	case AE_IFDIR: return "a folder";
	default: return "not a regular file";
	}
}

typedef struct {
	struct archive *a;
	const cli_bundle_limits *lim;
	cli_bundle *b;
	uint64_t total;     /* uncompressed entry bytes so far */
	uint64_t entries;
} reader;

/* The limits on every block read. */
static int check_limits(reader *r, const char *shown, uint64_t entry_bytes)
{
	int64_t comp = archive_filter_bytes(r->a, -1);
	if (entry_bytes > r->lim->max_entry_size)
		return mlreg_error_set(MLREG_ETOOBIG, "bundle refused: entry '%s' is larger than %llu bytes (--max-entry-size)", shown,
				       (unsigned long long)r->lim->max_entry_size);
	if (r->total > r->lim->max_size)
		return mlreg_error_set(MLREG_ETOOBIG, "bundle refused: it holds more than %llu bytes (--max-size), at entry '%s'",
				       (unsigned long long)r->lim->max_size, shown);
	if (r->total > RATIO_FLOOR && comp > 0 && r->total / (uint64_t)comp >= r->lim->max_ratio)
		return mlreg_error_set(MLREG_ETOOBIG,
				       "bundle refused: it expands more than %llu times (--max-ratio): %llu bytes from %lld compressed, at entry '%s'",
				       (unsigned long long)r->lim->max_ratio, (unsigned long long)r->total, (long long)comp, shown);
	return 0;
}

/* Read the current entry's data into a bounded buffer (index, signature). */
static int read_small(reader *r, const char *shown, size_t max, char **out, size_t *len)
{
	util_buf buf;
	char chunk[65536];
	uint64_t n = 0;
	la_ssize_t got;
	int rc = 0;
	util_buf_init(&buf, max);
	while ((got = archive_read_data(r->a, chunk, sizeof(chunk))) > 0) {
		n += (uint64_t)got;
		r->total += (uint64_t)got;
		if ((rc = check_limits(r, shown, n)) < 0)
			break;
		if (util_buf_put(&buf, chunk, (size_t)got) < 0) {
			rc = mlreg_error_set(MLREG_ETOOBIG, "bundle refused: entry '%s' is larger than %zu bytes%s", shown, max,
					     max == MAX_SIG ? "" : " (--max-index)");
			break;
		}
	}
	if (rc == 0 && got < 0)
		rc = mlreg_error_set(MLREG_EINVALID, "bundle refused: cannot read entry '%s': %s", shown, archive_error_string(r->a));
	if (rc < 0) {
		util_buf_release(&buf);
		return rc;
	}
	*len = buf.len;
	*out = buf.ptr ? util_buf_detach(&buf) : strdup("");
	return *out ? 0 : mlreg_error_set(MLREG_ENOMEM, "out of memory");
}

static int read_blob(reader *r, const char *name, const char *shown)
{
	cli_bundle *b = r->b;
	const char *hex = name + strlen(BLOB_PREFIX);
	bundle_blob *bl;
	util_sha256 *h = NULL;
	char chunk[65536], got_digest[UTIL_DIGEST_LEN + 1];
	uint64_t n = 0;
	la_ssize_t got;
	int fd = -1, rc = 0;
	if (b->nblobs == b->capblobs) {
		size_t cap = b->capblobs ? b->capblobs * 2 : 16;
		bundle_blob *nb = realloc(b->blobs, cap * sizeof(*nb));
		if (!nb)
			return mlreg_error_set(MLREG_ENOMEM, "out of memory");
		b->blobs = nb;
		b->capblobs = cap;
	}
	bl = &b->blobs[b->nblobs];
	memset(bl, 0, sizeof(*bl));
	snprintf(bl->digest, sizeof(bl->digest), "sha256:%s", hex);
	if (asprintf(&bl->path, "%s/%s", b->dir, hex) < 0) {
		bl->path = NULL;
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	b->nblobs++;
	/* the name is 64 hex digits, so the file can only be new or this
	 * blob seen before: O_EXCL is also the duplicate check */
	if ((fd = open(bl->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
		int e = errno;
		free(bl->path);
		b->nblobs--;
		if (e == EEXIST)
			return mlreg_error_set(MLREG_EINVALID, "bundle refused: entry '%s' appears twice", shown);
		return mlreg_error_set(MLREG_EIO, "cannot stage bundle entry '%s': %s", shown, strerror(e));
	}
	if (!(h = util_sha256_new())) {
		close(fd);
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	while ((got = archive_read_data(r->a, chunk, sizeof(chunk))) > 0) {
		n += (uint64_t)got;
		r->total += (uint64_t)got;
		if ((rc = check_limits(r, shown, n)) < 0)
			break;
		util_sha256_update(h, chunk, (size_t)got);
		if ((rc = util_write_all(fd, chunk, (size_t)got)) < 0) {
			rc = mlreg_error_set(MLREG_EIO, "cannot stage bundle entry '%s': %s", shown, mlreg_error_last());
			break;
		}
	}
	if (rc == 0 && got < 0)
		rc = mlreg_error_set(MLREG_EINVALID, "bundle refused: cannot read entry '%s': %s", shown, archive_error_string(r->a));
	if (close(fd) < 0 && rc == 0)
		rc = mlreg_error_set(MLREG_EIO, "cannot stage bundle entry '%s': %s", shown, strerror(errno));
	if (rc < 0) {
		util_sha256_free(h);
		return rc;
	}
	util_sha256_final(h, got_digest);
	if (strcmp(got_digest, bl->digest) != 0)
		return mlreg_error_set(MLREG_EINTEGRITY, "bundle refused: entry '%s' does not hash to its name (its bytes hash to %s)", shown,
				       got_digest);
	bl->size = n;
	return 0;
}

static bool folder_ok(const char *name)
{
	return !strcmp(name, "blobs") || !strcmp(name, "blobs/") || !strcmp(name, "blobs/sha256") ||
	       !strcmp(name, "blobs/sha256/");
}

/* One entry: classify by type and exact name, then take its bytes. */
static int read_entry(reader *r, struct archive_entry *e)
{
	const char *name = archive_entry_pathname(e);
	mode_t type = archive_entry_filetype(e);
	char shown[160];
	printable(name, shown);
	if (!name || !*name)
		return mlreg_error_set(MLREG_EINVALID, "bundle refused: entry %llu has no readable name",
				       (unsigned long long)r->entries);
	if (++r->entries > r->lim->max_entries)
		return mlreg_error_set(MLREG_ETOOBIG, "bundle refused: more than %llu entries (--max-entries), at '%s'",
				       (unsigned long long)r->lim->max_entries, shown);
	if (archive_entry_hardlink(e))
		return mlreg_error_set(MLREG_EINVALID, "bundle refused: entry '%s' is a hard link", shown);
	if (archive_entry_symlink(e) || type != AE_IFREG) {
		if (type == AE_IFDIR && folder_ok(name))
			return 0;
		return mlreg_error_set(MLREG_EINVALID, "bundle refused: entry '%s' is %s", shown,
				       archive_entry_symlink(e) ? "a symbolic link" : kind_name(type));
	}
	if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0 &&
	    (uint64_t)archive_entry_size(e) > r->lim->max_entry_size)
		return mlreg_error_set(MLREG_ETOOBIG, "bundle refused: entry '%s' is larger than %llu bytes (--max-entry-size)",
				       shown, (unsigned long long)r->lim->max_entry_size);
	if (!strcmp(name, CLI_BUNDLE_INDEX)) {
		if (r->b->index)
			return mlreg_error_set(MLREG_EINVALID, "bundle refused: entry '%s' appears twice", shown);
		return read_small(r, shown, (size_t)r->lim->max_index, &r->b->index, &r->b->index_len);
	}
	if (!strcmp(name, CLI_BUNDLE_SIG)) {
		if (r->b->sig)
			return mlreg_error_set(MLREG_EINVALID, "bundle refused: entry '%s' appears twice", shown);
		return read_small(r, shown, MAX_SIG, &r->b->sig, &r->b->sig_len);
	}
	if (!strncmp(name, BLOB_PREFIX, strlen(BLOB_PREFIX)) && hex64(name + strlen(BLOB_PREFIX)))
		return read_blob(r, name, shown);
	return mlreg_error_set(MLREG_EINVALID, "bundle refused: entry '%s' is %s", shown, why_name(name));
}

static int read_all(struct archive *a, const cli_bundle_limits *lim, cli_bundle *b)
{
	reader r = {.a = a, .lim = lim, .b = b};
	struct archive_entry *e;
	int st, rc;
	while ((st = archive_read_next_header(a, &e)) == ARCHIVE_OK || st == ARCHIVE_WARN)
		if ((rc = read_entry(&r, e)) < 0)
			return rc;
	if (st != ARCHIVE_EOF)
		return mlreg_error_set(MLREG_EINVALID, "bundle refused: not a readable tar archive: %s",
				       archive_error_string(a) ? archive_error_string(a) : "unknown error");
	if (!b->index)
		return mlreg_error_set(MLREG_EINVALID, "bundle refused: it has no %s", CLI_BUNDLE_INDEX);
	if ((rc = util_json_parse(b->index, b->index_len, UTIL_JSON_MAX_DEPTH, &b->json)) < 0)
		return mlreg_error_set(MLREG_EINVALID, "bundle refused: %s is not JSON: %s", CLI_BUNDLE_INDEX, mlreg_error_last());
	return 0;
}

static int read_common(struct archive *a, int open_rc, const cli_bundle_limits *lim, const char *tmp_parent,
		       cli_bundle **out)
{
	cli_bundle *b = calloc(1, sizeof(*b));
	int rc;
	if (!b) {
		rc = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	if (asprintf(&b->dir, "%s/mlreg-import.XXXXXX", tmp_parent ? tmp_parent : "/tmp") < 0) {
		b->dir = NULL;
		rc = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	if (!mkdtemp(b->dir)) { /* mkdtemp makes it 0700 */
		rc = mlreg_error_set(MLREG_EIO, "cannot create a private folder under '%s': %s", tmp_parent ? tmp_parent : "/tmp",
				     strerror(errno));
		free(b->dir);
		b->dir = NULL;
		goto done;
	}
	if (open_rc != ARCHIVE_OK) {
		rc = mlreg_error_set(MLREG_EINVALID, "bundle refused: cannot open it as a tar archive: %s",
				     archive_error_string(a) ? archive_error_string(a) : "unknown error");
		goto done;
	}
	rc = read_all(a, lim, b);
done:
	archive_read_free(a);
	if (rc < 0) {
		cli_bundle_free(b);
		return rc;
	}
	*out = b;
	return 0;
}

static struct archive *new_reader(void)
{
	struct archive *a = archive_read_new();
	if (!a)
		return NULL;
	archive_read_support_format_tar(a); /* ustar, pax, GNU; nothing else */
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	return a;
}

int cli_bundle_read_fd(int fd, const cli_bundle_limits *lim, const char *tmp_parent, cli_bundle **out)
{
	struct archive *a = new_reader();
	if (!a)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	return read_common(a, archive_read_open_fd(a, fd, 65536), lim, tmp_parent, out);
}

int cli_bundle_read_memory(const void *data, size_t len, const cli_bundle_limits *lim, const char *tmp_parent,
			   cli_bundle **out)
{
	struct archive *a = new_reader();
	if (!a)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	return read_common(a, archive_read_open_memory(a, data, len), lim, tmp_parent, out);
}

/* ---- verification of the index against the blobs ---- */
static int cmp_blob(const void *a, const void *b)
{
	return strcmp(((const bundle_blob *)a)->digest, ((const bundle_blob *)b)->digest);
}

/* blobs are sorted by digest once verification starts */
static bundle_blob *find_blob(cli_bundle *b, const char *digest)
{
	bundle_blob key;
	if (!b->nblobs || !util_digest_valid(digest))
		return NULL;
	snprintf(key.digest, sizeof(key.digest), "%s", digest);
	return bsearch(&key, b->blobs, b->nblobs, sizeof(*b->blobs), cmp_blob);
}

static int verify_version(cli_bundle *b, const cJSON *v, const char *subject)
{
	cli_fetch *plan = NULL;
	bundle_blob *mb;
	int rc;
	/* the file list must be the one the digest commits to (same check as
	 * pull: paths vetted, canonical manifest hashed) */
	if ((rc = cli_fetch_plan(v, &plan)) < 0)
		return mlreg_error_set(rc, "bundle refused: %s: %s", subject, mlreg_error_last());
	if (!(mb = find_blob(b, util_json_str(v, "digest")))) {
		cli_fetch_free(plan);
		return mlreg_error_set(MLREG_EINTEGRITY, "bundle refused: %s: its manifest blob %s is missing", subject,
				       util_json_str(v, "digest"));
	}
	mb->used = true;
	for (size_t i = 0; i < cli_fetch_count(plan); i++) {
		bundle_blob *fb = find_blob(b, cli_fetch_digest(plan, i));
		if (!fb) {
			rc = mlreg_error_set(MLREG_EINTEGRITY, "bundle refused: %s: blob %s of '%s' is missing", subject,
					     cli_fetch_digest(plan, i), cli_fetch_path(plan, i));
			break;
		}
		if (fb->size != cli_fetch_size(plan, i)) {
			rc = mlreg_error_set(MLREG_EINTEGRITY, "bundle refused: %s: '%s' has %llu bytes in the index, its blob %llu",
					     subject, cli_fetch_path(plan, i), (unsigned long long)cli_fetch_size(plan, i),
					     (unsigned long long)fb->size);
			break;
		}
		fb->used = true;
	}
	cli_fetch_free(plan);
	return rc;
}

int cli_bundle_verify(cli_bundle *b)
{
	const cJSON *ix = b->json, *versions = cJSON_GetObjectItem(ix, "versions");
	int64_t fv = 0;
	int n = 0, rc;
	if (b->nblobs)
		qsort(b->blobs, b->nblobs, sizeof(*b->blobs), cmp_blob);
	if (!cJSON_IsObject(ix) || !util_json_str(ix, "format") || strcmp(util_json_str(ix, "format"), "mlreg-bundle") != 0)
		return mlreg_error_set(MLREG_EINVALID, "bundle refused: %s is not an mlreg bundle index", CLI_BUNDLE_INDEX);
	if (util_json_i64(ix, "format_version", &fv) < 0 || fv != 1)
		return mlreg_error_set(MLREG_EINVALID, "bundle refused: format_version %lld is not supported (1 is)", (long long)fv);
	if (!cJSON_IsArray(versions) || cJSON_GetArraySize(versions) < 1 || cJSON_GetArraySize(versions) > MAX_VERSIONS)
		return mlreg_error_set(MLREG_EINVALID, "bundle refused: the index needs 1 to %d versions", MAX_VERSIONS);
	for (const cJSON *v = versions->child; v; v = v->next, n++) {
		const char *model = util_json_str(v, "model");
		int64_t num = 0;
		char subject[UTIL_NAME_MAX + 32];
		if (!model || !util_model_name_valid(model) || util_json_i64(v, "version", &num) < 0 || num < 1)
			return mlreg_error_set(MLREG_EINVALID, "bundle refused: version %d of the index has no valid model and number", n);
		snprintf(subject, sizeof(subject), "%s:%lld", model, (long long)num);
		for (const cJSON *w = versions->child; w != v; w = w->next)
			if (!strcmp(util_json_str(w, "model"), model) && cli_json_int(w, "version", 0) == num)
				return mlreg_error_set(MLREG_EINVALID, "bundle refused: %s appears twice in the index", subject);
		if ((rc = verify_version(b, v, subject)) < 0)
			return rc;
	}
	for (size_t i = 0; i < b->nblobs; i++)
		if (!b->blobs[i].used)
			return mlreg_error_set(MLREG_EINVALID, "bundle refused: blob %s is needed by no version of the index",
					       b->blobs[i].digest);
	return 0;
}

/*
 * archive.c - a whole version as one tar stream, written by libarchive.
 *
 * The HTTP layer pulls bytes (a content-reader callback) while libarchive
 * pushes them (a write callback), so this file turns one into the other: it
 * advances libarchive only as far as needed to fill the caller's buffer,
 * reading each blob in 64 KiB steps.  Memory stays bounded by one libarchive
 * block plus one step whatever the version's size.  Entries carry the
 * manifest's paths and modes, mtime 0 and no owner, so the same version
 * always gives the same tar bytes.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "registry/registry_int.h"
#include "util/json.h"

#define STEP (64 * 1024)

struct reg_archive {
	reg_registry *r;
	struct archive *ar;
	cJSON *version;
	const cJSON *next;  /* next file to start */
	int fd;             /* blob being copied, -1 between entries */
	bool closed;
	char *pend;         /* bytes libarchive produced, not yet handed out */
	size_t plen, pcap, poff;
	char *step;
};

static la_ssize_t on_write(struct archive *ar, void *p, const void *buf, size_t len)
{
	reg_archive *a = p;
	if (a->plen + len > a->pcap) {
		size_t nc = a->pcap ? a->pcap : 65536;
		char *np;
		while (nc < a->plen + len)
			nc *= 2;
		if (!(np = realloc(a->pend, nc))) {
			archive_set_error(ar, ENOMEM, "out of memory");
			return -1;
		}
		a->pend = np;
		a->pcap = nc;
	}
	memcpy(a->pend + a->plen, buf, len);
	a->plen += len;
	return (la_ssize_t)len;
}

int reg_archive_open(reg_registry *r, const char *model, int64_t number, reg_archive **out)
{
	reg_archive *a;
	int rc;
	cJSON *v = NULL;
	if ((rc = reg_version_get(r, model, number, true, &v)) < 0)
		return rc;
	if (!strcmp(util_json_str(v, "status"), "deleted")) {
		cJSON_Delete(v);
		return mlreg_error_set(MLREG_ENOTFOUND, "version '%s:%lld' is deleted", model, (long long)number);
	}
	a = calloc(1, sizeof(*a));
	if (!a || !(a->step = malloc(STEP))) {
		free(a);
		cJSON_Delete(v);
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	a->r = r;
	a->fd = -1;
	a->version = v;
	a->next = cJSON_GetObjectItem(v, "files")->child;
	a->ar = archive_write_new();
	if (!a->ar || archive_write_set_format_pax_restricted(a->ar) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a->ar, 1) != ARCHIVE_OK ||
	    archive_write_open(a->ar, a, NULL, on_write, NULL) != ARCHIVE_OK) {
		rc = mlreg_error_set(MLREG_EIO, "cannot start tar stream: %s", a->ar ? archive_error_string(a->ar) : "out of memory");
		reg_archive_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

static int advance(reg_archive *a)
{
	if (a->fd >= 0) {
		ssize_t n = read(a->fd, a->step, STEP);
		if (n < 0)
			return mlreg_error_set(MLREG_EIO, "cannot read blob for archive");
		if (n == 0) {
			close(a->fd);
			a->fd = -1;
			return 0;
		}
		if (archive_write_data(a->ar, a->step, (size_t)n) != n)
			return mlreg_error_set(MLREG_EIO, "tar stream: %s", archive_error_string(a->ar));
		return 0;
	}
	if (a->next) {
		const cJSON *f = a->next;
		struct archive_entry *e = archive_entry_new();
		uint64_t size;
		int rc;
		a->next = f->next;
		if ((rc = a->r->blobs->ops->open(a->r->blobs, util_json_str(f, "digest"), &a->fd, &size)) < 0) {
			archive_entry_free(e);
			return rc;
		}
		archive_entry_set_pathname(e, util_json_str(f, "path"));
		archive_entry_set_size(e, (la_int64_t)size);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, (mode_t)cJSON_GetObjectItem(f, "mode")->valuedouble);
		archive_entry_set_mtime(e, 0, 0);
		rc = archive_write_header(a->ar, e);
		archive_entry_free(e);
		if (rc != ARCHIVE_OK)
			return mlreg_error_set(MLREG_EIO, "tar stream: %s", archive_error_string(a->ar));
		return 0;
	}
	if (archive_write_close(a->ar) != ARCHIVE_OK)
		return mlreg_error_set(MLREG_EIO, "tar stream: %s", archive_error_string(a->ar));
	a->closed = true;
	return 0;
}

int64_t reg_archive_read(reg_archive *a, char *buf, size_t max)
{
	size_t n;
	while (a->poff == a->plen && !a->closed) {
		int rc;
		a->poff = a->plen = 0;
		if ((rc = advance(a)) < 0)
			return rc;
	}
	n = a->plen - a->poff;
	if (n > max)
		n = max;
	memcpy(buf, a->pend + a->poff, n);
	a->poff += n;
	return (int64_t)n;
}

void reg_archive_free(reg_archive *a)
{
	if (!a)
		return;
	if (a->fd >= 0)
		close(a->fd);
	if (a->ar)
		archive_write_free(a->ar);
	cJSON_Delete(a->version);
	free(a->pend);
	free(a->step);
	free(a);
}

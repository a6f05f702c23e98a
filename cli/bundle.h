/*
 * bundle.h - mlreg bundles (docs/bundles.md): a tar holding mlreg-bundle.json
 * (the index), optionally mlreg-bundle.sig, and blobs/sha256/<hex>.
 *
 * The reader is the part that touches outside input: it streams the archive
 * through libarchive and never lets an entry name choose a path on disk.
 * Only regular files named exactly as above are taken; blobs are written
 * into a private folder under names made from the validated digest and
 * hashed while read.  Limits stop archives that are too big, too many or
 * too compressed while they are read.  No network here, so the fuzz target
 * runs the very code `mlreg import` runs.
 */
#ifndef MLREG_CLI_BUNDLE_H
#define MLREG_CLI_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#define CLI_BUNDLE_INDEX "mlreg-bundle.json"
#define CLI_BUNDLE_SIG "mlreg-bundle.sig"

typedef struct {
	uint64_t max_entries;    /* archive entries (--max-entries) */
	uint64_t max_size;       /* uncompressed bytes of all entries (--max-size) */
	uint64_t max_entry_size; /* bytes of one entry (--max-entry-size) */
	uint64_t max_ratio;      /* uncompressed : compressed bytes read (--max-ratio) */
	uint64_t max_index;      /* bytes of mlreg-bundle.json (--max-index) */
} cli_bundle_limits;

/* The documented defaults: 100000 entries, 64 GiB in all, 16 GiB per
 * entry, ratio 200, index 64 MiB. */
void cli_bundle_limits_default(cli_bundle_limits *l);

typedef struct cli_bundle cli_bundle;

/* Read a bundle from fd (or from memory) into a new private folder (0700)
 * made with mkdtemp under tmp_parent.  Returns 0, or: MLREG_EINVALID for an
 * entry that is not allowed (link, device, folder, other name, '..',
 * absolute path, repeated entry) or an archive libarchive cannot read;
 * MLREG_ETOOBIG past a limit; MLREG_EINTEGRITY for a blob whose bytes do not
 * hash to its name; MLREG_EIO.  The message names the entry.  On failure
 * the folder is already removed; on success cli_bundle_free() removes it. */
int cli_bundle_read_fd(int fd, const cli_bundle_limits *lim, const char *tmp_parent, cli_bundle **out);
int cli_bundle_read_memory(const void *data, size_t len, const cli_bundle_limits *lim, const char *tmp_parent,
			   cli_bundle **out);
/* Check the index against the blobs read: format, every version's model,
 * number, digest, file list (paths vetted, hashing to the digest), its
 * manifest blob and every file blob present with the listed size, no
 * version twice, no blob that no version needs.  MLREG_EINVALID or
 * MLREG_EINTEGRITY with a message naming the version. */
int cli_bundle_verify(cli_bundle *b);
/* Remove the private folder and free; NULL is a no-op. */
void cli_bundle_free(cli_bundle *b);

/* Borrowed, valid until cli_bundle_free(). */
const cJSON *cli_bundle_index(const cli_bundle *b);
const char *cli_bundle_index_bytes(const cli_bundle *b, size_t *len);
/* The detached signature's bytes, NULL when the bundle has none. */
const char *cli_bundle_sig(const cli_bundle *b, size_t *len);
const char *cli_bundle_dir(const cli_bundle *b);
size_t cli_bundle_blob_count(const cli_bundle *b);
/* "sha256:<hex>" of blob i, its size and the path of its staged copy. */
const char *cli_bundle_blob_digest(const cli_bundle *b, size_t i);
uint64_t cli_bundle_blob_size(const cli_bundle *b, size_t i);
const char *cli_bundle_blob_path(const cli_bundle *b, size_t i);

#endif

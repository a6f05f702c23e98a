/*
 * fetch.h - download a version's files from the registry, verified: the
 * code `mlreg pull` and mlreg-node share.
 *
 * A cli_fetch is made from a version object (GET .../versions/{ref}): its
 * file list is vetted (paths relative without '..', no repeats, no file
 * that is also a folder, valid digests and sizes) and must hash to the
 * version's digest, so the list trusted is the one the digest commits to.
 * cli_fetch_run() then downloads every file (4 at a time) under a folder of
 * the caller's, each hashed while it is written, checked against its size
 * and digest, and fsynced.  Placing the files (pull's DEST, the node's
 * cache) is the caller's business.
 */
#ifndef MLREG_CLI_FETCH_H
#define MLREG_CLI_FETCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "cli/cli.h"
#include "cli/progress.h"

typedef struct cli_fetch cli_fetch;

/* Vet version's file list and check that it hashes to version's "digest".
 * version is borrowed and must outlive *out (the file paths and digests
 * point into it).  Returns 0; MLREG_EINVALID for a bad path, digest, size
 * or mode, a repeated path or a file that is also a folder;
 * MLREG_EINTEGRITY when the list does not hash to the digest; MLREG_EIO
 * when there is no list; MLREG_ENOMEM.  Free with cli_fetch_free(). */
int cli_fetch_plan(const cJSON *version, cli_fetch **out);
/* Free f and its staged paths (not the staged files); NULL is a no-op. */
void cli_fetch_free(cli_fetch *f);

/* The files, sorted by manifest path (byte order); i < cli_fetch_count().
 * Strings are borrowed from the version object, or (staged) owned by f,
 * NULL before cli_fetch_run() placed it. */
size_t cli_fetch_count(const cli_fetch *f);
uint64_t cli_fetch_total(const cli_fetch *f); /* sum of the sizes */
const char *cli_fetch_path(const cli_fetch *f, size_t i);
const char *cli_fetch_digest(const cli_fetch *f, size_t i);
uint64_t cli_fetch_size(const cli_fetch *f, size_t i);
const char *cli_fetch_staged(const cli_fetch *f, size_t i);

/* Download every file of f into root (created when missing; its
 * subfolders too): "<root>/<manifest path>", or with single (one file)
 * "<root>/file".  Files are created with O_EXCL, receive mode 0644 or
 * 0755 (executable in the manifest) less the umask, and are fsynced; the
 * folders are not.  4 downloads run in parallel, each with its own
 * client for cfg (borrowed), retrying a transport failure up to 3 times.
 * progress (may be NULL) counts the bytes; stop (may be NULL) ends the
 * downloads when set.  Call once per f.  Returns 0 when every file is
 * there and matches its size and digest; otherwise the first failure:
 * MLREG_EINTEGRITY (size or digest mismatch, or more bytes than
 * announced), the registry's error, MLREG_EIO, MLREG_ERROR when stopped or
 * interrupted.  Files already written stay: the caller removes root. */
int cli_fetch_run(cli_fetch *f, const cli_config *cfg, const char *root, bool single, cli_progress *progress,
		  const atomic_bool *stop);

#endif

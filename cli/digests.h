/*
 * digests.h - push's local digest cache, like git's index: a file's identity
 * and change times map to its SHA-256, so re-pushing unchanged weights does
 * not read them again; and hashing a file in a way that tells whether the
 * result may be cached.
 */
#ifndef MLREG_CLI_DIGESTS_H
#define MLREG_CLI_DIGESTS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include "util/util.h"

/* What identifies one state of a file: any write changes its ctime (which,
 * unlike mtime, cannot be set back by the user), a replaced file is a new
 * inode. */
typedef struct {
	uint64_t dev, ino, size;
	int64_t mtime_ns, ctime_ns;
} cli_file_stamp;

void cli_file_stamp_from_stat(cli_file_stamp *s, const struct stat *sb);

typedef struct cli_digest_cache cli_digest_cache;

/* Load the cache at path, or at the default path when path is NULL:
 * $XDG_CACHE_HOME/mlreg/digests, else ~/.cache/mlreg/digests.  A missing,
 * unreadable or corrupt file gives an empty cache (it is a cache: losing it
 * only costs hashing).  *out is NULL when there is no place for a cache (no
 * HOME); every function below accepts a NULL cache as "disabled".
 * Returns 0 or MLREG_ENOMEM.  Free with cli_digest_cache_free(). */
int cli_digest_cache_open(cli_digest_cache **out, const char *path);
void cli_digest_cache_free(cli_digest_cache *c);

/* The digest recorded for exactly this stamp (all five fields equal) into
 * digest; false when there is none.  Thread-safe. */
bool cli_digest_cache_get(cli_digest_cache *c, const cli_file_stamp *s, char digest[UTIL_DIGEST_LEN + 1]);
/* Record digest for the stamp, replacing what the same file (device and
 * inode) had.  Only pass stamps cli_digest_file() called cacheable.
 * Thread-safe; nothing is written before cli_digest_cache_save(). */
void cli_digest_cache_put(cli_digest_cache *c, const cli_file_stamp *s, const char *digest);
/* Drop whatever is recorded for the file (device and inode); thread-safe. */
void cli_digest_cache_forget(cli_digest_cache *c, const cli_file_stamp *s);
/* Write the cache back when it changed, merged with what other processes
 * wrote meanwhile and cut to the most recently used 100,000 entries, via a
 * temp file and rename.  Returns 0 or the error (callers ignore it: a cache
 * that cannot be written is only a slower next push). */
int cli_digest_cache_save(cli_digest_cache *c);

/* Hash the file at path into digest and *size.  *stamp is the file as it
 * was when reading began; *cacheable is true when the result may be
 * recorded for that stamp: the file did not change while it was read, it
 * lives on a local filesystem whose ctime we trust, and its ctime is older
 * than the start of the read by at least the timestamp granularity, so any
 * later write gives it a different ctime.  Reads through a fd of its own.
 * With stop non-NULL, returns MLREG_ERROR ("stopped") once *stop is set.
 * Returns 0, MLREG_ENOTFOUND/MLREG_EIO when the file cannot be read, or
 * MLREG_ENOMEM. */
int cli_digest_file(const char *path, char digest[UTIL_DIGEST_LEN + 1], uint64_t *size, cli_file_stamp *stamp,
		    bool *cacheable, const atomic_bool *stop);

#endif

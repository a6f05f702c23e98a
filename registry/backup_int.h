/*
 * backup_int.h - the file steps registry/backup.c and registry/restore.c
 * share (backup_info.c): open a path inside a folder without following
 * any link, and copy bytes into a folder while hashing them.
 */
#ifndef MLREG_REGISTRY_BACKUP_INT_H
#define MLREG_REGISTRY_BACKUP_INT_H

#include <sys/types.h>
#include "registry/backup.h"

/* Open rel ('/'-separated, no "..") under the folder dirfd, refusing a
 * symbolic link at any step (MLREG_EINTEGRITY, as for anything that is not
 * a regular file, or a folder when want_dir).  MLREG_ENOTFOUND when a step
 * is missing.  *fd is the caller's. */
int bk_open_under(int dirfd, const char *rel, bool want_dir, int *fd);

/* Copy all of src into a new file tmpname (mode) in the folder dstdir,
 * hashing as it goes, fsync it and return its digest and size.  A file or
 * link already named tmpname is replaced (a crash leftover).  On failure
 * tmpname is gone.  The caller renames it into place. */
int bk_copy_hashed(int src, int dstdir, const char *tmpname, mode_t mode, char digest[UTIL_DIGEST_LEN + 1],
		   uint64_t *size);

/* fsync the folder open as dirfd. */
int bk_fsync_fd(int dirfd, const char *what);

#endif

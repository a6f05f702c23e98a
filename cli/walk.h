/*
 * walk.h - the walk over a file or folder that push uses for a model's
 * files and for a --dataset folder, so both follow one set of rules.
 */
#ifndef MLREG_CLI_WALK_H
#define MLREG_CLI_WALK_H

#include <sys/stat.h>

/* Called once per regular file: abs is its path on disk, rel its manifest
 * path ('/'-separated, relative to the walked folder, already checked with
 * util_manifest_path_valid), sb its lstat.  All three are borrowed for the
 * call.  Returns 0 or a negative MLREG_E* code, which stops the walk. */
typedef int (*cli_walk_fn)(void *arg, const char *abs, const char *rel, const struct stat *sb);

/* Walk path.  A folder is walked recursively, names in byte order, so two
 * walks of one tree call fn in the same order; a single regular file is one
 * call with rel = its basename.  Only regular files and folders are
 * accepted: a symbolic link (PATH itself included: links are never
 * followed), device, FIFO or socket stops the walk with MLREG_EINVALID
 * "cannot <verb> 'X': it is a symbolic link (only regular files and folders
 * are <done>)", as does a name that is not a valid manifest path and a
 * folder holding no file at all.  verb and done are the words of those
 * messages ("push", "pushed").  Returns 0, fn's error, MLREG_EIO when
 * something cannot be read, MLREG_ENOMEM. */
int cli_walk(const char *path, const char *verb, const char *done, cli_walk_fn fn, void *arg);

#endif

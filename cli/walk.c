/*
 * walk.c - the one walk over a file or folder behind `mlreg push`: a
 * model's files, and the folders given to push's --dataset, whose digest is
 * that of the canonical manifest of their files.  One walk for both means
 * one set of rules for what a tree may hold.
 *
 * Only regular files and folders are taken, and nothing is skipped
 * silently: a symbolic link (even one pointing inside the tree: a manifest
 * records files, not links, and following links would let a tree reach
 * outside itself), a device, FIFO or socket, or a name that cannot be a
 * manifest path stops the walk with a message naming it.  Names are
 * visited in byte order so that the walk, and with it any error, is the
 * same on every run.  Recursion depth follows the folder depth, which
 * PATH_MAX bounds in practice.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cli/walk.h"
#include "util/util.h"

typedef struct {
	const char *verb, *done;
	cli_walk_fn fn;
	void *arg;
	size_t files;
} walk_state;

static const char *kind_of(mode_t m)
{
	if (S_ISLNK(m))
		return "a symbolic link";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISCHR(m) || S_ISBLK(m))
		return "a device";
	return "not a regular file";
}

static int refuse(const walk_state *w, const char *abs, mode_t m)
{
	return mlreg_error_set(MLREG_EINVALID, "cannot %s '%s': it is %s (only regular files and folders are %s)",
			       w->verb, abs, kind_of(m), w->done);
}

static int file(walk_state *w, const char *abs, const char *rel, const struct stat *sb)
{
	if (!util_manifest_path_valid(rel))
		return mlreg_error_set(MLREG_EINVALID, "cannot %s '%s': the name is not a valid manifest path", w->verb,
				       abs);
	w->files++;
	return w->fn(w->arg, abs, rel, sb);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every entry under abs (manifest prefix rel, NULL at the top). */
static int walk(walk_state *w, const char *abs, const char *rel)
{
	DIR *d = opendir(abs);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	util_buf ca, cr;
	int error = 0;

	util_buf_init(&ca, 1 << 16);
	util_buf_init(&cr, 1 << 16);
	if (!d)
		return mlreg_error_set(MLREG_EIO, "cannot open folder '%s': %s", abs, strerror(errno));
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 32;
			char **p = realloc(names, ncap * sizeof(*p));
			if (!p) {
				error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
				goto done;
			}
			names = p;
			cap = ncap;
		}
		if (!(names[n] = strdup(de->d_name))) {
			error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
			goto done;
		}
		n++;
	}
	if (n > 1) /* names is NULL for an empty folder */
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		struct stat sb;
		util_buf_release(&ca);
		util_buf_release(&cr);
		if ((error = util_buf_printf(&ca, "%s/%s", abs, names[i])) < 0 ||
		    (error = util_buf_printf(&cr, "%s%s%s", rel ? rel : "", rel ? "/" : "", names[i])) < 0)
			goto done;
		if (lstat(ca.ptr, &sb) < 0) {
			error = mlreg_error_set(MLREG_EIO, "cannot read '%s': %s", ca.ptr, strerror(errno));
			goto done;
		}
		if (S_ISDIR(sb.st_mode))
			error = walk(w, ca.ptr, cr.ptr);
		else if (S_ISREG(sb.st_mode))
			error = file(w, ca.ptr, cr.ptr, &sb);
		else
			error = refuse(w, ca.ptr, sb.st_mode);
		if (error < 0)
			goto done;
	}
done:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	util_buf_release(&ca);
	util_buf_release(&cr);
	return error;
}

int cli_walk(const char *path, const char *verb, const char *done, cli_walk_fn fn, void *arg)
{
	walk_state w = {verb, done, fn, arg, 0};
	struct stat sb;
	const char *base;
	if (lstat(path, &sb) < 0)
		return mlreg_error_set(MLREG_EIO, "cannot %s '%s': %s", verb, path, strerror(errno));
	if (S_ISDIR(sb.st_mode)) {
		int error = walk(&w, path, NULL);
		if (error == 0 && w.files == 0)
			return mlreg_error_set(MLREG_EINVALID, "cannot %s '%s': the folder holds no files", verb, path);
		return error;
	}
	if (!S_ISREG(sb.st_mode))
		return refuse(&w, path, sb.st_mode);
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	return file(&w, path, base, &sb);
}

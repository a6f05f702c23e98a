/*
 * fs.c - durable filesystem steps: make folders, fsync them, write a file
 * atomically (temp + fsync + rename + fsync folder), read a bounded file.
 *
 * The content-addressed store and every file the CLI writes for a pull rely
 * on these; a crash at any point leaves either the old state or the new one.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "util.h"

int util_mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);
	if (len == 0 || len >= sizeof(tmp))
		return mlreg_error_set(MLREG_EINVALID, "bad path '%s'", path);
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return mlreg_error_set(MLREG_EIO, "cannot create '%s': %s", tmp, strerror(errno));
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return mlreg_error_set(MLREG_EIO, "cannot create '%s': %s", tmp, strerror(errno));
	return 0;
}

int util_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return mlreg_error_set(MLREG_EIO, "cannot open folder '%s': %s", dir, strerror(errno));
	if (fsync(fd) < 0) {
		int e = errno;
		close(fd);
		return mlreg_error_set(MLREG_EIO, "cannot fsync folder '%s': %s", dir, strerror(e));
	}
	close(fd);
	return 0;
}

int util_fsync_parent(const char *path)
{
	char tmp[PATH_MAX];
	char *slash;
	if (strlen(path) >= sizeof(tmp))
		return mlreg_error_set(MLREG_EINVALID, "path too long");
	strcpy(tmp, path);
	slash = strrchr(tmp, '/');
	if (!slash)
		return util_fsync_dir(".");
	if (slash == tmp)
		return util_fsync_dir("/");
	*slash = '\0';
	return util_fsync_dir(tmp);
}

int util_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return mlreg_error_set(MLREG_EIO, "write failed: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int util_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX];
	int fd, rc;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return mlreg_error_set(MLREG_EINVALID, "path too long");
	/* a file or link already in the temp file's place (a crash leftover, or
	 * planted) would lend the secret its mode or its target: start anew */
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return mlreg_error_set(MLREG_EIO, "cannot create '%s': %s", tmp, strerror(errno));
	if ((rc = util_write_all(fd, data, len)) < 0 || (fsync(fd) < 0 && (rc = mlreg_error_set(MLREG_EIO, "fsync failed: %s", strerror(errno))) < 0)) {
		close(fd);
		unlink(tmp);
		return rc;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		rc = mlreg_error_set(MLREG_EIO, "cannot rename to '%s': %s", path, strerror(errno));
		unlink(tmp);
		return rc;
	}
	return util_fsync_parent(path);
}

int util_read_fd(int fd, size_t max, char **out, size_t *len)
{
	util_buf b;
	char chunk[65536];
	int rc = 0;
	util_buf_init(&b, max);
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = mlreg_error_set(MLREG_EIO, "read failed: %s", strerror(errno));
			break;
		}
		if (n == 0)
			break;
		if ((rc = util_buf_put(&b, chunk, (size_t)n)) < 0) {
			rc = mlreg_error_set(MLREG_ETOOBIG, "more than %zu bytes", max);
			break;
		}
	}
	if (rc < 0) {
		util_buf_release(&b);
		return rc;
	}
	if (len)
		*len = b.len;
	*out = util_buf_detach(&b);
	return 0;
}

int util_read_file(const char *path, size_t max, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;
	if (fd < 0)
		return mlreg_error_set(errno == ENOENT ? MLREG_ENOTFOUND : MLREG_EIO,
				       "cannot open '%s': %s", path, strerror(errno));
	rc = util_read_fd(fd, max, out, len);
	close(fd);
	if (rc < 0)
		return mlreg_error_set(rc, "cannot read '%s': %s", path, mlreg_error_last());
	return 0;
}

static int rm_at(int dfd, const char *name)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	if (S_ISDIR(st.st_mode)) {
		int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		DIR *d;
		struct dirent *de;
		if (fd < 0)
			return -1;
		d = fdopendir(fd);
		if (!d) {
			close(fd);
			return -1;
		}
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			rm_at(dirfd(d), de->d_name);
		}
		closedir(d);
		return unlinkat(dfd, name, AT_REMOVEDIR);
	}
	return unlinkat(dfd, name, 0);
}

int util_rm_rf(const char *path)
{
	if (rm_at(AT_FDCWD, path) < 0)
		return mlreg_error_set(MLREG_EIO, "cannot remove '%s': %s", path, strerror(errno));
	return 0;
}

int util_read_token_file(const char *path, char **out)
{
	char *data = NULL, *b, *e;
	size_t len = 0;
	int rc = util_read_file(path, 4096, &data, &len);
	if (rc < 0)
		return rc;
	b = data;
	e = data + len;
	while (b < e && (*b == ' ' || *b == '\t' || *b == '\n' || *b == '\r'))
		b++;
	while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		e--;
	*e = '\0';
	memmove(data, b, (size_t)(e - b) + 1);
	for (const unsigned char *p = (const unsigned char *)data; *p; p++)
		if (*p <= 0x20 || *p == 0x7f) {
			free(data);
			return mlreg_error_set(MLREG_EINVALID, "the token in '%s' contains spaces or control characters", path);
		}
	if (!*data) {
		free(data);
		return mlreg_error_set(MLREG_EINVALID, "'%s' holds no token", path);
	}
	*out = data;
	return 0;
}

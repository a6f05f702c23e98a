/*
 * testutil.h - the few helpers every unit test file needs: cmocka's
 * include order, a private temporary folder per test, and small file
 * helpers.  Header-only (static inline) because tests/CMakeLists.txt builds
 * each test_*.c on its own; nothing here knows about mlreg's internals, so
 * the tests exercise the real components rather than stand-ins.
 */
#ifndef MLREG_TESTS_UNIT_TESTUTIL_H
#define MLREG_TESTS_UNIT_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

/* Fresh folder under $TMPDIR (or /tmp); caller removes it with util_rm_rf. */
static inline char *tu_mkdtemp(void)
{
	const char *base = getenv("TMPDIR");
	char tmpl[512];
	char *dir;
	snprintf(tmpl, sizeof(tmpl), "%s/mlreg-unit-XXXXXX", base && *base ? base : "/tmp");
	dir = mkdtemp(tmpl);
	assert_non_null(dir);
	return strdup(dir);
}

static inline void tu_rmdir(char *dir)
{
	if (!dir)
		return;
	util_rm_rf(dir);
	free(dir);
}

/* Write bytes to a path, replacing it; fails the test on error. */
static inline void tu_write(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static inline bool tu_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* Number of entries in a folder other than "." and "..". */
static inline int tu_count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* A string of n copies of c (heap, caller frees). */
static inline char *tu_repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

#endif

/*
 * fuzz_bundle.c - libFuzzer target for the bundle reader (cli/bundle_read.c):
 * the archive `mlreg import` takes from outside, read and checked with no
 * network, exactly as the command does before anything is uploaded.
 *
 * Whatever the bytes: either the reader refuses them and its private folder
 * is gone, or every blob it kept sits inside that folder under its own hex
 * name and hashes to it; and after cli_bundle_free() the parent folder is
 * empty again - nothing was written anywhere else.  Anything else aborts.
 * Limits are small so one input cannot take long.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/bundle.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char parent[64];

static bool parent_empty(void)
{
	DIR *d = opendir(parent);
	struct dirent *e;
	bool empty = true;
	if (!d)
		abort();
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			empty = false;
	closedir(d);
	return empty;
}

static void remove_parent(void)
{
	rmdir(parent);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cli_bundle_limits lim;
	cli_bundle *b = NULL;
	if (!parent[0]) {
		snprintf(parent, sizeof(parent), "/tmp/mlreg-fuzz-bundle.XXXXXX");
		if (!mkdtemp(parent))
			abort();
		atexit(remove_parent);
	}
	cli_bundle_limits_default(&lim);
	lim.max_size = 16 << 20;
	lim.max_entry_size = 8 << 20;
	lim.max_index = 1 << 20;
	lim.max_entries = 1000;
	if (cli_bundle_read_memory(data, size, &lim, parent, &b) == 0) {
		const char *dir = cli_bundle_dir(b);
		for (size_t i = 0; i < cli_bundle_blob_count(b); i++) {
			const char *p = cli_bundle_blob_path(b, i), *d = cli_bundle_blob_digest(b, i);
			char got[UTIL_DIGEST_LEN + 1];
			uint64_t n;
			if (strncmp(p, dir, strlen(dir)) != 0 || p[strlen(dir)] != '/' || strcmp(p + strlen(dir) + 1, d + 7) != 0)
				abort();
			if (util_sha256_file(p, got, &n) < 0 || strcmp(got, d) != 0 || n != cli_bundle_blob_size(b, i))
				abort();
		}
		(void)cli_bundle_verify(b);
		cli_bundle_free(b);
	}
	if (!parent_empty())
		abort();
	return 0;
}

/*
 * fuzz_digest_cache.c - the CLI's digest cache file (cli/digests.c).
 *
 * The cache is a file in the user's home that anything may have damaged, so
 * its loader is a parser of outside input.  Each input is tried twice: as the
 * whole file, and wrapped in a valid header and checksum trailer so that the
 * line parser is reached and its entries are actually accepted.  Properties:
 * no crash, and a lookup after loading never returns something that is not a
 * well-formed digest.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/digests.h"
#include "util/util.h"

static char path[64];

static void load_and_probe(void)
{
	cli_digest_cache *c = NULL;
	cli_file_stamp s;
	char d[UTIL_DIGEST_LEN + 1];
	if (cli_digest_cache_open(&c, path) < 0 || !c)
		return;
	memset(&s, 0, sizeof(s));
	for (uint64_t ino = 0; ino < 4; ino++) {
		s.ino = ino;
		if (cli_digest_cache_get(c, &s, d) && !util_digest_valid(d))
			abort();
	}
	cli_digest_cache_free(c);
}

static void write_file(const void *a, size_t alen, const void *b, size_t blen, const char *trailer)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		abort();
	fwrite(a, 1, alen, f);
	fwrite(b, 1, blen, f);
	if (trailer)
		fputs(trailer, f);
	fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char header[] = "mlreg-digest-cache 1\n";
	char hex[65], trailer[80];
	util_sha256 *h;
	char dg[UTIL_DIGEST_LEN + 1];
	if (!path[0])
		snprintf(path, sizeof(path), "/tmp/mlreg-fuzz-cache.%d", (int)getpid());

	write_file(data, size, "", 0, NULL);
	load_and_probe();

	h = util_sha256_new();
	util_sha256_update(h, header, strlen(header));
	util_sha256_update(h, data, size);
	util_sha256_final(h, dg);
	memcpy(hex, dg + 7, 65);
	snprintf(trailer, sizeof(trailer), "end %s\n", hex);
	write_file(header, strlen(header), data, size, trailer);
	load_and_probe();
	unlink(path);
	return 0;
}

/*
 * fuzz_range.c - the Range and Content-Range parsers (util/range.c).
 *
 * Properties: a satisfiable range always lies inside the resource, and a
 * chunk's range is never negative or reversed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	uint64_t from = 0, len = 0, total;
	int64_t start = 0, end = 0;
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	/* the resource size comes from the first bytes, so sizes vary too */
	total = size >= 1 ? (uint64_t)data[0] * 977u : 0;
	if (util_range_parse(s, total, &from, &len) == 1 && (len == 0 || from >= total || len > total - from))
		abort();
	if (util_content_range_parse(s, &start, &end) == 0 && (start < 0 || end < start))
		abort();
	free(s);
	return 0;
}

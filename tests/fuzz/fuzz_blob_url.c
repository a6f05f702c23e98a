/*
 * fuzz_blob_url.c - the signed blob URL check (util/blob_url.c): the
 * `expires` and `sig` query values and the digest from the path, all
 * outside input.
 *
 * The input is three lines: digest, expires, sig.  Properties: a check
 * that passes means the values are exactly what signing that digest with
 * that expiry gives (canonical decimal, later than now); a freshly signed
 * URL for a valid digest always passes and stops passing when any
 * character of its signature changes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/blob_url.h"
#include "util/util.h"

static const char key[] = "fuzz key fuzz key fuzz key fuzz!";
#define NOW 1700000000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), *parts[3] = {NULL, NULL, NULL}, *p, want[65], num[32];
	int n = 0;
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	for (p = s; n < 3; n++) {
		parts[n] = p;
		if (!(p = strchr(p, '\n')))
			break;
		*p++ = '\0';
	}
	if (util_blob_url_verify(key, 32, parts[0], parts[1], parts[2], NOW) == 0) {
		long long e = strtoll(parts[1], NULL, 10);
		snprintf(num, sizeof(num), "%lld", e);
		if (e <= NOW || strcmp(num, parts[1]) != 0 || util_blob_url_sign(key, 32, parts[0], e, want) < 0 ||
		    strcmp(want, parts[2]) != 0)
			abort();
	}
	if (parts[0] && util_digest_valid(parts[0])) {
		int64_t e = NOW + 1 + (int64_t)(size % 100000);
		if (util_blob_url_sign(key, 32, parts[0], e, want) < 0)
			abort();
		snprintf(num, sizeof(num), "%lld", (long long)e);
		if (util_blob_url_verify(key, 32, parts[0], num, want, NOW) != 0)
			abort();
		want[size % 64] = want[size % 64] == '0' ? '1' : '0';
		if (util_blob_url_verify(key, 32, parts[0], num, want, NOW) == 0)
			abort();
		if (util_blob_url_verify(key, 32, parts[0], num, want, e) == 0) /* expired */
			abort();
	}
	free(s);
	return 0;
}

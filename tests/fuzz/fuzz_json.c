/*
 * fuzz_json.c - libFuzzer target for util_json_parse (with the depth cap)
 * and util_json_canonical.
 *
 * Whatever parses and encodes canonically must parse again, within the
 * same depth limit, and encode to the very same bytes: the canonical form
 * is a fixpoint, or hashes over it would not be reproducible.  The raw
 * input is passed without a terminating NUL so out-of-bounds reads in our
 * code are visible to AddressSanitizer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *v = NULL, *w = NULL;
	util_buf a, b;
	int rc;
	if (size > (1 << 20))
		return 0;
	if (util_json_parse((const char *)data, size, UTIL_JSON_MAX_DEPTH, &v) != 0)
		return 0;
	util_buf_init(&a, (size_t)1 << 24);
	util_buf_init(&b, (size_t)1 << 24);
	rc = util_json_canonical(v, &a);
	if (rc == 0) {
		if (a.len == 0 || strlen(a.ptr) != a.len) /* no NUL byte inside canonical text */
			abort();
		if (util_json_parse(a.ptr, a.len, UTIL_JSON_MAX_DEPTH, &w) != 0)
			abort();
		if (util_json_canonical(w, &b) != 0 || a.len != b.len || memcmp(a.ptr, b.ptr, a.len) != 0)
			abort();
	} else if (rc != MLREG_EINVALID && rc != MLREG_ETOOBIG) {
		abort();
	}
	cJSON_Delete(v);
	cJSON_Delete(w);
	util_buf_release(&a);
	util_buf_release(&b);
	return 0;
}

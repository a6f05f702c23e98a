/*
 * fuzz_fetch_plan.c - libFuzzer target for cli_fetch_plan (cli/fetch.c):
 * the version object a registry sends to `mlreg pull` and to mlreg-node,
 * which must not be trusted with the local filesystem.
 *
 * Whatever the bytes, the plan either refuses them or holds only files with
 * valid relative paths (no '..', not absolute), valid digests, no path
 * twice and no file that is also another file's folder: anything else
 * aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cli/fetch.h"
#include "util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *v = NULL;
	cli_fetch *f = NULL;
	if (util_json_parse((const char *)data, size, UTIL_JSON_MAX_DEPTH, &v) < 0)
		return 0;
	if (cli_fetch_plan(v, &f) == 0) {
		size_t n = cli_fetch_count(f);
		for (size_t i = 0; i < n; i++) {
			const char *p = cli_fetch_path(f, i);
			size_t len = strlen(p);
			if (!util_manifest_path_valid(p) || !util_digest_valid(cli_fetch_digest(f, i)))
				abort();
			if (i > 0 && strcmp(cli_fetch_path(f, i - 1), p) >= 0)
				abort(); /* sorted, no repeats */
			for (size_t k = 0; k < n; k++) { /* no file is another's folder */
				const char *q = cli_fetch_path(f, k);
				if (k != i && strncmp(q, p, len) == 0 && q[len] == '/')
					abort();
			}
		}
		cli_fetch_free(f);
	}
	cJSON_Delete(v);
	return 0;
}

/*
 * fuzz_manifest.c - libFuzzer target for reg_manifest_decode, the parser
 * of manifest bytes as stored and as served to nodes.
 *
 * A manifest that decodes must survive encode -> decode -> encode with the
 * same bytes both times: the version digest is the hash of those bytes, so
 * any instability would make one version have two identities.  Every file
 * in a decoded manifest must also carry a safe path and a valid digest,
 * and no path may be both a file and a folder (schema/canonical.md).
 * The raw input is passed without a terminating NUL so out-of-bounds reads
 * are visible to AddressSanitizer.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "registry/registry.h"
#include "util/json.h"

/* True when a names a folder that b lies inside ("a" and "a/b"). */
static bool is_folder_of(const char *a, const char *b)
{
	size_t n = strlen(a);
	return strncmp(a, b, n) == 0 && b[n] == '/';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *files = NULL, *files2 = NULL;
	char *enc = NULL, *enc2 = NULL;
	size_t len = 0, len2 = 0;
	if (size > (1 << 20))
		return 0;
	if (reg_manifest_decode((const char *)data, size, &files) != 0)
		return 0;
	for (const cJSON *f = files->child; f; f = f->next)
		if (!util_manifest_path_valid(util_json_str(f, "path")) || !util_digest_valid(util_json_str(f, "digest")))
			abort();
	if (cJSON_GetArraySize(files) <= 2000)
		for (const cJSON *f = files->child; f; f = f->next)
			for (const cJSON *g = f->next; g; g = g->next) {
				const char *a = util_json_str(f, "path"), *b = util_json_str(g, "path");
				if (!strcmp(a, b) || is_folder_of(a, b) || is_folder_of(b, a))
					abort();
			}
	if (reg_manifest_encode(files, &enc, &len) != 0)
		abort();
	if (reg_manifest_decode(enc, len, &files2) != 0)
		abort();
	if (reg_manifest_encode(files2, &enc2, &len2) != 0)
		abort();
	if (len != len2 || memcmp(enc, enc2, len) != 0)
		abort();
	if (cJSON_GetArraySize(files) != cJSON_GetArraySize(files2))
		abort();
	free(enc);
	free(enc2);
	cJSON_Delete(files);
	cJSON_Delete(files2);
	return 0;
}

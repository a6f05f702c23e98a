/*
 * fuzz_digest.c - libFuzzer target for the name and string validators:
 * util_digest_valid, util_model_name_valid, util_manifest_path_valid and
 * util_key_valid, all fed the input as one C string.
 *
 * Each accepted string is re-checked against an independent, deliberately
 * naive statement of the documented grammar (util/util.h), so a validator
 * that lets through what the docs forbid aborts rather than passing.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "util/util.h"

static bool all_of(const char *s, const char *set)
{
	return strspn(s, set) == strlen(s);
}

#define LOWER_ALNUM "abcdefghijklmnopqrstuvwxyz0123456789"
#define ALNUM LOWER_ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	size_t n;
	if (size > 8192)
		return 0;
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	n = strlen(s);

	if (util_digest_valid(s)) {
		if (n != UTIL_DIGEST_LEN || strncmp(s, "sha256:", 7) != 0 || !all_of(s + 7, "0123456789abcdef"))
			abort();
	}
	if (util_model_name_valid(s)) {
		if (n == 0 || n > UTIL_NAME_MAX || !all_of(s, LOWER_ALNUM "._-/") || strstr(s, "//") || s[0] == '/' ||
		    s[n - 1] == '/' || strstr(s, ".."))
			abort();
		/* every model name is also a safe relative path */
		if (!util_manifest_path_valid(s))
			abort();
	}
	if (util_key_valid(s)) {
		if (n == 0 || n > 250 || !all_of(s, ALNUM "_.-/") || !strchr(ALNUM "_", s[0]))
			abort();
	}
	if (util_manifest_path_valid(s)) {
		if (n == 0 || n > 4096 || s[0] == '/' || s[n - 1] == '/' || strstr(s, "//") || strchr(s, '\\') ||
		    !strcmp(s, "..") || !strncmp(s, "../", 3) || strstr(s, "/../") ||
		    (n >= 3 && !strcmp(s + n - 3, "/..")) || !strcmp(s, ".") || !strncmp(s, "./", 2) ||
		    strstr(s, "/./") || (n >= 2 && !strcmp(s + n - 2, "/.")))
			abort();
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
				abort();
	}
	if (util_label_name_valid(s)) {
		if (n == 0 || n > 63 || !all_of(s, LOWER_ALNUM "-") || s[0] < 'a' || s[0] > 'z' || !strcmp(s, "latest"))
			abort();
	}
	free(s);
	return 0;
}

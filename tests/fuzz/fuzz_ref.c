/*
 * fuzz_ref.c - libFuzzer target for util_ref_parse, the parser of every
 * MODEL:VERSION / MODEL:STAGE / MODEL@ALIAS a user types or a URL carries.
 *
 * Beyond "does not crash", an accepted reference must satisfy the grammar
 * it was accepted under, and printing it back in canonical form must parse
 * to the same reference; either failure aborts so libFuzzer keeps the input.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, again[UTIL_NAME_MAX + 96];
	util_ref r, r2;
	if (size > 4096)
		return 0;
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (util_ref_parse(s, &r) == 0) {
		if (!util_model_name_valid(r.model))
			abort();
		switch (r.kind) {
		case UTIL_REF_VERSION:
			if (r.version < 1)
				abort();
			snprintf(again, sizeof(again), "%s:%" PRId64, r.model, r.version);
			break;
		case UTIL_REF_STAGE:
			if (!util_label_name_valid(r.label))
				abort();
			snprintf(again, sizeof(again), "%s:%s", r.model, r.label);
			break;
		case UTIL_REF_ALIAS:
			if (!util_label_name_valid(r.label))
				abort();
			snprintf(again, sizeof(again), "%s@%s", r.model, r.label);
			break;
		default:
			abort();
		}
		if (util_ref_parse(again, &r2) != 0 || r2.kind != r.kind || strcmp(r2.model, r.model) != 0 ||
		    r2.version != r.version || strcmp(r2.label, r.label) != 0)
			abort();
	}
	free(s);
	return 0;
}

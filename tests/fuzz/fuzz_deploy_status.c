/*
 * fuzz_deploy_status.c - libFuzzer target for the CLI's rendering of a
 * deployment status (cli_deploy_print_status in cli/deploy_common.c), the
 * answer `mlreg deploy status`, `deploy create` and the rollout verbs print.
 *
 * The status comes from the registry, and its messages, node names, states
 * and analysis from the reconciler and the nodes, so a hostile node writes
 * into it.  The renderer promises that such text cannot move the
 * operator's cursor: every control character becomes '?'.  The target
 * renders any JSON into memory and checks that the only control character
 * in the output is the renderer's own newline.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "cli/deploy_common.h"
#include "util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *st = NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *out;
	if (size > 65536 || util_json_parse((const char *)data, size, UTIL_JSON_MAX_DEPTH, &st) != 0)
		return 0;
	if (!(out = open_memstream(&text, &len)))
		abort();
	cli_deploy_print_status(st, out);
	if (fclose(out) != 0)
		abort();
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)text[i] < 0x20 && text[i] != '\n') || text[i] == 0x7f)
			abort();
	free(text);
	cJSON_Delete(st);
	return 0;
}

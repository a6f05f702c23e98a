/*
 * fuzz_lineage_render.c - the renderers of `mlreg lineage`
 * (cli/lineage_render.c), which turn the registry's lineage answer into a
 * text tree and a Graphviz digraph.
 *
 * The answer is outside input: a registry (or anything posing as one) may
 * send any JSON.  Each input is parsed as JSON and rendered both ways.
 * Properties beyond "no crash": both renderers accept or refuse the same
 * graphs (they share one reading of it; only the output limit may stop
 * one alone); the text has no control character but its newlines and at
 * most one line per node plus one per edge plus two; the DOT output ends
 * with "}" and a newline and never leaves a quoted string open, read with
 * Graphviz's own quoting rules (inside quotes "\\" is a pair and "\""
 * the only escape), so no id or label can break out of its quotes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cli/lineage_render.h"
#include "util/json.h"

#define OUT_MAX ((size_t)1 << 24)

static size_t count(const cJSON *graph, const char *key)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(graph, key), *c;
	size_t n = 0;
	if (cJSON_IsArray(a))
		cJSON_ArrayForEach(c, a)
			n++;
	return n;
}

static void check_text(const cJSON *graph, const util_buf *b)
{
	size_t lines = 0;
	for (size_t i = 0; i < b->len; i++) {
		unsigned char c = (unsigned char)b->ptr[i];
		if (c == '\n')
			lines++;
		else if (c < 0x20 || c == 0x7f)
			abort();
	}
	if (b->len && b->ptr[b->len - 1] != '\n')
		abort();
	if (lines > count(graph, "nodes") + count(graph, "edges") + 2)
		abort();
}

static void check_dot(const util_buf *b)
{
	bool quoted = false;
	if (b->len < 2 || memcmp(b->ptr + b->len - 2, "}\n", 2) != 0 || strncmp(b->ptr, "digraph lineage {", 17) != 0)
		abort();
	for (size_t i = 0; i < b->len; i++) {
		char c = b->ptr[i];
		if (!quoted) {
			if (c == '"')
				quoted = true;
		} else if (c == '\\' && i + 1 < b->len && (b->ptr[i + 1] == '\\' || b->ptr[i + 1] == '"')) {
			i++;
		} else if (c == '\\' && i + 1 < b->len && b->ptr[i + 1] == '\n') {
			abort(); /* a line continuation would eat part of an id */
		} else if (c == '"') {
			quoted = false;
		}
	}
	if (quoted)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *graph = NULL;
	util_buf text, dot;
	int rt, rd;
	if (size > (1 << 20) || util_json_parse((const char *)data, size, UTIL_JSON_MAX_DEPTH, &graph) < 0)
		return 0;
	util_buf_init(&text, OUT_MAX);
	util_buf_init(&dot, OUT_MAX);
	rt = cli_lineage_render_text(graph, &text);
	rd = cli_lineage_render_dot(graph, &dot);
	if ((rt == 0) != (rd == 0) && rt != MLREG_ETOOBIG && rd != MLREG_ETOOBIG)
		abort();
	if (rt == 0)
		check_text(graph, &text);
	if (rd == 0)
		check_dot(&dot);
	util_buf_release(&text);
	util_buf_release(&dot);
	cJSON_Delete(graph);
	return 0;
}

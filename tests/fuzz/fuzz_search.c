/*
 * fuzz_search.c - libFuzzer target for the query of GET versions (and of
 * GET models/{name}/versions): filters, tag conditions, order_by, status,
 * model, prefix, desc, limit and page_token, run by the real
 * reg_version_search on a real temporary registry.
 *
 * A search turns its query string into SQL, so this is where a query could
 * reach the database as text.  The input is one query argument per line,
 * NAME=VALUE as the API receives it; the target builds the query the way
 * the route does (limit 1 to 1000, page_token >= 0, tag=KEY=VALUE with a
 * valid key) and checks: the search either answers or refuses with "bad
 * request" (a SQL error would be any other code); an answer holds no more
 * than limit versions, only of the status (else no deleted one), the model
 * and the prefix asked for.  The registry holds versions of two models
 * with metrics, params and tags, one deprecated and one deleted, so the
 * filters have something to match.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry/registry.h"
#include "fuzz_registry.h"
#include "registry/store.h"
#include "util/json.h"

static reg_registry *reg;
static reg_principal admin = {.principal = "fuzz-admin", .token_name = "fuzz", .role = REG_ROLE_ADMIN};

static void push(const char *model, const char *extra)
{
	char body[1024];
	cJSON *b, *out = NULL;
	int status;
	snprintf(body, sizeof(body),
		 "{\"files\":[{\"path\":\"m.bin\",\"size\":3,\"digest\":\"sha256:"
		 "e67d23e7820c49a8051dac2831f38290f5e72f66c8db5079eeb60d82f14894c0\"}]%s}",
		 extra);
	b = cJSON_Parse(body);
	if (!b || reg_version_create(reg, &admin, model, b, NULL, &status, &out, NULL) != 0)
		abort();
	cJSON_Delete(b);
	cJSON_Delete(out);
}

static void setup(void)
{
	reg_blob_writer *w = NULL;
	char digest[UTIL_DIGEST_LEN + 1];
	uint64_t size;
	cJSON *out = NULL;
	reg = fuzz_registry_open("search");
	if (reg_blob_writer_new(reg, &w) != 0 || reg_blob_writer_write(w, "cfg", 3) != 0 ||
	    reg_blob_writer_commit(w, NULL, digest, &size) != 0)
		abort();
	push("team/fraud", ",\"metrics\":{\"accuracy\":0.9,\"loss\":0.3},\"params\":{\"lr\":\"0.01\"},\"tags\":{\"env\":\"prod\"}");
	push("team/fraud", ",\"metrics\":{\"accuracy\":0.95},\"params\":{\"lr\":\"0.1\",\"opt\":\"adam\"}");
	push("team/fraud", ",\"tags\":{\"env\":\"dev\",\"owner\":\"ml\"}");
	push("vision", ",\"metrics\":{\"accuracy\":0.5,\"f1\":-1e10}");
	push("vision", "");
	if (reg_version_deprecate(reg, &admin, "team/fraud", 2, &out) != 0)
		abort();
	cJSON_Delete(out);
	out = NULL;
	if (reg_version_delete(reg, &admin, "vision", 2, &out) != 0)
		abort();
	cJSON_Delete(out);
}

/* The query as the route builds it; MLREG_EINVALID where it refuses. */
static int build(char *text, reg_search_query *q)
{
	q->limit = 100;
	q->filters = cJSON_CreateArray();
	q->tags = cJSON_CreateObject();
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char *v = strchr(line, '=');
		if (!v)
			continue;
		*v++ = '\0';
		if (!strcmp(line, "filter")) {
			cJSON_AddItemToArray(q->filters, cJSON_CreateString(v));
		} else if (!strcmp(line, "tag")) {
			char *eq = strchr(v, '=');
			if (!eq || eq == v)
				return MLREG_EINVALID;
			*eq = '\0';
			if (!util_key_valid(v))
				return MLREG_EINVALID;
			cJSON_AddStringToObject(q->tags, v, eq + 1);
		} else if (!strcmp(line, "limit")) {
			if (util_parse_i64(v, &q->limit) < 0 || q->limit < 1 || q->limit > 1000)
				return MLREG_EINVALID;
		} else if (!strcmp(line, "page_token")) {
			if (util_parse_i64(v, &q->offset) < 0 || q->offset < 0)
				return MLREG_EINVALID;
		} else if (!strcmp(line, "order_by")) {
			q->order_by = v;
		} else if (!strcmp(line, "status")) {
			q->status = v;
		} else if (!strcmp(line, "model")) {
			q->model = v;
		} else if (!strcmp(line, "prefix")) {
			q->prefix = v;
		} else if (!strcmp(line, "desc")) {
			q->desc = !strcmp(v, "true") || !strcmp(v, "1");
		}
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	reg_search_query q = {0};
	cJSON *out = NULL;
	char *text;
	int rc;
	if (!reg)
		setup();
	/* query strings arrive percent-decoded, as C strings */
	if (size > 8192 || memchr(data, 0, size) || !(text = malloc(size + 1)))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (build(text, &q) == 0) {
		rc = reg_version_search(reg, &q, &out);
		if (rc == 0) {
			const cJSON *v, *list = cJSON_GetObjectItem(out, "versions");
			if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) > q.limit)
				abort();
			cJSON_ArrayForEach(v, list)
			{
				const char *st = util_json_str(v, "status"), *m = util_json_str(v, "model");
				if (!st || !m || (q.status ? strcmp(st, q.status) != 0 : !strcmp(st, "deleted")) ||
				    (q.model && strcmp(m, q.model) != 0) ||
				    (q.prefix && strncmp(m, q.prefix, strlen(q.prefix)) != 0))
					abort();
			}
		} else if (rc != MLREG_EINVALID || out) {
			abort(); /* anything but "bad request" is the database talking */
		}
	}
	cJSON_Delete(out);
	cJSON_Delete(q.filters);
	cJSON_Delete(q.tags);
	free(text);
	return 0;
}

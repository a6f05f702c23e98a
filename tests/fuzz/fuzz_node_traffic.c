/*
 * fuzz_node_traffic.c - libFuzzer target for the body of mlreg-node's
 * traffic route (POST /v2/repository/models/{name}/traffic,
 * {"weights":{"2":90,"3":10},"shadow":"3"|null}), taken through the
 * route's member check and the real node_table_traffic.
 *
 * The weights decide which version answers each inference request, so a
 * body the table accepts must leave a split it can route by: the READY
 * versions' weights sum to exactly 100 and a shadow is READY; a refused
 * body changes nothing.  The table holds model "m" with versions 1 and 2
 * READY, 3 UNAVAILABLE and 4 still LOADING (fake models: the runtime is
 * not what is under test).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "node/node.h"
#include "util/json.h"

static node_table *table;

static void version(const char *ver, int state)
{
	static const char *const digests[] = {
		"sha256:1111111111111111111111111111111111111111111111111111111111111111",
		"sha256:2222222222222222222222222222222222222222222222222222222222222222",
		"sha256:3333333333333333333333333333333333333333333333333333333333333333",
		"sha256:4444444444444444444444444444444444444444444444444444444444444444"};
	node_version *v = NULL;
	if (node_table_begin_load(table, "m", ver, digests[ver[0] - '1'], "m", &v) != 0)
		abort();
	if (state == 2) /* READY */
		node_table_end_load(table, v, calloc(1, sizeof(void *) * 8), NULL);
	else if (state == 1) /* UNAVAILABLE */
		node_table_end_load(table, v, NULL, "broken on purpose");
	/* else left LOADING, its reference held for good */
}

static void setup(void)
{
	if (node_table_new(&table) != 0)
		abort();
	version("1", 2);
	version("2", 2);
	version("3", 1);
	version("4", 0);
}

static char *traffic_text(void)
{
	cJSON *t = node_table_traffic_json(table, "m");
	char *s = t ? cJSON_PrintUnformatted(t) : NULL;
	if (!s)
		abort();
	cJSON_Delete(t);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *body = NULL, *t;
	const cJSON *shadow, *w;
	char *before, *after;
	int rc, sum = 0;
	if (!table)
		setup();
	if (size > 65536 || util_json_parse((const char *)data, size, UTIL_JSON_MAX_DEPTH, &body) != 0)
		return 0;
	before = traffic_text();
	shadow = cJSON_GetObjectItemCaseSensitive(body, "shadow");
	if (shadow && !cJSON_IsNull(shadow) && !cJSON_IsString(shadow))
		rc = MLREG_EINVALID;
	else
		rc = node_table_traffic(table, "m", cJSON_GetObjectItemCaseSensitive(body, "weights"),
					cJSON_IsString(shadow) ? shadow->valuestring : NULL);
	if (rc == 0) {
		t = node_table_traffic_json(table, "m");
		cJSON_ArrayForEach(w, cJSON_GetObjectItem(t, "weights"))
		{
			if (!util_json_is_int(w) || w->valuedouble < 0 || w->valuedouble > 100)
				abort();
			sum += w->valueint;
		}
		shadow = cJSON_GetObjectItem(t, "shadow");
		if (sum != 100 || (cJSON_IsString(shadow) && strcmp(shadow->valuestring, "1") != 0 &&
				   strcmp(shadow->valuestring, "2") != 0))
			abort();
		cJSON_Delete(t);
	} else {
		after = traffic_text();
		if (strcmp(before, after) != 0)
			abort(); /* a refused body changed the split */
		free(after);
	}
	free(before);
	cJSON_Delete(body);
	return 0;
}

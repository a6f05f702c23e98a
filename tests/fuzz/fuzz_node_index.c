/*
 * fuzz_node_index.c - libFuzzer target for the index answer a serving node
 * sends the controller (GET /v2/repository/index), read by the mlreg
 * driver's index function (controller/driver_mlreg.c).
 *
 * Nodes are outside the registry's trust: a broken or hostile node may
 * answer anything, and the reconciler acts on the normalised list (it
 * loads, unloads and shifts traffic by it).  The driver promises either a
 * refusal that leaves the answer untouched, or a list whose every entry
 * has a non-empty name and state, a canonical version number >= 1, a
 * weight from 0 to 100, a boolean shadow and a string-or-null digest and
 * model; the target checks exactly that.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "controller/driver.h"
#include "util/json.h"

static bool int_in(const cJSON *o, const char *key, double lo, double hi)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) && v->valuedouble >= lo && v->valuedouble <= hi && v->valuedouble == (double)(int64_t)v->valuedouble;
}

static bool str_or_null(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNull(v) || cJSON_IsString(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ctl_call c = {.kind = CTL_CALL_INDEX};
	cJSON *answer = NULL;
	if (size > (1 << 20) || util_json_parse((const char *)data, size, UTIL_JSON_MAX_DEPTH, &answer) != 0)
		return 0;
	c.json = answer;
	if (ctl_driver_mlreg.index(&c) == 0) {
		const cJSON *e;
		if (!cJSON_IsArray(c.json))
			abort();
		cJSON_ArrayForEach(e, c.json)
		{
			const char *name = util_json_str(e, "name"), *state = util_json_str(e, "state");
			if (!name || !*name || !state || !*state || !int_in(e, "version", 1, 9007199254740992.0) ||
			    !int_in(e, "weight", 0, 100) || !cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(e, "shadow")) ||
			    !str_or_null(e, "digest") || !str_or_null(e, "model"))
				abort();
		}
	} else if (c.json != answer) {
		abort(); /* a refusal must leave the answer as it was */
	}
	cJSON_Delete(c.json);
	return 0;
}

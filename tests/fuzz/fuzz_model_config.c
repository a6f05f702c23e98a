/*
 * fuzz_model_config.c - libFuzzer target for util_model_config_parse, the
 * parser of the mlreg-model.json a push may carry (its bytes come straight
 * from an uploaded blob).
 *
 * An accepted descriptor must come back as exactly the documented shape:
 * a non-empty format of at most 64 bytes, a safe relative file path, and
 * non-empty input and output arrays.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "util/json.h"
#include "util/model_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *s = NULL;
	const char *format, *file;
	if (size > (1 << 20))
		return 0;
	if (util_model_config_parse((const char *)data, size, &s) != 0)
		return 0;
	format = util_json_str(s, "format");
	file = util_json_str(s, "file");
	if (!format || !*format || strlen(format) > 64 || !util_manifest_path_valid(file))
		abort();
	if (!cJSON_IsArray(cJSON_GetObjectItem(s, "inputs")) || cJSON_GetArraySize(cJSON_GetObjectItem(s, "inputs")) < 1 ||
	    !cJSON_IsArray(cJSON_GetObjectItem(s, "outputs")) || cJSON_GetArraySize(cJSON_GetObjectItem(s, "outputs")) < 1)
		abort();
	cJSON_Delete(s);
	return 0;
}

/*
 * model_config.h - the parser of mlreg-model.json, the descriptor a model
 * version may carry (docs/model-format.md).  The registry reads it at push
 * time to record a version's I/O schema; mlreg-node reads it again before it
 * serves a version.  One parser, so the two never disagree on what a valid
 * descriptor is.
 */
#ifndef MLREG_UTIL_MODEL_CONFIG_H
#define MLREG_UTIL_MODEL_CONFIG_H

#include <stddef.h>
#include <cjson/cJSON.h>

/* Parse len bytes of mlreg-model.json.  On success *schema (caller frees
 * with cJSON_Delete) is {"format","file","inputs","outputs"}: format a
 * non-empty string of at most 64 bytes, file a manifest-valid relative
 * path, inputs and outputs non-empty arrays (at most 64) of {name,
 * datatype, shape} with an Open Inference Protocol datatype and at most 16
 * integer dimensions >= -1.  Other members are dropped.  MLREG_EINVALID with
 * a reason starting "mlreg-model.json: "; *schema is then untouched. */
int util_model_config_parse(const char *data, size_t len, cJSON **schema);

#endif

/*
 * json.h - cJSON helpers: bounded parsing, typed getters, and the canonical
 * encoding (RFC 8785 subset) used inside every hashed byte string.
 */
#ifndef MLREG_UTIL_JSON_H
#define MLREG_UTIL_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "util.h"

#define UTIL_JSON_MAX_DEPTH 32

/* Parse exactly len bytes; refuses trailing garbage and nesting deeper than
 * max_depth.  *out is owned by the caller (cJSON_Delete). */
int util_json_parse(const char *data, size_t len, int max_depth, cJSON **out);

/* Borrowed string member or NULL when missing or not a string. */
const char *util_json_str(const cJSON *obj, const char *key);
/* Integer member: 0 on success, MLREG_ENOTFOUND when missing,
 * MLREG_EINVALID when not an integral number within +-2^53. */
int util_json_i64(const cJSON *obj, const char *key, int64_t *out);
bool util_json_is_int(const cJSON *v);

/* Canonical encoding: object keys sorted by byte order, no whitespace,
 * integers only (within +-2^53), strings escaped per RFC 8785.
 * Appends to b; MLREG_EINVALID on a non-integer number. */
int util_json_canonical(const cJSON *v, util_buf *b);
/* Append s as a JSON string literal (quoted, RFC 8785 escapes). */
int util_json_put_string(util_buf *b, const char *s);

/* Unformatted print to a heap string (caller frees), NULL on OOM. */
char *util_json_print(const cJSON *v);

#endif

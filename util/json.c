/*
 * json.c - the only place JSON text is turned into trees or canonical bytes.
 *
 * Parsing goes through cJSON with two guards cJSON lacks: the whole input
 * must be consumed, and nesting is capped (a hostile body cannot make us
 * recurse).  The canonical encoder is ours because cJSON neither sorts keys
 * nor promises a number format; it accepts only what the hashed formats use
 * (objects, arrays, strings, integers, booleans, null) so no floating-point
 * formatting ever reaches a hash.  See schema/canonical.md.
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "util/json.h"

static int depth_ok(const cJSON *v, int depth, int max)
{
	if (depth > max)
		return 0;
	for (const cJSON *c = v->child; c; c = c->next)
		if ((cJSON_IsObject(c) || cJSON_IsArray(c)) && !depth_ok(c, depth + 1, max))
			return 0;
	return 1;
}

/* Deepest nesting of brackets outside strings, stopping once past max: a
 * linear look before cJSON, so a body nested 10,000 deep is refused for
 * what it is (cJSON alone stops at its own limit of 1000 with "malformed"),
 * without cJSON recursing through it first. */
static bool depth_prescan_ok(const char *p, size_t len, int max)
{
	int depth = 0;
	bool in_str = false;
	for (size_t i = 0; i < len; i++) {
		char c = p[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '[' || c == '{') {
			if (++depth > max)
				return false;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return true;
}

int util_json_parse(const char *data, size_t len, int max_depth, cJSON **out)
{
	const char *end = NULL;
	cJSON *v;
	if (!data || len == 0)
		return mlreg_error_set(MLREG_EINVALID, "empty JSON body");
	/* a NUL is never valid JSON text; cJSON would stop at it (ignoring what
	 * follows) or cut a string short, making two inputs one tree */
	if (memchr(data, '\0', len))
		return mlreg_error_set(MLREG_EINVALID, "JSON text contains a NUL byte");
	if (!depth_prescan_ok(data, len, max_depth))
		return mlreg_error_set(MLREG_EINVALID, "JSON nested deeper than %d levels", max_depth);
	v = cJSON_ParseWithLengthOpts(data, len, &end, 0);
	if (!v)
		return mlreg_error_set(MLREG_EINVALID, "malformed JSON near byte %zu",
				       end && end >= data ? (size_t)(end - data) : (size_t)0);
	while (end && (size_t)(end - data) < len && (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t'))
		end++;
	if (end && (size_t)(end - data) < len && *end != '\0') {
		cJSON_Delete(v);
		return mlreg_error_set(MLREG_EINVALID, "trailing data after JSON at byte %zu", (size_t)(end - data));
	}
	if (!depth_ok(v, 1, max_depth)) {
		cJSON_Delete(v);
		return mlreg_error_set(MLREG_EINVALID, "JSON nested deeper than %d levels", max_depth);
	}
	*out = v;
	return 0;
}

const char *util_json_str(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool util_json_is_int(const cJSON *v)
{
	double d;
	if (!cJSON_IsNumber(v))
		return false;
	d = v->valuedouble;
	return isfinite(d) && d == floor(d) && fabs(d) <= 9007199254740992.0;
}

int util_json_i64(const cJSON *obj, const char *key, int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!v)
		return MLREG_ENOTFOUND;
	if (!util_json_is_int(v))
		return mlreg_error_set(MLREG_EINVALID, "'%s' must be an integer", key);
	*out = (int64_t)v->valuedouble;
	return 0;
}

int util_json_put_string(util_buf *b, const char *s)
{
	static const char hx[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s, *run;
	int rc = util_buf_put(b, "\"", 1);
	while (rc == 0 && *p) {
		char esc[7];
		/* the common case: a run of characters written as they are */
		for (run = p; *p >= 0x20 && *p != '"' && *p != '\\'; p++)
			;
		if (p > run && (rc = util_buf_put(b, run, (size_t)(p - run))) < 0)
			break;
		if (!*p)
			break;
		switch (*p) {
		case '"': rc = util_buf_put(b, "\\\"", 2); break;
		case '\\': rc = util_buf_put(b, "\\\\", 2); break;
		case '\b': rc = util_buf_put(b, "\\b", 2); break;
		case '\f': rc = util_buf_put(b, "\\f", 2); break;
		case '\n': rc = util_buf_put(b, "\\n", 2); break;
		case '\r': rc = util_buf_put(b, "\\r", 2); break;
		case '\t': rc = util_buf_put(b, "\\t", 2); break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hx[*p >> 4];
			esc[5] = hx[*p & 15];
			rc = util_buf_put(b, esc, 6);
		}
		p++;
	}
	return rc ? rc : util_buf_put(b, "\"", 1);
}

static int cmp_keys(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	return strcmp(x->string, y->string);
}

int util_json_canonical(const cJSON *v, util_buf *b)
{
	int rc = 0;
	if (cJSON_IsNull(v))
		return util_buf_puts(b, "null");
	if (cJSON_IsTrue(v))
		return util_buf_puts(b, "true");
	if (cJSON_IsFalse(v))
		return util_buf_puts(b, "false");
	if (cJSON_IsString(v))
		return util_json_put_string(b, v->valuestring);
	if (cJSON_IsNumber(v)) {
		if (!util_json_is_int(v))
			return mlreg_error_set(MLREG_EINVALID, "canonical encoding admits integers only");
		return util_buf_printf(b, "%lld", (long long)v->valuedouble);
	}
	if (cJSON_IsArray(v)) {
		if ((rc = util_buf_put(b, "[", 1)) < 0)
			return rc;
		for (const cJSON *c = v->child; c; c = c->next) {
			if (c != v->child && (rc = util_buf_put(b, ",", 1)) < 0)
				return rc;
			if ((rc = util_json_canonical(c, b)) < 0)
				return rc;
		}
		return util_buf_put(b, "]", 1);
	}
	if (cJSON_IsObject(v)) {
		int n = cJSON_GetArraySize(v), i = 0;
		const cJSON **kids;
		if (n == 0)
			return util_buf_puts(b, "{}");
		kids = malloc(sizeof(*kids) * (size_t)n);
		if (!kids)
			return mlreg_error_set(MLREG_ENOMEM, "out of memory");
		for (const cJSON *c = v->child; c; c = c->next)
			kids[i++] = c;
		qsort(kids, (size_t)n, sizeof(*kids), cmp_keys);
		rc = util_buf_put(b, "{", 1);
		for (i = 0; rc == 0 && i < n; i++) {
			if (i && (rc = util_buf_put(b, ",", 1)) < 0)
				break;
			if (i && !strcmp(kids[i]->string, kids[i - 1]->string)) {
				rc = mlreg_error_set(MLREG_EINVALID, "duplicate key '%s'", kids[i]->string);
				break;
			}
			if ((rc = util_json_put_string(b, kids[i]->string)) < 0 || (rc = util_buf_put(b, ":", 1)) < 0)
				break;
			rc = util_json_canonical(kids[i], b);
		}
		free(kids);
		return rc ? rc : util_buf_put(b, "}", 1);
	}
	return mlreg_error_set(MLREG_EINVALID, "unsupported JSON value");
}

char *util_json_print(const cJSON *v) { return cJSON_PrintUnformatted(v); }

/*
 * names.c - validation of every name that reaches us from outside: model
 * names (the OCI repository grammar), stage and alias labels, node and
 * deployment names and label values, metadata keys,
 * manifest paths, and the REF syntax MODEL:VERSION | MODEL:STAGE | MODEL@ALIAS.
 *
 * Validation is by explicit character classes, never by regex or locale,
 * so the answer is the same on every machine.
 */
#include <string.h>
#include "util.h"

static bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
static bool is_alnum(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z'); }

/* one path component: [a-z0-9]+([._-][a-z0-9]+)* */
static bool component_valid(const char *s, size_t n)
{
	bool need_alnum = true;
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (is_lower_alnum(c)) {
			need_alnum = false;
		} else if (c == '.' || c == '_' || c == '-') {
			if (need_alnum)
				return false;
			/* OCI allows "__" as a separator; keep it simple: one separator */
			need_alnum = true;
		} else {
			return false;
		}
	}
	return !need_alnum;
}

bool util_model_name_valid(const char *name)
{
	size_t len;
	const char *p, *slash;
	if (!name)
		return false;
	len = strlen(name);
	if (len == 0 || len > UTIL_NAME_MAX)
		return false;
	p = name;
	for (;;) {
		slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (!component_valid(p, n))
			return false;
		if (!slash)
			break;
		p = slash + 1;
	}
	return true;
}

bool util_label_name_valid(const char *name)
{
	size_t len;
	bool all_digits = true;
	if (!name)
		return false;
	len = strlen(name);
	if (len == 0 || len > 63 || !(name[0] >= 'a' && name[0] <= 'z'))
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!(is_lower_alnum(c) || c == '-'))
			return false;
		if (!(c >= '0' && c <= '9'))
			all_digits = false;
	}
	return !all_digits && strcmp(name, "latest") != 0;
}

bool util_resource_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	return n >= 1 && n <= 63 && component_valid(name, n);
}

bool util_label_value_valid(const char *value)
{
	size_t n = value ? strlen(value) : 0;
	if (n < 1 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(is_alnum(value[i]) || value[i] == '.' || value[i] == '_' || value[i] == '-'))
			return false;
	return true;
}

bool util_key_valid(const char *key)
{
	size_t len;
	if (!key)
		return false;
	len = strlen(key);
	if (len == 0 || len > 250 || !(is_alnum(key[0]) || key[0] == '_'))
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = key[i];
		if (!(is_alnum(c) || c == '_' || c == '.' || c == '-' || c == '/'))
			return false;
	}
	return true;
}

/* Well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
static bool utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = s[i];
		size_t k;
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		for (size_t j = 1; j <= k; j++) {
			if (i + j >= n || (s[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

bool util_manifest_path_valid(const char *path)
{
	size_t len;
	const char *p;
	if (!path)
		return false;
	len = strlen(path);
	if (len == 0 || len > 4096 || path[0] == '/')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)path[i];
		if (c < 0x20 || c == 0x7f || c == '\\')
			return false;
	}
	if (!utf8_valid((const unsigned char *)path, len))
		return false;
	p = path;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (n > 255)
			return false;
		if (!slash)
			break;
		p = slash + 1;
	}
	return true;
}

int util_ref_parse(const char *s, util_ref *out)
{
	const char *sep;
	size_t mlen;
	util_ref r;
	memset(&r, 0, sizeof(r));
	if (!s || !*s)
		return mlreg_error_set(MLREG_EINVALID, "empty reference");
	sep = strrchr(s, '@');
	if (sep) {
		r.kind = UTIL_REF_ALIAS;
	} else {
		sep = strrchr(s, ':');
		if (!sep)
			return mlreg_error_set(MLREG_EINVALID,
					       "invalid reference '%s': expected MODEL:VERSION, MODEL:STAGE or MODEL@ALIAS", s);
	}
	mlen = (size_t)(sep - s);
	if (mlen == 0 || mlen > UTIL_NAME_MAX)
		return mlreg_error_set(MLREG_EINVALID, "invalid reference '%s': bad model name", s);
	memcpy(r.model, s, mlen);
	r.model[mlen] = '\0';
	if (!util_model_name_valid(r.model))
		return mlreg_error_set(MLREG_EINVALID, "invalid model name '%s'", r.model);
	sep++;
	if (r.kind == UTIL_REF_ALIAS) {
		if (!util_label_name_valid(sep))
			return mlreg_error_set(MLREG_EINVALID, "invalid alias in reference '%s'", s);
		strcpy(r.label, sep);
	} else if (*sep >= '0' && *sep <= '9') {
		int64_t v;
		if (util_parse_i64(sep, &v) < 0 || v < 1)
			return mlreg_error_set(MLREG_EINVALID, "invalid version in reference '%s'", s);
		r.kind = UTIL_REF_VERSION;
		r.version = v;
	} else {
		if (!util_label_name_valid(sep))
			return mlreg_error_set(MLREG_EINVALID, "invalid stage in reference '%s'", s);
		r.kind = UTIL_REF_STAGE;
		strcpy(r.label, sep);
	}
	*out = r;
	return 0;
}

/* RFC 3986 characters only: no space, quote, backslash or other text that
 * is not a URI (and that Graphviz or a shell could read differently). */
bool util_uri_valid(const char *s)
{
	static const char extra[] = "-._~:/?#[]@!$&'()*+,;=%";
	size_t n = s ? strlen(s) : 0;
	if (n < 1 || n > 2048 || !strstr(s, "://") || s[0] == ':')
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr(extra, *p)))
			return false;
	return true;
}

bool util_run_id_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 1 || n > 256)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("._:/@+=-", *p)))
			return false;
	return true;
}

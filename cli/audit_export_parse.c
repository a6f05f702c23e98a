/*
 * audit_export_parse.c - reading the files of an audit export repository
 * (head.json and entries chunk files, layout in audit_export_parse.h).
 *
 * The repository is outside input: anyone with write access to it (or to a
 * clone it is pushed to) can put anything there, and the export is what
 * catches a registry whose chain was recomputed.  So every line is parsed
 * with the bounded JSON parser, each field is checked for type and range,
 * and a line that does not hold is reported, never guessed at.  Kept apart
 * from the libgit2 and libcurl code so a fuzz target (fuzz_audit_export)
 * can drive it alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/audit_export_parse.h"
#include "util/json.h"

static bool hex64(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == 64;
}

/* 64 lowercase hex, optionally "sha256:"-prefixed. */
static bool hash_valid(const char *s)
{
	return hex64(strncmp(s, "sha256:", 7) == 0 ? s + 7 : s);
}

int cli_audit_entry_fields(const cJSON *e, cli_audit_line *out)
{
	const cJSON *prev;
	const char *hash;
	int64_t seq;
	memset(out, 0, sizeof(*out));
	if (!cJSON_IsObject(e))
		return mlreg_error_set(MLREG_EINVALID, "audit entry is not a JSON object");
	if (util_json_i64(e, "seq", &seq) < 0 || seq < 1)
		return mlreg_error_set(MLREG_EINVALID, "audit entry lacks a sequence number >= 1");
	hash = util_json_str(e, "hash");
	if (!hash || !hash_valid(hash))
		return mlreg_error_set(MLREG_EINVALID, "audit entry %lld lacks a valid hash", (long long)seq);
	prev = cJSON_GetObjectItemCaseSensitive(e, "prev_hash");
	if (cJSON_IsString(prev) && prev->valuestring[0]) {
		if (!hash_valid(prev->valuestring))
			return mlreg_error_set(MLREG_EINVALID, "audit entry %lld has an invalid prev_hash", (long long)seq);
		snprintf(out->prev_hash, sizeof(out->prev_hash), "%s", prev->valuestring);
	} else if (prev && !cJSON_IsNull(prev) && !cJSON_IsString(prev)) {
		return mlreg_error_set(MLREG_EINVALID, "audit entry %lld has an invalid prev_hash", (long long)seq);
	}
	out->seq = seq;
	snprintf(out->hash, sizeof(out->hash), "%s", hash);
	return 0;
}

int cli_audit_chunk_next(const char *data, size_t len, size_t *pos, cli_audit_line *out)
{
	const char *start, *nl;
	size_t n;
	cJSON *e = NULL;
	int rc;
	if (*pos >= len)
		return 0;
	start = data + *pos;
	nl = memchr(start, '\n', len - *pos);
	if (!nl)
		return mlreg_error_set(MLREG_EINVALID, "last line does not end in a newline");
	n = (size_t)(nl - start);
	if (n == 0)
		return mlreg_error_set(MLREG_EINVALID, "empty line");
	if (n > CLI_AUDIT_LINE_MAX)
		return mlreg_error_set(MLREG_EINVALID, "line longer than %zu bytes", CLI_AUDIT_LINE_MAX);
	if (util_json_parse(start, n, UTIL_JSON_MAX_DEPTH, &e) < 0)
		return mlreg_error_set(MLREG_EINVALID, "line is not JSON: %s", mlreg_error_last());
	rc = cli_audit_entry_fields(e, out);
	cJSON_Delete(e);
	if (rc < 0)
		return rc;
	*pos += n + 1;
	return 1;
}

int cli_audit_head_parse(const char *data, size_t len, int64_t *seq, char hash[CLI_AUDIT_HASH_MAX])
{
	cJSON *h = NULL;
	const char *s;
	int64_t n;
	int rc = 0;
	if (util_json_parse(data, len, 4, &h) < 0)
		return mlreg_error_set(MLREG_EINVALID, "head.json is not JSON: %s", mlreg_error_last());
	s = util_json_str(h, "hash");
	if (!cJSON_IsObject(h) || util_json_i64(h, "seq", &n) < 0 || n < 1 || !s || !hash_valid(s) ||
	    cJSON_GetArraySize(h) != 2)
		rc = mlreg_error_set(MLREG_EINVALID, "head.json is not {\"seq\":N,\"hash\":H}");
	if (rc == 0) {
		*seq = n;
		snprintf(hash, CLI_AUDIT_HASH_MAX, "%s", s);
	}
	cJSON_Delete(h);
	return rc;
}

int cli_audit_head_format(util_buf *b, int64_t seq, const char *hash)
{
	return util_buf_printf(b, "{\"seq\":%lld,\"hash\":\"%s\"}\n", (long long)seq, hash);
}

int64_t cli_audit_chunk_of(int64_t seq) { return seq / CLI_AUDIT_CHUNK; }

void cli_audit_chunk_name(int64_t chunk, char out[32]) { snprintf(out, 32, "%08lld.jsonl", (long long)chunk); }

int cli_audit_chunk_parse_name(const char *name, int64_t *chunk)
{
	int64_t v = 0;
	for (int i = 0; i < 8; i++) {
		if (name[i] < '0' || name[i] > '9')
			return mlreg_error_set(MLREG_EINVALID, "'%s' is not a chunk file name", name);
		v = v * 10 + (name[i] - '0');
	}
	if (strcmp(name + 8, ".jsonl") != 0)
		return mlreg_error_set(MLREG_EINVALID, "'%s' is not a chunk file name", name);
	*chunk = v;
	return 0;
}

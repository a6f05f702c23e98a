/*
 * audit_export_parse.h - the formats of an audit export repository
 * (`mlreg audit export --git DIR`), read back by later exports and by
 * `mlreg audit verify --against DIR`.
 *
 * Layout: `head.json` = {"seq":N,"hash":"<hex>"} and `entries/CCCCCCCC.jsonl`
 * where CCCCCCCC = seq / 1000 zero-padded to 8 digits: chunk 0 holds seq
 * 1..999, chunk 1 holds 1000..1999, and so on; one compact JSON audit entry
 * per line, oldest first, each line ending in '\n'.
 */
#ifndef MLREG_CLI_AUDIT_EXPORT_PARSE_H
#define MLREG_CLI_AUDIT_EXPORT_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "util/util.h"

#define CLI_AUDIT_CHUNK 1000              /* sequence numbers per chunk file */
#define CLI_AUDIT_LINE_MAX ((size_t)1 << 20) /* one entry line */
#define CLI_AUDIT_HASH_MAX 80

/* What export and verify need of one entry. */
typedef struct {
	int64_t seq;                          /* >= 1 */
	char hash[CLI_AUDIT_HASH_MAX];        /* 64 lowercase hex, maybe "sha256:"-prefixed */
	char prev_hash[CLI_AUDIT_HASH_MAX];   /* the same, or "" for the first entry */
} cli_audit_line;

/* Fields of an audit entry object (from the registry or a chunk line):
 * integer "seq" >= 1, "hash" a digest, "prev_hash" a digest, "" or null.
 * MLREG_EINVALID with a message otherwise. */
int cli_audit_entry_fields(const cJSON *e, cli_audit_line *out);

/* The next line of a chunk file's bytes from *pos: 1 with *out filled and
 * *pos past the line, 0 at the end, MLREG_EINVALID for a line that is not
 * an entry, is longer than CLI_AUDIT_LINE_MAX or lacks its final '\n'. */
int cli_audit_chunk_next(const char *data, size_t len, size_t *pos, cli_audit_line *out);

/* head.json: exactly {"seq":N,"hash":H} with N >= 1; MLREG_EINVALID else. */
int cli_audit_head_parse(const char *data, size_t len, int64_t *seq, char hash[CLI_AUDIT_HASH_MAX]);
/* head.json's bytes for (seq, hash), appended to b. */
int cli_audit_head_format(util_buf *b, int64_t seq, const char *hash);

/* The chunk a sequence number belongs in, and its file name
 * "CCCCCCCC.jsonl" (inside entries/). */
int64_t cli_audit_chunk_of(int64_t seq);
void cli_audit_chunk_name(int64_t chunk, char out[32]);
/* The chunk number of a file name; MLREG_EINVALID unless exactly 8
 * digits and ".jsonl". */
int cli_audit_chunk_parse_name(const char *name, int64_t *chunk);

#endif

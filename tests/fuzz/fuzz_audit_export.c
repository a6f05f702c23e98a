/*
 * fuzz_audit_export.c - the readers of an audit export repository
 * (cli/audit_export_parse.c): head.json, the entries chunk files and
 * chunk file names.
 *
 * The repository is outside input (anyone who can push to it can put
 * anything in it), and `audit export` and `audit verify --against` read it
 * back.  Each input is tried as all three.  Properties beyond "no crash":
 * an accepted head reads back the same after formatting; the chunk reader
 * always advances, stays inside the input and returns only entries with
 * seq >= 1 and a non-empty hash; an accepted chunk name is exactly what
 * formatting its number gives.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cli/audit_export_parse.h"

static void try_head(const char *data, size_t size)
{
	int64_t seq, seq2;
	char hash[CLI_AUDIT_HASH_MAX], hash2[CLI_AUDIT_HASH_MAX];
	util_buf b;
	if (cli_audit_head_parse(data, size, &seq, hash) < 0)
		return;
	if (seq < 1 || !hash[0])
		abort();
	util_buf_init(&b, 4096);
	if (cli_audit_head_format(&b, seq, hash) < 0 || cli_audit_head_parse(b.ptr, b.len, &seq2, hash2) < 0 ||
	    seq2 != seq || strcmp(hash, hash2) != 0)
		abort();
	util_buf_release(&b);
}

static void try_chunk(const char *data, size_t size)
{
	size_t pos = 0, before;
	cli_audit_line line;
	int rc;
	for (;;) {
		before = pos;
		rc = cli_audit_chunk_next(data, size, &pos, &line);
		if (rc <= 0) {
			if (pos != before)
				abort();
			break;
		}
		if (pos <= before || pos > size || line.seq < 1 || !line.hash[0] || data[pos - 1] != '\n')
			abort();
	}
}

static void try_name(const char *data, size_t size)
{
	char name[40], again[32];
	int64_t chunk;
	if (size >= sizeof(name))
		size = sizeof(name) - 1;
	memcpy(name, data, size);
	name[size] = '\0';
	if (cli_audit_chunk_parse_name(name, &chunk) < 0)
		return;
	cli_audit_chunk_name(chunk, again);
	if (strcmp(name, again) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1 << 22))
		return 0;
	try_head((const char *)data, size);
	try_chunk((const char *)data, size);
	try_name((const char *)data, size);
	return 0;
}

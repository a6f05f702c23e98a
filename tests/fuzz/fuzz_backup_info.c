/*
 * fuzz_backup_info.c - libFuzzer target for backup.json, the description
 * `mlreg restore` reads from a backup folder it must not trust
 * (reg_backup_info_parse, registry/backup_info.c).
 *
 * Checked: the parser answers 0, MLREG_EINTEGRITY or MLREG_ENEWER and
 * nothing else; an accepted description has sane fields (valid digest,
 * counts >= 0, a 64-hex audit hash exactly when the head is not 0) and
 * survives print + parse unchanged, so what restore checks is what the
 * file said.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "registry/backup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	reg_backup_info a, b;
	char *text;
	int rc = reg_backup_info_parse((const char *)data, size, &a);
	if (rc != 0 && rc != MLREG_EINTEGRITY && rc != MLREG_ENEWER)
		abort();
	if (rc != 0)
		return 0;
	if (a.format_version != REG_BACKUP_FORMAT || !util_digest_valid(a.db_sha256) || a.db_size < 1 ||
	    a.blob_count < 0 || a.blob_bytes < 0 || a.schema_version < 1 || a.audit_seq < 0 ||
	    (a.audit_seq == 0) != (a.audit_hash[0] == '\0') || (a.audit_seq && strlen(a.audit_hash) != 64))
		abort();
	if (!(text = reg_backup_info_print(&a)))
		return 0;
	memset(&b, 0, sizeof(b));
	if (reg_backup_info_parse(text, strlen(text), &b) != 0 || memcmp(&a, &b, sizeof(a)) != 0)
		abort();
	free(text);
	return 0;
}

/*
 * backup.h - `mlreg backup` and `mlreg restore` of an embedded data
 * directory (SQLite registry.db + the blobs/ tree + url.key), and the
 * backup.json that marks a backup complete.  docs/operations.md "Back up
 * and restore" describes the procedure and the guarantees.
 */
#ifndef MLREG_REGISTRY_BACKUP_H
#define MLREG_REGISTRY_BACKUP_H

#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "util/util.h"

/* backup.json "format_version" this mlreg writes and reads; a larger one
 * is refused with MLREG_ENEWER. */
#define REG_BACKUP_FORMAT 1
/* backup.json is refused past this size (it is a few hundred bytes). */
#define REG_BACKUP_INFO_MAX 65536

/* What backup.json says (docs/operations.md lists the members). */
typedef struct {
	int64_t format_version;
	char created_at[40];   /* RFC 3339 UTC */
	char mlreg_version[32];
	int64_t schema_version;
	char db_sha256[UTIL_DIGEST_LEN + 1];
	int64_t db_size;
	int64_t blob_count;
	int64_t blob_bytes;
	int64_t audit_seq;     /* 0 and audit_hash "" for an empty log */
	char audit_hash[65];
	bool url_key;          /* DIR/url.key is part of the backup */
} reg_backup_info;

/* Strict parse of backup.json: exactly the documented members with their
 * types, nothing else, at most REG_BACKUP_INFO_MAX bytes.  MLREG_EINTEGRITY
 * for anything malformed (a damaged backup), MLREG_ENEWER for a format
 * written by a newer mlreg.  *out is written only on success. */
int reg_backup_info_parse(const char *data, size_t len, reg_backup_info *out);
/* backup.json's text for in (heap, caller frees); NULL on OOM. */
char *reg_backup_info_print(const reg_backup_info *in);

/* Open (creating it, mode 0644) DATA/gc.lock for reading, so whoever made
 * it, the server's user can open it; *fd is the caller's.  gc takes it
 * exclusively without waiting, a backup shared. */
int reg_gc_lock_open(const char *data_dir, int *fd);

typedef struct {
	const char *data_dir;   /* the live data directory */
	const char *dest;       /* the backup DIR (made if missing) */
	int64_t lock_wait_ms;   /* how long to wait for a running gc to end */
	int step_pages;         /* database pages copied per step */
	int64_t step_pause_ms;  /* pause between steps */
} reg_backup_opts;

/* Back up o->data_dir into o->dest while a server may run on it: shared
 * gc.lock, SQLite online backup of one read snapshot, every blob the copy
 * lists (verified, incremental), url.key, then backup.json last.  *out:
 * {"dir","blobs":{"count","bytes","copied","copied_bytes","present","pruned"},
 * "database":{"size","sha256"},"schema_version","audit":{"seq","hash"}}.
 * MLREG_EINTEGRITY when a live blob is missing or does not match its
 * digest (run mlreg fsck); DIR holds no backup.json on any failure. */
int reg_backup_run(const reg_backup_opts *o, cJSON **out);

/* Restore the backup in src into new_data, which must not exist or be an
 * empty folder no server holds.  Everything is checked (backup.json, the
 * database's digest and integrity_check, the schema, every blob's digest,
 * every referenced blob present) in a temporary folder beside new_data,
 * which is renamed into place only when all passed: nothing partial is
 * left on failure.  MLREG_EINTEGRITY for a damaged backup, MLREG_ENEWER for
 * a schema newer than this mlreg, MLREG_ECONFLICT when new_data is in use
 * or not empty, MLREG_ENOTFOUND when src is not a backup.  *out:
 * {"data","blobs":{"count","bytes"},"schema_version","audit":{"seq","hash"},
 * "backup_created_at"}. */
int reg_restore_run(const char *src, const char *new_data, cJSON **out);

#endif

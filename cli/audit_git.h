/*
 * audit_git.h - the audit export repository through libgit2, and the two
 * operations on it: `audit export` (append new entries, one commit per
 * run) and the comparison behind `audit verify --against DIR`.
 *
 * Only audit_git.c includes git2.h; everything here reads HEAD's tree
 * (what was committed), never the working tree, which anyone can edit.
 */
#ifndef MLREG_CLI_AUDIT_GIT_H
#define MLREG_CLI_AUDIT_GIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cli/audit_export_parse.h"
#include "cli/client.h"

typedef struct cli_audit_repo cli_audit_repo;

/* Open the repository at dir; with create, make a (non-bare) one when dir
 * holds none.  Errors: MLREG_ENOTFOUND (no repository, create false),
 * MLREG_EIO with libgit2's message. */
int cli_audit_repo_open(cli_audit_repo **out, const char *dir, bool create);
/* Free the repository handle and anything staged; NULL is a no-op. */
void cli_audit_repo_free(cli_audit_repo *r);

/* The export's head from HEAD's head.json: *seq 0 and hash "" when HEAD has
 * no commit yet.  MLREG_EINTEGRITY when a commit lacks a readable head.json. */
int cli_audit_repo_head(cli_audit_repo *r, int64_t *seq, char hash[CLI_AUDIT_HASH_MAX]);

/* The chunk numbers HEAD's entries/ holds, ascending, in a heap array the
 * caller frees (NULL and 0 when none).  MLREG_EINTEGRITY for a file there
 * that is not a chunk. */
int cli_audit_repo_chunks(cli_audit_repo *r, int64_t **chunks, size_t *n);

/* A chunk file's bytes from HEAD's tree: a heap string the caller frees.
 * MLREG_ENOTFOUND when HEAD has no such chunk. */
int cli_audit_repo_read_chunk(cli_audit_repo *r, int64_t chunk, char **data, size_t *len);

/* Write a chunk's new full content as a blob and stage it for the next
 * commit (replacing the chunk of that number). */
int cli_audit_repo_stage_chunk(cli_audit_repo *r, int64_t chunk, const char *data, size_t len);

/* Commit the staged chunks plus head.json {seq, hash} on HEAD with the
 * author and committer "mlreg audit export" and `message`; the parent is
 * the HEAD read at open, so a concurrent export makes this fail
 * (MLREG_ECONFLICT) instead of losing a commit.  A non-bare repository's
 * working tree is updated for the files written. */
int cli_audit_repo_commit(cli_audit_repo *r, int64_t seq, const char *hash, const char *message);

/* Compare the export at dir, entry by entry from HEAD's tree, with the
 * registry's log read through c (GET /api/v1/audit?after_seq=).  0 with
 * *export_head = the export's last seq when every exported entry is on the
 * registry with the same hash.  MLREG_EINTEGRITY with *first_bad set and
 * the reason as message when an entry differs or the registry ends before
 * the export; MLREG_EINTEGRITY with *first_bad 0 when the export itself is
 * damaged; MLREG_ENOTFOUND when dir holds no repository. */
int cli_audit_export_compare(cli_client *c, const char *dir, int64_t *export_head, int64_t *first_bad);

#endif

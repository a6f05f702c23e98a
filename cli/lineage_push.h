/*
 * lineage_push.h - the lineage flags of `mlreg push` (--dataset, --parent,
 * --git, --require-clean, --run, --run-url) and the "lineage" member of
 * the version-create body they become (docs/api.md, "Lineage").
 *
 * Use: cli_lineage_init(); feed each option cli_args_next() returns for
 * CLI_LINEAGE_OPTIONS to cli_lineage_option(); cli_lineage_check() once
 * all are in; cli_lineage_resolve() hashes the datasets and reads git
 * (before anything is uploaded, so a refusal costs nothing);
 * cli_lineage_json() gives the member; cli_lineage_release().
 */
#ifndef MLREG_CLI_LINEAGE_PUSH_H
#define MLREG_CLI_LINEAGE_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>
#include "cli/cli.h"
#include "cli/digests.h"
#include "cli/lineage_git.h"
#include "util/util.h"

#define CLI_LINEAGE_MAX_DATASETS 256
#define CLI_LINEAGE_MAX_PARENTS 64
#define CLI_LINEAGE_MAX_DATASET_FILES 1000000 /* files of one dataset folder */

/* Option ids of the lineage flags; a command's option table includes them
 * with CLI_LINEAGE_OPTIONS and hands any id in this range to
 * cli_lineage_option(). */
enum {
	CLI_LINEAGE_OPT_DATASET = 512,
	CLI_LINEAGE_OPT_PARENT,
	CLI_LINEAGE_OPT_GIT,
	CLI_LINEAGE_OPT_REQUIRE_CLEAN,
	CLI_LINEAGE_OPT_RUN,
	CLI_LINEAGE_OPT_RUN_URL,
	CLI_LINEAGE_OPT_LAST = CLI_LINEAGE_OPT_RUN_URL
};

#define CLI_LINEAGE_OPTIONS                                                                                      \
	{"dataset", CLI_LINEAGE_OPT_DATASET, true}, {"parent", CLI_LINEAGE_OPT_PARENT, true},                   \
		{"git", CLI_LINEAGE_OPT_GIT, CLI_VALUE_OPTIONAL},                                                \
		{"require-clean", CLI_LINEAGE_OPT_REQUIRE_CLEAN, false}, {"run", CLI_LINEAGE_OPT_RUN, true},     \
		{"run-url", CLI_LINEAGE_OPT_RUN_URL, true}

#define CLI_LINEAGE_IS_OPTION(id) ((id) >= CLI_LINEAGE_OPT_DATASET && (id) <= CLI_LINEAGE_OPT_LAST)

/* One --dataset NAME=PATH|URI[@sha256:<hex>]. */
typedef struct {
	char *name;
	char *source;                      /* PATH or URI, without the @sha256: suffix */
	bool uri;                          /* source has a "scheme://" */
	char expect[UTIL_DIGEST_LEN + 1];  /* the suffix's digest, "" when none */
	char digest[UTIL_DIGEST_LEN + 1];  /* what is sent; "" for a URI sent as such */
	bool folder;                       /* source is a folder (after resolve) */
	size_t files;                      /* files hashed for it (after resolve) */
} cli_lineage_dataset;

typedef struct {
	cli_lineage_dataset *datasets;
	size_t ndatasets;
	const char *parents[CLI_LINEAGE_MAX_PARENTS]; /* REFs, borrowed from argv */
	size_t nparents;
	const char *git_dir;    /* NULL without --git */
	bool require_clean;
	const char *run_id;     /* borrowed, NULL without --run */
	const char *run_url;    /* borrowed, NULL without --run-url */
	cli_git_state git;      /* read by cli_lineage_resolve() when git_dir */
	bool resolved;
} cli_lineage;

/* A dataset name (the n bytes at s): 1 to 128 letters, digits and
 * "._-/" (docs/api.md). */
bool cli_lineage_dataset_name_valid(const char *s, size_t n);

void cli_lineage_init(cli_lineage *l);
/* Free what l holds; l may be released twice. */
void cli_lineage_release(cli_lineage *l);

/* Take one lineage option (id from CLI_LINEAGE_OPTIONS, value as
 * cli_args_next() gave it; borrowed strings must outlive l).  Malformed
 * values (a dataset name or digest, a REF, a URI with control characters,
 * more than 256 datasets or 64 parents, an empty --run) are usage errors
 * naming cmd.  Returns 0, MLREG_EUSAGE or MLREG_ENOMEM. */
int cli_lineage_option(cli_lineage *l, const char *cmd, int id, const char *value);
/* The rules between options: --run-url needs --run, --require-clean needs
 * --git.  MLREG_EUSAGE naming cmd. */
int cli_lineage_check(const cli_lineage *l, const char *cmd);
/* Was any lineage flag given? */
bool cli_lineage_given(const cli_lineage *l);

/* Learn what the body needs: the digest of every PATH dataset (a file's
 * SHA-256, a folder's canonical-manifest digest; both through the digest
 * cache, which may be NULL) checked against a given @sha256: (mismatch:
 * MLREG_EINTEGRITY), and the git state when --git was given, refused with
 * MLREG_EREFUSED (listing up to 10 paths) when it is dirty and
 * --require-clean was given.  Other errors: the walk's and hashing's
 * (MLREG_EINVALID for links and special files, MLREG_EIO), git's (see
 * cli_git_state_read), MLREG_ENOMEM.  Messages name the dataset. */
int cli_lineage_resolve(cli_lineage *l, cli_digest_cache *cache);

/* The digest of the dataset folder at path: SHA-256 of the canonical
 * manifest (schema/canonical.md) of its files, exactly as a version's
 * digest would be.  *files gets the file count.  Errors as for the walk
 * and hashing above. */
int cli_lineage_folder_digest(const char *path, cli_digest_cache *cache, char digest[UTIL_DIGEST_LEN + 1],
			      size_t *files);

/* The "lineage" member for the version-create body into *out (caller
 * deletes): only the parts given, "git" as read by cli_lineage_resolve()
 * (which must have run).  *out is NULL when no lineage flag was given. */
int cli_lineage_json(const cli_lineage *l, cJSON **out);

/* The text line push prints, "lineage: 2 datasets, 1 parent, commit
 * abc1234 (main, dirty), run run-42" (no newline), into out (released
 * first); empty when no lineage flag was given. */
int cli_lineage_summary(const cli_lineage *l, util_buf *out);

#endif

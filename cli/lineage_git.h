/*
 * lineage_git.h - the code state a version is built from, for push's
 * --git: HEAD's commit, branch, the origin remote and what differs from
 * HEAD in the work tree.
 */
#ifndef MLREG_CLI_LINEAGE_GIT_H
#define MLREG_CLI_LINEAGE_GIT_H

#include <stdbool.h>
#include <stddef.h>

#define CLI_GIT_CHANGED_MAX 1000 /* paths sent in "changed" (docs/api.md) */

typedef struct {
	char commit[65];   /* lowercase hex object id of HEAD's commit */
	char *branch;      /* short name ("main"); NULL on a detached HEAD */
	char *remote;      /* remote.origin.url as configured (no insteadOf
			    * rewriting), user info removed; NULL when none */
	bool dirty;        /* any changed or untracked (not ignored) path */
	char **changed;    /* up to CLI_GIT_CHANGED_MAX of them, byte order, relative to the top of the work tree */
	size_t nchanged;
	size_t nchanged_total; /* all of them, also past the cap */
} cli_git_state;

/* Read the state of the repository holding dir (searched upward from dir,
 * as git does, so any subfolder of a work tree works) into *out, which the
 * caller releases with cli_git_state_release() on success.  A bare
 * repository has no work tree and is never dirty.  Errors (message names
 * dir; all exit 1): MLREG_ERROR when no repository holds dir,
 * MLREG_EINVALID when HEAD has no commit yet, MLREG_EIO with libgit2's
 * message otherwise, MLREG_ENOMEM. */
int cli_git_state_read(const char *dir, cli_git_state *out);
void cli_git_state_release(cli_git_state *g);

/* A remote URL with any user info ("user:password@", "token@") removed
 * from the authority of a "scheme://" URL; scp-like ("git@host:path") and
 * local URLs are returned unchanged (they cannot carry a password).
 * Returns a heap string the caller frees, NULL on OOM. */
char *cli_git_url_strip_userinfo(const char *url);

#endif

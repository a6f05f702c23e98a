/*
 * lineage_git.c - push's --git through libgit2: which commit, branch and
 * remote a version was built from, and whether the work tree differed
 * from that commit.  Beside audit_git.c the only file of the CLI that
 * includes git2.h; libgit2 errors become MLREG_E* codes here.
 *
 * The repository is found by searching upward from the folder given, like
 * git itself, so `--git` works from any subfolder of a work tree.  "Dirty"
 * means what `git status` would show: a change staged or not, a deletion,
 * or an untracked file that is not ignored (untracked folders are listed
 * file by file, so "changed" names files).  Renames are not paired: a
 * renamed file shows as its old and its new path, which says the same
 * without rename detection's cost.  Submodules count with their own
 * state, as in git.  The origin URL loses any user info before it goes
 * anywhere: credentials in remote URLs are common (CI tokens) and lineage
 * is readable by every reader of the registry.
 */
#include <stdlib.h>
#include <string.h>
#include <git2.h>
#include "cli/lineage_git.h"
#include "util/util.h"

/* libgit2's last error as ours. */
static int git_fail(int code, const char *what, const char *dir)
{
	const git_error *e = git_error_last();
	return mlreg_error_set(code, "%s '%s': %s", what, dir, e && e->message ? e->message : "libgit2 error");
}

char *cli_git_url_strip_userinfo(const char *url)
{
	const char *p = url, *auth, *end, *at = NULL;
	size_t n;
	char *out;
	/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then "://" */
	if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
		while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '+' ||
		       *p == '-' || *p == '.')
			p++;
	if (p == url || strncmp(p, "://", 3) != 0)
		return strdup(url);
	auth = p + 3;
	end = auth + strcspn(auth, "/?#");
	for (const char *q = auth; q < end; q++)
		if (*q == '@')
			at = q; /* the last one: a password may hold an unescaped '@' */
	if (!at)
		return strdup(url);
	n = strlen(url) - (size_t)(at + 1 - auth);
	if (!(out = malloc(n + 1)))
		return NULL;
	memcpy(out, url, (size_t)(auth - url));
	strcpy(out + (auth - url), at + 1);
	return out;
}

void cli_git_state_release(cli_git_state *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->nchanged; i++)
		free(g->changed[i]);
	free(g->changed);
	free(g->branch);
	free(g->remote);
	memset(g, 0, sizeof(*g));
}

static int read_head(git_repository *repo, const char *dir, cli_git_state *g)
{
	git_reference *head = NULL;
	git_oid oid;
	int rc;
	if (git_repository_head_unborn(repo) == 1)
		return mlreg_error_set(MLREG_EINVALID, "the git repository at '%s' has no commit yet", dir);
	if ((rc = git_reference_name_to_id(&oid, repo, "HEAD")) < 0)
		return git_fail(MLREG_EIO, "cannot read HEAD of", dir);
	git_oid_tostr(g->commit, sizeof(g->commit), &oid);
	if (git_repository_head_detached(repo) == 1)
		return 0;
	if (git_repository_head(&head, repo) < 0)
		return git_fail(MLREG_EIO, "cannot read HEAD of", dir);
	g->branch = strdup(git_reference_shorthand(head));
	git_reference_free(head);
	return g->branch ? 0 : mlreg_error_set(MLREG_ENOMEM, "out of memory");
}

/* remote.origin.url as configured.  Not git_remote_lookup(): libgit2 1.5
 * (Debian 12) leaks a regex match block in it on every call (fixed in 1.6,
 * libgit2 PR #6382), which fails the leak-checked test runs; it would also
 * apply url.*.insteadOf rewrites, which in CI mostly splice a token into
 * the URL, while the configured URL is what names the repository. */
static int read_remote(git_repository *repo, const char *dir, cli_git_state *g)
{
	git_config *cfg = NULL;
	git_buf url = {0};
	int rc, error = 0;
	if (git_repository_config_snapshot(&cfg, repo) < 0)
		return git_fail(MLREG_EIO, "cannot read the configuration of", dir);
	rc = git_config_get_string_buf(&url, cfg, "remote.origin.url");
	if (rc == 0 && url.ptr && url.ptr[0] && !(g->remote = cli_git_url_strip_userinfo(url.ptr)))
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
	else if (rc < 0 && rc != GIT_ENOTFOUND)
		error = git_fail(MLREG_EIO, "cannot read the remote 'origin' of", dir);
	git_buf_dispose(&url);
	git_config_free(cfg);
	return error;
}

static int read_status(git_repository *repo, const char *dir, cli_git_state *g)
{
	git_status_options opts;
	git_status_list *list = NULL;
	size_t n;
	int error = 0;
	if (git_repository_is_bare(repo))
		return 0;
	/* the INIT macro leaves fields out, which -Wextra refuses */
	if (git_status_options_init(&opts, GIT_STATUS_OPTIONS_VERSION) < 0)
		return git_fail(MLREG_ERROR, "cannot set up a status of", dir);
	opts.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
	opts.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS |
		     GIT_STATUS_OPT_SORT_CASE_SENSITIVELY;
	if (git_status_list_new(&list, repo, &opts) < 0)
		return git_fail(MLREG_EIO, "cannot read the status of the work tree at", dir);
	n = git_status_list_entrycount(list);
	if (!(g->changed = calloc(n < CLI_GIT_CHANGED_MAX ? n + 1 : CLI_GIT_CHANGED_MAX, sizeof(char *)))) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		const git_status_entry *e = git_status_byindex(list, i);
		const git_diff_delta *d;
		const char *path;
		if (!e || e->status == GIT_STATUS_CURRENT || e->status == GIT_STATUS_IGNORED)
			continue;
		if (!(d = e->index_to_workdir ? e->index_to_workdir : e->head_to_index))
			continue;
		path = d->new_file.path ? d->new_file.path : d->old_file.path;
		if (!path)
			continue;
		g->nchanged_total++;
		if (g->nchanged == CLI_GIT_CHANGED_MAX)
			continue;
		if (!(g->changed[g->nchanged] = strdup(path))) {
			error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
			goto done;
		}
		g->nchanged++;
	}
	g->dirty = g->nchanged_total > 0;
done:
	git_status_list_free(list);
	return error;
}

int cli_git_state_read(const char *dir, cli_git_state *out)
{
	git_repository *repo = NULL;
	cli_git_state g;
	int rc, error = 0;
	memset(&g, 0, sizeof(g));
	if (git_libgit2_init() < 0)
		return git_fail(MLREG_ERROR, "cannot start libgit2 for", dir);
	/* search upward from dir, as git does */
	rc = git_repository_open_ext(&repo, dir, 0, NULL);
	if (rc == GIT_ENOTFOUND) {
		error = mlreg_error_set(MLREG_ERROR, "'%s' is not in a git repository", dir);
		goto done;
	}
	if (rc < 0) {
		error = git_fail(MLREG_EIO, "cannot open the git repository at", dir);
		goto done;
	}
	if ((error = read_head(repo, dir, &g)) < 0 || (error = read_remote(repo, dir, &g)) < 0 ||
	    (error = read_status(repo, dir, &g)) < 0)
		goto done;
	*out = g;
done:
	if (error < 0)
		cli_git_state_release(&g);
	git_repository_free(repo);
	git_libgit2_shutdown();
	return error;
}

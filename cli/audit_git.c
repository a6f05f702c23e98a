/*
 * audit_git.c - the libgit2 adapter of the audit export: the only file of
 * the CLI that includes git2.h, and the one place libgit2 errors
 * (git_error_last) become MLREG_E* codes.
 *
 * Commits are built from objects, not from the working tree or the index:
 * each changed chunk becomes a blob (git_blob_create_from_buffer), HEAD's
 * entries/ tree plus those blobs becomes the new entries/ tree, and the
 * root tree (entries/ + head.json) is committed with HEAD as the only
 * parent.  Nothing a user left staged or edited in the working tree can get
 * into an export commit, and reading (verify) looks only at HEAD's tree.
 * Blobs are written as chunks fill, so memory holds one chunk at a time;
 * an export that fails midway leaves only unreferenced objects behind.
 */
#include <stdlib.h>
#include <string.h>
#include <git2.h>
#include "cli/audit_git.h"
#include "cli/cli.h"

#define MAX_CHUNK_FILE ((size_t)1 << 30)
#define SIG_NAME "mlreg audit export"
#define SIG_EMAIL "audit-export@mlreg.invalid"

struct cli_audit_repo {
	git_repository *repo;
	git_commit *head;          /* HEAD's commit at open, NULL when unborn */
	git_tree *root;            /* its tree */
	git_tree *entries;         /* its entries/ tree, NULL when absent */
	git_treebuilder *staged;   /* the next entries/ tree, made on first stage */
	bool libgit2_up;
};

/* libgit2's last error as ours. */
static int git_fail(int code, const char *what)
{
	const git_error *e = git_error_last();
	return mlreg_error_set(code, "%s: %s", what, e && e->message ? e->message : "libgit2 error");
}

void cli_audit_repo_free(cli_audit_repo *r)
{
	if (!r)
		return;
	git_treebuilder_free(r->staged);
	git_tree_free(r->entries);
	git_tree_free(r->root);
	git_commit_free(r->head);
	git_repository_free(r->repo);
	if (r->libgit2_up)
		git_libgit2_shutdown();
	free(r);
}

int cli_audit_repo_open(cli_audit_repo **out, const char *dir, bool create)
{
	cli_audit_repo *r = calloc(1, sizeof(*r));
	git_oid oid;
	const git_tree_entry *te;
	int rc, error = 0;
	if (!r)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	if (git_libgit2_init() < 0) {
		free(r);
		return git_fail(MLREG_ERROR, "cannot start libgit2");
	}
	r->libgit2_up = true;
	/* no search upwards: DIR itself must be the repository */
	rc = git_repository_open_ext(&r->repo, dir, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
	if (rc == GIT_ENOTFOUND && create) {
		if (git_repository_init(&r->repo, dir, 0) < 0) {
			error = git_fail(MLREG_EIO, "cannot create a git repository");
			goto done;
		}
	} else if (rc == GIT_ENOTFOUND) {
		error = mlreg_error_set(MLREG_ENOTFOUND, "no git repository at '%s'", dir);
		goto done;
	} else if (rc < 0) {
		error = git_fail(MLREG_EIO, "cannot open the git repository");
		goto done;
	}
	rc = git_reference_name_to_id(&oid, r->repo, "HEAD");
	if (rc == GIT_ENOTFOUND || rc == GIT_EUNBORNBRANCH)
		goto done;
	if (rc < 0 || git_commit_lookup(&r->head, r->repo, &oid) < 0 || git_commit_tree(&r->root, r->head) < 0) {
		error = git_fail(MLREG_EIO, "cannot read HEAD");
		goto done;
	}
	te = git_tree_entry_byname(r->root, "entries");
	if (te) {
		if (git_tree_entry_type(te) != GIT_OBJECT_TREE) {
			error = mlreg_error_set(MLREG_EINTEGRITY, "'entries' in HEAD is not a folder");
			goto done;
		}
		if (git_tree_lookup(&r->entries, r->repo, git_tree_entry_id(te)) < 0) {
			error = git_fail(MLREG_EIO, "cannot read HEAD's entries/");
			goto done;
		}
	}
done:
	if (error < 0) {
		cli_audit_repo_free(r);
		return error;
	}
	*out = r;
	return 0;
}

/* A blob of tree `t` by name into a heap string. */
static int read_blob(cli_audit_repo *r, const git_tree *t, const char *name, char **data, size_t *len)
{
	const git_tree_entry *te = t ? git_tree_entry_byname(t, name) : NULL;
	git_blob *b = NULL;
	git_object_size_t n;
	char *copy;
	if (!te)
		return mlreg_error_set(MLREG_ENOTFOUND, "'%s' is not in HEAD", name);
	if (git_tree_entry_type(te) != GIT_OBJECT_BLOB)
		return mlreg_error_set(MLREG_EINTEGRITY, "'%s' in HEAD is not a file", name);
	if (git_blob_lookup(&b, r->repo, git_tree_entry_id(te)) < 0)
		return git_fail(MLREG_EIO, "cannot read a blob");
	n = git_blob_rawsize(b);
	if (n > MAX_CHUNK_FILE) {
		git_blob_free(b);
		return mlreg_error_set(MLREG_EINTEGRITY, "'%s' is larger than any export writes", name);
	}
	if (!(copy = malloc((size_t)n + 1))) {
		git_blob_free(b);
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	memcpy(copy, git_blob_rawcontent(b), (size_t)n);
	copy[n] = '\0';
	git_blob_free(b);
	*data = copy;
	*len = (size_t)n;
	return 0;
}

int cli_audit_repo_head(cli_audit_repo *r, int64_t *seq, char hash[CLI_AUDIT_HASH_MAX])
{
	char *data = NULL;
	size_t len = 0;
	int error;
	*seq = 0;
	hash[0] = '\0';
	if (!r->head)
		return 0;
	if ((error = read_blob(r, r->root, "head.json", &data, &len)) < 0)
		return cli_error_wrap(MLREG_EINTEGRITY, "the export's HEAD has no readable head.json");
	error = cli_audit_head_parse(data, len, seq, hash);
	free(data);
	return error < 0 ? cli_error_wrap(MLREG_EINTEGRITY, "the export's head.json is damaged") : 0;
}

int cli_audit_repo_chunks(cli_audit_repo *r, int64_t **chunks, size_t *n)
{
	size_t count = r->entries ? git_tree_entrycount(r->entries) : 0;
	int64_t *list = NULL;
	*chunks = NULL;
	*n = 0;
	if (count == 0)
		return 0;
	if (!(list = calloc(count, sizeof(int64_t))))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	/* tree entries are sorted by name; 8-digit names sort as numbers */
	for (size_t i = 0; i < count; i++) {
		const git_tree_entry *te = git_tree_entry_byindex(r->entries, i);
		if (cli_audit_chunk_parse_name(git_tree_entry_name(te), &list[i]) < 0 ||
		    git_tree_entry_type(te) != GIT_OBJECT_BLOB) {
			free(list);
			return mlreg_error_set(MLREG_EINTEGRITY, "the export's entries/ holds '%s', which is not a chunk file",
					       git_tree_entry_name(te));
		}
	}
	*chunks = list;
	*n = count;
	return 0;
}

int cli_audit_repo_read_chunk(cli_audit_repo *r, int64_t chunk, char **data, size_t *len)
{
	char name[32];
	cli_audit_chunk_name(chunk, name);
	return read_blob(r, r->entries, name, data, len);
}

int cli_audit_repo_stage_chunk(cli_audit_repo *r, int64_t chunk, const char *data, size_t len)
{
	git_oid oid;
	char name[32];
	if (!r->staged && git_treebuilder_new(&r->staged, r->repo, r->entries) < 0)
		return git_fail(MLREG_EIO, "cannot build a tree");
	cli_audit_chunk_name(chunk, name);
	if (git_blob_create_from_buffer(&oid, r->repo, data, len) < 0)
		return git_fail(MLREG_EIO, "cannot write a blob");
	if (git_treebuilder_insert(NULL, r->staged, name, &oid, GIT_FILEMODE_BLOB) < 0)
		return git_fail(MLREG_EIO, "cannot build a tree");
	return 0;
}

/* Bring a non-bare repository's working tree (and index) to the new HEAD
 * for the export's own paths only; anything else there is left alone. */
static int update_worktree(cli_audit_repo *r)
{
	git_checkout_options opts;
	char *paths[] = {"entries", "head.json"};
	if (git_repository_is_bare(r->repo))
		return 0;
	/* the INIT macro leaves fields out, which -Wextra refuses */
	if (git_checkout_options_init(&opts, GIT_CHECKOUT_OPTIONS_VERSION) < 0)
		return git_fail(MLREG_ERROR, "cannot set up a checkout");
	opts.checkout_strategy = GIT_CHECKOUT_FORCE;
	opts.paths.strings = paths;
	opts.paths.count = 2;
	if (git_checkout_head(r->repo, &opts) < 0)
		return git_fail(MLREG_EIO, "committed, but cannot update the working tree");
	return 0;
}

int cli_audit_repo_commit(cli_audit_repo *r, int64_t seq, const char *hash, const char *message)
{
	git_treebuilder *root = NULL;
	git_tree *tree = NULL;
	git_signature *sig = NULL;
	git_oid entries_oid, head_oid, tree_oid, commit_oid;
	const git_commit *parents[1];
	util_buf head;
	int rc, error = 0;

	util_buf_init(&head, 4096);
	if (!r->staged && git_treebuilder_new(&r->staged, r->repo, r->entries) < 0) {
		error = git_fail(MLREG_EIO, "cannot build a tree");
		goto done;
	}
	if ((error = cli_audit_head_format(&head, seq, hash)) < 0)
		goto done;
	if (git_treebuilder_write(&entries_oid, r->staged) < 0 ||
	    git_blob_create_from_buffer(&head_oid, r->repo, head.ptr, head.len) < 0 ||
	    git_treebuilder_new(&root, r->repo, r->root) < 0 ||
	    git_treebuilder_insert(NULL, root, "entries", &entries_oid, GIT_FILEMODE_TREE) < 0 ||
	    git_treebuilder_insert(NULL, root, "head.json", &head_oid, GIT_FILEMODE_BLOB) < 0 ||
	    git_treebuilder_write(&tree_oid, root) < 0 || git_tree_lookup(&tree, r->repo, &tree_oid) < 0) {
		error = git_fail(MLREG_EIO, "cannot build the export's tree");
		goto done;
	}
	if (git_signature_now(&sig, SIG_NAME, SIG_EMAIL) < 0) {
		error = git_fail(MLREG_ERROR, "cannot make a signature");
		goto done;
	}
	parents[0] = r->head;
	/* libgit2 refuses (GIT_EMODIFIED) when HEAD no longer is the parent */
	rc = git_commit_create(&commit_oid, r->repo, "HEAD", sig, sig, NULL, message, tree, r->head ? 1 : 0, parents);
	if (rc == GIT_EMODIFIED) {
		error = mlreg_error_set(MLREG_ECONFLICT, "the export's HEAD moved while exporting (another export?)");
		goto done;
	}
	if (rc < 0) {
		error = git_fail(MLREG_EIO, "cannot commit");
		goto done;
	}
	error = update_worktree(r);
done:
	git_signature_free(sig);
	git_tree_free(tree);
	git_treebuilder_free(root);
	util_buf_release(&head);
	return error;
}

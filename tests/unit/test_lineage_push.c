/*
 * test_lineage_push.c - unit tests for the lineage flags of `mlreg push`
 * (cli/lineage_push.c, cli/lineage_git.c): parsing --dataset and friends,
 * dataset digests, the git state read through libgit2, and the "lineage"
 * member of the version-create body they become (docs/api.md).
 *
 * The builder is called directly, without a registry: what push sends is
 * exactly what cli_lineage_json() returns.  Repositories are made by the
 * real git command in a temp folder (git init, commit, remote add,
 * checkout --detach), so libgit2 is checked against what git itself
 * writes.  A folder's digest is checked against canonical manifest bytes
 * written out by hand from schema/canonical.md, not against the registry
 * encoder the code uses, so a drift between the two would show here.
 */
#include "testutil.h"
#include <stdarg.h>
#include <sys/wait.h>
#include "cli/lineage_push.h"
#include "util/json.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* Run a shell command built from fmt in dir; the test fails unless it exits 0. */
static void sh(const char *dir, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sh(const char *dir, const char *fmt, ...)
{
	char cmd[4096];
	int n = snprintf(cmd, sizeof(cmd), "cd '%s' && ( ", dir);
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
	va_end(ap);
	snprintf(cmd + n, sizeof(cmd) - (size_t)n, " ) >/dev/null 2>&1");
	if (system(cmd) != 0)
		fail_msg("command failed: %s", cmd);
}

/* First line of a command's output (heap). */
static char *sh_out(const char *dir, const char *cmd)
{
	char full[4096], line[512] = "";
	FILE *p;
	snprintf(full, sizeof(full), "cd '%s' && %s", dir, cmd);
	p = popen(full, "r");
	assert_non_null(p);
	if (!fgets(line, sizeof(line), p))
		line[0] = '\0';
	pclose(p);
	line[strcspn(line, "\n")] = '\0';
	return strdup(line);
}

#define GIT "git -c user.name=t -c user.email=t@example.com -c init.defaultBranch=main -c advice.detachedHead=false "

/* A repository with one commit on main: tracked.txt, sub/deep.txt and a
 * .gitignore that ignores *.log. */
static char *make_repo(void)
{
	char *dir = tu_mkdtemp();
	sh(dir, GIT "init -q . && mkdir sub && echo a > tracked.txt && echo b > sub/deep.txt && echo '*.log' > .gitignore"
		    " && " GIT "add -A && " GIT "commit -qm init");
	return dir;
}

static cJSON *lineage_json(cli_lineage *l)
{
	cJSON *o = NULL;
	assert_int_equal(cli_lineage_json(l, &o), 0);
	return o;
}

static const cJSON *member(const cJSON *o, const char *path)
{
	char key[128];
	const char *dot;
	while ((dot = strchr(path, '.'))) {
		snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
		o = cJSON_GetObjectItemCaseSensitive(o, key);
		path = dot + 1;
	}
	return cJSON_GetObjectItemCaseSensitive(o, path);
}

/* ---- options ---- */

static int opt(cli_lineage *l, int id, const char *value)
{
	return cli_lineage_option(l, "push", id, value);
}

static void dataset_specs_parse(void **state)
{
	cli_lineage l;
	cli_lineage_init(&l);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_DATASET, "train=data/train.csv"), 0);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_DATASET, "labels=s3://bucket/labels.csv"), 0);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_DATASET,
			     "img/v2=gs://b/x@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"),
			 0);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_DATASET, "a.b_c-d=rel@sha256:" HEX64), 0);
	assert_int_equal(l.ndatasets, 4);
	assert_string_equal(l.datasets[0].name, "train");
	assert_string_equal(l.datasets[0].source, "data/train.csv");
	assert_false(l.datasets[0].uri);
	assert_string_equal(l.datasets[0].expect, "");
	assert_true(l.datasets[1].uri);
	assert_string_equal(l.datasets[1].source, "s3://bucket/labels.csv");
	assert_true(l.datasets[2].uri);
	assert_string_equal(l.datasets[2].source, "gs://b/x");
	assert_string_equal(l.datasets[2].expect, "sha256:" HEX64); /* lowercased */
	assert_false(l.datasets[3].uri);
	assert_string_equal(l.datasets[3].source, "rel");
	cli_lineage_release(&l);
}

static void dataset_specs_refused(void **state)
{
	static const char *const bad[] = {
		"train",                        /* no '=' */
		"=x",                           /* no name */
		"train=",                       /* no value */
		"bad name=x",                   /* space in the name */
		"na\xc3\xa9=x",                 /* non-ASCII letter */
		"t=x@sha256:0123",              /* short digest */
		"t=x@sha256:" HEX64 "00",       /* long digest */
		"t=x@sha256:" HEX64 "/more",    /* a digest must end the value */
		("t=@sha256:" HEX64),           /* no path before the digest */
		"t=x@sha256:zz23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"t=s3://bucket/a\tb",           /* control character in a URI */
	};
	char name[200];
	cli_lineage l;
	cli_lineage_init(&l);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (opt(&l, CLI_LINEAGE_OPT_DATASET, bad[i]) != MLREG_EUSAGE)
			fail_msg("accepted --dataset '%s'", bad[i]);
	}
	memset(name, 'n', 129);
	strcpy(name + 129, "=x");
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_DATASET, name), MLREG_EUSAGE);
	name[128] = '=';
	name[129] = 'x';
	name[130] = '\0';
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_DATASET, name), 0); /* 128 is the limit */
	assert_int_equal(l.ndatasets, 1);
	cli_lineage_release(&l);
}

static void limits_and_rules(void **state)
{
	cli_lineage l;
	cli_lineage_init(&l);
	for (int i = 0; i < CLI_LINEAGE_MAX_DATASETS; i++)
		assert_int_equal(opt(&l, CLI_LINEAGE_OPT_DATASET, "d=s3://b/k"), 0);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_DATASET, "d=s3://b/k"), MLREG_EUSAGE);
	for (int i = 0; i < CLI_LINEAGE_MAX_PARENTS; i++)
		assert_int_equal(opt(&l, CLI_LINEAGE_OPT_PARENT, "base@champion"), 0);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_PARENT, "base:1"), MLREG_EUSAGE);
	cli_lineage_release(&l);

	cli_lineage_init(&l);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_PARENT, "Base:1"), MLREG_EUSAGE);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_PARENT, "base"), MLREG_EUSAGE);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_PARENT, "risk/base:production"), 0);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_RUN, ""), MLREG_EUSAGE);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_GIT, ""), MLREG_EUSAGE);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_RUN_URL, "https://ci/1"), 0);
	assert_int_equal(cli_lineage_check(&l, "push"), MLREG_EUSAGE); /* --run-url without --run */
	assert_non_null(strstr(mlreg_error_last(), "--run-url needs --run"));
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_RUN, "run-42"), 0);
	assert_int_equal(cli_lineage_check(&l, "push"), 0);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_REQUIRE_CLEAN, NULL), 0);
	assert_int_equal(cli_lineage_check(&l, "push"), MLREG_EUSAGE); /* --require-clean without --git */
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_GIT, NULL), 0);
	assert_string_equal(l.git_dir, ".");
	assert_int_equal(cli_lineage_check(&l, "push"), 0);
	cli_lineage_release(&l);
}

/* --git alone and --git=DIR; a following argument stays positional. */
static void optional_value_option(void **state)
{
	static const cli_option opts[] = {{"git", 7, CLI_VALUE_OPTIONAL}, {"x", 8, true}, {NULL, 0, false}};
	char *argv[] = {"--git", "model", "--git=../repo", "-x", "v"};
	cli_args a;
	cli_args_init(&a, "push", opts, 5, argv);
	assert_int_equal(cli_args_next(&a), 7);
	assert_null(a.value);
	assert_int_equal(cli_args_next(&a), CLI_ARGS_POS);
	assert_string_equal(a.value, "model");
	assert_int_equal(cli_args_next(&a), 7);
	assert_string_equal(a.value, "../repo");
	assert_int_equal(cli_args_next(&a), 8);
	assert_string_equal(a.value, "v");
	assert_int_equal(cli_args_next(&a), CLI_ARGS_END);
}

/* ---- datasets ---- */

static void file_and_folder_digests(void **state)
{
	char *dir = tu_mkdtemp(), spec[2048], d2[UTIL_DIGEST_LEN + 1], dab[UTIL_DIGEST_LEN + 1],
	     d1[UTIL_DIGEST_LEN + 1], drun[UTIL_DIGEST_LEN + 1], want[UTIL_DIGEST_LEN + 1], manifest[2048];
	cli_lineage l;
	cJSON *o;
	const cJSON *ds;
	sh(dir, "mkdir -p ds/a && printf '2\\n' > ds/2 && printf 'ab\\n' > ds/a-b && printf '1\\n' > ds/a/1 && "
		"printf '#!/bin/sh\\n' > ds/run.sh && chmod 755 ds/run.sh && printf 'hello\\n' > train.csv");
	util_sha256_buf("2\n", 2, d2);
	util_sha256_buf("ab\n", 3, dab);
	util_sha256_buf("1\n", 2, d1);
	util_sha256_buf("#!/bin/sh\n", 10, drun);
	/* schema/canonical.md: files sorted by path bytes ('-' before '/') */
	snprintf(manifest, sizeof(manifest),
		 "{\"files\":[{\"digest\":\"%s\",\"mode\":420,\"path\":\"2\",\"size\":2},"
		 "{\"digest\":\"%s\",\"mode\":420,\"path\":\"a-b\",\"size\":3},"
		 "{\"digest\":\"%s\",\"mode\":420,\"path\":\"a/1\",\"size\":2},"
		 "{\"digest\":\"%s\",\"mode\":493,\"path\":\"run.sh\",\"size\":10}],"
		 "\"mediaType\":\"application/vnd.mlreg.manifest.v1+json\",\"schemaVersion\":1}",
		 d2, dab, d1, drun);
	util_sha256_buf(manifest, strlen(manifest), want);

	cli_lineage_init(&l);
	snprintf(spec, sizeof(spec), "train=%s/train.csv", dir);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_DATASET, spec), 0);
	snprintf(spec, sizeof(spec), "train-v2=%s/train.csv", dir); /* one path, two names */
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_DATASET, spec), 0);
	snprintf(spec, sizeof(spec), "folder=%s/ds", dir);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_DATASET, spec), 0);
	snprintf(spec, sizeof(spec), "folder/again=%s/ds/@%s", dir, want); /* trailing '/' and a digest */
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_DATASET, spec), 0);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_DATASET, "labels=s3://bucket/labels.csv"), 0);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_DATASET, "pinned=s3://bucket/x@sha256:" HEX64), 0);
	assert_int_equal(cli_lineage_resolve(&l, NULL), 0);
	o = lineage_json(&l);
	ds = member(o, "datasets");
	assert_int_equal(cJSON_GetArraySize(ds), 6);
	util_sha256_buf("hello\n", 6, spec);
	assert_string_equal(util_json_str(cJSON_GetArrayItem(ds, 0), "name"), "train");
	assert_string_equal(util_json_str(cJSON_GetArrayItem(ds, 0), "digest"), spec);
	assert_string_equal(util_json_str(cJSON_GetArrayItem(ds, 1), "name"), "train-v2");
	assert_string_equal(util_json_str(cJSON_GetArrayItem(ds, 1), "digest"), spec);
	assert_string_equal(util_json_str(cJSON_GetArrayItem(ds, 2), "digest"), want);
	assert_true(l.datasets[2].folder);
	assert_int_equal(l.datasets[2].files, 4);
	assert_string_equal(util_json_str(cJSON_GetArrayItem(ds, 3), "digest"), want);
	assert_string_equal(util_json_str(cJSON_GetArrayItem(ds, 4), "uri"), "s3://bucket/labels.csv");
	assert_null(util_json_str(cJSON_GetArrayItem(ds, 4), "digest"));
	/* a URI with a digest is identified by the digest alone */
	assert_string_equal(util_json_str(cJSON_GetArrayItem(ds, 5), "digest"), "sha256:" HEX64);
	assert_null(util_json_str(cJSON_GetArrayItem(ds, 5), "uri"));
	for (int i = 0; i < 6; i++)
		assert_int_equal(cJSON_GetArraySize(cJSON_GetArrayItem(ds, i)), 2); /* name and one identity */
	assert_null(member(o, "parents"));
	assert_null(member(o, "git"));
	assert_null(member(o, "run"));
	cJSON_Delete(o);
	cli_lineage_release(&l);
	tu_rmdir(dir);
}

static void dataset_digest_mismatch_is_integrity(void **state)
{
	char *dir = tu_mkdtemp(), spec[2048];
	cli_lineage l;
	sh(dir, "printf 'hello\\n' > train.csv");
	cli_lineage_init(&l);
	snprintf(spec, sizeof(spec), "train=%s/train.csv@sha256:" HEX64, dir);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_DATASET, spec), 0);
	assert_int_equal(cli_lineage_resolve(&l, NULL), MLREG_EINTEGRITY);
	assert_non_null(strstr(mlreg_error_last(), "dataset 'train'"));
	assert_non_null(strstr(mlreg_error_last(), "not sha256:" HEX64));
	cli_lineage_release(&l);
	tu_rmdir(dir);
}

static int resolve_one(const char *spec)
{
	cli_lineage l;
	int rc;
	cli_lineage_init(&l);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_DATASET, spec), 0);
	rc = cli_lineage_resolve(&l, NULL);
	cli_lineage_release(&l);
	return rc;
}

static void dataset_trees_refused(void **state)
{
	char *dir = tu_mkdtemp(), spec[2048];
	sh(dir, "mkdir -p link/sub empty fifo out && echo x > out/f && echo y > link/y && ln -s ../../out/f link/sub/l"
		" && echo z > fifo/z && mkfifo fifo/p && ln -s out top");
	snprintf(spec, sizeof(spec), "d=%s/link", dir);
	assert_int_equal(resolve_one(spec), MLREG_EINVALID);
	assert_non_null(strstr(mlreg_error_last(), "link/sub/l': it is a symbolic link"));
	assert_non_null(strstr(mlreg_error_last(), "dataset 'd'"));
	snprintf(spec, sizeof(spec), "d=%s/fifo", dir);
	assert_int_equal(resolve_one(spec), MLREG_EINVALID);
	assert_non_null(strstr(mlreg_error_last(), "it is a FIFO"));
	snprintf(spec, sizeof(spec), "d=%s/top", dir); /* PATH itself a link */
	assert_int_equal(resolve_one(spec), MLREG_EINVALID);
	snprintf(spec, sizeof(spec), "d=%s/empty", dir);
	assert_int_equal(resolve_one(spec), MLREG_EINVALID);
	assert_non_null(strstr(mlreg_error_last(), "holds no files"));
	snprintf(spec, sizeof(spec), "d=%s/missing", dir);
	assert_int_equal(resolve_one(spec), MLREG_EIO);
	tu_rmdir(dir);
}

/* The digest cache serves an unchanged file and is not fooled by a new one. */
static void dataset_digest_cache(void **state)
{
	char *dir = tu_mkdtemp(), path[1024], cache_path[1024], a[UTIL_DIGEST_LEN + 1], b[UTIL_DIGEST_LEN + 1],
	     want[UTIL_DIGEST_LEN + 1];
	cli_digest_cache *cache = NULL;
	size_t files = 0;
	sh(dir, "mkdir ds && printf 'one\\n' > ds/f && touch -d '2020-01-01' ds/f");
	snprintf(path, sizeof(path), "%s/ds", dir);
	snprintf(cache_path, sizeof(cache_path), "%s/cache", dir);
	assert_int_equal(cli_digest_cache_open(&cache, cache_path), 0);
	assert_int_equal(cli_lineage_folder_digest(path, cache, a, &files), 0);
	assert_int_equal(files, 1);
	assert_int_equal(cli_lineage_folder_digest(path, cache, b, &files), 0);
	assert_string_equal(a, b);
	sh(dir, "printf 'two\\n' > ds/f");
	assert_int_equal(cli_lineage_folder_digest(path, cache, b, &files), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(cli_lineage_folder_digest(path, NULL, want, &files), 0);
	assert_string_equal(b, want);
	cli_digest_cache_free(cache);
	tu_rmdir(dir);
}

/* ---- git ---- */

static void url_userinfo_stripped(void **state)
{
	static const char *const cases[][2] = {
		{"https://user:secret@example.com/org/repo.git", "https://example.com/org/repo.git"},
		{"https://ghp_token@github.com/org/repo", "https://github.com/org/repo"},
		{"https://u:p@ss@host:8443/r?x=a@b#f@g", "https://host:8443/r?x=a@b#f@g"},
		{"ssh://git@host/repo.git", "ssh://host/repo.git"},
		{"https://example.com/org/repo@v1", "https://example.com/org/repo@v1"},
		{"git@github.com:org/repo.git", "git@github.com:org/repo.git"},
		{"/srv/git/repo.git", "/srv/git/repo.git"},
		{"file:///srv/repo", "file:///srv/repo"},
		{"https://host", "https://host"},
		{"", ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = cli_git_url_strip_userinfo(cases[i][0]);
		assert_non_null(s);
		assert_string_equal(s, cases[i][1]);
		free(s);
	}
}

static void git_clean_and_dirty(void **state)
{
	char *dir = make_repo(), *head, sub[1024];
	cli_lineage l;
	cJSON *o;
	const cJSON *changed;
	sh(dir, "git remote add origin 'https://ci:s3cret@git.example.com/org/repo.git'");
	head = sh_out(dir, "git rev-parse HEAD");
	assert_int_equal(strlen(head), 40);

	cli_lineage_init(&l);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_GIT, dir), 0);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_REQUIRE_CLEAN, NULL), 0);
	assert_int_equal(cli_lineage_resolve(&l, NULL), 0); /* clean: allowed */
	o = lineage_json(&l);
	assert_string_equal(util_json_str(member(o, "git"), "commit"), head);
	assert_string_equal(util_json_str(member(o, "git"), "branch"), "main");
	assert_string_equal(util_json_str(member(o, "git"), "remote"), "https://git.example.com/org/repo.git");
	assert_true(cJSON_IsFalse(member(o, "git.dirty")));
	assert_true(cJSON_IsArray(member(o, "git.changed")));
	assert_int_equal(cJSON_GetArraySize(member(o, "git.changed")), 0);
	assert_int_equal(cJSON_GetArraySize(member(o, "git")), 5);
	cJSON_Delete(o);
	cli_lineage_release(&l);

	/* a modified file, an untracked file in a new folder, an ignored
	 * file, a staged new file and a deleted one */
	sh(dir, "echo changed >> tracked.txt && mkdir -p new/deeper && echo n > new/deeper/u.txt && echo i > x.log && "
		"echo s > staged.txt && git add staged.txt && git rm -q sub/deep.txt");
	snprintf(sub, sizeof(sub), "%s/new/deeper", dir); /* any subfolder finds the repository */
	cli_lineage_init(&l);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_GIT, sub), 0);
	assert_int_equal(cli_lineage_resolve(&l, NULL), 0);
	o = lineage_json(&l);
	assert_true(cJSON_IsTrue(member(o, "git.dirty")));
	changed = member(o, "git.changed");
	assert_int_equal(cJSON_GetArraySize(changed), 4);
	assert_string_equal(cJSON_GetArrayItem(changed, 0)->valuestring, "new/deeper/u.txt");
	assert_string_equal(cJSON_GetArrayItem(changed, 1)->valuestring, "staged.txt");
	assert_string_equal(cJSON_GetArrayItem(changed, 2)->valuestring, "sub/deep.txt");
	assert_string_equal(cJSON_GetArrayItem(changed, 3)->valuestring, "tracked.txt");
	cJSON_Delete(o);
	cli_lineage_release(&l);

	cli_lineage_init(&l);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_GIT, dir), 0);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_REQUIRE_CLEAN, NULL), 0);
	assert_int_equal(cli_lineage_resolve(&l, NULL), MLREG_EREFUSED);
	assert_non_null(strstr(mlreg_error_last(), "4 changed paths: new/deeper/u.txt, staged.txt, sub/deep.txt, tracked.txt"));
	cli_lineage_release(&l);
	free(head);
	tu_rmdir(dir);
}

static void git_changed_capped(void **state)
{
	char *dir = make_repo();
	cli_lineage l;
	cJSON *o;
	sh(dir, "mkdir many && for i in $(seq 1 1005); do : > many/f$i; done");
	cli_lineage_init(&l);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_GIT, dir), 0);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_REQUIRE_CLEAN, NULL), 0);
	assert_int_equal(cli_lineage_resolve(&l, NULL), MLREG_EREFUSED);
	assert_non_null(strstr(mlreg_error_last(), "1005 changed paths"));
	assert_non_null(strstr(mlreg_error_last(), " and 995 more"));
	l.require_clean = false;
	assert_int_equal(cli_lineage_resolve(&l, NULL), 0);
	o = lineage_json(&l);
	assert_int_equal(cJSON_GetArraySize(member(o, "git.changed")), CLI_GIT_CHANGED_MAX);
	cJSON_Delete(o);
	cli_lineage_release(&l);
	tu_rmdir(dir);
}

static void git_detached_without_remote(void **state)
{
	char *dir = make_repo(), *first;
	cli_lineage l;
	cJSON *o;
	first = sh_out(dir, "git rev-parse HEAD");
	sh(dir, "echo 2 > tracked.txt && " GIT "commit -qam two && git checkout -q --detach HEAD~1");
	cli_lineage_init(&l);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_GIT, dir), 0);
	assert_int_equal(cli_lineage_resolve(&l, NULL), 0);
	o = lineage_json(&l);
	assert_string_equal(util_json_str(member(o, "git"), "commit"), first);
	assert_true(cJSON_IsNull(member(o, "git.branch")));
	assert_true(cJSON_IsNull(member(o, "git.remote")));
	assert_true(cJSON_IsFalse(member(o, "git.dirty")));
	cJSON_Delete(o);
	cli_lineage_release(&l);
	free(first);
	tu_rmdir(dir);
}

static void git_refusals(void **state)
{
	char *dir = tu_mkdtemp(), *inside;
	cli_lineage l;
	/* a temp folder inside some repository cannot show "not a repository" */
	inside = sh_out(dir, "git rev-parse --is-inside-work-tree 2>/dev/null || echo no");
	cli_lineage_init(&l);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_GIT, dir), 0);
	if (!strcmp(inside, "no")) {
		assert_int_equal(cli_lineage_resolve(&l, NULL), MLREG_ERROR);
		assert_non_null(strstr(mlreg_error_last(), "is not in a git repository"));
	}
	sh(dir, GIT "init -q .");
	assert_int_equal(cli_lineage_resolve(&l, NULL), MLREG_EINVALID); /* no commit yet */
	assert_non_null(strstr(mlreg_error_last(), "has no commit yet"));
	cli_lineage_release(&l);
	free(inside);
	tu_rmdir(dir);
}

/* ---- the whole member and push's line ---- */

static void body_member_and_summary(void **state)
{
	char *dir = make_repo(), *head, spec[2048], want[200];
	cli_lineage l;
	util_buf line;
	cJSON *o;
	head = sh_out(dir, "git rev-parse HEAD");
	sh(dir, "echo more >> tracked.txt");
	cli_lineage_init(&l);
	assert_int_equal(cli_lineage_json(&l, &o), 0);
	assert_null(o); /* nothing given: no member */
	util_buf_init(&line, 4096);
	assert_int_equal(cli_lineage_summary(&l, &line), 0);
	assert_string_equal(line.ptr, "");

	snprintf(spec, sizeof(spec), "train=%s/tracked.txt", dir);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_DATASET, spec), 0);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_DATASET, "labels=s3://b/l.csv"), 0);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_PARENT, "base:3"), 0);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_GIT, dir), 0);
	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_RUN, "run-42"), 0);
	assert_int_equal(cli_lineage_json(&l, &o), MLREG_EINVALID); /* not resolved yet */
	assert_int_equal(cli_lineage_resolve(&l, NULL), 0);
	o = lineage_json(&l);
	assert_int_equal(cJSON_GetArraySize(o), 4);
	assert_string_equal(cJSON_GetArrayItem(member(o, "parents"), 0)->valuestring, "base:3");
	assert_string_equal(util_json_str(member(o, "run"), "id"), "run-42");
	assert_null(member(o, "run.url"));
	cJSON_Delete(o);
	assert_int_equal(cli_lineage_summary(&l, &line), 0);
	snprintf(want, sizeof(want), "lineage: 2 datasets, 1 parent, commit %.7s (main, dirty), run run-42", head);
	assert_string_equal(line.ptr, want);

	assert_int_equal(opt(&l, CLI_LINEAGE_OPT_RUN_URL, "https://ci.example.com/runs/42"), 0);
	o = lineage_json(&l);
	assert_string_equal(util_json_str(member(o, "run"), "url"), "https://ci.example.com/runs/42");
	cJSON_Delete(o);
	util_buf_release(&line);
	cli_lineage_release(&l);
	free(head);
	tu_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dataset_specs_parse),
		cmocka_unit_test(dataset_specs_refused),
		cmocka_unit_test(limits_and_rules),
		cmocka_unit_test(optional_value_option),
		cmocka_unit_test(file_and_folder_digests),
		cmocka_unit_test(dataset_digest_mismatch_is_integrity),
		cmocka_unit_test(dataset_trees_refused),
		cmocka_unit_test(dataset_digest_cache),
		cmocka_unit_test(url_userinfo_stripped),
		cmocka_unit_test(git_clean_and_dirty),
		cmocka_unit_test(git_changed_capped),
		cmocka_unit_test(git_detached_without_remote),
		cmocka_unit_test(git_refusals),
		cmocka_unit_test(body_member_and_summary),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

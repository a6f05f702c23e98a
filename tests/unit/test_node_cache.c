/*
 * test_node_cache.c - unit tests for mlreg-node's cache folder
 * (node/cache.c): the lock, the state file, and node_cache_verify()
 * against entries damaged in every way a disk or a person can damage them;
 * then node_cache_fetch() against a real `mlreg server`.
 *
 * The local tests write cache entries by hand: files under versions/<hex>
 * and the version object beside them, its digest computed here from
 * canonical manifest bytes written out by hand from schema/canonical.md,
 * so the check in cli/fetch.c is held to the spec rather than to itself.
 * The registry group starts the real server binary (MLREG_BIN, else the
 * build's bin/mlreg) on 127.0.0.1 with an ephemeral port and pushes with
 * the real CLI, as the integration tests do; nothing is mocked.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <curl/curl.h>
#include "node/cache.h"
#include "util/json.h"

/* ---------------------------------------------------------------- helpers */

/* A hand-made cache entry: three files, one in a subfolder, one empty. */
typedef struct {
	char *cache;  /* the cache folder */
	char *dir;    /* CACHE/versions/<hex> */
	char *json;   /* CACHE/versions/<hex>.json */
	char digest[UTIL_DIGEST_LEN + 1];
} fixture;

static const char *const names[] = {"empty.txt", "model.json", "sub/weights.bin"};
static const char *const bodies[] = {"", "{\"format\":\"xgboost\"}", "0123456789abcdef-weights-bytes"};

static char *path_in(const char *dir, const char *rel)
{
	char *p;
	assert_true(asprintf(&p, "%s/%s", dir, rel) > 0);
	return p;
}

/* Write the entry's files and its version object into f->cache. */
static void make_entry(fixture *f)
{
	char fd[3][UTIL_DIGEST_LEN + 1], canon[2048], *obj, *sub, hex[65];
	int n = 0;
	/* Canonical manifest: keys sorted, no whitespace, files by path. */
	n += snprintf(canon + n, sizeof(canon) - (size_t)n, "{\"files\":[");
	for (int i = 0; i < 3; i++) {
		util_sha256_buf(bodies[i], strlen(bodies[i]), fd[i]);
		n += snprintf(canon + n, sizeof(canon) - (size_t)n,
			      "%s{\"digest\":\"%s\",\"mode\":420,\"path\":\"%s\",\"size\":%zu}", i ? "," : "", fd[i],
			      names[i], strlen(bodies[i]));
	}
	snprintf(canon + n, sizeof(canon) - (size_t)n,
		 "],\"mediaType\":\"application/vnd.mlreg.manifest.v1+json\",\"schemaVersion\":1}");
	util_sha256_buf(canon, strlen(canon), f->digest);
	memcpy(hex, f->digest + 7, 65);

	assert_true(asprintf(&f->dir, "%s/versions/%s", f->cache, hex) > 0);
	assert_true(asprintf(&f->json, "%s.json", f->dir) > 0);
	sub = path_in(f->dir, "sub");
	assert_int_equal(util_mkdir_p(sub, 0755), 0);
	free(sub);
	for (int i = 0; i < 3; i++) {
		char *p = path_in(f->dir, names[i]);
		tu_write(p, bodies[i], strlen(bodies[i]));
		free(p);
	}
	assert_true(asprintf(&obj,
			     "{\"model\":\"fraud\",\"version\":3,\"digest\":\"%s\",\"files\":["
			     "{\"path\":\"model.json\",\"digest\":\"%s\",\"size\":%zu,\"mode\":420},"
			     "{\"path\":\"sub/weights.bin\",\"digest\":\"%s\",\"size\":%zu,\"mode\":420},"
			     "{\"path\":\"empty.txt\",\"digest\":\"%s\",\"size\":0,\"mode\":420}]}",
			     f->digest, fd[1], strlen(bodies[1]), fd[2], strlen(bodies[2]), fd[0]) > 0);
	tu_write(f->json, obj, strlen(obj));
	free(obj);
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->cache = tu_mkdtemp();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	tu_rmdir(f->cache);
	free(f->dir);
	free(f->json);
	free(f);
	return 0;
}

/* Open the cache, make the entry, and expect verify to fail with
 * MLREG_EINTEGRITY, a message containing want, and the entry gone. */
static void expect_damaged(fixture *f, void (*damage)(fixture *), const char *want)
{
	node_cache *c = NULL;
	char *dir = NULL;
	assert_int_equal(node_cache_open(f->cache, &c), 0);
	make_entry(f);
	damage(f);
	assert_int_equal(node_cache_verify(c, f->digest, &dir), MLREG_EINTEGRITY);
	assert_null(dir);
	if (!strstr(mlreg_error_last(), want))
		fail_msg("message '%s' lacks '%s'", mlreg_error_last(), want);
	assert_non_null(strstr(mlreg_error_last(), "is removed"));
	assert_false(tu_exists(f->dir));
	assert_false(tu_exists(f->json));
	assert_int_equal(node_cache_verify(c, f->digest, &dir), MLREG_ENOTFOUND);
	node_cache_close(c);
}

/* ---------------------------------------------------------------- lock and state */

static void open_lock(void **state)
{
	fixture *f = *state;
	node_cache *c = NULL, *c2 = NULL;
	char *junk, *temp, *staging;
	assert_int_equal(node_cache_open(f->cache, &c), 0);
	assert_string_equal(node_cache_dir(c), f->cache);
	assert_true(tu_exists(f->cache));

	/* A second user of the folder is refused, even in this process
	 * (flock locks belong to the open file). */
	assert_int_equal(node_cache_open(f->cache, &c2), MLREG_ECONFLICT);
	assert_null(c2);
	assert_non_null(strstr(mlreg_error_last(), "is in use by another mlreg-node"));
	assert_non_null(strstr(mlreg_error_last(), f->cache));

	/* Left-over downloads and state temp files go at the next open. */
	staging = path_in(f->cache, "staging/fetch-abc/tree");
	assert_int_equal(util_mkdir_p(staging, 0755), 0);
	junk = path_in(staging, "half-written");
	tu_write(junk, "x", 1);
	temp = path_in(f->cache, "state.json.tmp.12345");
	tu_write(temp, "{", 1);
	node_cache_close(c);
	assert_int_equal(node_cache_open(f->cache, &c), 0);
	assert_false(tu_exists(junk));
	assert_false(tu_exists(temp));
	free(staging);
	staging = path_in(f->cache, "staging");
	assert_int_equal(tu_count_entries(staging), 0);
	node_cache_close(c);
	free(staging);
	free(junk);
	free(temp);
}

static void state_round_trip(void **state)
{
	fixture *f = *state;
	node_cache *c = NULL;
	cJSON *got = (cJSON *)1, *want;
	const char *text = "{\"models\":{\"fraud\":{\"versions\":{\"2\":{\"digest\":\"sha256:00\",\"weight\":90},"
			   "\"3\":{\"weight\":10}},\"shadow\":\"3\"}}}";
	assert_int_equal(node_cache_open(f->cache, &c), 0);
	assert_int_equal(node_cache_load_state(c, &got), 0);
	assert_null(got); /* none yet */
	assert_int_equal(util_json_parse(text, strlen(text), 32, &want), 0);
	assert_int_equal(node_cache_save_state(c, want), 0);
	assert_int_equal(node_cache_load_state(c, &got), 0);
	assert_true(cJSON_Compare(got, want, true));
	cJSON_Delete(got);
	/* Replaced whole; no temp file stays behind. */
	cJSON_DeleteItemFromObject(want, "models");
	assert_int_equal(node_cache_save_state(c, want), 0);
	assert_int_equal(node_cache_load_state(c, &got), 0);
	assert_true(cJSON_Compare(got, want, true));
	cJSON_Delete(got);
	cJSON_Delete(want);
	assert_int_equal(tu_count_entries(f->cache), 4); /* lock, state.json, versions, staging */
	node_cache_close(c);
	/* It survives the process: a new open reads it. */
	assert_int_equal(node_cache_open(f->cache, &c), 0);
	assert_int_equal(node_cache_load_state(c, &got), 0);
	assert_true(cJSON_IsObject(got));
	cJSON_Delete(got);
	node_cache_close(c);
}

static void state_corrupt(void **state)
{
	fixture *f = *state;
	node_cache *c = NULL;
	cJSON *got = NULL;
	char *p = path_in(f->cache, "state.json"), *big;
	static const char *const bad[] = {"{\"models\":", "", "{} trailing", "\xff\xfe"};
	assert_int_equal(node_cache_open(f->cache, &c), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tu_write(p, bad[i], strlen(bad[i]));
		assert_int_equal(node_cache_load_state(c, &got), MLREG_EINVALID);
		assert_null(got);
		assert_non_null(strstr(mlreg_error_last(), "is corrupt"));
		assert_non_null(strstr(mlreg_error_last(), p));
	}
	/* Past the 16 MiB cap: refused without reading it all. */
	big = tu_repeat(' ', ((size_t)16 << 20) + 1);
	tu_write(p, big, strlen(big));
	free(big);
	assert_int_equal(node_cache_load_state(c, &got), MLREG_EINVALID);
	assert_non_null(strstr(mlreg_error_last(), "larger than 16 MiB"));
	/* Saving over a corrupt state repairs it. */
	got = cJSON_CreateObject();
	assert_int_equal(node_cache_save_state(c, got), 0);
	cJSON_Delete(got);
	assert_int_equal(node_cache_load_state(c, &got), 0);
	assert_true(cJSON_IsObject(got));
	cJSON_Delete(got);
	node_cache_close(c);
	free(p);
}

/* ---------------------------------------------------------------- verify */

static void verify_good(void **state)
{
	fixture *f = *state;
	node_cache *c = NULL;
	char *dir = NULL;
	assert_int_equal(node_cache_open(f->cache, &c), 0);
	make_entry(f);
	assert_int_equal(node_cache_verify(c, f->digest, &dir), 0);
	assert_string_equal(dir, f->dir);
	free(dir);
	dir = NULL;
	/* Twice: verify changes nothing. */
	assert_int_equal(node_cache_verify(c, f->digest, &dir), 0);
	free(dir);
	assert_int_equal(node_cache_verify(c, f->digest, NULL), 0);
	/* An empty folder is no damage (nothing in it is read). */
	{
		char *empty = path_in(f->dir, "sub/nothing-here");
		assert_int_equal(mkdir(empty, 0755), 0);
		assert_int_equal(node_cache_verify(c, f->digest, NULL), 0);
		free(empty);
	}
	node_cache_close(c);
}

static void verify_not_cached(void **state)
{
	fixture *f = *state;
	node_cache *c = NULL;
	char *dir = NULL;
	assert_int_equal(node_cache_open(f->cache, &c), 0);
	make_entry(f);
	assert_int_equal(util_rm_rf(f->dir), 0);
	/* An object without its folder is not an entry, and is tidied away. */
	assert_int_equal(node_cache_verify(c, f->digest, &dir), MLREG_ENOTFOUND);
	assert_non_null(strstr(mlreg_error_last(), "is not in the cache"));
	assert_false(tu_exists(f->json));
	assert_int_equal(node_cache_verify(c, f->digest, &dir), MLREG_ENOTFOUND);
	assert_int_equal(node_cache_verify(c, "sha256:abc", &dir), MLREG_EINVALID);
	assert_int_equal(node_cache_verify(c, "../../etc", &dir), MLREG_EINVALID);
	assert_null(dir);
	node_cache_close(c);
}

static void flip_byte(fixture *f)
{
	char *p = path_in(f->dir, "sub/weights.bin");
	int fd = open(p, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, 3), 1);
	close(fd);
	free(p);
}
static void verify_flipped_byte(void **state)
{
	expect_damaged(*state, flip_byte, "'sub/weights.bin' hashes to sha256:");
}

static void truncate_file(fixture *f)
{
	char *p = path_in(f->dir, "model.json");
	assert_int_equal(truncate(p, 4), 0);
	free(p);
}
static void verify_truncated(void **state)
{
	expect_damaged(*state, truncate_file, "'model.json' has 4 bytes, expected 20");
}

static void remove_file(fixture *f)
{
	char *p = path_in(f->dir, "empty.txt");
	assert_int_equal(unlink(p), 0);
	free(p);
}
static void verify_missing_file(void **state) { expect_damaged(*state, remove_file, "'empty.txt' is missing"); }

static void add_file(fixture *f)
{
	char *p = path_in(f->dir, "sub/extra.py");
	tu_write(p, "import os", 9);
	free(p);
}
static void verify_extra_file(void **state) { expect_damaged(*state, add_file, "'sub/extra.py' is not in the manifest"); }

/* model.json replaced by a link to a file with the very same bytes
 * elsewhere: still refused, nothing is read through a link. */
static void link_file(fixture *f)
{
	char *p = path_in(f->dir, "model.json"), *outside = path_in(f->cache, "outside.json");
	tu_write(outside, bodies[1], strlen(bodies[1]));
	assert_int_equal(unlink(p), 0);
	assert_int_equal(symlink(outside, p), 0);
	free(p);
	free(outside);
}
static void verify_symlink_file(void **state) { expect_damaged(*state, link_file, "'model.json' is a symbolic link"); }

/* The folder sub/ replaced by a link to a copy of it. */
static void link_folder(fixture *f)
{
	char *sub = path_in(f->dir, "sub"), *copy = path_in(f->cache, "subcopy");
	assert_int_equal(rename(sub, copy), 0);
	assert_int_equal(symlink(copy, sub), 0);
	free(sub);
	free(copy);
}
static void verify_symlink_folder(void **state) { expect_damaged(*state, link_folder, "'sub' is a symbolic link"); }

/* The whole version folder is a link (to a good copy). */
static void link_version(fixture *f)
{
	char *copy = path_in(f->cache, "vcopy");
	assert_int_equal(rename(f->dir, copy), 0);
	assert_int_equal(symlink(copy, f->dir), 0);
	free(copy);
}
static void verify_symlink_version(void **state) { expect_damaged(*state, link_version, "is not a folder"); }

static void delete_json(fixture *f) { assert_int_equal(unlink(f->json), 0); }
static void verify_missing_json(void **state)
{
	expect_damaged(*state, delete_json, "its version object is missing");
}

/* A file's size changed in the object (and the file cut to match): the
 * list no longer hashes to the digest. */
static void tamper_json(fixture *f)
{
	char *text = NULL, *at;
	size_t len = 0;
	assert_int_equal(util_read_file(f->json, 1 << 20, &text, &len), 0);
	at = strstr(text, "\"size\":20");
	assert_non_null(at);
	at[8] = '4'; /* "size":24 */
	tu_write(f->json, text, len);
	free(text);
}
static void verify_tampered_json(void **state)
{
	expect_damaged(*state, tamper_json, "does not match its digest");
}

/* The object claims another digest. */
static void other_digest(fixture *f)
{
	char *text = NULL, *at;
	size_t len = 0;
	assert_int_equal(util_read_file(f->json, 1 << 20, &text, &len), 0);
	at = strstr(text, f->digest);
	assert_non_null(at);
	at[7] = at[7] == '0' ? '1' : '0';
	tu_write(f->json, text, len);
	free(text);
}
static void verify_other_digest(void **state) { expect_damaged(*state, other_digest, "its version object names digest"); }

static void garbage_json(fixture *f) { tu_write(f->json, "{\"files\":[", 10); }
static void verify_garbage_json(void **state) { expect_damaged(*state, garbage_json, "is not a JSON object"); }

/* The object lists a path with "..": the fetch checks refuse it. */
static void dotdot_json(fixture *f)
{
	char *text = NULL, *at;
	size_t len = 0;
	assert_int_equal(util_read_file(f->json, 1 << 20, &text, &len), 0);
	at = strstr(text, "sub/weights.bin");
	assert_non_null(at);
	memcpy(at, "../weights.bin", 14);
	at[14] = 'x';
	tu_write(f->json, text, len);
	free(text);
}
static void verify_dotdot_json(void **state) { expect_damaged(*state, dotdot_json, "invalid file path '../weights.binx'"); }

static void verify_remove(void **state)
{
	fixture *f = *state;
	node_cache *c = NULL;
	assert_int_equal(node_cache_open(f->cache, &c), 0);
	make_entry(f);
	assert_int_equal(node_cache_remove(c, f->digest), 0);
	assert_false(tu_exists(f->dir));
	assert_false(tu_exists(f->json));
	assert_int_equal(node_cache_remove(c, f->digest), 0); /* absent: nothing */
	assert_int_equal(node_cache_remove(c, "sha256:nope"), MLREG_EINVALID);
	node_cache_close(c);
}

/* ---------------------------------------------------------------- against a real registry */

typedef struct {
	char *work;   /* temp folder: data, cache, pushed files */
	char *url;
	char *token;
	pid_t pid;
	cli_config cfg;
	char digest[UTIL_DIGEST_LEN + 1];
	char *src;    /* the pushed folder */
} registry;

static registry reg;

static const char *mlreg_bin(void)
{
	const char *b = getenv("MLREG_BIN");
	return b && *b ? b : MLREG_SOURCE_DIR "/build/bin/mlreg";
}

static void stop_server(void)
{
	int st;
	if (reg.pid <= 0)
		return;
	kill(reg.pid, SIGTERM);
	waitpid(reg.pid, &st, 0);
	reg.pid = 0;
}

/* Run `mlreg ARGS` against the server; its stdout (heap) in *out. */
static int run_cli(const char *args, char **out)
{
	char cmd[4096], buf[4096];
	size_t n = 0;
	FILE *p;
	snprintf(cmd, sizeof(cmd),
		 "MLREG_REGISTRY='%s' MLREG_TOKEN='%s' MLREG_NO_DIGEST_CACHE=1 HOME='%s' '%s' %s 2>'%s/cli.err'",
		 reg.url, reg.token, reg.work, mlreg_bin(), args, reg.work);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(buf, 1, sizeof(buf) - 1, p);
	buf[n] = '\0';
	*out = strdup(buf);
	return pclose(p);
}

static int registry_setup(void **state)
{
	char *data, *pf, *log, *text = NULL, *out = NULL, *tokpath, cmd[1024];
	size_t len;
	int port = 0;
	cJSON *v = NULL;
	(void)state;
	memset(&reg, 0, sizeof(reg));
	reg.work = tu_mkdtemp();
	data = path_in(reg.work, "data");
	pf = path_in(reg.work, "port");
	log = path_in(reg.work, "server.log");
	reg.pid = fork();
	assert_true(reg.pid >= 0);
	if (reg.pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
		dup2(fd, 1);
		dup2(fd, 2);
		execl(mlreg_bin(), "mlreg", "server", "--listen", "127.0.0.1:0", "--data", data, "--port-file", pf,
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 600 && port <= 0; i++) {
		if (util_read_file(pf, 64, &text, &len) == 0) {
			port = atoi(text);
			free(text);
		}
		if (port <= 0)
			usleep(50000);
	}
	if (port <= 0)
		fail_msg("the server (%s) wrote no port file; see %s", mlreg_bin(), log);
	assert_true(asprintf(&reg.url, "http://127.0.0.1:%d", port) > 0);
	snprintf(cmd, sizeof(cmd), "curl -sf --max-time 2 -o /dev/null '%s/readyz'", reg.url);
	for (int i = 0; i < 600 && system(cmd) != 0; i++)
		usleep(50000);
	tokpath = path_in(data, "admin.token");
	assert_int_equal(util_read_file(tokpath, 4096, &reg.token, &len), 0);
	reg.token[strcspn(reg.token, "\n")] = '\0';

	/* fraud:1 with a subfolder, an executable and a 3 MiB file (several
	 * writes per download, so the hasher runs behind the writer). */
	reg.src = path_in(reg.work, "src");
	{
		char *sub = path_in(reg.src, "sub"), *p;
		char *big = malloc((size_t)3 << 20);
		assert_non_null(big);
		for (size_t i = 0; i < ((size_t)3 << 20); i++)
			big[i] = (char)(i * 2654435761u >> 13);
		assert_int_equal(util_mkdir_p(sub, 0755), 0);
		p = path_in(reg.src, "model.json");
		tu_write(p, "{\"learner\":{}}", 14);
		free(p);
		p = path_in(reg.src, "sub/weights.bin");
		tu_write(p, big, (size_t)3 << 20);
		free(p);
		p = path_in(reg.src, "sub/run.sh");
		tu_write(p, "#!/bin/sh\n", 10);
		assert_int_equal(chmod(p, 0755), 0);
		free(p);
		free(sub);
		free(big);
	}
	snprintf(cmd, sizeof(cmd), "push fraud '%s' --json", reg.src);
	assert_int_equal(run_cli(cmd, &out), 0);
	assert_int_equal(util_json_parse(out, strlen(out), 32, &v), 0);
	snprintf(reg.digest, sizeof(reg.digest), "%s", util_json_str(v, "digest"));
	assert_true(util_digest_valid(reg.digest));
	cJSON_Delete(v);
	free(out);

	reg.cfg.registry = reg.url;
	reg.cfg.token = reg.token;
	reg.cfg.timeout_ms = 30000;
	reg.cfg.connect_timeout_ms = 5000;
	free(data);
	free(pf);
	free(log);
	free(tokpath);
	return 0;
}

static int registry_teardown(void **state)
{
	(void)state;
	stop_server();
	tu_rmdir(reg.work);
	free(reg.url);
	free(reg.token);
	free(reg.src);
	return 0;
}

/* The fetched file rel equals the pushed one. */
static void same_as_pushed(const char *dir, const char *rel)
{
	char *a = path_in(dir, rel), *b = path_in(reg.src, rel), *ta = NULL, *tb = NULL;
	size_t la = 0, lb = 0;
	assert_int_equal(util_read_file(a, 16 << 20, &ta, &la), 0);
	assert_int_equal(util_read_file(b, 16 << 20, &tb, &lb), 0);
	assert_int_equal(la, lb);
	assert_memory_equal(ta, tb, la);
	free(a);
	free(b);
	free(ta);
	free(tb);
}

static void fetch_and_reuse(void **state)
{
	fixture *f = *state;
	node_cache *c = NULL;
	char *dir = NULL, *dir2 = NULL, *run, *staging, *json;
	struct stat before, after;
	assert_int_equal(node_cache_open(f->cache, &c), 0);
	if (node_cache_fetch(c, &reg.cfg, "fraud", 1, reg.digest, &dir) != 0)
		fail_msg("fetch: %s", mlreg_error_last());
	assert_non_null(strstr(dir, reg.digest + 7));
	same_as_pushed(dir, "model.json");
	same_as_pushed(dir, "sub/weights.bin");
	same_as_pushed(dir, "sub/run.sh");
	run = path_in(dir, "sub/run.sh");
	assert_int_equal(stat(run, &before), 0);
	assert_true(before.st_mode & 0100); /* the manifest's mode */
	assert_true(asprintf(&json, "%s.json", dir) > 0);
	assert_true(tu_exists(json));
	staging = path_in(f->cache, "staging");
	assert_int_equal(tu_count_entries(staging), 0);
	assert_int_equal(node_cache_verify(c, reg.digest, NULL), 0);

	/* Cached: used as it is, nothing downloaded again. */
	assert_int_equal(node_cache_fetch(c, &reg.cfg, "fraud", 1, reg.digest, &dir2), 0);
	assert_string_equal(dir, dir2);
	assert_int_equal(stat(run, &after), 0);
	assert_true(before.st_ino == after.st_ino);

	/* Damaged: fetched again. */
	tu_write(run, "#!/bin/false\n", 13);
	free(dir2);
	dir2 = NULL;
	assert_int_equal(node_cache_fetch(c, &reg.cfg, "fraud", 1, reg.digest, &dir2), 0);
	same_as_pushed(dir2, "sub/run.sh");
	assert_int_equal(node_cache_verify(c, reg.digest, NULL), 0);
	node_cache_close(c);
	free(dir);
	free(dir2);
	free(run);
	free(json);
	free(staging);
}

static void fetch_refusals(void **state)
{
	fixture *f = *state;
	node_cache *c = NULL;
	char *dir = NULL, other[UTIL_DIGEST_LEN + 1], *staging;
	assert_int_equal(node_cache_open(f->cache, &c), 0);

	/* The registry's object must carry the digest the caller asked for. */
	memcpy(other, reg.digest, sizeof(other));
	other[UTIL_DIGEST_LEN - 1] = other[UTIL_DIGEST_LEN - 1] == '0' ? '1' : '0';
	assert_int_equal(node_cache_fetch(c, &reg.cfg, "fraud", 1, other, &dir), MLREG_EINTEGRITY);
	assert_non_null(strstr(mlreg_error_last(), "cannot fetch fraud:1: registry sent digest"));
	assert_int_equal(node_cache_verify(c, other, NULL), MLREG_ENOTFOUND);

	/* The registry's own reason comes through. */
	assert_int_equal(node_cache_fetch(c, &reg.cfg, "fraud", 7, reg.digest, &dir), MLREG_ENOTFOUND);
	assert_non_null(strstr(mlreg_error_last(), "cannot fetch fraud:7: "));
	assert_int_equal(node_cache_fetch(c, &reg.cfg, "no-such-model", 1, reg.digest, &dir), MLREG_ENOTFOUND);
	assert_int_equal(node_cache_fetch(c, &reg.cfg, "Bad Name", 1, reg.digest, &dir), MLREG_EINVALID);
	assert_int_equal(node_cache_fetch(c, &reg.cfg, "fraud", 0, reg.digest, &dir), MLREG_EINVALID);
	assert_int_equal(node_cache_fetch(c, &reg.cfg, "fraud", 1, "sha256:x", &dir), MLREG_EINVALID);
	{
		cli_config bad = reg.cfg;
		bad.token = "not-a-token";
		assert_int_equal(node_cache_fetch(c, &bad, "fraud", 1, reg.digest, &dir), MLREG_EAUTH);
	}
	assert_null(dir);
	staging = path_in(f->cache, "staging");
	assert_int_equal(tu_count_entries(staging), 0);
	free(staging);
	node_cache_close(c);
}

typedef struct {
	node_cache *c;
	char *dir;
	int error;
	char msg[1024];
} racer;

static void *race(void *arg)
{
	racer *r = arg;
	r->error = node_cache_fetch(r->c, &reg.cfg, "fraud", 1, reg.digest, &r->dir);
	snprintf(r->msg, sizeof(r->msg), "%s", mlreg_error_last());
	return NULL;
}

/* Several loads of one version at once: one download wins, all get it. */
static void fetch_concurrent(void **state)
{
	fixture *f = *state;
	node_cache *c = NULL;
	racer r[4];
	pthread_t t[4];
	char *staging;
	assert_int_equal(node_cache_open(f->cache, &c), 0);
	for (int i = 0; i < 4; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].c = c;
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		if (r[i].error != 0)
			fail_msg("racer %d: %s", i, r[i].msg);
		assert_string_equal(r[i].dir, r[0].dir);
	}
	assert_int_equal(node_cache_verify(c, reg.digest, NULL), 0);
	same_as_pushed(r[0].dir, "sub/weights.bin");
	staging = path_in(f->cache, "staging");
	assert_int_equal(tu_count_entries(staging), 0);
	for (int i = 0; i < 4; i++)
		free(r[i].dir);
	free(staging);
	node_cache_close(c);
}

/* With the registry gone, a cached version is still there (restart without
 * the registry); an uncached one fails with the reason. */
static void fetch_registry_down(void **state)
{
	fixture *f = *state;
	node_cache *c = NULL;
	char *dir = NULL;
	assert_int_equal(node_cache_open(f->cache, &c), 0);
	assert_int_equal(node_cache_fetch(c, &reg.cfg, "fraud", 1, reg.digest, &dir), 0);
	free(dir);
	dir = NULL;
	node_cache_close(c);
	stop_server();
	assert_int_equal(node_cache_open(f->cache, &c), 0);
	assert_int_equal(node_cache_fetch(c, &reg.cfg, "fraud", 1, reg.digest, &dir), 0);
	free(dir);
	dir = NULL;
	assert_int_equal(node_cache_remove(c, reg.digest), 0);
	assert_int_equal(node_cache_fetch(c, &reg.cfg, "fraud", 1, reg.digest, &dir), MLREG_EIO);
	assert_non_null(strstr(mlreg_error_last(), "cannot fetch fraud:1: cannot reach registry"));
	assert_null(dir);
	node_cache_close(c);
}

int main(void)
{
	const struct CMUnitTest local[] = {
		cmocka_unit_test_setup_teardown(open_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(state_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(state_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(verify_good, setup, teardown),
		cmocka_unit_test_setup_teardown(verify_not_cached, setup, teardown),
		cmocka_unit_test_setup_teardown(verify_flipped_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(verify_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(verify_missing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(verify_extra_file, setup, teardown),
		cmocka_unit_test_setup_teardown(verify_symlink_file, setup, teardown),
		cmocka_unit_test_setup_teardown(verify_symlink_folder, setup, teardown),
		cmocka_unit_test_setup_teardown(verify_symlink_version, setup, teardown),
		cmocka_unit_test_setup_teardown(verify_missing_json, setup, teardown),
		cmocka_unit_test_setup_teardown(verify_tampered_json, setup, teardown),
		cmocka_unit_test_setup_teardown(verify_other_digest, setup, teardown),
		cmocka_unit_test_setup_teardown(verify_garbage_json, setup, teardown),
		cmocka_unit_test_setup_teardown(verify_dotdot_json, setup, teardown),
		cmocka_unit_test_setup_teardown(verify_remove, setup, teardown),
	};
	const struct CMUnitTest remote[] = {
		cmocka_unit_test_setup_teardown(fetch_and_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(fetch_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(fetch_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(fetch_registry_down, setup, teardown),
	};
	int failed;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	failed = cmocka_run_group_tests_name("node cache", local, NULL, NULL);
	failed += cmocka_run_group_tests_name("node cache against mlreg server", remote, registry_setup,
					      registry_teardown);
	curl_global_cleanup();
	return failed;
}

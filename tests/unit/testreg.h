/*
 * testreg.h - helpers for the unit tests that drive a whole registry
 * (registry/registry.h) without HTTP: open one on a fresh temporary data
 * folder, read its bootstrap admin token, store a blob through the real
 * writer, and build a version body.  Header-only for the same reason as
 * testutil.h; everything goes through the public registry API.
 */
#ifndef MLREG_TESTS_UNIT_TESTREG_H
#define MLREG_TESTS_UNIT_TESTREG_H

#include "testutil.h"
#include "registry/registry.h"
#include "util/json.h"

typedef struct {
	char *dir;
	reg_config cfg;
	reg_registry *r;
	reg_principal admin;
} treg;

/* Open a registry on t->dir (already set) with t->cfg; fails the test on error. */
static inline void treg_open(treg *t)
{
	t->cfg.data_dir = t->dir;
	if (reg_open(&t->cfg, &t->r) != 0)
		fail_msg("reg_open('%s'): %s", t->dir, mlreg_error_last());
}

/* Fresh folder, open, and resolve the bootstrap admin. */
static inline treg *treg_new(int64_t gc_grace_ms)
{
	treg *t = calloc(1, sizeof(*t));
	char path[700], *tok = NULL;
	assert_non_null(t);
	t->dir = tu_mkdtemp();
	t->cfg.gc_grace_ms = gc_grace_ms;
	treg_open(t);
	snprintf(path, sizeof(path), "%s/admin.token", t->dir);
	assert_int_equal(util_read_file(path, 4096, &tok, NULL), 0);
	tok[strcspn(tok, "\n")] = '\0';
	if (reg_authenticate(t->r, tok, &t->admin) != 0)
		fail_msg("bootstrap token does not authenticate: %s", mlreg_error_last());
	free(tok);
	return t;
}

static inline void treg_free(treg *t)
{
	if (!t)
		return;
	reg_close(t->r);
	tu_rmdir(t->dir);
	free(t);
}

/* cmocka fixtures: *state is a treg, freed by treg_teardown even when the
 * test fails, so a failing test leaves no folder or open registry behind. */
static inline int treg_setup(void **state)
{
	*state = treg_new(0);
	return 0;
}

static inline int treg_setup_grace_1ms(void **state)
{
	*state = treg_new(1);
	return 0;
}

static inline int treg_setup_grace_1h(void **state)
{
	*state = treg_new(3600 * 1000);
	return 0;
}

static inline int treg_teardown(void **state)
{
	treg_free(*state);
	return 0;
}

/* Store bytes through reg_blob_writer_*; digest out. */
static inline void treg_put_blob(treg *t, const void *data, size_t len, char digest[UTIL_DIGEST_LEN + 1])
{
	reg_blob_writer *w = NULL;
	uint64_t size = 0;
	assert_int_equal(reg_blob_writer_new(t->r, &w), 0);
	assert_int_equal(reg_blob_writer_write(w, data, len), 0);
	if (reg_blob_writer_commit(w, NULL, digest, &size) != 0)
		fail_msg("blob commit: %s", mlreg_error_last());
	assert_int_equal(size, len);
}

/* {"files":[{"path":path,"size":size,"digest":digest}]} plus extra members
 * parsed from extra_json (an object, or NULL). */
static inline cJSON *treg_body(const char *path, uint64_t size, const char *digest, const char *extra_json)
{
	cJSON *b = extra_json ? cJSON_Parse(extra_json) : cJSON_CreateObject();
	cJSON *files = cJSON_AddArrayToObject(b, "files"), *f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "path", path);
	cJSON_AddNumberToObject(f, "size", (double)size);
	cJSON_AddStringToObject(f, "digest", digest);
	cJSON_AddItemToArray(files, f);
	return b;
}

/* Add one more file to a body made by treg_body. */
static inline void treg_body_add(cJSON *body, const char *path, uint64_t size, const char *digest)
{
	cJSON *f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "path", path);
	cJSON_AddNumberToObject(f, "size", (double)size);
	cJSON_AddStringToObject(f, "digest", digest);
	cJSON_AddItemToArray(cJSON_GetObjectItem(body, "files"), f);
}

/* Create a version; returns its number (fails the test on error). */
static inline int64_t treg_push(treg *t, const char *model, const cJSON *body)
{
	cJSON *out = NULL;
	int status = 0;
	int64_t n;
	if (reg_version_create(t->r, &t->admin, model, body, NULL, &status, &out, NULL) != 0)
		fail_msg("reg_version_create: %s", mlreg_error_last());
	assert_int_equal(status, 201);
	n = (int64_t)cJSON_GetObjectItem(out, "version")->valuedouble;
	cJSON_Delete(out);
	return n;
}

#endif

/*
 * fuzz_registry.h - the temporary registry the request-body targets run
 * against, and the audit reads they check with.  Header-only (static
 * functions): each target is its own program, built both as a libFuzzer
 * binary and as a corpus replay, so there is no library to put this in.
 *
 * fuzz_registry_open() makes the registry once per process in a fresh
 * folder under /tmp and removes it at exit; fuzz_audit_seq() and
 * fuzz_audit_text() let a target see exactly the audit entries one call
 * wrote (an older entry may hold any text by chance).
 */
#ifndef MLREG_FUZZ_REGISTRY_H
#define MLREG_FUZZ_REGISTRY_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry/registry.h"
#include "util/json.h"

static reg_registry *fuzz_reg;
static char fuzz_reg_dir[64];

static inline void fuzz_registry_close(void)
{
	reg_close(fuzz_reg);
	util_rm_rf(fuzz_reg_dir);
}

/* The registry, opened on the first call in /tmp/mlreg-fuzz-NAME-XXXXXX. */
static inline reg_registry *fuzz_registry_open(const char *name)
{
	reg_config cfg = {0};
	if (fuzz_reg)
		return fuzz_reg;
	snprintf(fuzz_reg_dir, sizeof(fuzz_reg_dir), "/tmp/mlreg-fuzz-%s-XXXXXX", name);
	if (!mkdtemp(fuzz_reg_dir))
		abort();
	cfg.data_dir = fuzz_reg_dir;
	if (reg_open(&cfg, &fuzz_reg) != 0)
		abort();
	atexit(fuzz_registry_close);
	return fuzz_reg;
}

/* The newest audit sequence number (0 for an empty log). */
static inline int64_t fuzz_audit_seq(reg_registry *r)
{
	reg_audit_query q = {.limit = 1};
	cJSON *v = NULL;
	int64_t n = 0;
	if (reg_audit_list(r, &q, &v) != 0)
		abort();
	if (util_json_i64(cJSON_GetArrayItem(cJSON_GetObjectItem(v, "entries"), 0), "seq", &n) != 0)
		n = 0;
	cJSON_Delete(v);
	return n;
}

/* The entries after seq (at most 100), as text; the caller frees. */
static inline char *fuzz_audit_text(reg_registry *r, int64_t after)
{
	reg_audit_query q = {.limit = 100, .oldest_first = true, .after_seq = after};
	cJSON *v = NULL;
	char *s;
	if (reg_audit_list(r, &q, &v) != 0 || !(s = cJSON_PrintUnformatted(v)))
		abort();
	cJSON_Delete(v);
	return s;
}

#endif

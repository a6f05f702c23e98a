/*
 * cache.h - mlreg-node's cache folder: verified version files by digest, and
 * the node's desired state (what it serves, with which weights), written on
 * every change so a restarted node (even after kill -9, even with the
 * registry down) serves the same thing again.
 *
 * Layout (docs/node.md):
 *   CACHE/lock                      flock()ed while a node uses the folder
 *   CACHE/state.json                the desired state, replaced atomically
 *   CACHE/versions/<hex>/           the files of version digest sha256:<hex>
 *   CACHE/versions/<hex>.json       the version object they were fetched with
 *   CACHE/staging/                  downloads in progress (emptied at start)
 */
#ifndef MLREG_NODE_CACHE_H
#define MLREG_NODE_CACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "cli/cli.h"

typedef struct node_cache node_cache;

/* Create or open the folder, take its lock (MLREG_ECONFLICT when another
 * process holds it), empty staging/. */
int node_cache_open(const char *dir, node_cache **out);
void node_cache_close(node_cache *c);
const char *node_cache_dir(const node_cache *c);

/* Make version (model, version) with digest present and verified in the
 * cache and give its folder (*dir, caller frees).  Already cached: nothing
 * is fetched.  Otherwise the version object is fetched from cfg->registry
 * (GET /api/v1/models/{model}/versions/{version}); its digest must equal
 * `digest` (else MLREG_EINTEGRITY), its file list must hash to it, every
 * file is downloaded in parallel into staging/, checked (size, SHA-256),
 * fsynced, and the folder renamed into versions/ only when all are good.
 * Cached files fetched as another model:version (same digest) are reused
 * once the registry confirms this version has that digest.
 * Safe to call from several threads (two fetches of one digest: one wins,
 * both get the folder).  Errors keep the registry's or the check's reason. */
int node_cache_fetch(node_cache *c, const cli_config *cfg, const char *model, int64_t version, const char *digest,
		     char **dir);
/* Re-verify a cached version without the registry: its stored version
 * object hashes to digest and every file matches its size and SHA-256.
 * 0 and *dir (caller frees; dir may be NULL); MLREG_ENOTFOUND when not
 * cached; MLREG_EINTEGRITY (and the entry is removed) when anything differs:
 * a file's size or digest, a missing file or object, a file the manifest
 * does not name, a symbolic link anywhere in the entry. */
int node_cache_verify(node_cache *c, const char *digest, char **dir);
/* Remove a cached version (nothing when absent). */
int node_cache_remove(node_cache *c, const char *digest);

/* Replace state.json with state (atomic: temp file, fsync, rename, fsync
 * of the folder). */
int node_cache_save_state(node_cache *c, const cJSON *state);
/* Read state.json; *state is NULL when there is none yet. */
int node_cache_load_state(node_cache *c, cJSON **state);

#endif

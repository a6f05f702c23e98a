/*
 * deploy.h - the registry's side of the deployment controller (issue 6,
 * docs/controller.md): serving nodes, deployments, rollout verbs and events
 * as the API and CLI see them, and the fenced reads and writes the
 * reconciler (controller/) makes.
 *
 * All rollout state lives in the database so a reconciler killed at any
 * moment resumes where it was.  The reconciler never holds a transaction
 * across a node call: it reads a snapshot (reg_ctl_snapshot), talks to the
 * nodes, then writes what it decided (reg_ctl_write), fenced by the lease
 * epoch it holds.
 *
 * JSON shapes are those of docs/api.md ("Nodes", "Deployments").
 */
#ifndef MLREG_REGISTRY_DEPLOY_H
#define MLREG_REGISTRY_DEPLOY_H

#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "registry/registry.h"

/* ---- nodes (role admin to change, reader to list) ---- */
/* body {"name","url","driver"?:"mlreg","labels"?:{"k":"v"}} -> node object.
 * name: label grammar; url http(s) without user info; driver known.
 * MLREG_EEXISTS when the name is taken.  Audited (node.add).  (blocking) */
int reg_node_add(reg_registry *r, const reg_principal *who, const cJSON *body, cJSON **out);
/* {"nodes":[node objects with "observed"]}, by name. */
int reg_node_list(reg_registry *r, cJSON **out);
/* MLREG_ENOTFOUND; audited (node.remove).  (blocking) */
int reg_node_remove(reg_registry *r, const reg_principal *who, const char *name, cJSON **out);

/* ---- deployments (role deployer to change, reader to read) ---- */
/* body {"name","model","stage"|"alias","selector":{"k":"v"},"strategy"?,
 * "steps"?,"analysis"?,"min_requests"?,"failure_limit"?,"max_unavailable"?,
 * "progress_deadline"?,"scale_down_delay"?,"analysis_interval"?,
 * "failure_margin"?} -> deployment status.  Steps and analysis are parsed
 * and stored normalised; bad ones are MLREG_EINVALID naming the part.
 * Audited (deployment.create).  Wakes the reconciler.  (blocking) */
int reg_deploy_create(reg_registry *r, const reg_principal *who, const cJSON *body, cJSON **out);
/* {"deployments":[status objects]} */
int reg_deploy_list(reg_registry *r, cJSON **out);
/* The status object of docs/api.md. */
int reg_deploy_status(reg_registry *r, const char *name, cJSON **out);
/* Removes the deployment (nodes keep serving until the reconciler unloads
 * it).  Audited.  (blocking) */
int reg_deploy_remove(reg_registry *r, const reg_principal *who, const char *name, cJSON **out);
/* {"events":[{"time","kind","message","details"}]}, newest first. */
int reg_deploy_events(reg_registry *r, const char *name, int64_t limit, cJSON **out);
/* verb: pause, resume, promote, promote-full, abort, retry.  Records it as
 * the deployment's pending verb (the reconciler acts on it), audited
 * (rollout.<verb>), wakes the reconciler.  MLREG_ECONFLICT when the verb
 * makes no sense in the current phase (e.g. resume when not paused).
 * (blocking) */
int reg_rollout_verb(reg_registry *r, const reg_principal *who, const char *name, const char *verb, cJSON **out);

/* ---- wake-ups ---- */
/* A counter bumped in the same transaction as every promote, rollback,
 * alias move, deployment change and verb.  A reconciler in another process
 * polls it; the one in this process is called through the hook. */
int reg_ctl_generation(reg_registry *r, int64_t *gen);
void reg_set_ctl_hook(reg_registry *r, void (*fn)(void *ctx), void *ctx);

/* ---- the reconciler's side ---- */
/* Take or renew the lease: holder is this reconciler's id, ttl_ms how long
 * it holds without renewal.  *epoch is the lease epoch (it grows every time
 * the lease changes hands); *held false when another live holder has it. */
int reg_ctl_lease(reg_registry *r, const char *holder, int64_t ttl_ms, bool *held, int64_t *epoch);
/* Release the lease (shutdown): expiry set to now when holder holds it. */
int reg_ctl_release(reg_registry *r, const char *holder);

/* One read snapshot of everything a pass needs:
 * {"generation":N,
 *  "nodes":[{"id","name","url","driver","labels":{},"observed":{…}|null,
 *            "fails":N,"next_try_at":MS}],
 *  "deployments":[{"id","name","model","stage","alias","selector":{},
 *      "steps":[{"kind":"weight","weight":10}|{"kind":"pause","ms":N|null}|
 *               {"kind":"analysis","ms":N}|{"kind":"shadow","ms":N}],
 *      "strategy","analysis":"…","min_requests","failure_limit","max_unavailable",
 *      "progress_deadline_ms","scale_down_delay_ms","analysis_interval_ms","failure_margin",
 *      "desired":{"version":N,"digest":"sha256:…","via":"promote"|"rollback"|"alias"|…}|null,
 *      "state":{…the rollout state object, as last written…},
 *      "verb":"pause"|…|null}]} */
int reg_ctl_snapshot(reg_registry *r, cJSON **out);

/* Write one deployment's new rollout state (the opaque object the
 * reconciler keeps: stable_version, target_version, rejected_version,
 * phase, step, message, analysis, …), optionally consuming its pending verb,
 * appending events [{"kind","message","details"}] and an audit entry and
 * webhook event for each event whose kind is rollout.* (abort, healthy,
 * step): all in one write transaction that first checks the lease epoch.
 * MLREG_ECONFLICT when the epoch moved (another reconciler took over:
 * nothing is written). (blocking) */
int reg_ctl_write(reg_registry *r, int64_t epoch, int64_t deployment_id, const cJSON *state, bool consume_verb,
		  const cJSON *events);
/* Record what a node showed (observed: {"healthy","versions":[…],"error"}),
 * its failure count and when to try it next.  Fenced like reg_ctl_write. */
int reg_ctl_node_observed(reg_registry *r, int64_t epoch, int64_t node_id, const cJSON *observed, int64_t fails,
			  int64_t next_try_at);

#endif

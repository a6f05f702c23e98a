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
 * name: util_resource_name_valid; url http(s) without user info, query or
 * fragment (stored without a trailing '/'); driver known ("mlreg");
 * labels: util_label_name_valid keys, util_label_value_valid values, at
 * most 32.  MLREG_EEXISTS when the name is taken.  Audited (node.add);
 * wakes the reconciler.  (blocking) */
int reg_node_add(reg_registry *r, const reg_principal *who, const cJSON *body, cJSON **out);
/* {"nodes":[node objects with "observed"]}, by name. */
int reg_node_list(reg_registry *r, cJSON **out);
/* MLREG_ENOTFOUND; audited (node.remove); wakes the reconciler.
 * (blocking) */
int reg_node_remove(reg_registry *r, const reg_principal *who, const char *name, cJSON **out);

/* ---- deployments (role deployer to change, reader to read) ---- */
/* body {"name","model","stage"|"alias","selector":{"k":"v"},"strategy"?,
 * "steps"?,"analysis"?,"min_requests"?,"failure_limit"?,"max_unavailable"?,
 * "progress_deadline"?,"scale_down_delay"?,"analysis_interval"?,
 * "failure_margin"?} -> deployment status.  The analysis conditions are
 * parsed (util/expr.h over requests, failures, failure_rate, p99_ms) and
 * stored normalised.  Steps are parsed by the caller: the API layer runs
 * the controller's parser (ctl_steps_parse, or ctl_steps_preset for the
 * strategy) and passes the normalised text; the registry, which must not
 * depend on controller/, only refuses text that can never be steps and
 * stores it as given (absent: NULL, the strategy's preset).  Bad input is
 * MLREG_EINVALID naming the part; an unknown model or stage
 * MLREG_ENOTFOUND; a taken name MLREG_EEXISTS.  Audited
 * (deployment.create).  Wakes the reconciler.  (blocking) */
int reg_deploy_create(reg_registry *r, const reg_principal *who, const cJSON *body, cJSON **out);
/* {"deployments":[status objects]} */
int reg_deploy_list(reg_registry *r, cJSON **out);
/* The status object of docs/api.md, plus "desired_version" (what the
 * stage or alias points at now), "verb" (pending, or null), "settings"
 * (analysis conditions and limits) and "created_at"/"created_by".  The
 * rollout members come from the state the reconciler last wrote: phase and
 * versions, "message", "analysis" (an array), and "step" (an integer
 * index, shown with the count and kind of the stored steps, or an object
 * shown as is).  "nodes" are the nodes the selector picks, each with the
 * entries of its observation's "models" named after the deployment. */
int reg_deploy_status(reg_registry *r, const char *name, cJSON **out);
/* Removes the deployment and its events (nodes keep serving until the
 * reconciler unloads it).  Audited (deployment.remove); wakes the
 * reconciler.  (blocking) */
int reg_deploy_remove(reg_registry *r, const reg_principal *who, const char *name, cJSON **out);
/* {"events":[{"time","kind","message","details"}]}, newest first; limit
 * 1 to 10000.  Kinds: "created", "verb" and what the reconciler wrote. */
int reg_deploy_events(reg_registry *r, const char *name, int64_t limit, cJSON **out);
/* verb: pause, resume, promote, promote-full, abort, retry.  Records it as
 * the deployment's pending verb (the reconciler acts on it), audited
 * (rollout.<verb>), wakes the reconciler; *out is the status.  A verb
 * replaces one still pending.  MLREG_ECONFLICT when the verb makes no sense
 * in the current phase: pause, promote, promote-full and abort need a
 * target in phase Progressing or Paused (pause not already Paused), resume
 * needs Paused, retry a rejected version.  (blocking) */
int reg_rollout_verb(reg_registry *r, const reg_principal *who, const char *name, const char *verb, cJSON **out);

/* ---- wake-ups ---- */
/* A counter bumped in the same transaction as every promote, rollback,
 * alias move, node and deployment change and verb (never by the
 * reconciler's own writes).  A reconciler in another process polls it; the
 * one in this process is called through the hook, after the commit, on the
 * committing thread (keep it short: signal a condition variable). */
int reg_ctl_generation(reg_registry *r, int64_t *gen);
void reg_set_ctl_hook(reg_registry *r, void (*fn)(void *ctx), void *ctx);

/* ---- the reconciler's side ---- */
/* Take or renew the lease: holder is this reconciler's id (1 to 128 of
 * letters, digits and ._:@-), ttl_ms how long it holds without renewal
 * (1 ms to 24 h).  Taken when it expired or already is the holder's.
 * *epoch is the lease epoch (it grows every time the lease changes hands,
 * not on renewal); *held false when another live holder has it.  Times
 * are this machine's wall clock.  (blocking) */
int reg_ctl_lease(reg_registry *r, const char *holder, int64_t ttl_ms, bool *held, int64_t *epoch);
/* Release the lease (shutdown): expiry set to now when holder holds it;
 * otherwise nothing.  (blocking) */
int reg_ctl_release(reg_registry *r, const char *holder);

/* One read snapshot of everything a pass needs:
 * {"generation":N,
 *  "nodes":[{"id","name","url","driver","labels":{},"observed":{…}|null,
 *            "fails":N,"next_try_at":MS}],
 *  "deployments":[{"id","name","model","stage","alias","selector":{},
 *      "steps":"weight:10,analysis:30s,…"|null,
 *      "strategy","analysis":"…","min_requests","failure_limit","max_unavailable",
 *      "progress_deadline_ms","scale_down_delay_ms","analysis_interval_ms","failure_margin",
 *      "desired":{"version":N,"digest":"sha256:…","via":"promote"|"rollback"|"alias"|…}|null,
 *      "state":{…the rollout state object, as last written…},
 *      "verb":"pause"|…|null}]}
 * "steps" is the normalised text the API stored (ctl_steps_parse it; null
 * means ctl_steps_preset of "strategy"): the registry does not parse steps.
 * "state" is {} until the first reg_ctl_write. */
int reg_ctl_snapshot(reg_registry *r, cJSON **out);

/* Write one deployment's new rollout state (the opaque object the
 * reconciler keeps: stable_version, target_version, rejected_version,
 * phase, step, message, analysis, …), optionally consuming its pending verb,
 * appending events [{"kind","message","details"}] and an audit entry and
 * webhook event for each event whose kind is rollout.* (audit action =
 * the kind, actor "controller"; webhook event = the kind; the names
 * webhooks may subscribe to are reg_event_names: rollout.started, step,
 * paused, resumed, promoted, retry, superseded, healthy, aborted): all in
 * one write transaction that first checks the lease epoch.  The state must
 * be an object with "phase" (Healthy|Progressing|Paused|Degraded; absent
 * or null is Healthy) and "stable_version", "target_version",
 * "rejected_version" version numbers or null/absent (copied into columns
 * for status, verbs and rm); it is stored verbatim and comes back
 * unchanged in the next snapshot.  Event kinds are 1 to 64 of [a-z0-9._-],
 * not ending in '.'.
 * MLREG_ECONFLICT when the epoch moved (another reconciler took over:
 * nothing is written); MLREG_ENOTFOUND when the deployment is gone;
 * MLREG_EINVALID for a state or events as above.  (blocking) */
int reg_ctl_write(reg_registry *r, int64_t epoch, int64_t deployment_id, const cJSON *state, bool consume_verb,
		  const cJSON *events);
/* Record what a node showed (observed: {"healthy","error","models":[{"name",
 * "version","state","weight"}]} as docs/api.md shows it, or NULL), its
 * failure count and when to try it next (ms).  Fenced like reg_ctl_write;
 * MLREG_ENOTFOUND when the node is gone.  (blocking) */
int reg_ctl_node_observed(reg_registry *r, int64_t epoch, int64_t node_id, const cJSON *observed, int64_t fails,
			  int64_t next_try_at);
/* The same for n nodes in ONE write transaction (one fsync for a pass, not
 * one per node).  A node that is gone is skipped.  Fenced like
 * reg_ctl_write; MLREG_EINVALID when an observation is invalid (nothing is
 * written).  (blocking) */
int reg_ctl_nodes_observed(reg_registry *r, int64_t epoch, size_t n, const int64_t *node_ids,
			   cJSON *const *observed, const int64_t *fails, const int64_t *next_try_at);

#endif

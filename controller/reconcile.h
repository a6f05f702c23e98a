/*
 * reconcile.h - the deployment controller's reconciler (docs/controller.md):
 * a thread that, while it holds the lease, reads the desired state from the
 * database and the observed state from the nodes and takes the next step of
 * every deployment.
 */
#ifndef MLREG_CONTROLLER_RECONCILE_H
#define MLREG_CONTROLLER_RECONCILE_H

#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "registry/deploy.h"

typedef struct {
	int64_t resync_ms;         /* a pass at least this often (default 10s) */
	int64_t tick_ms;           /* a pass this often while a rollout moves (default 250ms) */
	int64_t poll_ms;           /* generation counter poll (another process's changes; default 1s) */
	int64_t lease_ttl_ms;      /* lease held this long without renewal (default 15s) */
	int64_t node_timeout_ms;   /* index, traffic, unload, metrics calls (default 5s) */
	int64_t load_timeout_ms;   /* a load call (default 5m) */
	int64_t backoff_ms;        /* first retry delay of a failing node (default 1s) */
	int64_t backoff_max_ms;    /* its ceiling (default 1m) */
	int max_parallel;          /* node calls in flight at once (default 64) */
	const char *node_token;    /* admin bearer token for the nodes, or NULL */
	const char *node_cacert;   /* CA bundle for https nodes (--node-cacert), or NULL */
	const char *holder;        /* lease holder id (default host:pid:random) */
} ctl_config;

void ctl_config_defaults(ctl_config *c);

/* ---- flags (flags.c), shared by `mlreg server` and `mlreg controller` ---- */
#include <stdio.h>
/* The i-th flag name without "--" (NULL past the last). */
const char *ctl_flag_name(int i);
/* Set one flag from its text; MLREG_EUSAGE with a message when invalid. */
int ctl_flag_set(ctl_config *c, const char *name, const char *value);
void ctl_flags_usage(FILE *f);

/* ---- metrics (metrics.c) ---- */
/* Append the reconciler's metrics (nothing when no pass has run here). */
void ctl_metrics_render(util_buf *out);

/* `mlreg controller --data DIR [flags]`: a reconciler in its own process
 * (standalone.c).  Returns the process exit status. */
int ctl_standalone_main(int argc, char **argv);

typedef struct ctl_reconciler ctl_reconciler;

/* Start the reconciler thread on r (borrowed; must outlive it). */
int ctl_start(reg_registry *r, const ctl_config *cfg, ctl_reconciler **out);
/* Wake it now (a promote, rollback or verb in this process). */
void ctl_wake(ctl_reconciler *c);
/* Stop at a step boundary, release the lease, join.  NULL is a no-op. */
void ctl_stop(ctl_reconciler *c);

/* One pass over every deployment (the thread calls it; tests may too).
 * epoch: the lease epoch held.  *busy: some rollout is moving (the next
 * pass should come after tick_ms, not resync_ms).  *due_at: 0, or the time
 * (ms) something falls due, such as a scale-down: a pass then. */
int ctl_pass(reg_registry *r, const ctl_config *cfg, int64_t epoch, bool *busy, int64_t *due_at);

#endif

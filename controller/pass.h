/*
 * pass.h - internals of one reconciler pass, shared by reconcile.c (the
 * loop, the lease, the nodes), rollout.c (what a deployment should do next)
 * and converge.c (making nodes serve it).
 */
#ifndef MLREG_CONTROLLER_PASS_H
#define MLREG_CONTROLLER_PASS_H

#include "controller/ctl.h"
#include "controller/reconcile.h"

/* A node as this pass sees it. */
typedef struct {
	int64_t id;
	ctl_node node;
	const char *driver_name;
	const ctl_driver *driver;
	const cJSON *labels;      /* borrowed from the snapshot */
	bool skip;                /* in backoff: not called this pass */
	bool reachable;           /* its index answered this pass */
	cJSON *index;             /* [{"name","version","state","weight","digest"}] */
	char *error;              /* why it is unreachable */
	int64_t fails;            /* consecutive failures (persisted) */
	bool failed_now;          /* a call to it failed this pass */
} pnode;

typedef struct {
	reg_registry *r;
	const ctl_config *cfg;
	int64_t epoch;
	int64_t now;
	pnode *nodes;
	size_t nn;
	bool busy;
	int64_t due_at;           /* 0, or when something falls due (a scale-down): pass then */
	int64_t phases[4];        /* deployments by phase after the pass */
	uint64_t aborts;          /* rollouts aborted in the pass */
} pass;

/* metrics.c */
void ctl_metrics_pass(double seconds, const int64_t phase_counts[4], uint64_t node_failures, uint64_t aborted);
int ctl_phase_index(const char *phase);

/* A deployment during a pass. */
typedef struct {
	pass *p;
	const cJSON *row;         /* snapshot deployment (borrowed) */
	int64_t id;
	const char *name;         /* served name on the nodes */
	const char *model;        /* registry model */
	cJSON *st;                /* the rollout state being built (owned) */
	cJSON *events;            /* events to append (owned) */
	bool consume_verb;
	bool changed;             /* st or events changed: write */
	ctl_step steps[CTL_MAX_STEPS];
	int nsteps;
	pnode **sel;              /* nodes the selector picks and that answered */
	size_t nsel;
	size_t nselected;         /* picked by the selector, answering or not */
} dep;

/* ---- state helpers (rollout.c) ---- */
int64_t st_int(const cJSON *st, const char *key);       /* 0 when null or missing */
const char *st_str(const cJSON *st, const char *key);   /* NULL when missing */
void st_set_int(cJSON *st, const char *key, int64_t v); /* v 0 -> null */
void st_set_str(cJSON *st, const char *key, const char *v);
void dep_event(dep *d, const char *kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- node actions (converge.c) ---- */
/* The node's entry of version (or NULL) for this deployment. */
const cJSON *node_entry(const pnode *n, const char *served, int64_t version);
/* Make version (digest) loaded on every answering node of d.  Returns 0
 * when it is READY on all of them; 1 when some loads are still to come
 * (unreachable meanwhile); MLREG_EREFUSED when a node refused the load
 * (reason recorded: it counts as a failure of the version). */
int converge_load(dep *d, int64_t version, const char *digest);
/* Make every answering node serve weights (a JSON object version -> %) and
 * shadow (0: none) for d.  Returns 0 when all confirmed, 1 otherwise. */
int converge_traffic(dep *d, const cJSON *weights, int64_t shadow);
/* Unload every version of d the nodes hold that is not in keep[0..nkeep)
 * and has no weight. */
void converge_unload(dep *d, const int64_t *keep, int nkeep);
/* Read /metrics of every answering node of d into samples[i] (parallel);
 * a node whose answer did not come or did not parse gets an empty set. */
void scrape(dep *d, ctl_samples *samples);
/* Re-read the index of the answering nodes of d (after a batch of changes). */
void refresh(dep *d);

/* ---- a deployment's step (rollout.c) ---- */
void rollout_step(dep *d);

#endif

/*
 * driver.h - how the controller talks to serving nodes.
 *
 * A pass of the reconciler builds a batch of calls (one or more per node),
 * runs them all in parallel on one curl multi handle with a per-call
 * timeout, and reads every outcome; one dead node costs its timeout, never
 * the others' progress.  A driver turns the calls into its server's HTTP
 * API; the mlreg driver speaks mlreg-node's repository endpoints
 * (docs/node.md).  TorchServe and Triton drivers add a table, not code in
 * the reconciler.
 */
#ifndef MLREG_CONTROLLER_DRIVER_H
#define MLREG_CONTROLLER_DRIVER_H

#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>

typedef struct {
	const char *name;       /* node name */
	const char *url;        /* base URL, no trailing slash */
	const char *token;      /* admin bearer token for the node, or NULL */
	const char *driver;     /* the node's driver (ctl_driver_find); NULL: "mlreg" */
	const char *cacert;     /* CA bundle that verifies an https node, or NULL (system CAs) */
} ctl_node;

typedef enum { CTL_CALL_INDEX, CTL_CALL_LOAD, CTL_CALL_TRAFFIC, CTL_CALL_UNLOAD, CTL_CALL_METRICS } ctl_call_kind;

typedef struct {
	ctl_call_kind kind;
	ctl_node node;
	/* what to do (borrowed) */
	const char *served;     /* the name the node serves it under (the deployment) */
	const char *model;      /* registry model (load) */
	int64_t version;        /* load, unload (0: all) */
	const char *digest;     /* load */
	const cJSON *signatures; /* load: [{"public_key","signature"}] of the version, or NULL */
	const cJSON *weights;   /* traffic: {"2":90,"3":10} */
	const char *shadow;     /* traffic, NULL for none */
	/* outcome (owned by the call) */
	long status;            /* HTTP status, 0 when no answer */
	bool ok;                /* 2xx */
	char *error;            /* transport error or the node's {"error"} */
	cJSON *json;            /* parsed JSON answer (index, load, traffic) */
	char *text;             /* raw answer (metrics) */
	size_t text_len;
	int64_t elapsed_ms;
	void *user;             /* the caller's */
} ctl_call;

typedef struct {
	const char *name;       /* "mlreg" */
	/* Fill the request of a call: method, path, JSON body (heap, caller
	 * frees).  0 or MLREG_EINVALID for a call the driver cannot make. */
	int (*request)(const ctl_call *c, const char **method, char **path, char **body);
	/* Normalise an index answer into [{"name","version","state","weight",
	 * "digest","shadow","model","reason"?}] (version and weight JSON
	 * integers, shadow a boolean, model the registry model it came from,
	 * reason only when the node gave one): takes ownership of c->json and
	 * replaces it.  MLREG_EINVALID (c->json left as it was) for an answer
	 * that is not an index. */
	int (*index)(ctl_call *c);
} ctl_driver;

/* The drivers ctl_driver_find knows. */
extern const ctl_driver ctl_driver_mlreg;

/* Largest answer a node may send to one call (past it the call fails). */
#define CTL_CALL_MAX_ANSWER ((size_t)16 << 20)

/* The driver named name, NULL when unknown. */
const ctl_driver *ctl_driver_find(const char *name);

/* Run n calls in parallel (curl multi), each with timeout_ms (connect
 * included, counted from when its transfer starts) and at most
 * max_parallel transfers at once (<= 0: all at once); returns when all
 * have an outcome, so a batch takes at most about
 * ceil(n / max_parallel) * timeout_ms.  Never fails as a whole: each call
 * carries its own outcome (a previous one is released first, so calls must
 * start zeroed).  The node's driver builds the request; an index answer is
 * normalised by it; ok needs a 2xx status and, except for metrics, an
 * answer that is JSON (or empty).  error is the node's {"error"} text, or
 * curl's message, prefixed with the node's name.  The program calls
 * curl_global_init before any thread starts. */
void ctl_calls_run(ctl_call *calls, size_t n, int64_t timeout_ms, int max_parallel);
/* Free a call's outcome (error, json, text) for reuse. */
void ctl_call_release(ctl_call *c);

/* Per-node backoff after `fails` consecutive failures: min(base*2^(fails-1),
 * max) scaled by 0.5+0.5*r (r in [0,1]); 0 when fails is 0. */
int64_t ctl_backoff_ms(int64_t base_ms, int64_t max_ms, int64_t fails, double r);

#endif

/*
 * node.h - internals of mlreg-node shared by the files of node/: the flags,
 * the table of served models with its routing, the infer request codec, the
 * shadow queue, the metrics, and the HTTP layer's request.
 *
 * Locking: one mutex guards the table (models, versions, routes).  It is
 * held only to look up, pick a version and take a reference (a few hundred
 * nanoseconds), never across a prediction, a download, a model load or a
 * file write.  A version's model is freed when its last reference goes, so
 * an unload never frees a model an inference still uses.
 */
#ifndef MLREG_NODE_NODE_H
#define MLREG_NODE_NODE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <microhttpd.h>
#include <cjson/cJSON.h>
#include "cli/cli.h"
#include "node/cache.h"
#include "node/runtime.h"
#include "util/httpd.h"
#include "util/httpd_transport.h"
#include "util/json.h"
#include "util/util.h"

/* ---- flags (flags.c) ---- */
#define NODE_MAX_TRUST_KEYS 16
typedef struct {
	const char *listen;         /* default 127.0.0.1:8471 */
	const char *registry;       /* registry base URL */
	const char *token_file;     /* node token for the registry */
	const char *admin_token_file; /* when set, repository endpoints need this bearer token */
	const char *cache_dir;
	const char *name;           /* node name (metrics, logs); default the host name */
	const char *port_file;
	const char *check_dir;      /* --check DIR: the child's mode */
	int threads;                /* HTTP event threads; inference runs on them */
	int workers;                /* threads for loads and restores */
	size_t max_body;            /* largest request body */
	int64_t max_rows;           /* largest batch of one infer request */
	unsigned idle_timeout_s;
	int shadow_queue;           /* shadow copies waiting at most; 0 drops all */
	int shadow_threads;
	double shadow_tolerance;    /* absolute difference counted as disagreement */
	int64_t fetch_timeout_ms;   /* stall limit of one registry request */
	int64_t connect_timeout_ms;
	node_check_limits check;
	util_log_level log_level;
	util_httpd_transport tr;    /* --tls-*, --max-conns*, --request-timeout */
	const char *cacert;         /* --cacert: CA bundle for an https registry */
	const char *trust_keys[NODE_MAX_TRUST_KEYS]; /* --trust-key PUB.pem, repeatable */
	int ntrust_keys;
} node_config;

/* Defaults, then argv; MLREG_EUSAGE with a message on a bad flag, and 1
 * (not an error) after printing --help. */
int node_config_parse(int argc, char **argv, node_config *c);

/* ---- versions and the routing table (table.c) ---- */
typedef enum { NODE_LOADING, NODE_READY, NODE_UNAVAILABLE } node_state;
const char *node_state_name(node_state s);

typedef struct node_metrics_entry node_metrics_entry;

typedef struct node_version {
	atomic_int refs;         /* the table's reference plus one per user */
	char *model;             /* served name (the {m} of the URL) */
	char *version;           /* "3" */
	int64_t number;
	char *digest;            /* version digest */
	char *source;            /* registry model it was fetched from */
	char *signatures;        /* the load's parameters.signatures as JSON text, NULL when none
				  * (set while LOADING; kept in state.json for the restore) */
	node_state state;        /* under the table lock */
	char *reason;            /* why UNAVAILABLE (under the table lock) */
	node_model *m;           /* set once READY, freed with the last reference */
	node_metrics_entry *metrics;
} node_version;

typedef struct node_table node_table;

int node_table_new(node_table **out);
void node_table_free(node_table *t);

/* Take a reference / drop one (the last frees the model and the version). */
void node_version_ref(node_version *v);
void node_version_unref(node_version *v);

/* Pick the version an inference of model runs on: `version` when given
 * (it must be READY), else by weight, by hash of `id` when given (sticky),
 * else at random.  Also the shadow version, when one is set and differs
 * (NULL otherwise).  Both come with a reference.  MLREG_ENOTFOUND for an
 * unknown model or version; MLREG_ECONFLICT when the version is not READY
 * or the model has no weighted version. */
int node_table_pick(node_table *t, const char *model, const char *version, const char *id, node_version **out,
		    node_version **shadow);
/* A READY version for metadata: `version`, or the highest READY one.
 * With a reference.  MLREG_ENOTFOUND when none. */
int node_table_get(node_table *t, const char *model, const char *version, node_version **out);
/* The READY version numbers of model as a JSON array of strings. */
cJSON *node_table_versions(node_table *t, const char *model);

/* Begin a load: register (model, version) as LOADING with digest and
 * source.  Returns 0 with *out referenced when the caller must load it;
 * 1 when it is READY with that digest already (nothing to do; *out
 * referenced); MLREG_ECONFLICT when it is loaded or loading with another
 * digest.  A load of the same digest in progress is waited for. */
int node_table_begin_load(node_table *t, const char *model, const char *version, const char *digest,
			  const char *source, node_version **out);
/* End a load: m non-NULL makes the version READY (and the first weighted
 * version of its model gets weight 100); NULL makes it UNAVAILABLE with
 * reason (the old versions keep serving).  Drops the caller's reference. */
void node_table_end_load(node_table *t, node_version *v, node_model *m, const char *reason);
/* Replace model's weights and shadow.  weights: {"2":90,"3":10} over
 * READY versions, integers 0..100 summing to 100; shadow a READY version or
 * NULL.  MLREG_EINVALID (nothing changes) / MLREG_ENOTFOUND. */
int node_table_traffic(node_table *t, const char *model, const cJSON *weights, const char *shadow);
/* Unload one version (version non-NULL) or the whole model.
 * MLREG_ECONFLICT while that version has weight > 0.  *removed gets the
 * digests no longer used by any version (the caller drops them from the
 * cache); *n their count.  Unknown models and versions are fine (nothing). */
int node_table_unload(node_table *t, const char *model, const char *version, char ***removed, int *n);
/* [{"name","version","state","reason","weight","digest"}] */
cJSON *node_table_index(node_table *t);
/* The model's traffic as {"weights":{…},"shadow":…}; NULL when unknown. */
cJSON *node_table_traffic_json(node_table *t, const char *model);
/* The desired state for the cache (READY and UNAVAILABLE versions, weights, shadow) and a
 * generation number that grows with every change. */
cJSON *node_table_state(node_table *t, uint64_t *generation);
/* True when the restore (if any) is over and every model the saved state
 * gave traffic (node_table_want) has READY versions taking all of it. */
bool node_table_ready(node_table *t);
void node_table_set_restoring(node_table *t, bool on);
bool node_table_is_restoring(node_table *t);
/* Mark model as one the node must serve before it is ready (restore). */
void node_table_want(node_table *t, const char *model);
/* Walk every version (metrics, gauges) under the lock. */
void node_table_each(node_table *t, void (*fn)(void *arg, const node_version *v, int weight), void *arg);

/* ---- infer requests and answers (oip.c) ---- */
typedef struct {
	char *id;            /* request id, NULL when none */
	float *x;            /* rows x cols, row-major */
	size_t rows, cols;
} node_infer_req;

/* Parse an Open Inference Protocol infer request and check it against the
 * spec's input (name, datatype, shape): MLREG_EINVALID (400) with a reason.
 * Numbers are converted to float; null is a missing value (NaN) for
 * floating-point inputs. */
int node_oip_parse(const char *body, size_t len, const node_spec *spec, int64_t max_rows, node_infer_req *out);
/* The same in two steps, for the server, which must read the id (to pick
 * a version) before it knows which spec to check against: decode the body
 * (*id borrowed from *doc, NULL when absent), then check its one input. */
int node_oip_decode(const char *body, size_t len, cJSON **doc, const char **id);
int node_oip_tensor(const cJSON *doc, const node_spec *spec, int64_t max_rows, node_infer_req *out);
void node_infer_req_release(node_infer_req *r);
/* Append the infer answer {"model_name","model_version","id","outputs":[…]}. */
int node_oip_answer(util_buf *b, const char *model, const char *version, const char *id, const node_spec *spec,
		    const node_output *o);
/* Model metadata {"name","versions","platform","inputs","outputs"}. */
cJSON *node_oip_metadata(const char *model, const node_version *v, cJSON *versions);

/* ---- shadow traffic (shadow.c) ---- */
typedef struct node_shadow node_shadow;
int node_shadow_start(node_shadow **out, int capacity, int threads, double tolerance);
/* Hand a copy of a request to the shadow version: takes the reference to
 * v, copies x and the primary's output.  Dropped (and counted) when the
 * queue is full. */
void node_shadow_submit(node_shadow *s, node_version *v, const float *x, size_t rows, size_t cols,
			const node_output *primary);
void node_shadow_stop(node_shadow *s);

/* ---- metrics (metrics.c) ---- */
/* The counters of one (model, version); created on first use, kept for
 * the life of the process so counters never go backwards. */
node_metrics_entry *node_metrics_entry_get(const char *model, const char *version);
void node_metrics_request(node_metrics_entry *e, unsigned code, double seconds);
void node_metrics_shadow(node_metrics_entry *e, double seconds, bool mismatch, bool failed);
void node_metrics_shadow_dropped(void);
void node_metrics_load_failure(const char *model);
/* Prometheus text of everything, gauges read from the table. */
int node_metrics_render(node_table *t, util_buf *out);

/* ---- the node (server.c, repo.c, routes.c) ---- */
typedef struct node_trust node_trust;
typedef struct node_server {
	node_config cfg;
	cli_config client;          /* registry client settings */
	char *registry_token;
	char *admin_token;
	node_cache *cache;
	node_table *table;
	node_shadow *shadow;
	struct util_workq *workers;
	struct MHD_Daemon *daemon;
	pthread_mutex_t persist_mu; /* one state.json writer at a time */
	uint64_t persisted_gen;
	node_trust *trust;          /* --trust-key keys; NULL: signatures not required */
} node_server;

/* ---- signature enforcement (trust.c) ---- */
/* Read and check the --trust-key files (Ed25519 public key PEM each):
 * *out stays NULL when there are none.  MLREG_EUSAGE naming the file
 * otherwise. */
int node_trust_load(const node_config *c, node_trust **out);
void node_trust_free(node_trust *t);
/* A load's parameters.signatures (absent or null: none) checked for shape
 * - an array of at most 64 {"public_key"?: PEM, "signature": base64}
 * objects - into JSON text (*out heap, NULL when none).  MLREG_EINVALID. */
int node_trust_parse(const cJSON *signatures, char **out);
/* 0 when no keys are trusted, or when one of the signatures (JSON text
 * from node_trust_parse, may be NULL) verifies against one of the trusted
 * keys over the statement of (source, number, digest) - the digest the
 * files are then verified against.  MLREG_EINTEGRITY with the reason. */
int node_trust_check(const node_trust *t, const char *source, int64_t number, const char *digest,
		     const char *signatures);

typedef struct node_req node_req;
typedef int (*node_handler)(node_req *q);

typedef struct {
	const char *method;
	const char *pattern;   /* "v2/models/{}/infer" */
	node_handler fn;
	bool worker;           /* runs on a worker thread (load, restore) */
	bool admin;            /* needs --admin-token-file's token when set */
} node_route;

#define NODE_MAX_SEGS 8

struct node_req {
	node_server *srv;
	struct MHD_Connection *conn;
	const node_route *route;
	char *params[NODE_MAX_SEGS];
	int nparams;
	util_buf body;
	int early_code;
	char *early_msg;
	bool suspended, work_done, answered;
	unsigned status;
	cJSON *json;                /* JSON answer */
	util_buf text;              /* or a ready text answer */
	node_metrics_entry *metrics; /* the version an infer ran on */
	int64_t t0_ns;
	const char *content_type;   /* of text */
};

extern const node_route node_routes[];

/* Answering: JSON (takes body), error {"error":"…"} from a code and the
 * last message, or text already in q->text. */
int node_reply_json(node_req *q, unsigned status, cJSON *body);
int node_reply_error(node_req *q, int code);
unsigned node_status_of(int code);
/* The request body as JSON (400 when it is not). */
int node_body_json(node_req *q, cJSON **out);

/* Persist the table's desired state to the cache when it changed (not
 * while the restore runs).  MLREG_EIO when the file cannot be written. */
int node_persist(node_server *s);
/* Reload what state.json lists (worker thread, at start). */
void node_restore(void *srv);

int node_serve(node_server *s);

#endif

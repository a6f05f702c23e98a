/*
 * http.h - internals of the HTTP layer shared by the api folder: the per-request
 * state, the route table entry, and the helpers route handlers answer with.
 */
#ifndef MLREG_API_HTTP_H
#define MLREG_API_HTTP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <microhttpd.h>
#include <cjson/cJSON.h>
#include "controller/reconcile.h"
#include "registry/registry.h"
#include "util/httpd_transport.h"
#include "util/util.h"

typedef struct api_server api_server;
typedef struct api_req api_req;
typedef int (*api_handler)(api_req *q);

typedef enum {
	API_INLINE,        /* quick read: runs on the HTTP thread */
	API_WORKER,        /* writes or long work: connection suspended, runs on a worker */
	API_STREAM_BLOB,   /* body streamed into a new blob, finished on a worker */
	API_STREAM_UPLOAD  /* body streamed into an upload session, finished on a worker */
} api_mode;

typedef enum { API_AUTH_NONE = -1 } api_auth_special;

typedef struct {
	const char *method;   /* "GET", "POST", ... (GET routes also answer HEAD) */
	const char *pattern;  /* "api/v1/models/{}/versions"; {} matches one segment */
	api_handler fn;
	int perm;             /* reg_perm, API_AUTH_NONE (no token), or -2 (any token) */
	api_mode mode;
	const char *label;    /* route label for /metrics */
} api_route;

#define API_AUTH_ANY (-2)
#define API_MAX_SEGS 12

typedef struct {
	const char *listen;
	const char *data_dir;
	const char *port_file;
	int workers, threads;
	size_t max_json;
	size_t conn_memory;
	unsigned idle_timeout_s;
	int64_t upload_ttl_ms, gc_grace_ms;
	/* webhook delivery (webhook_sender.c) */
	bool webhook_allow_private;     /* let webhooks reach loopback/private/link-local addresses */
	int64_t webhook_timeout_ms;     /* connect and total time of one attempt */
	int64_t webhook_backoff_ms;     /* delay after the first failed attempt, doubled each time */
	int64_t webhook_backoff_max_ms; /* ceiling of that delay */
	int64_t webhook_poll_ms;        /* longest sleep between looks at the outbox */
	int64_t webhook_grace_ms;
	int64_t lineage_max_depth;      /* edges a lineage walk follows at most */
	int64_t lineage_max_nodes;      /* nodes a lineage answer holds at most */
	int64_t db_mmap_bytes;          /* bytes of the database each reader maps */       /* how long an attempt in flight may run once shutdown begins */
	int webhook_max_attempts;       /* attempts before a delivery is marked failed */
	bool no_controller;             /* --no-controller */
	/* authentication and rate limits (auth.c); a rate of 0 turns a limit off */
	double rate_limit, rate_burst;          /* requests/s and burst per token */
	double auth_fail_rate, auth_fail_burst; /* logged auth failures/s and burst per address */
	int64_t rate_keys;                      /* tokens or addresses each table tracks at most */
	int64_t token_touch_ms;                 /* flush period of tokens' last use */
	int64_t auth_fail_summary_ms;           /* period of "N more ... suppressed" lines */
	bool print_routes;                      /* --print-routes: print the route table and exit */
	int64_t console_refresh_ms;             /* --console-refresh: the console's polling period */
	bool no_console;                        /* --no-console: / and /console/... answer 404 */
	ctl_config ctl;                 /* the reconciler's periods and timeouts */
	/* transport (server_transport.c): TLS, connection limits, deadlines */
	util_httpd_transport tr;        /* --tls-*, --max-conns*, --request-timeout */
	uint64_t max_blob;              /* largest blob body (--max-blob) */
	int64_t url_max_ttl_ms;         /* longest signed blob URL life (--url-max-ttl) */
	const char *url_key_file;       /* --url-key-file, default DATA/url.key */
} api_config;

struct api_req {
	api_server *srv;
	struct MHD_Connection *conn;
	const api_route *route;
	int route_idx;
	bool head;
	char *params[API_MAX_SEGS]; /* decoded {} segments, in order */
	int nparams;
	reg_principal who;
	int64_t t0_ns;
	uint64_t bytes_in, bytes_out;

	/* error found before the body was read: answered at the end */
	int early_code;
	char *early_msg;

	util_buf body;               /* JSON request body */
	reg_blob_writer *blob;       /* API_STREAM_BLOB sink */
	reg_upload *upload;          /* API_STREAM_UPLOAD sink */
	int sink_error;              /* first write error of the sink */
	int64_t upload_off;          /* session offset to report in Range, or -1 */
	uint64_t sink_base;          /* bytes the upload session held when claimed */
	char location[96];           /* Location header of the answer, when set */
	char *sink_msg;

	bool suspended, work_done, answered;
	bool sink_pending;           /* upload sink still to be opened on a worker */
	bool sink_opened;            /* the worker just opened it (or failed to) */
	bool answer_now;             /* opening it failed: answer before any body */
	int status;                  /* response to send */
	int64_t retry_after_s;       /* Retry-After of a 429, when set */
	cJSON *json;
	cJSON *err_extra;            /* extra members of the error object */
	cJSON *keep;                 /* decoded query strings handed out */
	struct MHD_Response *resp;   /* ready-made response (files, streams) */
};

struct api_server {
	api_config cfg;
	reg_registry *reg;
	struct MHD_Daemon *daemon;
	struct util_workq *pool;       /* workers for API_WORKER and sink work */
	struct api_metrics *metrics;
	struct api_sender *sender;
	struct ctl_reconciler *ctl;    /* NULL with --no-controller */
	char *url_key_path;            /* the signed URL key file (signed_url.c) */
	struct api_auth *auth;         /* rate limits and the housekeeping thread (auth.c) */
};

/* ---- flags (server_flags.c) ---- */
/* Defaults, then argv; MLREG_EUSAGE with a message on a bad flag. */
int api_config_parse(int argc, char **argv, api_config *c);

/* ---- transport flags (server_transport.c) ---- */
/* Defaults of the transport flags; api_config_parse calls it. */
void api_transport_defaults(api_config *c);
/* Names of the transport flags (NULL after the last) and their parser:
 * MLREG_EUSAGE with a message on a bad value. */
const char *api_transport_flag_name(int i);
int api_transport_flag_set(api_config *c, const char *name, const char *value);
void api_transport_usage(FILE *f);

/* ---- signed blob URLs (signed_url.c) ---- */
/* Create DATA/url.key (32 random bytes, mode 0600) unless it or
 * --url-key-file exists; remembers the path in s. */
int api_url_key_init(api_server *s);
/* When q asks for a blob with ?expires=&sig= and no Authorization header:
 * 1 when the signature verifies and has not expired, 0 when the request
 * does not use a signed URL (authenticate it as usual), MLREG_EFORBIDDEN
 * when it does and fails (same answer whether or not the blob exists). */
int api_signed_url_check(api_req *q);
/* POST /api/v1/blobs/{digest}/url {"ttl":"15m"}: mint one. */
int api_blob_url_mint(api_req *q);

/* ---- answering (server.c) ---- */
/* JSON answer; takes ownership of body. */
int api_reply_json(api_req *q, int status, cJSON *body);
/* Error answer from an MLREG_E* code and mlreg_error_last(). */
int api_reply_error(api_req *q, int code);
int api_reply_error_msg(api_req *q, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* HTTP status for an error code (the one table). */
unsigned api_status_of(int code);
/* Decoded query argument (heap copy owned by q, freed with it) or NULL. */
const char *api_query(api_req *q, const char *name);
/* All values of a repeated query argument as a JSON array of strings. */
cJSON *api_query_all(api_req *q, const char *name);
const char *api_header(api_req *q, const char *name);
/* Parse the JSON body: MLREG_EINVALID with a message when it is not one. */
int api_body_json(api_req *q, cJSON **out);
/* Parse a path segment as a version number. */
int api_version_param(api_req *q, int idx, int64_t *out);
/* A version segment that may also be a stage or "@alias" of the model in
 * params[0], resolved to the number it points to now. */
int api_resolve_param(api_req *q, int idx, int64_t *out);
/* Wrap an fd in a (possibly ranged) response; takes the fd. */
int api_reply_fd(api_req *q, int fd, uint64_t size, const char *etag, const char *content_type);
void api_add_header(struct MHD_Response *r, const char *k, const char *v);

/* ---- route tables (routes_*.c) ---- */
extern const api_route api_routes_blobs[];
extern const api_route api_routes_models[];
extern const api_route api_routes_admin[];
extern const api_route api_routes_promo[];
extern const api_route api_routes_lineage[];
extern const api_route api_routes_webhooks[];
extern const api_route api_routes_deploy[];
extern const api_route api_routes_bundles[];
extern const api_route api_routes_sign[];
extern const api_route api_routes_console[];
/* Streaming sinks of API_STREAM_* routes. */
int api_blob_sink_open(api_req *q);
int api_upload_sink_open(api_req *q);

/* ---- webhooks (routes_webhooks.c, webhook_sender.c) ---- */
/* Check a webhook URL before it is stored: http or https, no user info, and
 * unless allow_private no resolved address of its host is private
 * (util_addr_is_private).  Resolves the host (blocking: workers only).
 * Returns 0 or MLREG_EINVALID with a message naming the refused address. */
int api_webhook_url_check(const char *url, bool allow_private);
/* The delivery thread.  api_sender_new() installs the registry's event hook
 * (call it before any request can commit); api_sender_start() starts the
 * thread (after the server listens); api_sender_free() stops it: the
 * attempt in flight gets a bounded grace, everything undelivered stays
 * pending in the outbox.  It then removes the hook; free(NULL) is a no-op. */
typedef struct api_sender api_sender;
int api_sender_new(api_server *s, api_sender **out);
int api_sender_start(api_sender *w);
void api_sender_free(api_sender *w);

/* ---- authentication, scope, rate limits (auth.c) ---- */
int api_auth_new(api_server *s);
/* the housekeeping thread: flushes tokens' last use, logs suppressed counts */
int api_auth_start(api_server *s);
/* stops the thread and flushes once more */
void api_auth_free(api_server *s);
/* Authenticate q (bearer token), apply the per-token and per-address
 * limits, the role and the scope of its path; sets the early error. */
void api_authorize(api_req *q);
/* For handlers: 0 or MLREG_EFORBIDDEN when q's token scope does not cover
 * model / stage (either NULL when not concerned). */
int api_scope(api_req *q, const char *model, const char *stage);
/* Whether q's token may see model (for filtering list answers). */
bool api_scope_sees(api_req *q, const char *model);
/* Keep only the items of the array member key of out whose member
 * model_key passes api_scope_sees. */
void api_scope_filter(api_req *q, cJSON *out, const char *key, const char *model_key);
/* `mlreg server --print-routes`: METHOD PATH PERMISSION ROLES per line. */
void api_print_routes(FILE *f);
const char *api_perm_name(int perm);

/* ---- metrics (metrics.c) ---- */
typedef enum { API_LIMIT_TOKEN, API_LIMIT_AUTH_FAIL, API_LIMITS } api_limit;
void api_metrics_auth_failure(struct api_metrics *m, reg_auth_reason why);
void api_metrics_rate_limited(struct api_metrics *m, api_limit which);
struct api_metrics *api_metrics_new(int nroutes);
void api_metrics_free(struct api_metrics *m);
void api_metrics_observe(struct api_metrics *m, int route, bool head, unsigned status, double seconds, uint64_t in,
			 uint64_t out);
int api_metrics_render(api_server *s, util_buf *out);
typedef enum { API_WEBHOOK_DELIVERED, API_WEBHOOK_RETRY, API_WEBHOOK_FAILED, API_WEBHOOK_OUTCOMES } api_webhook_outcome;
/* Count one delivery attempt by its outcome. */
void api_metrics_webhook(struct api_metrics *m, api_webhook_outcome outcome);
/* Route labels, index-aligned with the flattened route table. */
const char *api_route_label(int idx);
const char *api_route_method(int idx);
int api_route_count(void);
/* The flattened route table (server.c); idx < api_route_count() - 1. */
const api_route *api_route_at(int idx);

#endif

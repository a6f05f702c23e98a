/*
 * httpd.h - the pieces of an HTTP server on libmicrohttpd that `mlreg server`
 * (api/) and `mlreg-node` (node/) share: the --listen address, a worker
 * queue for work that must not run on an event thread, path splitting and
 * route pattern matching, and JSON answers.
 *
 * Each server keeps its own request state and route semantics (the registry
 * authenticates tokens and streams blobs; the node serves inference); what is
 * here is what would otherwise be written twice.
 */
#ifndef MLREG_UTIL_HTTPD_H
#define MLREG_UTIL_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <microhttpd.h>
#include <cjson/cJSON.h>

/* "HOST:PORT" or "[V6]:PORT" (localhost means 127.0.0.1).  MLREG_EUSAGE
 * with a message naming s when it is not one. */
int util_listen_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len);

/* Monotonic clock in nanoseconds. */
int64_t util_mono_ns(void);

/* ---- worker queue ---- */
typedef struct util_workq util_workq;
typedef void (*util_work_fn)(void *arg);
/* Start n worker threads.  MLREG_ENOMEM / MLREG_ERROR. */
int util_workq_start(util_workq **out, int n);
/* Run fn(arg) on a worker.  When the queue is stopping or memory is short
 * it runs on the calling thread instead: work is never lost. */
void util_workq_submit(util_workq *q, util_work_fn fn, void *arg);
/* Let queued work finish, join the threads, free.  NULL is a no-op. */
void util_workq_stop(util_workq *q);

/* ---- paths and routes ---- */
/* Split the raw (still escaped) path into percent-decoded segments (heap
 * strings); a trailing slash is ignored.  Returns the count, or -1 (nothing
 * left allocated) when there are more than max or one decodes to a NUL. */
int util_http_split_path(const char *url, char **segs, int max);
/* Match segments against a pattern such as "v2/models/{}/infer" ({} matches
 * one segment).  On a match the captured segments are borrowed into caps
 * (at most maxcaps) and their count into *ncaps. */
bool util_http_match(const char *pattern, char *const *segs, int nsegs, char **caps, int maxcaps, int *ncaps);

/* A JSON answer (body printed unformatted, then a newline, Content-Type
 * application/json); *len gets the body length.  NULL on OOM.  body stays
 * the caller's. */
struct MHD_Response *util_http_json_response(const cJSON *body, size_t *len);

#endif

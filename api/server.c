/*
 * server.c - `mlreg server`: libmicrohttpd glue, routing, authentication,
 * limits, the worker pool, and orderly shutdown.
 *
 * libmicrohttpd's pool threads each serve many connections, so they must
 * never block on an fsync, a database write or a long scan.  Each route
 * declares a mode: quick reads answer on the HTTP thread; everything that
 * writes is handed to a worker while its connection is suspended
 * (MHD_suspend_connection), and answered when the worker resumes it.  Blob
 * bodies are streamed into the blob store as they arrive (hashing on the
 * way), never held in memory, and only their final fsync/rename goes to a
 * worker.  Requests are answered on the handler's second call, which keeps
 * connections alive (FACTS.md: 87k vs 15k req/s).  Signals are blocked
 * before any thread starts and taken by the main thread with sigwait().
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "api/api.h"
#include "api/http.h"
#include "util/httpd.h"
#include "util/json.h"

/* ------------------------------------------------------------------ */
/* worker jobs                                                         */
/* ------------------------------------------------------------------ */
static void run_request(api_req *q);
static void open_sink(api_req *q);

/* A worker's part of a request (util_workq): open its upload sink (it may
 * rehash the session or wait for another request's commit), or run its
 * handler. */
static void do_job(void *arg)
{
	api_req *q = arg;
	if (q->sink_pending) {
		open_sink(q);
	} else {
		run_request(q);
		q->work_done = true;
	}
	MHD_resume_connection(q->conn);
}

/* ------------------------------------------------------------------ */
/* route table                                                         */
/* ------------------------------------------------------------------ */
static const api_route *const tables[] = {api_routes_blobs,    api_routes_models,  api_routes_admin, api_routes_promo,
					   api_routes_webhooks, api_routes_lineage, api_routes_deploy, api_routes_sign,
					   api_routes_bundles, api_routes_console};
static const api_route *flat[128];
static int nflat;

static void routes_init(void)
{
	if (nflat)
		return;
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (const api_route *r = tables[t]; r->method; r++)
			flat[nflat++] = r;
}

int api_route_count(void) { return nflat + 1; }
const char *api_route_label(int idx) { return idx < nflat ? flat[idx]->label : "unmatched"; }
const char *api_route_method(int idx) { return idx < nflat ? flat[idx]->method : "-"; }
const api_route *api_route_at(int idx) { return idx >= 0 && idx < nflat ? flat[idx] : NULL; }

/* Match; returns route index, -1 for no path, -2 for path but not method. */
static int match(api_req *q, const char *method, char **segs, int nsegs)
{
	bool path_seen = false;
	for (int i = 0; i < nflat; i++) {
		char *cap[API_MAX_SEGS];
		int np;
		if (!util_http_match(flat[i]->pattern, segs, nsegs, cap, API_MAX_SEGS, &np))
			continue;
		path_seen = true;
		if (strcmp(flat[i]->method, method) != 0 && !(q->head && !strcmp(flat[i]->method, "GET")))
			continue;
		for (int k = 0; k < np; k++)
			q->params[k] = strdup(cap[k]);
		q->nparams = np;
		return i;
	}
	return path_seen ? -2 : -1;
}

/* ------------------------------------------------------------------ */
/* answering                                                           */
/* ------------------------------------------------------------------ */
unsigned api_status_of(int code)
{
	switch (code) {
	case MLREG_EINVALID: return 400;
	case MLREG_EINTEGRITY: return 400;
	case MLREG_EAUTH: return 401;
	case MLREG_EFORBIDDEN: return 403;
	case MLREG_ENOTFOUND: return 404;
	case MLREG_EEXISTS: return 409;
	case MLREG_ECONFLICT: return 409;
	case MLREG_EREFUSED: return 422;
	case MLREG_ETOOBIG: return 413;
	case MLREG_ERANGE: return 416;
	case MLREG_EUSAGE: return 400;
	case MLREG_EMETHOD: return 405;
	case MLREG_ERATELIMITED: return 429;
	default: return 500;
	}
}

int api_reply_json(api_req *q, int status, cJSON *body)
{
	cJSON_Delete(q->json);
	q->status = status;
	q->json = body;
	return 0;
}

static cJSON *error_body(const char *code, const char *msg, cJSON *extra)
{
	cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
	cJSON_AddStringToObject(e, "code", code);
	cJSON_AddStringToObject(e, "message", msg);
	for (cJSON *x = extra ? extra->child : NULL; x; x = x->next)
		cJSON_AddItemToObject(e, x->string, cJSON_Duplicate(x, 1));
	return o;
}

int api_reply_error(api_req *q, int code)
{
	const char *msg = mlreg_error_last();
	if (!msg[0])
		msg = mlreg_error_name(code);
	q->status = (int)api_status_of(code);
	cJSON_Delete(q->json);
	q->json = error_body(q->err_extra && cJSON_GetObjectItem(q->err_extra, "missing") ? "blob_unknown" : mlreg_error_name(code),
			     msg, q->err_extra);
	return 0;
}

int api_reply_error_msg(api_req *q, int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	mlreg_error_set(code, "%s", msg);
	return api_reply_error(q, code);
}

void api_add_header(struct MHD_Response *r, const char *k, const char *v) { MHD_add_response_header(r, k, v); }

const char *api_header(api_req *q, const char *name)
{
	return MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, name);
}

/* query strings are left escaped by our unescape callback; decode copies */
typedef struct {
	const char *name;
	cJSON *arr;
} qall_ctx;

static enum MHD_Result collect_arg(void *p, enum MHD_ValueKind kind, const char *key, const char *value)
{
	qall_ctx *c = p;
	if (key && !strcmp(key, c->name)) {
		char *v = strdup(value ? value : "");
		if (v) {
			for (char *s = v; *s; s++)
				if (*s == '+')
					*s = ' ';
			MHD_http_unescape(v);
			cJSON_AddItemToArray(c->arr, cJSON_CreateString(v));
			free(v);
		}
	}
	return MHD_YES;
}

cJSON *api_query_all(api_req *q, const char *name)
{
	qall_ctx c = {name, cJSON_CreateArray()};
	MHD_get_connection_values(q->conn, MHD_GET_ARGUMENT_KIND, collect_arg, &c);
	return c.arr;
}

const char *api_query(api_req *q, const char *name)
{
	/* decoded copies are parked on the request and freed with it */
	cJSON *all = api_query_all(q, name);
	if (cJSON_GetArraySize(all) == 0) {
		cJSON_Delete(all);
		return NULL;
	}
	if (!q->keep)
		q->keep = cJSON_CreateArray();
	cJSON_AddItemToArray(q->keep, all);
	return cJSON_GetArrayItem(all, 0)->valuestring;
}

int api_body_json(api_req *q, cJSON **out)
{
	if (!q->body.ptr || q->body.len == 0)
		return mlreg_error_set(MLREG_EINVALID, "request body must be JSON");
	return util_json_parse(q->body.ptr, q->body.len, UTIL_JSON_MAX_DEPTH, out);
}

int api_version_param(api_req *q, int idx, int64_t *out)
{
	const char *s = q->params[idx];
	int64_t v;
	if (!s || !*s || *s < '0' || *s > '9' || util_parse_i64(s, &v) < 0 || v < 1)
		return mlreg_error_set(MLREG_EINVALID, "invalid version '%s': expected a positive integer", s ? s : "");
	*out = v;
	return 0;
}

int api_resolve_param(api_req *q, int idx, int64_t *out)
{
	const char *s = q->params[idx];
	util_ref ref;
	int rc;
	if (s && *s >= '0' && *s <= '9')
		return api_version_param(q, idx, out);
	if ((rc = reg_ref_segment_parse(s, &ref, q->params[0])) < 0)
		return rc;
	return reg_resolve(q->srv->reg, &ref, out);
}

int api_reply_fd(api_req *q, int fd, uint64_t size, const char *etag, const char *content_type)
{
	const char *inm = api_header(q, MHD_HTTP_HEADER_IF_NONE_MATCH);
	const char *range = api_header(q, MHD_HTTP_HEADER_RANGE);
	char quoted[96], cr[96], len[32];
	uint64_t from = 0, n = size;
	int ranged = 0;
	snprintf(quoted, sizeof(quoted), "\"%s\"", etag);
	if (inm && (strstr(inm, etag))) {
		close(fd);
		q->resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
		q->status = 304;
		api_add_header(q->resp, MHD_HTTP_HEADER_ETAG, quoted);
		return 0;
	}
	ranged = util_range_parse(range, size, &from, &n);
	if (ranged < 0) {
		close(fd);
		snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)size);
		mlreg_error_set(MLREG_ERANGE, "range '%s' cannot be satisfied for %llu bytes", range, (unsigned long long)size);
		api_reply_error(q, MLREG_ERANGE);
		{ /* a 416 names the resource's length (RFC 9110 15.5.17) */
			char *text = cJSON_PrintUnformatted(q->json);
			if (!text)
				return mlreg_error_set(MLREG_ENOMEM, "out of memory");
			q->resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
			api_add_header(q->resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
			api_add_header(q->resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
		}
		return 0;
	}
	q->resp = MHD_create_response_from_fd_at_offset64(n, fd, from);
	if (!q->resp) {
		close(fd);
		return mlreg_error_set(MLREG_ENOMEM, "cannot create response");
	}
	q->status = ranged ? 206 : 200;
	if (ranged) {
		snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)from,
			 (unsigned long long)(from + n - 1), (unsigned long long)size);
		api_add_header(q->resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
	}
	snprintf(len, sizeof(len), "%llu", (unsigned long long)n);
	api_add_header(q->resp, MHD_HTTP_HEADER_ETAG, quoted);
	api_add_header(q->resp, "Docker-Content-Digest", etag);
	api_add_header(q->resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	api_add_header(q->resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type ? content_type : "application/octet-stream");
	q->bytes_out += q->head ? 0 : n;
	return 0;
}

/* ------------------------------------------------------------------ */
/* request life cycle                                                  */
/* ------------------------------------------------------------------ */
static void run_request(api_req *q)
{
	int rc;
	mlreg_error_clear();
	if (q->early_code) {
		mlreg_error_set(q->early_code, "%s", q->early_msg ? q->early_msg : mlreg_error_name(q->early_code));
		api_reply_error(q, q->early_code);
		return;
	}
	if (q->sink_error) {
		mlreg_error_set(q->sink_error, "%s", q->sink_msg ? q->sink_msg : "write failed");
		api_reply_error(q, q->sink_error);
		return;
	}
	rc = q->route->fn(q);
	if (rc < 0)
		api_reply_error(q, rc);
}

static void set_early(api_req *q, int code, const char *msg)
{
	if (q->early_code)
		return;
	q->early_code = code;
	free(q->early_msg);
	q->early_msg = strdup(msg);
}

static enum MHD_Result send_answer(api_req *q)
{
	struct MHD_Response *r = q->resp;
	enum MHD_Result ok;
	if (!r) {
		size_t n;
		if (!(r = util_http_json_response(q->json, &n)))
			return MHD_NO;
		q->bytes_out += q->head ? 0 : n;
	}
	if (q->location[0])
		api_add_header(r, MHD_HTTP_HEADER_LOCATION, q->location);
	if (q->retry_after_s > 0 && q->status == 429) {
		char ra[24];
		snprintf(ra, sizeof(ra), "%lld", (long long)q->retry_after_s);
		api_add_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
	}
	if (q->upload_off > 0 && (q->status == 416 || q->status == 202 || q->status == 200)) {
		char range[48];
		snprintf(range, sizeof(range), "0-%lld", (long long)q->upload_off - 1);
		api_add_header(r, "Range", range);
	}
	ok = MHD_queue_response(q->conn, (unsigned)(q->status ? q->status : 200), r);
	MHD_destroy_response(r);
	q->resp = NULL;
	q->answered = true;
	return ok;
}

static enum MHD_Result count_header(void *p, enum MHD_ValueKind kind, const char *k, const char *v)
{
	size_t *n = p;
	*n += strlen(k) + (v ? strlen(v) : 0) + 4;
	return MHD_YES;
}

static void open_sink(api_req *q)
{
	int rc;
	mlreg_error_clear();
	rc = api_upload_sink_open(q);
	if (rc < 0) {
		set_early(q, rc, mlreg_error_last());
		q->answer_now = true; /* do not read a body we will not keep */
	}
	q->sink_pending = false;
	q->sink_opened = true;
}

static api_req *begin(api_server *s, struct MHD_Connection *c, const char *url, const char *method)
{
	api_req *q = calloc(1, sizeof(*q));
	char *segs[API_MAX_SEGS + 1];
	int n, idx;
	size_t hdr = 0;
	const char *cl;
	if (!q)
		return NULL;
	q->srv = s;
	q->conn = c;
	q->t0_ns = util_mono_ns();
	q->route_idx = nflat; /* "unmatched" until known */
	q->upload_off = -1;
	q->head = !strcmp(method, "HEAD");
	util_buf_init(&q->body, s->cfg.max_json);
	MHD_get_connection_values(c, MHD_HEADER_KIND, count_header, &hdr);
	if (hdr > 16 * 1024) {
		set_early(q, MLREG_ETOOBIG, "request headers too large");
		q->status = 431;
		return q;
	}
	n = util_http_split_path(url, segs, API_MAX_SEGS);
	if (n < 0) {
		set_early(q, MLREG_ENOTFOUND, "no such route");
		return q;
	}
	idx = match(q, method, segs, n);
	for (int i = 0; i < n; i++)
		free(segs[i]);
	if (idx == -1) {
		set_early(q, MLREG_ENOTFOUND, "no such route");
		return q;
	}
	if (idx == -2) {
		set_early(q, MLREG_EMETHOD, "method not allowed on this route");
		return q;
	}
	q->route = flat[idx];
	q->route_idx = idx;
	api_authorize(q);
	if (q->early_code)
		return q;
	cl = api_header(q, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (q->route->mode == API_STREAM_UPLOAD) {
		/* claiming a session can rehash it or wait for another request's
		 * commit: done on a worker before the body is read (on_request) */
		q->sink_pending = true;
	} else if (q->route->mode == API_STREAM_BLOB && cl && strtoull(cl, NULL, 10) > s->cfg.max_blob) {
		char msg[128];
		snprintf(msg, sizeof(msg), "blob larger than %llu bytes (--max-blob)", (unsigned long long)s->cfg.max_blob);
		set_early(q, MLREG_ETOOBIG, msg);
	} else if (q->route->mode == API_STREAM_BLOB) {
		int rc = api_blob_sink_open(q);
		if (rc < 0)
			set_early(q, rc, mlreg_error_last());
	} else if (cl && strtoull(cl, NULL, 10) > s->cfg.max_json) {
		char msg[128];
		snprintf(msg, sizeof(msg), "request body larger than %zu bytes", s->cfg.max_json);
		set_early(q, MLREG_ETOOBIG, msg);
	}
	return q;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *data, size_t *data_size, void **con_cls)
{
	api_server *s = cls;
	api_req *q = *con_cls;
	if (!q) {
		q = begin(s, c, url, method);
		if (!q)
			return MHD_NO;
		*con_cls = q;
		/* a streamed blob body is bounded by --max-blob and the idle
		 * timeout, not by the request deadline */
		if (q->route && (q->route->mode == API_STREAM_BLOB || q->route->mode == API_STREAM_UPLOAD))
			util_httpd_guard_received(s->cfg.tr.guard, c);
		/* a refused request with a body pending is answered at once (and the
		 * connection closed) rather than reading what we will not keep */
		if (q->early_code) {
			const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
			const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
			if ((cl && strcmp(cl, "0") != 0) || te) {
				int st = q->status;
				run_request(q);
				if (st == 431)
					q->status = st;
				return send_answer(q);
			}
		}
		if (q->sink_pending && !q->early_code) {
			/* claiming the upload session may rehash it or wait for
			 * another request's commit: do it on a worker */
			q->suspended = true;
			MHD_suspend_connection(c);
			util_workq_submit(s->pool, do_job, q);
		}
		return MHD_YES;
	}
	if (q->answered) {
		*data_size = 0;
		return MHD_YES;
	}
	if (q->sink_opened) {
		/* the first call again, right after the worker opened the sink
		 * (libmicrohttpd repeats it after a resume): no body read yet */
		q->sink_opened = false;
		if (q->answer_now) { /* refused: answer now, before any body */
			run_request(q);
			return send_answer(q);
		}
		if (*data_size == 0)
			return MHD_YES;
	}
	if (*data_size) {
		size_t n = *data_size;
		q->bytes_in += n;
		*data_size = 0;
		if (q->early_code || q->sink_error)
			return MHD_YES; /* discard */
		if ((q->blob || q->upload) && q->sink_base + q->bytes_in > s->cfg.max_blob) {
			/* a body without a length (or lying about it) passed the
			 * limit: nothing can be answered mid-body, so the connection
			 * is cut (the blob writer is dropped, the session keeps
			 * only what it held before) */
			LOG_WARN("blob body passed --max-blob (%llu bytes): connection cut",
				 (unsigned long long)s->cfg.max_blob);
			return MHD_NO;
		}
		if (q->blob || q->upload) {
			int rc = q->blob ? reg_blob_writer_write(q->blob, data, n) : reg_upload_write(q->upload, data, n);
			if (rc < 0) {
				q->sink_error = rc;
				q->sink_msg = strdup(mlreg_error_last());
			}
		} else if (util_buf_put(&q->body, data, n) < 0) {
			char msg[128];
			snprintf(msg, sizeof(msg), "request body larger than %zu bytes", s->cfg.max_json);
			set_early(q, MLREG_ETOOBIG, msg);
		}
		return MHD_YES;
	}
	/* end of request */
	if (q->work_done)
		return send_answer(q);
	util_httpd_guard_received(s->cfg.tr.guard, c);
	if (q->early_code || !q->route || q->route->mode == API_INLINE) {
		int st = q->status;
		run_request(q);
		if (st == 431)
			q->status = st;
		return send_answer(q);
	}
	q->suspended = true;
	MHD_suspend_connection(c);
	util_workq_submit(s->pool, do_job, q);
	return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	api_server *s = cls;
	api_req *q = *con_cls;
	if (!q)
		return;
	util_httpd_guard_rearm(s->cfg.tr.guard, c); /* the next request on this connection */
	api_metrics_observe(s->metrics, q->route_idx, q->head, q->answered ? (unsigned)(q->status ? q->status : 200) : 499,
			    (double)(util_mono_ns() - q->t0_ns) / 1e9, q->bytes_in, q->bytes_out);
	reg_blob_writer_free(q->blob);
	/* a dropped PATCH keeps what arrived: that is what makes uploads resumable */
	reg_upload_release(q->upload);
	for (int i = 0; i < q->nparams; i++)
		free(q->params[i]);
	util_buf_release(&q->body);
	cJSON_Delete(q->json);
	cJSON_Delete(q->err_extra);
	cJSON_Delete(q->keep);
	if (q->resp)
		MHD_destroy_response(q->resp);
	free(q->early_msg);
	free(q->sink_msg);
	free(q);
	*con_cls = NULL;
}

static size_t keep_escaped(void *cls, struct MHD_Connection *c, char *s) { return strlen(s); }

/* ------------------------------------------------------------------ */
/* flags and main                                                      */
/* ------------------------------------------------------------------ */
int api_server_main(int argc, char **argv)
{
	api_config cfg;
	api_server s;
	struct sockaddr_storage ss;
	socklen_t sslen;
	sigset_t sigs;
	reg_config rc_cfg;
	const union MHD_DaemonInfo *info;
	int sig, rc;
	unsigned port, tls_flags = 0;
	struct MHD_OptionItem topts[12];

	memset(&s, 0, sizeof(s));
	util_log_set_prog("mlreg-server");
	if (api_config_parse(argc, argv, &cfg) < 0 || util_listen_parse(cfg.listen, &ss, &sslen) < 0) {
		fprintf(stderr, "mlreg server: %s\n", mlreg_error_last());
		return 2;
	}
	/* signals: blocked in every thread, taken here with sigwait */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	routes_init();
	if (cfg.print_routes) {
		api_print_routes(stdout);
		return 0;
	}

	rc_cfg = (reg_config){.data_dir = cfg.data_dir, .gc_grace_ms = cfg.gc_grace_ms, .upload_ttl_ms = cfg.upload_ttl_ms,
			      .db_mmap_bytes = cfg.db_mmap_bytes};
	if ((rc = reg_open(&rc_cfg, &s.reg)) < 0) {
		fprintf(stderr, "mlreg server: %s\n", mlreg_error_last());
		return rc == MLREG_ECONFLICT ? 6 : 1;
	}
	if (reg_bootstrap_token_path(s.reg))
		LOG_INFO("first start: bootstrap admin token written to %s (mode 0600)", reg_bootstrap_token_path(s.reg));
	s.cfg = cfg;
	if (api_url_key_init(&s) < 0) {
		fprintf(stderr, "mlreg server: %s\n", mlreg_error_last());
		reg_close(s.reg);
		return 1;
	}
	if (util_httpd_transport_options(&s.cfg.tr, topts, &tls_flags) < 0) {
		fprintf(stderr, "mlreg server: %s\n", mlreg_error_last());
		util_httpd_transport_release(&s.cfg.tr);
		free(s.url_key_path);
		reg_close(s.reg);
		return 2;
	}
	s.metrics = api_metrics_new(api_route_count());
	/* the sender's event hook is in place before any request can commit */
	if (!s.metrics || api_auth_new(&s) < 0 || api_sender_new(&s, &s.sender) < 0 ||
	    util_workq_start(&s.pool, cfg.workers) < 0) {
		fprintf(stderr, "mlreg server: %s\n", mlreg_error_last());
		api_auth_free(&s);
		api_sender_free(s.sender);
		api_metrics_free(s.metrics);
		util_httpd_transport_release(&s.cfg.tr);
		free(s.url_key_path);
		reg_close(s.reg);
		return 1;
	}
	/* poll, not epoll: libmicrohttpd 0.9.75's edge-triggered epoll loop can
	 * miss a FIN that arrives with a full read buffer and keep the request
	 * open until the idle timeout (t_resume.sh checks this); poll serves
	 * small requests as fast here (~33k req/s, bench/run) */
	s.daemon = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
			(ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0) | tls_flags,
		0, NULL, NULL, on_request, &s,
		MHD_OPTION_ARRAY, topts,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg.threads,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, cfg.conn_memory,
		MHD_OPTION_CONNECTION_TIMEOUT, cfg.idle_timeout_s,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, &s,
		MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL,
		MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
		MHD_OPTION_END);
	if (!s.daemon) {
		fprintf(stderr, "mlreg server: cannot listen on %s: %s\n", cfg.listen, strerror(errno));
		util_workq_stop(s.pool);
		util_httpd_transport_release(&s.cfg.tr);
		free(s.url_key_path);
		api_auth_free(&s);
		api_sender_free(s.sender);
		api_metrics_free(s.metrics);
		reg_close(s.reg);
		return 1;
	}
	/* webhook delivery starts once we serve; pending rows left by the last
	 * run go out now */
	if (api_auth_start(&s) < 0)
		LOG_ERROR("%s: tokens' last use is recorded only at shutdown", mlreg_error_last());
	if (api_sender_start(s.sender) < 0)
		LOG_ERROR("webhook sender not started: %s (events stay queued)", mlreg_error_last());
	if (!cfg.no_controller && ctl_start(s.reg, &cfg.ctl, &s.ctl) < 0)
		LOG_ERROR("deployment controller not started: %s", mlreg_error_last());
	if (cfg.webhook_allow_private)
		LOG_WARN("--webhook-allow-private: webhooks may reach loopback, private and link-local addresses");
	info = MHD_get_daemon_info(s.daemon, MHD_DAEMON_INFO_BIND_PORT);
	port = info ? info->port : 0;
	if (cfg.port_file) {
		char buf[16];
		snprintf(buf, sizeof(buf), "%u\n", port);
		if (util_write_file_atomic(cfg.port_file, buf, strlen(buf), 0644) < 0)
			LOG_WARN("cannot write port file: %s", mlreg_error_last());
	}
	{
		char host[256];
		snprintf(host, sizeof(host), "%s", cfg.listen);
		*strrchr(host, ':') = '\0';
		printf("mlreg server %s listening on %s://%s:%u (data %s)\n", MLREG_VERSION_STRING,
		       util_httpd_scheme(&cfg.tr), host, port, cfg.data_dir);
		fflush(stdout);
	}
	while (sigwait(&sigs, &sig) != 0)
		;
	LOG_INFO("signal %d: shutting down", sig);
	/* stop accepting, let queued work finish (it resumes its connections),
	 * then close connections, then stop the webhook sender (its attempt in
	 * flight gets a bounded grace; the rest stays in the outbox for the next
	 * start), then the database */
	MHD_quiesce_daemon(s.daemon);
	util_workq_stop(s.pool);
	MHD_stop_daemon(s.daemon);
	util_httpd_transport_release(&s.cfg.tr);
	free(s.url_key_path);
	/* after the HTTP side: no request can wake it any more */
	ctl_stop(s.ctl);
	api_auth_free(&s); /* writes tokens' last use once more */
	api_sender_free(s.sender);
	api_metrics_free(s.metrics);
	reg_close(s.reg);
	return 0;
}

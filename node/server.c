/*
 * server.c - mlreg-node's HTTP layer on libmicrohttpd: routing, the admin
 * token, body limits, answers, and the hand-off of slow work to workers.
 *
 * Inference runs on libmicrohttpd's event threads themselves (--threads of
 * them): a prediction of a small batch costs tens of microseconds, less
 * than a hand-off to another thread would, and XGBoost runs with one thread
 * per call, so the parallelism is these threads.  Loads, unloads and
 * traffic changes download, fork a checker, load models or fsync the state
 * file: they run on worker threads while their connection is suspended, so
 * inference never waits behind them.  Requests are answered on the
 * handler's second call, which keeps connections alive (FACTS.md).  The
 * listen address, worker queue, path splitting, route matching and JSON
 * answers are the registry server's own (util/httpd.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "node/node.h"

unsigned node_status_of(int code)
{
	switch (code) {
	case MLREG_EINVALID: return 400;
	case MLREG_EAUTH: return 401;
	case MLREG_EFORBIDDEN: return 403;
	case MLREG_ENOTFOUND: return 404;
	case MLREG_EMETHOD: return 405;
	case MLREG_ECONFLICT:
	case MLREG_EEXISTS: return 409;
	case MLREG_ETOOBIG: return 413;
	case MLREG_EINTEGRITY:
	case MLREG_EREFUSED: return 422;
	default: return 500;
	}
}

int node_reply_json(node_req *q, unsigned status, cJSON *body)
{
	cJSON_Delete(q->json);
	q->json = body;
	q->status = status;
	return body ? 0 : mlreg_error_set(MLREG_ENOMEM, "out of memory");
}

/* {"error":"…"}, as the Open Inference Protocol has it. */
static void reply_error_status(node_req *q, unsigned status, const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	if (o)
		cJSON_AddStringToObject(o, "error", msg && *msg ? msg : "error");
	util_buf_release(&q->text);
	node_reply_json(q, status, o);
}

int node_reply_error(node_req *q, int code)
{
	reply_error_status(q, node_status_of(code), mlreg_error_last());
	return 0;
}

int node_body_json(node_req *q, cJSON **out)
{
	if (q->body.len == 0) {
		*out = cJSON_CreateObject();
		return *out ? 0 : mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	if (util_json_parse(q->body.ptr, q->body.len, UTIL_JSON_MAX_DEPTH, out) < 0)
		return mlreg_error_set(MLREG_EINVALID, "request body is not JSON: %s", mlreg_error_last());
	return 0;
}

static void set_early(node_req *q, int code, const char *msg)
{
	if (q->early_code)
		return;
	q->early_code = code;
	q->early_msg = strdup(msg);
}

static void run_handler(node_req *q)
{
	mlreg_error_clear();
	if (q->early_code) {
		mlreg_error_set(q->early_code, "%s", q->early_msg ? q->early_msg : mlreg_error_name(q->early_code));
		node_reply_error(q, q->early_code);
		return;
	}
	if (q->route->fn(q) < 0)
		node_reply_error(q, mlreg_error_code() ? mlreg_error_code() : MLREG_ERROR);
}

static void do_work(void *arg)
{
	node_req *q = arg;
	run_handler(q);
	q->work_done = true;
	MHD_resume_connection(q->conn);
}

static enum MHD_Result send_answer(node_req *q)
{
	struct MHD_Response *r;
	enum MHD_Result ok;
	size_t n;
	if (q->json || !q->text.ptr) {
		r = util_http_json_response(q->json, &n);
	} else {
		n = q->text.len;
		r = MHD_create_response_from_buffer(n, util_buf_detach(&q->text), MHD_RESPMEM_MUST_FREE);
		if (r)
			MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
						q->content_type ? q->content_type : "application/json");
	}
	if (!r)
		return MHD_NO;
	ok = MHD_queue_response(q->conn, q->status ? q->status : 200, r);
	MHD_destroy_response(r);
	q->answered = true;
	return ok;
}

static bool admin_ok(node_req *q)
{
	const char *auth, *want = q->srv->admin_token;
	if (!want)
		return true;
	auth = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	return auth && strncasecmp(auth, "Bearer ", 7) == 0 && util_consttime_eq(auth + 7, want);
}

static node_req *begin(node_server *s, struct MHD_Connection *c, const char *url, const char *method)
{
	node_req *q = calloc(1, sizeof(*q));
	char *segs[NODE_MAX_SEGS + 1], *caps[NODE_MAX_SEGS];
	int n, nc = 0;
	bool path_seen = false;
	const char *cl;
	if (!q)
		return NULL;
	q->srv = s;
	q->conn = c;
	q->t0_ns = util_mono_ns();
	util_buf_init(&q->body, s->cfg.max_body);
	util_buf_init(&q->text, (size_t)1 << 30);
	if ((n = util_http_split_path(url, segs, NODE_MAX_SEGS)) < 0) {
		set_early(q, MLREG_ENOTFOUND, "no such route");
		return q;
	}
	for (const node_route *r = node_routes; r->method && !q->route; r++) {
		if (!util_http_match(r->pattern, segs, n, caps, NODE_MAX_SEGS, &nc))
			continue;
		path_seen = true;
		if (strcmp(r->method, method) != 0 && !(!strcmp(method, "HEAD") && !strcmp(r->method, "GET")))
			continue;
		q->route = r;
		for (int i = 0; i < nc; i++)
			q->params[i] = strdup(caps[i]);
		q->nparams = nc;
	}
	for (int i = 0; i < n; i++)
		free(segs[i]);
	if (!q->route) {
		set_early(q, path_seen ? MLREG_EMETHOD : MLREG_ENOTFOUND,
			  path_seen ? "method not allowed on this route" : "no such route");
		return q;
	}
	for (int i = 0; i < q->nparams; i++)
		if (!q->params[i]) {
			set_early(q, MLREG_ENOMEM, "out of memory");
			return q;
		}
	if (q->route->admin && !admin_ok(q)) {
		set_early(q, MLREG_EAUTH, "this endpoint needs the node's admin token");
		return q;
	}
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && strtoull(cl, NULL, 10) > s->cfg.max_body) {
		char msg[96];
		snprintf(msg, sizeof(msg), "request body larger than %zu bytes", s->cfg.max_body);
		set_early(q, MLREG_ETOOBIG, msg);
	}
	return q;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *data, size_t *data_size, void **con_cls)
{
	node_server *s = cls;
	node_req *q = *con_cls;
	if (!q) {
		if (!(q = begin(s, c, url, method)))
			return MHD_NO;
		*con_cls = q;
		if (q->early_code) {
			/* refused with a body pending: answer now (the
			 * connection closes) rather than read what we will not use */
			const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
			const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
			if ((cl && strcmp(cl, "0") != 0) || te) {
				run_handler(q);
				return send_answer(q);
			}
		}
		return MHD_YES;
	}
	if (q->answered) {
		*data_size = 0;
		return MHD_YES;
	}
	if (*data_size) {
		size_t n = *data_size;
		*data_size = 0;
		if (!q->early_code && util_buf_put(&q->body, data, n) < 0) {
			char msg[96];
			snprintf(msg, sizeof(msg), "request body larger than %zu bytes", s->cfg.max_body);
			set_early(q, MLREG_ETOOBIG, msg);
		}
		return MHD_YES;
	}
	if (q->work_done)
		return send_answer(q);
	util_httpd_guard_received(s->cfg.tr.guard, c);
	if (q->early_code || !q->route->worker) {
		run_handler(q);
		return send_answer(q);
	}
	q->suspended = true;
	MHD_suspend_connection(c);
	util_workq_submit(s->workers, do_work, q);
	return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	node_server *s = cls;
	node_req *q = *con_cls;
	if (!q)
		return;
	util_httpd_guard_rearm(s->cfg.tr.guard, c); /* the next request on this connection */
	if (q->metrics)
		node_metrics_request(q->metrics, q->answered ? (q->status ? q->status : 200) : 499,
				     (double)(util_mono_ns() - q->t0_ns) / 1e9);
	for (int i = 0; i < q->nparams; i++)
		free(q->params[i]);
	util_buf_release(&q->body);
	util_buf_release(&q->text);
	cJSON_Delete(q->json);
	free(q->early_msg);
	free(q);
	*con_cls = NULL;
}

static size_t keep_escaped(void *cls, struct MHD_Connection *c, char *s)
{
	return strlen(s);
}

int node_serve(node_server *s)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	const union MHD_DaemonInfo *info;
	struct MHD_OptionItem topts[12];
	unsigned tls_flags = 0;
	int rc;
	if (util_listen_parse(s->cfg.listen, &ss, &sslen) < 0)
		return MLREG_EUSAGE;
	if ((rc = util_httpd_transport_options(&s->cfg.tr, topts, &tls_flags)) < 0)
		return rc;
	/* poll, not epoll: see api/server.c (libmicrohttpd 0.9.75's epoll
	 * loop can miss a FIN) */
	s->daemon = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
			(ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0) | tls_flags,
		0, NULL, NULL, on_request, s,
		MHD_OPTION_ARRAY, topts,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)s->cfg.threads,
		MHD_OPTION_CONNECTION_TIMEOUT, s->cfg.idle_timeout_s,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL,
		MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
		MHD_OPTION_END);
	if (!s->daemon)
		return mlreg_error_set(MLREG_EIO, "cannot listen on %s: %s", s->cfg.listen, strerror(errno));
	info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	return info ? (int)info->port : 0;
}

/*
 * bench/node_empty.c - libmicrohttpd's empty-handler ceiling for bench/node:
 * a server configured like mlreg-node's (node/server.c) that reads the POST
 * body and answers a fixed JSON text, doing no other work.
 *
 * Same daemon flags as the node (internal polling thread, poll not epoll,
 * suspend/resume allowed), the same thread pool size, connection timeout
 * and limit, a completed-request callback, and the node's per-request
 * pattern: a request record allocated on the first call, the body copied
 * into a growing buffer, the answer queued on the call that sees no more
 * data (the handler's second call at least, so connections stay alive:
 * FACTS.md), built per request from a buffer with a Content-Type header.
 * What the node adds on top of this (routing, JSON parsing, the shape
 * checks, the prediction, writing the answer, metrics) is what bench/node
 * measures against it.  The answer is the node's own answer to the same
 * request, read from a file, so both send the same bytes.
 *
 *   node_empty PORT_FILE ANSWER_FILE [THREADS]
 *
 * Listens on 127.0.0.1, any free port, written to PORT_FILE; runs until
 * SIGINT or SIGTERM.  Built by bench/node:
 *   cc -O2 bench/node_empty.c $(pkg-config --cflags --libs libmicrohttpd)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BODY (16u << 20) /* the node's --max-body default */

typedef struct {
	char *body;
	size_t len, cap;
	int too_big;
} req;

static char *answer;
static size_t answer_len;

static int body_put(req *q, const char *data, size_t n)
{
	if (q->len + n > MAX_BODY)
		return -1;
	if (q->len + n > q->cap) {
		size_t cap = q->cap ? q->cap : 1024;
		char *p;
		while (cap < q->len + n)
			cap *= 2;
		if (!(p = realloc(q->body, cap)))
			return -1;
		q->body = p;
		q->cap = cap;
	}
	memcpy(q->body + q->len, data, n);
	q->len += n;
	return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *data, size_t *data_size, void **con_cls)
{
	req *q = *con_cls;
	struct MHD_Response *r;
	enum MHD_Result ok;
	char *text;
	(void)cls, (void)url, (void)method, (void)version;
	if (!q) { /* first call: headers only */
		if (!(q = calloc(1, sizeof(*q))))
			return MHD_NO;
		*con_cls = q;
		return MHD_YES;
	}
	if (*data_size) {
		if (body_put(q, data, *data_size) < 0)
			q->too_big = 1;
		*data_size = 0;
		return MHD_YES;
	}
	/* the body is complete: answer, from a copy as the node does */
	if (!(text = malloc(answer_len)))
		return MHD_NO;
	memcpy(text, answer, answer_len);
	r = MHD_create_response_from_buffer(answer_len, text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	ok = MHD_queue_response(c, q->too_big ? 413 : 200, r);
	MHD_destroy_response(r);
	return ok;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	req *q = *con_cls;
	(void)cls, (void)c, (void)toe;
	if (!q)
		return;
	free(q->body);
	free(q);
	*con_cls = NULL;
}

static size_t keep_escaped(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls, (void)c;
	return strlen(s);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	long n;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 && (p = malloc((size_t)n)) &&
	    fread(p, 1, (size_t)n, f) == (size_t)n) {
		*len = (size_t)n;
	} else {
		free(p);
		p = NULL;
	}
	fclose(f);
	return p;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *info;
	unsigned threads = argc > 3 ? (unsigned)atoi(argv[3]) : 2;
	sigset_t sigs;
	char tmp[4096];
	int sig;
	FILE *pf;
	if (argc < 3 || threads < 1) {
		fprintf(stderr, "usage: node_empty PORT_FILE ANSWER_FILE [THREADS]\n");
		return 2;
	}
	if (!(answer = slurp(argv[2], &answer_len))) {
		fprintf(stderr, "node_empty: cannot read the answer from '%s'\n", argv[2]);
		return 1;
	}
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
			     0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
			     MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
			     MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL, MHD_OPTION_LISTENING_ADDRESS_REUSE,
			     (unsigned)1, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "node_empty: cannot start libmicrohttpd\n");
		return 1;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
	if (!info || !(pf = fopen(tmp, "w")) || fprintf(pf, "%u\n", (unsigned)info->port) < 0 || fclose(pf) != 0 ||
	    rename(tmp, argv[1]) != 0) { /* renamed: a reader never sees half a number */
		fprintf(stderr, "node_empty: no port, or cannot write '%s'\n", argv[1]);
		MHD_stop_daemon(d);
		return 1;
	}
	while (sigwait(&sigs, &sig) != 0)
		;
	MHD_stop_daemon(d);
	free(answer);
	return 0;
}

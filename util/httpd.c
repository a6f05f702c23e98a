/*
 * httpd.c - libmicrohttpd glue shared by the registry server and the serving
 * node (see httpd.h): listen addresses, the worker queue, path splitting and
 * matching, JSON answers.
 *
 * The worker queue exists because libmicrohttpd's event threads each serve
 * many connections: anything that blocks (an fsync, a database write, a
 * model download and load) runs here while its connection is suspended.  It
 * is a plain mutex-and-condition FIFO: the work items are few and long, so a
 * lock-free queue would buy nothing.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "util/httpd.h"
#include "util/util.h"

int util_listen_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[256];
	const char *colon;
	int64_t port;
	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
		if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof(host))
			return mlreg_error_set(MLREG_EUSAGE, "invalid --listen '%s'", s);
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = '\0';
		if (util_parse_i64(end + 2, &port) < 0 || port < 0 || port > 65535 || inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			return mlreg_error_set(MLREG_EUSAGE, "invalid --listen '%s'", s);
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a6);
		return 0;
	}
	colon = strrchr(s, ':');
	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return mlreg_error_set(MLREG_EUSAGE, "invalid --listen '%s': expected HOST:PORT", s);
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	if (!strcmp(host, "localhost"))
		strcpy(host, "127.0.0.1");
	{
		struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
		if (util_parse_i64(colon + 1, &port) < 0 || port < 0 || port > 65535 || inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			return mlreg_error_set(MLREG_EUSAGE, "invalid --listen '%s': expected IPv4:PORT or [IPv6]:PORT", s);
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*len = sizeof(*a4);
	}
	return 0;
}

int64_t util_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ------------------------------------------------------------------ */
/* worker queue                                                        */
/* ------------------------------------------------------------------ */
typedef struct work {
	util_work_fn fn;
	void *arg;
	struct work *next;
} work;

struct util_workq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	work *head, *tail;
	bool stop;
	int n;
	pthread_t *threads;
};

static void *worker_main(void *p)
{
	util_workq *q = p;
	for (;;) {
		work *w;
		pthread_mutex_lock(&q->mu);
		while (!q->head && !q->stop)
			pthread_cond_wait(&q->cv, &q->mu);
		if (!q->head) {
			pthread_mutex_unlock(&q->mu);
			return NULL;
		}
		w = q->head;
		q->head = w->next;
		if (!q->head)
			q->tail = NULL;
		pthread_mutex_unlock(&q->mu);
		w->fn(w->arg);
		free(w);
	}
}

int util_workq_start(util_workq **out, int n)
{
	util_workq *q = calloc(1, sizeof(*q));
	if (!q || !(q->threads = calloc((size_t)n, sizeof(pthread_t)))) {
		free(q);
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	for (int i = 0; i < n; i++) {
		if (pthread_create(&q->threads[i], NULL, worker_main, q) != 0) {
			util_workq_stop(q);
			return mlreg_error_set(MLREG_ERROR, "cannot start worker thread");
		}
		q->n++;
	}
	*out = q;
	return 0;
}

void util_workq_submit(util_workq *q, util_work_fn fn, void *arg)
{
	work *w = calloc(1, sizeof(*w));
	if (!w) { /* cannot queue: do it here rather than lose it */
		fn(arg);
		return;
	}
	w->fn = fn;
	w->arg = arg;
	pthread_mutex_lock(&q->mu);
	if (q->stop) { /* shutting down: nobody will pick it up */
		pthread_mutex_unlock(&q->mu);
		free(w);
		fn(arg);
		return;
	}
	if (q->tail)
		q->tail->next = w;
	else
		q->head = w;
	q->tail = w;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

void util_workq_stop(util_workq *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->mu);
	q->stop = true;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	for (int i = 0; i < q->n; i++)
		pthread_join(q->threads[i], NULL);
	free(q->threads);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q);
}

/* ------------------------------------------------------------------ */
/* paths                                                               */
/* ------------------------------------------------------------------ */
int util_http_split_path(const char *url, char **segs, int max)
{
	int n = 0;
	const char *p = url;
	while (*p == '/')
		p++;
	while (*p) {
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		char *s;
		if (n == max || !(s = strndup(p, len)))
			goto fail;
		segs[n++] = s;
		/* "%00" would cut the segment short: refuse it */
		if (MHD_http_unescape(s) != strlen(s))
			goto fail;
		if (!e)
			break;
		p = e + 1;
		if (!*p) /* trailing slash: ignore */
			break;
	}
	return n;
fail:
	while (n > 0)
		free(segs[--n]);
	return -1;
}

bool util_http_match(const char *pattern, char *const *segs, int nsegs, char **caps, int maxcaps, int *ncaps)
{
	const char *p = pattern;
	int s = 0, np = 0;
	while (*p) {
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (s >= nsegs)
			return false;
		if (len == 2 && p[0] == '{' && p[1] == '}') {
			if (np == maxcaps)
				return false;
			caps[np++] = segs[s++];
		} else if (strlen(segs[s]) != len || strncmp(segs[s], p, len) != 0) {
			return false;
		} else {
			s++;
		}
		p = e ? e + 1 : p + len;
	}
	if (s != nsegs)
		return false;
	*ncaps = np;
	return true;
}

struct MHD_Response *util_http_json_response(const cJSON *body, size_t *len)
{
	char *text = body ? cJSON_PrintUnformatted(body) : strdup("{}");
	struct MHD_Response *r;
	size_t n;
	char *grown;
	if (!text)
		return NULL;
	n = strlen(text);
	/* JSON answers end with a newline so curl output stays tidy */
	if (!(grown = realloc(text, n + 2))) {
		free(text);
		return NULL;
	}
	text = grown;
	text[n] = '\n';
	text[n + 1] = '\0';
	r = MHD_create_response_from_buffer(n + 1, text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return NULL;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	*len = n + 1;
	return r;
}

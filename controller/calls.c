/*
 * calls.c - running a batch of node calls in parallel, and the per-node
 * backoff between failed passes.
 *
 * A reconciler pass talks to every node it drives; done one after the
 * other, a single dead node would hold up the whole fleet for its timeout
 * and a hundred nodes would take a hundred round trips.  So every call of
 * a batch is a transfer on ONE curl multi handle, driven by one thread
 * that polls them all: the batch takes as long as its slowest call, each
 * call bounded by its own timeout (CURLOPT_TIMEOUT_MS, connect included),
 * and at most max_parallel transfers run at once so a large fleet does not
 * open thousands of sockets at the same instant.  Every answer is bounded
 * (CTL_CALL_MAX_ANSWER), redirects are not followed, proxies from the
 * environment are ignored and signals are never used (CURLOPT_NOSIGNAL),
 * because this runs inside the server next to its other threads.  The
 * batch itself never fails: each call carries its own outcome, which is
 * what the reconciler records per node.  The drivers' tables (which
 * requests, how to read an index) are looked up here, so adding a server
 * kind adds a table and nothing else.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include "controller/ctl.h"
#include "util/json.h"

static const ctl_driver *const drivers[] = {&ctl_driver_mlreg};

const ctl_driver *ctl_driver_find(const char *name)
{
	for (size_t i = 0; name && i < sizeof(drivers) / sizeof(drivers[0]); i++)
		if (!strcmp(drivers[i]->name, name))
			return drivers[i];
	return NULL;
}

int64_t ctl_backoff_ms(int64_t base_ms, int64_t max_ms, int64_t fails, double r)
{
	return fails > 0 ? util_backoff_ms(base_ms, max_ms, fails, r) : 0;
}

void ctl_call_release(ctl_call *c)
{
	free(c->error);
	cJSON_Delete(c->json);
	free(c->text);
	c->error = NULL;
	c->json = NULL;
	c->text = NULL;
	c->text_len = 0;
	c->status = 0;
	c->ok = false;
	c->elapsed_ms = 0;
}

/* One call's transfer state. */
typedef struct {
	ctl_call *c;
	const ctl_driver *drv;
	CURL *h;
	struct curl_slist *hdrs;
	char *url, *body;
	util_buf answer;
	bool too_big;
	char errbuf[CURL_ERROR_SIZE];
} xfer;

/* The call's error: "node 'NAME'<sep>TEXT", TEXT cut to 1000 bytes at a
 * character boundary and without control characters (it ends up in
 * events, logs and JSON). */
static void set_error(ctl_call *c, const char *sep, const char *text)
{
	char clean[1001];
	size_t n = strlen(text);
	if (n > sizeof(clean) - 1) {
		n = sizeof(clean) - 1;
		while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80)
			n--; /* text[n] starts the character cut off */
	}
	for (size_t i = 0; i < n; i++)
		clean[i] = (unsigned char)text[i] < 0x20 || text[i] == 0x7f ? ' ' : text[i];
	clean[n] = '\0';
	free(c->error);
	if (asprintf(&c->error, "node '%s'%s%s", c->node.name ? c->node.name : "?", sep, clean) < 0)
		c->error = NULL;
	c->ok = false;
}

static size_t on_write(char *p, size_t size, size_t n, void *ctx)
{
	xfer *x = ctx;
	int rc = util_buf_put(&x->answer, p, size * n);
	/* a short count makes curl fail the transfer (CURLE_WRITE_ERROR) */
	x->too_big = rc == MLREG_ETOOBIG;
	return rc < 0 ? 0 : size * n;
}

/* A bearer token goes into a header line: printable ASCII, no spaces. */
static bool token_ok(const char *t)
{
	if (!*t)
		return false;
	for (; *t; t++)
		if (*t <= 0x20 || *t >= 0x7f)
			return false;
	return true;
}

static bool add_header(xfer *x, const char *line)
{
	struct curl_slist *t = curl_slist_append(x->hdrs, line);
	if (!t)
		return false;
	x->hdrs = t;
	return true;
}

/* Build the request and its easy handle.  On failure the call has its
 * outcome (error) and the transfer never starts; the caller cleans x up
 * either way. */
static int prepare(xfer *x, int64_t timeout_ms)
{
	ctl_call *c = x->c;
	const char *method = NULL, *dname = c->node.driver ? c->node.driver : "mlreg";
	char *path = NULL, *auth = NULL;
	util_buf_init(&x->answer, CTL_CALL_MAX_ANSWER);
	if (!(x->drv = ctl_driver_find(dname))) {
		mlreg_error_set(MLREG_EINVALID, "unknown driver '%s'", dname);
		goto fail;
	}
	if (!c->node.url || strncmp(c->node.url, "http", 4) != 0) {
		mlreg_error_set(MLREG_EINVALID, "invalid node URL '%s'", c->node.url ? c->node.url : "");
		goto fail;
	}
	if (c->node.token && !token_ok(c->node.token)) {
		mlreg_error_set(MLREG_EINVALID, "invalid node token (printable characters without spaces)");
		goto fail;
	}
	if (x->drv->request(c, &method, &path, &x->body) < 0)
		goto fail;
	if (asprintf(&x->url, "%s%s", c->node.url, path) < 0) {
		x->url = NULL;
		mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto fail;
	}
	free(path);
	path = NULL;
	if (!(x->h = curl_easy_init())) {
		mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto fail;
	}
	/* no "Expect: 100-continue" round trip before a body */
	if (!add_header(x, "Expect:") || (x->body && !add_header(x, "Content-Type: application/json")) ||
	    (c->node.token &&
	     (asprintf(&auth, "Authorization: Bearer %s", c->node.token) < 0 || !add_header(x, auth)))) {
		mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto fail;
	}
	free(auth);
	auth = NULL;
	curl_easy_setopt(x->h, CURLOPT_URL, x->url);
	curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->h, CURLOPT_PROTOCOLS_STR, "http,https");
	/* verification stays on (libcurl's default); --node-cacert names the CAs */
	if (c->node.cacert)
		curl_easy_setopt(x->h, CURLOPT_CAINFO, c->node.cacert);
	curl_easy_setopt(x->h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(x->h, CURLOPT_PROXY, ""); /* never a proxy from the environment */
	curl_easy_setopt(x->h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(x->h, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(x->h, CURLOPT_USERAGENT, "mlreg-controller/" MLREG_VERSION_STRING);
	curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdrs);
	curl_easy_setopt(x->h, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
	if (!strcmp(method, "GET")) {
		curl_easy_setopt(x->h, CURLOPT_HTTPGET, 1L);
	} else {
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(x->h, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, x->body ? x->body : "");
		curl_easy_setopt(x->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(x->body ? strlen(x->body) : 0));
	}
	return 0;
fail:
	set_error(c, ": ", mlreg_error_last());
	free(path);
	free(auth);
	return -1;
}

static void cleanup(xfer *x)
{
	if (x->h)
		curl_easy_cleanup(x->h);
	curl_slist_free_all(x->hdrs);
	free(x->url);
	free(x->body);
	util_buf_release(&x->answer);
	x->h = NULL;
	x->hdrs = NULL;
	x->url = x->body = NULL;
}

/* Read a finished transfer into its call. */
static void finish(xfer *x, CURLcode res)
{
	ctl_call *c = x->c;
	curl_off_t us = 0;
	char msg[1200];
	const char *nerr;
	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &c->status);
	curl_easy_getinfo(x->h, CURLINFO_TOTAL_TIME_T, &us);
	c->elapsed_ms = (int64_t)(us / 1000);
	if (res != CURLE_OK) {
		if (res == CURLE_WRITE_ERROR && x->too_big)
			snprintf(msg, sizeof(msg), "answer larger than %zu MiB", CTL_CALL_MAX_ANSWER >> 20);
		else
			snprintf(msg, sizeof(msg), "%s", x->errbuf[0] ? x->errbuf : curl_easy_strerror(res));
		set_error(c, ": ", msg);
		return;
	}
	c->ok = c->status >= 200 && c->status < 300;
	if (c->ok && c->kind == CTL_CALL_METRICS) {
		c->text_len = x->answer.len;
		c->text = util_buf_detach(&x->answer);
		if (!c->text)
			set_error(c, ": ", "out of memory");
		return;
	}
	/* JSON everywhere else, and in every error answer */
	if (x->answer.len > 0 && util_json_parse(x->answer.ptr, x->answer.len, UTIL_JSON_MAX_DEPTH, &c->json) < 0) {
		c->json = NULL;
		if (c->ok) {
			snprintf(msg, sizeof(msg), "answer is not JSON: %s", mlreg_error_last());
			set_error(c, ": ", msg);
			return;
		}
	}
	if (!c->ok) {
		nerr = util_json_str(c->json, "error");
		snprintf(msg, sizeof(msg), "%ld%s%s", c->status, nerr ? ": " : "", nerr ? nerr : "");
		set_error(c, " answered ", msg);
		return;
	}
	if (c->kind == CTL_CALL_INDEX && x->drv->index(c) < 0)
		set_error(c, ": ", mlreg_error_last());
}

static void fail_all(xfer *xs, size_t n, CURLM *m, const char *why)
{
	for (size_t i = 0; i < n; i++)
		if (xs[i].h) {
			if (m)
				curl_multi_remove_handle(m, xs[i].h);
			set_error(xs[i].c, ": ", why);
			cleanup(&xs[i]);
		}
}

void ctl_calls_run(ctl_call *calls, size_t n, int64_t timeout_ms, int max_parallel)
{
	xfer *xs;
	CURLM *m = NULL;
	size_t next = 0, active = 0;
	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++)
		ctl_call_release(&calls[i]);
	if (timeout_ms <= 0)
		timeout_ms = 1;
	if (!(xs = calloc(n, sizeof(*xs))) || !(m = curl_multi_init())) {
		for (size_t i = 0; i < n; i++)
			set_error(&calls[i], ": ", "out of memory");
		free(xs);
		return;
	}
	for (size_t i = 0; i < n; i++)
		xs[i].c = &calls[i];
	while (next < n || active > 0) {
		CURLMsg *msg;
		CURLMcode mc;
		int running = 0, queued;
		/* start transfers up to the limit; the timeout of each counts
		 * from its start, so a queued call never times out waiting */
		while (next < n && (max_parallel <= 0 || active < (size_t)max_parallel)) {
			xfer *x = &xs[next++];
			if (prepare(x, timeout_ms) < 0) {
				cleanup(x);
				continue;
			}
			if ((mc = curl_multi_add_handle(m, x->h)) != CURLM_OK) {
				set_error(x->c, ": ", curl_multi_strerror(mc));
				cleanup(x);
				continue;
			}
			active++;
		}
		if (active == 0)
			continue;
		if ((mc = curl_multi_perform(m, &running)) != CURLM_OK) {
			fail_all(xs, n, m, curl_multi_strerror(mc));
			break;
		}
		while ((msg = curl_multi_info_read(m, &queued))) {
			char *priv = NULL;
			xfer *x;
			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
			x = (xfer *)(void *)priv;
			finish(x, msg->data.result);
			curl_multi_remove_handle(m, x->h);
			cleanup(x);
			active--;
		}
		if (active > 0 && running > 0 && (mc = curl_multi_poll(m, NULL, 0, 1000, NULL)) != CURLM_OK) {
			fail_all(xs, n, m, curl_multi_strerror(mc));
			break;
		}
	}
	/* calls never started after a multi failure */
	for (; next < n; next++)
		set_error(&calls[next], ": ", "not attempted: the transfer loop failed");
	curl_multi_cleanup(m);
	free(xs);
}

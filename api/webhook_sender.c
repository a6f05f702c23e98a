/*
 * webhook_sender.c - the background thread that delivers the webhook outbox.
 *
 * Changes write their events into the outbox inside their own transaction
 * (registry/events.c); this thread is the other half of at-least-once
 * delivery.  It reads the due rows, POSTs each stored body byte for byte
 * with an HMAC-SHA256 signature of exactly those bytes, and records the
 * outcome of the attempt in a short write transaction of its own.  No
 * transaction is ever open during an HTTP call, so a slow receiver cannot
 * hold the writer lock.  A row leaves the outbox only when a 2xx answer has
 * been recorded, so a crash or a stop at any point means a later duplicate,
 * never a loss; receivers recognise duplicates by the event id.
 *
 * One thread and one libcurl easy handle, used blocking: deliveries are
 * rare and small, and a single sender keeps the retry schedule obvious
 * (each failed attempt moves the row's next_at by a capped exponential
 * backoff with jitter).  The thread sleeps on a condition variable until
 * the earliest next_at or the poll period, whichever is sooner; a commit
 * that queued events wakes it at once through the registry's event hook,
 * and shutdown wakes it too.  At shutdown the attempt in flight gets a
 * bounded grace (--webhook-shutdown-grace) and is then aborted without being
 * recorded; whatever is undelivered stays pending for the next start.
 *
 * Server-side request forgery: the URL was checked when it was added, but
 * DNS may answer differently now (rebinding), so the address every
 * connection actually opens is checked again in libcurl's open-socket
 * callback, and a private one is refused unless --webhook-allow-private.
 * Proxies from the environment are switched off (the proxy would be the
 * address checked, not the receiver), redirects are not followed and only
 * http and https are spoken.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include "api/http.h"
#include "util/json.h"

/* rows read per look at the outbox */
#define BATCH 32

struct api_sender {
	reg_registry *reg;
	const api_config *cfg;
	struct api_metrics *metrics;
	pthread_mutex_t mu;
	pthread_cond_t cv;           /* on CLOCK_MONOTONIC */
	bool kicked;                 /* events committed since the last look */
	bool stopping;
	bool started;
	_Atomic int64_t stop_at;     /* monotonic ms when shutdown began, 0 before */
	pthread_t thread;
	CURL *curl;
	uint64_t rng;                /* jitter only: splitmix64, seeded from OpenSSL */
};

/* One attempt's view of the connection: the address refused, if any. */
typedef struct {
	api_sender *w;
	char refused[INET6_ADDRSTRLEN + 8];
} attempt_ctx;

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool is_stopping(api_sender *w) { return atomic_load(&w->stop_at) != 0; }

/* The registry's event hook: any thread, right after a commit that queued
 * events. */
static void on_event(void *ctx)
{
	api_sender *w = ctx;
	pthread_mutex_lock(&w->mu);
	w->kicked = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* ---- jitter ---- */
static uint64_t next_rand(api_sender *w)
{
	uint64_t z = (w->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int64_t retry_delay_ms(api_sender *w, int64_t attempt)
{
	double r = (double)(next_rand(w) >> 11) / (double)(1ull << 53);
	return util_backoff_ms(w->cfg->webhook_backoff_ms, w->cfg->webhook_backoff_max_ms, attempt, r);
}

/* ---- libcurl callbacks ---- */
static size_t discard(char *p, size_t size, size_t n, void *ctx) { return size * n; }

/* Open the socket for one address curl is about to connect to: this is the
 * address used, whatever DNS said when the URL was added. */
static curl_socket_t open_socket(void *p, curlsocktype purpose, struct curl_sockaddr *a)
{
	attempt_ctx *c = p;
	if (!c->w->cfg->webhook_allow_private && util_addr_is_private(&a->addr)) {
		util_addr_format(&a->addr, c->refused, sizeof(c->refused));
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* Abort the transfer once shutdown has waited --webhook-shutdown-grace for it. */
static int on_progress(void *p, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	attempt_ctx *c = p;
	int64_t at = atomic_load(&c->w->stop_at);
	return at && mono_ms() - at >= c->w->cfg->webhook_grace_ms;
}

/* ---- one attempt ---- */
typedef enum { SENT, STOPPED, DB_ERROR } attempt_result;

static attempt_result deliver(api_sender *w, const cJSON *row)
{
	const char *url = util_json_str(row, "url"), *secret = util_json_str(row, "secret"),
		   *event_id = util_json_str(row, "event_id"), *event = util_json_str(row, "event"),
		   *body = util_json_str(row, "body");
	int64_t id = 0, attempts = 0, attempt, next_at;
	char hex[65], hdr[3][160], err[CURL_ERROR_SIZE + 160], errbuf[CURL_ERROR_SIZE];
	/* "Expect:" off: no 100-continue round trip for a small body */
	const char *lines[] = {"Content-Type: application/json", hdr[0], hdr[1], hdr[2], "Expect:"};
	struct curl_slist *h = NULL, *t;
	attempt_ctx ctx = {.w = w};
	CURLcode cc;
	long status = 0;
	const char *outcome;
	api_webhook_outcome mo;
	bool ok = false;

	if (util_json_i64(row, "id", &id) < 0 || !url || !secret || !event_id || !event || !body) {
		LOG_ERROR("webhook outbox row malformed, skipped");
		return DB_ERROR;
	}
	util_json_i64(row, "attempts", &attempts);
	attempt = attempts + 1;
	err[0] = errbuf[0] = '\0';

	/* the signature covers exactly the bytes sent */
	if (util_hmac_sha256_hex(secret, strlen(secret), body, strlen(body), hex) < 0) {
		snprintf(err, sizeof(err), "cannot sign: %s", mlreg_error_last());
		goto record;
	}
	snprintf(hdr[0], sizeof(hdr[0]), "X-Mlreg-Event: %s", event);
	snprintf(hdr[1], sizeof(hdr[1]), "X-Mlreg-Delivery: %s", event_id);
	snprintf(hdr[2], sizeof(hdr[2]), "X-Mlreg-Signature: sha256=%s", hex);
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		if (!(t = curl_slist_append(h, lines[i]))) {
			snprintf(err, sizeof(err), "out of memory");
			goto record;
		}
		h = t;
	}

	curl_easy_reset(w->curl); /* keeps open connections and the DNS cache */
	curl_easy_setopt(w->curl, CURLOPT_URL, url);
	curl_easy_setopt(w->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(w->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(w->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(w->curl, CURLOPT_PROXY, ""); /* never a proxy from the environment */
	curl_easy_setopt(w->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)w->cfg->webhook_timeout_ms);
	curl_easy_setopt(w->curl, CURLOPT_TIMEOUT_MS, (long)w->cfg->webhook_timeout_ms);
	curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(w->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(w->curl, CURLOPT_USERAGENT, "mlreg-webhook/1");
	curl_easy_setopt(w->curl, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(w->curl, CURLOPT_OPENSOCKETDATA, &ctx);
	curl_easy_setopt(w->curl, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(w->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(w->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(w->curl, CURLOPT_XFERINFODATA, &ctx);
	curl_easy_setopt(w->curl, CURLOPT_ERRORBUFFER, errbuf);

	cc = curl_easy_perform(w->curl);
	curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(w->curl, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(h);
	h = NULL;
	if (cc == CURLE_ABORTED_BY_CALLBACK && is_stopping(w))
		return STOPPED; /* not an attempt: the row goes out after the next start */
	if (cc == CURLE_OK) {
		curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &status);
		ok = status >= 200 && status < 300;
		if (!ok)
			snprintf(err, sizeof(err), "HTTP %ld%s", status,
				 status >= 300 && status < 400 ? " (redirects are not followed)" : "");
	} else if (ctx.refused[0]) {
		snprintf(err, sizeof(err),
			 "refused to connect to %s: a private, loopback or link-local address (the server runs "
			 "without --webhook-allow-private)",
			 ctx.refused);
	} else {
		snprintf(err, sizeof(err), "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
	}

record:
	curl_slist_free_all(h);
	if (ok) {
		outcome = "delivered";
		mo = API_WEBHOOK_DELIVERED;
		next_at = util_now_ms();
	} else if (attempt >= w->cfg->webhook_max_attempts) {
		outcome = "failed";
		mo = API_WEBHOOK_FAILED;
		next_at = util_now_ms();
	} else {
		outcome = "retry";
		mo = API_WEBHOOK_RETRY;
		next_at = util_now_ms() + retry_delay_ms(w, attempt);
	}
	if (reg_outbox_record(w->reg, id, attempt, (int)status, ok ? NULL : err, outcome, next_at) < 0) {
		LOG_ERROR("webhook %s: cannot record delivery of %s: %s", util_json_str(row, "webhook_id"), event_id,
			  mlreg_error_last());
		return DB_ERROR;
	}
	api_metrics_webhook(w->metrics, mo);
	if (mo == API_WEBHOOK_FAILED)
		LOG_WARN("webhook %s: giving up on %s after %lld attempts: %s", util_json_str(row, "webhook_id"), event_id,
			 (long long)attempt, err);
	else if (mo == API_WEBHOOK_RETRY)
		LOG_INFO("webhook %s: attempt %lld of %s failed (%s), next in %lldms", util_json_str(row, "webhook_id"),
			 (long long)attempt, event_id, err, (long long)(next_at - util_now_ms()));
	return SENT;
}

/* ---- the thread ---- */

/* Wait until the wall-clock time wake_at (ms), an event, or shutdown. */
static void sleep_until(api_sender *w, int64_t wake_at)
{
	int64_t left = wake_at - util_now_ms();
	struct timespec dl;
	pthread_mutex_lock(&w->mu);
	if (left > 0 && !w->kicked && !w->stopping) {
		clock_gettime(CLOCK_MONOTONIC, &dl);
		dl.tv_sec += (time_t)(left / 1000);
		dl.tv_nsec += (long)(left % 1000) * 1000000L;
		if (dl.tv_nsec >= 1000000000L) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000L;
		}
		while (!w->kicked && !w->stopping)
			if (pthread_cond_timedwait(&w->cv, &w->mu, &dl) == ETIMEDOUT)
				break;
	}
	w->kicked = false;
	pthread_mutex_unlock(&w->mu);
}

static void *sender_main(void *p)
{
	api_sender *w = p;
	while (!is_stopping(w)) {
		cJSON *rows = NULL;
		int64_t now = util_now_ms(), next = 0, wake;
		int n = 0;
		bool db_error = false;
		if (reg_outbox_due(w->reg, now, BATCH, &rows) < 0) {
			LOG_ERROR("webhook sender: cannot read the outbox: %s", mlreg_error_last());
			db_error = true;
		}
		for (const cJSON *row = rows ? rows->child : NULL; row && !is_stopping(w); row = row->next, n++) {
			attempt_result ar = deliver(w, row);
			if (ar == STOPPED)
				break;
			if (ar == DB_ERROR)
				db_error = true;
		}
		cJSON_Delete(rows);
		if (is_stopping(w))
			break;
		/* a full batch: more may be due already */
		if (n == BATCH && !db_error)
			continue;
		wake = util_now_ms() + w->cfg->webhook_poll_ms;
		/* after a database error only the poll period: never a hot loop */
		if (!db_error && reg_outbox_next_due(w->reg, &next) == 0 && next < wake)
			wake = next;
		if (db_error) {
			pthread_mutex_lock(&w->mu);
			w->kicked = false;
			pthread_mutex_unlock(&w->mu);
		}
		sleep_until(w, wake);
	}
	return NULL;
}

int api_sender_new(api_server *s, api_sender **out)
{
	api_sender *w = calloc(1, sizeof(*w));
	pthread_condattr_t ca;
	char seed[17];
	if (!w)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	if (!(w->curl = curl_easy_init())) {
		free(w);
		return mlreg_error_set(MLREG_ERROR, "cannot create a libcurl handle for webhooks");
	}
	if (util_random_hex(seed, 8) < 0) {
		curl_easy_cleanup(w->curl);
		free(w);
		return MLREG_ERROR;
	}
	w->rng = strtoull(seed, NULL, 16);
	w->reg = s->reg;
	w->cfg = &s->cfg;
	w->metrics = s->metrics;
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	reg_set_event_hook(s->reg, on_event, w);
	*out = w;
	return 0;
}

int api_sender_start(api_sender *w)
{
	int e;
	if ((e = pthread_create(&w->thread, NULL, sender_main, w)) != 0)
		return mlreg_error_set(MLREG_ERROR, "cannot start the webhook sender: %s", strerror(e));
	w->started = true;
	return 0;
}

void api_sender_free(api_sender *w)
{
	if (!w)
		return;
	atomic_store(&w->stop_at, mono_ms() | 1); /* never 0, which means running */
	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	if (w->started)
		pthread_join(w->thread, NULL);
	/* nothing commits any more (the HTTP side stopped first), but the hook
	 * must not outlive w */
	reg_set_event_hook(w->reg, NULL, NULL);
	curl_easy_cleanup(w->curl);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

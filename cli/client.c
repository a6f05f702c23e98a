/*
 * client.c - the libcurl adapter: the only file of the CLI that includes
 * curl.h, and the one place where HTTP answers and libcurl failures become
 * MLREG_E* codes (CURLcode + CURLOPT_ERRORBUFFER for transport failures, the
 * registry's `{"error":{"code","message"}}` for answers).
 *
 * Design: one easy handle per client, reset between requests so the
 * connection stays alive; CURLOPT_NOSIGNAL on every handle because transfers
 * run on worker threads.  Bodies the user controls (artifacts) are streamed
 * through read/write callbacks with pread()/write() on a file descriptor;
 * only JSON bodies are buffered, each under a ceiling.  A streamed upload
 * can be stopped from another thread (speculative pushes).
 * Redirects are not followed, so the bearer token never leaves the registry.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <unistd.h>
#include <curl/curl.h>
#include "cli/client.h"
#include "util/json.h"

#define MAX_JSON_BODY ((size_t)256 << 20) /* JSON answers; a page is far smaller */
#define MAX_ERROR_BODY ((size_t)64 << 10)
/* Download buffer: libcurl's default of 16 KiB costs a recv() and a
 * write() per 16 KiB, 65,536 of each per GiB pulled; 512 KiB made a 1 GiB
 * pull ~15% faster.  (A larger upload buffer than the default 64 KiB
 * measured no different, so uploads keep it.) */
#define DOWNLOAD_BUFFER (512L << 10)

struct cli_client {
	CURL *curl;
	const cli_config *cfg;
	char *auth;                    /* "Authorization: Bearer ..." or NULL */
	char errbuf[CURL_ERROR_SIZE];
};

/* State of one transfer, seen by the callbacks. */
typedef struct {
	const cli_request *req;
	CURL *curl;
	util_buf body;         /* JSON answer or error body */
	uint64_t sent;         /* upload bytes handed to curl */
	uint64_t received;     /* download bytes written to the fd */
	int status_checked;    /* 1: 2xx body goes to the fd, 2: to body */
	bool stopped;          /* req->stop ended the transfer */
	int failure;           /* MLREG_E* recorded by a callback, 0 when none */
	char failure_msg[256];
} transfer;

int cli_client_new(cli_client **out, const cli_config *cfg)
{
	cli_client *c = calloc(1, sizeof(*c));
	if (!c)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	c->cfg = cfg;
	c->curl = curl_easy_init();
	if (!c->curl) {
		free(c);
		return mlreg_error_set(MLREG_ERROR, "cannot start libcurl");
	}
	if (cfg->token) {
		size_t n = strlen(cfg->token) + sizeof("Authorization: Bearer ");
		c->auth = malloc(n);
		if (!c->auth) {
			cli_client_free(c);
			return mlreg_error_set(MLREG_ENOMEM, "out of memory");
		}
		snprintf(c->auth, n, "Authorization: Bearer %s", cfg->token);
	}
	*out = c;
	return 0;
}

void cli_client_free(cli_client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	free(c->auth);
	free(c);
}

void cli_response_release(cli_response *r)
{
	cJSON_Delete(r->body);
	memset(r, 0, sizeof(*r));
}

char *cli_escape(const char *s)
{
	/* curl_easy_escape accepts a NULL handle since 7.82; copy to malloc
	 * memory so callers free() like everything else. */
	char *e = curl_easy_escape(NULL, s, 0), *copy;
	if (!e)
		return NULL;
	copy = strdup(e);
	curl_free(e);
	return copy;
}

int cli_query_add(util_buf *path, const char *key, const char *value)
{
	char *e = cli_escape(value);
	int rc;
	if (!e)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	rc = util_buf_printf(path, "%c%s=%s", path->ptr && strchr(path->ptr, '?') ? '&' : '?', key, e);
	free(e);
	return rc;
}

int cli_model_path(util_buf *b, const char *model, const char *suffix)
{
	char *e = cli_escape(model);
	int rc;
	if (!e)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	util_buf_release(b);
	rc = util_buf_printf(b, "/api/v1/models/%s%s", e, suffix ? suffix : "");
	free(e);
	return rc;
}

int cli_version_path(util_buf *b, const util_ref *ref, const char *suffix)
{
	char seg[80], *e;
	int rc;
	if ((rc = cli_ref_segment(ref, seg)) < 0)
		return rc;
	if (!(e = cli_escape(ref->model)))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	util_buf_release(b);
	rc = util_buf_printf(b, "/api/v1/models/%s/versions/%s%s", e, seg, suffix ? suffix : "");
	free(e);
	return rc;
}

static void fail(transfer *t, int code, const char *msg)
{
	if (t->failure)
		return;
	t->failure = code;
	snprintf(t->failure_msg, sizeof(t->failure_msg), "%s", msg);
}

static bool is_2xx(long status) { return status >= 200 && status < 300; }

static size_t on_write(char *data, size_t size, size_t nmemb, void *userp)
{
	transfer *t = userp;
	size_t n = size * nmemb;
	const cli_request *req = t->req;
	if (!t->status_checked) {
		long status = 0;
		curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
		t->status_checked = req->download && is_2xx(status) ? 1 : 2;
		if (t->status_checked == 2 && req->download)
			t->body.max = MAX_ERROR_BODY;
	}
	if (t->status_checked == 2) {
		if (util_buf_put(&t->body, data, n) < 0) {
			fail(t, MLREG_ETOOBIG, "registry answer is too large");
			return 0;
		}
		return n;
	}
	if (t->received + n > req->download_max || t->received + n < t->received) {
		fail(t, MLREG_EINTEGRITY, "registry sent more bytes than expected");
		return 0;
	}
	if (util_write_all(req->download_fd, data, n) < 0) {
		fail(t, MLREG_EIO, mlreg_error_last());
		return 0;
	}
	t->received += n;
	if (req->on_written)
		req->on_written(req->on_written_arg, t->received);
	cli_progress_add(req->progress, (int64_t)n);
	return n;
}

static bool should_stop(transfer *t)
{
	if (!t->req->stop || !atomic_load(t->req->stop))
		return false;
	t->stopped = true;
	fail(t, MLREG_ERROR, "transfer stopped");
	return true;
}

static size_t on_read(char *data, size_t size, size_t nmemb, void *userp)
{
	transfer *t = userp;
	const cli_request *req = t->req;
	size_t want = size * nmemb;
	ssize_t got;
	if (should_stop(t))
		return CURL_READFUNC_ABORT;
	if (t->sent >= req->upload_len)
		return 0;
	if (want > req->upload_len - t->sent)
		want = (size_t)(req->upload_len - t->sent);
	do {
		got = pread(req->upload_fd, data, want, (off_t)(req->upload_offset + t->sent));
	} while (got < 0 && errno == EINTR);
	if (got < 0) {
		char msg[200];
		snprintf(msg, sizeof(msg), "cannot read file: %s", strerror(errno));
		fail(t, MLREG_EIO, msg);
		return CURL_READFUNC_ABORT;
	}
	if (got == 0) {
		fail(t, MLREG_ECONFLICT, "file shrank while it was being uploaded");
		return CURL_READFUNC_ABORT;
	}
	t->sent += (uint64_t)got;
	cli_progress_add(req->progress, got);
	return (size_t)got;
}

/* Rewind for a retried request on the same connection (e.g. after a 401
 * negotiation); curl asks before resending the body. */
static int on_seek(void *userp, curl_off_t offset, int origin)
{
	transfer *t = userp;
	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > t->req->upload_len)
		return CURL_SEEKFUNC_CANTSEEK;
	cli_progress_add(t->req->progress, (int64_t)offset - (int64_t)t->sent);
	t->sent = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

static int on_progress(void *userp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	transfer *t = userp;
	if (cli_interrupted()) {
		fail(t, MLREG_ERROR, "interrupted");
		return 1;
	}
	/* a stalled send never calls on_read; this is called at least once a
	 * second whatever the connection does */
	return should_stop(t) ? 1 : 0;
}

/* Map a registry error code name back to our codes (inverse of
 * mlreg_error_name), falling back on the HTTP status. */
static int code_for(long status, const char *name)
{
	static const struct {
		const char *name;
		int code;
	} names[] = {
		{"not_found", MLREG_ENOTFOUND},   {"exists", MLREG_EEXISTS},
		{"conflict", MLREG_ECONFLICT},    {"invalid", MLREG_EINVALID},
		{"refused", MLREG_EREFUSED},      {"unauthenticated", MLREG_EAUTH},
		{"forbidden", MLREG_EFORBIDDEN},  {"integrity", MLREG_EINTEGRITY},
		{"too_large", MLREG_ETOOBIG},     {"range", MLREG_ERANGE},
		{"newer_version", MLREG_ENEWER},  {"io_error", MLREG_EIO},
		{"rate_limited", MLREG_ERATELIMITED},
	};
	if (name)
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (!strcmp(names[i].name, name))
				return names[i].code;
	switch (status) {
	case 401: return MLREG_EAUTH;
	case 403: return MLREG_EFORBIDDEN;
	case 404: return MLREG_ENOTFOUND;
	case 409: return MLREG_ECONFLICT;
	case 412: return MLREG_EREFUSED;
	case 413: return MLREG_ETOOBIG;
	case 416: return MLREG_ERANGE;
	case 429: return MLREG_ERATELIMITED;
	default: return status >= 500 ? MLREG_EIO : MLREG_ERROR;
	}
}

static int answer_error(cli_client *c, cli_response *resp)
{
	const cJSON *err = resp->body ? cJSON_GetObjectItemCaseSensitive(resp->body, "error") : NULL;
	const char *msg = NULL;
	int code;
	if (cJSON_IsObject(err)) {
		resp->error = err;
		resp->error_code = util_json_str(err, "code");
		msg = util_json_str(err, "message");
	} else if (cJSON_IsString(err)) {
		msg = err->valuestring;
	}
	code = code_for(resp->status, resp->error_code);
	if (code == MLREG_EAUTH && !c->cfg->token)
		return mlreg_error_set(code, "%s (no token: use --token, MLREG_TOKEN or ~/.config/mlreg/token)",
				       msg && *msg ? msg : "unauthenticated");
	if (msg && *msg)
		return mlreg_error_set(code, "%s", msg);
	return mlreg_error_set(code, "registry answered HTTP %ld", resp->status);
}

static int setup(cli_client *c, const cli_request *req, transfer *t, struct curl_slist **hdrs,
		 char **json_text, char **url)
{
	CURL *h = c->curl;
	const char *method = req->method ? req->method : "GET";
	size_t ulen = strlen(c->cfg->registry) + strlen(req->path) + 1;
	int64_t timeout = req->timeout_ms ? req->timeout_ms : c->cfg->timeout_ms;
	struct curl_slist *l = NULL;

	*url = malloc(ulen);
	if (!*url)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	snprintf(*url, ulen, "%s%s", c->cfg->registry, req->path);

	curl_easy_reset(h);
	c->errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, *url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "mlreg/" MLREG_VERSION_STRING);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->cfg->connect_timeout_ms);
	/* verification stays on (libcurl's default); --cacert only names the CAs */
	if (c->cfg->cacert)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->cfg->cacert);
	if (req->upload || req->download) {
		/* Streams: give up when nothing moves for the timeout, never on
		 * total duration (a 10 GB pull takes as long as it takes). */
		long stall = (long)((c->cfg->timeout_ms + 999) / 1000);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, stall > 0 ? stall : 1L);
		if (req->download)
			curl_easy_setopt(h, CURLOPT_BUFFERSIZE, DOWNLOAD_BUFFER);
	} else if (timeout > 0) {
		/* timeout < 0: a server-side job (fsck rehashing every blob)
		 * that sends nothing until done; only Ctrl-C ends the wait. */
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout);
	}
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, t);

	if (c->auth)
		l = curl_slist_append(l, c->auth);
	l = curl_slist_append(l, "Accept: application/json");
	l = curl_slist_append(l, "Expect:");
	for (int i = 0; i < 4 && req->headers[i]; i++)
		l = curl_slist_append(l, req->headers[i]);

	if (!strcmp(method, "HEAD")) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (req->upload) {
		l = curl_slist_append(l, "Content-Type: application/octet-stream");
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, t);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, t);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->upload_len);
	} else if (req->json || strcmp(method, "GET") != 0) {
		if (req->json) {
			*json_text = util_json_print(req->json);
			if (!*json_text) {
				curl_slist_free_all(l);
				return mlreg_error_set(MLREG_ENOMEM, "out of memory");
			}
			l = curl_slist_append(l, "Content-Type: application/json");
		}
		if (strcmp(method, "GET") != 0) {
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, *json_text ? *json_text : "");
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
					 (curl_off_t)(*json_text ? strlen(*json_text) : 0));
		}
	}
	if (!l)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, l);
	*hdrs = l;
	return 0;
}

static int do_once(cli_client *c, const cli_request *req, cli_response *resp)
{
	transfer t;
	struct curl_slist *hdrs = NULL;
	char *json_text = NULL, *url = NULL;
	CURLcode cc;
	int error;

	memset(resp, 0, sizeof(*resp));
	memset(&t, 0, sizeof(t));
	t.req = req;
	t.curl = c->curl;
	util_buf_init(&t.body, MAX_JSON_BODY);

	if ((error = setup(c, req, &t, &hdrs, &json_text, &url)) < 0)
		goto done;
	cc = curl_easy_perform(c->curl);
	resp->bytes_sent = t.sent;
	if (req->upload) {
		curl_off_t wire = 0;
		if (curl_easy_getinfo(c->curl, CURLINFO_SIZE_UPLOAD_T, &wire) == CURLE_OK && wire > 0)
			resp->bytes_wire = (uint64_t)wire;
	}
	resp->stopped = t.stopped;
	if (t.failure) {
		error = mlreg_error_set(t.failure, "%s", t.failure_msg);
		goto done;
	}
	if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_SSL_CACERT_BADFILE ||
	    cc == CURLE_SSL_CERTPROBLEM) {
		/* a certificate that does not verify is not a network hiccup:
		 * no retry, and say what to do about it */
		const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc);
		bool unknown_ca = strstr(why, "issuer") || strstr(why, "self-signed") || strstr(why, "self signed");
		error = mlreg_error_set(MLREG_EIO, "TLS with registry %s failed: %s%s", c->cfg->registry, why,
					unknown_ca ? " (name its CA with --cacert or MLREG_CACERT)" : "");
		goto done;
	}
	if (cc != CURLE_OK) {
		resp->transport_failed = true;
		error = mlreg_error_set(MLREG_EIO, "cannot reach registry at %s: %s", c->cfg->registry,
					c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
		goto done;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &resp->status);
	if (t.body.len > 0) {
		/* A body that is not JSON (a proxy's HTML page) only matters
		 * for error answers, which fall back on the status. */
		if (util_json_parse(t.body.ptr, t.body.len, UTIL_JSON_MAX_DEPTH, &resp->body) < 0) {
			resp->body = NULL;
			if (is_2xx(resp->status) && !req->download) {
				error = mlreg_error_set(MLREG_EIO, "registry sent malformed JSON for %s %s",
							req->method ? req->method : "GET", req->path);
				goto done;
			}
		}
	}
	if (!is_2xx(resp->status)) {
		error = answer_error(c, resp);
		goto done;
	}
	error = 0;
done:
	if (error < 0 && resp->status == 0) {
		cJSON_Delete(resp->body);
		resp->body = NULL;
	}
	curl_slist_free_all(hdrs);
	util_buf_release(&t.body);
	free(json_text);
	free(url);
	return error;
}

/* A 429 (rate_limited) means the registry did nothing: wait and send it
 * again, a few times, backing off (1s, 2s, 4s; docs/security.md "Rate
 * limits and authentication failures").  Other answers are returned as
 * they are. */
int cli_client_do(cli_client *c, const cli_request *req, cli_response *resp)
{
	int error = 0;
	for (int attempt = 0; attempt < 4; attempt++) {
		if (attempt > 0) {
			struct timespec ts = {.tv_sec = 1 << (attempt - 1), .tv_nsec = 0};
			cli_response_release(resp);
			nanosleep(&ts, NULL);
		}
		error = do_once(c, req, resp);
		if (error != MLREG_ERATELIMITED || resp->stopped)
			break;
	}
	return error;
}

int cli_client_json(cli_client *c, const char *method, const char *path, const cJSON *body,
		    cli_response *resp)
{
	cli_request req;
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = path;
	req.json = body;
	return cli_client_do(c, &req, resp);
}

int cli_client_get_all(cli_client *c, const char *path, const char *key, cJSON **out)
{
	cJSON *all = cJSON_CreateArray();
	char *token = NULL;
	util_buf url;
	int error = 0;
	util_buf_init(&url, 1 << 16);
	if (!all)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	for (;;) {
		cli_response resp;
		const cJSON *items, *next;
		cJSON *item;
		util_buf_release(&url);
		if ((error = util_buf_puts(&url, path)) < 0 ||
		    (token && (error = cli_query_add(&url, "page_token", token)) < 0))
			break;
		if ((error = cli_client_json(c, "GET", url.ptr, NULL, &resp)) < 0) {
			cli_response_release(&resp);
			break;
		}
		items = cJSON_GetObjectItemCaseSensitive(resp.body, key);
		if (!cJSON_IsArray(items)) {
			cli_response_release(&resp);
			error = mlreg_error_set(MLREG_EIO, "registry answer to %s lacks '%s'", path, key);
			break;
		}
		/* Move the elements instead of copying them. */
		while ((item = cJSON_DetachItemFromArray((cJSON *)items, 0)))
			cJSON_AddItemToArray(all, item);
		next = cJSON_GetObjectItemCaseSensitive(resp.body, "next_page_token");
		if (!cJSON_IsString(next) || !next->valuestring[0]) {
			cli_response_release(&resp);
			break;
		}
		if (token && !strcmp(token, next->valuestring)) {
			cli_response_release(&resp);
			error = mlreg_error_set(MLREG_EIO, "registry repeated page token '%s'", token);
			break;
		}
		free(token);
		token = strdup(next->valuestring);
		cli_response_release(&resp);
		if (!token) {
			error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
			break;
		}
	}
	free(token);
	util_buf_release(&url);
	if (error < 0) {
		cJSON_Delete(all);
		return error;
	}
	*out = all;
	return 0;
}

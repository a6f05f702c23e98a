/*
 * routes_webhooks.c - the webhook subscriptions of docs/api.md "Webhooks":
 * add, list, remove, and the delivery log.  Role: admin for all four.
 *
 * Adding a webhook is where the server-side request forgery defence starts.
 * A URL is parsed with libcurl's own URL parser (curl_url), the very parser
 * that will later fetch it, so the host judged here is the host curl
 * connects to and no second, slightly different parser can be fooled by
 * "http://a@b@c/" or "http://[::ffff:127.0.0.1]/".  Only http and https
 * are accepted, never with user info.  Its host is then resolved and every
 * address must be public (util_addr_is_private) unless the server runs with
 * --webhook-allow-private.  Resolving is a blocking network call, so adding
 * runs on a worker.  The answer at registration is only a convenience for
 * the admin: DNS can change afterwards, so webhook_sender.c checks again,
 * on the address each delivery actually connects to.
 *
 * Listing counts every delivered and failed row of each webhook, which grows
 * with its history, so it runs on a worker too; the delivery log reads one
 * indexed page and answers inline.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <curl/curl.h>
#include "api/http.h"
#include "util/json.h"

/* A URL part as a heap string (curl_free), NULL when absent. */
static char *url_part(CURLU *u, CURLUPart part, unsigned flags)
{
	char *v = NULL;
	if (curl_url_get(u, part, &v, flags) != CURLUE_OK)
		return NULL;
	return v;
}

/* "localhost" and names under ".localhost" are loopback by definition
 * (RFC 6761 section 6.3), whatever this machine's resolver says - a
 * minimal system may not resolve them at all. */
static bool loopback_name(const char *host)
{
	size_t n = strlen(host);
	if (n && host[n - 1] == '.')
		n--;
	return (n == 9 && !strncasecmp(host, "localhost", 9)) ||
	       (n > 10 && !strncasecmp(host + n - 10, ".localhost", 10));
}

/* Every address host resolves to must be public. */
static int check_host(const char *url, const char *host, const char *port)
{
	struct addrinfo hints, *res = NULL;
	int g, rc = 0;
	if (loopback_name(host))
		return mlreg_error_set(MLREG_EINVALID,
				       "webhook url '%.200s' refused: host '%s' is a loopback name (allowed only when the "
				       "server runs with --webhook-allow-private)",
				       url, host);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC; /* both families: curl may use either */
	hints.ai_socktype = SOCK_STREAM;
	if ((g = getaddrinfo(host, port, &hints, &res)) != 0)
		return mlreg_error_set(MLREG_EINVALID, "cannot resolve webhook host '%s': %s", host, gai_strerror(g));
	for (struct addrinfo *a = res; a; a = a->ai_next) {
		char text[INET6_ADDRSTRLEN + 8];
		if (!util_addr_is_private(a->ai_addr))
			continue;
		util_addr_format(a->ai_addr, text, sizeof(text));
		rc = mlreg_error_set(MLREG_EINVALID,
				     "webhook url '%.200s' refused: host '%s' is or resolves to %s, a loopback, private, "
				     "link-local or otherwise non-public address (allowed only when the server runs with "
				     "--webhook-allow-private)",
				     url, host, text);
		break;
	}
	freeaddrinfo(res);
	return rc;
}

int api_webhook_url_check(const char *url, bool allow_private)
{
	CURLU *u;
	CURLUcode uc;
	char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL, *pass = NULL, *opts = NULL;
	int rc = 0;
	if (!url || !*url)
		return mlreg_error_set(MLREG_EINVALID, "webhook url missing");
	if (!(u = curl_url()))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	if ((uc = curl_url_set(u, CURLUPART_URL, url, 0)) != CURLUE_OK) {
		rc = mlreg_error_set(MLREG_EINVALID, "invalid webhook url '%.200s': %s", url, curl_url_strerror(uc));
		goto done;
	}
	scheme = url_part(u, CURLUPART_SCHEME, 0);
	if (!scheme || (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
		rc = mlreg_error_set(MLREG_EINVALID, "webhook url '%.200s' must use http or https", url);
		goto done;
	}
	user = url_part(u, CURLUPART_USER, 0);
	pass = url_part(u, CURLUPART_PASSWORD, 0);
	opts = url_part(u, CURLUPART_OPTIONS, 0);
	if (user || pass || opts) {
		rc = mlreg_error_set(MLREG_EINVALID,
				     "webhook url must not carry user info (user:password@host): receivers authenticate "
				     "deliveries by their signature");
		goto done;
	}
	host = url_part(u, CURLUPART_HOST, 0);
	port = url_part(u, CURLUPART_PORT, CURLU_DEFAULT_PORT);
	if (!host || !*host || !port) {
		rc = mlreg_error_set(MLREG_EINVALID, "webhook url '%.200s' has no host", url);
		goto done;
	}
	if (allow_private)
		goto done;
	{
		/* curl gives an IPv6 literal in brackets; getaddrinfo wants it bare */
		size_t n = strlen(host);
		char *h = host;
		if (h[0] == '[' && n > 2 && h[n - 1] == ']') {
			h[n - 1] = '\0';
			h++;
		}
		rc = check_host(url, h, port);
	}
done:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(user);
	curl_free(pass);
	curl_free(opts);
	curl_url_cleanup(u);
	return rc;
}

static int webhooks_add(api_req *q)
{
	cJSON *body = NULL, *out = NULL;
	const cJSON *url, *secret;
	int rc;
	if ((rc = api_body_json(q, &body)) < 0)
		return rc;
	url = cJSON_GetObjectItemCaseSensitive(body, "url");
	secret = cJSON_GetObjectItemCaseSensitive(body, "secret");
	if (!cJSON_IsObject(body))
		rc = mlreg_error_set(MLREG_EINVALID, "request body must be a JSON object");
	else if (!cJSON_IsString(url))
		rc = mlreg_error_set(MLREG_EINVALID, "webhook url missing: expected a string");
	else if (secret && !cJSON_IsNull(secret) && !cJSON_IsString(secret))
		rc = mlreg_error_set(MLREG_EINVALID, "webhook secret must be a string");
	else if ((rc = api_webhook_url_check(url->valuestring, q->srv->cfg.webhook_allow_private)) == 0)
		rc = reg_webhook_add(q->srv->reg, &q->who, url->valuestring,
				     cJSON_GetObjectItemCaseSensitive(body, "events"),
				     cJSON_IsString(secret) ? secret->valuestring : NULL, &out);
	cJSON_Delete(body);
	return rc < 0 ? rc : api_reply_json(q, 201, out);
}

static int webhooks_list(api_req *q)
{
	cJSON *out = NULL;
	int rc = reg_webhook_list(q->srv->reg, &out);
	return rc < 0 ? rc : api_reply_json(q, 200, out);
}

static int webhooks_remove(api_req *q)
{
	cJSON *out = NULL;
	int rc = reg_webhook_remove(q->srv->reg, &q->who, q->params[0], &out);
	return rc < 0 ? rc : api_reply_json(q, 200, out);
}

static int webhooks_deliveries(api_req *q)
{
	const char *ls = api_query(q, "limit");
	int64_t limit = 100;
	cJSON *out = NULL;
	int rc;
	if (ls && (util_parse_i64(ls, &limit) < 0 || limit < 1 || limit > 10000))
		return mlreg_error_set(MLREG_EINVALID, "invalid limit '%s': use 1 to 10000", ls);
	rc = reg_webhook_deliveries(q->srv->reg, q->params[0], limit, &out);
	return rc < 0 ? rc : api_reply_json(q, 200, out);
}

const api_route api_routes_webhooks[] = {
	{"POST", "api/v1/webhooks", webhooks_add, REG_PERM_ADMIN, API_WORKER, "/api/v1/webhooks"},
	{"GET", "api/v1/webhooks", webhooks_list, REG_PERM_ADMIN, API_WORKER, "/api/v1/webhooks"},
	{"DELETE", "api/v1/webhooks/{}", webhooks_remove, REG_PERM_ADMIN, API_WORKER, "/api/v1/webhooks/{id}"},
	{"GET", "api/v1/webhooks/{}/deliveries", webhooks_deliveries, REG_PERM_ADMIN, API_INLINE,
	 "/api/v1/webhooks/{id}/deliveries"},
	{NULL, NULL, NULL, 0, 0, NULL},
};

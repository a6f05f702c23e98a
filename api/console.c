/*
 * console.c - the web console: GET / and GET /console/{asset} answer the
 * files of the console folder, GET /console/config.json the settings the
 * page needs (docs/console.md).
 *
 * The files are compiled into the binary (scripts/embed_assets.cmake), so
 * an answer is a lookup in a constant table: no filesystem path is ever
 * built from the URL (nothing to traverse, nothing to race), and a server
 * always serves the console it was built with.  These routes need no token
 * because they hold no data: the page fetches everything from /api/v1 with
 * the token the user types in.  Every answer carries a Content-Security-
 * Policy that lets the page load and connect to this origin only, with no
 * inline script or style, so a string from the API that slipped into the
 * markup still could not run.  Answers are revalidated (no-cache) against a
 * content ETag: an upgraded server is picked up at the next load, an
 * unchanged file costs a 304.  With --no-console every console route
 * answers exactly as a route that does not exist.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/console.h"
#include "api/http.h"
#include "util/httpd.h"

static const char CSP[] = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
			  "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

static void security_headers(struct MHD_Response *r)
{
	api_add_header(r, "Content-Security-Policy", CSP);
	api_add_header(r, "X-Content-Type-Options", "nosniff");
	api_add_header(r, "Referrer-Policy", "no-referrer");
	api_add_header(r, "X-Frame-Options", "DENY");
	api_add_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
}

/* --no-console: the same 404 as a path no route matches */
static int disabled(api_req *q)
{
	return mlreg_error_set(MLREG_ENOTFOUND, "no such route");
}

/* Whether an If-None-Match header names etag (or is "*").  Weak
 * validators compare equal too (RFC 9110 13.1.2: weak comparison). */
static bool etag_matches(const char *inm, const char *etag)
{
	return inm && (strstr(inm, etag) != NULL || !strcmp(inm, "*"));
}

/* Answer buffer data (static storage: not copied) with the console's
 * headers; status 304 without a body when the client holds this ETag. */
static int reply_static(api_req *q, const char *type, const char *data, size_t len, const char *etag)
{
	bool fresh = etag && etag_matches(api_header(q, MHD_HTTP_HEADER_IF_NONE_MATCH), etag);
	q->resp = MHD_create_response_from_buffer(fresh ? 0 : len, (void *)(fresh ? "" : data), MHD_RESPMEM_PERSISTENT);
	if (!q->resp)
		return mlreg_error_set(MLREG_ENOMEM, "cannot create response");
	q->status = fresh ? 304 : 200;
	security_headers(q->resp);
	if (etag)
		api_add_header(q->resp, MHD_HTTP_HEADER_ETAG, etag);
	if (!fresh)
		api_add_header(q->resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	q->bytes_out += q->head || fresh ? 0 : len;
	return 0;
}

static const api_asset *find_asset(const char *name)
{
	for (const api_asset *a = api_console_assets; a->name; a++)
		if (!strcmp(a->name, name))
			return a;
	return NULL;
}

static int serve(api_req *q, const char *name)
{
	const api_asset *a;
	if (q->srv->cfg.no_console)
		return disabled(q);
	if (!(a = find_asset(name))) {
		/* a JSON 404, with the console's headers like any answer here */
		size_t n;
		mlreg_error_set(MLREG_ENOTFOUND, "no console file of that name");
		api_reply_error(q, MLREG_ENOTFOUND);
		if (!(q->resp = util_http_json_response(q->json, &n)))
			return mlreg_error_set(MLREG_ENOMEM, "cannot create response");
		security_headers(q->resp);
		q->bytes_out += q->head ? 0 : n;
		return 0;
	}
	return reply_static(q, a->type, a->data, a->len, a->etag);
}

static int index_page(api_req *q) { return serve(q, "index.html"); }

static int asset(api_req *q) { return serve(q, q->params[0]); }

/* {"refresh_ms":N}: only settings, never data (no token reads it) */
static int config(api_req *q)
{
	cJSON *o;
	char *text;
	size_t n;
	if (q->srv->cfg.no_console)
		return disabled(q);
	if (!(o = cJSON_CreateObject()) || !cJSON_AddNumberToObject(o, "refresh_ms", (double)q->srv->cfg.console_refresh_ms) ||
	    !(text = cJSON_PrintUnformatted(o))) {
		cJSON_Delete(o);
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	cJSON_Delete(o);
	n = strlen(text);
	q->resp = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
	if (!q->resp) {
		free(text);
		return mlreg_error_set(MLREG_ENOMEM, "cannot create response");
	}
	q->status = 200;
	q->bytes_out += q->head ? 0 : n;
	security_headers(q->resp);
	api_add_header(q->resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	return 0;
}

/* config.json comes before the {asset} pattern: the first match wins */
const api_route api_routes_console[] = {
	{"GET", "", index_page, API_AUTH_NONE, API_INLINE, "/"},
	{"GET", "console/config.json", config, API_AUTH_NONE, API_INLINE, "/console/config.json"},
	{"GET", "console/{}", asset, API_AUTH_NONE, API_INLINE, "/console/{asset}"},
	{NULL, NULL, NULL, 0, 0, NULL},
};

/*
 * auth.c - the server's authentication path: bearer tokens, per-token rate
 * limits, per-address limits on authentication failures, the role check,
 * token scopes, the housekeeping thread, and `--print-routes`.
 *
 * Order of checks (docs/security.md "Rate limits and authentication
 * failures"): a route that needs no token is never limited; otherwise the
 * token is authenticated (401 when missing, malformed, unknown, revoked or
 * expired - the reason is logged and counted, never told), then the
 * token's bucket is taken (429 with Retry-After and nothing done), then
 * its role (403), then the scope of what the path names (403) - all before
 * any object is looked up, so none of these answers depends on whether the
 * object exists.  Handlers whose model or stage is in the body, or behind a
 * deployment name, call api_scope() themselves.
 *
 * An authentication failure costs a unit of its address's bucket; once the
 * bucket is empty further failures from that address are answered 429 and
 * are not logged one by one: the housekeeping thread (and the next logged
 * failure) writes "N more authentication failures from ADDR suppressed",
 * so a flood of bad tokens cannot flood the log.  No log line, error or
 * metric ever carries a token or any part of it.
 *
 * The housekeeping thread also flushes tokens' last use
 * (reg_token_flush_usage) every --token-touch-interval, so recording use
 * costs no database write per request.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "api/http.h"
#include "util/json.h"
#include "util/ratelimit.h"

typedef struct api_auth api_auth;

struct api_auth {
	util_ratelimit *per_token, *per_addr;
	pthread_t thread;
	bool running, stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static const char *const perm_names[] = {"read", "pull", "write", "delete", "admin", "approve", "promote"};

const char *api_perm_name(int perm)
{
	if (perm == API_AUTH_NONE)
		return "none";
	if (perm == API_AUTH_ANY)
		return "any";
	return perm >= 0 && perm < (int)(sizeof(perm_names) / sizeof(perm_names[0])) ? perm_names[perm] : "?";
}

void api_print_routes(FILE *f)
{
	for (int i = 0; i + 1 < api_route_count(); i++) {
		const api_route *r = api_route_at(i);
		fprintf(f, "%s\t%s\t%s\t", r->method, r->label, api_perm_name(r->perm));
		if (r->perm == API_AUTH_NONE) {
			fputs("-", f);
		} else {
			bool first = true;
			for (int role = 0; role < REG_ROLE_COUNT; role++)
				if (r->perm == API_AUTH_ANY || reg_role_allows((reg_role)role, (reg_perm)r->perm)) {
					fprintf(f, "%s%s", first ? "" : ",", reg_role_name((reg_role)role));
					first = false;
				}
		}
		fputc('\n', f);
	}
}

/* ------------------------------------------------------------------ */
/* housekeeping                                                        */
/* ------------------------------------------------------------------ */
static void log_suppressed(const char *addr, uint64_t n, void *ctx)
{
	(void)ctx;
	LOG_WARN("%llu more authentication failures from %s suppressed", (unsigned long long)n, addr);
}

static void *housekeeping(void *arg)
{
	api_server *s = arg;
	api_auth *a = s->auth;
	int64_t now = util_now_ms(), next_flush = now + s->cfg.token_touch_ms,
		next_summary = now + s->cfg.auth_fail_summary_ms;
	pthread_mutex_lock(&a->mu);
	while (!a->stop) {
		int64_t due = next_flush < next_summary ? next_flush : next_summary;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		{
			int64_t wait = due - util_now_ms();
			if (wait < 1)
				wait = 1;
			ts.tv_sec += wait / 1000;
			ts.tv_nsec += (wait % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
		}
		pthread_cond_timedwait(&a->cv, &a->mu, &ts);
		if (a->stop)
			break;
		pthread_mutex_unlock(&a->mu);
		now = util_now_ms();
		if (now >= next_flush) {
			if (reg_token_flush_usage(s->reg, NULL) < 0)
				LOG_WARN("cannot record tokens' last use: %s (kept in memory, retried)", mlreg_error_last());
			next_flush = now + s->cfg.token_touch_ms;
		}
		if (now >= next_summary) {
			util_ratelimit_drain(a->per_addr, log_suppressed, NULL);
			next_summary = now + s->cfg.auth_fail_summary_ms;
		}
		pthread_mutex_lock(&a->mu);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

int api_auth_new(api_server *s)
{
	api_auth *a = calloc(1, sizeof(*a));
	if (!a)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	s->auth = a;
	if (s->cfg.rate_limit > 0 &&
	    !(a->per_token = util_ratelimit_new(s->cfg.rate_limit, s->cfg.rate_burst, (size_t)s->cfg.rate_keys)))
		return mlreg_error_set(MLREG_ENOMEM, "cannot create the per-token rate limiter");
	if (s->cfg.auth_fail_rate > 0 &&
	    !(a->per_addr = util_ratelimit_new(s->cfg.auth_fail_rate, s->cfg.auth_fail_burst, (size_t)s->cfg.rate_keys)))
		return mlreg_error_set(MLREG_ENOMEM, "cannot create the authentication-failure limiter");
	return 0;
}

int api_auth_start(api_server *s)
{
	api_auth *a = s->auth;
	if (pthread_create(&a->thread, NULL, housekeeping, s) != 0)
		return mlreg_error_set(MLREG_ERROR, "cannot start the housekeeping thread");
	a->running = true;
	return 0;
}

void api_auth_free(api_server *s)
{
	api_auth *a = s->auth;
	if (!a)
		return;
	if (a->running) {
		pthread_mutex_lock(&a->mu);
		a->stop = true;
		pthread_cond_signal(&a->cv);
		pthread_mutex_unlock(&a->mu);
		pthread_join(a->thread, NULL);
	}
	if (s->reg && reg_token_flush_usage(s->reg, NULL) < 0)
		LOG_WARN("cannot record tokens' last use at shutdown: %s", mlreg_error_last());
	util_ratelimit_drain(a->per_addr, log_suppressed, NULL);
	util_ratelimit_free(a->per_token);
	util_ratelimit_free(a->per_addr);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a);
	s->auth = NULL;
}

/* ------------------------------------------------------------------ */
/* the check                                                           */
/* ------------------------------------------------------------------ */
static void remote_addr(api_req *q, char *out, size_t n)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(q->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	snprintf(out, n, "?");
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)n);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)n);
}

static void early(api_req *q, int code, const char *msg)
{
	if (q->early_code)
		return;
	q->early_code = code;
	free(q->early_msg);
	q->early_msg = strdup(msg);
}

static void limited(api_req *q, api_limit which, int64_t retry_ms, const char *msg)
{
	q->retry_after_s = (retry_ms + 999) / 1000;
	if (q->retry_after_s < 1)
		q->retry_after_s = 1;
	api_metrics_rate_limited(q->srv->metrics, which);
	early(q, MLREG_ERATELIMITED, msg);
}

static void auth_failed(api_req *q, reg_auth_reason why)
{
	api_auth *a = q->srv->auth;
	char addr[INET6_ADDRSTRLEN + 1];
	int64_t retry = 0;
	uint64_t before = 0;
	remote_addr(q, addr, sizeof(addr));
	api_metrics_auth_failure(q->srv->metrics, why);
	if (a && !util_ratelimit_take(a->per_addr, addr, util_now_ms(), &retry, &before)) {
		limited(q, API_LIMIT_AUTH_FAIL, retry, "too many authentication failures from this address: retry later");
		return;
	}
	if (before)
		log_suppressed(addr, before, NULL);
	/* the route's pattern, not the URL: a client may have put anything there */
	LOG_WARN("authentication failed: %s %s from %s: %s", q->route->method, q->route->label, addr,
		 reg_auth_reason_name(why));
	early(q, MLREG_EAUTH, why == REG_AUTH_MISSING ? "missing bearer token" : "invalid, expired or revoked token");
}

/* What the path itself names: the model of /models/{name}/... and of
 * /policies/{model}/{stage}, the stage of a promote or rollback. */
static void path_scope(api_req *q, const char **model, const char **stage, bool *alias_move)
{
	const char *p = q->route->pattern;
	*model = *stage = NULL;
	*alias_move = false;
	if ((!strncmp(p, "api/v1/models/{}", 16) || !strncmp(p, "api/v1/policies/{}", 18)) && q->nparams > 0)
		*model = q->params[0];
	if (!strncmp(p, "api/v1/models/{}/stages/{}/", 27) && q->nparams > 1)
		*stage = q->params[1];
	if (!strncmp(p, "api/v1/models/{}/aliases/{}", 27) && strcmp(q->route->method, "GET") != 0)
		*alias_move = true;
}

void api_authorize(api_req *q)
{
	api_auth *a = q->srv->auth;
	const char *auth, *model, *stage;
	bool alias_move;
	reg_auth_reason why = REG_AUTH_MISSING;
	int perm = q->route->perm, rc;
	int64_t retry = 0;
	if (perm == API_AUTH_NONE)
		return;
	/* a signed blob URL stands in for a token (signed_url.c) */
	switch (api_signed_url_check(q)) {
	case 0: break;
	case 1: return;
	default: early(q, MLREG_EFORBIDDEN, "forbidden: invalid or expired signed URL"); return;
	}
	auth = api_header(q, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!auth) {
		auth_failed(q, REG_AUTH_MISSING);
		return;
	}
	if (strncasecmp(auth, "Bearer ", 7) != 0) { /* schemes are case-insensitive */
		auth_failed(q, REG_AUTH_MALFORMED);
		return;
	}
	if ((rc = reg_authenticate_why(q->srv->reg, auth + 7, &q->who, &why)) < 0) {
		if (rc == MLREG_EAUTH)
			auth_failed(q, why == REG_AUTH_OK ? REG_AUTH_MALFORMED : why);
		else /* the database failed: not the client's fault, not a 401 */
			early(q, MLREG_EIO, "cannot check the token now");
		return;
	}
	if (a && !util_ratelimit_take(a->per_token, q->who.token_name, util_now_ms(), &retry, NULL)) {
		limited(q, API_LIMIT_TOKEN, retry, "rate limit of this token exceeded: retry later");
		return;
	}
	if (perm >= 0 && !reg_role_allows(q->who.role, (reg_perm)perm)) {
		early(q, MLREG_EFORBIDDEN, "forbidden: role does not allow this");
		return;
	}
	path_scope(q, &model, &stage, &alias_move);
	/* the policy of `*` applies to every model: only a token without a
	 * models scope covers it, whatever text its glob happens to match
	 * ("[!f]*" matches "*" too) */
	if (model && !strcmp(model, "*") && !strncmp(q->route->pattern, "api/v1/policies/", 16) &&
	    reg_scope_models_limited(&q->who)) {
		early(q, MLREG_EFORBIDDEN, "forbidden: the token's scope does not cover this model");
		return;
	}
	/* administration that is not about one model (tokens, keys, stages,
	 * webhooks, nodes, gc, fsck) reaches every model: only an unscoped
	 * token may do it.  The import names its models in the body and
	 * checks each of them (routes_bundles.c). */
	if (perm == REG_PERM_ADMIN && !model && strcmp(q->route->pattern, "api/v1/import") != 0 &&
	    (reg_scope_models_limited(&q->who) || reg_scope_stages_limited(&q->who))) {
		early(q, MLREG_EFORBIDDEN, "forbidden: a scoped token cannot do registry-wide administration");
		return;
	}
	if (reg_scope_check(&q->who, model, stage) < 0) {
		early(q, MLREG_EFORBIDDEN, mlreg_error_last());
		return;
	}
	if (alias_move && reg_scope_stages_limited(&q->who))
		early(q, MLREG_EFORBIDDEN, "forbidden: a stage-scoped token cannot move aliases");
}

int api_scope(api_req *q, const char *model, const char *stage) { return reg_scope_check(&q->who, model, stage); }

bool api_scope_sees(api_req *q, const char *model) { return reg_scope_allows(&q->who, model ? model : "", NULL); }

void api_scope_filter(api_req *q, cJSON *out, const char *key, const char *model_key)
{
	cJSON *arr = cJSON_GetObjectItemCaseSensitive(out, key), *it, *next;
	if (!reg_scope_models_limited(&q->who) || !cJSON_IsArray(arr))
		return;
	for (it = arr->child; it; it = next) {
		next = it->next;
		if (!api_scope_sees(q, util_json_str(it, model_key)))
			cJSON_Delete(cJSON_DetachItemViaPointer(arr, it));
	}
}

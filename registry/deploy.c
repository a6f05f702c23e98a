/*
 * deploy.c - serving nodes, deployments and rollout verbs as the API and
 * the CLI see them (registry/deploy.h, docs/api.md "Nodes and
 * deployments"); the reconciler's fenced side is in deploy_ctl.c.
 *
 * Everything from outside is checked here before a transaction starts:
 * names, URLs, drivers, label maps, durations, limits and the analysis
 * conditions (util/expr.h, the gate grammar).  Rollout steps are the one
 * exception.  Their parser belongs to the controller (controller/ctl.h),
 * and dependencies point from the controller to the registry, never back;
 * a second parser here could drift from the one the reconciler runs.  So
 * the API layer parses and normalises steps with the controller's parser
 * before it calls reg_deploy_create, and this file only refuses what can
 * never be a step list (empty, longer than 1024 bytes, characters outside
 * [a-z0-9:,.]) and stores the text as given.
 *
 * Each change is one write transaction that also appends the deployment's
 * event, the audit entry and a bump of the controller generation (which
 * wakes the reconciler after the commit).  A verb is checked against the
 * rollout phase the reconciler last wrote and stored as the deployment's
 * pending verb; the reconciler consumes it in its next pass.  The status
 * object all these answer with is shaped in deploy_status.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "registry/deploy.h"
#include "registry/registry_int.h"
#include "util/expr.h"
#include "util/json.h"

#define MAX_LABELS 32
#define MAX_URL 2048
#define MAX_STEPS_TEXT 1024
#define MAX_CONDITIONS 16
#define MAX_DURATION_MS (30LL * 24 * 3600 * 1000)

static const char *const drivers[] = {"mlreg", NULL};
static const char *const strategies[] = {"recreate", "rolling", "canary", "blue-green", NULL};
static const char *const verbs[] = {"pause", "resume", "promote", "promote-full", "abort", "retry", NULL};
/* the names analysis conditions may use (controller/ctl.h ctl_judge) */
static const char *const analysis_names[] = {"requests", "failures", "failure_rate", "p99_ms", NULL};

static bool in_list(const char *s, const char *const *list)
{
	for (int i = 0; s && list[i]; i++)
		if (!strcmp(s, list[i]))
			return true;
	return false;
}

/* ---- validation ---- */
/* http(s)://host[:port][/path], no user info, query or fragment; the
 * normalised form (no trailing '/') goes to norm. */
static int url_check(const char *url, char *norm, size_t nlen)
{
	static const char path_chars[] = "-._~!$&'()*+,;=:@/%";
	const char *p, *auth, *end;
	size_t n = url ? strlen(url) : 0;
	if (n == 0 || n > MAX_URL)
		return mlreg_error_set(MLREG_EINVALID, "node url must be 1 to %d bytes", MAX_URL);
	if (!strncmp(url, "http://", 7))
		auth = url + 7;
	else if (!strncmp(url, "https://", 8))
		auth = url + 8;
	else
		return mlreg_error_set(MLREG_EINVALID, "invalid node url '%.200s': must start with http:// or https://", url);
	end = auth + strcspn(auth, "/?#");
	if (memchr(auth, '@', (size_t)(end - auth)))
		return mlreg_error_set(MLREG_EINVALID,
				       "invalid node url '%.200s': no user info (user:password@) in a node url", url);
	if (*end == '?' || *end == '#' || strpbrk(end, "?#"))
		return mlreg_error_set(MLREG_EINVALID, "invalid node url '%.200s': no query or fragment", url);
	p = auth;
	if (*p == '[') { /* an IPv6 literal */
		const char *close = memchr(p, ']', (size_t)(end - p));
		if (!close || close == p + 1)
			return mlreg_error_set(MLREG_EINVALID, "invalid node url '%.200s': bad IPv6 address", url);
		for (const char *q = p + 1; q < close; q++)
			if (!(strchr("0123456789abcdefABCDEF:.", *q)))
				return mlreg_error_set(MLREG_EINVALID, "invalid node url '%.200s': bad IPv6 address", url);
		p = close + 1;
	} else {
		const char *h = p;
		while (p < end && *p != ':' &&
		       ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
			*p == '-'))
			p++;
		if (p == h)
			return mlreg_error_set(MLREG_EINVALID, "invalid node url '%.200s': no host", url);
	}
	if (p < end && *p == ':') {
		long port = 0;
		const char *d = ++p;
		while (p < end && *p >= '0' && *p <= '9' && port <= 65535)
			port = port * 10 + (*p++ - '0');
		if (p == d || p != end || port < 1 || port > 65535)
			return mlreg_error_set(MLREG_EINVALID, "invalid node url '%.200s': bad port", url);
	}
	if (p != end)
		return mlreg_error_set(MLREG_EINVALID, "invalid node url '%.200s': bad host", url);
	for (p = end; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      strchr(path_chars, *p)))
			return mlreg_error_set(MLREG_EINVALID, "invalid node url '%.200s': bad character in the path", url);
	n = strlen(url);
	while (n > (size_t)(end - url) && url[n - 1] == '/')
		n--;
	snprintf(norm, nlen, "%.*s", (int)n, url);
	return 0;
}

/* A map of label-grammar keys to label values (node labels, selectors). */
static int labels_check(const cJSON *m, const char *what, bool need_one)
{
	int n = 0;
	if (!cJSON_IsObject(m))
		return mlreg_error_set(MLREG_EINVALID, "%s must be an object of label values", what);
	for (const cJSON *e = m->child; e; e = e->next) {
		if (++n > MAX_LABELS)
			return mlreg_error_set(MLREG_EINVALID, "%s: at most %d labels", what, MAX_LABELS);
		if (!util_label_name_valid(e->string))
			return mlreg_error_set(MLREG_EINVALID,
					       "%s: invalid label key '%.64s': lowercase letters, digits and '-', starting "
					       "with a letter, at most 63",
					       what, e->string);
		if (!cJSON_IsString(e) || !util_label_value_valid(e->valuestring))
			return mlreg_error_set(MLREG_EINVALID,
					       "%s: invalid value of label '%s': 1 to 63 letters, digits, '.', '_' or '-'",
					       what, e->string);
		for (const cJSON *f = m->child; f != e; f = f->next)
			if (!strcmp(f->string, e->string))
				return mlreg_error_set(MLREG_EINVALID, "%s: label '%s' given twice", what, e->string);
	}
	if (need_one && n == 0)
		return mlreg_error_set(MLREG_EINVALID, "%s needs at least one label", what);
	return 0;
}

/* The API layer parsed the steps with the controller's parser (see the
 * top of this file); this only refuses what can never be steps. */
static int steps_check(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > MAX_STEPS_TEXT)
		return mlreg_error_set(MLREG_EINVALID, "steps must be 1 to %d bytes", MAX_STEPS_TEXT);
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || strchr(":,.", s[i])))
			return mlreg_error_set(MLREG_EINVALID,
					       "invalid steps '%.200s': use weight:N, pause[:D], analysis:D, shadow:D, "
					       "comma-separated",
					       s);
	return 0;
}

/* "failure_rate<0.01, p99_ms<250" -> "failure_rate<0.01,p99_ms<250" */
static int analysis_normalise(const char *s, char *out, size_t outsz)
{
	size_t used = 0;
	int n = 0;
	out[0] = '\0';
	if (!*s)
		return 0;
	if (strlen(s) > 1024)
		return mlreg_error_set(MLREG_EINVALID, "analysis conditions longer than 1024 bytes");
	for (const char *p = s;;) {
		size_t len = strcspn(p, ",");
		char one[1100];
		util_expr e;
		if (++n > MAX_CONDITIONS)
			return mlreg_error_set(MLREG_EINVALID, "at most %d analysis conditions", MAX_CONDITIONS);
		snprintf(one, sizeof(one), "%.*s", (int)len, p);
		if (util_expr_parse(one, true, &e) < 0 || !in_list(e.name, analysis_names))
			return mlreg_error_set(MLREG_EINVALID,
					       "invalid analysis condition '%.200s': use NAME OP NUMBER with NAME one of "
					       "requests, failures, failure_rate, p99_ms and OP one of >= <= > < == !=",
					       one);
		used += (size_t)snprintf(out + used, outsz - used, "%s%s%s%s", used ? "," : "", e.name, util_op_str(e.op),
					 e.text);
		if (used >= outsz)
			return mlreg_error_set(MLREG_EINVALID, "analysis conditions too long");
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

static int int_member(const cJSON *body, const char *key, int64_t def, int64_t min, int64_t max, int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItem(body, key);
	*out = def;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!util_json_is_int(v) || v->valuedouble < (double)min || v->valuedouble > (double)max)
		return mlreg_error_set(MLREG_EINVALID, "'%s' must be an integer from %lld to %lld", key, (long long)min,
				       (long long)max);
	*out = (int64_t)v->valuedouble;
	return 0;
}

static int duration_member(const cJSON *body, const char *key, int64_t def, bool allow_zero, int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItem(body, key);
	int64_t ms;
	*out = def;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v) || util_duration_ms(v->valuestring, &ms) < 0 || ms > MAX_DURATION_MS ||
	    (ms == 0 && !allow_zero))
		return mlreg_error_set(MLREG_EINVALID, "'%s' must be a %sduration of at most 30d such as 500ms, 30s, 5m, 1h",
				       key, allow_zero ? "" : "positive ");
	*out = ms;
	return 0;
}

static int optional_string(const cJSON *body, const char *key, const char **out)
{
	const cJSON *v = cJSON_GetObjectItem(body, key);
	*out = NULL;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v))
		return mlreg_error_set(MLREG_EINVALID, "'%s' must be a string", key);
	*out = v->valuestring;
	return 0;
}

/* Names that reach audit subjects and the nodes. */
static int name_check(const char *what, const char *name)
{
	if (util_resource_name_valid(name))
		return 0;
	return mlreg_error_set(MLREG_EINVALID,
			       "invalid %s name '%.64s': 1 to 63 lowercase letters and digits, separated by single '.', "
			       "'_' or '-'",
			       what, name ? name : "");
}

/* ---- nodes ---- */
int reg_node_add(reg_registry *r, const reg_principal *who, const cJSON *body, cJSON **out)
{
	static const char *const keys[] = {"name", "url", "driver", "labels", NULL};
	const char *name = util_json_str(body, "name"), *url = util_json_str(body, "url"), *driver;
	const cJSON *labels = cJSON_GetObjectItem(body, "labels");
	char norm[MAX_URL + 1], ts[40], *ltext = NULL;
	cJSON *d;
	reg_tx *tx = NULL;
	int64_t id, now = util_now_ms();
	int rc;
	*out = NULL;
	if ((rc = promo_only_keys(body, keys)) < 0 || (rc = name_check("node", name)) < 0 ||
	    (rc = url_check(url, norm, sizeof(norm))) < 0 || (rc = optional_string(body, "driver", &driver)) < 0)
		return rc;
	if (!driver)
		driver = "mlreg";
	if (!in_list(driver, drivers))
		return mlreg_error_set(MLREG_EINVALID, "unknown node driver '%.64s': the drivers are mlreg", driver);
	if (labels && !cJSON_IsNull(labels) && (rc = labels_check(labels, "labels", false)) < 0)
		return rc;
	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "url", norm);
	cJSON_AddStringToObject(d, "driver", driver);
	cJSON_AddItemToObject(d, "labels", cJSON_IsObject(labels) ? cJSON_Duplicate(labels, true) : cJSON_CreateObject());
	if (!(ltext = cJSON_PrintUnformatted(cJSON_GetObjectItem(d, "labels"))))
		rc = mlreg_error_set(MLREG_ENOMEM, "out of memory");
	else if ((rc = META(r)->begin(r->meta, &tx)) == 0) {
		if ((rc = META(r)->node_insert(tx, name, norm, driver, ltext, who->principal, now, &id)) == 0 &&
		    (rc = reg_ctl_touch(r, tx)) == 0)
			rc = reg_audit_append(r->meta, tx, who->principal, "node.add", name, NULL, d);
		rc = promo_finish(r, tx, rc);
	}
	free(ltext);
	if (rc < 0) {
		cJSON_Delete(d);
		return rc;
	}
	/* the answer is what was written (docs/api.md's node object) */
	util_time_format(now, ts, sizeof(ts));
	*out = cJSON_CreateObject();
	cJSON_AddStringToObject(*out, "name", name);
	cJSON_AddStringToObject(*out, "url", norm);
	cJSON_AddStringToObject(*out, "driver", driver);
	cJSON_AddItemToObject(*out, "labels", cJSON_DetachItemFromObject(d, "labels"));
	cJSON_AddStringToObject(*out, "created_at", ts);
	cJSON_AddStringToObject(*out, "created_by", who->principal);
	cJSON_AddNullToObject(*out, "observed");
	cJSON_Delete(d);
	return 0;
}

int reg_node_list(reg_registry *r, cJSON **out)
{
	reg_tx *tx = NULL;
	cJSON *rows = NULL, *a;
	int rc;
	if ((rc = META(r)->begin_read(r->meta, &tx)) < 0)
		return rc;
	rc = META(r)->node_rows(tx, &rows);
	META(r)->commit(tx);
	if (rc < 0)
		return rc;
	*out = cJSON_CreateObject();
	a = cJSON_AddArrayToObject(*out, "nodes");
	for (const cJSON *n = rows->child; n; n = n->next)
		cJSON_AddItemToArray(a, deploy_node_public(n));
	cJSON_Delete(rows);
	return 0;
}

int reg_node_remove(reg_registry *r, const reg_principal *who, const char *name, cJSON **out)
{
	reg_tx *tx = NULL;
	int rc;
	if ((rc = name_check("node", name)) < 0 || (rc = META(r)->begin(r->meta, &tx)) < 0)
		return rc;
	if ((rc = META(r)->node_delete(tx, name)) == 0 && (rc = reg_ctl_touch(r, tx)) == 0)
		rc = reg_audit_append(r->meta, tx, who->principal, "node.remove", name, NULL, NULL);
	if ((rc = promo_finish(r, tx, rc)) < 0)
		return rc;
	*out = cJSON_CreateObject();
	cJSON_AddStringToObject(*out, "name", name);
	cJSON_AddTrueToObject(*out, "removed");
	return 0;
}

/* ---- deployments ---- */
typedef struct {
	reg_deploy_row row;
	const char *model;
	char analysis[1100];
	char *selector;          /* heap JSON text */
} deploy_in;

static int deploy_parse(const cJSON *body, deploy_in *in)
{
	static const char *const keys[] = {"name", "model", "stage", "alias", "selector", "strategy", "steps", "analysis",
					   "min_requests", "failure_limit", "max_unavailable", "progress_deadline",
					   "scale_down_delay", "analysis_interval", "failure_margin", NULL};
	reg_deploy_row *d = &in->row;
	const cJSON *sel = cJSON_GetObjectItem(body, "selector"), *margin = cJSON_GetObjectItem(body, "failure_margin");
	const char *analysis;
	int rc;
	memset(in, 0, sizeof(*in));
	if ((rc = promo_only_keys(body, keys)) < 0)
		return rc;
	d->name = util_json_str(body, "name");
	in->model = util_json_str(body, "model");
	if ((rc = name_check("deployment", d->name)) < 0)
		return rc;
	if (!util_model_name_valid(in->model))
		return promo_bad_model(in->model);
	if ((rc = optional_string(body, "stage", &d->stage)) < 0 || (rc = optional_string(body, "alias", &d->alias)) < 0 ||
	    (rc = optional_string(body, "strategy", &d->strategy)) < 0 ||
	    (rc = optional_string(body, "steps", &d->steps)) < 0 ||
	    (rc = optional_string(body, "analysis", &analysis)) < 0)
		return rc;
	if (!d->stage == !d->alias)
		return mlreg_error_set(MLREG_EINVALID, "a deployment follows exactly one of 'stage' and 'alias'");
	if (d->stage && !util_label_name_valid(d->stage))
		return mlreg_error_set(MLREG_EINVALID, "invalid stage name '%.64s'", d->stage);
	if (d->alias && !util_label_name_valid(d->alias))
		return mlreg_error_set(MLREG_EINVALID,
				       "invalid alias '%.64s': lowercase letters, digits and '-', starting with a letter",
				       d->alias);
	if (!sel)
		return mlreg_error_set(MLREG_EINVALID, "a deployment needs a 'selector' of node labels");
	if ((rc = labels_check(sel, "selector", true)) < 0)
		return rc;
	if (!d->strategy)
		d->strategy = "canary";
	if (!in_list(d->strategy, strategies))
		return mlreg_error_set(MLREG_EINVALID,
				       "unknown strategy '%.64s': use recreate, rolling, canary or blue-green", d->strategy);
	if (d->steps && (rc = steps_check(d->steps)) < 0)
		return rc;
	if ((rc = analysis_normalise(analysis ? analysis : "", in->analysis, sizeof(in->analysis))) < 0)
		return rc;
	d->analysis = in->analysis;
	if ((rc = int_member(body, "min_requests", 50, 0, 1000000000, &d->min_requests)) < 0 ||
	    (rc = int_member(body, "failure_limit", 3, 1, 1000, &d->failure_limit)) < 0 ||
	    (rc = int_member(body, "max_unavailable", 1, 1, 100000, &d->max_unavailable)) < 0 ||
	    (rc = duration_member(body, "progress_deadline", 600000, false, &d->progress_deadline_ms)) < 0 ||
	    (rc = duration_member(body, "scale_down_delay", 30000, true, &d->scale_down_delay_ms)) < 0 ||
	    (rc = duration_member(body, "analysis_interval", 10000, false, &d->analysis_interval_ms)) < 0)
		return rc;
	d->failure_margin = 0.01;
	if (margin && !cJSON_IsNull(margin)) {
		if (!cJSON_IsNumber(margin) || !isfinite(margin->valuedouble) || margin->valuedouble < 0 ||
		    margin->valuedouble > 1)
			return mlreg_error_set(MLREG_EINVALID, "'failure_margin' must be a number from 0 to 1");
		d->failure_margin = margin->valuedouble;
	}
	if (!(in->selector = cJSON_PrintUnformatted(sel)))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	d->selector = in->selector;
	return 0;
}

/* The status object of deployment id, read inside tx. */
static int status_in(reg_registry *r, reg_tx *tx, int64_t id, cJSON **out)
{
	cJSON *row = NULL, *nodes = NULL;
	int rc;
	if ((rc = META(r)->deploy_row_by_id(tx, id, &row)) == 0 && (rc = META(r)->node_rows(tx, &nodes)) == 0)
		rc = deploy_status_of(r, tx, row, nodes, out);
	cJSON_Delete(row);
	cJSON_Delete(nodes);
	return rc;
}

int reg_deploy_create(reg_registry *r, const reg_principal *who, const cJSON *body, cJSON **out)
{
	deploy_in in;
	reg_tx *tx = NULL;
	char msg[300];
	cJSON *d, *res = NULL;
	int64_t id;
	int rc;
	*out = NULL;
	if ((rc = deploy_parse(body, &in)) < 0) {
		free(in.selector);
		return rc;
	}
	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, in.row.stage ? "stage" : "alias", in.row.stage ? in.row.stage : in.row.alias);
	cJSON_AddItemToObject(d, "selector", cJSON_Duplicate(cJSON_GetObjectItem(body, "selector"), true));
	cJSON_AddStringToObject(d, "strategy", in.row.strategy);
	if (in.row.steps)
		cJSON_AddStringToObject(d, "steps", in.row.steps);
	cJSON_AddStringToObject(d, "analysis", in.analysis);
	snprintf(msg, sizeof(msg), "created by %.100s, following %s %.63s", who->principal,
		 in.row.stage ? "stage" : "alias", in.row.stage ? in.row.stage : in.row.alias);
	if ((rc = META(r)->begin(r->meta, &tx)) == 0) {
		if ((rc = promo_model_of(r, tx, in.model, &in.row.model_id)) == 0 &&
		    (!in.row.stage || (rc = promo_stage_check(r, tx, in.row.stage)) == 0) &&
		    (rc = META(r)->deploy_insert(tx, &in.row, who->principal, util_now_ms(), &id)) == 0 &&
		    (rc = META(r)->deploy_event_add(tx, id, util_now_ms(), "created", msg, NULL)) == 0 &&
		    (rc = reg_ctl_touch(r, tx)) == 0 &&
		    (rc = reg_audit_append(r->meta, tx, who->principal, "deployment.create", in.row.name, in.model, d)) == 0)
			rc = status_in(r, tx, id, &res);
		rc = promo_finish(r, tx, rc);
	}
	cJSON_Delete(d);
	free(in.selector);
	if (rc < 0) {
		cJSON_Delete(res);
		return rc;
	}
	*out = res;
	return 0;
}

static int list_in(reg_registry *r, reg_tx *tx, const char *name, cJSON **out)
{
	cJSON *rows = NULL, *nodes = NULL, *a = cJSON_CreateArray();
	int rc;
	if ((rc = META(r)->deploy_rows(tx, name, &rows)) == 0 && (rc = META(r)->node_rows(tx, &nodes)) == 0) {
		for (const cJSON *row = rows->child; row && rc == 0; row = row->next) {
			cJSON *s = NULL;
			if ((rc = deploy_status_of(r, tx, row, nodes, &s)) == 0)
				cJSON_AddItemToArray(a, s);
		}
	}
	cJSON_Delete(rows);
	cJSON_Delete(nodes);
	if (rc < 0) {
		cJSON_Delete(a);
		return rc;
	}
	*out = a;
	return 0;
}

int reg_deploy_list(reg_registry *r, cJSON **out)
{
	reg_tx *tx = NULL;
	cJSON *a = NULL;
	int rc;
	if ((rc = META(r)->begin_read(r->meta, &tx)) < 0)
		return rc;
	rc = list_in(r, tx, NULL, &a);
	META(r)->commit(tx);
	if (rc < 0)
		return rc;
	*out = cJSON_CreateObject();
	cJSON_AddItemToObject(*out, "deployments", a);
	return 0;
}

int reg_deploy_status(reg_registry *r, const char *name, cJSON **out)
{
	reg_tx *tx = NULL;
	cJSON *a = NULL;
	int rc;
	if ((rc = name_check("deployment", name)) < 0 || (rc = META(r)->begin_read(r->meta, &tx)) < 0)
		return rc;
	rc = list_in(r, tx, name, &a);
	META(r)->commit(tx);
	if (rc < 0)
		return rc;
	*out = cJSON_DetachItemFromArray(a, 0);
	cJSON_Delete(a);
	return 0;
}

int reg_deploy_remove(reg_registry *r, const reg_principal *who, const char *name, cJSON **out)
{
	reg_tx *tx = NULL;
	cJSON *rows = NULL;
	int64_t id;
	int rc;
	if ((rc = name_check("deployment", name)) < 0 || (rc = META(r)->begin(r->meta, &tx)) < 0)
		return rc;
	if ((rc = META(r)->deploy_rows(tx, name, &rows)) == 0 && (rc = META(r)->deploy_delete(tx, name, &id)) == 0 &&
	    (rc = reg_ctl_touch(r, tx)) == 0)
		rc = reg_audit_append(r->meta, tx, who->principal, "deployment.remove", name,
				      util_json_str(rows->child, "model"), NULL);
	cJSON_Delete(rows);
	if ((rc = promo_finish(r, tx, rc)) < 0)
		return rc;
	*out = cJSON_CreateObject();
	cJSON_AddStringToObject(*out, "name", name);
	cJSON_AddTrueToObject(*out, "removed");
	return 0;
}

int reg_deploy_events(reg_registry *r, const char *name, int64_t limit, cJSON **out)
{
	reg_tx *tx = NULL;
	cJSON *rows = NULL;
	int rc;
	if (limit < 1 || limit > 10000)
		return mlreg_error_set(MLREG_EINVALID, "invalid limit %lld: use 1 to 10000", (long long)limit);
	if ((rc = name_check("deployment", name)) < 0 || (rc = META(r)->begin_read(r->meta, &tx)) < 0)
		return rc;
	if ((rc = META(r)->deploy_rows(tx, name, &rows)) == 0)
		rc = META(r)->deploy_events(tx, (int64_t)cJSON_GetObjectItem(rows->child, "id")->valuedouble, limit, out);
	META(r)->commit(tx);
	cJSON_Delete(rows);
	return rc;
}

/* ---- verbs ---- */
/* MLREG_ECONFLICT naming why when verb does not apply to the row's phase. */
static int verb_applies(const cJSON *row, const char *verb)
{
	const char *phase = util_json_str(row, "phase"), *name = util_json_str(row, "name");
	bool target = cJSON_IsNumber(cJSON_GetObjectItem(row, "target_version"));
	bool rolling = target && (!strcmp(phase, "Progressing") || !strcmp(phase, "Paused"));
	if (!strcmp(verb, "retry")) {
		if (!cJSON_IsNumber(cJSON_GetObjectItem(row, "rejected_version")))
			return mlreg_error_set(MLREG_ECONFLICT, "deployment '%s' has no rejected version to retry", name);
		return 0;
	}
	if (!target)
		return mlreg_error_set(MLREG_ECONFLICT, "deployment '%s' has no rollout in progress: nothing to %s", name,
				       verb);
	if (!rolling)
		return mlreg_error_set(MLREG_ECONFLICT, "the rollout of deployment '%s' is %s: nothing to %s", name, phase,
				       verb);
	if (!strcmp(verb, "pause") && !strcmp(phase, "Paused"))
		return mlreg_error_set(MLREG_ECONFLICT, "the rollout of deployment '%s' is already paused", name);
	if (!strcmp(verb, "resume") && strcmp(phase, "Paused"))
		return mlreg_error_set(MLREG_ECONFLICT, "the rollout of deployment '%s' is not paused (phase %s)", name, phase);
	return 0;
}

int reg_rollout_verb(reg_registry *r, const reg_principal *who, const char *name, const char *verb, cJSON **out)
{
	reg_tx *tx = NULL;
	cJSON *rows = NULL, *d, *res = NULL, *ev;
	char action[32], msg[200], *evtext;
	int64_t id = 0;
	int rc;
	*out = NULL;
	if ((rc = name_check("deployment", name)) < 0)
		return rc;
	if (!in_list(verb, verbs))
		return mlreg_error_set(MLREG_EINVALID,
				       "unknown rollout verb '%.64s': use pause, resume, promote, promote-full, abort or retry",
				       verb ? verb : "");
	snprintf(action, sizeof(action), "rollout.%s", verb);
	snprintf(msg, sizeof(msg), "%s requested by %.100s", verb, who->principal);
	ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "verb", verb);
	cJSON_AddStringToObject(ev, "by", who->principal);
	if (!(evtext = cJSON_PrintUnformatted(ev))) {
		cJSON_Delete(ev);
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	cJSON_Delete(ev);
	if ((rc = META(r)->begin(r->meta, &tx)) < 0) {
		free(evtext);
		return rc;
	}
	if ((rc = META(r)->deploy_rows(tx, name, &rows)) == 0 && (rc = verb_applies(rows->child, verb)) == 0) {
		id = (int64_t)cJSON_GetObjectItem(rows->child, "id")->valuedouble;
		d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "phase", util_json_str(rows->child, "phase"));
		cJSON_AddItemToObject(d, "target_version",
				      cJSON_Duplicate(cJSON_GetObjectItem(rows->child, "target_version"), true));
		cJSON_AddItemToObject(d, "rejected_version",
				      cJSON_Duplicate(cJSON_GetObjectItem(rows->child, "rejected_version"), true));
		if ((rc = META(r)->deploy_set_verb(tx, id, verb, who->principal, util_now_ms())) == 0 &&
		    (rc = META(r)->deploy_event_add(tx, id, util_now_ms(), "verb", msg, evtext)) == 0 &&
		    (rc = reg_ctl_touch(r, tx)) == 0 &&
		    (rc = reg_audit_append(r->meta, tx, who->principal, action, name, util_json_str(rows->child, "model"),
					   d)) == 0)
			rc = status_in(r, tx, id, &res);
		cJSON_Delete(d);
	}
	cJSON_Delete(rows);
	free(evtext);
	if ((rc = promo_finish(r, tx, rc)) < 0) {
		cJSON_Delete(res);
		return rc;
	}
	*out = res;
	return 0;
}

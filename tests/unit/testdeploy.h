/*
 * testdeploy.h - helpers shared by the deployment controller's registry
 * tests (test_deploy.c: nodes, deployments, verbs, status; test_deploy_ctl.c:
 * lease, fencing, snapshot, generation, events), which drive
 * registry/deploy.h through its public calls on a real registry, without
 * HTTP and without a reconciler: the tests write rollout state through
 * reg_ctl_write exactly as a reconciler would.  Header-only like
 * testpromo.h, on which it builds.
 *
 * A refused change must leave nothing behind, so deploy_snap records what
 * a change could have touched (the audit chain's length, the controller
 * generation, the whole controller snapshot, the node list) and
 * assert_deploy_unchanged compares two of them.
 */
#ifndef MLREG_TESTS_UNIT_TESTDEPLOY_H
#define MLREG_TESTS_UNIT_TESTDEPLOY_H

#include "testpromo.h"
#include "registry/deploy.h"

static inline int node_add(treg *t, const char *body, cJSON **out)
{
	cJSON *b = J(body), *o = NULL;
	int rc = reg_node_add(t->r, &t->admin, b, &o);
	cJSON_Delete(b);
	if (out)
		*out = o;
	else
		cJSON_Delete(o);
	return rc;
}

static inline void node_ok(treg *t, const char *body)
{
	if (node_add(t, body, NULL) != 0)
		fail_msg("reg_node_add(%s): %s", body, mlreg_error_last());
}

static inline int deploy_create(treg *t, const reg_principal *who, const char *body, cJSON **out)
{
	cJSON *b = J(body), *o = NULL;
	int rc = reg_deploy_create(t->r, who, b, &o);
	cJSON_Delete(b);
	if (out)
		*out = o;
	else
		cJSON_Delete(o);
	return rc;
}

static inline void deploy_ok(treg *t, const char *body)
{
	if (deploy_create(t, &t->admin, body, NULL) != 0)
		fail_msg("reg_deploy_create(%s): %s", body, mlreg_error_last());
}

static inline int verb(treg *t, const reg_principal *who, const char *name, const char *v)
{
	cJSON *o = NULL;
	int rc = reg_rollout_verb(t->r, who, name, v, &o);
	if (rc == 0)
		assert_non_null(o);
	else
		assert_null(o);
	cJSON_Delete(o);
	return rc;
}

static inline cJSON *status_of(treg *t, const char *name)
{
	cJSON *o = NULL;
	if (reg_deploy_status(t->r, name, &o) != 0)
		fail_msg("reg_deploy_status(%s): %s", name, mlreg_error_last());
	return o;
}

static inline int64_t generation(treg *t)
{
	int64_t g = -1;
	assert_int_equal(reg_ctl_generation(t->r, &g), 0);
	return g;
}

static inline cJSON *snap_all(treg *t)
{
	cJSON *o = NULL;
	if (reg_ctl_snapshot(t->r, &o) != 0)
		fail_msg("reg_ctl_snapshot: %s", mlreg_error_last());
	return o;
}

/* The snapshot entry of deployment name (borrowed from sn). */
static inline const cJSON *snap_deployment(const cJSON *sn, const char *name)
{
	for (const cJSON *d = cJSON_GetObjectItem(sn, "deployments")->child; d; d = d->next)
		if (!strcmp(util_json_str(d, "name"), name))
			return d;
	fail_msg("deployment '%s' not in the snapshot", name);
	return NULL;
}

static inline int64_t deployment_id(treg *t, const char *name)
{
	cJSON *s = snap_all(t);
	int64_t id = jnum(snap_deployment(s, name), "id");
	cJSON_Delete(s);
	return id;
}

/* reg_ctl_write with the state and events as JSON text (events may be NULL). */
static inline int ctl_write(treg *t, int64_t epoch, int64_t id, const char *state, bool consume, const char *events)
{
	cJSON *s = J(state), *e = events ? J(events) : NULL;
	int rc = reg_ctl_write(t->r, epoch, id, s, consume, e);
	cJSON_Delete(s);
	cJSON_Delete(e);
	return rc;
}

static inline int64_t lease_ok(treg *t, const char *holder, int64_t ttl_ms)
{
	bool held = false;
	int64_t epoch = 0;
	if (reg_ctl_lease(t->r, holder, ttl_ms, &held, &epoch) != 0)
		fail_msg("reg_ctl_lease(%s): %s", holder, mlreg_error_last());
	assert_true(held);
	return epoch;
}

typedef struct {
	int audit;
	int64_t gen;
	char *snapshot, *nodes, *events;
} deploy_snap;

static inline deploy_snap deploy_snapshot(treg *t)
{
	deploy_snap s;
	cJSON *o = snap_all(t), *n = NULL, *list = NULL, *all = cJSON_CreateArray();
	s.audit = audit_count(t, NULL);
	s.gen = generation(t);
	s.snapshot = cJSON_PrintUnformatted(o);
	assert_int_equal(reg_node_list(t->r, &n), 0);
	s.nodes = cJSON_PrintUnformatted(n);
	for (const cJSON *d = cJSON_GetObjectItem(o, "deployments")->child; d; d = d->next) {
		assert_int_equal(reg_deploy_events(t->r, util_json_str(d, "name"), 10000, &list), 0);
		cJSON_AddItemToArray(all, list);
	}
	s.events = cJSON_PrintUnformatted(all);
	cJSON_Delete(o);
	cJSON_Delete(n);
	cJSON_Delete(all);
	return s;
}

static inline void assert_deploy_unchanged(deploy_snap a, deploy_snap b)
{
	assert_int_equal(a.audit, b.audit);
	assert_int_equal(a.gen, b.gen);
	assert_string_equal(a.snapshot, b.snapshot);
	assert_string_equal(a.nodes, b.nodes);
	assert_string_equal(a.events, b.events);
	free(a.snapshot);
	free(b.snapshot);
	free(a.nodes);
	free(b.nodes);
	free(a.events);
	free(b.events);
}

#endif

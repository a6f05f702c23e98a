/*
 * test_deploy_ctl.c - unit tests for the reconciler's side of the registry
 * (registry/deploy_ctl.c through registry/deploy.h): the lease and its
 * fencing epoch, the snapshot and the exact round trip of the rollout
 * state, the desired version and how it was reached, the generation
 * counter and the in-process hook, and deployment events with their audit
 * entries and webhook rows.
 *
 * Fencing is what keeps two reconcilers from both acting, so the central
 * test makes one lose its lease and then write: the write must be refused
 * with MLREG_ECONFLICT and leave every table as it was (deploy_snapshot),
 * while the new holder's writes go through.  The generation test checks
 * every change that must wake a reconciler bumps it exactly once, in the
 * change's own transaction (a refused change bumps nothing), and that the
 * hook runs after the commit (it reads the new value).
 */
#include <math.h>
#include <time.h>
#include "testdeploy.h"

static const char *const DEP = "{\"name\":\"d1\",\"model\":\"m\",\"stage\":\"production\",\"selector\":{\"pool\":\"a\"},"
			       "\"steps\":\"weight:10,weight:100\"}";

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* ==== the lease and fencing ==== */

static void lease_take_renew_expire(void **state)
{
	treg *t = *state;
	bool held = true;
	int64_t e = -1;
	assert_int_equal(lease_ok(t, "ctl-a", 60000), 1);
	assert_int_equal(lease_ok(t, "ctl-a", 60000), 1); /* renewing keeps the epoch */
	assert_int_equal(reg_ctl_lease(t->r, "ctl-b", 60000, &held, &e), 0);
	assert_false(held);
	assert_int_equal(e, 1);
	/* a short lease lapses; the next holder gets a new epoch */
	assert_int_equal(lease_ok(t, "ctl-a", 30), 1);
	sleep_ms(60);
	assert_int_equal(lease_ok(t, "ctl-b", 60000), 2);
	/* released: anyone may take it at once */
	assert_int_equal(reg_ctl_release(t->r, "ctl-a"), 0); /* not the holder: nothing */
	assert_int_equal(reg_ctl_lease(t->r, "ctl-a", 60000, &held, &e), 0);
	assert_false(held);
	assert_int_equal(reg_ctl_release(t->r, "ctl-b"), 0);
	assert_int_equal(lease_ok(t, "ctl-a", 60000), 3);
	/* hostile holders and ttls */
	assert_int_equal(reg_ctl_lease(t->r, "", 1000, &held, &e), MLREG_EINVALID);
	assert_int_equal(reg_ctl_lease(t->r, "a b", 1000, &held, &e), MLREG_EINVALID);
	assert_int_equal(reg_ctl_lease(t->r, NULL, 1000, &held, &e), MLREG_EINVALID);
	assert_int_equal(reg_ctl_lease(t->r, "ok", 0, &held, &e), MLREG_EINVALID);
	assert_int_equal(reg_ctl_lease(t->r, "ok", -5, &held, &e), MLREG_EINVALID);
	assert_int_equal(reg_ctl_release(t->r, "a\nb"), MLREG_EINVALID);
}

static void stale_epoch_writes_nothing(void **state)
{
	treg *t = *state;
	int64_t id, a, b, node = 0;
	cJSON *sn, *obs = J("{\"healthy\":false,\"error\":\"down\",\"models\":[]}");
	deploy_snap before;
	push(t, "m", NULL);
	node_ok(t, "{\"name\":\"n1\",\"url\":\"http://127.0.0.1:1\",\"labels\":{\"pool\":\"a\"}}");
	deploy_ok(t, DEP);
	{
		cJSON *all = J("[\"*\"]");
		assert_int_equal(reg_webhook_add(t->r, &t->admin, "http://127.0.0.1:1/h", all, NULL, &sn), 0);
		cJSON_Delete(all);
		cJSON_Delete(sn);
	}
	id = deployment_id(t, "d1");
	sn = snap_all(t);
	node = jnum(cJSON_GetObjectItem(sn, "nodes")->child, "id");
	cJSON_Delete(sn);

	a = lease_ok(t, "ctl-a", 30);
	assert_int_equal(ctl_write(t, a, id, "{\"phase\":\"Healthy\",\"stable_version\":1,\"mine\":\"a\"}", false, NULL), 0);
	sleep_ms(60);
	b = lease_ok(t, "ctl-b", 60000);
	assert_true(b > a);

	/* a, paused past its lease, wakes up and writes: refused, nothing written */
	before = deploy_snapshot(t);
	{
		int64_t pending0 = 0, pending1 = 0;
		assert_int_equal(reg_outbox_pending(t->r, &pending0), 0);
		assert_int_equal(ctl_write(t, a, id, "{\"phase\":\"Degraded\",\"rejected_version\":1,\"mine\":\"stale\"}", true,
					   "[{\"kind\":\"rollout.aborted\",\"message\":\"stale\"},{\"kind\":\"note\"}]"),
				 MLREG_ECONFLICT);
		assert_true(contains(mlreg_error_last(), "stale"));
		assert_true(contains(mlreg_error_last(), "ctl-b"));
		assert_int_equal(reg_ctl_node_observed(t->r, a, node, obs, 3, 99), MLREG_ECONFLICT);
		/* epochs that were never handed out */
		assert_int_equal(ctl_write(t, 0, id, "{\"phase\":\"Healthy\"}", false, NULL), MLREG_ECONFLICT);
		assert_int_equal(ctl_write(t, b + 1, id, "{\"phase\":\"Healthy\"}", false, NULL), MLREG_ECONFLICT);
		assert_int_equal(reg_outbox_pending(t->r, &pending1), 0);
		assert_int_equal(pending0, pending1);
	}
	assert_deploy_unchanged(before, deploy_snapshot(t));

	/* the new holder's writes go through */
	assert_int_equal(ctl_write(t, b, id, "{\"phase\":\"Healthy\",\"stable_version\":1,\"mine\":\"b\"}", false, NULL), 0);
	assert_int_equal(reg_ctl_node_observed(t->r, b, node, obs, 3, 99), 0);
	sn = snap_all(t);
	assert_string_equal(util_json_str(cJSON_GetObjectItem(snap_deployment(sn, "d1"), "state"), "mine"), "b");
	assert_int_equal(jnum(cJSON_GetObjectItem(sn, "nodes")->child, "fails"), 3);
	assert_int_equal(jnum(cJSON_GetObjectItem(sn, "nodes")->child, "next_try_at"), 99);
	assert_string_equal(util_json_str(cJSON_GetObjectItem(cJSON_GetObjectItem(sn, "nodes")->child, "observed"), "error"),
			    "down");
	cJSON_Delete(sn);
	/* gone rows */
	assert_int_equal(ctl_write(t, b, id + 100, "{\"phase\":\"Healthy\"}", false, NULL), MLREG_ENOTFOUND);
	assert_int_equal(reg_ctl_node_observed(t->r, b, node + 100, obs, 0, 0), MLREG_ENOTFOUND);

	/* a pass's observations in one transaction: fenced, and a node removed
	 * meanwhile is skipped, not an error */
	{
		int64_t ids[2] = {node + 100, node}, fails[2] = {0, 5}, next[2] = {0, 1234};
		cJSON *o2 = J("{\"healthy\":true,\"error\":null,\"models\":[]}");
		cJSON *obs2[2] = {o2, o2};
		assert_int_equal(reg_ctl_nodes_observed(t->r, a, 2, ids, obs2, fails, next), MLREG_ECONFLICT);
		sn = snap_all(t);
		assert_int_equal(jnum(cJSON_GetObjectItem(sn, "nodes")->child, "fails"), 3); /* unchanged */
		cJSON_Delete(sn);
		assert_int_equal(reg_ctl_nodes_observed(t->r, b, 2, ids, obs2, fails, next), 0);
		sn = snap_all(t);
		assert_int_equal(jnum(cJSON_GetObjectItem(sn, "nodes")->child, "fails"), 5);
		assert_int_equal(jnum(cJSON_GetObjectItem(sn, "nodes")->child, "next_try_at"), 1234);
		assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(sn, "nodes")->child, "observed"), "healthy")));
		cJSON_Delete(sn);
		cJSON_Delete(o2);
	}
	cJSON_Delete(obs);
	assert_audit_ok(t);
}

/* ==== snapshot ==== */

static void state_round_trips_exactly(void **state)
{
	treg *t = *state;
	static const char *const st =
		"{\"phase\":\"Progressing\",\"stable_version\":1,\"target_version\":2,\"rejected_version\":null,"
		"\"step\":0,\"step_started_at\":1767225600123,\"big\":9007199254740991,\"neg\":-42,"
		"\"ratio\":0.1,\"tiny\":1e-300,\"third\":0.3333333333333333,\"pi\":3.141592653589793,"
		"\"text\":\"quote \\\" backslash \\\\ tab \\t nl \\n \\u00e9 \\u2603 \\ud83d\\ude00\",\"flag\":true,\"off\":false,"
		"\"none\":null,\"nodes\":{\"n1\":{\"loaded\":[1,2],\"weights\":{\"1\":90,\"2\":10},\"tries\":[]}},"
		"\"analysis\":[{\"step\":1,\"result\":\"Successful\",\"metrics\":{\"failure_rate\":0.0025,\"p99_ms\":12.5}}],"
		"\"empty\":{},\"deep\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"x\"]]]]]]]]]]]]]]]]]]]]]]]]]]]]}";
	cJSON *want = J(st), *sn, *got;
	int64_t id, epoch;
	push(t, "m", NULL);
	push(t, "m", NULL);
	deploy_ok(t, DEP);
	id = deployment_id(t, "d1");
	sn = snap_all(t);
	got = cJSON_GetObjectItem(snap_deployment(sn, "d1"), "state");
	assert_true(cJSON_IsObject(got) && !got->child); /* {} before the first write */
	cJSON_Delete(sn);
	epoch = lease_ok(t, "ctl", 60000);
	assert_int_equal(reg_ctl_write(t->r, epoch, id, want, false, NULL), 0);
	sn = snap_all(t);
	got = cJSON_GetObjectItem(snap_deployment(sn, "d1"), "state");
	if (!cJSON_Compare(want, got, true))
		fail_msg("state changed on the way:\n%s\n%s", cJSON_PrintUnformatted(want), cJSON_PrintUnformatted(got));
	{
		char *a = cJSON_PrintUnformatted(want), *b = cJSON_PrintUnformatted(got);
		assert_string_equal(a, b);
		free(a);
		free(b);
	}
	cJSON_Delete(sn);
	cJSON_Delete(want);

	/* states the registry cannot store or read back */
	{
		static const char *const bad[] = {
			"[]", "{\"phase\":\"Rolling\"}", "{\"phase\":1}", "{\"phase\":\"Healthy\",\"stable_version\":0}",
			"{\"phase\":\"Healthy\",\"target_version\":\"2\"}", "{\"phase\":\"Healthy\",\"rejected_version\":1.5}",
		};
		deploy_snap before = deploy_snapshot(t);
		cJSON *nan = J("{\"phase\":\"Healthy\"}");
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			if (ctl_write(t, epoch, id, bad[i], false, NULL) != MLREG_EINVALID)
				fail_msg("state %s must be refused", bad[i]);
		cJSON_AddNumberToObject(nan, "x", NAN);
		assert_int_equal(reg_ctl_write(t->r, epoch, id, nan, false, NULL), MLREG_EINVALID);
		cJSON_Delete(nan);
		assert_int_equal(reg_ctl_write(t->r, epoch, id, NULL, false, NULL), MLREG_EINVALID);
		/* and events that are not events */
		static const char *const badev[] = {
			"{}", "[1]", "[{}]", "[{\"kind\":\"\"}]", "[{\"kind\":\"Bad Kind\"}]", "[{\"kind\":\"rollout.\"}]",
			"[{\"kind\":\"x\",\"message\":5}]", "[{\"kind\":\"x\",\"details\":[]}]",
		};
		for (size_t i = 0; i < sizeof(badev) / sizeof(badev[0]); i++)
			if (ctl_write(t, epoch, id, "{\"phase\":\"Healthy\"}", false, badev[i]) != MLREG_EINVALID)
				fail_msg("events %s must be refused", badev[i]);
		assert_deploy_unchanged(before, deploy_snapshot(t));
	}
}

static void desired_and_how_it_was_reached(void **state)
{
	treg *t = *state;
	int64_t v1 = push(t, "m", NULL), v2 = push(t, "m", NULL);
	char digest[UTIL_DIGEST_LEN + 1];
	cJSON *sn, *v = NULL;
	const cJSON *d;
	deploy_ok(t, DEP);
	deploy_ok(t, "{\"name\":\"d2\",\"model\":\"m\",\"alias\":\"champion\",\"selector\":{\"pool\":\"a\"}}");
	sn = snap_all(t);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(snap_deployment(sn, "d1"), "desired")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(snap_deployment(sn, "d2"), "desired")));
	d = snap_deployment(sn, "d1");
	assert_string_equal(util_json_str(d, "steps"), "weight:10,weight:100");
	assert_string_equal(util_json_str(d, "strategy"), "canary");
	assert_int_equal(jnum(d, "progress_deadline_ms"), 600000);
	assert_true(cJSON_IsObject(cJSON_GetObjectItem(d, "selector")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(snap_deployment(sn, "d2"), "steps")));
	cJSON_Delete(sn);

	promote_ok(t, &t->admin, "m", "production", v1, 0);
	promote_ok(t, &t->admin, "m", "production", v2, v1);
	assert_int_equal(alias_set(t, "m", "champion", "{\"version\":1}", NULL), 0);
	sn = snap_all(t);
	d = cJSON_GetObjectItem(snap_deployment(sn, "d1"), "desired");
	assert_int_equal(jnum(d, "version"), v2);
	assert_string_equal(util_json_str(d, "via"), "promote");
	assert_int_equal(reg_version_get(t->r, "m", v2, false, &v), 0);
	snprintf(digest, sizeof(digest), "%s", util_json_str(v, "digest"));
	cJSON_Delete(v);
	assert_string_equal(util_json_str(d, "digest"), digest);
	d = cJSON_GetObjectItem(snap_deployment(sn, "d2"), "desired");
	assert_int_equal(jnum(d, "version"), v1);
	assert_string_equal(util_json_str(d, "via"), "alias");
	cJSON_Delete(sn);

	/* a registry rollback is named so: the reconciler's fast path */
	assert_int_equal(rollback(t, &t->admin, "m", "production", "{}", NULL), 0);
	sn = snap_all(t);
	d = cJSON_GetObjectItem(snap_deployment(sn, "d1"), "desired");
	assert_int_equal(jnum(d, "version"), v1);
	assert_string_equal(util_json_str(d, "via"), "rollback");
	cJSON_Delete(sn);
	assert_int_equal(reg_alias_remove(t->r, &t->admin, "m", "champion", &v), 0);
	cJSON_Delete(v);
	sn = snap_all(t);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(snap_deployment(sn, "d2"), "desired")));
	cJSON_Delete(sn);
}

/* A state without a phase is Healthy (as the reconciler reads its own);
 * any rollout.* kind is audited and announced, known names or not. */
static void phaseless_state_and_any_rollout_kind(void **state)
{
	treg *t = *state;
	int64_t id, epoch, pending = 0;
	cJSON *s, *all = J("[\"*\"]"), *o = NULL;
	push(t, "m", NULL);
	assert_int_equal(reg_webhook_add(t->r, &t->admin, "http://127.0.0.1:1/h", all, NULL, &o), 0);
	cJSON_Delete(all);
	cJSON_Delete(o);
	deploy_ok(t, DEP);
	s = status_of(t, "d1");
	assert_string_equal(util_json_str(s, "phase"), "Progressing"); /* not seen by a reconciler yet */
	assert_string_equal(util_json_str(s, "message"), "waiting for the controller");
	cJSON_Delete(s);
	id = deployment_id(t, "d1");
	epoch = lease_ok(t, "ctl", 60000);
	assert_int_equal(ctl_write(t, epoch, id, "{\"message\":\"no node matches the selector\"}", false,
				   "[{\"kind\":\"rollout.superseded\",\"message\":\"v2 superseded\"},"
				   "{\"kind\":\"rollout.something-new\",\"message\":\"later\"}]"),
			 0);
	s = status_of(t, "d1");
	assert_string_equal(util_json_str(s, "phase"), "Healthy");
	assert_string_equal(util_json_str(s, "message"), "no node matches the selector");
	cJSON_Delete(s);
	assert_int_equal(audit_count(t, "rollout.superseded"), 1);
	assert_int_equal(audit_count(t, "rollout.something-new"), 1);
	assert_int_equal(reg_outbox_pending(t->r, &pending), 0);
	assert_int_equal(pending, 2);
	assert_int_equal(ctl_write(t, epoch, id, "{\"phase\":null,\"stable_version\":1}", false, NULL), 0);
	s = status_of(t, "d1");
	assert_string_equal(util_json_str(s, "phase"), "Healthy");
	assert_string_equal(util_json_str(s, "message"), ""); /* written: no longer waiting */
	cJSON_Delete(s);
	assert_audit_ok(t);
}

/* ==== the generation and the hook ==== */

typedef struct {
	treg *t;
	int calls;
	int64_t seen;
} hook_ctx;

static void on_ctl(void *p)
{
	hook_ctx *h = p;
	h->calls++;
	h->seen = generation(h->t); /* after the commit: the new value is visible */
}

static void generation_bumps_once_per_change(void **state)
{
	treg *t = *state;
	hook_ctx h = {t, 0, -1};
	int64_t g, id, epoch, v1, v2;
	reg_principal dep;
	cJSON *o = NULL;
	principal(t, "ops", "deployer", &dep);
	v1 = push(t, "m", NULL);
	v2 = push(t, "m", NULL);
	reg_set_ctl_hook(t->r, on_ctl, &h);
	g = generation(t);
#define BUMPED(what)                                                                   \
	do {                                                                           \
		g++;                                                                   \
		if (generation(t) != g)                                                \
			fail_msg("%s: generation %lld, expected %lld", what,           \
				 (long long)generation(t), (long long)g);              \
		assert_int_equal(h.seen, g);                                           \
	} while (0)
	promote_ok(t, &t->admin, "m", "production", v1, 0);
	BUMPED("promote");
	promote_ok(t, &t->admin, "m", "production", v2, v1);
	BUMPED("second promote");
	assert_int_equal(rollback(t, &t->admin, "m", "production", "{}", NULL), 0);
	BUMPED("rollback");
	assert_int_equal(alias_set(t, "m", "champion", "{\"version\":1}", NULL), 0);
	BUMPED("alias set");
	assert_int_equal(reg_alias_remove(t->r, &t->admin, "m", "champion", &o), 0);
	cJSON_Delete(o);
	BUMPED("alias remove");
	node_ok(t, "{\"name\":\"n1\",\"url\":\"http://127.0.0.1:1\"}");
	BUMPED("node add");
	assert_int_equal(reg_node_remove(t->r, &t->admin, "n1", &o), 0);
	cJSON_Delete(o);
	BUMPED("node remove");
	deploy_ok(t, DEP);
	BUMPED("deployment create");
	id = deployment_id(t, "d1");
	epoch = lease_ok(t, "ctl", 60000);
	assert_int_equal(h.calls, 8);

	/* the reconciler's own writes do not wake it */
	assert_int_equal(ctl_write(t, epoch, id, "{\"phase\":\"Progressing\",\"stable_version\":1,\"target_version\":2}", false,
				   "[{\"kind\":\"rollout.started\"}]"),
			 0);
	assert_int_equal(generation(t), g);
	assert_int_equal(h.calls, 8);
	assert_int_equal(verb(t, &dep, "d1", "pause"), 0);
	BUMPED("verb");

	/* refused changes bump nothing */
	assert_int_equal(promote(t, &t->admin, "m", "production", "{\"version\":1,\"expect_current\":2}", NULL), MLREG_ECONFLICT);
	assert_int_equal(rollback(t, &t->admin, "m", "staging", "{}", NULL), MLREG_EREFUSED);
	assert_int_equal(promote(t, &t->admin, "m", "production", "{\"version\":1}", NULL), 0); /* already holds it: no move */
	assert_int_equal(verb(t, &dep, "d1", "resume"), MLREG_ECONFLICT);
	assert_int_equal(deploy_create(t, &t->admin, DEP, NULL), MLREG_EEXISTS);
	assert_int_equal(node_add(t, "{\"name\":\"n1\",\"url\":\"ftp://x\"}", NULL), MLREG_EINVALID);
	assert_int_equal(generation(t), g);
	assert_int_equal(h.calls, 9);
	assert_int_equal(reg_deploy_remove(t->r, &t->admin, "d1", &o), 0);
	cJSON_Delete(o);
	BUMPED("deployment remove");
#undef BUMPED
	reg_set_ctl_hook(t->r, NULL, NULL);
	assert_int_equal(alias_set(t, "m", "champion", "{\"version\":1}", NULL), 0);
	assert_int_equal(h.calls, 10); /* no hook, no call; the counter still moves */
	assert_int_equal(generation(t), g + 1);
}

/* ==== events ==== */

static void events_newest_first_with_audit_and_webhooks(void **state)
{
	treg *t = *state;
	reg_principal dep;
	int64_t id, epoch, pending = 0;
	int audits;
	cJSON *o = NULL, *e;
	principal(t, "ops", "deployer", &dep);
	push(t, "m", NULL);
	push(t, "m", NULL);
	{
		cJSON *ev = J("[\"rollout.aborted\"]");
		assert_int_equal(reg_webhook_add(t->r, &t->admin, "http://127.0.0.1:1/h", ev, NULL, &o), 0);
		cJSON_Delete(ev);
		cJSON_Delete(o);
	}
	deploy_ok(t, DEP);
	id = deployment_id(t, "d1");
	epoch = lease_ok(t, "ctl", 60000);
	assert_int_equal(ctl_write(t, epoch, id, "{\"phase\":\"Progressing\",\"stable_version\":1,\"target_version\":2,\"step\":0}",
				   false, "[{\"kind\":\"rollout.started\",\"message\":\"rolling out 2\"},{\"kind\":\"load\",\"message\":\"n1 loaded 2\"}]"),
			 0);
	assert_int_equal(verb(t, &dep, "d1", "abort"), 0);
	audits = audit_count(t, NULL);
	assert_int_equal(ctl_write(t, epoch, id, "{\"phase\":\"Degraded\",\"stable_version\":1,\"rejected_version\":2}", true,
				   "[{\"kind\":\"rollout.aborted\",\"message\":\"aborted by ops\",\"details\":{\"failure_rate\":0.25,\"requests\":40}},"
				   "{\"kind\":\"unload\",\"message\":\"n1 unloaded 2\"}]"),
			 0);
	/* one audit entry for the rollout.* event, none for the others */
	assert_int_equal(audit_count(t, NULL), audits + 1);
	e = audit_last(t);
	assert_string_equal(util_json_str(e, "action"), "rollout.aborted");
	assert_string_equal(util_json_str(e, "actor"), "controller");
	assert_string_equal(util_json_str(e, "subject"), "d1");
	assert_string_equal(util_json_str(e, "model"), "m");
	/* floats reach the hash chain as strings */
	assert_string_equal(util_json_str(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "details"), "details"), "failure_rate"),
			    "0.25");
	cJSON_Delete(e);
	assert_int_equal(audit_count(t, "rollout.started"), 1);
	assert_audit_ok(t);
	/* the webhook subscribed to rollout.aborted only */
	assert_int_equal(reg_outbox_pending(t->r, &pending), 0);
	assert_int_equal(pending, 1);
	{
		cJSON *due = NULL, *body = NULL;
		const char *text;
		assert_int_equal(reg_outbox_due(t->r, util_now_ms() + 1000, 10, &due), 0);
		assert_int_equal(cJSON_GetArraySize(due), 1);
		text = util_json_str(due->child, "body");
		assert_int_equal(util_json_parse(text, strlen(text), 32, &body), 0);
		assert_string_equal(util_json_str(body, "event"), "rollout.aborted");
		assert_string_equal(util_json_str(body, "deployment"), "d1");
		assert_string_equal(util_json_str(body, "stage"), "production");
		assert_string_equal(util_json_str(body, "phase"), "Degraded");
		assert_int_equal(jnum(body, "rejected_version"), 2);
		assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(body, "details"), "failure_rate")->valuedouble == 0.25);
		cJSON_Delete(body);
		cJSON_Delete(due);
	}

	/* newest first, limited */
	assert_int_equal(reg_deploy_events(t->r, "d1", 100, &o), 0);
	{
		static const char *const kinds[] = {"unload", "rollout.aborted", "verb", "load", "rollout.started", "created"};
		const cJSON *ev = cJSON_GetObjectItem(o, "events")->child;
		for (size_t i = 0; i < 6; i++, ev = ev->next) {
			assert_non_null(ev);
			assert_string_equal(util_json_str(ev, "kind"), kinds[i]);
			assert_non_null(util_json_str(ev, "time"));
			assert_true(cJSON_IsObject(cJSON_GetObjectItem(ev, "details")));
		}
		assert_null(ev);
	}
	cJSON_Delete(o);
	assert_int_equal(reg_deploy_events(t->r, "d1", 2, &o), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "events")), 2);
	assert_string_equal(util_json_str(cJSON_GetObjectItem(o, "events")->child->next, "message"), "aborted by ops");
	cJSON_Delete(o);
	o = NULL;
	assert_int_equal(reg_deploy_events(t->r, "d1", 0, &o), MLREG_EINVALID);
	assert_int_equal(reg_deploy_events(t->r, "d1", 10001, &o), MLREG_EINVALID);
	/* a deployment of the same name later starts with no events */
	assert_int_equal(reg_deploy_remove(t->r, &t->admin, "d1", &o), 0);
	cJSON_Delete(o);
	deploy_ok(t, DEP);
	assert_int_equal(reg_deploy_events(t->r, "d1", 100, &o), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "events")), 1);
	cJSON_Delete(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(lease_take_renew_expire, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(stale_epoch_writes_nothing, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(state_round_trips_exactly, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(desired_and_how_it_was_reached, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(phaseless_state_and_any_rollout_kind, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(generation_bumps_once_per_change, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(events_newest_first_with_audit_and_webhooks, treg_setup, treg_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

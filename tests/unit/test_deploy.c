/*
 * test_deploy.c - unit tests for the registry's side of the deployment
 * controller as the API and CLI use it (registry/deploy.c through
 * registry/deploy.h): adding, listing and removing nodes, creating,
 * reading and removing deployments, rollout verbs against the phase, the
 * status object, and the versions and stages a deployment keeps in use.
 *
 * Everything that reaches these calls comes from the network, so most of
 * the file is hostile input: every refusal must name the problem and
 * change nothing at all (no row, no event, no audit entry, no generation
 * bump), which deploy_snapshot compares before and after.  The reconciler
 * does not exist here; rollout state is written with reg_ctl_write as it
 * would write it.
 */
#include "testdeploy.h"

static const char *const DEP = "{\"name\":\"fraud-prod\",\"model\":\"m\",\"stage\":\"production\","
			       "\"selector\":{\"pool\":\"a\"},\"steps\":\"weight:10,analysis:30s,weight:100\"}";

/* ==== nodes ==== */

static void node_add_list_remove(void **state)
{
	treg *t = *state;
	cJSON *o = NULL, *l = NULL;
	const cJSON *n;
	assert_int_equal(node_add(t, "{\"name\":\"n1\",\"url\":\"http://127.0.0.1:8471/\",\"labels\":{\"pool\":\"a\",\"zone\":\"Eu-1\"}}", &o),
			 0);
	assert_string_equal(util_json_str(o, "name"), "n1");
	assert_string_equal(util_json_str(o, "url"), "http://127.0.0.1:8471"); /* no trailing '/' */
	assert_string_equal(util_json_str(o, "driver"), "mlreg");
	assert_string_equal(util_json_str(cJSON_GetObjectItem(o, "labels"), "zone"), "Eu-1");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "observed")));
	assert_string_equal(util_json_str(o, "created_by"), "admin");
	assert_non_null(util_json_str(o, "created_at"));
	cJSON_Delete(o);
	assert_last_audit(t, "node.add", "n1", "admin");
	node_ok(t, "{\"name\":\"a.node_2-x\",\"url\":\"https://[::1]:9/base/path\",\"driver\":\"mlreg\"}");

	assert_int_equal(reg_node_list(t->r, &l), 0);
	n = cJSON_GetObjectItem(l, "nodes");
	assert_int_equal(cJSON_GetArraySize(n), 2);
	assert_string_equal(util_json_str(n->child, "name"), "a.node_2-x"); /* by name */
	assert_string_equal(util_json_str(n->child, "url"), "https://[::1]:9/base/path");
	assert_true(cJSON_IsObject(cJSON_GetObjectItem(n->child, "labels")));
	cJSON_Delete(l);

	assert_int_equal(node_add(t, "{\"name\":\"n1\",\"url\":\"http://127.0.0.2:1\"}", NULL), MLREG_EEXISTS);
	assert_int_equal(reg_node_remove(t->r, &t->admin, "n1", &o), 0);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "removed")));
	cJSON_Delete(o);
	o = NULL;
	assert_last_audit(t, "node.remove", "n1", "admin");
	assert_int_equal(reg_node_remove(t->r, &t->admin, "n1", &o), MLREG_ENOTFOUND);
	assert_int_equal(reg_node_remove(t->r, &t->admin, "../x", &o), MLREG_EINVALID);
	assert_null(o);
	assert_audit_ok(t);
}

static void node_hostile(void **state)
{
	treg *t = *state;
	static const char *const bad[][2] = {
		{"{\"name\":\"N1\",\"url\":\"http://h\"}", "invalid node name"},
		{"{\"name\":\"\",\"url\":\"http://h\"}", "invalid node name"},
		{"{\"name\":\"-n\",\"url\":\"http://h\"}", "invalid node name"},
		{"{\"name\":\"n..1\",\"url\":\"http://h\"}", "invalid node name"},
		{"{\"name\":\"a/b\",\"url\":\"http://h\"}", "invalid node name"},
		{"{\"name\":\"n x\",\"url\":\"http://h\"}", "invalid node name"},
		{"{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"url\":\"http://h\"}",
		 "invalid node name"},
		{"{\"name\":5,\"url\":\"http://h\"}", "invalid node name"},
		{"{\"url\":\"http://h\"}", "invalid node name"},
		{"{\"name\":\"n\"}", "node url"},
		{"{\"name\":\"n\",\"url\":\"http://user:pw@h:1/\"}", "user info"},
		{"{\"name\":\"n\",\"url\":\"http://user@h\"}", "user info"},
		{"{\"name\":\"n\",\"url\":\"ftp://h\"}", "http:// or https://"},
		{"{\"name\":\"n\",\"url\":\"HTTP://h\"}", "http:// or https://"},
		{"{\"name\":\"n\",\"url\":\"h:80\"}", "http:// or https://"},
		{"{\"name\":\"n\",\"url\":\"http://\"}", "no host"},
		{"{\"name\":\"n\",\"url\":\"http://h:0\"}", "bad port"},
		{"{\"name\":\"n\",\"url\":\"http://h:65536\"}", "bad port"},
		{"{\"name\":\"n\",\"url\":\"http://h:8x\"}", "bad port"},
		{"{\"name\":\"n\",\"url\":\"http://h/?q=1\"}", "query"},
		{"{\"name\":\"n\",\"url\":\"http://h#f\"}", "query"},
		{"{\"name\":\"n\",\"url\":\"http://h/a b\"}", "bad character"},
		{"{\"name\":\"n\",\"url\":\"http://h_x/\"}", "bad host"},
		{"{\"name\":\"n\",\"url\":\"http://[zz::1]/\"}", "IPv6"},
		{"{\"name\":\"n\",\"url\":\"http://h\",\"driver\":\"triton\"}", "unknown node driver"},
		{"{\"name\":\"n\",\"url\":\"http://h\",\"driver\":7}", "'driver' must be a string"},
		{"{\"name\":\"n\",\"url\":\"http://h\",\"labels\":[]}", "labels must be an object"},
		{"{\"name\":\"n\",\"url\":\"http://h\",\"labels\":{\"Pool\":\"a\"}}", "invalid label key"},
		{"{\"name\":\"n\",\"url\":\"http://h\",\"labels\":{\"pool\":\"a b\"}}", "invalid value of label"},
		{"{\"name\":\"n\",\"url\":\"http://h\",\"labels\":{\"pool\":\"\"}}", "invalid value of label"},
		{"{\"name\":\"n\",\"url\":\"http://h\",\"labels\":{\"pool\":1}}", "invalid value of label"},
		{"{\"name\":\"n\",\"url\":\"http://h\",\"labels\":{\"a\":\"1\",\"a\":\"2\"}}", "given twice"},
		{"{\"name\":\"n\",\"url\":\"http://h\",\"color\":\"red\"}", "unknown member"},
		{"[\"n\"]", "JSON object"},
	};
	deploy_snap before = deploy_snapshot(t);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cJSON *o = NULL;
		if (node_add(t, bad[i][0], &o) != MLREG_EINVALID)
			fail_msg("node %s must be refused", bad[i][0]);
		assert_null(o);
		if (!contains(mlreg_error_last(), bad[i][1]))
			fail_msg("node %s: message '%s' lacks '%s'", bad[i][0], mlreg_error_last(), bad[i][1]);
	}
	{ /* 33 labels */
		util_buf b;
		util_buf_init(&b, 1 << 16);
		util_buf_puts(&b, "{\"name\":\"n\",\"url\":\"http://h\",\"labels\":{");
		for (int i = 0; i < 33; i++)
			util_buf_printf(&b, "%s\"k%d\":\"v\"", i ? "," : "", i);
		util_buf_puts(&b, "}}");
		assert_int_equal(node_add(t, b.ptr, NULL), MLREG_EINVALID);
		assert_true(contains(mlreg_error_last(), "at most 32"));
		util_buf_release(&b);
	}
	assert_deploy_unchanged(before, deploy_snapshot(t));
}

/* ==== deployments ==== */

static void deploy_create_and_read(void **state)
{
	treg *t = *state;
	cJSON *o = NULL, *l = NULL, *settings;
	push(t, "m", NULL);
	assert_int_equal(deploy_create(t, &t->admin, DEP, &o), 0);
	assert_string_equal(util_json_str(o, "name"), "fraud-prod");
	assert_string_equal(util_json_str(o, "model"), "m");
	assert_string_equal(util_json_str(o, "stage"), "production");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "alias")));
	assert_string_equal(util_json_str(o, "strategy"), "canary");
	assert_string_equal(util_json_str(o, "steps"), "weight:10,analysis:30s,weight:100");
	assert_string_equal(util_json_str(o, "phase"), "Progressing");
	assert_string_equal(util_json_str(o, "message"), "waiting for the controller");
	assert_ver(o, "stable_version", 0);
	assert_ver(o, "target_version", 0);
	assert_ver(o, "rejected_version", 0);
	assert_ver(o, "desired_version", 0); /* the stage is empty */
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "step")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "verb")));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "nodes")), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "analysis")), 0);
	settings = cJSON_GetObjectItem(o, "settings");
	assert_int_equal(jnum(settings, "min_requests"), 50);
	assert_int_equal(jnum(settings, "failure_limit"), 3);
	assert_int_equal(jnum(settings, "max_unavailable"), 1);
	assert_string_equal(util_json_str(settings, "progress_deadline"), "10m");
	assert_string_equal(util_json_str(settings, "scale_down_delay"), "30s");
	assert_string_equal(util_json_str(settings, "analysis_interval"), "10s");
	assert_true(cJSON_GetObjectItem(settings, "failure_margin")->valuedouble == 0.01);
	assert_string_equal(util_json_str(settings, "analysis"), "");
	cJSON_Delete(o);
	assert_last_audit(t, "deployment.create", "fraud-prod", "admin");

	/* an alias deployment with every setting, analysis normalised */
	deploy_ok(t, "{\"name\":\"champ\",\"model\":\"m\",\"alias\":\"champion\",\"selector\":{\"pool\":\"b\",\"gpu\":\"no\"},"
		     "\"strategy\":\"blue-green\",\"analysis\":\"failure_rate < 0.01, p99_ms<=250\",\"min_requests\":0,"
		     "\"failure_limit\":1,\"max_unavailable\":4,\"progress_deadline\":\"1h\",\"scale_down_delay\":\"0s\","
		     "\"analysis_interval\":\"500ms\",\"failure_margin\":0.5}");
	o = status_of(t, "champ");
	assert_string_equal(util_json_str(o, "alias"), "champion");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "steps"))); /* the preset */
	settings = cJSON_GetObjectItem(o, "settings");
	assert_string_equal(util_json_str(settings, "analysis"), "failure_rate<0.01,p99_ms<=250");
	assert_string_equal(util_json_str(settings, "scale_down_delay"), "0ms");
	assert_string_equal(util_json_str(settings, "analysis_interval"), "500ms");
	assert_int_equal(jnum(settings, "max_unavailable"), 4);
	cJSON_Delete(o);

	assert_int_equal(reg_deploy_list(t->r, &l), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(l, "deployments")), 2);
	assert_string_equal(util_json_str(cJSON_GetObjectItem(l, "deployments")->child, "name"), "champ");
	cJSON_Delete(l);

	assert_int_equal(deploy_create(t, &t->admin, DEP, NULL), MLREG_EEXISTS);
	o = NULL;
	assert_int_equal(reg_deploy_status(t->r, "nope", &o), MLREG_ENOTFOUND);
	assert_int_equal(reg_deploy_status(t->r, "No!", &o), MLREG_EINVALID);
	assert_int_equal(reg_deploy_remove(t->r, &t->admin, "champ", &o), 0);
	cJSON_Delete(o);
	assert_last_audit(t, "deployment.remove", "champ", "admin");
	o = NULL;
	assert_int_equal(reg_deploy_remove(t->r, &t->admin, "champ", &o), MLREG_ENOTFOUND);
	assert_int_equal(reg_deploy_events(t->r, "champ", 10, &o), MLREG_ENOTFOUND);
	assert_null(o);
	assert_audit_ok(t);
}

static void deploy_hostile(void **state)
{
	treg *t = *state;
	static const char *const bad[][3] = {
		/* body, code, message part */
		{"{\"name\":\"d\",\"model\":\"nope\",\"stage\":\"production\",\"selector\":{\"a\":\"b\"}}", "NOTFOUND", "model 'nope'"},
		{"{\"name\":\"d\",\"model\":\"m\",\"stage\":\"qa\",\"selector\":{\"a\":\"b\"}}", "NOTFOUND", "unknown stage 'qa'"},
		{"{\"name\":\"d\",\"model\":\"m\",\"stage\":\"production\",\"alias\":\"c\",\"selector\":{\"a\":\"b\"}}", "", "exactly one"},
		{"{\"name\":\"d\",\"model\":\"m\",\"selector\":{\"a\":\"b\"}}", "", "exactly one"},
		{"{\"name\":\"d\",\"model\":\"m\",\"stage\":\"Prod\",\"selector\":{\"a\":\"b\"}}", "", "invalid stage"},
		{"{\"name\":\"d\",\"model\":\"m\",\"alias\":\"latest\",\"selector\":{\"a\":\"b\"}}", "", "invalid alias"},
		{"{\"name\":\"d\",\"model\":\"m\",\"alias\":\"@c\",\"selector\":{\"a\":\"b\"}}", "", "invalid alias"},
		{"{\"name\":\"D\",\"model\":\"m\",\"stage\":\"production\",\"selector\":{\"a\":\"b\"}}", "", "invalid deployment name"},
		{"{\"name\":\"d/x\",\"model\":\"m\",\"stage\":\"production\",\"selector\":{\"a\":\"b\"}}", "", "invalid deployment name"},
		{"{\"name\":\"d\",\"model\":\"M\",\"stage\":\"production\",\"selector\":{\"a\":\"b\"}}", "", "invalid model name"},
		{"{\"name\":\"d\",\"model\":\"m\",\"stage\":\"production\"}", "", "selector"},
		{"{\"name\":\"d\",\"model\":\"m\",\"stage\":\"production\",\"selector\":{}}", "", "at least one label"},
		{"{\"name\":\"d\",\"model\":\"m\",\"stage\":\"production\",\"selector\":\"a=b\"}", "", "selector must be an object"},
		{"{\"name\":\"d\",\"model\":\"m\",\"stage\":\"production\",\"selector\":{\"a\":\"b,c\"}}", "", "invalid value"},
		{"{\"name\":\"d\",\"model\":\"m\",\"stage\":\"production\",\"selector\":{\"9\":\"b\"}}", "", "invalid label key"},
		{"{\"name\":\"d\",\"model\":\"m\",\"stage\":\"production\",\"selector\":{\"a\":null}}", "", "invalid value"},
		{"{\"name\":\"d\",\"model\":\"m\",\"stage\":\"production\",\"selector\":{\"a\":\"b\"},\"strategy\":\"yolo\"}", "", "unknown strategy"},
		{"{\"name\":\"d\",\"model\":\"m\",\"stage\":\"production\",\"selector\":{\"a\":\"b\"},\"steps\":\"\"}", "", "steps must be"},
		{"{\"name\":\"d\",\"model\":\"m\",\"stage\":\"production\",\"selector\":{\"a\":\"b\"},\"steps\":\"weight:10; rm -rf\"}", "", "invalid steps"},
		{"{\"name\":\"d\",\"model\":\"m\",\"stage\":\"production\",\"selector\":{\"a\":\"b\"},\"steps\":\"Weight:10\"}", "", "invalid steps"},
		{"{\"name\":\"d\",\"model\":\"m\",\"stage\":\"production\",\"selector\":{\"a\":\"b\"},\"steps\":[\"weight:10\"]}", "", "'steps' must be a string"},
		{"{\"name\":\"d\",\"model\":\"m\",\"stage\":\"production\",\"selector\":{\"a\":\"b\"},\"analysis\":\"accuracy>0.9\"}", "", "invalid analysis condition"},
		{"{\"name\":\"d\",\"model\":\"m\",\"stage\":\"production\",\"selector\":{\"a\":\"b\"},\"analysis\":\"failure_rate=>0.1\"}", "", "invalid analysis condition"},
		{"{\"name\":\"d\",\"model\":\"m\",\"stage\":\"production\",\"selector\":{\"a\":\"b\"},\"analysis\":\"p99_ms<fast\"}", "", "invalid analysis condition"},
		{"{\"name\":\"d\",\"model\":\"m\",\"stage\":\"production\",\"selector\":{\"a\":\"b\"},\"analysis\":\"p99_ms<1,\"}", "", "invalid analysis condition"},
		{"{\"name\":\"d\",\"model\":\"m\",\"stage\":\"production\",\"selector\":{\"a\":\"b\"},\"min_requests\":-1}", "", "'min_requests'"},
		{"{\"name\":\"d\",\"model\":\"m\",\"stage\":\"production\",\"selector\":{\"a\":\"b\"},\"min_requests\":1.5}", "", "'min_requests'"},
		{"{\"name\":\"d\",\"model\":\"m\",\"stage\":\"production\",\"selector\":{\"a\":\"b\"},\"failure_limit\":0}", "", "'failure_limit'"},
		{"{\"name\":\"d\",\"model\":\"m\",\"stage\":\"production\",\"selector\":{\"a\":\"b\"},\"max_unavailable\":\"2\"}", "", "'max_unavailable'"},
		{"{\"name\":\"d\",\"model\":\"m\",\"stage\":\"production\",\"selector\":{\"a\":\"b\"},\"progress_deadline\":\"0s\"}", "", "'progress_deadline'"},
		{"{\"name\":\"d\",\"model\":\"m\",\"stage\":\"production\",\"selector\":{\"a\":\"b\"},\"progress_deadline\":\"31d\"}", "", "'progress_deadline'"},
		{"{\"name\":\"d\",\"model\":\"m\",\"stage\":\"production\",\"selector\":{\"a\":\"b\"},\"analysis_interval\":\"soon\"}", "", "'analysis_interval'"},
		{"{\"name\":\"d\",\"model\":\"m\",\"stage\":\"production\",\"selector\":{\"a\":\"b\"},\"scale_down_delay\":30}", "", "'scale_down_delay'"},
		{"{\"name\":\"d\",\"model\":\"m\",\"stage\":\"production\",\"selector\":{\"a\":\"b\"},\"failure_margin\":2}", "", "'failure_margin'"},
		{"{\"name\":\"d\",\"model\":\"m\",\"stage\":\"production\",\"selector\":{\"a\":\"b\"},\"failure_margin\":\"0.1\"}", "", "'failure_margin'"},
		{"{\"name\":\"d\",\"model\":\"m\",\"stage\":\"production\",\"selector\":{\"a\":\"b\"},\"replicas\":3}", "", "unknown member"},
		{"\"d\"", "", "JSON object"},
	};
	deploy_snap before;
	push(t, "m", NULL);
	before = deploy_snapshot(t);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cJSON *o = NULL;
		int want = !strcmp(bad[i][1], "NOTFOUND") ? MLREG_ENOTFOUND : MLREG_EINVALID;
		int rc = deploy_create(t, &t->admin, bad[i][0], &o);
		if (rc != want)
			fail_msg("deployment %s: expected %d, got %d (%s)", bad[i][0], want, rc, mlreg_error_last());
		assert_null(o);
		if (!contains(mlreg_error_last(), bad[i][2]))
			fail_msg("deployment %s: message '%s' lacks '%s'", bad[i][0], mlreg_error_last(), bad[i][2]);
	}
	{ /* steps past 1024 bytes, and 17 conditions */
		char *steps = tu_repeat('1', 1025), body[2048];
		snprintf(body, sizeof(body),
			 "{\"name\":\"d\",\"model\":\"m\",\"stage\":\"production\",\"selector\":{\"a\":\"b\"},\"steps\":\"%s\"}", steps);
		assert_int_equal(deploy_create(t, &t->admin, body, NULL), MLREG_EINVALID);
		free(steps);
		snprintf(body, sizeof(body), "{\"name\":\"d\",\"model\":\"m\",\"stage\":\"production\",\"selector\":{\"a\":\"b\"},"
					     "\"analysis\":\"p99_ms<1");
		for (int i = 0; i < 16; i++)
			strcat(body, ",p99_ms<1");
		strcat(body, "\"}");
		assert_int_equal(deploy_create(t, &t->admin, body, NULL), MLREG_EINVALID);
		assert_true(contains(mlreg_error_last(), "at most 16"));
	}
	assert_deploy_unchanged(before, deploy_snapshot(t));
}

/* ==== verbs ==== */

static void verbs_follow_the_phase(void **state)
{
	treg *t = *state;
	reg_principal dep;
	static const char *const all[] = {"pause", "resume", "promote", "promote-full", "abort", "retry"};
	int64_t id, epoch;
	cJSON *s;
	deploy_snap before;
	principal(t, "ops", "deployer", &dep);
	push(t, "m", NULL);
	push(t, "m", NULL);
	deploy_ok(t, DEP);
	id = deployment_id(t, "fraud-prod");
	epoch = lease_ok(t, "ctl-a", 60000);

	/* no rollout yet: nothing applies */
	before = deploy_snapshot(t);
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(verb(t, &dep, "fraud-prod", all[i]), MLREG_ECONFLICT);
		assert_true(contains(mlreg_error_last(), "fraud-prod"));
	}
	assert_int_equal(verb(t, &dep, "fraud-prod", "halt"), MLREG_EINVALID);
	assert_int_equal(verb(t, &dep, "fraud-prod", NULL), MLREG_EINVALID);
	assert_int_equal(verb(t, &dep, "nope", "pause"), MLREG_ENOTFOUND);
	assert_deploy_unchanged(before, deploy_snapshot(t));

	/* a rollout in progress */
	assert_int_equal(ctl_write(t, epoch, id, "{\"phase\":\"Progressing\",\"stable_version\":1,\"target_version\":2,\"step\":1}",
				   false, NULL),
			 0);
	assert_int_equal(verb(t, &dep, "fraud-prod", "resume"), MLREG_ECONFLICT);
	assert_true(contains(mlreg_error_last(), "not paused"));
	assert_int_equal(verb(t, &dep, "fraud-prod", "retry"), MLREG_ECONFLICT);
	assert_int_equal(verb(t, &dep, "fraud-prod", "pause"), 0);
	assert_last_audit(t, "rollout.pause", "fraud-prod", "ops");
	s = snap_all(t);
	assert_string_equal(util_json_str(snap_deployment(s, "fraud-prod"), "verb"), "pause");
	cJSON_Delete(s);
	/* a later verb replaces a pending one */
	assert_int_equal(verb(t, &dep, "fraud-prod", "promote-full"), 0);
	s = status_of(t, "fraud-prod");
	assert_string_equal(util_json_str(s, "verb"), "promote-full");
	cJSON_Delete(s);
	assert_int_equal(verb(t, &dep, "fraud-prod", "abort"), 0);
	assert_int_equal(verb(t, &dep, "fraud-prod", "promote"), 0);

	/* the reconciler consumes it */
	assert_int_equal(ctl_write(t, epoch, id, "{\"phase\":\"Paused\",\"stable_version\":1,\"target_version\":2,\"step\":1}",
				   true, NULL),
			 0);
	s = snap_all(t);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(snap_deployment(s, "fraud-prod"), "verb")));
	cJSON_Delete(s);
	assert_int_equal(verb(t, &dep, "fraud-prod", "pause"), MLREG_ECONFLICT);
	assert_true(contains(mlreg_error_last(), "already paused"));
	assert_int_equal(verb(t, &dep, "fraud-prod", "resume"), 0);
	assert_int_equal(verb(t, &t->admin, "fraud-prod", "abort"), 0);

	/* aborted: the target is rejected */
	assert_int_equal(ctl_write(t, epoch, id, "{\"phase\":\"Degraded\",\"stable_version\":1,\"rejected_version\":2}", true, NULL),
			 0);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(verb(t, &dep, "fraud-prod", all[i]), MLREG_ECONFLICT);
	assert_int_equal(verb(t, &dep, "fraud-prod", "retry"), 0);
	assert_last_audit(t, "rollout.retry", "fraud-prod", "ops");

	/* roles are the API's table (t_deploy_roles.sh); the registry records who */
	assert_int_equal(audit_count(t, "rollout.pause"), 1);
	assert_int_equal(audit_count(t, "rollout.retry"), 1);
	assert_audit_ok(t);
}

/* ==== status ==== */

static void status_shows_state_and_nodes(void **state)
{
	treg *t = *state;
	int64_t id, epoch, n1 = 0, v1 = push(t, "m", NULL), v2 = push(t, "m", NULL);
	cJSON *s, *sn, *obs, *step, *nodes;
	node_ok(t, "{\"name\":\"n1\",\"url\":\"http://127.0.0.1:1\",\"labels\":{\"pool\":\"a\"}}");
	node_ok(t, "{\"name\":\"n2\",\"url\":\"http://127.0.0.1:2\",\"labels\":{\"pool\":\"b\"}}");
	node_ok(t, "{\"name\":\"n3\",\"url\":\"http://127.0.0.1:3\",\"labels\":{\"pool\":\"a\",\"x\":\"y\"}}");
	deploy_ok(t, DEP);
	promote_ok(t, &t->admin, "m", "production", v1, 0);
	id = deployment_id(t, "fraud-prod");
	epoch = lease_ok(t, "ctl", 60000);
	sn = snap_all(t);
	for (const cJSON *n = cJSON_GetObjectItem(sn, "nodes")->child; n; n = n->next)
		if (!strcmp(util_json_str(n, "name"), "n1"))
			n1 = jnum(n, "id");
	cJSON_Delete(sn);
	obs = J("{\"healthy\":true,\"error\":null,\"models\":[{\"name\":\"fraud-prod\",\"version\":\"1\",\"state\":\"READY\",\"weight\":90},"
		"{\"name\":\"fraud-prod\",\"version\":2,\"state\":\"READY\",\"weight\":10},{\"name\":\"other\",\"version\":7,\"weight\":100}]}");
	assert_int_equal(reg_ctl_node_observed(t->r, epoch, n1, obs, 0, 0), 0);
	cJSON_Delete(obs);
	assert_int_equal(ctl_write(t, epoch, id,
				   "{\"phase\":\"Progressing\",\"stable_version\":1,\"target_version\":2,\"step\":1,"
				   "\"message\":\"analysing\",\"analysis\":[{\"step\":1,\"result\":\"Inconclusive\",\"metrics\":{\"requests\":3}}]}",
				   false, NULL),
			 0);
	s = status_of(t, "fraud-prod");
	assert_string_equal(util_json_str(s, "phase"), "Progressing");
	assert_string_equal(util_json_str(s, "message"), "analysing");
	assert_ver(s, "stable_version", v1);
	assert_ver(s, "target_version", v2);
	assert_ver(s, "desired_version", v1);
	step = cJSON_GetObjectItem(s, "step");
	assert_int_equal(jnum(step, "index"), 1);
	assert_int_equal(jnum(step, "count"), 3);
	assert_string_equal(util_json_str(step, "kind"), "analysis");
	assert_string_equal(util_json_str(cJSON_GetObjectItem(s, "analysis")->child, "result"), "Inconclusive");
	nodes = cJSON_GetObjectItem(s, "nodes");
	assert_int_equal(cJSON_GetArraySize(nodes), 2); /* n1 and n3: pool=a */
	assert_string_equal(util_json_str(nodes->child, "name"), "n1");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(nodes->child, "healthy")));
	{
		const cJSON *vs = cJSON_GetObjectItem(nodes->child, "versions");
		assert_int_equal(cJSON_GetArraySize(vs), 2);
		assert_int_equal(jnum(vs->child, "version"), 1); /* "1" from the node, an integer here */
		assert_int_equal(jnum(vs->child, "weight"), 90);
		assert_int_equal(jnum(vs->child->next, "version"), 2);
	}
	assert_false(cJSON_IsTrue(cJSON_GetObjectItem(nodes->child->next, "healthy"))); /* n3: never observed */
	cJSON_Delete(s);

	/* the node list shows the observation with when and how often it failed */
	assert_int_equal(reg_node_list(t->r, &s), 0);
	obs = cJSON_GetObjectItem(cJSON_GetObjectItem(s, "nodes")->child, "observed");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(obs, "healthy")));
	assert_non_null(util_json_str(obs, "at"));
	assert_int_equal(jnum(obs, "fails"), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(obs, "models")), 3);
	cJSON_Delete(s);

	/* a step past the list, a step object, no target */
	assert_int_equal(ctl_write(t, epoch, id, "{\"phase\":\"Progressing\",\"stable_version\":1,\"target_version\":2,\"step\":7}",
				   false, NULL),
			 0);
	s = status_of(t, "fraud-prod");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(s, "step"), "kind")));
	cJSON_Delete(s);
	assert_int_equal(ctl_write(t, epoch, id, "{\"phase\":\"Healthy\",\"stable_version\":2,\"step\":1}", false, NULL), 0);
	s = status_of(t, "fraud-prod");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(s, "step")));
	assert_string_equal(util_json_str(s, "message"), "");
	cJSON_Delete(s);
}

/* ==== what a deployment keeps in use ==== */

static void versions_and_stages_in_use(void **state)
{
	treg *t = *state;
	int64_t id, epoch, v1 = push(t, "m", NULL), v2 = push(t, "m", NULL), v3 = push(t, "m", NULL);
	cJSON *o = NULL;
	(void)v1;
	deploy_ok(t, DEP);
	id = deployment_id(t, "fraud-prod");
	epoch = lease_ok(t, "ctl", 60000);
	assert_int_equal(ctl_write(t, epoch, id, "{\"phase\":\"Progressing\",\"stable_version\":2,\"target_version\":3}", false,
				   NULL),
			 0);
	assert_int_equal(reg_version_delete(t->r, &t->admin, "m", v2, &o), MLREG_ECONFLICT);
	assert_true(contains(mlreg_error_last(), "deployment 'fraud-prod' serves it as its stable version"));
	assert_int_equal(reg_version_delete(t->r, &t->admin, "m", v3, &o), MLREG_ECONFLICT);
	assert_true(contains(mlreg_error_last(), "as its target version"));
	assert_null(o);
	assert_int_equal(reg_version_delete(t->r, &t->admin, "m", v1, &o), 0);
	cJSON_Delete(o);
	o = NULL;
	/* once the deployment serves it no more, it may go */
	assert_int_equal(ctl_write(t, epoch, id, "{\"phase\":\"Healthy\",\"stable_version\":3}", false, NULL), 0);
	assert_int_equal(reg_version_delete(t->r, &t->admin, "m", v2, &o), 0);
	cJSON_Delete(o);
	o = NULL;

	/* the stage it follows cannot be removed; once it is gone, it can */
	assert_int_equal(stages_set(t, "{\"stages\":[\"staging\"]}", NULL), MLREG_ECONFLICT);
	assert_true(contains(mlreg_error_last(), "deployment 'fraud-prod' follows it"));
	assert_int_equal(reg_deploy_remove(t->r, &t->admin, "fraud-prod", &o), 0);
	cJSON_Delete(o);
	o = NULL;
	assert_int_equal(reg_version_delete(t->r, &t->admin, "m", v3, &o), 0);
	cJSON_Delete(o);
	assert_int_equal(stages_set(t, "{\"stages\":[\"staging\"]}", NULL), 0);
	assert_audit_ok(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(node_add_list_remove, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(node_hostile, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(deploy_create_and_read, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(deploy_hostile, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(verbs_follow_the_phase, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(status_shows_state_and_nodes, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(versions_and_stages_in_use, treg_setup, treg_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

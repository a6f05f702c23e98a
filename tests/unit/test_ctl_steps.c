/*
 * test_ctl_steps.c - unit tests for controller/steps.c: the rollout steps
 * a person writes, the presets, and the JSON the deployment row keeps.
 *
 * The text form is typed by people and read back by `deploy status`, the
 * JSON form is read by the reconciler on every pass, so both are held to
 * one set of rules here: every step kind, every refusal with the message
 * naming the bad step, and exact round trips (text -> steps -> text, steps
 * -> JSON -> steps).  The preset expansions are pinned against the table
 * in docs/controller.md.
 */
#include "testutil.h"
#include "controller/ctl.h"
#include "util/json.h"

static void parse_ok(const char *s, ctl_step *out, int *n)
{
	if (ctl_steps_parse(s, out, n) != 0)
		fail_msg("cannot parse '%s': %s", s, mlreg_error_last());
}

static void every_kind(void **state)
{
	ctl_step s[CTL_MAX_STEPS];
	int n = 0;
	parse_ok("weight:10,analysis:30s,weight:50,pause:1m,pause,shadow:10s,weight:100", s, &n);
	assert_int_equal(n, 7);
	assert_int_equal(s[0].kind, CTL_STEP_WEIGHT);
	assert_int_equal(s[0].weight, 10);
	assert_int_equal(s[1].kind, CTL_STEP_ANALYSIS);
	assert_int_equal(s[1].ms, 30000);
	assert_int_equal(s[2].weight, 50);
	assert_int_equal(s[3].kind, CTL_STEP_PAUSE);
	assert_int_equal(s[3].ms, 60000);
	assert_int_equal(s[4].kind, CTL_STEP_PAUSE);
	assert_int_equal(s[4].ms, -1);
	assert_int_equal(s[5].kind, CTL_STEP_SHADOW);
	assert_int_equal(s[5].ms, 10000);
	assert_int_equal(s[6].weight, 100);
	/* every duration unit, a bare number is seconds, blanks around steps */
	parse_ok(" pause:500ms ,\tanalysis:2h, shadow:1d,pause:7 ,weight:0", s, &n);
	assert_int_equal(n, 5);
	assert_int_equal(s[0].ms, 500);
	assert_int_equal(s[1].ms, 7200000);
	assert_int_equal(s[2].ms, 86400000);
	assert_int_equal(s[3].ms, 7000);
	assert_int_equal(s[4].weight, 0);
	/* exactly the maximum */
	{
		util_buf b;
		util_buf_init(&b, 1 << 16);
		for (int i = 0; i < CTL_MAX_STEPS; i++)
			assert_int_equal(util_buf_printf(&b, "%sweight:%d", i ? "," : "", i % 101), 0);
		parse_ok(b.ptr, s, &n);
		assert_int_equal(n, CTL_MAX_STEPS);
		assert_int_equal(s[CTL_MAX_STEPS - 1].weight, (CTL_MAX_STEPS - 1) % 101);
		assert_int_equal(util_buf_puts(&b, ",weight:1"), 0);
		assert_int_equal(ctl_steps_parse(b.ptr, s, &n), MLREG_EINVALID);
		assert_non_null(strstr(mlreg_error_last(), "more than 64"));
		util_buf_release(&b);
	}
}

static void refusals(void **state)
{
	static const struct {
		const char *s, *msg;
	} bad[] = {
		{"", "none given"},
		{"weight:101", "invalid step 1 'weight:101': weight must be 0 to 100"},
		{"weight:-1", "weight must be 0 to 100"},
		{"weight:+5", "weight must be 0 to 100"},
		{"weight: 5", "weight must be 0 to 100"},
		{"weight:1000", "weight must be 0 to 100"},
		{"weight:", "weight must be 0 to 100"},
		{"weight", "weight must be 0 to 100"},
		{"weight:10:5", "weight must be 0 to 100"},
		{"weight:5.5", "weight must be 0 to 100"},
		{"weight:10,analysis", "invalid step 2 'analysis': analysis needs a duration above zero"},
		{"analysis:0s", "analysis needs a duration above zero"},
		{"shadow:-1s", "shadow needs a duration above zero"},
		{"pause:", "pause needs a duration above zero"},
		{"pause:soon", "pause needs a duration above zero"},
		{"pause:0.1ms", "pause needs a duration above zero"},
		{"shadow", "shadow needs a duration above zero"},
		{"weight:10,,weight:100", "step 2 is empty"},
		{"weight:10,", "step 2 is empty"},
		{",weight:10", "step 1 is empty"},
		{"weight:10, ,weight:100", "step 2 is empty"},
		{"setWeight:10", "invalid step 1 'setWeight:10': expected weight:N"},
		{"Weight:10", "expected weight:N"},
		{"weight :10", "expected weight:N"},
		{"pause:1m weight:10", "pause needs a duration"},
	};
	ctl_step s[CTL_MAX_STEPS] = {{.kind = CTL_STEP_WEIGHT, .weight = 42}};
	int n = 7;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ctl_steps_parse(bad[i].s, s, &n) != MLREG_EINVALID)
			fail_msg("'%s' was accepted", bad[i].s);
		if (!strstr(mlreg_error_last(), bad[i].msg))
			fail_msg("'%s': message '%s' lacks '%s'", bad[i].s, mlreg_error_last(), bad[i].msg);
	}
	/* nothing written on failure */
	assert_int_equal(n, 7);
	assert_int_equal(s[0].weight, 42);
	assert_int_equal(ctl_steps_parse(NULL, s, &n), MLREG_EINVALID);
	{
		char *long_step = tu_repeat('9', 200), text[256];
		snprintf(text, sizeof(text), "weight:%s", long_step);
		assert_int_equal(ctl_steps_parse(text, s, &n), MLREG_EINVALID);
		assert_non_null(strstr(mlreg_error_last(), "longer than"));
		free(long_step);
	}
}

static void format(const ctl_step *s, int n, char *out, size_t outsz)
{
	util_buf b;
	util_buf_init(&b, 4096);
	assert_int_equal(ctl_steps_format(s, n, &b), 0);
	snprintf(out, outsz, "%s", b.ptr ? b.ptr : "");
	util_buf_release(&b);
}

static void presets(void **state)
{
	static const struct {
		const char *strategy;
		int64_t ms;
		const char *steps;
	} want[] = {
		{"recreate", 60000, "weight:100"},
		{"rolling", 60000, "weight:100"},
		{"canary", 60000, "weight:10,analysis:1m,weight:50,analysis:1m,weight:100"},
		{"canary", 30000, "weight:10,analysis:30s,weight:50,analysis:30s,weight:100"},
		{"canary", 0, "weight:10,analysis:1m,weight:50,analysis:1m,weight:100"},
		{"canary", -5, "weight:10,analysis:1m,weight:50,analysis:1m,weight:100"},
		{NULL, 1500, "weight:10,analysis:1500ms,weight:50,analysis:1500ms,weight:100"},
		{"blue-green", 120000, "weight:0,analysis:2m,weight:100"},
	};
	ctl_step s[CTL_MAX_STEPS];
	char text[512];
	int n;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_int_equal(ctl_steps_preset(want[i].strategy, want[i].ms, s, &n), 0);
		format(s, n, text, sizeof(text));
		assert_string_equal(text, want[i].steps);
	}
	n = 3;
	assert_int_equal(ctl_steps_preset("bluegreen", 1000, s, &n), MLREG_EINVALID);
	assert_non_null(strstr(mlreg_error_last(), "unknown strategy 'bluegreen'"));
	assert_int_equal(ctl_steps_preset("", 1000, s, &n), MLREG_EINVALID);
	assert_int_equal(n, 3);
}

static void text_round_trip(void **state)
{
	static const char *texts[] = {
		"weight:10,analysis:30s,weight:50,pause:1m,pause,shadow:10s,weight:100",
		"weight:0",
		"pause:1500ms,analysis:90s,shadow:90m,pause:36h,analysis:2d",
		"pause,pause,pause",
	};
	ctl_step s[CTL_MAX_STEPS], s2[CTL_MAX_STEPS];
	char text[512];
	int n, n2;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		parse_ok(texts[i], s, &n);
		format(s, n, text, sizeof(text));
		assert_string_equal(text, texts[i]);
		parse_ok(text, s2, &n2);
		assert_int_equal(n2, n);
		assert_memory_equal(s, s2, sizeof(s[0]) * (size_t)n);
	}
	/* a duration is printed in its largest exact unit */
	parse_ok("pause:60000ms,analysis:3600s", s, &n);
	format(s, n, text, sizeof(text));
	assert_string_equal(text, "pause:1m,analysis:1h");
	/* a full buffer is the buffer's error */
	{
		util_buf b;
		util_buf_init(&b, 8);
		parse_ok("weight:10,weight:100", s, &n);
		assert_int_equal(ctl_steps_format(s, n, &b), MLREG_ETOOBIG);
		util_buf_release(&b);
	}
}

static void json_round_trip(void **state)
{
	ctl_step s[CTL_MAX_STEPS], s2[CTL_MAX_STEPS];
	int n, n2;
	cJSON *j, *want;
	char *text;
	const char *expect = "[{\"kind\":\"weight\",\"weight\":10},{\"kind\":\"analysis\",\"ms\":30000},"
			     "{\"kind\":\"pause\",\"ms\":null},{\"kind\":\"pause\",\"ms\":60000},"
			     "{\"kind\":\"shadow\",\"ms\":10000},{\"kind\":\"weight\",\"weight\":100}]";
	parse_ok("weight:10,analysis:30s,pause,pause:1m,shadow:10s,weight:100", s, &n);
	j = ctl_steps_json(s, n);
	assert_non_null(j);
	assert_int_equal(util_json_parse(expect, strlen(expect), 8, &want), 0);
	if (!cJSON_Compare(j, want, true)) {
		text = util_json_print(j);
		fail_msg("got %s", text);
	}
	assert_int_equal(ctl_steps_from_json(j, s2, &n2), 0);
	assert_int_equal(n2, n);
	assert_memory_equal(s, s2, sizeof(s[0]) * (size_t)n);
	cJSON_Delete(j);
	cJSON_Delete(want);
	/* a pause without "ms" is a pause until resumed */
	{
		const char *t = "[{\"kind\":\"pause\"}]";
		assert_int_equal(util_json_parse(t, strlen(t), 8, &j), 0);
		assert_int_equal(ctl_steps_from_json(j, s2, &n2), 0);
		assert_int_equal(n2, 1);
		assert_int_equal(s2[0].ms, -1);
		cJSON_Delete(j);
	}
}

static void json_refusals(void **state)
{
	static const char *bad[] = {
		"[]",
		"{}",
		"null",
		"[1]",
		"[{}]",
		"[{\"kind\":\"setWeight\",\"weight\":10}]",
		"[{\"kind\":\"weight\"}]",
		"[{\"kind\":\"weight\",\"weight\":101}]",
		"[{\"kind\":\"weight\",\"weight\":-1}]",
		"[{\"kind\":\"weight\",\"weight\":10.5}]",
		"[{\"kind\":\"weight\",\"weight\":\"10\"}]",
		"[{\"kind\":\"analysis\"}]",
		"[{\"kind\":\"analysis\",\"ms\":null}]",
		"[{\"kind\":\"analysis\",\"ms\":0}]",
		"[{\"kind\":\"shadow\",\"ms\":-5}]",
		"[{\"kind\":\"pause\",\"ms\":\"1m\"}]",
		"[{\"kind\":\"pause\",\"ms\":0}]",
		"[{\"kind\":\"weight\",\"weight\":10},{\"kind\":7}]",
	};
	ctl_step s[CTL_MAX_STEPS];
	int n = 9;
	cJSON *j;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(util_json_parse(bad[i], strlen(bad[i]), 8, &j), 0);
		if (ctl_steps_from_json(j, s, &n) != MLREG_EINVALID)
			fail_msg("%s was accepted", bad[i]);
		cJSON_Delete(j);
	}
	assert_int_equal(n, 9);
	assert_int_equal(ctl_steps_from_json(NULL, s, &n), MLREG_EINVALID);
	/* 65 steps */
	j = cJSON_CreateArray();
	for (int i = 0; i <= CTL_MAX_STEPS; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "kind", "weight");
		cJSON_AddNumberToObject(o, "weight", 1);
		cJSON_AddItemToArray(j, o);
	}
	assert_int_equal(ctl_steps_from_json(j, s, &n), MLREG_EINVALID);
	assert_non_null(strstr(mlreg_error_last(), "more than 64"));
	cJSON_Delete(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_kind),   cmocka_unit_test(refusals),        cmocka_unit_test(presets),
		cmocka_unit_test(text_round_trip), cmocka_unit_test(json_round_trip), cmocka_unit_test(json_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

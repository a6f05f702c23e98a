/*
 * test_deploy_status.c - unit tests for cli_deploy_print_status
 * (cli/deploy_common.c), the one rendering of a deployment status that
 * `mlreg deploy status`, `deploy create` and the rollout verbs print.
 *
 * The output is compared byte for byte for a status as the registry sends
 * it, and for the hostile shapes a broken registry or node could put in
 * one: control characters in every string a node writes (each must print
 * as '?'), and numbers no integer holds (1e300, fractions), which print as
 * "none" - converting them to an integer was undefined behaviour, found by
 * fuzz_deploy_status.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include "cli/deploy_common.h"
#include "util/json.h"

static char *render(const char *status)
{
	cJSON *st = NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *out;
	if (util_json_parse(status, strlen(status), 64, &st) < 0)
		fail_msg("test JSON does not parse: %s", status);
	out = open_memstream(&text, &len);
	assert_non_null(out);
	cli_deploy_print_status(st, out);
	assert_int_equal(fclose(out), 0);
	cJSON_Delete(st);
	return text;
}

static void status_as_sent(void **state)
{
	(void)state;
	char *t = render("{\"name\":\"fraud-prod\",\"model\":\"team/fraud\",\"stage\":\"production\","
			 "\"selector\":{\"zone\":\"eu\"},\"phase\":\"progressing\","
			 "\"step\":{\"index\":1,\"count\":4,\"kind\":\"canary\"},\"stable_version\":3,"
			 "\"target_version\":4,\"rejected_version\":null,\"desired_version\":4,\"strategy\":\"canary\","
			 "\"steps\":\"10%,100%\",\"updated_at\":\"2026-11-29T02:00:00Z\","
			 "\"nodes\":[{\"name\":\"n1\",\"healthy\":true,\"versions\":[{\"version\":3,\"weight\":90,"
			 "\"state\":\"READY\"},{\"version\":4,\"weight\":10,\"state\":\"READY\"}]}],"
			 "\"analysis\":[{\"step\":1,\"result\":\"passed\",\"metrics\":{\"error_rate\":0.5}}]}");
	assert_string_equal(t, "deployment fraud-prod (model team/fraud, stage production, nodes zone=eu)\n"
			       "phase      progressing, step 2 of 4 canary\n"
			       "versions   stable 3, target 4, rejected none; the stage points at 4\n"
			       "strategy   canary: 10%,100%\n"
			       "updated    2026-11-29T02:00:00Z\n"
			       "nodes\n"
			       "  n1  healthy  v3 90% READY, v4 10% READY\n"
			       "analysis\n"
			       "  step 1: passed error_rate=0.5\n");
	free(t);
}

static void numbers_no_integer_holds(void **state)
{
	(void)state;
	char *t = render("{\"name\":\"d\",\"model\":\"m\",\"alias\":\"champion\",\"phase\":\"p\","
			 "\"step\":{\"index\":1e300,\"count\":-1e300,\"kind\":\"k\"},\"stable_version\":1e300,"
			 "\"target_version\":-9.3e18,\"rejected_version\":1.5,\"desired_version\":\"4\","
			 "\"strategy\":\"s\",\"updated_at\":\"u\","
			 "\"nodes\":[{\"name\":\"n\",\"versions\":[{\"version\":1e19,\"weight\":1e300}]}],"
			 "\"analysis\":[{\"step\":1e300,\"result\":\"r\"}]}");
	assert_string_equal(t, "deployment d (model m, alias @champion, nodes )\n"
			       "phase      p, step 0 of none k\n"
			       "versions   stable none, target none, rejected none; the alias points at none\n"
			       "strategy   s: its preset\n"
			       "updated    u\n"
			       "nodes\n"
			       "  n  unhealthy  vnone none%\n"
			       "analysis\n"
			       "  step none: r\n");
	free(t);
}

static void control_characters_print_as_question_marks(void **state)
{
	(void)state;
	char *t = render("{\"name\":\"\\u001b[2J\",\"model\":\"m\",\"stage\":\"s\",\"phase\":\"a\\rb\",\"message\":"
			 "\"\\u0007\\u007f\",\"verb\":\"\\n\",\"nodes\":[{\"name\":\"\\u001b]0;t\\u0007\",\"versions\":"
			 "[{\"version\":1,\"state\":\"\\t\"}]}],\"analysis\":[{\"step\":1,\"result\":\"\\u001b\","
			 "\"metrics\":{\"\\u001bk\":1}}]}");
	for (const char *p = t; *p; p++)
		if ((*p < 0x20 && *p != '\n') || *p == 0x7f)
			fail_msg("control character 0x%02x in the output:\n%s", *p, t);
	assert_non_null(strstr(t, "deployment ?[2J (model m"));
	assert_non_null(strstr(t, "\nmessage    ??\n"));
	assert_non_null(strstr(t, "\n  ?]0;t?  unhealthy  v1 ?\n"));
	assert_non_null(strstr(t, "\n  step 1: ? ?k=1\n"));
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(status_as_sent),
		cmocka_unit_test(numbers_no_integer_holds),
		cmocka_unit_test(control_characters_print_as_question_marks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_expr.c - unit tests for util/expr.c, the one `NAME OP VALUE`
 * grammar shared by search filters, gate policies and rollout analysis.
 *
 * Because the same threshold string must mean the same thing in all three
 * places, the tests pin down every operator, the whitespace rules, the
 * difference between numeric mode (`=` refused, value must be finite) and
 * text mode, and the full truth table of util_expr_eval.
 */
#include "testutil.h"
#include "util/expr.h"

static util_expr parse_ok(const char *s, bool want_number)
{
	util_expr e;
	memset(&e, 0, sizeof(e));
	if (util_expr_parse(s, want_number, &e) != 0)
		fail_msg("cannot parse '%s': %s", s, mlreg_error_last());
	return e;
}

static void all_operators_numeric(void **state)
{
	static const struct {
		const char *s;
		util_op op;
		const char *name;
		double value;
	} cases[] = {
		{"accuracy >= 0.9", UTIL_OP_GE, "accuracy", 0.9}, {"loss<=-0.5", UTIL_OP_LE, "loss", -0.5},
		{"p99_ms > 120", UTIL_OP_GT, "p99_ms", 120},      {"eval/f1 < 1e-3", UTIL_OP_LT, "eval/f1", 1e-3},
		{"epochs == 10", UTIL_OP_EQ, "epochs", 10},       {"a!=-1", UTIL_OP_NE, "a", -1},
		{"x<-1", UTIL_OP_LT, "x", -1},                    {"\t m \t>=\t 2 \t", UTIL_OP_GE, "m", 2},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		util_expr e = parse_ok(cases[i].s, true);
		assert_int_equal(e.op, cases[i].op);
		assert_string_equal(e.name, cases[i].name);
		assert_true(e.numeric);
		assert_true(e.value == cases[i].value);
	}
}

static void op_str_matches_what_was_parsed(void **state)
{
	static const char *ops[] = {">=", "<=", ">", "<", "==", "!="};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		char s[32];
		util_expr e;
		snprintf(s, sizeof(s), "k %s 1", ops[i]);
		e = parse_ok(s, true);
		assert_string_equal(util_op_str(e.op), ops[i]);
	}
}

static void text_mode_keeps_the_value(void **state)
{
	util_expr e = parse_ok("framework == torch", false);
	assert_int_equal(e.op, UTIL_OP_EQ);
	assert_string_equal(e.name, "framework");
	assert_string_equal(e.text, "torch");
	assert_false(e.numeric);
	/* a single '=' is accepted as '==' for text comparisons only */
	e = parse_ok("team=risk ops", false);
	assert_int_equal(e.op, UTIL_OP_EQ);
	assert_string_equal(e.text, "risk ops");
	/* a numeric right side is still recognised in text mode */
	e = parse_ok("epochs = 12", false);
	assert_true(e.numeric);
	assert_true(e.value == 12);
	assert_string_equal(e.text, "12");
	e = parse_ok("stage != prod", false);
	assert_int_equal(e.op, UTIL_OP_NE);
	assert_string_equal(e.text, "prod");
}

static void refusals(void **state)
{
	static const struct {
		const char *s;
		bool want_number;
	} bad[] = {
		{"", true},            {"accuracy", true},     {"accuracy 0.9", true}, {" >= 1", true},
		{"a >= ", true},       {"a >=", false},        {"a >= >= 1", true},    {"a => 1", true},
		{"a ! 1", true},       {"a >= 1 < 2", true},   {"a = 1", true},        {"a >= abc", true},
		{"a >= inf", true},    {"a >= nan", true},     {"a >= 1e999", true},   {"a b >= 1", true},
		{".a >= 1", true},     {"a:b >= 1", true},     {"a = = 1", false},     {"a <> 1", true},
		{"a >= 1!", false},    {"a ==", false},        {"=1", false},          {"a >= 0.5x", true},
	};
	util_expr e, sentinel;
	memset(&sentinel, 0x33, sizeof(sentinel));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(&e, &sentinel, sizeof(e));
		if (util_expr_parse(bad[i].s, bad[i].want_number, &e) != MLREG_EINVALID)
			fail_msg("expected MLREG_EINVALID for '%s' (want_number=%d)", bad[i].s, bad[i].want_number);
		assert_memory_equal(&e, &sentinel, sizeof(e)); /* *out untouched */
	}
	assert_int_equal(util_expr_parse(NULL, true, &e), MLREG_EINVALID);
}

static void length_limits(void **state)
{
	util_expr e;
	char s[700];
	/* name of 250 characters (the key limit) fits */
	memset(s, 'k', 250);
	strcpy(s + 250, ">=1");
	assert_int_equal(util_expr_parse(s, true, &e), 0);
	assert_int_equal(strlen(e.name), 250);
	/* a name too long for the key grammar or the buffer is refused */
	memset(s, 'k', 256);
	strcpy(s + 256, ">=1");
	assert_int_equal(util_expr_parse(s, true, &e), MLREG_EINVALID);
	/* a text value that does not fit the 256-byte field is refused */
	strcpy(s, "k==");
	memset(s + 3, 'v', 300);
	s[303] = '\0';
	assert_int_equal(util_expr_parse(s, false, &e), MLREG_EINVALID);
	/* more than 500 bytes in total is refused outright */
	memset(s, ' ', 600);
	memcpy(s, "k>=1", 4);
	s[600] = '\0';
	assert_int_equal(util_expr_parse(s, true, &e), MLREG_EINVALID);
}

static void eval_truth_table(void **state)
{
	static const struct {
		const char *s;
		bool at0, at1, at2; /* result for actual = 0, 1, 2 against 1 */
	} rows[] = {
		{"m >= 1", false, true, true},  {"m <= 1", true, true, false}, {"m > 1", false, false, true},
		{"m < 1", true, false, false},  {"m == 1", false, true, false}, {"m != 1", true, false, true},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		util_expr e = parse_ok(rows[i].s, true);
		assert_int_equal(util_expr_eval(&e, 0), rows[i].at0);
		assert_int_equal(util_expr_eval(&e, 1), rows[i].at1);
		assert_int_equal(util_expr_eval(&e, 2), rows[i].at2);
	}
}

static void eval_fractional_threshold(void **state)
{
	util_expr e = parse_ok("auc >= 0.95", true);
	assert_true(util_expr_eval(&e, 0.95));
	assert_true(util_expr_eval(&e, 0.951));
	assert_false(util_expr_eval(&e, 0.9499));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(all_operators_numeric),
		cmocka_unit_test(op_str_matches_what_was_parsed),
		cmocka_unit_test(text_mode_keeps_the_value),
		cmocka_unit_test(refusals),
		cmocka_unit_test(length_limits),
		cmocka_unit_test(eval_truth_table),
		cmocka_unit_test(eval_fractional_threshold),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

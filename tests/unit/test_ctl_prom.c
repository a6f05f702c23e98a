/*
 * test_ctl_prom.c - unit tests for controller/prom.c, the parser of the
 * Prometheus text a serving node answers on /metrics.
 *
 * It starts from real text: the /metrics answers of a real mlreg-node
 * (nothing loaded; two versions of a model under a 50/50 split with a
 * shadow, 400s and a failed load), kept as seeds of the fuzz corpus, so the
 * parser is held to what the node really prints.  Then the grammar corner
 * by corner (escapes, UTF-8, special values, timestamps, blanks), every
 * refusal with the line number it names, and the limits exactly at and one
 * past their edge: line length, label count and sample count.
 */
#include "testutil.h"
#include <math.h>
#include "controller/ctl.h"

#define CORPUS MLREG_SOURCE_DIR "/tests/fuzz/corpus/fuzz_prom/"

static char *read_seed(const char *name, size_t *len)
{
	char *text = NULL;
	if (util_read_file(name, 1 << 20, &text, len) != 0)
		fail_msg("cannot read %s: %s", name, mlreg_error_last());
	return text;
}

static void parse_ok(const char *text, const char *prefix, size_t max, ctl_samples *out)
{
	if (ctl_prom_parse(text, strlen(text), prefix, max, out) != 0)
		fail_msg("cannot parse '%s': %s", text, mlreg_error_last());
}

/* The value of the first sample named name whose labels include k=v pairs. */
static const ctl_sample *find(const ctl_samples *s, const char *name, const char *k1, const char *v1,
			      const char *k2, const char *v2)
{
	for (size_t i = 0; i < s->n; i++) {
		const char *a = k1 ? ctl_sample_label(&s->s[i], k1) : NULL, *b = k2 ? ctl_sample_label(&s->s[i], k2) : NULL;
		if (strcmp(s->s[i].name, name) != 0 || (k1 && (!a || strcmp(a, v1))) || (k2 && (!b || strcmp(b, v2))))
			continue;
		return &s->s[i];
	}
	return NULL;
}

static void real_node_output(void **state)
{
	ctl_samples s = {0};
	size_t len;
	char *text = read_seed(CORPUS "node_nothing_loaded", &len);
	const ctl_sample *x;
	assert_int_equal(ctl_prom_parse(text, len, NULL, 1000, &s), 0);
	assert_int_equal(s.n, 1); /* only the shadow drop counter, the rest is HELP and TYPE */
	assert_string_equal(s.s[0].name, "mlreg_node_shadow_dropped_total");
	assert_int_equal(s.s[0].nlabels, 0);
	assert_true(s.s[0].value == 0);
	ctl_samples_release(&s);
	free(text);

	text = read_seed(CORPUS "node_canary_shadow_failure", &len);
	assert_int_equal(ctl_prom_parse(text, len, NULL, 1000, &s), 0);
	assert_int_equal(s.n, 65);
	x = find(&s, "mlreg_node_requests_total", "version", "2", "code", "400");
	assert_non_null(x);
	assert_true(x->value == 3);
	assert_string_equal(ctl_sample_label(x, "model"), "fraud-canary");
	assert_null(ctl_sample_label(x, "le"));
	x = find(&s, "mlreg_node_request_duration_seconds_bucket", "version", "1", "le", "0.00025");
	assert_non_null(x);
	assert_true(x->value == 7);
	x = find(&s, "mlreg_node_request_duration_seconds_bucket", "version", "2", "le", "+Inf");
	assert_non_null(x);
	assert_true(x->value == 13);
	x = find(&s, "mlreg_node_request_duration_seconds_sum", "version", "1", NULL, NULL);
	assert_non_null(x);
	assert_true(x->value == 0.002561146);
	x = find(&s, "mlreg_node_load_failures_total", "model", "fraud-canary", NULL, NULL);
	assert_non_null(x);
	assert_true(x->value == 1);
	ctl_samples_release(&s);

	/* the prefix keeps only what the analysis reads */
	assert_int_equal(ctl_prom_parse(text, len, "mlreg_node_request", 1000, &s), 0);
	assert_int_equal(s.n, 3 + 2 * 17);
	for (size_t i = 0; i < s.n; i++)
		assert_memory_equal(s.s[i].name, "mlreg_node_request", 18);
	ctl_samples_release(&s);
	/* exactly as many as allowed, then one fewer allowed */
	assert_int_equal(ctl_prom_parse(text, len, "mlreg_node_request", 37, &s), 0);
	assert_int_equal(s.n, 37);
	ctl_samples_release(&s);
	assert_int_equal(ctl_prom_parse(text, len, "mlreg_node_request", 36, &s), MLREG_ETOOBIG);
	assert_non_null(strstr(mlreg_error_last(), "more than 36 samples"));
	assert_null(s.s);
	free(text);
}

static void grammar(void **state)
{
	ctl_samples s = {0};
	const char *text =
		"# a comment\n"
		"   # an indented comment with \\ and \" and {\n"
		"\n"
		" \t \n"
		"plain 1\n"
		"  indented\t2.5  \n"
		"with_ts 3 1700000000000\n"
		"with_neg_ts 4 -5\n"
		"esc{a=\"back\\\\slash\",b=\"q\\\"uote\",c=\"new\\nline\"} 5\n"
		"utf8{x=\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"} 6\n"
		"empty{} 7\n"
		"trailing{a=\"1\",} 8\n"
		"spaced { a = \"1\" , b=\"\" } 9\n"
		"colon:name_total{__name_like=\"x\"} 1e3\n"
		"pinf +Inf\n"
		"ninf -Inf\n"
		"nan NaN\n"
		"inf2 inf\n"
		"inf3 -infinity\n"
		"sci 6.02E+23\n"
		"lead .5\n"
		"trail 5.\n"
		"neg -0.25\n"
		"tiny 1e-400\n"
		"glued{a=\"b\"}10\n"
		"last 11";
	parse_ok(text, NULL, 100, &s);
	assert_int_equal(s.n, 22);
	assert_string_equal(s.s[0].name, "plain");
	assert_true(s.s[1].value == 2.5);
	assert_true(s.s[2].value == 3);
	assert_true(s.s[3].value == 4);
	assert_int_equal(s.s[4].nlabels, 3);
	assert_string_equal(ctl_sample_label(&s.s[4], "a"), "back\\slash");
	assert_string_equal(ctl_sample_label(&s.s[4], "b"), "q\"uote");
	assert_string_equal(ctl_sample_label(&s.s[4], "c"), "new\nline");
	assert_string_equal(ctl_sample_label(&s.s[5], "x"), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	assert_int_equal(s.s[6].nlabels, 0);
	assert_int_equal(s.s[7].nlabels, 1);
	assert_string_equal(s.s[8].keys[1], "b");
	assert_string_equal(s.s[8].values[1], "");
	assert_string_equal(s.s[9].name, "colon:name_total");
	assert_true(s.s[9].value == 1000);
	assert_true(isinf(s.s[10].value) && s.s[10].value > 0);
	assert_true(isinf(s.s[11].value) && s.s[11].value < 0);
	assert_true(isnan(s.s[12].value));
	assert_true(isinf(s.s[13].value) && s.s[13].value > 0);
	assert_true(isinf(s.s[14].value) && s.s[14].value < 0);
	assert_true(s.s[15].value == 6.02e23);
	assert_true(s.s[16].value == 0.5);
	assert_true(s.s[17].value == 5);
	assert_true(s.s[18].value == -0.25);
	assert_true(s.s[19].value == 0); /* underflow rounds to zero, as Go does */
	assert_string_equal(s.s[20].name, "glued");
	assert_true(s.s[21].value == 11); /* no final newline */
	ctl_samples_release(&s);
	ctl_samples_release(&s); /* twice is harmless */
	ctl_samples_release(NULL);
	/* nothing at all */
	parse_ok("", NULL, 10, &s);
	assert_int_equal(s.n, 0);
	ctl_samples_release(&s);
	assert_int_equal(ctl_prom_parse(NULL, 0, NULL, 10, &s), 0);
	assert_int_equal(s.n, 0);
}

static void refusals(void **state)
{
	static const struct {
		const char *text;
		size_t len; /* 0: strlen */
		const char *msg;
	} bad[] = {
		{"ok 1\nbad\n", 0, "line 2: sample without a value"},
		{"9lives 1\n", 0, "line 1: expected a metric name"},
		{"{a=\"b\"} 1\n", 0, "line 1: expected a metric name"},
		{"m{a=\"b\\t\"} 1\n", 0, "unknown escape"},
		{"m{a=\"b\\\"} 1\n", 0, "without its closing quote"},
		{"m{a=\"b} 1\n", 0, "without its closing quote"},
		{"m{a=\"b\\", 0, "ends inside an escape"},
		{"m{a=\"\xc3\x28\"} 1\n", 0, "not UTF-8"},
		{"m{a=\"\xc0\xaf\"} 1\n", 0, "not UTF-8"},       /* overlong '/' */
		{"m{a=\"\xed\xa0\x80\"} 1\n", 0, "not UTF-8"},   /* a surrogate */
		{"m{a=\"\xf4\x90\x80\x80\"} 1\n", 0, "not UTF-8"}, /* past U+10FFFF */
		{"m{a=\"\xe2\x82\"} 1\n", 0, "not UTF-8"},       /* cut short */
		{"m{a=\"1\",a=\"2\"} 1\n", 0, "label name repeated"},
		{"m{a=1} 1\n", 0, "expected a quoted label value"},
		{"m{a\"1\"} 1\n", 0, "expected '=' after a label name"},
		{"m{1a=\"1\"} 1\n", 0, "expected a label name or '}'"},
		{"m{a-b=\"1\"} 1\n", 0, "expected '=' after a label name"},
		{"m{a=\"1\" b=\"2\"} 1\n", 0, "expected ',' or '}'"},
		{"m{a=\"1\",,} 1\n", 0, "expected a label name or '}'"},
		{"m{a=\"1\"\n", 0, "expected ',' or '}'"},
		{"m{} \n", 0, "sample without a value"},
		{"m one\n", 0, "value is not a number"},
		{"m 0x10\n", 0, "value is not a number"},
		{"m 1_000\n", 0, "value is not a number"},
		{"m 1e\n", 0, "value is not a number"},
		{"m .\n", 0, "value is not a number"},
		{"m 1e999\n", 0, "value is not a number"},
		{"m +NaN\n", 0, "value is not a number"},
		{"m Infinite\n", 0, "value is not a number"},
		{"m 1}\n", 0, "value is not a number"},
		{"m 1 2.5\n", 0, "timestamp is not an integer"},
		{"m 1 12345678901234567890\n", 0, "timestamp is not an integer"},
		{"m 1 9223372036854775808\n", 0, "timestamp is not an integer"},
		{"m 1 -\n", 0, "timestamp is not an integer"},
		{"m 1 2 3\n", 0, "text after the timestamp"},
		{"m 1\r\n", 0, "line 1: control character"},
		{"a 1\nb 2\nm\x01 1\n", 0, "line 3: control character"},
		{"m 1\n# comment\x7f\n", 0, "line 2: control character"},
		{"m 1\nx 2\0\n", 9, "line 2: control character"},
	};
	ctl_samples s = {.s = (ctl_sample *)0x1, .n = 77};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = bad[i].len ? bad[i].len : strlen(bad[i].text);
		if (ctl_prom_parse(bad[i].text, len, NULL, 100, &s) != MLREG_EINVALID)
			fail_msg("bad %zu was accepted: %s", i, bad[i].text);
		if (!strstr(mlreg_error_last(), bad[i].msg))
			fail_msg("bad %zu: message '%s' lacks '%s'", i, mlreg_error_last(), bad[i].msg);
		assert_non_null(strstr(mlreg_error_last(), "invalid metrics text at line"));
	}
	/* out untouched on failure */
	assert_ptr_equal(s.s, (ctl_sample *)0x1);
	assert_int_equal(s.n, 77);
	/* a bad line is refused even when its metric is filtered out */
	s.s = NULL;
	s.n = 0;
	assert_int_equal(ctl_prom_parse("keep 1\nother{a=\"\\x\"} 1\n", 23, "keep", 10, &s), MLREG_EINVALID);
	assert_null(s.s);
	/* filtered-out samples do not count towards the maximum */
	parse_ok("keep 1\nother 2\nother 3\nkeep 4\n", "keep", 2, &s);
	assert_int_equal(s.n, 2);
	assert_true(s.s[1].value == 4);
	ctl_samples_release(&s);
	assert_int_equal(ctl_prom_parse("keep 1\n", 7, NULL, 0, &s), MLREG_ETOOBIG);
}

static void limits(void **state)
{
	ctl_samples s = {0};
	util_buf b;
	char *pad;
	/* a line of exactly CTL_PROM_MAX_LINE bytes, then one more */
	util_buf_init(&b, 1 << 20);
	pad = tu_repeat('x', CTL_PROM_MAX_LINE - strlen("m{a=\"\"} 1"));
	assert_int_equal(util_buf_printf(&b, "m{a=\"%s\"} 1\n", pad), 0);
	assert_int_equal(b.len, CTL_PROM_MAX_LINE + 1);
	parse_ok(b.ptr, NULL, 10, &s);
	assert_int_equal(strlen(s.s[0].values[0]), strlen(pad));
	ctl_samples_release(&s);
	b.len = 0;
	assert_int_equal(util_buf_printf(&b, "ok 1\nm{a=\"%sy\"} 1\n", pad), 0);
	assert_int_equal(ctl_prom_parse(b.ptr, b.len, NULL, 10, &s), MLREG_EINVALID);
	assert_non_null(strstr(mlreg_error_last(), "line 2: longer than 16384 bytes"));
	free(pad);
	/* the same length of escapes unescapes into less, never more */
	b.len = 0;
	pad = tu_repeat('\\', (CTL_PROM_MAX_LINE - strlen("m{a=\"\"} 1")) & ~(size_t)1);
	assert_int_equal(util_buf_printf(&b, "m{a=\"%s\"} 1\n", pad), 0);
	parse_ok(b.ptr, NULL, 10, &s);
	assert_int_equal(strlen(s.s[0].values[0]), strlen(pad) / 2);
	ctl_samples_release(&s);
	free(pad);

	/* CTL_PROM_MAX_LABELS labels, then one more */
	b.len = 0;
	assert_int_equal(util_buf_puts(&b, "m{"), 0);
	for (int i = 0; i < CTL_PROM_MAX_LABELS; i++)
		assert_int_equal(util_buf_printf(&b, "l%d=\"%d\",", i, i), 0);
	assert_int_equal(util_buf_puts(&b, "} 1\n"), 0);
	parse_ok(b.ptr, NULL, 10, &s);
	assert_int_equal(s.s[0].nlabels, CTL_PROM_MAX_LABELS);
	assert_string_equal(ctl_sample_label(&s.s[0], "l31"), "31");
	ctl_samples_release(&s);
	b.len -= 4;
	assert_int_equal(util_buf_puts(&b, "l99=\"x\"} 1\n"), 0);
	assert_int_equal(ctl_prom_parse(b.ptr, b.len, NULL, 10, &s), MLREG_EINVALID);
	assert_non_null(strstr(mlreg_error_last(), "too many labels"));

	/* many samples: the array grows past its first allocation */
	b.len = 0;
	for (int i = 0; i < 1000; i++)
		assert_int_equal(util_buf_printf(&b, "m{i=\"%d\"} %d\n", i, i), 0);
	parse_ok(b.ptr, NULL, 1000, &s);
	assert_int_equal(s.n, 1000);
	assert_true(s.s[999].value == 999);
	assert_string_equal(ctl_sample_label(&s.s[500], "i"), "500");
	ctl_samples_release(&s);
	assert_int_equal(ctl_prom_parse(b.ptr, b.len, NULL, 999, &s), MLREG_ETOOBIG);
	util_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(real_node_output),
		cmocka_unit_test(grammar),
		cmocka_unit_test(refusals),
		cmocka_unit_test(limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

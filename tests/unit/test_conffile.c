/*
 * test_conffile.c - unit tests for the config file of `mlreg server` and
 * `mlreg-node` (util/conffile.c) and for the one-line structured log
 * (util/log.c).
 *
 * The config file is strict by design, so most cases here are refusals,
 * each checked for the line it names: an operator reads that message at
 * 3 a.m. with a service that will not start.  The log tests read back what
 * util_log really wrote to stderr (redirected into a file) rather than
 * calling its formatter a second way: the promise is "one event, one
 * line", and only the bytes written can show that.
 */
#include "testutil.h"

#include <cjson/cJSON.h>
#include "util/conffile.h"

static const struct option opts[] = {
	{"listen", required_argument, 0, 'l'}, {"data", required_argument, 0, 'd'},
	{"no-controller", no_argument, 0, 'C'}, {"trust-key", required_argument, 0, 'k'},
	{"config", required_argument, 0, 'c'}, {"print-routes", no_argument, 0, 'R'},
	{"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
static const char *const repeatable[] = {"trust-key", NULL};
static const char *const refused[] = {"print-routes", NULL};
static const util_conf_spec spec = {.opts = opts, .repeatable = repeatable, .refused = refused};

static int parse(const char *text, util_conf *c) { return util_conf_parse(text, strlen(text), &spec, c); }

/* parse must fail with MLREG_EUSAGE and a message holding `want` */
static void refused_with(const char *text, const char *want)
{
	util_conf c;
	assert_int_equal(parse(text, &c), MLREG_EUSAGE);
	if (!strstr(mlreg_error_last(), want))
		fail_msg("'%s': got '%s', wanted '%s'", text, mlreg_error_last(), want);
	assert_int_equal(c.n, 0);
	assert_null(c.args);
}

static void parses_settings_in_order(void **state)
{
	util_conf c;
	assert_int_equal(parse("# mlreg server\n"
			       "\n"
			       "  listen = 0.0.0.0:8470  \n"
			       "\t# indented comment\n"
			       "data=/var/lib/mlreg\r\n"
			       "no-controller = true\n"
			       "trust-key = /etc/a.pem\n"
			       "trust-key = /etc/b#1.pem",
			       &c),
			 0);
	assert_int_equal(c.n, 5);
	assert_string_equal(c.args[0], "--listen=0.0.0.0:8470");
	assert_int_equal(c.lines[0], 3);
	assert_string_equal(c.args[1], "--data=/var/lib/mlreg");
	assert_int_equal(c.lines[1], 5);
	assert_string_equal(c.args[2], "--no-controller");
	assert_string_equal(c.args[3], "--trust-key=/etc/a.pem");
	assert_string_equal(c.args[4], "--trust-key=/etc/b#1.pem"); /* '#' inside a value is the value */
	assert_int_equal(c.lines[4], 8);
	util_conf_release(&c);
	assert_int_equal(c.n, 0);
}

static void empty_file_and_false_give_nothing(void **state)
{
	util_conf c;
	assert_int_equal(parse("", &c), 0);
	assert_int_equal(c.n, 0);
	util_conf_release(&c);
	assert_int_equal(parse("# only a comment\n\n   \nno-controller = false\n", &c), 0);
	assert_int_equal(c.n, 0);
	util_conf_release(&c);
}

static void refuses_bad_lines_naming_them(void **state)
{
	refused_with("listen = a\nlisen = b\n", "line 2: unknown setting 'lisen'");
	refused_with("listen = a\n\nlisten = b\n", "line 3: 'listen' is already set on line 1");
	refused_with("no-controller = true\nno-controller = false\n", "line 2: 'no-controller' is already set");
	refused_with("config = /etc/other.conf\n", "line 1: 'config' cannot be set in a config file");
	refused_with("help = true\n", "line 1: 'help' cannot be set");
	refused_with("print-routes = true\n", "line 1: 'print-routes' cannot be set");
	refused_with("listen = 127.0.0.1:1 # public\n", "line 1: a comment must be on a line of its own");
	/* found by fuzz_conffile: "data =#x" was taken as the value "#x" while
	 * "data = #x" was refused; neither layout may matter */
	refused_with("data =#x\n", "line 1: a comment must be on a line of its own");
	refused_with("data = #x\n", "line 1: a comment must be on a line of its own");
	refused_with("listen 127.0.0.1:1\n", "line 1: expected 'name = value'");
	refused_with("--listen = x\n", "line 1: expected 'name = value'");
	refused_with("Listen = x\n", "line 1: expected 'name = value'");
	refused_with("= x\n", "line 1: expected 'name = value'");
	refused_with("data = \n", "line 1: 'data' has no value");
	refused_with("data =\n", "line 1: 'data' has no value");
	refused_with("no-controller = yes\n", "line 1: 'no-controller' is true or false");
	refused_with("no-controller\n", "line 1: expected 'name = value'");
	refused_with("\n\ndata = a\x01b\n", "line 3: control character");
	refused_with("data = a\rb\n", "line 1: control character");
}

static void refuses_nul_and_sizes(void **state)
{
	util_conf c;
	char *big;
	size_t n;
	assert_int_equal(util_conf_parse("data = a\0b\n", 11, &spec, &c), MLREG_EUSAGE);
	assert_non_null(strstr(mlreg_error_last(), "line 1: control character"));
	/* a line of exactly the limit is fine, one byte more is not */
	big = malloc(UTIL_CONF_MAX_FILE + 2);
	assert_non_null(big);
	n = (size_t)snprintf(big, 16, "data = ");
	memset(big + n, 'x', UTIL_CONF_MAX_LINE - n);
	big[UTIL_CONF_MAX_LINE] = '\n';
	assert_int_equal(util_conf_parse(big, UTIL_CONF_MAX_LINE + 1, &spec, &c), 0);
	assert_int_equal(strlen(c.args[0]), strlen("--data=") + UTIL_CONF_MAX_LINE - n);
	util_conf_release(&c);
	big[UTIL_CONF_MAX_LINE] = 'x';
	big[UTIL_CONF_MAX_LINE + 1] = '\n';
	assert_int_equal(util_conf_parse(big, UTIL_CONF_MAX_LINE + 2, &spec, &c), MLREG_EUSAGE);
	assert_non_null(strstr(mlreg_error_last(), "line 1: longer than 4096 bytes"));
	/* a file over the limit, whatever it holds */
	memset(big, '\n', UTIL_CONF_MAX_FILE + 1);
	assert_int_equal(util_conf_parse(big, UTIL_CONF_MAX_FILE + 1, &spec, &c), MLREG_EUSAGE);
	assert_non_null(strstr(mlreg_error_last(), "larger than 65536 bytes"));
	assert_int_equal(util_conf_parse(big, UTIL_CONF_MAX_FILE, &spec, &c), 0);
	util_conf_release(&c);
	free(big);
}

static void refuses_too_many_settings(void **state)
{
	util_buf b;
	util_conf c;
	util_buf_init(&b, UTIL_CONF_MAX_FILE);
	for (int i = 0; i <= UTIL_CONF_MAX_ENTRIES; i++)
		assert_int_equal(util_buf_puts(&b, "trust-key = k\n"), 0);
	assert_int_equal(util_conf_parse(b.ptr, b.len, &spec, &c), MLREG_EUSAGE);
	assert_non_null(strstr(mlreg_error_last(), "line 513: more than 512 settings"));
	util_buf_release(&b);
}

/* util_conf_args keeps the one file a process loads: the failures first,
 * then the load, then "already loaded" */
static void args_put_the_file_first(void **state)
{
	char *dir = tu_mkdtemp(), path[600], bad[600], arg[700];
	char *argv_plain[] = {"prog", "--listen", "x", NULL};
	char *argv_twice[] = {"prog", "--config", "a", "--config=b", NULL};
	char *argv_missing[] = {"prog", "--config", "/nonexistent/mlreg.conf", NULL};
	char *argv_bad[] = {"prog", "--conf", bad, NULL}; /* getopt's unambiguous abbreviation */
	char *argv_ok[] = {"prog", "--data", "/d2", "--config", path, "extra", NULL};
	char **out;
	int outc;
	FILE *f;

	assert_int_equal(util_conf_args(3, argv_plain, &spec, &outc, &out), 0);
	assert_ptr_equal(out, argv_plain);
	assert_int_equal(outc, 3);
	assert_int_equal(util_conf_args(4, argv_twice, &spec, &outc, &out), MLREG_EUSAGE);
	assert_string_equal(mlreg_error_last(), "--config given twice");
	assert_int_equal(util_conf_args(3, argv_missing, &spec, &outc, &out), MLREG_EUSAGE);
	assert_non_null(strstr(mlreg_error_last(), "/nonexistent/mlreg.conf"));

	snprintf(bad, sizeof(bad), "%s/bad.conf", dir);
	assert_non_null(f = fopen(bad, "w"));
	fputs("listen = a\n# x\nport = 1\n", f);
	fclose(f);
	assert_int_equal(util_conf_args(3, argv_bad, &spec, &outc, &out), MLREG_EUSAGE);
	snprintf(arg, sizeof(arg), "%s:3: unknown setting 'port'", bad);
	assert_string_equal(mlreg_error_last(), arg);

	snprintf(path, sizeof(path), "%s/ok.conf", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("data = /d1\n\nlisten = 0.0.0.0:1\n", f);
	fclose(f);
	assert_int_equal(util_conf_args(6, argv_ok, &spec, &outc, &out), 0);
	assert_int_equal(outc, 8);
	assert_string_equal(out[0], "prog");
	assert_string_equal(out[1], "--data=/d1");
	assert_string_equal(out[2], "--listen=0.0.0.0:1");
	assert_string_equal(out[3], "--data"); /* the command line comes after: it wins */
	assert_string_equal(out[4], "/d2");
	assert_string_equal(out[5], "--config");
	assert_string_equal(out[7], "extra");
	assert_null(out[8]);

	/* a flag parser failing on argument 2 blames line 3 of the file */
	mlreg_error_set(MLREG_EUSAGE, "invalid listen address");
	assert_int_equal(util_conf_blame(MLREG_EUSAGE, 2), MLREG_EUSAGE);
	snprintf(arg, sizeof(arg), "%s:3: invalid listen address", path);
	assert_string_equal(mlreg_error_last(), arg);
	/* arguments from the command line are not blamed on the file */
	mlreg_error_set(MLREG_EUSAGE, "bad data");
	assert_int_equal(util_conf_blame(MLREG_EUSAGE, 4), MLREG_EUSAGE);
	assert_string_equal(mlreg_error_last(), "bad data");
	assert_int_equal(util_conf_blame(0, 1), 0);

	assert_int_equal(util_conf_args(6, argv_ok, &spec, &outc, &out), MLREG_EUSAGE);
	assert_non_null(strstr(mlreg_error_last(), "already loaded"));
	tu_rmdir(dir);
}

/* ---- the log ---- */

/* run util_log with stderr sent to a file; returns what was written */
static char *logged(const char *msg)
{
	char *dir = tu_mkdtemp(), path[600], *text = NULL;
	size_t len;
	int fd, saved;
	snprintf(path, sizeof(path), "%s/log", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	util_log(UTIL_LOG_WARN, "%s", msg);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fd);
	assert_int_equal(util_read_file(path, 1 << 20, &text, &len), 0);
	tu_rmdir(dir);
	return text;
}

static int count_newlines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void logfmt_is_one_quoted_line(void **state)
{
	char *line;
	util_log_set_prog("mlreg-test");
	assert_int_equal(util_log_format_parse("logfmt"), 0);
	line = logged("model 'a\"b'\nts=forged level=error\\ \x01\t\r");
	assert_int_equal(count_newlines(line), 1);
	assert_int_equal(strncmp(line, "ts=", 3), 0);
	assert_non_null(strstr(line, " level=warn prog=mlreg-test msg=\"model 'a\\\"b'\\nts=forged level=error\\\\ "
				     "\\u0001\\t\\r\"\n"));
	free(line);
	/* a message longer than the log keeps is cut, still one quoted line */
	{
		char *big = malloc(20000);
		assert_non_null(big);
		memset(big, '\n', 19999);
		big[19999] = '\0';
		line = logged(big);
		assert_int_equal(count_newlines(line), 1);
		assert_string_equal(line + strlen(line) - 2, "\"\n");
		free(line);
		free(big);
	}
}

static void json_is_one_object_per_line(void **state)
{
	char *line;
	cJSON *o;
	assert_int_equal(util_log_format_parse("yaml"), MLREG_EUSAGE);
	assert_non_null(strstr(mlreg_error_last(), "logfmt or json"));
	assert_int_equal(util_log_format_parse("json"), 0);
	line = logged("two\nlines \"quoted\"");
	assert_int_equal(count_newlines(line), 1);
	assert_non_null(o = cJSON_Parse(line));
	assert_string_equal(cJSON_GetObjectItem(o, "level")->valuestring, "warn");
	assert_string_equal(cJSON_GetObjectItem(o, "prog")->valuestring, "mlreg-test");
	assert_string_equal(cJSON_GetObjectItem(o, "msg")->valuestring, "two\nlines \"quoted\"");
	assert_non_null(cJSON_GetObjectItem(o, "ts"));
	cJSON_Delete(o);
	free(line);
	assert_int_equal(util_log_format_parse("logfmt"), 0);
}

static void quote_cuts_to_fit(void **state)
{
	char out[8];
	assert_int_equal(util_logfmt_quote("abcdefgh", out, sizeof(out)), 7);
	assert_string_equal(out, "\"abcde\"");
	/* an escape that does not fit is left out whole */
	assert_int_equal(util_logfmt_quote("abcd\n", out, sizeof(out)), 6);
	assert_string_equal(out, "\"abcd\"");
	assert_int_equal(util_logfmt_quote("x", out, 2), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_settings_in_order),
		cmocka_unit_test(empty_file_and_false_give_nothing),
		cmocka_unit_test(refuses_bad_lines_naming_them),
		cmocka_unit_test(refuses_nul_and_sizes),
		cmocka_unit_test(refuses_too_many_settings),
		cmocka_unit_test(args_put_the_file_first),
		cmocka_unit_test(logfmt_is_one_quoted_line),
		cmocka_unit_test(json_is_one_object_per_line),
		cmocka_unit_test(quote_cuts_to_fit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

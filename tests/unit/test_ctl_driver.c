/*
 * test_ctl_driver.c - unit tests for the controller's node calls: the
 * "mlreg" driver's requests and index normaliser (controller/driver_mlreg.c)
 * and ctl_calls_run (controller/calls.c) against real serving nodes.
 *
 * The first group checks the driver table on its own: every request it
 * builds (method, path with the served name percent-encoded as one
 * segment, body), what it refuses, and the index normaliser on good and
 * malformed answers.  The second group starts the real binaries, as the
 * integration tests do: an `mlreg server` on 127.0.0.1 with an ephemeral
 * port, two versions of a real XGBoost model trained by node_train.py and
 * pushed with the real CLI, a node token, and three `mlreg-node` processes
 * with their own caches and an admin token.  Loads, traffic, index,
 * metrics and unloads then run for real, in parallel across the three, in
 * batches that also hold a dead node (a closed port) and a node that
 * accepts and never answers: the timeout bounds the batch and the other
 * calls still succeed.  A few one-line HTTP answerers in this file play a
 * node that misbehaves (a 20 MB answer, an answer that is not JSON, an
 * index that is not a list); they stand for broken servers, not for
 * mlreg-node.  Nothing of mlreg is mocked.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <curl/curl.h>
#include "controller/ctl.h"
#include "util/json.h"

#define SERVED "dep-a"
#define NODE_ADMIN_TOKEN "node-admin-secret-1"

/* ---------------------------------------------------------------- helpers */

static char *path_in(const char *dir, const char *rel)
{
	char *p;
	assert_true(asprintf(&p, "%s/%s", dir, rel) > 0);
	return p;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static cJSON *json_of(const char *text)
{
	cJSON *j = NULL;
	if (util_json_parse(text, strlen(text), 32, &j) != 0)
		fail_msg("bad test JSON %s: %s", text, mlreg_error_last());
	return j;
}

static void free_calls(ctl_call *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ctl_call_release(&c[i]);
}

/* ---------------------------------------------------------------- the driver table */

static const char *const digest1 = "sha256:a249ecdf7094a94c4f8a079e161093d09f25882749ada652eea4cd357a8f9c70";

static void expect_request(const ctl_call *c, const char *method, const char *path, const char *body)
{
	const char *m = NULL;
	char *p = NULL, *b = NULL;
	if (ctl_driver_mlreg.request(c, &m, &p, &b) != 0)
		fail_msg("request refused: %s", mlreg_error_last());
	assert_string_equal(m, method);
	assert_string_equal(p, path);
	if (!body) {
		assert_null(b);
	} else {
		cJSON *got = json_of(b), *want = json_of(body);
		if (!cJSON_Compare(got, want, true))
			fail_msg("body %s, expected %s", b, body);
		cJSON_Delete(got);
		cJSON_Delete(want);
	}
	free(p);
	free(b);
}

static void expect_refused(const ctl_call *c, const char *msg)
{
	const char *m = "x";
	char *p = (char *)"keep", *b = (char *)"keep";
	assert_int_equal(ctl_driver_mlreg.request(c, &m, &p, &b), MLREG_EINVALID);
	if (!strstr(mlreg_error_last(), msg))
		fail_msg("message '%s' lacks '%s'", mlreg_error_last(), msg);
	assert_string_equal(m, "x");
	assert_string_equal(p, "keep");
}

static void driver_requests(void **state)
{
	cJSON *w = json_of("{\"2\":90,\"3\":10}");
	ctl_call c = {.kind = CTL_CALL_INDEX};
	assert_ptr_equal(ctl_driver_find("mlreg"), &ctl_driver_mlreg);
	assert_null(ctl_driver_find("triton"));
	assert_null(ctl_driver_find(NULL));
	assert_string_equal(ctl_driver_mlreg.name, "mlreg");

	expect_request(&c, "POST", "/v2/repository/index", "{}");
	c = (ctl_call){.kind = CTL_CALL_METRICS};
	expect_request(&c, "GET", "/metrics", NULL);
	c = (ctl_call){.kind = CTL_CALL_LOAD, .served = "dep-a", .model = "fraud", .version = 3, .digest = digest1};
	expect_request(&c, "POST", "/v2/repository/models/dep-a/load",
		       "{\"parameters\":{\"version\":\"3\",\"digest\":\"sha256:a249ecdf7094a94c4f8a079e161093d09f25882749"
		       "ada652eea4cd357a8f9c70\",\"model\":\"fraud\"}}");
	c.model = NULL; /* the node then fetches the served name itself */
	expect_request(&c, "POST", "/v2/repository/models/dep-a/load",
		       "{\"parameters\":{\"version\":\"3\",\"digest\":\"sha256:a249ecdf7094a94c4f8a079e161093d09f25882749"
		       "ada652eea4cd357a8f9c70\"}}");
	c = (ctl_call){.kind = CTL_CALL_TRAFFIC, .served = "dep-a", .weights = w, .shadow = "3"};
	expect_request(&c, "POST", "/v2/repository/models/dep-a/traffic", "{\"weights\":{\"2\":90,\"3\":10},\"shadow\":\"3\"}");
	c.shadow = NULL;
	expect_request(&c, "POST", "/v2/repository/models/dep-a/traffic", "{\"weights\":{\"2\":90,\"3\":10},\"shadow\":null}");
	c = (ctl_call){.kind = CTL_CALL_UNLOAD, .served = "dep-a", .version = 2};
	expect_request(&c, "POST", "/v2/repository/models/dep-a/unload", "{\"parameters\":{\"version\":\"2\"}}");
	c.version = 0;
	expect_request(&c, "POST", "/v2/repository/models/dep-a/unload", "{}");
	/* one path segment whatever the name holds */
	c.served = "a b/c?d#e%f~g.h_i-j\xc3\xa9";
	expect_request(&c, "POST", "/v2/repository/models/a%20b%2Fc%3Fd%23e%25f~g.h_i-j%C3%A9/unload", "{}");

	/* refusals */
	c = (ctl_call){.kind = CTL_CALL_UNLOAD, .served = ".."};
	expect_refused(&c, "invalid served name '..'");
	c.served = ".";
	expect_refused(&c, "invalid served name '.'");
	c.served = "";
	expect_refused(&c, "invalid served name ''");
	c.served = NULL;
	expect_refused(&c, "invalid served name");
	{
		char *longname = tu_repeat('a', 256);
		c.served = longname;
		expect_refused(&c, "longer than 255");
		free(longname);
	}
	c = (ctl_call){.kind = CTL_CALL_UNLOAD, .served = "dep-a", .version = -1};
	expect_refused(&c, "cannot unload version -1");
	c = (ctl_call){.kind = CTL_CALL_LOAD, .served = "dep-a", .version = 0, .digest = digest1};
	expect_refused(&c, "versions start at 1");
	c.version = 2;
	c.digest = "sha256:abc";
	expect_refused(&c, "invalid digest 'sha256:abc'");
	c.digest = NULL;
	expect_refused(&c, "invalid digest");
	c.digest = digest1;
	c.model = "Fraud";
	expect_refused(&c, "invalid model name 'Fraud'");
	c = (ctl_call){.kind = CTL_CALL_TRAFFIC, .served = "dep-a"};
	expect_refused(&c, "weights as a JSON object");
	c.weights = cJSON_GetObjectItem(w, "2");
	expect_refused(&c, "weights as a JSON object");
	c = (ctl_call){.kind = (ctl_call_kind)42};
	expect_refused(&c, "no call of kind 42");
	cJSON_Delete(w);
}

static void normalise(const char *answer, const char *want)
{
	ctl_call c = {.kind = CTL_CALL_INDEX, .json = json_of(answer)};
	cJSON *w = json_of(want);
	if (ctl_driver_mlreg.index(&c) != 0)
		fail_msg("index refused: %s", mlreg_error_last());
	if (!cJSON_Compare(c.json, w, true)) {
		char *got = util_json_print(c.json);
		fail_msg("normalised %s, expected %s", got, want);
	}
	cJSON_Delete(w);
	ctl_call_release(&c);
}

static void driver_index(void **state)
{
	static const char *bad[] = {
		"{}",
		"\"x\"",
		"[1]",
		"[{\"version\":\"1\",\"state\":\"READY\",\"weight\":1}]",
		"[{\"name\":\"m\",\"version\":\"1\",\"weight\":1}]",
		"[{\"name\":\"m\",\"version\":1,\"state\":\"READY\",\"weight\":1}]",
		"[{\"name\":\"m\",\"version\":\"01\",\"state\":\"READY\",\"weight\":1}]",
		"[{\"name\":\"m\",\"version\":\"0\",\"state\":\"READY\",\"weight\":1}]",
		"[{\"name\":\"m\",\"version\":\"v1\",\"state\":\"READY\",\"weight\":1}]",
		"[{\"name\":\"m\",\"version\":\"1\",\"state\":\"READY\"}]",
		"[{\"name\":\"m\",\"version\":\"1\",\"state\":\"READY\",\"weight\":101}]",
		"[{\"name\":\"m\",\"version\":\"1\",\"state\":\"READY\",\"weight\":2.5}]",
		"[{\"name\":\"m\",\"version\":\"1\",\"state\":\"READY\",\"weight\":1,\"shadow\":\"yes\"}]",
		"[{\"name\":\"\",\"version\":\"1\",\"state\":\"READY\",\"weight\":1}]",
		/* past 2^53 a JSON number cannot hold it (found by fuzz_node_index) */
		"[{\"name\":\"m\",\"version\":\"9007199254740993\",\"state\":\"READY\",\"weight\":1}]",
		"[{\"name\":\"m\",\"version\":\"9223372036548775808\",\"state\":\"READY\",\"weight\":1}]",
	};
	/* the node's own answer (docs/node.md), versions and weights become integers */
	normalise("[{\"name\":\"dep-a\",\"version\":\"1\",\"state\":\"READY\",\"reason\":\"\",\"weight\":90,\"shadow\":false,"
		  "\"digest\":\"sha256:aa\",\"source\":\"fraud\"},"
		  "{\"name\":\"dep-a\",\"version\":\"2\",\"state\":\"READY\",\"reason\":\"\",\"weight\":10,\"shadow\":true,"
		  "\"digest\":\"sha256:bb\",\"source\":\"fraud\"},"
		  "{\"name\":\"dep-a\",\"version\":\"3\",\"state\":\"UNAVAILABLE\",\"reason\":\"cannot fetch\",\"weight\":0,"
		  "\"shadow\":false,\"digest\":\"sha256:cc\",\"source\":\"fraud\"}]",
		  "[{\"name\":\"dep-a\",\"version\":1,\"state\":\"READY\",\"weight\":90,\"digest\":\"sha256:aa\",\"shadow\":false,"
		  "\"model\":\"fraud\"},"
		  "{\"name\":\"dep-a\",\"version\":2,\"state\":\"READY\",\"weight\":10,\"digest\":\"sha256:bb\",\"shadow\":true,"
		  "\"model\":\"fraud\"},"
		  "{\"name\":\"dep-a\",\"version\":3,\"state\":\"UNAVAILABLE\",\"weight\":0,\"digest\":\"sha256:cc\","
		  "\"shadow\":false,\"model\":\"fraud\",\"reason\":\"cannot fetch\"}]");
	/* what an older node may leave out */
	normalise("[{\"name\":\"m\",\"version\":\"7\",\"state\":\"LOADING\",\"weight\":0}]",
		  "[{\"name\":\"m\",\"version\":7,\"state\":\"LOADING\",\"weight\":0,\"digest\":null,\"shadow\":false,"
		  "\"model\":null}]");
	normalise("[]", "[]");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cJSON *orig = json_of(bad[i]);
		ctl_call c = {.kind = CTL_CALL_INDEX, .json = json_of(bad[i])};
		if (ctl_driver_mlreg.index(&c) != MLREG_EINVALID)
			fail_msg("index %s was accepted", bad[i]);
		assert_non_null(strstr(mlreg_error_last(), "invalid index answer"));
		assert_true(cJSON_Compare(c.json, orig, true)); /* left as it was */
		cJSON_Delete(orig);
		ctl_call_release(&c);
	}
}

static void backoff(void **state)
{
	assert_int_equal(ctl_backoff_ms(1000, 60000, 0, 0.5), 0);
	assert_int_equal(ctl_backoff_ms(1000, 60000, -3, 0.5), 0);
	assert_int_equal(ctl_backoff_ms(1000, 60000, 1, 1.0), 1000);
	assert_int_equal(ctl_backoff_ms(1000, 60000, 1, 0.0), 500);
	assert_int_equal(ctl_backoff_ms(1000, 60000, 3, 1.0), 4000);
	assert_int_equal(ctl_backoff_ms(1000, 60000, 30, 1.0), 60000);
	assert_int_equal(ctl_backoff_ms(1000, 60000, 30, 0.0), 30000);
	/* the same function webhooks back off with */
	for (int f = 1; f < 40; f++)
		assert_int_equal(ctl_backoff_ms(250, 10000, f, 0.3), util_backoff_ms(250, 10000, f, 0.3));
}

/* Calls that fail before any transfer: every one gets its own outcome. */
static void calls_refused_locally(void **state)
{
	ctl_call c[4] = {
		{.kind = CTL_CALL_INDEX, .node = {.name = "x", .url = "http://127.0.0.1:1", .driver = "torchserve"}},
		{.kind = CTL_CALL_INDEX, .node = {.name = "y", .url = "ftp://127.0.0.1:1"}},
		{.kind = CTL_CALL_INDEX, .node = {.name = "z", .url = "http://127.0.0.1:1", .token = "two words"}},
		{.kind = CTL_CALL_LOAD, .node = {.name = "w", .url = "http://127.0.0.1:1"}, .served = "..", .version = 1},
	};
	ctl_calls_run(c, 4, 1000, 2);
	assert_string_equal(c[0].error, "node 'x': unknown driver 'torchserve'");
	assert_string_equal(c[1].error, "node 'y': invalid node URL 'ftp://127.0.0.1:1'");
	assert_non_null(strstr(c[2].error, "node 'z': invalid node token"));
	assert_string_equal(c[3].error, "node 'w': invalid served name '..'");
	for (int i = 0; i < 4; i++) {
		assert_false(c[i].ok);
		assert_int_equal(c[i].status, 0);
		assert_null(c[i].json);
	}
	free_calls(c, 4);
	ctl_calls_run(NULL, 0, 1000, 1); /* nothing to do */
}

/* ---------------------------------------------------------------- misbehaving answerers */

/* A listening socket on 127.0.0.1 and a thread serving it: with answer
 * NULL it accepts and never says anything (the connections stay open
 * until the end); otherwise it reads the request head and writes answer
 * followed by pad bytes of 'x'. */
typedef struct {
	int fd, port;
	const char *answer;
	size_t pad;
	atomic_bool stop;
	pthread_t thread;
	int held[64];
	int nheld;
} answerer;

static void *answer_loop(void *arg)
{
	answerer *a = arg;
	while (!atomic_load(&a->stop)) {
		struct pollfd p = {.fd = a->fd, .events = POLLIN};
		int c;
		if (poll(&p, 1, 50) <= 0)
			continue;
		if ((c = accept4(a->fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			continue;
		if (!a->answer) {
			if (a->nheld < 64)
				a->held[a->nheld++] = c;
			else
				close(c);
			continue;
		}
		{
			char buf[4096];
			size_t got = 0;
			ssize_t r;
			char chunk[65536];
			/* the head, enough for these small requests */
			while (got < sizeof(buf) - 1 && (r = read(c, buf + got, sizeof(buf) - 1 - got)) > 0) {
				got += (size_t)r;
				buf[got] = '\0';
				if (strstr(buf, "\r\n\r\n"))
					break;
			}
			(void)!write(c, a->answer, strlen(a->answer));
			memset(chunk, 'x', sizeof(chunk));
			for (size_t left = a->pad; left > 0;) {
				size_t n = left < sizeof(chunk) ? left : sizeof(chunk);
				if (write(c, chunk, n) <= 0)
					break;
				left -= n;
			}
			close(c);
		}
	}
	return NULL;
}

static void answerer_start(answerer *a, const char *answer, size_t pad)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	memset(a, 0, sizeof(*a));
	a->answer = answer;
	a->pad = pad;
	a->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(a->fd >= 0);
	assert_int_equal(bind(a->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(a->fd, 64), 0);
	assert_int_equal(getsockname(a->fd, (struct sockaddr *)&sa, &len), 0);
	a->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&a->thread, NULL, answer_loop, a), 0);
}

static void answerer_stop(answerer *a)
{
	atomic_store(&a->stop, true);
	pthread_join(a->thread, NULL);
	for (int i = 0; i < a->nheld; i++)
		close(a->held[i]);
	close(a->fd);
}

/* A port nothing listens on: bound, then closed. */
static int dead_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

/* ---------------------------------------------------------------- the real fleet */

#define NNODES 3

typedef struct {
	char *work;
	char *reg_url, *reg_token;
	pid_t reg_pid;
	char digest[2][UTIL_DIGEST_LEN + 1];
	pid_t node_pid[NNODES];
	char *node_url[NNODES];
	char node_name[NNODES][16];
	char *dead_url, *silent_url;
	answerer silent;
} fleet;

static fleet F;
/* cmocka does not count a failed group teardown in its result */
static bool teardown_failed;

static const char *bin(const char *env, const char *def)
{
	const char *b = getenv(env);
	return b && *b ? b : def;
}

static pid_t spawn(char *const argv[], const char *log)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
		dup2(fd, 1);
		dup2(fd, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int wait_port(const char *pf, pid_t pid, const char *log)
{
	char *text = NULL;
	size_t len;
	int port = 0;
	for (int i = 0; i < 1200 && port <= 0; i++) {
		if (util_read_file(pf, 64, &text, &len) == 0) {
			port = atoi(text);
			free(text);
		}
		if (port <= 0) {
			if (waitpid(pid, NULL, WNOHANG) == pid)
				fail_msg("%s exited during start-up; see %s", pf, log);
			usleep(50000);
		}
	}
	if (port <= 0)
		fail_msg("no port in %s within 60s; see %s", pf, log);
	return port;
}

/* Run a shell command; its stdout (heap) in *out. */
static int run(const char *cmd, char **out)
{
	char buf[8192];
	size_t n;
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(buf, 1, sizeof(buf) - 1, p);
	buf[n] = '\0';
	*out = strdup(buf);
	return pclose(p);
}

static int cli(const char *args, char **out)
{
	char cmd[4096];
	snprintf(cmd, sizeof(cmd),
		 "MLREG_REGISTRY='%s' MLREG_TOKEN='%s' MLREG_NO_DIGEST_CACHE=1 HOME='%s' '%s' %s 2>>'%s/cli.err'",
		 F.reg_url, F.reg_token, F.work, bin("MLREG_BIN", MLREG_SOURCE_DIR "/build/bin/mlreg"), args, F.work);
	return run(cmd, out);
}

static void train_and_push(int i, const char *args)
{
	char cmd[2048], *out = NULL, *dir;
	cJSON *v;
	assert_true(asprintf(&dir, "%s/model%d", F.work, i) > 0);
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 '%s/tests/integration/node_train.py' --out '%s' %s 2>&1",
		 MLREG_SOURCE_DIR, dir, args);
	if (run(cmd, &out) != 0)
		fail_msg("training failed (python3-xgboost and python3-sklearn needed): %s", out);
	free(out);
	snprintf(cmd, sizeof(cmd), "push fraud '%s' --json", dir);
	assert_int_equal(cli(cmd, &out), 0);
	v = json_of(out);
	snprintf(F.digest[i], sizeof(F.digest[i]), "%s", util_json_str(v, "digest"));
	assert_true(util_digest_valid(F.digest[i]));
	cJSON_Delete(v);
	free(out);
	free(dir);
}

static int fleet_setup(void **state)
{
	char *data, *pf, *log, *text = NULL, *out = NULL, *ntok, *atok;
	const char *node_bin = bin("MLREG_NODE_BIN", MLREG_SOURCE_DIR "/build/bin/mlreg-node");
	size_t len;
	cJSON *v;
	int port;
	memset(&F, 0, sizeof(F));
	F.work = tu_mkdtemp();
	data = path_in(F.work, "data");
	pf = path_in(F.work, "reg.port");
	log = path_in(F.work, "server.log");
	{
		char *argv[] = {(char *)bin("MLREG_BIN", MLREG_SOURCE_DIR "/build/bin/mlreg"), "server", "--listen",
				"127.0.0.1:0", "--data", data, "--port-file", pf, NULL};
		F.reg_pid = spawn(argv, log);
	}
	port = wait_port(pf, F.reg_pid, log);
	assert_true(asprintf(&F.reg_url, "http://127.0.0.1:%d", port) > 0);
	{
		char cmd[512];
		snprintf(cmd, sizeof(cmd), "curl -sf --max-time 2 -o /dev/null '%s/readyz'", F.reg_url);
		for (int i = 0; i < 600 && system(cmd) != 0; i++)
			usleep(50000);
	}
	free(pf);
	pf = path_in(data, "admin.token");
	assert_int_equal(util_read_file(pf, 4096, &F.reg_token, &len), 0);
	F.reg_token[strcspn(F.reg_token, "\n")] = '\0';

	train_and_push(0, "--trees 5");
	train_and_push(1, "--trees 6 --seed 1");
	/* the nodes' registry token (role node: pull only) and their admin token */
	assert_int_equal(cli("token create ctl-nodes --role node --json", &out), 0);
	v = json_of(out);
	ntok = path_in(F.work, "node.token");
	tu_write(ntok, util_json_str(v, "token"), strlen(util_json_str(v, "token")));
	cJSON_Delete(v);
	free(out);
	atok = path_in(F.work, "admin.token");
	tu_write(atok, NODE_ADMIN_TOKEN, strlen(NODE_ADMIN_TOKEN));
	assert_int_equal(chmod(ntok, 0600), 0);
	assert_int_equal(chmod(atok, 0600), 0);

	for (int i = 0; i < NNODES; i++) {
		char *cache, *npf, *nlog, name[16];
		snprintf(name, sizeof(name), "n%d", i);
		snprintf(F.node_name[i], sizeof(F.node_name[i]), "%s", name);
		assert_true(asprintf(&cache, "%s/cache%d", F.work, i) > 0);
		assert_true(asprintf(&npf, "%s/node%d.port", F.work, i) > 0);
		assert_true(asprintf(&nlog, "%s/node%d.log", F.work, i) > 0);
		{
			char *argv[] = {(char *)node_bin, "--listen", "127.0.0.1:0", "--port-file", npf, "--cache", cache,
					"--registry", F.reg_url, "--token-file", ntok, "--admin-token-file", atok,
					"--name", name, NULL};
			F.node_pid[i] = spawn(argv, nlog);
		}
		free(cache);
		free(npf);
		free(nlog);
	}
	for (int i = 0; i < NNODES; i++) {
		char *npf, *nlog;
		assert_true(asprintf(&npf, "%s/node%d.port", F.work, i) > 0);
		assert_true(asprintf(&nlog, "%s/node%d.log", F.work, i) > 0);
		port = wait_port(npf, F.node_pid[i], nlog);
		assert_true(asprintf(&F.node_url[i], "http://127.0.0.1:%d", port) > 0);
		free(npf);
		free(nlog);
	}
	assert_true(asprintf(&F.dead_url, "http://127.0.0.1:%d", dead_port()) > 0);
	answerer_start(&F.silent, NULL, 0);
	assert_true(asprintf(&F.silent_url, "http://127.0.0.1:%d", F.silent.port) > 0);
	free(data);
	free(pf);
	free(log);
	free(text);
	free(ntok);
	free(atok);
	return 0;
}

/* SIGTERM, then the exit status (0 expected) and a log without
 * sanitizer reports; false otherwise, after saying why. */
static bool stop(pid_t *pid, const char *logname)
{
	char *log = path_in(F.work, logname), *text = NULL;
	size_t len;
	int st = 0;
	bool ok = true;
	if (*pid > 0) {
		kill(*pid, SIGTERM);
		waitpid(*pid, &st, 0);
		*pid = 0;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			print_error("%s: exit status %d after SIGTERM\n", logname, st);
			ok = false;
		}
	}
	if (util_read_file(log, 64 << 20, &text, &len) == 0 &&
	    (strstr(text, "Sanitizer") || strstr(text, "runtime error:"))) {
		print_error("%s reports a sanitizer finding:\n%s\n", logname, text);
		ok = false;
	}
	free(text);
	free(log);
	return ok;
}

static int fleet_teardown(void **state)
{
	bool ok = true;
	for (int i = 0; i < NNODES; i++) {
		char name[32];
		snprintf(name, sizeof(name), "node%d.log", i);
		ok = stop(&F.node_pid[i], name) && ok;
		free(F.node_url[i]);
	}
	ok = stop(&F.reg_pid, "server.log") && ok;
	answerer_stop(&F.silent);
	tu_rmdir(F.work);
	free(F.reg_url);
	free(F.reg_token);
	free(F.dead_url);
	free(F.silent_url);
	teardown_failed = !ok;
	return ok ? 0 : -1;
}

static ctl_node node(int i)
{
	return (ctl_node){.name = F.node_name[i], .url = F.node_url[i], .token = NODE_ADMIN_TOKEN};
}

static ctl_node dead(void) { return (ctl_node){.name = "dead", .url = F.dead_url, .token = NODE_ADMIN_TOKEN}; }
static ctl_node silent(void) { return (ctl_node){.name = "silent", .url = F.silent_url, .token = NODE_ADMIN_TOKEN}; }

/* The normalised index entry of (SERVED, version) in a call's answer. */
static const cJSON *entry(const ctl_call *c, int64_t version)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, c->json)
	{
		int64_t v = 0;
		if (!strcmp(util_json_str(e, "name"), SERVED) && util_json_i64(e, "version", &v) == 0 && v == version)
			return e;
	}
	return NULL;
}

static int64_t weight_of(const cJSON *e)
{
	int64_t w = -1;
	assert_non_null(e);
	assert_int_equal(util_json_i64(e, "weight", &w), 0);
	return w;
}

static void expect_ok(const ctl_call *c)
{
	if (!c->ok)
		fail_msg("call to %s failed (status %ld): %s", c->node.name, c->status, c->error ? c->error : "?");
	assert_null(c->error);
}

/* One infer request to node i; returns the HTTP status. */
static long infer(int i, const char *path, const char *body)
{
	CURL *h = curl_easy_init();
	char url[256];
	long status = 0;
	FILE *sink = fopen("/dev/null", "w");
	snprintf(url, sizeof(url), "%s%s", F.node_url[i], path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, sink);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	fclose(sink);
	return status;
}

/* Index everywhere at once: three real nodes, a dead one and one that
 * never answers.  The batch costs the timeout once, not per bad node, and
 * the real nodes answer as if the others were not there. */
static void index_with_dead_and_silent(void **state)
{
	ctl_call c[5] = {{.kind = CTL_CALL_INDEX, .node = node(0)}, {.kind = CTL_CALL_INDEX, .node = node(1)},
			 {.kind = CTL_CALL_INDEX, .node = dead()},   {.kind = CTL_CALL_INDEX, .node = node(2)},
			 {.kind = CTL_CALL_INDEX, .node = silent()}};
	int64_t t0 = mono_ms(), took;
	ctl_calls_run(c, 5, 1500, 8);
	took = mono_ms() - t0;
	for (int i = 0; i < 5; i++) {
		if (i == 2 || i == 4)
			continue;
		expect_ok(&c[i]);
		assert_int_equal(c[i].status, 200);
		assert_true(cJSON_IsArray(c[i].json));
		assert_int_equal(cJSON_GetArraySize(c[i].json), 0); /* nothing loaded yet */
		assert_true(c[i].elapsed_ms < 1500);
	}
	assert_false(c[2].ok);
	assert_int_equal(c[2].status, 0);
	assert_non_null(strstr(c[2].error, "node 'dead': "));
	assert_true(c[2].elapsed_ms < 1000);
	assert_false(c[4].ok);
	assert_int_equal(c[4].status, 0);
	if (!strstr(c[4].error, "node 'silent': ") || !strstr(c[4].error, "timed out"))
		fail_msg("silent node: %s", c[4].error);
	assert_true(c[4].elapsed_ms >= 1400);
	/* once the timeout, plus slack for a loaded machine or sanitizers */
	if (took < 1400 || took > 4500)
		fail_msg("the batch took %lld ms (timeout 1500)", (long long)took);
	/* a call carries its user pointer through, and a rerun replaces the outcome */
	c[0].user = &F;
	ctl_calls_run(c, 1, 5000, 1);
	expect_ok(&c[0]);
	assert_ptr_equal(c[0].user, &F);
	free_calls(c, 5);
}

/* max_parallel bounds the transfers at once; each timeout counts from its
 * own start, so four silent calls two at a time take two timeouts. */
static void parallel_limit(void **state)
{
	ctl_call c[4];
	int64_t t0, took;
	for (int i = 0; i < 4; i++)
		c[i] = (ctl_call){.kind = CTL_CALL_METRICS, .node = silent()};
	t0 = mono_ms();
	ctl_calls_run(c, 4, 400, 2);
	took = mono_ms() - t0;
	for (int i = 0; i < 4; i++) {
		assert_false(c[i].ok);
		assert_non_null(strstr(c[i].error, "timed out"));
	}
	if (took < 790 || took > 3000)
		fail_msg("4 calls, 2 at a time, 400 ms each took %lld ms", (long long)took);
	t0 = mono_ms();
	ctl_calls_run(c, 4, 400, 0); /* all at once */
	took = mono_ms() - t0;
	if (took < 390 || took > 2000)
		fail_msg("4 calls at once, 400 ms each took %lld ms", (long long)took);
	free_calls(c, 4);
}

/* The life of a deployment on three nodes: load v1 everywhere (first
 * version: weight 100), load v2 beside it (weight 0), move to 90/10 with
 * v2 as shadow, serve, read the metrics, move back and unload. */
static void rollout_on_three_nodes(void **state)
{
	ctl_call c[NNODES + 1];
	cJSON *w;
	int64_t t0;
	/* loads in parallel, with the dead node in the batch */
	for (int v = 0; v < 2; v++) {
		for (int i = 0; i < NNODES; i++)
			c[i] = (ctl_call){.kind = CTL_CALL_LOAD, .node = node(i), .served = SERVED, .model = "fraud",
					  .version = v + 1, .digest = F.digest[v]};
		c[NNODES] = (ctl_call){.kind = CTL_CALL_LOAD, .node = dead(), .served = SERVED, .model = "fraud",
				       .version = v + 1, .digest = F.digest[v]};
		t0 = mono_ms();
		ctl_calls_run(c, NNODES + 1, 120000, 8);
		for (int i = 0; i < NNODES; i++) {
			char want[8];
			expect_ok(&c[i]);
			snprintf(want, sizeof(want), "%d", v + 1);
			assert_string_equal(util_json_str(c[i].json, "state"), "READY");
			assert_string_equal(util_json_str(c[i].json, "version"), want);
			assert_string_equal(util_json_str(c[i].json, "digest"), F.digest[v]);
		}
		assert_false(c[NNODES].ok);
		assert_non_null(strstr(c[NNODES].error, "node 'dead': "));
		print_message("loading version %d on %d nodes at once took %lld ms\n", v + 1, NNODES,
			      (long long)(mono_ms() - t0));
		free_calls(c, NNODES + 1);
	}

	for (int i = 0; i < NNODES; i++)
		c[i] = (ctl_call){.kind = CTL_CALL_INDEX, .node = node(i)};
	ctl_calls_run(c, NNODES, 10000, 8);
	for (int i = 0; i < NNODES; i++) {
		expect_ok(&c[i]);
		assert_int_equal(cJSON_GetArraySize(c[i].json), 2);
		assert_int_equal(weight_of(entry(&c[i], 1)), 100);
		assert_int_equal(weight_of(entry(&c[i], 2)), 0);
		assert_string_equal(util_json_str(entry(&c[i], 2), "state"), "READY");
		assert_string_equal(util_json_str(entry(&c[i], 2), "model"), "fraud");
		assert_string_equal(util_json_str(entry(&c[i], 2), "digest"), F.digest[1]);
	}
	free_calls(c, NNODES);

	/* 90/10 with a shadow, everywhere at once */
	w = json_of("{\"1\":90,\"2\":10}");
	for (int i = 0; i < NNODES; i++)
		c[i] = (ctl_call){.kind = CTL_CALL_TRAFFIC, .node = node(i), .served = SERVED, .weights = w, .shadow = "2"};
	ctl_calls_run(c, NNODES, 10000, 8);
	for (int i = 0; i < NNODES; i++) {
		int64_t x = 0;
		expect_ok(&c[i]);
		assert_int_equal(util_json_i64(cJSON_GetObjectItem(c[i].json, "weights"), "2", &x), 0);
		assert_int_equal(x, 10);
		assert_string_equal(util_json_str(c[i].json, "shadow"), "2");
	}
	free_calls(c, NNODES);
	cJSON_Delete(w);
	for (int i = 0; i < NNODES; i++)
		c[i] = (ctl_call){.kind = CTL_CALL_INDEX, .node = node(i)};
	ctl_calls_run(c, NNODES, 10000, 8);
	for (int i = 0; i < NNODES; i++) {
		expect_ok(&c[i]);
		assert_int_equal(weight_of(entry(&c[i], 1)), 90);
		assert_int_equal(weight_of(entry(&c[i], 2)), 10);
		assert_true(cJSON_IsTrue(cJSON_GetObjectItem(entry(&c[i], 2), "shadow")));
		assert_false(cJSON_IsTrue(cJSON_GetObjectItem(entry(&c[i], 1), "shadow")));
	}
	free_calls(c, NNODES);

	/* traffic through node 0: 40 good requests split by weight, 3 bad
	 * ones addressed to version 2 */
	{
		char body[1024], rows[400] = "";
		for (int k = 0; k < 30; k++)
			strcat(rows, k ? ",0.5" : "0.5");
		for (int k = 0; k < 40; k++) {
			snprintf(body, sizeof(body),
				 "{\"id\":\"req-%d\",\"inputs\":[{\"name\":\"input\",\"datatype\":\"FP32\",\"shape\":[1,30],"
				 "\"data\":[%s]}]}",
				 k, rows);
			assert_int_equal(infer(0, "/v2/models/" SERVED "/infer", body), 200);
		}
		for (int k = 0; k < 3; k++)
			assert_int_equal(infer(0, "/v2/models/" SERVED "/versions/2/infer",
					       "{\"inputs\":[{\"name\":\"input\",\"datatype\":\"FP32\",\"shape\":[1,3],"
					       "\"data\":[1,2,3]}]}"),
					 400);
	}
	/* metrics from all three at once, read the way the analysis reads them */
	for (int i = 0; i < NNODES; i++)
		c[i] = (ctl_call){.kind = CTL_CALL_METRICS, .node = node(i)};
	c[NNODES] = (ctl_call){.kind = CTL_CALL_METRICS, .node = silent()};
	ctl_calls_run(c, NNODES + 1, 1500, 8);
	assert_false(c[NNODES].ok);
	for (int i = 0; i < NNODES; i++) {
		ctl_samples s = {0};
		ctl_counts c1, c2;
		expect_ok(&c[i]);
		assert_null(c[i].json);
		assert_non_null(c[i].text);
		assert_int_equal(strlen(c[i].text), c[i].text_len);
		if (ctl_prom_parse(c[i].text, c[i].text_len, "mlreg_node_", 10000, &s) != 0)
			fail_msg("node %d's metrics: %s", i, mlreg_error_last());
		ctl_counts_of(&s, SERVED, "1", &c1);
		ctl_counts_of(&s, SERVED, "2", &c2);
		if (i == 0) {
			ctl_window w1, w2;
			assert_true(c1.requests + c2.requests == 43);
			assert_true(c1.failures == 0);
			assert_true(c2.failures == 3);
			assert_true(c2.requests >= 3 && c1.requests > 0); /* 40 ids over 90/10 */
			ctl_window_of(&c1, &w1);
			ctl_window_of(&c2, &w2);
			assert_true(w1.p99_ms > 0 && w1.p99_ms <= 2500);
			assert_true(w2.failure_rate > 0);
		} else {
			assert_true(c1.requests == 0 && c2.requests == 0);
		}
		ctl_samples_release(&s);
	}
	free_calls(c, NNODES + 1);

	/* a node's refusal comes back with its own words: v1 still has weight */
	c[0] = (ctl_call){.kind = CTL_CALL_UNLOAD, .node = node(0), .served = SERVED, .version = 1};
	ctl_calls_run(c, 1, 10000, 1);
	assert_false(c[0].ok);
	assert_int_equal(c[0].status, 409);
	if (!strstr(c[0].error, "node 'n0' answered 409: "))
		fail_msg("error: %s", c[0].error);
	assert_non_null(c[0].json); /* the node's error body, parsed */
	free_calls(c, 1);

	/* back to v1 only, unload v2 on two nodes and everything on the third */
	w = json_of("{\"1\":100}");
	for (int i = 0; i < NNODES; i++)
		c[i] = (ctl_call){.kind = CTL_CALL_TRAFFIC, .node = node(i), .served = SERVED, .weights = w};
	ctl_calls_run(c, NNODES, 10000, 8);
	for (int i = 0; i < NNODES; i++) {
		expect_ok(&c[i]);
		assert_true(cJSON_IsNull(cJSON_GetObjectItem(c[i].json, "shadow")));
	}
	free_calls(c, NNODES);
	cJSON_Delete(w);
	c[0] = (ctl_call){.kind = CTL_CALL_UNLOAD, .node = node(0), .served = SERVED, .version = 2};
	c[1] = (ctl_call){.kind = CTL_CALL_UNLOAD, .node = node(1), .served = SERVED, .version = 2};
	c[2] = (ctl_call){.kind = CTL_CALL_UNLOAD, .node = node(2), .served = SERVED, .version = 0};
	ctl_calls_run(c, NNODES, 30000, 8);
	for (int i = 0; i < NNODES; i++)
		expect_ok(&c[i]);
	free_calls(c, NNODES);
	for (int i = 0; i < NNODES; i++)
		c[i] = (ctl_call){.kind = CTL_CALL_INDEX, .node = node(i)};
	ctl_calls_run(c, NNODES, 10000, 8);
	for (int i = 0; i < 2; i++) {
		expect_ok(&c[i]);
		assert_int_equal(cJSON_GetArraySize(c[i].json), 1);
		assert_int_equal(weight_of(entry(&c[i], 1)), 100);
	}
	expect_ok(&c[2]);
	assert_int_equal(cJSON_GetArraySize(c[2].json), 0);
	free_calls(c, NNODES);
}

/* What a node says when refused: the admin token, a load it cannot do. */
static void node_errors(void **state)
{
	ctl_call c[2];
	c[0] = (ctl_call){.kind = CTL_CALL_INDEX, .node = node(0)};
	c[0].node.token = NULL;
	c[1] = (ctl_call){.kind = CTL_CALL_INDEX, .node = node(1)};
	c[1].node.token = "wrong-token";
	ctl_calls_run(c, 2, 10000, 2);
	for (int i = 0; i < 2; i++) {
		assert_false(c[i].ok);
		assert_int_equal(c[i].status, 401);
		if (!strstr(c[i].error, "answered 401: ") || !strstr(c[i].error, "admin token"))
			fail_msg("error: %s", c[i].error);
	}
	free_calls(c, 2);
	/* a version the registry does not have, under a digest it never saw */
	c[0] = (ctl_call){.kind = CTL_CALL_LOAD, .node = node(1), .served = SERVED, .model = "fraud", .version = 9,
			  .digest = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
	ctl_calls_run(c, 1, 60000, 1);
	assert_false(c[0].ok);
	assert_true(c[0].status >= 400);
	if (!strstr(c[0].error, "node 'n1' answered ") || !strstr(c[0].error, "fraud:9"))
		fail_msg("error: %s", c[0].error);
	assert_string_equal(util_json_str(c[0].json, "state"), "UNAVAILABLE");
	free_calls(c, 1);
}

/* Servers that answer what no node should: each call fails on its own. */
static void broken_answers(void **state)
{
	answerer big, text, notlist, oops, empty;
	ctl_call c[6];
	char url[5][64];
	answerer_start(&big, "HTTP/1.1 200 OK\r\nContent-Length: 20000000\r\nConnection: close\r\n\r\n", 20000000);
	answerer_start(&text, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello", 0);
	answerer_start(&notlist,
		       "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\n{\"not\":\"it\"}", 0);
	answerer_start(&oops,
		       "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 23\r\nConnection: close\r\n\r\n"
		       "{\"error\":\"busy\\nnow\"}  ",
		       0);
	answerer_start(&empty, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 0);
	snprintf(url[0], sizeof(url[0]), "http://127.0.0.1:%d", big.port);
	snprintf(url[1], sizeof(url[1]), "http://127.0.0.1:%d", text.port);
	snprintf(url[2], sizeof(url[2]), "http://127.0.0.1:%d", notlist.port);
	snprintf(url[3], sizeof(url[3]), "http://127.0.0.1:%d", oops.port);
	snprintf(url[4], sizeof(url[4]), "http://127.0.0.1:%d", empty.port);
	c[0] = (ctl_call){.kind = CTL_CALL_METRICS, .node = {.name = "big", .url = url[0]}};
	c[1] = (ctl_call){.kind = CTL_CALL_INDEX, .node = {.name = "text", .url = url[1]}};
	c[2] = (ctl_call){.kind = CTL_CALL_INDEX, .node = {.name = "notlist", .url = url[2]}};
	c[3] = (ctl_call){.kind = CTL_CALL_METRICS, .node = {.name = "oops", .url = url[3]}};
	c[4] = (ctl_call){.kind = CTL_CALL_UNLOAD, .node = {.name = "empty", .url = url[4]}, .served = SERVED};
	c[5] = (ctl_call){.kind = CTL_CALL_INDEX, .node = node(2)};
	ctl_calls_run(c, 6, 20000, 8);
	assert_false(c[0].ok);
	assert_string_equal(c[0].error, "node 'big': answer larger than 16 MiB");
	assert_null(c[0].text);
	assert_false(c[1].ok);
	assert_int_equal(c[1].status, 200);
	assert_non_null(strstr(c[1].error, "node 'text': answer is not JSON"));
	assert_false(c[2].ok);
	assert_non_null(strstr(c[2].error, "node 'notlist': invalid index answer: not a JSON array"));
	assert_false(c[3].ok);
	assert_int_equal(c[3].status, 503);
	assert_string_equal(c[3].error, "node 'oops' answered 503: busy now"); /* control characters blanked */
	assert_null(c[3].text);
	expect_ok(&c[4]); /* 200 without a body */
	assert_null(c[4].json);
	expect_ok(&c[5]);
	free_calls(c, 6);
	answerer_stop(&big);
	answerer_stop(&text);
	answerer_stop(&notlist);
	answerer_stop(&oops);
	answerer_stop(&empty);
}

int main(void)
{
	const struct CMUnitTest local[] = {
		cmocka_unit_test(driver_requests),
		cmocka_unit_test(driver_index),
		cmocka_unit_test(backoff),
		cmocka_unit_test(calls_refused_locally),
	};
	const struct CMUnitTest remote[] = {
		cmocka_unit_test(index_with_dead_and_silent),
		cmocka_unit_test(parallel_limit),
		cmocka_unit_test(rollout_on_three_nodes),
		cmocka_unit_test(node_errors),
		cmocka_unit_test(broken_answers),
	};
	int failed;
	signal(SIGPIPE, SIG_IGN); /* an answerer writing to a client that gave up */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	failed = cmocka_run_group_tests_name("mlreg driver", local, NULL, NULL);
	failed += cmocka_run_group_tests_name("calls against real nodes", remote, fleet_setup, fleet_teardown);
	failed += teardown_failed;
	curl_global_cleanup();
	return failed;
}

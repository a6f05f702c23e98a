/*
 * bench/node_raw.c - the raw in-process XGBoost cost for bench/node: the
 * same model file, loaded and predicted through the XGBoost C API exactly as
 * node/runtime_xgb.c does it, with no HTTP, JSON or routing around it.
 *
 *   node_raw predict MODEL ROWFILE CALLS THREADS [proxy]
 *       THREADS threads share one booster (as the node's HTTP threads do);
 *       each makes 1,000 warm-up calls, waits for the others, then CALLS
 *       timed calls of XGBoosterPredictFromDense on one row (ROWFILE: the
 *       row's numbers, separated by spaces, commas or newlines).  Prints
 *       JSON: wall seconds, predictions/s over all threads, µs per call
 *       (wall time of one thread divided by its calls), p50/p99 of single
 *       calls timed on thread 0, process CPU seconds, and the prediction.
 *       With "proxy", each thread makes one proxy DMatrix
 *       (XGProxyDMatrixCreate) and passes it to every call, instead of NULL
 *       (what the node passes): XGBoost 1.7 then does not construct a new
 *       proxy, and with it a Context that reads the cgroup CPU quota files,
 *       on every call.  A measurement of a possible change to the node.
 *   node_raw load MODEL
 *       times XGBoosterCreate + XGBoosterLoadModel + nthread=1, then the
 *       first prediction (the node's warm-up: one row of zeros) and a second
 *       one; prints JSON with the times in ms, VmRSS/VmHWM after, and VmRSS
 *       after glibc's malloc_trim(0) (the heap the JSON parse freed but
 *       glibc kept: the node calls no malloc_trim).
 *
 * The prediction config and the __array_interface__ text are the node's
 * (built per call, as the node builds it); nthread=1 per call.  The one
 * thing left out is the node's copy of the result out of XGBoost's buffer.
 * Built by bench/node: cc -O2 bench/node_raw.c -lxgboost -lpthread
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xgboost/c_api.h>

/* node/runtime_xgb.c's, byte for byte */
static const char predict_config[] = "{\"type\":0,\"training\":false,\"iteration_begin\":0,\"iteration_end\":0,"
				     "\"strict_shape\":false,\"cache_id\":0,\"missing\":NaN}";

#define WARMUP 1000
#define MAX_FEATURES 4096

static BoosterHandle booster;
static float row[MAX_FEATURES];
static size_t nfeat;
static long calls;
static pthread_barrier_t start_line;
static uint64_t *lat0; /* thread 0's single-call times */
static int use_proxy;
static _Thread_local DMatrixHandle proxy; /* with "proxy": this thread's, made once */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die_xgb(const char *what)
{
	fprintf(stderr, "node_raw: %s: %s\n", what, XGBGetLastError());
	exit(1);
}

static float predict(const float *x, size_t rows)
{
	char arr[160];
	const bst_ulong *shape = NULL;
	bst_ulong dim = 0;
	const float *res = NULL;
	snprintf(arr, sizeof(arr), "{\"data\":[%ju,true],\"shape\":[%zu,%zu],\"typestr\":\"<f4\",\"version\":3}",
		 (uintmax_t)(uintptr_t)x, rows, nfeat);
	if (use_proxy && !proxy && XGProxyDMatrixCreate(&proxy) != 0)
		die_xgb("XGProxyDMatrixCreate");
	if (XGBoosterPredictFromDense(booster, arr, predict_config, proxy, &shape, &dim, &res) != 0)
		die_xgb("XGBoosterPredictFromDense");
	if (dim < 1 || shape[0] != rows)
		die_xgb("unexpected prediction shape");
	return res[0];
}

static void load(const char *path)
{
	bst_ulong n = 0;
	if (XGBoosterCreate(NULL, 0, &booster) != 0)
		die_xgb("XGBoosterCreate");
	if (XGBoosterLoadModel(booster, path) != 0)
		die_xgb("XGBoosterLoadModel");
	if (XGBoosterSetParam(booster, "nthread", "1") != 0)
		die_xgb("nthread=1");
	if (XGBoosterGetNumFeature(booster, &n) != 0)
		die_xgb("XGBoosterGetNumFeature");
	if (n < 1 || n > MAX_FEATURES) {
		fprintf(stderr, "node_raw: the model has %llu features\n", (unsigned long long)n);
		exit(1);
	}
	nfeat = (size_t)n;
}

static void *worker(void *arg)
{
	long id = (long)(intptr_t)arg;
	volatile float sink = 0;
	for (int i = 0; i < WARMUP; i++)
		sink += predict(row, 1);
	pthread_barrier_wait(&start_line);
	if (id == 0) {
		for (long i = 0; i < calls; i++) {
			uint64_t t = now_ns();
			sink += predict(row, 1);
			lat0[i] = now_ns() - t;
		}
	} else {
		for (long i = 0; i < calls; i++)
			sink += predict(row, 1);
	}
	(void)sink;
	if (proxy)
		XGDMatrixFree(proxy);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static long status_kib(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	size_t k = strlen(key);
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, k) && line[k] == ':')
			v = strtol(line + k + 1, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

static int cmd_predict(int argc, char **argv)
{
	FILE *f;
	size_t got = 0;
	int threads;
	pthread_t tid[64];
	uint64_t t0, t1;
	double c0, c1;
	float value;
	if (argc != 6 && !(argc == 7 && !strcmp(argv[6], "proxy")))
		return 2;
	use_proxy = argc == 7;
	calls = atol(argv[4]);
	threads = atoi(argv[5]);
	if (calls < 1 || threads < 1 || threads > 64)
		return 2;
	load(argv[2]);
	if (!(f = fopen(argv[3], "r"))) {
		perror(argv[3]);
		return 1;
	}
	while (got < MAX_FEATURES) {
		int c;
		if (fscanf(f, "%f", &row[got]) == 1) {
			got++;
			continue;
		}
		if ((c = fgetc(f)) == EOF)
			break;
		if (c != ',' && c != ' ' && c != '\n' && c != '\t' && c != '\r') {
			fprintf(stderr, "node_raw: unexpected '%c' in %s\n", c, argv[3]);
			return 1;
		}
	}
	fclose(f);
	if (got != nfeat) {
		fprintf(stderr, "node_raw: %s holds %zu numbers; the model takes %zu\n", argv[3], got, nfeat);
		return 1;
	}
	if (!(lat0 = malloc((size_t)calls * sizeof(*lat0))))
		return 1;
	value = predict(row, 1);
	pthread_barrier_init(&start_line, NULL, (unsigned)threads + 1);
	for (int i = 0; i < threads; i++)
		pthread_create(&tid[i], NULL, worker, (void *)(intptr_t)i);
	pthread_barrier_wait(&start_line);
	t0 = now_ns();
	c0 = cpu_s();
	for (int i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	t1 = now_ns();
	c1 = cpu_s();
	qsort(lat0, (size_t)calls, sizeof(*lat0), cmp_u64);
	{
		double wall = (double)(t1 - t0) / 1e9;
		printf("{\"proxy\":%s,\"threads\":%d,\"calls\":%ld,\"features\":%zu,\"wall_s\":%.4f,\"per_s\":%.0f,\"us_per_call\":%.3f,"
		       "\"p50_us\":%.3f,\"p99_us\":%.3f,\"cpu_s\":%.4f,\"cpu_us_per_call\":%.3f,\"value\":%.9g}\n",
		       use_proxy ? "true" : "false", threads, calls, nfeat, wall, (double)calls * threads / wall, wall * 1e6 / (double)calls,
		       (double)lat0[calls / 2] / 1e3, (double)lat0[calls * 99 / 100] / 1e3, c1 - c0,
		       (c1 - c0) * 1e6 / ((double)calls * threads), (double)value);
	}
	free(lat0);
	XGBoosterFree(booster);
	return 0;
}

static int cmd_load(int argc, char **argv)
{
	static float zeros[MAX_FEATURES];
	uint64_t t0, t1, t2, t3, t4;
	long rss, hwm;
	if (argc != 3)
		return 2;
	t0 = now_ns();
	load(argv[2]);
	t1 = now_ns();
	predict(zeros, 1);
	t2 = now_ns();
	predict(zeros, 1);
	t3 = now_ns();
	rss = status_kib("VmRSS");
	hwm = status_kib("VmHWM");
	malloc_trim(0);
	t4 = now_ns();
	printf("{\"load_ms\":%.1f,\"first_predict_ms\":%.3f,\"second_predict_ms\":%.3f,\"features\":%zu,"
	       "\"rss_mib\":%.1f,\"hwm_mib\":%.1f,\"rss_trimmed_mib\":%.1f,\"trim_ms\":%.1f}\n",
	       (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6, (double)(t3 - t2) / 1e6, nfeat, (double)rss / 1024,
	       (double)hwm / 1024, (double)status_kib("VmRSS") / 1024, (double)(t4 - t3) / 1e6);
	XGBoosterFree(booster);
	return 0;
}

int main(int argc, char **argv)
{
	int rc = 2;
	if (argc >= 2 && !strcmp(argv[1], "predict"))
		rc = cmd_predict(argc, argv);
	else if (argc >= 2 && !strcmp(argv[1], "load"))
		rc = cmd_load(argc, argv);
	if (rc == 2)
		fprintf(stderr, "usage: node_raw predict MODEL ROWFILE CALLS THREADS [proxy] | node_raw load MODEL\n");
	return rc;
}

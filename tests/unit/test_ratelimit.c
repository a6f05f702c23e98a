/*
 * test_ratelimit.c - the token-bucket table (util/ratelimit.c): burst,
 * refill, Retry-After, counting refusals for log summaries, the fixed
 * memory bound with eviction, and many threads taking at once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include "util/ratelimit.h"

static void burst_then_refill(void **state)
{
	util_ratelimit *l = util_ratelimit_new(2, 3, 16);
	int64_t retry = 0;
	uint64_t before = 99;
	(void)state;
	assert_non_null(l);
	for (int i = 0; i < 3; i++)
		assert_true(util_ratelimit_take(l, "a", 1000, &retry, &before));
	assert_int_equal(before, 0);
	assert_false(util_ratelimit_take(l, "a", 1000, &retry, NULL));
	assert_int_equal(retry, 500); /* 2/s: one unit in 500ms */
	assert_false(util_ratelimit_take(l, "a", 1200, &retry, NULL));
	assert_int_equal(retry, 300); /* 0.4 refilled by then: 0.6 to go */
	assert_true(util_ratelimit_take(l, "b", 1200, NULL, NULL)); /* keys are separate */
	assert_true(util_ratelimit_take(l, "a", 1500, NULL, &before));
	assert_int_equal(before, 2); /* the two refusals since the last allowed take */
	/* a long pause refills to the burst, not beyond */
	for (int i = 0; i < 3; i++)
		assert_true(util_ratelimit_take(l, "a", 100000, NULL, NULL));
	assert_false(util_ratelimit_take(l, "a", 100000, NULL, NULL));
	util_ratelimit_free(l);
}

/* A rate so low that the wait does not fit in 64 bits (--rate-limit takes
 * any positive number) must give a long wait, never a cast out of range
 * (undefined; 1 ms on x86) nor one the caller's rounding overflows. */
static void tiny_rate_gives_a_long_bounded_wait(void **state)
{
	util_ratelimit *l = util_ratelimit_new(1e-300, 1, 4);
	int64_t retry = 0;
	(void)state;
	assert_non_null(l);
	assert_true(util_ratelimit_take(l, "a", 1000, &retry, NULL));
	assert_false(util_ratelimit_take(l, "a", 1000, &retry, NULL));
	assert_true(retry > (int64_t)86400000 * 365);
	assert_true(retry <= INT64_MAX / 2);
	util_ratelimit_free(l);
}

static void drain_cb(const char *key, uint64_t n, void *ctx)
{
	char *out = ctx;
	snprintf(out + strlen(out), 64, "%s=%llu;", key, (unsigned long long)n);
}

static void drain_reports_and_resets(void **state)
{
	util_ratelimit *l = util_ratelimit_new(1, 1, 8);
	char got[256] = "";
	(void)state;
	assert_true(util_ratelimit_take(l, "10.0.0.1", 0, NULL, NULL));
	for (int i = 0; i < 5; i++)
		assert_false(util_ratelimit_take(l, "10.0.0.1", 0, NULL, NULL));
	util_ratelimit_drain(l, drain_cb, got);
	assert_string_equal(got, "10.0.0.1=5;");
	got[0] = '\0';
	util_ratelimit_drain(l, drain_cb, got);
	assert_string_equal(got, "");
	util_ratelimit_free(l);
}

static void bounded_memory(void **state)
{
	util_ratelimit *l = util_ratelimit_new(1, 2, 4);
	char key[32];
	(void)state;
	/* an empty bucket for "hot" */
	assert_true(util_ratelimit_take(l, "hot", 0, NULL, NULL));
	assert_true(util_ratelimit_take(l, "hot", 0, NULL, NULL));
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_true(util_ratelimit_take(l, key, 1, NULL, NULL));
		assert_true(util_ratelimit_size(l) <= 4);
	}
	assert_int_equal(util_ratelimit_size(l), 4);
	util_ratelimit_free(l);
	/* bad arguments */
	assert_null(util_ratelimit_new(0, 1, 4));
	assert_null(util_ratelimit_new(1, 0.5, 4));
	assert_null(util_ratelimit_new(1, 1, 0));
	/* NULL limiter = off */
	assert_true(util_ratelimit_take(NULL, "x", 0, NULL, NULL));
}

static util_ratelimit *shared;
static int allowed_total;
static pthread_mutex_t total_mu = PTHREAD_MUTEX_INITIALIZER;

static void *taker(void *arg)
{
	int n = 0;
	(void)arg;
	for (int i = 0; i < 1000; i++)
		n += util_ratelimit_take(shared, "same", 5000, NULL, NULL);
	pthread_mutex_lock(&total_mu);
	allowed_total += n;
	pthread_mutex_unlock(&total_mu);
	return NULL;
}

static void threads_share_one_bucket(void **state)
{
	pthread_t th[8];
	(void)state;
	shared = util_ratelimit_new(1, 100, 64);
	for (int i = 0; i < 8; i++)
		pthread_create(&th[i], NULL, taker, NULL);
	for (int i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(allowed_total, 100); /* exactly the burst, at one instant */
	util_ratelimit_free(shared);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(burst_then_refill),
		cmocka_unit_test(tiny_rate_gives_a_long_bounded_wait),
		cmocka_unit_test(drain_reports_and_resets),
		cmocka_unit_test(bounded_memory),
		cmocka_unit_test(threads_share_one_bucket),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

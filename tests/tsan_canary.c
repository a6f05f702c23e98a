/*
 * tsan_canary.c - a deliberate data race, run by scripts/tsan before the
 * real tests to prove the pass can fail: built with -fsanitize=thread and
 * run with the same TSAN_OPTIONS (log_path, suppressions), it must leave
 * exactly one "data race" report naming canary_bump in its log.  Should
 * an option, the log path or an over-broad entry in tests/tsan.supp hide
 * reports, the canary is silent and scripts/tsan fails instead of passing
 * a run that could not have found anything.  Not part of any product
 * binary and not built by CMake.
 */
#include <pthread.h>
#include <stdio.h>

static int counter; /* written by two threads with no lock: the race */

static void *canary_bump(void *arg)
{
	counter++;
	return arg;
}

int main(void)
{
	pthread_t t;
	if (pthread_create(&t, NULL, canary_bump, NULL) != 0)
		return 2;
	canary_bump(NULL);
	pthread_join(t, NULL);
	printf("%d\n", counter);
	return 0;
}

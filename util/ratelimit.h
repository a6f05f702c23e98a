/*
 * ratelimit.h - a bounded, thread-safe table of token buckets keyed by a
 * short string (a token name, a remote address).
 */
#ifndef MLREG_UTIL_RATELIMIT_H
#define MLREG_UTIL_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct util_ratelimit util_ratelimit;

#define UTIL_RATELIMIT_KEY_MAX 128

/* rate buckets refill per second, each holding at most burst (>= 1); at
 * most max_keys keys are tracked (older ones are evicted, full buckets
 * first).  NULL on bad arguments or no memory. */
util_ratelimit *util_ratelimit_new(double rate, double burst, size_t max_keys);
void util_ratelimit_free(util_ratelimit *l);
/* Take one unit for key at now_ms.  true: allowed; *denied_before (optional)
 * gets how many requests of key were refused since the last allowed one or
 * drain (and resets it).  false: refused, *retry_after_ms (optional) gets
 * the wait until one unit is available (>= 1). */
bool util_ratelimit_take(util_ratelimit *l, const char *key, int64_t now_ms, int64_t *retry_after_ms,
			 uint64_t *denied_before);
/* Hand every key with refusals not reported yet to fn, resetting them. */
void util_ratelimit_drain(util_ratelimit *l, void (*fn)(const char *key, uint64_t denied, void *ctx), void *ctx);
/* Keys tracked now. */
size_t util_ratelimit_size(util_ratelimit *l);

#endif

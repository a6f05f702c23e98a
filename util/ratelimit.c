/*
 * ratelimit.c - token buckets per key, for per-token request limits and
 * per-address authentication-failure limits of the HTTP server.
 *
 * Every libmicrohttpd pool thread may take from the table at once, so one
 * mutex guards it; the work under it is a hash probe and a little
 * arithmetic.  Memory is fixed at creation: a pool of max_keys entries
 * chained from a power-of-two bucket array.  When the pool is full a new
 * key evicts an entry whose bucket has refilled completely (forgetting it
 * changes nothing: a new entry starts full) or, failing that, the entry
 * unused for longest - so a flood of distinct keys (addresses) cannot grow
 * the table, at worst it makes the limiter forget some of them.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "util/ratelimit.h"

typedef struct {
	char key[UTIL_RATELIMIT_KEY_MAX];
	double tokens;
	int64_t last_ms;
	uint64_t denied;
	int next; /* chain, -1 = end */
	bool used;
} rl_ent;

struct util_ratelimit {
	pthread_mutex_t mu;
	double rate, burst;
	size_t max, count, nbuckets;
	int *heads;
	rl_ent *ents;
	int free_head; /* unused entries chained through next */
};

static size_t hash_key(const char *s, size_t nbuckets)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return (size_t)(h & (nbuckets - 1));
}

util_ratelimit *util_ratelimit_new(double rate, double burst, size_t max_keys)
{
	util_ratelimit *l;
	if (!(rate > 0) || !(burst >= 1) || max_keys == 0 || max_keys > (1u << 24))
		return NULL;
	if (!(l = calloc(1, sizeof(*l))))
		return NULL;
	l->rate = rate;
	l->burst = burst;
	l->max = max_keys;
	for (l->nbuckets = 16; l->nbuckets < max_keys; l->nbuckets <<= 1)
		;
	l->heads = malloc(l->nbuckets * sizeof(int));
	l->ents = calloc(max_keys, sizeof(rl_ent));
	if (!l->heads || !l->ents) {
		free(l->heads);
		free(l->ents);
		free(l);
		return NULL;
	}
	for (size_t i = 0; i < l->nbuckets; i++)
		l->heads[i] = -1;
	for (size_t i = 0; i < max_keys; i++)
		l->ents[i].next = i + 1 < max_keys ? (int)(i + 1) : -1;
	l->free_head = 0;
	pthread_mutex_init(&l->mu, NULL);
	return l;
}

void util_ratelimit_free(util_ratelimit *l)
{
	if (!l)
		return;
	pthread_mutex_destroy(&l->mu);
	free(l->heads);
	free(l->ents);
	free(l);
}

static void refill(util_ratelimit *l, rl_ent *e, int64_t now)
{
	if (now > e->last_ms) {
		e->tokens += (double)(now - e->last_ms) * l->rate / 1000.0;
		if (e->tokens > l->burst)
			e->tokens = l->burst;
		e->last_ms = now;
	}
}

static void unlink_ent(util_ratelimit *l, int idx)
{
	size_t b = hash_key(l->ents[idx].key, l->nbuckets);
	for (int *p = &l->heads[b]; *p >= 0; p = &l->ents[*p].next)
		if (*p == idx) {
			*p = l->ents[idx].next;
			break;
		}
	l->ents[idx].used = false;
	l->count--;
}

/* An entry for a new key: a free one, else a full bucket, else the oldest. */
static int take_slot(util_ratelimit *l, int64_t now)
{
	int victim = -1;
	int64_t oldest = INT64_MAX;
	if (l->free_head >= 0) {
		int i = l->free_head;
		l->free_head = l->ents[i].next;
		return i;
	}
	for (size_t i = 0; i < l->max; i++) {
		rl_ent *e = &l->ents[i];
		refill(l, e, now);
		if (e->tokens >= l->burst && e->denied == 0) {
			victim = (int)i;
			break;
		}
		if (e->last_ms < oldest) {
			oldest = e->last_ms;
			victim = (int)i;
		}
	}
	unlink_ent(l, victim);
	return victim;
}

bool util_ratelimit_take(util_ratelimit *l, const char *key, int64_t now_ms, int64_t *retry_after_ms,
			 uint64_t *denied_before)
{
	size_t b;
	int i;
	rl_ent *e = NULL;
	bool ok;
	if (denied_before)
		*denied_before = 0;
	if (!l)
		return true;
	pthread_mutex_lock(&l->mu);
	b = hash_key(key, l->nbuckets);
	for (i = l->heads[b]; i >= 0; i = l->ents[i].next)
		if (!strncmp(l->ents[i].key, key, UTIL_RATELIMIT_KEY_MAX - 1)) {
			e = &l->ents[i];
			break;
		}
	if (!e) {
		i = take_slot(l, now_ms);
		e = &l->ents[i];
		memset(e, 0, sizeof(*e));
		strncpy(e->key, key, UTIL_RATELIMIT_KEY_MAX - 1);
		e->tokens = l->burst;
		e->last_ms = now_ms;
		e->used = true;
		b = hash_key(e->key, l->nbuckets);
		e->next = l->heads[b];
		l->heads[b] = i;
		l->count++;
	}
	refill(l, e, now_ms);
	ok = e->tokens >= 1.0;
	if (ok) {
		e->tokens -= 1.0;
		if (denied_before)
			*denied_before = e->denied;
		e->denied = 0;
	} else {
		e->denied++;
		if (retry_after_ms) {
			/* bounded before the cast: a tiny rate makes the wait
			 * larger than any int64_t (about 31 years is plenty) */
			double wd = ceil((1.0 - e->tokens) * 1000.0 / l->rate);
			int64_t w = wd > 1e12 ? (int64_t)1e12 : (int64_t)wd;
			*retry_after_ms = w < 1 ? 1 : w;
		}
	}
	pthread_mutex_unlock(&l->mu);
	return ok;
}

void util_ratelimit_drain(util_ratelimit *l, void (*fn)(const char *key, uint64_t denied, void *ctx), void *ctx)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->mu);
	for (size_t i = 0; i < l->max; i++) {
		rl_ent *e = &l->ents[i];
		if (e->used && e->denied) {
			fn(e->key, e->denied, ctx);
			e->denied = 0;
		}
	}
	pthread_mutex_unlock(&l->mu);
}

size_t util_ratelimit_size(util_ratelimit *l)
{
	size_t n;
	if (!l)
		return 0;
	pthread_mutex_lock(&l->mu);
	n = l->count;
	pthread_mutex_unlock(&l->mu);
	return n;
}

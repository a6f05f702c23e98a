/*
 * pool.c - a tiny work-sharing loop over pthreads.
 *
 * Jobs are handed out by an atomic index rather than a queue: the job list
 * is known up front and every job is independent.  Because mlreg error
 * messages live in thread-local storage, the first failing worker copies its
 * code and message into the shared state and the caller re-records it.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/pool.h"

typedef struct {
	size_t n;
	atomic_size_t next;
	atomic_int failed;
	cli_pool_fn fn;
	void *arg;
	pthread_mutex_t mu;
	int err;
	char msg[1024];
} pool;

typedef struct {
	pool *p;
	int worker;
} worker_arg;

static void record(pool *p, int err)
{
	pthread_mutex_lock(&p->mu);
	if (!p->err) {
		p->err = err;
		snprintf(p->msg, sizeof(p->msg), "%s", mlreg_error_last());
	}
	pthread_mutex_unlock(&p->mu);
	atomic_store(&p->failed, 1);
}

static void *run(void *varg)
{
	worker_arg *w = varg;
	pool *p = w->p;
	for (;;) {
		size_t i;
		int err;
		if (atomic_load(&p->failed) || cli_interrupted())
			break;
		i = atomic_fetch_add(&p->next, 1);
		if (i >= p->n)
			break;
		if ((err = p->fn(p->arg, i, w->worker)) < 0)
			record(p, err);
	}
	return NULL;
}

int cli_pool_run(size_t n, int nworkers, cli_pool_fn fn, void *arg)
{
	pool p;
	pthread_t tids[16];
	worker_arg args[16];
	int started = 0;
	memset(&p, 0, sizeof(p));
	p.n = n;
	p.fn = fn;
	p.arg = arg;
	atomic_init(&p.next, 0);
	atomic_init(&p.failed, 0);
	pthread_mutex_init(&p.mu, NULL);
	if (nworkers > 16)
		nworkers = 16;
	if ((size_t)nworkers > n)
		nworkers = (int)n;
	if (nworkers <= 1) {
		worker_arg w = {&p, 0};
		run(&w);
	} else {
		for (int i = 0; i < nworkers; i++) {
			args[i].p = &p;
			args[i].worker = i;
			if (pthread_create(&tids[i], NULL, run, &args[i]) != 0)
				break;
			started++;
		}
		if (started == 0) {
			worker_arg w = {&p, 0};
			run(&w);
		}
		for (int i = 0; i < started; i++)
			pthread_join(tids[i], NULL);
	}
	pthread_mutex_destroy(&p.mu);
	if (p.err)
		return mlreg_error_set(p.err, "%s", p.msg);
	if (cli_interrupted())
		return mlreg_error_set(MLREG_ERROR, "interrupted");
	return 0;
}

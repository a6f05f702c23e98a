/*
 * shadow.c - mirror traffic to a shadow version without touching the
 * caller's answer.
 *
 * After the primary version answered, the request's rows and the primary's
 * output are copied into a bounded queue; shadow threads predict the same
 * rows on the shadow version and count its latency and whether it
 * disagreed (any output value further than --shadow-tolerance from the
 * primary's, or another shape).  The queue never grows past its capacity:
 * when it is full the copy is dropped and counted, so a slow shadow costs
 * the live path one failed enqueue, never a wait or unbounded memory.
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "node/node.h"
#include "util/httpd.h"

typedef struct job {
	node_version *v;
	float *x;
	size_t rows, cols;
	node_output primary;
	struct job *next;
} job;

struct node_shadow {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	job *head, *tail;
	int len, capacity;
	bool stop;
	double tolerance;
	int nthreads;
	pthread_t *threads;
};

static void job_free(job *j)
{
	node_version_unref(j->v);
	free(j->x);
	free(j->primary.data);
	free(j);
}

static bool disagrees(const node_output *a, const node_output *b, double tol)
{
	if (a->n != b->n || a->dims != b->dims)
		return true;
	for (int i = 0; i < a->dims; i++)
		if (a->shape[i] != b->shape[i])
			return true;
	for (size_t i = 0; i < a->n; i++) {
		double d = fabs((double)a->data[i] - (double)b->data[i]);
		if (!(d <= tol) && !(isnan(a->data[i]) && isnan(b->data[i])))
			return true;
	}
	return false;
}

static void run(node_shadow *s, job *j)
{
	node_output out = {0};
	int64_t t0 = util_mono_ns();
	int rc = node_model_predict(j->v->m, j->x, j->rows, &out);
	double secs = (double)(util_mono_ns() - t0) / 1e9;
	node_metrics_shadow(j->v->metrics, secs, rc == 0 && disagrees(&out, &j->primary, s->tolerance), rc < 0);
	free(out.data);
}

static void *shadow_main(void *arg)
{
	node_shadow *s = arg;
	for (;;) {
		job *j;
		pthread_mutex_lock(&s->mu);
		while (!s->head && !s->stop)
			pthread_cond_wait(&s->cv, &s->mu);
		if (!s->head) {
			pthread_mutex_unlock(&s->mu);
			return NULL;
		}
		j = s->head;
		s->head = j->next;
		if (!s->head)
			s->tail = NULL;
		s->len--;
		pthread_mutex_unlock(&s->mu);
		run(s, j);
		job_free(j);
	}
}

int node_shadow_start(node_shadow **out, int capacity, int threads, double tolerance)
{
	node_shadow *s = calloc(1, sizeof(*s));
	if (!s || !(s->threads = calloc((size_t)(threads > 0 ? threads : 1), sizeof(pthread_t)))) {
		free(s);
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->capacity = capacity;
	s->tolerance = tolerance;
	for (int i = 0; i < threads; i++) {
		if (pthread_create(&s->threads[i], NULL, shadow_main, s) != 0) {
			node_shadow_stop(s);
			return mlreg_error_set(MLREG_ERROR, "cannot start a shadow thread");
		}
		s->nthreads++;
	}
	*out = s;
	return 0;
}

void node_shadow_submit(node_shadow *s, node_version *v, const float *x, size_t rows, size_t cols,
			const node_output *primary)
{
	job *j = NULL;
	bool queued = false;
	pthread_mutex_lock(&s->mu);
	bool room = !s->stop && s->len < s->capacity;
	if (room)
		s->len++; /* reserve the slot before copying outside the lock */
	pthread_mutex_unlock(&s->mu);
	if (room && (j = calloc(1, sizeof(*j))) && (j->x = malloc(rows * cols * sizeof(float))) &&
	    (j->primary.data = malloc((primary->n ? primary->n : 1) * sizeof(float)))) {
		memcpy(j->x, x, rows * cols * sizeof(float));
		memcpy(j->primary.data, primary->data, primary->n * sizeof(float));
		j->primary.n = primary->n;
		j->primary.dims = primary->dims;
		memcpy(j->primary.shape, primary->shape, sizeof(j->primary.shape));
		j->rows = rows;
		j->cols = cols;
		j->v = v;
		pthread_mutex_lock(&s->mu);
		if (s->tail)
			s->tail->next = j;
		else
			s->head = j;
		s->tail = j;
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
		queued = true;
	} else if (room) {
		pthread_mutex_lock(&s->mu);
		s->len--;
		pthread_mutex_unlock(&s->mu);
	}
	if (!queued) {
		if (j) {
			free(j->x);
			free(j->primary.data);
			free(j);
		}
		node_version_unref(v);
		node_metrics_shadow_dropped();
	}
}

void node_shadow_stop(node_shadow *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	for (int i = 0; i < s->nthreads; i++)
		pthread_join(s->threads[i], NULL);
	while (s->head) { /* copies still queued are dropped */
		job *j = s->head;
		s->head = j->next;
		job_free(j);
	}
	free(s->threads);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}

/*
 * table.c - the models a node serves, their versions, and how inference
 * traffic is split between them.
 *
 * One mutex guards everything here and is held only for lookups and small
 * edits; predictions, downloads and loads happen outside it.  A traffic
 * change rewrites every weight and the shadow under that one lock, so an
 * inference sees either the old split or the new one, never a mix (the
 * "atomic swap" of the routing table).  Versions are reference counted:
 * the table holds one reference, each inference in flight another, and the
 * model is freed with the last, so an unload never pulls a model from under
 * a prediction.
 *
 * Routing: weights are integers summing to 100, laid out over [0, 100) in
 * ascending version order, and a request lands at a point of that range:
 * the FNV-1a hash of its id when it has one (sticky: the same id lands on
 * the same point, and as a newer version's share grows the ids it already
 * had stay with it, because the newest version holds the top of the range),
 * otherwise a per-thread random point.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "node/node.h"

typedef struct entry {
	char *name;
	node_version **vs; /* ascending by number */
	int *weights;      /* parallel to vs */
	int nv, cap;
	node_version *shadow;
	bool wanted;       /* the saved state gave it traffic: ready needs it served */
	struct entry *next;
} entry;

struct node_table {
	pthread_mutex_t mu;
	pthread_cond_t settled; /* a load ended */
	entry *head;
	uint64_t gen;
	bool restoring;
};

const char *node_state_name(node_state s)
{
	return s == NODE_READY ? "READY" : s == NODE_LOADING ? "LOADING" : "UNAVAILABLE";
}

int node_table_new(node_table **out)
{
	node_table *t = calloc(1, sizeof(*t));
	if (!t)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->settled, NULL);
	*out = t;
	return 0;
}

void node_version_ref(node_version *v)
{
	atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
}

void node_version_unref(node_version *v)
{
	if (!v || atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) != 1)
		return;
	node_model_close(v->m);
	free(v->model);
	free(v->version);
	free(v->digest);
	free(v->source);
	free(v->signatures);
	free(v->reason);
	free(v);
}

static void entry_free(entry *e)
{
	for (int i = 0; i < e->nv; i++)
		node_version_unref(e->vs[i]);
	free(e->vs);
	free(e->weights);
	free(e->name);
	free(e);
}

void node_table_free(node_table *t)
{
	if (!t)
		return;
	while (t->head) {
		entry *e = t->head;
		t->head = e->next;
		entry_free(e);
	}
	pthread_mutex_destroy(&t->mu);
	pthread_cond_destroy(&t->settled);
	free(t);
}

static entry *find(node_table *t, const char *model)
{
	for (entry *e = t->head; e; e = e->next)
		if (!strcmp(e->name, model))
			return e;
	return NULL;
}

static int find_version(const entry *e, const char *version)
{
	for (int i = 0; i < e->nv; i++)
		if (!strcmp(e->vs[i]->version, version))
			return i;
	return -1;
}

static int weight_sum(const entry *e)
{
	int s = 0;
	for (int i = 0; i < e->nv; i++)
		s += e->weights[i];
	return s;
}

/* FNV-1a, 64 bits: stable across runs and machines, so a client's id
 * lands on the same version on every node. */
static uint64_t fnv1a(const char *s)
{
	uint64_t h = 14695981039346656037ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static unsigned random_point(void)
{
	static _Thread_local uint64_t state;
	if (!state)
		state = (uint64_t)util_mono_ns() ^ ((uint64_t)pthread_self() << 1) ^ 0x9e3779b97f4a7c15ULL;
	/* xorshift64* */
	state ^= state >> 12;
	state ^= state << 25;
	state ^= state >> 27;
	return (unsigned)(((state * 2685821657736338717ULL) >> 32) % 100);
}

int node_table_pick(node_table *t, const char *model, const char *version, const char *id, node_version **out,
		    node_version **shadow)
{
	entry *e;
	node_version *v = NULL;
	int rc = 0;
	*out = NULL;
	*shadow = NULL;
	pthread_mutex_lock(&t->mu);
	if (!(e = find(t, model))) {
		rc = mlreg_error_set(MLREG_ENOTFOUND, "unknown model '%s'", model);
		goto done;
	}
	if (version) {
		int i = find_version(e, version);
		if (i < 0) {
			rc = mlreg_error_set(MLREG_ENOTFOUND, "unknown version '%s' of model '%s'", version, model);
			goto done;
		}
		v = e->vs[i];
		if (v->state != NODE_READY) {
			rc = mlreg_error_set(MLREG_ECONFLICT, "version '%s' of model '%s' is %s", version, model,
					     node_state_name(v->state));
			goto done;
		}
	} else {
		unsigned point = id ? (unsigned)(fnv1a(id) % 100) : random_point(), acc = 0;
		for (int i = 0; i < e->nv && !v; i++) {
			acc += (unsigned)e->weights[i];
			if (point < acc)
				v = e->vs[i];
		}
		if (!v) {
			rc = mlreg_error_set(MLREG_ECONFLICT, "model '%s' has no version taking traffic", model);
			goto done;
		}
	}
	node_version_ref(v);
	*out = v;
	if (e->shadow && e->shadow != v) {
		node_version_ref(e->shadow);
		*shadow = e->shadow;
	}
done:
	pthread_mutex_unlock(&t->mu);
	return rc;
}

int node_table_get(node_table *t, const char *model, const char *version, node_version **out)
{
	entry *e;
	node_version *v = NULL;
	int rc;
	pthread_mutex_lock(&t->mu);
	if ((e = find(t, model))) {
		if (version) {
			int i = find_version(e, version);
			v = i >= 0 ? e->vs[i] : NULL;
		} else {
			for (int i = e->nv - 1; i >= 0 && !v; i--)
				if (e->vs[i]->state == NODE_READY)
					v = e->vs[i];
		}
	}
	if (v && v->state == NODE_READY) {
		node_version_ref(v);
		pthread_mutex_unlock(&t->mu);
		*out = v;
		return 0;
	}
	*out = NULL;
	if (!e)
		rc = mlreg_error_set(MLREG_ENOTFOUND, "unknown model '%s'", model);
	else if (!version)
		rc = mlreg_error_set(MLREG_ENOTFOUND, "model '%s' has no READY version", model);
	else if (!v)
		rc = mlreg_error_set(MLREG_ENOTFOUND, "unknown version '%s' of model '%s'", version, model);
	else
		rc = mlreg_error_set(MLREG_ENOTFOUND, "version '%s' of model '%s' is %s", version, model,
				     node_state_name(v->state));
	pthread_mutex_unlock(&t->mu);
	return rc;
}

cJSON *node_table_versions(node_table *t, const char *model)
{
	cJSON *a = cJSON_CreateArray();
	entry *e;
	pthread_mutex_lock(&t->mu);
	if (a && (e = find(t, model)))
		for (int i = 0; i < e->nv; i++)
			if (e->vs[i]->state == NODE_READY)
				cJSON_AddItemToArray(a, cJSON_CreateString(e->vs[i]->version));
	pthread_mutex_unlock(&t->mu);
	return a;
}

static int insert_version(entry *e, node_version *v)
{
	int at = e->nv;
	if (e->nv == e->cap) {
		int cap = e->cap ? e->cap * 2 : 4;
		node_version **vs = realloc(e->vs, (size_t)cap * sizeof(*vs));
		int *w;
		if (!vs)
			return mlreg_error_set(MLREG_ENOMEM, "out of memory");
		e->vs = vs;
		if (!(w = realloc(e->weights, (size_t)cap * sizeof(*w))))
			return mlreg_error_set(MLREG_ENOMEM, "out of memory");
		e->weights = w;
		e->cap = cap;
	}
	while (at > 0 && e->vs[at - 1]->number > v->number)
		at--;
	memmove(&e->vs[at + 1], &e->vs[at], (size_t)(e->nv - at) * sizeof(*e->vs));
	memmove(&e->weights[at + 1], &e->weights[at], (size_t)(e->nv - at) * sizeof(*e->weights));
	e->vs[at] = v;
	e->weights[at] = 0;
	e->nv++;
	return 0;
}

static void remove_version(entry *e, int i)
{
	if (e->shadow == e->vs[i])
		e->shadow = NULL;
	memmove(&e->vs[i], &e->vs[i + 1], (size_t)(e->nv - i - 1) * sizeof(*e->vs));
	memmove(&e->weights[i], &e->weights[i + 1], (size_t)(e->nv - i - 1) * sizeof(*e->weights));
	e->nv--;
}

static void unlink_entry(node_table *t, entry *e)
{
	for (entry **p = &t->head; *p; p = &(*p)->next)
		if (*p == e) {
			*p = e->next;
			break;
		}
	entry_free(e);
}

static node_version *version_new(const char *model, const char *version, int64_t number, const char *digest,
				 const char *source)
{
	node_version *v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	atomic_init(&v->refs, 1);
	v->model = strdup(model);
	v->version = strdup(version);
	v->number = number;
	v->digest = strdup(digest);
	v->source = strdup(source);
	v->state = NODE_LOADING;
	v->metrics = node_metrics_entry_get(model, version);
	if (!v->model || !v->version || !v->digest || !v->source || !v->metrics) {
		node_version_unref(v);
		return NULL;
	}
	return v;
}

int node_table_begin_load(node_table *t, const char *model, const char *version, const char *digest,
			  const char *source, node_version **out)
{
	int64_t number;
	entry *e;
	int i, rc = 0;
	if (util_parse_i64(version, &number) < 0 || number <= 0)
		return mlreg_error_set(MLREG_EINVALID, "version '%s' is not a positive integer", version);
	pthread_mutex_lock(&t->mu);
	for (;;) {
		e = find(t, model);
		i = e ? find_version(e, version) : -1;
		if (i < 0 || e->vs[i]->state != NODE_LOADING)
			break;
		pthread_cond_wait(&t->settled, &t->mu);
	}
	if (i >= 0) {
		node_version *v = e->vs[i];
		if (v->state == NODE_READY) {
			if (strcmp(v->digest, digest) != 0) {
				rc = mlreg_error_set(MLREG_ECONFLICT,
						     "version %s of model '%s' is loaded with digest %s; unload it first",
						     version, model, v->digest);
			} else {
				node_version_ref(v);
				*out = v;
				rc = 1;
			}
			goto done;
		}
		/* UNAVAILABLE: try again, perhaps with another digest */
		{
			char *d = strdup(digest), *s = strdup(source);
			if (!d || !s) {
				free(d);
				free(s);
				rc = mlreg_error_set(MLREG_ENOMEM, "out of memory");
				goto done;
			}
			free(v->digest);
			free(v->source);
			v->digest = d;
			v->source = s;
		}
		free(v->reason);
		v->reason = NULL;
		v->state = NODE_LOADING;
		node_version_ref(v);
		*out = v;
		goto done;
	}
	if (!e) {
		if (!(e = calloc(1, sizeof(*e))) || !(e->name = strdup(model))) {
			free(e);
			rc = mlreg_error_set(MLREG_ENOMEM, "out of memory");
			goto done;
		}
		e->next = t->head;
		t->head = e;
	}
	{
		node_version *v = version_new(model, version, number, digest, source);
		if (!v || insert_version(e, v) < 0) {
			node_version_unref(v);
			if (e->nv == 0)
				unlink_entry(t, e);
			rc = mlreg_error_set(MLREG_ENOMEM, "out of memory");
			goto done;
		}
		node_version_ref(v);
		*out = v;
	}
	t->gen++;
done:
	pthread_mutex_unlock(&t->mu);
	return rc;
}

void node_table_end_load(node_table *t, node_version *v, node_model *m, const char *reason)
{
	entry *e;
	pthread_mutex_lock(&t->mu);
	if (m) {
		v->m = m;
		v->state = NODE_READY;
		e = find(t, v->model);
		if (e && weight_sum(e) == 0) {
			int i = find_version(e, v->version);
			if (i >= 0)
				e->weights[i] = 100;
		}
	} else {
		v->state = NODE_UNAVAILABLE;
		free(v->reason);
		v->reason = strdup(reason ? reason : "load failed");
	}
	t->gen++;
	pthread_cond_broadcast(&t->settled);
	pthread_mutex_unlock(&t->mu);
	node_version_unref(v);
}

int node_table_traffic(node_table *t, const char *model, const cJSON *weights, const char *shadow)
{
	entry *e;
	int rc = 0, sum = 0, *w = NULL, si = -1;
	const cJSON *it;
	if (!cJSON_IsObject(weights))
		return mlreg_error_set(MLREG_EINVALID, "'weights' must be an object of version: percent");
	pthread_mutex_lock(&t->mu);
	if (!(e = find(t, model))) {
		rc = mlreg_error_set(MLREG_ENOTFOUND, "unknown model '%s'", model);
		goto done;
	}
	if (!(w = calloc((size_t)e->nv + 1, sizeof(int)))) {
		rc = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	cJSON_ArrayForEach(it, weights)
	{
		int i = find_version(e, it->string);
		if (i < 0) {
			rc = mlreg_error_set(MLREG_EINVALID, "version '%s' of model '%s' is not loaded", it->string, model);
			goto done;
		}
		if (!util_json_is_int(it) || it->valuedouble < 0 || it->valuedouble > 100) {
			rc = mlreg_error_set(MLREG_EINVALID, "weight of version '%s' must be an integer from 0 to 100",
					     it->string);
			goto done;
		}
		if (it->valueint > 0 && e->vs[i]->state != NODE_READY) {
			rc = mlreg_error_set(MLREG_EINVALID, "version '%s' of model '%s' is %s, not READY", it->string,
					     model, node_state_name(e->vs[i]->state));
			goto done;
		}
		if (w[i]) {
			rc = mlreg_error_set(MLREG_EINVALID, "version '%s' is listed twice", it->string);
			goto done;
		}
		w[i] = it->valueint;
		sum += it->valueint;
	}
	if (sum != 100) {
		rc = mlreg_error_set(MLREG_EINVALID, "weights must sum to 100 (they sum to %d)", sum);
		goto done;
	}
	if (shadow) {
		si = find_version(e, shadow);
		if (si < 0 || e->vs[si]->state != NODE_READY) {
			rc = mlreg_error_set(MLREG_EINVALID, "shadow version '%s' of model '%s' is not READY", shadow, model);
			goto done;
		}
	}
	memcpy(e->weights, w, (size_t)e->nv * sizeof(int));
	e->shadow = si >= 0 ? e->vs[si] : NULL;
	t->gen++;
done:
	pthread_mutex_unlock(&t->mu);
	free(w);
	return rc;
}

static bool digest_used(node_table *t, const char *digest)
{
	for (entry *e = t->head; e; e = e->next)
		for (int i = 0; i < e->nv; i++)
			if (!strcmp(e->vs[i]->digest, digest))
				return true;
	return false;
}

int node_table_unload(node_table *t, const char *model, const char *version, char ***removed, int *n)
{
	entry *e;
	int rc = 0;
	char **gone = NULL;
	int ngone = 0;
	*removed = NULL;
	*n = 0;
	pthread_mutex_lock(&t->mu);
	for (;;) { /* a load in progress finishes first */
		bool busy = false;
		e = find(t, model);
		for (int i = 0; e && i < e->nv; i++)
			if ((!version || !strcmp(e->vs[i]->version, version)) && e->vs[i]->state == NODE_LOADING)
				busy = true;
		if (!busy)
			break;
		pthread_cond_wait(&t->settled, &t->mu);
	}
	if (!e)
		goto done;
	if (version) {
		int i = find_version(e, version);
		if (i < 0)
			goto done;
		if (e->weights[i] > 0) {
			rc = mlreg_error_set(MLREG_ECONFLICT,
					     "version %s of model '%s' takes %d%% of the traffic; move its traffic first",
					     version, model, e->weights[i]);
			goto done;
		}
	}
	if (!(gone = calloc((size_t)e->nv + 1, sizeof(char *)))) {
		rc = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	for (int i = e->nv - 1; i >= 0; i--) {
		node_version *v = e->vs[i];
		if (version && strcmp(v->version, version) != 0)
			continue;
		remove_version(e, i);
		if (!digest_used(t, v->digest) && (gone[ngone] = strdup(v->digest)))
			ngone++;
		node_version_unref(v);
	}
	if (e->nv == 0)
		unlink_entry(t, e);
	t->gen++;
	*removed = gone;
	*n = ngone;
	gone = NULL;
done:
	pthread_mutex_unlock(&t->mu);
	free(gone);
	return rc;
}

cJSON *node_table_index(node_table *t)
{
	cJSON *a = cJSON_CreateArray();
	if (!a)
		return NULL;
	pthread_mutex_lock(&t->mu);
	for (entry *e = t->head; e; e = e->next)
		for (int i = 0; i < e->nv; i++) {
			const node_version *v = e->vs[i];
			cJSON *o = cJSON_CreateObject();
			if (!o || !cJSON_AddItemToArray(a, o))
				break;
			cJSON_AddStringToObject(o, "name", e->name);
			cJSON_AddStringToObject(o, "version", v->version);
			cJSON_AddStringToObject(o, "state", node_state_name(v->state));
			cJSON_AddStringToObject(o, "reason", v->reason ? v->reason : "");
			cJSON_AddNumberToObject(o, "weight", e->weights[i]);
			cJSON_AddBoolToObject(o, "shadow", e->shadow == v);
			cJSON_AddStringToObject(o, "digest", v->digest);
			cJSON_AddStringToObject(o, "source", v->source);
		}
	pthread_mutex_unlock(&t->mu);
	return a;
}

static cJSON *traffic_of(const entry *e)
{
	cJSON *o = cJSON_CreateObject(), *w = o ? cJSON_AddObjectToObject(o, "weights") : NULL;
	if (!w) {
		cJSON_Delete(o);
		return NULL;
	}
	for (int i = 0; i < e->nv; i++)
		if (e->vs[i]->state == NODE_READY)
			cJSON_AddNumberToObject(w, e->vs[i]->version, e->weights[i]);
	if (e->shadow)
		cJSON_AddStringToObject(o, "shadow", e->shadow->version);
	else
		cJSON_AddNullToObject(o, "shadow");
	return o;
}

cJSON *node_table_traffic_json(node_table *t, const char *model)
{
	cJSON *o = NULL;
	entry *e;
	pthread_mutex_lock(&t->mu);
	if ((e = find(t, model)) && (o = traffic_of(e)))
		cJSON_AddStringToObject(o, "name", model);
	pthread_mutex_unlock(&t->mu);
	return o;
}

cJSON *node_table_state(node_table *t, uint64_t *generation)
{
	cJSON *s = cJSON_CreateObject(), *models = s ? cJSON_AddObjectToObject(s, "models") : NULL;
	if (!models) {
		cJSON_Delete(s);
		return NULL;
	}
	pthread_mutex_lock(&t->mu);
	for (entry *e = t->head; e; e = e->next) {
		cJSON *m = traffic_of(e), *vs = m ? cJSON_AddObjectToObject(m, "versions") : NULL;
		bool any = false;
		if (!vs) {
			cJSON_Delete(m);
			cJSON_Delete(s);
			s = NULL;
			break;
		}
		for (int i = 0; i < e->nv; i++) {
			const node_version *v = e->vs[i];
			cJSON *o;
			/* UNAVAILABLE versions stay desired: a restart tries them again */
			if (v->state == NODE_LOADING)
				continue;
			o = cJSON_AddObjectToObject(vs, v->version);
			cJSON_AddStringToObject(o, "digest", v->digest);
			cJSON_AddStringToObject(o, "source", v->source);
			if (v->signatures) {
				cJSON *sigs = cJSON_Parse(v->signatures);
				if (sigs)
					cJSON_AddItemToObject(o, "signatures", sigs);
			}
			any = true;
		}
		if (any)
			cJSON_AddItemToObject(models, e->name, m);
		else
			cJSON_Delete(m);
	}
	*generation = t->gen;
	pthread_mutex_unlock(&t->mu);
	return s;
}

bool node_table_ready(node_table *t)
{
	bool ready;
	pthread_mutex_lock(&t->mu);
	ready = !t->restoring;
	/* a model never given traffic (say its first load failed) is not
	 * something the node should serve yet; one the saved state served is */
	for (entry *e = t->head; e && ready; e = e->next)
		ready = weight_sum(e) == 100 || !e->wanted;
	pthread_mutex_unlock(&t->mu);
	return ready;
}

void node_table_set_restoring(node_table *t, bool on)
{
	pthread_mutex_lock(&t->mu);
	t->restoring = on;
	t->gen++;
	pthread_mutex_unlock(&t->mu);
}

void node_table_want(node_table *t, const char *model)
{
	entry *e;
	pthread_mutex_lock(&t->mu);
	if ((e = find(t, model)))
		e->wanted = true;
	pthread_mutex_unlock(&t->mu);
}

bool node_table_is_restoring(node_table *t)
{
	bool on;
	pthread_mutex_lock(&t->mu);
	on = t->restoring;
	pthread_mutex_unlock(&t->mu);
	return on;
}

void node_table_each(node_table *t, void (*fn)(void *arg, const node_version *v, int weight), void *arg)
{
	pthread_mutex_lock(&t->mu);
	for (entry *e = t->head; e; e = e->next)
		for (int i = 0; i < e->nv; i++)
			fn(arg, e->vs[i], e->weights[i]);
	pthread_mutex_unlock(&t->mu);
}

/*
 * test_node_table.c - unit tests for mlreg-node's table of served versions
 * (node/table.c): loads begin and end, the first version's weight, traffic
 * changes that are all or nothing, weighted routing and sticky ids, shadow
 * picks, unload rules and the digests they free, reference counting across
 * an unload, concurrent loads of one version, the saved state and
 * readiness.
 *
 * READY versions carry an empty node_model (no runtime handle): the table
 * never looks inside a model, it only owns it, and node_model_close() of an
 * empty one frees just the struct, so ASan sees every ownership mistake.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include <pthread.h>
#include "node/node.h"

static const char *const D1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
static const char *const D2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

static node_model *fake_model(void)
{
	node_model *m = calloc(1, sizeof(*m));
	assert_non_null(m);
	return m;
}

/* Load version ver of model with digest as READY (or UNAVAILABLE). */
static void load(node_table *t, const char *model, const char *ver, const char *digest, bool ok)
{
	node_version *v = NULL;
	assert_int_equal(node_table_begin_load(t, model, ver, digest, model, &v), 0);
	node_table_end_load(t, v, ok ? fake_model() : NULL, ok ? NULL : "broken on purpose");
}

static int weight_of(node_table *t, const char *model, const char *ver)
{
	cJSON *tr = node_table_traffic_json(t, model);
	int w = -1;
	const cJSON *it = tr ? cJSON_GetObjectItem(cJSON_GetObjectItem(tr, "weights"), ver) : NULL;
	if (it)
		w = it->valueint;
	cJSON_Delete(tr);
	return w;
}

static cJSON *obj(const char *text)
{
	cJSON *o = cJSON_Parse(text);
	assert_non_null(o);
	return o;
}

static int traffic(node_table *t, const char *model, const char *weights, const char *shadow)
{
	cJSON *w = obj(weights);
	int rc = node_table_traffic(t, model, w, shadow);
	cJSON_Delete(w);
	return rc;
}

static const char *pick(node_table *t, const char *model, const char *id)
{
	static char buf[16];
	node_version *v = NULL, *s = NULL;
	if (node_table_pick(t, model, NULL, id, &v, &s) < 0)
		return NULL;
	snprintf(buf, sizeof(buf), "%s", v->version);
	node_version_unref(v);
	node_version_unref(s);
	return buf;
}

static void first_version_takes_traffic(void **state)
{
	node_table *t;
	node_version *v = NULL, *p = NULL, *s = NULL;
	assert_int_equal(node_table_new(&t), 0);
	assert_int_equal(node_table_pick(t, "m", NULL, NULL, &p, &s), MLREG_ENOTFOUND);
	assert_int_equal(node_table_begin_load(t, "m", "1", D1, "m", &v), 0);
	assert_int_equal(node_table_pick(t, "m", NULL, NULL, &p, &s), MLREG_ECONFLICT); /* LOADING */
	assert_null(p);
	node_table_end_load(t, v, fake_model(), NULL);
	assert_int_equal(weight_of(t, "m", "1"), 100);
	load(t, "m", "2", D2, true);
	assert_int_equal(weight_of(t, "m", "2"), 0); /* loading never moves traffic */
	for (int i = 0; i < 500; i++)
		assert_string_equal(pick(t, "m", NULL), "1");
	assert_true(node_table_ready(t));
	node_table_free(t);
}

static void reload_rules(void **state)
{
	node_table *t;
	node_version *v = NULL;
	assert_int_equal(node_table_new(&t), 0);
	load(t, "m", "1", D1, true);
	assert_int_equal(node_table_begin_load(t, "m", "1", D1, "m", &v), 1); /* READY, same digest */
	node_version_unref(v);
	assert_int_equal(node_table_begin_load(t, "m", "1", D2, "m", &v), MLREG_ECONFLICT);
	load(t, "m", "3", D2, false); /* UNAVAILABLE */
	assert_int_equal(node_table_begin_load(t, "m", "3", D1, "m", &v), 0); /* retried, new digest */
	node_table_end_load(t, v, fake_model(), NULL);
	{
		cJSON *idx = node_table_index(t);
		const cJSON *e;
		bool seen = false;
		cJSON_ArrayForEach(e, idx)
		{
			if (!strcmp(util_json_str(e, "version"), "3")) {
				assert_string_equal(util_json_str(e, "state"), "READY");
				assert_string_equal(util_json_str(e, "digest"), D1);
				assert_string_equal(util_json_str(e, "reason"), "");
				seen = true;
			}
		}
		assert_true(seen);
		cJSON_Delete(idx);
	}
	assert_int_equal(node_table_begin_load(t, "m", "x", D1, "m", &v), MLREG_EINVALID);
	node_table_free(t);
}

static void traffic_all_or_nothing(void **state)
{
	node_table *t;
	assert_int_equal(node_table_new(&t), 0);
	load(t, "m", "1", D1, true);
	load(t, "m", "2", D2, true);
	load(t, "m", "3", D2, false);
	assert_int_equal(traffic(t, "m", "{\"1\":90,\"2\":5}", NULL), MLREG_EINVALID);
	assert_int_equal(traffic(t, "m", "{\"1\":90,\"9\":10}", NULL), MLREG_EINVALID);
	assert_int_equal(traffic(t, "m", "{\"1\":90,\"3\":10}", NULL), MLREG_EINVALID); /* not READY */
	assert_int_equal(traffic(t, "m", "{\"1\":90.5,\"2\":9.5}", NULL), MLREG_EINVALID);
	assert_int_equal(traffic(t, "m", "{\"1\":110,\"2\":-10}", NULL), MLREG_EINVALID);
	assert_int_equal(traffic(t, "m", "[100]", NULL), MLREG_EINVALID);
	assert_int_equal(traffic(t, "m", "{\"1\":100}", "3"), MLREG_EINVALID);
	assert_int_equal(traffic(t, "m", "{\"1\":100}", "7"), MLREG_EINVALID);
	assert_int_equal(traffic(t, "nope", "{\"1\":100}", NULL), MLREG_ENOTFOUND);
	assert_int_equal(weight_of(t, "m", "1"), 100);
	assert_int_equal(weight_of(t, "m", "2"), 0);
	/* zero weight on a version that is not READY is fine */
	assert_int_equal(traffic(t, "m", "{\"1\":60,\"2\":40,\"3\":0}", "2"), 0);
	assert_int_equal(weight_of(t, "m", "1"), 60);
	assert_int_equal(weight_of(t, "m", "2"), 40);
	node_table_free(t);
}

static void split_and_sticky(void **state)
{
	node_table *t;
	int on2 = 0, random2 = 0;
	char id[32];
	bool was2[10000];
	assert_int_equal(node_table_new(&t), 0);
	load(t, "m", "1", D1, true);
	load(t, "m", "2", D2, true);
	assert_int_equal(traffic(t, "m", "{\"1\":90,\"2\":10}", NULL), 0);
	for (int i = 0; i < 10000; i++) {
		snprintf(id, sizeof(id), "client-%d", i);
		was2[i] = !strcmp(pick(t, "m", id), "2");
		on2 += was2[i];
		for (int k = 0; k < 3; k++) /* the same id lands on the same version */
			assert_int_equal(!strcmp(pick(t, "m", id), "2"), was2[i]);
	}
	/* binomial(10000, 0.1): sigma 30; 4 sigma = 120 */
	assert_in_range(on2, 1000 - 120, 1000 + 120);
	for (int i = 0; i < 10000; i++)
		random2 += !strcmp(pick(t, "m", NULL), "2");
	assert_in_range(random2, 1000 - 120, 1000 + 120);
	/* the newer version's share grows: the ids it had stay with it */
	assert_int_equal(traffic(t, "m", "{\"1\":50,\"2\":50}", NULL), 0);
	for (int i = 0; i < 10000; i++) {
		snprintf(id, sizeof(id), "client-%d", i);
		if (was2[i])
			assert_string_equal(pick(t, "m", id), "2");
	}
	node_table_free(t);
}

static void shadow_pick(void **state)
{
	node_table *t;
	node_version *v = NULL, *s = NULL;
	assert_int_equal(node_table_new(&t), 0);
	load(t, "m", "1", D1, true);
	load(t, "m", "2", D2, true);
	assert_int_equal(traffic(t, "m", "{\"1\":100}", "2"), 0);
	assert_int_equal(node_table_pick(t, "m", NULL, NULL, &v, &s), 0);
	assert_string_equal(v->version, "1");
	assert_non_null(s);
	assert_string_equal(s->version, "2");
	node_version_unref(v);
	node_version_unref(s);
	/* a request naming the shadow version is not mirrored to itself */
	assert_int_equal(node_table_pick(t, "m", "2", NULL, &v, &s), 0);
	assert_null(s);
	node_version_unref(v);
	assert_int_equal(traffic(t, "m", "{\"1\":100}", NULL), 0);
	assert_int_equal(node_table_pick(t, "m", NULL, NULL, &v, &s), 0);
	assert_null(s);
	node_version_unref(v);
	node_table_free(t);
}

static void unload_rules(void **state)
{
	node_table *t;
	char **gone = NULL;
	int n = -1;
	assert_int_equal(node_table_new(&t), 0);
	load(t, "m", "1", D1, true);
	load(t, "m", "2", D2, true);
	load(t, "m", "3", D1, true); /* the same files as 1 */
	assert_int_equal(node_table_unload(t, "m", "1", &gone, &n), MLREG_ECONFLICT); /* weight 100 */
	assert_int_equal(node_table_unload(t, "m", "3", &gone, &n), 0);
	assert_int_equal(n, 0); /* D1 is still used by 1 */
	free(gone);
	assert_int_equal(node_table_unload(t, "m", "2", &gone, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(gone[0], D2);
	free(gone[0]);
	free(gone);
	assert_int_equal(node_table_unload(t, "m", "2", &gone, &n), 0); /* idempotent */
	assert_int_equal(n, 0);
	free(gone);
	assert_int_equal(node_table_unload(t, "nope", NULL, &gone, &n), 0);
	free(gone);
	assert_int_equal(node_table_unload(t, "m", NULL, &gone, &n), 0); /* all, weights included */
	assert_int_equal(n, 1);
	free(gone[0]);
	free(gone);
	assert_null(node_table_traffic_json(t, "m"));
	node_table_free(t);
}

static void reference_outlives_unload(void **state)
{
	node_table *t;
	node_version *v = NULL, *s = NULL;
	char **gone = NULL;
	int n;
	assert_int_equal(node_table_new(&t), 0);
	load(t, "m", "1", D1, true);
	load(t, "m", "2", D2, true);
	assert_int_equal(node_table_pick(t, "m", "2", NULL, &v, &s), 0); /* an inference in flight */
	assert_int_equal(node_table_unload(t, "m", "2", &gone, &n), 0);
	for (int i = 0; i < n; i++)
		free(gone[i]);
	free(gone);
	/* still usable: ASan would report a use after free here */
	assert_string_equal(v->version, "2");
	assert_non_null(v->m);
	node_version_unref(v); /* the last reference frees it */
	node_table_free(t);
}

typedef struct {
	node_table *t;
	int rc;
	pthread_t tid;
} loader;

static void *second_load(void *arg)
{
	loader *l = arg;
	node_version *v = NULL;
	l->rc = node_table_begin_load(l->t, "m", "1", D1, "m", &v);
	if (l->rc >= 0)
		node_version_unref(v);
	return NULL;
}

static void concurrent_loads_wait(void **state)
{
	node_table *t;
	node_version *v = NULL;
	loader l;
	assert_int_equal(node_table_new(&t), 0);
	assert_int_equal(node_table_begin_load(t, "m", "1", D1, "m", &v), 0);
	l.t = t;
	l.rc = -100;
	assert_int_equal(pthread_create(&l.tid, NULL, second_load, &l), 0);
	usleep(50000);
	assert_int_equal(l.rc, -100); /* waiting for the first */
	node_table_end_load(t, v, fake_model(), NULL);
	pthread_join(l.tid, NULL);
	assert_int_equal(l.rc, 1); /* the first one's result: READY with that digest */
	node_table_free(t);
}

static void state_and_readiness(void **state)
{
	node_table *t;
	uint64_t g1, g2;
	cJSON *s;
	assert_int_equal(node_table_new(&t), 0);
	node_table_set_restoring(t, true);
	assert_false(node_table_ready(t));
	load(t, "m", "1", D1, true);
	load(t, "m", "2", D2, false);
	node_table_set_restoring(t, false);
	s = node_table_state(t, &g1);
	assert_non_null(s);
	{
		const cJSON *m = cJSON_GetObjectItem(cJSON_GetObjectItem(s, "models"), "m");
		const cJSON *vs = cJSON_GetObjectItem(m, "versions");
		assert_string_equal(util_json_str(cJSON_GetObjectItem(vs, "1"), "digest"), D1);
		/* a failed version stays desired, so a restart retries it */
		assert_string_equal(util_json_str(cJSON_GetObjectItem(vs, "2"), "digest"), D2);
		assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "weights"), "1")->valueint, 100);
		assert_true(cJSON_IsNull(cJSON_GetObjectItem(m, "shadow")));
	}
	cJSON_Delete(s);
	assert_int_equal(traffic(t, "m", "{\"1\":100}", NULL), 0);
	cJSON_Delete(node_table_state(t, &g2));
	assert_true(g2 > g1);
	assert_true(node_table_ready(t));
	/* a model whose first load failed does not make the node unready... */
	load(t, "other", "1", D2, false);
	assert_true(node_table_ready(t));
	/* ...unless the saved state served it */
	node_table_want(t, "other");
	assert_false(node_table_ready(t));
	node_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(first_version_takes_traffic),
		cmocka_unit_test(reload_rules),
		cmocka_unit_test(traffic_all_or_nothing),
		cmocka_unit_test(split_and_sticky),
		cmocka_unit_test(shadow_pick),
		cmocka_unit_test(unload_rules),
		cmocka_unit_test(reference_outlives_unload),
		cmocka_unit_test(concurrent_loads_wait),
		cmocka_unit_test(state_and_readiness),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_promo_moves.c - unit tests for moving a stage (registry/promotion.c
 * through registry/registry.h): compare-and-swap with expect_current,
 * promoting the current holder as a no-op, the rollback stack (popping,
 * promoting after a rollback, rolling back "to" a version, and forcing one
 * from off the stack, which only an admin may), the per-stage history and
 * its paging, promotions racing from several threads (plain and with
 * expect_current), and the audit chain after a whole workflow.
 *
 * A move must be atomic and leave a history that can be replayed: each
 * stage's rows form one chain (every "from" is the previous row's "to", the
 * last "to" is the holder), the stack depth follows the moves, and there is
 * exactly one audit entry per move and none for a refusal or a conflict.
 * Racing callers must serialise into that same chain, and under
 * compare-and-swap exactly one wins each round while the losers are told
 * who did.  Each test runs on its own fresh registry (treg_setup /
 * treg_teardown).
 */
#include <pthread.h>
#include "testpromo.h"

/* ==== 1. compare-and-swap ==== */

static void cas_expect_current(void **state)
{
	treg *t = *state;
	cJSON *o = NULL;
	snap before;
	int64_t v1 = push(t, "m", NULL), v2 = push(t, "m", NULL), v3 = push(t, "m", NULL);
	(void)v3;

	/* 0: the stage must be empty - it is */
	assert_int_equal(promote(t, &t->admin, "m", "production", "{\"version\":1,\"expect_current\":0}", &o), 0);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "promoted")));
	assert_ver(o, "from", 0);
	cJSON_Delete(o);
	assert_int_equal(holder(t, "m", "production"), v1);

	/* 0 on a non-empty stage, or the wrong holder: conflict naming the holder */
	before = snapshot(t, "m", "production");
	assert_int_equal(promote(t, &t->admin, "m", "production", "{\"version\":2,\"expect_current\":0}", &o),
			 MLREG_ECONFLICT);
	assert_non_null(o);
	assert_int_equal(jnum(o, "current"), v1);
	cJSON_Delete(o);
	o = NULL;
	assert_int_equal(promote(t, &t->admin, "m", "production", "{\"version\":2,\"expect_current\":3}", &o),
			 MLREG_ECONFLICT);
	assert_int_equal(jnum(o, "current"), v1);
	cJSON_Delete(o);
	o = NULL;
	assert_unchanged(before, snapshot(t, "m", "production"));

	/* on an empty stage a non-zero expectation conflicts with "current":null */
	before = snapshot(t, "m", "staging");
	assert_int_equal(promote(t, &t->admin, "m", "staging", "{\"version\":2,\"expect_current\":1}", &o),
			 MLREG_ECONFLICT);
	assert_non_null(o);
	assert_ver(o, "current", 0);
	cJSON_Delete(o);
	o = NULL;
	assert_unchanged(before, snapshot(t, "m", "staging"));

	/* the right expectation moves it */
	assert_int_equal(promote(t, &t->admin, "m", "production", "{\"version\":2,\"expect_current\":1}", &o), 0);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "promoted")));
	assert_ver(o, "from", v1);
	cJSON_Delete(o);
	assert_int_equal(holder(t, "m", "production"), v2);
	/* null means no expectation */
	assert_int_equal(promote(t, &t->admin, "m", "production", "{\"version\":3,\"expect_current\":null}", NULL), 0);
	assert_int_equal(holder(t, "m", "production"), 3);

	/* malformed bodies */
	static const char *const bad[] = {
		"{\"version\":1,\"expect_current\":-1}", "{\"version\":1,\"expect_current\":\"2\"}",
		"{\"version\":1,\"expect_current\":1.5}", "{\"version\":0}", "{}", "{\"version\":\"Bad\"}",
		"{\"version\":1,\"force\":true}", "{\"version\":1,\"comment\":5}", "[1]",
	};
	before = snapshot(t, "m", "production");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o = NULL;
		if (promote(t, &t->admin, "m", "production", bad[i], &o) != MLREG_EINVALID)
			fail_msg("expected MLREG_EINVALID for %s", bad[i]);
		cJSON_Delete(o);
	}
	assert_int_equal(promote(t, &t->admin, "m", "canary", "{\"version\":1}", NULL), MLREG_ENOTFOUND);
	assert_int_equal(promote(t, &t->admin, "nope", "production", "{\"version\":1}", NULL), MLREG_ENOTFOUND);
	assert_int_equal(promote(t, &t->admin, "m", "production", "{\"version\":9}", NULL), MLREG_ENOTFOUND);
	assert_unchanged(before, snapshot(t, "m", "production"));
	assert_int_equal(assert_chain(t, "m", "production"), 3);
	assert_audit_ok(t);
}

static void promote_current_holder_is_noop(void **state)
{
	treg *t = *state;
	cJSON *o = NULL;
	snap before;
	int64_t v1 = push(t, "m", NULL);
	promote_ok(t, &t->admin, "m", "production", v1, 0);
	before = snapshot(t, "m", "production");
	assert_int_equal(promote(t, &t->admin, "m", "production", "{\"version\":1,\"comment\":\"again\"}", &o), 0);
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "promoted")));
	assert_true(passed(o));
	assert_int_equal(jnum(o, "version"), v1);
	assert_non_null(util_json_str(o, "message"));
	cJSON_Delete(o);
	o = NULL;
	/* with a matching expectation too */
	assert_int_equal(promote(t, &t->admin, "m", "production", "{\"version\":1,\"expect_current\":1}", &o), 0);
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "promoted")));
	cJSON_Delete(o);
	/* and by stage reference */
	assert_int_equal(promote(t, &t->admin, "m", "production", "{\"version\":\"production\"}", &o), 0);
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "promoted")));
	cJSON_Delete(o);
	assert_unchanged(before, snapshot(t, "m", "production"));
	assert_int_equal(history_len(t, "m", "production", NULL), 1);
	assert_int_equal(audit_count(t, "promote"), 1);
	assert_audit_ok(t);
}

/* ==== 2. the rollback stack ==== */

static void rollback_pops_the_stack(void **state)
{
	treg *t = *state;
	reg_principal dave;
	cJSON *h;
	const cJSON *e;
	int64_t v[4];
	principal(t, "dave", "deployer", &dave);
	for (int i = 1; i <= 3; i++)
		v[i] = push(t, "m", NULL);
	assert_int_equal(promote(t, &dave, "m", "production", "{\"version\":1,\"comment\":\"first\"}", NULL), 0);
	assert_int_equal(promote(t, &dave, "m", "production", "{\"version\":2,\"comment\":\"second\"}", NULL), 0);
	assert_int_equal(promote(t, &dave, "m", "production", "{\"version\":3,\"comment\":\"third\"}", NULL), 0);
	assert_int_equal(depth_of(t, "m", "production"), 3);

	rollback_ok(t, &dave, "m", "production", "{\"comment\":\"3 is slow\"}", v[3], v[2]);
	assert_int_equal(depth_of(t, "m", "production"), 2);
	rollback_ok(t, &dave, "m", "production", "{}", v[2], v[1]);
	assert_int_equal(depth_of(t, "m", "production"), 1);
	/* a stack of one has nothing to go back to */
	rollback_refused(t, &dave, "m", "production", "{}", MLREG_EREFUSED);
	rollback_refused(t, &t->admin, "m", "production", "{}", MLREG_EREFUSED);
	assert_int_equal(holder(t, "m", "production"), v[1]);
	/* an empty stage neither */
	rollback_refused(t, &dave, "m", "staging", "{}", MLREG_EREFUSED);
	rollback_refused(t, &dave, "m", "staging", "{\"to\":1}", MLREG_EREFUSED);

	/* the history: kinds, from/to, actors and comments */
	assert_int_equal(assert_chain(t, "m", "production"), 5);
	h = history(t, "m", "production", NULL);
	e = cJSON_GetObjectItem(h, "history")->child;
	static const char *const kinds[] = {"promote", "promote", "promote", "rollback", "rollback"};
	static const char *const comments[] = {"first", "second", "third", "3 is slow", ""};
	static const int64_t tos[] = {1, 2, 3, 2, 1};
	for (int i = 0; i < 5; i++, e = e->next) {
		assert_non_null(e);
		assert_string_equal(util_json_str(e, "kind"), kinds[i]);
		assert_string_equal(util_json_str(e, "comment"), comments[i]);
		assert_string_equal(util_json_str(e, "actor"), "dave");
		assert_int_equal(jnum(e, "to"), tos[i]);
		assert_non_null(util_json_str(e, "time"));
	}
	assert_null(e);
	cJSON_Delete(h);
	assert_int_equal(audit_count(t, "promote"), 3);
	assert_int_equal(audit_count(t, "rollback"), 2);
	/* the popped versions hold nothing now */
	assert_version_pointers(t, "m", v[3], "", "");
	assert_version_pointers(t, "m", v[1], "production", "");
	assert_audit_ok(t);
}

static void promote_after_rollback(void **state)
{
	treg *t = *state;
	int64_t v[5];
	for (int i = 1; i <= 4; i++)
		v[i] = push(t, "m", NULL);
	promote_ok(t, &t->admin, "m", "production", v[1], 0);
	promote_ok(t, &t->admin, "m", "production", v[2], v[1]);
	promote_ok(t, &t->admin, "m", "production", v[3], v[2]);
	rollback_ok(t, &t->admin, "m", "production", "{}", v[3], v[2]);
	/* promote pushes onto what is left: 1,2,4 */
	promote_ok(t, &t->admin, "m", "production", v[4], v[2]);
	assert_int_equal(depth_of(t, "m", "production"), 3);
	rollback_ok(t, &t->admin, "m", "production", "{}", v[4], v[2]);
	rollback_ok(t, &t->admin, "m", "production", "{}", v[2], v[1]);
	assert_int_equal(depth_of(t, "m", "production"), 1);
	assert_int_equal(assert_chain(t, "m", "production"), 7);
	assert_audit_ok(t);
}

static void rollback_to_pops_down(void **state)
{
	treg *t = *state;
	int64_t v[4];
	for (int i = 1; i <= 3; i++)
		v[i] = push(t, "m", NULL);
	for (int i = 1; i <= 3; i++)
		promote_ok(t, &t->admin, "m", "production", v[i], i > 1 ? v[i - 1] : 0);
	/* to 1 pops 3 and 2 in one move: one history row, one audit entry */
	rollback_ok(t, &t->admin, "m", "production", "{\"to\":1,\"comment\":\"back to the start\"}", v[3], v[1]);
	assert_int_equal(depth_of(t, "m", "production"), 1);
	assert_int_equal(audit_count(t, "rollback"), 1);
	assert_version_pointers(t, "m", v[2], "", "");
	/* to the current holder: nothing to do, refused */
	rollback_refused(t, &t->admin, "m", "production", "{\"to\":1}", MLREG_EREFUSED);
	/* malformed */
	static const char *const bad[] = {"{\"to\":0}", "{\"to\":-2}", "{\"to\":\"1\"}", "{\"to\":1.5}",
					  "{\"force\":\"yes\"}", "{\"bogus\":1}", "{\"comment\":false}", "[]"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		rollback_refused(t, &t->admin, "m", "production", bad[i], MLREG_EINVALID);
	assert_int_equal(rollback(t, &t->admin, "m", "canary", "{}", NULL), MLREG_ENOTFOUND);
	assert_int_equal(rollback(t, &t->admin, "nope", "production", "{}", NULL), MLREG_ENOTFOUND);
	assert_int_equal(assert_chain(t, "m", "production"), 4);
	assert_audit_ok(t);
}

static void rollback_off_stack_needs_admin_force(void **state)
{
	treg *t = *state;
	reg_principal dave;
	cJSON *e;
	int64_t v[5];
	principal(t, "dave", "deployer", &dave);
	for (int i = 1; i <= 4; i++)
		v[i] = push(t, "m", NULL);
	for (int i = 1; i <= 3; i++)
		promote_ok(t, &dave, "m", "production", v[i], i > 1 ? v[i - 1] : 0);
	rollback_ok(t, &dave, "m", "production", "{}", v[3], v[2]); /* stack 1,2 */

	rollback_refused(t, &dave, "m", "production", "{\"to\":3}", MLREG_EREFUSED);
	rollback_refused(t, &t->admin, "m", "production", "{\"to\":3}", MLREG_EREFUSED);
	rollback_refused(t, &t->admin, "m", "production", "{\"to\":3,\"force\":false}", MLREG_EREFUSED);
	rollback_refused(t, &dave, "m", "production", "{\"to\":3,\"force\":true}", MLREG_EFORBIDDEN);

	/* an admin's force puts it on top: 1,2,3 */
	rollback_ok(t, &t->admin, "m", "production", "{\"to\":3,\"force\":true,\"comment\":\"hotfix\"}", v[2], v[3]);
	assert_int_equal(depth_of(t, "m", "production"), 3);
	e = audit_last(t);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "details"), "forced")));
	cJSON_Delete(e);
	rollback_ok(t, &dave, "m", "production", "{}", v[3], v[2]);
	/* even a version that never held the stage: 1,2,4 */
	rollback_ok(t, &t->admin, "m", "production", "{\"to\":4,\"force\":true}", v[2], v[4]);
	assert_int_equal(depth_of(t, "m", "production"), 3);
	assert_version_pointers(t, "m", v[4], "production", "");
	/* but not one that does not exist */
	rollback_refused(t, &t->admin, "m", "production", "{\"to\":9,\"force\":true}", MLREG_ENOTFOUND);
	rollback_ok(t, &dave, "m", "production", "{}", v[4], v[2]);

	assert_int_equal(assert_chain(t, "m", "production"), 8);
	assert_int_equal(audit_count(t, "rollback"), 5);
	assert_int_equal(audit_count(t, "promote"), 3);
	assert_audit_ok(t);
}

/* Moves on several stages and aliases of one model: each stage's history
 * is its own consistent chain; the unfiltered history holds all of them in
 * order. */
static void history_chain_per_stage(void **state)
{
	treg *t = *state;
	cJSON *h;
	int64_t v[5];
	int total;
	for (int i = 1; i <= 4; i++)
		v[i] = push(t, "m", NULL);
	promote_ok(t, &t->admin, "m", "staging", v[1], 0);
	promote_ok(t, &t->admin, "m", "production", v[1], 0);
	promote_ok(t, &t->admin, "m", "staging", v[2], v[1]);
	assert_int_equal(alias_set(t, "m", "champion", "{\"version\":\"staging\"}", NULL), 0);
	promote_ok(t, &t->admin, "m", "staging", v[3], v[2]);
	promote_ok(t, &t->admin, "m", "production", v[3], v[1]);
	rollback_ok(t, &t->admin, "m", "staging", "{}", v[3], v[2]);
	promote_ok(t, &t->admin, "m", "staging", v[4], v[2]);
	rollback_ok(t, &t->admin, "m", "production", "{}", v[3], v[1]);
	assert_int_equal(assert_chain(t, "m", "staging"), 5);
	assert_int_equal(assert_chain(t, "m", "production"), 3);
	assert_int_equal(history_len(t, "m", NULL, "champion"), 1);
	total = history_len(t, "m", NULL, NULL);
	assert_int_equal(total, 9);
	/* oldest first, ids increasing */
	h = history(t, "m", NULL, NULL);
	{
		int64_t last = 0;
		for (const cJSON *e = cJSON_GetObjectItem(h, "history")->child; e; e = e->next) {
			assert_true(jnum(e, "id") > last);
			last = jnum(e, "id");
		}
	}
	cJSON_Delete(h);
	/* paging */
	assert_int_equal(reg_history(t->r, "m", NULL, NULL, 4, 0, &h), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(h, "history")), 4);
	assert_non_null(util_json_str(h, "next_page_token"));
	cJSON_Delete(h);
	assert_int_equal(reg_history(t->r, "m", NULL, NULL, 4, 8, &h), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(h, "history")), 1);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(h, "next_page_token")));
	cJSON_Delete(h);
	h = NULL;
	assert_int_equal(reg_history(t->r, "m", "staging", "champion", 10, 0, &h), MLREG_EINVALID);
	assert_int_equal(reg_history(t->r, "nope", NULL, NULL, 10, 0, &h), MLREG_ENOTFOUND);
	assert_null(h);
	assert_int_equal(audit_count(t, "promote") + audit_count(t, "rollback") + audit_count(t, "alias.set"), total);
	assert_audit_ok(t);
}

/* ==== 3. racing promotions ==== */

#define RACERS 8
#define RACE_ROUNDS 3
#define CAS_RACERS 6
#define CAS_ROUNDS 5

typedef struct {
	treg *t;
	const char *model, *stage;
	int64_t version;
	bool use_expect;
	pthread_barrier_t *barrier;
	/* results, asserted by the main thread (cmocka is not thread-safe) */
	int read_rc, rc, promoted;
	int64_t expected, from, current;
} racer;

static void *race_one(void *p)
{
	racer *a = p;
	char body[160];
	cJSON *b, *out = NULL;
	a->read_rc = 0;
	if (a->use_expect) {
		util_ref ref;
		int64_t n = 0;
		a->read_rc = reg_ref_segment_parse(a->stage, &ref, a->model);
		if (a->read_rc == 0) {
			a->read_rc = reg_resolve(a->t->r, &ref, &n);
			if (a->read_rc == MLREG_ENOTFOUND)
				a->read_rc = 0, n = 0;
		}
		a->expected = n;
	}
	pthread_barrier_wait(a->barrier);
	if (a->use_expect)
		snprintf(body, sizeof(body), "{\"version\":%lld,\"expect_current\":%lld,\"comment\":\"racer %lld\"}",
			 (long long)a->version, (long long)a->expected, (long long)a->version);
	else
		snprintf(body, sizeof(body), "{\"version\":%lld,\"comment\":\"racer %lld\"}", (long long)a->version,
			 (long long)a->version);
	b = cJSON_Parse(body);
	a->rc = reg_promote(a->t->r, &a->t->admin, a->model, a->stage, b, &out);
	a->promoted = cJSON_IsTrue(cJSON_GetObjectItem(out, "promoted"));
	a->from = jnum(out, "from");
	a->current = jnum(out, "current");
	cJSON_Delete(out);
	cJSON_Delete(b);
	return NULL;
}

static void run_racers(racer *rs, int n)
{
	pthread_t th[RACERS > CAS_RACERS ? RACERS : CAS_RACERS];
	pthread_barrier_t barrier;
	assert_true(n <= (int)(sizeof(th) / sizeof(th[0])));
	assert_int_equal(pthread_barrier_init(&barrier, NULL, (unsigned)n), 0);
	for (int i = 0; i < n; i++) {
		rs[i].barrier = &barrier;
		assert_int_equal(pthread_create(&th[i], NULL, race_one, &rs[i]), 0);
	}
	for (int i = 0; i < n; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	pthread_barrier_destroy(&barrier);
}

static void racing_promotions_serialise(void **state)
{
	treg *t = *state;
	racer rs[RACERS];
	int64_t total = 0;
	for (int round = 0; round < RACE_ROUNDS; round++) {
		cJSON *h;
		memset(rs, 0, sizeof(rs));
		for (int i = 0; i < RACERS; i++) {
			rs[i].t = t;
			rs[i].model = "m";
			rs[i].stage = "production";
			rs[i].version = push(t, "m", NULL);
		}
		run_racers(rs, RACERS);
		for (int i = 0; i < RACERS; i++) {
			if (rs[i].rc != 0)
				fail_msg("racer for version %lld: rc %d", (long long)rs[i].version, rs[i].rc);
			assert_true(rs[i].promoted);
		}
		total += RACERS;
		/* the history is one chain, every racer's version in it once, and
		 * each racer was told the "from" its own row records */
		assert_int_equal(assert_chain(t, "m", "production"), total);
		h = history(t, "m", "production", NULL);
		for (int i = 0; i < RACERS; i++) {
			int seen = 0;
			for (const cJSON *e = cJSON_GetObjectItem(h, "history")->child; e; e = e->next)
				if (jnum(e, "to") == rs[i].version) {
					char c[64];
					seen++;
					assert_int_equal(jnum(e, "from"), rs[i].from);
					snprintf(c, sizeof(c), "racer %lld", (long long)rs[i].version);
					assert_string_equal(util_json_str(e, "comment"), c);
					assert_string_equal(util_json_str(e, "kind"), "promote");
				}
			assert_int_equal(seen, 1);
		}
		cJSON_Delete(h);
		assert_int_equal(depth_of(t, "m", "production"), total);
		assert_int_equal(audit_count(t, "promote"), total);
	}
	/* the stack unwinds in history order */
	{
		cJSON *h = history(t, "m", "production", NULL);
		const cJSON *last = NULL;
		for (const cJSON *e = cJSON_GetObjectItem(h, "history")->child; e; e = e->next)
			last = e;
		rollback_ok(t, &t->admin, "m", "production", "{}", jnum(last, "to"), jnum(last, "from"));
		cJSON_Delete(h);
	}
	assert_audit_ok(t);
}

static void racing_cas_one_winner_per_round(void **state)
{
	treg *t = *state;
	racer rs[CAS_RACERS];
	int64_t prev = 0;
	for (int round = 0; round < CAS_ROUNDS; round++) {
		int winners = 0;
		int64_t winner = 0;
		memset(rs, 0, sizeof(rs));
		for (int i = 0; i < CAS_RACERS; i++) {
			rs[i].t = t;
			rs[i].model = "m";
			rs[i].stage = "production";
			rs[i].use_expect = true;
			rs[i].version = push(t, "m", NULL);
		}
		run_racers(rs, CAS_RACERS);
		for (int i = 0; i < CAS_RACERS; i++) {
			assert_int_equal(rs[i].read_rc, 0);
			assert_int_equal(rs[i].expected, prev); /* all read before anyone moved */
			if (rs[i].rc == 0) {
				winners++;
				winner = rs[i].version;
				assert_true(rs[i].promoted);
				assert_int_equal(rs[i].from, prev);
			} else if (rs[i].rc != MLREG_ECONFLICT) {
				fail_msg("racer for version %lld: rc %d, expected 0 or MLREG_ECONFLICT", (long long)rs[i].version,
					 rs[i].rc);
			}
		}
		assert_int_equal(winners, 1);
		for (int i = 0; i < CAS_RACERS; i++)
			if (rs[i].rc == MLREG_ECONFLICT)
				assert_int_equal(rs[i].current, winner); /* the losers are told who won */
		assert_int_equal(holder(t, "m", "production"), winner);
		prev = winner;
	}
	assert_int_equal(assert_chain(t, "m", "production"), CAS_ROUNDS);
	assert_int_equal(depth_of(t, "m", "production"), CAS_ROUNDS);
	assert_int_equal(audit_count(t, "promote"), CAS_ROUNDS);
	assert_audit_ok(t);
}

/* ==== 4. the audit chain after a whole workflow ==== */

static void audit_chain_verifies_after_workflow(void **state)
{
	treg *t = *state;
	reg_principal alice, bob, dave;
	cJSON *o = NULL, *v = NULL;
	int status = 0;
	int64_t v1, v2, v3;
	int before;
	principal(t, "alice", "writer", &alice);
	principal(t, "bob", "approver", &bob);
	principal(t, "dave", "deployer", &dave);
	before = audit_count(t, NULL);
	assert_int_equal(stages_set(t, "{\"stages\":[\"dev\",\"staging\",\"production\"]}", NULL), 0);
	policy_ok(t, "m", "production", "{\"from\":\"staging\",\"approvals\":1,\"metrics\":[\"auc>=0.8\"]}");
	v1 = push_as(t, &alice, "m", "{\"metrics\":{\"auc\":0.85}}");
	v2 = push_as(t, &alice, "m", "{\"metrics\":{\"auc\":0.9}}");
	v3 = push_as(t, &alice, "m", "{\"metrics\":{\"auc\":0.7}}");
	promote_ok(t, &dave, "m", "staging", v1, 0);
	promote_ok(t, &dave, "m", "staging", v2, v1);
	promote_ok(t, &dave, "m", "staging", v3, v2);
	cJSON_Delete(promote_refused(t, &dave, "m", "production", v1)); /* no approval yet */
	assert_int_equal(approve(t, &bob, "m", "1", "{\"stage\":\"production\"}", &status, &o), 0);
	cJSON_Delete(o);
	assert_int_equal(approve(t, &bob, "m", "3", "{\"stage\":\"production\"}", &status, &o), 0);
	cJSON_Delete(o);
	promote_ok(t, &dave, "m", "production", v1, 0);
	cJSON_Delete(promote_refused(t, &dave, "m", "production", v3)); /* auc too low */
	rollback_ok(t, &dave, "m", "staging", "{\"to\":1}", v3, v1);
	assert_int_equal(alias_set(t, "m", "champion", "{\"version\":\"production\"}", NULL), 0);
	assert_int_equal(reg_version_delete(t->r, &t->admin, "m", v3, NULL), 0);
	assert_int_equal(policy_del(t, "m", "production"), 0);
	/* 1 stages.set + 1 policy.set + 3 version.create + 1 model.create + 3
	 * promote + 2 approve + 1 promote + 1 rollback + 1 alias.set + 1
	 * version.delete + 1 policy.remove */
	assert_int_equal(audit_count(t, NULL) - before, 16);
	assert_int_equal(reg_audit_verify(t->r, &v), 0);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(v, "ok")));
	assert_int_equal(jnum(v, "entries"), audit_count(t, NULL));
	assert_int_equal(jnum(cJSON_GetObjectItem(v, "head"), "seq"), audit_count(t, NULL));
	cJSON_Delete(v);
	assert_int_equal(assert_chain(t, "m", "staging"), 4);
	assert_int_equal(assert_chain(t, "m", "production"), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(cas_expect_current, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(promote_current_holder_is_noop, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(rollback_pops_the_stack, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(promote_after_rollback, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(rollback_to_pops_down, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(rollback_off_stack_needs_admin_force, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(history_chain_per_stage, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(racing_promotions_serialise, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(racing_cas_one_winner_per_round, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(audit_chain_verifies_after_workflow, treg_setup, treg_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

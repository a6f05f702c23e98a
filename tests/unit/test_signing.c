/*
 * test_signing.c - the registry's side of signing (registry/sign.c and the
 * gate's signature check), through registry/registry.h without HTTP.
 *
 * Keys and signatures are made with util/sign.c as `mlreg keygen` and
 * `mlreg sign` make them; the registry must store only what verifies,
 * report trust and validity per signature, audit every change once, and
 * let the gate pass only while a valid signature by a live trusted key
 * exists - so it refuses unsigned versions, versions signed by an unknown
 * key, and versions whose key was removed.
 */
#include "testpromo.h"
#include "util/sign.h"

typedef struct {
	char *priv, *pub;
	size_t plen;
} tkey;

static tkey key_new(treg *t, const char *name)
{
	char a[800], b[800];
	tkey k = {0};
	snprintf(a, sizeof(a), "%s/%s", t->dir, name);
	snprintf(b, sizeof(b), "%s/%s.pub", t->dir, name);
	assert_int_equal(util_sig_keygen(a, b, NULL), 0);
	assert_int_equal(util_read_file(a, 4096, &k.priv, &k.plen), 0);
	assert_int_equal(util_read_file(b, 4096, &k.pub, NULL), 0);
	return k;
}

static void key_free(tkey *k)
{
	free(k->priv);
	free(k->pub);
}

/* signature (base64, caller frees) of model:v as the registry reports it */
static char *sign_version(treg *t, const tkey *k, const char *model, int64_t v)
{
	cJSON *o = NULL;
	char *stmt = NULL, *sig = NULL;
	size_t n;
	assert_int_equal(reg_version_get(t->r, model, v, false, &o), 0);
	assert_int_equal(util_sig_statement(model, v, util_json_str(o, "digest"), &stmt, &n), 0);
	assert_int_equal(util_sig_sign(k->priv, k->plen, stmt, n, &sig, NULL), 0);
	cJSON_Delete(o);
	free(stmt);
	return sig;
}

static bool gate_passes(treg *t, const char *model, int64_t v, const char *stage, const char *expect_actual)
{
	util_ref ref;
	char seg[32];
	cJSON *g = NULL;
	snprintf(seg, sizeof(seg), "%lld", (long long)v);
	ref_of(model, seg, &ref);
	assert_int_equal(reg_gate(t->r, &ref, stage, &g), 0);
	bool found = false;
	for (const cJSON *c = cJSON_GetObjectItem(g, "checks")->child; c; c = c->next)
		if (!strcmp(util_json_str(c, "check"), "signature")) {
			found = true;
			if (expect_actual && !contains(util_json_str(c, "actual"), expect_actual))
				fail_msg("signature check: %s", cJSON_PrintUnformatted(c));
		}
	assert_true(found);
	bool ok = passed(g);
	cJSON_Delete(g);
	return ok;
}

static void keys_add_list_remove(void **state)
{
	treg *t = *state;
	tkey a = key_new(t, "a"), b = key_new(t, "b");
	cJSON *o = NULL;
	char fp[UTIL_SIG_FP_LEN + 1];
	assert_int_equal(util_sig_fingerprint(a.pub, strlen(a.pub), fp), 0);
	assert_int_equal(reg_key_add(t->r, &t->admin, "release", a.pub, &o), 0);
	assert_string_equal(util_json_str(o, "fingerprint"), fp);
	assert_string_equal(util_json_str(o, "name"), "release");
	cJSON_Delete(o);
	assert_last_audit(t, "key.add", "release", t->admin.principal);
	int before = audit_count(t, "key.add");
	/* same name, same key under another name, garbage, a private key */
	assert_int_equal(reg_key_add(t->r, &t->admin, "release", b.pub, &o), MLREG_EEXISTS);
	assert_int_equal(reg_key_add(t->r, &t->admin, "again", a.pub, &o), MLREG_EEXISTS);
	assert_true(contains(mlreg_error_last(), "already trusted as 'release'"));
	assert_int_equal(reg_key_add(t->r, &t->admin, "junk", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
				     &o),
			 MLREG_EINVALID);
	assert_int_equal(reg_key_add(t->r, &t->admin, "priv", a.priv, &o), MLREG_EINVALID);
	assert_int_equal(reg_key_add(t->r, &t->admin, "bad name", b.pub, &o), MLREG_EINVALID);
	assert_int_equal(audit_count(t, "key.add"), before);
	assert_int_equal(reg_key_add(t->r, &t->admin, "second", b.pub, &o), 0);
	cJSON_Delete(o);
	assert_int_equal(reg_key_list(t->r, &o), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "keys")), 2);
	assert_string_equal(util_json_str(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "keys"), 0), "name"), "release");
	cJSON_Delete(o);
	assert_int_equal(reg_key_remove(t->r, &t->admin, "release", &o), 0);
	cJSON_Delete(o);
	assert_last_audit(t, "key.remove", "release", t->admin.principal);
	assert_int_equal(reg_key_remove(t->r, &t->admin, "release", &o), MLREG_ENOTFOUND);
	assert_int_equal(reg_key_list(t->r, &o), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "keys")), 1);
	cJSON_Delete(o);
	/* a removed key can be trusted again */
	assert_int_equal(reg_key_add(t->r, &t->admin, "release", a.pub, &o), 0);
	cJSON_Delete(o);
	assert_audit_ok(t);
	key_free(&a);
	key_free(&b);
}

static void signatures_verified_before_stored(void **state)
{
	treg *t = *state;
	tkey a = key_new(t, "a"), b = key_new(t, "b");
	cJSON *o = NULL;
	int64_t v1 = push(t, "m", NULL), v2 = push(t, "m", "{\"description\":\"two\"}");
	char *s1 = sign_version(t, &a, "m", v1), *s2 = sign_version(t, &a, "m", v2);
	int before = audit_count(t, "version.sign");
	/* a's signature of v1 posted for v2, and posted with b's key: refused */
	assert_int_equal(reg_signature_add(t->r, &t->admin, "m", "2", a.pub, s1, &o), MLREG_EINVALID);
	assert_true(contains(mlreg_error_last(), "does not verify"));
	assert_int_equal(reg_signature_add(t->r, &t->admin, "m", "1", b.pub, s1, &o), MLREG_EINVALID);
	assert_int_equal(reg_signature_add(t->r, &t->admin, "m", "1", a.pub, "not base64", &o), MLREG_EINVALID);
	assert_int_equal(reg_signature_add(t->r, &t->admin, "m", "1", "garbage", s1, &o), MLREG_EINVALID);
	assert_int_equal(reg_signature_add(t->r, &t->admin, "m", "9", a.pub, s1, &o), MLREG_ENOTFOUND);
	assert_int_equal(reg_signature_add(t->r, &t->admin, "nope", "1", a.pub, s1, &o), MLREG_ENOTFOUND);
	assert_int_equal(audit_count(t, "version.sign"), before);
	assert_int_equal(reg_signatures_get(t->r, "m", "1", &o), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "signatures")), 0);
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "signed")));
	cJSON_Delete(o);
	/* the right one, by a key the registry does not trust (yet) */
	assert_int_equal(reg_signature_add(t->r, &t->admin, "m", "1", a.pub, s1, &o), 0);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "created")));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "valid")));
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "trusted")));
	cJSON_Delete(o);
	assert_last_audit(t, "version.sign", "m:1", t->admin.principal);
	/* a repeat changes nothing */
	assert_int_equal(reg_signature_add(t->r, &t->admin, "m", "1", a.pub, s1, &o), 0);
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "created")));
	cJSON_Delete(o);
	assert_int_equal(audit_count(t, "version.sign"), before + 1);
	assert_int_equal(reg_key_add(t->r, &t->admin, "a", a.pub, &o), 0);
	cJSON_Delete(o);
	assert_int_equal(reg_signatures_get(t->r, "m", "1", &o), 0);
	const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "signatures"), 0);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(e, "trusted")));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(e, "valid")));
	assert_string_equal(util_json_str(e, "key"), "a");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "signed")));
	assert_true(contains(util_json_str(o, "statement"), "\"type\":\"mlreg.signature.v1\",\"version\":1}"));
	cJSON_Delete(o);
	bool sig = false;
	assert_int_equal(reg_version_signed(t->r, "m", 1, &sig), 0);
	assert_true(sig);
	assert_int_equal(reg_version_signed(t->r, "m", 2, &sig), 0);
	assert_false(sig);
	free(s1);
	free(s2);
	assert_audit_ok(t);
	key_free(&a);
	key_free(&b);
}

static void gate_requires_trusted_valid_signature(void **state)
{
	treg *t = *state;
	tkey a = key_new(t, "a"), b = key_new(t, "b");
	cJSON *o = NULL;
	int64_t v = push(t, "m", NULL);
	policy_ok(t, "m", "production", "{\"require_signature\":true}");
	/* unsigned */
	assert_false(gate_passes(t, "m", v, "production", "no signature"));
	cJSON_Delete(promote_refused(t, &t->admin, "m", "production", v));
	/* signed by a key the registry does not trust */
	char *sb = sign_version(t, &b, "m", v);
	assert_int_equal(reg_signature_add(t->r, &t->admin, "m", "1", b.pub, sb, &o), 0);
	cJSON_Delete(o);
	assert_false(gate_passes(t, "m", v, "production", "1 signature, 1 valid, 0 by a trusted key"));
	cJSON_Delete(promote_refused(t, &t->admin, "m", "production", v));
	/* signed by a trusted key */
	assert_int_equal(reg_key_add(t->r, &t->admin, "a", a.pub, &o), 0);
	cJSON_Delete(o);
	char *sa = sign_version(t, &a, "m", v);
	assert_int_equal(reg_signature_add(t->r, &t->admin, "m", "1", a.pub, sa, &o), 0);
	cJSON_Delete(o);
	assert_true(gate_passes(t, "m", v, "production", "signed by a trusted key"));
	/* its key removed: refused again */
	assert_int_equal(reg_key_remove(t->r, &t->admin, "a", &o), 0);
	cJSON_Delete(o);
	assert_false(gate_passes(t, "m", v, "production", NULL));
	cJSON_Delete(promote_refused(t, &t->admin, "m", "production", v));
	/* trusting b makes b's signature count */
	assert_int_equal(reg_key_add(t->r, &t->admin, "b", b.pub, &o), 0);
	cJSON_Delete(o);
	promote_ok(t, &t->admin, "m", "production", v, 0);
	free(sa);
	free(sb);
	assert_audit_ok(t);
	key_free(&a);
	key_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(keys_add_list_remove, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(signatures_verified_before_stored, treg_setup, treg_teardown),
		cmocka_unit_test_setup_teardown(gate_requires_trusted_valid_signature, treg_setup, treg_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * fuzz_deploy_body.c - libFuzzer target for what reaches the deployment
 * controller's registry calls from outside: the bodies of node add and
 * deployment create, the rollout verb, and the state and events a
 * reconciler writes, fed to the real calls on a real (temporary) registry.
 *
 * These validators stand between the network and a write transaction, so
 * a crash, a leak or a half-applied change on hostile input would be a bug
 * in a place every deploy pipeline reaches.  Each input is parsed as JSON
 * and handed to reg_node_add and reg_deploy_create (what they create is
 * removed again, so every input starts from the same registry), its
 * "verb" member (when a string) to reg_rollout_verb, and the whole input
 * as a rollout state (with its "events" member) to reg_ctl_write.
 * Afterwards: a refused create stored nothing, a written state reads back
 * exactly as written, and the audit chain still verifies.  The registry
 * is opened once per process in a fresh temporary folder with one model,
 * one node and one deployment.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry/deploy.h"
#include "registry/registry.h"
#include "fuzz_registry.h"
#include "util/json.h"

static reg_registry *reg;
static reg_principal admin = {.principal = "fuzz-admin", .token_name = "fuzz", .role = REG_ROLE_ADMIN};
static int64_t epoch, fixed_id;

static void must(int rc)
{
	if (rc != 0) {
		fprintf(stderr, "fuzz_deploy_body setup: %s\n", mlreg_error_last());
		abort();
	}
}

static void setup(void)
{
	reg_blob_writer *w = NULL;
	char digest[UTIL_DIGEST_LEN + 1], body[512];
	uint64_t size;
	cJSON *b, *out = NULL;
	bool held = false;
	int status;
	reg = fuzz_registry_open("deploy");
	must(reg_blob_writer_new(reg, &w));
	must(reg_blob_writer_write(w, "weights", 7));
	must(reg_blob_writer_commit(w, NULL, digest, &size));
	snprintf(body, sizeof(body), "{\"files\":[{\"path\":\"m.bin\",\"size\":7,\"digest\":\"%s\"}]}", digest);
	b = cJSON_Parse(body);
	must(reg_version_create(reg, &admin, "m", b, NULL, &status, &out, NULL));
	cJSON_Delete(b);
	cJSON_Delete(out);
	b = cJSON_Parse("{\"name\":\"n\",\"url\":\"http://127.0.0.1:1\",\"labels\":{\"pool\":\"a\"}}");
	must(reg_node_add(reg, &admin, b, &out));
	cJSON_Delete(b);
	cJSON_Delete(out);
	b = cJSON_Parse("{\"name\":\"fixed\",\"model\":\"m\",\"stage\":\"production\",\"selector\":{\"pool\":\"a\"}}");
	must(reg_deploy_create(reg, &admin, b, &out));
	cJSON_Delete(b);
	cJSON_Delete(out);
	must(reg_ctl_lease(reg, "fuzz", 24LL * 3600 * 1000, &held, &epoch));
	if (!held)
		abort();
	must(reg_ctl_snapshot(reg, &out));
	fixed_id = (int64_t)cJSON_GetObjectItem(cJSON_GetObjectItem(out, "deployments")->child, "id")->valuedouble;
	cJSON_Delete(out);
}

static int count(const char *key)
{
	cJSON *s = NULL;
	int n;
	must(reg_ctl_snapshot(reg, &s));
	n = cJSON_GetArraySize(cJSON_GetObjectItem(s, key));
	cJSON_Delete(s);
	return n;
}

static void drop(cJSON **out)
{
	cJSON_Delete(*out);
	*out = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *body = NULL, *out = NULL, *v = NULL;
	const char *name, *verb;
	int nodes, deps;
	if (!reg)
		setup();
	if (size > 65536 || util_json_parse((const char *)data, size, 32, &body) != 0)
		return 0;
	name = util_json_str(body, "name");
	nodes = count("nodes");
	deps = count("deployments");

	if (reg_node_add(reg, &admin, body, &out) == 0) {
		if (!out || count("nodes") != nodes + 1 || reg_node_remove(reg, &admin, name, &v) != 0)
			abort();
		drop(&v);
	} else if (out || count("nodes") != nodes) {
		abort(); /* a refused node left something behind */
	}
	drop(&out);
	if (reg_deploy_create(reg, &admin, body, &out) == 0) {
		if (!out || count("deployments") != deps + 1 || reg_deploy_remove(reg, &admin, name, &v) != 0)
			abort();
		drop(&v);
	} else if (out || count("deployments") != deps) {
		abort();
	}
	drop(&out);
	if ((verb = util_json_str(body, "verb")) != NULL) {
		reg_rollout_verb(reg, &admin, "fixed", verb, &out);
		drop(&out);
	}

	/* the input as a rollout state: what is accepted reads back exactly
	 * (compared as text: cJSON_Compare calls two objects with a duplicate
	 * key unequal even when they are the same bytes) */
	if (reg_ctl_write(reg, epoch, fixed_id, body, true, cJSON_GetObjectItem(body, "events")) == 0) {
		cJSON *s = NULL;
		const cJSON *d;
		char *want = cJSON_PrintUnformatted(body), *got;
		must(reg_ctl_snapshot(reg, &s));
		for (d = cJSON_GetObjectItem(s, "deployments")->child; d && strcmp(util_json_str(d, "name"), "fixed"); d = d->next)
			;
		got = d ? cJSON_PrintUnformatted(cJSON_GetObjectItem(d, "state")) : NULL;
		if (!want || !got || strcmp(want, got) != 0)
			abort();
		free(want);
		free(got);
		cJSON_Delete(s);
	}
	cJSON_Delete(body);

	/* nothing a body did may break the chain */
	if (reg_audit_verify(reg, &v) != 0 || !cJSON_IsTrue(cJSON_GetObjectItem(v, "ok")))
		abort();
	drop(&v);
	return 0;
}

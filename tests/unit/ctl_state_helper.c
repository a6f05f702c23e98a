/*
 * ctl_state_helper.c - writes a deployment's rollout state the way a
 * reconciler does, for integration tests that must see a rollout in some
 * phase before the reconciler exists (t_deploy_api.sh: verbs, status,
 * --watch, rm of a served version).
 *
 *   ctl_state_helper DATA_DIR DEPLOYMENT STATE_JSON [EVENTS_JSON]
 *
 * It opens the registry (so the server must be stopped: the data
 * directory lock is exclusive), takes the controller lease as holder
 * "test-helper", calls reg_ctl_write with the state and events, consuming
 * the pending verb, and releases the lease: the very calls of
 * registry/deploy.h a reconciler makes, no SQL of its own.  Exit 0 on
 * success, 1 with the registry's message otherwise.
 */
#include <stdio.h>
#include <string.h>
#include "registry/deploy.h"
#include "util/json.h"

int main(int argc, char **argv)
{
	reg_config cfg = {0};
	reg_registry *r = NULL;
	cJSON *state = NULL, *events = NULL, *snap = NULL;
	int64_t epoch = 0, id = 0;
	bool held = false;
	int rc;
	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: ctl_state_helper DATA_DIR DEPLOYMENT STATE_JSON [EVENTS_JSON]\n");
		return 2;
	}
	cfg.data_dir = argv[1];
	if ((rc = util_json_parse(argv[3], strlen(argv[3]), UTIL_JSON_MAX_DEPTH, &state)) < 0 ||
	    (argc == 5 && (rc = util_json_parse(argv[4], strlen(argv[4]), UTIL_JSON_MAX_DEPTH, &events)) < 0) ||
	    (rc = reg_open(&cfg, &r)) < 0 || (rc = reg_ctl_snapshot(r, &snap)) < 0)
		goto done;
	for (const cJSON *d = cJSON_GetObjectItem(snap, "deployments")->child; d; d = d->next)
		if (!strcmp(util_json_str(d, "name"), argv[2]))
			id = (int64_t)cJSON_GetObjectItem(d, "id")->valuedouble;
	if (!id) {
		rc = mlreg_error_set(MLREG_ENOTFOUND, "deployment '%s' not found", argv[2]);
		goto done;
	}
	if ((rc = reg_ctl_lease(r, "test-helper", 60000, &held, &epoch)) < 0)
		goto done;
	if (!held) {
		rc = mlreg_error_set(MLREG_ECONFLICT, "the controller lease is held by someone else");
		goto done;
	}
	if ((rc = reg_ctl_write(r, epoch, id, state, true, events)) == 0)
		rc = reg_ctl_release(r, "test-helper");
done:
	if (rc < 0)
		fprintf(stderr, "ctl_state_helper: %s\n", mlreg_error_last());
	cJSON_Delete(state);
	cJSON_Delete(events);
	cJSON_Delete(snap);
	reg_close(r);
	return rc < 0 ? 1 : 0;
}

#!/usr/bin/env bash
# t_scope_policy: the policy for `*` applies to every model (the gate checks
# a model's own policy and the `*` one), so only a token whose scope covers
# every model - one without --models - may set or remove it.  A model glob
# that happens to match the text `*` ("[!f]*": all but the f... models,
# "?*", "*") must not let a team admin relax the gate of models outside its
# scope.  Its own models' policies stay its to set.
source "$(dirname "$0")/lib.sh"

start_server "$WORK/reg"
http PUT '/api/v1/policies/*/production' -H 'Content-Type: application/json' -d '{"require_signature":true}'
expect_code 200 "the unscoped admin sets the policy of every model"

for glob in '[!f]*' '?*' '*'; do
	step "an admin token scoped to '$glob' cannot touch the policy of every model"
	name=a$RANDOM
	cli_ok token create "$name" --role admin --models "$glob" --json
	SCOPED=$(jq_ 'j["token"]' "$OUT")
	TOKEN=$SCOPED http DELETE '/api/v1/policies/*/production'
	expect_code 403 "DELETE the * policy with models '$glob'"
	TOKEN=$SCOPED http PUT '/api/v1/policies/*/production' -H 'Content-Type: application/json' -d '{}'
	expect_code 403 "PUT the * policy with models '$glob'"
	TOKEN=$SCOPED http PUT '/api/v1/policies/risk/production' -H 'Content-Type: application/json' -d '{"approvals":1}'
	expect_code 200 "its own model's policy with models '$glob'"
done

http GET '/api/v1/policies'
assert_json 'any(p["model"] == "*" and p["require_signature"] for p in j["policies"])' "$BODY" "the * policy is untouched"

stop_server
log "ok"

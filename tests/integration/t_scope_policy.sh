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

step "a scoped admin token cannot do registry-wide administration"
cli_ok token create team-admin --role admin --models 'risk/*' --json
TEAM=$(jq_ 'j["token"]' "$OUT")
cli_ok token create team-stg --role admin --stages staging --json
STG=$(jq_ 'j["token"]' "$OUT")
cli_ok token create victim --role reader --json
J='Content-Type: application/json'
for T in "$TEAM" "$STG"; do
	for req in "GET /api/v1/tokens" "DELETE /api/v1/tokens/victim" "POST /api/v1/tokens {\"name\":\"x\",\"role\":\"reader\"}" \
		"POST /api/v1/keys {\"name\":\"k\",\"public_key\":\"x\"}" "DELETE /api/v1/keys/release" \
		"PUT /api/v1/stages {\"stages\":[\"staging\"]}" "GET /api/v1/webhooks" "DELETE /api/v1/webhooks/1" \
		"POST /api/v1/nodes {\"name\":\"n\",\"url\":\"http://127.0.0.1:1\"}" "DELETE /api/v1/nodes/n" \
		"POST /api/v1/gc" "POST /api/v1/fsck"; do
		read -r m path body <<<"$req"
		TOKEN=$T http "$m" "$path" -H "$J" ${body:+-d "$body"}
		expect_code 403 "scoped admin: $m $path"
		assert_contains "$BODY" "registry-wide administration" "message of $m $path"
	done
done
cli_ok token ls --json
assert_json '[t for t in j["tokens"] if t["name"]=="victim"][0]["status"]=="active" and not any(t["name"]=="x" for t in j["tokens"])' "$OUT" "nothing changed by the scoped admins"
TOKEN=$TEAM http GET /api/v1/keys
expect_code 200 "listing keys stays a read"

http GET '/api/v1/policies'
assert_json 'any(p["model"] == "*" and p["require_signature"] for p in j["policies"])' "$BODY" "the * policy is untouched"

stop_server
log "ok"

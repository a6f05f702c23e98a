#!/usr/bin/env bash
# t_sig_flood: a writer cannot keep a signed version off the serving nodes
# by piling signatures on it.  Any writer may attach a signature made with a
# key of their own (it verifies, so the registry keeps it); mlreg-node
# refuses a load carrying more than 64 signatures.  The controller therefore
# sends at most 64, those by keys the registry trusts first, so a version
# signed by the release key still reaches a node with --trust-key after
# 70 junk signatures were added before and after the real one.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/node_lib.sh"
source "$(dirname "$0")/ctl_lib.sh"

start_server "$WORK/reg" "${CTL_FLAGS[@]}"
train "$WORK/v1" --seed 1
cli_ok push fraud "$WORK/v1"
cli_ok token create w --role writer --json
WRITER=$(jq_ 'j["token"]' "$OUT")

step "70 signatures by keys nobody trusts, around the release key's"
cli_ok keygen --out "$WORK/release"
cli_ok key add release "$WORK/release.pub"
for i in $(seq 1 70); do
	cli_ok keygen --out "$WORK/junk$i"
	TOKEN=$WRITER cli_ok sign fraud:1 --key "$WORK/junk$i"
	if [ "$i" = 35 ]; then TOKEN=$WRITER cli_ok sign fraud:1 --key "$WORK/release"; fi
done
cli_ok verify fraud:1
http GET /api/v1/models/fraud/versions/1/signatures
assert_json 'len(j["signatures"]) == 71' "$BODY" "the registry keeps all 71"

step "the node with --trust-key still gets and serves the signed version"
fleet 1 --trust-key "$WORK/release.pub"
cli_ok deploy create sig --model fraud --stage production --selector pool=a
cli_ok promote fraud:1 --to production
wait_for sig 'j["phase"] == "Healthy" and j["stable_version"] == 1' 60
assert_eq "$(node_weights 1 sig)" '{"1": 100}' "node serves fraud:1"

fleet_stop
stop_server
log "ok"

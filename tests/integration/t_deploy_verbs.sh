#!/usr/bin/env bash
# t_deploy_verbs: rollout verbs on a real fleet - a `pause` step waits for
# `rollout resume`; `rollout pause` holds a rollout at its weight and
# `rollout promote` skips one step; `rollout promote --full` goes straight to
# 100; `rollout abort` rejects the target and puts traffic back; `rollout
# retry` rolls the rejected version out again; verbs that do not apply are
# refused (exit 6); a shadow step mirrors live traffic to the target and the
# nodes count it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/node_lib.sh"
source "$(dirname "$0")/ctl_lib.sh"

start_server "$WORK/reg" "${CTL_FLAGS[@]}"
train "$WORK/v1" --seed 1 --rows-out "$WORK/rows.json"
train "$WORK/v2" --seed 2 --trees 20
train "$WORK/v3" --seed 3 --trees 15
for v in 1 2 3; do cli_ok push fraud "$WORK/v$v"; done
fleet 3
cli_ok deploy create verbs --model fraud --stage production --selector pool=a \
	--steps 'weight:25,pause,weight:50,pause:1h,weight:75,weight:100' --scale-down-delay 500ms
cli_ok promote fraud:1 --to production
wait_for verbs 'j["phase"] == "Healthy" and j["stable_version"] == 1' 30

step "a pause step waits for resume"
cli rollout resume verbs
expect_rc 6 "resume while Healthy"
cli_ok promote fraud:2 --to production
wait_for verbs 'j["phase"] == "Paused" and j["target_version"] == 2 and j["step"]["index"] == 1' 30
for i in 1 2 3; do assert_eq "$(node_weights "$i" verbs)" '{"1": 75, "2": 25}' "node $i at 25%"; done
sleep 1
dstatus verbs
assert_json 'j["phase"] == "Paused"' "$DSTATUS" "still paused a second later"
cli_ok rollout resume verbs
wait_for verbs 'j["step"]["index"] == 3 and j["step"]["kind"] == "pause"' 30
for i in 1 2 3; do assert_eq "$(node_weights "$i" verbs)" '{"1": 50, "2": 50}' "node $i at 50%"; done

step "pause and promote (one step)"
cli_ok rollout pause verbs
wait_for verbs 'j["phase"] == "Paused"' 10
cli_ok rollout promote verbs
wait_for verbs 'j["phase"] == "Progressing" or j["phase"] == "Healthy"' 10
wait_for verbs 'j["phase"] == "Healthy" and j["stable_version"] == 2' 30
cli_ok deploy events verbs --json
assert_contains "$OUT" "rollout.promoted" "promote recorded"
assert_contains "$OUT" "rollout.paused" "pause recorded"

step "promote --full"
cli_ok promote fraud:3 --to production
wait_for verbs 'j["phase"] == "Paused" and j["target_version"] == 3' 30
cli_ok rollout promote --full verbs
wait_for verbs 'j["phase"] == "Healthy" and j["stable_version"] == 3' 30
for i in 1 2 3; do
	for ((k = 0; k < 50; k++)); do [ "$(node_weights "$i" verbs)" = '{"3": 100}' ] && break; sleep 0.1; done
	assert_eq "$(node_weights "$i" verbs)" '{"3": 100}' "node $i on v3 only"
done

step "abort and retry"
cli_ok promote fraud:2 --to production
wait_for verbs 'j["phase"] == "Paused" and j["target_version"] == 2' 30
cli_ok rollout abort verbs
wait_for verbs 'j["phase"] == "Degraded" and j["rejected_version"] == 2 and j["target_version"] is None' 30
for i in 1 2 3; do assert_eq "$(node_weights "$i" verbs)" '{"3": 100}' "node $i back on v3"; done
cli rollout abort verbs
expect_rc 6 "abort with nothing rolling out"
sleep 1
dstatus verbs
assert_json 'j["phase"] == "Degraded" and j["target_version"] is None' "$DSTATUS" "nothing retries the rejected version by itself"
cli_ok rollout retry verbs
wait_for verbs 'j["target_version"] == 2 and j["phase"] == "Paused"' 30
cli_ok rollout promote --full verbs
wait_for verbs 'j["phase"] == "Healthy" and j["stable_version"] == 2 and j["rejected_version"] is None' 30

step "a removed deployment leaves the nodes"
cli_ok deploy rm verbs
for i in 1 2 3; do
	for ((k = 0; k < 100; k++)); do [ "$(node_weights "$i" verbs)" = '{}' ] && break; sleep 0.1; done
	assert_eq "$(node_weights "$i" verbs)" '{}' "node $i no longer serves 'verbs'"
done

step "a shadow step mirrors live traffic"
cli_ok deploy create shadowed --model fraud --stage staging --selector pool=a --steps 'shadow:3s,weight:100'
cli_ok promote fraud:1 --to staging
wait_for shadowed 'j["phase"] == "Healthy" and j["stable_version"] == 1' 30
loadgen_start shadowed 40 "$WORK/rows.json"
cli_ok promote fraud:2 --to staging
wait_for shadowed 'j["phase"] == "Healthy" and j["stable_version"] == 2' 30
loadgen_stop
assert_json 'j["non2xx"] == 0' "$LOADGEN" "no errors during the shadow step"
dstatus shadowed
assert_json 'j["analysis"][0]["metrics"]["shadow_requests"] > 20' "$DSTATUS" "the shadow step counted mirrored requests"
sh=0
for i in 1 2 3; do sh=$((sh + $(NURL=${NODE_URLS[$i]} nmetric 'mlreg_node_shadow_requests_total{model="shadowed",version="2"}'))); done
assert_gt "$sh" 20 "the nodes ran the shadow"

step "rolling: whole nodes switch in waves"
cli_ok deploy create roll --model fraud --stage production --selector pool=a --strategy rolling --max-unavailable 1 --scale-down-delay 500ms
wait_for roll 'j["phase"] == "Healthy" and j["stable_version"] == 2' 30
cli_ok promote fraud:3 --to production
wait_for roll 'j["phase"] == "Healthy" and j["stable_version"] == 3' 30
cli_ok deploy events roll --json
assert_contains "$OUT" "wave 1: 1 of 3 nodes serve version 3" "first wave"
assert_contains "$OUT" "wave 2: 2 of 3 nodes serve version 3" "second wave"
for i in 1 2 3; do
	for ((k = 0; k < 50; k++)); do [ "$(node_weights "$i" roll)" = '{"3": 100}' ] && break; sleep 0.1; done
	assert_eq "$(node_weights "$i" roll)" '{"3": 100}' "node $i on v3"
done

fleet_stop
stop_server

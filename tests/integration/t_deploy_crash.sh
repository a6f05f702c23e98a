#!/usr/bin/env bash
# t_deploy_crash: the controller survives crashes.  The server is killed with
# -9 in the middle of a rollout and restarted: the rollout resumes from its
# persisted step and converges.  A node is killed mid-rollout and comes back
# empty: the controller reloads it and the rollout still completes.  Two
# reconcilers on one database (the server's and `mlreg controller`): only the
# lease holder acts, and when it dies the other takes over.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/node_lib.sh"
source "$(dirname "$0")/ctl_lib.sh"

start_server "$WORK/reg" "${CTL_FLAGS[@]}"
REG_PORT=$PORT
train "$WORK/v1" --seed 1 --rows-out "$WORK/rows.json"
train "$WORK/v2" --seed 2 --trees 20
train "$WORK/v3" --seed 3 --trees 15
for v in 1 2 3; do cli_ok push fraud "$WORK/v$v"; done
fleet 3
cli_ok deploy create crashy --model fraud --stage production --selector pool=a \
	--steps 'weight:20,pause:2s,weight:50,pause:2s,weight:100' --scale-down-delay 500ms
cli_ok promote fraud:1 --to production
wait_for crashy 'j["phase"] == "Healthy" and j["stable_version"] == 1' 30

step "kill -9 of the server mid-rollout"
loadgen_start crashy 30 "$WORK/rows.json"
cli_ok promote fraud:2 --to production
wait_for crashy 'j["target_version"] == 2 and j["step"]["index"] >= 1' 30
kill9_server
for i in 1 2 3; do assert_eq "$(node_weights "$i" crashy)" '{"1": 80, "2": 20}' "node $i keeps serving the split"; done
start_server "$WORK/reg" --listen "127.0.0.1:$REG_PORT" "${CTL_FLAGS[@]}"
wait_for crashy 'j["phase"] == "Healthy" and j["stable_version"] == 2' 60
loadgen_stop
assert_json 'j["non2xx"] == 0' "$LOADGEN" "no failed request across the server crash"

step "a node killed mid-rollout comes back empty"
cli_ok promote fraud:3 --to production
wait_for crashy 'j["target_version"] == 3 and j["step"]["index"] >= 1' 30
fleet_kill9 2
sleep 1
fleet_restart 2 --empty
wait_for crashy 'j["phase"] == "Healthy" and j["stable_version"] == 3' 60
for ((k = 0; k < 100; k++)); do [ "$(node_weights 2 crashy)" = '{"3": 100}' ] && break; sleep 0.1; done
assert_eq "$(node_weights 2 crashy)" '{"3": 100}' "the emptied node serves the new version"

step "two reconcilers: only one acts"
cli_ok promote fraud:1 --to production
wait_for crashy 'j["phase"] == "Healthy" and j["stable_version"] == 1' 60
CTL_LOG="$WORK/controller.log"
"$MLREG_BIN" controller --data "$WORK/reg" "${CTL_FLAGS[@]}" >"$CTL_LOG" 2>&1 &
CTL_PID=$!
track_bg "$CTL_PID"
sleep 2
grep -q "holds the lease" "$SERVER_LOG" || fail "the server's reconciler does not hold the lease"
grep -q "does not hold the lease" "$CTL_LOG" || fail "the second reconciler did not stand by: $(cat "$CTL_LOG")"
if grep -q "controller holds the lease" "$CTL_LOG"; then fail "both reconcilers hold the lease"; fi
step "the stand-by takes over when the holder dies"
kill9_server
# with the server down, promote through a second server without a controller
start_server "$WORK/reg" --listen "127.0.0.1:$REG_PORT" --no-controller
cli_ok promote fraud:2 --to production
wait_for crashy 'j["phase"] == "Healthy" and j["stable_version"] == 2' 60
grep -q "controller holds the lease" "$CTL_LOG" || fail "the stand-by never took the lease"
kill -TERM "$CTL_PID"
wait "$CTL_PID" || fail "mlreg controller did not exit 0 on SIGTERM"
check_sanitizer_clean "$CTL_LOG" "controller log"

fleet_stop
stop_server

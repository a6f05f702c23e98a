#!/usr/bin/env bash
# t_deploy_canary: the deployment controller rolling real models out to three
# real mlreg-node processes under live traffic (a load generator at a fixed
# rate, generous timeouts): the first rollout straight to 100; a canary of v2
# to Healthy with zero non-2xx answers and its split seen on the nodes; the
# registry rollback fast path with no intermediate weights on any node; a bad
# version (it loads, but rejects the live traffic) aborted at its first
# analysis step having served at most its first weight share plus a small
# slack, traffic back on stable, the stage still naming it; and a version
# whose artifact fails to load, aborted.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/node_lib.sh"
source "$(dirname "$0")/ctl_lib.sh"

start_server "$WORK/reg" "${CTL_FLAGS[@]}"
step "models"
train "$WORK/v1" --seed 1 --rows-out "$WORK/rows.json"
train "$WORK/v2" --seed 2 --trees 20
cp -r "$WORK/v2" "$WORK/v3"
sed -i 's/"FP32"/"FP64"/' "$WORK/v3/mlreg-model.json" # loads fine, refuses the FP32 traffic
cp -r "$WORK/v2" "$WORK/v4"
printf 'not a model' >"$WORK/v4/model.json"
for v in 1 2 3 4; do cli_ok push fraud "$WORK/v$v" --json; done

fleet 3
cli_ok deploy create live --model fraud --stage production --selector pool=a \
	--steps 'weight:20,analysis:3s,weight:60,analysis:2s,weight:100' --analysis 'failure_rate<0.02' \
	--min-requests 10 --analysis-interval 500ms --scale-down-delay 1s --json
assert_json 'j["name"] == "live" and j["stage"] == "production" and j["stable_version"] is None' "$OUT" "deploy create"

step "first rollout: straight to 100"
cli_ok promote fraud:1 --to production
wait_for live 'j["phase"] == "Healthy" and j["stable_version"] == 1' 30
for i in 1 2 3; do assert_eq "$(node_weights "$i" live)" '{"1": 100}' "node $i serves v1"; done
assert_json 'len(j["nodes"]) == 3 and all(n["healthy"] for n in j["nodes"])' "$DSTATUS" "status lists the nodes"

step "canary of v2 under live traffic"
loadgen_start live 60 "$WORK/rows.json"
sleep 1
cli_ok promote fraud:2 --to production
seen=""
for ((k = 0; k < 300; k++)); do
	w=$(node_weights 1 live)
	[ "$w" = '{"1": 80, "2": 20}' ] && seen=yes && break
	sleep 0.05
done
[ -n "$seen" ] || fail "the 80/20 split never showed on node 1 (last: $w)"
wait_for live 'j["phase"] == "Healthy" and j["stable_version"] == 2 and j["target_version"] is None' 60
assert_json 'len(j["analysis"]) >= 2 and all(a["result"] == "Successful" for a in j["analysis"])' "$DSTATUS" "both analyses passed"
loadgen_stop
assert_json 'j["non2xx"] == 0 and j["total"] > 200 and j["by_version"].get("2", 0) > 0 and j["by_version"].get("1", 0) > 0' "$LOADGEN" "zero non-2xx during the canary"
for ((k = 0; k < 100; k++)); do
	[ "$(node_weights 1 live)" = '{"2": 100}' ] && [ "$(node_weights 3 live)" = '{"2": 100}' ] && break
	sleep 0.1
done
for i in 1 2 3; do assert_eq "$(node_weights "$i" live)" '{"2": 100}' "node $i: v1 scaled down after the delay"; done

step "registry rollback: fast path, no intermediate weights"
# The watcher runs until told to stop (a file), so it always completes a
# pass over every node and writes what it saw, however slow the nodes are
# (a sanitizer build answers several times slower; a kill could land
# before its first write).
"$SYSPY" - "$WORK/watch.json" "$WORK/watch.stop" "${NODE_URLS[@]}" <<'PY' &
import json, os, sys, time, urllib.request
out, stop, urls = sys.argv[1], sys.argv[2], sys.argv[3:]
seen = set()
end = time.time() + 120
while True:
    done = os.path.exists(stop) or time.time() > end  # then one last pass
    for u in urls:
        try:
            req = urllib.request.Request(u + "/v2/repository/index", data=b"{}", method="POST")
            idx = json.load(urllib.request.urlopen(req, timeout=2))
        except Exception:
            continue
        w = tuple(sorted((e["version"], e["weight"]) for e in idx if e["name"] == "live" and e["weight"] > 0))
        seen.add(w)
    json.dump(sorted(seen), open(out, "w"))
    if done:
        break
    time.sleep(0.01)
PY
WATCH=$!
track_bg "$WATCH"
sleep 0.5
cli_ok rollback fraud --stage production
wait_for live 'j["phase"] == "Healthy" and j["stable_version"] == 1' 30
sleep 0.5
touch "$WORK/watch.stop"
wait "$WATCH" || fail "the weight watcher failed"
assert_json 'all(len(w) == 1 for w in j) and ["1", 100] in [w[0] for w in j]' "$(cat "$WORK/watch.json")" "only whole versions were ever served"
cli_ok deploy events live --json
assert_contains "$OUT" "fast path" "the event names the fast path"

step "a version that rejects the live traffic is aborted at its first analysis"
loadgen_start live 60 "$WORK/rows.json"
cli_ok promote fraud:2 --to production
wait_for live 'j["phase"] == "Healthy" and j["stable_version"] == 2' 60
loadgen_stop
before3=0
for i in 1 2 3; do before3=$((before3 + $(NURL=${NODE_URLS[$i]} nmetric 'mlreg_node_requests_total{model="live",version="3",code="400"}'))); done
loadgen_start live 60 "$WORK/rows.json"
sleep 1
cli_ok promote fraud:3 --to production
wait_for live 'j["phase"] == "Degraded" and j["rejected_version"] == 3 and j["target_version"] is None' 60
loadgen_stop
for i in 1 2 3; do assert_eq "$(node_weights "$i" live)" '{"2": 100}' "node $i back on stable"; done
served3=0
for i in 1 2 3; do served3=$((served3 + $(NURL=${NODE_URLS[$i]} nmetric 'mlreg_node_requests_total{model="live",version="3",code="400"}'))); done
served3=$((served3 - before3))
total=$(jq_ 'j["total"]' "$LOADGEN")
log "v3 answered $served3 of $total requests"
assert_gt "$served3" 0 "v3 did get traffic"
# at most its first weight share (20%) of everything, plus a slack of 10 requests
"$SYSPY" -c "import sys; sys.exit(0 if $served3 <= 0.2 * $total + 10 else 1)" || fail "v3 served $served3 of $total requests"
assert_json '"aborted" in j["message"] and j["analysis"][-1]["result"] == "Failed"' "$DSTATUS" "status says why"
cli_ok show fraud:production --json
assert_eq "$(jq_ 'j["version"]' "$OUT")" 3 "the stage still names the rejected version"
cli_ok audit --json
assert_contains "$OUT" "rollout.abort" "the abort is audited"

step "a version whose artifact does not load is aborted"
cli_ok promote fraud:4 --to production
wait_for live 'j["phase"] == "Degraded" and j["rejected_version"] == 4' 60
assert_contains "$(jq_ 'j["message"]' "$DSTATUS")" "load" "the message names the load failure"
for i in 1 2 3; do assert_eq "$(node_weights "$i" live)" '{"2": 100}' "node $i still on stable"; done

step "show says where a version serves"
cli_ok show fraud:2 --json
assert_json 'j["deployments"] == [{"deployment": "live", "role": "stable", "phase": "Degraded", "nodes": [{"name": "n1", "weight": 100, "state": "READY"}, {"name": "n2", "weight": 100, "state": "READY"}, {"name": "n3", "weight": 100, "state": "READY"}]}]' "$OUT" "show --json deployments"
cli_ok show fraud:2
assert_contains "$OUT" "live (stable, Degraded): n1 100% n2 100% n3 100%" "show text"
cli_ok show fraud:1 --json
assert_json 'j["deployments"] == []' "$OUT" "v1 serves nowhere"
cli_ok lineage fraud:2 --json
assert_json '[n["deployments"] for n in j["nodes"] if n["kind"] == "version"][0][0]["deployment"] == "live"' "$OUT" "lineage nodes say where they serve"
cli_ok lineage fraud:2
assert_contains "$OUT" "fraud:2 <serving: live stable>" "lineage text (production names the rejected v3)"

step "controller metrics on the server"
assert_eq "$(metric 'mlreg_controller_aborts_total')" 2 "two aborts counted"
assert_eq "$(metric 'mlreg_controller_deployments{phase="Degraded"}')" 1 "one deployment Degraded"
assert_gt "$(metric 'mlreg_controller_pass_duration_seconds_count')" 10 "passes counted"

fleet_stop
stop_server

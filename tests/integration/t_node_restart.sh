#!/usr/bin/env bash
# t_node_restart: mlreg-node keeps serving without the registry.  The node's
# state is written to its cache as it changes, so a kill -9 right after a
# traffic change, with the registry stopped, restarts into the same versions
# and weights, re-verified from the cache, with predictions still equal to
# python's.  A cached file corrupted while the node was down is caught on
# restart (that version UNAVAILABLE, the rest serving) and a later load
# fetches it again.  A second node on the same cache is refused.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/node_lib.sh"

start_server "$WORK/reg"
REG_PORT=$PORT
NODE_TOKEN=$(node_token node-a)
train "$WORK/v1" --seed 1 --rows-out "$WORK/rows1.json"
train "$WORK/v2" --seed 2 --trees 30 --rows-out "$WORK/rows2.json"
cli_ok push fraud "$WORK/v1" --json
D1=$(jq_ 'j["digest"]' "$OUT")
cli_ok push fraud "$WORK/v2" --json
D2=$(jq_ 'j["digest"]' "$OUT")
NODE_FLAGS=(--registry "$URL" --token-file "$NODE_TOKEN" --connect-timeout 200ms --fetch-timeout 2s)

step "load two versions and split 70/30"
start_node "$WORK/cache" "${NODE_FLAGS[@]}"
wait_node_ready
nload fraud 1 "$D1"
expect_code 200 "load v1"
nload fraud 2 "$D2"
expect_code 200 "load v2"
ntraffic fraud '{"weights":{"1":70,"2":30}}'
expect_code 200 "traffic 70/30"

step "a second node on the same cache is refused"
set +e
"$MLREG_NODE_BIN" --listen 127.0.0.1:0 --cache "$WORK/cache" >"$WORK/second.out" 2>&1
rc=$?
set -e
assert_eq "$rc" 6 "second node's exit status"
assert_contains "$(cat "$WORK/second.out")" "in use" "second node's message"

step "kill -9 right after the traffic change, registry stopped"
kill9_node
stop_server
start_node "$WORK/cache" "${NODE_FLAGS[@]}"
wait_node_ready
nindex
assert_json 'sorted((e["version"], e["state"], e["weight"]) for e in j) == [("1", "READY", 70), ("2", "READY", 30)]' "$BODY" "versions and weights came back"
R=$(nclient compare "$NURL" fraud "$WORK/rows1.json" 1)
assert_json 'j["max_diff"] <= 1e-5' "$R" "v1 predictions after the restart"
R=$(nclient compare "$NURL" fraud "$WORK/rows2.json" 2)
assert_json 'j["max_diff"] <= 1e-5' "$R" "v2 predictions after the restart"
R=$(nclient split "$NURL" fraud 1000 "$WORK/rows1.json")
# binomial(1000, 0.3): mean 300, sigma 14.5; 4 sigma = 58
assert_json 'j["errors"] == 0 and abs(j["counts"].get("2", 0) - 300) <= 58' "$R" "the 70/30 split is back"

step "a shadow change survives kill -9 too"
ntraffic fraud '{"weights":{"1":100},"shadow":"2"}'
expect_code 200 "shadow v2"
kill9_node
start_node "$WORK/cache" "${NODE_FLAGS[@]}"
wait_node_ready
nindex
assert_json 'sorted((e["version"], e["weight"], e["shadow"]) for e in j) == [("1", 100, False), ("2", 0, True)]' "$BODY" "shadow came back"

step "a cached file corrupted while the node was down"
kill9_node
MF="$WORK/cache/versions/${D2#sha256:}/model.json"
[ -f "$MF" ] || fail "expected v2's model at $MF"
chmod u+w "$MF"
printf 'X' | dd of="$MF" bs=1 seek=100 conv=notrunc status=none
start_node "$WORK/cache" "${NODE_FLAGS[@]}"
wait_node_ready
nindex
assert_json '[(e["version"], e["state"]) for e in sorted(j, key=lambda e: e["version"])] == [("1", "READY"), ("2", "UNAVAILABLE")]' "$BODY" "corrupt v2 refused, v1 serving"
assert_json 'all(e["weight"] == (100 if e["version"] == "1" else 0) for e in j)' "$BODY" "all traffic on v1"
R=$(nclient split "$NURL" fraud 50 "$WORK/rows1.json")
assert_json 'j["counts"] == {"1": 50}' "$R" "v1 serves"
grep -q "damaged" "$NLOG" || fail "the node log does not say why v2 was refused"
grep -q '"2"' "$WORK/cache/state.json" || fail "state.json lost v2 during a partial restore"

step "with the registry back, a load fetches it again"
start_server "$WORK/reg" --listen "127.0.0.1:$REG_PORT"
nload fraud 2 "$D2"
expect_code 200 "reload v2"
ntraffic fraud '{"weights":{"1":70,"2":30}}'
expect_code 200 "traffic 70/30 again"
R=$(nclient compare "$NURL" fraud "$WORK/rows2.json" 2)
assert_json 'j["max_diff"] <= 1e-5' "$R" "v2 predictions after the refetch"
stop_node

step "SIGTERM restart keeps everything"
start_node "$WORK/cache" "${NODE_FLAGS[@]}"
wait_node_ready
nindex
assert_json 'sorted((e["version"], e["state"], e["weight"]) for e in j) == [("1", "READY", 70), ("2", "READY", 30)]' "$BODY" "after a clean restart"

step "nothing comes back: the node says it is not ready"
kill9_node
stop_server
for d in "$D1" "$D2"; do
	f="$WORK/cache/versions/${d#sha256:}/model.json"
	chmod u+w "$f"
	printf 'X' | dd of="$f" bs=1 seek=50 conv=notrunc status=none
done
# node.log holds every start of this test: wait for one more "restore
# finished" than it had, this start's (a slow build restores later than
# the earlier starts' lines would make it look).
restored=$(grep -c "restore finished" "$WORK/node.log" || true)
start_node "$WORK/cache" "${NODE_FLAGS[@]}"
for ((i = 0; i < 200; i++)); do
	[ "$(grep -c "restore finished" "$NLOG")" -gt "$restored" ] && break
	sleep 0.05
done
[ "$(grep -c "restore finished" "$NLOG")" -gt "$restored" ] || fail "the restore never finished"
nhttp GET /v2/health/ready
expect_code 400 "not ready with nothing served"
assert_json 'j["ready"] is False and "traffic" in j["error"]' "$BODY" "readiness answer"
nhttp GET /v2/health/live
expect_code 200 "still live"
nindex
assert_json 'sorted((e["version"], e["state"]) for e in j) == [("1", "UNAVAILABLE"), ("2", "UNAVAILABLE")]' "$BODY" "both UNAVAILABLE"
nhttp POST /v2/models/fraud/infer -d "$(infer_body "$WORK/rows1.json" 0 1)"
expect_code 409 "no version takes traffic"
stop_node

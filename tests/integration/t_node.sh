#!/usr/bin/env bash
# t_node: mlreg-node end to end with real models.  Trains two XGBoost models
# with Debian's python3-xgboost on scikit-learn's bundled breast-cancer data,
# pushes them with the real CLI to a real registry, loads them on a real
# node, and checks: predictions equal python's (1e-5), metadata, idempotent
# loads, a 90/10 split over 2,000 requests within 4 sigma, sticky ids,
# shadow counting (and dropping with a full queue), unload refused while
# weighted, traffic refusals that change nothing, bad inference input (400,
# 404, 413), the admin token, and /metrics.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/node_lib.sh"

start_server "$WORK/reg"
NODE_TOKEN=$(node_token node-a)

step "train and push two models"
train "$WORK/v1" --seed 1 --trees 10 --depth 3 --rows-out "$WORK/rows1.json"
train "$WORK/v2" --seed 2 --trees 25 --depth 4 --rows-out "$WORK/rows2.json"
cli_ok push fraud "$WORK/v1" --json
D1=$(jq_ 'j["digest"]' "$OUT")
cli_ok push fraud "$WORK/v2" --json
D2=$(jq_ 'j["digest"]' "$OUT")
# the same files again: another version with the same digest
cli_ok push fraud "$WORK/v1" --json
assert_eq "$(jq_ 'j["version"]' "$OUT")" 3 "third push"
D3=$(jq_ 'j["digest"]' "$OUT")
assert_eq "$D3" "$D1" "v3 holds v1's files"

step "start the node"
echo "node-admin-secret" >"$WORK/admin.token"
start_node "$WORK/cache" --registry "$URL" --token-file "$NODE_TOKEN" --admin-token-file "$WORK/admin.token" \
	--name node-a
ADMIN_H=(-H "Authorization: Bearer node-admin-secret")
wait_node_ready
nhttp GET /v2/health/live
expect_code 200 "live"
nhttp GET /v2
expect_code 200 "server metadata"
assert_json 'j["name"] == "mlreg-node" and "model_repository" in j["extensions"] and j["node"] == "node-a"' "$BODY" "server metadata"

step "repository endpoints need the admin token"
nload fraud 1 "$D1"
expect_code 401 "load without the admin token"
nhttp POST /v2/repository/index -d '{}'
expect_code 401 "index without the admin token"
nhttp POST /v2/repository/models/fraud/load "${ADMIN_H[@]/node-admin-secret/wrong}" -d '{}'
expect_code 401 "load with a wrong admin token"

# from here on the helpers send the admin token
nhttp() {
	local m=$1 p=$2
	shift 2
	CODE=$(curl -s -S -o "$BODY_FILE" -w '%{http_code}' --max-time 120 -X "$m" "${ADMIN_H[@]}" "$@" "$NURL$p") || true
	BODY=$(head -c 1048576 "$BODY_FILE" 2>/dev/null | tr -d '\000' || true)
}

step "load v1"
nload fraud 1 "$D1"
expect_code 200 "load v1"
assert_json 'j["state"] == "READY" and j["version"] == "1" and j["digest"] == "'"$D1"'"' "$BODY" "load answer"
nindex
assert_json 'len(j) == 1 and j[0]["name"] == "fraud" and j[0]["weight"] == 100 and j[0]["state"] == "READY"' "$BODY" "first version gets weight 100"
nload fraud 1 "$D1"
expect_code 200 "loading again is idempotent"
nload fraud 1 "$D2"
expect_code 409 "the same version with another digest"
assert_contains "$BODY" "unload it first" "conflict reason"

step "predictions equal python's"
R=$(nclient compare "$NURL" fraud "$WORK/rows1.json")
assert_json 'j["max_diff"] <= 1e-5 and j["n"] == 50 and j["version"] == "1" and j["shape"] == [50] and j["datatype"] == "FP32"' "$R" "node vs python (v1)"
log "v1 max difference from python: $(jq_ 'j["max_diff"]' "$R")"

step "metadata"
nhttp GET /v2/models/fraud
expect_code 200 "model metadata"
assert_json 'j["name"] == "fraud" and j["versions"] == ["1"] and j["platform"] == "xgboost" and j["inputs"] == [{"name":"input","datatype":"FP32","shape":[-1,30]}] and j["outputs"][0]["name"] == "output"' "$BODY" "model metadata"
nhttp GET /v2/models/fraud/versions/1
expect_code 200 "version metadata"
nhttp GET /v2/models/fraud/ready
expect_code 200 "model ready"
nhttp GET /v2/models/fraud/versions/2/ready
expect_code 400 "version 2 is not ready (not loaded)"
nhttp GET /v2/models/nope
expect_code 404 "unknown model metadata"

step "load v2: traffic stays on v1"
nload fraud 2 "$D2"
expect_code 200 "load v2"
R=$(nclient split "$NURL" fraud 200 "$WORK/rows1.json")
assert_json 'j["counts"] == {"1": 200} and j["errors"] == 0' "$R" "no traffic reaches v2 before a traffic call"
R=$(nclient compare "$NURL" fraud "$WORK/rows2.json" 2)
assert_json 'j["max_diff"] <= 1e-5 and j["version"] == "2"' "$R" "node vs python (v2, by version)"

step "traffic refusals change nothing"
for bad in '{"weights":{"1":90,"2":5}}' '{"weights":{"1":90,"7":10}}' '{"weights":{"1":90.5,"2":9.5}}' \
	'{"weights":{"1":110,"2":-10}}' '{"weights":{"1":100},"shadow":"9"}' '{"weights":"all"}' '{"shadow":"2"}' \
	'{"weights":{"1":100},"shadow":2}' 'not json'; do
	ntraffic fraud "$bad"
	expect_code 400 "traffic $bad"
	assert_json '"error" in j' "$BODY" "error body for $bad"
done
ntraffic nope '{"weights":{"1":100}}'
expect_code 404 "traffic of an unknown model"
nindex
assert_json 'sorted((e["version"], e["weight"]) for e in j) == [("1", 100), ("2", 0)]' "$BODY" "weights unchanged"

step "90/10 split over 2000 requests"
ntraffic fraud '{"weights":{"1":90,"2":10}}'
expect_code 200 "traffic 90/10"
assert_json 'j["weights"] == {"1": 90, "2": 10} and j["shadow"] is None' "$BODY" "traffic answer"
R=$(nclient split "$NURL" fraud 2000 "$WORK/rows1.json")
log "split: $R"
# binomial(2000, 0.1): mean 200, sigma 13.4; 4 sigma = 54
assert_json 'j["errors"] == 0 and sum(j["counts"].values()) == 2000 and abs(j["counts"].get("2", 0) - 200) <= 54' "$R" "v2 share within 4 sigma"

step "sticky ids"
R=$(nclient sticky "$NURL" fraud 300 3 "$WORK/rows1.json")
log "sticky: $R"
assert_json 'j["consistent"] and j["counts"].get("2", 0) > 0 and j["counts"].get("1", 0) > 0' "$R" "each id stays on one version"
# growing the newer version's share keeps the ids it had
ntraffic fraud '{"weights":{"1":50,"2":50}}'
expect_code 200 "traffic 50/50"
R2=$(nclient sticky "$NURL" fraud 300 1 "$WORK/rows1.json")
assert_json 'j["counts"].get("2", 0) >= '"$(jq_ 'j["counts"].get("2", 0)' "$R")" "$R2" "ids on v2 stay there as its share grows"

step "unload is refused while weighted"
nhttp POST /v2/repository/models/fraud/unload -d '{"parameters":{"version":"2"}}'
expect_code 409 "unload of a weighted version"
assert_contains "$BODY" "traffic" "unload refusal reason"

step "shadow"
ntraffic fraud '{"weights":{"1":100},"shadow":"2"}'
expect_code 200 "shadow v2"
assert_json 'j["shadow"] == "2"' "$BODY" "shadow set"
R=$(nclient split "$NURL" fraud 100 "$WORK/rows1.json")
assert_json 'j["counts"] == {"1": 100}' "$R" "shadow answers never reach the caller"
for ((i = 0; i < 100; i++)); do
	[ "$(nmetric 'mlreg_node_shadow_requests_total{model="fraud",version="2"}')" = 100 ] && break
	sleep 0.05
done
assert_eq "$(nmetric 'mlreg_node_shadow_requests_total{model="fraud",version="2"}')" 100 "shadow requests counted"
MM=$(nmetric 'mlreg_node_shadow_mismatch_total{model="fraud",version="2"}')
assert_gt "$MM" 0 "a different model disagrees"
assert_eq "$(nmetric 'mlreg_node_shadow_dropped_total')" 0 "nothing dropped with room in the queue"
# a shadow with the same model never disagrees
nload fraud 3 "$D3"
expect_code 200 "load v3 (v1's files)"
ntraffic fraud '{"weights":{"1":100},"shadow":"3"}'
expect_code 200 "shadow v3"
nclient split "$NURL" fraud 50 "$WORK/rows1.json" >/dev/null
for ((i = 0; i < 100; i++)); do
	[ "$(nmetric 'mlreg_node_shadow_requests_total{model="fraud",version="3"}')" = 50 ] && break
	sleep 0.05
done
assert_eq "$(nmetric 'mlreg_node_shadow_requests_total{model="fraud",version="3"}')" 50 "v3 shadow requests"
assert_eq "$(nmetric 'mlreg_node_shadow_mismatch_total{model="fraud",version="3"}')" 0 "an identical model agrees"

step "unload"
ntraffic fraud '{"weights":{"1":100}}'
expect_code 200 "all traffic on v1, no shadow"
nhttp POST /v2/repository/models/fraud/unload -d '{"parameters":{"version":"2"}}'
expect_code 200 "unload v2"
nhttp POST /v2/repository/models/fraud/unload -d '{"parameters":{"version":"2"}}'
expect_code 200 "unload is idempotent"
nhttp POST /v2/repository/models/fraud/unload -d '{"parameters":{"version":"3"}}'
expect_code 200 "unload v3"
[ -d "$WORK/cache/versions/${D2#sha256:}" ] && fail "v2's files stay in the cache after its unload"
[ -d "$WORK/cache/versions/${D1#sha256:}" ] || fail "v1's files left the cache with v3 (same digest, v1 still loaded)"
nindex
assert_json '[(e["version"], e["weight"]) for e in j] == [("1", 100)]' "$BODY" "index after unloads"
nhttp POST /v2/models/fraud/versions/2/infer -d "$(infer_body "$WORK/rows1.json" 0 1)"
expect_code 404 "infer on an unloaded version"

step "bad inference input"
GOOD=$(infer_body "$WORK/rows1.json" 0 2)
nhttp POST /v2/models/fraud/infer -d "$GOOD"
expect_code 200 "good request"
bad_infer() { # BODY WHAT [CODE]
	nhttp POST /v2/models/fraud/infer -d "$1"
	expect_code "${3:-400}" "$2"
	assert_json 'isinstance(j["error"], str) and len(j["error"]) > 0' "$BODY" "error body ($2)"
}
bad_infer "${GOOD/FP32/FP64}" "wrong datatype"
bad_infer "$(sed 's/"shape": \[2, 30\]/"shape": [2, 29]/' <<<"$GOOD")" "wrong feature count"
bad_infer "$(sed 's/"shape": \[2, 30\]/"shape": [3, 30]/' <<<"$GOOD")" "shape says more rows than data"
bad_infer "$(sed 's/"shape": \[2, 30\]/"shape": [60]/' <<<"$GOOD")" "wrong rank"
bad_infer "${GOOD/\"input\"/\"x\"}" "unknown input name"
bad_infer '{"inputs":[]}' "no inputs"
bad_infer '{"inputs":[{"name":"input","datatype":"FP32","shape":[1,30],"data":["a"]}]}' "strings as data"
bad_infer '{"id":7,"inputs":[]}' "non-string id"
bad_infer '{"inputs":' "truncated JSON"
bad_infer "$("$SYSPY" -c 'print("[" * 100000)')" "deep nesting"
nhttp POST /v2/models/nope/infer -d "$GOOD"
expect_code 404 "unknown model"
nhttp POST /v2/models/fraud/versions/9/infer -d "$GOOD"
expect_code 404 "unknown version"
"$SYSPY" -c '
import json
print(json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": [20000, 30], "data": [0.5] * 600000}]}))' >"$WORK/big.json"
nhttp POST /v2/models/fraud/infer --data-binary @"$WORK/big.json"
expect_code 413 "more rows than --max-rows"
nhttp GET /v2/models/fraud/infer
expect_code 405 "GET on infer"
nhttp GET /v2/nothing/here
expect_code 404 "unknown route"
# a missing value (null) is accepted for floating-point inputs
nhttp POST /v2/models/fraud/infer -d "$(sed 's/"data": \[[0-9.e-]*,/"data": [null,/' <<<"$GOOD")"
expect_code 200 "null as a missing value"
nhttp POST /v2/models/fraud/infer -d "${GOOD/\{/\{\"id\":\"req-1\",}"
expect_code 200 "request with an id"
assert_json 'j["id"] == "req-1" and j["model_name"] == "fraud" and j["model_version"] == "1"' "$BODY" "id echoed"
kill -0 "$NPID" || fail "the node died on bad input"

step "metrics"
nhttp GET /metrics
expect_code 200 "metrics"
for m in 'mlreg_node_requests_total{model="fraud",version="1",code="200"}' \
	'mlreg_node_requests_total{model="fraud",version="1",code="400"}' \
	'mlreg_node_request_duration_seconds_bucket{model="fraud",version="1",le="+Inf"}' \
	'mlreg_node_model_loaded{model="fraud",version="1"} 1' 'mlreg_node_traffic_weight{model="fraud",version="1"} 100' \
	'mlreg_node_shadow_dropped_total 0' '# TYPE mlreg_node_load_failures_total counter'; do
	assert_contains "$BODY" "$m" "metrics has $m"
done
assert_gt "$(nmetric 'mlreg_node_requests_total{model="fraud",version="1",code="200"}')" 2000 "requests counted"

step "shadow copies are dropped when the queue is full"
stop_node
start_node "$WORK/cache" --registry "$URL" --token-file "$NODE_TOKEN" --admin-token-file "$WORK/admin.token" \
	--shadow-queue 0 --max-body 65536
wait_node_ready
nload fraud 2 "$D2"
expect_code 200 "load v2 again"
ntraffic fraud '{"weights":{"1":100},"shadow":"2"}'
expect_code 200 "shadow v2"
nclient split "$NURL" fraud 40 "$WORK/rows1.json" >/dev/null
assert_eq "$(nmetric 'mlreg_node_shadow_dropped_total')" 40 "every copy dropped with --shadow-queue 0"
assert_eq "$(nmetric 'mlreg_node_shadow_requests_total{model="fraud",version="2"}')" 0 "no shadow run"
nhttp POST /v2/models/fraud/infer --data-binary @"$WORK/big.json"
expect_code 413 "a body past --max-body"
assert_contains "$BODY" "65536" "413 names the limit"

step "unload all"
nhttp POST /v2/repository/models/fraud/unload -d '{}'
expect_code 200 "unload the whole model"
nindex
assert_eq "$BODY" "[]" "nothing loaded"
nhttp POST /v2/models/fraud/infer -d "$GOOD"
expect_code 404 "model gone"
stop_node
stop_server

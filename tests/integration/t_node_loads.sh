#!/usr/bin/env bash
# t_node_loads: loads mlreg-node must refuse, each with a reason, while the
# version already loaded keeps serving exactly as before and the node stays
# up: an unknown format, a missing model file, a corrupt model file, a
# truncated UBJSON model, a blob corrupted on the registry's disk, manifests
# whose paths climb out ('..') or are absolute (tampered in the registry's
# database), a digest that is not the version's, a version the registry
# lacks, malformed load bodies, and a registry that is down.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/node_lib.sh"

start_server "$WORK/reg"
REG_PORT=$PORT
NODE_TOKEN=$(node_token node-a)
train "$WORK/good" --seed 1 --rows-out "$WORK/rows.json"
cli_ok push fraud "$WORK/good" --json
D1=$(jq_ 'j["digest"]' "$OUT")
start_node "$WORK/cache" --registry "$URL" --token-file "$NODE_TOKEN" --check-timeout 5s
wait_node_ready
nload fraud 1 "$D1"
expect_code 200 "load the good v1"
GOOD=$(infer_body "$WORK/rows.json" 0 3)
nhttp POST /v2/models/fraud/infer -d "$GOOD"
expect_code 200 "v1 serves"
REFERENCE=$BODY
FAILS=0

# still_serving WHAT: v1 answers exactly as before, takes all traffic, and the node lives.
still_serving() {
	kill -0 "$NPID" 2>/dev/null || fail "$1: the node died"
	nhttp POST /v2/models/fraud/infer -d "$GOOD"
	expect_code 200 "$1: v1 still serves"
	assert_eq "$BODY" "$REFERENCE" "$1: v1's answer is unchanged"
	nindex
	assert_json '[e["weight"] for e in j if e["version"] == "1"] == [100] and sum(e["weight"] for e in j) == 100' "$BODY" "$1: traffic unchanged"
	nhttp GET /v2/health/ready
	expect_code 200 "$1: still ready"
}
# refused_load VERSION DIGEST CODE REASON_PART WHAT
refused_load() {
	nload fraud "$1" "$2"
	expect_code "$3" "$5"
	assert_contains "$BODY" "$4" "$5: reason"
	assert_json 'j["state"] == "UNAVAILABLE" and len(j["error"]) > 10' "$BODY" "$5: answer shape"
	FAILS=$((FAILS + 1))
	nindex
	assert_json '[e["state"] for e in j if e["version"] == "'"$1"'"] == ["UNAVAILABLE"] and all(e["reason"] for e in j if e["version"] == "'"$1"'")' "$BODY" "$5: index shows the failure"
	still_serving "$5"
	assert_eq "$(nmetric 'mlreg_node_load_failures_total{model="fraud"}')" "$FAILS" "$5: failures counted"
}
push_dir() { # DIR -> sets V (number) and D (digest)
	cli_ok push fraud "$1" --json
	V=$(jq_ 'j["version"]' "$OUT")
	D=$(jq_ 'j["digest"]' "$OUT")
}

step "unknown format"
cp -r "$WORK/good" "$WORK/onnx"
sed -i 's/"xgboost"/"onnx"/' "$WORK/onnx/mlreg-model.json"
push_dir "$WORK/onnx"
refused_load "$V" "$D" 422 "onnx" "unknown format"

step "missing model file"
mkdir "$WORK/nofile"
cp "$WORK/good/mlreg-model.json" "$WORK/nofile/"
echo "notes" >"$WORK/nofile/README"
push_dir "$WORK/nofile"
refused_load "$V" "$D" 422 "model.json" "missing model file"

step "no mlreg-model.json"
mkdir "$WORK/nospec"
cp "$WORK/good/model.json" "$WORK/nospec/"
push_dir "$WORK/nospec"
refused_load "$V" "$D" 422 "mlreg-model.json" "no mlreg-model.json"

step "corrupt model file"
cp -r "$WORK/good" "$WORK/garbage"
printf '{"learner": {"this is": not a model' >"$WORK/garbage/model.json"
push_dir "$WORK/garbage"
refused_load "$V" "$D" 422 "model" "corrupt model file"

step "truncated UBJSON model"
train "$WORK/ubj" --seed 3 --format ubj
head -c $(($(stat -c %s "$WORK/ubj/model.ubj") / 2)) "$WORK/ubj/model.ubj" >"$WORK/ubj/cut" && mv "$WORK/ubj/cut" "$WORK/ubj/model.ubj"
push_dir "$WORK/ubj"
refused_load "$V" "$D" 422 "model" "truncated UBJSON"

step "a model whose trees point out of bounds"
cp -r "$WORK/good" "$WORK/wild"
"$SYSPY" - "$WORK/wild/model.json" <<'PY'
import json, sys
p = sys.argv[1]
m = json.load(open(p))
for t in m["learner"]["gradient_booster"]["model"]["trees"]:
    t["left_children"] = [10**9 if c != -1 else -1 for c in t["left_children"]]
    t["split_indices"] = [10**6 for _ in t["split_indices"]]
json.dump(m, open(p, "w"))
PY
push_dir "$WORK/wild"
nload fraud "$V" "$D"
# refused, or (should XGBoost take it) serving without having touched v1
if [ "$CODE" = 200 ]; then
	log "XGBoost accepted the out-of-bounds trees; the check ran it in a child first"
	nhttp POST /v2/repository/models/fraud/unload -d "{\"parameters\":{\"version\":\"$V\"}}"
	expect_code 200 "unload the wild model"
else
	expect_code 422 "out-of-bounds trees refused"
	FAILS=$((FAILS + 1))
	log "refused: $(jq_ 'j["error"]' "$BODY")"
fi
still_serving "out-of-bounds trees"

step "a model whose trees loop forever"
cp -r "$WORK/good" "$WORK/loop"
"$SYSPY" - "$WORK/loop/model.json" <<'PY'
import json, sys
p = sys.argv[1]
m = json.load(open(p))
for t in m["learner"]["gradient_booster"]["model"]["trees"]:
    t["left_children"][0] = 0
    t["right_children"][0] = 0
json.dump(m, open(p, "w"))
PY
push_dir "$WORK/loop"
T0=$(elapsed)
nload fraud "$V" "$D"
if [ "$CODE" != 200 ]; then
	expect_code 422 "looping trees refused"
	FAILS=$((FAILS + 1))
	log "refused after $(($(elapsed) - T0))s: $(jq_ 'j["error"]' "$BODY")"
	[ $(($(elapsed) - T0)) -le 20 ] || fail "the check of a looping model took longer than its timeout allows"
else
	log "XGBoost accepted the looping trees; the check ran them in a child first"
	nhttp POST /v2/repository/models/fraud/unload -d "{\"parameters\":{\"version\":\"$V\"}}"
	expect_code 200 "unload the looping model"
fi
still_serving "looping trees"

step "blob corrupted on the registry's disk"
train "$WORK/v2" --seed 2
push_dir "$WORK/v2"
MD=$(sha256_of "$WORK/v2/model.json")
BP=$(blob_path "$WORK/reg" "$MD")
chmod u+w "$BP"
"$SYSPY" -c '
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 0x20
open(p, "wb").write(b)' "$BP"
refused_load "$V" "$D" 422 "digest mismatch" "corrupted blob"
[ -z "$(ls -A "$WORK/cache/staging" 2>/dev/null)" ] || fail "staging not cleaned after a failed fetch"

step "manifest paths that climb out or are absolute"
DB="$WORK/reg/registry.db"
n=0
for evil in '../escape.json' '/tmp/mlreg-abs-escape.json' 'a/../../escape.json'; do
	n=$((n + 1))
	cp -r "$WORK/good" "$WORK/evil$n"
	echo "$evil" >"$WORK/evil$n/note.txt" # a different version each time
	push_dir "$WORK/evil$n"
	sqlite3 "$DB" "UPDATE version_files SET path='$evil' WHERE path='model.json' AND version_id=(SELECT v.id FROM versions v JOIN models m ON m.id=v.model_id WHERE m.name='fraud' AND v.number=$V);" ||
		fail "cannot tamper the registry database"
	refused_load "$V" "$D" 422 "invalid file path" "manifest path $evil"
	if [ -e "$WORK/escape.json" ] || [ -e "$WORK/cache/escape.json" ] || [ -e /tmp/mlreg-abs-escape.json ]; then
		fail "a file was written outside the cache for $evil"
	fi
done

step "a digest that is not the version's"
push_dir "$WORK/good" # same files as v1: its digest is D1
train "$WORK/v9" --seed 9
push_dir "$WORK/v9"
refused_load "$V" "$D1" 422 "digest" "wrong digest for the version"
V9=$V D9=$D

step "unknown version on the registry"
nload fraud 999 "$D1"
expect_code 404 "version the registry lacks"
FAILS=$((FAILS + 1))
still_serving "unknown version"

step "a new model whose first load fails does not make the node unready"
nload other "$V9" "$D1" fraud
expect_code 422 "a digest that is not fraud:V9's, under the name 'other'"
FAILS_OTHER=1
nhttp GET /v2/health/ready
expect_code 200 "still ready"
assert_eq "$(nmetric 'mlreg_node_load_failures_total{model="other"}')" "$FAILS_OTHER" "failure counted for 'other'"

step "malformed load bodies"
for body in '{}' '{"parameters":{"version":"1"}}' '{"parameters":{"version":"x","digest":"'"$D1"'"}}' \
	'{"parameters":{"version":"01","digest":"'"$D1"'"}}' '{"parameters":{"version":"1","digest":"sha256:abc"}}' \
	'{"parameters":{"version":"1","digest":"'"$D1"'","model":"../x"}}' 'nope' '{"parameters":[1]}'; do
	nhttp POST /v2/repository/models/fraud/load -d "$body"
	expect_code 400 "load body $body"
done
nhttp POST "/v2/repository/models/Bad%20Name/load" -d '{"parameters":{"version":"1","digest":"'"$D1"'"}}'
expect_code 400 "invalid model name"
still_serving "malformed bodies"

step "the registry is down"
stop_server
nload fraud "$V9" "$D9"
expect_code 502 "registry down"
FAILS=$((FAILS + 1))
assert_contains "$BODY" "registry" "reason names the registry"
still_serving "registry down"
nload fraud 1 "$D1"
expect_code 200 "v1 is still loaded (idempotent, no registry needed)"

step "a retry succeeds once the registry is back"
start_server "$WORK/reg" --listen "127.0.0.1:$REG_PORT"
nload fraud "$V9" "$D9"
expect_code 200 "retry of a failed load"
nindex
assert_json '[e["state"] for e in j if e["name"] == "fraud" and e["version"] == "'"$V9"'"] == ["READY"]' "$BODY" "retried version READY"
stop_node
stop_server

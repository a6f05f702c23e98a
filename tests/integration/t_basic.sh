#!/usr/bin/env bash
# t_basic: the everyday round trip through the real server and CLI: push with
# metrics/params/tags, show, ls, search, diff, metrics log, tag, deprecate,
# rm, pull (folder and single file), archive, nested model names, /metrics,
# audit and audit verify.
source "$(dirname "$0")/lib.sh"

start_server "$WORK/data"

# ---------------------------------------------------------------- push v1
step "push fraud:1"
M1=$WORK/m1
mkdir -p "$M1/sub/deeper"
printf '{"kind":"demo","n":1}\n' >"$M1/model.json"
rand_file "$M1/weights.bin" 65536
printf 'layers: 3\n' >"$M1/sub/config.yaml"
printf '#!/bin/sh\necho predict\n' >"$M1/sub/deeper/predict.sh"
chmod 755 "$M1/sub/deeper/predict.sh"
: >"$M1/empty.txt"

cli push fraud "$M1" --json --metric accuracy=0.91 --metric loss=0.25 --param lr=0.1 \
	--param depth=6 --tag team=risk --description "first cut"
expect_rc 0 "push fraud v1"
P1=$OUT
assert_eq "$(jq_ 'j["model"]' "$P1")" fraud "push --json model"
assert_eq "$(jq_ 'j["version"]' "$P1")" 1 "push --json version"
assert_json 'isinstance(j["version"], int) and isinstance(j["size"], int)' "$P1" "push --json types"
assert_match "$(jq_ 'j["digest"]' "$P1")" '^sha256:[0-9a-f]{64}$' "push --json digest"
EXPECTED_SIZE=$((65536 + $(stat -c %s "$M1/model.json") + $(stat -c %s "$M1/sub/config.yaml") + $(stat -c %s "$M1/sub/deeper/predict.sh")))
assert_eq "$(jq_ 'j["size"]' "$P1")" "$EXPECTED_SIZE" "push --json size (sum of file sizes)"
assert_match "$ERR" 'uploaded [0-9]+ of 5 files \([0-9]+ of [0-9]+ bytes\)' "push progress line on stderr"
V1_DIGEST=$(jq_ 'j["digest"]' "$P1")

# The version digest is the digest of the canonical manifest.
step "manifest endpoint"
http GET /api/v1/models/fraud/versions/1/manifest
expect_code 200 "GET manifest"
assert_eq "$(sha256_of "$BODY_FILE")" "$V1_DIGEST" "manifest bytes hash to the version digest"

# ---------------------------------------------------------------- show
step "show --json fields and types"
cli_ok show fraud:1 --json
S=$OUT
assert_json 'j["model"] == "fraud" and j["version"] == 1 and isinstance(j["version"], int)' "$S" "show model/version"
assert_json 'j["digest"] == "'"$V1_DIGEST"'"' "$S" "show digest equals push digest"
assert_json 'j["status"] == "ready"' "$S" "show status"
assert_json 'j["size"] == '"$EXPECTED_SIZE" "$S" "show size"
assert_json 'j["metrics"] == {"accuracy": 0.91, "loss": 0.25}' "$S" "show metrics"
assert_json 'j["params"] == {"lr": "0.1", "depth": "6"}' "$S" "show params"
assert_json 'j["tags"] == {"team": "risk"}' "$S" "show tags"
assert_json 'j["description"] == "first cut"' "$S" "show description"
assert_json 'j["schema"] is None' "$S" "show schema (no mlreg-model.json)"
assert_json 'j["created_by"] == "admin"' "$S" "show created_by is the bootstrap principal"
assert_json 'bool(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", j["created_at"]))' "$S" "show created_at RFC 3339 ms"
assert_json 'sorted(f["path"] for f in j["files"]) == ["empty.txt", "model.json", "sub/config.yaml", "sub/deeper/predict.sh", "weights.bin"]' "$S" "show file paths"
assert_json 'all(re.fullmatch(r"sha256:[0-9a-f]{64}", f["digest"]) and isinstance(f["size"], int) for f in j["files"])' "$S" "show file digests/sizes"
for f in model.json weights.bin sub/config.yaml sub/deeper/predict.sh empty.txt; do
	d=$(sha256_of "$M1/$f")
	s=$(stat -c %s "$M1/$f")
	assert_json '[(x["digest"], x["size"]) for x in j["files"] if x["path"] == "'"$f"'"] == [("'"$d"'", '"$s"')]' "$S" "file $f digest and size"
done
assert_json '[x["mode"] for x in j["files"] if x["path"] == "sub/deeper/predict.sh"] == [493]' "$S" "executable mode 0755"
assert_json '[x["mode"] for x in j["files"] if x["path"] == "model.json"] == [420]' "$S" "regular mode 0644"

cli_ok show fraud:1
assert_contains "$OUT" "$V1_DIGEST" "human show prints the digest"
assert_contains "$OUT" "ready" "human show prints the status"

# ---------------------------------------------------------------- v2, v3
step "push fraud:2 and fraud:3"
M2=$WORK/m2
cp -a "$M1" "$M2"
rand_file "$M2/weights.bin" 65536 # changed
rm "$M2/sub/config.yaml"          # removed
printf 'new\n' >"$M2/extra.txt"   # added
cli push fraud "$M2" --json --metric accuracy=0.95 --metric loss=0.2 --param lr=0.05 --param depth=6
expect_rc 0 "push fraud v2"
assert_eq "$(jq_ 'j["version"]' "$OUT")" 2 "second push is version 2"
V2_DIGEST=$(jq_ 'j["digest"]' "$OUT")
assert_ne "$V2_DIGEST" "$V1_DIGEST" "v2 digest differs from v1"

M3=$WORK/m3
mkdir -p "$M3"
printf 'weak model\n' >"$M3/model.json"
cli_ok push fraud "$M3" --json --metric accuracy=0.80 --param lr=0.5
assert_eq "$(jq_ 'j["version"]' "$OUT")" 3 "third push is version 3"

# A model without an accuracy metric at all, and one in another namespace.
cli_ok push other "$M3" --json --metric f1=0.99
assert_eq "$(jq_ 'j["version"]' "$OUT")" 1 "versions count per model"

# ---------------------------------------------------------------- ls
step "ls"
cli_ok ls --json
assert_json 'sorted(m["name"] for m in j["models"]) == ["fraud", "other"]' "$OUT" "ls lists both models"
assert_json '[m["latest_version"] for m in j["models"] if m["name"] == "fraud"] == [3]' "$OUT" "ls latest_version"
cli_ok ls fraud --json
assert_json '[v["version"] for v in j["versions"]] == [1, 2, 3]' "$OUT" "ls fraud lists versions 1..3"
assert_json 'all(v["model"] == "fraud" for v in j["versions"])' "$OUT" "ls fraud only fraud"
cli_ok ls
assert_contains "$OUT" "fraud" "human ls"
cli ls nosuchmodel
expect_rc 5 "ls of an unknown model"

# ---------------------------------------------------------------- search
step "search"
cli_ok search --filter 'metrics.accuracy>0.9' --order-by metrics.accuracy --desc --json
assert_json '[(v["model"], v["version"]) for v in j["versions"]] == [["fraud", 2], ["fraud", 1]] or [(v["model"], v["version"]) for v in j["versions"]] == [("fraud", 2), ("fraud", 1)]' "$OUT" "accuracy>0.9 ordered desc"
cli_ok search --filter 'metrics.accuracy>0.9' --order-by metrics.accuracy --json
assert_json '[v["version"] for v in j["versions"]] == [1, 2]' "$OUT" "accuracy>0.9 ascending"
cli_ok search --filter 'metrics.accuracy>=0.8' --filter 'params.lr!=0.05' --json
assert_json 'sorted(v["version"] for v in j["versions"]) == [1, 3]' "$OUT" "two filters AND"
cli_ok search --tag team=risk --json
assert_json '[v["version"] for v in j["versions"]] == [1]' "$OUT" "search by tag"
cli_ok search --model other --json
assert_json '[(v["model"], v["version"]) for v in j["versions"]] == [("other", 1)] or [[v["model"], v["version"]] for v in j["versions"]] == [["other", 1]]' "$OUT" "search --model"
cli_ok search --order-by metrics.accuracy --desc --json
assert_json '[(v["model"], v["version"]) for v in j["versions"]][-1] == ("other", 1) or [[v["model"], v["version"]] for v in j["versions"]][-1] == ["other", 1]' "$OUT" "versions lacking the metric sort last"
cli search --filter 'metrics.accuracy >>> 3'
expect_rc 2 "search with a malformed filter is a usage error"

# ---------------------------------------------------------------- diff
step "diff"
cli_ok diff fraud:1 fraud:2 --json
D=$OUT
assert_json '[f["path"] for f in j["added"]] == ["extra.txt"]' "$D" "diff added"
assert_json '[f["path"] for f in j["removed"]] == ["sub/config.yaml"]' "$D" "diff removed"
assert_json '[c["path"] for c in j["changed"]] == ["weights.bin"]' "$D" "diff changed"
assert_json 'j["changed"][0]["from"]["digest"] == "'"$(sha256_of "$M1/weights.bin")"'" and j["changed"][0]["to"]["digest"] == "'"$(sha256_of "$M2/weights.bin")"'"' "$D" "diff changed digests"
assert_json 'j["metrics"]["accuracy"]["from"] == 0.91 and j["metrics"]["accuracy"]["to"] == 0.95 and abs(j["metrics"]["accuracy"]["delta"] - 0.04) < 1e-9' "$D" "diff metric delta accuracy"
assert_json 'abs(j["metrics"]["loss"]["delta"] - (-0.05)) < 1e-9' "$D" "diff metric delta loss"
assert_json 'j["params"]["lr"] == {"from": "0.1", "to": "0.05"} and "depth" not in j["params"]' "$D" "diff params: only changed ones"
cli_ok diff fraud:1 fraud:2
assert_contains "$OUT" "+ extra.txt" "human diff added"
assert_contains "$OUT" "- sub/config.yaml" "human diff removed"
assert_contains "$OUT" "~ weights.bin" "human diff changed"
assert_contains "$OUT" "metric accuracy" "human diff metric"
cli diff fraud:1 fraud:99
expect_rc 5 "diff against a missing version"

# ---------------------------------------------------------------- metrics log
step "metrics log"
cli_ok metrics log fraud:1 auc=0.88 loss=0.3@10 --json
assert_json 'j["metrics"]["auc"] == 0.88 and j["metrics"]["loss"] == 0.3' "$OUT" "metrics log --json returns updated version"
cli_ok show fraud:1 --json
assert_json 'j["metrics"] == {"accuracy": 0.91, "loss": 0.3, "auc": 0.88}' "$OUT" "metrics after log (latest value per key)"
cli metrics log fraud:1 auc=notanumber
expect_rc 2 "metrics log with a non-number"

# ---------------------------------------------------------------- tag
step "tag"
cli_ok tag fraud:2 stage=candidate owner=ml
cli_ok show fraud:2 --json
assert_json 'j["tags"] == {"stage": "candidate", "owner": "ml"}' "$OUT" "version tags set"
cli_ok tag fraud:2 --rm owner
cli_ok show fraud:2 --json
assert_json 'j["tags"] == {"stage": "candidate"}' "$OUT" "version tag removed"
cli_ok tag fraud area=payments --json
assert_json 'j["name"] == "fraud" and j["tags"] == {"area": "payments"}' "$OUT" "model tag"
cli_ok search --tag stage=candidate --json
assert_json '[v["version"] for v in j["versions"]] == [2]' "$OUT" "search finds the new tag"

# ---------------------------------------------------------------- deprecate, rm
step "deprecate and rm"
cli_ok deprecate fraud:1
cli_ok show fraud:1 --json
assert_json 'j["status"] == "deprecated"' "$OUT" "deprecated status"
cli_ok rm fraud:3 --json
assert_json 'j["status"] == "deleted"' "$OUT" "rm --json"
cli_ok show fraud:3 --json
assert_json 'j["status"] == "deleted" and j["version"] == 3' "$OUT" "show after rm: tombstone"
cli_ok search --model fraud --json
assert_json 'sorted(v["version"] for v in j["versions"]) == [1, 2]' "$OUT" "search hides deleted versions"
cli_ok search --model fraud --status deleted --json
assert_json '[v["version"] for v in j["versions"]] == [3]' "$OUT" "search --status deleted"
cli show fraud:42
expect_rc 5 "show a missing version"
cli rm fraud:3
expect_rc 6 "rm of an already deleted version"
# New versions keep counting after a delete: no reuse of 3.
cli_ok push fraud "$M3" --json
assert_eq "$(jq_ 'j["version"]' "$OUT")" 4 "version after a deleted one is 4"

# ---------------------------------------------------------------- pull
step "pull a folder version"
cli_ok pull fraud:2 "$WORK/out2" --json
assert_json 'j["version"] == 2 and j["digest"] == "'"$V2_DIGEST"'"' "$OUT" "pull --json"
for f in model.json weights.bin sub/deeper/predict.sh extra.txt empty.txt; do
	assert_file_eq "$WORK/out2/$f" "$M2/$f" "pulled $f"
done
[ ! -e "$WORK/out2/sub/config.yaml" ] || fail "pull of v2 wrote a file v2 does not have"
[ -x "$WORK/out2/sub/deeper/predict.sh" ] || fail "pulled predict.sh lost its executable bit"
[ "$(find "$WORK/out2" -type f | wc -l)" = 5 ] || fail "pull wrote $(find "$WORK/out2" -type f | wc -l) files, expected 5"

step "pull into an existing folder merges"
mkdir -p "$WORK/merge/sub"
printf 'mine\n' >"$WORK/merge/mine.txt"
printf 'stale\n' >"$WORK/merge/model.json"
cli_ok pull fraud:2 "$WORK/merge"
assert_eq "$(cat "$WORK/merge/mine.txt")" "mine" "a file not in the version stays"
assert_file_eq "$WORK/merge/model.json" "$M2/model.json" "a file of the version replaces the old one"
assert_file_eq "$WORK/merge/weights.bin" "$M2/weights.bin" "merged weights"
[ -z "$(find "$WORK" -maxdepth 1 -name '.*mlreg-pull*')" ] || fail "staging folder left behind"

step "pull a single-file version"
rand_file "$WORK/single.bin" 300000
cli_ok push solo "$WORK/single.bin" --json
cli_ok show solo:1 --json
assert_json '[f["path"] for f in j["files"]] == ["single.bin"]' "$OUT" "single-file version has one file"
cli_ok pull solo:1 "$WORK/solo.out"
[ -f "$WORK/solo.out" ] || fail "single-file pull did not write a file at DEST"
assert_file_eq "$WORK/solo.out" "$WORK/single.bin" "single-file pull"
mkdir "$WORK/solodir"
cli_ok pull solo:1 "$WORK/solodir"
assert_file_eq "$WORK/solodir/single.bin" "$WORK/single.bin" "single-file pull into an existing folder"
cli pull fraud:77 "$WORK/nothing"
expect_rc 5 "pull a missing version"
[ ! -e "$WORK/nothing" ] || fail "failed pull created DEST"

# ---------------------------------------------------------------- archive
step "archive endpoint"
http GET /api/v1/models/fraud/versions/2/archive
expect_code 200 "GET archive"
LIST=$(tar -tf "$BODY_FILE" | grep -v '/$' | sort | tr '\n' ' ')
assert_eq "$LIST" "empty.txt extra.txt model.json sub/deeper/predict.sh weights.bin " "archive file list"
mkdir "$WORK/untar"
tar -xf "$BODY_FILE" -C "$WORK/untar"
for f in model.json weights.bin sub/deeper/predict.sh extra.txt; do
	assert_file_eq "$WORK/untar/$f" "$M2/$f" "archived $f"
done
# Files in manifest order.
cli_ok show fraud:2 --json
MANIFEST_ORDER=$(jq_ '" ".join(f["path"] for f in j["files"])' "$OUT")
TAR_ORDER=$(tar -tf "$BODY_FILE" | grep -v '/$' | tr '\n' ' ' | sed 's/ $//')
assert_eq "$TAR_ORDER" "$MANIFEST_ORDER" "archive in manifest order"

# ---------------------------------------------------------------- nested names
step "model names with '/'"
cli_ok push risk/fraud "$M3" --json --metric accuracy=0.99
assert_json 'j["model"] == "risk/fraud" and j["version"] == 1' "$OUT" "push risk/fraud"
cli_ok show risk/fraud:1 --json
assert_json 'j["model"] == "risk/fraud"' "$OUT" "show risk/fraud:1"
http GET /api/v1/models/risk%2Ffraud/versions/1
expect_code 200 "GET with %2F-encoded name"
assert_json 'j["model"] == "risk/fraud"' "$BODY" "REST version object"
cli_ok pull risk/fraud:1 "$WORK/rf"
assert_file_eq "$WORK/rf" "$M3/model.json" "pull risk/fraud (one-file version to a file)"
cli_ok search --prefix risk/ --json
assert_json '[v["model"] for v in j["versions"]] == ["risk/fraud"]' "$OUT" "search --prefix risk/"
cli_ok ls --json
assert_json '"risk/fraud" in [m["name"] for m in j["models"]]' "$OUT" "ls shows risk/fraud"

# ---------------------------------------------------------------- /metrics
step "/metrics"
M=$(curl -s --max-time 10 "$URL/metrics")
assert_contains "$M" "mlreg_http_requests_total{" "/metrics has request counter"
assert_contains "$M" "mlreg_http_bytes_received_total" "/metrics has bytes received"
assert_contains "$M" "mlreg_blobs_stored" "/metrics has blob gauge"
[ "$(metric 'mlreg_http_requests_total{route="/api/v1/models/{name}/versions",method="POST",status="201"}')" -ge 7 ] ||
	fail "expected at least 7 counted version creations in /metrics"

# ---------------------------------------------------------------- audit
step "audit"
cli_ok audit --json
A=$OUT
assert_json 'len(j["entries"]) >= 10' "$A" "audit has entries"
assert_json 'sum(1 for e in j["entries"] if e["action"] == "version.create") == 7' "$A" "7 version.create entries (fraud 1-4, other, solo, risk/fraud)"
assert_json 'any(e["action"] == "version.delete" and e["subject"] == "fraud:3" for e in j["entries"])' "$A" "delete audited"
assert_json 'any(e["action"] == "version.deprecate" and e["subject"] == "fraud:1" for e in j["entries"])' "$A" "deprecate audited"
assert_json '[e["seq"] for e in j["entries"]] == sorted([e["seq"] for e in j["entries"]], reverse=True)' "$A" "audit newest first"
assert_json 'all(e["actor"] == "admin" for e in j["entries"] if e["action"].startswith("version."))' "$A" "audit actor"
cli_ok audit --model fraud --action version.create --json
assert_json 'len(j["entries"]) == 4 and all(e["action"] == "version.create" for e in j["entries"])' "$OUT" "audit filters"
cli_ok audit --actor admin --limit 10000 --json
ADM=$OUT
cli_ok audit --limit 10000 --json
assert_eq "$(jq_ '[e["seq"] for e in j["entries"]]' "$ADM")" "$(jq_ '[e["seq"] for e in j["entries"] if e["actor"] == "admin"]' "$OUT")" "audit --actor admin: exactly the admin entries"
assert_json 'any(e["actor"] != "admin" for e in j["entries"])' "$OUT" "the log also holds entries of other actors (so --actor can fail)"
cli_ok audit --actor nobody-at-all --json
assert_json 'j["entries"] == []' "$OUT" "audit --actor of an unknown principal: nothing"
cli_ok audit verify
assert_contains "$OUT" "audit chain ok" "audit verify output"
cli_ok audit verify --json
assert_json 'j["ok"] is True and j["entries"] >= 10' "$OUT" "audit verify --json"

step "Idempotency-Key: a repeat returns the first answer; another body is 409"
cli_ok show solo:1 --json
SD=$(jq_ 'j["files"][0]["digest"]' "$OUT")
IBODY="{\"files\":[{\"path\":\"a.bin\",\"size\":300000,\"digest\":\"$SD\",\"mode\":420}]}"
http POST /api/v1/models/idem/versions -H 'Content-Type: application/json' -H 'Idempotency-Key: key-one' --data-binary "$IBODY"
expect_code 201 "first create with an Idempotency-Key"
FIRST=$BODY
http POST /api/v1/models/idem/versions -H 'Content-Type: application/json' -H 'Idempotency-Key: key-one' --data-binary "$IBODY"
[ "$CODE" = 201 ] || [ "$CODE" = 200 ] || fail "repeat with the same key: HTTP $CODE: $BODY"
assert_eq "$(jq_ '(j["version"], j["digest"], j["created_at"])' "$BODY")" "$(jq_ '(j["version"], j["digest"], j["created_at"])' "$FIRST")" "the repeat returns the first answer"
http POST /api/v1/models/idem/versions -H 'Content-Type: application/json' -H 'Idempotency-Key: key-one' \
	--data-binary "{\"files\":[{\"path\":\"b.bin\",\"size\":300000,\"digest\":\"$SD\",\"mode\":420}]}"
expect_code 409 "same key, another body"
assert_json 'j["error"]["code"] == "conflict"' "$BODY" "409 error code"
cli_ok ls idem --json
assert_json '[v["version"] for v in j["versions"]] == [1]' "$OUT" "one version despite three requests"

step "global flags: before or after the command, --flag=value, env"
cli_ok --json ls
assert_json '"fraud" in [m["name"] for m in j["models"]]' "$OUT" "--json before the command"
RC=0
OUT=$("$MLREG_BIN" --registry="$URL" --token="$ADMIN" show fraud:2 --json 2>"$WORK/err") || RC=$?
expect_rc 0 "--registry=URL --token=T"
assert_json 'j["version"] == 2' "$OUT" "show with --flag=value globals"
RC=0
OUT=$(MLREG_REGISTRY="$URL" MLREG_TOKEN="$ADMIN" "$MLREG_BIN" --token mlr_wrongwrongwrongwrongwrongwrong ls 2>"$WORK/err") || RC=$?
expect_rc 4 "--token wins over MLREG_TOKEN"
mkdir -p "$XDG_CONFIG_HOME/mlreg"
printf '%s\n' "$ADMIN" >"$XDG_CONFIG_HOME/mlreg/token"
RC=0
OUT=$(MLREG_REGISTRY="$URL" "$MLREG_BIN" ls --json 2>"$WORK/err") || RC=$?
expect_rc 0 "token from \$XDG_CONFIG_HOME/mlreg/token"
rm -f "$XDG_CONFIG_HOME/mlreg/token"
cli_ok --version
assert_contains "$OUT" "0.1.0" "--version"
cli_ok push --help
assert_contains "$OUT" "usage: mlreg push" "push --help"

step "fsck and clean stop"
cli_ok fsck --json
assert_json 'j["bad"] == [] and j["checked"] >= 8' "$OUT" "fsck clean"
verify_blob_store "$DATA" >/dev/null
stop_server

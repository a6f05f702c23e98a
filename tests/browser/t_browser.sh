#!/usr/bin/env bash
# t_browser: the web console in a real browser.  Starts a real `mlreg server`
# (127.0.0.1, ephemeral port, temp data dir, --console-refresh 200ms, the
# controller's fast test flags), makes real data with the real CLI (two
# models, versions with metrics, params, tags, lineage and a signature, stage
# moves, an alias and a policy), two real mlreg-node processes serving real
# XGBoost models, a canary deployment whose steps include a timed and an
# open-ended `pause`, live traffic for its analysis step, and tokens for a
# deployer and a reader; then runs console.test.js, which drives Debian's
# Chromium through playwright-core (tests/browser/README.md).  At the end the
# nodes and the server must stop cleanly (a sanitizer report fails the test).
#
# Screenshots go to MLREG_ARTIFACTS (default: the build tree's artifacts/,
# next to bin/).  MLREG_UPDATE_DOCS_IMG=1 copies the deployments screenshot
# to docs/img/console.png (the README's picture).
HERE_BROWSER=$(cd "$(dirname "$0")" && pwd)
source "$HERE_BROWSER/../integration/lib.sh"
source "$HERE_BROWSER/../integration/node_lib.sh"
source "$HERE_BROWSER/../integration/ctl_lib.sh"

step "tools"
NODEJS=${MLREG_NODEJS:-node}
CHROMIUM=${MLREG_CHROMIUM:-/usr/bin/chromium}
command -v "$NODEJS" >/dev/null 2>&1 || fail "Node.js ('$NODEJS') is not installed: run scripts/deps"
command -v sqlite3 >/dev/null 2>&1 || fail "the sqlite3 CLI is not installed: run scripts/deps (the audit tamper step edits the database)"
[ -x "$CHROMIUM" ] || fail "Chromium is not at $CHROMIUM: run scripts/deps (Debian's chromium package)"
[ -d "$HERE_BROWSER/node_modules/playwright-core" ] ||
	fail "tests/browser/node_modules is missing: run scripts/deps (it runs npm ci there)"
want=$(sha256sum "$HERE_BROWSER/package-lock.json" | cut -d' ' -f1)
have=$(cat "$HERE_BROWSER/node_modules/.mlreg-lock-sha256" 2>/dev/null || true)
[ "$want" = "$have" ] || fail "tests/browser/node_modules is out of date with package-lock.json: run scripts/deps"
MLREG_SRC=${MLREG_SRC:-$(cd "$HERE_BROWSER/../.." && pwd)}
ARTIFACTS=${MLREG_ARTIFACTS:-$(cd "$(dirname "$MLREG_BIN")/.." && pwd)/artifacts}
mkdir -p "$ARTIFACTS"
rm -f "$ARTIFACTS"/console-*.png

start_server "$WORK/reg" "${CTL_FLAGS[@]}" --console-refresh 200ms

step "models (real XGBoost, trained in parallel)"
train "$WORK/f1" --seed 1 --trees 8 --rows-out "$WORK/rows.json" &
t1=$!
train "$WORK/f2" --seed 2 --trees 12 &
t2=$!
wait "$t1" || { kill "$t2" 2>/dev/null; wait "$t2" 2>/dev/null; fail "training f1"; }
wait "$t2" || fail "training f2"
train "$WORK/f3" --seed 3 --trees 16 &
t1=$!
train "$WORK/o1" --dataset wine --seed 1 &
t2=$!
wait "$t1" || { kill "$t2" 2>/dev/null; wait "$t2" 2>/dev/null; fail "training f3"; }
wait "$t2" || fail "training o1"
cp -r "$WORK/o1" "$WORK/o2"
echo "retrained with a smaller learning rate" >"$WORK/o2/NOTES.txt"
mkdir -p "$WORK/data"
head -c 4096 /dev/urandom >"$WORK/data/train.csv"

step "versions with metrics, params, lineage"
M=risk/fraud
cli_ok push "$M" "$WORK/f1" --metric auc=0.91 --metric loss=0.31 --param lr=0.3 --param trees=8 \
	--tag team=risk --description "first model" --dataset train="$WORK/data/train.csv" --json
cli_ok push "$M" "$WORK/f2" --metric auc=0.93 --metric loss=0.27 --param lr=0.3 --param trees=12 \
	--tag team=risk --description "more trees" --dataset train="$WORK/data/train.csv" \
	--dataset labels=s3://risk-data/labels.csv --parent "$M:1" --run run-17 --json
cli_ok push "$M" "$WORK/f3" --metric auc=0.94 --metric loss=0.25 --param lr=0.3 --param trees=16 \
	--tag team=risk --description "fine-tuned from 2" --parent "$M:2" --json
cli_ok push vision/ocr "$WORK/o1" --metric accuracy=0.95 --param depth=3 --tag team=vision --json
cli_ok push vision/ocr "$WORK/o2" --metric accuracy=0.97 --param depth=3 --tag team=vision \
	--parent vision/ocr:1 --json

# what the version page's graph must show, as the registry has it
cli_ok lineage "$M:2" --json
assert_json '{"version:risk/fraud:1", "version:risk/fraud:2"} <= set(n["id"] for n in j["nodes"]) and any(n["kind"] == "dataset" for n in j["nodes"])' "$OUT" "lineage up of $M:2"
cli_ok lineage "$M:2" --down --json
assert_json '"version:risk/fraud:3" in [n["id"] for n in j["nodes"]]' "$OUT" "lineage down of $M:2"

step "signature, stages, alias, policy"
(cd "$WORK" && "$MLREG_BIN" keygen --out release >/dev/null) || fail "keygen"
cli_ok key add release "$WORK/release.pub"
cli_ok sign "$M:2" --key "$WORK/release"
cli_ok policy set "$M" --stage production --metric 'auc>=0.9'
cli_ok promote "$M:1" --to staging
cli_ok promote "$M:1" --to production
cli_ok promote "$M:2" --to staging --comment "canary candidate"
cli_ok alias set "$M@champion" 1
cli_ok promote vision/ocr:2 --to staging

step "tokens"
cli_ok token create ops --role deployer --principal alice --json
DEPLOYER=$(jq_ 'j["token"]' "$OUT")
cli_ok token create viewer --role reader --principal bob --json
READER=$(jq_ 'j["token"]' "$OUT")
cli_ok token create temp --role reader --principal carol --json
TEMP=$(jq_ 'j["token"]' "$OUT")

step "nodes and the deployment"
fleet 2
# weight 20, a 2s analysis under live traffic, a long timed pause (the test
# presses pause, resume and promote in it), weight 50, an open-ended pause
# (the controller holds Paused until promote), weight 100
cli_ok deploy create fraud-live --model "$M" --stage production --selector pool=a \
	--steps 'weight:20,analysis:2s,pause:30s,weight:50,pause,weight:100' \
	--analysis 'failure_rate<0.05' --min-requests 5 --analysis-interval 500ms \
	--scale-down-delay 1s --json
wait_for fraud-live 'j["phase"] == "Healthy" and j["stable_version"] == 1' 60
loadgen_start fraud-live 40 "$WORK/rows.json"

step "browser"
FIX="$WORK/fixture.json"
(
	umask 077
	"${PY[@]}" -c '
import json, sys
a = sys.argv[1:]
print(json.dumps({"url": a[0], "deployer": a[1], "reader": a[2], "temp": a[3], "admin": a[4],
                  "mlreg": a[5], "artifacts": a[6], "chromium": a[7], "model": "risk/fraud",
                  "other_model": "vision/ocr", "deployment": "fraud-live", "key": "release",
                  "db": a[8]}))
' "$URL" "$DEPLOYER" "$READER" "$TEMP" "$ADMIN" "$MLREG_BIN" "$ARTIFACTS" "$CHROMIUM" "$DATA/registry.db" >"$FIX"
)
brc=0
(cd "$HERE_BROWSER" && timeout 240 "$NODEJS" console.test.js "$FIX") || brc=$?
[ "$brc" = 0 ] || fail "console.test.js failed (exit $brc); screenshots in $ARTIFACTS"
for f in "$ARTIFACTS"/console-*.png; do log "screenshot: $f"; done
if [ "${MLREG_UPDATE_DOCS_IMG:-0}" = 1 ]; then
	mkdir -p "$MLREG_SRC/docs/img"
	cp "$ARTIFACTS/console-deployments.png" "$MLREG_SRC/docs/img/console.png"
	log "copied to $MLREG_SRC/docs/img/console.png"
fi

step "the rollout the browser drove is finished and audited"
loadgen_stop
dstatus fraud-live
assert_json 'j["phase"] == "Healthy" and j["stable_version"] == 2 and j["target_version"] is None' "$DSTATUS" "rollout done"
cli_ok audit --action rollout.pause --json
assert_json 'len(j["entries"]) >= 1 and j["entries"][0]["actor"] == "alice"' "$OUT" "the console's pause is audited as alice"
cli_ok audit verify

step "clean stop"
fleet_stop
stop_server

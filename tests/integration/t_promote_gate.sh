#!/usr/bin/env bash
# t_promote_gate: the release gate through the real CLI and server.
#   - every gate check alone, passing and failing, for `gate` (changes
#     nothing) and `promote` (exit 3 and nothing moved when refused): status,
#     metric (incl. a missing one), from, soak, approvals, same_schema, and a
#     '*' policy together with a model's own policy; --json shapes and the
#     text table (every check with its required and actual value);
#   - separation of duties: the pusher's principal cannot approve, with any
#     token; a reader cannot approve or promote;
#   - hostile input: bad names, metric expressions, --expect-current, soak
#     without from, request bodies the registry refuses, an unknown stage;
#     nothing changes.
# The moves themselves (races, rollback, history, stages, aliases) are in
# t_promote_moves.sh; the shared helpers in promote_lib.sh.
# Exit codes: 0 ok, 2 usage, 3 refused, 4 forbidden, 5 not found, 6 conflict.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/promote_lib.sh"

start_server "$WORK/data"
promote_tokens

# ---------------------------------------------------------------- helpers

# refused KIND TOKEN M:V STAGE MSG: `KIND` (gate or promote) as TOKEN exits 3
# with --json and text, which agree; nothing changes.  Sets R (the JSON).
refused() {
	local before
	SNAP_MODEL=${3%%:*}
	snap "$SNAP_MODEL"
	before=$SNAP
	as "$2" "$1" "$3" --to "$4" --json
	expect_rc 3 "$5: $1 --json"
	R=$OUT
	as "$2" "$1" "$3" --to "$4"
	expect_rc 3 "$5: $1 (text)"
	verdict "$1" "$3" "$4" refused "$R" "$OUT" "$ERR" "$5"
	assert_unchanged "$before" "$5: a refused $1"
}
# gate_refused M:V STAGE MSG: refused as a reader.  Sets G (the JSON).
gate_refused() {
	refused gate "$READER" "$@"
	G=$R
}
# promote_refused M:V STAGE MSG: refused as the deployer; nothing moves.
# Sets P (the JSON).
promote_refused() {
	refused promote "$DEPLOYER" "$@"
	P=$R
}

# gate_passes M:V STAGE MSG: gate exits 0 with --json and text.  Sets G.
gate_passes() {
	as "$READER" gate "$1" --to "$2" --json
	expect_rc 0 "$3: gate --json"
	G=$OUT
	as "$READER" gate "$1" --to "$2"
	expect_rc 0 "$3: gate (text)"
	verdict gate "$1" "$2" pass "$G" "$OUT" - "$3"
}

# ---------------------------------------------------------------- no policy
step "no policy: only the status check; a deprecated version fails it"
mkf "$WORK/st" one
push_v st "$WORK/st"
mkf "$WORK/st" two
push_v st "$WORK/st"
gate_passes st:1 production "no policy"
assert_json '[(c["check"], c["required"], c["actual"]) for c in j["checks"]] == [("status", "ready", "ready")]' "$G" "no policy: just status"
cli_ok deprecate st:2
gate_refused st:2 production "deprecated"
assert_json 'j["checks"] == [{"check": "status", "passed": False, "required": "ready", "actual": "deprecated", "policy": None}]' "$G" "status check of a deprecated version"
promote_refused st:2 production "deprecated"
holder st production
assert_eq "$HOLDER" none "a refused promotion leaves production empty"
promote_ok st:1 production
cli_ok history st --json
assert_json 'len(j["history"]) == 1' "$OUT" "one move recorded"
as "$DEPLOYER" promote st:1 --to production --json
expect_rc 0 "promote to the stage it already holds"
assert_json 'j["promoted"] is False and j["version"] == 1' "$OUT" "already there: promoted false"
as "$DEPLOYER" promote st:1 --to production
expect_rc 0 "promote (text) to the stage it already holds"
assert_contains "$OUT" "st:1 already holds production: nothing changed" "already-there text"
cli_ok history st --json
assert_json 'len(j["history"]) == 1' "$OUT" "already there: nothing recorded"

# ---------------------------------------------------------------- metric
step "metric: pass, fail, boundary, missing"
mkf "$WORK/gm" a
push_v gm "$WORK/gm" --metric acc=0.95 # 1
mkf "$WORK/gm" b
push_v gm "$WORK/gm" --metric acc=0.5 # 2
mkf "$WORK/gm" c
push_v gm "$WORK/gm" --metric f1=0.99 # 3: no acc at all
mkf "$WORK/gm" d
push_v gm "$WORK/gm" --metric acc=0.9 # 4: exactly the threshold
cli_ok policy set gm --stage production --metric 'acc>=0.9' --json
assert_json 'j["model"] == "gm" and j["stage"] == "production" and j["metrics"] == ["acc>=0.9"] and j["from"] is None and j["approvals"] == 0 and j["soak"] is None and j["same_schema"] is False and j["updated_by"] == "admin"' "$OUT" "policy set --json"

gate_refused gm:2 production "metric below"
assert_json 'j["checks"][1] == {"check": "metric acc", "passed": False, "required": "acc>=0.9", "actual": "0.5", "policy": "gm"} and len(j["checks"]) == 2' "$G" "metric check failing"
gate_refused gm:3 production "metric missing"
assert_json 'j["checks"][1] == {"check": "metric acc", "passed": False, "required": "acc>=0.9", "actual": "missing", "policy": "gm"}' "$G" "a missing metric fails with actual 'missing'"
gate_passes gm:1 production "metric above"
assert_json 'j["checks"][1] == {"check": "metric acc", "passed": True, "required": "acc>=0.9", "actual": "0.95", "policy": "gm"}' "$G" "metric check passing"
gate_passes gm:4 production "metric at the boundary of >="
promote_refused gm:2 production "metric below"
assert_json '[c["passed"] for c in j["checks"]] == [True, False]' "$P" "promote reports the same checks"
promote_refused gm:3 production "metric missing"
assert_json 'j["checks"][1]["actual"] == "missing"' "$P" "promote: missing metric"
promote_ok gm:1 production
assert_json '[(c["check"], c["passed"], c["actual"]) for c in j["checks"]] == [("status", True, "ready"), ("metric acc", True, "0.95")]' "$P" "promote --json checks"
as "$DEPLOYER" promote gm:4 --to production --comment "boundary"
expect_rc 0 "promote gm:4 (text)"
assert_contains "$OUT" "promoted gm:4 to production (was 1)" "promote text verdict"
assert_match "$OUT" 'metric acc +pass +acc>=0\.9 +0\.9' "promote text shows the metric row"
# a metric logged later counts (its latest value)
cli_ok metrics log gm:2 acc=0.97
gate_passes gm:2 production "metric raised by metrics log"

# ---------------------------------------------------------------- from
step "from: never held, holds now, held before"
for i in 1 2; do
	mkf "$WORK/gf" "gf$i"
	push_v gf "$WORK/gf"
done
cli_ok policy set gf --stage production --from staging
gate_refused gf:1 production "from: never in staging"
assert_json 'j["checks"][1] == {"check": "from", "passed": False, "required": "holds or held staging", "actual": "never held staging", "policy": "gf"}' "$G" "from check failing"
promote_refused gf:1 production "from: never in staging"
promote_ok gf:1 staging
gate_passes gf:1 production "from: holds staging now"
assert_json 'j["checks"][1]["check"] == "from" and bool(re.fullmatch(r"entered staging at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", j["checks"][1]["actual"]))' "$G" "from: actual names when it entered"
promote_ok gf:2 staging
gate_passes gf:1 production "from: held staging before"
gate_passes gf:2 production "from: gf:2 holds staging now"
promote_ok gf:1 production

# ---------------------------------------------------------------- soak
step "soak: refused right after entering staging, passes after 3.2 s"
for i in 1 2; do
	mkf "$WORK/gs" "gs$i"
	push_v gs "$WORK/gs"
done
cli_ok policy set gs --stage production --from staging --soak 3s --json
assert_json 'j["from"] == "staging" and j["soak"] == "3s" and j["soak_ms"] == 3000' "$OUT" "policy set --soak --json"
gate_refused gs:2 production "soak: never entered staging"
assert_json '[(c["check"], c["passed"], c["required"], c["actual"]) for c in j["checks"][1:]] == [("from", False, "holds or held staging", "never held staging"), ("soak", False, ">= 3s in staging", "never entered staging")]' "$G" "soak of a version never in staging"
# the three calls back to back; the checks afterwards (a 3 s soak: two CLI
# calls under ASan on a loaded machine have taken more than 1 s)
as "$DEPLOYER" promote gs:1 --to staging --json
T0=${EPOCHREALTIME/./}
expect_rc 0 "promote gs:1 to staging"
as "$READER" gate gs:1 --to production --json
GRC=$RC G=$OUT
as "$DEPLOYER" promote gs:1 --to production --json
T1=${EPOCHREALTIME/./}
[ $(((T1 - T0) / 1000)) -lt 2700 ] || fail "gate and promote took $(((T1 - T0) / 1000)) ms after entering staging: too slow to test a 3 s soak"
expect_rc 3 "promote right after entering staging"
assert_json 'j["promoted"] is False and [c["check"] for c in j["checks"] if not c["passed"]] == ["soak"]' "$OUT" "promote refused by soak alone"
RC=$GRC OUT=$G
expect_rc 3 "gate right after entering staging"
assert_json '[(c["check"], c["passed"]) for c in j["checks"]] == [("status", True), ("from", True), ("soak", False)]' "$G" "only soak fails right after entering staging"
assert_json 'j["checks"][2]["required"] == ">= 3s in staging" and bool(re.fullmatch(r"(\d{1,3}ms|[12]s) since entering staging", j["checks"][2]["actual"]))' "$G" "soak required/actual right after entering"
holder gs production
assert_eq "$HOLDER" none "soak refusal moved nothing"
holder gs staging
assert_eq "$HOLDER" 1 "gs:1 holds staging"
sleep 3.2
gate_passes gs:1 production "soak: 3.2 s after entering staging"
assert_json 'j["checks"][2]["check"] == "soak" and bool(re.fullmatch(r"([3-9]|[1-9]\d+)s since entering staging", j["checks"][2]["actual"]))' "$G" "soak actual after the wait"
promote_ok gs:1 production

# ---------------------------------------------------------------- approvals
step "approvals: 0 and 1 fail, the same approver twice counts once, 2 pass"
for i in 1 2; do
	mkf "$WORK/ga" "ga$i"
	as "$ALICE_W" push ga "$WORK/ga" --json
	expect_rc 0 "alice pushes ga"
done
cli_ok show ga:1 --json
assert_json 'j["created_by"] == "alice"' "$OUT" "ga:1 was pushed by principal alice"
cli_ok policy set ga --stage production --approvals 2
approvals_of() { # REF STAGE -> APPROVERS (sorted principals, comma separated)
	http GET "/api/v1/models/${1%%:*}/versions/${1##*:}/approvals?stage=$2"
	expect_code 200 "GET approvals of $1"
	APPROVERS=$(jq_ '",".join(sorted(a["principal"] for a in j["approvals"]))' "$BODY")
}
gate_refused ga:1 production "approvals: none"
assert_json 'j["checks"][1] == {"check": "approvals", "passed": False, "required": ">= 2 distinct approvers", "actual": "0", "policy": "ga"}' "$G" "approvals 0"
promote_refused ga:1 production "approvals: none"

step "separation of duties: alice pushed ga:1, her approver token is refused"
SNAP_MODEL=ga
snap ga
BEFORE=$SNAP
as "$ALICE_A" approve ga:1 --stage production --comment "my own"
expect_rc 3 "the pusher's principal approving with an approver token"
assert_contains "$ERR" "'alice' pushed ga:1 and cannot approve it" "the refusal says why"
as "$ALICE_A" approve ga:1 --stage production --json
expect_rc 3 "the pusher's principal approving (--json)"
as "$READER" approve ga:1 --stage production
expect_rc 4 "a reader cannot approve"
as "$ALICE_W" approve ga:1 --stage production
expect_rc 4 "a writer cannot approve"
as "$DEPLOYER" approve ga:1 --stage production
expect_rc 4 "a deployer cannot approve"
assert_unchanged "$BEFORE" "refused approvals"
approvals_of ga:1 production
assert_eq "$APPROVERS" "" "no approval recorded by refused calls"

as "$BOB" approve ga:1 --stage production --comment "looks good" --json
expect_rc 0 "bob approves ga:1"
assert_json 'set(j) >= {"model", "version", "stage", "principal", "time", "comment", "count"} and j["model"] == "ga" and j["version"] == 1 and j["stage"] == "production" and j["principal"] == "bob" and j["comment"] == "looks good" and j["count"] == 1' "$OUT" "approve --json"
gate_refused ga:1 production "approvals: one"
assert_json 'j["checks"][1]["actual"] == "1" and j["checks"][1]["passed"] is False' "$G" "approvals 1"
promote_refused ga:1 production "approvals: one"
as "$BOB" approve ga:1 --stage production
expect_rc 0 "bob approves ga:1 again"
assert_contains "$OUT" "approved ga:1 for production (1 approval" "a repeated approval counts once (text)"
as "$BOB" approve ga:1 --stage production --json
expect_rc 0 "bob approves ga:1 a third time"
assert_json 'j["count"] == 1' "$OUT" "a repeated approval counts once (--json)"
as "$CAROL" approve ga:1 --stage staging
expect_rc 0 "carol approves ga:1 for staging"
gate_refused ga:1 production "approvals: one, plus one for another stage"
assert_json 'j["checks"][1]["actual"] == "1"' "$G" "an approval for staging does not count for production"
promote_refused ga:1 production "approvals: one distinct approver"
as "$BOB" approve ga:2 --stage production
expect_rc 0 "bob approves ga:2"
gate_refused ga:1 production "approvals: another version's approval"
assert_json 'j["checks"][1]["actual"] == "1"' "$G" "an approval of ga:2 does not count for ga:1"
as "$CAROL" approve ga:1 --stage production --json
expect_rc 0 "carol approves ga:1"
assert_json 'j["count"] == 2 and j["principal"] == "carol"' "$OUT" "two distinct approvers"
approvals_of ga:1 production
assert_eq "$APPROVERS" "bob,carol" "approvals of ga:1 for production"
gate_passes ga:1 production "approvals: two"
assert_json 'j["checks"][1] == {"check": "approvals", "passed": True, "required": ">= 2 distinct approvers", "actual": "2", "policy": "ga"}' "$G" "approvals 2"
SNAP_MODEL=ga
snap ga
BEFORE=$SNAP
as "$READER" promote ga:1 --to production
expect_rc 4 "a reader cannot promote (even with the gate passing)"
as "$BOB" promote ga:1 --to production
expect_rc 4 "an approver cannot promote"
assert_unchanged "$BEFORE" "refused promotions by reader/approver"
promote_ok ga:1 production
cli_ok audit --model ga --action approve --json
assert_json 'sorted((e["actor"], e["details"]["stage"], e["subject"]) for e in j["entries"]) == [("bob", "production", "ga:1"), ("bob", "production", "ga:2"), ("carol", "production", "ga:1"), ("carol", "staging", "ga:1")]' "$OUT" "one audit entry per counted approval, none for repeats or refusals"

# ---------------------------------------------------------------- same schema
step "same_schema: equal vs different I/O schema of the current holder"
schema_dir() { # DIR FORMAT OUTNAME OUTDT
	rm -rf "$1"
	mkdir -p "$1"
	printf 'onnx bytes %s\n' "$1" >"$1/model.onnx"
	printf '{"format":"%s","file":"model.onnx","inputs":[{"name":"x","datatype":"FP32","shape":[-1,4]}],"outputs":[{"name":"%s","datatype":"%s","shape":[-1,1]}]}\n' "$2" "$3" "$4" >"$1/mlreg-model.json"
}
schema_dir "$WORK/sc1" onnx y FP32
push_v gsc "$WORK/sc1" # 1
cli_ok show gsc:1 --json
assert_json 'j["schema"]["outputs"] == [{"name": "y", "datatype": "FP32", "shape": [-1, 1]}] and j["schema"]["format"] == "onnx"' "$OUT" "the schema was parsed from mlreg-model.json"
schema_dir "$WORK/sc2" onnx-v2 y FP32 # same inputs/outputs, other format and bytes
push_v gsc "$WORK/sc2" # 2
schema_dir "$WORK/sc3" onnx y FP64 # another output datatype
push_v gsc "$WORK/sc3" # 3
schema_dir "$WORK/sc4" onnx score FP32 # another output name
push_v gsc "$WORK/sc4" # 4
mkf "$WORK/sc5" "no schema"
push_v gsc "$WORK/sc5" # 5: no mlreg-model.json
cli_ok policy set gsc --stage production --same-schema
gate_passes gsc:3 production "same_schema: no current holder"
assert_json 'j["checks"][1] == {"check": "same_schema", "passed": True, "required": "inputs and outputs equal to the current holder'"'"'s", "actual": "no current holder", "policy": "gsc"}' "$G" "same_schema without a holder"
promote_ok gsc:1 production
gate_refused gsc:3 production "same_schema: other output datatype"
assert_json 'j["checks"][1]["check"] == "same_schema" and j["checks"][1]["actual"] == "differs from version 1'"'"'s"' "$G" "same_schema differs"
promote_refused gsc:3 production "same_schema: other output datatype"
gate_refused gsc:4 production "same_schema: other output name"
promote_refused gsc:4 production "same_schema: other output name"
gate_refused gsc:5 production "same_schema: no schema at all vs a holder with one"
promote_refused gsc:5 production "same_schema: no schema"
gate_passes gsc:2 production "same_schema: equal inputs and outputs"
assert_json 'j["checks"][1]["actual"] == "equal to version 1'"'"'s" and j["checks"][1]["passed"] is True' "$G" "same_schema equal"
promote_ok gsc:2 production
gate_refused gsc:3 production "same_schema: compared with the new holder"
assert_json 'j["checks"][1]["actual"] == "differs from version 2'"'"'s"' "$G" "same_schema compares with the current holder (2)"

# ---------------------------------------------------------------- '*' + model
step "a '*' policy and a model policy both apply"
mkf "$WORK/gx" 1
push_v gx "$WORK/gx" --metric auc=0.9 --metric acc=0.95 # 1: both pass
mkf "$WORK/gx" 2
push_v gx "$WORK/gx" --metric auc=0.7 --metric acc=0.95 # 2: '*' fails
mkf "$WORK/gx" 3
push_v gx "$WORK/gx" --metric auc=0.9 --metric acc=0.5 # 3: gx fails
cli_ok policy set '*' --stage staging --metric 'auc>=0.8' --json
assert_json 'j["model"] == "*" and j["stage"] == "staging" and j["metrics"] == ["auc>=0.8"]' "$OUT" "policy set '*' --json"
cli_ok policy set gx --stage staging --metric 'acc>0.9'
cli_ok policy show gx --json
assert_json 'sorted((p["model"], p["stage"]) for p in j["policies"] if p["stage"] == "staging") == [("*", "staging"), ("gx", "staging")]' "$OUT" "policy show gx lists both"
cli_ok policy show gx
assert_contains "$OUT" "policy *, stage staging" "policy show text: the '*' block"
assert_contains "$OUT" "policy gx, stage staging" "policy show text: the model block"
gate_passes gx:1 staging "both policies pass"
assert_json 'sorted((c["check"], c["policy"]) for c in j["checks"][1:]) == [("metric acc", "gx"), ("metric auc", "*")]' "$G" "each check names its policy"
gate_refused gx:2 staging "'*' policy fails"
assert_json '[(c["check"], c["policy"]) for c in j["checks"] if not c["passed"]] == [("metric auc", "*")]' "$G" "only the '*' check fails"
promote_refused gx:2 staging "'*' policy fails"
gate_refused gx:3 staging "model policy fails"
assert_json '[(c["check"], c["policy"]) for c in j["checks"] if not c["passed"]] == [("metric acc", "gx")]' "$G" "only the model check fails"
promote_refused gx:3 staging "model policy fails"
promote_ok gx:1 staging
cli_ok policy rm '*' --stage staging --json
assert_json 'j == {"model": "*", "stage": "staging", "removed": True}' "$OUT" "policy rm --json"
cli policy rm '*' --stage staging
expect_rc 5 "policy rm of a policy that is gone"
gate_refused gx:3 staging "model policy alone after the '*' one is removed"
gate_passes gx:2 staging "the '*' policy no longer applies"
cli_ok policy rm gx --stage staging
assert_eq "$OUT" "removed policy gx, stage staging" "policy rm text"

# ---------------------------------------------------------------- hostile
step "hostile input: usage errors are exit 2 and send nothing"
mkf "$WORK/h" h1
push_v h "$WORK/h"
mkf "$WORK/h" h2
push_v h "$WORK/h"
promote_ok h:1 staging
cli_ok policy set h --stage production --metric 'acc>=0.5'
SNAP_MODEL=h
snap h
BEFORE=$SNAP
usage() { # TOKEN ARGS...: must be exit 2 with an error message
	local t=$1
	shift
	as "$t" "$@"
	expect_rc 2 "mlreg $*"
	assert_match "$ERR" '^mlreg: ' "mlreg $*: an error message"
	[ -z "$OUT" ] || fail "mlreg $*: a usage error printed on stdout: $OUT"
}
LONG=$(printf 'a%.0s' $(seq 1 64))
for s in 'a b' -x '' a_b stag/ing 'stäging' 'staging;rm'; do
	usage "$DEPLOYER" promote h:1 --to "$s"
	usage "$READER" gate h:1 --to "$s"
done
for s in Prod latest 123 "$LONG"; do
	usage "$DEPLOYER" promote h:1 --to "$s"
	usage "$READER" gate h:1 --to "$s"
	usage "$ADMIN" policy set h --stage "$s"
	usage "$ADMIN" policy set h --stage production --from "$s"
	usage "$ADMIN" policy rm h --stage "$s"
	usage "$BOB" approve h:1 --stage "$s"
	usage "$DEPLOYER" rollback h --stage "$s"
	usage "$READER" history h --stage "$s"
done
for l in 'Dev,staging,production' '' 'staging,,production' 'staging,staging' 'latest,production' 'staging,production,' "$LONG"; do
	usage "$ADMIN" stages set "$l"
done
for a in h@Champ h@latest h@1x 'h@a b' h@ 'h@champ@x'; do
	usage "$DEPLOYER" alias set "$a" 1
	usage "$DEPLOYER" alias rm "$a"
done
usage "$DEPLOYER" alias set h 1
usage "$DEPLOYER" alias set h@champion abc
usage "$DEPLOYER" alias set h@champion staging
for m in 'acc>>1' 'acc>=' '>=0.9' 'acc=>0.9' 'acc>=abc' 'acc 0.9' 'acc' 'acc>=0.9 extra' 'acc>=1e999'; do
	usage "$ADMIN" policy set h --stage production --metric "$m"
done
usage "$ADMIN" policy set h --stage production --approvals -1
usage "$ADMIN" policy set h --stage production --approvals two
usage "$ADMIN" policy set h --stage production --soak 1h
usage "$ADMIN" policy set h --stage production --from staging --soak 5parsecs
usage "$ADMIN" policy set 'H' --stage production
for e in abc 0 -1 1.5 '' ' 1' 1x; do
	usage "$DEPLOYER" promote h:2 --to production --expect-current "$e"
done
usage "$DEPLOYER" promote h --to production
usage "$DEPLOYER" promote h:0 --to production
usage "$DEPLOYER" promote H:1 --to production
usage "$DEPLOYER" promote h:1
usage "$DEPLOYER" promote h:1 h:2 --to production
usage "$DEPLOYER" rollback h --stage staging --to abc
usage "$DEPLOYER" rollback h --stage staging --to 0
usage "$DEPLOYER" rollback h
usage "$ADMIN" metrics log h:staging x=1
usage "$ADMIN" tag h@champion a=b
usage "$ADMIN" deprecate h:staging
usage "$ADMIN" rm h:staging
assert_unchanged "$BEFORE" "usage errors"

step "hostile input the registry refuses changes nothing"
cli stages set "$(seq -f 's%g' 1 33 | tr '\n' ',' | sed 's/,$//')"
expect_rc 1 "33 stages (400 invalid)"
as "$DEPLOYER" promote h:99 --to production
expect_rc 5 "promote of a missing version"
as "$DEPLOYER" promote ghost:1 --to production
expect_rc 5 "promote of a missing model"
as "$DEPLOYER" promote h@ghost --to production
expect_rc 5 "promote of an unset alias"
as "$DEPLOYER" promote h:production --to staging
expect_rc 5 "promote of an empty stage's holder"
as "$READER" gate h:99 --to production
expect_rc 5 "gate of a missing version"
for b in '{"version":1,"bogus":1}' '{"version":1,"expect_current":"x"}' '{"version":1,"expect_current":-1}' \
	'{"version":0}' '{"version":"Prod"}' '{"version":1,"comment":7}' '[1]' 'not json' "{\"version\":1,\"comment\":\"$(head -c 2000 /dev/zero | tr '\0' x)\"}"; do
	TOKEN=$DEPLOYER
	http POST /api/v1/models/h/stages/production/promote -H 'Content-Type: application/json' --data-binary "$b"
	TOKEN=$ADMIN
	expect_code 400 "promote body $b"
	assert_json 'j["error"]["code"] == "invalid"' "$BODY" "promote body $b: error code"
done
for b in '{"to":-1}' '{"to":"x"}' '{"to":1,"force":"yes"}' '{"nope":1}'; do
	TOKEN=$DEPLOYER
	http POST /api/v1/models/h/stages/staging/rollback -H 'Content-Type: application/json' --data-binary "$b"
	TOKEN=$ADMIN
	expect_code 400 "rollback body $b"
done
for b in '{"stages":[]}' '{"stages":["Bad"]}' '{"stages":["a","a"]}' '{"stages":"staging"}' '{"stages":["staging","production"],"x":1}'; do
	http PUT /api/v1/stages -H 'Content-Type: application/json' --data-binary "$b"
	expect_code 400 "stages body $b"
done
for b in '{"soak":"1h"}' '{"metrics":["acc>>1"]}' '{"from":"production"}' '{"approvals":-1}' '{"approvals":"2"}' '{"same_schema":"yes"}'; do
	http PUT /api/v1/policies/h/production -H 'Content-Type: application/json' --data-binary "$b"
	expect_code 400 "policy body $b"
done
# a well-formed stage that is not configured is not found, as in refs
http PUT /api/v1/policies/h/production -H 'Content-Type: application/json' --data-binary '{"from":"nosuch"}'
expect_code 404 "policy from an unknown stage"
http PUT /api/v1/policies/h/production -H 'Content-Type: application/json' --data-binary '{"soak":"1h"}'
assert_contains "$BODY" "from" "soak without from: the registry says it needs 'from'"
assert_unchanged "$BEFORE" "refusals by the registry"

step "an unknown stage in --to"
# gate and promote answer alike; promote's documented outcome for an
# unknown stage is exit 5 (docs/cli.md, promote).
as "$READER" gate h:1 --to nosuch
GATE_RC=$RC
assert_contains "$ERR" "unknown stage 'nosuch'" "gate names the unknown stage"
as "$DEPLOYER" promote h:1 --to nosuch
assert_contains "$ERR" "unknown stage 'nosuch'" "promote names the unknown stage"
SAVED=("$RC" "$OUT" "$ERR")
assert_unchanged "$BEFORE" "an unknown stage"
cli_ok audit verify
stop_server
RC=${SAVED[0]} OUT=${SAVED[1]} ERR=${SAVED[2]}
assert_eq "$GATE_RC" "$RC" "gate and promote exit alike for an unknown stage"
expect_rc 5 "promote --to an unknown stage (docs/cli.md, promote: 'model, version, stage or alias unknown' -> 5)"

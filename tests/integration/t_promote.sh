#!/usr/bin/env bash
# t_promote: the release workflow through the real CLI and server.
#   - every gate check alone, passing and failing, for `gate` (changes
#     nothing) and `promote` (exit 3 and nothing moved when refused): status,
#     metric (incl. a missing one), from, soak, approvals, same_schema, and a
#     '*' policy together with a model's own policy; --json shapes and the
#     text table (every check with its required and actual value);
#   - separation of duties: the pusher's principal cannot approve, with any
#     token; a reader cannot approve or promote;
#   - racing promotions: without --expect-current every racer moves the stage
#     and the history is one unbroken chain; with it exactly one wins (0) and
#     the others get 6;
#   - the rollback stack (pop, pop to --to, refusal, --force for admin only),
#     history with actor and comment;
#   - stages set/ls, aliases (set, show, pull, move, rm), `show` of stage and
#     alias refs, rm of a version a stage holds;
#   - hostile input: bad names, metric expressions, --expect-current, soak
#     without from, an unknown stage; nothing changes.
# Exit codes: 0 ok, 2 usage, 3 refused, 4 forbidden, 5 not found, 6 conflict.
source "$(dirname "$0")/lib.sh"

start_server "$WORK/data"

# ---------------------------------------------------------------- helpers

# as TOKEN ARGS...: cli with another token (TOKEN is restored).
as() {
	local t=$1 saved=$TOKEN
	shift
	TOKEN=$t
	cli "$@"
	TOKEN=$saved
}

# holder MODEL STAGE: HOLDER = the version STAGE holds, or "none" (exit 5);
# the version object must list STAGE among its stages.
holder() {
	cli show "$1:$2" --json
	case $RC in
	0)
		HOLDER=$(jq_ 'j["version"] if "'"$2"'" in j["stages"] else "not-listed"' "$OUT")
		[ "$HOLDER" != not-listed ] || fail "show $1:$2 --json does not list $2 in its stages: $OUT"
		;;
	5) HOLDER=none ;;
	*) fail "show $1:$2: exit $RC: $ERR" ;;
	esac
}

# snap MODEL: SNAP = everything a refused call must leave alone: the model's
# stage/alias pointers (with stack depths), its history, the stage list, the
# policies and the audit chain's length and head (raw registry answers).
snap() {
	local saved=$TOKEN s=""
	TOKEN=$ADMIN
	for p in "/api/v1/models/$1/stages" "/api/v1/models/$1/history" /api/v1/stages /api/v1/policies /api/v1/audit/verify; do
		http GET "$p"
		expect_code 200 "snapshot: GET $p"
		s+="$p: $BODY
"
	done
	TOKEN=$saved
	SNAP=$s
}
# assert_unchanged BEFORE MSG: a fresh snap of $SNAP_MODEL equals BEFORE.
assert_unchanged() {
	local before=$1
	snap "$SNAP_MODEL"
	[ "$SNAP" == "$before" ] || fail "$2: state changed:
before: $before
after:  $SNAP"
}

# verdict KIND REF STAGE WANT JSON TEXT ERR MSG: one check of a gate or
# promote answer (KIND gate|promote, WANT pass|refused) and of its text
# form: the --json shape, each check {check,passed,required,actual,policy}
# with status first, passed == AND of the checks, the text table showing
# every check's result, required and actual value and nothing else, the
# verdict line, and stderr naming the failed checks.
cat >"$WORK/verdict.py" <<'PYEOF'
import json, re, sys
kind, ref, stage, want, js, text, err = sys.argv[1:8]
j = json.loads(js)
def bad(msg):
    print(msg); sys.exit(1)
keys = {"model", "version", "stage", "passed", "checks"}
if kind == "gate" and set(j) != keys:
    bad("gate --json members %s" % sorted(j))
if kind == "promote":
    need = keys | {"promoted"} | ({"from"} if want == "pass" else {"error"})
    if not need <= set(j):
        bad("promote --json lacks %s" % sorted(need - set(j)))
if "%s:%s" % (j["model"], j["version"]) != ref or j["stage"] != stage or not isinstance(j["version"], int):
    bad("answer names %s:%r for %s" % (j["model"], j["version"], j["stage"]))
ck = j["checks"]
if not isinstance(ck, list) or not ck:
    bad("no checks")
for c in ck:
    if set(c) != {"check", "passed", "required", "actual", "policy"} or not isinstance(c["passed"], bool) \
            or not isinstance(c["required"], str) or not isinstance(c["actual"], str):
        bad("malformed check %r" % c)
if ck[0]["check"] != "status" or ck[0]["policy"] is not None:
    bad("the status check is not first")
if j["passed"] is not all(c["passed"] for c in ck):
    bad("passed is not the AND of the checks")
if j["passed"] is not (want == "pass"):
    bad("passed is %r, expected %s" % (j["passed"], want))
if kind == "promote":
    if j["promoted"] is not (want == "pass"):
        bad("promoted is %r" % j["promoted"])
    if want == "refused" and (j["error"]["code"] != "refused" or not j["error"]["message"]):
        bad("refusal without the registry's error object")
    if want == "pass" and "error" in j:
        bad("an error object on success")
failed = [c for c in ck if not c["passed"]]
if text != "-":
    lines = text.splitlines()
    hdr = [i for i, l in enumerate(lines) if re.fullmatch(r"CHECK\s+RESULT\s+REQUIRED\s+ACTUAL\s*", l)]
    if len(hdr) != 1:
        bad("no single CHECK/RESULT/REQUIRED/ACTUAL header in the text")
    rows = lines[hdr[0] + 1:hdr[0] + 1 + len(ck)]
    for c, l in zip(ck, rows):
        pat = re.escape(c["check"]) + r"\s+" + ("pass" if c["passed"] else "FAIL") + r"\s+" + \
            re.escape(c["required"]) + r"\s+" + re.escape(c["actual"]) + r"\s*"
        if not re.fullmatch(pat, l):
            bad("text row %r does not show check %r" % (l, c))
    rest = lines[hdr[0] + 1 + len(ck):]
    if want == "refused":
        verdict = "refused: %d of %d checks failed" % (len(failed), len(ck))
    elif kind == "gate":
        verdict = "%s may be promoted to %s" % (ref, stage)
    else:
        verdict = "promoted %s to %s (was " % (ref, stage)
    if len(rest) != 1 or not rest[0].startswith(verdict):
        bad("after the table %r, expected the verdict %r" % (rest, verdict))
if want == "refused" and err != "-":
    names = "refused: failed " + ", ".join(c["check"] for c in failed)
    if names not in err:
        bad("stderr does not name the failed checks (%r): %r" % (names, err))
PYEOF
verdict() {
	local why
	why=$("${PY[@]}" "$WORK/verdict.py" "$1" "$2" "$3" "$4" "$5" "$6" "$7") || fail "$8: $why
json: $5
text: $6"
}

# gate_refused M:V STAGE MSG: gate (as a reader) exits 3 with --json and
# text, which agree; nothing changes.  Sets G (the JSON).
gate_refused() {
	local before
	SNAP_MODEL=${1%%:*}
	snap "$SNAP_MODEL"
	before=$SNAP
	as "$READER" gate "$1" --to "$2" --json
	expect_rc 3 "$3: gate --json"
	G=$OUT
	as "$READER" gate "$1" --to "$2"
	expect_rc 3 "$3: gate (text)"
	verdict gate "$1" "$2" refused "$G" "$OUT" "$ERR" "$3"
	assert_unchanged "$before" "$3: a refused gate"
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

# promote_refused M:V STAGE MSG: promote (as deployer) exits 3 with --json
# and text; nothing moves.  Sets P.
promote_refused() {
	local before
	SNAP_MODEL=${1%%:*}
	snap "$SNAP_MODEL"
	before=$SNAP
	as "$DEPLOYER" promote "$1" --to "$2" --json
	expect_rc 3 "$3: promote --json"
	P=$OUT
	as "$DEPLOYER" promote "$1" --to "$2"
	expect_rc 3 "$3: promote (text)"
	verdict promote "$1" "$2" refused "$P" "$OUT" "$ERR" "$3"
	assert_unchanged "$before" "$3: a refused promote"
}

# promote_ok M:V STAGE [TOKEN]: promote --json exits 0, moved, and names the
# previous holder as from.  Sets P.
promote_ok() {
	local from
	holder "${1%%:*}" "$2"
	from=$HOLDER
	as "${3:-$DEPLOYER}" promote "$1" --to "$2" --json
	expect_rc 0 "promote $1 --to $2"
	P=$OUT
	verdict promote "$1" "$2" pass "$P" - - "promote $1 --to $2"
	assert_json 'j["from"] == '"$([ "$from" = none ] && echo None || echo "$from")" "$P" "promote $1 --to $2: from is the previous holder"
	holder "${1%%:*}" "$2"
	assert_eq "$HOLDER" "${1##*:}" "$2 holds $1 after the promotion"
}

# push_v MODEL DIR [push args]: push as admin (versions count 1, 2, ...).
push_v() {
	cli_ok push "$@" -q
}
mkf() { # DIR CONTENT
	rm -rf "$1"
	mkdir -p "$1"
	printf '%s\n' "$2" >"$1/weights.bin"
}

# ---------------------------------------------------------------- tokens
step "tokens: writer alice, approvers alice/bob/carol, deployer, reader"
newtok() { # NAME ROLE PRINCIPAL -> T
	cli_ok token create "$1" --role "$2" --principal "$3" --json
	T=$(jq_ 'j["token"]' "$OUT")
}
newtok alice-push writer alice
ALICE_W=$T
newtok alice-approve approver alice
ALICE_A=$T
newtok bob approver bob
BOB=$T
newtok carol approver carol
CAROL=$T
newtok ci-deploy deployer deploy-ci
DEPLOYER=$T
newtok viewer reader viewer
READER=$T

step "default stages"
cli_ok stages ls
assert_eq "$OUT" "staging
production" "stages ls: the default list, one per line"
cli_ok stages ls --json
assert_json 'j == {"stages": ["staging", "production"]}' "$OUT" "stages ls --json"

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
step "soak: refused right after entering staging, passes after 1.2 s"
for i in 1 2; do
	mkf "$WORK/gs" "gs$i"
	push_v gs "$WORK/gs"
done
cli_ok policy set gs --stage production --from staging --soak 1s --json
assert_json 'j["from"] == "staging" and j["soak"] == "1s" and j["soak_ms"] == 1000' "$OUT" "policy set --soak --json"
gate_refused gs:2 production "soak: never entered staging"
assert_json '[(c["check"], c["passed"], c["required"], c["actual"]) for c in j["checks"][1:]] == [("from", False, "holds or held staging", "never held staging"), ("soak", False, ">= 1s in staging", "never entered staging")]' "$G" "soak of a version never in staging"
# the three calls back to back; the checks afterwards
as "$DEPLOYER" promote gs:1 --to staging --json
T0=${EPOCHREALTIME/./}
expect_rc 0 "promote gs:1 to staging"
as "$READER" gate gs:1 --to production --json
GRC=$RC G=$OUT
as "$DEPLOYER" promote gs:1 --to production --json
T1=${EPOCHREALTIME/./}
[ $(((T1 - T0) / 1000)) -lt 900 ] || fail "gate and promote took $(((T1 - T0) / 1000)) ms after entering staging: too slow to test a 1 s soak"
expect_rc 3 "promote right after entering staging"
assert_json 'j["promoted"] is False and [c["check"] for c in j["checks"] if not c["passed"]] == ["soak"]' "$OUT" "promote refused by soak alone"
RC=$GRC OUT=$G
expect_rc 3 "gate right after entering staging"
assert_json '[(c["check"], c["passed"]) for c in j["checks"]] == [("status", True), ("from", True), ("soak", False)]' "$G" "only soak fails right after entering staging"
assert_json 'j["checks"][2]["required"] == ">= 1s in staging" and bool(re.fullmatch(r"\d{1,3}ms since entering staging", j["checks"][2]["actual"]))' "$G" "soak required/actual right after entering"
holder gs production
assert_eq "$HOLDER" none "soak refusal moved nothing"
holder gs staging
assert_eq "$HOLDER" 1 "gs:1 holds staging"
sleep 1.2
gate_passes gs:1 production "soak: 1.2 s after entering staging"
assert_json 'j["checks"][2]["check"] == "soak" and bool(re.fullmatch(r"[1-9]\d*s since entering staging", j["checks"][2]["actual"]))' "$G" "soak actual after the wait"
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

# ---------------------------------------------------------------- races
# run_racers VERSION...: one `mlreg promote race:V --to production
# "${RACE_ARGS[@]}"` process per version, all released at once; their exit
# status, stdout and stderr land in $WORK/race.V.{rc,out,err}.
run_racers() {
	local v pids=()
	rm -f "$WORK/race.go"
	for v in "$@"; do
		(
			while [ ! -e "$WORK/race.go" ]; do sleep 0.005; done
			rc=0
			MLREG_REGISTRY="$URL" MLREG_TOKEN="$DEPLOYER" "$MLREG_BIN" promote "race:$v" --to production \
				"${RACE_ARGS[@]}" >"$WORK/race.$v.out" 2>"$WORK/race.$v.err" || rc=$?
			echo "$rc" >"$WORK/race.$v.rc"
		) &
		pids+=("$!")
		track_bg "$!"
	done
	sleep 0.2
	touch "$WORK/race.go"
	wait "${pids[@]}"
	for v in "$@"; do
		[ -s "$WORK/race.$v.rc" ] || fail "racer $v left no exit status"
		check_sanitizer_clean "$WORK/race.$v.err" "racer $v's stderr"
	done
}
# assert_chain N: production's history of model race has N promotions, each
# entry's from is the previous entry's to, and the audit log has exactly one
# promote entry per move, with the same from/to.
assert_chain() {
	cli_ok history race --stage production --json
	H=$OUT
	assert_json 'len(j["history"]) == '"$1"' and all(h["kind"] == "promote" and h["stage"] == "production" and h["actor"] == "deploy-ci" for h in j["history"])' "$H" "$1 promotions in the history"
	assert_json 'j["history"][0]["from"] is None and all(j["history"][i]["from"] == j["history"][i - 1]["to"] for i in range(1, len(j["history"])))' "$H" "history is one chain: every from is the previous to"
	cli_ok audit --model race --action promote --limit 1000 --json
	assert_json 'len(j["entries"]) == '"$1" "$OUT" "exactly one audit entry per move"
	assert_eq "$(jq_ 'sorted([e["details"].get("from", 0), e["details"]["version"]] for e in j["entries"])' "$OUT")" \
		"$(jq_ 'sorted([h["from"] or 0, h["to"]] for h in j["history"])' "$H")" "the audit entries are the history's moves"
	holder race production
	assert_eq "$HOLDER" "$(jq_ 'j["history"][-1]["to"]' "$H")" "production holds the last move's version"
}

step "8 racing promotions without --expect-current: all succeed, history is a chain"
for i in $(seq 1 16); do
	mkf "$WORK/race" "race $i"
	push_v race "$WORK/race"
done
RACE_ARGS=(--json)
run_racers 1 2 3 4 5 6 7 8
for v in 1 2 3 4 5 6 7 8; do
	[ "$(cat "$WORK/race.$v.rc")" = 0 ] || fail "racer $v: exit $(cat "$WORK/race.$v.rc"): $(cat "$WORK/race.$v.err")"
	assert_json 'j["promoted"] is True and j["version"] == '"$v" "$(cat "$WORK/race.$v.out")" "racer $v's answer"
done
assert_chain 8
assert_json 'sorted(h["to"] for h in j["history"]) == list(range(1, 9))' "$H" "every racer's version entered once"
# what each racer was told it replaced is exactly what the history says
RACER_MOVES=$(for v in 1 2 3 4 5 6 7 8; do cat "$WORK/race.$v.out"; echo; done | "${PY[@]}" -c '
import json, sys
print(json.dumps(sorted([json.loads(l)["from"] or 0, json.loads(l)["version"]] for l in sys.stdin if l.strip())))')
assert_eq "$RACER_MOVES" "$(jq_ 'sorted([h["from"] or 0, h["to"]] for h in j["history"])' "$H")" "each racer's 'from' is its move in the history"

step "8 racing promotions with --expect-current: exactly one wins, the others get 6"
holder race production
CUR=$HOLDER
RACE_ARGS=(--expect-current "$CUR" --comment "cas race")
run_racers 9 10 11 12 13 14 15 16
WIN=""
NLOSE=0
for v in 9 10 11 12 13 14 15 16; do
	case $(cat "$WORK/race.$v.rc") in
	0)
		[ -z "$WIN" ] || fail "two racers won the compare-and-swap: $WIN and $v"
		WIN=$v
		assert_contains "$(cat "$WORK/race.$v.out")" "promoted race:$v to production (was $CUR)" "the winner's text"
		;;
	6) NLOSE=$((NLOSE + 1)) ;;
	*) fail "racer $v: exit $(cat "$WORK/race.$v.rc") (expected 0 or 6): $(cat "$WORK/race.$v.err")" ;;
	esac
done
[ -n "$WIN" ] || fail "no racer won the compare-and-swap"
assert_eq "$NLOSE" 7 "seven racers lost"
for v in 9 10 11 12 13 14 15 16; do
	[ "$v" = "$WIN" ] && continue
	[ ! -s "$WORK/race.$v.out" ] || fail "a loser (racer $v) printed on stdout: $(cat "$WORK/race.$v.out")"
	assert_contains "$(cat "$WORK/race.$v.err")" "cannot promote 'race:$v' to production: it holds version $WIN now, not version $CUR as expected" "loser $v's message"
done
assert_chain 9
assert_json 'j["history"][-1]["from"] == '"$CUR"' and j["history"][-1]["to"] == '"$WIN"' and j["history"][-1]["comment"] == "cas race"' "$H" "the one CAS move"

step "--expect-current none / N"
SNAP_MODEL=race
snap race
BEFORE=$SNAP
as "$DEPLOYER" promote race:1 --to production --expect-current none
expect_rc 6 "--expect-current none on a held stage"
assert_contains "$ERR" "it holds version $WIN now, not none as expected" "the none mismatch message"
[ -z "$OUT" ] || fail "exit 6 printed on stdout: $OUT"
as "$DEPLOYER" promote race:1 --to production --expect-current "$CUR" --json
expect_rc 6 "a stale --expect-current"
assert_unchanged "$BEFORE" "refused compare-and-swaps"
as "$DEPLOYER" promote race:1 --to staging --expect-current none --json
expect_rc 0 "--expect-current none on an empty stage"
assert_json 'j["promoted"] is True and j["from"] is None' "$OUT" "CAS on an empty stage"
as "$DEPLOYER" promote race:2 --to staging --expect-current none
expect_rc 6 "--expect-current none once staging is held"
as "$DEPLOYER" promote race:2 --to staging --expect-current 1 --json
expect_rc 0 "--expect-current with the right holder"
assert_json 'j["from"] == 1 and j["version"] == 2' "$OUT" "CAS with the right holder"
http GET "/api/v1/models/race/stages"
expect_code 200 "GET stages of race"
assert_json '[(s["stage"], s["version"], s["depth"]) for s in j["stages"]] == [("staging", 2, 2), ("production", '"$WIN"', 9)]' "$BODY" "stage pointers and stack depths after the races"

# ---------------------------------------------------------------- rollback
step "rollback: promote 1,2,3 then pop back to 1, then refused"
for i in 1 2 3 4 5; do
	mkf "$WORK/rb" "rb $i"
	push_v rb "$WORK/rb"
done
depth() { # STAGE -> DEPTH of model rb
	http GET "/api/v1/models/rb/stages"
	expect_code 200 "GET stages of rb"
	DEPTH=$(jq_ '[s["depth"] for s in j["stages"] if s["stage"] == "'"$1"'"][0]' "$BODY")
}
as "$DEPLOYER" promote rb:1 --to production --comment "first release"
expect_rc 0 "promote rb:1 with a comment"
promote_ok rb:2 production
promote_ok rb:3 production
depth production
assert_eq "$DEPTH" 3 "three versions on the stack"
as "$DEPLOYER" rollback rb --stage production --json
expect_rc 0 "rollback 3 -> 2"
assert_json 'j == {"model": "rb", "stage": "production", "from": 3, "to": 2}' "$OUT" "rollback --json"
holder rb production
assert_eq "$HOLDER" 2 "after the first rollback"
as "$DEPLOYER" rollback rb --stage production --comment "p99 regression"
expect_rc 0 "rollback 2 -> 1"
assert_eq "$OUT" "rolled back rb production: 2 -> 1" "rollback text"
holder rb production
assert_eq "$HOLDER" 1 "after the second rollback"
depth production
assert_eq "$DEPTH" 1 "one version left on the stack"
SNAP_MODEL=rb
snap rb
BEFORE=$SNAP
as "$DEPLOYER" rollback rb --stage production
expect_rc 3 "rollback with one version on the stack"
assert_contains "$ERR" "nothing to roll back" "the refusal says why"
as "$DEPLOYER" rollback rb --stage staging --json
expect_rc 3 "rollback of a stage the model never held"
assert_unchanged "$BEFORE" "refused rollbacks"

step "promote after a rollback: 1,2,3, rollback, 4, rollback lands on 2"
promote_ok rb:2 production
promote_ok rb:3 production
as "$DEPLOYER" rollback rb --stage production
expect_rc 0 "rollback 3 -> 2"
promote_ok rb:4 production
assert_json 'j["from"] == 2' "$P" "rb:4 replaced 2"
as "$DEPLOYER" rollback rb --stage production --json
expect_rc 0 "rollback after promoting 4"
assert_json 'j["from"] == 4 and j["to"] == 2' "$OUT" "the rolled-back 3 is not on the stack any more"
depth production
assert_eq "$DEPTH" 2 "stack 1,2"

step "rollback --to pops down; --to off the stack; --force"
promote_ok rb:3 production
promote_ok rb:4 production
as "$DEPLOYER" rollback rb --stage production --to 1 --json
expect_rc 0 "rollback --to 1"
assert_json 'j == {"model": "rb", "stage": "production", "from": 4, "to": 1}' "$OUT" "rollback --to --json"
depth production
assert_eq "$DEPTH" 1 "--to 1 popped 4, 3 and 2"
as "$DEPLOYER" rollback rb --stage production
expect_rc 3 "nothing below 1 after --to 1"
promote_ok rb:2 production
promote_ok rb:3 production
snap rb
BEFORE=$SNAP
as "$DEPLOYER" rollback rb --stage production --to 5
expect_rc 3 "--to a version never on the stack"
assert_contains "$ERR" "--force" "the refusal names the way out"
as "$DEPLOYER" rollback rb --stage production --to 3
expect_rc 3 "--to the current holder"
as "$DEPLOYER" rollback rb --stage production --to 5 --force
expect_rc 4 "--force by a deployer"
as "$DEPLOYER" rollback rb --stage production --force
expect_rc 2 "--force without --to"
as "$READER" rollback rb --stage production
expect_rc 4 "a reader cannot roll back"
as "$BOB" rollback rb --stage production
expect_rc 4 "an approver cannot roll back"
assert_unchanged "$BEFORE" "refused rollbacks"
cli_ok rollback rb --stage production --to 5 --force --comment hotfix --json
assert_json 'j == {"model": "rb", "stage": "production", "from": 3, "to": 5}' "$OUT" "rollback --force by admin"
holder rb production
assert_eq "$HOLDER" 5 "--force put 5 on top"
depth production
assert_eq "$DEPTH" 4 "--force pushed onto the stack (1,2,3,5)"
as "$DEPLOYER" rollback rb --stage production --json
expect_rc 0 "rollback after --force"
assert_json 'j["from"] == 5 and j["to"] == 3' "$OUT" "a forced version pops like any other"
as "$DEPLOYER" rollback rb --stage production --to 1
expect_rc 0 "rollback --to 1 again"

step "history: kinds, actors, comments, in order"
cli_ok history rb --stage production --json
assert_json 'j["model"] == "rb" and all(set(h) == {"id", "target", "stage", "kind", "from", "to", "actor", "time", "comment"} and h["target"] == "stage" for h in j["history"])' "$OUT" "history --json entry shape"
assert_json '[(h["kind"], h["from"], h["to"], h["actor"], h["comment"]) for h in j["history"]] == [
 ("promote", None, 1, "deploy-ci", "first release"), ("promote", 1, 2, "deploy-ci", ""), ("promote", 2, 3, "deploy-ci", ""),
 ("rollback", 3, 2, "deploy-ci", ""), ("rollback", 2, 1, "deploy-ci", "p99 regression"),
 ("promote", 1, 2, "deploy-ci", ""), ("promote", 2, 3, "deploy-ci", ""), ("rollback", 3, 2, "deploy-ci", ""),
 ("promote", 2, 4, "deploy-ci", ""), ("rollback", 4, 2, "deploy-ci", ""),
 ("promote", 2, 3, "deploy-ci", ""), ("promote", 3, 4, "deploy-ci", ""), ("rollback", 4, 1, "deploy-ci", ""),
 ("promote", 1, 2, "deploy-ci", ""), ("promote", 2, 3, "deploy-ci", ""), ("rollback", 3, 5, "admin", "hotfix"),
 ("rollback", 5, 3, "deploy-ci", ""), ("rollback", 3, 1, "deploy-ci", "")]' "$OUT" "the whole production history of rb"
assert_json '[h["id"] for h in j["history"]] == sorted(h["id"] for h in j["history"]) and [h["time"] for h in j["history"]] == sorted(h["time"] for h in j["history"])' "$OUT" "history oldest first"
cli_ok history rb
assert_match "$OUT" 'TIME +TARGET +KIND +FROM -> TO +ACTOR +COMMENT' "history text header"
assert_match "$OUT" 'production +promote +none -> 1 +deploy-ci +first release' "history text: the first promotion"
assert_match "$OUT" 'production +rollback +2 -> 1 +deploy-ci +p99 regression' "history text: the commented rollback"
assert_match "$OUT" 'production +rollback +3 -> 5 +admin +hotfix' "history text: the forced rollback"
[ "$(grep -c ' production ' <<<"$OUT")" = 18 ] || fail "history text has $(grep -c ' production ' <<<"$OUT") production rows, expected 18"
cli_ok audit --model rb --action rollback --json
assert_json 'len(j["entries"]) == 8 and [e["details"].get("forced", False) for e in j["entries"]].count(True) == 1 and all(e["subject"] == "rb:production" for e in j["entries"])' "$OUT" "one audit entry per rollback, the forced one marked"

# ---------------------------------------------------------------- stages
step "stages set / ls; removing a stage in use is refused"
mkdir -p "$WORK/al1" "$WORK/al2/sub"
printf 'one\n' >"$WORK/al1/a.txt"
push_v al "$WORK/al1" # 1
printf 'two\n' >"$WORK/al2/a.txt"
rand_file "$WORK/al2/sub/b.bin" 70000
push_v al "$WORK/al2" # 2
mkf "$WORK/al3" three
push_v al "$WORK/al3" # 3
mkf "$WORK/al4" four
push_v al "$WORK/al4" # 4
cli_ok stages set dev,staging,production
assert_eq "$OUT" "dev
staging
production" "stages set prints the new list"
cli_ok stages ls --json
assert_json 'j == {"stages": ["dev", "staging", "production"]}' "$OUT" "stages ls after set"
http GET /api/v1/models/al/stages
assert_json '[s["stage"] for s in j["stages"]] == ["dev", "staging", "production"] and all(s["version"] is None and s["depth"] == 0 for s in j["stages"])' "$BODY" "every configured stage, in order, empty"
promote_ok al:1 dev
SNAP_MODEL=al
snap al
BEFORE=$SNAP
cli stages set staging,production
expect_rc 6 "dropping dev while al:1 holds it"
assert_contains "$ERR" "'dev'" "the refusal names the stage"
cli stages set dev,staging
expect_rc 6 "dropping production while models hold it"
as "$DEPLOYER" stages set dev,staging,production,extra
expect_rc 4 "a deployer cannot set stages"
assert_unchanged "$BEFORE" "refused stages set"
cli stages set dev,qa,staging,production --json
expect_rc 0 "adding qa"
assert_json 'j == {"stages": ["dev", "qa", "staging", "production"]}' "$OUT" "stages set --json"
cli_ok policy set al --stage production --from qa
snap al
BEFORE=$SNAP
cli stages set dev,staging,production
expect_rc 6 "dropping qa while a policy names it"
assert_contains "$ERR" "'qa'" "the refusal names the stage"
assert_unchanged "$BEFORE" "refused stages set (policy)"
cli_ok policy rm al --stage production
cli_ok stages set dev,staging,production
cli_ok stages ls --json
assert_json 'j == {"stages": ["dev", "staging", "production"]}' "$OUT" "qa dropped once nothing names it"

# ---------------------------------------------------------------- aliases
step "aliases: set, show, pull, move, rm"
as "$DEPLOYER" alias set al@champion 2
expect_rc 0 "alias set"
assert_eq "$OUT" "alias al@champion: none -> 2" "alias set text"
cli_ok show al@champion --json
assert_json 'j["model"] == "al" and j["version"] == 2 and j["aliases"] == ["champion"]' "$OUT" "show MODEL@ALIAS"
cli_ok show al@champion
assert_match "$OUT" '(^|
)version: +2(
|$)' "show MODEL@ALIAS text names the version"
assert_match "$OUT" '(^|
)aliases: +@champion(
|$)' "show text lists the alias"
cli_ok pull al@champion "$WORK/pulled" --json
assert_json 'j["version"] == 2 and j["ref"] == "al@champion" and j["files"] == 2' "$OUT" "pull MODEL@ALIAS --json"
assert_file_eq "$WORK/pulled/a.txt" "$WORK/al2/a.txt" "pulled a.txt is version 2's"
assert_file_eq "$WORK/pulled/sub/b.bin" "$WORK/al2/sub/b.bin" "pulled sub/b.bin is version 2's"
[ "$(find "$WORK/pulled" -type f | wc -l)" = 2 ] || fail "pull MODEL@ALIAS wrote other files"
cli_ok pull al@champion "$WORK/pulled2"
assert_contains "$OUT" "pulled al:2 (al@champion) to $WORK/pulled2" "pull MODEL@ALIAS text names the version"
as "$DEPLOYER" alias set al@champion 1 --comment "back to v1" --json
expect_rc 0 "alias move"
assert_json 'j == {"model": "al", "alias": "champion", "version": 1, "from": 2}' "$OUT" "alias set --json"
cli_ok show al@champion --json
assert_json 'j["version"] == 1' "$OUT" "the alias moved"
cli_ok show al:2 --json
assert_json 'j["aliases"] == []' "$OUT" "version 2 lost the alias"
cli_ok history al --alias champion --json
assert_json '[(h["target"], h["alias"], h["kind"], h["from"], h["to"], h["actor"], h["comment"]) for h in j["history"]] == [("alias", "champion", "set", None, 2, "deploy-ci", ""), ("alias", "champion", "set", 2, 1, "deploy-ci", "back to v1")]' "$OUT" "history --alias"
cli_ok history al --alias @champion --json
assert_json 'len(j["history"]) == 2' "$OUT" "history --alias @champion"
cli_ok history al
assert_match "$OUT" '@champion +set +2 -> 1 +deploy-ci +back to v1' "history text shows the alias move"
as "$DEPLOYER" alias rm al@champion --json
expect_rc 0 "alias rm"
assert_json 'j == {"model": "al", "alias": "champion", "from": 1}' "$OUT" "alias rm --json"
cli show al@champion
expect_rc 5 "show of a removed alias"
cli pull al@champion "$WORK/pulled3"
expect_rc 5 "pull of a removed alias"
[ ! -e "$WORK/pulled3" ] || fail "a failed pull created DEST"
as "$DEPLOYER" alias rm al@champion
expect_rc 5 "alias rm of an unset alias"
cli_ok history al --alias champion --json
assert_json '[(h["kind"], h["from"], h["to"]) for h in j["history"]] == [("set", None, 2), ("set", 2, 1), ("remove", 1, None)]' "$OUT" "the removal is in the history"
cli_ok audit --model al --json
assert_json '[e["action"] for e in j["entries"] if e["action"].startswith("alias.")] == ["alias.remove", "alias.set", "alias.set"]' "$OUT" "alias moves are audited"
as "$DEPLOYER" alias set al@champion 99
expect_rc 5 "alias set to a missing version"

step "show MODEL:STAGE --json carries stages and aliases; rm of a held version"
promote_ok al:2 production
as "$DEPLOYER" alias set al@challenger 2
expect_rc 0 "alias set challenger"
cli_ok show al:production --json
assert_json 'j["version"] == 2 and j["stages"] == ["production"] and j["aliases"] == ["challenger"]' "$OUT" "show MODEL:STAGE --json"
cli_ok show al:1 --json
assert_json 'j["stages"] == ["dev"] and j["aliases"] == []' "$OUT" "show of the dev holder"
cli_ok show al:3 --json
assert_json 'j["stages"] == [] and j["aliases"] == []' "$OUT" "arrays present even when empty"
cli_ok show al:dev
assert_match "$OUT" '(^|
)stages: +dev(
|$)' "show text lists the stage"
snap al
BEFORE=$SNAP
cli rm al:2
expect_rc 6 "rm of the production holder"
cli rm al:1
expect_rc 6 "rm of the dev holder"
cli_ok show al:2 --json
assert_json 'j["status"] == "ready"' "$OUT" "the held version is still ready"
assert_unchanged "$BEFORE" "refused rm"
cli_ok rm al:4
cli_ok show al:4 --json
assert_json 'j["status"] == "deleted"' "$OUT" "a version nothing holds can be removed"
as "$DEPLOYER" promote al:4 --to staging
expect_rc 5 "promote of a deleted version"

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

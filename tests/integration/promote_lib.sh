# tests/integration/promote_lib.sh - helpers shared by t_promote_gate.sh and
# t_promote_moves.sh (the release workflow: gate, approve, promote, rollback).
#
# Not a test itself (tests/CMakeLists.txt runs every t_*.sh).  Source it right
# after lib.sh, from the test script itself (lib.sh names the test after the
# file that sources it), and before start_server:
#   source "$(dirname "$0")/lib.sh"
#   source "$(dirname "$0")/promote_lib.sh"
#   start_server "$WORK/data"
#   promote_tokens
# It provides:
#   promote_tokens     creates the tokens ALICE_W (writer alice), ALICE_A,
#                      BOB, CAROL (approvers alice/bob/carol), DEPLOYER
#                      (principal deploy-ci) and READER
#   as TOKEN ARGS...   cli with another token
#   holder MODEL STAGE sets HOLDER (a version or "none")
#   snap MODEL / assert_unchanged BEFORE MSG   (SNAP, SNAP_MODEL)
#   verdict ...        checks a gate/promote answer (--json and text)
#   promote_ok M:V STAGE [TOKEN], push_v MODEL DIR [args], mkf DIR CONTENT
# Exit codes: 0 ok, 2 usage, 3 refused, 4 forbidden, 5 not found, 6 conflict.

[ -n "${WORK:-}" ] && declare -F cli >/dev/null ||
	{ echo "promote_lib.sh: source lib.sh first" >&2; exit 1; }

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

# promote_tokens: the tokens every promote test uses (as admin).
newtok() { # NAME ROLE PRINCIPAL -> T
	cli_ok token create "$1" --role "$2" --principal "$3" --json
	T=$(jq_ 'j["token"]' "$OUT")
}
promote_tokens() {
	step "tokens: writer alice, approvers alice/bob/carol, deployer, reader"
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
}

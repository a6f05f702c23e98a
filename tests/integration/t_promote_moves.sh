#!/usr/bin/env bash
# t_promote_moves: how stages and aliases move, through the real CLI and
# server.
#   - racing promotions: without --expect-current every racer moves the stage
#     and the history is one unbroken chain; with it exactly one wins (0) and
#     the others get 6; --expect-current none / N;
#   - the rollback stack (pop, pop to --to, refusal, --force for admin only),
#     history with actor and comment;
#   - stages set/ls (the default list, refusal to drop a stage in use),
#     aliases (set, show, pull, move, rm), `show` of stage and alias refs, rm
#     of a version a stage holds;
#   - the audit chain verifies and the server stops cleanly at the end.
# The gate checks, separation of duties and hostile input are in
# t_promote_gate.sh; the shared helpers in promote_lib.sh.
# Exit codes: 0 ok, 2 usage, 3 refused, 4 forbidden, 5 not found, 6 conflict.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/promote_lib.sh"

start_server "$WORK/data"
promote_tokens

step "default stages"
cli_ok stages ls
assert_eq "$OUT" "staging
production" "stages ls: the default list, one per line"
cli_ok stages ls --json
assert_json 'j == {"stages": ["staging", "production"]}' "$OUT" "stages ls --json"

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

step "the audit chain verifies; the server stops cleanly"
cli_ok audit verify
stop_server

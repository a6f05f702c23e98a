#!/usr/bin/env bash
# t_audit_tamper: the audit chain against someone with write access to the
# database (issue 3).  A realistic chain is made through the real CLI (pushes
# by two principals, metrics, tags, stages, a policy, promotions, a rollback,
# aliases, tokens, deprecate, rm), anchored with `audit export --git`, and
# then tampered with directly in SQLite, each case on a fresh copy of the
# pristine database with the server stopped:
#   edited row (details / actor / time / first / last entry)  verify exit 6 naming it
#   deleted row (middle, first)                         exit 6 naming the gap
#   reordered rows (swapped contents, swapped seq)      exit 6
#   truncated tail                                      verify 0 (chain consistent!),
#                                                       --against 6 "truncated", export refuses
#   truncated tail then re-grown by new mutations       --against 6 naming the first
#                                                       differing entry, export refuses
#   fully recomputed chain after an edit                verify 0, --against 6 naming the
#                                                       edited entry, export refuses (no commit)
# plus the export itself: repository created with one commit, "nothing to
# export" makes no commit, a later run appends exactly the new entries (also
# across the 1000-entry chunk boundary), and the exported lines re-hash on
# their own.  The rehashing is done by tests/integration/audit_rechain.py, an
# independent implementation of schema/canonical.md that is first shown to
# reproduce every stored hash of the untouched chain byte for byte.
source "$(dirname "$0")/lib.sh"

for _tool in sqlite3 git; do
	command -v "$_tool" >/dev/null 2>&1 || fail "required tool '$_tool' is not installed"
done
HERE=$(cd "$(dirname "$0")" && pwd)
RECHAIN=("${PY[@]}" "$HERE/audit_rechain.py")
D=$WORK/data
DB=$D/registry.db
EXPORT=$WORK/export
PRISTINE=$WORK/pristine.db

# git must not read the user's or system configuration (HOME is per test)
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null

start_server "$D"

# ---------------------------------------------------------------- chain
step "a realistic chain through the CLI"
mkdir -p "$WORK/m"
push_v() { # MODEL CONTENT [push flags...]
	local model=$1 content=$2
	shift 2
	printf '%s\n' "$content" >"$WORK/m/model.txt"
	cli_ok push "$model" "$WORK/m" --json "$@"
}
push_v fraud "fraud one" --metric accuracy=0.91 --param lr=0.1 --tag team=risk
push_v fraud "fraud two" --metric accuracy=0.95
push_v fraud "fraud three" --metric accuracy=0.97
push_v churn "churn one" --metric auc=0.80
cli_ok token create ci --role writer --json
CI_TOKEN=$(jq_ 'j["token"]' "$OUT")
TOKEN=$CI_TOKEN
push_v fraud "fraud four, by ci" --metric accuracy=0.93
TOKEN=$ADMIN
cli_ok metrics log fraud:1 auc=0.88 loss=0.3@10
cli_ok tag fraud:2 stage=candidate owner=Zoë
cli_ok tag fraud:2 --rm owner
cli_ok tag fraud area=payments
cli_ok stages set dev,staging,production
cli_ok policy set fraud --stage production --from staging
cli_ok promote fraud:1 --to staging
cli_ok promote fraud:2 --to staging --comment "better recall"
cli_ok promote fraud:2 --to production --expect-current none
cli_ok promote fraud:3 --to staging
cli_ok promote fraud:3 --to production --expect-current 2
cli_ok rollback fraud --stage production --comment "p99 regression"
cli_ok alias set fraud@champion 2
cli_ok alias set fraud@champion 3 --comment "shadow winner"
cli_ok alias rm fraud@champion
cli_ok token create ops --role deployer --json
cli_ok token revoke ci
cli_ok deprecate fraud:1
cli_ok rm churn:1

cli_ok audit verify --json
assert_json 'j["ok"] is True' "$OUT" "fresh chain verifies"
N=$(jq_ 'j["entries"]' "$OUT")
[ "$N" -ge 20 ] || fail "expected a chain of at least 20 entries, got $N"
assert_json 'j["head"]["seq"] == '"$N" "$OUT" "verify head is the last entry"
HEAD_HASH=$(jq_ 'j["head"]["hash"]' "$OUT")
cli_ok audit --limit 1000 --json
ALL=$OUT
assert_json 'sorted(e["seq"] for e in j["entries"]) == list(range(1, '"$N"' + 1))' "$ALL" "audit lists seq 1..N"
assert_json 'all(e["actor"] == "ci" for e in j["entries"] if e["action"] == "version.create" and e["subject"] == "fraud:4")' "$ALL" "ci is the actor of fraud:4"
for a in version.create version.metrics version.tag model.tag stages.set policy.set promote rollback alias.set alias.remove token.create token.revoke version.deprecate version.delete; do
	assert_json 'any(e["action"] == "'"$a"'" for e in j["entries"])' "$ALL" "chain has a $a entry"
done
log "chain of $N entries, head $HEAD_HASH"
# DUMP_CHAIN=1 prints the chain (for working out tamper targets)
[ -z "${DUMP_CHAIN:-}" ] || sqlite3 "$DB" "SELECT seq, actor, action, subject, model, details FROM audit_log ORDER BY seq" >&2
# Entries picked for tampering (all strictly inside the chain).
seq_of() { jq_ 'min(e["seq"] for e in j["entries"] if '"$1"')' "$ALL"; }
SEQ_PROMOTE=$(seq_of 'e["action"] == "promote" and e["subject"].endswith("production")')
SEQ_CI_PUSH=$(seq_of 'e["actor"] == "ci"')
SEQ_ROLLBACK=$(seq_of 'e["action"] == "rollback"')
SEQ_TOKEN=$(seq_of 'e["action"] == "token.create" and e["subject"] == "ops"')
for s in "$SEQ_PROMOTE" "$SEQ_CI_PUSH" "$SEQ_ROLLBACK" "$SEQ_TOKEN"; do
	{ [ "$s" -gt 1 ] && [ "$s" -lt "$N" ]; } || fail "tamper target seq $s is not in the middle of 1..$N"
done

# ---------------------------------------------------------------- export
step "first export creates the repository with one commit"
[ ! -e "$EXPORT" ] || fail "export dir exists already"
cli_ok audit export --git "$EXPORT" --json
assert_json 'j["exported"] == '"$N"' and j["from"] == 1 and j["to"] == '"$N"' and j["head"] == {"seq": '"$N"', "hash": "'"$HEAD_HASH"'"}' "$OUT" "first export --json"
git -C "$EXPORT" rev-parse --verify -q HEAD >/dev/null || fail "export has no commit"
[ "$(git -C "$EXPORT" rev-parse --is-bare-repository)" = false ] || fail "a new export should be a non-bare repository"
commits() { git -C "$EXPORT" rev-list --count HEAD; }
assert_eq "$(commits)" 1 "commits after the first export"
assert_eq "$(git -C "$EXPORT" log -1 --format='%an|%cn|%s')" "mlreg audit export|mlreg audit export|audit: entries 1..$N, head $HEAD_HASH" "commit author, committer and message"
assert_eq "$(git -C "$EXPORT" ls-tree -r --name-only HEAD | tr '\n' ' ')" "entries/00000000.jsonl head.json " "files in the first commit"
assert_eq "$(git -C "$EXPORT" status --porcelain)" "" "working tree matches HEAD after the export"
assert_json 'j == {"seq": '"$N"', "hash": "'"$HEAD_HASH"'"}' "$(git -C "$EXPORT" show HEAD:head.json)" "head.json"
assert_file_eq "$EXPORT/head.json" <(git -C "$EXPORT" show HEAD:head.json) "working-tree head.json equals HEAD's"

# check_export_lines N: entries/00000000.jsonl in HEAD holds exactly the
# registry's entries 1..N, oldest first, one line each (as the registry
# sent them: GET /api/v1/audit?after_seq=0).
check_export_lines() {
	local n=$1 reg
	http GET "/api/v1/audit?after_seq=0&limit=10000"
	expect_code 200 "GET audit after_seq=0"
	reg=$BODY_FILE
	git -C "$EXPORT" show HEAD:entries/00000000.jsonl >"$WORK/chunk0"
	"${PY[@]}" - "$WORK/chunk0" "$reg" "$n" <<'EOF' || fail "exported chunk 0 does not hold the registry's entries"
import json, sys
data = open(sys.argv[1], "rb").read().decode("utf-8")
reg = [e for e in json.load(open(sys.argv[2], encoding="utf-8"))["entries"] if e["seq"] <= int(sys.argv[3])]
assert data.endswith("\n"), "chunk does not end with a newline"
lines = data[:-1].split("\n")
assert len(lines) == int(sys.argv[3]) == len(reg), "%d lines, %d registry entries, want %s" % (len(lines), len(reg), sys.argv[3])
for i, (line, e) in enumerate(zip(lines, reg)):
    got = json.loads(line)
    assert got["seq"] == i + 1, "line %d holds seq %s" % (i + 1, got["seq"])
    assert got == e, "line %d differs from the registry entry:\n%s\n%s" % (i + 1, got, e)
    assert "\n" not in line
EOF
}
check_export_lines "$N"
# The export alone is enough to recompute the chain (it carries ts).
"${PY[@]}" - "$WORK/chunk0" "$HERE/audit_rechain.py" <<'EOF' || fail "exported entries do not re-hash"
import json, sys, importlib.util
spec = importlib.util.spec_from_file_location("rc", sys.argv[2]); rc = importlib.util.module_from_spec(spec); spec.loader.exec_module(rc)
prev = rc.ZERO
for line in open(sys.argv[1], encoding="utf-8"):
    e = json.loads(line)
    assert e["prev_hash"] == prev, "seq %d does not link" % e["seq"]
    h = rc.entry_hash(prev, e["seq"], e["ts"], e["actor"], e["action"], e["subject"], e["model"], rc.canonical(e["details"]))
    assert h == e["hash"], "seq %d: recomputed %s, exported %s" % (e["seq"], h, e["hash"])
    prev = h
EOF

step "a second export with nothing new makes no commit"
C1=$(git -C "$EXPORT" rev-parse HEAD)
cli_ok audit export --git "$EXPORT"
assert_eq "$OUT" "nothing to export (head $N)" "nothing-to-export text"
cli_ok audit export --git "$EXPORT" --json
assert_json 'j["exported"] == 0 and j["from"] is None and j["to"] is None and j["head"] == {"seq": '"$N"', "hash": "'"$HEAD_HASH"'"}' "$OUT" "nothing-to-export --json"
assert_eq "$(git -C "$EXPORT" rev-parse HEAD)" "$C1" "HEAD unchanged by an empty export"
assert_eq "$(commits)" 1 "still one commit"

step "untouched chain: verify and verify --against pass"
cli_ok audit verify
assert_eq "$OUT" "audit chain ok: $N entries" "verify text"
cli_ok audit verify --against "$EXPORT"
assert_eq "$OUT" "audit chain verified: $N entries, matches export up to seq $N" "verify --against text"
cli_ok audit verify --against "$EXPORT" --json
assert_json 'j["ok"] is True and j["entries"] == '"$N"' and j["export_head"] == '"$N"' and "first_bad" not in j' "$OUT" "verify --against --json"

step "more changes: the next export appends exactly the new entries"
cp "$WORK/chunk0" "$WORK/chunk0.before"
cli_ok tag fraud:3 reviewed=yes
cli_ok metrics log fraud:3 auc=0.91
cli_ok alias set fraud@champion 3
cli_ok audit verify --json
N2=$(jq_ 'j["entries"]' "$OUT")
HEAD2=$(jq_ 'j["head"]["hash"]' "$OUT")
assert_eq "$N2" $((N + 3)) "three more entries"
cli_ok audit export --git "$EXPORT"
assert_eq "$OUT" "exported 3 entries ($((N + 1))..$N2), head $N2 $HEAD2" "second export text"
assert_eq "$(commits)" 2 "two commits"
assert_eq "$(git -C "$EXPORT" log --oneline | wc -l | tr -d ' ')" 2 "git log --oneline count"
assert_eq "$(git -C "$EXPORT" rev-parse HEAD~1)" "$C1" "the new commit's parent is the first"
assert_eq "$(git -C "$EXPORT" log -1 --format=%s)" "audit: entries $((N + 1))..$N2, head $HEAD2" "second commit message"
assert_eq "$(git -C "$EXPORT" diff --name-only HEAD~1 HEAD | tr '\n' ' ')" "entries/00000000.jsonl head.json " "the second commit changes only the chunk and head.json"
assert_eq "$(git -C "$EXPORT" diff --numstat HEAD~1 HEAD -- entries/ | cut -f1,2)" "3	0" "chunk: 3 lines added, none removed"
check_export_lines "$N2"
cmp -s <(head -n "$N" "$WORK/chunk0") "$WORK/chunk0.before" || fail "the first $N exported lines changed"
assert_json 'j == {"seq": '"$N2"', "hash": "'"$HEAD2"'"}' "$(git -C "$EXPORT" show HEAD:head.json)" "head.json after the second export"
assert_file_eq "$EXPORT/head.json" <(git -C "$EXPORT" show HEAD:head.json) "working tree follows"
assert_eq "$(git -C "$EXPORT" status --porcelain)" "" "clean working tree after the second export"
cli_ok audit verify --against "$EXPORT"
assert_eq "$OUT" "audit chain verified: $N2 entries, matches export up to seq $N2" "verify --against after the second export"
N=$N2
HEAD_HASH=$HEAD2

# ---------------------------------------------------------------- pristine copy
step "pristine database, and the independent recomputation reproduces it"
stop_server
sqlite3 "$DB" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null || fail "checkpoint failed"
[ ! -s "$DB-wal" ] || fail "WAL not empty after the checkpoint"
cp "$DB" "$PRISTINE"
R=$("${RECHAIN[@]}" check "$PRISTINE") || fail "audit_rechain.py does not reproduce the stored chain: $R"
assert_eq "$R" "$N $N $HEAD_HASH" "recomputation of the untouched chain (count, head seq, head hash)"
# Rechaining an untouched chain from entry 1 must change nothing at all.
cp "$PRISTINE" "$WORK/rechained.db"
R=$("${RECHAIN[@]}" rechain "$WORK/rechained.db" 1) || fail "rechain failed: $R"
assert_eq "$R" "$N $N $HEAD_HASH" "rechain of the untouched chain"
assert_eq "$(sqlite3 "$WORK/rechained.db" 'SELECT group_concat(prev_hash || hash, ",") FROM (SELECT * FROM audit_log ORDER BY seq)')" \
	"$(sqlite3 "$PRISTINE" 'SELECT group_concat(prev_hash || hash, ",") FROM (SELECT * FROM audit_log ORDER BY seq)')" "rechain without an edit leaves every hash as it was"

EXPORT_COMMIT=$(git -C "$EXPORT" rev-parse HEAD)
snapshot_export() { # a fingerprint of the export: HEAD, commits, files, status
	printf '%s %s %s %s\n%s' "$(git -C "$EXPORT" rev-parse HEAD)" "$(commits)" \
		"$(sha256sum "$EXPORT/head.json" | cut -d' ' -f1)" "$(sha256sum "$EXPORT/entries/00000000.jsonl" | cut -d' ' -f1)" \
		"$(git -C "$EXPORT" status --porcelain; ls -A "$EXPORT" "$EXPORT/entries")"
}
EXPORT_SNAP=$(snapshot_export)

# tamper NAME SQL: restore the pristine database, apply SQL with sqlite3, and
# start the server on it.
tamper() {
	local name=$1 sql=$2
	step "tamper: $name"
	[ -z "$PID" ] || stop_server
	rm -f "$DB-wal" "$DB-shm"
	cp "$PRISTINE" "$DB"
	sqlite3 "$DB" "$sql" >/dev/null || fail "tampering SQL failed: $sql"
	start_server "$D"
}
sql1() { sqlite3 "$DB" "$1"; }

# expect_broken SEQ MESSAGE_PART: plain verify (text and --json) exits 6
# naming SEQ; verify --against exits 6 as well (the chain check comes first).
expect_broken() {
	local seq=$1 msg=$2
	cli audit verify
	expect_rc 6 "audit verify"
	assert_eq "$OUT" "" "no success line on stdout"
	assert_contains "$ERR" "audit chain broken at entry $seq: $msg" "verify names entry $seq"
	cli audit verify --json
	expect_rc 6 "audit verify --json"
	assert_json 'j["ok"] is False and j["first_bad"] == '"$seq"' and "'"$msg"'" in j["message"]' "$OUT" "verify --json first_bad"
	cli audit verify --against "$EXPORT"
	expect_rc 6 "audit verify --against on a broken chain"
	assert_contains "$ERR" "audit chain broken at entry $seq" "verify --against names entry $seq too"
}

# expect_export_refused MESSAGE_PART: audit export exits 6, writes nothing.
expect_export_refused() {
	cli audit export --git "$EXPORT"
	expect_rc 6 "audit export onto a diverged export"
	assert_contains "$ERR" "$1" "export refusal message"
	assert_eq "$OUT" "" "export prints no success line"
	assert_eq "$(snapshot_export)" "$EXPORT_SNAP" "a refused export changes nothing in the repository"
}

# rows in the audit log (the server appends nothing at start-up: the counts
# asserted below also show it reads exactly the tampered rows)
audit_count() { sqlite3 "$DB" 'SELECT count(*) FROM audit_log'; }

# ---------------------------------------------------------------- edited
tamper "edited details of a middle entry (promote to production)" \
	"UPDATE audit_log SET details = replace(details, '\"version\":2', '\"version\":4') WHERE seq = $SEQ_PROMOTE"
assert_ne "$(sql1 "SELECT details FROM audit_log WHERE seq = $SEQ_PROMOTE")" \
	"$(sqlite3 "$PRISTINE" "SELECT details FROM audit_log WHERE seq = $SEQ_PROMOTE")" "the UPDATE changed the details"
expect_broken "$SEQ_PROMOTE" "stored hash does not match the entry's content"

tamper "edited actor of a middle entry (ci's push)" \
	"UPDATE audit_log SET actor = 'admin' WHERE seq = $SEQ_CI_PUSH"
expect_broken "$SEQ_CI_PUSH" "stored hash does not match the entry's content"

tamper "edited time of a middle entry" \
	"UPDATE audit_log SET ts = ts - 86400000 WHERE seq = $SEQ_ROLLBACK"
expect_broken "$SEQ_ROLLBACK" "stored hash does not match the entry's content"

tamper "edited first entry" "UPDATE audit_log SET subject = subject || 'x' WHERE seq = 1"
expect_broken 1 "stored hash does not match the entry's content"

tamper "edited last entry" "UPDATE audit_log SET details = '{}' WHERE seq = $N"
expect_broken "$N" "stored hash does not match the entry's content"

tamper "edited stored hash of a middle entry" \
	"UPDATE audit_log SET hash = '$(printf '%064d' 0)' WHERE seq = $SEQ_TOKEN"
expect_broken "$SEQ_TOKEN" "stored hash does not match the entry's content"

tamper "details of a middle entry made unreadable" \
	"UPDATE audit_log SET details = '{\"version\":' WHERE seq = $SEQ_PROMOTE"
expect_broken "$SEQ_PROMOTE" "stored details are not in canonical form"

# Edits the hash alone would not see: bytes a reader of the row gets back
# differently (after a NUL, a fraction of a millisecond, another spelling of
# the same JSON).  verify checks the stored form itself.
tamper "bytes hidden after a NUL inside the actor" \
	"UPDATE audit_log SET actor = CAST(CAST(actor AS BLOB) || X'006d616c6c6f7279' AS TEXT) WHERE seq = $SEQ_PROMOTE"
expect_broken "$SEQ_PROMOTE" "stored row is malformed"

tamper "a string in details extended after an escaped NUL" \
	"UPDATE audit_log SET details = replace(details, 'deployer\"', 'deployer\\u0000hidden\"') WHERE seq = $SEQ_TOKEN"
assert_contains "$(sql1 "SELECT details FROM audit_log WHERE seq = $SEQ_TOKEN")" 'hidden' "the UPDATE changed the details"
expect_broken "$SEQ_TOKEN" "stored details are not in canonical form"

tamper "a time made fractional" "UPDATE audit_log SET ts = ts + 0.75 WHERE seq = $SEQ_ROLLBACK"
expect_broken "$SEQ_ROLLBACK" "stored row is malformed"

tamper "details re-spelled with spaces (same JSON, other bytes)" \
	"UPDATE audit_log SET details = replace(details, ':', ': ') WHERE seq = $SEQ_PROMOTE"
expect_broken "$SEQ_PROMOTE" "stored details are not in canonical form"

# ---------------------------------------------------------------- deleted
K=$SEQ_ROLLBACK
tamper "deleted middle entry $K" "DELETE FROM audit_log WHERE seq = $K"
assert_eq "$(audit_count)" $((N - 1)) "one row fewer"
expect_broken $((K + 1)) "expected entry $K, found $((K + 1)) (entries missing)"

tamper "deleted first entry" "DELETE FROM audit_log WHERE seq = 1"
expect_broken 2 "expected entry 1, found 2 (entries missing)"

tamper "deleted middle entry and renumbered the rest" \
	"DELETE FROM audit_log WHERE seq = $K; UPDATE audit_log SET seq = -(seq - 1) WHERE seq > $K; UPDATE audit_log SET seq = -seq WHERE seq < 0"
assert_eq "$(sql1 'SELECT min(seq) || " " || max(seq) || " " || count(*) FROM audit_log')" "1 $((N - 1)) $((N - 1))" "renumbered gap-free"
expect_broken "$K" "prev_hash does not match the hash of entry $((K - 1))"

# ---------------------------------------------------------------- reordered
K=$SEQ_PROMOTE
tamper "reordered: contents of entries $K and $((K + 1)) swapped, seq kept" "
UPDATE audit_log SET seq = -1 WHERE seq = $K;
UPDATE audit_log SET seq = $K WHERE seq = $((K + 1));
UPDATE audit_log SET seq = $((K + 1)) WHERE seq = -1;
ATTACH '$PRISTINE' AS p;
UPDATE main.audit_log
   SET prev_hash = (SELECT q.prev_hash FROM p.audit_log AS q WHERE q.seq = main.audit_log.seq),
       hash      = (SELECT q.hash      FROM p.audit_log AS q WHERE q.seq = main.audit_log.seq)
 WHERE seq IN ($K, $((K + 1)));"
assert_eq "$(sql1 "SELECT action || '|' || subject FROM audit_log WHERE seq = $K")" \
	"$(sqlite3 "$PRISTINE" "SELECT action || '|' || subject FROM audit_log WHERE seq = $((K + 1))")" "contents moved up"
assert_eq "$(sql1 "SELECT hash FROM audit_log WHERE seq = $K")" \
	"$(sqlite3 "$PRISTINE" "SELECT hash FROM audit_log WHERE seq = $K")" "hash stayed in place"
expect_broken "$K" "stored hash does not match the entry's content"

tamper "reordered: seq of entries $K and $((K + 1)) swapped (whole rows move)" "
UPDATE audit_log SET seq = -1 WHERE seq = $K;
UPDATE audit_log SET seq = $K WHERE seq = $((K + 1));
UPDATE audit_log SET seq = $((K + 1)) WHERE seq = -1;"
expect_broken "$K" "prev_hash does not match the hash of entry $((K - 1))"

# ---------------------------------------------------------------- truncated
tamper "truncated tail (last 3 entries deleted)" "DELETE FROM audit_log WHERE seq > $((N - 3))"
assert_eq "$(audit_count)" $((N - 3)) "three rows fewer"
# The rest of the chain is consistent in itself: a plain verify cannot tell.
# That is exactly why the export exists.
cli audit verify
expect_rc 0 "plain verify of a truncated chain"
assert_eq "$OUT" "audit chain ok: $((N - 3)) entries" "plain verify passes on a truncated chain"
cli audit verify --against "$EXPORT"
expect_rc 6 "verify --against on a truncated chain"
assert_contains "$ERR" "audit log truncated: export has entries up to $N, registry only up to $((N - 3))" "truncation message"
assert_not_contains "$OUT" "verified" "no success line"
cli audit verify --against "$EXPORT" --json
expect_rc 6 "verify --against --json on a truncated chain"
assert_json 'j["ok"] is False and j["export_head"] == '"$N"' and j["first_bad"] == '"$((N - 2))"' and "truncated" in j["message"]' "$OUT" "truncation --json"
expect_export_refused "audit log truncated: export has entries up to $N, the registry has no entry $N"

tamper "every entry deleted" "DELETE FROM audit_log"
cli_ok audit verify --json
assert_json 'j["ok"] is True and j["entries"] == 0' "$OUT" "an empty log is consistent in itself"
cli audit verify --against "$EXPORT" --json
expect_rc 6 "verify --against on an emptied log"
assert_json 'j["ok"] is False and j["first_bad"] == 1 and j["message"] == "audit log truncated: export has entries up to '"$N"', registry only up to 0"' "$OUT" "emptied log: truncation named"
expect_export_refused "audit log truncated: export has entries up to $N, the registry has no entry $N"

tamper "truncated tail again" "DELETE FROM audit_log WHERE seq > $((N - 3))"
step "truncated tail re-grown by new mutations"
# The registry appends after its (now shorter) tail: seq N-2.. come back
# with different contents.  Still consistent in itself, still caught.
cli_ok tag fraud:2 regrown=1
cli_ok tag fraud:2 regrown=2
cli_ok tag fraud:2 regrown=3
cli_ok tag fraud:2 regrown=4
assert_eq "$(audit_count)" $((N + 1)) "the chain grew past the exported head again"
cli_ok audit verify
cli audit verify --against "$EXPORT" --json
expect_rc 6 "verify --against on a truncated and re-grown chain"
assert_json 'j["ok"] is False and j["first_bad"] == '"$((N - 2))"' and j["message"] == "entry '"$((N - 2))"' differs from the export (chain recomputed after an edit?)"' "$OUT" "first differing entry named"
cli audit verify --against "$EXPORT"
expect_rc 6 "verify --against (text) on a re-grown chain"
assert_contains "$ERR" "entry $((N - 2)) differs from the export" "text names the first differing entry"
expect_export_refused "audit chain diverged from the export at seq $N: recomputed or rewritten"

# ---------------------------------------------------------------- recomputed
E=$SEQ_CI_PUSH
tamper "fully recomputed chain after editing entry $E" \
	"UPDATE audit_log SET actor = 'admin' WHERE seq = $E"
stop_server
R=$("${RECHAIN[@]}" rechain "$DB" "$E") || fail "rechain failed: $R"
assert_match "$R" "^$((N - E + 1)) $N [0-9a-f]{64}\$" "rechain rewrote entries $E..$N"
NEW_HEAD=${R##* }
assert_ne "$NEW_HEAD" "$HEAD_HASH" "recomputed head differs from the exported one"
R=$("${RECHAIN[@]}" check "$DB") || fail "the recomputed chain does not check: $R"
start_server "$D"
cli audit verify --json
expect_rc 0 "plain verify of a fully recomputed chain"
assert_json 'j["ok"] is True and j["entries"] == '"$N"' and j["head"] == {"seq": '"$N"', "hash": "'"$NEW_HEAD"'"}' "$OUT" "the recomputed chain is consistent in itself"
cli_ok audit --limit 1000 --json
assert_json '[e["actor"] for e in j["entries"] if e["seq"] == '"$E"'] == ["admin"]' "$OUT" "the forged actor is served"
cli audit verify --against "$EXPORT"
expect_rc 6 "verify --against on a recomputed chain"
assert_contains "$ERR" "entry $E differs from the export (chain recomputed after an edit?)" "names the edited entry"
cli audit verify --against "$EXPORT" --json
expect_rc 6 "verify --against --json on a recomputed chain"
assert_json 'j["ok"] is False and j["first_bad"] == '"$E"' and j["export_head"] == '"$N"' and j["entries"] == '"$N"'' "$OUT" "--json first_bad is the edited entry"

step "export onto an export whose head no longer matches: refused, no commit"
expect_export_refused "audit chain diverged from the export at seq $N: recomputed or rewritten"
cli audit export --git "$EXPORT" --json
expect_rc 6 "export --json refused"
assert_eq "$(git -C "$EXPORT" rev-parse HEAD)" "$EXPORT_COMMIT" "HEAD unchanged"

tamper "recomputed chain after an edit past the exported head is not detectable (documented limit)" \
	"SELECT 1"
cli_ok tag fraud:2 late=1
cli_ok tag fraud:2 late=2
stop_server
sql1 "UPDATE audit_log SET actor = 'mallory' WHERE seq = $((N + 1))"
R=$("${RECHAIN[@]}" rechain "$DB" $((N + 1))) || fail "rechain failed: $R"
start_server "$D"
cli_ok audit verify --against "$EXPORT"
assert_eq "$OUT" "audit chain verified: $((N + 2)) entries, matches export up to seq $N" "entries past the anchor are not covered"

# ---------------------------------------------------------------- restore
step "the pristine database is still good, and export keeps appending"
stop_server
rm -f "$DB-wal" "$DB-shm"
cp "$PRISTINE" "$DB"
start_server "$D"
cli_ok audit verify --against "$EXPORT"
assert_eq "$OUT" "audit chain verified: $N entries, matches export up to seq $N" "restored chain matches the export"

# Cross the 1000-entry chunk boundary: one curl process, one connection,
# many metric posts (one audit entry each).
step "export across the chunk boundary"
NEED=$((1005 - N))
URLS=()
for ((i = 0; i < NEED; i++)); do URLS+=(--next -s -o /dev/null -w '%{http_code}\n' -X POST -H "Authorization: Bearer $ADMIN"
	-H 'Content-Type: application/json' --data-binary "{\"metrics\":[{\"key\":\"step_loss\",\"value\":0.5,\"step\":$i}]}"
	"$URL/api/v1/models/fraud/versions/3/metrics"); done
CODES=$(curl "${URLS[@]:1}" | sort | uniq -c | tr -s ' ')
assert_eq "$CODES" " $NEED 200" "all metric posts succeeded"
cli_ok audit verify --json
assert_json 'j["ok"] is True and j["entries"] == 1005' "$OUT" "1005 entries"
H3=$(jq_ 'j["head"]["hash"]' "$OUT")
cli_ok audit export --git "$EXPORT" --json
assert_json 'j["exported"] == '"$NEED"' and j["from"] == '"$((N + 1))"' and j["to"] == 1005 and j["head"]["hash"] == "'"$H3"'"' "$OUT" "export across the boundary"
assert_eq "$(commits)" 3 "one commit for the run"
assert_eq "$(git -C "$EXPORT" diff --name-only HEAD~1 HEAD | tr '\n' ' ')" "entries/00000000.jsonl entries/00000001.jsonl head.json " "files of the boundary commit"
assert_eq "$(git -C "$EXPORT" show HEAD:entries/00000000.jsonl | wc -l | tr -d ' ')" 999 "chunk 0 holds seq 1..999"
assert_eq "$(git -C "$EXPORT" show HEAD:entries/00000001.jsonl | "${PY[@]}" -c 'import json,sys; print(" ".join(str(json.loads(l)["seq"]) for l in sys.stdin))')" \
	"1000 1001 1002 1003 1004 1005" "chunk 1 holds seq 1000..1005"
cmp -s <(git -C "$EXPORT" show HEAD:entries/00000000.jsonl | head -n "$N") <(git -C "$EXPORT" show HEAD~1:entries/00000000.jsonl) ||
	fail "earlier exported lines changed"
cli_ok audit verify --against "$EXPORT"
assert_eq "$OUT" "audit chain verified: 1005 entries, matches export up to seq 1005" "verify --against across chunks"

step "truncation below the chunk boundary"
stop_server
sqlite3 "$DB" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null || fail "checkpoint failed"
cp "$DB" "$PRISTINE"
EXPORT_SNAP=$(snapshot_export)
tamper "truncated to 990 of 1005 entries" "DELETE FROM audit_log WHERE seq > 990"
cli_ok audit verify
assert_eq "$OUT" "audit chain ok: 990 entries" "plain verify of the truncated chain"
cli audit verify --against "$EXPORT" --json
expect_rc 6 "verify --against, truncated below the boundary"
assert_json 'j["ok"] is False and j["first_bad"] == 991 and j["export_head"] == 1005 and j["message"] == "audit log truncated: export has entries up to 1005, registry only up to 990"' "$OUT" "truncation across chunks"
expect_export_refused "audit log truncated: export has entries up to 1005, the registry has no entry 1005"

step "clean stop"
stop_server

#!/usr/bin/env bash
# t_backup: `mlreg backup` of a running server and `mlreg restore` into a
# new data directory (docs/operations.md "Back up and restore").
#   - real data: versions with files, lineage (dataset, parent), a stage
#     promotion, a signature, a reader token, the audit entries of all that;
#   - the backup runs WHILE a writer keeps pushing versions, and a gc tried
#     during it is refused (409, exit 6) and deletes nothing; gc works again
#     after;
#   - the restored data dir serves: fsck and audit verify pass, the same
#     digests, stage, signature and token work, a pulled version equals the
#     pushed files, the writer's versions are a consistent prefix of the
#     live ones, the audit log is a prefix of the live chain;
#   - a second backup into the same DIR copies only the new blobs;
#   - hostile backups and targets are refused with the contract's exit code
#     and leave nothing behind: DIR missing or not a backup, backup.json
#     missing/truncated/malformed/huge, database digest mismatch, corrupt,
#     missing, symlinked or escaping blob, newer schema, NEWDATA not empty,
#     a server running on NEWDATA, a backup into a file, a live corrupt blob.
source "$(dirname "$0")/lib.sh"
command -v sqlite3 >/dev/null || fail "the sqlite3 CLI is needed (Debian package sqlite3, see scripts/deps)"

mkmodel() { # DIR TEXT: a model folder with a text file and a binary one
	mkdir -p "$1"
	printf '%s\n' "$2" >"$1/config.txt"
	head -c 70000 /dev/urandom >"$1/weights.bin"
}
digest_of() { cli_ok show "$1" --json; jq_ 'j["digest"]' "$OUT"; }
# restore_refused BACKUP NEWDATA WANT_RC WHAT NEEDLE: restore must fail
# with WANT_RC, say NEEDLE, and leave neither NEWDATA nor a temporary.
restore_refused() {
	local parent
	cli restore "$1" --data "$2"
	expect_rc "$3" "restore: $4"
	assert_contains "$ERR" "$5" "restore: $4: message"
	parent=$(dirname "$2")
	if [ "$3" != 6 ] || [[ "$4" != *"not empty"* && "$4" != *"running"* ]]; then
		[ ! -e "$2" ] || fail "restore: $4: left $2 behind"
	fi
	if compgen -G "$parent/.$(basename "$2").restore-*" >/dev/null; then
		fail "restore: $4: left a temporary folder: $(ls -a "$parent")"
	fi
}
# hostile NAME: a fresh copy of the good backup to damage, in $H
hostile() {
	H="$WORK/hostile/$1"
	mkdir -p "$WORK/hostile"
	cp -a "$WORK/bk" "$H"
}
first_blob() { # BACKUP: path of the first blob file (sorted) in it
	find "$1/blobs/sha256" -type f | sort | sed -n 1p
}

step "a registry with real data"
start_server "$WORK/data" --gc-grace 500ms
LIVE_URL=$URL
mkmodel "$WORK/m1" "fraud v1"
mkmodel "$WORK/m2" "fraud v2"
mkdir -p "$WORK/ds"
printf 'a,b\n1,2\n' >"$WORK/ds/train.csv"
cli_ok push fraud "$WORK/m1" --dataset train="$WORK/ds/train.csv" --metric auc=0.91
cli_ok push fraud "$WORK/m2" --parent fraud:1 --metric auc=0.93
cli_ok promote fraud:1 --to staging
cli_ok keygen --out "$WORK/release"
cli_ok key add release "$WORK/release.pub"
cli_ok sign fraud:1 --key "$WORK/release"
cli_ok token create ci-reader --role reader --json
READER=$(jq_ 'j["token"]' "$OUT")
D1=$(digest_of fraud:1)
D2=$(digest_of fraud:2)
# an orphan blob past the grace: what a gc would delete
printf 'orphan bytes\n' >"$WORK/orphan"
ORPHAN="sha256:$(sha256sum "$WORK/orphan" | cut -d' ' -f1)"
http POST /api/v1/blobs --data-binary @"$WORK/orphan" -H 'Content-Type: application/octet-stream'
expect_code 201 "orphan upload"
ORPHAN_FILE="$DATA/blobs/sha256/${ORPHAN:7:2}/${ORPHAN:7}"
[ -f "$ORPHAN_FILE" ] || fail "orphan blob file missing"
sleep 0.6

step "backup while a writer pushes; gc during the backup is refused"
: >"$WORK/writer.log"
(
	i=0
	while [ ! -e "$WORK/stop" ]; do
		i=$((i + 1))
		mkdir -p "$WORK/w/$i"
		printf 'writer version %d %s\n' "$i" "$RANDOM$RANDOM" >"$WORK/w/$i/f.txt"
		MLREG_REGISTRY="$LIVE_URL" MLREG_TOKEN="$ADMIN" "$MLREG_BIN" push writer "$WORK/w/$i" -q >>"$WORK/writer.log" 2>&1 ||
			echo "push $i failed" >>"$WORK/writer.log"
	done
) &
WP=$!
track_bg $WP
sleep 0.5
# a slow backup (one page per step) so the gc lands inside it
"$MLREG_BIN" backup "$WORK/bk" --data "$DATA" --step-pages 1 --step-pause 30ms --json >"$WORK/bk.out" 2>"$WORK/bk.err" &
BP=$!
track_bg $BP
for ((i = 0; i < 200; i++)); do
	[ -e "$WORK/bk/registry.db.tmp" ] && break
	sleep 0.02
done
[ -e "$WORK/bk/registry.db.tmp" ] || fail "the backup never started copying the database: $(cat "$WORK/bk.err")"
kill -0 $BP 2>/dev/null || fail "the backup ended before gc could be tried (make it slower)"
cli gc
expect_rc 6 "gc during a backup"
assert_contains "$ERR" "a backup is running" "gc's refusal"
http POST /api/v1/gc
expect_code 409 "gc through the API during a backup"
assert_contains "$BODY" '"code"' "error body"
[ -f "$ORPHAN_FILE" ] || fail "gc deleted a blob while a backup ran"
cli_ok gc --dry-run --json
assert_json 'j["deleted_blobs"] >= 1' "$OUT" "a dry run still reports during a backup"
kill -0 $BP 2>/dev/null || fail "the backup ended before the gc attempts were done (make it slower)"
BRC=0
wait $BP || BRC=$?
[ "$BRC" = 0 ] || fail "backup failed ($BRC): $(cat "$WORK/bk.err")"
touch "$WORK/stop"
wait $WP || true
grep -q failed "$WORK/writer.log" && fail "the writer failed during the backup: $(cat "$WORK/writer.log")"
BK=$(cat "$WORK/bk.out")
log "backup: $BK"
[ -s "$WORK/bk/backup.json" ] || fail "no backup.json"
[ ! -e "$WORK/bk/registry.db.tmp" ] || fail "registry.db.tmp left in the backup"
assert_eq "$(stat -c %a "$WORK/bk")" 700 "backup folder mode"
assert_eq "$(stat -c %a "$WORK/bk/registry.db")" 600 "database copy mode"
assert_eq "$(stat -c %a "$WORK/bk/url.key")" 600 "url.key mode"
cmp -s "$WORK/bk/url.key" "$DATA/url.key" || fail "url.key differs"
[ ! -e "$WORK/bk/admin.token" ] || fail "the bootstrap admin token went into the backup"
INFO=$(cat "$WORK/bk/backup.json")
assert_json 'j["format"] == "mlreg-backup" and j["format_version"] == 1 and j["secrets"] == ["url.key"]' "$INFO" "backup.json"
assert_eq "$(jq_ 'j["database"]["sha256"]' "$INFO")" "sha256:$(sha256sum "$WORK/bk/registry.db" | cut -d' ' -f1)" "db sha256"
assert_eq "$(jq_ 'j["blobs"]["count"]' "$INFO")" "$(find "$WORK/bk/blobs" -type f | wc -l)" "blob count"
assert_json 'j["blobs"]["copied"] == j["blobs"]["count"] and j["blobs"]["present"] == 0' "$BK" "first backup copies all"
N_WRITER=$(ls "$WORK/w" | wc -l)
log "writer pushed $N_WRITER versions meanwhile"
[ "$N_WRITER" -ge 2 ] || fail "the writer pushed only $N_WRITER versions during the backup"

step "gc works again once the backup ended"
cli_ok gc --json
assert_json 'j["deleted_blobs"] >= 1' "$OUT" "gc after the backup"
[ ! -f "$ORPHAN_FILE" ] || fail "gc after the backup kept the orphan"

step "restore into a new data dir and serve it"
cli_ok restore "$WORK/bk" --data "$WORK/restored" --json
assert_json 'j["blobs"]["count"] == '"$(jq_ 'j["blobs"]["count"]' "$INFO")" "$OUT" "restored blob count"
cmp -s "$WORK/bk/registry.db" "$WORK/restored/registry.db" || fail "the restored database is not the backup's"
assert_eq "$(stat -c %a "$WORK/restored/url.key")" 600 "restored url.key mode"
LIVE_PID=$PID LIVE_DATA=$DATA LIVE_LOG=$SERVER_LOG
PID=""
SERVER_LOG="$WORK/server2.log"
start_server_keep_token() {
	local pf="$WORK/port2"
	"$MLREG_BIN" server --listen 127.0.0.1:0 --data "$WORK/restored" --port-file "$pf" --rate-limit 0 --auth-fail-rate 0 \
		>>"$SERVER_LOG" 2>&1 &
	PID=$!
	for ((i = 0; i < 600; i++)); do
		[ -s "$pf" ] && break
		kill -0 "$PID" 2>/dev/null || fail "the server on the restored data exited"
		sleep 0.05
	done
	URL="http://127.0.0.1:$(cat "$pf")"
	for ((i = 0; i < 600; i++)); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL/readyz" || true)" = 200 ] && break
		sleep 0.05
	done
}
start_server_keep_token
[ ! -e "$WORK/restored/admin.token" ] || fail "the restored server made a new bootstrap token (it has tokens)"
TOKEN=$ADMIN
cli_ok fsck
assert_contains "$OUT" "fsck ok" "fsck on the restored registry"
cli_ok audit verify --json
assert_json 'j["ok"] == True' "$OUT" "audit verify on the restored registry"
assert_eq "$(digest_of fraud:1)" "$D1" "fraud:1 digest"
assert_eq "$(digest_of fraud:2)" "$D2" "fraud:2 digest"
assert_eq "$(digest_of fraud:staging)" "$D1" "the stage survives"
cli_ok verify fraud:1
cli_ok lineage fraud:2 --json
assert_contains "$OUT" "fraud:1" "lineage parent"
TOKEN=$READER cli_ok ls fraud --json
TOKEN=$READER cli push fraud "$WORK/m1"
expect_rc 4 "the reader token keeps its role"
TOKEN=$ADMIN
cli_ok pull fraud:1 "$WORK/pulled"
assert_file_eq "$WORK/pulled/weights.bin" "$WORK/m1/weights.bin" "pulled weights"
assert_file_eq "$WORK/pulled/config.txt" "$WORK/m1/config.txt" "pulled config"
# the writer's versions: a prefix of the live ones, each with the live digest
cli_ok ls writer --json
RESTORED_W=$(jq_ 'len(j["versions"]) if isinstance(j, dict) and "versions" in j else len(j)' "$OUT")
log "the backup holds $RESTORED_W of the writer's versions"
[ "$RESTORED_W" -ge 1 ] || fail "no writer version in the backup"
R_URL=$URL
for n in 1 "$RESTORED_W"; do
	URL=$R_URL
	RD=$(digest_of "writer:$n")
	URL=$LIVE_URL
	assert_eq "$(digest_of "writer:$n")" "$RD" "writer:$n in the backup is the live one"
done
URL=$R_URL
cli show "writer:$((RESTORED_W + 1))"
expect_rc 5 "no version past the snapshot"
# the restored audit chain is a prefix of the live one
HEAD_SEQ=$(jq_ 'j["audit"]["head_seq"]' "$INFO")
HEAD_HASH=$(jq_ 'j["audit"]["head_hash"]' "$INFO")
assert_eq "$(sqlite3 "$LIVE_DATA/registry.db" "SELECT hash FROM audit_log WHERE seq=$HEAD_SEQ")" "$HEAD_HASH" "audit head in the live chain"
cli_ok push restored-ok "$WORK/m2"
cli_ok audit verify
stop_server
PID=$LIVE_PID DATA=$LIVE_DATA SERVER_LOG=$LIVE_LOG URL=$LIVE_URL

step "an incremental backup copies only the new blobs"
# first the writer's later versions; what the first backup holds stays,
# and the blob gc removed since goes from the backup too
cli_ok backup "$WORK/bk" --data "$DATA" --json
assert_json 'j["blobs"]["present"] == '"$(jq_ 'j["blobs"]["count"]' "$INFO")"' - 1 and j["blobs"]["pruned"] == 1' "$OUT" \
	"second backup keeps the first one's blobs, prunes the orphan"
mkmodel "$WORK/m3" "fraud v3"
cli_ok push fraud "$WORK/m3"
cli_ok backup "$WORK/bk" --data "$DATA" --json
# new: the two files of fraud:3 and its manifest
assert_json 'j["blobs"]["copied"] == 3 and j["blobs"]["present"] == j["blobs"]["count"] - 3 and j["blobs"]["pruned"] == 0' \
	"$OUT" "incremental copy"
cli_ok restore "$WORK/bk" --data "$WORK/restored2" -q
[ -d "$WORK/restored2/blobs" ] || fail "second restore"

step "hostile backups and targets"
mkdir -p "$WORK/empty"
restore_refused "$WORK/nowhere" "$WORK/n1" 5 "DIR missing" "cannot open backup folder"
restore_refused "$WORK/empty" "$WORK/n1" 5 "not a backup" "not an mlreg backup"
hostile nojson && rm "$H/backup.json"
restore_refused "$H" "$WORK/n1" 6 "backup.json missing" "incomplete backup"
hostile trunc && head -c 100 "$WORK/bk/backup.json" >"$H/backup.json"
restore_refused "$H" "$WORK/n1" 6 "backup.json truncated" "not a valid mlreg backup"
hostile malformed && sed -i 's/"blobs"/"blobz"/' "$H/backup.json"
restore_refused "$H" "$WORK/n1" 6 "backup.json malformed" "not a valid mlreg backup"
hostile huge && head -c 200000 /dev/zero | tr '\0' ' ' >>"$H/backup.json"
restore_refused "$H" "$WORK/n1" 6 "backup.json huge" "larger than"
hostile jsonlink && rm "$H/backup.json" && ln -s "$WORK/bk/backup.json" "$H/backup.json"
restore_refused "$H" "$WORK/n1" 6 "backup.json a symlink" "symbolic link"
hostile dbsha && printf 'X' | dd of="$H/registry.db" bs=1 seek=5000 conv=notrunc status=none
restore_refused "$H" "$WORK/n1" 6 "database digest mismatch" "hashes to"
hostile corrupt && B=$(first_blob "$H") && chmod u+w "$B" && printf 'X' | dd of="$B" bs=1 seek=3 conv=notrunc status=none
restore_refused "$H" "$WORK/n1" 6 "corrupted blob" "corrupt"
hostile missing && rm "$(first_blob "$H")"
restore_refused "$H" "$WORK/n1" 6 "missing blob" "missing from the backup"
hostile bloblink && B=$(first_blob "$H") && cp "$B" "$WORK/outside-blob" && rm "$B" && ln -s "$WORK/outside-blob" "$B"
restore_refused "$H" "$WORK/n1" 6 "blob is a symlink" "symbolic link"
hostile escape && B=$(first_blob "$H") && F=$(dirname "$B") && mkdir -p "$WORK/outside" && cp -a "$F" "$WORK/outside/" &&
	rm -rf "$F" && ln -s "$WORK/outside/$(basename "$F")" "$F"
restore_refused "$H" "$WORK/n1" 6 "blob folder escapes DIR" "symbolic link"
hostile newer && chmod u+w "$H/registry.db" && sqlite3 "$H/registry.db" \
	"INSERT INTO schema_migrations(version,name,applied_at) VALUES(9999,'future',0)" &&
	"${PY[@]}" - "$H" <<'EOF'
import hashlib, json, os, sys
d = sys.argv[1]
j = json.load(open(d + "/backup.json"))
b = open(d + "/registry.db", "rb").read()
j["database"]["sha256"] = "sha256:" + hashlib.sha256(b).hexdigest()
j["database"]["size"] = len(b)
j["schema_version"] = 9999
open(d + "/backup.json", "w").write(json.dumps(j))
EOF
restore_refused "$H" "$WORK/n1" 1 "schema newer" "newer mlreg"
hostile liar && "${PY[@]}" - "$H" <<'EOF'
import json, sys
d = sys.argv[1]
j = json.load(open(d + "/backup.json"))
j["schema_version"] = 1
open(d + "/backup.json", "w").write(json.dumps(j))
EOF
restore_refused "$H" "$WORK/n1" 6 "backup.json's schema differs from the database's" "schema version"
mkdir -p "$WORK/notempty" && touch "$WORK/notempty/x"
restore_refused "$WORK/bk" "$WORK/notempty" 6 "NEWDATA not empty" "not empty"
[ -e "$WORK/notempty/x" ] || fail "restore touched a non-empty NEWDATA"
restore_refused "$WORK/bk" "$DATA" 6 "a server running on NEWDATA" "a server is running"
mkdir -p "$WORK/emptytarget"
cli_ok restore "$WORK/bk" --data "$WORK/emptytarget" -q
[ -s "$WORK/emptytarget/registry.db" ] || fail "restore into an empty folder"
cli restore "$WORK/bk"
expect_rc 2 "restore without --data"
cli backup
expect_rc 2 "backup without DIR"
touch "$WORK/afile"
cli backup "$WORK/afile" --data "$DATA"
expect_rc 1 "backup into a file"
assert_contains "$ERR" "not a folder" "backup into a file: message"
cli backup "$WORK/bk-x" --data "$WORK/empty"
expect_rc 5 "backup of a folder that is no data directory"

step "a backup of a corrupt live blob fails and leaves no backup.json"
# a new version whose weights are then damaged on disk: the blobs the
# backup already holds are not reread (they are right), this one is
mkmodel "$WORK/m4" "fraud v4"
cli_ok push fraud "$WORK/m4"
W=$(sha256sum "$WORK/m4/weights.bin" | cut -d' ' -f1)
V="$DATA/blobs/sha256/${W:0:2}/$W"
[ -f "$V" ] || fail "no blob file for fraud:4's weights"
cp -p "$V" "$WORK/saved-blob"
printf 'X' | dd of="$V" bs=1 seek=1 conv=notrunc status=none
cli backup "$WORK/bk" --data "$DATA"
expect_rc 6 "backup of a corrupt live blob"
assert_contains "$ERR" "rehashes to" "backup: corrupt live blob message"
[ ! -e "$WORK/bk/backup.json" ] || fail "a failed backup left backup.json in place"
compgen -G "$WORK/bk/blobs/sha256/${W:0:2}/.*" >/dev/null && fail "a failed backup left a temporary blob"
cli backup "$WORK/bk-fresh" --data "$DATA"
expect_rc 6 "backup of a corrupt live blob into a new folder"
[ ! -e "$WORK/bk-fresh/backup.json" ] || fail "a failed backup wrote backup.json"
restore_refused "$WORK/bk" "$WORK/n2" 6 "the failed backup is incomplete" "incomplete backup"
cp -p "$WORK/saved-blob" "$V"
cli_ok backup "$WORK/bk" --data "$DATA" -q
[ -s "$WORK/bk/backup.json" ] || fail "the next backup completes the folder again"
stop_server

step "a stopped server, its blobs/ on another volume (a symlink the server follows)"
mv "$DATA/blobs" "$WORK/blobvol"
ln -s "$WORK/blobvol" "$DATA/blobs"
cli_ok backup "$WORK/bk-stopped" --data "$DATA" --json
assert_json 'j["blobs"]["count"] > 0 and j["blobs"]["copied"] == j["blobs"]["count"]' "$OUT" "backup of a stopped server"
[ ! -L "$WORK/bk-stopped/blobs" ] || fail "the backup copied the link, not the blobs"
cli_ok restore "$WORK/bk-stopped" --data "$WORK/restored3" -q
[ -d "$WORK/restored3/blobs/sha256" ] && [ ! -L "$WORK/restored3/blobs" ] || fail "restore of the stopped server's backup"

#!/usr/bin/env bash
# t_upgrade: a registry made by an older mlreg is upgraded by this one
# (docs/operations.md "Upgrade (migrations)"), in place and through a backup.
#   - real data (versions, a promotion, tokens, entries by two principals),
#     then the database is put back to what the previous release left: schema
#     version 7, before migration 0008 (the audit_log(actor) index);
#   - the server started on it migrates to the newest schema on start, says so
#     in its log (from 7, how many applied), and serves the same data: fsck
#     and audit verify pass, a pulled version is byte-identical, the stage
#     holder is unchanged, `audit --actor` answers from the new index;
#   - a backup of the schema-7 data dir restores into a new dir (older is
#     accepted) and its server migrates the same way;
#   - a second start migrates nothing;
#   - a database newer than this mlreg is refused and left untouched.
source "$(dirname "$0")/lib.sh"
command -v sqlite3 >/dev/null || fail "the sqlite3 CLI is needed (Debian package sqlite3, see scripts/deps)"

newest() { ls "$MLREG_SRC/migrations" | sed -n 's/^0*\([0-9]*\)_.*\.sql$/\1/p' | sort -n | tail -1; }
NEWEST=$(newest)
[ "$NEWEST" -ge 8 ] || fail "expected migrations up to at least 0008 in $MLREG_SRC/migrations, found $NEWEST"
# the server log since its last start (the log file is appended to)
last_start() { awk '/^=== start /{buf=""} {buf = buf $0 "\n"} END {printf "%s", buf}' "$SERVER_LOG"; }
schema_of() { sqlite3 -readonly "$1/registry.db" 'SELECT max(version) FROM schema_migrations'; }
has_actor_index() { sqlite3 -readonly "$1/registry.db" "SELECT count(*) FROM sqlite_master WHERE type='index' AND name='audit_actor'"; }
# downgrade DATA: what the release before 0008 left (0008 only adds the index)
downgrade() {
	sqlite3 "$1/registry.db" "DROP INDEX audit_actor; DELETE FROM schema_migrations WHERE version >= 8;"
	assert_eq "$(schema_of "$1")" 7 "downgraded to schema 7"
	assert_eq "$(has_actor_index "$1")" 0 "no actor index at schema 7"
}
# check_served DATA: after the migration, everything still there and sound
check_served() {
	assert_eq "$(schema_of "$1")" "$NEWEST" "migrated to the newest schema"
	assert_eq "$(has_actor_index "$1")" 1 "the actor index exists after the migration"
	cli_ok fsck --json
	assert_json 'j["bad"] == [] and j["checked"] >= 3' "$OUT" "fsck after the upgrade"
	cli_ok audit verify --json
	assert_json 'j["ok"] is True' "$OUT" "audit verify after the upgrade"
	cli_ok show up:production --json
	assert_eq "$(jq_ 'j["version"]' "$OUT")" 1 "production still holds up:1"
	rm -rf "$WORK/pulled"
	cli_ok pull up:2 "$WORK/pulled"
	cmp "$WORK/m2/weights.bin" "$WORK/pulled/weights.bin" || fail "pulled up:2 differs from what was pushed"
	cli_ok audit --actor ci-bot --json
	assert_json 'len(j["entries"]) == 1 and j["entries"][0]["action"] == "version.create" and j["entries"][0]["actor"] == "ci-bot"' "$OUT" "audit --actor on the upgraded registry"
	TOKEN=$CI cli_ok show up:3 --json  # the token made before the upgrade still works
}

step "an older registry: data made, then put back to schema 7"
start_server "$WORK/data"
for v in 1 2; do
	mkdir -p "$WORK/m$v" && rand_file "$WORK/m$v/weights.bin" 40000 && printf 'v%s\n' "$v" >"$WORK/m$v/config.txt"
	cli_ok push up "$WORK/m$v" --metric acc=0.9$v
done
cli_ok token create ci --role writer --principal ci-bot --json
CI=$(jq_ 'j["token"]' "$OUT")
mkdir -p "$WORK/m3" && printf 'ci\n' >"$WORK/m3/config.txt"
TOKEN=$CI cli_ok push up "$WORK/m3"
cli_ok promote up:1 --to production
stop_server
downgrade "$WORK/data"
cp -a "$WORK/data" "$WORK/data-v7"

step "a backup of the schema-7 data dir (server stopped)"
cli_ok backup "$WORK/bk" --data "$WORK/data-v7" --json
assert_eq "$(jq_ 'j["schema_version"]' "$(cat "$WORK/bk/backup.json")")" 7 "backup.json records schema 7"

step "in place: the server migrates on start and says so"
start_server "$WORK/data"
last_start | grep -q "database migrated from schema version 7 to $NEWEST ($((NEWEST - 7)) migration" ||
	fail "no migration line in the server log: $(tail -5 "$SERVER_LOG")"
check_served "$WORK/data"
stop_server

step "a second start migrates nothing"
start_server "$WORK/data"
last_start | grep -q "database migrated\|new database created" && fail "second start migrated again: $(last_start)"
assert_eq "$(sqlite3 -readonly "$WORK/data/registry.db" "SELECT count(*) FROM schema_migrations WHERE version = 8")" 1 "migration 0008 recorded once"
stop_server

step "through a backup: restore the schema-7 backup, its server migrates"
cli_ok restore "$WORK/bk" --data "$WORK/restored"
assert_eq "$(schema_of "$WORK/restored")" 7 "restore leaves the schema as the backup had it"
# a backup holds no admin.token (its hash is in the database): the operator
# keeps the token, as start_server expects to read it from the data dir
install -m 600 "$WORK/data/admin.token" "$WORK/restored/admin.token"
start_server "$WORK/restored"
last_start | grep -q "database migrated from schema version 7 to $NEWEST" ||
	fail "the restored server did not migrate: $(tail -5 "$SERVER_LOG")"
check_served "$WORK/restored"
stop_server

step "a database from a newer mlreg is refused and left untouched"
sqlite3 "$WORK/data-v7/registry.db" "INSERT INTO schema_migrations(version,name,applied_at) VALUES(9999,'future',0)"
BEFORE=$(sha256sum "$WORK/data-v7/registry.db")
RC=0
ERR=$("$MLREG_BIN" server --listen 127.0.0.1:0 --data "$WORK/data-v7" 2>&1 >/dev/null) || RC=$?
assert_eq "$RC" 1 "server on a newer database exits 1"
assert_contains "$ERR" "written by a newer mlreg" "newer database: message"
assert_eq "$(sha256sum "$WORK/data-v7/registry.db")" "$BEFORE" "the newer database is untouched"

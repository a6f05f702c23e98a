#!/usr/bin/env bash
# t_lock: one server per data directory, and no running on a database from a
# newer mlreg.
#   - a second server on the same data dir exits non-zero with a clear
#     "locked" message, and the first keeps serving;
#   - a server on another data dir runs beside it;
#   - the lock goes away with its server (clean stop and kill -9);
#   - a database whose schema_migrations holds version 9999 is refused with
#     a message about a newer mlreg, left as it was, and usable again once
#     the row is gone.
source "$(dirname "$0")/lib.sh"
command -v sqlite3 >/dev/null || fail "the sqlite3 CLI is needed (Debian package sqlite3, see scripts/deps)"

# second_server DIR: run a server that is expected to refuse to start.
# Sets RC and SOUT (its output).
second_server() {
	local pf="$WORK/pf2.$RANDOM"
	RC=0
	SOUT=$(timeout 60 "$MLREG_BIN" server --listen 127.0.0.1:0 --data "$1" --port-file "$pf" 2>&1) || RC=$?
	[ "$RC" != 124 ] || fail "the refused server was still running after 60s: $SOUT"
	[ "$RC" != 0 ] || fail "the refused server exited 0: $SOUT"
	[ "$RC" -lt 128 ] || fail "the refused server died of a signal ($RC): $SOUT"
	grep -Eq "$_SANITIZER_RE" <<<"$SOUT" && fail "sanitizer report from the refused server: $SOUT"
	[ ! -s "$pf" ] || fail "the refused server wrote a port file (it listened)"
	return 0
}

step "first server, with some data"
start_server "$WORK/data"
mkdir -p "$WORK/m"
printf 'locked in\n' >"$WORK/m/f.txt"
cli_ok push lockme "$WORK/m" --json
DIGEST=$(jq_ 'j["digest"]' "$OUT")

step "a second server on the same data dir fails with 'locked'"
second_server "$WORK/data"
log "second server: exit $RC: $SOUT"
assert_contains "$SOUT" "locked" "second server message"
assert_contains "$SOUT" "$WORK/data" "the message names the data dir"
second_server "$WORK/data/"
assert_contains "$SOUT" "locked" "same dir written with a trailing slash"
ln -s "$WORK/data" "$WORK/data-link"
second_server "$WORK/data-link"
assert_contains "$SOUT" "locked" "same dir through a symlink"
kill -0 "$PID" || fail "the first server died"
cli_ok show lockme:1 --json
assert_json 'j["digest"] == "'"$DIGEST"'"' "$OUT" "the first server still serves"
printf 'second\n' >"$WORK/m/f.txt"
cli_ok push lockme "$WORK/m" --json
assert_eq "$(jq_ 'j["version"]' "$OUT")" 2 "the first server still writes"

step "a server on another data dir runs beside it"
FIRST_PID=$PID FIRST_URL=$URL FIRST_ADMIN=$ADMIN FIRST_LOG=$SERVER_LOG
pf="$WORK/pf-other"
"$MLREG_BIN" server --listen 127.0.0.1:0 --data "$WORK/other" --port-file "$pf" >"$WORK/other.log" 2>&1 &
OTHER_PID=$!
track_bg $OTHER_PID
for ((i = 0; i < 400; i++)); do [ -s "$pf" ] && break; sleep 0.05; done
[ -s "$pf" ] || fail "a server on another data dir did not start: $(cat "$WORK/other.log")"
for ((i = 0; i < 100; i++)); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(cat "$pf")/readyz")" = 200 ] && break
	sleep 0.05
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(cat "$pf")/readyz")" = 200 ] || fail "other server not ready"
kill -TERM "$OTHER_PID"
rc=0
wait "$OTHER_PID" || rc=$?
[ "$rc" = 0 ] || fail "other server exited $rc on SIGTERM: $(cat "$WORK/other.log")"
check_sanitizer_clean "$WORK/other.log" "other server log"

step "the lock goes with its server"
stop_server
start_server "$WORK/data"
cli_ok show lockme:2 --json
kill9_server
start_server "$WORK/data"
cli_ok show lockme:2 --json
second_server "$WORK/data"
assert_contains "$SOUT" "locked" "the restarted server holds the lock again"
stop_server

# ---------------------------------------------------------------- schema
step "a database from a newer mlreg is refused"
DB=$WORK/data/registry.db
[ -f "$DB" ] || fail "no registry.db in the data dir"
BEFORE=$(sqlite3 "$DB" 'SELECT version, name FROM schema_migrations ORDER BY version')
[ -n "$BEFORE" ] || fail "schema_migrations is empty"
sqlite3 "$DB" "INSERT INTO schema_migrations(version, name, applied_at) VALUES (9999, 'from_the_future', 0)"
SNAP=$(sqlite3 "$DB" 'SELECT version, name, applied_at FROM schema_migrations ORDER BY version; SELECT count(*) FROM sqlite_master;')
second_server "$WORK/data"
log "server on a newer database: exit $RC: $SOUT"
assert_match "$SOUT" '[Nn]ewer' "the message says the database is newer"
assert_contains "$SOUT" "mlreg" "the message mentions mlreg"
assert_contains "$SOUT" "9999" "the message names the database's schema version"
assert_eq "$(sqlite3 "$DB" 'SELECT version, name, applied_at FROM schema_migrations ORDER BY version; SELECT count(*) FROM sqlite_master;')" "$SNAP" "the refused start left the schema alone"
second_server "$WORK/data"
assert_match "$SOUT" '[Nn]ewer' "refused again on a second try (not locked by the first attempt)"
assert_not_contains "$SOUT" "locked" "a refused start releases its lock"

step "without the future row the data is usable again"
sqlite3 "$DB" "DELETE FROM schema_migrations WHERE version = 9999"
start_server "$WORK/data"
cli_ok show lockme:1 --json
assert_json 'j["digest"] == "'"$DIGEST"'"' "$OUT" "data intact after the refused start"
cli_ok ls lockme --json
assert_json '[v["version"] for v in j["versions"]] == [1, 2]' "$OUT" "versions intact"
cli_ok audit verify
stop_server
assert_eq "$(sqlite3 "$DB" 'SELECT version, name FROM schema_migrations ORDER BY version')" "$BEFORE" "migrations unchanged by the restarts"

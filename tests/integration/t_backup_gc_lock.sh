#!/usr/bin/env bash
# t_backup_gc_lock: a backup run by another user than the server's must not
# stop the server from starting.  `mlreg backup` creates DATA/gc.lock when
# it is missing (a data directory of an mlreg from before gc.lock, as on the
# upgrade path: docs/operations.md says to back up before restarting into
# the new version).  Run as root (`sudo mlreg backup ...`), it made the file
# root's, mode 0644, and the server, which opened it for writing, then
# refused to start as its own user: "cannot open DATA/gc.lock: Permission
# denied".  Only flock() is done on it, which needs no write access.
#
# As root the server runs as the user nobody (setpriv) on a data directory
# nobody owns, and the backup runs as root; as any other user the same
# situation is a gc.lock the server's user cannot write (mode 0444).
source "$(dirname "$0")/lib.sh"

AS=()
if [ "$(id -u)" = 0 ]; then
	command -v setpriv >/dev/null || fail "setpriv (util-linux) is needed to run the server as nobody"
	getent passwd nobody >/dev/null || fail "no user nobody"
	AS=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups)
	chmod 0755 "$WORK"
fi
RUN="$WORK/run"
mkdir -p "$RUN" "$WORK/data"
[ ${#AS[@]} = 0 ] || chown nobody "$RUN" "$WORK/data"
SERVER_LOG="$WORK/server.log"

# serve: start the server as the data directory's owner; its exit status in SRV_RC when it does not start
serve() {
	rm -f "$RUN/port"
	"${AS[@]}" "$MLREG_BIN" server --listen 127.0.0.1:0 --data "$WORK/data" --port-file "$RUN/port" \
		--rate-limit 0 >>"$SERVER_LOG" 2>&1 &
	PID=$!
	local i
	for ((i = 0; i < 600; i++)); do
		[ -s "$RUN/port" ] && break
		if ! kill -0 "$PID" 2>/dev/null; then
			SRV_RC=0
			wait "$PID" || SRV_RC=$?
			PID=""
			return 1
		fi
		sleep 0.05
	done
	[ -s "$RUN/port" ] || fail "server wrote no port file within 30s"
	URL="http://127.0.0.1:$(cat "$RUN/port")"
	for ((i = 0; i < 600; i++)); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL/readyz" || true)" = 200 ] && break
		sleep 0.05
	done
	TOKEN=$(cat "$WORK/data/admin.token")
	return 0
}

step "a data directory without gc.lock (an mlreg from before it)"
serve || fail "first start failed (exit $SRV_RC): $(tail -3 "$SERVER_LOG")"
mkdir -p "$WORK/m"
head -c 2000 /dev/urandom >"$WORK/m/w.bin"
cli_ok push fraud "$WORK/m"
stop_server
rm -f "$WORK/data/gc.lock"

step "a backup by another user creates gc.lock; the server still starts"
cli_ok backup "$WORK/bk" --data "$WORK/data" -q
[ -f "$WORK/data/gc.lock" ] || fail "the backup made no gc.lock"
[ ${#AS[@]} != 0 ] || chmod 0444 "$WORK/data/gc.lock"
serve || fail "the server does not start after a backup by another user (exit $SRV_RC): $(tail -2 "$SERVER_LOG")"
cli_ok show fraud:1

step "gc and backup still exclude each other through that gc.lock"
# the file the server could only open for reading: a backup holding it
# shared still makes gc answer 409 (and a backup still waits for nothing)
exec {held}<"$WORK/data/gc.lock"
flock -s "$held"
cli gc
expect_rc 6 "gc while gc.lock is held shared"
assert_contains "$ERR" "backup is running" "gc while gc.lock is held: message"
exec {held}<&-
cli_ok gc
cli_ok backup "$WORK/bk" --data "$WORK/data" -q
stop_server

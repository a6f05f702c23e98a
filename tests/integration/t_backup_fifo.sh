#!/usr/bin/env bash
# t_backup_fifo: a named pipe where a backup has a file.  Restore opened
# backup.json and each blob before checking it was a regular file, and
# open() of a FIFO for reading waits for a writer: a hostile or damaged
# backup with a FIFO named backup.json (or named like a blob) hung restore
# forever instead of being refused.  The same held for a FIFO among the
# blobs of a backup DIR, which an incremental backup opens to see whether
# the blob is already there.  Each case must end within seconds: restore
# refuses (exit 6, nothing left behind), backup replaces the FIFO with the
# blob and completes.
source "$(dirname "$0")/lib.sh"

# bounded MAX_S ARGS...: the real CLI, killed after MAX_S seconds (then
# RC is 124); sets RC OUT ERR like cli
bounded() {
	local max=$1
	shift
	RC=0
	OUT=$(timeout -k 5 "$max" "$MLREG_BIN" "$@" 2>"$WORK/.err") || RC=$?
	ERR=$(cat "$WORK/.err")
	[ "$RC" != 124 ] && [ "$RC" != 137 ] || fail "mlreg $* still ran after ${max}s (it waits on a FIFO)"
}

step "a registry and a good backup"
start_server "$WORK/data"
mkdir -p "$WORK/m"
head -c 5000 /dev/urandom >"$WORK/m/w.bin"
printf 'cfg\n' >"$WORK/m/c.txt"
cli_ok push fraud "$WORK/m"
cli_ok backup "$WORK/bk" --data "$DATA" -q
cli_ok restore "$WORK/bk" --data "$WORK/good" -q

step "restore refuses a FIFO named backup.json"
cp -a "$WORK/bk" "$WORK/h1"
rm "$WORK/h1/backup.json"
mkfifo "$WORK/h1/backup.json"
bounded 20 restore "$WORK/h1" --data "$WORK/n1"
expect_rc 6 "restore of a backup whose backup.json is a FIFO"
assert_contains "$ERR" "not a regular file" "FIFO backup.json: message"
[ ! -e "$WORK/n1" ] || fail "a refused restore left $WORK/n1"

step "restore refuses a FIFO named like a blob"
cp -a "$WORK/bk" "$WORK/h2"
blob=$(find "$WORK/h2/blobs/sha256" -type f | sort | sed -n 1p)
rm "$blob"
mkfifo "$blob"
bounded 20 restore "$WORK/h2" --data "$WORK/n2"
expect_rc 6 "restore of a backup with a FIFO for a blob"
assert_contains "$ERR" "not a regular file" "FIFO blob: message"
[ ! -e "$WORK/n2" ] || fail "a refused restore left $WORK/n2"
compgen -G "$WORK/.n2.restore-*" >/dev/null && fail "a refused restore left a temporary folder"

step "an incremental backup replaces a FIFO among DIR's blobs"
blob=$(find "$WORK/bk/blobs/sha256" -type f | sort | sed -n 1p)
rm "$blob"
mkfifo "$blob"
bounded 20 backup "$WORK/bk" --data "$DATA" --json
expect_rc 0 "backup into a DIR with a FIFO for a blob"
[ -f "$blob" ] && [ ! -p "$blob" ] || fail "the backup left the FIFO in place of the blob"
cli_ok restore "$WORK/bk" --data "$WORK/n3" -q
stop_server

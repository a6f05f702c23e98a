#!/usr/bin/env bash
# t_backup_into_data: `mlreg backup DIR` where DIR is the data directory
# itself (`mlreg backup $MLREG_DATA`, a slip of the fingers) or a folder
# inside it.  Backing up into the live data directory renamed the copy over
# the running server's registry.db: the server kept writing to the old
# inode, its WAL checkpointed into a file nobody would see again, and the
# next start found a malformed database with the versions pushed since
# gone.  It must be refused before anything is written there, and the
# server must go on as if nothing happened.  The same holds for a DIR that
# is the data directory of another server that is running.
source "$(dirname "$0")/lib.sh"

mkmodel() {
	mkdir -p "$1"
	head -c 3000 /dev/urandom >"$1/weights.bin"
}

step "a running server with a version"
start_server "$WORK/data"
mkmodel "$WORK/m1"
cli_ok push fraud "$WORK/m1"
before=$(ls -a "$DATA" | sort)
ino=$(stat -c %i "$DATA/registry.db")

step "backup into the data directory is refused and writes nothing there"
for target in "$DATA" "$DATA/" "$DATA/blobs/.." "$WORK/../$(basename "$WORK")/data"; do
	cli backup "$target" --data "$DATA"
	expect_rc 1 "backup into the data directory ($target)"
	assert_contains "$ERR" "data directory" "backup into the data directory ($target): message"
	assert_eq "$(stat -c %i "$DATA/registry.db")" "$ino" "registry.db was replaced by backup into $target"
	assert_eq "$(ls -a "$DATA" | sort)" "$before" "backup into $target changed the data directory"
done
ln -s "$DATA" "$WORK/link-to-data"
cli backup "$WORK/link-to-data" --data "$DATA"
expect_rc 1 "backup into a link to the data directory"
assert_eq "$(ls -a "$DATA" | sort)" "$before" "backup into a link to the data directory changed it"

step "backup into a folder inside the data directory is refused, also a new one"
for target in "$DATA/backup" "$DATA/blobs" "$DATA/blobs/sha256/newfolder"; do
	had=no
	[ -e "$target" ] && had=yes
	cli backup "$target" --data "$DATA"
	expect_rc 1 "backup inside the data directory ($target)"
	assert_contains "$ERR" "data directory" "backup inside the data directory ($target): message"
	[ "$had" = yes ] || [ ! -e "$target" ] || fail "backup inside the data directory created $target"
	[ ! -e "$target/backup.json" ] && [ ! -e "$target/registry.db" ] || fail "backup wrote into $target"
done
assert_eq "$(ls -a "$DATA" | sort)" "$before" "a refused backup changed the data directory"

step "the server goes on: more versions, a restart, nothing lost"
for i in $(seq 1 30); do
	mkmodel "$WORK/m2-$i"
	cli_ok push fraud "$WORK/m2-$i"
done
stop_server
start_server "$DATA"
cli_ok show fraud:31 --json
cli_ok audit verify
cli_ok fsck

step "backup into the data directory of another running server is refused"
DATA_A=$DATA PID_A=$PID URL_A=$URL TOKEN_A=$TOKEN SERVER_LOG_A=$SERVER_LOG
SERVER_LOG="$WORK/server-b.log"
start_server "$WORK/data-b"
DATA_B=$DATA PID_B=$PID
mkmodel "$WORK/mb"
cli_ok push other "$WORK/mb"
before_b=$(ls -a "$DATA_B" | sort)
ino_b=$(stat -c %i "$DATA_B/registry.db")
cli backup "$DATA_B" --data "$DATA_A"
expect_rc 6 "backup into a running server's data directory"
assert_contains "$ERR" "server is running" "backup into a running server's data directory: message"
assert_eq "$(stat -c %i "$DATA_B/registry.db")" "$ino_b" "backup replaced the other server's registry.db"
assert_eq "$(ls -a "$DATA_B" | sort)" "$before_b" "backup changed the other server's data directory"
cli_ok show other:1
stop_server
DATA=$DATA_A PID=$PID_A URL=$URL_A TOKEN=$TOKEN_A SERVER_LOG=$SERVER_LOG_A

step "a backup beside the data directory still works"
cli_ok backup "$WORK/bk" --data "$DATA" -q
[ -s "$WORK/bk/backup.json" ] || fail "backup beside the data directory wrote no backup.json"
stop_server

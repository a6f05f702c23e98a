#!/usr/bin/env bash
# t_digest_cache: push's local digest cache ($XDG_CACHE_HOME/mlreg/digests).
#   - the first push records every file's digest; a re-push of unchanged
#     files reads neither of them (checked with inotify: no open, no read)
#     and uploads 0 bytes;
#   - a file rewritten with the same size and its mtime put back with
#     `touch -d` is NOT served from the cache (its ctime moved): the new
#     content is uploaded and pulls back;
#   - a corrupt, truncated or tampered cache file is ignored (never fatal,
#     never trusted) and rewritten;
#   - --no-cache and MLREG_NO_DIGEST_CACHE=1 neither read nor write it;
#   - the cache keeps the 100,000 most recently used entries.
source "$(dirname "$0")/lib.sh"

BIG=$((48 * 1024 * 1024)) # past the 32 MiB session threshold
CACHE=$XDG_CACHE_HOME/mlreg/digests
start_server "$WORK/data"

M=$WORK/model
mkdir -p "$M"
rand_file "$M/weights.bin" "$BIG"
printf '{"lr":0.1}\n' >"$M/config.json"
TOTAL=$((BIG + $(stat -c %s "$M/config.json")))
# An entry is only recorded once the file's ctime lies before the moment
# hashing starts (by the timestamp granularity: up to 1 s on some
# filesystems); files written a moment ago are hashed again next time.
sleep 1.1

# watch_start FILE: count opens and reads of FILE (inotify, which unlike
# reading atime does not disturb the file's ctime).  watch_stop sets WATCHED.
_WATCH_PY='
import ctypes, os, select, signal, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
IN_ACCESS, IN_OPEN = 0x1, 0x20
fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
if fd < 0 or libc.inotify_add_watch(fd, sys.argv[1].encode(), IN_ACCESS | IN_OPEN) < 0:
    print("inotify failed: errno %d" % ctypes.get_errno(), flush=True); sys.exit(1)
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
print("ready", flush=True)
n = {"open": 0, "read": 0}
def drain():
    while True:
        try:
            buf = os.read(fd, 65536)
        except BlockingIOError:
            return
        off = 0
        while off < len(buf):
            _, mask, _, ln = struct.unpack_from("iIII", buf, off)
            n["open"] += bool(mask & IN_OPEN)
            n["read"] += bool(mask & IN_ACCESS)
            off += 16 + ln
while not stop:
    try:
        select.select([fd], [], [], 0.05)
    except InterruptedError:
        pass
    drain()
drain()
print("opens %d reads %d" % (n["open"], n["read"]), flush=True)
'
watch_start() {
	"${PY[@]}" -c "$_WATCH_PY" "$1" >"$WORK/watch.out" 2>&1 &
	WATCH_PID=$!
	track_bg "$WATCH_PID"
	local i
	for ((i = 0; i < 200; i++)); do
		grep -q '^ready' "$WORK/watch.out" && return 0
		kill -0 "$WATCH_PID" 2>/dev/null || break
		sleep 0.05
	done
	fail "inotify watcher did not start: $(cat "$WORK/watch.out")"
}
watch_stop() {
	kill -TERM "$WATCH_PID"
	wait "$WATCH_PID" || true
	WATCHED=$(tail -n 1 "$WORK/watch.out")
}
# version_digest_of REF PATH
version_digest_of() {
	cli_ok show "$1" --json
	jq_ '[f["digest"] for f in j["files"] if f["path"] == "'"$2"'"][0]' "$OUT"
}

step "the first push records both digests"
cli push cache "$M" --json
expect_rc 0 "push v1"
assert_contains "$ERR" "uploaded 2 of 2 files ($TOTAL of $TOTAL bytes)" "v1 upload line"
V1=$(jq_ 'j["digest"]' "$OUT")
[ -f "$CACHE" ] || fail "no digest cache at $CACHE after a push"
assert_eq "$(stat -c %a "$CACHE")" 600 "cache file mode"
assert_eq "$(head -n 1 "$CACHE")" "mlreg-digest-cache 1" "cache header"
assert_match "$(tail -n 1 "$CACHE")" '^end [0-9a-f]{64}$' "cache trailer"
WD=$(sha256_of "$M/weights.bin")
grep -q "^${WD#sha256:} " "$CACHE" || fail "weights digest not in the cache: $(cat "$CACHE")"
grep -q "^$(sha256sum "$M/config.json" | cut -c1-64) " "$CACHE" || fail "config digest not in the cache"

step "an unchanged re-push reads neither file and uploads nothing"
watch_start "$M/weights.bin"
cli push cache "$M" --json
watch_stop
expect_rc 0 "push v2"
assert_contains "$ERR" "uploaded 0 of 2 files (0 of $TOTAL bytes)" "v2 upload line"
assert_eq "$WATCHED" "opens 0 reads 0" "weights.bin must not be opened by a push with a warm cache"
assert_eq "$(jq_ 'j["digest"]' "$OUT")" "$V1" "v2 has v1's manifest"

step "same size, mtime put back with touch -d: the ctime moved, so no cache hit"
MT=$(stat -c %y "$M/weights.bin")
printf 'new head' | dd of="$M/weights.bin" bs=1 count=8 conv=notrunc status=none
touch -d "$MT" "$M/weights.bin"
assert_eq "$(stat -c '%s %y' "$M/weights.bin")" "$BIG $MT" "size and mtime restored"
WD3=$(sha256_of "$M/weights.bin")
assert_ne "$WD3" "$WD" "content changed"
cli push cache "$M" --json
expect_rc 0 "push v3"
assert_contains "$ERR" "uploaded 1 of 2 files ($BIG of $TOTAL bytes)" "v3 uploads the rewritten weights"
assert_eq "$(version_digest_of cache:3 weights.bin)" "$WD3" "v3 records the new content"
cli_ok pull cache:3 "$WORK/out3"
assert_file_eq "$WORK/out3/weights.bin" "$M/weights.bin" "v3 pulls back the new bytes"
grep -q "^${WD3#sha256:} " "$CACHE" || fail "the new digest was not recorded"
grep -q "^${WD#sha256:} " "$CACHE" && fail "the old digest of weights.bin is still in the cache"
sleep 1.1 # let the rewrite's ctime settle so the next pushes may use the cache

step "a corrupt, truncated or tampered cache is ignored and rewritten"
good=$(cat "$CACHE")
printf 'not a cache\n\000\001' >"$CACHE"
cli push cache "$M" --no-speculate --json
expect_rc 0 "push over a corrupt cache"
assert_contains "$ERR" "uploaded 0 of 2 files (0 of $TOTAL bytes)" "push over a corrupt cache"
assert_eq "$(head -n 1 "$CACHE")" "mlreg-digest-cache 1" "corrupt cache rewritten"
printf '%s\n' "$good" | head -n -1 >"$CACHE" # no trailer: torn
cli_ok push cache "$M" --no-speculate --json
assert_match "$(tail -n 1 "$CACHE")" '^end [0-9a-f]{64}$' "truncated cache rewritten whole"
# Swap in a well-formed but wrong digest for weights.bin: the trailer no
# longer matches, so the entry must not be believed.
CD=$(sha256sum "$M/config.json" | cut -c1-64)
sed "s/^${WD3#sha256:} /$CD /" "$CACHE" >"$CACHE.x" && mv "$CACHE.x" "$CACHE"
grep -q "^$CD .* $BIG " "$CACHE" || fail "tampering did not take"
cli_ok push cache "$M" --no-speculate --json
assert_eq "$(version_digest_of cache:"$(jq_ 'j["version"]' "$OUT")" weights.bin)" "$WD3" "tampered entry ignored"

step "--no-cache and MLREG_NO_DIGEST_CACHE=1 neither read nor write the cache"
watch_start "$M/weights.bin"
cli push cache "$M" --no-cache --no-speculate --json
watch_stop
expect_rc 0 "push --no-cache"
[[ "$WATCHED" =~ ^opens\ [1-9] ]] || fail "--no-cache did not hash weights.bin ($WATCHED)"
rm -f "$CACHE"
cli_ok push cache "$M" --no-cache --no-speculate --json
[ ! -e "$CACHE" ] || fail "--no-cache wrote a cache"
MLREG_NO_DIGEST_CACHE=1 cli push cache "$M" --no-speculate --json
expect_rc 0 "push with MLREG_NO_DIGEST_CACHE=1"
[ ! -e "$CACHE" ] || fail "MLREG_NO_DIGEST_CACHE=1 wrote a cache"
MLREG_NO_DIGEST_CACHE=0 cli push cache "$M" --no-speculate --json
expect_rc 0 "push with MLREG_NO_DIGEST_CACHE=0"
[ -e "$CACHE" ] || fail "MLREG_NO_DIGEST_CACHE=0 should leave the cache on"

step "at most 100000 entries are kept, the least recently used dropped"
# 100005 entries of a device that does not exist, used at times 1..100005.
"${PY[@]}" -c '
import hashlib, sys
lines = ["mlreg-digest-cache 1\n"]
for i in range(1, 100006):
    lines.append("%064x 1 %d 10 5 5 %d\n" % (i, i, i))
body = "".join(lines)
open(sys.argv[1], "w").write(body + "end %s\n" % hashlib.sha256(body.encode()).hexdigest())
' "$CACHE"
printf '{"lr":0.2}\n' >"$M/config.json" # a new entry for the config too
sleep 1.1
cli_ok push cache "$M" --json
N=$(grep -c '^[0-9a-f]\{64\} ' "$CACHE")
assert_eq "$N" 100000 "entries kept"
grep -q "^${WD3#sha256:} " "$CACHE" || fail "the weights entry (just used) was dropped"
grep -q "^$(sha256sum "$M/config.json" | cut -c1-64) " "$CACHE" || fail "the new config entry was dropped"
# our two files are the newest; 7 entries must go: the ones used at 1..7
for i in 1 7; do
	grep -q " 1 $i 10 5 5 $i\$" "$CACHE" && fail "entry used at $i should have been dropped"
done
grep -q " 1 8 10 5 5 8\$" "$CACHE" || fail "entry used at 8 should have been kept"
assert_match "$(tail -n 1 "$CACHE")" '^end [0-9a-f]{64}$' "trimmed cache trailer"

stop_server

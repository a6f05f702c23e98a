#!/usr/bin/env bash
# t_gc_race: gc must never leave a blob row without its bytes.
#
# Many orphan blobs age past the grace; then gc runs while a client keeps
# re-uploading those same blobs (as a push of an old, deleted model would).
# An upload the registry acknowledged (201) must stay readable: afterwards
# fsck is clean, every blob the client last got 201 for after gc started is
# there, and a version made of them pulls back.
#
# Regression test for: gc commits the deletion of the rows, then removes the
# files outside the writer lock; an upload of the same digest that lands in
# between records a row (201) whose file gc then deletes.
source "$(dirname "$0")/lib.sh"

N=${MLREG_IT_GC_RACE_BLOBS:-1500}
start_server "$WORK/data" --gc-grace 1s

# uploader MODE: "once" uploads N blobs; "loop" re-uploads them round-robin
# until the stop file appears and writes the digests it got 201 for.
uploader() {
	"${PY[@]}" - "$PORT" "$ADMIN" "$N" "$1" "$WORK/stop" "$WORK/acked" <<'EOF'
import hashlib, http.client, os, sys
port, tok, n, mode, stop, acked = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
H = {"Authorization": "Bearer " + tok, "Content-Type": "application/octet-stream"}
def body(i):
    return ("orphan blob number %d " % i).encode() * 4
def up(i):
    b = body(i)
    c.request("POST", "/api/v1/blobs", body=b, headers=H)
    r = c.getresponse(); r.read()
    if r.status != 201:
        sys.exit("upload %d: HTTP %d" % (i, r.status))
    return "sha256:" + hashlib.sha256(b).hexdigest(), len(b)
if mode == "once":
    for i in range(n):
        up(i)
else:
    got, k = {}, 0
    while not os.path.exists(stop):
        d, size = up(k % n)
        got[d] = size
        k += 1
    with open(acked, "w") as f:
        for d, size in sorted(got.items()):
            f.write("%s %d\n" % (d, size))
    print(k)
EOF
}

step "upload $N orphan blobs and let them age past the 1s grace"
uploader once
assert_eq "$(blob_count "$DATA")" "$N" "orphans stored"
sleep 1.5

step "gc while a client re-uploads the same blobs"
uploader loop >"$WORK/loop.out" 2>"$WORK/loop.err" &
LP=$!
track_bg $LP
sleep 0.2
cli_ok gc --json
GC=$OUT
touch "$WORK/stop"
wait "$LP" || fail "re-upload loop failed: $(cat "$WORK/loop.err")"
log "gc: $GC; re-uploads: $(cat "$WORK/loop.out")"
assert_json 'j["deleted_blobs"] >= 1' "$GC" "gc swept aged orphans"

step "no blob row without bytes"
cli fsck --json
[ "$RC" = 0 ] || fail "fsck after gc racing uploads (exit $RC): $OUT $ERR"
assert_json 'j["bad"] == []' "$OUT" "fsck after gc racing uploads"

step "every blob acknowledged during gc is there and usable"
NACK=$(wc -l <"$WORK/acked")
[ "$NACK" -ge 1 ] || fail "the re-upload loop got no 201 during gc"
FILES=$("${PY[@]}" -c '
import json, sys
files = []
for i, line in enumerate(open(sys.argv[1])):
    d, size = line.split()
    files.append({"path": "f%05d" % i, "size": int(size), "digest": d, "mode": 420})
print(json.dumps({"files": files}))
' "$WORK/acked")
while read -r d size; do
	[ -f "$(blob_path "$DATA" "$d")" ] || fail "blob $d was acknowledged (201) during gc but its file is gone"
done <"$WORK/acked"
http POST /api/v1/models/survivor/versions -H 'Content-Type: application/json' --data-binary "$FILES"
expect_code 201 "a version of the acknowledged blobs"
cli_ok pull survivor:1 "$WORK/pulled"
assert_eq "$(find "$WORK/pulled" -type f | wc -l)" "$NACK" "files pulled"
verify_blob_store "$DATA" >/dev/null
cli_ok audit verify
stop_server

#!/usr/bin/env bash
# t_resume: resumable uploads (/api/v1/uploads) across a dropped connection,
# driven with curl: a rate-limited PATCH of a multi-MB body is killed
# mid-way; GET tells the offset that arrived; a chunk that leaves a gap gets
# 416 (with the Range to resume from); the rest PATCHed with Content-Range
# and a PUT ?digest finish with 201 and the right digest; the blob reads back
# byte for byte and a CLI push of the same file uploads nothing.  A wrong
# final digest gets 400 integrity and stores nothing.  Also: final chunk in
# the PUT body, DELETE of a session, sessions surviving a server restart, and
# the --upload-ttl sweep.
source "$(dirname "$0")/lib.sh"

SIZE=$((6 * 1024 * 1024))
start_server "$WORK/data"
rand_file "$WORK/big.bin" "$SIZE"
BIGD=$(sha256_of "$WORK/big.bin")

# new_session: POST /uploads; sets SID.
new_session() {
	http POST /api/v1/uploads -D "$WORK/hdr"
	expect_code 202 "POST /api/v1/uploads"
	SID=$(jq_ 'j["id"]' "$BODY")
	assert_json 'j["offset"] == 0' "$BODY" "new session offset"
	assert_match "$SID" '^[A-Za-z0-9_-]{8,}$' "session id"
	grep -qi "^location: /api/v1/uploads/$SID" "$WORK/hdr" || fail "Location header missing: $(cat "$WORK/hdr")"
}
# offset_of SID: GET the session; sets OFF (and checks the Range header).
offset_of() {
	http GET "/api/v1/uploads/$1" -D "$WORK/hdr"
	expect_code 200 "GET /api/v1/uploads/$1"
	OFF=$(jq_ 'j["offset"]' "$BODY")
	if [ "$OFF" -gt 0 ]; then
		grep -qi "^range: 0-$((OFF - 1))" "$WORK/hdr" || fail "GET upload: Range header should be 0-$((OFF - 1)): $(cat "$WORK/hdr")"
	fi
}

# ---------------------------------------------------------------- drop
step "PATCH a ${SIZE}-byte body at 1 MB/s and kill curl mid-way"
new_session
curl -s -o /dev/null -X PATCH -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/octet-stream' \
	--limit-rate 1M --data-binary @"$WORK/big.bin" "$URL/api/v1/uploads/$SID" &
CP=$!
track_bg $CP
sleep 2
kill -9 "$CP" 2>/dev/null || fail "curl finished before it could be killed"
wait "$CP" 2>/dev/null || true

# The server may still be writing what arrived: wait until the offset settles.
prev=-1
for ((i = 0; i < 100; i++)); do
	http GET "/api/v1/uploads/$SID"
	if [ "$CODE" = 200 ]; then
		OFF=$(jq_ 'j["offset"]' "$BODY")
		[ "$OFF" = "$prev" ] && break
		prev=$OFF
	fi
	sleep 0.2
done
offset_of "$SID"
log "offset after the drop: $OFF of $SIZE"
[ "$OFF" -gt 0 ] || fail "no byte of the dropped PATCH was kept (offset 0)"
[ "$OFF" -lt "$SIZE" ] || fail "the dropped PATCH delivered everything (offset $OFF): the drop was not mid-way"

step "the session survives a server restart"
# (That the kept bytes are exactly the first $OFF is checked by the digest.)
stop_server
start_server "$WORK/data"
offset_of "$SID"
log "offset after a server restart: $OFF"
[ "$OFF" -gt 0 ] || fail "session lost its bytes across a restart"

step "a chunk that leaves a gap gets 416 with the Range to resume from"
head -c 1000 "$WORK/big.bin" >"$WORK/chunk"
http PATCH "/api/v1/uploads/$SID" -D "$WORK/hdr" -H "Content-Range: bytes $((OFF + 10))-$((OFF + 1009))" --data-binary @"$WORK/chunk"
expect_code 416 "PATCH with a gap"
assert_json 'j["error"]["code"] == "range"' "$BODY" "416 error code"
grep -qi "^range: 0-$((OFF - 1))" "$WORK/hdr" || fail "416 answer lacks 'Range: 0-$((OFF - 1))': $(cat "$WORK/hdr")"
http PATCH "/api/v1/uploads/$SID" -H "Content-Range: bytes 0-999" --data-binary @"$WORK/chunk"
expect_code 416 "PATCH that rewinds to 0"
OLD=$OFF
offset_of "$SID"
assert_eq "$OFF" "$OLD" "offset unchanged by refused chunks"

step "PATCH the rest with Content-Range and PUT ?digest"
tail -c +$((OFF + 1)) "$WORK/big.bin" >"$WORK/rest"
http PATCH "/api/v1/uploads/$SID" -H "Content-Range: bytes $OFF-$((SIZE - 1))" \
	-H 'Content-Type: application/octet-stream' --data-binary @"$WORK/rest"
expect_code 202 "PATCH the rest"
assert_json 'j["offset"] == '"$SIZE" "$BODY" "offset after the rest"
http PUT "/api/v1/uploads/$SID?digest=$BIGD"
expect_code 201 "PUT ?digest"
assert_json 'j["digest"] == "'"$BIGD"'" and j["size"] == '"$SIZE" "$BODY" "PUT answer"
http GET "/api/v1/uploads/$SID"
expect_code 404 "a finished session is gone"

step "the blob reads back byte for byte; a push of the file uploads nothing"
http HEAD "/api/v1/blobs/$BIGD" -I
expect_code 200 "HEAD blob"
http GET "/api/v1/blobs/$BIGD"
expect_code 200 "GET blob"
assert_file_eq "$BODY_FILE" "$WORK/big.bin" "resumed blob content"
assert_file_eq "$(blob_path "$DATA" "$BIGD")" "$WORK/big.bin" "blob on disk"
mkdir -p "$WORK/m"
cp "$WORK/big.bin" "$WORK/m/big.bin"
cli_ok push resumed "$WORK/m" --json
assert_contains "$ERR" "uploaded 0 of 1 files (0 of $SIZE bytes)" "push after the resumed upload sends nothing"

# ---------------------------------------------------------------- integrity
step "a wrong final digest gets 400 integrity and stores nothing"
rand_file "$WORK/other.bin" 3000000
OTHERD=$(sha256_of "$WORK/other.bin")
NB=$(blob_count "$DATA")
new_session
http PATCH "/api/v1/uploads/$SID" --data-binary @"$WORK/other.bin"
expect_code 202 "PATCH other"
WRONG="sha256:$(printf 'not it' | sha256sum | cut -d' ' -f1)"
http PUT "/api/v1/uploads/$SID?digest=$WRONG"
expect_code 400 "PUT with a wrong digest"
assert_json 'j["error"]["code"] == "integrity"' "$BODY" "error code integrity"
http HEAD "/api/v1/blobs/$OTHERD" -I
expect_code 404 "blob of the wrong-digest upload"
http HEAD "/api/v1/blobs/$WRONG" -I
expect_code 404 "blob under the claimed digest"
assert_eq "$(blob_count "$DATA")" "$NB" "blob count after the refused upload"
http GET "/api/v1/uploads/$SID"
expect_code 404 "the session is discarded after an integrity failure"
http PUT "/api/v1/uploads/$SID?digest=$OTHERD"
expect_code 404 "PUT on a discarded session"

step "malformed digests on PUT are refused"
new_session
http PATCH "/api/v1/uploads/$SID" --data-binary @"$WORK/other.bin"
expect_code 202 "PATCH"
for bad in "sha256:abc" "md5:$(printf x | md5sum | cut -d' ' -f1)" "sha256:${OTHERD#sha256:}00" "SHA256:${OTHERD#sha256:}"; do
	http PUT "/api/v1/uploads/$SID?digest=$bad"
	[ "$CODE" = 400 ] || fail "PUT ?digest=$bad: expected 400, got $CODE ($BODY)"
done
http PUT "/api/v1/uploads/$SID"
[ "$CODE" = 400 ] || fail "PUT without ?digest: expected 400, got $CODE ($BODY)"

# ---------------------------------------------------------------- final chunk in PUT
step "final chunk in the PUT body"
new_session
head -c 1000000 "$WORK/other.bin" >"$WORK/part1"
tail -c +1000001 "$WORK/other.bin" >"$WORK/part2"
http PATCH "/api/v1/uploads/$SID" -H "Content-Range: 0-999999" --data-binary @"$WORK/part1"
expect_code 202 "PATCH part 1 (Content-Range without 'bytes ')"
assert_json 'j["offset"] == 1000000' "$BODY" "offset after part 1"
http PUT "/api/v1/uploads/$SID?digest=$OTHERD" --data-binary @"$WORK/part2"
expect_code 201 "PUT with the final chunk"
assert_json 'j["digest"] == "'"$OTHERD"'" and j["size"] == 3000000' "$BODY" "PUT answer"
assert_file_eq "$(blob_path "$DATA" "$OTHERD")" "$WORK/other.bin" "blob assembled from PATCH + PUT"

step "DELETE a session"
new_session
http PATCH "/api/v1/uploads/$SID" --data-binary @"$WORK/part1"
expect_code 202 "PATCH"
http DELETE "/api/v1/uploads/$SID"
expect_code 204 "DELETE session"
http GET "/api/v1/uploads/$SID"
expect_code 404 "GET deleted session"
http PATCH "/api/v1/uploads/$SID" --data-binary @"$WORK/part1"
expect_code 404 "PATCH deleted session"
http GET "/api/v1/uploads/0123456789abcdef0123456789abcdef"
expect_code 404 "GET unknown session"

# ---------------------------------------------------------------- stale request
# Regression: a client that sends a full buffer of body and then closes can
# leave its request open on the server (libmicrohttpd misses the FIN until
# the idle timeout).  Resuming must not wait for that: the newest claim takes
# the session over, and the finished blob is exactly the client's bytes.
step "a resume is not blocked by a request the server still holds open"
new_session
rand_file "$WORK/stale1" 10485760
rand_file "$WORK/stale2" 4096
cat "$WORK/stale1" "$WORK/stale2" >"$WORK/stale_whole"
aborted_before=$(metric 'mlreg_http_requests_total{route="/api/v1/uploads/{id}",method="PATCH",status="499"}')
python3 - "$PORT" "$ADMIN" "$SID" "$WORK/stale1" <<'PY'
import socket, sys
port, token, sid, path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
s = socket.create_connection(("127.0.0.1", port))
s.sendall(("PATCH /api/v1/uploads/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
           "Content-Length: 50000000\r\n\r\n" % (sid, token)).encode())
s.sendall(open(path, "rb").read())
s.close()
PY
off=""
for _ in $(seq 50); do
	http GET "/api/v1/uploads/$SID"
	off=$(jq_ 'j["offset"]' "$BODY")
	[ "$off" = 10485760 ] && break
	sleep 0.1
done
assert_eq "$off" 10485760 "offset after the abandoned PATCH"
# the server must notice the client is gone at once, not at the idle timeout
aborted=""
for _ in $(seq 30); do
	aborted=$(metric 'mlreg_http_requests_total{route="/api/v1/uploads/{id}",method="PATCH",status="499"}')
	[ "$aborted" -gt "$aborted_before" ] && break
	sleep 0.1
done
assert_gt "$aborted" "$aborted_before" "the abandoned PATCH is seen as aborted within 3 s"
http PATCH "/api/v1/uploads/$SID" -H "Content-Range: bytes 10485760-10489855" --data-binary @"$WORK/stale2"
expect_code 202 "resuming PATCH while the stale request is still open"
want="sha256:$(sha256sum "$WORK/stale_whole" | cut -d' ' -f1)"
http PUT "/api/v1/uploads/$SID?digest=$want"
expect_code 201 "finish after takeover"
assert_json "j['digest'] == '$want'" "$BODY" "digest of the taken-over session"

# ---------------------------------------------------------------- ttl sweep
step "--upload-ttl: idle sessions are swept"
stop_server
start_server "$WORK/data" --upload-ttl 1s
new_session
http PATCH "/api/v1/uploads/$SID" --data-binary @"$WORK/part1"
expect_code 202 "PATCH"
sleep 2
cli_ok gc --json
assert_json 'j["swept_uploads"] >= 1' "$OUT" "gc sweeps idle upload sessions"
http GET "/api/v1/uploads/$SID"
expect_code 404 "swept session"
[ -z "$(ls -A "$DATA/uploads")" ] || fail "uploads/ not empty after the sweep: $(ls -A "$DATA/uploads")"

cli_ok fsck --json
assert_json 'j["bad"] == []' "$OUT" "fsck"
verify_blob_store "$DATA" >/dev/null
cli_ok audit verify
stop_server

#!/usr/bin/env bash
# t_limits: every transport limit of docs/security.md "Limits" is hit, and
# the server (and mlreg-node) keeps serving afterwards.
#   bodies: --max-json (413, also chunked), --max-blob (413 before reading
#     for a declared length, monolithic and session chunks; a chunked body is
#     cut when it passes, nothing stored; exactly the limit is fine);
#   JSON nested 10,000 deep -> 400; a 64 KiB header -> 431 or closed;
#   --request-timeout: headers sent a byte at a time and a slow JSON body are
#     cut; a blob body that streams steadily past the deadline is not;
#   --max-conns: the connection past the limit is not served while the held
#     ones still answer, and service recovers; --max-conns-per-ip: the extra
#     connection is closed at once;
#   mlreg-node: --max-body, depth, --request-timeout, --max-conns-per-ip.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/node_lib.sh"

LC=("$SYSPY" "$(dirname "$0")/limits_client.py")
hex() { printf '%b' "$1" | od -An -v -tx1 | tr -d ' \n'; }
healthy() { # WHAT
	[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$URL/healthz" || true)" = 200 ] ||
		fail "server not healthy after $1"
	kill -0 "$PID" 2>/dev/null || fail "server died after $1"
}

start_server "$WORK/data" --max-json 4096 --max-blob 10000 --request-timeout 1s --idle-timeout 30s
mkdir -p "$WORK/m"
printf 'w\n' >"$WORK/m/w.bin"
cli_ok push base "$WORK/m"
NBLOBS=$(blob_count "$DATA")

step "JSON bodies: --max-json"
head -c 5000 /dev/zero | tr '\0' ' ' >"$WORK/big.json"
printf '{}' >>"$WORK/big.json"
http POST /api/v1/models/base/versions --data-binary @"$WORK/big.json" -H 'Content-Type: application/json'
expect_code 413 "JSON body past --max-json"
http POST /api/v1/models/base/versions --data-binary @"$WORK/big.json" -H 'Transfer-Encoding: chunked'
expect_code 413 "chunked JSON body past --max-json"
healthy "--max-json"

step "JSON nesting 10,000 deep"
"$SYSPY" -c 'print("[" * 10000 + "]" * 10000)' >"$WORK/deep.json"
# the 20,000-byte body needs a server whose --max-json admits it
stop_server
start_server "$WORK/data" --max-json 65536 --max-blob 10000 --request-timeout 1s --idle-timeout 30s
for path in /api/v1/tokens /api/v1/models/base/versions /api/v1/webhooks /api/v1/deployments /api/v1/blobs/"$(sha256_of "$WORK/m/w.bin")"/url; do
	http POST "$path" --data-binary @"$WORK/deep.json" -H 'Content-Type: application/json'
	expect_code 400 "10,000-deep JSON to $path"
	assert_contains "$BODY" "nested deeper" "depth refusal names the nesting ($path)"
done
healthy "deep JSON"

step "blob bodies: --max-blob"
head -c 10000 /dev/urandom >"$WORK/exact.bin"
head -c 10001 /dev/urandom >"$WORK/over.bin"
http POST "/api/v1/blobs?digest=$(sha256_of "$WORK/over.bin")" --data-binary @"$WORK/over.bin"
expect_code 413 "declared blob past --max-blob"
assert_contains "$BODY" "max-blob" "413 names the flag"
CODE=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 -X POST -H "Authorization: Bearer $TOKEN" \
	-H 'Transfer-Encoding: chunked' --data-binary @"$WORK/over.bin" "$URL/api/v1/blobs") || true
[ "$CODE" = 201 ] && fail "chunked blob past --max-blob was stored"
assert_eq "$(blob_count "$DATA")" "$NBLOBS" "blob count after the cut chunked body"
http POST "/api/v1/blobs?digest=$(sha256_of "$WORK/exact.bin")" --data-binary @"$WORK/exact.bin"
expect_code 201 "blob of exactly --max-blob"
NBLOBS=$((NBLOBS + 1))
healthy "--max-blob"

step "upload sessions: --max-blob across chunks"
http POST /api/v1/uploads
expect_code 202 "open a session"
SID=$(jq_ 'j["id"]' "$BODY")
head -c 6000 "$WORK/over.bin" >"$WORK/c1"
tail -c +6001 "$WORK/over.bin" >"$WORK/c2"
http PATCH "/api/v1/uploads/$SID" --data-binary @"$WORK/c1"
expect_code 202 "first chunk"
http PATCH "/api/v1/uploads/$SID" --data-binary @"$WORK/c2"
expect_code 413 "second chunk passes --max-blob"
http PUT "/api/v1/uploads/$SID?digest=$(sha256_of "$WORK/over.bin")" --data-binary @"$WORK/c2"
expect_code 413 "finishing chunk passes --max-blob"
CODE=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 -X PATCH -H "Authorization: Bearer $TOKEN" \
	-H 'Transfer-Encoding: chunked' --data-binary @"$WORK/c2" "$URL/api/v1/uploads/$SID") || true
[ "$CODE" = 202 ] && fail "chunked session chunk past --max-blob was accepted"
http GET "/api/v1/uploads/$SID"
expect_code 200 "session status"
assert_gt 10001 "$(jq_ 'j["offset"]' "$BODY")" "session stays within --max-blob"
assert_eq "$(blob_count "$DATA")" "$NBLOBS" "no blob from the refused session"
healthy "session limits"

step "headers: 64 KiB"
R=$("${LC[@]}" header "$PORT" 65536)
assert_json 'j["status"] == 431 or (j["status"] is None and j["closed"])' "$R" "64 KiB header"
healthy "64 KiB header"

step "--request-timeout: slow headers are cut"
REQ=$(hex 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n')
"${LC[@]}" slow "$PORT" 0.2 "$REQ" >"$WORK/slow.json" &
SLOWPID=$!
# others are served meanwhile
sleep 0.3
healthy "during a slow sender"
wait "$SLOWPID" || fail "slow client failed"
R=$(cat "$WORK/slow.json")
assert_json 'j["cut"] and j["status"] is None and j["after"] < 4' "$R" "slow headers cut within the deadline"
assert_eq "$(metric mlreg_http_request_timeouts_total)" 1 "the cut is counted"
healthy "slow headers"

step "--request-timeout: a slow JSON body is cut"
BODYJ='{"name":"slow","role":"reader"}'$(printf '%600s' '')
REQ=$(hex "POST /api/v1/tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $TOKEN\r\nContent-Type: application/json\r\nContent-Length: ${#BODYJ}\r\n\r\n")
REQ=$REQ$(hex "$BODYJ")
R=$("${LC[@]}" slow "$PORT" 0.5 "$REQ" 170) # headers at once, the body over 2s
assert_json 'j["cut"] and j["status"] is None' "$R" "slow JSON body cut"
cli_ok token ls --json
assert_json 'not any(t["name"] == "slow" for t in j["tokens"])' "$OUT" "no token from the cut request"
healthy "slow JSON body"

step "--request-timeout: a steady blob body may take longer"
head -c 3000 /dev/urandom >"$WORK/steady.bin"
REQ=$(hex "POST /api/v1/blobs?digest=$(sha256_of "$WORK/steady.bin") HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $TOKEN\r\nContent-Length: 3000\r\n\r\n")
REQ=$REQ$(od -An -v -tx1 "$WORK/steady.bin" | tr -d ' \n')
R=$("${LC[@]}" slow "$PORT" 0.5 "$REQ" 1000)
assert_json 'not j["cut"] and j["status"] == 201 and j["after"] > 1' "$R" "steady blob upload past the deadline"
healthy "steady blob"

step "--max-conns"
stop_server
start_server "$WORK/data" --threads 1 --max-conns 4 --max-conns-per-ip 0 --request-timeout 20s
R=$("${LC[@]}" conns "$PORT" 4 /healthz)
assert_json 'j["held"] == [200] * 4' "$R" "4 connections served"
assert_json 'j["extra"]["status"] is None' "$R" "the 5th connection is not served"
assert_json 'j["first_again"] == 200' "$R" "held connections still answer"
assert_json 'j["after"] == 200' "$R" "service recovers"
healthy "--max-conns"

step "--max-conns-per-ip"
stop_server
start_server "$WORK/data" --max-conns-per-ip 3 --request-timeout 20s
R=$("${LC[@]}" conns "$PORT" 3 /healthz)
assert_json 'j["held"] == [200] * 3' "$R" "3 connections from one address"
assert_json 'j["extra"]["status"] is None and j["extra"]["closed"]' "$R" "the 4th is closed"
assert_json 'j["first_again"] == 200 and j["after"] == 200' "$R" "the others answer, service recovers"
healthy "--max-conns-per-ip"

step "flag checks"
cli server --max-conns 0
expect_rc 2 "--max-conns 0"
cli server --max-conns 1 --threads 2
expect_rc 2 "--max-conns below --threads"
cli server --request-timeout 0
expect_rc 2 "--request-timeout 0"
cli server --max-blob 0
expect_rc 2 "--max-blob 0"

step "mlreg-node"
start_node "$WORK/ncache" --max-body 4096 --request-timeout 1s --max-conns-per-ip 2 --idle-timeout 30s
nhttp POST /v2/models/x/infer --data-binary @"$WORK/big.json" -H 'Content-Type: application/json'
expect_code 413 "node --max-body"
head -c 3000 "$WORK/deep.json" >/dev/null
"$SYSPY" -c 'print("[" * 1500 + "]" * 1500)' >"$WORK/deep-small.json"
nhttp POST /v2/repository/index --data-binary @"$WORK/deep-small.json"
expect_code 400 "node: 1,500-deep JSON"
NPORT=${NURL##*:}
R=$("${LC[@]}" slow "$NPORT" 0.2 "$(hex 'GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n')")
assert_json 'j["cut"] and j["status"] is None' "$R" "node: slow headers cut"
R=$("${LC[@]}" conns "$NPORT" 2 /v2/health/live)
assert_json 'j["held"] == [200, 200] and j["extra"]["status"] is None and j["first_again"] == 200 and j["after"] == 200' \
	"$R" "node --max-conns-per-ip"
nhttp GET /v2/health/live
expect_code 200 "node healthy"
stop_node

stop_server

#!/usr/bin/env bash
# t_hostile: bad input gets a clear error and stores nothing.
#   blobs: wrong digest (400 integrity), malformed digest (400), a body cut
#     short of its Content-Length (nothing stored, no temp left, server fine),
#     a stalled body (closed after --idle-timeout, others served meanwhile);
#   JSON: malformed (400), past --max-json (413, also chunked), nested deeper
#     than 32 (400);
#   unknown model/version/route (404), wrong method (405), huge headers (431),
#     unsatisfiable Range (416);
#   manifests: '..', absolute, '.', empty parts, trailing '/', NUL, file and
#     folder at once, duplicates, bad digests, wrong sizes, bad modes,
#     no files -> 400 and no version;
#   model names: uppercase, 'a//b', '../x', trailing '/', bad escapes -> 400
#     and no model;
#   missing blobs -> 400 blob_unknown with the exact `missing` list;
#   the CLI: bad REFs, names, flags and values -> exit 2; unknown things -> 5.
# Afterwards nothing was created: same versions, same models, same blob
# count, audit chain ok, fsck clean, the server stops cleanly.
source "$(dirname "$0")/lib.sh"

MAXJ=4096
start_server "$WORK/data" --max-json "$MAXJ" --idle-timeout 2s

# ---------------------------------------------------------------- baseline
step "baseline version"
mkdir -p "$WORK/m"
printf 'weights\n' >"$WORK/m/w.bin"
cli_ok push base "$WORK/m" --json
GOOD_D=$(sha256_of "$WORK/m/w.bin")
GOOD_S=$(stat -c %s "$WORK/m/w.bin")
NBLOBS=$(blob_count "$DATA")
cli_ok audit --json
NAUDIT=$(jq_ 'len(j["entries"])' "$OUT")

# Models and versions that exist right now, as one line.
state() {
	TOKEN=$ADMIN cli ls --json
	[ "$RC" = 0 ] || fail "ls failed: $ERR"
	jq_ '" ".join("%s:%s" % (m["name"], m["latest_version"]) for m in sorted(j["models"], key=lambda m: m["name"]))' "$OUT"
}
STATE=$(state)
assert_eq "$STATE" "base:1" "baseline state"

# expect_error STATUS CODE WHAT: the last http answer has this status and
# a well-formed error object with this code and a message.
expect_error() {
	expect_code "$1" "$3"
	assert_json 'isinstance(j["error"], dict) and j["error"]["code"] == "'"$2"'" and len(j["error"]["message"]) > 0' "$BODY" "$3: error object"
}

# ---------------------------------------------------------------- blobs
step "POST /blobs with a wrong digest"
rand_file "$WORK/x.bin" 100000
XD=$(sha256_of "$WORK/x.bin")
WRONG="sha256:$(printf 'other' | sha256sum | cut -d' ' -f1)"
http POST "/api/v1/blobs?digest=$WRONG" --data-binary @"$WORK/x.bin"
expect_error 400 integrity "POST /blobs with a wrong digest"
http HEAD "/api/v1/blobs/$XD" -I
expect_code 404 "the wrong-digest bytes are not stored"
http HEAD "/api/v1/blobs/$WRONG" -I
expect_code 404 "nothing under the claimed digest"
for bad in "sha256:1234" "sha512:${XD#sha256:}" "${XD#sha256:}" "sha256:${XD#sha256:}Z"; do
	http POST "/api/v1/blobs?digest=$bad" --data-binary @"$WORK/x.bin"
	expect_error 400 invalid "POST /blobs?digest=$bad"
done
http GET "/api/v1/blobs/sha256:xyz"
[ "$CODE" = 400 ] || [ "$CODE" = 404 ] || fail "GET /blobs/sha256:xyz: expected 400 or 404, got $CODE"
assert_eq "$(blob_count "$DATA")" "$NBLOBS" "blob count after refused blobs"

# raw_post PATH CONTENT_LENGTH SEND_BYTES HOLD_SECONDS: send a request whose
# body stops after SEND_BYTES, keep the socket HOLD_SECONDS, then close it.
# Prints what the server answered (may be nothing).
raw_post() {
	"${PY[@]}" - "$PORT" "$1" "$2" "$3" "$4" "$TOKEN" <<'EOF'
import socket, sys, time
port, path, clen, send, hold, tok = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
s = socket.create_connection(("127.0.0.1", port), timeout=30)
hdr = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
       "Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % (path, tok, clen))
s.sendall(hdr.encode() + bytes((i * 7 + 3) & 0xFF for i in range(send)))
s.settimeout(max(hold, 0.1))
got = b""
t0 = time.time()
try:
    while time.time() - t0 < hold:
        b = s.recv(65536)
        if not b:
            break
        got += b
except (socket.timeout, ConnectionResetError):
    pass
s.close()
sys.stdout.write(got.decode("latin-1"))
EOF
}
uploads_empty() { # wait until DATA/uploads holds no temporary
	local i
	for ((i = 0; i < 50; i++)); do
		[ -z "$(ls -A "$DATA/uploads")" ] && return 0
		sleep 0.1
	done
	fail "temporaries left in uploads/: $(ls -A "$DATA/uploads")"
}

step "a blob body cut short of its Content-Length"
raw_post /api/v1/blobs 1000000 300000 0.3 >/dev/null
CUT_D="sha256:$("${PY[@]}" -c 'import hashlib; print(hashlib.sha256(bytes((i*7+3)&0xFF for i in range(300000))).hexdigest())')"
uploads_empty
http HEAD "/api/v1/blobs/$CUT_D" -I
expect_code 404 "the partial body is not stored as a blob"
assert_eq "$(blob_count "$DATA")" "$NBLOBS" "blob count after a truncated body"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")" = 200 ] || fail "server unhealthy after a truncated body"

step "a stalled body is closed after --idle-timeout; others are served meanwhile"
TS=$(date +%s%N)
raw_post /api/v1/blobs 1000000 1000 10 >"$WORK/stalled.out" &
RP=$!
track_bg $RP
sleep 0.5
T0=$(date +%s%N)
cli_ok show base:1 --json
T1=$(date +%s%N)
[ $(((T1 - T0) / 1000000)) -lt 1500 ] || fail "a stalled upload delayed another client by $(((T1 - T0) / 1000000))ms"
wait "$RP"
TE=$(date +%s%N)
log "the stalled connection ended after $(((TE - TS) / 1000000))ms (--idle-timeout 2s)"
[ $(((TE - TS) / 1000000)) -lt 8000 ] || fail "the server kept a stalled upload open $(((TE - TS) / 1000000))ms despite --idle-timeout 2s"
uploads_empty
assert_eq "$(blob_count "$DATA")" "$NBLOBS" "blob count after a stalled body"

step "a version body cut short"
raw_post /api/v1/models/base/versions 5000 100 0.3 >/dev/null
raw_post /api/v1/models/base/versions 5000000 100 0.3 >/dev/null
assert_eq "$(state)" "$STATE" "no version from truncated JSON"

# ---------------------------------------------------------------- JSON
VPATH=/api/v1/models/base/versions
post_json() { # PATH BODY
	http POST "$1" -H 'Content-Type: application/json' --data-binary "$2"
}
step "malformed JSON"
for body in '{"files":[' 'not json' '' '[]' '"files"' '{"files":"x"}' '{"files":[1]}' \
	'{"files":[{"path":"w.bin"}]}' '{"files":[],"x":' '{"files":[{"path":"w.bin","size":"8","digest":"'"$GOOD_D"'","mode":420}]}' \
	"{\"files\":[{\"path\":\"w.bin\",\"size\":$GOOD_S,\"digest\":\"$GOOD_D\",\"mode\":420}],\"metrics\":{\"a\":\"high\"}}" \
	"{\"files\":[{\"path\":\"w.bin\",\"size\":$GOOD_S,\"digest\":\"$GOOD_D\",\"mode\":420}]} trailing"; do
	post_json "$VPATH" "$body"
	expect_error 400 invalid "POST versions with body '$body'"
done
post_json /api/v1/models/base/versions/1/metrics '{"metrics":[{"key":"a","value":"x"}]}'
expect_error 400 invalid "metrics with a string value"
post_json /api/v1/tokens '{"name":'
expect_error 400 invalid "malformed token request"

step "JSON past --max-json ($MAXJ bytes) is 413"
BIGDESC=$(head -c 6000 /dev/zero | tr '\0' a)
BIGBODY="{\"files\":[{\"path\":\"w.bin\",\"size\":$GOOD_S,\"digest\":\"$GOOD_D\",\"mode\":420}],\"description\":\"$BIGDESC\"}"
post_json "$VPATH" "$BIGBODY"
expect_error 413 too_large "oversized JSON"
http POST "$VPATH" -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary "$BIGBODY"
expect_error 413 too_large "oversized chunked JSON"
# Just under the limit is fine.
OKDESC=$(head -c 3000 /dev/zero | tr '\0' b)
post_json "$VPATH" "{\"files\":[{\"path\":\"w.bin\",\"size\":$GOOD_S,\"digest\":\"$GOOD_D\",\"mode\":420}],\"description\":\"$OKDESC\"}"
expect_code 201 "JSON just under --max-json"
assert_json 'j["version"] == 2 and len(j["description"]) == 3000' "$BODY" "version 2 from a large-but-allowed body"
STATE=$(state)
assert_eq "$STATE" "base:2" "state after the allowed body"

step "deeply nested JSON is 400"
for depth in 33 200 2000; do
	post_json "$VPATH" "$(printf '%*s' "$depth" '' | tr ' ' '[')$(printf '%*s' "$depth" '' | tr ' ' ']')"
	expect_error 400 invalid "array nested $depth deep"
done
NEST="{\"files\":[{\"path\":\"w.bin\",\"size\":$GOOD_S,\"digest\":\"$GOOD_D\",\"mode\":420}],\"params\":$(printf '{"a":%.0s' $(seq 40))1$(printf '}%.0s' $(seq 40))}"
post_json "$VPATH" "$NEST"
expect_error 400 invalid "object nested 41 deep inside params"
assert_eq "$(state)" "$STATE" "no version from bad JSON"

# ---------------------------------------------------------------- 404 & co
step "unknown model, version, route; wrong method; huge headers; bad Range"
http GET /api/v1/models/nosuch
expect_error 404 not_found "unknown model"
http GET /api/v1/models/nosuch/versions/1
expect_error 404 not_found "version of an unknown model"
http GET /api/v1/models/base/versions/99
expect_error 404 not_found "unknown version"
http GET /api/v1/models/base/versions/99/manifest
expect_error 404 not_found "manifest of an unknown version"
http GET "/api/v1/blobs/sha256:$(printf nope | sha256sum | cut -d' ' -f1)"
expect_error 404 not_found "unknown blob"
http GET /api/v1/nothing/here
expect_error 404 not_found "unknown route"
http POST /api/v1/models/nosuch/versions/1/deprecate
expect_error 404 not_found "deprecate an unknown model"
http GET "/healthz" -H "X-Padding: $(head -c 20000 /dev/zero | tr '\0' p)"
expect_code 431 "20 KB of headers"
http GET "/api/v1/blobs/$GOOD_D" -H 'Range: bytes=100000-100010'
expect_error 416 range "unsatisfiable Range"
cr=$(curl -s -o /dev/null -D - -H "Authorization: Bearer $TOKEN" -H 'Range: bytes=100000-100010' "$URL/api/v1/blobs/$GOOD_D" |
	tr -d '\r' | sed -n 's/^Content-Range: //Ip')
assert_match "$cr" '^bytes \*/[0-9]+$' "416 names the blob's length in Content-Range"
http GET "/api/v1/blobs/$GOOD_D" -H 'Range: bytes=2-4'
expect_code 206 "satisfiable Range"
assert_eq "$BODY" "$(head -c 5 "$WORK/m/w.bin" | tail -c 3)" "Range bytes"

# ---------------------------------------------------------------- manifests
step "bad manifests are 400 and create no version"
f() { # PATH [SIZE] [DIGEST] [MODE] -> one file entry
	printf '{"path":"%s","size":%s,"digest":"%s","mode":%s}' "$1" "${2:-$GOOD_S}" "${3:-$GOOD_D}" "${4:-420}"
}
HEXU=$(echo "${GOOD_D#sha256:}" | tr a-f A-F)
BAD_MANIFESTS=(
	"[$(f ../x)]" "[$(f a/../../x)]" "[$(f /etc/passwd)]" "[$(f ./w.bin)]" "[$(f a/./b)]" "[$(f a//b)]"
	"[$(f '')]" "[$(f a/)]" "[$(f 'a\\u0000b')]" "[$(f ..)]" "[$(f .)]"
	"[$(f w.bin),$(f w.bin)]" "[$(f a),$(f a/b)]"
	"[$(f w.bin "$GOOD_S" "sha256:${GOOD_D:7:63}")]" "[$(f w.bin "$GOOD_S" "sha256:$HEXU")]"
	"[$(f w.bin "$GOOD_S" "${GOOD_D#sha256:}")]" "[$(f w.bin "$GOOD_S" "md5:d41d8cd98f00b204e9800998ecf8427e")]"
	"[$(f w.bin "$GOOD_S" "sha256:${GOOD_D#sha256:}0")]"
	"[$(f w.bin 999)]" "[$(f w.bin -1)]" "[$(f w.bin 1.5)]" "[$(f w.bin "$GOOD_S" "$GOOD_D" 511)]" "[$(f w.bin "$GOOD_S" "$GOOD_D" 0)]"
	"[]"
)
for files in "${BAD_MANIFESTS[@]}"; do
	post_json "$VPATH" "{\"files\":$files}"
	expect_error 400 invalid "manifest $files"
done
post_json /api/v1/models/fresh/versions "{\"files\":[$(f ../x)]}"
expect_error 400 invalid "bad manifest for a new model"
assert_eq "$(state)" "$STATE" "no version or model from bad manifests"
http GET /api/v1/models/fresh
expect_code 404 "a refused first push creates no model"

step "bad model names are 400 and create nothing"
GOODFILES="{\"files\":[$(f w.bin)]}"
for name in Upper a%2F%2Fb ..%2Fx %2E%2E%2Fx x%2F %2Fx -lead a..b 'a%20b' '%zz' 'caf%C3%A9' "$(head -c 300 /dev/zero | tr '\0' a)"; do
	post_json "/api/v1/models/$name/versions" "$GOODFILES"
	expect_error 400 invalid "model name '$name'"
done
post_json /api/v1/models '{"name":"Upper"}'
expect_error 400 invalid "POST /models with an uppercase name"
post_json /api/v1/models '{"name":"a//b"}'
expect_error 400 invalid "POST /models with 'a//b'"
post_json /api/v1/models '{"name":"../x"}'
expect_error 400 invalid "POST /models with '../x'"
assert_eq "$(state)" "$STATE" "no model from bad names"
[ -z "$(find "$WORK" -maxdepth 2 -name x -newer "$DATA/admin.token")" ] || fail "a file named x appeared near the data dir"

step "missing blobs: 400 blob_unknown with the missing list"
M1="sha256:$(printf 'missing one' | sha256sum | cut -d' ' -f1)"
M2="sha256:$(printf 'missing two' | sha256sum | cut -d' ' -f1)"
post_json "$VPATH" "{\"files\":[$(f w.bin),$(f a.bin 11 "$M1"),$(f b/c.bin 11 "$M2"),$(f d.bin 11 "$M1")]}"
expect_error 400 blob_unknown "manifest with missing blobs"
assert_json 'sorted(set(j["error"]["missing"])) == sorted(["'"$M1"'", "'"$M2"'"])' "$BODY" "missing list names the absent blobs"
MISSING_BODY=$BODY # duplicates are checked at the end
assert_eq "$(state)" "$STATE" "no version from missing blobs"

# ---------------------------------------------------------------- CLI
step "the CLI refuses bad REFs, names, flags and values with exit 2"
BAD_CLI=(
	"show base" "rm base:abc" "tag base:production k=v" "deprecate base@champion" "show base:0" "show base:-1" "show :1" "show Base:1" "show base:1:2"
	"show a//b:1" "show base:99999999999999999999999" "show base@sha256:abc" "pull base:1"
	"diff base:1" "diff base:1 nope" "push base" "push Base $WORK/m" "push ../x $WORK/m" "push a//b $WORK/m"
	"metrics log base:1 x" "metrics log base:1 x=abc" "metrics log base:1 x=1@-3" "metrics log base:1 x=1@1.5"
	"tag base:1" "tag base:1 =v" "token create x --role king" "frobnicate" "show base:1 --bogus"
	"search --limit 0" "search --limit 1001" "search --filter metrics.x>abc" "search --filter bogus"
	"rm base" "ls Base" "gc extra" "audit --since yesterday" "audit --limit -5"
)
for a in "${BAD_CLI[@]}"; do
	# shellcheck disable=SC2086
	cli $a
	expect_rc 2 "mlreg $a"
	assert_match "$ERR" '^mlreg: ' "mlreg $a: error message on stderr"
	assert_eq "$OUT" "" "mlreg $a: nothing on stdout"
done
# a well-formed stage ref is not a usage error: an unknown stage is not found
cli show base:abc
expect_rc 5 "show of an unknown stage"
assert_contains "$ERR" "unknown stage 'abc'" "the message names the stage"
cli --registry 'ftp://127.0.0.1:1' ls
expect_rc 2 "a registry URL that is not http(s)"
cli show nosuch:1
expect_rc 5 "show of an unknown model"
cli show base:99
expect_rc 5 "show of an unknown version"
cli pull base:99 "$WORK/p99"
expect_rc 5 "pull of an unknown version"
[ ! -e "$WORK/p99" ] || fail "failed pull created DEST"
cli diff base:1 nosuch:1
expect_rc 5 "diff with an unknown model"
cli deprecate base:99
expect_rc 5 "deprecate an unknown version"
cli rm base:99
expect_rc 5 "rm an unknown version"
cli metrics log base:99 a=1
expect_rc 5 "metrics log on an unknown version"
cli token revoke nobody
expect_rc 5 "revoke an unknown token"

step "a push with a symlink is refused before anything is uploaded"
mkdir -p "$WORK/sl"
printf 'real\n' >"$WORK/sl/real.txt"
rand_file "$WORK/sl/data.bin" 5000
ln -s /etc/passwd "$WORK/sl/link"
cli push base "$WORK/sl"
expect_rc 1 "push of a folder with a symlink (docs/cli.md: exit 1)"
assert_contains "$ERR" "link" "symlink refusal says why"
http HEAD "/api/v1/blobs/$(sha256_of "$WORK/sl/data.bin")" -I
expect_code 404 "no blob uploaded by the refused push"

# ---------------------------------------------------------------- aftermath
step "nothing was created; the chain and the store are intact"
assert_eq "$(state)" "$STATE" "models and versions after all the hostile input"
assert_eq "$(blob_count "$DATA")" "$NBLOBS" "blob count after all the hostile input"
cli_ok audit --json
# Exactly one audited change happened: the version 2 created on purpose.
assert_json 'len(j["entries"]) == '"$((NAUDIT + 1))" "$OUT" "audit entries: only the deliberate version 2"
cli_ok audit verify
cli_ok fsck --json
assert_json 'j["bad"] == []' "$OUT" "fsck"
verify_blob_store "$DATA" >/dev/null
uploads_empty
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")" = 200 ] || fail "server unhealthy at the end"

# Small contract points last, so that a deviation here does not hide the
# checks above.
step "blob_unknown lists each missing digest once"
assert_json 'len(j["error"]["missing"]) == len(set(j["error"]["missing"]))' "$MISSING_BODY" "no duplicates in error.missing (two files shared one missing blob)"

step "a push of a missing local path is a local file problem: exit 1"
cli push base "$WORK/does-not-exist"
expect_rc 1 "push of a missing path (docs/cli.md: 1 = local file problem; 5 = 404 from the registry)"

step "405 answers carry the documented error code"
http DELETE /healthz
expect_error 405 method "DELETE /healthz"
http PUT /api/v1/models
expect_error 405 method "PUT /api/v1/models"

# Found in review; the ASan run's leak check at stop_server covers the first.
step "paths with too many segments or a NUL are refused (and leak nothing)"
for _ in 1 2 3; do
	http GET /a/b/c/d/e/f/g/h/i/j/k/l/m/n/o
	expect_error 404 not_found "15-segment path"
done
http DELETE "/api/v1/tokens/bootstrap-admin%00x"
expect_error 404 not_found "a %00 in a path segment"
TOKEN=$ADMIN cli_ok token ls --json
assert_json 'any(t["name"] == "bootstrap-admin" and not t["revoked"] for t in j["tokens"])' "$OUT" "token not revoked via %00"

step "the Bearer scheme is case-insensitive"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: bearer $ADMIN" "$URL/api/v1/whoami")
assert_eq "$code" 200 "lowercase bearer"

step "a chunk whose Content-Range disagrees with its length is refused before a byte is kept"
http POST /api/v1/uploads
expect_code 202 "open session"
sid=$(jq_ 'j["id"]' "$BODY")
http PATCH "/api/v1/uploads/$sid" -H "Content-Range: bytes 0-99" --data-binary @"$WORK/m/w.bin"
expect_error 400 invalid "Content-Range 0-99 with a longer body"
http GET "/api/v1/uploads/$sid"
assert_json 'j["offset"] == 0' "$BODY" "nothing appended"
http DELETE "/api/v1/uploads/$sid"
expect_code 204 "drop session"

step "one Idempotency-Key on two models makes two versions"
body="{\"files\":[$(f w.bin)]}"
http POST /api/v1/models/idem-a/versions -H "Idempotency-Key: same-key" -d "$body"
expect_code 201 "push to idem-a"
http POST /api/v1/models/idem-b/versions -H "Idempotency-Key: same-key" -d "$body"
expect_code 409 "the same key on another model is another request (409, not idem-a's answer)"
stop_server

#!/usr/bin/env bash
# t_signed_url: signed blob URLs (docs/security.md, "Signed blob URLs").
#   minting: `mlreg blob-url DIGEST` and `REF:PATH`, --json, role reader and
#     node may, no token may not (401), ttl past --url-max-ttl refused, bad
#     ttl and digest refused, unknown blob 404;
#   serving: curl without a token gets the bytes (GET, HEAD, Range);
#   refusals, all 403 with one body whether or not the blob exists: expired,
#     any byte of sig/expires/digest altered, another digest's signature,
#     expires or sig alone, a zero-padded expires;
#   the key: DATA/url.key 0600 of 32 bytes, never in the log; replacing the
#     file invalidates every URL at once and new ones work.
source "$(dirname "$0")/lib.sh"

start_server "$WORK/data" --url-max-ttl 1h

step "key file"
[ -f "$DATA/url.key" ] || fail "no $DATA/url.key after first start"
assert_eq "$(stat -c %a "$DATA/url.key")" 600 "url.key mode"
assert_eq "$(stat -c %s "$DATA/url.key")" 32 "url.key size"

step "a version with two files"
mkdir -p "$WORK/m"
head -c 5000 /dev/urandom >"$WORK/m/w.bin"
printf 'other file\n' >"$WORK/m/o.txt"
cli_ok push sig "$WORK/m"
D=$(sha256_of "$WORK/m/w.bin")
D2=$(sha256_of "$WORK/m/o.txt")

# fetch URL [curl args]: no Authorization header at all; sets CODE BODY
fetch() {
	local u=$1
	shift
	CODE=$(curl -s -o "$BODY_FILE" -w '%{http_code}' --max-time 20 "$@" "$u") || true
	BODY=$(head -c 100000 "$BODY_FILE" | tr -d '\000' || true)
}

step "mint by digest, fetch without a token"
cli_ok blob-url "$D"
U=$OUT
assert_match "$U" "^$URL/api/v1/blobs/$D\\?expires=[0-9]+&sig=[0-9a-f]{64}\$" "printed URL"
fetch "$U"
expect_code 200 "signed GET"
assert_file_eq "$BODY_FILE" "$WORK/m/w.bin" "signed GET bytes"
fetch "$U" -I
expect_code 200 "signed HEAD"
CODE=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' -r 10-19 --max-time 20 "$U")
assert_eq "$CODE" "206 10" "signed Range GET"
cmp -s <(curl -s -r 10-19 "$U") <(tail -c +11 "$WORK/m/w.bin" | head -c 10) || fail "Range bytes differ"

step "mint by REF:PATH and --json"
cli_ok blob-url sig:1:o.txt --ttl 10m --json
assert_json 'j["digest"] == "'"$D2"'" and j["size"] == 11 and j["url"].startswith("'"$URL"'/api/v1/blobs/")' "$OUT" "json answer"
assert_json 'abs(j["expires"] - int(__import__("time").time()) - 600) <= 5' "$OUT" "ttl honoured"
U2=$(jq_ 'j["url"]' "$OUT")
fetch "$U2"
expect_code 200 "REF:PATH URL"
assert_eq "$BODY" "other file" "REF:PATH bytes"
cli blob-url sig:1:nope.bin
expect_rc 5 "REF:PATH of a missing file"
cli blob-url sig:9:w.bin
expect_rc 5 "REF:PATH of a missing version"

step "refused mints"
cli blob-url "$D" --ttl 2h
expect_rc 1 "ttl past --url-max-ttl"
assert_contains "$ERR" "url-max-ttl" "ttl refusal names the flag"
cli blob-url "$D" --ttl 0s
expect_rc 2 "zero ttl"
cli blob-url not-a-digest
expect_rc 2 "neither a digest nor REF:PATH"
cli blob-url "sha256:$(printf '%064d' 0)"
expect_rc 5 "unknown blob"
TOKEN="" http POST "/api/v1/blobs/$D/url" -d '{"ttl":"1m"}'
expect_code 401 "mint without a token"
http POST "/api/v1/blobs/$D/url" -d '{"ttl":5}'
expect_code 400 "numeric ttl"
http POST "/api/v1/blobs/$D/url" -d '[1]'
expect_code 400 "body not an object"
http POST "/api/v1/blobs/$D/url"
expect_code 200 "no body: default ttl"
assert_json 'abs(j["expires"] - int(__import__("time").time()) - 900) <= 5' "$BODY" "default ttl 15m"

step "reader and node roles may mint"
for role in reader node; do
	cli_ok token create "r-$role" --role "$role" --json
	TOKEN=$(jq_ 'j["token"]' "$OUT") cli blob-url "$D"
	expect_rc 0 "mint as $role"
	fetch "$OUT"
	expect_code 200 "URL minted by $role"
done
TOKEN=$ADMIN

step "refusals: one body, 403"
EXP=${U#*expires=}
EXP=${EXP%%&*}
SIG=${U##*sig=}
base="$URL/api/v1/blobs"
fetch "$base/$D?expires=$EXP&sig=$(printf '%064d' 0)"
expect_code 403 "wrong sig"
REF_BODY=$BODY
assert_contains "$REF_BODY" '"forbidden"' "403 body code"
# flip each of a few positions of sig, expires and the digest
for pos in 0 31 63; do
	c=${SIG:$pos:1}
	[ "$c" = a ] && n=b || n=a
	fetch "$base/$D?expires=$EXP&sig=${SIG:0:$pos}$n${SIG:$((pos + 1))}"
	expect_code 403 "sig byte $pos altered"
	assert_eq "$BODY" "$REF_BODY" "same body (sig $pos)"
done
fetch "$base/$D?expires=$((EXP + 1))&sig=$SIG"
expect_code 403 "expires altered"
assert_eq "$BODY" "$REF_BODY" "same body (expires)"
fetch "$base/$D?expires=0$EXP&sig=$SIG"
expect_code 403 "zero-padded expires"
fetch "$base/$D2?expires=$EXP&sig=$SIG"
expect_code 403 "another digest's signature"
assert_eq "$BODY" "$REF_BODY" "same body (other digest)"
MISSING="sha256:$(printf '%064d' 7)"
fetch "$base/$MISSING?expires=$EXP&sig=$SIG"
expect_code 403 "blob that does not exist"
assert_eq "$BODY" "$REF_BODY" "same body for a missing blob"
fetch "$base/$D?expires=$EXP"
expect_code 403 "expires without sig"
fetch "$base/$D?sig=$SIG"
expect_code 403 "sig without expires"
fetch "$base/$D?expires=$EXP&sig=${SIG^^}"
expect_code 403 "uppercase sig"
fetch "$base/$D"
expect_code 401 "no sig, no token"
# a token still works, and a bad signature beside it does not matter
http GET "/api/v1/blobs/$D?expires=1&sig=00"
expect_code 200 "token wins over a bad signature"

step "expiry"
cli_ok blob-url "$D" --ttl 1s --json
UE=$(jq_ 'j["url"]' "$OUT")
EE=$(jq_ 'j["expires"]' "$OUT")
while [ "$(date +%s)" -le "$EE" ]; do sleep 0.2; done
fetch "$UE"
expect_code 403 "expired URL"
assert_eq "$BODY" "$REF_BODY" "same body (expired)"

step "key rotation"
fetch "$U"
expect_code 200 "old URL before rotation"
head -c 32 /dev/urandom >"$DATA/url.key.new"
chmod 600 "$DATA/url.key.new"
mv "$DATA/url.key.new" "$DATA/url.key"
fetch "$U"
expect_code 403 "old URL after rotation"
fetch "$U2"
expect_code 403 "second old URL after rotation"
cli_ok blob-url "$D"
fetch "$OUT"
expect_code 200 "URL under the new key"

step "secrets stay out of the log"
grep -q "$SIG" "$SERVER_LOG" && fail "a signature reached the server log"
grep -qa "$(head -c 32 "$DATA/url.key" | od -An -tx1 | tr -d ' \n' | head -c 16)" "$SERVER_LOG" && fail "key bytes in the log"

step "healthy, clean stop; restart keeps the key"
KEYSUM=$(sha256sum "$DATA/url.key")
stop_server
start_server "$WORK/data"
assert_eq "$(sha256sum "$DATA/url.key")" "$KEYSUM" "key kept across restarts"
cli_ok blob-url "$D"
fetch "$OUT"
expect_code 200 "after restart"
stop_server

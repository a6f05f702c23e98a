#!/usr/bin/env bash
# t_dedupe: a new version that changes one small file beside a big unchanged
# one uploads only the small file.  Measured twice, independently: by the
# server (/metrics mlreg_http_bytes_received_total) and by the CLI's
# "uploaded N of M files (X of Y bytes)" line.
source "$(dirname "$0")/lib.sh"

BIG=$((20 * 1024 * 1024))
start_server "$WORK/data"

M=$WORK/model
mkdir -p "$M"
rand_file "$M/big.bin" "$BIG"
printf '{"threshold":0.5}\n' >"$M/config.json"
SMALL1=$(stat -c %s "$M/config.json")
TOTAL1=$((BIG + SMALL1))

received() { metric mlreg_http_bytes_received_total; }

step "v1 uploads everything"
B0=$(received)
cli push dedup "$M" --json
expect_rc 0 "push v1"
assert_eq "$(jq_ 'j["version"]' "$OUT")" 1 "v1 version"
assert_contains "$ERR" "uploaded 2 of 2 files ($TOTAL1 of $TOTAL1 bytes)" "v1 CLI upload line"
B1=$(received)
D1=$((B1 - B0))
log "v1: server received $D1 bytes"
[ "$D1" -ge "$TOTAL1" ] || fail "server counted $D1 bytes received for v1, less than the $TOTAL1 bytes of content"
[ "$D1" -lt $((TOTAL1 + 256 * 1024)) ] || fail "server counted $D1 bytes for v1: far more than the content ($TOTAL1)"

step "v2 changes only the small file"
printf '{"threshold":0.75,"note":"v2"}\n' >"$M/config.json"
SMALL2=$(stat -c %s "$M/config.json")
TOTAL2=$((BIG + SMALL2))
cli push dedup "$M" --json
expect_rc 0 "push v2"
assert_eq "$(jq_ 'j["version"]' "$OUT")" 2 "v2 version"
assert_eq "$(jq_ 'j["size"]' "$OUT")" "$TOTAL2" "v2 size"
assert_contains "$ERR" "uploaded 1 of 2 files ($SMALL2 of $TOTAL2 bytes)" "v2 CLI upload line names only the small file"
B2=$(received)
D2=$((B2 - B1))
log "v2: server received $D2 bytes"
[ "$D2" -ge "$SMALL2" ] || fail "server counted $D2 bytes for v2, less than the changed file ($SMALL2)"
[ "$D2" -lt 65536 ] || fail "v2 re-sent the big file: server received $D2 bytes (expected < 64 KiB)"

step "v3 identical to v2 uploads nothing"
cli push dedup "$M" -q --json
expect_rc 0 "push v3"
assert_eq "$(jq_ 'j["version"]' "$OUT")" 3 "v3 version"
assert_eq "$ERR" "" "-q prints nothing on stderr"
B3=$(received)
D3=$((B3 - B2))
[ "$D3" -lt 65536 ] || fail "v3 (no changes) made the server receive $D3 bytes"
cli push dedup "$M" --json
expect_rc 0 "push v4"
assert_contains "$ERR" "uploaded 0 of 2 files (0 of $TOTAL2 bytes)" "v4 CLI upload line"

step "one stored copy of the big file; both versions pull back"
assert_eq "$(blob_count "$DATA")" "$(verify_blob_store "$DATA")" "every blob rehashes"
BIGD=$(sha256_of "$M/big.bin")
[ -f "$(blob_path "$DATA" "$BIGD")" ] || fail "big blob missing from the store"
# big + config v1 + config v2 + 2 distinct manifests (v3 and v4 share v2's manifest)
assert_eq "$(blob_count "$DATA")" 5 "distinct blobs stored"
cli_ok show dedup:1 --json
assert_json '[f["digest"] for f in j["files"] if f["path"] == "big.bin"] == ["'"$BIGD"'"]' "$OUT" "v1 big digest"
cli_ok pull dedup:2 "$WORK/out2"
assert_file_eq "$WORK/out2/big.bin" "$M/big.bin" "v2 big.bin"
assert_file_eq "$WORK/out2/config.json" "$M/config.json" "v2 config.json"
cli_ok pull dedup:1 "$WORK/out1"
assert_file_eq "$WORK/out1/big.bin" "$M/big.bin" "v1 big.bin"
assert_eq "$(cat "$WORK/out1/config.json")" '{"threshold":0.5}' "v1 config.json"

stop_server

#!/usr/bin/env bash
# t_corrupt: a blob corrupted on disk (DATA/blobs/sha256/xx/<hex>) is caught:
# `pull` exits 6 and leaves nothing half-written at DEST (neither a new DEST
# nor changes inside an existing one, nor staging leftovers beside it);
# `fsck` exits 6 and names the digest.  Restoring the bytes makes both clean
# again, so the failure really came from the corruption.
source "$(dirname "$0")/lib.sh"

start_server "$WORK/data"

M=$WORK/model
mkdir -p "$M/sub"
rand_file "$M/weights.bin" 1048576
printf '{"a":1}\n' >"$M/config.json"
printf 'tokens\n' >"$M/sub/vocab.txt"
cli_ok push corr "$M" --json
rand_file "$WORK/one.bin" 200000
cli_ok push solo "$WORK/one.bin" --json
mkdir -p "$WORK/ok"
printf 'untouched\n' >"$WORK/ok/f.txt"
cli_ok push fine "$WORK/ok" --json

WD=$(sha256_of "$M/weights.bin")
WP=$(blob_path "$DATA" "$WD")
[ -f "$WP" ] || fail "blob file $WP not found after push"
cp "$WP" "$WORK/weights.good"

# Snapshot of a folder: names, sizes and hashes of everything below it.
snapshot() { (cd "$1" && find . -printf '%p %s %m\n' | sort && find . -type f -exec sha256sum {} + | sort); }

# ---------------------------------------------------------------- same size
step "flip one byte in the middle of the weights blob"
"${PY[@]}" -c '
import sys
p = sys.argv[1]
with open(p, "r+b") as f:
    f.seek(500000); b = f.read(1); f.seek(500000); f.write(bytes([b[0] ^ 0xFF]))
' "$WP"
cmp -s "$WP" "$WORK/weights.good" && fail "corruption did not change the blob"

PARENT=$WORK/pulls
mkdir -p "$PARENT"
BEFORE=$(ls -A "$PARENT")
cli pull corr:1 "$PARENT/new"
expect_rc 6 "pull of a version with a corrupt blob"
assert_contains "$ERR" "$WD" "pull error names the bad digest"
[ ! -e "$PARENT/new" ] || fail "failed pull left $PARENT/new behind: $(find "$PARENT/new" | head)"
assert_eq "$(ls -A "$PARENT")" "$BEFORE" "no staging leftovers beside DEST"

step "pull into an existing folder changes nothing in it"
mkdir -p "$PARENT/existing/sub"
printf 'old config\n' >"$PARENT/existing/config.json"
printf 'keep me\n' >"$PARENT/existing/other.txt"
SNAP=$(snapshot "$PARENT/existing")
cli pull corr:1 "$PARENT/existing"
expect_rc 6 "pull into an existing folder"
assert_eq "$(snapshot "$PARENT/existing")" "$SNAP" "existing DEST unchanged after the failed pull"
assert_eq "$(ls -A "$PARENT")" "existing" "no staging leftovers beside an existing DEST"

step "fsck exits 6 and names the digest"
cli fsck
expect_rc 6 "fsck with a corrupt blob"
assert_contains "$OUT$ERR" "$WD" "fsck output names the digest"
cli fsck --json
expect_rc 6 "fsck --json with a corrupt blob"
assert_json '[b["digest"] for b in j["bad"]] == ["'"$WD"'"]' "$OUT" "fsck --json bad list"
assert_json 'j["bad"][0]["path"] and j["bad"][0]["problem"] and j["checked"] >= 7' "$OUT" "fsck --json details"

step "other versions are unaffected"
cli_ok pull fine:1 "$PARENT/fine.txt"
assert_file_eq "$PARENT/fine.txt" "$WORK/ok/f.txt" "pull of an intact version"
rm -f "$PARENT/fine.txt"

# ---------------------------------------------------------------- truncated
step "truncate the single-file version's blob"
OD=$(sha256_of "$WORK/one.bin")
OP=$(blob_path "$DATA" "$OD")
truncate -s 100000 "$OP"
printf 'previous content\n' >"$PARENT/solo.out"
cli pull solo:1 "$PARENT/solo.out"
expect_rc 6 "pull of a truncated blob"
assert_eq "$(cat "$PARENT/solo.out")" "previous content" "existing DEST file unchanged"
cli pull solo:1 "$PARENT/solo.new"
expect_rc 6 "pull of a truncated blob to a new file"
[ ! -e "$PARENT/solo.new" ] || fail "failed single-file pull created DEST"
assert_eq "$(ls -A "$PARENT" | sort | tr '\n' ' ')" "existing solo.out " "no staging leftovers after single-file pulls"
cli fsck --json
expect_rc 6 "fsck with two bad blobs"
assert_json 'sorted(b["digest"] for b in j["bad"]) == sorted(["'"$WD"'", "'"$OD"'"])' "$OUT" "fsck names both digests"

# ---------------------------------------------------------------- repaired
step "restoring the bytes makes pull and fsck clean again"
cp "$WORK/weights.good" "$WP"
cp "$WORK/one.bin" "$OP"
cli_ok fsck --json
assert_json 'j["bad"] == []' "$OUT" "fsck after repair"
cli_ok pull corr:1 "$PARENT/new"
diff -r "$PARENT/new" "$M" >/dev/null || fail "pulled folder differs from the pushed one after repair"
cli_ok audit verify
stop_server

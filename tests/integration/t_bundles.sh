#!/usr/bin/env bash
# t_bundles: `mlreg export` from registry A and `mlreg import` into a fresh
# registry B (two real servers), docs/bundles.md.
#   - versions keep their numbers, digests, files, metadata (metrics,
#     params, tags, description, schema, author, time) and lineage
#     (datasets, parents, git commit, run); `pull` from B gives the bytes
#     pushed to A; gzip and zstd bundles import the same;
#   - re-import is a no-op (all skipped, no audit entry);
#   - a number taken with another digest: 409, exit 6, nothing imported;
#   - a writer may not import (exit 4);
#   - hostile bundles (make_hostile_bundles.py): '..', absolute path,
#     symlink chain, hard link, character device, fifo, unknown name,
#     folder, too many entries, gzip bomb, oversized entry, blob not
#     matching its name, manifest not matching its digest, extra and
#     missing blobs, signatures that cannot verify, duplicate entries, no
#     index, not a tar, truncated - each refused with a message naming the
#     entry and the documented exit (6 integrity, 1 otherwise), nothing
#     written outside the private temp folder (canaries), the temp folder
#     gone, nothing visible in B (same models, same blob count, same audit).
source "$(dirname "$0")/lib.sh"

SRC=${MLREG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}

start_server "$WORK/A"
A_PID=$PID A_URL=$URL A_ADMIN=$ADMIN
track_bg "$A_PID"
start_server "$WORK/B"
B_PID=$PID B_URL=$URL B_ADMIN=$ADMIN
on_a() { URL=$A_URL TOKEN=$A_ADMIN DATA="$WORK/A"; }
on_b() { URL=$B_URL TOKEN=$B_ADMIN DATA="$WORK/B"; }

# import runs with a private TMPDIR so leftovers are visible
export TMPDIR="$WORK/tmp"
mkdir -p "$TMPDIR"

step "versions in A"
on_a
mkdir -p "$WORK/m1" "$WORK/m2" "$WORK/m3" "$WORK/clash"
rand_file "$WORK/m1/weights.bin" 300000
printf '{"format":"xgboost","file":"model.json","inputs":[{"name":"x","datatype":"FP32","shape":[-1,4]}],"outputs":[{"name":"y","datatype":"FP32","shape":[-1]}]}' >"$WORK/m1/mlreg-model.json"
printf '{}' >"$WORK/m1/model.json"
printf 'v2 config\n' >"$WORK/m2/config.txt"
cp "$WORK/m1/weights.bin" "$WORK/m2/weights.bin" # shared blob: once in the bundle
printf 'other\n' >"$WORK/m3/o.txt"
printf 'a clash\n' >"$WORK/clash/c.txt"
cli_ok push fraud "$WORK/m1" --metric acc=0.93 --param lr=0.1 --tag team=risk --description "first" -q
mkdir -p "$WORK/repo" && printf 'train()\n' >"$WORK/repo/train.py"
git -C "$WORK/repo" init -q && git -C "$WORK/repo" add train.py &&
	git -C "$WORK/repo" -c user.name=t -c user.email=t@example.com commit -qm one || fail "git repository"
printf 'change\n' >>"$WORK/repo/train.py" # dirty, with a changed path
cli_ok push fraud "$WORK/m2" --parent fraud:1 --dataset train=s3://bucket/train.csv --dataset labels="$WORK/m3" \
	--run run-7 --run-url https://ci.example/7 --git="$WORK/repo" -q
cli_ok push risk/other "$WORK/m3" -q
cli_ok push clash "$WORK/clash" -q

step "export"
# an Ed25519 key made by openssl, not by mlreg
openssl genpkey -algorithm ed25519 -out "$WORK/ci.pem" 2>/dev/null || fail "openssl genpkey"
openssl pkey -in "$WORK/ci.pem" -pubout -out "$WORK/ci.pub" 2>/dev/null || fail "openssl pkey"
cli_ok export fraud:1 fraud:2 risk/other:1 -o "$WORK/plain.tar" --json
assert_json 'len(j["versions"]) == 3 and j["blobs"] == 8 and j["signed"] == False' "$OUT" "export summary"
cli_ok export fraud:1 fraud:2 risk/other:1 -o "$WORK/keyed.tar" --key "$WORK/ci.pem" --json
assert_json 'j["signed"] == True' "$OUT" "export --key"
assert_not_contains "$OUT$ERR" "PRIVATE KEY" "export output"
tar xOf "$WORK/keyed.tar" mlreg-bundle.sig >"$WORK/keyed.sig" || fail "export --key wrote no mlreg-bundle.sig"
grep -q PRIVATE "$WORK/keyed.sig" && fail "the bundle carries the private key"
# the detached signature verifies with openssl over the index bytes
tar xOf "$WORK/keyed.tar" mlreg-bundle.json >"$WORK/keyed.json"
"${PY[@]}" -c 'import json,sys,base64; open(sys.argv[2],"wb").write(base64.b64decode(json.load(open(sys.argv[1]))["signature"]))' \
	"$WORK/keyed.sig" "$WORK/keyed.sig.bin"
openssl pkeyutl -verify -pubin -inkey "$WORK/ci.pub" -rawin -in "$WORK/keyed.json" -sigfile "$WORK/keyed.sig.bin" >/dev/null 2>&1 ||
	fail "openssl does not verify the bundle signature export --key wrote"
cli export fraud:1 -o "$WORK/nokey.tar" --key "$WORK/missing.pem"
expect_rc 5 "export --key with a missing key file"
[ -e "$WORK/nokey.tar" ] && fail "a failed signed export left a bundle"
cli export fraud:1 -o "$WORK/nokey.tar" --key "$WORK/ci.pub"
expect_rc 1 "export --key with a public key"
[ -e "$WORK/nokey.tar" ] && fail "a failed signed export left a bundle"
# every version signed too (openssl), and the index signed again
"${PY[@]}" "$SRC/tests/integration/sign_bundle.py" "$WORK/ci.pem" "$WORK/plain.tar" "$WORK/good.tar" || fail "sign_bundle.py"
[ "$(stat -c %a "$WORK/plain.tar")" = 644 ] || fail "bundle mode is $(stat -c %a "$WORK/plain.tar"), expected 644"
ls -a "$WORK" | grep -q '\.mlreg-export\.\|\.tar\.tmp' && fail "export left its staging folder or temp file"
tar tf "$WORK/plain.tar" >"$WORK/entries" || fail "the bundle is not a tar"
assert_eq "$(head -1 "$WORK/entries")" "mlreg-bundle.json" "first entry"
assert_eq "$(grep -c '^blobs/sha256/[0-9a-f]\{64\}$' "$WORK/entries")" 8 "blob entries (each blob once)"
cli_ok export fraud:2 fraud:1 risk/other:1 -o "$WORK/good.tar.gz" --compress gzip -q
cli_ok export fraud:1 -o "$WORK/zstd.tar.zst" --compress zstd -q
cli_ok export clash:1 fraud:1 -o "$WORK/clash.tar" -q
URL="http://someone:s3cret@${A_URL#http://}" cli_ok export risk/other:1 -o "$WORK/userinfo.tar" -q
tar xOf "$WORK/userinfo.tar" mlreg-bundle.json | grep -q s3cret && fail "the bundle index carries the URL's password"
tar xOf "$WORK/userinfo.tar" mlreg-bundle.json | grep -q "\"source\":\"$A_URL\"" || fail "the index source is not $A_URL"
tar xOf "$WORK/plain.tar" mlreg-bundle.json >"$WORK/plain.json"
cli export fraud:9 -o "$WORK/none.tar"
expect_rc 5 "export of a missing version"
[ -e "$WORK/none.tar" ] && fail "a failed export left a bundle"
cli export fraud:1
expect_rc 2 "export without -o"

# What B looks like; hostile imports must leave it exactly so.
b_state() {
	on_b
	cli_ok ls --json
	local models
	models=$(jq_ '" ".join(sorted("%s:%s" % (m["name"], m["latest_version"]) for m in j["models"]))' "$OUT")
	cli_ok audit --json
	echo "$models | blobs $(blob_count "$WORK/B") | audit $(jq_ 'len(j["entries"])' "$OUT")"
}

step "conflict: a number taken with another digest"
on_b
mkdir -p "$WORK/bclash" && printf 'B has its own\n' >"$WORK/bclash/c.txt"
cli_ok push clash "$WORK/bclash" -q
BEFORE=$(b_state)
cli import "$WORK/clash.tar"
expect_rc 6 "import over a taken number"
assert_contains "$ERR" "clash:1 already exists here" "conflict message"
on_b
cli show fraud:1
expect_rc 5 "nothing of a conflicting bundle is imported"
AFTER=$(b_state)
assert_eq "${AFTER%% |*}" "${BEFORE%% |*}" "models after the conflict"
assert_eq "${AFTER##*audit }" "${BEFORE##*audit }" "audit after the conflict"

step "a writer may not import"
on_b
cli_ok token create w1 --role writer --json
WTOK=$(jq_ 'j["token"]' "$OUT")
TOKEN=$WTOK cli import "$WORK/good.tar"
expect_rc 4 "writer import"
cli_ok token create scoped --role admin --models 'risk/*' --json
STOK=$(jq_ 'j["token"]' "$OUT")
TOKEN=$STOK cli import "$WORK/plain.tar"
expect_rc 4 "import by an admin token scoped to risk/* of a bundle holding fraud"
TOKEN=$STOK http POST /api/v1/import -H 'Content-Type: application/json' --data-binary @"$WORK/plain.json"
expect_code 403 "POST /api/v1/import outside the token's scope"
on_b
cli show risk/other:1
expect_rc 5 "nothing imported by an out-of-scope token"

# ---------------------------------------------------------------- hostile
step "hostile bundles"
CANARY_NAME="mlreg-canary-$RANDOM$RANDOM"
mkdir -p "$WORK/deep/er"
"${PY[@]}" "$SRC/tests/integration/make_hostile_bundles.py" "$WORK/good.tar" "$WORK/hostile" \
	"../../$CANARY_NAME" "/tmp/$CANARY_NAME-abs" || fail "make_hostile_bundles.py failed"
BEFORE=$(b_state)
# bundle  exit  what the message must say  [extra flags]
while read -r name want msg flags; do
	on_b
	cd "$WORK/deep/er"
	# shellcheck disable=SC2086
	cli import "$WORK/hostile/$name" $flags
	cd "$WORK"
	expect_rc "$want" "import of $name"
	assert_contains "$ERR" "${msg//_/ }" "message for $name"
	assert_contains "$ERR" "refused" "refusal for $name"
	[ -z "$(ls -A "$TMPDIR")" ] || fail "$name: the temp folder was left behind: $(ls -A "$TMPDIR")"
	for c in "$WORK/$CANARY_NAME" "$WORK/deep/$CANARY_NAME" "/tmp/$CANARY_NAME" "/tmp/$CANARY_NAME-abs" \
		"$(dirname "$WORK")/$CANARY_NAME" "/etc/passwd.mlreg" "$WORK/deep/er/blobs" "$WORK/deep/er/l2"; do
		[ -e "$c" ] && fail "$name: wrote $c"
	done
	AFTER=$(b_state)
	assert_eq "$AFTER" "$BEFORE" "registry B after $name"
	log "refused $name: $(printf '%s' "$ERR" | head -c 200)"
done <<'EOF'
dotdot.tar 1 ../../mlreg-canary
absolute.tar 1 is_an_absolute_path
dotdot_blob.tar 1 a_path_with_'..'
symlink_chain.tar 1 'blobs'_is_a_symbolic_link
symlink_blob.tar 1 is_a_symbolic_link
hardlink.tar 1 is_a_hard_link
chardev.tar 1 is_a_character_device
fifo.tar 1 'mlreg-bundle.sig'_is_a_fifo
unknown_name.tar 1 'README'_is_not_a_bundle_entry
dir_other.tar 1 'models/'_is_a_folder
many.tar 1 more_than_100_entries --max-entries 100
bomb.tar.gz 1 expands_more_than_200_times
oversized.tar 1 is_larger_than_1048576_bytes --max-entry-size 1048576
bad_blob.tar 6 does_not_hash_to_its_name
bad_manifest.tar 6 does_not_match_its_digest
extra_blob.tar 1 is_needed_by_no_version
missing_blob.tar 6 is_missing
bad_signature.tar 6 the_signature_of_fraud:1_by_sha256:
bad_bundle_sig.tar 6 mlreg-bundle.sig_is_not_a_bundle_signature
tampered_index.tar 6 the_bundle_signature_by_sha256:
duplicate_blob.tar 1 appears_twice
duplicate_index.tar 1 'mlreg-bundle.json'_appears_twice
no_index.tar 1 has_no_mlreg-bundle.json
not_tar.tar 1 as_a_tar_archive
truncated.tar 1 refused
EOF
# limits are flags; a bad value is a usage error
on_b
cli import "$WORK/good.tar" --max-ratio 0
expect_rc 2 "--max-ratio 0"
cli import "$WORK/hostile/good-does-not-exist.tar"
expect_rc 5 "missing bundle file"
cli import "$WORK/plain.tar" --require-signature
expect_rc 3 "unsigned bundle with --require-signature"
assert_contains "$ERR" "not signed by a key this registry trusts (first: fraud:1)" "require-signature message"
assert_eq "$(b_state)" "$BEFORE" "registry B after the refusals"

# ---------------------------------------------------------------- import
step "import into B"
on_b
cli_ok import "$WORK/good.tar" --json
assert_json 'sorted("%s:%d" % (v["model"], v["version"]) for v in j["imported"]) == ["fraud:1", "fraud:2", "risk/other:1"] and j["skipped"] == []' "$OUT" "imported"
[ -z "$(ls -A "$TMPDIR")" ] || fail "import left its temp folder"
for ref in fraud:1 fraud:2 risk/other:1; do
	on_a
	cli_ok show "$ref" --json
	A_V=$OUT
	on_b
	cli_ok show "$ref" --json
	for k in model version digest size files metrics params tags schema created_at created_by description status; do
		assert_eq "$(jq_ "j['$k']" "$OUT")" "$(jq_ "j['$k']" "$A_V")" "$ref $k in B"
	done
	on_a
	cli_ok lineage "$ref" --json
	A_L=$(jq_ 'sorted((e["from"], e["to"], e["relation"]) for e in j["edges"])' "$OUT")
	on_b
	cli_ok lineage "$ref" --json
	assert_eq "$(jq_ 'sorted((e["from"], e["to"], e["relation"]) for e in j["edges"])' "$OUT")" "$A_L" "$ref lineage in B"
	on_a
	cli_ok lineage "$ref" --json
	A_N=$(jq_ 'sorted(json.dumps({k: v for k, v in n.items() if k not in ("deployments", "stages")}, sort_keys=True) for n in j["nodes"])' "$OUT")
	on_b
	cli_ok lineage "$ref" --json
	assert_eq "$(jq_ 'sorted(json.dumps({k: v for k, v in n.items() if k not in ("deployments", "stages")}, sort_keys=True) for n in j["nodes"])' "$OUT")" "$A_N" "$ref lineage nodes in B"
done
cli_ok show fraud:1 --json
assert_json 'j["schema"]["format"] == "xgboost"' "$OUT" "schema re-read from mlreg-model.json"
cli_ok lineage fraud:2 --json
assert_json 'sorted(e["relation"] for e in j["edges"]) == ["built_from", "derived_from", "produced_by", "trained_on", "trained_on"]' "$OUT" "every kind of lineage edge imported"
assert_json 'any(e["relation"] == "built_from" and e.get("dirty") is True and e.get("changed") == ["train.py"] for e in j["edges"])' "$OUT" "git edge attributes imported"
cli_ok pull fraud:2 "$WORK/pulled" -q
assert_file_eq "$WORK/pulled/weights.bin" "$WORK/m1/weights.bin" "pulled weights"
assert_file_eq "$WORK/pulled/config.txt" "$WORK/m2/config.txt" "pulled config"
cli_ok audit --json
assert_json 'sum(1 for e in j["entries"] if e["action"] == "bundle.import") == 3' "$OUT" "one bundle.import entry per version"
assert_json 'all(e["actor"] == "admin" and e["details"]["source"] == "'"$A_URL"'" for e in j["entries"] if e["action"] == "bundle.import")' "$OUT" "audit of the import"
assert_json 'sum(1 for e in j["entries"] if e["action"] == "version.sign") == 3' "$OUT" "imported signatures stored, audited"
assert_not_contains "$OUT" "PRIVATE KEY" "audit"
cli_ok audit verify
# the next push in B continues after the imported numbers
cli_ok push fraud "$WORK/m3" --json
assert_json 'j["version"] == 3' "$OUT" "push after import"

step "the registry checks the index again (bypassing the CLI)"
on_b
tar xOf "$WORK/good.tar" mlreg-bundle.json >"$WORK/index.json"
# fraud:1's signed statement moved to number 7: the signature covers the number
"${PY[@]}" -c 'import json,sys; j=json.load(open(sys.argv[1])); v=j["versions"][0]; v["version"]=7; j["versions"]=[v]; print(json.dumps(j))' \
	"$WORK/index.json" >"$WORK/renumbered.json"
http POST /api/v1/import -H 'Content-Type: application/json' --data-binary @"$WORK/renumbered.json"
expect_code 400 "a signature moved to another number"
assert_contains "$BODY" "signature does not verify" "renumbered signature message"
# a file list that does not hash to the digest (unsigned, new number)
"${PY[@]}" -c 'import json,sys; j=json.load(open(sys.argv[1])); v=j["versions"][0]; v["version"]=8; v["signatures"]=[]; v["files"][0]["mode"]=493; j["versions"]=[v]; print(json.dumps(j))' \
	"$WORK/index.json" >"$WORK/badlist.json"
http POST /api/v1/import -H 'Content-Type: application/json' --data-binary @"$WORK/badlist.json"
expect_code 400 "a file list that does not hash to its digest"
assert_contains "$BODY" "hashes to" "file list message"
# a parent that is neither in the bundle nor here
"${PY[@]}" -c 'import json,sys; j=json.load(open(sys.argv[1])); v=j["versions"][0]; v["version"]=9; v["signatures"]=[]; v["lineage"]={"parents":["nowhere:1"]}; j["versions"]=[v]; print(json.dumps(j))' \
	"$WORK/index.json" >"$WORK/orphan.json"
http POST /api/v1/import -H 'Content-Type: application/json' --data-binary @"$WORK/orphan.json"
expect_code 404 "a parent missing everywhere"
for n in 7 8 9; do
	cli show "fraud:$n"
	expect_rc 5 "fraud:$n after a refused import"
done
TOKEN=$WTOK http POST /api/v1/import -H 'Content-Type: application/json' --data-binary @"$WORK/index.json"
expect_code 403 "writer POST /api/v1/import"

step "re-import is a no-op"
STATE=$(b_state)
on_b
cli_ok import "$WORK/good.tar.gz" --json
assert_json 'j["imported"] == [] and len(j["skipped"]) == 3 and j["blobs_uploaded"] == 0' "$OUT" "re-import (gzip)"
assert_eq "$(b_state)" "$STATE" "registry B after a re-import"
cli_ok import "$WORK/keyed.tar" --json
assert_json 'j["imported"] == [] and len(j["skipped"]) == 3' "$OUT" "re-import (export --key)"
cli_ok import "$WORK/zstd.tar.zst" --json
assert_json 'j["imported"] == [] and len(j["skipped"]) == 1' "$OUT" "re-import (zstd)"

step "signatures made with mlreg sign travel with the version"
on_a
mkdir -p "$WORK/m4" && printf 'signed\n' >"$WORK/m4/s.txt"
cli_ok push signed-only "$WORK/m4" -q
cli_ok sign signed-only:1 --key "$WORK/ci.pem"
cli_ok export signed-only:1 -o "$WORK/sigA.tar" --key "$WORK/ci.pem" --json
assert_json 'len(j["versions"][0]["signatures"]) == 1' "$OUT" "mlreg sign's signature exported"
on_b
cli_ok key ls --json
assert_json 'j["keys"] == []' "$OUT" "B trusts no key yet"
cli import "$WORK/sigA.tar" --require-signature
expect_rc 3 "signed bundle, key not trusted in B"
assert_contains "$ERR" "a key this registry does not trust" "untrusted key message"
cli show signed-only:1
expect_rc 5 "nothing imported under --require-signature"
cli_ok key add ci "$WORK/ci.pub"
cli_ok import "$WORK/sigA.tar" --require-signature --json
assert_json '[v["version"] for v in j["imported"]] == [1]' "$OUT" "imported under --require-signature"
for ref in signed-only:1 fraud:1 fraud:2 risk/other:1; do
	cli_ok verify "$ref"
done
sigs_of() { # the stored signatures of MODEL VERSION, as comparable text
	http GET "/api/v1/models/$1/versions/$2/signatures"
	expect_code 200 "signatures of $1:$2"
	jq_ 'sorted((s["fingerprint"], s["signature"], s["public_key"], s["valid"]) for s in j["signatures"])' "$BODY"
}
on_a
A_S=$(sigs_of signed-only 1)
on_b
assert_eq "$(sigs_of signed-only 1)" "$A_S" "signatures of signed-only:1 in B"
assert_contains "$A_S" "sha256:" "signed-only:1 carries a signature"
cli_ok import "$WORK/good.tar" --require-signature --json
assert_json 'j["imported"] == [] and len(j["skipped"]) == 3' "$OUT" "re-import under --require-signature"
cli import "$WORK/plain.tar" --require-signature
expect_rc 3 "unsigned versions under --require-signature with a trusted key"

step "stop"
PID=$A_PID stop_server
PID=$B_PID stop_server

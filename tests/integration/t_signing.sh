#!/usr/bin/env bash
# t_signing: Ed25519 signing from push to serving node, end to end with the
# real server, CLI, controller and mlreg-node.  keygen -> key add -> push ->
# sign -> policy --require-signature -> promote passes -> deployment -> a node
# with --trust-key serves it.  And every refusal: keygen never overwrites;
# key add refuses RSA and garbage (400) and non-admins (exit 4); verify exits
# 6 without a signature and with another key; a signature posted with another
# key's public key is 400; the gate refuses unsigned and untrusted-signed
# versions and, after `key rm`, the once-trusted one; the node refuses
# unsigned and untrusted loads (422, the served version keeps serving), a
# tampered blob (digest), and on restart restores only what its keys verify.
# The statement is also checked with the stock openssl tool (interop).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/node_lib.sh"
source "$(dirname "$0")/ctl_lib.sh"
command -v openssl >/dev/null || fail "the openssl tool is needed"

start_server "$WORK/reg" "${CTL_FLAGS[@]}"
train "$WORK/v1" --seed 1
train "$WORK/v2" --seed 2 --trees 20
train "$WORK/v3" --seed 3 --trees 15
for v in 1 2 3; do cli_ok push fraud "$WORK/v$v"; done
digest_of() { cli_ok show "fraud:$1" --json; jq_ 'j["digest"]' "$OUT"; }
D1=$(digest_of 1) D2=$(digest_of 2) D3=$(digest_of 3)

step "keygen writes a 0600 private key and a public key, never overwrites"
cli_ok keygen --out "$WORK/release"
assert_eq "$(stat -c %a "$WORK/release")" 600 "private key mode"
[ -s "$WORK/release.pub" ] || fail "no public key written"
assert_contains "$(cat "$WORK/release")" "BEGIN PRIVATE KEY" "PKCS#8 private key"
assert_contains "$(cat "$WORK/release.pub")" "BEGIN PUBLIC KEY" "SPKI public key"
before=$(sha256sum "$WORK/release" "$WORK/release.pub")
cli keygen --out "$WORK/release"
expect_rc 6 "keygen over an existing key"
assert_eq "$(sha256sum "$WORK/release" "$WORK/release.pub")" "$before" "existing keys untouched"
cli_ok keygen --out "$WORK/other" --json
OTHER_FP=$(jq_ 'j["fingerprint"]' "$OUT")
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$WORK/rsa.pem" 2>/dev/null
openssl pkey -in "$WORK/rsa.pem" -pubout -out "$WORK/rsa.pub" 2>/dev/null

step "key add: admin only, Ed25519 only"
newtok() { cli_ok token create "$1" --role "$2" --json; jq_ 'j["token"]' "$OUT"; }
WRITER=$(newtok w writer)
READER=$(newtok r reader)
TOKEN=$WRITER cli key add release "$WORK/release.pub"
expect_rc 4 "writer adds a key"
cli key add rsa "$WORK/rsa.pub"
expect_rc 1 "RSA key"
assert_contains "$ERR" "only Ed25519" "RSA refused with a reason"
http POST /api/v1/keys -H 'Content-Type: application/json' --data-binary "$("${PY[@]}" -c 'import json,sys; print(json.dumps({"name":"rsa","public_key":open(sys.argv[1]).read()}))' "$WORK/rsa.pub")"
expect_code 400 "RSA key over HTTP"
http POST /api/v1/keys -H 'Content-Type: application/json' -d '{"name":"junk","public_key":"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}'
expect_code 400 "garbage PEM"
cli key add priv "$WORK/release"
expect_rc 1 "a private key is never sent"
cli_ok key add release "$WORK/release.pub" --json
REL_FP=$(jq_ 'j["fingerprint"]' "$OUT")
assert_match "$REL_FP" '^sha256:[0-9a-f]{64}$' "fingerprint form"
# the fingerprint is the SHA-256 of the DER SubjectPublicKeyInfo
assert_eq "sha256:$(openssl pkey -pubin -in "$WORK/release.pub" -outform DER | sha256sum | cut -d' ' -f1)" "$REL_FP" "fingerprint by openssl"
cli key add again "$WORK/release.pub"
expect_rc 6 "the same key twice"
TOKEN=$READER cli_ok key ls --json
assert_json 'len(j["keys"]) == 1 and j["keys"][0]["name"] == "release"' "$OUT" "key ls"

step "sign and verify"
cli verify fraud:1
expect_rc 6 "verify without a signature"
TOKEN=$READER cli sign fraud:1 --key "$WORK/release"
expect_rc 4 "a reader signs"
TOKEN=$WRITER cli_ok sign fraud:1 --key "$WORK/release"
assert_contains "$OUT" "signed fraud:1 ($D1) with key $REL_FP ('release')" "sign output"
TOKEN=$READER cli_ok verify fraud:1
assert_contains "$OUT" "verified fraud:1" "verify by a trusted key"
cli_ok show fraud:1 --json
assert_json 'j["signed"] is True' "$OUT" "the version object says signed"
cli_ok show fraud:3 --json
assert_json 'j["signed"] is False' "$OUT" "an unsigned version says so"
cli_ok verify fraud:1 --key "$WORK/release.pub" --json
assert_json 'j["verified"] and j["checked"][0]["ok"]' "$OUT" "verify --key"
cli verify fraud:1 --key "$WORK/other.pub" --json
expect_rc 6 "verify with another key"
assert_json 'not j["verified"] and j["checked"][0]["reason"] == "made by another key"' "$OUT" "why it failed"
cli_ok audit --json
assert_contains "$OUT" '"version.sign"' "signing audited"
# interop: the statement and signature check out with the openssl tool
http GET "/api/v1/models/fraud/versions/1/signatures"
expect_code 200 "signatures"
jq_ 'j["statement"]' "$BODY" | tr -d '\n' >"$WORK/stmt"
assert_eq "$(cat "$WORK/stmt")" "{\"digest\":\"$D1\",\"model\":\"fraud\",\"type\":\"mlreg.signature.v1\",\"version\":1}" "canonical statement"
jq_ 'j["signatures"][0]["signature"]' "$BODY" | base64 -d >"$WORK/sig.bin"
openssl pkeyutl -verify -pubin -inkey "$WORK/release.pub" -rawin -in "$WORK/stmt" -sigfile "$WORK/sig.bin" >/dev/null ||
	fail "openssl does not verify the stored signature"
SIG1=$(jq_ 'j["signatures"][0]["signature"]' "$BODY")

step "a signature by key A posted as key B is refused"
body=$("${PY[@]}" -c 'import json,sys; print(json.dumps({"public_key":open(sys.argv[1]).read(),"signature":sys.argv[2]}))' "$WORK/other.pub" "$SIG1")
http POST /api/v1/models/fraud/versions/1/signatures -H 'Content-Type: application/json' --data-binary "$body"
expect_code 400 "signature of A with B's key"
assert_contains "$BODY" "does not verify" "reason"
# and fraud:1's signature posted for fraud:2
body=$("${PY[@]}" -c 'import json,sys; print(json.dumps({"public_key":open(sys.argv[1]).read(),"signature":sys.argv[2]}))' "$WORK/release.pub" "$SIG1")
http POST /api/v1/models/fraud/versions/2/signatures -H 'Content-Type: application/json' --data-binary "$body"
expect_code 400 "signature of another version"

step "the gate requires a valid signature by a trusted key"
cli_ok policy set fraud --stage production --require-signature
cli gate fraud:2 --to production
expect_rc 3 "gate of an unsigned version"
assert_contains "$OUT" "no signature" "gate says why"
cli promote fraud:2 --to production
expect_rc 3 "promote an unsigned version"
TOKEN=$WRITER cli_ok sign fraud:2 --key "$WORK/other"
assert_contains "$ERR" "does not trust this key" "sign warns about an untrusted key"
cli gate fraud:2 --to production --json
expect_rc 3 "gate of a version signed by an untrusted key"
assert_json '[c for c in j["checks"] if c["check"] == "signature"][0]["actual"].startswith("1 signature, 1 valid, 0 by a trusted key")' "$OUT" "untrusted named"
cli promote fraud:2 --to production
expect_rc 3 "promote a version signed by an untrusted key"
cli_ok gate fraud:1 --to production
cli_ok promote fraud:1 --to production

step "mlreg-node refuses a --trust-key that is not an Ed25519 public key"
for bad in "$WORK/rsa.pub" "$WORK/release" "$WORK/missing.pub"; do
	rc=0
	"$MLREG_NODE_BIN" --listen 127.0.0.1:0 --cache "$WORK/badcache" --trust-key "$bad" >"$WORK/bad.out" 2>&1 || rc=$?
	assert_eq "$rc" 2 "mlreg-node --trust-key $bad"
	assert_contains "$(cat "$WORK/bad.out")" "--trust-key $bad" "the bad key file is named"
done

step "a deployment to a node with --trust-key serves the signed version"
fleet 1 --trust-key "$WORK/release.pub"
grep -q "trusting signing key $REL_FP" "${NODE_LOGS[1]}" || fail "the node did not log its trusted key"
cli_ok deploy create sig --model fraud --stage production --selector pool=a
wait_for sig 'j["phase"] == "Healthy" and j["stable_version"] == 1' 60
assert_eq "$(node_weights 1 sig)" '{"1": 100}' "node serves fraud:1"

step "the node refuses unsigned and untrusted loads; the served version keeps serving"
NURL=${NODE_URLS[1]}
nload sig 3 "$D3" fraud
expect_code 422 "unsigned load"
assert_contains "$BODY" "no signature" "reason"
other_sig=$(curl -s -H "Authorization: Bearer $ADMIN" "$URL/api/v1/models/fraud/versions/2/signatures" | jq_ 'j["signatures"][0]["signature"]')
body=$("${PY[@]}" -c 'import json,sys; print(json.dumps({"parameters":{"version":"2","digest":sys.argv[1],"model":"fraud","signatures":[{"public_key":open(sys.argv[2]).read(),"signature":sys.argv[3]}]}}))' "$D2" "$WORK/other.pub" "$other_sig")
nhttp POST /v2/repository/models/sig/load -H 'Content-Type: application/json' --data-binary "$body"
expect_code 422 "load signed by an untrusted key"
assert_contains "$BODY" "verifies against a trusted key" "reason"
# a trusted signature of version 1 does not carry version 2
body=$("${PY[@]}" -c 'import json,sys; print(json.dumps({"parameters":{"version":"2","digest":sys.argv[1],"model":"fraud","signatures":[{"signature":sys.argv[2]}]}}))' "$D2" "$SIG1")
nhttp POST /v2/repository/models/sig/load -H 'Content-Type: application/json' --data-binary "$body"
expect_code 422 "another version's signature"
nhttp POST /v2/repository/models/sig/load -H 'Content-Type: application/json' -d "{\"parameters\":{\"version\":\"3\",\"digest\":\"$D3\",\"model\":\"fraud\",\"signatures\":\"x\"}}"
expect_code 400 "malformed signatures"
assert_eq "$(node_weights 1 sig)" '{"1": 100}' "still serving fraud:1 only"

step "a tampered blob is refused by the node (digest), even when signed"
TOKEN=$WRITER cli_ok sign fraud:3 --key "$WORK/release"
cli_ok show fraud:3 --json
blob=$(jq_ 'sorted(j["files"], key=lambda f: -f["size"])[0]["digest"]' "$OUT")
bp=$(blob_path "$WORK/reg" "$blob")
[ -f "$bp" ] || fail "no blob file at $bp"
chmod u+w "$bp"
printf 'X' | dd of="$bp" bs=1 seek=10 conv=notrunc 2>/dev/null
sig3=$(curl -s -H "Authorization: Bearer $ADMIN" "$URL/api/v1/models/fraud/versions/3/signatures" | jq_ 'j["signatures"][0]["signature"]')
body=$("${PY[@]}" -c 'import json,sys; print(json.dumps({"parameters":{"version":"3","digest":sys.argv[1],"model":"fraud","signatures":[{"signature":sys.argv[2]}]}}))' "$D3" "$sig3")
nhttp POST /v2/repository/models/sig/load -H 'Content-Type: application/json' --data-binary "$body"
expect_code 422 "tampered blob"
assert_match "$BODY" 'digest|integrity|mismatch' "the digest check refused it"
assert_eq "$(node_weights 1 sig)" '{"1": 100}' "still serving fraud:1"

step "restart re-checks the cached versions against the node's keys"
kill -TERM "${NODE_PIDS[1]}"
wait "${NODE_PIDS[1]}" || fail "node exited non-zero"
# state.json kept fraud:1 with its signatures: a node trusting only the
# other key must not restore it
cp -r "${NODE_CACHES[1]}" "$WORK/cache-copy"
grep -q '"signatures"' "${NODE_CACHES[1]}/state.json" 2>/dev/null || grep -rq '"signatures"' "${NODE_CACHES[1]}" ||
	fail "the node state does not keep the signatures"
_fleet_start_one 1 --trust-key "$WORK/other.pub"
for ((k = 0; k < 100; k++)); do grep -q "restore finished" "${NODE_LOGS[1]}" && break; sleep 0.1; done
assert_contains "$(curl -s -X POST "${NODE_URLS[1]}/v2/repository/index" -d '{}')" "UNAVAILABLE" "fraud:1 not restored under another key"
grep -q "cannot restore sig version 1: refused" "${NODE_LOGS[1]}" || fail "restore did not say why: $(tail -5 "${NODE_LOGS[1]}")"
kill -TERM "${NODE_PIDS[1]}"
wait "${NODE_PIDS[1]}" || fail "node exited non-zero"
rm -rf "${NODE_CACHES[1]}" && cp -r "$WORK/cache-copy" "${NODE_CACHES[1]}"
: >"${NODE_LOGS[1]}"
_fleet_start_one 1 --trust-key "$WORK/other.pub" --trust-key "$WORK/release.pub"
for ((k = 0; k < 100; k++)); do grep -q "restore finished" "${NODE_LOGS[1]}" && break; sleep 0.1; done
assert_eq "$(node_weights 1 sig)" '{"1": 100}' "restored with the right key"
# without --trust-key nothing is required (behaviour unchanged)
kill -TERM "${NODE_PIDS[1]}"
wait "${NODE_PIDS[1]}" || fail "node exited non-zero"
_fleet_start_one 1
nload sig 2 "$D2" fraud
expect_code 200 "unsigned load on a node without --trust-key"

step "removing a key withdraws its trust"
cli_ok key rm release
assert_contains "$OUT" "no longer trusted" "key rm output"
cli gate fraud:1 --to production
expect_rc 3 "gate after key rm"
cli verify fraud:1
expect_rc 6 "verify after key rm"
cli_ok verify fraud:1 --key "$WORK/release.pub"
cli key rm release
expect_rc 5 "removing it twice"
cli_ok audit verify

fleet_stop
stop_server
log "ok"

#!/usr/bin/env bash
# t_tokens: token lifetime, scope display, last use, and the two rate
# limits (docs/security.md "Token scopes, expiry and last use", "Rate limits
# and authentication failures"):
#   - --expires: accepted before, 401 (like revoked) after; token ls says expired
#   - revoke: 401 on the very next request
#   - last use: shown by token ls at once (in memory), written to the
#     database by the touch interval (visible after a SIGKILL restart)
#   - token create validates models/stages/expires; audit names the scope
#     and never the token
#   - per-token limit: 429 rate_limited + Retry-After, nothing done, counted;
#     /healthz and /metrics never limited
#   - auth failures: logged with address, route and reason (never the
#     token), counted by reason; beyond the per-address budget 429 and a
#     "N more ... suppressed" summary instead of one line each
source "$(dirname "$0")/lib.sh"

start_server "$WORK/data" --rate-limit 0 --auth-fail-rate 0 \
	--token-touch-interval 200ms --auth-fail-summary-interval 300ms

step "create: scope, expiry and validation"
cli_ok token create ci --role deployer --models 'fraud*' --stages staging,canary --expires 30d --json
CI=$(jq_ 'j["token"]' "$OUT")
assert_json 'j["models"] == "fraud*" and j["stages"] == ["staging","canary"]' "$OUT" "scope echoed"
TOKEN=$CI http GET /api/v1/whoami
expect_code 200 "whoami of a scoped token"
assert_json 'j["models"] == "fraud*" and j["stages"] == "staging,canary" and j["role"] == "deployer"' "$BODY" "whoami shows the scope"
TOKEN=$ADMIN http GET /api/v1/whoami
assert_json 'j["models"] is None and j["stages"] is None' "$BODY" "whoami of an unscoped token"
cli token create bad1 --role reader --expires soon
expect_rc 2 "--expires soon is a usage error"
cli token create bad2 --role reader --stages 'staging,,prod'
expect_rc 2 "--stages with an empty item"
cli token create bad3 --role reader --models 'Fraud/*'
expect_rc 1 "uppercase glob refused by the server"
assert_contains "$ERR" "invalid models glob" "glob message"
cli token create bad4 --role reader --stages 'Prod'
expect_rc 1 "invalid stage name refused"
TOKEN=$ADMIN http POST /api/v1/tokens -H 'Content-Type: application/json' -d '{"name":"b5","role":"reader","expires_in":5}'
expect_code 400 "numeric expires_in"
TOKEN=$ADMIN http POST /api/v1/tokens -H 'Content-Type: application/json' -d '{"name":"b6","role":"reader","stages":"staging"}'
expect_code 400 "stages as a string"
TOKEN=$ADMIN http POST /api/v1/tokens -H 'Content-Type: application/json' -d '{"name":"b7","role":"reader","models":""}'
expect_code 400 "empty glob"
cli_ok token ls --json
assert_json 'not any(t["name"].startswith("bad") or t["name"] in ("b5","b6","b7") for t in j["tokens"])' "$OUT" "refused creates left nothing"

step "a scoped token cannot mint tokens"
TOKEN=$CI http POST /api/v1/tokens -H 'Content-Type: application/json' -d '{"name":"x","role":"reader"}'
expect_code 403 "scoped token creating a token (role check first: deployer)"
cli_ok token create scoped-admin --role admin --models 'fraud*' --json
SA=$(jq_ 'j["token"]' "$OUT")
TOKEN=$SA http POST /api/v1/tokens -H 'Content-Type: application/json' -d '{"name":"x","role":"admin"}'
expect_code 403 "scoped admin cannot create a token"
assert_contains "$BODY" "scoped token cannot do registry-wide administration" "message"

step "audit: scope and expiry, never the token"
cli_ok audit --json
assert_json 'any(e["action"]=="token.create" and e["subject"]=="ci" and e["details"]["models"]=="fraud*" and e["details"]["stages"]=="staging,canary" and e["details"]["expires_at"]>0 for e in j["entries"])' "$OUT" "token.create audit entry"
assert_not_contains "$OUT" "$CI" "audit does not hold the token"

step "expiry"
cli_ok token create short --role reader --expires 2s --json
SHORT=$(jq_ 'j["token"]' "$OUT")
assert_json 'j["expires_at"] is not None and j["models"] is None and j["stages"] is None' "$OUT" "expiry shown"
TOKEN=$SHORT http GET /api/v1/whoami
expect_code 200 "before expiry"
sleep 2.1
TOKEN=$SHORT http GET /api/v1/whoami
expect_code 401 "expired token"
assert_contains "$BODY" "invalid, expired or revoked token" "same message as revoked"
cli_ok token ls --json
assert_json '[t for t in j["tokens"] if t["name"]=="short"][0]["status"]=="expired" and [t for t in j["tokens"] if t["name"]=="short"][0]["expired"]' "$OUT" "token ls: expired"
cli_ok token ls
assert_match "$(grep '^short ' <<<"$OUT")" 'expired' "table shows expired"
grep -q "authentication failed: GET /api/v1/whoami from 127.0.0.1: expired" "$SERVER_LOG" || fail "expiry not logged with its reason"

step "revocation: the next request is refused"
cli_ok token create rv --role reader --json
RV=$(jq_ 'j["token"]' "$OUT")
TOKEN=$RV http GET /api/v1/whoami
expect_code 200 "before revoke"
cli_ok token revoke rv
TOKEN=$RV http GET /api/v1/whoami
expect_code 401 "right after revoke"
cli_ok token ls --json
assert_json '[t for t in j["tokens"] if t["name"]=="rv"][0]["status"]=="revoked"' "$OUT" "token ls: revoked"

step "last use: shown at once, written by the touch interval"
cli_ok token create lu --role reader --json
LU=$(jq_ 'j["token"]' "$OUT")
cli_ok token ls --json
assert_json '[t for t in j["tokens"] if t["name"]=="lu"][0]["last_used_at"] is None' "$OUT" "never used yet"
TOKEN=$LU http GET /api/v1/whoami
expect_code 200 "use lu"
cli_ok token ls --json
assert_json '[t for t in j["tokens"] if t["name"]=="lu"][0]["last_used_at"] is not None' "$OUT" "last use shown at once"
cli_ok token ls
assert_match "$(grep '^lu ' <<<"$OUT")" 'active +[0-9]{4}-[0-9]{2}-' "table shows a last use after the status"
sleep 0.6 # > --token-touch-interval
kill9_server
# a slow refill from here on, so the burst test does not depend on how fast
# this machine sends requests
start_server "$WORK/data" --rate-limit 0.5/s --rate-burst 4 --auth-fail-rate 0.2/s --auth-fail-burst 3 \
	--token-touch-interval 200ms --auth-fail-summary-interval 300ms
cli_ok token ls --json
assert_json '[t for t in j["tokens"] if t["name"]=="lu"][0]["last_used_at"] is not None' "$OUT" "last use survived a SIGKILL (flushed)"

step "per-token rate limit: 429 + Retry-After, nothing done"
cli_ok token create burst --role writer --json
BT=$(jq_ 'j["token"]' "$OUT")
before=$(metric 'mlreg_http_rate_limited_total{limit="token"}')
got429=0 got201=0
for i in $(seq 1 8); do
	TOKEN=$BT http POST /api/v1/models -H 'Content-Type: application/json' -d "{\"name\":\"rl-$i\"}" -D "$WORK/h"
	if [ "$CODE" = 429 ]; then
		got429=$((got429 + 1))
		assert_contains "$BODY" '"rate_limited"' "429 code"
		grep -qi '^Retry-After: [1-9]' "$WORK/h" || fail "429 without Retry-After: $(cat "$WORK/h")"
	else
		expect_code 201 "create within the burst"
		got201=$((got201 + 1))
	fi
done
assert_gt "$got429" 2 "requests past the burst were limited"
assert_gt "$got201" 3 "the burst went through"
after=$(metric 'mlreg_http_rate_limited_total{limit="token"}')
assert_eq "$after" "$((before + got429))" "rejections counted"
TOKEN=$ADMIN http GET '/api/v1/models?prefix=rl-'
expect_code 200 "list as admin (another token: not limited by this one)"
assert_eq "$(jq_ 'len(j["models"])' "$BODY")" "$got201" "a refused create did nothing"
for i in $(seq 1 30); do
	c=$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")
	[ "$c" = 200 ] || fail "/healthz limited ($c)"
done
sleep 2.2
TOKEN=$BT http GET /api/v1/whoami
expect_code 200 "the bucket refills"

step "auth failures: logged by reason, then 429 and suppressed"
f_unknown=$(metric 'mlreg_auth_failures_total{reason="unknown"}')
codes=""
for i in $(seq 1 10); do
	CODE=$(curl -s -o "$BODY_FILE" -w '%{http_code}' -H "Authorization: Bearer mlr_guess${i}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" "$URL/api/v1/models")
	codes="$codes $CODE"
done
log "codes:$codes"
assert_contains "$codes" "401" "the first failures are 401"
assert_contains "$codes" "429" "then 429"
assert_eq "$(metric 'mlreg_auth_failures_total{reason="unknown"}')" "$((f_unknown + 10))" "every failure counted"
assert_gt "$(metric 'mlreg_http_rate_limited_total{limit="auth_failures"}')" 0 "auth-failure 429s counted"
logged=$(grep -c 'authentication failed: GET /api/v1/models from 127.0.0.1: unknown' "$SERVER_LOG" || true)
[ "$logged" -le 4 ] || fail "$logged failures logged one by one; want the burst (3), at most one refill"
for ((i = 0; i < 40; i++)); do
	grep -q 'more authentication failures from 127.0.0.1 suppressed' "$SERVER_LOG" && break
	sleep 0.1
done
grep -q 'more authentication failures from 127.0.0.1 suppressed' "$SERVER_LOG" || fail "no suppressed summary"
if grep -q 'mlr_guess' "$SERVER_LOG"; then fail "a token appears in the server log"; fi
TOKEN=$ADMIN http GET /api/v1/whoami
expect_code 200 "a good token from the same address still works"
curl -s -o /dev/null -H "Authorization: Basic Zm9vOmJhcg==" "$URL/api/v1/models" || true
sleep 1.1
curl -s -o /dev/null -H "Authorization: Basic Zm9vOmJhcg==" "$URL/api/v1/models" || true
curl -s -o /dev/null "$URL/api/v1/models" || true
assert_gt "$(metric 'mlreg_auth_failures_total{reason="malformed"}')" 0 "malformed counted"
assert_gt "$(metric 'mlreg_auth_failures_total{reason="missing"}')" 0 "missing counted"

step "flags"
for bad in "--rate-limit fast" "--rate-limit -1/s" "--rate-burst 0" "--token-touch-interval 0" "--auth-fail-burst x"; do
	# shellcheck disable=SC2086
	rc=0
	timeout 10 "$MLREG_BIN" server --listen 127.0.0.1:0 --data "$WORK/nodata" $bad >/dev/null 2>&1 || rc=$?
	assert_eq "$rc" 2 "server $bad is a usage error"
done
HELP=$("$MLREG_BIN" server --help 2>&1)
grep -q -- "--auth-fail-rate" <<<"$HELP" || fail "--help lacks --auth-fail-rate"

stop_server
log "PASS"

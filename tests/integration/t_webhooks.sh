#!/usr/bin/env bash
# t_webhooks: webhook subscriptions and delivery, end to end, against a real
# HTTP receiver (webhook_receiver.py, Python standard library) that logs
# every request it gets.  All calls go through the REST API with curl.
#   - without --webhook-allow-private, URLs whose host is or resolves to a
#     loopback/private/link-local/unspecified address are 400 `invalid`
#     naming the address and the flag; so are other schemes and user info
#   - with the flag, add works; events arrive with the documented headers,
#     an HMAC-SHA256 signature that verifies with the secret add returned,
#     and id/timestamp inside the signed body; subscriptions filter events
#   - 500, 500, 200 -> deliveries log retry, retry, delivered; the same
#     event id is received three times
#   - receiver down, then up -> delivered after retries
#   - SIGTERM with events pending -> delivered after the restart
#   - rm drops pending deliveries; ls counts pending/delivered/failed
#   - --webhook-max-attempts -> failed; without the flag, a stored URL to a
#     private address is refused again at delivery, on the address connected
#   - SIGTERM during a slow attempt stops within a bounded time, and the
#     event is delivered again after the restart (duplicate, same id)
source "$(dirname "$0")/lib.sh"

RECV="$(cd "$(dirname "$0")" && pwd)/webhook_receiver.py"
RLOG="$WORK/received.jsonl"
FAILF="$WORK/fail-count"
: >"$RLOG"
RPID="" RPORT=""

# start_receiver PORT [args]: a receiver on 127.0.0.1:PORT (0 = any); sets RPORT RPID.
start_receiver() {
	local port=$1 pf="$WORK/rport.$RANDOM$RANDOM" i
	shift
	"${PY[@]}" "$RECV" --port "$port" --port-file "$pf" --log "$RLOG" --fail-file "$FAILF" "$@" \
		>>"$WORK/receiver.out" 2>&1 &
	RPID=$!
	track_bg "$RPID"
	for ((i = 0; i < 200; i++)); do
		[ -s "$pf" ] && break
		kill -0 "$RPID" 2>/dev/null || fail "receiver exited: $(tail -5 "$WORK/receiver.out")"
		sleep 0.05
	done
	[ -s "$pf" ] || fail "receiver wrote no port file"
	RPORT=$(cat "$pf")
	log "receiver pid $RPID on 127.0.0.1:$RPORT"
}
stop_receiver() {
	[ -n "$RPID" ] || return 0
	kill -TERM "$RPID" 2>/dev/null || true
	wait "$RPID" 2>/dev/null || true
	RPID=""
}

# The receiver log as a JSON array; each record gets "b", its parsed body.
log_json() {
	"${PY[@]}" -c '
import json, sys
out = []
for line in open(sys.argv[1]):
    if line.strip():
        r = json.loads(line)
        try:
            r["b"] = json.loads(r["body"])
        except ValueError:
            r["b"] = None
        out.append(r)
print(json.dumps(out))
' "$RLOG"
}
# wait_log EXPR MSG [SECONDS]: wait until EXPR (j = the log array) holds.
wait_log() {
	local expr=$1 msg=$2 limit=${3:-20} i
	for ((i = 0; i < limit * 20; i++)); do
		[ "$(jq_ "$expr" "$(log_json)")" = true ] && return 0
		sleep 0.05
	done
	fail "$msg: ($expr) never held; receiver log: $(tail -c 3000 "$RLOG")"
}
# push_version CONTENT: push demo with a file holding CONTENT; sets VER.
push_version() {
	mkdir -p "$WORK/m"
	printf '%s\n' "$1" >"$WORK/m/f.txt"
	cli_ok push demo "$WORK/m" --json
	VER=$(jq_ 'j["version"]' "$OUT")
}
# hook_add JSON: POST /api/v1/webhooks.
hook_add() { http POST /api/v1/webhooks -H 'Content-Type: application/json' --data-binary "$1"; }
# deliveries ID: GET the delivery log; BODY holds it.
deliveries() {
	http GET "/api/v1/webhooks/$1/deliveries?limit=1000"
	expect_code 200 "deliveries of $1"
}
hook_field() { # ID EXPR-over-the-webhook-object
	http GET /api/v1/webhooks
	expect_code 200 "webhook ls"
	jq_ "[w for w in j[\"webhooks\"] if w[\"id\"] == \"$1\"][0]$2" "$BODY"
}
# verify_signatures SECRET_ALL SECRET_PROMOTE: every request logged on /all
# and /promote carries the documented headers and a signature that verifies
# with that webhook's secret over the exact body bytes (and not with another
# key); the body holds an id and a timestamp.
verify_signatures() {
	"${PY[@]}" -c '
import base64, hashlib, hmac, json, re, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ok = 0
for path, secret in (("/all", sys.argv[2]), ("/promote", sys.argv[3])):
    for r in recs:
        if r["path"] != path:
            continue
        raw = base64.b64decode(r["body_b64"])
        h = r["headers"]
        want = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(h["x-mlreg-signature"], want), ("bad signature", path, h, raw)
        wrong = "sha256=" + hmac.new(b"not-the-secret", raw, hashlib.sha256).hexdigest()
        assert h["x-mlreg-signature"] != wrong
        b = json.loads(raw)
        assert h["content-type"] == "application/json", h
        assert h["user-agent"] == "mlreg-webhook/1", h
        assert h["x-mlreg-event"] == b["event"], (h, b)
        assert h["x-mlreg-delivery"] == b["id"], (h, b)
        assert re.fullmatch(r"evt_[0-9a-f]{24}", b["id"]), b
        assert isinstance(b["timestamp"], int) and b["timestamp"] > 1.6e12, b
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", b["time"]), b
        assert b["actor"] == "admin", b
        ok += 1
assert ok > 0, "no delivery to check"
print(ok)
' "$RLOG" "$1" "$2" >"$WORK/sigcheck" 2>&1 || fail "signature check: $(cat "$WORK/sigcheck")"
	log "$(cat "$WORK/sigcheck") signed deliveries verified"
}
# --webhook-max-attempts 1000: with 200ms backoffs the default 15 attempts
# last about 3s, which a loaded machine or a sanitizer build can spend
# between "receiver down" and "receiver up" (the steps that want a failed
# delivery pass their own, smaller --webhook-max-attempts, which wins).
WEBHOOK_FLAGS=(--webhook-allow-private --webhook-backoff 50ms --webhook-backoff-max 200ms --webhook-poll 50ms
	--webhook-max-attempts 1000)

# ---------------------------------------------------------------- SSRF
step "private addresses are refused without --webhook-allow-private"
start_receiver 0
RP=$RPORT
start_server "$WORK/data"
for url in "http://127.0.0.1:$RP/hook" "http://10.0.0.1/hook" "http://169.254.169.254/latest/meta-data/" \
	"http://localhost:$RP/hook" "http://[::1]:$RP/hook" "http://[::ffff:127.0.0.1]:$RP/hook" \
	"http://2130706433:$RP/hook" "http://0.0.0.0:$RP/hook" "https://192.168.1.10/hook" "http://172.16.5.4/" \
	"http://100.64.0.1/" "http://[fe80::1]/" "http://[fd00::1]/" "HTTP://127.0.0.1:$RP/"; do
	hook_add '{"url":"'"$url"'","events":["*"]}'
	expect_code 400 "webhook to $url"
	assert_json 'j["error"]["code"] == "invalid"' "$BODY" "$url: error code"
	msg=$(jq_ 'j["error"]["message"]' "$BODY")
	assert_contains "$msg" "--webhook-allow-private" "$url: the message names the flag"
done
# localhost is loopback by name: refused without asking the resolver
hook_add '{"url":"http://localhost:'"$RP"'/hook","events":["push"]}'
assert_contains "$(jq_ 'j["error"]["message"]' "$BODY")" "'localhost' is a loopback name" "localhost: refused by name"
# a literal address is named in the message
hook_add '{"url":"http://127.0.0.2:'"$RP"'/hook","events":["push"]}'
assert_match "$(jq_ 'j["error"]["message"]' "$BODY")" "resolves to 127\.0\.0\.2" "the address is named"
hook_add '{"url":"http://169.254.169.254/latest/meta-data/","events":["push"]}'
assert_contains "$(jq_ 'j["error"]["message"]' "$BODY")" "169.254.169.254" "metadata address named"

step "other refusals: scheme, user info, events, secret, role"
for body in '{"url":"ftp://example.com/x","events":["*"]}' '{"url":"file:///etc/passwd","events":["*"]}' \
	'{"url":"gopher://example.com/","events":["*"]}' '{"url":"example.com/hook","events":["*"]}' \
	'{"url":"http://user:pw@example.com/hook","events":["*"]}' '{"url":"http://user@example.com/","events":["*"]}' \
	'{"url":"","events":["*"]}' '{"events":["*"]}' '{"url":5,"events":["*"]}' \
	'{"url":"http://203.0.113.10/","events":[]}' '{"url":"http://203.0.113.10/","events":["nope"]}' \
	'{"url":"http://203.0.113.10/","events":"push"}' '{"url":"http://203.0.113.10/","events":["push","push"]}' \
	'{"url":"http://203.0.113.10/","events":["*"],"secret":"short"}' \
	'{"url":"http://203.0.113.10/","events":["*"],"secret":7}' '[1,2]' 'not json'; do
	hook_add "$body"
	expect_code 400 "refused body $body"
	assert_json 'j["error"]["code"] == "invalid"' "$BODY" "$body: error code"
done
cli_ok token create wh-writer --role writer --json
WRITER=$(jq_ 'j["token"]' "$OUT")
TOKEN=$WRITER
hook_add '{"url":"http://203.0.113.10/","events":["*"]}'
expect_code 403 "a writer may not add webhooks"
http GET /api/v1/webhooks
expect_code 403 "a writer may not list webhooks"
http DELETE /api/v1/webhooks/wh_0000000000000000
expect_code 403 "a writer may not remove webhooks"
http GET /api/v1/webhooks/wh_0000000000000000/deliveries
expect_code 403 "a writer may not read deliveries"
TOKEN=$ADMIN
http GET /api/v1/webhooks
expect_code 200 "webhook ls"
assert_json 'j == {"webhooks": []}' "$BODY" "nothing was added by refused calls"
http GET "/api/v1/audit?action=webhook.add"
assert_json 'j["entries"] == []' "$BODY" "no webhook.add audit entry for refused calls"
cli webhook add "http://127.0.0.1:$RP/hook" --events push
expect_rc 1 "mlreg webhook add to 127.0.0.1 without the flag"
assert_contains "$ERR" "--webhook-allow-private" "CLI shows the server's message"
stop_server

# ---------------------------------------------------------------- delivery
step "with --webhook-allow-private, add works and returns the secret once"
start_server "$WORK/data" "${WEBHOOK_FLAGS[@]}"
hook_add '{"url":"http://127.0.0.1:'"$RP"'/all","events":["*"]}'
expect_code 201 "add a webhook for every event"
W1=$(jq_ 'j["id"]' "$BODY")
S1=$(jq_ 'j["secret"]' "$BODY")
assert_match "$W1" '^wh_[0-9a-f]{16}$' "webhook id"
assert_json 'j["url"] == "http://127.0.0.1:'"$RP"'/all" and j["events"] == ["*"] and len(j["secret"]) >= 16 and j["created_at"].endswith("Z")' "$BODY" "add answer"
hook_add '{"url":"http://localhost:'"$RP"'/promote","events":["promote","rollback"],"secret":"given-secret-2"}'
expect_code 201 "add a webhook for promote and rollback, by host name"
W2=$(jq_ 'j["id"]' "$BODY")
assert_json 'j["secret"] == "given-secret-2"' "$BODY" "a given secret is kept"
http GET /api/v1/webhooks
assert_json '[w["id"] for w in j["webhooks"]] == ["'"$W1"'", "'"$W2"'"] and all("secret" not in w for w in j["webhooks"])' "$BODY" "ls lists both, never a secret"
http GET "/api/v1/audit?action=webhook.add"
assert_json 'sorted(e["subject"] for e in j["entries"]) == sorted(["'"$W1"'", "'"$W2"'"])' "$BODY" "webhook.add audited"

step "a push is delivered, signed, with id and timestamp in the body"
push_version one
V1=$VER
wait_log 'any(r["path"] == "/all" and r["b"]["event"] == "push" and r["b"]["version"] == '"$V1"' for r in j)' "push delivered"
verify_signatures "$S1" given-secret-2
assert_json '[r["b"]["model"] for r in j if r["b"]["event"] == "push"] == ["demo"]' "$(log_json)" "push body names the model"
assert_json 'not any(r["path"] == "/promote" for r in j)' "$(log_json)" "a promote-only webhook does not get push"

step "promote reaches both subscriptions, each signed with its own secret"
http POST /api/v1/models/demo/stages/staging/promote -H 'Content-Type: application/json' --data-binary '{"version":'"$V1"'}'
expect_code 200 "promote demo:$V1 to staging"
wait_log 'sorted(r["path"] for r in j if r["b"]["event"] == "promote") == ["/all", "/promote"]' "promote delivered to both"
wait_log 'len(set(r["b"]["id"] for r in j if r["b"]["event"] == "promote")) == 1' "one event id for both subscribers"
"${PY[@]}" -c '
import base64, hashlib, hmac, json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["path"] == "/promote":
        raw = base64.b64decode(r["body_b64"])
        assert r["headers"]["x-mlreg-signature"] == "sha256=" + hmac.new(b"given-secret-2", raw, hashlib.sha256).hexdigest()
        b = json.loads(raw)
        assert b["event"] == "promote" and b["model"] == "demo", b
' "$RLOG" || fail "promote delivery to the second webhook"

step "500, 500, 200: retried, then delivered; the same id three times"
echo 2 >"$FAILF"
push_version two
V2=$VER
wait_log '[r["status"] for r in j if r["b"]["event"] == "push" and r["b"]["version"] == '"$V2"'] == [500, 500, 200]' "500, 500, then 200"
E2=$(jq_ '[r["b"]["id"] for r in j if r["b"]["event"] == "push" and r["b"]["version"] == '"$V2"'][0]' "$(log_json)")
assert_json 'len([r for r in j if r["b"]["id"] == "'"$E2"'"]) == 3 and len(set(r["body"] for r in j if r["b"]["id"] == "'"$E2"'")) == 1' "$(log_json)" "the same body and id received three times"
deliveries "$W1"
assert_json '[(d["attempt"], d["outcome"], d["status"]) for d in j["deliveries"] if d["event_id"] == "'"$E2"'"] == [(3, "delivered", 200), (2, "retry", 500), (1, "retry", 500)]' "$BODY" "deliveries log: retry, retry, delivered (newest first)"
assert_json 'all(d["event"] in ("push", "promote") and d["time"].endswith("Z") for d in j["deliveries"])' "$BODY" "delivery entries"
assert_json '[d["error"] for d in j["deliveries"] if d["event_id"] == "'"$E2"'"][1:] == ["HTTP 500", "HTTP 500"]' "$BODY" "the failures say why"
http GET "/api/v1/webhooks/$W1/deliveries?limit=1"
assert_json 'len(j["deliveries"]) == 1 and j["deliveries"][0]["outcome"] == "delivered"' "$BODY" "deliveries limit"
http GET "/api/v1/webhooks/$W1/deliveries?limit=0"
expect_code 400 "deliveries limit 0"
http GET /api/v1/webhooks/wh_0000000000000000/deliveries
expect_code 404 "deliveries of an unknown webhook"
# the same through the CLI: table, --json, --limit, refusals
cli_ok webhook deliveries "$W1" --limit 3
assert_contains "$(head -1 <<<"$OUT")" "TIME" "webhook deliveries: table header"
assert_eq "$(tail -n +2 <<<"$OUT" | wc -l)" 3 "webhook deliveries --limit 3: three rows"
assert_match "$(sed -n 2p <<<"$OUT")" " [0-9]+ +200 +delivered +-\$" "webhook deliveries: the newest row (attempt, status 200, delivered, no error)"
cli_ok webhook deliveries "$W1" --json
assert_json 'any(d["event_id"] == "'"$E2"'" and d["outcome"] == "retry" and d["error"] == "HTTP 500" for d in j["deliveries"])' "$OUT" "webhook deliveries --json"
cli webhook deliveries "$W1" --limit 0
expect_rc 2 "webhook deliveries --limit 0"
cli webhook deliveries wh_0000000000000000
expect_rc 5 "webhook deliveries of an unknown webhook"
assert_contains "$ERR" "cannot list the deliveries of webhook 'wh_0000000000000000'" "the error names the webhook"

step "receiver down, then up: delivered after retries"
stop_receiver
push_version three
V3=$VER
deadline=$((SECONDS + 20))
until deliveries "$W1" && [ "$(jq_ 'len([d for d in j["deliveries"] if d["outcome"] == "retry" and d["status"] is None])' "$BODY")" -ge 2 ]; do
	[ $SECONDS -lt $deadline ] || fail "no failed connection attempts recorded: $BODY"
	sleep 0.05
done
assert_json 'all(d["error"] != "" for d in j["deliveries"] if d["status"] is None)' "$BODY" "a connection failure has an error text"
[ "$(hook_field "$W1" '["pending"]')" = 1 ] || fail "the event is pending while the receiver is down"
start_receiver "$RP"
wait_log 'any(r["b"]["event"] == "push" and r["b"]["version"] == '"$V3"' and r["status"] == 200 for r in j)' "delivered once the receiver is back"
E3=$(jq_ '[r["b"]["id"] for r in j if r["b"]["event"] == "push" and r["b"]["version"] == '"$V3"'][0]' "$(log_json)")
deliveries "$W1"
assert_json '[d["outcome"] for d in j["deliveries"] if d["event_id"] == "'"$E3"'"][0] == "delivered"' "$BODY" "recorded as delivered"
assert_json 'len([d for d in j["deliveries"] if d["event_id"] == "'"$E3"'"]) >= 3' "$BODY" "after at least two retries"

step "SIGTERM with events pending; delivered after the restart"
stop_receiver
push_version four
V4=$VER
deadline=$((SECONDS + 20))
until deliveries "$W1" && [ "$(jq_ 'any(d["outcome"] == "retry" and d["status"] is None for d in j["deliveries"][:1])' "$BODY")" = true ]; do
	[ $SECONDS -lt $deadline ] || fail "no attempt on push $V4"
	sleep 0.05
done
stop_server
start_server "$WORK/data" "${WEBHOOK_FLAGS[@]}"
[ "$(hook_field "$W1" '["pending"]')" = 1 ] || fail "still pending after the restart while the receiver is down"
assert_json 'not any(r["b"]["event"] == "push" and r["b"]["version"] == '"$V4"' for r in j)' "$(log_json)" "not delivered while down"
start_receiver "$RP"
wait_log 'any(r["b"]["event"] == "push" and r["b"]["version"] == '"$V4"' and r["status"] == 200 for r in j)' "delivered after the restart"
deadline=$((SECONDS + 10))
until [ "$(hook_field "$W1" '["pending"]')" = 0 ]; do
	[ $SECONDS -lt $deadline ] || fail "still pending after delivery"
	sleep 0.05
done

step "rm drops pending deliveries"
hook_add '{"url":"http://127.0.0.1:'"$RP"'/doomed","events":["push"]}'
expect_code 201 "add a third webhook"
W3=$(jq_ 'j["id"]' "$BODY")
stop_receiver
push_version five
V5=$VER
deadline=$((SECONDS + 10))
until [ "$(hook_field "$W3" '["pending"]')" = 1 ]; do
	[ $SECONDS -lt $deadline ] || fail "push $V5 not pending for $W3"
	sleep 0.05
done
http DELETE "/api/v1/webhooks/$W3"
expect_code 200 "webhook rm"
assert_json 'j == {"id": "'"$W3"'", "removed": True}' "$BODY" "rm answer"
http DELETE "/api/v1/webhooks/$W3"
expect_code 404 "rm twice"
http DELETE /api/v1/webhooks/wh_0000000000000000
expect_code 404 "rm of an unknown webhook"
http GET /api/v1/webhooks
assert_json '[w["id"] for w in j["webhooks"]] == ["'"$W1"'", "'"$W2"'"]' "$BODY" "ls no longer lists the removed webhook"
http GET "/api/v1/audit?action=webhook.remove"
assert_json '[e["subject"] for e in j["entries"]] == ["'"$W3"'"]' "$BODY" "webhook.remove audited"
start_receiver "$RP"
wait_log 'any(r["path"] == "/all" and r["b"]["event"] == "push" and r["b"]["version"] == '"$V5"' and r["status"] == 200 for r in j)' "the remaining webhook still gets push $V5"
sleep 0.5 # ten poll periods: a dropped row would have gone out by now
assert_json 'not any(r["path"] == "/doomed" for r in j)' "$(log_json)" "nothing delivered for the removed webhook"

step "ls counts and metrics"
http GET /api/v1/webhooks
# W1 got push 1..5 and one promote; W2 the promote only
assert_json '[(w["pending"], w["delivered"], w["failed"]) for w in j["webhooks"]] == [(0, 6, 0), (0, 1, 0)]' "$BODY" "pending/delivered/failed per webhook"
assert_eq "$(metric 'mlreg_webhook_pending')" 0 "pending gauge"
assert_gt "$(metric 'mlreg_webhook_deliveries_total{outcome="delivered"}')" 0 "delivered counter"
assert_gt "$(metric 'mlreg_webhook_deliveries_total{outcome="retry"}')" 0 "retry counter"
stop_server

# ---------------------------------------------------------------- failed
step "--webhook-max-attempts: marked failed after the last attempt"
start_server "$WORK/data" "${WEBHOOK_FLAGS[@]}" --webhook-max-attempts 3
echo 100 >"$FAILF"
push_version six
V6=$VER
deadline=$((SECONDS + 20))
until deliveries "$W1" && [ "$(jq_ '[d["outcome"] for d in j["deliveries"]][:1] == ["failed"]' "$BODY")" = true ]; do
	[ $SECONDS -lt $deadline ] || fail "push $V6 never marked failed: $BODY"
	sleep 0.05
done
E6=$(jq_ 'j["deliveries"][0]["event_id"]' "$BODY")
assert_json '[(d["attempt"], d["outcome"], d["status"]) for d in j["deliveries"] if d["event_id"] == "'"$E6"'"] == [(3, "failed", 500), (2, "retry", 500), (1, "retry", 500)]' "$BODY" "retry, retry, failed"
sleep 0.3
assert_eq "$(jq_ 'len([r for r in j if r["b"]["id"] == "'"$E6"'"])' "$(log_json)")" 3 "no attempt after failed"
assert_eq "$(hook_field "$W1" '["failed"]')" 1 "ls counts the failed delivery"
assert_eq "$(metric 'mlreg_webhook_deliveries_total{outcome="failed"}')" 1 "failed counter"
rm -f "$FAILF"
stop_server

# ---------------------------------------------------------------- rebinding
step "without the flag, a stored private URL is refused at delivery, on the address connected"
start_server "$WORK/data" --webhook-backoff 50ms --webhook-poll 50ms --webhook-max-attempts 2
NREC=$(jq_ 'len(j)' "$(log_json)")
push_version seven
deadline=$((SECONDS + 20))
until deliveries "$W1" && [ "$(jq_ '[d["outcome"] for d in j["deliveries"]][:1] == ["failed"]' "$BODY")" = true ]; do
	[ $SECONDS -lt $deadline ] || fail "refused delivery never marked failed: $BODY"
	sleep 0.05
done
assert_json 'j["deliveries"][0]["status"] is None and "127.0.0.1" in j["deliveries"][0]["error"] and "--webhook-allow-private" in j["deliveries"][0]["error"]' "$BODY" "the refusal names the address and the flag"
assert_eq "$(jq_ 'len(j)' "$(log_json)")" "$NREC" "the receiver got nothing"
stop_server

# ---------------------------------------------------------------- shutdown
step "SIGTERM during a slow attempt stops within a bounded time; redelivered after restart"
stop_receiver
start_receiver "$RP" --delay 60
start_server "$WORK/data" "${WEBHOOK_FLAGS[@]}" --webhook-timeout 120s --webhook-shutdown-grace 300ms
push_version eight
V8=$VER
wait_log 'any(r["b"]["event"] == "push" and r["b"]["version"] == '"$V8"' for r in j)' "the slow attempt is in flight"
E8=$(jq_ '[r["b"]["id"] for r in j if r["b"]["event"] == "push" and r["b"]["version"] == '"$V8"'][0]' "$(log_json)")
t0=$SECONDS
stop_server
took=$((SECONDS - t0))
[ "$took" -le 5 ] || fail "shutdown took ${took}s with an attempt in flight (--webhook-shutdown-grace 300ms)"
log "stopped in ${took}s with an attempt in flight"
stop_receiver
start_receiver "$RP"
start_server "$WORK/data" "${WEBHOOK_FLAGS[@]}"
wait_log 'len([r for r in j if r["b"]["id"] == "'"$E8"'"]) == 2 and [r for r in j if r["b"]["id"] == "'"$E8"'"][-1]["status"] == 200' "the interrupted event is delivered again after the restart"
deliveries "$W1"
assert_json '[(d["attempt"], d["outcome"]) for d in j["deliveries"] if d["event_id"] == "'"$E8"'"] == [(1, "delivered")]' "$BODY" "the interrupted attempt was not counted"
http GET /api/v1/audit/verify
assert_json 'j["ok"] == True' "$BODY" "audit chain intact"
verify_signatures "$S1" given-secret-2
stop_server
stop_receiver

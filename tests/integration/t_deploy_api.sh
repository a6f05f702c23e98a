#!/usr/bin/env bash
# t_deploy_api: nodes, deployments, their events and rollout verbs through
# the real CLI and HTTP (docs/cli.md, docs/api.md "Nodes and deployments"):
#   - every command once with --json (shapes and values), and the text forms;
#   - hostile input refused with the contract's exit codes and HTTP statuses,
#     changing nothing: bad names, URLs with user info or a query, unknown
#     drivers, stages and models, both stage and alias, bad selectors, steps
#     and analysis conditions, malformed and oversized bodies;
#   - verbs against the rollout phase, deploy status --watch (reprints on a
#     change, ends at once on a settled rollout, Ctrl-C is exit 0), and rm
#     of a version a deployment serves.
# The server runs without its reconciler (--no-controller): ctl_state_helper
# (MLREG_CTL_HELPER) puts a rollout in a phase through the registry calls a
# reconciler makes (reg_ctl_lease, reg_ctl_write), with the server stopped, so
# every phase is reached exactly; t_deploy_canary and friends test the
# reconciler itself.
source "$(dirname "$0")/lib.sh"

[ -x "${MLREG_CTL_HELPER:-}" ] || fail "MLREG_CTL_HELPER is not set to ctl_state_helper"

# ctl_state NAME STATE [EVENTS]: write a rollout state as a reconciler would.
ctl_state() {
	local err="$WORK/helper.err"
	stop_server
	"$MLREG_CTL_HELPER" "$DATA" "$@" 2>"$err" || fail "ctl_state_helper $*: $(cat "$err")"
	check_sanitizer_clean "$err" "ctl_state_helper"
	start_server "$DATA" --no-controller
}

start_server "$WORK/data" --no-controller

step "three versions; production holds v1, @champion v1; an empty stage edge"
cli_ok stages set staging,production,edge
mkdir -p "$WORK/m"
for i in 1 2 3; do
	printf 'v%s\n' "$i" >"$WORK/m/f.txt"
	cli_ok push fraud "$WORK/m"
done
cli_ok promote fraud:1 --to production
cli_ok alias set fraud@champion 1

# ---------------------------------------------------------------- nodes
step "node add, ls, rm with --json"
cli_ok node add n1 http://127.0.0.1:9/ --label pool=a --label zone=eu-1 --json
assert_json 'j["name"] == "n1" and j["url"] == "http://127.0.0.1:9" and j["driver"] == "mlreg" and j["labels"] == {"pool": "a", "zone": "eu-1"} and j["observed"] is None and j["created_by"] == "admin" and j["created_at"].endswith("Z")' "$OUT" "node add --json"
cli_ok node add n2 https://127.0.0.1:8443/base --driver mlreg --label pool=a,gpu=yes --json
cli_ok node add n3 http://127.0.0.1:10 --label pool=b
assert_eq "$OUT" "added node n3: http://127.0.0.1:10 (driver mlreg, labels pool=b)" "node add text"
cli_ok node ls --json
assert_json '[n["name"] for n in j["nodes"]] == ["n1", "n2", "n3"] and all(n["observed"] is None for n in j["nodes"])' "$OUT" "node ls --json"
cli_ok node ls
assert_contains "$OUT" "NAME" "node ls header"
assert_match "$(grep '^n2 ' <<<"$OUT")" 'https://127.0.0.1:8443/base +mlreg +pool=a,gpu=yes +unknown +- +never +-' "node ls row"
cli_ok node rm n3 --json
assert_json 'j == {"name": "n3", "removed": True}' "$OUT" "node rm --json"
cli node rm n3
expect_rc 5 "node rm of an unknown node"
cli_ok audit --json --action node.add
assert_json 'len(j["entries"]) == 3 and j["entries"][0]["subject"] == "n3"' "$OUT" "node.add audited"

step "hostile nodes: exit codes, 400s, nothing stored"
for args in "N1 http://h" "-x http://h" "a/b http://h" "n..x http://h" "$(printf 'n%.0s' {1..64}) http://h" \
	"n4 ftp://h" "n4 h:80" "n4 http://h --label Pool=a" "n4 http://h --label pool=a,pool=b" "n4 http://h --label pool" \
	"n4 http://h --label pool=a b" "n4" "n4 http://h extra"; do
	# shellcheck disable=SC2086
	cli node add $args
	expect_rc 2 "node add $args"
done
for url in http://u:p@127.0.0.1:1/ http://u@127.0.0.1 "http://127.0.0.1:1/?q=1" "http://127.0.0.1:1/#f" http://127.0.0.1:99999 "http://h/a b"; do
	cli node add n4 "$url"
	expect_rc 1 "node add n4 $url"
	assert_contains "$ERR" "invalid node url" "node add n4 $url: message"
done
cli node add n4 http://127.0.0.1:1 --driver triton
expect_rc 1 "unknown driver"
assert_contains "$ERR" "unknown node driver 'triton'" "unknown driver message"
cli node add n1 http://127.0.0.1:1
expect_rc 6 "node add of a taken name"
for body in '{"name":"n4","url":"http://x:y@h"}' '{"name":"n4","url":"http://h","driver":"torchserve"}' \
	'{"name":"n4","url":"http://h","labels":{"a":"b c"}}' '{"name":"n4","url":"http://h","labels":["a"]}' \
	'{"name":"N4","url":"http://h"}' '{"name":"n4","url":"http://h","extra":1}' '{"name":"n4"}' '[]' 'not json' \
	"$(printf '{"name":"n4","url":"http://h","labels":%s%s}' "$(printf '[%.0s' {1..40})" "$(printf ']%.0s' {1..40})")"; do
	http POST /api/v1/nodes -H 'Content-Type: application/json' --data-binary "$body"
	expect_code 400 "POST /api/v1/nodes $body"
	assert_json 'j["error"]["code"] == "invalid"' "$BODY" "400 code for $body"
done
http POST /api/v1/nodes -H 'Content-Type: application/json'
expect_code 400 "POST /api/v1/nodes without a body"
head -c 2000000 /dev/zero | tr '\0' ' ' >"$WORK/huge.json"
http POST /api/v1/nodes -H 'Content-Type: application/json' --data-binary @"$WORK/huge.json"
expect_code 413 "a node body past --max-json"
cli_ok node ls --json
assert_json '[n["name"] for n in j["nodes"]] == ["n1", "n2"]' "$OUT" "no node stored by a refused call"

# ---------------------------------------------------------------- deployments
step "deploy create with --json, every setting"
cli_ok deploy create fraud-prod --model fraud --stage production --selector pool=a \
	--steps 'weight:10, analysis:30s,weight:50,pause,weight:100' --analysis 'failure_rate<0.01,p99_ms <= 250' \
	--min-requests 20 --failure-limit 2 --max-unavailable 3 --progress-deadline 5m --scale-down-delay 0s \
	--analysis-interval 2s --failure-margin 0.05 --json
ST=$OUT
assert_json 'j["name"] == "fraud-prod" and j["model"] == "fraud" and j["stage"] == "production" and j["alias"] is None' "$ST" "create: what it follows"
assert_json 'j["selector"] == {"pool": "a"} and j["strategy"] == "canary" and j["steps"] == "weight:10,analysis:30s,weight:50,pause,weight:100"' "$ST" "create: steps normalised"
assert_json 'j["phase"] == "Progressing" and j["stable_version"] is None and j["target_version"] is None and j["rejected_version"] is None and j["step"] is None and j["verb"] is None' "$ST" "create: no rollout yet"
assert_json 'j["desired_version"] == 1 and j["message"] == "waiting for the controller" and j["analysis"] == []' "$ST" "create: desired"
assert_json '[(n["name"], n["healthy"], n["versions"]) for n in j["nodes"]] == [("n1", False, []), ("n2", False, [])]' "$ST" "create: selected nodes"
assert_json 'j["settings"] == {"analysis": "failure_rate<0.01,p99_ms<=250", "min_requests": 20, "failure_limit": 2, "max_unavailable": 3, "progress_deadline": "5m", "scale_down_delay": "0ms", "analysis_interval": "2s", "failure_margin": 0.05}' "$ST" "create: settings"
assert_json 'set(["name","model","stage","alias","selector","strategy","steps","stable_version","target_version","rejected_version","phase","step","message","updated_at","nodes","analysis"]) <= set(j)' "$ST" "create: the status members of docs/api.md"
cli_ok deploy create champ --model fraud --alias @champion --selector pool=a,gpu=yes --strategy blue-green
assert_contains "$OUT" "created deployment champ" "create text"
assert_contains "$OUT" "strategy   blue-green: weight:0,analysis:1m,weight:100" "create text: the preset written out"
assert_contains "$OUT" "alias @champion" "create text: the alias"
cli_ok deploy create rec --model fraud --stage edge --selector zone=eu-1 --strategy recreate --json
assert_json 'j["steps"] == "weight:100" and [n["name"] for n in j["nodes"]] == ["n1"] and j["desired_version"] is None' "$OUT" "recreate preset, the selector, an empty stage"
cli_ok audit --json --action deployment.create
assert_json '[e["subject"] for e in j["entries"]] == ["rec", "champ", "fraud-prod"] and j["entries"][2]["details"]["steps"] == "weight:10,analysis:30s,weight:50,pause,weight:100"' "$OUT" "deployment.create audited"

step "hostile deployments: exit codes, 400s, nothing stored"
cli deploy create bad --model fraud --stage qa --selector pool=a
expect_rc 5 "unknown stage"
assert_contains "$ERR" "unknown stage 'qa'" "unknown stage message"
cli deploy create bad --model nope --stage production --selector pool=a
expect_rc 5 "unknown model"
cli deploy create fraud-prod --model fraud --stage production --selector pool=a
expect_rc 6 "a taken name"
for args in "bad --model fraud --stage production --alias champion --selector pool=a" \
	"bad --model fraud --selector pool=a" "bad --model fraud --stage production" \
	"bad --model fraud --stage production --selector pool" "bad --model fraud --stage production --selector Pool=a" \
	"bad --model fraud --stage production --selector pool=a,pool=b" "bad --model fraud --stage production --selector pool=a/b" \
	"Bad --model fraud --stage production --selector pool=a" "bad --model Fraud --stage production --selector pool=a" \
	"bad --model fraud --stage Production --selector pool=a" "bad --model fraud --alias latest --selector pool=a" \
	"bad --model fraud --stage production --selector pool=a --strategy yolo" \
	"bad --model fraud --stage production --selector pool=a --analysis failure_rate=>1" \
	"bad --model fraud --stage production --selector pool=a --min-requests -1" \
	"bad --model fraud --stage production --selector pool=a --progress-deadline soon" \
	"bad --model fraud --stage production --selector pool=a --failure-margin 2" \
	"bad --model fraud --stage production --selector pool=a --replicas 3"; do
	# shellcheck disable=SC2086
	cli deploy create $args
	expect_rc 2 "deploy create $args"
done
for args in "--steps weight:500" "--steps weight:10;reboot" "--steps pause:0s" "--analysis accuracy>0.9" \
	"--progress-deadline 31d" "--failure-limit 0"; do
	# shellcheck disable=SC2086
	cli deploy create bad --model fraud --stage production --selector pool=a $args
	expect_rc 1 "deploy create bad $args (the registry's 400)"
done
for body in '{"name":"bad","model":"fraud","stage":"production","alias":"champion","selector":{"pool":"a"}}' \
	'{"name":"bad","model":"fraud","stage":"production","selector":{}}' \
	'{"name":"bad","model":"fraud","stage":"production","selector":"pool=a"}' \
	'{"name":"bad","model":"fraud","stage":"production","selector":{"pool":"a"},"steps":"weight:10,,weight:100"}' \
	'{"name":"bad","model":"fraud","stage":"production","selector":{"pool":"a"},"steps":7}' \
	'{"name":"bad","model":"fraud","stage":"production","selector":{"pool":"a"},"strategy":"canary2"}' \
	'{"name":"bad","model":"fraud","stage":"production","selector":{"pool":"a"},"analysis":"p99_ms<"}' \
	'{"name":"../bad","model":"fraud","stage":"production","selector":{"pool":"a"}}' \
	'{"name":"bad","model":"fraud","stage":"production","selector":{"pool":"a"},"min_requests":1e300}' \
	'"bad"' '{"name":"bad"'; do
	http POST /api/v1/deployments -H 'Content-Type: application/json' --data-binary "$body"
	expect_code 400 "POST /api/v1/deployments $body"
	assert_json 'j["error"]["code"] == "invalid"' "$BODY" "400 code for $body"
done
http POST /api/v1/deployments -H 'Content-Type: application/json' --data-binary @"$WORK/huge.json"
expect_code 413 "a deployment body past --max-json"
cli_ok deploy ls --json
assert_json '[d["name"] for d in j["deployments"]] == ["champ", "fraud-prod", "rec"]' "$OUT" "no deployment stored by a refused call"

step "deploy ls, status, events"
cli_ok deploy ls
assert_match "$(grep '^champ ' <<<"$OUT")" '^champ +fraud +@champion +Progressing +- +- +- +1$' "deploy ls row"
cli_ok deploy status fraud-prod --json
assert_json 'j["name"] == "fraud-prod" and j["steps"] == "weight:10,analysis:30s,weight:50,pause,weight:100"' "$OUT" "deploy status --json"
cli_ok deploy status fraud-prod
assert_contains "$OUT" "phase      Progressing" "status text: phase"
assert_contains "$OUT" "the stage points at 1" "status text: desired"
assert_contains "$OUT" "message    waiting for the controller" "status text: message"
cli deploy status nope
expect_rc 5 "status of an unknown deployment"
cli deploy status 'No!'
expect_rc 2 "status of a malformed name"
cli_ok deploy events fraud-prod --json
assert_json '[(e["kind"], e["message"]) for e in j["events"]] == [("created", "created by admin, following stage production")]' "$OUT" "deploy events --json"
cli deploy events fraud-prod --limit 0
expect_rc 2 "events --limit 0"
http GET '/api/v1/deployments/fraud-prod/events?limit=x'
expect_code 400 "events ?limit=x"

# ---------------------------------------------------------------- verbs
step "verbs without a rollout: 409, exit 6"
for v in pause resume promote abort retry; do
	cli rollout "$v" fraud-prod
	expect_rc 6 "rollout $v with no rollout"
	assert_contains "$ERR" "has no" "rollout $v message"
done
cli rollout promote fraud-prod --full
expect_rc 6 "rollout promote --full with no rollout"
cli rollout pause nope
expect_rc 5 "rollout pause of an unknown deployment"
http POST /api/v1/deployments/fraud-prod/rollout/halt
expect_code 400 "an unknown verb"

step "a rollout in progress (written as the reconciler writes it)"
ctl_state fraud-prod '{"phase":"Progressing","stable_version":1,"target_version":2,"step":1,"message":"measuring v2","analysis":[{"step":1,"result":"Inconclusive","metrics":{"requests":3}}]}' \
	'[{"kind":"rollout.started","message":"rolling out 2"}]'
cli_ok deploy status fraud-prod --json
assert_json 'j["phase"] == "Progressing" and j["stable_version"] == 1 and j["target_version"] == 2 and j["step"] == {"index": 1, "count": 5, "kind": "analysis"} and j["message"] == "measuring v2" and j["analysis"][0]["result"] == "Inconclusive"' "$OUT" "status of a rollout in progress"
cli_ok deploy status fraud-prod
assert_contains "$OUT" "phase      Progressing, step 2 of 5 analysis" "status text: the step"
assert_contains "$OUT" "step 1: Inconclusive requests=3" "status text: analysis"
cli rollout resume fraud-prod
expect_rc 6 "resume when not paused"
cli rollout retry fraud-prod
expect_rc 6 "retry with nothing rejected"
cli_ok rollout pause fraud-prod --json
assert_json 'j["verb"] == "pause" and j["name"] == "fraud-prod"' "$OUT" "rollout pause --json"
cli_ok rollout promote fraud-prod
assert_contains "$OUT" "requested promote of deployment fraud-prod" "rollout promote text"
assert_contains "$OUT" "pending    promote" "the pending verb shown"
cli_ok rollout promote fraud-prod --full --json
assert_json 'j["verb"] == "promote-full"' "$OUT" "rollout promote --full --json"

step "deploy status --watch: a change is printed again; Ctrl-C is exit 0"
MLREG_REGISTRY="$URL" MLREG_TOKEN="$TOKEN" "$MLREG_BIN" deploy status fraud-prod --watch --json >"$WORK/watch.out" 2>"$WORK/watch.err" &
WATCH=$!
track_bg "$WATCH"
for ((i = 0; i < 100; i++)); do [ -s "$WORK/watch.out" ] && break; sleep 0.05; done
cli_ok rollout abort fraud-prod --json
assert_json 'j["verb"] == "abort" and j["phase"] == "Progressing"' "$OUT" "rollout abort --json"
for ((i = 0; i < 100; i++)); do [ "$(wc -l <"$WORK/watch.out")" -ge 2 ] && break; sleep 0.05; done
kill -INT "$WATCH"
rc=0
wait "$WATCH" || rc=$?
assert_eq "$rc" 0 "watch ended by Ctrl-C"
check_sanitizer_clean "$WORK/watch.err" "deploy status --watch"
assert_eq "$(wc -l <"$WORK/watch.out")" 2 "one JSON line per change"
assert_json 'j["verb"] == "promote-full"' "$(head -1 "$WORK/watch.out")" "the first line"
assert_json 'j["verb"] == "abort"' "$(tail -1 "$WORK/watch.out")" "the line after the change"
cli_ok deploy events fraud-prod --json
assert_json '[e["kind"] for e in j["events"]] == ["verb", "verb", "verb", "verb", "rollout.started", "created"] and j["events"][0]["details"] == {"verb": "abort", "by": "admin"}' "$OUT" "events newest first"
cli_ok deploy events fraud-prod
assert_contains "$OUT" "abort requested by admin" "events text"
cli_ok audit --json --action rollout.pause
assert_json 'len(j["entries"]) == 1 and j["entries"][0]["subject"] == "fraud-prod" and j["entries"][0]["model"] == "fraud"' "$OUT" "rollout.pause audited"
cli_ok audit --json --action rollout.started
assert_json 'len(j["entries"]) == 1 and j["entries"][0]["actor"] == "controller"' "$OUT" "the reconciler's rollout.started audited"

step "paused: resume applies, pause does not"
ctl_state fraud-prod '{"phase":"Paused","stable_version":1,"target_version":2,"step":3,"message":"paused at step 4"}'
cli rollout pause fraud-prod
expect_rc 6 "pause when paused"
assert_contains "$ERR" "already paused" "pause when paused: message"
cli_ok rollout resume fraud-prod --json
assert_json 'j["verb"] == "resume" and j["phase"] == "Paused" and j["step"] == {"index": 3, "count": 5, "kind": "pause"}' "$OUT" "rollout resume --json"

step "aborted: only retry applies; a served version cannot be deleted"
ctl_state fraud-prod '{"phase":"Degraded","stable_version":3,"rejected_version":2,"message":"v2 was rejected"}'
cli_ok deploy status fraud-prod --json
assert_json 'j["verb"] is None and j["rejected_version"] == 2 and j["phase"] == "Degraded"' "$OUT" "the verb was consumed"
for v in pause resume promote abort; do
	cli rollout "$v" fraud-prod
	expect_rc 6 "rollout $v when Degraded"
done
cli_ok rollout retry fraud-prod --json
assert_json 'j["verb"] == "retry"' "$OUT" "rollout retry --json"
cli rm fraud:3
expect_rc 6 "rm of the version a deployment serves"
assert_contains "$ERR" "deployment 'fraud-prod' serves it as its stable version" "rm message"

step "settled: --watch prints once and ends"
ctl_state fraud-prod '{"phase":"Healthy","stable_version":3}'
cli_ok deploy status fraud-prod --watch --json
assert_eq "$(wc -l <<<"$OUT")" 1 "one line"
assert_json 'j["phase"] == "Healthy" and j["target_version"] is None' "$OUT" "settled status"
cli_ok deploy status fraud-prod --watch
assert_contains "$OUT" "phase      Healthy" "settled status text"

step "deploy rm; the version and the stage are free again"
cli stages set staging,production
expect_rc 6 "stages set dropping a stage a deployment follows"
assert_contains "$ERR" "cannot remove stage 'edge': deployment 'rec' follows it" "stages set message"
cli_ok deploy rm fraud-prod --json
assert_json 'j == {"name": "fraud-prod", "removed": True}' "$OUT" "deploy rm --json"
cli deploy rm fraud-prod
expect_rc 5 "deploy rm of an unknown deployment"
cli deploy events fraud-prod
expect_rc 5 "events of a removed deployment"
cli_ok rm fraud:3
cli_ok deploy rm rec
assert_contains "$OUT" "removed deployment rec" "deploy rm text"
cli_ok stages set staging,production
cli_ok audit verify
stop_server

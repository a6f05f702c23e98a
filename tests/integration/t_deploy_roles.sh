#!/usr/bin/env bash
# t_deploy_roles: the permission matrix of the controller's routes, for
# tokens of every role (docs/security.md):
#   nodes        add and remove: admin; list: every role but node
#   deployments  create, remove and rollout verbs: deployer and admin;
#                list, status and events: every role but node
# A refused call is 403 `forbidden` and changes nothing; no token or a
# garbage token is 401 on every route; the CLI exits 4 for both.
source "$(dirname "$0")/lib.sh"

start_server "$WORK/data" --no-controller
ROLES=(reader writer approver deployer admin node)

step "tokens for every role; a model, nodes and deployments to remove"
declare -A TOK
for r in "${ROLES[@]}"; do
	cli_ok token create "tok-$r" --role "$r" --principal "p-$r" --json
	TOK[$r]=$(jq_ 'j["token"]' "$OUT")
done
mkdir -p "$WORK/m"
printf 'v1\n' >"$WORK/m/f.txt"
cli_ok push m "$WORK/m"
cli_ok promote m:1 --to production
cli_ok deploy create base --model m --stage production --selector pool=a
for r in "${ROLES[@]}"; do
	cli_ok node add "pre-$r" http://127.0.0.1:1 --label pool=a
	cli_ok deploy create "pre-$r" --model m --stage production --selector pool=a
done
cli_ok audit verify --json
NAUDIT=$(jq_ 'j["entries"]' "$OUT")

# name|METHOD|path|body|reader writer approver deployer admin node ('-' = 403)
MATRIX=$(
	cat <<'EOF'
node.add|POST|/api/v1/nodes|{"name":"rn-{R}","url":"http://127.0.0.1:1"}|- - - - 201 -
node.ls|GET|/api/v1/nodes||200 200 200 200 200 -
node.rm|DELETE|/api/v1/nodes/pre-{R}||- - - - 200 -
deploy.create|POST|/api/v1/deployments|{"name":"rd-{R}","model":"m","stage":"production","selector":{"pool":"a"}}|- - - 201 201 -
deploy.ls|GET|/api/v1/deployments||200 200 200 200 200 -
deploy.status|GET|/api/v1/deployments/base||200 200 200 200 200 -
deploy.events|GET|/api/v1/deployments/base/events||200 200 200 200 200 -
deploy.rm|DELETE|/api/v1/deployments/pre-{R}||- - - 200 200 -
rollout.pause|POST|/api/v1/deployments/base/rollout/pause||- - - 409 409 -
rollout.retry|POST|/api/v1/deployments/base/rollout/retry||- - - 409 409 -
EOF
)

step "the matrix, endpoint by endpoint"
NCHECK=0
while IFS='|' read -r name method path body expect; do
	[ -n "$name" ] || continue
	read -r -a want <<<"$expect"
	[ "${#want[@]}" = 6 ] || fail "matrix row $name has ${#want[@]} columns"
	for ((k = 0; k < 6; k++)); do
		r=${ROLES[$k]}
		p=${path//\{R\}/$r}
		b=${body//\{R\}/$r}
		TOKEN=${TOK[$r]}
		args=()
		[ -n "$b" ] && args+=(-H 'Content-Type: application/json' --data-binary "$b")
		http "$method" "$p" "${args[@]}"
		w=${want[$k]}
		if [ "$w" = - ]; then
			[ "$CODE" = 403 ] || fail "$r $method $p ($name): expected 403, got $CODE: $BODY"
			assert_json 'j["error"]["code"] == "forbidden"' "$BODY" "$r $name: 403 error code"
		else
			[ "$CODE" = "$w" ] || fail "$r $method $p ($name): expected $w, got $CODE: $BODY"
		fi
		NCHECK=$((NCHECK + 1))
	done
	# no token and a garbage token: 401 before anything else
	for tok in "" "mlr_garbage000000000000000000000000000000"; do
		TOKEN=$tok
		args=()
		[ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "${body//\{R\}/anon}")
		http "$method" "${path//\{R\}/admin}" "${args[@]}"
		[ "$CODE" = 401 ] || fail "$method $path without a valid token: expected 401, got $CODE: $BODY"
		assert_json 'j["error"]["code"] == "unauthenticated"' "$BODY" "$name: 401 code"
	done
done <<<"$MATRIX"
TOKEN=$ADMIN
log "$NCHECK role/endpoint checks"

step "refused calls changed nothing; allowed ones did"
cli_ok node ls --json
assert_json 'sorted(n["name"] for n in j["nodes"]) == ["pre-approver", "pre-deployer", "pre-node", "pre-reader", "pre-writer", "rn-admin"]' "$OUT" "nodes added and removed only by admin"
cli_ok deploy ls --json
assert_json 'sorted(d["name"] for d in j["deployments"]) == ["base", "pre-approver", "pre-node", "pre-reader", "pre-writer", "rd-admin", "rd-deployer"]' "$OUT" "deployments created and removed only by deployer and admin"
cli_ok deploy events base --json
assert_json '[e["kind"] for e in j["events"]] == ["created"]' "$OUT" "no verb recorded (all refused or conflicting)"
cli_ok audit --json --limit 1000
assert_json 'all(e["actor"] in {"node.add": ("admin", "p-admin"), "node.remove": ("p-admin",), "deployment.create": ("admin", "p-deployer", "p-admin"), "deployment.remove": ("p-deployer", "p-admin")}.get(e["action"], (e["actor"],)) for e in j["entries"])' "$OUT" "controller actions audited only for the roles allowed them"
cli_ok audit verify --json
# allowed: node add + node rm (admin), 2 creates and 2 removes (deployer, admin)
assert_json 'j["entries"] == '"$((NAUDIT + 6))" "$OUT" "one audit entry per allowed call"

step "the CLI: 0 where allowed, 4 where refused"
cli_as() { # ROLE RC ARGS...
	local r=$1 wanted=$2
	shift 2
	TOKEN=${TOK[$r]}
	cli "$@"
	expect_rc "$wanted" "mlreg $* as $r"
	TOKEN=$ADMIN
}
for r in reader writer approver; do
	cli_as $r 0 node ls
	cli_as $r 0 deploy ls
	cli_as $r 0 deploy status base
	cli_as $r 0 deploy events base
	cli_as $r 4 node add "cli-$r" http://127.0.0.1:1
	cli_as $r 4 node rm pre-writer
	cli_as $r 4 deploy create "cli-$r" --model m --stage production --selector pool=a
	cli_as $r 4 deploy rm pre-writer
	cli_as $r 4 rollout pause base
	cli_as $r 4 rollout promote base --full
done
cli_as deployer 4 node add cli-deployer http://127.0.0.1:1
cli_as deployer 0 deploy create cli-deployer --model m --stage production --selector pool=a
cli_as deployer 6 rollout abort base
cli_as deployer 0 deploy rm cli-deployer
cli_as node 4 node ls
cli_as node 4 deploy ls
cli_as node 4 deploy status base
cli_as node 4 rollout retry base
cli_as admin 0 node add cli-admin http://127.0.0.1:1
cli_as admin 0 node rm cli-admin
TOKEN=""
cli deploy ls
expect_rc 4 "deploy ls without a token"
TOKEN=$ADMIN
cli_ok node ls --json
assert_json 'not any(n["name"].startswith("cli-") for n in j["nodes"])' "$OUT" "no node left by the CLI calls"
cli_ok audit verify
stop_server

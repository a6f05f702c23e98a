#!/usr/bin/env bash
# t_role_matrix: every route x every role, generated from the server's own
# route table (`mlreg server --print-routes`, the table docs/security.md's
# route table is generated from), plus hand-written must-deny cases:
#   - no token / a bad token: 401 on every route that needs one
#   - a role without the route's permission: 403 `forbidden`
#   - a role with it: neither 401 nor 403 (placeholders: 404/400 are fine)
#   - a writer cannot promote; a node token cannot list models; a reader
#     cannot read tokens
#   - a staging-scoped deployer can promote to staging, not to production
#   - a model-scoped token gets the same 403 for an existing and a missing
#     model outside its scope; no token gets the same 401 for existing and
#     missing objects
# Routes other branches add (keys, signatures, ...) join the matrix by
# themselves: nothing here lists routes.
source "$(dirname "$0")/lib.sh"

# one server; the matrix makes ~500 requests in a second or two, so the
# per-token and per-address limits are off here (t_tokens tests them)
start_server "$WORK/data" --rate-limit 0 --auth-fail-rate 0
ROLES=(reader writer approver deployer admin node)

step "route table"
"$MLREG_BIN" server --print-routes >"$WORK/routes.tsv"
n=$(wc -l <"$WORK/routes.tsv")
assert_gt "$n" 50 "--print-routes lists the routes"
assert_contains "$(cat "$WORK/routes.tsv")" $'POST\t/api/v1/models/{name}/stages/{stage}/promote\tpromote\tdeployer,admin' \
	"promote needs the promote permission"

step "a token per role"
declare -A TOK
echo "{" >"$WORK/tokens.json"
sep=""
for r in "${ROLES[@]}"; do
	cli_ok token create "m-$r" --role "$r" --json
	TOK[$r]=$(jq_ 'j["token"]' "$OUT")
	printf '%s"%s":"%s"' "$sep" "$r" "${TOK[$r]}" >>"$WORK/tokens.json"
	sep=","
done
echo "}" >>"$WORK/tokens.json"
chmod 600 "$WORK/tokens.json"

step "matrix: every route x (no token, bad token, 6 roles)"
if ! "${PY[@]}" "$MLREG_SRC/tests/integration/role_matrix.py" "$URL" "$WORK/routes.tsv" "$WORK/tokens.json" >"$WORK/matrix.out" 2>&1; then
	cat "$WORK/matrix.out" >&2
	fail "role matrix"
fi
tail -1 "$WORK/matrix.out" >&2
assert_match "$(tail -1 "$WORK/matrix.out")" '^[0-9]{3,} passed, 0 failed$' "matrix closing line"

# ---------------------------------------------------------------- must-deny
step "data: a model with a version"
mkdir -p "$WORK/m"
echo one >"$WORK/m/f.txt"
cli_ok push fraud "$WORK/m" --json
echo two >"$WORK/m/f.txt"
cli_ok push fraud "$WORK/m" --json

step "a writer cannot promote"
TOKEN=${TOK[writer]} cli promote fraud:1 --to staging
expect_rc 4 "writer promote"
TOKEN=${TOK[writer]} http POST /api/v1/models/fraud/stages/staging/promote -H 'Content-Type: application/json' -d '{"version":1}'
expect_code 403 "writer promote over HTTP"
assert_contains "$BODY" '"forbidden"' "writer promote: forbidden"

step "a node token cannot list models"
TOKEN=${TOK[node]} http GET /api/v1/models
expect_code 403 "node lists models"
TOKEN=${TOK[node]} cli ls
expect_rc 4 "node mlreg ls"

step "a reader cannot read tokens"
TOKEN=${TOK[reader]} http GET /api/v1/tokens
expect_code 403 "reader lists tokens"
TOKEN=${TOK[reader]} cli token ls
expect_rc 4 "reader token ls"

step "a staging-scoped deployer: staging yes, production no"
cli_ok token create dep-staging --role deployer --stages staging --json
DS=$(jq_ 'j["token"]' "$OUT")
TOKEN=$DS cli promote fraud:1 --to production
expect_rc 4 "staging-scoped deployer promotes to production"
assert_contains "$ERR" "scope" "the refusal names the scope"
TOKEN=$DS cli_ok promote fraud:1 --to staging
TOKEN=$DS cli rollback fraud --stage production
expect_rc 4 "staging-scoped deployer rolls back production"
TOKEN=$DS cli alias set fraud@champion 1
expect_rc 4 "stage-scoped deployer cannot move an alias"
cli_ok stages ls --json
TOKEN=$ADMIN cli_ok promote fraud:1 --to production

step "a model-scoped token: same 403 for an existing and a missing model"
cli_ok token create reader-churn --role reader --models 'churn-*' --json
RC_TOK=$(jq_ 'j["token"]' "$OUT")
for p in /api/v1/models/fraud /api/v1/models/fraud/versions/1 /api/v1/models/fraud/versions/2/manifest \
	/api/v1/models/fraud/stages /api/v1/models/fraud/history; do
	TOKEN=$RC_TOK http GET "$p"
	expect_code 403 "scoped GET $p (exists)"
	b1=$BODY
	missing=${p/fraud/nosuch}
	TOKEN=$RC_TOK http GET "$missing"
	expect_code 403 "scoped GET $missing (missing)"
	assert_eq "$BODY" "$b1" "same 403 body for existing and missing ($p)"
done
TOKEN=$RC_TOK http GET /api/v1/models/churn-x
expect_code 404 "in-scope missing model is a plain 404"
TOKEN=$RC_TOK http GET /api/v1/models
expect_code 200 "scoped list"
assert_not_contains "$BODY" '"fraud"' "scoped list hides models outside the scope"

step "no token: same 401 for existing and missing objects"
for pair in "/api/v1/models/fraud|/api/v1/models/nosuch" "/api/v1/models/fraud/versions/1|/api/v1/models/fraud/versions/99" \
	"/api/v1/models/fraud/history|/api/v1/models/nosuch/history"; do
	a=${pair%%|*} b=${pair##*|}
	TOKEN="" http GET "$a"
	expect_code 401 "no token GET $a"
	b1=$BODY
	TOKEN="" http GET "$b"
	expect_code 401 "no token GET $b"
	assert_eq "$BODY" "$b1" "same 401 body for $a and $b"
done
TOKEN="" http DELETE /api/v1/tokens/m-reader
expect_code 401 "no token DELETE an existing token"
b1=$BODY
TOKEN="" http DELETE /api/v1/tokens/nosuch
assert_eq "$BODY" "$b1" "same 401 for deleting existing and missing tokens"

stop_server
log "PASS"

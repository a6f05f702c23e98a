#!/usr/bin/env bash
# t_roles: the permission matrix, endpoint by endpoint, for tokens of every
# role (created with `mlreg token create NAME --role R --json`):
#   reader   read models/versions/search/diff/audit, pull blobs; no writes
#   writer   reader + push, metrics, tags, deprecate; no rm, gc, fsck, tokens
#   approver reader + approve a version for a stage (not promote, rollback,
#            alias set/rm; no writes)
#   deployer reader + promote, rollback, alias set/rm (not approve, not
#            stages set, not policy set/rm, not rollback --force; no writes)
#   admin    everything, incl. rm, gc, fsck, tokens, stages set, policy set/rm,
#            webhook add/ls, rollback --force
#   node     GET blobs, version objects, manifests (and archives) only
# Everyone but node may read the release state: stages ls, history, gate,
# approvals, policy show.  Reader, writer and node may do none of the release
# verbs (approve, promote, rollback, alias set/rm).  (docs/security.md)
# A refused call is 403 `forbidden` and changes nothing.  No token, a garbage
# token or a revoked token is 401 `unauthenticated`.  The CLI exits 4 for both.
source "$(dirname "$0")/lib.sh"

# webhooks may target loopback (an unused port): deliveries fail fast
start_server "$WORK/data" --webhook-allow-private
ROLES=(reader writer approver deployer admin node)

# ---------------------------------------------------------------- setup
step "tokens for every role"
declare -A TOK
for r in "${ROLES[@]}"; do
	cli_ok token create "tok-$r" --role "$r" --principal "p-$r" --json
	assert_json 'j["name"] == "tok-'"$r"'" and j["role"] == "'"$r"'" and j["principal"] == "p-'"$r"'"' "$OUT" "token create --json for $r"
	TOK[$r]=$(jq_ 'j["token"]' "$OUT")
	assert_match "${TOK[$r]}" '^mlr_[A-Za-z0-9_-]{20,}$' "token format for $r"
	cli_ok token create "victim-$r" --role reader --json
done
cli_ok token create plain --role reader
assert_match "$OUT" '^mlr_[A-Za-z0-9_-]{20,}$' "token create prints the token alone on stdout"
assert_contains "$ERR" "only once" "token create warns the token is shown once"

step "versions to read, deprecate and delete"
mkdir -p "$WORK/m"
for i in 1 2; do
	printf 'v%s\n' "$i" >"$WORK/m/f.txt"
	cli_ok push roles "$WORK/m" --metric acc=0.$i
done
declare -A VD VR
i=0
for r in "${ROLES[@]}"; do
	printf 'deprecate %s\n' "$r" >"$WORK/m/f.txt"
	cli_ok push roles "$WORK/m" --json
	VD[$r]=$(jq_ 'j["version"]' "$OUT")
	printf 'delete %s\n' "$r" >"$WORK/m/f.txt"
	cli_ok push roles "$WORK/m" --json
	VR[$r]=$(jq_ 'j["version"]' "$OUT")
done
step "release state: versions to promote, approve, roll back; aliases and policies to remove"
declare -A VP
for r in "${ROLES[@]}"; do
	printf 'promote %s\n' "$r" >"$WORK/m/f.txt"
	cli_ok push roles "$WORK/m" --json
	VP[$r]=$(jq_ 'j["version"]' "$OUT")
	cli_ok alias set "roles@pre-$r" 1
	cli_ok policy set "pre-$r" --stage staging --approvals 1
done
# a version someone other than admin pushed, so admin may approve it too
printf 'approve me\n' >"$WORK/m/f.txt"
TOKEN=${TOK[writer]}
cli_ok push roles "$WORK/m" --json
VA=$(jq_ 'j["version"]' "$OUT")
TOKEN=$ADMIN
# production's stack three deep: the deployer and the admin each pop one
for i in 1 2 3; do
	printf 'stack %s\n' "$i" >"$WORK/m/f.txt"
	cli_ok push roles "$WORK/m" --json
	cli_ok promote "roles:$(jq_ 'j["version"]' "$OUT")" --to production
done
cli_ok history roles --stage production --json
STACK=$(jq_ '" ".join(str(h["to"]) for h in j["history"])' "$OUT")
read -r -a STACK <<<"$STACK"

cli_ok show roles:1 --json
BLOB=$(jq_ 'j["files"][0]["digest"]' "$OUT")
BLOBSIZE=$(jq_ 'j["files"][0]["size"]' "$OUT")

# ---------------------------------------------------------------- matrix
# Columns: reader writer approver deployer admin node ("-" = 403).
# {R} is the role, {VD}/{VR}/{VP} its own version to deprecate/delete/promote.
MATRIX=$(
	cat <<EOF
whoami|GET|/api/v1/whoami||200 200 200 200 200 200
models.list|GET|/api/v1/models||200 200 200 200 200 -
model.get|GET|/api/v1/models/roles||200 200 200 200 200 -
versions.list|GET|/api/v1/models/roles/versions||200 200 200 200 200 -
version.get|GET|/api/v1/models/roles/versions/1||200 200 200 200 200 200
manifest|GET|/api/v1/models/roles/versions/1/manifest||200 200 200 200 200 200
archive|GET|/api/v1/models/roles/versions/1/archive||200 200 200 200 200 200
blob.get|GET|/api/v1/blobs/$BLOB||200 200 200 200 200 200
blob.head|HEAD|/api/v1/blobs/$BLOB||200 200 200 200 200 200
search|GET|/api/v1/versions?model=roles||200 200 200 200 200 -
diff|GET|/api/v1/diff?from=roles:1&to=roles:2||200 200 200 200 200 -
audit|GET|/api/v1/audit||200 200 200 200 200 -
audit.verify|GET|/api/v1/audit/verify||200 200 200 200 200 -
blob.post|POST|/api/v1/blobs|blob for {R}|- 201 - - 201 -
upload.create|POST|/api/v1/uploads||- 202 - - 202 -
model.create|POST|/api/v1/models|{"name":"made-by-{R}"}|- 201 - - 201 -
model.tags|PATCH|/api/v1/models/roles/tags|{"by-{R}":"yes"}|- 200 - - 200 -
version.create|POST|/api/v1/models/roles/versions|{"files":[{"path":"f.txt","size":$BLOBSIZE,"digest":"$BLOB","mode":420}],"description":"by {R}"}|- 201 - - 201 -
metrics|POST|/api/v1/models/roles/versions/1/metrics|{"metrics":[{"key":"m-{R}","value":1}]}|- 200 - - 200 -
version.tags|PATCH|/api/v1/models/roles/versions/1/tags|{"t-{R}":"yes"}|- 200 - - 200 -
deprecate|POST|/api/v1/models/roles/versions/{VD}/deprecate||- 200 - - 200 -
rm|DELETE|/api/v1/models/roles/versions/{VR}||- - - - 200 -
gc|POST|/api/v1/gc?dry_run=true||- - - - 200 -
fsck|POST|/api/v1/fsck||- - - - 200 -
tokens.list|GET|/api/v1/tokens||- - - - 200 -
tokens.create|POST|/api/v1/tokens|{"name":"tok-by-{R}","role":"reader"}|- - - - 201 -
tokens.revoke|DELETE|/api/v1/tokens/victim-{R}||- - - - 200 -
stages.get|GET|/api/v1/stages||200 200 200 200 200 -
model.stages|GET|/api/v1/models/roles/stages||200 200 200 200 200 -
history|GET|/api/v1/models/roles/history||200 200 200 200 200 -
gate|GET|/api/v1/models/roles/versions/1/gate?stage=staging||200 200 200 200 200 -
approvals.list|GET|/api/v1/models/roles/versions/1/approvals||200 200 200 200 200 -
policies.list|GET|/api/v1/policies||200 200 200 200 200 -
approve|POST|/api/v1/models/roles/versions/$VA/approvals|{"stage":"production","comment":"by {R}"}|- - 201 - 201 -
promote|POST|/api/v1/models/roles/stages/staging/promote|{"version":{VP},"comment":"by {R}"}|- - - 200 200 -
rollback|POST|/api/v1/models/roles/stages/production/rollback|{"comment":"by {R}"}|- - - 200 200 -
rollback.force|POST|/api/v1/models/roles/stages/production/rollback|{"to":{VP},"force":true}|- - - - 200 -
alias.set|PUT|/api/v1/models/roles/aliases/a-{R}|{"version":1}|- - - 200 200 -
alias.rm|DELETE|/api/v1/models/roles/aliases/pre-{R}||- - - 200 200 -
stages.set|PUT|/api/v1/stages|{"stages":["staging","production","extra-{R}"]}|- - - - 200 -
policy.set|PUT|/api/v1/policies/pol-{R}/staging|{"approvals":1}|- - - - 200 -
policy.rm|DELETE|/api/v1/policies/pre-{R}/staging||- - - - 200 -
webhook.add|POST|/api/v1/webhooks|{"url":"http://127.0.0.1:1/hook-{R}","events":["deprecate"]}|- - - - 201 -
webhook.ls|GET|/api/v1/webhooks||- - - - 200 -
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
		p=${p//\{VD\}/${VD[$r]}}
		p=${p//\{VR\}/${VR[$r]}}
		b=${body//\{R\}/$r}
		b=${b//\{VP\}/${VP[$r]}}
		TOKEN=${TOK[$r]}
		args=()
		[ "$method" = HEAD ] && args+=(-I)
		if [ -n "$b" ]; then
			case "$b" in
			'{'*) args+=(-H 'Content-Type: application/json') ;;
			*) args+=(-H 'Content-Type: application/octet-stream') ;;
			esac
			args+=(--data-binary "$b")
		fi
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
done <<<"$MATRIX"
TOKEN=$ADMIN
log "$NCHECK role/endpoint checks"

step "whoami names each token's principal and role"
for r in "${ROLES[@]}"; do
	TOKEN=${TOK[$r]}
	http GET /api/v1/whoami
	assert_json 'j["role"] == "'"$r"'" and j["principal"] == "p-'"$r"'" and j["token_name"] == "tok-'"$r"'"' "$BODY" "whoami as $r"
done
TOKEN=$ADMIN

step "refused calls changed nothing; allowed ones did"
cli_ok ls --json
assert_json 'sorted(m["name"] for m in j["models"]) == ["made-by-admin", "made-by-writer", "roles"]' "$OUT" "models created only by writer and admin"
cli_ok show roles:1 --json
assert_json 'sorted(j["metrics"]) == ["acc", "m-admin", "m-writer"]' "$OUT" "metrics logged only by writer and admin"
assert_json 'sorted(j["tags"]) == ["t-admin", "t-writer"]' "$OUT" "version tags set only by writer and admin"
for r in "${ROLES[@]}"; do
	cli_ok show "roles:${VD[$r]}" --json
	st=$(jq_ 'j["status"]' "$OUT")
	case $r in writer | admin) assert_eq "$st" deprecated "roles:${VD[$r]} deprecated by $r" ;; *) assert_eq "$st" ready "roles:${VD[$r]} not deprecated by $r" ;; esac
	cli_ok show "roles:${VR[$r]}" --json
	st=$(jq_ 'j["status"]' "$OUT")
	case $r in admin) assert_eq "$st" deleted "roles:${VR[$r]} deleted by admin" ;; *) assert_eq "$st" ready "roles:${VR[$r]} not deleted by $r" ;; esac
done
cli_ok ls roles --json
assert_json '[v["description"] for v in j["versions"] if v["description"].startswith("by ")] == ["by writer", "by admin"]' "$OUT" "versions created only by writer and admin"
assert_json '[v["created_by"] for v in j["versions"] if v["description"].startswith("by ")] == ["p-writer", "p-admin"]' "$OUT" "created_by is the token's principal"
cli_ok token ls --json
assert_json '[t["name"] for t in j["tokens"] if t["name"].startswith("tok-by-")] == ["tok-by-admin"]' "$OUT" "tokens created only by admin"
assert_json 'sorted(t["name"] for t in j["tokens"] if t["name"].startswith("victim-") and t["revoked"]) == ["victim-admin"]' "$OUT" "tokens revoked only by admin"
assert_json 'all("token" not in t for t in j["tokens"])' "$OUT" "token ls never shows secrets"
http GET "/api/v1/blobs/$(printf 'blob for reader' | sha256sum | cut -d' ' -f1 | sed 's/^/sha256:/')"
expect_code 404 "a reader's refused blob upload stored nothing"
http GET "/api/v1/blobs/$(printf 'blob for writer' | sha256sum | cut -d' ' -f1 | sed 's/^/sha256:/')"
expect_code 200 "the writer's blob upload stored the bytes"
cli_ok audit --json --action version.create
assert_json 'any(e["actor"] == "p-writer" for e in j["entries"])' "$OUT" "audit names the writer's principal"
assert_json 'not any(e["actor"] in ("p-reader", "p-approver", "p-deployer", "p-node") for e in j["entries"])' "$OUT" "no audit entry for refused roles"

step "refused release verbs changed nothing; allowed ones did"
http GET "/api/v1/models/roles/versions/$VA/approvals?stage=production"
expect_code 200 "approvals of roles:$VA"
assert_json 'sorted((a["principal"], a["comment"]) for a in j["approvals"]) == [("p-admin", "by admin"), ("p-approver", "by approver")]' "$BODY" "approvals only by approver and admin"
cli_ok history roles --stage staging --json
assert_json '[(h["kind"], h["from"], h["to"], h["actor"], h["comment"]) for h in j["history"]] == [("promote", None, '"${VP[deployer]}"', "p-deployer", "by deployer"), ("promote", '"${VP[deployer]}"', '"${VP[admin]}"', "p-admin", "by admin")]' "$OUT" "staging promoted only by deployer and admin"
cli_ok history roles --stage production --json
assert_json '[(h["kind"], h["from"], h["to"], h["actor"]) for h in j["history"]][3:] == [("rollback", '"${STACK[2]}"', '"${STACK[1]}"', "p-deployer"), ("rollback", '"${STACK[1]}"', '"${STACK[0]}"', "p-admin"), ("rollback", '"${STACK[0]}"', '"${VP[admin]}"', "p-admin")] and len(j["history"]) == 6' "$OUT" "production rolled back only by deployer and admin, forced only by admin"
http GET /api/v1/models/roles/stages
expect_code 200 "GET /api/v1/models/roles/stages"
assert_json 'sorted(a["alias"] for a in j["aliases"]) == ["a-admin", "a-deployer", "pre-approver", "pre-node", "pre-reader", "pre-writer"]' "$BODY" "aliases set and removed only by deployer and admin"
assert_json '[(s["stage"], s["version"]) for s in j["stages"]] == [("staging", '"${VP[admin]}"'), ("production", '"${VP[admin]}"'), ("extra-admin", None)]' "$BODY" "stage pointers"
cli_ok stages ls --json
assert_json 'j == {"stages": ["staging", "production", "extra-admin"]}' "$OUT" "stages set only by admin"
cli_ok policy show --json
assert_json 'sorted(p["model"] for p in j["policies"]) == ["pol-admin", "pre-approver", "pre-deployer", "pre-node", "pre-reader", "pre-writer"]' "$OUT" "policies set and removed only by admin"
cli_ok webhook ls --json
assert_json '[w["url"] for w in j["webhooks"]] == ["http://127.0.0.1:1/hook-admin"]' "$OUT" "webhooks added only by admin"
cli_ok audit --json --limit 1000
assert_json 'all(e["actor"] in {"approve": ("p-approver", "p-admin"), "promote": ("p-deployer", "p-admin", "admin"), "rollback": ("p-deployer", "p-admin"), "alias.set": ("p-deployer", "p-admin", "admin"), "alias.remove": ("p-deployer", "p-admin"), "stages.set": ("p-admin",), "policy.set": ("p-admin", "admin"), "policy.remove": ("p-admin",), "webhook.add": ("p-admin",)}.get(e["action"], (e["actor"],)) for e in j["entries"])' "$OUT" "release actions audited only for the roles allowed them"
assert_json 'sorted(e["actor"] for e in j["entries"] if e["action"] in ("approve", "stages.set", "policy.remove", "webhook.add", "rollback")) == ["p-admin", "p-admin", "p-admin", "p-admin", "p-admin", "p-admin", "p-approver", "p-deployer"]' "$OUT" "one audit entry per allowed release call"

# ---------------------------------------------------------------- 401
step "no token, garbage, revoked: 401 unauthenticated"
TOKEN=""
http GET /api/v1/models
expect_code 401 "no Authorization header"
assert_json 'j["error"]["code"] == "unauthenticated"' "$BODY" "401 code"
for hdr in "Bearer garbage" "Bearer mlr_garbage000000000000000000000000000000" "Bearer " "Basic dXNlcjpwYXNz" \
	"Bearer ${TOK[admin]}x" "bearer-${TOK[admin]}" "Bearer $(head -c 5000 /dev/zero | tr '\0' a)"; do
	http GET /api/v1/models -H "Authorization: $hdr"
	[ "$CODE" = 401 ] || fail "Authorization '${hdr:0:40}': expected 401, got $CODE: $BODY"
	assert_json 'j["error"]["code"] == "unauthenticated"' "$BODY" "401 code for '${hdr:0:40}'"
done
http POST /api/v1/blobs --data-binary 'sneaky'
expect_code 401 "anonymous blob upload"
http GET /api/v1/blobs/"$BLOB"
expect_code 401 "anonymous blob read"
for p in /healthz /readyz /metrics; do
	http GET "$p"
	expect_code 200 "$p needs no token"
done
TOKEN=$ADMIN
cli_ok token create doomed --role admin --json
DOOMED=$(jq_ 'j["token"]' "$OUT")
TOKEN=$DOOMED
http GET /api/v1/tokens
expect_code 200 "the doomed token works before revocation"
TOKEN=$ADMIN
cli_ok token revoke doomed --json
assert_json 'j == {"name": "doomed", "revoked": True}' "$OUT" "token revoke --json"
TOKEN=$DOOMED
http GET /api/v1/models
expect_code 401 "revoked token"
assert_json 'j["error"]["code"] == "unauthenticated"' "$BODY" "revoked token code"
TOKEN=${TOK[reader]}
http GET /api/v1/models
expect_code 200 "revoking one token leaves the others working"

# ---------------------------------------------------------------- CLI
step "the CLI: 0 where allowed, 4 where refused"
mkdir -p "$WORK/cm"
printf 'cli push\n' >"$WORK/cm/f.txt"
# cli_as ROLE RC ARGS...: run the CLI with that role's token, expect RC.
cli_as() {
	local r=$1 wanted=$2
	shift 2
	TOKEN=${TOK[$r]}
	cli "$@"
	expect_rc "$wanted" "mlreg $* as $r"
	if [ "$wanted" = 4 ]; then
		assert_match "$ERR" '^mlreg: ' "mlreg $* as $r: an error message"
	fi
	TOKEN=$ADMIN
}
for r in reader approver deployer; do
	cli_as $r 0 ls
	cli_as $r 0 ls roles
	cli_as $r 0 show roles:1
	cli_as $r 0 search --model roles
	cli_as $r 0 diff roles:1 roles:2
	cli_as $r 0 audit --limit 3
	cli_as $r 0 audit verify
	rm -rf "$WORK/pulled"
	cli_as $r 0 pull roles:2 "$WORK/pulled"
	assert_eq "$(cat "$WORK/pulled")" "v2" "pull as $r"
	cli_as $r 4 push roles "$WORK/cm"
	cli_as $r 4 metrics log roles:1 x=1
	cli_as $r 4 tag roles:1 a=b
	cli_as $r 4 deprecate roles:2
	cli_as $r 4 rm roles:2
	cli_as $r 4 gc
	cli_as $r 4 fsck
	cli_as $r 4 token create x --role admin
	cli_as $r 4 token ls
	cli_as $r 4 token revoke victim-writer
done
cli_as writer 0 push roles "$WORK/cm" --json
cli_as writer 0 metrics log roles:2 wm=0.5
cli_as writer 0 tag roles:2 w=yes
cli_as writer 0 deprecate roles:2
cli_as writer 4 rm roles:2
cli_as writer 4 gc
cli_as writer 4 gc --dry-run
cli_as writer 4 fsck
cli_as writer 4 token create escalate --role admin
cli_as writer 4 token ls
cli_as node 0 show roles:1
rm -rf "$WORK/pulled"
cli_as node 0 pull roles:2 "$WORK/pulled"
assert_eq "$(cat "$WORK/pulled")" "v2" "pull as node"
cli_as node 4 ls
cli_as node 4 ls roles
cli_as node 4 search
cli_as node 4 audit
cli_as node 4 diff roles:1 roles:2
cli_as node 4 push roles "$WORK/cm"
cli_as admin 0 rm roles:2
cli_as admin 0 gc --dry-run
cli_as admin 0 fsck
cli_as admin 0 token ls
TOKEN=""
cli ls
expect_rc 4 "ls without any token"
TOKEN="mlr_garbage000000000000000000000000000000"
cli ls
expect_rc 4 "ls with a garbage token"
TOKEN=$DOOMED
cli show roles:1
expect_rc 4 "show with a revoked token"
TOKEN=$ADMIN
cli_ok token ls --json
assert_json '[t["name"] for t in j["tokens"] if t["name"] == "escalate" or t["name"] == "x"] == []' "$OUT" "no token created by refused CLI calls"

step "the CLI: release verbs by role"
declare -A CP
for r in "${ROLES[@]}"; do
	printf 'cli promote %s\n' "$r" >"$WORK/m/f.txt"
	cli_ok push roles "$WORK/m" --json
	CP[$r]=$(jq_ 'j["version"]' "$OUT")
done
printf 'cli approve\n' >"$WORK/m/f.txt"
TOKEN=${TOK[writer]}
cli_ok push roles "$WORK/m" --json
CA=$(jq_ 'j["version"]' "$OUT")
TOKEN=$ADMIN
cli_ok history roles --json
NHIST=$(jq_ 'len(j["history"])' "$OUT")
cli_ok audit verify --json
NAUDIT=$(jq_ 'j["entries"]' "$OUT")
for r in reader writer approver deployer admin node; do
	# what everyone but node may read
	case $r in node) rd=4 ;; *) rd=0 ;; esac
	cli_as $r $rd stages ls
	cli_as $r $rd history roles
	cli_as $r $rd gate roles:1 --to staging
	cli_as $r $rd policy show
	case $r in
	approver)
		cli_as $r 0 approve "roles:$CA" --stage staging --comment "cli $r"
		;;
	admin)
		cli_as $r 0 approve "roles:$CA" --stage staging --comment "cli $r"
		cli_as $r 0 promote "roles:${CP[$r]}" --to staging
		cli_as $r 0 rollback roles --stage staging
		cli_as $r 0 rollback roles --stage staging --to "${CP[admin]}" --force
		cli_as $r 0 alias set "roles@cli-$r" 1
		cli_as $r 0 alias rm "roles@cli-$r"
		cli_as $r 0 stages set staging,production,extra-admin,cli-admin
		cli_as $r 0 stages set staging,production,extra-admin
		cli_as $r 0 policy set "cli-$r" --stage staging --approvals 1
		cli_as $r 0 policy rm "cli-$r" --stage staging
		cli_as $r 0 webhook ls
		;;
	deployer)
		cli_as $r 0 promote "roles:${CP[$r]}" --to staging
		cli_as $r 0 alias set "roles@cli-$r" 1
		cli_as $r 0 alias rm "roles@cli-$r"
		cli_as $r 4 rollback roles --stage staging --to "${CP[admin]}" --force
		;;
	esac
	case $r in approver | admin) ;; *) cli_as $r 4 approve "roles:$CA" --stage staging ;; esac
	case $r in deployer | admin) ;; *)
		cli_as $r 4 promote "roles:${CP[$r]}" --to staging
		cli_as $r 4 promote "roles:${CP[$r]}" --to staging --expect-current none
		cli_as $r 4 rollback roles --stage production
		cli_as $r 4 alias set "roles@cli-$r" 1
		cli_as $r 4 alias rm roles@a-deployer
		;;
	esac
	if [ $r != admin ]; then
		cli_as $r 4 stages set "staging,production,extra-admin,cli-$r"
		cli_as $r 4 policy set "cli-$r" --stage staging --approvals 1
		cli_as $r 4 policy rm pre-reader --stage staging
		cli_as $r 4 webhook add "http://127.0.0.1:1/cli-$r" --events promote
		cli_as $r 4 webhook ls
	fi
done
# the deployer rolls back what the admin promoted
cli_as deployer 0 rollback roles --stage staging

step "refused CLI release verbs changed nothing"
http GET "/api/v1/models/roles/versions/$CA/approvals?stage=staging"
assert_json 'sorted(a["principal"] for a in j["approvals"]) == ["p-admin", "p-approver"]' "$BODY" "CLI approvals only by approver and admin"
cli_ok history roles --json
assert_json '[(h["target"], h.get("stage") or h.get("alias"), h["kind"], h["actor"]) for h in j["history"]][len(j["history"]) - 9:] == [
 ("stage", "staging", "promote", "p-deployer"), ("alias", "cli-deployer", "set", "p-deployer"), ("alias", "cli-deployer", "remove", "p-deployer"),
 ("stage", "staging", "promote", "p-admin"), ("stage", "staging", "rollback", "p-admin"), ("stage", "staging", "rollback", "p-admin"),
 ("alias", "cli-admin", "set", "p-admin"), ("alias", "cli-admin", "remove", "p-admin"), ("stage", "staging", "rollback", "p-deployer")]' "$OUT" "the CLI's allowed moves, in order"
assert_json 'len(j["history"]) == '"$((NHIST + 9))" "$OUT" "no move by a refused CLI call"
http GET /api/v1/models/roles/stages
assert_json '"a-deployer" in [a["alias"] for a in j["aliases"]] and not any(a["alias"].startswith("cli-") for a in j["aliases"])' "$BODY" "aliases after the CLI calls"
cli_ok stages ls --json
assert_json 'j == {"stages": ["staging", "production", "extra-admin"]}' "$OUT" "stages after the CLI calls"
cli_ok policy show --json
assert_json 'sorted(p["model"] for p in j["policies"]) == ["pol-admin", "pre-approver", "pre-deployer", "pre-node", "pre-reader", "pre-writer"]' "$OUT" "policies after the CLI calls"
cli_ok webhook ls --json
assert_json '[w["url"] for w in j["webhooks"]] == ["http://127.0.0.1:1/hook-admin"]' "$OUT" "webhooks after the CLI calls"
cli_ok audit verify --json
# allowed: 2 approvals, 2 promotes, 3 rollbacks, 4 alias moves, 2 stages sets, 1 policy set, 1 policy rm
assert_json 'j["entries"] == '"$((NAUDIT + 15))" "$OUT" "one audit entry per allowed CLI call, none for the refused ones"

cli_ok audit verify
stop_server

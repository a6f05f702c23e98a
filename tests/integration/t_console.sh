#!/usr/bin/env bash
# t_console: the web console as `mlreg server` serves it (docs/console.md),
# checked with curl against a real server:
#   - / and every file of console/ served byte for byte, with its content type,
#     the security headers (CSP, nosniff, no-referrer), no-cache, an ETag that
#     answers If-None-Match with 304; HEAD too
#   - what the page references (index.html's links, the modules' imports) is
#     served; no inline script or style; no markup built from strings; no URL
#     of another host anywhere in the served files
#   - an unknown file, path traversal (raw, percent-encoded, double-encoded,
#     NUL) is a 404 that never holds the database or a token
#   - /console/config.json carries --console-refresh; bad values are usage errors
#   - without a token the console routes answer, but nothing they answer holds
#     registry data (a model name, a token)
#   - --no-console: /, /console/{asset} and /console/config.json answer exactly
#     as a route that does not exist; the API still works
#   - both flags also work from a --config file
source "$(dirname "$0")/lib.sh"

CSP="default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
SRC=${MLREG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/console
[ -f "$SRC/index.html" ] || fail "no console sources at $SRC"

# get PATH [curl args]: no token; sets CODE, BODY_FILE (bytes), HDRS (lower-cased header names)
get() {
	local p=$1
	shift
	rm -f "$BODY_FILE" # curl writes no file for an empty body
	CODE=$(curl -s -S --path-as-is -o "$BODY_FILE" -D "$WORK/.hdrs" -w '%{http_code}' --max-time 30 "$@" "$URL$p") || true
	touch "$BODY_FILE"
	HDRS=$(tr -d '\r' <"$WORK/.hdrs" | sed -E 's/^([^:]+):/\L\1:/')
	BODY=$(head -c 1048576 "$BODY_FILE" | tr -d '\000' || true)
}
header() { # NAME (lower case) -> value of the last answer's header
	printf '%s\n' "$HDRS" | sed -n "s/^$1: //p" | head -1
}
expect_security_headers() { # WHAT
	assert_eq "$(header content-security-policy)" "$CSP" "$1: Content-Security-Policy"
	assert_eq "$(header x-content-type-options)" "nosniff" "$1: X-Content-Type-Options"
	assert_eq "$(header referrer-policy)" "no-referrer" "$1: Referrer-Policy"
	assert_eq "$(header x-frame-options)" "DENY" "$1: X-Frame-Options"
	assert_eq "$(header cache-control)" "no-cache" "$1: Cache-Control"
}
type_of() {
	case "$1" in
	*.html) echo "text/html; charset=utf-8" ;;
	*.js) echo "text/javascript; charset=utf-8" ;;
	*.css) echo "text/css; charset=utf-8" ;;
	*.svg) echo "image/svg+xml" ;;
	*.png) echo "image/png" ;;
	*.ico) echo "image/x-icon" ;;
	*.txt) echo "text/plain; charset=utf-8" ;;
	*) fail "no expected type for $1" ;;
	esac
}

start_server "$WORK/data" --console-refresh 200ms
TOKEN=""

step "the routes are public and listed"
routes=$("$MLREG_BIN" server --print-routes)
for r in $'GET\t/\tnone\t-' $'GET\t/console/config.json\tnone\t-' $'GET\t/console/{asset}\tnone\t-'; do
	assert_contains "$routes" "$r" "--print-routes lists the console route"
done
help=$("$MLREG_BIN" server --help)
assert_contains "$help" "--console-refresh DUR" "--help: --console-refresh"
assert_contains "$help" "--no-console" "--help: --no-console"

step "GET / is index.html"
get /
expect_code 200 "GET /"
assert_eq "$(header content-type)" "text/html; charset=utf-8" "GET / content type"
expect_security_headers "GET /"
cmp -s "$BODY_FILE" "$SRC/index.html" || fail "GET / is not console/index.html byte for byte"
assert_match "$(header etag)" '^"[0-9a-f]{64}"$' "GET / ETag"

step "every file of console/ is served as it is in the source tree"
n=0
for f in "$SRC"/*; do
	name=$(basename "$f")
	get "/console/$name"
	expect_code 200 "GET /console/$name"
	assert_eq "$(header content-type)" "$(type_of "$name")" "$name content type"
	expect_security_headers "$name"
	cmp -s "$BODY_FILE" "$f" || fail "/console/$name differs from $f (stale embedding?)"
	etag=$(header etag)
	assert_eq "$etag" "\"$(sha256sum "$f" | cut -d' ' -f1)\"" "$name ETag is the SHA-256 of its bytes"
	cp "$BODY_FILE" "$WORK/served.$name"

	get "/console/$name" -H "If-None-Match: $etag"
	expect_code 304 "$name with its ETag"
	assert_eq "$(stat -c %s "$BODY_FILE")" 0 "$name: a 304 has no body"
	expect_security_headers "$name 304"
	assert_eq "$(header etag)" "$etag" "$name: the 304 names the ETag"
	get "/console/$name" -H "If-None-Match: W/$etag, \"other\""
	expect_code 304 "$name with a list holding its weak ETag"
	get "/console/$name" -H 'If-None-Match: "0000"'
	expect_code 200 "$name with another ETag"
	cmp -s "$BODY_FILE" "$f" || fail "$name: body after a stale If-None-Match"

	get "/console/$name" -I
	expect_code 200 "HEAD /console/$name"
	assert_eq "$(header content-length)" "$(stat -c %s "$f")" "HEAD $name: Content-Length"
	# with -I curl writes the headers where the body would go: nothing else came
	cmp -s "$BODY_FILE" "$WORK/.hdrs" || fail "HEAD $name: a body came with the headers"
	n=$((n + 1))
done
assert_gt "$n" 3 "console files served"
get /console/index.html
expect_code 200 "index.html under /console/ too"

step "what the page references is served"
refs=$(grep -Eo '(src|href)="[^"]*"' "$WORK/served.index.html" | sed -E 's/^[a-z]+="(.*)"$/\1/')
for r in $refs; do
	case "$r" in
	data:*) continue ;; # the empty favicon: no request
	'#/'*) continue ;;  # the page's own routes
	/console/*) ;;
	*) fail "index.html references '$r': only /console/ files and data: are allowed" ;;
	esac
	get "$r"
	expect_code 200 "index.html reference $r"
done
for js in "$WORK"/served.*.js; do
	for imp in $(grep -Eo "\} from '[^']+';$" "$js" | sed -E "s/.* from '(.*)';$/\1/"); do
		case "$imp" in
		./*.js) [ -f "$WORK/served.${imp#./}" ] || fail "$(basename "$js") imports $imp, which is not served" ;;
		*) fail "$(basename "$js") imports '$imp': only ./FILE.js of the console" ;;
		esac
	done
done
grep -q "src=\"/console/app.js\"" "$WORK/served.index.html" || fail "index.html does not load /console/app.js"

step "no inline script or style, no markup from strings"
if grep -Eiq '<script(\s[^>]*)?>[^<]*[^[:space:]<]' "$WORK/served.index.html" || grep -Ei '<script' "$WORK/served.index.html" | grep -vq 'src='; then
	fail "index.html has an inline script"
fi
grep -Eiq '<style|\sstyle=' "$WORK/served.index.html" && fail "index.html has inline style"
grep -Eiq '\son[a-z]+=' "$WORK/served.index.html" && fail "index.html has an inline event handler"
for js in "$WORK"/served.*.js; do
	if grep -En 'innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setAttribute\(.style' "$js"; then
		fail "$(basename "$js") builds markup or code from strings"
	fi
done

step "no URL of another host in any served file"
# XML namespace names are identifiers, never fetched: the SVG one is the only
# URL a console file may hold
for f in "$WORK"/served.*; do
	urls=$(grep -Eo 'https?://[^"'"'"' )<>]*' "$f" | grep -vx 'http://www.w3.org/2000/svg' || true)
	[ -z "$urls" ] || fail "$(basename "$f") references another host: $urls"
	if grep -Eq "[\"'(=]//[A-Za-z0-9]" "$f"; then
		fail "$(basename "$f") holds a protocol-relative URL: $(grep -Eo "[\"'(=]//[A-Za-z0-9][^\"' )]*" "$f" | head -3)"
	fi
	grep -Eiq '@import|url\([^)#d]' "$f" && fail "$(basename "$f") loads a stylesheet or resource by url()"
done
true

step "unknown files and path traversal are 404 and hold nothing"
ADMIN_TOKEN=$ADMIN
for p in /console/nope.js /console/INDEX.HTML /console/app.js.bak /console/.. /console/../registry.db \
	/console/%2e%2e/registry.db /console/..%2fregistry.db /console/%2e%2e%2fregistry.db /console/..%2Fadmin.token \
	/console/%252e%252e%252fregistry.db /console/..%5cregistry.db /console/%2fetc%2fpasswd /console//etc/passwd \
	/console/app.js%00.txt /console/app.js/x /console/./app.js%2f.. /console/ /console \
	/console/..%2f..%2f..%2f..%2fetc%2fpasswd /../registry.db /%2e%2e/registry.db /..%2fregistry.db; do
	get "$p"
	case "$CODE" in
	404 | 400) ;;
	*) fail "GET $p: expected 404, got $CODE" ;;
	esac
	assert_not_contains "$BODY" "SQLite format" "GET $p holds the database"
	assert_not_contains "$BODY" "$ADMIN_TOKEN" "GET $p holds the admin token"
	assert_not_contains "$BODY" "root:" "GET $p holds /etc/passwd"
done
get /console/nope.js
expect_code 404 "unknown file"
expect_security_headers "unknown file"
assert_contains "$BODY" '"not_found"' "unknown file: a JSON not_found error"
get /console/app.js -X POST
expect_code 405 "POST to a console file"

step "config.json carries --console-refresh"
get /console/config.json
expect_code 200 "config.json"
assert_eq "$(header content-type)" "application/json" "config.json content type"
expect_security_headers "config.json"
assert_json 'j == {"refresh_ms": 200}' "$BODY" "config.json is the refresh period only"
for bad in 10ms 49ms 2h abc -1s ""; do
	rc=0
	"$MLREG_BIN" server --listen 127.0.0.1:0 --data "$WORK/never" --console-refresh "$bad" >"$WORK/bad.out" 2>&1 || rc=$?
	assert_eq "$rc" 2 "--console-refresh '$bad' is a usage error"
	assert_contains "$(cat "$WORK/bad.out")" "--console-refresh" "the message names the flag"
done
[ ! -e "$WORK/never" ] || fail "a server with a bad --console-refresh created its data dir"

step "without a token the console holds no registry data"
TOKEN=$ADMIN
cli_ok push zz-secret-model "$SRC/index.html" --tag team=zz-secret-team --json
TOKEN=""
for p in / /console/config.json $(for f in "$SRC"/*; do echo "/console/$(basename "$f")"; done); do
	get "$p"
	expect_code 200 "GET $p without a token"
	assert_not_contains "$BODY" "zz-secret" "GET $p shows registry data without a token"
	assert_not_contains "$BODY" "$ADMIN_TOKEN" "GET $p shows a token"
done
TOKEN="" http GET /api/v1/models
expect_code 401 "the data stays behind the token"

step "model objects carry the stages they hold (the models page's one request)"
TOKEN=$ADMIN
echo two >"$WORK/two.txt"
cli_ok push zz-secret-model "$WORK/two.txt" --json
cli_ok promote zz-secret-model:1 --to production
cli_ok promote zz-secret-model:2 --to staging
cli_ok promote zz-secret-model:2 --to production
cli_ok rollback zz-secret-model --stage production
http GET /api/v1/models
expect_code 200 "list models"
assert_json '[m["stages"] for m in j["models"] if m["name"] == "zz-secret-model"][0][0]["stage"] == "staging"' "$BODY" "stages in the configured order"
assert_json '[[[s["stage"], s["version"]] for s in m["stages"]] for m in j["models"] if m["name"] == "zz-secret-model"] == [[["staging", 2], ["production", 1]]]' "$BODY" "each stage with the version on top of its stack (after a rollback)"
http GET /api/v1/models/zz-secret-model/stages
since=$(jq_ '[s["since"] for s in j["stages"] if s["stage"] == "production"][0]' "$BODY")
http GET /api/v1/models/zz-secret-model
assert_json 'j["stages"][1]["since"] == "'"$since"'"' "$BODY" "since: the stage's latest move, as /stages has it"
cli_ok push zz-secret-empty "$WORK/two.txt" --json
http GET /api/v1/models/zz-secret-empty
assert_json 'j["stages"] == []' "$BODY" "a model holding no stage: []"
TOKEN=""
TOKEN=$ADMIN http GET /api/v1/models
assert_contains "$BODY" "zz-secret-model" "the data is there with one"
stop_server

step "both flags in a --config file"
printf 'console-refresh = 350ms\n' >"$WORK/server.conf"
start_server "$WORK/data" --config "$WORK/server.conf"
TOKEN=""
get /console/config.json
assert_json 'j == {"refresh_ms": 350}' "$BODY" "console-refresh from --config"
stop_server
printf 'no-console = true\n' >"$WORK/off.conf"
start_server "$WORK/data" --config "$WORK/off.conf"
get /
expect_code 404 "no-console = true in --config"
stop_server

step "--no-console: nothing at / and /console/..."
start_server "$WORK/data" --no-console
TOKEN=""
get /no/such/route
expect_code 404 "an unmatched route"
unmatched=$BODY
for p in / /console/app.js /console/index.html /console/config.json /console/nope.js; do
	get "$p"
	expect_code 404 "--no-console GET $p"
	assert_eq "$BODY" "$unmatched" "--no-console GET $p answers as an unmatched route"
	assert_eq "$(header content-security-policy)" "" "--no-console GET $p: no console headers"
done
TOKEN=$ADMIN http GET /api/v1/whoami
expect_code 200 "the API still works with --no-console"
stop_server

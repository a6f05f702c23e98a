#!/usr/bin/env bash
# t_secrets: no token, nor any part of one, leaks (docs/security.md "What is
# logged").  A session with real tokens - every way the CLI takes one
# (--token, MLREG_TOKEN, the token file), scoped, revoked, expired - and bad
# ones (guessed, malformed, with spaces, Basic auth, in the query string),
# then a search of the server's log, the audit log (`mlreg audit --json`),
# every CLI output but `token create`'s own, and the data directory, for
# every token string and a 16-character piece of each: none may appear.
# Files holding secrets are mode 0600.
source "$(dirname "$0")/lib.sh"

start_server "$WORK/data" --auth-fail-rate 2/s --auth-fail-burst 3 --auth-fail-summary-interval 200ms \
	--token-touch-interval 100ms
SECRETS=("$ADMIN")
: >"$WORK/cli.out"
record() { printf '%s\n%s\n' "$OUT" "$ERR" >>"$WORK/cli.out"; }
run() { cli "$@"; record; }

step "file modes"
mode=$(stat -c %a "$DATA/admin.token")
assert_eq "$mode" 600 "DATA/admin.token mode"

step "tokens of several kinds"
for r in reader writer; do
	cli_ok token create "s-$r" --role "$r" --json
	SECRETS+=("$(jq_ 'j["token"]' "$OUT")")
done
READER=${SECRETS[1]} WRITER=${SECRETS[2]}
cli_ok token create s-dep --role deployer --stages staging --models 'sec*' --json
DEP=$(jq_ 'j["token"]' "$OUT")
SECRETS+=("$DEP")
cli_ok token create s-old --role reader --expires 1s --json
OLD=$(jq_ 'j["token"]' "$OUT")
SECRETS+=("$OLD")
cli_ok token create s-rev --role reader --json
REV=$(jq_ 'j["token"]' "$OUT")
SECRETS+=("$REV")
run token revoke s-rev

step "using them: --token, MLREG_TOKEN, the token file"
mkdir -p "$WORK/m"
echo data >"$WORK/m/f.txt"
TOKEN="" run --token "$WRITER" push sec-model "$WORK/m"
expect_rc 0 "push with --token"
TOKEN=$READER run ls
expect_rc 0 "ls with MLREG_TOKEN"
mkdir -p "$XDG_CONFIG_HOME/mlreg"
(umask 077 && printf '%s\n' "$READER" >"$XDG_CONFIG_HOME/mlreg/token")
TOKEN="" run show sec-model:1
expect_rc 0 "show with the token file"
TOKEN=$DEP run promote sec-model:1 --to production
expect_rc 4 "scoped deployer out of scope"
TOKEN=$DEP run promote sec-model:1 --to staging
expect_rc 0 "scoped deployer in scope"
TOKEN=$DEP run ls other
sleep 1.1
TOKEN=$OLD run ls
expect_rc 4 "expired token"
TOKEN=$REV run ls
expect_rc 4 "revoked token"

step "bad tokens"
GUESS="mlr_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
SECRETS+=("$GUESS")
for t in "$GUESS" "$GUESS" "$GUESS" "$GUESS" "$GUESS"; do
	TOKEN=$t run ls
	expect_rc 4 "guessed token"
done
NOTOK="notamlrtoken$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
SECRETS+=("$NOTOK")
TOKEN=$NOTOK run ls
expect_rc 4 "malformed token"
SPACED="mlr_has space$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
TOKEN="" run --token "$SPACED" ls
expect_rc 2 "a token with a space is a usage error"
SECRETS+=("${SPACED#mlr_has }")
printf 'mlr_ctl\001%s\n' "$GUESS" >"$XDG_CONFIG_HOME/mlreg/token"
TOKEN="" run ls
expect_rc 2 "a token file with a control character"
rm -f "$XDG_CONFIG_HOME/mlreg/token"
curl -s -H "Authorization: Basic $(printf 'u:%s' "$GUESS" | base64 -w0)" "$URL/api/v1/models" >>"$WORK/cli.out" || true
curl -s "$URL/api/v1/models?token=$GUESS&access_token=$GUESS" >>"$WORK/cli.out" || true
curl -s -H "Authorization: Bearer $GUESS$GUESS$GUESS$GUESS$GUESS" "$URL/api/v1/models" >>"$WORK/cli.out" || true
curl -s -H "Authorization: bearer $REV" "$URL/api/v1/whoami" >>"$WORK/cli.out" || true
sleep 0.5 # a suppressed summary and a last-use flush happen

step "search every output for every token"
cli_ok audit --json --limit 10000
printf "%s\n" "$OUT" >"$WORK/audit.json"
assert_contains "$(cat "$WORK/audit.json")" '"token.create"' "the audit log holds the token entries"
stop_server
grep -q "authentication failed" "$SERVER_LOG" || fail "no authentication failure logged"
pieces=()
for s in "${SECRETS[@]}"; do
	pieces+=("$s")
	body=${s#mlr_}
	[ ${#body} -ge 20 ] && pieces+=("${body:4:16}")
done
for p in "${pieces[@]}"; do
	for f in "$SERVER_LOG" "$WORK/audit.json" "$WORK/cli.out"; do
		if grep -qaF -- "$p" "$f"; then
			fail "a token (piece '${p:0:6}…') appears in $(basename "$f"): $(grep -aF -- "$p" "$f" | head -3)"
		fi
	done
	if grep -rqaF --exclude=admin.token -- "$p" "$DATA"; then
		fail "a token (piece '${p:0:6}…') appears in the data directory: $(grep -rlaF --exclude=admin.token -- "$p" "$DATA")"
	fi
done
log "searched ${#pieces[@]} token strings in $(wc -l <"$SERVER_LOG") log lines, $(wc -c <"$WORK/audit.json") audit bytes, $(wc -l <"$WORK/cli.out") CLI lines"
log "PASS"

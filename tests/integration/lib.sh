# tests/integration/lib.sh - shared helpers for the integration tests.
#
# Source it from a t_*.sh script.  It needs MLREG_BIN (the real `mlreg`
# binary; ctest passes it) and uses MLREG_SRC when given.  Every test gets its
# own temp folder under ${TMPDIR:-/tmp}, a real `mlreg server` on 127.0.0.1
# with an ephemeral port (--listen 127.0.0.1:0 --port-file), and drives it
# with the real CLI and curl.  Nothing is mocked.
#
# Conventions:
#   start_server DATA_DIR [server flags...]  sets PORT URL ADMIN PID SERVER_LOG
#   stop_server        SIGTERM, expects exit 0 and no sanitizer report
#   kill9_server       SIGKILL (crash), no checks
#   cli ARGS...        runs `mlreg ARGS` as $TOKEN (default ADMIN); sets RC OUT ERR
#   expect_rc N WHAT   fails unless the last cli/http call returned N
#   http METHOD PATH [curl args...]   sets CODE, BODY (text) and BODY_FILE
#   jq_ EXPR [JSON]    evaluates a Python expression over the JSON `j`
#                      (from the argument or stdin); prints strings raw
#   fail MSG, assert_eq A B MSG, assert_contains HAY NEEDLE MSG, ...
# Setting MLREG_KEEP_TMP=1 keeps the temp folder for a post-mortem.

set -euo pipefail

T_NAME=$(basename "${BASH_SOURCE[1]:-$0}" .sh)
if [ -z "${MLREG_BIN:-}" ] || [ ! -x "${MLREG_BIN}" ]; then
	echo "FAIL $T_NAME: MLREG_BIN is not set to an executable mlreg (got '${MLREG_BIN:-}')" >&2
	exit 1
fi
# The system python3 with -S -E starts in ~15ms (a pyenv shim takes ~100ms).
if [ -x /usr/bin/python3 ]; then PY=(/usr/bin/python3 -S -E); else PY=(python3 -S -E); fi
for _tool in curl python3 sha256sum tar cmp; do
	command -v "$_tool" >/dev/null 2>&1 || {
		echo "FAIL $T_NAME: required tool '$_tool' is not installed" >&2
		exit 1
	}
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mlreg-it-${T_NAME}.XXXXXX")
# No ambient configuration may leak into the tests.
unset MLREG_TOKEN MLREG_REGISTRY MLREG_DATA MLREG_TIMEOUT
export XDG_CONFIG_HOME="$WORK/xdg"
export XDG_CACHE_HOME="$WORK/xdg-cache" # push's digest cache: per test, never the user's
export HOME="$WORK/home"
unset MLREG_NO_DIGEST_CACHE
mkdir -p "$XDG_CONFIG_HOME" "$HOME"
export NO_PROXY='*' no_proxy='*'
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy

PORT="" URL="" ADMIN="" PID="" SERVER_LOG="" DATA=""
TOKEN=""
RC=0 OUT="" ERR="" CODE="" BODY="" BODY_FILE="$WORK/.body"
_BG_PIDS=()
_T0=${EPOCHREALTIME/./}
_STEP="start"

log() {
	local us=$((${EPOCHREALTIME/./} - _T0))
	printf '[%s %4d.%01ds] %s\n' "$T_NAME" $((us / 1000000)) $((us % 1000000 / 100000)) "$*" >&2
}
step() {
	_STEP="$*"
	log "== $*"
}

_dump_server_log() {
	if [ -n "$SERVER_LOG" ] && grep -Eq "$_SANITIZER_RE" "$SERVER_LOG" 2>/dev/null; then
		echo "---- SANITIZER REPORT in the server log ----" >&2
		grep -E -A 30 "$_SANITIZER_RE" "$SERVER_LOG" | head -80 >&2
	fi
	if [ -n "$SERVER_LOG" ] && [ -s "$SERVER_LOG" ]; then
		echo "---- last lines of server log ($SERVER_LOG) ----" >&2
		tail -n 40 "$SERVER_LOG" >&2
		echo "----" >&2
	fi
}

fail() {
	echo "FAIL $T_NAME [$_STEP]: $*" >&2
	_dump_server_log
	exit 1
}

# Track a background process so cleanup ends it.
track_bg() { _BG_PIDS+=("$1"); }

_cleanup() {
	local rc=$?
	set +e
	local p
	for p in "${_BG_PIDS[@]}"; do
		# children first (e.g. an mlreg run by a background subshell), by pid
		# shellcheck disable=SC2046
		kill -KILL $(ps -o pid= --ppid "$p" 2>/dev/null) 2>/dev/null
		kill -KILL "$p" 2>/dev/null
	done
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	if [ "$rc" -ne 0 ]; then
		echo "FAIL $T_NAME: exit status $rc (last step: $_STEP)" >&2
		[ "${MLREG_KEEP_TMP:-0}" = 1 ] && echo "temp folder kept: $WORK" >&2
	else
		log "PASS"
	fi
	if [ "${MLREG_KEEP_TMP:-0}" != 1 ]; then
		chmod -R u+rwX "$WORK" 2>/dev/null
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- assertions

assert_eq() { # ACTUAL EXPECTED MSG
	[ "$1" == "$2" ] || fail "$3: expected '$2', got '$1'"
}
assert_ne() {
	[ "$1" != "$2" ] || fail "$3: did not expect '$2'"
}
assert_contains() { # HAYSTACK NEEDLE MSG
	case "$1" in
	*"$2"*) ;;
	*) fail "$3: expected to contain '$2', got: $(printf '%s' "$1" | head -c 2000)" ;;
	esac
}
assert_not_contains() {
	case "$1" in
	*"$2"*) fail "$3: must not contain '$2', got: $(printf '%s' "$1" | head -c 2000)" ;;
	*) ;;
	esac
}
assert_match() { # STRING ERE MSG
	[[ "$1" =~ $2 ]] || fail "$3: '$1' does not match /$2/"
}
assert_file_eq() { # A B MSG
	cmp -s "$1" "$2" || fail "$3: files differ: $1 vs $2"
}
assert_gt() { # A B MSG (integers or decimals)
	"${PY[@]}" -c 'import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)' "$1" "$2" ||
		fail "$3: expected $1 > $2"
}

# Fail unless the last cli/http call gave status N.
expect_rc() { # N WHAT
	if [ "$RC" != "$1" ]; then
		fail "$2: expected exit $1, got $RC
stdout: $(printf '%s' "$OUT" | head -c 3000)
stderr: $(printf '%s' "$ERR" | head -c 3000)"
	fi
}
expect_code() { # HTTP_STATUS WHAT
	if [ "$CODE" != "$1" ]; then
		fail "$2: expected HTTP $1, got $CODE; body: $(printf '%s' "$BODY" | head -c 2000)"
	fi
}

# ---------------------------------------------------------------- JSON

# jq_ EXPR [JSON]: evaluate a Python expression with `j` bound to the parsed
# JSON (argument, else stdin).  Strings print raw, other values as JSON,
# booleans as true/false.  A parse error or exception fails the test.
jq_() {
	local expr=$1 out
	if [ $# -ge 2 ]; then
		out=$(printf '%s' "$2" | "${PY[@]}" -c "$_JQ_PY" "$expr") || fail "JSON query '$expr' failed on: $(printf '%s' "$2" | head -c 2000)"
	else
		out=$("${PY[@]}" -c "$_JQ_PY" "$expr") || fail "JSON query '$expr' failed"
	fi
	printf '%s\n' "$out"
}
_JQ_PY='
import json, sys
src = sys.stdin.read()
if "re." in sys.argv[1]:
    import re
else:
    re = None
try:
    j = json.loads(src)
except Exception as e:
    sys.stderr.write("not JSON (%s): %r\n" % (e, src[:500])); sys.exit(1)
try:
    v = eval(sys.argv[1], {"j": j, "re": re, "json": json, "len": len, "sorted": sorted, "set": set, "all": all, "any": any, "isinstance": isinstance, "int": int, "float": float, "str": str, "bool": bool, "dict": dict, "list": list, "type": type, "sum": sum, "max": max, "min": min, "range": range})
except Exception as e:
    sys.stderr.write("query %r failed: %r on %s\n" % (sys.argv[1], e, src[:500])); sys.exit(1)
if isinstance(v, bool): print("true" if v else "false")
elif isinstance(v, str): print(v)
elif v is None: print("null")
else: print(json.dumps(v, sort_keys=True))
'
# assert_json EXPR JSON MSG: the Python expression must be true.
assert_json() {
	local v
	v=$(jq_ "$1" "$2")
	[ "$v" = "true" ] || fail "$3: expected ($1) to hold on: $(printf '%s' "$2" | head -c 2000)"
}

# ---------------------------------------------------------------- server

_SANITIZER_RE='ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|ThreadSanitizer|SUMMARY: UndefinedBehaviorSanitizer'

# start_server DATA_DIR [extra flags]: start `mlreg server` on 127.0.0.1:0,
# wait for the port file and for /healthz and /readyz.  Sets PORT URL ADMIN
# PID SERVER_LOG DATA.
start_server() {
	local dir=$1
	shift
	local pf="$WORK/port.$RANDOM$RANDOM"
	DATA=$dir
	SERVER_LOG="$WORK/server.log"
	echo "=== start $(date -u +%FT%TZ): server --data $dir $*" >>"$SERVER_LOG"
	# the rate limits are off unless a test sets them (its flags come later
	# and win): most tests drive hundreds of requests a second on purpose;
	# t_tokens.sh tests the limits themselves
	"$MLREG_BIN" server --listen 127.0.0.1:0 --data "$dir" --port-file "$pf" --rate-limit 0 --auth-fail-rate 0 "$@" \
		>>"$SERVER_LOG" 2>&1 &
	PID=$!
	# Watchdog: should this shell be killed outright (e.g. a ctest timeout),
	# the server goes too instead of lingering.
	(
		trap - EXIT
		while kill -0 $$ 2>/dev/null && kill -0 "$PID" 2>/dev/null; do sleep 1; done
		kill -KILL "$PID" 2>/dev/null
	) </dev/null >/dev/null 2>&1 &
	local i
	for ((i = 0; i < 600; i++)); do
		if [ -s "$pf" ]; then
			PORT=$(cat "$pf")
			[[ "$PORT" =~ ^[0-9]+$ ]] && [ "$PORT" -gt 0 ] && break
		fi
		if ! kill -0 "$PID" 2>/dev/null; then
			wait "$PID" 2>/dev/null && true
			fail "server exited during start-up (data $dir)"
		fi
		sleep 0.05
	done
	[[ "$PORT" =~ ^[0-9]+$ ]] || fail "server wrote no port file within 30s"
	# SCHEME=https for a server started with --tls-cert (curl then needs
	# CURL_CA_BUNDLE, the CLI MLREG_CACERT)
	URL="${SCHEME:-http}://127.0.0.1:$PORT"
	for ((i = 0; i < 600; i++)); do
		if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL/readyz" || true)" = 200 ]; then
			break
		fi
		kill -0 "$PID" 2>/dev/null || fail "server died before becoming ready"
		sleep 0.05
	done
	[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$URL/healthz" || true)" = 200 ] ||
		fail "server at $URL never answered /healthz"
	[ -s "$dir/admin.token" ] || fail "server did not write $dir/admin.token"
	ADMIN=$(cat "$dir/admin.token")
	TOKEN=$ADMIN
	grep -q "listening on ${SCHEME:-http}://127.0.0.1:$PORT" "$SERVER_LOG" ||
		fail "server log lacks the 'listening on ${SCHEME:-http}://127.0.0.1:$PORT' line"
	log "server pid $PID at $URL (data $dir)"
}

# check_sanitizer_clean FILE WHAT: no ASan/UBSan/LSan report in FILE.
check_sanitizer_clean() {
	if grep -Eq "$_SANITIZER_RE" "$1" 2>/dev/null; then
		echo "---- sanitizer report in $2 ----" >&2
		grep -E -A 30 "$_SANITIZER_RE" "$1" | head -80 >&2
		fail "sanitizer report in $2"
	fi
}

# stop_server: SIGTERM; the server must exit 0 within 60s, sanitizer-clean.
stop_server() {
	[ -n "$PID" ] || fail "stop_server: no server running"
	kill -TERM "$PID" 2>/dev/null || fail "stop_server: server pid $PID is not running"
	local i rc=0
	for ((i = 0; i < 1200; i++)); do
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$PID" 2>/dev/null; then
		kill -KILL "$PID"
		wait "$PID" 2>/dev/null || true
		PID=""
		fail "server did not stop within 60s of SIGTERM"
	fi
	wait "$PID" || rc=$?
	PID=""
	check_sanitizer_clean "$SERVER_LOG" "server log"
	[ "$rc" = 0 ] || fail "server exited with status $rc after SIGTERM (expected 0)"
}

# kill9_server: simulate a crash.
kill9_server() {
	[ -n "$PID" ] || return 0
	kill -KILL "$PID" 2>/dev/null || true
	wait "$PID" 2>/dev/null || true
	PID=""
}

# ---------------------------------------------------------------- clients

# cli ARGS...: run the real CLI against $URL as $TOKEN.  Sets RC OUT ERR.
# Any sanitizer report from the CLI fails the test.
cli() {
	local ef="$WORK/.cli.err.$BASHPID"
	RC=0
	OUT=$(MLREG_REGISTRY="$URL" MLREG_TOKEN="$TOKEN" "$MLREG_BIN" "$@" 2>"$ef") || RC=$?
	ERR=$(cat "$ef")
	rm -f "$ef"
	if grep -Eq "$_SANITIZER_RE" <<<"$ERR"; then
		fail "sanitizer report from 'mlreg $*': $ERR"
	fi
	return 0
}
# cli_ok ARGS...: cli that must exit 0.
cli_ok() {
	cli "$@"
	expect_rc 0 "mlreg $*"
}

# http METHOD PATH [curl args...]: request $URL$PATH with the bearer $TOKEN
# (unless TOKEN is empty).  Sets CODE and BODY (BODY_FILE holds the bytes).
http() {
	local m=$1 p=$2
	shift 2
	local auth=()
	[ -n "$TOKEN" ] && auth=(-H "Authorization: Bearer $TOKEN")
	CODE=$(curl -s -S -o "$BODY_FILE" -w '%{http_code}' --max-time 120 -X "$m" "${auth[@]}" "$@" "$URL$p") || true
	BODY=$(head -c 1048576 "$BODY_FILE" 2>/dev/null | tr -d '\000' || true)
	RC=$CODE
}

# metric NAME[{labels}]: the value of one Prometheus sample (0 when absent).
metric() {
	curl -s --max-time 10 "$URL/metrics" | "${PY[@]}" -c '
import sys
want = sys.argv[1]
tot = 0.0; seen = False
for line in sys.stdin:
    if line.startswith("#") or not line.strip(): continue
    name, _, val = line.rstrip("\n").rpartition(" ")
    if name == want:
        tot += float(val); seen = True
print(int(tot) if tot == int(tot) else tot)
' "$1"
}

# ---------------------------------------------------------------- data

# sha256_of FILE: "sha256:<hex>"
sha256_of() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }

# rand_file PATH BYTES: random content.
rand_file() { head -c "$2" /dev/urandom >"$1"; }

# blob_files DATA_DIR: list stored blob files.
blob_files() { find "$1/blobs" -type f 2>/dev/null | sort; }
blob_count() { blob_files "$1" | wc -l | tr -d ' '; }

# verify_blob_store DATA_DIR: every file under blobs/ is named
# blobs/sha256/<first 2 hex>/<64 hex> and rehashes to its name (so no partial
# blob is visible).  Prints the number of blobs.
verify_blob_store() {
	local out
	out=$("${PY[@]}" -c '
import hashlib, os, re, sys
root = os.path.join(sys.argv[1], "blobs")
n = 0
for dp, dns, fns in os.walk(root):
    for fn in fns:
        p = os.path.join(dp, fn)
        rel = os.path.relpath(p, root).split(os.sep)
        if len(rel) != 3 or rel[0] != "sha256" or not re.fullmatch(r"[0-9a-f]{64}", fn) or rel[1] != fn[:2]:
            print("unexpected file in the blob store: %s" % p); sys.exit(1)
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        if h.hexdigest() != fn:
            print("partial or corrupt blob visible: %s hashes to %s" % (p, h.hexdigest())); sys.exit(1)
        n += 1
print(n)
' "$1") || fail "$out"
	echo "$out"
}

# blob_path DATA_DIR DIGEST
blob_path() {
	local hex=${2#sha256:}
	echo "$1/blobs/sha256/${hex:0:2}/$hex"
}

# elapsed: whole seconds since the test started.
elapsed() { echo $(((${EPOCHREALTIME/./} - _T0) / 1000000)); }

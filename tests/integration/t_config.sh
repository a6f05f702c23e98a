#!/usr/bin/env bash
# t_config: `--config FILE` and `--log-format` on the real programs.
# The server takes its data folder, listen address and log format from the
# file; a flag on the command line overrides the file; a bad file stops the
# start with exit 2 naming FILE:LINE (unknown name, duplicate, a value its
# flag refuses), before anything is created; no file is read without
# --config.  The node likewise.  Log lines are checked as written: logfmt
# with quoted messages, or one JSON object per line.
source "$(dirname "$0")/lib.sh"

C="$WORK/conf"
mkdir -p "$C"

# run_bad PROGRAM... : must exit 2; sets ERR
run_bad() {
	local rc=0
	ERR=$("$@" 2>&1 >/dev/null) || rc=$?
	[ "$rc" = 2 ] || fail "'$*' exited $rc, expected 2 (usage): $ERR"
}

step "the server reads data, listen and log format from the file"
cat >"$C/server.conf" <<EOF
# a comment, then a blank line

data = $WORK/from-file
listen = 127.0.0.1:0
port-file = $WORK/port1
log-format = json
no-controller = true
EOF
"$MLREG_BIN" server --config "$C/server.conf" >"$WORK/s1.out" 2>"$WORK/s1.err" &
P1=$!
track_bg "$P1"
for ((i = 0; i < 200; i++)); do [ -s "$WORK/port1" ] && break; sleep 0.05; done
[ -s "$WORK/port1" ] || fail "server with --config wrote no port file: $(cat "$WORK/s1.err")"
[ -s "$WORK/from-file/admin.token" ] || fail "data = from the file was not used"
assert_eq "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(cat "$WORK/port1")/healthz")" 200 "healthz"
kill -TERM "$P1"
wait "$P1" || fail "server exited non-zero on SIGTERM: $(cat "$WORK/s1.err")"
check_sanitizer_clean "$WORK/s1.err" "server stderr"
"${PY[@]}" -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines, "no log line"
for l in lines:
    o = json.loads(l)
    assert set(o) == {"ts", "level", "prog", "msg"} and o["prog"] == "mlreg-server", o
assert any(o["msg"].startswith("first start: bootstrap admin token") for o in map(json.loads, lines))
assert not any("controller holds the lease" in l for l in lines), "no-controller = true was ignored"
' "$WORK/s1.err" || fail "log-format = json from the file: $(cat "$WORK/s1.err")"

step "flags on the command line override the file"
"$MLREG_BIN" server --config "$C/server.conf" --log-format logfmt --data "$WORK/from-flag" \
	--port-file "$WORK/port2" >"$WORK/s2.out" 2>"$WORK/s2.err" &
P2=$!
track_bg "$P2"
for ((i = 0; i < 200; i++)); do [ -s "$WORK/port2" ] && break; sleep 0.05; done
[ -s "$WORK/port2" ] || fail "second server did not start: $(cat "$WORK/s2.err")"
[ -s "$WORK/from-flag/admin.token" ] || fail "--data on the command line did not win over the file"
kill -TERM "$P2"
wait "$P2" || fail "server exited non-zero on SIGTERM"
check_sanitizer_clean "$WORK/s2.err" "server stderr"
grep -Eq '^ts=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z level=info prog=mlreg-server msg="first start: bootstrap admin token written to [^"]*/from-flag/admin.token \(mode 0600\)"$' "$WORK/s2.err" ||
	fail "--log-format logfmt did not win over the file: $(cat "$WORK/s2.err")"
if grep -v '^ts=' "$WORK/s2.err" | grep -q .; then fail "a log line that is not logfmt: $(cat "$WORK/s2.err")"; fi

step "a bad file stops the start naming its line, and creates nothing"
printf 'data = %s/never\nlisen = 127.0.0.1:1\n' "$WORK" >"$C/typo.conf"
run_bad "$MLREG_BIN" server --config "$C/typo.conf"
assert_eq "$ERR" "mlreg server: $C/typo.conf:2: unknown setting 'lisen'" "unknown name"
if [ -e "$WORK/never" ]; then fail "a refused config file still created the data folder"; fi
printf 'threads = 2\n\nthreads = 3\n' >"$C/dup.conf"
run_bad "$MLREG_BIN" server --config "$C/dup.conf"
assert_eq "$ERR" "mlreg server: $C/dup.conf:3: 'threads' is already set on line 1" "duplicate"
printf '# ok\nidle-timeout = 10 minutes\n' >"$C/value.conf"
run_bad "$MLREG_BIN" server --config "$C/value.conf"
assert_contains "$ERR" "$C/value.conf:2: " "a value the flag refuses names its line"
printf 'webhook-timeout = 99h\n' >"$C/range.conf"
run_bad "$MLREG_BIN" server --config "$C/range.conf"
assert_contains "$ERR" "$C/range.conf:1: --webhook-timeout needs a duration" "out of range"
printf 'listen = 127.0.0.1:1 # loopback\n' >"$C/comment.conf"
run_bad "$MLREG_BIN" server --config "$C/comment.conf"
assert_contains "$ERR" "comment.conf:1: a comment must be on a line of its own" "comment after a value"
printf 'config = /etc/other\n' >"$C/nested.conf"
run_bad "$MLREG_BIN" server --config "$C/nested.conf"
assert_contains "$ERR" "nested.conf:1: 'config' cannot be set in a config file" "nested config"
head -c 70000 /dev/zero | tr '\0' '\n' >"$C/big.conf"
run_bad "$MLREG_BIN" server --config "$C/big.conf"
assert_eq "$ERR" "mlreg server: $C/big.conf: larger than 65536 bytes" "a file over 64 KiB"
run_bad "$MLREG_BIN" server --config "$C/missing.conf"
assert_contains "$ERR" "missing.conf" "a missing file is named"
run_bad "$MLREG_BIN" server --config "$C/server.conf" --config "$C/server.conf"
assert_contains "$ERR" "--config given twice" "two --config"
run_bad "$MLREG_BIN" server --log-format yaml
assert_contains "$ERR" "invalid --log-format 'yaml' (logfmt or json)" "bad --log-format"
# the check operators run before a restart (docs/operations.md)
"$MLREG_BIN" server --config "$C/server.conf" --print-routes >/dev/null || fail "--print-routes with a good file"

step "the node: same rules, trust-key repeatable, check refused"
printf 'cache = %s/ncache\nlisen = x\n' "$WORK" >"$C/node-typo.conf"
run_bad "$MLREG_NODE_BIN" --config "$C/node-typo.conf"
assert_eq "$ERR" "mlreg-node: $C/node-typo.conf:2: unknown setting 'lisen'" "node unknown name"
printf 'check = /tmp\n' >"$C/node-check.conf"
run_bad "$MLREG_NODE_BIN" --config "$C/node-check.conf"
assert_contains "$ERR" "node-check.conf:1: 'check' cannot be set in a config file" "node check"
printf 'cache = %s/ncache\ntrust-key = %s/none1.pem\ntrust-key = %s/none2.pem\n' "$WORK" "$WORK" "$WORK" >"$C/node-keys.conf"
run_bad "$MLREG_NODE_BIN" --config "$C/node-keys.conf"
# both lines were accepted by the parser: the refusal is the key file's own
assert_contains "$ERR" "none1.pem" "repeated trust-key reaches the key loader"
printf 'cache = %s/ncache\nlisten = 127.0.0.1:0\nport-file = %s/nport\nlog-format = json\n' "$WORK" "$WORK" >"$C/node.conf"
"$MLREG_NODE_BIN" --config "$C/node.conf" >"$WORK/n.out" 2>"$WORK/n.err" &
NP=$!
track_bg "$NP"
for ((i = 0; i < 200; i++)); do [ -s "$WORK/nport" ] && break; sleep 0.05; done
[ -s "$WORK/nport" ] || fail "node with --config did not start: $(cat "$WORK/n.err")"
for ((i = 0; i < 200; i++)); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(cat "$WORK/nport")/v2/health/ready")" = 200 ] && break
	sleep 0.05
done
[ -d "$WORK/ncache" ] || fail "the node did not use cache = from the file"
kill -TERM "$NP"
wait "$NP" || fail "node exited non-zero on SIGTERM: $(cat "$WORK/n.err")"
check_sanitizer_clean "$WORK/n.err" "node stderr"
"${PY[@]}" -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines, "no log line"
for l in lines:
    assert json.loads(l)["prog"] == "mlreg-node", l
' "$WORK/n.err" || fail "node log-format = json: $(cat "$WORK/n.err")"

step "the standalone controller: --config the same way"
printf 'data = %s/never2\ncontroller-pol = 1s\n' "$WORK" >"$C/ctl-typo.conf"
run_bad "$MLREG_BIN" controller --config "$C/ctl-typo.conf"
assert_eq "$ERR" "mlreg controller: $C/ctl-typo.conf:2: unknown setting 'controller-pol'" "controller unknown name"
if [ -e "$WORK/never2" ]; then fail "a refused controller config created the data folder"; fi
printf '# the reconciler beside a server\ncontroller-poll = forever\n' >"$C/ctl-value.conf"
run_bad "$MLREG_BIN" controller --config "$C/ctl-value.conf"
assert_contains "$ERR" "mlreg controller: $C/ctl-value.conf:2: " "a controller value the flag refuses names its line"
"$MLREG_BIN" server --listen 127.0.0.1:0 --data "$WORK/ctl-data" --port-file "$WORK/ctl-port" --no-controller \
	>"$WORK/cs.out" 2>"$WORK/cs.err" &
CSP=$!
track_bg "$CSP"
for ((i = 0; i < 200; i++)); do [ -s "$WORK/ctl-port" ] && break; sleep 0.05; done
[ -s "$WORK/ctl-port" ] || fail "server for the controller did not start: $(cat "$WORK/cs.err")"
printf 'data = %s/ctl-data\nlog-format = json\ncontroller-poll = 50ms\n' "$WORK" >"$C/ctl.conf"
"$MLREG_BIN" controller --config "$C/ctl.conf" --log-format logfmt >"$WORK/ctl.out" 2>"$WORK/ctl.err" &
CTP=$!
track_bg "$CTP"
for ((i = 0; i < 200; i++)); do grep -q "controller holds the lease" "$WORK/ctl.err" && break; sleep 0.05; done
grep -q "running on $WORK/ctl-data" "$WORK/ctl.out" || fail "the controller did not use data = from the file: $(cat "$WORK/ctl.out" "$WORK/ctl.err")"
grep -Eq '^ts=.* prog=mlreg-controller msg="controller holds the lease' "$WORK/ctl.err" ||
	fail "the controller did not take the lease in logfmt (the flag over the file's json): $(cat "$WORK/ctl.err")"
kill -TERM "$CTP"
wait "$CTP" || fail "controller exited non-zero on SIGTERM: $(cat "$WORK/ctl.err")"
check_sanitizer_clean "$WORK/ctl.err" "controller stderr"
kill -TERM "$CSP"
wait "$CSP" || fail "server exited non-zero on SIGTERM"

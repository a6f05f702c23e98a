# tests/integration/ctl_lib.sh - helpers for the deployment controller tests,
# on top of lib.sh and node_lib.sh (source both first).
#
#   CTL_FLAGS                  server flags that make the controller fast for tests
#   fleet N [node flags]       N real mlreg-node processes on fixed ports, registered
#                              with `mlreg node add n<i> URL --label pool=a`;
#                              sets NODE_URLS[i] NODE_PIDS[i] (1-based)
#   fleet_kill9 I / fleet_restart I [--empty]   crash node I / start it again on its port
#   node_weights I MODEL       the node's {version: weight} for MODEL (JSON)
#   dstatus NAME               `mlreg deploy status NAME --json` into DSTATUS
#   wait_for NAME EXPR [SECS]  until the Python expression EXPR holds over the status `j`
#   loadgen_start MODEL RATE / loadgen_stop   live traffic (loadgen.py); LOADGEN_OUT summary

CTL_FLAGS=(--resync 500ms --controller-tick 100ms --controller-poll 200ms --controller-lease 3s
	--node-timeout 3s --node-backoff 200ms --node-backoff-max 2s)
NODE_URLS=() NODE_PIDS=() NODE_CACHES=() NODE_LOGS=()
LOADGEN_PID="" LOADGEN_OUT=""

_free_port() {
	"$SYSPY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

_fleet_start_one() { # I [flags]
	local i=$1
	shift
	local port=${NODE_URLS[$i]##*:}
	NODE_LOGS[$i]="$WORK/node$i.log"
	"$MLREG_NODE_BIN" --listen "127.0.0.1:$port" --cache "${NODE_CACHES[$i]}" --registry "$URL" \
		--token-file "$FLEET_TOKEN" --name "n$i" "$@" >>"${NODE_LOGS[$i]}" 2>&1 &
	NODE_PIDS[$i]=$!
	track_bg "${NODE_PIDS[$i]}"
	local k
	for ((k = 0; k < 200; k++)); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "${NODE_URLS[$i]}/v2/health/live" || true)" = 200 ] && return 0
		kill -0 "${NODE_PIDS[$i]}" 2>/dev/null || fail "node $i died at start: $(tail -5 "${NODE_LOGS[$i]}")"
		sleep 0.05
	done
	fail "node $i never answered"
}

fleet() { # N [node flags]
	local n=$1 i
	shift
	FLEET_TOKEN=$(node_token fleet)
	for ((i = 1; i <= n; i++)); do
		NODE_URLS[$i]="http://127.0.0.1:$(_free_port)"
		NODE_CACHES[$i]="$WORK/ncache$i"
		_fleet_start_one "$i" "$@"
		cli_ok node add "n$i" "${NODE_URLS[$i]}" --label pool=a --label idx="$i"
	done
	log "fleet of $n nodes: ${NODE_URLS[*]}"
}

fleet_kill9() {
	kill -KILL "${NODE_PIDS[$1]}" 2>/dev/null || true
	wait "${NODE_PIDS[$1]}" 2>/dev/null || true
}

fleet_restart() { # I [--empty]
	if [ "${2:-}" = "--empty" ]; then rm -rf "${NODE_CACHES[$1]}"; fi
	_fleet_start_one "$1"
}

fleet_stop() {
	local i rc
	for i in "${!NODE_PIDS[@]}"; do
		kill -TERM "${NODE_PIDS[$i]}" 2>/dev/null || continue
		rc=0
		wait "${NODE_PIDS[$i]}" || rc=$?
		check_sanitizer_clean "${NODE_LOGS[$i]}" "node $i log"
		[ "$rc" = 0 ] || fail "node $i exited with $rc after SIGTERM"
	done
}

node_weights() { # I MODEL -> {"2":90,"3":10}
	curl -s --max-time 5 -X POST "${NODE_URLS[$1]}/v2/repository/index" -d '{}' |
		"$SYSPY" -c 'import json,sys; m=sys.argv[1]; print(json.dumps({e["version"]: e["weight"] for e in json.load(sys.stdin) if e["name"] == m and e["state"] == "READY"}, sort_keys=True))' "$2"
}

dstatus() {
	cli deploy status "$1" --json
	expect_rc 0 "deploy status $1"
	DSTATUS=$OUT
}

wait_for() { # NAME EXPR [SECS]
	local k secs=${3:-60}
	for ((k = 0; k < secs * 10; k++)); do
		dstatus "$1"
		[ "$(jq_ "$2" "$DSTATUS")" = true ] && return 0
		sleep 0.1
	done
	fail "deployment $1: ($2) did not hold within ${secs}s; status: $DSTATUS"
}

loadgen_start() { # MODEL RATE ROWS
	LOADGEN_OUT="$WORK/loadgen.$RANDOM.json"
	local urls
	urls=$(IFS=,; echo "${NODE_URLS[*]}")
	"$SYSPY" "$HERE/loadgen.py" --urls "$urls" --model "$1" --rate "$2" --rows "$3" --out "$LOADGEN_OUT" --timeout 30 &
	LOADGEN_PID=$!
	track_bg "$LOADGEN_PID"
}

loadgen_stop() {
	kill -TERM "$LOADGEN_PID"
	wait "$LOADGEN_PID" || true
	[ -s "$LOADGEN_OUT" ] || fail "the load generator wrote no summary"
	LOADGEN=$(cat "$LOADGEN_OUT")
	log "load: $LOADGEN"
}

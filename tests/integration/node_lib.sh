# tests/integration/node_lib.sh - helpers for the mlreg-node tests, on top of
# lib.sh (source lib.sh first).  Needs MLREG_NODE_BIN (ctest passes it).
#
#   node_token NAME           creates a node-role token on the registry; prints its file
#   train DIR [node_train.py args]   a real XGBoost model folder (system python3)
#   start_node CACHE [flags]  starts mlreg-node on 127.0.0.1:0; sets NPID NURL NLOG
#                             (the registry, token file and cache are the caller's flags)
#   stop_node                 SIGTERM; exit 0 and sanitizer-clean expected
#   kill9_node                SIGKILL
#   nhttp METHOD PATH [curl args]   request the node; sets CODE BODY
#   nload MODEL VERSION DIGEST [SOURCE]   POST …/load; sets CODE BODY
#   ntraffic MODEL JSON       POST …/traffic
#   nmetric NAME{labels}      one sample of the node's /metrics (0 when absent)

if [ -z "${MLREG_NODE_BIN:-}" ] || [ ! -x "${MLREG_NODE_BIN}" ]; then
	fail "MLREG_NODE_BIN is not set to an executable mlreg-node (got '${MLREG_NODE_BIN:-}')"
fi
SYSPY=/usr/bin/python3
[ -x "$SYSPY" ] || fail "Debian's /usr/bin/python3 is needed (python3-xgboost, python3-sklearn)"
"$SYSPY" -c 'import xgboost, sklearn' 2>/dev/null ||
	fail "python3-xgboost and python3-sklearn are not installed (scripts/deps installs them)"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NPID="" NURL="" NLOG=""

node_token() { # NAME -> prints the path of a file holding a new node token
	cli_ok token create "$1" --role node --json
	local f="$WORK/$1.token"
	jq_ 'j["token"]' "$OUT" >"$f"
	chmod 600 "$f"
	echo "$f"
}

train() { # DIR [args]
	local dir=$1
	shift
	"$SYSPY" "$HERE/node_train.py" --out "$dir" "$@" >/dev/null || fail "training a model into $dir failed"
}

start_node() { # CACHE [flags]
	local cache=$1
	shift
	local pf="$WORK/nport.$RANDOM$RANDOM"
	NLOG="$WORK/node.log"
	echo "=== start $(date -u +%FT%TZ): mlreg-node --cache $cache $*" >>"$NLOG"
	"$MLREG_NODE_BIN" --listen 127.0.0.1:0 --port-file "$pf" --cache "$cache" "$@" >>"$NLOG" 2>&1 &
	NPID=$!
	track_bg "$NPID"
	local i port=""
	for ((i = 0; i < 600; i++)); do
		if [ -s "$pf" ]; then
			port=$(cat "$pf")
			[[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -gt 0 ] && break
		fi
		kill -0 "$NPID" 2>/dev/null || fail "mlreg-node exited during start-up: $(tail -5 "$NLOG")"
		sleep 0.05
	done
	[[ "$port" =~ ^[0-9]+$ ]] || fail "mlreg-node wrote no port file within 30s"
	NURL="${SCHEME:-http}://127.0.0.1:$port" # SCHEME: see start_server
	grep -q "listening on ${SCHEME:-http}://127.0.0.1:$port" "$NLOG" || fail "node log lacks its 'listening on' line"
	log "node pid $NPID at $NURL (cache $cache)"
}

wait_node_ready() { # [seconds]
	local i
	for ((i = 0; i < ${1:-30} * 20; i++)); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$NURL/v2/health/ready" || true)" = 200 ] && return 0
		kill -0 "$NPID" 2>/dev/null || fail "mlreg-node died: $(tail -5 "$NLOG")"
		sleep 0.05
	done
	fail "node at $NURL never became ready: $(curl -s "$NURL/v2/health/ready")"
}

stop_node() {
	kill -TERM "$NPID" 2>/dev/null || fail "stop_node: node pid $NPID is not running"
	local i rc=0
	for ((i = 0; i < 1200; i++)); do
		kill -0 "$NPID" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$NPID" 2>/dev/null && fail "node did not stop within 60s of SIGTERM"
	wait "$NPID" || rc=$?
	check_sanitizer_clean "$NLOG" "node log"
	[ "$rc" = 0 ] || fail "node exited with status $rc after SIGTERM (expected 0)"
	NPID=""
}

kill9_node() {
	kill -KILL "$NPID" 2>/dev/null || true
	wait "$NPID" 2>/dev/null || true
	NPID=""
}

nhttp() { # METHOD PATH [curl args]
	local m=$1 p=$2
	shift 2
	CODE=$(curl -s -S -o "$BODY_FILE" -w '%{http_code}' --max-time 120 -X "$m" "$@" "$NURL$p") || true
	BODY=$(head -c 1048576 "$BODY_FILE" 2>/dev/null | tr -d '\000' || true)
}

nload() { # MODEL VERSION DIGEST [SOURCE]
	local src=""
	[ -n "${4:-}" ] && src=",\"model\":\"$4\""
	nhttp POST "/v2/repository/models/$1/load" -H 'Content-Type: application/json' \
		-d "{\"parameters\":{\"version\":\"$2\",\"digest\":\"$3\"$src}}"
}

ntraffic() { # MODEL JSON
	nhttp POST "/v2/repository/models/$1/traffic" -H 'Content-Type: application/json' -d "$2"
}

nindex() {
	nhttp POST /v2/repository/index -d '{}'
	expect_code 200 "repository index"
}

nmetric() { # NAME{labels}
	local save=$URL
	URL=$NURL
	metric "$1"
	URL=$save
}

# infer_body ROWSFILE FIRST COUNT: an infer request body of COUNT rows.
infer_body() {
	"$SYSPY" -c '
import json, sys
d = json.load(open(sys.argv[1])); a, n = int(sys.argv[2]), int(sys.argv[3])
rows = d["rows"][a:a + n]
print(json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": [len(rows), len(rows[0])],
                              "data": [v for r in rows for v in r]}]}))' "$@"
}

nclient() { "$SYSPY" "$HERE/node_client.py" "$@"; }

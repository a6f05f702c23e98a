#!/usr/bin/env bash
# t_tls: TLS end to end (docs/security.md, "TLS").  A CA and certificates are
# made here with the openssl CLI (server: SAN IP 127.0.0.1 and DNS localhost;
# one for another name; one already expired; a CA nobody trusts).
#   start-up: a key file others may read, --tls-cert without --tls-key -> exit 2;
#   mlreg server over https: push, pull, promote with --cacert and with
#     MLREG_CACERT, by IP and by "localhost";
#   mlreg-node over https, pulling from the https registry with --cacert;
#     without it the load fails naming the certificate problem;
#   the controller in `mlreg server` loads the node over https (--node-cacert);
#   refusals, exit 1 naming the problem: no --cacert (unknown CA), a server
#     certificate for another name, an expired one, a CA the client does not
#     trust; plain http to the TLS port fails and the server stays healthy.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/node_lib.sh"
source "$(dirname "$0")/ctl_lib.sh"
command -v openssl >/dev/null || fail "the openssl CLI is needed"

step "a CA and certificates"
P="$WORK/pki"
mkdir -p "$P"
ossl() { openssl "$@" 2>>"$P/openssl.log" || fail "openssl $1 failed: $(tail -3 "$P/openssl.log")"; }
mkca() { # NAME
	ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/$1.key" -out "$P/$1.pem" \
		-days 2 -subj "/CN=mlreg test $1"
}
mkcert() { # NAME CA SAN DAYS
	ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/$1.key" -out "$P/$1.csr" -subj "/CN=$1"
	printf 'basicConstraints=CA:FALSE\nsubjectAltName=%s\n' "$3" >"$P/$1.ext"
	# a negative -days gives a certificate that expired before it was made
	ossl x509 -req -in "$P/$1.csr" -CA "$P/$2.pem" -CAkey "$P/$2.key" -set_serial "$RANDOM$RANDOM" \
		-out "$P/$1.pem" -days "$4" -extfile "$P/$1.ext"
	chmod 600 "$P/$1.key"
}
mkca ca
mkca rogue
mkcert srv ca "IP:127.0.0.1,DNS:localhost" 1
mkcert other ca "DNS:other.example" 1
mkcert old ca "IP:127.0.0.1,DNS:localhost" -1
mkcert stranger rogue "IP:127.0.0.1,DNS:localhost" 1
openssl x509 -in "$P/old.pem" -noout -checkend 0 >/dev/null && fail "the expired certificate is not expired"
CA="$P/ca.pem"

step "start-up refusals"
cp "$P/srv.key" "$P/open.key"
chmod 644 "$P/open.key"
cli server --data "$WORK/x" --listen 127.0.0.1:0 --tls-cert "$P/srv.pem" --tls-key "$P/open.key"
expect_rc 2 "key readable by others"
assert_contains "$ERR" "chmod 600" "refusal says what to do"
cli server --data "$WORK/x" --listen 127.0.0.1:0 --tls-cert "$P/srv.pem"
expect_rc 2 "--tls-cert without --tls-key"
cli server --data "$WORK/x" --listen 127.0.0.1:0 --tls-cert "$P/srv.key" --tls-key "$P/srv.key"
RC_BAD=$RC
[ "$RC_BAD" != 0 ] || fail "a key given as the certificate was accepted"
"$MLREG_NODE_BIN" --cache "$WORK/nx" --listen 127.0.0.1:0 --tls-cert "$P/srv.pem" --tls-key "$P/open.key" \
	>/dev/null 2>"$WORK/nerr" && fail "mlreg-node accepted an open key"
assert_contains "$(cat "$WORK/nerr")" "chmod 600" "node refusal"

step "mlreg server over https"
export CURL_CA_BUNDLE=$CA # the test's curl calls trust the CA; the CLI does not read it
SCHEME=https start_server "$WORK/data" --tls-cert "$P/srv.pem" --tls-key "$P/srv.key" --node-cacert "$CA" \
	"${CTL_FLAGS[@]}"
assert_match "$URL" '^https://' "registry URL"

step "the CLI: unknown CA without --cacert"
cli ls
expect_rc 1 "ls without --cacert"
assert_contains "$ERR" "certificate" "names the certificate problem"
assert_contains "$ERR" "--cacert" "says how to fix it"

step "push, pull, promote with --cacert"
train "$WORK/v1" --seed 1 --trees 5 --depth 3
cli_ok --cacert "$CA" push fraud "$WORK/v1" --json
D1=$(jq_ 'j["digest"]' "$OUT")
cli_ok --cacert "$CA" pull fraud:1 "$WORK/pulled"
for f in "$WORK"/v1/*; do assert_file_eq "$f" "$WORK/pulled/$(basename "$f")" "pulled $(basename "$f")"; done
export MLREG_CACERT=$CA
cli_ok stages set staging,production
cli_ok promote fraud:1 --to staging
cli_ok show fraud:staging --json
assert_json 'j["version"] == 1' "$OUT" "promoted over https (MLREG_CACERT)"
MLREG_REGISTRY="https://localhost:$PORT" MLREG_TOKEN=$TOKEN "$MLREG_BIN" ls >/dev/null 2>"$WORK/err" ||
	fail "https://localhost: $(cat "$WORK/err")"

step "plain http to the TLS port"
CODE=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PORT/healthz") || true
assert_eq "$CODE" 000 "plain http gets no HTTP answer"
cli ls
expect_rc 0 "server healthy after plain http"

step "mlreg-node over https, pulling from the https registry"
NTOK=$(node_token tlsnode)
SCHEME=https start_node "$WORK/ncache" --registry "$URL" --token-file "$NTOK" --cacert "$CA" \
	--tls-cert "$P/srv.pem" --tls-key "$P/srv.key" --name tls-node
wait_node_ready
nload fraud 1 "$D1"
expect_code 200 "node loads v1 over https"
assert_json 'j["state"] == "READY"' "$BODY" "loaded"
stop_node
SCHEME=https start_node "$WORK/ncache2" --registry "$URL" --token-file "$NTOK" --name no-ca-node \
	--tls-cert "$P/srv.pem" --tls-key "$P/srv.key"
wait_node_ready
nload fraud 1 "$D1"
[ "$CODE" = 200 ] && fail "a node without --cacert loaded from an unknown CA"
assert_contains "$BODY" "certificate" "node names the certificate problem"
stop_node

step "the controller loads a node over https"
SCHEME=https start_node "$WORK/ncache3" --registry "$URL" --token-file "$NTOK" --cacert "$CA" \
	--tls-cert "$P/srv.pem" --tls-key "$P/srv.key" --name n1
wait_node_ready
cli_ok node add n1 "$NURL" --label pool=a
cli_ok deploy create live --model fraud --stage production --selector pool=a
cli_ok stages set staging,production
cli_ok promote fraud:1 --to production
wait_for live 'j["phase"] == "Healthy" and j["stable_version"] == 1' 30
nhttp GET /v2/models/live/ready
expect_code 200 "the controller's load reached the node over https"
stop_node

# start_raw_tls CERT: a second registry on its own data folder with CERT;
# sets RURL (not waited for over TLS: the point is that clients refuse it)
start_raw_tls() {
	local pf="$WORK/rport.$RANDOM"
	"$MLREG_BIN" server --listen 127.0.0.1:0 --port-file "$pf" --data "$WORK/r-$1" --no-controller \
		--tls-cert "$P/$1.pem" --tls-key "$P/$1.key" >>"$WORK/r-$1.log" 2>&1 &
	RPID=$!
	track_bg "$RPID"
	local i
	for ((i = 0; i < 400; i++)); do [ -s "$pf" ] && break; sleep 0.05; done
	[ -s "$pf" ] || fail "server with $1 did not start: $(tail -3 "$WORK/r-$1.log")"
	RURL="https://127.0.0.1:$(cat "$pf")"
}
refused() { # CERT WHAT NEEDLE
	start_raw_tls "$1"
	RC=0
	ERR=$(MLREG_REGISTRY=$RURL MLREG_TOKEN=x "$MLREG_BIN" --cacert "$CA" ls 2>&1 >/dev/null) || RC=$?
	expect_rc 1 "$2"
	assert_contains "$ERR" "$3" "$2 names the problem"
	kill -TERM "$RPID"
	wait "$RPID" || fail "server with $1 did not stop cleanly"
}

step "refusals"
refused other "certificate for another name" "subject name"
assert_not_contains "$ERR" "--cacert" "a name mismatch is not a CA problem"
refused old "expired certificate" "expired"
refused stranger "certificate from an untrusted CA" "local issuer certificate"

step "still healthy"
cli_ok ls
stop_server

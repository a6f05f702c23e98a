#!/usr/bin/env bash
# t_concurrency: 32 concurrent pushes to one model (a quarter of them with
# identical content, all sharing one common file) while readers loop over
# show/ls and an admin loops `gc` with a short grace period, fed with orphan
# blobs older than the grace so that it really sweeps during the pushes.
# Afterwards: exactly 32 distinct versions numbered 1..32, each pullable,
# verified and equal to what was pushed; gc deleted every orphan and nothing
# in use.
#
# The grace (MLREG_IT_GC_GRACE, default 3s) must exceed the time from a
# push's blob upload to its version create: the grace is what keeps gc off
# blobs a push is about to reference (ARCHITECTURE.md section 3).  With 1ms,
# gc legitimately deletes a pushing client's fresh blobs and the push fails.
source "$(dirname "$0")/lib.sh"

N=32
GRACE=${MLREG_IT_GC_GRACE:-3s}
case "$GRACE" in
*ms) GRACE_S=$("${PY[@]}" -c 'import sys; print(int(sys.argv[1][:-2]) / 1000)' "$GRACE") ;;
*s) GRACE_S=${GRACE%s} ;;
*) fail "MLREG_IT_GC_GRACE must be like 3s or 500ms, got '$GRACE'" ;;
esac
start_server "$WORK/data" --gc-grace "$GRACE" --workers 4

step "prepare $N model folders"
rand_file "$WORK/common.bin" 524288
mkdir -p "$WORK/src/same"
cp "$WORK/common.bin" "$WORK/src/same/common.bin"
printf 'identical content\n' >"$WORK/src/same/uniq.txt"
for ((i = 1; i <= N; i++)); do
	d="$WORK/src/m$i"
	if ((i % 4 == 0)); then
		cp -a "$WORK/src/same" "$d"
	else
		mkdir -p "$d"
		cp "$WORK/common.bin" "$d/common.bin"
		printf 'push %d\n' "$i" >"$d/uniq.txt"
		rand_file "$d/weights.bin" $((4096 + i * 1000))
	fi
done

STOP=$WORK/stop
mkdir -p "$WORK/res"

# Readers: every call must succeed or say "not found" (before v1 exists).
reader() {
	local id=$1 n=0 rc
	while [ ! -e "$STOP" ]; do
		rc=0
		MLREG_REGISTRY=$URL MLREG_TOKEN=$ADMIN "$MLREG_BIN" show conc:1 --json >/dev/null 2>"$WORK/res/reader$id.err" || rc=$?
		[ "$rc" = 0 ] || [ "$rc" = 5 ] || { echo "show rc=$rc: $(cat "$WORK/res/reader$id.err")" >>"$WORK/res/reader.bad"; }
		rc=0
		MLREG_REGISTRY=$URL MLREG_TOKEN=$ADMIN "$MLREG_BIN" ls conc --json >"$WORK/res/reader$id.out" 2>"$WORK/res/reader$id.err" || rc=$?
		[ "$rc" = 0 ] || [ "$rc" = 5 ] || { echo "ls rc=$rc: $(cat "$WORK/res/reader$id.err")" >>"$WORK/res/reader.bad"; }
		n=$((n + 1))
	done
	echo "$n" >"$WORK/res/reader$id.count"
}

# gc loop: drop an orphan blob in, then gc; every gc must succeed.
gcloop() {
	local n=0 rc o
	while [ ! -e "$STOP" ]; do
		head -c 2048 /dev/urandom >"$WORK/res/orphan.$n"
		o=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ADMIN" \
			--data-binary @"$WORK/res/orphan.$n" "$URL/api/v1/blobs")
		[ "$o" = 201 ] || echo "orphan upload HTTP $o" >>"$WORK/res/gc.bad"
		rc=0
		MLREG_REGISTRY=$URL MLREG_TOKEN=$ADMIN "$MLREG_BIN" gc --json >"$WORK/res/gc.$n.json" 2>"$WORK/res/gc.err" || rc=$?
		[ "$rc" = 0 ] || echo "gc rc=$rc: $(cat "$WORK/res/gc.err")" >>"$WORK/res/gc.bad"
		n=$((n + 1))
	done
	echo "$n" >"$WORK/res/gc.count"
}

step "upload orphan blobs and let them age past the grace"
for ((k = 0; k < 6; k++)); do
	head -c 4096 /dev/urandom >"$WORK/res/old-orphan.$k"
	http POST /api/v1/blobs --data-binary @"$WORK/res/old-orphan.$k"
	expect_code 201 "upload orphan $k"
done
sleep "$GRACE_S"
sleep 0.3

step "run $N pushes with 2 readers and a gc loop"
reader 1 &
track_bg $!
RP1=$!
reader 2 &
track_bg $!
RP2=$!
gcloop &
track_bg $!
GP=$!
sleep 0.3

PUSH_PIDS=()
for ((i = 1; i <= N; i++)); do
	(
		rc=0
		MLREG_REGISTRY=$URL MLREG_TOKEN=$ADMIN "$MLREG_BIN" push conc "$WORK/src/m$i" --json \
			--metric idx=$i >"$WORK/res/push$i.json" 2>"$WORK/res/push$i.err" || rc=$?
		echo "$rc" >"$WORK/res/push$i.rc"
	) &
	PUSH_PIDS+=($!)
	track_bg $!
done
for p in "${PUSH_PIDS[@]}"; do
	wait "$p" || true
done
sleep 0.5 # let gc and readers overlap the tail a little more
touch "$STOP"
wait "$RP1" "$RP2" "$GP" || true

step "check the pushes"
for ((i = 1; i <= N; i++)); do
	rc=$(cat "$WORK/res/push$i.rc")
	[ "$rc" = 0 ] || fail "push $i exited $rc: $(cat "$WORK/res/push$i.err")"
	grep -Eq "$_SANITIZER_RE" "$WORK/res/push$i.err" && fail "sanitizer report from push $i"
done
VERSIONS=$(for ((i = 1; i <= N; i++)); do cat "$WORK/res/push$i.json"; echo; done |
	"${PY[@]}" -c 'import sys,json; print(" ".join(str(v) for v in sorted(json.loads(l)["version"] for l in sys.stdin if l.strip())) + " ")')
assert_eq "$VERSIONS" "$(seq 1 $N | tr '\n' ' ')" "versions acknowledged by the $N pushes"

[ ! -s "$WORK/res/reader.bad" ] || fail "readers saw errors: $(head -20 "$WORK/res/reader.bad")"
[ ! -s "$WORK/res/gc.bad" ] || fail "gc loop saw errors: $(head -20 "$WORK/res/gc.bad")"
GCN=$(cat "$WORK/res/gc.count")
log "gc ran $GCN times; readers looped $(cat "$WORK/res/reader1.count") and $(cat "$WORK/res/reader2.count") times"
[ "$GCN" -ge 2 ] || fail "gc ran only $GCN times during the pushes"
DELETED=$(cat "$WORK/res"/gc.*.json | "${PY[@]}" -c 'import sys,json; print(sum(json.loads(l)["deleted_blobs"] for l in sys.stdin if l.strip()))')
log "gc deleted $DELETED blobs during the pushes"
[ "$DELETED" -ge 6 ] || fail "gc deleted only $DELETED blobs during the pushes; the 6 aged orphans were due"
for ((k = 0; k < 6; k++)); do
	d=$(sha256_of "$WORK/res/old-orphan.$k")
	[ ! -e "$(blob_path "$DATA" "$d")" ] || fail "aged orphan blob $d survived the gc loop"
done

step "the model has exactly versions 1..$N"
cli_ok ls conc --json
assert_json '[v["version"] for v in j["versions"]] == list(range(1, '"$N"' + 1))' "$OUT" "ls conc"
cli_ok ls --json
assert_json '[m["latest_version"] for m in j["models"] if m["name"] == "conc"] == ['"$N"']' "$OUT" "latest_version"

step "final gc, then every version pulls, verifies and matches its source"
sleep "$GRACE_S"
sleep 0.2
cli_ok gc --json
assert_json 'j["deleted_blobs"] >= 1 and j["kept_pending"] == 0' "$OUT" "final gc deletes the remaining orphans"
cli_ok gc --json
assert_json 'j["deleted_blobs"] == 0' "$OUT" "gc is idempotent"
for ((i = 1; i <= N; i++)); do
	v=$(jq_ 'j["version"]' "$(cat "$WORK/res/push$i.json")")
	cli_ok show "conc:$v" --json
	assert_json 'j["metrics"]["idx"] == '"$i" "$OUT" "conc:$v carries the metric of push $i"
	mkdir -p "$WORK/pull"
	cli pull "conc:$v" "$WORK/pull/$v"
	expect_rc 0 "pull conc:$v"
	diff -r "$WORK/pull/$v" "$WORK/src/m$i" >/dev/null || fail "conc:$v differs from push $i's folder"
done
for ((n = 0; n < GCN; n++)); do
	d=$(sha256_of "$WORK/res/orphan.$n")
	[ ! -e "$(blob_path "$DATA" "$d")" ] || fail "orphan blob $d survived gc"
done
cli_ok fsck --json
assert_json 'j["bad"] == []' "$OUT" "fsck"
verify_blob_store "$DATA" >/dev/null
cli_ok audit verify
stop_server

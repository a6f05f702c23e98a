#!/usr/bin/env bash
# t_crash: kill -9 the server at random moments while two clients stream
# pushes into it (several rounds), restarting it on the same data directory
# each time.  After every restart:
#   - every push the CLI acknowledged (exit 0, version in --json) is there,
#     with the acknowledged digest, and pulls back equal to what was pushed;
#   - the model's versions are gap-free 1..N and every one of them (also the
#     ones whose answer was lost) pulls and verifies;
#   - `fsck` reports nothing bad, and every file under DATA/blobs rehashes to
#     its name (no partial blob is ever visible);
#   - `audit verify` is ok.
# Finally a push after the last restart succeeds with the next version.
# Every sixth push of one stream carries a 33 MiB file so that kills also
# land inside resumable upload sessions (the CLI uses them from 32 MiB up).
source "$(dirname "$0")/lib.sh"

ROUNDS=${MLREG_IT_CRASH_ROUNDS:-4}
mkdir -p "$WORK/src" "$WORK/res"
start_server "$WORK/data"
rand_file "$WORK/shared.bin" 262144

# pusher STREAM ROUND: push fresh content until the stop file appears.
# Writes res/R.S.K.{rc,json,err} per push and keeps the pushed folder.
pusher() {
	local s=$1 r=$2 k=0 d rc
	while [ ! -e "$WORK/stop.$r" ]; do
		k=$((k + 1))
		d="$WORK/src/$r.$s.$k"
		mkdir -p "$d"
		cp "$WORK/shared.bin" "$d/shared.bin"
		printf 'round %s stream %s push %s %s\n' "$r" "$s" "$k" "$RANDOM$RANDOM" >"$d/id.txt"
		if ((k % 6 == 2 && s == 1)); then
			head -c $((33 * 1024 * 1024)) /dev/urandom >"$d/big.bin"
		else
			head -c $((262144 + RANDOM * 64)) /dev/urandom >"$d/weights.bin"
		fi
		rc=0
		MLREG_REGISTRY=$URL MLREG_TOKEN=$ADMIN MLREG_TIMEOUT=20s "$MLREG_BIN" push crash "$d" --json \
			>"$WORK/res/$r.$s.$k.json" 2>"$WORK/res/$r.$s.$k.err" || rc=$?
		echo "$rc" >"$WORK/res/$r.$s.$k.rc"
		# Drop the content of failed pushes right away (disk space).
		[ "$rc" = 0 ] || rm -rf "$d"
	done
}

ACKED=0
for ((r = 1; r <= ROUNDS; r++)); do
	step "round $r: push stream, then kill -9"
	pusher 1 "$r" &
	P1=$!
	track_bg $P1
	pusher 2 "$r" &
	P2=$!
	track_bg $P2
	# Kill somewhere in 0.2s..1.5s.
	ms=$((200 + RANDOM % 1300))
	sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
	kill9_server
	log "killed the server after ${ms}ms"
	touch "$WORK/stop.$r"
	wait "$P1" "$P2" || true

	step "round $r: restart on the same data directory and check"
	start_server "$WORK/data"
	ok=0 failed=0
	for rcf in "$WORK/res/$r".*.rc; do
		[ -e "$rcf" ] || continue
		base=${rcf%.rc}
		grep -Eq "$_SANITIZER_RE" "$base.err" && fail "sanitizer report from a push: $(cat "$base.err")"
		rc=$(cat "$rcf")
		if [ "$rc" = 0 ]; then
			ok=$((ok + 1))
			echo "$(basename "$base") $(cat "$base.json")" >>"$WORK/acked"
		else
			failed=$((failed + 1))
			# A push that failed must say why, not crash.
			[ "$rc" -lt 128 ] || fail "push $(basename "$base") died with status $rc: $(cat "$base.err")"
		fi
	done
	log "round $r: $ok pushes acknowledged, $failed cut off by the crash"
	ACKED=$((ACKED + ok))

	# Every acknowledged push is there, with its digest and content.
	while read -r id json; do
		[ -e "$WORK/checked.$id" ] && continue
		read -r v dg < <(jq_ '"%d %s" % (j["version"], j["digest"])' "$json")
		cli show "crash:$v" --json
		expect_rc 0 "acknowledged crash:$v (push $id) after restart"
		assert_json 'j["digest"] == "'"$dg"'" and j["status"] == "ready"' "$OUT" "crash:$v digest after restart"
		rm -rf "$WORK/pulled"
		cli pull "crash:$v" "$WORK/pulled"
		expect_rc 0 "pull acknowledged crash:$v"
		diff -r "$WORK/pulled" "$WORK/src/$id" >/dev/null || fail "crash:$v differs from the folder push $id sent"
		rm -rf "$WORK/src/$id"
		touch "$WORK/checked.$id" "$WORK/whole.$v"
	done < <(cat "$WORK/acked" 2>/dev/null)

	# Versions are gap-free and every one of them is complete.
	cli ls crash --json
	if [ "$RC" = 5 ]; then
		[ "$ACKED" = 0 ] || fail "model 'crash' missing after $ACKED acknowledged pushes"
	else
		expect_rc 0 "ls crash"
		NV=$(jq_ 'len(j["versions"])' "$OUT")
		assert_json '[v["version"] for v in j["versions"]] == list(range(1, len(j["versions"]) + 1))' "$OUT" "versions gap-free"
		[ "$NV" -ge "$ACKED" ] || fail "$NV versions but $ACKED acknowledged pushes"
		for ((v = 1; v <= NV; v++)); do
			[ -e "$WORK/whole.$v" ] && continue
			rm -rf "$WORK/pulled"
			cli pull "crash:$v" "$WORK/pulled"
			expect_rc 0 "pull crash:$v (every committed version must be complete)"
			touch "$WORK/whole.$v"
		done
	fi
	cli fsck --json
	expect_rc 0 "fsck after crash $r"
	assert_json 'j["bad"] == []' "$OUT" "fsck after crash $r"
	n=$(verify_blob_store "$DATA")
	log "round $r: $n blobs on disk, all rehash to their names"
	cli audit verify --json
	expect_rc 0 "audit verify after crash $r"
	assert_json 'j["ok"] is True' "$OUT" "audit chain after crash $r"
done

[ "$ACKED" -ge 3 ] || fail "only $ACKED pushes were acknowledged over $ROUNDS rounds: the test did not exercise much"

step "a push after the last restart succeeds"
cli_ok ls crash --json
NV=$(jq_ 'len(j["versions"])' "$OUT")
mkdir -p "$WORK/final"
printf 'after the storm\n' >"$WORK/final/f.txt"
cli_ok push crash "$WORK/final" --json
assert_eq "$(jq_ 'j["version"]' "$OUT")" $((NV + 1)) "version of the push after restart"
cli_ok pull "crash:$((NV + 1))" "$WORK/final.out"
assert_file_eq "$WORK/final.out" "$WORK/final/f.txt" "pull after restart"
cli_ok gc --json
cli_ok fsck --json
assert_json 'j["bad"] == []' "$OUT" "final fsck"
verify_blob_store "$DATA" >/dev/null
stop_server

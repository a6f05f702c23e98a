#!/usr/bin/env bash
# t_lineage: lineage (issue 4) through the real server, the real CLI, real
# git repositories made here and the real Graphviz.
#   - push --git: a clean tree from a nested subfolder (--git=DIR and a plain
#     --git from the cwd), a dirty tree (refused by --require-clean with exit 3
#     and nothing stored or uploaded; recorded with its changed paths
#     otherwise), a detached HEAD (branch null); origin's credentials are
#     never stored (lineage --json and every file of the data folder);
#   - datasets: a file, a folder (its digest is the version digest of the same
#     folder pushed as a model), a URI, URI@sha256, one content under several
#     names (one node), one name on two contents, PATH@sha256 mismatch (6);
#   - parents: a chain, a diamond, a stage REF resolved to its version; a
#     missing parent is exit 5 and nothing is stored (no version, no dataset
#     node, no audit entry);
#   - impact queries (--dataset NAME/sha256:/uri:, --commit) hold exactly the
#     versions made from the root, directly or through parents; --depth;
#   - text (indented tree, "(see above)", stages, "(deleted)") and DOT
#     (parsed by `dot -Tjson`, compared with the JSON by lineage_dot.py);
#   - a tombstoned version keeps its edges; hostile input is exit 2 before
#     any upload; the server's --lineage-max-depth/--lineage-max-nodes.
# Exit codes: 0 ok, 1 error, 2 usage, 3 refused, 5 not found, 6 integrity.
source "$(dirname "$0")/lib.sh"

for _tool in git dot; do
	command -v "$_tool" >/dev/null 2>&1 || fail "required tool '$_tool' is not installed (scripts/deps)"
done
DOTCMP=$(dirname "$0")/lineage_dot.py
# No user or system git configuration may leak in.
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME="Lineage Test" GIT_AUTHOR_EMAIL=lineage@example.com
export GIT_COMMITTER_NAME="Lineage Test" GIT_COMMITTER_EMAIL=lineage@example.com
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_OBJECT_DIRECTORY GIT_NAMESPACE

start_server "$WORK/data"

# ---------------------------------------------------------------- helpers
# mkmodel NAME: a model folder with unique content (so a push uploads).
mkmodel() {
	mkdir -p "$WORK/models/$1"
	rand_file "$WORK/models/$1/weights.bin" 4096
	echo "$WORK/models/$1"
}
# push_ok MODEL ARGS...: push a fresh model folder; V = the new version.
push_ok() {
	local m=$1
	shift
	cli_ok push "$m" "$(mkmodel "$m.$RANDOM$RANDOM")" --json "$@"
	V=$(jq_ 'j["version"]' "$OUT")
}
# graph ARGS...: G = `mlreg lineage ARGS --json`.
graph() {
	cli_ok lineage "$@" --json
	G=$OUT
}
# assert_versions "M:N ..." MSG: the version nodes of $G, exactly.
assert_versions() {
	local want got
	# shellcheck disable=SC2086 # $1 is a list
	want=$(printf '%s\n' $1 | LC_ALL=C sort | tr '\n' ' ')
	got=$(jq_ '" ".join(sorted("%s:%d" % (n["model"], n["version"]) for n in j["nodes"] if n["kind"] == "version")) + " "' "$G")
	assert_eq "$got" "$want" "$2"
}
# assert_line TEXT LINE MSG: TEXT has LINE as a whole line.
assert_line() {
	grep -Fxq -- "$2" <<<"$1" || fail "$3: no line '$2' in:
$1"
}
audit_count() {
	cli_ok audit verify --json
	jq_ 'j["entries"]' "$OUT"
}
git_() { git -C "$REPO" "$@" >/dev/null; }

# ---------------------------------------------------------------- fixtures
step "fixtures: a git repository and datasets"
REPO=$WORK/repo
mkdir -p "$REPO/src/deep"
git init -q -b main "$REPO"
printf 'print("train")\n' >"$REPO/train.py"
printf '*.log\n' >"$REPO/.gitignore"
printf 'keep\n' >"$REPO/src/deep/keep.txt"
git_ add -A
git_ commit -q -m c1
git_ remote add origin "https://ci-user:secret-7f3a9c@git.example.com/risk/fraud.git"
C1=$(git -C "$REPO" rev-parse HEAD)

DS=$WORK/ds
mkdir -p "$DS/images/sub" "$DS/empty"
head -c 3000 /dev/urandom | base64 >"$DS/train.csv"
cp "$DS/train.csv" "$DS/train-copy.csv"
head -c 3000 /dev/urandom | base64 >"$DS/train-v3.csv"
head -c 3000 /dev/urandom | base64 >"$DS/other.csv"
head -c 3000 /dev/urandom | base64 >"$DS/fresh.csv"
rand_file "$DS/images/a.png" 2048
rand_file "$DS/images/sub/b.png" 1024
printf '#!/bin/sh\n' >"$DS/images/sub/fetch.sh"
chmod 755 "$DS/images/sub/fetch.sh"
TRAIN=$(sha256_of "$DS/train.csv")
TRAIN3=$(sha256_of "$DS/train-v3.csv")
OTHER=$(sha256_of "$DS/other.csv")
# The folder pushed as a model: its version digest is the dataset's digest.
cli_ok push probe/images "$DS/images" --json
IMAGES=$(jq_ 'j["digest"]' "$OUT")

# ---------------------------------------------------------------- git: clean
step "base:1: a clean tree from a nested subfolder, file + URI datasets, one content under two names, a run"
cli push base "$(mkmodel base1)" --dataset train="$DS/train.csv" --dataset train-v2="$DS/train-copy.csv" \
	--dataset labels=s3://bucket/labels.csv --git="$REPO/src/deep" --run run-1 --run-url https://ci.example.com/runs/1
expect_rc 0 "push base:1 with lineage"
assert_match "$OUT" $'\nlineage: .*commit '"${C1:0:7}"' \(main\), run run-1$' "push names the commit, branch and run"
graph base:1
B1=$G
assert_json 'j["root"] == "version:base:1" and j["direction"] == "up" and j["truncated"] is False' "$B1" "root and direction"
assert_json '[(n["id"], n["names"]) for n in j["nodes"] if n["kind"] == "dataset"] == [("dataset:'"$TRAIN"'", ["train", "train-v2"]), ("dataset:uri:s3://bucket/labels.csv", ["labels"])]' \
	"$B1" "one node for one content under two names, one for the URI"
assert_json '[n["digest"] for n in j["nodes"] if n.get("names") == ["train", "train-v2"]] == ["'"$TRAIN"'"]' "$B1" "a file is its SHA-256"
assert_json '[e for e in j["edges"] if e["relation"] == "built_from"] == [{"from": "version:base:1", "to": "commit:'"$C1"'", "relation": "built_from", "branch": "main", "remote": "https://git.example.com/risk/fraud.git", "dirty": False, "changed": []}]' \
	"$B1" "commit C1 on main, clean, remote without credentials"
assert_json '[(n["id"], n["url"]) for n in j["nodes"] if n["kind"] == "run"] == [("run:run-1", "https://ci.example.com/runs/1")]' "$B1" "the run and its URL"
assert_json 'sorted((e["to"], e["relation"]) for e in j["edges"]) == sorted([("dataset:'"$TRAIN"'", "trained_on"), ("dataset:uri:s3://bucket/labels.csv", "trained_on"), ("commit:'"$C1"'", "built_from"), ("run:run-1", "produced_by")])' \
	"$B1" "exactly four edges, from base:1"
assert_not_contains "$B1" "secret-7f3a9c" "lineage --json holds no password"
assert_not_contains "$B1" "ci-user" "lineage --json holds no user name"

# ---------------------------------------------------------------- git: dirty
step "a dirty tree: --require-clean refuses with exit 3 and stores nothing"
printf 'print("changed")\n' >"$REPO/train.py"
printf 'notes\n' >"$REPO/notes.txt"
printf 'new\n' >"$REPO/src/deep/new.txt"
printf 'ignored\n' >"$REPO/build.log"
A0=$(audit_count)
BL0=$(blob_count "$DATA")
DIRTY_DIR=$(mkmodel dirty)
cli push dirty "$DIRTY_DIR" --git="$REPO/src/deep" --require-clean
expect_rc 3 "push --require-clean from a dirty tree"
assert_contains "$ERR" "has 3 changed paths: notes.txt, src/deep/new.txt, train.py" "the refusal names the changed paths (not the ignored one)"
cli ls dirty
expect_rc 5 "no model was created"
assert_eq "$(audit_count)" "$A0" "no audit entry"
assert_eq "$(blob_count "$DATA")" "$BL0" "nothing was uploaded"

step "a dirty tree without --require-clean is recorded as dirty"
cli_ok push dirty "$DIRTY_DIR" --git="$REPO/src/deep"
assert_contains "$OUT" "commit ${C1:0:7} (main, dirty)" "push names the dirty commit"
graph dirty:1
assert_json '[(e["to"], e["dirty"], e["changed"], e["branch"]) for e in j["edges"]] == [("commit:'"$C1"'", True, ["notes.txt", "src/deep/new.txt", "train.py"], "main")]' \
	"$G" "dirty, the changed paths relative to the top, in byte order"
cli_ok lineage dirty:1
assert_line "$OUT" "  built_from commit ${C1:0:7} main (dirty)" "text marks the tree dirty"

# ---------------------------------------------------------------- git: detached
step "a detached HEAD from the cwd (plain --git in a nested subfolder): branch null"
git_ add -A
git_ commit -q -m c2
C2=$(git -C "$REPO" rev-parse HEAD)
git_ checkout -q --detach
git_ remote set-url origin "ssh://deploy:secret-7f3a9c@git.example.com:2222/risk/fraud.git"
pushd "$REPO/src/deep" >/dev/null || fail "cd $REPO/src/deep"
cli push detached "$(mkmodel detached)" --git
popd >/dev/null || fail popd
expect_rc 0 "push --git from a subfolder of a detached work tree"
assert_contains "$OUT" "commit ${C2:0:7} (detached)" "push says detached"
graph detached:1
assert_json '[(e["to"], e["branch"], e["dirty"], e["remote"]) for e in j["edges"]] == [("commit:'"$C2"'", None, False, "ssh://git.example.com:2222/risk/fraud.git")]' \
	"$G" "commit C2, branch null, clean (the ignored build.log does not count), ssh remote without credentials"

step "credentials never reach the registry's files"
# A distinctive password: the schema itself has a column named "secret".
leaks=$(grep -rlaF -e secret-7f3a9c -e ci-user "$DATA" "$SERVER_LOG" || true)
assert_eq "$leaks" "" "files of the data folder (or the server log) holding origin's credentials"

# ---------------------------------------------------------------- datasets
step "datasets: a folder, PATH@sha256 (match and mismatch), URI@sha256, a name on two contents"
A0=$(audit_count)
BL0=$(blob_count "$DATA")
cli push bad "$(mkmodel bad)" --dataset train="$DS/train.csv@$OTHER"
expect_rc 6 "PATH@sha256: that PATH does not hash to"
assert_contains "$ERR" "hashes to $TRAIN, not $OTHER" "the mismatch names both digests"
cli ls bad
expect_rc 5 "nothing stored after a digest mismatch"
assert_eq "$(audit_count) $(blob_count "$DATA")" "$A0 $BL0" "no audit entry, no upload after a digest mismatch"

cli_ok promote base:1 --to staging
push_ok left --parent base:1 --dataset images="$DS/images"
push_ok right --parent base:staging
push_ok diamond --parent left:1 --parent right:1
push_ok rerun --dataset holdout="s3://bucket/holdout.csv@$TRAIN"
push_ok retrain --dataset train="$DS/train-v3.csv@$TRAIN3"
push_ok base --dataset golden="$DS/other.csv"
push_ok base
push_ok unrelated --dataset golden="$DS/other.csv"
push_ok chain/a --dataset golden="$DS/other.csv"
push_ok chain/b --parent chain/a:1
push_ok chain/c --parent chain/b:1

graph left:1 --depth 1
assert_json '[n["digest"] for n in j["nodes"] if n["kind"] == "dataset"] == ["'"$IMAGES"'"]' "$G" \
	"a folder's digest is the version digest of the same folder pushed as a model"
graph right:1 --depth 1
assert_json 'j["edges"] == [{"from": "version:right:1", "to": "version:base:1", "relation": "derived_from"}]' "$G" \
	"--parent base:staging was resolved to base:1 at push"
graph rerun:1
assert_json '[(n["id"], n["names"]) for n in j["nodes"] if n["kind"] == "dataset"] == [("dataset:'"$TRAIN"'", ["holdout", "train", "train-v2"])]' \
	"$G" "URI@sha256 records the content (no URI node); a third name joins the same node"
graph retrain:1
assert_json '[n["id"] for n in j["nodes"] if n["kind"] == "dataset"] == ["dataset:'"$TRAIN3"'"]' "$G" "PATH@sha256 that matches"

# ---------------------------------------------------------------- graphs
step "a diamond, looking up: JSON"
graph diamond:1
assert_versions "diamond:1 left:1 right:1 base:1" "diamond:1 up: the versions"
assert_json 'sorted((e["from"][8:], e["to"].split(":")[0], e["relation"]) for e in j["edges"]) == sorted([("diamond:1", "version", "derived_from")] * 2 + [("left:1", "version", "derived_from"), ("right:1", "version", "derived_from"), ("left:1", "dataset", "trained_on"), ("base:1", "dataset", "trained_on"), ("base:1", "dataset", "trained_on"), ("base:1", "commit", "built_from"), ("base:1", "run", "produced_by")])' \
	"$G" "diamond:1 up: exactly the nine edges"
assert_json '{n["id"]: n["depth"] for n in j["nodes"]} == {"version:diamond:1": 0, "version:left:1": 1, "version:right:1": 1, "version:base:1": 2, "dataset:'"$IMAGES"'": 2, "dataset:'"$TRAIN"'": 3, "dataset:uri:s3://bucket/labels.csv": 3, "commit:'"$C1"'": 3, "run:run-1": 3}' \
	"$G" "depth is the distance from the root (base:1 once, at 2)"
assert_json '[n["stages"] for n in j["nodes"] if n["id"] == "version:base:1"] == [["staging"]]' "$G" "stages on version nodes"

step "a diamond, looking up: text"
cli_ok lineage diamond:1
T=$OUT
assert_eq "$(head -n 1 <<<"$T")" "diamond:1" "the root line"
assert_line "$T" "  derived_from left:1" "parents indented once"
assert_line "$T" "    derived_from base:1 [staging]" "the grandparent indented twice, with its stage"
assert_line "$T" "      trained_on dataset holdout ${TRAIN:0:15}… (names: holdout, train, train-v2)" "a dataset: first name, 8 hex digits, all names"
assert_line "$T" "      built_from commit ${C1:0:7} main" "a commit: 7 hex digits and the branch"
assert_line "$T" "      produced_by run run-1 https://ci.example.com/runs/1" "a run with its URL"
assert_line "$T" "    trained_on dataset images ${IMAGES:0:15}…" "the folder dataset"
assert_line "$T" "    derived_from base:1 [staging] (see above)" "base:1 reached again through right:1"
assert_eq "$(grep -c 'built_from commit' <<<"$T")" 1 "the shared part is printed once"
assert_eq "$(grep -c '(see above)' <<<"$T")" 1 "one (see above)"

step "a chain: --depth"
graph chain/c:1 --depth 1
assert_versions "chain/c:1 chain/b:1" "chain/c up --depth 1"
assert_json 'j["depth"] == 1 and not any(n["kind"] == "dataset" for n in j["nodes"])' "$G" "--depth 1 stops at the parent"
graph chain/c:1 --depth 2
assert_versions "chain/c:1 chain/b:1 chain/a:1" "chain/c up --depth 2"
assert_json 'not any(n["kind"] == "dataset" for n in j["nodes"])' "$G" "--depth 2 stops before a's dataset"
graph chain/c:1 --depth 3
assert_json '[n["id"] for n in j["nodes"] if n["kind"] == "dataset"] == ["dataset:'"$OTHER"'"]' "$G" "--depth 3 reaches a's dataset"
graph chain/a:1 --down
assert_versions "chain/a:1 chain/b:1 chain/c:1" "chain/a down"
graph chain/a:1 --down --depth 1
assert_versions "chain/a:1 chain/b:1" "chain/a down --depth 1"

# ---------------------------------------------------------------- impact
step "stages after a promote"
cli_ok promote diamond:1 --to production

step "impact: dataset X was bad"
TRAINED_ON_TRAIN="base:1 left:1 right:1 diamond:1 rerun:1"
graph --dataset train-v2
assert_json 'j["root"] == "dataset:train-v2" and j["direction"] == "down"' "$G" "root by name"
assert_versions "$TRAINED_ON_TRAIN" "--dataset train-v2: directly and through parents, nothing else"
assert_json '[(n["id"], n["depth"]) for n in j["nodes"] if n["kind"] == "dataset"] == [("dataset:'"$TRAIN"'", 0)]' "$G" "the one content named train-v2 at depth 0"
assert_json '{n["id"]: n["stages"] for n in j["nodes"] if n["kind"] == "version" and n["stages"]} == {"version:base:1": ["staging"], "version:diamond:1": ["production"]}' \
	"$G" "where they are staged"
graph --dataset "$TRAIN"
assert_json 'j["root"] == "dataset:'"$TRAIN"'"' "$G" "root by digest"
assert_versions "$TRAINED_ON_TRAIN" "--dataset sha256: the same versions"
graph --dataset "$TRAIN" --depth 1
assert_versions "base:1 rerun:1" "--depth 1: only the versions trained on it directly"
graph --dataset train
assert_json 'sorted(n["id"] for n in j["nodes"] if n["depth"] == 0) == sorted(["dataset:'"$TRAIN"'", "dataset:'"$TRAIN3"'"])' "$G" "a name on two contents: both are roots"
assert_versions "$TRAINED_ON_TRAIN retrain:1" "--dataset train: the versions of both contents"
graph --dataset golden
assert_versions "base:2 unrelated:1 chain/a:1 chain/b:1 chain/c:1" "--dataset golden: another dataset's versions"
graph --dataset uri:s3://bucket/labels.csv
assert_versions "base:1 left:1 right:1 diamond:1" "--dataset uri:"
graph --dataset images
assert_versions "left:1 diamond:1" "--dataset images (a folder)"

cli_ok lineage --dataset train-v2
T=$OUT
assert_eq "$(head -n 1 <<<"$T")" "dataset train-v2 (1 content)" "text: the root line"
assert_line "$T" "  dataset holdout ${TRAIN:0:15}… (names: holdout, train, train-v2)" "text: the content"
assert_line "$T" "    trained_on base:1 [staging]" "text: a direct user with its stage"
assert_eq "$(grep -c 'diamond:1 \[production\]' <<<"$T")" 2 "text: diamond:1 [production] once in full, once (see above)"
assert_eq "$(grep -c 'derived_from diamond:1 \[production\] (see above)' <<<"$T")" 1 "text: the diamond's second path"

step "impact: what did commit Y build"
graph --commit "$C1"
assert_versions "base:1 left:1 right:1 diamond:1 dirty:1" "--commit C1: built from it, directly or through parents"
assert_json 'sorted((e["from"], e["dirty"]) for e in j["edges"] if e["relation"] == "built_from") == [("version:base:1", False), ("version:dirty:1", True)]' \
	"$G" "per version, the edge says whether the tree was dirty"
graph --commit "$C2"
assert_versions "detached:1" "--commit C2"
cli_ok lineage --commit "${C2^^}" --json
assert_eq "$OUT" "$G" "an uppercase commit id is the same commit"
cli_ok lineage --commit "$C1"
assert_line "$OUT" "  built_from dirty:1 (main, dirty)" "text: the dirty build"

step "REST: GET /api/v1/datasets/{id}"
http GET "/api/v1/datasets/$TRAIN"
expect_code 200 "dataset by digest"
assert_json 'sorted((d["model"], d["version"], d["direct"], tuple(d["stages"])) for d in j["dependents"]) == sorted([("base", 1, True, ("staging",)), ("rerun", 1, True, ()), ("left", 1, False, ()), ("right", 1, False, ()), ("diamond", 1, False, ("production",))])' \
	"$BODY" "dependents: direct or through a parent, with stages"

# ---------------------------------------------------------------- missing parent
step "a missing parent: exit 5 and nothing stored"
A0=$(audit_count)
cli_ok ls base --json
BL_LATEST=$(jq_ 'j["versions"][-1]["version"]' "$OUT")
for p in base:99 nosuch:1 base:production left@champion; do
	cli push base "$(mkmodel miss)" --parent base:1 --parent "$p" --dataset fresh="$DS/fresh.csv"
	expect_rc 5 "push --parent $p"
	assert_contains "$ERR" "parent '$p' not found" "the error names the parent"
done
cli push newmodel "$(mkmodel newmodel)" --parent base:99
expect_rc 5 "a new model with a missing parent"
cli ls newmodel
expect_rc 5 "the new model was not created"
cli_ok ls base --json
assert_json 'j["versions"][-1]["version"] == '"$BL_LATEST" "$OUT" "no new version of base"
cli lineage --dataset fresh
expect_rc 5 "no dataset node was left behind"
assert_eq "$(audit_count)" "$A0" "no audit entry"

# ---------------------------------------------------------------- tombstone
step "rm: a tombstoned version keeps its edges"
cli_ok rm left:1
graph diamond:1
assert_versions "diamond:1 left:1 right:1 base:1" "diamond:1 up after rm left:1"
assert_json '[n["status"] for n in j["nodes"] if n["id"] == "version:left:1"] == ["deleted"]' "$G" "left:1 is deleted"
assert_json 'sorted(e["to"] for e in j["edges"] if e["from"] == "version:left:1") == sorted(["version:base:1", "dataset:'"$IMAGES"'"])' "$G" "left:1's edges stay"
cli_ok lineage diamond:1
assert_line "$OUT" "  derived_from left:1 (deleted)" "text: (deleted)"
graph --dataset images
assert_versions "left:1 diamond:1" "the dataset still leads through left:1"

# ---------------------------------------------------------------- DOT
step "DOT parsed by Graphviz equals the JSON"
dot_vs_json() { # NAME LINEAGE-ARGS...: compare DOT and JSON for one root
	local n=$1
	shift
	cli_ok lineage "$@" --json
	printf '%s' "$OUT" >"$WORK/$n.json"
	cli_ok lineage "$@" --format dot
	printf '%s\n' "$OUT" >"$WORK/$n.dot"
	dot -Tjson "$WORK/$n.dot" >"$WORK/$n.gv.json" 2>"$WORK/$n.gv.err" || fail "dot rejects the DOT of lineage $*: $(cat "$WORK/$n.gv.err")"
	"${PY[@]}" "$DOTCMP" "$WORK/$n.json" "$WORK/$n.gv.json" >"$WORK/$n.cmp" || fail "lineage $*: DOT and JSON differ: $(cat "$WORK/$n.cmp")"
	log "dot $n: $(cat "$WORK/$n.cmp")"
}
dot_vs_json diamond diamond:1
dot_vs_json bytrain --dataset train
dot_vs_json byc1 --commit "$C1"
dot_vs_json base1down base:1 --down
push_ok quoted --run 'ci/nightly:7@main+x=1' --dataset "odd=s3://bucket/a%22b.csv?x=1&y='z'#frag"
dot_vs_json quoted "quoted:$V"

# ---------------------------------------------------------------- hostile
step "hostile input: exit 2 before any upload"
HOSTILE=$(mkmodel hostile)
A0=$(audit_count)
BL0=$(blob_count "$DATA")
LONG=$(printf 'n%.0s' {1..129})
while IFS= read -r args; do
	eval "set -- $args"
	cli push hostile "$HOSTILE" "$@"
	expect_rc 2 "push $args"
done <<EOF
--dataset 'bad name=$DS/train.csv'
--dataset '=$DS/train.csv'
--dataset 'noequals'
--dataset '$LONG=$DS/train.csv'
--dataset 'x;rm=$DS/train.csv'
--dataset 'x=s3://bucket/k@sha256:zz'
--dataset "\$(printf 'x=s3://a\\001b')"
--dataset "x=s3://\$(printf 'a%.0s' {1..2050})"
--parent 'Bad:1'
--parent 'base:0'
--parent 'base'
--parent 'base:-1'
--parent ''
--run-url https://ci.example.com/runs/1
--run ''
--require-clean
EOF
cli push hostile "$HOSTILE" --dataset x="$DS/missing.csv"
expect_rc 1 "a dataset PATH that does not exist"
cli push hostile "$HOSTILE" --dataset x="$DS/empty"
expect_rc 1 "an empty dataset folder"
ln -s "$DS/train.csv" "$DS/images/link"
cli push hostile "$HOSTILE" --dataset x="$DS/images"
expect_rc 1 "a dataset folder with a symbolic link"
rm "$DS/images/link"
mkdir -p "$WORK/norepo"
if ! git -C "$WORK/norepo" rev-parse >/dev/null 2>&1; then
	cli push hostile "$HOSTILE" --git="$WORK/norepo"
	expect_rc 1 "--git outside any repository"
fi
git init -q "$WORK/nocommit"
cli push hostile "$HOSTILE" --git="$WORK/nocommit"
expect_rc 1 "--git in a repository without a commit"
cli ls hostile
expect_rc 5 "nothing stored from hostile input"
assert_eq "$(audit_count) $(blob_count "$DATA")" "$A0 $BL0" "no audit entry, no upload from hostile input"

step "hostile lineage queries"
for args in "base:1 --up --down" "--dataset train --up" "--commit $C1 --up" "base:1 --dataset train" "" \
	"base:1 --depth 0" "base:1 --depth x" "--commit ${C1:0:7}" "--commit zz${C1:2}" "--dataset sha256:abc" \
	"--dataset uri:nourl" "--dataset bad!name" "base:1 --format svg" "base:1 --json --format dot" "Base:1"; do
	# shellcheck disable=SC2086
	cli lineage $args
	expect_rc 2 "lineage $args"
done
# a digest that differs from OTHER's in its last hex digit (whatever that is)
[ "${OTHER: -1}" = 0 ] && NOT_OTHER="sha256:${OTHER:7:63}1" || NOT_OTHER="sha256:${OTHER:7:63}0"
for args in "base:99" "nosuch:1" "base:production" "--dataset nosuch" "--dataset $NOT_OTHER" \
	"--dataset uri:s3://bucket/none" "--commit 0000000000000000000000000000000000000000"; do
	# shellcheck disable=SC2086
	cli lineage $args
	expect_rc 5 "lineage $args"
done

# ---------------------------------------------------------------- limits
step "server limits: --lineage-max-depth and --lineage-max-nodes (after a restart)"
stop_server
start_server "$WORK/data" --lineage-max-depth 2 --lineage-max-nodes 4
graph chain/c:1 --depth 10
assert_json 'j["depth"] == 2 and j["truncated"] is False' "$G" "a deeper request gets the server's ceiling"
assert_versions "chain/c:1 chain/b:1 chain/a:1" "chain/c within depth 2"
graph --dataset train-v2
assert_json 'j["truncated"] is True and len(j["nodes"]) <= 4' "$G" "past the node cap: cut and truncated"
assert_json 'all(e["from"] in {n["id"] for n in j["nodes"]} and e["to"] in {n["id"] for n in j["nodes"]} for e in j["edges"])' "$G" "a cut graph has no dangling edge"
cli_ok lineage --dataset train-v2
assert_eq "$(tail -n 1 <<<"$OUT")" "(truncated: the registry stopped at its node limit)" "text says truncated"
graph --dataset train-v2 --depth 1
assert_versions "base:1 rerun:1" "lineage survives a restart"

# ---------------------------------------------------------------- DOT ids
# Last, so that everything above is checked first; the server is stopped
# (and its log checked) before this verdict.
step "ids the registry would have to write differently in DOT are refused at push"
# a quote or backslash has no faithful spelling in a DOT quoted id; URIs may
# not contain them (RFC 3986) and run ids are restricted to ._:/@+=- too
# shellcheck disable=SC1003 # backslashes, not an escaped quote
cli push slashes "$(mkmodel slashes1)" --run 'r\"q\'
expect_rc 2 "a run id with a quote and backslashes"
assert_contains "$ERR" "._:/@+=-" "the message says what a run id may hold"
cli push slashes "$(mkmodel slashes2)" --dataset tail='s3://bucket/k\'
expect_rc 2 "a dataset URI with a backslash"
assert_contains "$ERR" "RFC 3986" "the message says what a URI may hold"
# the registry holds the same line for clients other than this CLI
http POST /api/v1/models/slashes/versions -H 'Content-Type: application/json' \
	--data-binary '{"files":[],"lineage":{"run":{"id":"a b"}}}'
expect_code 400 "a run id with a space, straight to the API"
assert_contains "$BODY" "lineage run needs an id" "refused for its run id"
cli ls slashes
expect_rc 5 "nothing was stored for the refused pushes"
stop_server

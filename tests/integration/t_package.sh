#!/usr/bin/env bash
# t_package: the Debian packages, installed on this machine for real.
# Builds mlreg and mlreg-node .deb files with cpack from the test's build
# tree, installs them with dpkg, checks files, conffiles, system users,
# state folders and the systemd units, then runs each unit's ExecStart
# exactly as written, as the unit's User (setpriv; systemd does not run
# here), with flags appended for a free port (command-line flags override
# the config file the unit names: that is checked too).  It talks to them
# with the installed CLI: health, a real XGBoost model pushed, the node
# registered, loading it and answering an inference.  Then remove and
# purge, and checks what each keeps and deletes (docs/operations.md).
#
# Needs root (dpkg): without it the test FAILS, it does not skip.  It
# refuses to start when an mlreg package, user or folder is already on the
# machine, and its trap purges what it installed even on failure.  Only the
# plain build registers it (label `package`): under ASan the package would
# carry sanitizer binaries that are not what ships, and the code it runs
# is covered by every other test under ASan (tests/CMakeLists.txt).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/node_lib.sh"

[ "$(id -u)" = 0 ] || fail "t_package installs .deb packages with dpkg and needs root (run: sudo ctest -L package)"
for _tool in dpkg dpkg-deb dpkg-query dpkg-shlibdeps file cpack setpriv getent useradd flock; do
	command -v "$_tool" >/dev/null 2>&1 || fail "required tool '$_tool' is not installed"
done
BUILD=${MLREG_BUILD_DIR:-}
[ -n "$BUILD" ] && [ -f "$BUILD/CPackConfig.cmake" ] || fail "MLREG_BUILD_DIR must name a configured build tree (got '$BUILD')"
PKGS=(mlreg mlreg-node)
STATES=(/var/lib/mlreg /var/lib/mlreg-node)

pkg_state() { dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || echo not-installed; }

step "the machine holds no mlreg installation"
# one run at a time on a machine: a second one would purge the first's packages
exec 9>/tmp/mlreg-t_package.lock
flock -n 9 || fail "another t_package is running on this machine"
for p in "${PKGS[@]}"; do
	s=$(pkg_state "$p")
	[ "$s" = not-installed ] || fail "package $p is already on this machine ($s): remove it with 'dpkg --purge $p' first"
	if getent passwd "$p" >/dev/null; then fail "user $p already exists: this test would not leave the machine as it found it"; fi
	if getent group "$p" >/dev/null; then fail "group $p already exists"; fi
done
for d in "${STATES[@]}" /etc/mlreg /usr/bin/mlreg /usr/bin/mlreg-node; do
	if [ -e "$d" ]; then fail "$d already exists: this test would not leave the machine as it found it"; fi
done

# From here on the machine is ours to restore: processes, packages, users,
# folders, whatever step failed.
RUN="" SPID="" NODEPID=""
pkg_cleanup() {
	set +e
	local p
	for p in $SPID $NODEPID; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	dpkg --purge mlreg-node mlreg >/dev/null 2>&1
	rm -rf "${STATES[@]}" /etc/mlreg
	for p in "${PKGS[@]}"; do
		getent passwd "$p" >/dev/null && userdel "$p" 2>/dev/null
		getent group "$p" >/dev/null && groupdel "$p" 2>/dev/null
	done
	[ -n "$RUN" ] && rm -rf "$RUN"
	rm -f /tmp/mlreg-t_package.lock # ours since the precheck (flock -n: nobody waits on it)
	return 0
}
trap '_rc=$?; pkg_cleanup; (exit $_rc); _cleanup' EXIT

step "build the packages with cpack"
(cd "$BUILD" && cpack -G DEB -B "$WORK/deb" --config CPackConfig.cmake) >"$WORK/cpack.log" 2>&1 ||
	fail "cpack failed: $(tail -20 "$WORK/cpack.log")"
DEB_S=$(ls "$WORK"/deb/mlreg_*.deb 2>/dev/null | head -1)
DEB_N=$(ls "$WORK"/deb/mlreg-node_*.deb 2>/dev/null | head -1)
[ -f "$DEB_S" ] && [ -f "$DEB_N" ] || fail "cpack did not make both packages: $(ls "$WORK/deb")"
assert_eq "$(dpkg-deb -f "$DEB_S" Package)" mlreg "server package name"
assert_eq "$(dpkg-deb -f "$DEB_N" Package)" mlreg-node "node package name"
# dependencies come from dpkg-shlibdeps: the libraries each binary links
DEP_S=$(dpkg-deb -f "$DEB_S" Depends)
DEP_N=$(dpkg-deb -f "$DEB_N" Depends)
for d in libc6 libsqlite3 libmicrohttpd libgit2 libarchive libcurl passwd; do
	assert_contains "$DEP_S" "$d" "mlreg's Depends"
done
for d in libc6 libxgboost libmicrohttpd libcurl passwd; do
	assert_contains "$DEP_N" "$d" "mlreg-node's Depends"
done
assert_not_contains "$DEP_N" libsqlite3 "mlreg-node's Depends (no database in the node)"
dpkg-deb -I "$DEB_S" conffiles | grep -qx /etc/mlreg/server.conf || fail "server.conf is not a conffile"
dpkg-deb -I "$DEB_N" conffiles | grep -qx /etc/mlreg/node.conf || fail "node.conf is not a conffile"
log "$(basename "$DEB_S"): $DEP_S"
log "$(basename "$DEB_N"): $DEP_N"

step "install both with dpkg"
dpkg -i "$DEB_S" "$DEB_N" >"$WORK/dpkg-i.log" 2>&1 || fail "dpkg -i failed: $(tail -20 "$WORK/dpkg-i.log")"
for p in "${PKGS[@]}"; do
	assert_eq "$(pkg_state "$p")" installed "dpkg status of $p"
done
grep -q "mlreg: edit /etc/mlreg/server.conf, then: systemctl enable --now mlreg" "$WORK/dpkg-i.log" ||
	fail "postinst did not say how to start the service: $(cat "$WORK/dpkg-i.log")"
for f in /usr/bin/mlreg /usr/bin/mlreg-node; do
	[ -x "$f" ] || fail "$f is not installed"
done
for f in /usr/lib/systemd/system/mlreg.service /usr/lib/systemd/system/mlreg-node.service \
	/etc/mlreg/server.conf /etc/mlreg/node.conf /usr/share/doc/mlreg/operations.md /usr/share/doc/mlreg-node/node.md; do
	[ -f "$f" ] || fail "$f is not installed"
done
assert_contains "$(dpkg-query -W -f='${Conffiles}' mlreg)" /etc/mlreg/server.conf "dpkg's conffiles of mlreg"
assert_contains "$(/usr/bin/mlreg server --help)" "--config FILE" "the installed server's --help"

step "system users and state folders"
for p in "${PKGS[@]}"; do
	IFS=: read -r _ _ uid gid _ home shell < <(getent passwd "$p") || fail "user $p was not created"
	[ "$uid" -lt 1000 ] || fail "user $p is not a system user (uid $uid)"
	assert_eq "$home" "/var/lib/$p" "home of $p"
	assert_eq "$shell" /usr/sbin/nologin "shell of $p"
	assert_eq "$(getent group "$p" | cut -d: -f3)" "$gid" "group of $p"
	assert_eq "$(stat -c '%U:%G %a' "/var/lib/$p")" "$p:$p 750" "owner and mode of /var/lib/$p"
done

# unit_get UNIT KEY: the value of KEY= in the installed unit (last one wins)
unit_get() { sed -n "s/^$2=//p" "/usr/lib/systemd/system/$1" | tail -1; }

step "the units"
for u in mlreg mlreg-node; do
	f=/usr/lib/systemd/system/$u.service
	assert_eq "$(unit_get $u.service User)" "$u" "$u.service User="
	assert_eq "$(unit_get $u.service Restart)" on-failure "$u.service Restart="
	assert_eq "$(unit_get $u.service NoNewPrivileges)" yes "$u.service NoNewPrivileges="
	assert_eq "$(unit_get $u.service ProtectSystem)" strict "$u.service ProtectSystem="
	assert_eq "$(unit_get $u.service ReadWritePaths)" "/var/lib/$u" "$u.service ReadWritePaths="
	assert_eq "$(unit_get $u.service StateDirectory)" "$u" "$u.service StateDirectory="
	assert_eq "$(unit_get $u.service RestartPreventExitStatus)" "2 6" "no restart loop on a config error"
	if command -v systemd-analyze >/dev/null 2>&1; then
		# verify parses the unit, checks every key and that ExecStart's
		# program exists; on a machine without a running systemd it may
		# only warn about the environment, never about the unit
		systemd-analyze verify "$f" >"$WORK/verify-$u.log" 2>&1 || fail "systemd-analyze verify $u.service: $(cat "$WORK/verify-$u.log")"
		if grep -v -e 'Failed to connect to bus' -e 'No such file or directory.*bus' "$WORK/verify-$u.log" | grep -q "$u.service"; then
			fail "systemd-analyze verify complains about $u.service: $(cat "$WORK/verify-$u.log")"
		fi
	fi
done
EXEC_S=$(unit_get mlreg.service ExecStart)
EXEC_N=$(unit_get mlreg-node.service ExecStart)
assert_eq "$EXEC_S" "/usr/bin/mlreg server --config /etc/mlreg/server.conf" "mlreg.service ExecStart="
assert_eq "$EXEC_N" "/usr/bin/mlreg-node --config /etc/mlreg/node.conf" "mlreg-node.service ExecStart="

# Folders for port files, writable by each unit's user only (WORK is root's, mode 0700).
RUN=$(mktemp -d /tmp/mlreg-pkg-run.XXXXXX)
chmod 0711 "$RUN"
install -d -o mlreg -g mlreg -m 0700 "$RUN/server"
install -d -o mlreg-node -g mlreg-node -m 0700 "$RUN/node"

# as_unit USER LOG CMD...: the command as systemd would start it: as USER,
# no new privileges, umask 077, from /, with a clean environment
as_unit() {
	local user=$1 logf=$2
	shift 2
	(cd / && umask 077 && exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		setpriv --reuid="$user" --regid="$user" --init-groups --no-new-privs -- "$@") >"$logf" 2>&1 &
}

# proc_uid PID: the real uid a process runs as (no ps: procps is not in a minimal Debian)
proc_uid() { awk '/^Uid:/ { print $2 }' "/proc/$1/status"; }

# wait_port FILE PID LOG: the port a program wrote once listening
wait_port() {
	local i
	for ((i = 0; i < 600; i++)); do
		if [ -s "$1" ] && [[ "$(cat "$1")" =~ ^[0-9]+$ ]]; then
			cat "$1"
			return 0
		fi
		kill -0 "$2" 2>/dev/null || fail "process exited during start-up: $(tail -5 "$3")"
		sleep 0.05
	done
	fail "no port file within 30s: $(tail -5 "$3")"
}

step "start mlreg.service's ExecStart as user mlreg"
# shellcheck disable=SC2086 # ExecStart is split into words as systemd does (no quotes in it)
as_unit mlreg "$RUN/server.log" $EXEC_S --listen 127.0.0.1:0 --port-file "$RUN/server/port" --rate-limit 0
SPID=$!
SERVER_LOG="$RUN/server.log"
PORT=$(wait_port "$RUN/server/port" "$SPID" "$SERVER_LOG")
[ "$PORT" != 8470 ] || fail "the command line's --listen did not override server.conf's listen"
URL="http://127.0.0.1:$PORT"
for ((i = 0; i < 200; i++)); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz")" = 200 ] && break
	sleep 0.05
done
assert_eq "$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")" 200 "server /healthz"
assert_eq "$(proc_uid "$SPID")" "$(id -u mlreg)" "user of the server process"
# data = /var/lib/mlreg came from the config file
[ -s /var/lib/mlreg/admin.token ] || fail "the server did not use data = /var/lib/mlreg from server.conf"
assert_eq "$(stat -c '%U %a' /var/lib/mlreg/admin.token)" "mlreg 600" "bootstrap token owner and mode"
ADMIN=$(cat /var/lib/mlreg/admin.token)
TOKEN=$ADMIN
# the structured log: logfmt, as server.conf says, one line per event
grep -q '^ts=[0-9T:.-]*Z level=info prog=mlreg-server msg="first start: bootstrap admin token written to /var/lib/mlreg/admin.token (mode 0600)"$' "$SERVER_LOG" ||
	fail "no logfmt line for the bootstrap token in the server log: $(cat "$SERVER_LOG")"

step "push a real model with the installed CLI"
MLREG_BIN=/usr/bin/mlreg # cli and cli_ok now run the installed CLI
train "$WORK/v1" --seed 1 --trees 10 --depth 3 --rows-out "$WORK/rows1.json"
cli_ok push fraud "$WORK/v1" --json
D1=$(jq_ 'j["digest"]' "$OUT")
cli_ok token create pkg-node --role node --json
jq_ 'j["token"]' "$OUT" >"$RUN/node/token"
chown mlreg-node:mlreg-node "$RUN/node/token"
chmod 0600 "$RUN/node/token"

step "start mlreg-node.service's ExecStart as user mlreg-node"
# shellcheck disable=SC2086
as_unit mlreg-node "$RUN/node.log" $EXEC_N --listen 127.0.0.1:0 --port-file "$RUN/node/port" \
	--registry "$URL" --token-file "$RUN/node/token" --name pkg-node --log-format json
NODEPID=$!
NPID=$NODEPID NLOG="$RUN/node.log"
NPORT=$(wait_port "$RUN/node/port" "$NODEPID" "$NLOG")
NURL="http://127.0.0.1:$NPORT"
wait_node_ready
nhttp GET /v2/health/live
expect_code 200 "node live"
assert_eq "$(proc_uid "$NODEPID")" "$(id -u mlreg-node)" "user of the node process"
# --log-format json on the command line overrides node.conf's logfmt
"${PY[@]}" -c '
import json, sys
lines = [l for l in open(sys.argv[1]) if l.startswith("{")]
assert lines, "no JSON log line"
for l in lines:
    o = json.loads(l)
    assert o["prog"] == "mlreg-node" and o["level"] in ("debug", "info", "warn", "error"), o
' "$NLOG" || fail "the node's log is not one JSON object per line: $(cat "$NLOG")"

step "register the node and load the model"
cli_ok node add pkg-node "$NURL"
cli_ok node ls --json
assert_json 'any(n["name"] == "pkg-node" for n in (j if isinstance(j, list) else j.get("nodes", [])))' "$OUT" "node ls"
nload fraud 1 "$D1"
expect_code 200 "the installed node loads the model the installed CLI pushed"
nhttp POST /v2/models/fraud/infer -H 'Content-Type: application/json' -d "$(infer_body "$WORK/rows1.json" 0 3)"
expect_code 200 "inference on the installed node"
assert_json 'j["outputs"][0]["shape"][0] == 3' "$BODY" "three predictions"
[ -n "$(ls -A /var/lib/mlreg-node)" ] || fail "the node did not use cache = /var/lib/mlreg-node from node.conf"

step "stop both with SIGTERM"
for p in "$NODEPID" "$SPID"; do
	kill -TERM "$p"
	rc=0
	wait "$p" || rc=$?
	assert_eq "$rc" 0 "exit status after SIGTERM of pid $p"
done
SPID="" NODEPID="" NPID=""

step "remove mlreg: programs go, config, user and data stay"
dpkg -r mlreg >"$WORK/dpkg-r.log" 2>&1 || fail "dpkg -r mlreg: $(cat "$WORK/dpkg-r.log")"
assert_eq "$(pkg_state mlreg)" config-files "dpkg status after remove"
if [ -e /usr/bin/mlreg ]; then fail "/usr/bin/mlreg is still there after remove"; fi
[ -f /etc/mlreg/server.conf ] || fail "remove deleted the conffile"
getent passwd mlreg >/dev/null || fail "remove deleted the user mlreg"
[ -s /var/lib/mlreg/admin.token ] || fail "remove deleted the registry's data"

step "purge mlreg-node with data left: the user and data stay, with a note"
dpkg --purge mlreg-node >"$WORK/purge-n.log" 2>&1 || fail "dpkg --purge mlreg-node: $(cat "$WORK/purge-n.log")"
assert_eq "$(pkg_state mlreg-node)" not-installed "dpkg status of mlreg-node after purge"
if [ -e /usr/bin/mlreg-node ]; then fail "/usr/bin/mlreg-node is still there after purge"; fi
if [ -e /etc/mlreg/node.conf ]; then fail "purge left /etc/mlreg/node.conf"; fi
grep -q "still holds data: kept" "$WORK/purge-n.log" || fail "purge did not say it kept the data: $(cat "$WORK/purge-n.log")"
[ -d /var/lib/mlreg-node ] || fail "purge deleted the node's data"
getent passwd mlreg-node >/dev/null || fail "purge deleted the system user mlreg-node"
grep -q "system user mlreg-node is kept" "$WORK/purge-n.log" || fail "purge did not say it kept the user: $(cat "$WORK/purge-n.log")"
rm -rf /var/lib/mlreg-node # by hand, as the note says

step "purge mlreg with its data folder emptied: the folder goes, the system users stay"
rm -rf /var/lib/mlreg/* /var/lib/mlreg/.[!.]* 2>/dev/null || true
dpkg --purge mlreg >"$WORK/purge-s.log" 2>&1 || fail "dpkg --purge mlreg: $(cat "$WORK/purge-s.log")"
for p in "${PKGS[@]}"; do
	assert_eq "$(pkg_state "$p")" not-installed "dpkg status of $p after purge"
	getent passwd "$p" >/dev/null || fail "purge deleted the system user $p (Debian packages keep theirs)"
done
step "reinstall after purge: the kept users are reused, not duplicated"
UID_BEFORE=$(getent passwd mlreg | cut -d: -f3)
dpkg -i "$DEB_S" >"$WORK/reinstall.log" 2>&1 || fail "reinstall after purge: $(cat "$WORK/reinstall.log")"
assert_eq "$(getent passwd mlreg | cut -d: -f3)" "$UID_BEFORE" "the reinstalled package reuses the kept user's uid"
assert_eq "$(stat -c %U /var/lib/mlreg)" mlreg "the state folder is the kept user's again"
dpkg --purge mlreg >"$WORK/purge-s2.log" 2>&1 || fail "second purge: $(cat "$WORK/purge-s2.log")"
# by hand, as the notes say, to leave the machine as the test found it
for p in "${PKGS[@]}"; do
	userdel "$p" || fail "userdel $p"
	if getent group "$p" >/dev/null; then fail "userdel did not take the group $p with it"; fi
done
for d in "${STATES[@]}" /etc/mlreg /usr/lib/systemd/system/mlreg.service /usr/lib/systemd/system/mlreg-node.service \
	/usr/share/doc/mlreg /usr/share/doc/mlreg-node; do
	if [ -e "$d" ]; then fail "$d is still there after purge"; fi
done
log "installed, ran, removed and purged both packages"

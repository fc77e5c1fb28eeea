#!/usr/bin/env bash
# End-to-end test of the packages in a booted Debian container (root only).
#
#   scripts/e2e-container.sh [--no-build]
#
#   --no-build   use the packages scripts/package.sh already put in target/pkg/ (revision 1)
#
# Environment:
#   DEBIAN_MIRROR     mirror for debootstrap (default: the host's first Debian apt source)
#   E2E_ROOTFS_CACHE  where the pristine rootfs is cached (default target/e2e-rootfs; point it
#                     outside the work tree to keep it across fresh clones on one machine)
#   E2E_STOP_AFTER    "install": stop (successfully, saying so) after installing the .deb;
#                     for partial runs while the daemon is incomplete. Unset in CI.
#
# What it does: builds the .deb/.rpm (release, --locked) unless --no-build; lintian on the
# .deb when the host has it; builds a minimal bookworm rootfs (debootstrap minbase + the
# packages in ROOTFS_PACKAGES) cached in target/e2e-rootfs (E2E_ROOTFS_CACHE; a cache made
# with another package list gets the missing ones); copies it to target/e2e-run/; boots it
# with systemd-nspawn; then inside the container: installs the .deb; checks that
# `man chat2desk-b24.toml` shows every key `config --keys` lists and that `man --warnings`
# is silent for every page; runs the simulators (`chat2desk-b24 sim`) as a transient unit,
# points the config at them, starts the service and asserts READY, a synced comment, that
# every path a message in src/ names exists, `status --json` (parses; exit 0 healthy, 1 with
# a dead job), journald fields, reload, a watchdog restart, a conffile-keeping upgrade and a
# purge; finally installs the .rpm with `rpm --root --nodeps` and starts the unit from its
# files.
# A machine that cannot boot the container fails the test.
set -euo pipefail

START=$(date +%s)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
NAME=chat2desk-b24
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
PKG=$ROOT/target/pkg
CACHE=${E2E_ROOTFS_CACHE:-$ROOT/target/e2e-rootfs}
WORK=$ROOT/target/e2e-run
R=$WORK/rootfs
C2D=http://127.0.0.1:18080
PORTAL=http://127.0.0.1:18081
CONF=/etc/$NAME/config.toml
BUILD=1
STOP_AFTER=${E2E_STOP_AFTER:-}
NSPID=""
P=""
# What the rootfs gets on top of debootstrap's minbase (man-db: the man page checks).
ROOTFS_PACKAGES="systemd systemd-sysv dbus adduser curl ca-certificates procps man-db"
WEBHOOK_SECRET=e2e-webhook-secret-0123456789

case ${1:-} in
    --no-build) BUILD=0 ;;
    "") ;;
    *) echo "usage: $0 [--no-build]" >&2; exit 2 ;;
esac

STEP=0
banner() { STEP=$((STEP + 1)); printf '\n==== [%d] %s (+%ds) ====\n' "$STEP" "$*" "$(($(date +%s) - START))"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
# Runs a command inside the booted container.
ctr() { nsenter -t "$P" -a "$@"; }
# Waits up to $1 seconds for the command in the remaining arguments to succeed.
wait_for() {
    local secs=$1 i
    shift
    for ((i = 0; i < secs * 4; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.25
    done
    return 1
}
unit_prop() { ctr systemctl show -p "$1" --value "$NAME"; }
is_active() { [[ $(ctr systemctl is-active "$NAME" 2>/dev/null || true) == active ]]; }

# On any exit: show what the service said when something failed, power the container off.
cleanup() {
    local rc=$?
    set +e
    if [[ -n $P ]] && kill -0 "$P" 2>/dev/null; then
        if ((rc != 0)); then
            echo "---- systemctl status / journal of $NAME (test failed) ----"
            ctr systemctl status --no-pager "$NAME" 2>&1 | tail -n 20
            ctr journalctl -u "$NAME" -u c2d-sim --no-pager -n 60 2>&1
        fi
        ctr systemctl poweroff >/dev/null 2>&1
        for _ in $(seq 40); do kill -0 "$NSPID" 2>/dev/null || break; sleep 0.25; done
    fi
    if [[ -n $NSPID ]] && kill -0 "$NSPID" 2>/dev/null; then
        kill "$NSPID" 2>/dev/null
        wait "$NSPID" 2>/dev/null
    fi
    if ((rc != 0)) && [[ -f $WORK/console.log ]]; then
        echo "---- container console (last lines) ----"
        tail -n 30 "$WORK/console.log"
    fi
    echo "e2e duration: $(($(date +%s) - START)) s"
    exit "$rc"
}
trap cleanup EXIT

[[ $EUID -eq 0 ]] || fail "must run as root (debootstrap, systemd-nspawn, nsenter)"
for tool in systemd-nspawn debootstrap nsenter pgrep rpm python3 cargo; do
    command -v "$tool" >/dev/null || fail "$tool is missing: run scripts/install-ci-deps.sh"
done

if ((BUILD)); then
    banner "Build packages (release, --locked)"
    scripts/package.sh --no-check
fi
DEB=$(ls "$PKG/${NAME}_${VERSION}-1_"*.deb 2>/dev/null) || fail "no revision-1 .deb in $PKG"
RPM=$(ls "$PKG/$NAME-$VERSION-1."*.rpm 2>/dev/null) || fail "no release-1 .rpm in $PKG"
echo "deb: $DEB"
echo "rpm: $RPM"
if command -v lintian >/dev/null; then
    banner "lintian on the .deb (fails on errors; the man pages included)"
    # lintian warns that it runs as root; it still works.
    lrc=0
    lint=$(lintian --fail-on error --tag-display-limit 0 "$DEB" 2>&1) || lrc=$?
    [[ -n $lint ]] && echo "$lint"
    ((lrc == 0)) || fail "lintian reports errors (rc $lrc)"
    ok "lintian: no errors"
fi

banner "Root filesystem (cached in $CACHE)"
rm -rf "$WORK"
mkdir -p "$WORK"
# Installs ROOTFS_PACKAGES into the rootfs at $1 and records the list in its marker.
rootfs_packages() {
    chroot "$1" apt-get update -qq >/dev/null
    # shellcheck disable=SC2086 # a list of package names
    chroot "$1" apt-get install -y -qq --no-install-recommends $ROOTFS_PACKAGES >/dev/null
    chroot "$1" apt-get clean
    echo "$ROOTFS_PACKAGES" >"$1/.e2e-complete"
}
if [[ -f $CACHE/.e2e-complete ]]; then
    if [[ $(cat "$CACHE/.e2e-complete") != "$ROOTFS_PACKAGES" ]]; then
        echo "The cached rootfs was made with other packages; installing: $ROOTFS_PACKAGES"
        rootfs_packages "$CACHE"
    fi
    echo "Using the cached rootfs."
else
    if [[ -z ${DEBIAN_MIRROR:-} ]]; then
        DEBIAN_MIRROR=$(sed -n 's/^URIs: *\([^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
        DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
    fi
    rm -rf "$CACHE.tmp" "$CACHE"
    mkdir -p "$(dirname "$CACHE")"
    debootstrap --variant=minbase bookworm "$CACHE.tmp" "$DEBIAN_MIRROR" >"$WORK/debootstrap.log" 2>&1 \
        || { tail -n 20 "$WORK/debootstrap.log"; fail "debootstrap from $DEBIAN_MIRROR failed"; }
    rootfs_packages "$CACHE.tmp"
    mv "$CACHE.tmp" "$CACHE"
    echo "Built the rootfs: $(du -sh "$CACHE" | cut -f1)."
fi
cp -a "$CACHE" "$R"

banner "Boot the container (systemd-nspawn --boot)"
systemd-nspawn --register=no --keep-unit --private-network -D "$R" --boot \
    >"$WORK/console.log" 2>&1 </dev/null &
NSPID=$!
wait_for 20 pgrep -P "$NSPID" || fail "this machine cannot boot a container: systemd-nspawn started no init"
P=$(pgrep -P "$NSPID" | head -n1)
booted() { [[ $(ctr systemctl is-system-running 2>/dev/null) =~ ^(running|degraded)$ ]]; }
wait_for 60 booted || fail "this machine cannot boot a container: systemd did not reach running ($(ctr systemctl is-system-running 2>&1))"
echo "systemd: $(ctr systemctl is-system-running 2>&1); failed units: $(ctr systemctl --failed --no-legend | wc -l)"

banner "Install the .deb"
cp "$DEB" "$R/root/$NAME.deb"
ctr dpkg -i "/root/$NAME.deb"
ctr getent passwd "$NAME" >/dev/null || fail "user $NAME was not created"
perms=$(ctr stat -c '%U:%G %a' "$CONF")
[[ $perms == "root:$NAME 640" ]] || fail "config is $perms, expected root:$NAME 640"
ok "user $NAME exists; $CONF is $perms"
for f in /usr/bin/$NAME /usr/share/man/man1/$NAME.1.gz /usr/share/bash-completion/completions/$NAME \
    /usr/share/doc/$NAME/examples/nginx-$NAME.conf /usr/lib/sysusers.d/$NAME.conf; do
    [[ -e $R$f ]] || fail "$f is not installed"
done
[[ $(ctr systemctl is-enabled "$NAME" 2>&1 || true) == disabled ]] || fail "the unit should not be enabled before it is configured"
ctr systemd-analyze verify --man=no "/usr/lib/systemd/system/$NAME.service"
ok "systemd-analyze verify inside the container"
echo "Exposure inside the container: $(ctr systemd-analyze security "$NAME" 2>/dev/null | tail -n1)"

banner "man chat2desk-b24.toml shows every key; man --warnings is silent"
mapfile -t KEYS < <(ctr "/usr/bin/$NAME" config --keys)
((${#KEYS[@]} > 20)) || fail "'$NAME config --keys' listed ${#KEYS[@]} keys"
# No hyphenation or justification, one long line per paragraph: each key's environment
# variable (CHAT2DESK_B24_<SECTION>__<KEY>, which names the key) stays one word.
page=$(ctr env MANWIDTH=1000 man --nh --nj chat2desk-b24.toml 2>/dev/null) || fail "man chat2desk-b24.toml failed"
missing=()
for key in "${KEYS[@]}"; do
    section=${key%.*}
    var="CHAT2DESK_B24_${section//./__}__${key##*.}"
    var=${var^^}
    grep -qF -- "$var" <<<"$page" || missing+=("$key")
done
((${#missing[@]} == 0)) || fail "man chat2desk-b24.toml lacks ${#missing[@]} keys: ${missing[*]}"
ok "man chat2desk-b24.toml shows all ${#KEYS[@]} keys of config --keys"
pages=0
while read -r file; do
    warnings=$(ctr env MANWIDTH=80 man --warnings -l "$file" 2>&1 >/dev/null) || fail "man -l $file failed: $warnings"
    [[ -z $warnings ]] || fail "man --warnings -l $file: $warnings"
    pages=$((pages + 1))
done < <(ctr dpkg -L "$NAME" | grep -E '^/usr/share/man/man[0-9]/.+\.gz$')
for page_name in "$NAME" "$NAME.toml"; do
    warnings=$(ctr env MANWIDTH=80 man --warnings "$page_name" 2>&1 >/dev/null) || fail "man $page_name failed: $warnings"
    [[ -z $warnings ]] || fail "man --warnings $page_name: $warnings"
done
ok "man --warnings prints nothing for the $pages pages of the package"

if [[ $STOP_AFTER == install ]]; then
    echo "Stopping after the install step, as E2E_STOP_AFTER=install asks: the service was not tested."
    exit 0
fi

banner "Start the simulators inside the container"
ctr systemd-run --unit=c2d-sim --collect "/usr/bin/$NAME" sim --chat2desk 127.0.0.1:18080 --portal 127.0.0.1:18081 >/dev/null
wait_for 15 ctr curl -sf "$PORTAL/_sim/state" || fail "portal simulator did not answer on $PORTAL"
wait_for 15 ctr curl -s -o /dev/null "$C2D/" || fail "Chat2Desk simulator did not answer on $C2D"
# The sim prints the portal webhook URL, the Chat2Desk token and a seeded portal user id
# (default 1) as JSON lines on stdout.
read -r WEBHOOK TOKEN RESPONSIBLE < <(ctr journalctl -u c2d-sim -o cat --no-pager | python3 -c '
import json, sys
found = {}
def walk(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, str) and "webhook" in k.lower():
                found.setdefault("webhook", v)
            elif isinstance(v, str) and "token" in k.lower():
                found.setdefault("token", v)
            elif isinstance(v, int) and "responsible" in k.lower():
                found.setdefault("responsible", v)
            else:
                walk(v)
for line in sys.stdin:
    try:
        walk(json.loads(line))
    except ValueError:
        pass
print(found.get("webhook", "-"), found.get("token", "-"), found.get("responsible", 1))
')
[[ $WEBHOOK == http* && $TOKEN != - ]] || fail "the sim printed no webhook URL / token JSON lines"
ok "simulators up (webhook URL and token read from their output)"

# Writes a config pointing at the simulators (keeps the file's owner and mode).
write_config() {
    cat >"$R$CONF" <<TOML
# Written by scripts/e2e-container.sh: the simulators inside the test container.
[chat2desk]
api_url = "$C2D"
token = "$TOKEN"

[bitrix24]
webhook_url = "$WEBHOOK"

[crm]
default_responsibles = [$RESPONSIBLE]

[server]
webhook_secret = "$WEBHOOK_SECRET"

[sync]
schedule = "*/2 * * * * *"
TOML
}

# Closes a new request in the Chat2Desk sim and waits for its comment in the portal sim.
sync_one_request() {
    local cid rid
    cid=$(ctr curl -sf -X POST -H 'content-type: application/json' \
        -d '{"name":"E2E Client","phone":"+79990001122","transport":"whatsapp"}' "$C2D/_sim/client" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    ctr curl -sf -X POST -H 'content-type: application/json' \
        -d "{\"client_id\":$cid,\"text\":\"Hello from the e2e test\"}" "$C2D/_sim/message" >/dev/null
    rid=$(ctr curl -sf -X POST -H 'content-type: application/json' \
        -d "{\"client_id\":$cid}" "$C2D/_sim/scenario/close" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["request_id"])')
    echo "Closed request $rid (client $cid)." >&2
    has_comment() {
        ctr curl -sf "$PORTAL/_sim/state" | python3 -c '
import json, re, sys
rid = sys.argv[1]
state = json.load(sys.stdin)
pat = re.compile(r"(?<!\d)" + re.escape(rid) + r"(?!\d)")
sys.exit(0 if any(pat.search(str(c.get("text", ""))) for c in state.get("comments", [])) else 1)
' "$rid"
    }
    wait_for 25 has_comment || fail "no portal comment mentions request $rid within 25 s"
    echo "$rid"
}

banner "Configure and start the service (Type=notify: start returns after READY=1)"
write_config
timeout 90 nsenter -t "$P" -a systemctl start "$NAME" || fail "systemctl start $NAME failed"
is_active || fail "$NAME is not active after start"
status=$(unit_prop StatusText)
[[ -n $status ]] || fail "the daemon sent no STATUS= text"
ok "active; STATUS: $status"

banner "A closed request becomes a portal comment"
RID=$(sync_one_request)
ok "comment for request $RID is in the portal"

banner "Every path a message names exists (collected from src/)"
# Absolute paths of the package named in any message or help text, plus the docs named
# relative to its doc directory. Skipped: the other paths under /etc/$NAME/, which messages
# give as the form of a *_file key ("/etc/$NAME/secret"): the admin creates those.
named=$(
    {
        grep -rhoE "/(usr|etc|var)/[A-Za-z0-9_./-]*$NAME[A-Za-z0-9_./-]*" src | sed 's/[.,]*$//'
        grep -rhoE '(^|[^A-Za-z0-9_/])docs/[a-z0-9_-]+\.md' src | sed "s|^.*docs/|/usr/share/doc/$NAME/docs/|"
        if grep -rqF config.example.toml src; then echo "/usr/share/doc/$NAME/config.example.toml"; fi
        if grep -rqw README src; then echo "/usr/share/doc/$NAME/README.md"; fi
    } | grep -vE "^/etc/$NAME/.+" | sort -u
    echo "$CONF"
)
absent=()
count=0
while read -r path; do
    count=$((count + 1))
    [[ -e $R$path ]] || absent+=("$path")
done <<<"$named"
((${#absent[@]} == 0)) || fail "named in messages but absent after install and first start: ${absent[*]}"
ok "all $count paths named in src/ exist: $(tr '\n' ' ' <<<"$named")"

banner "status --json parses; its exit code follows the queue's health"
# Runs `status --json` as the service's user; prints the exit code, then the JSON.
status_json() {
    local rc=0 out
    out=$(ctr runuser -u "$NAME" -- "/usr/bin/$NAME" status --json) || rc=$?
    echo "$rc"
    echo "$out"
}
{ read -r rc; json=$(cat); } < <(status_json)
python3 -m json.tool <<<"$json" >/dev/null || fail "status --json printed no JSON: $json"
[[ $rc == 0 ]] || fail "status --json exited $rc with an empty queue: $json"
python3 -c 'import json,sys; s=json.load(sys.stdin); assert s["health"] == "healthy" and s["queue"]["dead"] == 0, s' <<<"$json" \
    || fail "status --json does not say healthy: $json"
ok "status --json: exit 0, healthy"
# A close_request webhook for a request Chat2Desk does not know: the job dies (404).
code=$(ctr curl -s -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' \
    -d '{"hook_type":"close_request","request_id":987654321}' "http://127.0.0.1:8089/webhook/$WEBHOOK_SECRET")
[[ $code == 200 ]] || fail "the close_request webhook answered $code"
degraded() {
    { read -r rc; json=$(cat); } < <(status_json)
    [[ $rc == 1 ]]
}
wait_for 30 degraded || fail "status --json did not exit 1 after a job died (exit $rc): $json"
python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["health"] == "degraded" and s["queue"]["dead"] == 1, s
dead = s["dead_jobs"][0]
assert dead["kind"] == "transcript" and dead["key"] == 987654321 and dead["reason"], dead
' <<<"$json" || fail "status --json does not show the dead job: $json"
ok "status --json: exit 1, degraded, dead job 987654321 with its reason"

banner "journald has the structured fields"
ctr journalctl -u "$NAME" -o json --no-pager | python3 -c '
import json, sys
rid = sys.argv[1]
ids = set()
for line in sys.stdin:
    rec = json.loads(line)
    if "REQUEST_ID" in rec:
        ids.add(str(rec["REQUEST_ID"]))
if rid not in ids:
    sys.exit("no journal entry with REQUEST_ID=%s (seen: %s)" % (rid, sorted(ids)[:10]))
' "$RID"
ok "journalctl -u $NAME -o json has REQUEST_ID=$RID"

banner "systemctl reload (check --offline, then SIGHUP)"
pid=$(unit_prop MainPID)
ctr systemctl reload "$NAME"
sleep 1
is_active || fail "$NAME is not active after reload"
[[ $(unit_prop MainPID) == "$pid" ]] || fail "reload restarted the process instead of reloading it"
ok "reloaded, still active, same MainPID $pid"

banner "Watchdog: a stopped main process is restarted (drop-in WatchdogSec=4s)"
mkdir -p "$R/etc/systemd/system/$NAME.service.d"
printf '[Service]\nWatchdogSec=4s\nRestartSec=1s\n' >"$R/etc/systemd/system/$NAME.service.d/e2e-watchdog.conf"
ctr systemctl daemon-reload
ctr systemctl restart "$NAME"
restarts=$(unit_prop NRestarts)
pid=$(unit_prop MainPID)
ctr kill -STOP "$pid"
restarted() { is_active && [[ $(unit_prop MainPID) != "$pid" && $(unit_prop NRestarts) -gt $restarts ]]; }
wait_for 30 restarted || fail "the watchdog did not restart the stopped process (NRestarts $(unit_prop NRestarts))"
ok "watchdog restart: MainPID $pid -> $(unit_prop MainPID), NRestarts $restarts -> $(unit_prop NRestarts)"
rm -r "$R/etc/systemd/system/$NAME.service.d"
ctr systemctl daemon-reload
ctr systemctl restart "$NAME"

banner "Upgrade to revision 2 keeps the edited config"
echo "# e2e: edited locally" >>"$R$CONF"
scripts/package.sh --revision 2 --no-build --deb-only >"$WORK/package-rev2.log" 2>&1 \
    || { tail -n 20 "$WORK/package-rev2.log"; fail "building revision 2 failed"; }
DEB2=$(ls "$PKG/${NAME}_${VERSION}-2_"*.deb)
cp "$DEB2" "$R/root/$NAME-2.deb"
ctr dpkg -i "/root/$NAME-2.deb"
[[ $(ctr dpkg-query -W -f='${Version}' "$NAME") == "$VERSION-2" ]] || fail "the upgrade did not install $VERSION-2"
grep -q '^# e2e: edited locally$' "$R$CONF" || fail "the upgrade overwrote the edited config"
[[ $(ctr stat -c '%U:%G %a' "$CONF") == "root:$NAME 640" ]] || fail "the upgrade changed the config's owner or mode"
wait_for 10 is_active || fail "$NAME is not active after the upgrade"
ok "upgraded to $VERSION-2, edited config kept, service active"

banner "Purge removes state, config and user"
ctr dpkg --purge "$NAME"
[[ ! -e $R/var/lib/$NAME ]] || fail "/var/lib/$NAME survived the purge"
[[ ! -e $R/etc/$NAME ]] || fail "/etc/$NAME survived the purge"
! ctr getent passwd "$NAME" >/dev/null || fail "user $NAME survived the purge"
! is_active || fail "$NAME still runs after the purge"
ok "purged"

banner "RPM: rpm -ivh --nodeps --root into the container, start from its files"
cp "$RPM" "$WORK/$NAME.rpm"
rpm -ivh --nodeps --root "$R" "$WORK/$NAME.rpm" 2>&1 | grep -v 'use Alien instead'
rpm -V --nodeps --root "$R" "$NAME" || fail "rpm -V reports changed files right after install"
ctr getent passwd "$NAME" >/dev/null || fail "the rpm %post did not create user $NAME"
[[ $(ctr stat -c '%U:%G %a' "$CONF") == "root:$NAME 640" ]] || fail "rpm-installed config is not root:$NAME 640"
ctr systemctl daemon-reload
write_config
timeout 90 nsenter -t "$P" -a systemctl start "$NAME" || fail "systemctl start $NAME (rpm) failed"
is_active || fail "$NAME (rpm) is not active"
RID=$(sync_one_request)
ok "rpm-installed service active and synced request $RID"
ctr systemctl stop "$NAME"
rpm -e --nodeps --root "$R" "$NAME"
[[ ! -e $R/usr/bin/$NAME ]] || fail "rpm -e left /usr/bin/$NAME"
ok "rpm erase removed the files"

banner "All e2e checks passed"

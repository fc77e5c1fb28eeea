#!/usr/bin/env bash
# Builds the .deb and .rpm of chat2desk-b24 into target/pkg/ and checks them.
#
#   scripts/package.sh [--revision N] [--no-build] [--no-check] [--deb-only]
#
#   --revision N  package revision (deb 0.1.0-N, rpm release N); default 1
#   --no-build    reuse the release binary already built
#   --no-check    only build the packages (lintian, rpm and unit checks are skipped)
#   --deb-only    build only the .deb (implies --no-check; the e2e upgrade test uses it)
#
# Steps: `cargo build --release --locked`; `chat2desk-b24 gen-man` and `gen-completions` into
# target/pkg/; `cargo deb --no-build`; `cargo generate-rpm`; then the checks: dpkg-deb contents,
# lintian (fails on errors), rpm -qpi/-qpl/-qpc/--scripts/-K, rpmlint (informational),
# `systemd-analyze verify` and `security` (gate: exposure <= 2.0) on the unit, `nginx -t` on the
# example server block. Honours CARGO_TARGET_DIR. Tools: scripts/install-ci-deps.sh.
set -euo pipefail

REVISION=1
BUILD=1
CHECK=1
RPM_TOO=1
while (($#)); do
    case $1 in
        --revision) REVISION=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --no-check) CHECK=0; shift ;;
        --deb-only) RPM_TOO=0; CHECK=0; shift ;;
        *) echo "usage: $0 [--revision N] [--no-build] [--no-check] [--deb-only]" >&2; exit 2 ;;
    esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET_DIR/release/chat2desk-b24
PKG=$ROOT/target/pkg
NAME=chat2desk-b24
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
# Reproducible timestamps: the last commit's time.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH

banner() { printf '\n==== %s ====\n' "$*"; }
fail() { echo "ERROR: $*" >&2; exit 1; }

if ((BUILD)); then
    banner "Release build"
    cargo build --release --locked
fi
[[ -x $BIN ]] || fail "no release binary at $BIN (run without --no-build)"

banner "Man pages and shell completions (from clap)"
rm -rf "$PKG/man" "$PKG/completions"
mkdir -p "$PKG/man" "$PKG/completions"
"$BIN" gen-man "$PKG/man" || fail "'$NAME gen-man DIR' failed: the man page cannot be generated"
"$BIN" gen-completions "$PKG/completions" || fail "'$NAME gen-completions DIR' failed"
compgen -G "$PKG/man/man1/*.1" >/dev/null || fail "gen-man wrote no man1/*.1 file into $PKG/man"
[[ -s $PKG/man/man5/$NAME.toml.5 ]] || fail "gen-man wrote no man5/$NAME.toml.5 (the configuration page)"
gzip -9nf "$PKG"/man/man1/*.1 "$PKG"/man/man5/*.5
for f in "$NAME.bash" "_$NAME" "$NAME.fish"; do
    [[ -s $PKG/completions/$f ]] || fail "gen-completions did not write $f (clap_complete default names expected)"
done
ls -l "$PKG/man/man1" "$PKG/man/man5" "$PKG/completions"

[[ -f config.example.toml ]] || fail "config.example.toml (the packaged /etc/$NAME/config.toml) is missing"

banner "Debian package (revision $REVISION)"
rm -f "$PKG/${NAME}_${VERSION}-${REVISION}_"*.deb
cargo deb --no-build --deb-revision "$REVISION" --output "$PKG/"
DEB=$(ls "$PKG/${NAME}_${VERSION}-${REVISION}_"*.deb)

if ((RPM_TOO == 0)); then
    ls -l "$DEB"
    exit 0
fi

banner "RPM package (release $REVISION)"
rm -f "$PKG/$NAME-$VERSION-$REVISION."*.rpm
cargo generate-rpm --set-metadata "release = \"$REVISION\"" --output "$PKG/"
RPM=$(ls "$PKG/$NAME-$VERSION-$REVISION."*.rpm)

printf '\n%s\n' "Packages:"
ls -l "$DEB" "$RPM"

((CHECK)) || exit 0

banner "dpkg-deb -I / -c"
dpkg-deb -I "$DEB"
# Listings are captured first: `grep -q` on a pipe would kill dpkg-deb with SIGPIPE.
listing=$(dpkg-deb -c "$DEB")
echo "$listing"
paths=$(awk '{print $6}' <<<"$listing")
for path in ./usr/bin/$NAME ./etc/$NAME/config.toml ./usr/lib/systemd/system/$NAME.service \
    ./usr/lib/sysusers.d/$NAME.conf ./usr/share/man/man1/$NAME.1.gz ./usr/share/man/man5/$NAME.toml.5.gz \
    ./usr/share/doc/$NAME/changelog.Debian.gz ./usr/share/doc/$NAME/copyright \
    ./usr/share/doc/$NAME/examples/nginx-$NAME.conf \
    ./usr/share/bash-completion/completions/$NAME ./usr/share/zsh/vendor-completions/_$NAME \
    ./usr/share/fish/vendor_completions.d/$NAME.fish; do
    grep -qxF "$path" <<<"$paths" || fail "$path is not in the .deb"
done
grep -Eq -- "^-rw-r----- (0/0|root/root) .* ./etc/$NAME/config.toml\$" <<<"$listing" \
    || fail "config.toml is not 0640 in the .deb"
depends=$(dpkg-deb -f "$DEB" Depends)
grep -qw systemd <<<"$depends" || fail ".deb does not depend on systemd"
conffiles=$(dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles)
grep -qx "/etc/$NAME/config.toml" <<<"$conffiles" || fail "/etc/$NAME/config.toml is not a conffile"

banner "lintian (fails on errors; warnings listed)"
# lintian warns that it runs as root; it still works.
lrc=0
lint=$(lintian --fail-on error --display-info --tag-display-limit 0 "$DEB" 2>&1) || lrc=$?
grep -v 'running with root privileges' <<<"$lint" || echo "(no tags)"
((lrc == 0)) || fail "lintian reports errors (rc $lrc)"

banner "rpm -qpi / -qpl / -qpc / --scripts / -K"
rpm -qpi "$RPM"
rpm -qplv "$RPM"
echo "-- config files:"
conf=$(rpm -qpc "$RPM")
echo "$conf"
grep -qx "/etc/$NAME/config.toml" <<<"$conf" || fail "config.toml is not %config in the .rpm"
files=$(rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]' "$RPM")
grep -q "^cn -rw-r----- root:$NAME /etc/$NAME/config.toml$" <<<"$files" \
    || fail "config.toml is not %config(noreplace) 0640 root:$NAME in the .rpm"
echo "-- scripts:"
rpm -qp --scripts "$RPM"
echo "-- requires:"
rpm -qpR "$RPM"
rpm -Kv --nosignature "$RPM"

banner "rpmlint (informational: no signature/packager/buildhost tags by design)"
rpmlint "$RPM" || true

banner "systemd-analyze verify (ExecStart pointed at the built binary)"
UNITDIR=$(mktemp -d)
trap 'rm -rf "$UNITDIR"' EXIT
sed "s#/usr/bin/$NAME#$BIN#g" "systemd/$NAME.service" > "$UNITDIR/$NAME.service"
systemd-analyze verify --man=no "$UNITDIR/$NAME.service"

banner "systemd-analyze security (gate: exposure <= 2.0)"
systemd-analyze security --offline=yes "systemd/$NAME.service" | grep -v '✓'
systemd-analyze security --offline=yes --threshold=20 "systemd/$NAME.service" >/dev/null \
    || fail "unit exposure is above 2.0"

banner "nginx -t on the example server block"
NGX="$UNITDIR/nginx"
mkdir -p "$NGX"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
    -keyout "$NGX/key.pem" -out "$NGX/cert.pem" 2>/dev/null
sed -e "s#/etc/ssl/certs/[^;]*#$NGX/cert.pem#; s#/etc/ssl/private/[^;]*#$NGX/key.pem#" \
    -e "s#/var/log/nginx#$NGX#g; s#listen \[::\]:[0-9]* *[a-z]*;##" \
    -e "s#listen 443#listen 127.0.0.1:18443#; s#listen 80;#listen 127.0.0.1:18088;#" \
    "packaging/nginx/$NAME.conf" > "$NGX/site.conf"
cat > "$NGX/nginx.conf" <<NGINX
pid $NGX/nginx.pid;
error_log $NGX/error.log;
events {}
http {
    access_log $NGX/access.log;
    client_body_temp_path $NGX/body; proxy_temp_path $NGX/proxy; fastcgi_temp_path $NGX/fcgi;
    uwsgi_temp_path $NGX/uwsgi; scgi_temp_path $NGX/scgi;
    include $NGX/site.conf;
}
NGINX
nginx -t -q -c "$NGX/nginx.conf" -p "$NGX"
echo "nginx example: syntax ok"

banner "Packages OK"
ls -l "$DEB" "$RPM"

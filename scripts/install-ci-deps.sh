#!/usr/bin/env bash
# Installs the tools the packaging and booted-container tests need (idempotent, root).
#
#   apt:   systemd-container debootstrap lintian rpm rpmlint nginx prometheus, and php-cli
#          php-mbstring python3-pip for the PHP activity test and its b24pysdk conformance check
#          (prometheus: promtool and a server for tests/monitoring.rs, which starts its own on a
#          free loopback port; the package's own service is kept from starting and stopped),
#          and mariadb-server (the MariaDB tests start their own mariadbd in a temporary
#          directory; the package's service is never used), and chromium chromium-driver
#          (headless Chromium for the CRM card tab's browser test in tests/card.rs)
#   cargo: cargo-deb, cargo-generate-rpm at pinned versions, installed only when missing
#   pip:   b24pysdk (pinned), for the conformance tests of the portal simulator and of the
#          bodies the PHP activity sends
#
# Neither cargo tool has a Debian package, so they are built from crates.io
# (about 3 min on a fresh 2-core machine; a no-op when the pinned version is present).
set -euo pipefail

CARGO_DEB_VERSION="3.8.0"
CARGO_GENERATE_RPM_VERSION="0.21.1"
APT_PACKAGES=(systemd-container debootstrap lintian rpm rpmlint nginx prometheus php-cli php-mbstring python3-pip mariadb-server chromium chromium-driver)

banner() { printf '\n==== %s ====\n' "$*"; }

banner "apt packages: ${APT_PACKAGES[*]}"
missing=()
for p in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if ((${#missing[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # Services of the packages (nginx, prometheus on :9090) must not start on install: the
    # tests run their own. A policy-rc.d that refuses is put in place only for this install.
    policy=/usr/sbin/policy-rc.d
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    echo "All present."
fi
# Where systemd runs, a package's service may still have been enabled: keep Debian's
# prometheus from running (and holding :9090) next to the tests.
if [[ -d /run/systemd/system ]] && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl disable --now prometheus
fi

# Installs crate $1 at version $2 unless `cargo $3 --version` already reports that version.
cargo_tool() {
    local crate=$1 version=$2 sub=$3 have
    have=$(cargo "$sub" --version 2>/dev/null || true)
    if [[ "$have" == *"$version"* ]]; then
        echo "$crate $version present."
    else
        banner "cargo install $crate $version (was: ${have:-absent})"
        cargo install --locked --version "$version" "$crate"
    fi
}

banner "python: b24pysdk (the official Bitrix24 SDK checks the portal simulator)"
B24PYSDK_VERSION="1.3.2"
if python3 -c "import b24pysdk, sys; sys.exit(b24pysdk.__version__ != '$B24PYSDK_VERSION')" 2>/dev/null; then
    echo "b24pysdk $B24PYSDK_VERSION present."
else
    python3 -m pip install --quiet --root-user-action=ignore "b24pysdk==$B24PYSDK_VERSION"
fi

banner "cargo tools"
cargo_tool cargo-deb "$CARGO_DEB_VERSION" deb
cargo_tool cargo-generate-rpm "$CARGO_GENERATE_RPM_VERSION" generate-rpm

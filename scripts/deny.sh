#!/usr/bin/env bash
# Supply-chain check: licences, banned crates (OpenSSL, native-tls) and sources (crates.io
# only), per deny.toml. Installs the pinned cargo-deny when it is missing (a source build,
# a few minutes). Advisories are skipped: they need the network advisory database.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DENY_VERSION="0.20.2"

if ! cargo deny --version 2>/dev/null | grep -qx "cargo-deny ${CARGO_DENY_VERSION}"; then
    echo "Installing cargo-deny ${CARGO_DENY_VERSION}..."
    cargo install --locked cargo-deny --version "${CARGO_DENY_VERSION}"
fi

cargo deny --log-level warn check licenses bans sources

#!/usr/bin/env bash
# Every check, in the order a failure is cheapest to see. Needs the tools that
# scripts/install-ci-deps.sh installs (root for the container test).
set -euo pipefail
cd "$(dirname "$0")/.."
banner() { printf '\n==== %s ====\n' "$*"; }

banner "cargo fmt --check"
cargo fmt --check

banner "cargo clippy --all-targets -- -D warnings"
cargo clippy --locked --all-targets -- -D warnings

banner "cargo deny check licenses bans sources (advisories need the network: skipped)"
bash scripts/deny.sh

banner "tests (unit + integration, real HTTP and SQLite)"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --locked --no-fail-fast --failure-output final
else
    cargo test --locked --no-fail-fast
fi

banner "packages: build, lintian, rpm checks, unit security score"
bash scripts/package.sh

banner "booted-container end-to-end test"
bash scripts/e2e-container.sh --no-build

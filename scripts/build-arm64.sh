#!/usr/bin/env bash
# Builds the Lambda binary for Graviton (arm64) exactly as it is deployed:
#   target/lambda/dbt-tableau-refresh/bootstrap
# Installs what it needs first: the Python tools venv (cargo-lambda, which brings zig
# for the cross link) and the rustup target aarch64-unknown-linux-gnu.
# Extra arguments go to `cargo lambda build` (e.g. --output-format zip).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/python-tools.sh

target=aarch64-unknown-linux-gnu
if ! rustup target list --installed | grep -qx "$target"; then
    echo "==> rustup target add $target" >&2
    rustup target add "$target"
fi

echo "==> cargo lambda build --release --arm64" >&2
cargo lambda build --release --arm64 --locked -p dbt-tableau-refresh "$@"

binary="target/lambda/dbt-tableau-refresh/bootstrap"
ls -l "$binary"
file "$binary" 2>/dev/null || true

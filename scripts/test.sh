#!/usr/bin/env bash
# The one test command: formatting, lints, and every test, with the emulators the
# tests need started here on 127.0.0.1 and stopped on exit.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/python-tools.sh

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

moto_port="$(free_port)"
# moto with Step Functions executing for real and Lambda invokes forwarded to the
# function processes the workflow tests start (tests/sfn/moto_sfn.py); it serves
# Secrets Manager, SNS and SQS like plain moto_server.
python tests/sfn/moto_sfn.py "$moto_port" >"${TMPDIR:-/tmp}/moto-$moto_port.log" 2>&1 &
pids+=($!)
export MOTO_ENDPOINT="http://127.0.0.1:$moto_port"
moto_ready() { curl -sf -o /dev/null "$MOTO_ENDPOINT/forwarder/ready"; }
for _ in $(seq 1 300); do
    moto_ready && break
    sleep 0.1
done
moto_ready || { echo "moto did not start:" >&2; cat "${TMPDIR:-/tmp}/moto-$moto_port.log" >&2; exit 1; }

echo "==> cfn-lint template.yaml"
cfn-lint template.yaml
echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy --all-targets --all-features -- -D warnings"
# --all-features: the `cli` feature (the dbt-tableau command) is linted too.
cargo clippy --all-targets --all-features --locked -- -D warnings
echo "==> cargo deny check bans licenses sources"
# Installed once into ~/.cargo/bin (needs crates.io the first time). Not
# `advisories` here: that fetches the RustSec database over the network, which CI
# lacks; ../shared/tools/advisories below checks against an offline snapshot.
if ! cargo deny --version >/dev/null 2>&1; then
    cargo install cargo-deny --locked
fi
cargo deny check bans licenses sources
echo "==> advisories: Cargo.lock against the RustSec snapshot in ../shared/advisory-db (offline)"
# Fails on a known vulnerability, an unsound or a yanked crate in the lock.
../shared/tools/advisories
echo "==> benchmark: release build and a quick run (./scripts/bench.sh runs it in full)"
python3 -m py_compile bench/*.py scripts/make-event.py tests/sfn/*.py
./scripts/bench.sh --quick --out target/bench/quick-results.md
echo "==> wheel: maturin build (dev profile, stripped), installed into a fresh venv"
# The debug build reuses the test build's dependencies (a release build with fat LTO
# takes minutes on two cores); tests/cli_installed.rs runs the installed command.
rm -rf target/wheels target/wheel-venv
maturin build --locked --quiet --out target/wheels
python3 -m venv target/wheel-venv
target/wheel-venv/bin/pip install --quiet --disable-pip-version-check --no-index target/wheels/dbt_tableau-*.whl
export DBT_TABLEAU_INSTALLED="$root/target/wheel-venv/bin/dbt-tableau"
echo "==> cargo test --all-features"
cargo test --all-targets --all-features --locked

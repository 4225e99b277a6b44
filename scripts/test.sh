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
echo "==> cargo clippy --workspace --all-targets --all-features -- -D warnings"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
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
echo "==> rust-version: the workspace's is the highest any locked dependency declares"
python3 scripts/check-rust-version.py
echo "==> crate boundaries: no lambda_* or aws-* crate in the engine or the command"
for crate in dbt-tableau-engine dbt-tableau; do
    if cargo tree --locked -p "$crate" -e normal --prefix none | grep -E '^(aws-|lambda_)'; then
        echo "$crate depends on the crates above: they belong to crates/function only" >&2
        exit 1
    fi
done
echo "==> wheels: manylinux2014 (glibc 2.17) for x86_64 and aarch64 with maturin + zig, checked by auditwheel; x86_64 installed into a fresh venv"
# Only crates/cli is built (no Lambda runtime, no AWS SDK), linked by zig against
# glibc 2.17 symbols so the wheel runs on RHEL 7+, Debian 9+, Ubuntu 16.04+. The
# explicit --target keeps its build (zig as the C compiler) apart from the tests'.
# Dev profile: the release workflow (.github/workflows/release.yml) makes the
# optimised wheels; this one proves the packaging and feeds tests/it/cli_installed.rs.
rm -rf target/wheels target/wheel-venv
maturin build --locked --quiet --zig --compatibility manylinux2014 \
    --target x86_64-unknown-linux-gnu --out target/wheels
wheel="$(ls target/wheels/dbt_tableau-*x86_64*.whl)"
case "$wheel" in
    *manylinux_2_17_x86_64*) ;;
    *) echo "the wheel is not manylinux_2_17: $wheel" >&2; exit 1 ;;
esac
auditwheel show "$wheel" | tee target/wheels/auditwheel.txt
grep -q 'manylinux_2_17_x86_64' target/wheels/auditwheel.txt
# The aarch64 wheel (Graviton CI runners, ARM laptops in Linux VMs) is built and
# checked the same way; it can't run here. Its standard library comes from rustup:
# where rustup can't fetch it, the step says so and the run goes on.
if rustup target list --installed | grep -qx aarch64-unknown-linux-gnu \
    || rustup target add aarch64-unknown-linux-gnu; then
    maturin build --locked --quiet --zig --compatibility manylinux2014 \
        --target aarch64-unknown-linux-gnu --out target/wheels
    auditwheel show target/wheels/dbt_tableau-*aarch64*.whl | tee target/wheels/auditwheel-aarch64.txt
    grep -q 'manylinux_2_17_aarch64' target/wheels/auditwheel-aarch64.txt
else
    echo "WARNING: no aarch64-unknown-linux-gnu standard library (rustup target add failed): the aarch64 wheel was NOT built" >&2
fi
python3 -m venv target/wheel-venv
target/wheel-venv/bin/pip install --quiet --disable-pip-version-check --no-index "$wheel"
export DBT_TABLEAU_INSTALLED="$root/target/wheel-venv/bin/dbt-tableau"
echo "==> cargo nextest run --workspace --all-features (one process per test)"
# Each crate's integration tests are one binary (tests/it/); nextest runs every
# test in its own process, so tests that set a global (the log subscriber, the
# crypto provider, the environment) keep the isolation separate binaries gave them.
if ! cargo nextest --version >/dev/null 2>&1; then
    cargo install cargo-nextest --locked
fi
cargo nextest run --workspace --all-targets --all-features --locked --no-fail-fast \
    --status-level fail --final-status-level slow
cargo test --workspace --doc --all-features --locked
echo "==> benchmark: a quick run on the test build (./scripts/bench.sh runs it in full, release)"
python3 -m py_compile bench/*.py scripts/make-event.py tests/sfn/*.py
BENCH_PROFILE=debug ./scripts/bench.sh --quick --no-build --out target/bench/quick-results.md

#!/usr/bin/env bash
# Release-profile variants: builds the binary with other opt-level / lto settings
# (through CARGO_PROFILE_RELEASE_* variables, so Cargo.toml is untouched; panic stays
# "unwind"), keeps each in target/bench-profiles/, rebuilds the Cargo.toml profile,
# then runs the benchmark with every variant measured next to it.
#   ./bench/profiles.sh                 all variants below
#   ./bench/profiles.sh z-fat 3-thin    some; extra bench/run.py options after --
# Each variant is a full release build of every dependency (minutes on 2 cores).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
declare -A opt=([s-fat]=s [z-thin]=z [z-fat]=z [3-thin]=3)
declare -A lto=([s-fat]=fat [z-thin]=thin [z-fat]=fat [3-thin]=thin)
names=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do names+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ ${#names[@]} -gt 0 ] || names=(s-fat z-thin z-fat 3-thin)
mkdir -p target/bench-profiles
args=()
for name in "${names[@]}"; do
    [ -n "${opt[$name]:-}" ] || { echo "unknown variant $name (have: ${!opt[*]})" >&2; exit 2; }
    out="target/bench-profiles/$name"
    if [ ! -x "$out" ]; then
        echo "==> building variant $name: opt-level=${opt[$name]} lto=${lto[$name]}" >&2
        CARGO_PROFILE_RELEASE_OPT_LEVEL="${opt[$name]}" CARGO_PROFILE_RELEASE_LTO="${lto[$name]}" \
            cargo build --release --locked -p dbt-tableau-refresh
        cp target/release/dbt-tableau-refresh "$out"
    fi
    args+=(--profile "$name=$out")
done
echo "==> rebuilding the Cargo.toml release profile" >&2
cargo build --release --locked -p dbt-tableau-refresh
exec ./scripts/bench.sh --no-build "${args[@]}" "$@"

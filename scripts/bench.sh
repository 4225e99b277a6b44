#!/usr/bin/env bash
# The performance benchmark (issues 6, 11, 12), one command:
#   ./scripts/bench.sh            full run: Rust and the Python reference, a few hundred
#                                 warm invocations each, workflow mode, bounded
#                                 concurrency, the build without the Step Functions
#                                 client, exposure resolution up to 20,000 models;
#                                 writes bench/results.md
#   ./scripts/bench.sh --quick    few invocations, no Python reference, no second build,
#                                 no exposures (cheap: the test command runs it)
# The full run also measures the dbt-tableau command against tableauserverclient
# (issue 13, bench/cli_vs_tsc.py; writes bench/cli_results.md).
# Any other option goes to bench/run.py (see `bench/run.py --help`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/python-tools.sh

requirements="$root/bench/requirements.txt"
stamp="$root/.venv/.bench-requirements.sha"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "==> installing the benchmark's Python packages into .venv" >&2
    pip install --quiet --disable-pip-version-check -r "$requirements"
    echo "$want" > "$stamp"
fi
python3 bench/run.py "$@"
case " $* " in
    *" --quick "* | *" --help "* | *" -h "*) ;;
    *) python3 bench/cli_vs_tsc.py $([[ " $* " == *" --no-build "* ]] && echo --no-build) ;;
esac

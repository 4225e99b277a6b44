#!/usr/bin/env bash
# Regenerates the real dbt artifacts in tests/artifacts/ from tests/dbt_project/
# (dbt-core + dbt-duckdb, versions pinned in scripts/requirements-dbt.txt, installed
# into .venv-dbt at the repo root on first use). The Rust tests read the committed
# output and never need dbt.
#
# Usage: scripts/make-dbt-artifacts.sh
#
# The project is copied to a fixed scratch directory ($DBT_DEMO_DIR, default
# /tmp/dbt-tableau-demo) and run there on a new DuckDB file, so the paths written
# into the artifacts (project_dir, log_path) don't depend on the checkout.
# Three runs, in this order, on the same database (as production jobs share one):
#   build/    one `dbt build`                         -> manifest.json, run_results.json
#   steps/    a job of four steps, like dbt Cloud's: `dbt seed`, `dbt run`,
#             `dbt test`, `dbt docs generate`          -> step1_seed.json,
#             step2_run.json, step3_test.json, step4_docs.json (each step's
#             run_results.json) and manifest.json (the last one written)
#   success/  `dbt build` leaving out the deliberate failures and tag:manual
#                                                      -> manifest.json, run_results.json
# and in each set expected_decision.json: bench/exposures_reference.py's decision.
# The failures are deliberate (see tests/artifacts/README.md), so each command's
# exit code is checked against the one expected: 1 where something fails, else 0.
# Timings, timestamps and invocation ids change from run to run; statuses, nodes
# and their order do not (one thread).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-dbt"
requirements="$root/scripts/requirements-dbt.txt"
out="$root/tests/artifacts"
work="${DBT_DEMO_DIR:-/tmp/dbt-tableau-demo}"

stamp="$venv/.requirements.sha"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/dbt" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "==> installing dbt into .venv-dbt" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    echo "$want" > "$stamp"
fi

# No usage tracking, no version check against the registry, no partial parsing
# (a full parse each time: the manifest never depends on an earlier run).
export DBT_SEND_ANONYMOUS_USAGE_STATS=false DBT_VERSION_CHECK=false DBT_PARTIAL_PARSE=false
export DBT_USE_COLORS=false DBT_DUCKDB_PATH="$work/target/tableau_demo.duckdb"
unset DBT_PROFILES_DIR DBT_TARGET_PATH DBT_PROJECT_DIR

rm -rf "$work"
mkdir -p "$work"
cp -r "$root/tests/dbt_project/." "$work/"
rm -rf "$work/target" "$work/logs"

# dbt_step EXPECTED_EXIT ARGS...: runs one dbt command in the scratch project.
dbt_step() {
    local expected="$1" rc=0
    shift
    echo "==> dbt $* (expecting exit $expected)" >&2
    (cd "$work" && "$venv/bin/dbt" "$@" --profiles-dir .) > "$work/last.log" 2>&1 || rc=$?
    if [ "$rc" != "$expected" ]; then
        cat "$work/last.log" >&2
        echo "dbt $* exited $rc, expected $expected" >&2
        exit 1
    fi
    grep -E "^.{0,20}Done\. |Completed successfully|Catalog written" "$work/last.log" >&2 || true
}

# copy NAME DEST: copies target/NAME from the scratch project.
copy() {
    mkdir -p "$(dirname "$2")"
    cp "$work/target/$1" "$2"
}

rm -rf "$out/build" "$out/steps" "$out/success"

dbt_step 1 build
copy manifest.json "$out/build/manifest.json"
copy run_results.json "$out/build/run_results.json"

dbt_step 0 seed
copy run_results.json "$out/steps/step1_seed.json"
dbt_step 1 run
copy run_results.json "$out/steps/step2_run.json"
dbt_step 1 test
copy run_results.json "$out/steps/step3_test.json"
dbt_step 0 docs generate
copy run_results.json "$out/steps/step4_docs.json"
copy manifest.json "$out/steps/manifest.json"

dbt_step 0 build --exclude revenue_by_currency+ stg_customers+ tag:manual
copy manifest.json "$out/success/manifest.json"
copy run_results.json "$out/success/run_results.json"

# The decision each set should lead to, by bench/exposures_reference.py (the rule
# written plainly in Python), for the Rust tests to compare with.
reference="$root/bench/exposures_reference.py"
python3 "$reference" "$out/build/manifest.json" "$out/build/run_results.json" \
    > "$out/build/expected_decision.json"
python3 "$reference" "$out/steps/manifest.json" "$out/steps/step1_seed.json" \
    "$out/steps/step2_run.json" "$out/steps/step3_test.json" "$out/steps/step4_docs.json" \
    > "$out/steps/expected_decision.json"
python3 "$reference" "$out/success/manifest.json" "$out/success/run_results.json" \
    > "$out/success/expected_decision.json"

"$venv/bin/dbt" --version 2>/dev/null | grep -E "installed|duckdb:" >&2 || true
du -sh "$out"/build "$out"/steps "$out"/success >&2

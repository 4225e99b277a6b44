#!/usr/bin/env bash
# Runs the function locally under `cargo lambda watch` (the Lambda emulator, with
# a Function URL at http://127.0.0.1:9000/lambda-url/dbt-tableau-refresh/).
#
# Built-in defaults need no AWS account and no Tableau: the local demo webhook key
# (the one events/ is signed with), DRY_RUN=true and a sample REFRESH_TARGETS.
# A .env file at the project root (see .env.example; ENV_FILE names another)
# overrides any of them, e.g. with real Tableau credentials and DRY_RUN=false.
# Extra arguments go to watch.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/python-tools.sh

env_file="${ENV_FILE:-.env}"
if [ -f "$env_file" ]; then
    echo "==> loading $env_file" >&2
    set -a
    # shellcheck disable=SC1090
    source "$env_file"
    set +a
fi
export DBT_WEBHOOK_KEY="${DBT_WEBHOOK_KEY-local-demo-webhook-key}"
export DRY_RUN="${DRY_RUN-true}"
sample_targets='[{"workbook":"Sales Overview","project":"Finance","jobs":["123"]},{"datasource":"Orders","jobs":["456"]}]'
export REFRESH_TARGETS="${REFRESH_TARGETS-$sample_targets}"
export RUST_LOG="${RUST_LOG-info}"

echo "==> DRY_RUN=$DRY_RUN REFRESH_TARGETS=$REFRESH_TARGETS" >&2
echo "==> try: curl -s http://127.0.0.1:${PORT:-9000}/lambda-url/dbt-tableau-refresh/ -H 'content-type: application/json' -H \"authorization: \$(scripts/make-event.py events/bodies/run-succeeded.json --print-signature)\" --data-binary @events/bodies/run-succeeded.json" >&2
exec cargo lambda watch --invoke-port "${PORT:-9000}" "$@"

#!/usr/bin/env bash
# Regenerates events/*.json from events/bodies/ with the local demo key.
set -euo pipefail
cd "$(dirname "$0")/.."
mk=scripts/make-event.py
$mk events/bodies/run-succeeded.json > events/run-succeeded.json
$mk events/bodies/run-succeeded.json --base64 > events/run-succeeded-base64.json
$mk events/bodies/run-errored.json > events/run-errored.json
$mk events/bodies/run-started.json > events/run-started.json
$mk events/bodies/run-succeeded.json --key not-the-demo-key > events/bad-signature.json

#!/usr/bin/env bash
# Creates .venv (once) with the Python tools the tests and the local run use:
# moto[server] (Secrets Manager emulator), cfn-lint, cargo-lambda (brings zig).
# Usage: source scripts/python-tools.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
requirements="$root/scripts/requirements-dev.txt"
stamp="$venv/.requirements.sha"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "==> installing Python tools into .venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    echo "$want" > "$stamp"
fi
export PATH="$venv/bin:$PATH"

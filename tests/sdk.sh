#!/usr/bin/env bash
# The gateway with the official `openai` and `anthropic` Python SDKs (tests/sdk.py): installs
# them in a virtual environment under target/ (once), builds pacer unless PACER names one,
# runs the test. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${PACER_PYENV:-target/pyenv-sdk}
if ! "$venv/bin/python" -c "import openai, anthropic" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "openai==3.54.0" "anthropic==2.16.0"
fi
# PACER: a pacer binary already built (scripts/test.sh passes the one its tests built).
if [ -z "${PACER:-}" ]; then
  cargo build -q -p pacer-cli
  PACER=target/debug/pacer
fi
exec "$venv/bin/python" tests/sdk.py --pacer "$PACER"

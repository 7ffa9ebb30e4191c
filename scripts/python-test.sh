#!/usr/bin/env bash
# The Python package: builds the wheel with maturin (abi3, stripped; the debug profile, so it
# shares the workspace's build), installs it into a fresh virtual environment with nothing
# else of Pacer's, and runs its pytest tests (crates/pacer-py/tests) there. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=target/pyenv-tools
if ! "$tools/bin/maturin" --version >/dev/null 2>&1; then
  python3 -m venv "$tools"
  "$tools/bin/pip" install -q --disable-pip-version-check "maturin==1.16.0"
fi
rm -rf target/wheels
"$tools/bin/maturin" build --quiet --strip -m crates/pacer-py/Cargo.toml -o target/wheels
wheel=$(ls target/wheels/pacer-*.whl)
echo "python-test: $(basename "$wheel") ($(du -h "$wheel" | cut -f1))"
venv=target/pyenv-wheel
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "$wheel" pytest
# From outside the repository, so `import pacer` is the installed package.
cd "$(mktemp -d)"
PATH="$OLDPWD/$venv/bin:$PATH" PACER_REPO="$OLDPWD" "$OLDPWD/$venv/bin/python" -m pytest -q "$OLDPWD/crates/pacer-py/tests"

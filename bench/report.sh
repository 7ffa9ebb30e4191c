#!/usr/bin/env bash
# `pacer report` at scale: a synthetic run folder of N records (default 1,000,000) over three
# models and six hours, with failures of every kind, refusals, truncations, categories,
# logprobs on a tenth of one model's records, cool-downs, 30,000 retries, 5,000 refusals and
# limit changes in events.jsonl,
# and answers of 40–1,500 characters. Reports the time, the peak memory and the report's size.
#
#   bench/report.sh [N] [PROMPTS]     (defaults: 1000000 500)
#
# Set PACER to use a binary already built; KEEP=1 keeps the folder (its path is printed).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
prompts=${2:-500}
work=$(mktemp -d)
if [ -z "${KEEP:-}" ]; then trap 'rm -rf "$work"' EXIT; fi
if [ -z "${PACER:-}" ]; then
    cargo build --release -q -p pacer-cli
    PACER=./target/release/pacer
fi
mkdir -p "$work/run"
python3 - "$n" "$work/run" <<'PY'
import json, math, random, sys
from datetime import datetime, timedelta, timezone
n, out = int(sys.argv[1]), sys.argv[2]
rng = random.Random(7)
t0 = datetime(2026, 11, 30, 8, 0, 0, tzinfo=timezone.utc)
span = 6 * 3600.0
models = [("gpt-4o-mini", "openai", 0.8, 0.00015), ("claude-haiku", "anthropic", 1.4, 0.0008),
          ("local-smol", "local", 0.3, None)]
kinds = ["RateLimit", "Timeout", "Server", "ContentFilter", "InvalidResponse"]
categories = ["cve_existence", "package_hallucination", "api_fabrication", "citation",
              "rfc_existence", "cwe_mapping"]
words = ("the request answer model limit token pacing record journal resume exists does not "
         "package version function python library vulnerability advisory").split()
with open(f"{out}/results.jsonl", "w") as f:
    for i in range(n):
        label, provider, base, price = models[i % 3]
        prompt = i // 3
        end = t0 + timedelta(seconds=span * i / n + rng.random())
        latency = base * math.exp(rng.gauss(0, 0.5))
        queue = rng.expovariate(2.0)
        ok = rng.random() > 0.03
        words_out = rng.randint(8, 250)
        text = " ".join(rng.choice(words) for _ in range(words_out)) if ok else None
        out_tokens = words_out if ok else 0
        finish = rng.choices(["stop", "length", "refusal"], [90, 8, 2])[0] if ok else None
        rec = {
            "run_id": "b3e1c0de", "prompt_id": f"prompt_{prompt:07d}", "model": label,
            "model_version": label, "full_response": text,
            "tokens_used": {"input": 40, "output": out_tokens, "total": 40 + out_tokens},
            "token_logprobs": None, "sampling_params": {"temperature": 0.0, "seed": 42},
            "timestamp": end.isoformat().replace("+00:00", "Z"),
            "elapsed_seconds": latency + queue,
            "error": None if ok else {"kind": rng.choice(kinds), "status": 500, "message": "failed"},
            "retry_count": 0 if ok else 3,
            "prompt_category": categories[prompt % 6], "is_synthetic_probe": prompt % 5 == 0,
            "provider": provider, "label": label, "sample": 0,
            "status": "ok" if ok else "error", "finish_reason": finish,
            "truncated": finish == "length", "parsed": None, "attempts": 1 if ok else 4,
            "latency_seconds": latency if ok else None, "queue_seconds": queue,
            "usage_all_attempts": {"input": 40, "output": out_tokens, "total": 40 + out_tokens},
            "cost_usd": None if price is None else price * (40 + out_tokens) / 1000,
            "mode": "live", "batch_id": None,
        }
        if ok and provider == "local" and prompt % 10 == 0:
            toks = text.split(" ")[:50]
            rec["token_logprobs"] = [
                {"token_position": j, "token": (" " if j else "") + t, "logprob": -rng.expovariate(3),
                 "top_tokens": [t] * 5, "top_logprobs": [-0.1] * 5} for j, t in enumerate(toks)]
        f.write(json.dumps(rec) + "\n")
with open(f"{out}/run.json", "w") as f:
    json.dump({"run_id": "b3e1c0de", "started_at": t0.isoformat().replace("+00:00", "Z"),
               "prompts_file": None, "config": {"models": [
                   {"name": "gpt-4o-mini", "label": "gpt-4o-mini", "rpm": 3000},
                   {"name": "claude-haiku", "label": "claude-haiku", "rpm": 3000, "tpm": 400000},
                   {"name": "local-smol", "label": "local-smol"}]}}, f)
with open(f"{out}/events.jsonl", "w") as f:
    def ev(t, **kw):
        f.write(json.dumps({"time": (t0 + timedelta(seconds=t)).isoformat().replace("+00:00", "Z"), **kw}) + "\n")
    ev(0, event="session", run_id="b3e1c0de", resumed=False)
    ev(2 * 3600, event="session", run_id="b3e1c0de", resumed=True)
    for k in range(200):
        ev(rng.random() * span, lane="claude-haiku", event="cooldown", seconds=rng.uniform(1, 30),
           status=429, cause="rate limit exceeded")
    for k in range(30000):
        ev(rng.random() * span, lane=models[k % 3][0], event="retry", item=f"prompt_{k:07d}",
           kind="Server", retry=1, delay_seconds=rng.uniform(0.5, 4))
    for k in range(5000):
        ev(rng.random() * span, lane="gpt-4o-mini", event="refused", status=429,
           cause="capacity, retry after 1 s")
    ev(60, lane="gpt-4o-mini", event="limit", dimension="tpm", **{"from": None, "to": 2000000})
    ev(9000, lane="claude-haiku", event="limit", dimension="rpm", **{"from": 3000, "to": 2000})
PY
size=$(du -h "$work/run/results.jsonl" | cut -f1)
echo "report.sh: $n records ($size of results.jsonl)"
/usr/bin/time -v "$PACER" report "$work/run" -o "$work/report.html" --prompts "$prompts" \
    2> "$work/time.log" || { cat "$work/time.log"; exit 1; }
grep -E "wrote" "$work/time.log"
wall=$(grep "Elapsed (wall clock)" "$work/time.log" | awk '{print $NF}')
rss=$(grep "Maximum resident set size" "$work/time.log" | awk '{print $NF}')
bytes=$(stat -c %s "$work/report.html")
echo "report.sh: wall $wall, peak memory $((rss / 1024)) MiB, report $((bytes / 1024)) KiB"
if [ -n "${KEEP:-}" ]; then echo "report.sh: kept $work"; fi

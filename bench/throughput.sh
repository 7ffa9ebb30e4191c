#!/usr/bin/env bash
# Records per second through the whole `pacer run` CLI with the mock provider at zero latency
# (results written and flushed), and peak memory, for N prompts (default 1,000,000).
#
#   bench/throughput.sh [N] [CONCURRENCY]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
concurrency=${2:-64}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --release -q -p pacer-cli
python3 - "$n" > "$work/prompts.jsonl" <<'PY'
import sys
n = int(sys.argv[1])
out = sys.stdout
for i in range(1, n + 1):
    out.write('{"prompt_id":"p%07d","prompt":"Does CVE-2021-%05d exist? Answer yes or no.","category":"cve_existence"}\n' % (i, i % 99999))
PY
echo "prompts: $n ($(du -h "$work/prompts.jsonl" | cut -f1)), concurrency $concurrency"
/usr/bin/time -v ./target/release/pacer run "$work/prompts.jsonl" -m mock:bench \
    --concurrency "$concurrency" --max-tokens 16 -o "$work/out" --quiet 2> "$work/time.txt"
records=$(wc -l < "$work/out/results.jsonl")
secs=$(grep 'Elapsed (wall clock)' "$work/time.txt" | awk '{print $NF}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
rss=$(grep 'Maximum resident set size' "$work/time.txt" | awk '{print $NF}')
echo "records: $records in ${secs}s = $(python3 -c "print(round($records/$secs))") records/s"
echo "peak RSS: $((rss / 1024)) MiB; results.jsonl $(du -h "$work/out/results.jsonl" | cut -f1)"

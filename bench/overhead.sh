#!/usr/bin/env bash
# Pacer's own overhead: requests per second through the whole `pacer run` CLI (JSONL read,
# limiter, OpenAI provider over HTTP/1.1 keep-alive, results written) against an instant
# `pacer mock`, next to wrk hammering the same server in the same run with the same request.
#
#   bench/overhead.sh [N] [CONCURRENCY] [WRK_SECONDS]     (defaults: 200000 64 10)
#
# Needs wrk (Debian: apt-get install wrk). Set PACER to use a binary already built.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200000}
concurrency=${2:-64}
wrk_seconds=${3:-10}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }
work=$(mktemp -d)
if [ -z "${PACER:-}" ]; then
    cargo build --release -q -p pacer-cli
    PACER=./target/release/pacer
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$PACER" mock --port "$port" 2> "$work/mock.log" &
mock=$!
trap 'kill $mock 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/stats" >/dev/null && break; sleep 0.05; done

python3 - "$n" > "$work/prompts.jsonl" <<'PY'
import sys
for i in range(1, int(sys.argv[1]) + 1):
    sys.stdout.write('{"prompt_id":"p%07d","prompt":"Does CVE-2021-%05d exist? Answer yes or no."}\n' % (i, i % 99999))
PY

echo "== wrk: ${wrk_seconds}s, 2 threads, $concurrency connections, POST /v1/chat/completions"
wrk -t2 -c"$concurrency" -d"${wrk_seconds}s" -s bench/wrk-chat.lua \
    "http://127.0.0.1:$port/v1/chat/completions" | tee "$work/wrk.txt"
wrk_rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
curl -sf -X POST "http://127.0.0.1:$port/stats/reset" >/dev/null

echo "== pacer run: $n prompts, concurrency $concurrency, results written"
start=$(date +%s.%N)
OPENAI_BASE_URL="http://127.0.0.1:$port/v1" OPENAI_API_KEY=sk-bench-not-a-real-key \
    /usr/bin/time -v "$PACER" run "$work/prompts.jsonl" -m openai:gpt-4o-mini \
    --concurrency "$concurrency" --max-tokens 16 -o "$work/out" --quiet 2> "$work/time.txt"
end=$(date +%s.%N)
records=$(wc -l < "$work/out/results.jsonl")
ok=$(grep -c '"status":"ok"' "$work/out/results.jsonl" || true)
served=$(curl -sf "http://127.0.0.1:$port/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])')
rss=$(grep 'Maximum resident set size' "$work/time.txt" | awk '{print $NF}')
secs=$(python3 -c "print(round($end - $start, 2))")
pacer_rps=$(python3 -c "print(round($records / ($end - $start)))")
echo "records: $records ($ok ok), requests served: $served, in ${secs}s, peak RSS $((rss / 1024)) MiB"
echo
printf '%-34s %12s\n' "load" "requests/s"
printf '%-34s %12s\n' "wrk (raw HTTP, same server)" "$wrk_rps"
printf '%-34s %12s\n' "pacer run (records written)" "$pacer_rps"

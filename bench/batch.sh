#!/usr/bin/env bash
# Batch mode at scale: N prompts on two models (OpenAI's Batch API and Anthropic's Message
# Batches) through `pacer run` against `pacer mock`, each batch taking PROCESSING seconds.
# Reports the batches, the wall time, pacer's peak memory, and the mock's count of lines
# submitted (exactly N per model when nothing fails).
#
#   bench/batch.sh [N] [PROCESSING]     (defaults: 100000 10s)
#
# MOCK_FLAGS adds `pacer mock` flags, e.g. conditions Pacer is not told about:
#   MOCK_FLAGS="--batch-expire 0.02 --batch-fail 0.01 --batch-queue-tokens 1500000"
#
# Set PACER to use a binary already built.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
processing=${2:-10s}
work=$(mktemp -d)
if [ -z "${PACER:-}" ]; then
    cargo build --release -q -p pacer-cli
    PACER=./target/release/pacer
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# shellcheck disable=SC2086
"$PACER" mock --port "$port" --batch-time "$processing" ${MOCK_FLAGS:-} 2> "$work/mock.log" &
mock=$!
trap 'kill $mock 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/stats" >/dev/null && break; sleep 0.05; done

python3 - "$n" > "$work/prompts.jsonl" <<'PY'
import sys
for i in range(1, int(sys.argv[1]) + 1):
    sys.stdout.write('{"prompt_id":"p%07d","prompt":"Does CVE-2021-%05d exist? Answer yes or no."}\n' % (i, i % 99999))
PY
cat > "$work/pacer.toml" <<EOF
prompts_file = "prompts.jsonl"
output_dir = "out"

[[models]]
name = "gpt-4o-mini"
type = "openai"
base_url = "http://127.0.0.1:$port/v1"
api_key = "sk-bench-not-a-real-key"
mode = "batch"
batch_poll_secs = 2
max_tokens = 16

[[models]]
name = "claude-haiku-4-5"
type = "anthropic"
base_url = "http://127.0.0.1:$port"
api_key = "sk-bench-not-a-real-key"
mode = "batch"
batch_poll_secs = 2
max_tokens = 16
EOF

echo "== pacer run: $n prompts × 2 models in batch mode, $processing per batch"
start=$(date +%s.%N)
(cd "$work" && /usr/bin/time -f '%M' -o time.txt "$OLDPWD/$PACER" run -c pacer.toml -q) \
    || { echo "pacer run failed" >&2; exit 1; }
end=$(date +%s.%N)
records=$(wc -l < "$work/out/results.jsonl")
failed=$(grep -c '"status":"error"' "$work/out/results.jsonl" || true)
batches=$(grep -c '"event":"created"' "$work/out/batches.jsonl")
echo "records:        $records ($failed failed)"
echo "batches:        $batches"
printf 'wall time:      %.1f s\n' "$(echo "$end - $start" | bc)"
echo "peak memory:    $(( $(cat "$work/time.txt") / 1024 )) MiB (max RSS of pacer run)"
curl -sf "http://127.0.0.1:$port/stats" | python3 -c '
import json, sys
s = json.load(sys.stdin)
print("mock: batches created %d, refused %d, lines submitted %d (failed %d, expired %d), files uploaded %d" % (
    s["batches_created"], s["batches_refused"], s["batch_lines_submitted"],
    s["batch_lines_failed"], s["batch_lines_expired"], s["files_uploaded"]))'

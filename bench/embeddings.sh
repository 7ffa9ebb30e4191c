#!/usr/bin/env bash
# The OpenAI cookbook's example workload: N embedding requests of one sentence each
# (10,000 by default) against `pacer mock` limited to RPM requests and TPM tokens a minute
# (3,000 and 1,000,000, the limits the cookbook's example pairs it with), sent by `pacer run`
# twice: from a Pacer prompts file, and from the cookbook script's own request file
# (`{"model", "input", "metadata"}` a line) read as it is. Then once more with one text a
# request (`embed_batch = 1`), the way the cookbook's script sends them.
# Reports requests sent, wall time and 429s from the mock's own counters.
#
#   bench/embeddings.sh [N] [RPM] [TPM] [EMBED_BATCH]   (defaults: 10000 3000 1000000 100)
#
# MOCK_FLAGS adds `pacer mock` flags (conditions Pacer is not told about), e.g.
#   MOCK_FLAGS="--fail-429 0.02 --latency-ms 300 --window-secs 10"
# Set PACER to use a binary already built.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
rpm=${2:-3000}
tpm=${3:-1000000}
embed_batch=${4:-100}
work=$(mktemp -d)
if [ -z "${PACER:-}" ]; then
    cargo build --release -q -p pacer-cli
    PACER=./target/release/pacer
fi
PACER=$(realpath "$PACER")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# shellcheck disable=SC2086
"$PACER" mock --port "$port" --rpm "$rpm" --tpm "$tpm" ${MOCK_FLAGS:-} 2> "$work/mock.log" &
mock=$!
trap 'kill $mock 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/stats" >/dev/null && break; sleep 0.05; done

python3 - "$n" "$work" <<'PY'
import json, random, sys
n, work = int(sys.argv[1]), sys.argv[2]
random.seed(7)
words = ("the a model limit token request rate minute server client queue batch vector "
         "sentence embedding quiet river mountain city light paper music window garden").split()
with open(f"{work}/prompts.jsonl", "w") as pacer, open(f"{work}/cookbook.jsonl", "w") as cookbook:
    for i in range(n):
        sentence = " ".join(random.choice(words) for _ in range(random.randint(6, 16))).capitalize() + "."
        pacer.write(json.dumps({"id": f"s{i:05d}", "prompt": sentence}) + "\n")
        cookbook.write(json.dumps({"model": "text-embedding-3-small", "input": sentence,
                                   "metadata": {"row_id": i}}) + "\n")
PY

config() {  # prompts file, embed_batch
    cat <<TOML
prompts_file = "$1"
output_dir = "out"

[[models]]
name = "text-embedding-3-small"
type = "openai"
base_url = "http://127.0.0.1:$port/v1"
api_key = "sk-bench-not-a-real-key"
rpm = $rpm
tpm = $tpm
embed_batch = $2
TOML
}

run() {  # title, prompts file, embed_batch
    curl -sf -X POST "http://127.0.0.1:$port/stats/reset" >/dev/null || true
    config "$2" "$3" > "$work/pacer.toml"
    rm -rf "$work/out"
    local start end
    start=$(date +%s.%N)
    (cd "$work" && "$PACER" run -c pacer.toml -q) || { echo "pacer run failed" >&2; exit 1; }
    end=$(date +%s.%N)
    local records ok
    records=$(wc -l < "$work/out/results.jsonl")
    ok=$(grep -c '"status":"ok"' "$work/out/results.jsonl" || true)
    echo "== $1"
    printf '   records %d (%d ok), wall %.1f s, ' "$records" "$ok" "$(echo "$end - $start" | bc)"
    curl -sf "http://127.0.0.1:$port/stats" | python3 -c '
import json, sys
s = json.load(sys.stdin)
print("requests %d (embedding %d, inputs %d), 429s for a limit %d, injected 429s %d, 500s %d, prompt tokens %d" % (
    s["requests"], s["embedding_requests"], s["embedding_inputs"], s["rate_limited"], s["busy"],
    s["server_errors"], s["prompt_tokens"]))'
}

echo "pacer mock: $rpm RPM, $tpm TPM${MOCK_FLAGS:+, $MOCK_FLAGS}; $n sentences"
run "Pacer prompts file, embed_batch = $embed_batch" prompts.jsonl "$embed_batch"
run "cookbook request file as it is, embed_batch = $embed_batch" cookbook.jsonl "$embed_batch"
run "cookbook request file, one text a request (embed_batch = 1)" cookbook.jsonl 1

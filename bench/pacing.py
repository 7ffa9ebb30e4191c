#!/usr/bin/env python3
"""Pacing benchmark: `pacer run` against `pacer mock`, one scenario at a time.

For each scenario this starts a fresh `pacer mock` on a free loopback port with the
scenario's enforced limits (token buckets holding `--window` seconds of each limit), runs
`pacer run` against it through the `openai` provider, and prints:

  ideal   the time the limits allow: max(requests / RPM, tokens charged / TPM), in seconds
  actual  wall time of `pacer run`, from start to exit
  eff     ideal / actual (above 1 means the run used the server's initial burst)
  done    items completed (records with status ok) out of the prompts
  429s    rate-limit refusals the mock sent (its own count, from GET /stats)
  sent    requests the mock received (retries included)

Usage:
  bench/pacing.py                  # every scenario
  bench/pacing.py requests tokens  # some of them (requests, tokens, learned, faulty,
                                   # claude, gemini)
  PACER=target/release/pacer bench/pacing.py   # a pacer binary already built

Standard library only; builds `pacer` in release mode unless PACER is set.
"""

import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = "gpt-4o-mini"

WORDS = (
    "the of and to in is that for it as was with be by on not he this are or his from at "
    "which but have an they you were her she there been one all we their has would when if "
    "so no what up more out can said about other into them then time these could some my "
    "model token limit rate request window server client retry pace budget record prompt"
).split()

# name: (mock flags, pacer flags, prompts, words per prompt (lo, hi), max_tokens, limits)
SCENARIOS = {
    "requests": dict(
        about="requests-bound: 1,200 RPM over 2 s windows, 300 ms latency, 800 prompts",
        mock=["--rpm", "1200", "--window", "2s", "--latency", "300ms", "--latency-sd", "30ms"],
        run=["--rpm", "1200", "--concurrency", "32"],
        prompts=800, words=(5, 20), max_tokens=64, rpm=1200, tpm=None,
    ),
    "tokens": dict(
        about="tokens-bound: 60,000 TPM over 2 s windows, 300 prompts of 10-80 words, max_tokens 64",
        mock=["--tpm", "60000", "--window", "2s", "--latency", "300ms", "--latency-sd", "30ms"],
        run=["--tpm", "60000", "--concurrency", "32"],
        prompts=300, words=(10, 80), max_tokens=64, rpm=None, tpm=60000,
    ),
    "learned": dict(
        about="limits not configured: 1,200 RPM and 200,000 TPM learned from x-ratelimit headers",
        mock=["--rpm", "1200", "--tpm", "200000", "--window", "2s", "--latency", "300ms",
              "--latency-sd", "30ms"],
        run=["--concurrency", "32"],
        prompts=800, words=(5, 20), max_tokens=64, rpm=1200, tpm=200000,
    ),
    "faulty": dict(
        about="faulty upstream: 5% 500, 3% 503, 2% dropped, 2% truncated JSON; 1,200 RPM configured",
        mock=["--rpm", "1200", "--window", "2s", "--latency", "300ms", "--latency-sd", "30ms",
              "--fail-500", "0.05", "--fail-503", "0.03", "--drop", "0.02", "--truncate", "0.02",
              "--seed", "7"],
        run=["--rpm", "1200", "--concurrency", "32", "--max-retries", "6"],
        prompts=800, words=(5, 20), max_tokens=64, rpm=1200, tpm=None,
    ),
    "claude": dict(
        about="Claude-style limits: 1,200 RPM, 30,000 input and 12,000 output tokens per minute, "
              "2 s windows, max_tokens 64, through the anthropic provider",
        provider="anthropic", model="claude-sonnet-4-5",
        mock=["--rpm", "1200", "--itpm", "30000", "--otpm", "12000", "--window", "2s",
              "--latency", "300ms", "--latency-sd", "30ms"],
        run=["--rpm", "1200", "--itpm", "30000", "--otpm", "12000", "--concurrency", "32"],
        prompts=200, words=(10, 80), max_tokens=64, rpm=1200, tpm=None, itpm=30000,
        otpm=12000,
    ),
    "gemini": dict(
        about="Gemini: 600 RPM enforced over 2 s windows, no rate-limit headers, through the "
              "gemini provider",
        provider="gemini", model="gemini-2.5-flash",
        mock=["--rpm", "600", "--window", "2s", "--latency", "300ms", "--latency-sd", "30ms"],
        run=["--rpm", "600", "--concurrency", "32"],
        prompts=300, words=(5, 20), max_tokens=64, rpm=600, tpm=None,
    ),
}

# How each provider is pointed at the mock: the -m prefix and its environment.
PROVIDERS = {
    "openai": ("openai", lambda port: {"OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
                                       "OPENAI_API_KEY": "sk-bench-not-a-real-key"}),
    "anthropic": ("anthropic", lambda port: {"ANTHROPIC_BASE_URL": f"http://127.0.0.1:{port}",
                                             "ANTHROPIC_API_KEY": "sk-ant-bench-not-a-real-key"}),
    "gemini": ("gemini", lambda port: {"GEMINI_BASE_URL": f"http://127.0.0.1:{port}/v1beta",
                                       "GEMINI_API_KEY": "bench-not-a-real-key"}),
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_prompts(path, count, words, seed):
    rng = random.Random(seed)
    with open(path, "w") as out:
        for i in range(count):
            n = rng.randint(*words)
            text = " ".join(rng.choice(WORDS) for _ in range(n))
            out.write(json.dumps({"prompt_id": f"p{i:05d}", "prompt": text}) + "\n")


def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as reply:
        return json.load(reply)


def wait_ready(url, proc):
    for _ in range(200):
        if proc.poll() is not None:
            raise SystemExit(f"pacer mock exited early with {proc.returncode}")
        try:
            return get_json(url)
        except OSError:
            time.sleep(0.05)
    raise SystemExit("pacer mock did not start")


def run_scenario(pacer, name, spec, work):
    port = free_port()
    mock = subprocess.Popen(
        [pacer, "mock", "--port", str(port)] + spec["mock"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        stats_url = f"http://127.0.0.1:{port}/stats"
        wait_ready(stats_url, mock)
        prompts = os.path.join(work, f"{name}.jsonl")
        write_prompts(prompts, spec["prompts"], spec["words"], seed=len(name))
        out = os.path.join(work, f"out-{name}")
        prefix, settings = PROVIDERS[spec.get("provider", "openai")]
        env = dict(os.environ, **settings(port))
        model = f"{prefix}:{spec.get('model', MODEL)}"
        cmd = [pacer, "run", prompts, "-m", model, "-o", out, "--fresh", "--quiet",
               "--max-tokens", str(spec["max_tokens"])] + spec["run"]
        started = time.monotonic()
        code = subprocess.run(cmd, env=env).returncode
        actual = time.monotonic() - started
        stats = get_json(stats_url)
    finally:
        mock.terminate()
        mock.wait()
    done = 0
    with open(os.path.join(out, "results.jsonl")) as results:
        for line in results:
            done += json.loads(line).get("status") == "ok"
    ideal = 0.0
    if spec["rpm"]:
        ideal = max(ideal, spec["prompts"] / spec["rpm"] * 60)
    if spec["tpm"]:
        # Every admitted request was charged its prompt plus max_tokens; the first admission
        # of each item is what the ideal counts, so use the successful items' share.
        charged = stats["tokens_charged"] * spec["prompts"] / max(stats["requests"], 1)
        ideal = max(ideal, charged / spec["tpm"] * 60)
    # Input and output limits are settled to what was used: the tokens the mock billed (a
    # refused request bills none).
    if spec.get("itpm"):
        ideal = max(ideal, stats["prompt_tokens"] / spec["itpm"] * 60)
    if spec.get("otpm"):
        ideal = max(ideal, stats["completion_tokens"] / spec["otpm"] * 60)
    return dict(name=name, ideal=ideal, actual=actual, eff=ideal / actual, done=done,
                prompts=spec["prompts"], r429=stats["rate_limited"], sent=stats["requests"],
                code=code, stats=stats)


def main():
    names = sys.argv[1:] or list(SCENARIOS)
    for name in names:
        if name not in SCENARIOS:
            raise SystemExit(f"unknown scenario {name!r}; expected one of {', '.join(SCENARIOS)}")
    pacer = os.environ.get("PACER")
    if not pacer:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "pacer-cli"], cwd=ROOT,
                       check=True)
        pacer = os.path.join(ROOT, "target", "release", "pacer")
    with tempfile.TemporaryDirectory() as work:
        rows = []
        for name in names:
            print(f"# {name}: {SCENARIOS[name]['about']}", file=sys.stderr)
            rows.append(run_scenario(pacer, name, SCENARIOS[name], work))
    print(f"{'scenario':<10} {'ideal':>7} {'actual':>7} {'eff':>6} {'done':>9} {'429s':>5} "
          f"{'sent':>5}  exit")
    for r in rows:
        print(f"{r['name']:<10} {r['ideal']:>6.1f}s {r['actual']:>6.1f}s {r['eff']:>6.3f} "
              f"{r['done']:>4}/{r['prompts']:<4} {r['r429']:>5} {r['sent']:>5}  {r['code']}")
    faulty = [r for r in rows if r["name"] == "faulty"]
    for r in faulty:
        s = r["stats"]
        print(f"faulty upstream sent: {s['server_errors']} x 500, {s['overloaded']} x 503, "
              f"{s['dropped']} dropped, {s['truncated']} truncated")


if __name__ == "__main__":
    main()

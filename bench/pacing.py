#!/usr/bin/env python3
"""Pacing benchmark: `pacer run` (or `pacer serve`) against `pacer mock`, one scenario at a time.

For each scenario this starts a fresh `pacer mock` on a free loopback port with the
scenario's enforced limits (token buckets holding `--window` seconds of each limit), runs
`pacer run` against it through a provider, and prints:

  ideal   the time the server allows: what its buckets hold goes at once, the rest at the
          limit's rate, plus one mean latency: max over limits of
          (units − limit × window / 60) / (limit / 60) + latency, in seconds
  actual  wall time of `pacer run`, from start to exit
  eff     ideal / actual
  done    items completed (records with status ok) out of the prompts
  429s    rate-limit refusals the mock sent for a limit (its own count, from GET /stats);
          injected capacity 429s (--fail-429) are counted apart, as `busy`
  sent    requests the mock received (retries included)

`fairness` runs `pacer serve` instead: 16 clients each send 6 requests one after another
through the gateway at 120 RPM over 2 s windows, and it reports the largest queue wait the
gateway's usage log shows and the requests it refused.

Usage:
  bench/pacing.py                  # every scenario
  bench/pacing.py requests minute  # some of them (see SCENARIOS)
  PACER=target/release/pacer bench/pacing.py   # a pacer binary already built
  PACER=old/pacer PACER_MOCK=target/release/pacer bench/pacing.py   # an older pacer, this mock

Standard library only; builds `pacer` in release mode unless PACER is set. No scenario sets
`--concurrency`: in flight follows the limit by default.
"""

import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = "gpt-4o-mini"

WORDS = (
    "the of and to in is that for it as was with be by on not he this are or his from at "
    "which but have an they you were her she there been one all we their has would when if "
    "so no what up more out can said about other into them then time these could some my "
    "model token limit rate request window server client retry pace budget record prompt"
).split()

# Each scenario: the mock's flags, pacer's flags, prompts, words per prompt (lo, hi),
# max_tokens, the limits (for the ideal), the window (s) and mean latency (s).
LAT = ["--latency", "300ms", "--latency-sd", "30ms"]
SCENARIOS = {
    "latency": dict(
        about="slow replies: 1,200 RPM over 2 s windows, 4 s replies, 600 prompts",
        mock=["--rpm", "1200", "--window", "2s", "--latency", "4s", "--latency-sd", "200ms"],
        run=["--rpm", "1200"],
        prompts=600, words=(5, 20), max_tokens=64, rpm=1200, window=2, latency=4.0,
    ),
    "minute": dict(
        about="a whole-minute bucket: 600 RPM counted over 60 s, 300 ms replies, 900 prompts",
        mock=["--rpm", "600", "--window", "60s"] + LAT,
        run=["--rpm", "600"],
        prompts=900, words=(5, 20), max_tokens=64, rpm=600, window=60, latency=0.3,
    ),
    "requests": dict(
        about="requests-bound: 1,200 RPM over 2 s windows, 300 ms replies, 800 prompts",
        mock=["--rpm", "1200", "--window", "2s"] + LAT,
        run=["--rpm", "1200"],
        prompts=800, words=(5, 20), max_tokens=64, rpm=1200, window=2, latency=0.3,
    ),
    "window10": dict(
        about="10 s windows, limits learned from the headers: 1,200 RPM, 1,000 prompts",
        mock=["--rpm", "1200", "--window", "10s"] + LAT,
        run=[],
        prompts=1000, words=(5, 20), max_tokens=64, rpm=1200, window=10, latency=0.3,
    ),
    "tokens": dict(
        about="tokens-bound: 60,000 TPM over 2 s windows, 300 prompts of 10-80 words, max_tokens 64",
        mock=["--tpm", "60000", "--window", "2s"] + LAT,
        run=["--tpm", "60000"],
        prompts=300, words=(10, 80), max_tokens=64, tpm=60000, window=2, latency=0.3,
    ),
    "learned": dict(
        about="limits not configured: 1,200 RPM and 200,000 TPM learned from x-ratelimit headers",
        mock=["--rpm", "1200", "--tpm", "200000", "--window", "2s"] + LAT,
        run=[],
        prompts=800, words=(5, 20), max_tokens=64, rpm=1200, tpm=200000, window=2,
        latency=0.3,
    ),
    "flaky": dict(
        about="flaky server: 3,000 RPM over 2 s windows, 50 ms replies; 5% 500, 3% 503, 2% "
              "dropped, 2% broken JSON, 3% 429s while the limits have room (retry-after: 1)",
        mock=["--rpm", "3000", "--window", "2s", "--latency", "50ms", "--latency-sd", "10ms",
              "--fail-500", "0.05", "--fail-503", "0.03", "--drop", "0.02", "--truncate", "0.02",
              "--fail-429", "0.03", "--seed", "7"],
        run=["--rpm", "3000", "--max-retries", "8"],
        prompts=2000, words=(5, 20), max_tokens=64, rpm=3000, window=2, latency=0.05,
    ),
    "shared": dict(
        about="a key shared with a second client spending half the limit: 1,200 RPM over 2 s "
              "windows, 300 ms replies, 400 prompts",
        mock=["--rpm", "1200", "--window", "2s"] + LAT,
        run=["--rpm", "1200"],
        prompts=400, words=(5, 20), max_tokens=64, rpm=1200, window=2, latency=0.3,
        other_rps=10.0,
    ),
    "claude": dict(
        about="Claude-style limits: 1,200 RPM, 30,000 input and 12,000 output tokens per minute, "
              "2 s windows, max_tokens 64, through the anthropic provider",
        provider="anthropic", model="claude-sonnet-4-5",
        mock=["--rpm", "1200", "--itpm", "30000", "--otpm", "12000", "--window", "2s"] + LAT,
        run=["--rpm", "1200", "--itpm", "30000", "--otpm", "12000"],
        prompts=200, words=(10, 80), max_tokens=64, rpm=1200, itpm=30000, otpm=12000,
        window=2, latency=0.3,
    ),
    "gemini": dict(
        about="Gemini: 600 RPM enforced over 2 s windows, no rate-limit headers, through the "
              "gemini provider",
        provider="gemini", model="gemini-2.5-flash",
        mock=["--rpm", "600", "--window", "2s"] + LAT,
        run=["--rpm", "600"],
        prompts=300, words=(5, 20), max_tokens=64, rpm=600, window=2, latency=0.3,
    ),
    "fairness": dict(
        about="16 clients x 6 requests one after another through pacer serve, 120 RPM over 2 s "
              "windows, a 30 s queue bound",
        serve=True, clients=16, per_client=6, rpm=120, window=2, latency=0.3,
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


def start_mock(pacer, flags):
    port = free_port()
    # PACER_MOCK: another build's `pacer mock`, to compare two builds against one server.
    mock = subprocess.Popen(
        [os.environ.get("PACER_MOCK", pacer), "mock", "--port", str(port)] + flags,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wait_ready(f"http://127.0.0.1:{port}/stats", mock)
    return port, mock


def post(url, body, headers):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers=dict({"content-type": "application/json"}, **headers))
    try:
        with urllib.request.urlopen(request, timeout=120) as reply:
            return reply.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def other_client(port, rps, stop, counts):
    """Another user of the same key: `rps` requests a second, whatever comes back."""
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    body = {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    due = time.monotonic()
    while not stop.is_set():
        due += 1.0 / rps
        threading.Thread(target=lambda: counts.append(post(url, body, {})), daemon=True).start()
        stop.wait(max(0.0, due - time.monotonic()))


def ideal_time(spec, stats):
    """What the server allows: its buckets' worth at once, the rest at the rate, one latency."""
    window, latency = spec["window"], spec["latency"]
    share = 1.0 - spec.get("other_rps", 0.0) * 60 / spec["rpm"] if spec.get("other_rps") else 1.0
    needs = []
    if spec.get("rpm"):
        needs.append((spec["prompts"], spec["rpm"] * share))
    if spec.get("tpm"):
        # Every admitted request is charged its prompt plus max_tokens: the first admission of
        # each item is what the ideal counts, so use the items' share of what was charged.
        charged = stats["tokens_charged"] * spec["prompts"] / max(stats["requests"], 1)
        needs.append((charged, spec["tpm"]))
    # Input and output limits are settled to what was used: the tokens the mock billed.
    if spec.get("itpm"):
        needs.append((stats["prompt_tokens"], spec["itpm"]))
    if spec.get("otpm"):
        needs.append((stats["completion_tokens"], spec["otpm"]))
    return max(max(0.0, units - limit * window / 60) / (limit / 60) for units, limit in needs) + latency


def run_scenario(pacer, name, spec, work):
    port, mock = start_mock(pacer, spec["mock"])
    stop, other = threading.Event(), []
    try:
        prompts = os.path.join(work, f"{name}.jsonl")
        write_prompts(prompts, spec["prompts"], spec["words"], seed=len(name))
        out = os.path.join(work, f"out-{name}")
        prefix, settings = PROVIDERS[spec.get("provider", "openai")]
        env = dict(os.environ, **settings(port))
        model = f"{prefix}:{spec.get('model', MODEL)}"
        cmd = [pacer, "run", prompts, "-m", model, "-o", out, "--fresh", "--quiet",
               "--max-tokens", str(spec["max_tokens"])] + spec["run"]
        if spec.get("other_rps"):
            threading.Thread(target=other_client, args=(port, spec["other_rps"], stop, other),
                             daemon=True).start()
        started = time.monotonic()
        code = subprocess.run(cmd, env=env).returncode
        actual = time.monotonic() - started
        stop.set()
        stats = get_json(f"http://127.0.0.1:{port}/stats")
        if os.environ.get("KEEP"):
            import shutil; shutil.copytree(out, os.path.join(os.environ["KEEP"], name), dirs_exist_ok=True)
    finally:
        stop.set()
        mock.terminate()
        mock.wait()
    done = 0
    with open(os.path.join(out, "results.jsonl")) as results:
        for line in results:
            done += json.loads(line).get("status") == "ok"
    ideal = ideal_time(spec, stats)
    note = ""
    if other:
        note = f"the other client: {len(other)} sent, {sum(c == 429 for c in other)} got 429"
    return dict(name=name, ideal=ideal, actual=actual, eff=ideal / actual, done=done,
                prompts=spec["prompts"], r429=stats["rate_limited"], sent=stats["requests"],
                code=code, stats=stats, note=note)


SERVE_CONFIG = """
listen = "127.0.0.1:{listen}"
gateway_keys = [{{ id = "bench", key = "gw-bench" }}]
max_queue_wait_secs = 30
usage_log = "{log}"

[[models]]
name = "{model}"
type = "openai"
base_url = "http://127.0.0.1:{port}/v1"
api_key = "sk-bench-not-a-real-key"
rpm = {rpm}
"""


def run_fairness(pacer, name, spec, work):
    port, mock = start_mock(pacer, ["--rpm", str(spec["rpm"]), "--window", f"{spec['window']}s"]
                            + LAT)
    listen = free_port()
    log = os.path.join(work, "usage.jsonl")
    config = os.path.join(work, "serve.toml")
    with open(config, "w") as f:
        f.write(SERVE_CONFIG.format(listen=listen, log=log, model=MODEL, port=port,
                                    rpm=spec["rpm"]))
    serve = subprocess.Popen([pacer, "serve", "--config", config],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    statuses = []
    try:
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", listen), timeout=1):
                    break
            except OSError:
                time.sleep(0.05)
        url = f"http://127.0.0.1:{listen}/v1/chat/completions"
        body = {"model": MODEL, "max_tokens": 16,
                "messages": [{"role": "user", "content": "Say something short."}]}

        def client():
            for _ in range(spec["per_client"]):
                statuses.append(post(url, body, {"authorization": "Bearer gw-bench"}))

        threads = [threading.Thread(target=client) for _ in range(spec["clients"])]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        actual = time.monotonic() - started
        stats = get_json(f"http://127.0.0.1:{port}/stats")
    finally:
        serve.terminate()
        serve.wait()
        mock.terminate()
        mock.wait()
    waits = []
    with open(log) as lines:
        for line in lines:
            record = json.loads(line)
            if record.get("queue_wait_ms") is not None:
                waits.append(record["queue_wait_ms"] / 1000)
    total = spec["clients"] * spec["per_client"]
    ideal = ideal_time(dict(spec, prompts=total), stats)
    refused = sum(s != 200 for s in statuses)
    note = (f"largest queue wait {max(waits, default=0):.1f} s (want at most "
            f"{spec['clients'] * 60 / spec['rpm']:.0f} s + 1), {refused} refused")
    return dict(name=name, ideal=ideal, actual=actual, eff=ideal / actual,
                done=total - refused, prompts=total, r429=stats["rate_limited"],
                sent=stats["requests"], code=0, stats=stats, note=note)


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
            run = run_fairness if SCENARIOS[name].get("serve") else run_scenario
            rows.append(run(pacer, name, SCENARIOS[name], work))
    print(f"{'scenario':<10} {'ideal':>7} {'actual':>7} {'eff':>6} {'done':>9} {'429s':>5} "
          f"{'sent':>5}  exit")
    for r in rows:
        print(f"{r['name']:<10} {r['ideal']:>6.1f}s {r['actual']:>6.1f}s {r['eff']:>6.3f} "
              f"{r['done']:>4}/{r['prompts']:<4} {r['r429']:>5} {r['sent']:>5}  {r['code']}")
    for r in rows:
        s = r["stats"]
        if r["name"] == "flaky":
            print(f"flaky: the server sent {s['server_errors']} x 500, {s['overloaded']} x 503, "
                  f"{s['dropped']} dropped, {s['truncated']} truncated, {s['busy']} busy 429s")
        if r["note"]:
            print(f"{r['name']}: {r['note']}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The gateway with real clients: 8 processes of the official `openai` SDK and 8 of the
official `anthropic` SDK, client retries off, through one `pacer serve` to two `pacer mock`
servers — two deployments of each model, one allowing 600 requests a minute per model, the
other 1,200, over 2-second windows.

- openai: 50 chat requests a process, one in five streamed;
- anthropic: 50 Messages requests a process, one in five streamed (`messages.stream`), and a
  `count_tokens` beside every fifth.

Every request must succeed, neither mock may have refused one (no 429 reached a
deployment), streams must carry their text, and each model's traffic must split between its
deployments as their limits do (a third and two thirds, within a tolerance).

    python tests/sdk.py --pacer target/debug/pacer      # needs `pip install openai anthropic`

Loopback only; exits 1 on any failure.
"""

import argparse
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

PROCESSES = 8
PER_PROCESS = 50
STREAM_EVERY = 5
GATEWAY_KEY = "gw-sdk-test-key"
UPSTREAM_KEY = "sk-upstream-sdk-test-000"
# Requests per minute per model of the two deployments.
SLOW_RPM, FAST_RPM = 600, 1200


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as reply:
        return json.load(reply)


def wait_for(url, deadline=30):
    end = time.time() + deadline
    while True:
        try:
            return get_json(url)
        except OSError:
            if time.time() > end:
                raise
            time.sleep(0.1)


def openai_worker(job):
    index, base_url = job
    from openai import OpenAI

    client = OpenAI(base_url=base_url + "/v1", api_key=GATEWAY_KEY, max_retries=0, timeout=120)
    ok, streamed, errors = 0, 0, []
    for i in range(PER_PROCESS):
        messages = [{"role": "user", "content": f"process {index} question {i}"}]
        try:
            if i % STREAM_EVERY == 0:
                stream = client.chat.completions.create(
                    model="fast", messages=messages, max_tokens=32, stream=True
                )
                text = "".join(
                    chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices
                )
                if not text:
                    raise AssertionError("a stream without text")
                streamed += 1
            else:
                reply = client.chat.completions.create(model="fast", messages=messages, max_tokens=32)
                if not reply.choices[0].message.content or reply.usage.total_tokens <= 0:
                    raise AssertionError(f"an empty reply: {reply}")
            ok += 1
        except Exception as e:  # noqa: BLE001 - every failure is counted and shown
            errors.append(f"openai: {type(e).__name__}: {str(e)[:200]}")
    return ok, streamed, 0, errors


def anthropic_worker(job):
    index, base_url = job
    import anthropic

    client = anthropic.Anthropic(base_url=base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=120)
    ok, streamed, counted, errors = 0, 0, 0, []
    for i in range(PER_PROCESS):
        messages = [{"role": "user", "content": f"process {index} question {i}"}]
        try:
            if i % STREAM_EVERY == 0:
                count = client.messages.count_tokens(model="claude", messages=messages)
                if count.input_tokens <= 0:
                    raise AssertionError(f"a count of {count.input_tokens}")
                counted += 1
                with client.messages.stream(model="claude", max_tokens=32, messages=messages) as stream:
                    text = "".join(stream.text_stream)
                    final = stream.get_final_message()
                if not text or final.usage.output_tokens <= 0 or final.stop_reason is None:
                    raise AssertionError(f"a stream without text or usage: {final}")
                streamed += 1
            else:
                reply = client.messages.create(model="claude", max_tokens=32, messages=messages)
                if not reply.content or not reply.content[0].text or reply.usage.output_tokens <= 0:
                    raise AssertionError(f"an empty reply: {reply}")
            ok += 1
        except Exception as e:  # noqa: BLE001 - every failure is counted and shown
            errors.append(f"anthropic: {type(e).__name__}: {str(e)[:200]}")
    return ok, streamed, counted, errors


def config_text(gw_port, slow_port, fast_port, usage_log):
    return f"""
listen = "127.0.0.1:{gw_port}"
gateway_keys = [{{ id = "sdk", key = "{GATEWAY_KEY}" }}]
max_queue_wait_secs = 60
usage_log = "{usage_log}"

[[models]]
name = "gpt-4o-mini"
label = "fast"
type = "openai"
deployments = [
  {{ id = "slow", base_url = "http://127.0.0.1:{slow_port}/v1", api_key = "{UPSTREAM_KEY}", rpm = {SLOW_RPM} }},
  {{ id = "fast", base_url = "http://127.0.0.1:{fast_port}/v1", api_key = "{UPSTREAM_KEY}", rpm = {FAST_RPM} }},
]

[[models]]
name = "claude-sonnet-4-5"
label = "claude"
type = "anthropic"
deployments = [
  {{ id = "slow", base_url = "http://127.0.0.1:{slow_port}", api_key = "{UPSTREAM_KEY}", rpm = {SLOW_RPM} }},
  {{ id = "fast", base_url = "http://127.0.0.1:{fast_port}", api_key = "{UPSTREAM_KEY}", rpm = {FAST_RPM} }},
]
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pacer", default="target/debug/pacer")
    args = parser.parse_args()
    slow_port, fast_port, gw_port = free_port(), free_port(), free_port()
    work = tempfile.mkdtemp(prefix="pacer-sdk-")
    usage_log = os.path.join(work, "usage.jsonl")
    config = os.path.join(work, "serve.toml")
    with open(config, "w") as f:
        f.write(config_text(gw_port, slow_port, fast_port, usage_log))
    procs = []
    try:
        for port, rpm in ((slow_port, SLOW_RPM), (fast_port, FAST_RPM)):
            procs.append(subprocess.Popen(
                [args.pacer, "mock", "--port", str(port), "--rpm", str(rpm), "--window", "2s",
                 "--latency", "50ms", "--api-key", UPSTREAM_KEY],
                stdout=subprocess.DEVNULL,
            ))
            wait_for(f"http://127.0.0.1:{port}/stats")
        procs.append(subprocess.Popen([args.pacer, "serve", "--config", config]))
        wait_for(f"http://127.0.0.1:{gw_port}/health")
        base_url = f"http://127.0.0.1:{gw_port}"
        jobs = [(i, base_url) for i in range(PROCESSES)]
        started = time.time()
        with multiprocessing.Pool(2 * PROCESSES) as pool:
            openai_results = pool.map_async(openai_worker, jobs)
            anthropic_results = pool.map_async(anthropic_worker, jobs)
            results = {"openai": openai_results.get(), "anthropic": anthropic_results.get()}
        elapsed = time.time() - started
        stats = {name: get_json(f"http://127.0.0.1:{port}/stats")
                 for name, port in (("slow", slow_port), ("fast", fast_port))}
        with urllib.request.urlopen(f"{base_url}/metrics") as reply:
            metrics = reply.read().decode()
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(timeout=10)
    with open(usage_log) as f:
        logged = [json.loads(line) for line in f]
    total = PROCESSES * PER_PROCESS
    failures = []
    summary = {"seconds": round(elapsed, 1)}
    for sdk, model in (("openai", "fast"), ("anthropic", "claude")):
        rows = results[sdk]
        ok = sum(r[0] for r in rows)
        streamed = sum(r[1] for r in rows)
        counted = sum(r[2] for r in rows)
        errors = [e for r in rows for e in r[3]]
        served = [line for line in logged if line["model"] == model and line["endpoint"] != "count_tokens"]
        by = {d: sum(1 for line in served if line.get("deployment") == d and line["status"] == 200)
              for d in ("slow", "fast")}
        share = by["fast"] / max(1, by["slow"] + by["fast"])
        times = sorted(line["ts"] for line in served)
        span = times[-1] - times[0] if len(times) > 1 else 0
        summary[sdk] = {
            "requests": total, "succeeded": ok, "streamed": streamed, "counted": counted,
            "by_deployment": by, "fast_share": round(share, 3),
            "limit_share": round(FAST_RPM / (SLOW_RPM + FAST_RPM), 3),
            # From the first answer to the last, against the two deployments' 1,800 together.
            "rate_per_minute": round((len(times) - 1) / span * 60) if span else None,
            "errors": errors[:5],
        }
        if ok != total:
            failures.append(f"{sdk}: {total - ok} requests failed")
        if streamed != total // STREAM_EVERY:
            failures.append(f"{sdk}: {streamed} streams worked, not {total // STREAM_EVERY}")
        if sdk == "anthropic" and counted != total // STREAM_EVERY:
            failures.append(f"anthropic: {counted} token counts worked, not {total // STREAM_EVERY}")
        if by["slow"] + by["fast"] != total:
            failures.append(f"{sdk}: the usage log has {by} successes, not {total}")
        # Two thirds of the traffic to the deployment with two thirds of the limits.
        if not 0.56 <= share <= 0.78:
            failures.append(f"{sdk}: the fast deployment served {share:.0%}, not about 67%")
    summary["upstream"] = {name: {"requests": s["requests"], "429": s["rate_limited"]}
                           for name, s in stats.items()}
    print(json.dumps(summary, indent=2))
    for name, s in stats.items():
        if s["rate_limited"] != 0:
            failures.append(f"the {name} deployment sent {s['rate_limited']} 429s")
    if any(k in metrics or k in json.dumps(logged) for k in (UPSTREAM_KEY, GATEWAY_KEY)):
        failures.append("a key reached the metrics or the usage log")
    if failures:
        print("FAILED: " + "; ".join(failures), file=sys.stderr)
        return 1
    print("ok: every request succeeded through the gateway, no 429 reached either deployment, "
          "and each deployment served its share of the limits")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The gateway with real clients: 8 processes of the official `openai` SDK, client retries
off, send 400 chat requests (one in five streamed) through `pacer serve` to `pacer mock`,
which enforces 1,200 RPM over 2-second windows. Every request must succeed, the mock must
have refused none (no 429 reached the upstream), and streams must carry their text.

    python tests/openai_sdk.py --pacer target/debug/pacer      # needs `pip install openai`

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


def worker(job):
    index, base_url = job
    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=120)
    ok, streamed, errors = 0, 0, []
    for i in range(PER_PROCESS):
        messages = [{"role": "user", "content": f"process {index} question {i}"}]
        try:
            if i % STREAM_EVERY == 0:
                stream = client.chat.completions.create(
                    model="fast", messages=messages, max_tokens=32, stream=True
                )
                text = "".join(
                    chunk.choices[0].delta.content or ""
                    for chunk in stream
                    if chunk.choices
                )
                if not text:
                    raise AssertionError("a stream without text")
                streamed += 1
            else:
                reply = client.chat.completions.create(
                    model="fast", messages=messages, max_tokens=32
                )
                if not reply.choices[0].message.content or reply.usage.total_tokens <= 0:
                    raise AssertionError(f"an empty reply: {reply}")
            ok += 1
        except Exception as e:  # noqa: BLE001 - every failure is counted and shown
            errors.append(f"{type(e).__name__}: {str(e)[:200]}")
    return ok, streamed, errors


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pacer", default="target/debug/pacer")
    args = parser.parse_args()
    mock_port, gw_port = free_port(), free_port()
    work = tempfile.mkdtemp(prefix="pacer-sdk-")
    usage_log = os.path.join(work, "usage.jsonl")
    config = os.path.join(work, "serve.toml")
    with open(config, "w") as f:
        f.write(
            f"""
listen = "127.0.0.1:{gw_port}"
gateway_keys = [{{ id = "sdk", key = "{GATEWAY_KEY}" }}]
max_queue_wait_secs = 60
usage_log = "{usage_log}"

[[models]]
name = "gpt-4o-mini"
label = "fast"
type = "openai"
base_url = "http://127.0.0.1:{mock_port}/v1"
api_key = "{UPSTREAM_KEY}"
rpm = 1200
"""
        )
    procs = []
    try:
        procs.append(
            subprocess.Popen(
                [args.pacer, "mock", "--port", str(mock_port), "--rpm", "1200",
                 "--window", "2s", "--latency", "50ms", "--api-key", UPSTREAM_KEY],
                stdout=subprocess.DEVNULL,
            )
        )
        wait_for(f"http://127.0.0.1:{mock_port}/stats")
        procs.append(subprocess.Popen([args.pacer, "serve", "--config", config]))
        wait_for(f"http://127.0.0.1:{gw_port}/health")
        base_url = f"http://127.0.0.1:{gw_port}/v1"
        started = time.time()
        with multiprocessing.Pool(PROCESSES) as pool:
            results = pool.map(worker, [(i, base_url) for i in range(PROCESSES)])
        elapsed = time.time() - started
        stats = get_json(f"http://127.0.0.1:{mock_port}/stats")
        with urllib.request.urlopen(f"http://127.0.0.1:{gw_port}/metrics") as reply:
            metrics = reply.read().decode()
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(timeout=10)
    ok = sum(r[0] for r in results)
    streamed = sum(r[1] for r in results)
    errors = [e for r in results for e in r[2]]
    with open(usage_log) as f:
        logged = [json.loads(line) for line in f]
    total = PROCESSES * PER_PROCESS
    summary = {
        "requests": total,
        "succeeded": ok,
        "streamed": streamed,
        "seconds": round(elapsed, 1),
        "rate_per_minute": round(ok / elapsed * 60),
        "upstream_requests": stats["requests"],
        "upstream_429": stats["rate_limited"],
        "usage_log_lines": len(logged),
        "usage_log_ok": sum(1 for line in logged if line["status"] == 200),
        "errors": errors[:5],
    }
    print(json.dumps(summary, indent=2))
    leaked = [s for s in (UPSTREAM_KEY, GATEWAY_KEY) if s in metrics or s in json.dumps(logged)]
    failures = []
    if ok != total:
        failures.append(f"{total - ok} requests failed")
    if stats["rate_limited"] != 0:
        failures.append(f"the upstream sent {stats['rate_limited']} 429s")
    if streamed != total // STREAM_EVERY:
        failures.append(f"{streamed} streams worked, not {total // STREAM_EVERY}")
    if summary["usage_log_ok"] != total:
        failures.append(f"the usage log has {summary['usage_log_ok']} successes, not {total}")
    if leaked:
        failures.append("a key reached the metrics or the usage log")
    if failures:
        print("FAILED: " + "; ".join(failures), file=sys.stderr)
        return 1
    print("ok: every request succeeded through the gateway, no 429 reached the upstream")
    return 0


if __name__ == "__main__":
    sys.exit(main())

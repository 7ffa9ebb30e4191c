#!/usr/bin/env python3
"""What `pacer serve` adds: latency (p50, p99) at a fixed request rate through the gateway
against calling `pacer mock` directly — OpenAI's chat, and Anthropic's `/v1/messages` whole
and streamed (to the stream's last byte) — then the highest chat rate the gateway sustains.

    cargo build --release -p pacer-cli
    python3 bench/serve.py                        # 200 req/s for 10 s, then the ramp
    python3 bench/serve.py --rate 500 --seconds 20 --ramp 500,1000,2000

Standard library only. Open loop: request i is due at start + i/rate whatever came back
before, and its latency runs from when it was due (a load generator that falls behind counts
the delay, rather than hiding it). The mock answers at once and has no limits; the gateway's
model has a limit far above the load, so every request still passes its limiter. A rate is
sustained when every request succeeds, at least 97% of the rate is reached, and p99 stays
under --p99-limit-ms. The load generator shares the machine's cores with both servers, so
the ceiling it finds is this machine's, generator included.
"""

import argparse
import http.client
import json
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

KEY = "gw-bench-key"
BODY = json.dumps(
    {"model": "bench", "messages": [{"role": "user", "content": "Say something short."}], "max_tokens": 16}
).encode()


def messages_body(model, stream):
    return json.dumps({"model": model, "max_tokens": 16, "stream": stream,
                       "messages": [{"role": "user", "content": "Say something short."}]}).encode()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url, deadline=30):
    end = time.time() + deadline
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read()
        except OSError:
            if time.time() > end:
                raise
            time.sleep(0.1)


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def load(port, path, headers, rate, seconds, workers, body=BODY):
    """Sends rate × seconds requests, open loop; returns (latencies in ms, errors, achieved rate)."""
    due = queue.Queue()
    latencies, errors = [], []
    lock = threading.Lock()

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            at = due.get()
            if at is None:
                return
            try:
                conn.request("POST", path, body, headers)
                reply = conn.getresponse()
                reply.read()
                ok = reply.status == 200
                status = reply.status
            except (OSError, http.client.HTTPException) as e:
                ok, status = False, type(e).__name__
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            done = time.perf_counter()
            with lock:
                if ok:
                    latencies.append((done - at) * 1000)
                else:
                    errors.append(status)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    total = int(rate * seconds)
    start = time.perf_counter()
    for i in range(total):
        at = start + i / rate
        pause = at - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        due.put(at)
    for _ in threads:
        due.put(None)
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return latencies, errors, total / elapsed


def row(name, rate, result):
    latencies, errors, achieved = result
    return (
        f"{name:<10} {rate:>7.0f} {achieved:>9.0f} {percentile(latencies, 50):>8.2f} "
        f"{percentile(latencies, 99):>8.2f} {len(errors):>7}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pacer", default="target/release/pacer")
    parser.add_argument("--rate", type=float, default=200, help="the fixed rate, requests/s")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--ramp", default="200,400,800,1200,1600,2400,3200",
                        help="rates tried through the gateway, in order, until one is not sustained")
    parser.add_argument("--ramp-seconds", type=float, default=5)
    parser.add_argument("--workers", type=int, default=64, help="client threads (keep-alive connections)")
    parser.add_argument("--p99-limit-ms", type=float, default=100)
    args = parser.parse_args()

    mock_port, gw_port = free_port(), free_port()
    work = tempfile.mkdtemp(prefix="pacer-bench-serve-")
    config = os.path.join(work, "serve.toml")
    with open(config, "w") as f:
        f.write(f"""
listen = "127.0.0.1:{gw_port}"
gateway_keys = ["{KEY}"]
usage_log = "{os.path.join(work, 'usage.jsonl')}"

[[models]]
name = "gpt-4o-mini"
label = "bench"
type = "openai"
base_url = "http://127.0.0.1:{mock_port}/v1"
api_key = "sk-bench"
rpm = 10000000
tpm = 10000000000

[[models]]
name = "claude-sonnet-4-5"
label = "claude"
type = "anthropic"
base_url = "http://127.0.0.1:{mock_port}"
api_key = "sk-bench"
rpm = 10000000
""")
    procs = []
    try:
        procs.append(subprocess.Popen([args.pacer, "mock", "--port", str(mock_port)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(f"http://127.0.0.1:{mock_port}/stats")
        procs.append(subprocess.Popen([args.pacer, "serve", "--config", config],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(f"http://127.0.0.1:{gw_port}/health")
        direct_headers = {"content-type": "application/json", "authorization": "Bearer sk-bench"}
        gw_headers = {"content-type": "application/json", "authorization": f"Bearer {KEY}"}
        # Warm both paths (connections, the tokenizer).
        load(mock_port, "/v1/chat/completions", direct_headers, 100, 1, args.workers)
        load(gw_port, "/v1/chat/completions", gw_headers, 100, 1, args.workers)

        header = f"{'path':<10} {'rate/s':>7} {'achieved':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
        print(f"Fixed rate: {args.rate:.0f} req/s for {args.seconds:.0f} s, {args.workers} client connections")
        print(header)
        direct = load(mock_port, "/v1/chat/completions", direct_headers, args.rate, args.seconds, args.workers)
        print(row("direct", args.rate, direct))
        gateway = load(gw_port, "/v1/chat/completions", gw_headers, args.rate, args.seconds, args.workers)
        print(row("gateway", args.rate, gateway))
        added50 = percentile(gateway[0], 50) - percentile(direct[0], 50)
        added99 = percentile(gateway[0], 99) - percentile(direct[0], 99)
        print(f"added by the gateway: p50 {added50:+.2f} ms, p99 {added99:+.2f} ms")
        # Anthropic's Messages API, passed through to an Anthropic entry, whole and streamed.
        anthropic_direct = {"content-type": "application/json", "x-api-key": "sk-bench",
                            "anthropic-version": "2023-06-01"}
        anthropic_gw = dict(anthropic_direct, **{"x-api-key": KEY})
        # The OpenAI entry answers /v1/messages by translation both ways (a stream rendered
        # piece by piece from the upstream's chunks); its direct figure is the mock's own
        # /v1/messages.
        for gw_model, how, stream in [("claude", "passed through", False),
                                      ("claude", "passed through", True),
                                      ("bench", "translated to an OpenAI entry", False),
                                      ("bench", "translated to an OpenAI entry", True)]:
            name = f"messages{', streamed' if stream else ''} ({how})"
            direct_body = messages_body("claude-sonnet-4-5", stream)
            gw_body = messages_body(gw_model, stream)
            load(gw_port, "/v1/messages", anthropic_gw, 100, 1, args.workers, gw_body)
            print(f"\n{name}:")
            print(header)
            direct = load(mock_port, "/v1/messages", anthropic_direct, args.rate, args.seconds,
                          args.workers, direct_body)
            print(row("direct", args.rate, direct))
            gateway = load(gw_port, "/v1/messages", anthropic_gw, args.rate, args.seconds,
                           args.workers, gw_body)
            print(row("gateway", args.rate, gateway))
            added50 = percentile(gateway[0], 50) - percentile(direct[0], 50)
            added99 = percentile(gateway[0], 99) - percentile(direct[0], 99)
            print(f"added by the gateway: p50 {added50:+.2f} ms, p99 {added99:+.2f} ms")

        print(f"\nRamp through the gateway, {args.ramp_seconds:.0f} s per rate "
              f"(sustained: no error, >= 97% of the rate, p99 < {args.p99_limit_ms:.0f} ms)")
        print(header + "  sustained")
        best = None
        for rate in [float(r) for r in args.ramp.split(",")]:
            result = load(gw_port, "/v1/chat/completions", gw_headers, rate, args.ramp_seconds, args.workers)
            sustained = (not result[1] and result[2] >= 0.97 * rate
                         and percentile(result[0], 99) < args.p99_limit_ms)
            print(row("gateway", rate, result) + f"  {'yes' if sustained else 'no'}")
            if not sustained:
                direct = load(mock_port, "/v1/chat/completions", direct_headers, rate, args.ramp_seconds, args.workers)
                ok = not direct[1] and direct[2] >= 0.97 * rate and percentile(direct[0], 99) < args.p99_limit_ms
                print(row("direct", rate, direct) + f"  {'yes' if ok else 'no'}  (the same rate without the gateway)")
                break
            best = rate
        print(f"\nhighest rate sustained through the gateway: {best:.0f} req/s" if best
              else "\nno rate of the ramp was sustained")
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Redis benchmark: `pacer run --redis` with `pacer worker` processes, and `pacer serve`
replicas sharing one limit, against `pacer mock` with strict limits.

Each scenario starts a fresh `redis-server` and `pacer mock` on free loopback ports and prints:

  ideal   the time the server allows: what its buckets hold goes at once, the rest at the
          limit's rate, plus one mean latency: (prompts − rpm × window / 60) / (rpm / 60) + latency
  actual  wall time of the coordinator (`pacer run --redis`), from start to exit, or of
          the clients for `serve`
  eff     ideal / actual
  records records in the journal / jobs; dup = jobs with more than one record
  429s    rate-limit refusals the mock sent for its limit (its own count); injected
          capacity 429s are counted apart (`busy`)
  sent    requests the mock received; `twice` = sent − jobs − 429s − busy: requests paid
          for twice (a job sent again after its worker died or Redis lost it)

Scenarios (all 1,200 RPM unless said; 300 ms replies):
  workers   4 workers + the coordinator, 2,000 prompts, 2 s windows (the issue's figure)
  window10  the same with 10 s windows and no --rpm: limits learned from the headers
  stray     2 s windows with 2% stray capacity 429s and replies of 0.3–1.5 s
  killed    a worker of the 4 killed (SIGKILL) a third of the way in; idle timeout 5 s
  restart   redis-server killed a third of the way in and started again (empty) 2 s later
  serve     2 `pacer serve --redis` replicas, 8 client processes × 60 requests, alternating

Usage:
  bench/redis.py                 # every scenario
  bench/redis.py workers serve   # some
  PACER=target/release/pacer bench/redis.py

Needs redis-server on the PATH. Standard library only; builds `pacer` in release mode unless
PACER is set.
"""

import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = "gpt-4o-mini"
LAT = ["--latency", "300ms", "--latency-sd", "30ms"]
SCENARIOS = {
    "workers": dict(mock=["--rpm", "1200", "--window", "2s"] + LAT, run=["--rpm", "1200"],
                    prompts=2000, workers=4, window=2, latency=0.3),
    "window10": dict(mock=["--rpm", "1200", "--window", "10s"] + LAT, run=[],
                     prompts=2000, workers=4, window=10, latency=0.3),
    "stray": dict(mock=["--rpm", "1200", "--window", "2s", "--fail-429", "0.02",
                        "--latency", "900ms", "--latency-sd", "400ms"],
                  run=["--rpm", "1200"], prompts=2000, workers=4, window=2, latency=0.9),
    "killed": dict(mock=["--rpm", "1200", "--window", "2s"] + LAT, run=["--rpm", "1200"],
                   prompts=2000, workers=4, window=2, latency=0.3, fault="kill"),
    "restart": dict(mock=["--rpm", "1200", "--window", "2s"] + LAT, run=["--rpm", "1200"],
                    prompts=2000, workers=4, window=2, latency=0.3, fault="restart"),
    "serve": dict(mock=["--rpm", "1200", "--window", "2s"] + LAT, clients=8, each=60,
                  window=2, latency=0.3),
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if proc.poll() is not None:
                sys.exit(f"{what} exited at once")
            time.sleep(0.05)
    sys.exit(f"{what} did not come up")


def start_redis(port):
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc, "redis-server")
    return proc


def start_mock(pacer, flags):
    port = free_port()
    proc = subprocess.Popen([pacer, "mock", "--port", str(port)] + flags,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc, "pacer mock")
    return proc, port


def stats(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats") as r:
        return json.load(r)


def ideal(jobs, spec):
    rpm = 1200
    return max(jobs - rpm * spec["window"] / 60, 0) / (rpm / 60) + spec["latency"]


def write_prompts(path, n):
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"p{i:05d}", "prompt": f"Question {i}: say something."}) + "\n")


def run_workers(pacer, name, spec, work):
    rport = free_port()
    redis = start_redis(rport)
    url = f"redis://127.0.0.1:{rport}/"
    mock, mport = start_mock(pacer, spec["mock"])
    env = dict(os.environ, OPENAI_BASE_URL=f"http://127.0.0.1:{mport}/v1", OPENAI_API_KEY="sk-bench")
    prompts = os.path.join(work, f"{name}.jsonl")
    write_prompts(prompts, spec["prompts"])
    out = os.path.join(work, f"out-{name}")
    idle = "5" if spec.get("fault") == "kill" else "30"
    workers = [subprocess.Popen([pacer, "worker", "--redis", url, "--once", "--idle-timeout", idle,
                                 "--name", f"w{i}"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
               for i in range(spec["workers"])]
    started = time.monotonic()
    run = subprocess.Popen([pacer, "run", prompts, "-m", f"openai:{MODEL}", "-o", out, "--fresh",
                            "--quiet", "--max-tokens", "64", "--redis", url] + spec["run"], env=env,
                           stderr=subprocess.PIPE, text=True)
    results = os.path.join(out, "results.jsonl")
    if spec.get("fault"):
        while True:
            time.sleep(0.2)
            done = sum(1 for _ in open(results)) if os.path.exists(results) else 0
            if done >= spec["prompts"] // 3:
                break
        if spec["fault"] == "kill":
            workers[0].send_signal(signal.SIGKILL)
        else:
            redis.kill()
            redis.wait()
            time.sleep(2)
            redis = start_redis(rport)
    _, err = run.communicate(timeout=900)
    actual = time.monotonic() - started
    for w in workers:
        try:
            w.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            w.kill()
    st = stats(mport)
    mock.kill()
    redis.kill()
    keys = {}
    for line in open(results):
        r = json.loads(line)
        k = (r["label"], r["prompt_id"], r.get("sample", 0))
        keys[k] = keys.get(k, 0) + 1
    dup = sum(1 for n in keys.values() if n > 1)
    jobs = spec["prompts"]
    twice = st["requests"] - jobs - st["rate_limited"] - st["busy"]
    if run.returncode != 0:
        print(err, file=sys.stderr)
    return dict(name=name, ideal=ideal(jobs, spec), actual=actual, records=len(keys), jobs=jobs,
                dup=dup, r429=st["rate_limited"], busy=st["busy"], sent=st["requests"], twice=twice)


def client(args):
    port, n, key = args
    ok = 0
    for i in range(n):
        body = json.dumps({"model": MODEL, "max_tokens": 64,
                           "messages": [{"role": "user", "content": f"client {key} request {i}"}]}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", body,
                                     {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=300) as r:
                ok += r.status == 200
        except urllib.error.HTTPError:
            pass
    return ok


def run_serve(pacer, name, spec, work):
    rport = free_port()
    redis = start_redis(rport)
    mock, mport = start_mock(pacer, spec["mock"])
    gateways = []
    ports = []
    for i in range(2):
        port = free_port()
        config = os.path.join(work, f"serve{i}.toml")
        with open(config, "w") as f:
            f.write(f'listen = "127.0.0.1:{port}"\nredis = "redis://127.0.0.1:{rport}/"\n'
                    f'max_queue_wait_secs = 300\nusage_log = "{work}/usage{i}.jsonl"\n\n'
                    f'[[models]]\nname = "{MODEL}"\ntype = "openai"\n'
                    f'base_url = "http://127.0.0.1:{mport}/v1"\napi_key = "sk-bench"\n'
                    f'rpm = 1200\n')
        gateways.append(subprocess.Popen([pacer, "serve", "--config", config, "--no-auth"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(port, gateways[-1], "pacer serve")
        ports.append(port)
    started = time.monotonic()
    with multiprocessing.Pool(spec["clients"]) as pool:
        ok = sum(pool.map(client, [(ports[i % 2], spec["each"], i) for i in range(spec["clients"])]))
    actual = time.monotonic() - started
    st = stats(mport)
    for g in gateways:
        g.kill()
    mock.kill()
    redis.kill()
    jobs = spec["clients"] * spec["each"]
    return dict(name=name, ideal=ideal(jobs, spec), actual=actual, records=ok, jobs=jobs, dup=0,
                r429=st["rate_limited"], busy=st["busy"], sent=st["requests"],
                twice=st["requests"] - jobs - st["rate_limited"] - st["busy"])


def main():
    pacer = os.environ.get("PACER")
    if not pacer:
        subprocess.run(["cargo", "build", "--release", "-p", "pacer-cli"], cwd=ROOT, check=True)
        pacer = os.path.join(ROOT, "target", "release", "pacer")
    names = sys.argv[1:] or list(SCENARIOS)
    print(f"{'scenario':<9} {'ideal':>7} {'actual':>7} {'eff':>6} {'records':>11} {'dup':>4} "
          f"{'429s':>5} {'busy':>5} {'sent':>6} {'twice':>6}")
    with tempfile.TemporaryDirectory() as work:
        for name in names:
            spec = SCENARIOS[name]
            run = run_serve if name == "serve" else run_workers
            r = run(pacer, name, spec, work)
            print(f"{r['name']:<9} {r['ideal']:>6.1f}s {r['actual']:>6.1f}s "
                  f"{r['ideal'] / r['actual']:>6.3f} {r['records']:>5}/{r['jobs']:<5} {r['dup']:>4} "
                  f"{r['r429']:>5} {r['busy']:>5} {r['sent']:>6} {r['twice']:>6}", flush=True)


if __name__ == "__main__":
    main()

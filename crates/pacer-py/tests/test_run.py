"""`pacer.run`, `pacer.start` and `pacer.records` on the installed wheel, with the mock
provider (no network): a dict and a file config, resume, a follow-along iterator, a config
error that names its key, and the `pacer` command the wheel puts on the PATH."""

import json
import shutil
import signal
import subprocess
import sys
import time

import pytest

import pacer


def config(prompts, out, **model):
    return {
        "prompts_file": str(prompts),
        "output_dir": str(out),
        "models": [{"name": "small", "type": "mock", "samples": 2, **model}],
    }


def test_a_dict_config_runs_and_resumes(prompts, tmp_path):
    out = tmp_path / "out"
    summary = pacer.run(config(prompts, out))
    assert summary["exit"] == 0
    assert summary["totals"]["records"] == 40
    records = list(pacer.records(out))
    assert len(records) == 40
    assert {(r["prompt_id"], r["sample"]) for r in records} == {
        (f"q{i:02}", s) for i in range(20) for s in range(2)
    }
    # Again: everything is done already, nothing is sent twice.
    again = pacer.run(config(prompts, out))
    assert again["exit"] == 0
    assert len(list(pacer.records(out))) == 40


def test_a_config_file_runs_the_shipped_example(repo, tmp_path):
    summary = pacer.run(repo / "examples" / "mock.toml", output_dir=tmp_path / "example")
    assert summary["exit"] == 0
    records = list(pacer.records(tmp_path / "example"))
    assert len(records) == summary["totals"]["records"] > 0
    assert summary["totals"]["records"] == summary["totals"]["succeeded"] + summary["totals"]["failed"]


def test_a_run_is_followed_record_by_record(prompts, tmp_path):
    out = tmp_path / "followed"
    job = pacer.start(config(prompts, out, latency_ms=20, rpm=1200))
    seen = [record["prompt_id"] for record in job.records()]
    summary = job.wait()
    assert len(seen) == 40 == summary["totals"]["records"]
    assert job.done()


def test_a_wrong_config_names_its_key_and_sends_nothing(prompts, tmp_path):
    bad = config(prompts, tmp_path / "bad")
    bad["models"][0]["temperature"] = 7
    with pytest.raises(pacer.PacerError, match=r"models\[0\]\.temperature"):
        pacer.run(bad)
    assert not (tmp_path / "bad" / "results.jsonl").exists()
    with pytest.raises(pacer.PacerError, match="type"):
        pacer.run({"prompts_file": str(prompts), "models": [{"name": "x"}]})


def test_the_local_provider_is_not_in_the_wheel_and_a_config_says_so(prompts, tmp_path):
    # The wheel is built without the `local` feature (candle): a local entry is refused by
    # name, with the way to get it, before anything runs.
    local = {"prompts_file": str(prompts), "output_dir": str(tmp_path / "local"),
             "models": [{"name": "smol", "type": "local"}]}
    with pytest.raises(pacer.PacerError, match=r"models\[0\]\.type.*not part of this build"):
        pacer.run(local)
    assert not (tmp_path / "local" / "results.jsonl").exists()


def test_the_wheel_puts_the_pacer_command_on_the_path(repo, tmp_path):
    command = shutil.which("pacer")
    assert command, "no `pacer` on the PATH"
    out = tmp_path / "cli"
    done = subprocess.run(
        [command, "run", "--config", str(repo / "examples" / "mock.toml"), "-o", str(out), "-q"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["totals"]["records"] > 0
    version = subprocess.run([command, "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and "pacer" in version.stdout
    wrong = subprocess.run([command, "run", "--no-such-flag"], capture_output=True, text=True)
    assert wrong.returncode == 2 and "--no-such-flag" in wrong.stderr


def test_help_shows_the_docstrings():
    assert "summary" in pacer.run.__doc__
    assert "records" in pacer.start.__doc__


def lines(path):
    try:
        with open(path) as f:
            return [line for line in f if line.endswith("\n")]
    except FileNotFoundError:
        return []


def wait_for(condition, what, seconds=60):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


INTERRUPTED = """
import json, sys, time
import pacer
try:
    pacer.run(json.loads(sys.argv[1]))
    print("finished", flush=True)
except KeyboardInterrupt:
    print("interrupted", flush=True)
try:
    time.sleep(60)
    print("slept", flush=True)
except KeyboardInterrupt:
    print("interrupted again", flush=True)
"""


def test_ctrl_c_stops_a_run_saves_its_work_and_leaves_ctrl_c_to_python(prompts, tmp_path):
    out = tmp_path / "interrupted"
    slow = config(prompts, out, rpm=60, latency_ms=50)
    run = subprocess.Popen([sys.executable, "-c", INTERRUPTED, json.dumps(slow)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: len(lines(out / "results.jsonl")) >= 2, "the first records")
    run.send_signal(signal.SIGINT)
    assert run.stdout.readline().strip() == "interrupted"
    # After the run, Ctrl-C is Python's again (a notebook's interrupt still works).
    run.send_signal(signal.SIGINT)
    out_rest, err = run.communicate(timeout=30)
    assert out_rest.strip() == "interrupted again", err
    done = lines(out / "results.jsonl")
    assert 2 <= len(done) < 40
    # Again: the rest, each job exactly once.
    summary = pacer.run(config(prompts, out, rpm=6000))
    assert summary["exit"] == 0
    records = list(pacer.records(out))
    assert len(records) == 40
    assert len({(r["prompt_id"], r["sample"]) for r in records}) == 40


def test_a_started_run_stops_when_told_and_the_next_run_finishes_it(prompts, tmp_path):
    out = tmp_path / "stopped"
    job = pacer.start(config(prompts, out, rpm=60, latency_ms=50))
    wait_for(lambda: len(lines(out / "results.jsonl")) >= 2, "the first records")
    job.stop()
    stopped = job.wait(timeout=30)
    assert stopped["exit"] == 130
    assert stopped["totals"]["records"] < 40
    again = pacer.run(config(prompts, out, rpm=6000))
    assert again["exit"] == 0
    records = list(pacer.records(out))
    assert len({(r["prompt_id"], r["sample"]) for r in records}) == len(records) == 40

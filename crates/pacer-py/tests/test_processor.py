"""Seed 002's scenarios on `pacer.Processor`, against `pacer mock` (started from the
wheel's own `pacer` command) and with direct calls: every item accounted for under injected
429s and failures, progressive temperature on retries, usage counted over failed attempts,
middleware and observers seeing every item, a Python exception as an item's error."""

import asyncio
import collections
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

import pacer


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mock():
    """`pacer mock` with 10% server errors and 5% 429s that come alone; its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [shutil.which("pacer"), "mock", "--port", str(port), "--fail-500", "0.1",
         "--fail-429", "0.05", "--latency", "5ms", "--seed", "7"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    end = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/stats", timeout=1).read()
            break
        except OSError:
            if time.time() > end:
                raise
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def model(url, **more):
    return {"name": "gpt-4o-mini", "type": "openai", "base_url": url + "/v1",
            "api_key": "sk-test", "rpm": 60000, **more}


class Seen:
    """A middleware and an observer at once: what each item went through."""

    def __init__(self):
        self.temperatures = collections.defaultdict(list)
        self.results = collections.Counter()
        self.events = collections.Counter()
        self.finished = set()

    def before(self, item_id, request):
        self.temperatures[item_id].append(request["temperature"])

    async def after(self, item_id, result):
        await asyncio.sleep(0)  # an async hook is awaited
        self.results[item_id] += 1

    def on_event(self, event):
        self.events[event["event"]] += 1
        if event["event"] == "finished":
            self.finished.add(event["item_id"])


def test_200_items_on_20_workers_are_all_accounted_for(mock):
    seen = Seen()
    posted = []
    processor = pacer.Processor(model(mock), workers=20, max_retries=5,
                                middleware=[seen], observers=[seen], post_processor=posted.append)
    for i in range(200):
        processor.add(pacer.WorkItem(f"item-{i}", prompt=f"Question {i}?", context={"n": i}))
    result = asyncio.run(processor.run())
    stats = processor.stats()
    assert result.total_items == 200 == stats["total"] == stats["succeeded"] + stats["failed"]
    assert result.total_items == result.succeeded + result.failed
    assert sorted(r.item_id for r in result.results) == sorted(f"item-{i}" for i in range(200))
    assert all(r.context == {"n": int(r.item_id.split("-")[1])} for r in result.results)
    assert len(posted) == 200
    # The mock refused some (5% 429s, 10% 500s): retried, not lost.
    assert stats["retries"] > 0 and stats["rate_limited_requests"] > 0, stats
    assert result.succeeded == 200, [r.error for r in result.results if not r.success][:3]
    # Middleware and observers saw every item.
    assert set(seen.results) == set(seen.temperatures) == seen.finished == {f"item-{i}" for i in range(200)}
    assert seen.events["finished"] == 200 == seen.events["started"]
    assert stats["token_usage"]["total_tokens"] > 0


def test_retries_warm_the_temperature_per_the_schedule(mock):
    seen = Seen()
    processor = pacer.Processor(model(mock), workers=10, max_retries=5,
                                temperature_schedule=[0.0, 0.25, 0.5, 0.75, 1.0, 1.0],
                                middleware=[seen])
    attempts_seen = collections.defaultdict(list)

    def factory_for(i):
        def factory(attempt):
            attempts_seen[i].append(attempt)
            return {"prompt": f"Factory question {i}", "temperature": [0.0, 0.25, 0.5][min(attempt, 3) - 1]}
        return factory

    for i in range(60):
        processor.add(pacer.WorkItem(f"p{i}", prompt=f"Prompt {i}"))
        processor.add(pacer.WorkItem(f"f{i}", factory=factory_for(i)))
    result = asyncio.run(processor.run())
    assert result.total_items == 120
    retried = [item for item, temps in seen.temperatures.items() if item.startswith("p") and len(temps) > 1]
    assert retried, "the mock's failures retried some prompts"
    schedule = [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    for item in retried:
        temps = seen.temperatures[item]
        # Rate-limit re-sends keep their temperature; error retries warm it.
        assert temps == sorted(temps) and temps[0] == 0.0 and set(temps) <= set(schedule), temps
    warmed = [i for i, a in attempts_seen.items() if len(a) > 1]
    assert warmed, "some factory items were retried"
    for i in warmed:
        assert attempts_seen[i] == list(range(1, len(attempts_seen[i]) + 1))
    # The factory's temperature reached the request the middleware saw.
    for i in warmed:
        assert seen.temperatures[f"f{i}"][-1] == [0.0, 0.25, 0.5][min(len(attempts_seen[i]), 3) - 1]


class Flaky(Exception):
    """A transient failure that was billed."""

    status_code = 500

    def __init__(self, usage):
        super().__init__("upstream hiccup")
        self.usage = usage


class RateLimitError(Exception):
    """The server's refusal: try again in a second."""

    status_code = 429
    retry_after = 1.0


def test_direct_calls_count_usage_over_failed_attempts_and_errors_never_crash():
    calls = collections.Counter()

    async def flaky(attempt, timeout):
        calls["flaky"] += 1
        await asyncio.sleep(0)
        if attempt == 1:
            raise Flaky({"input_tokens": 10, "output_tokens": 5})
        return {"answer": 42}, {"input_tokens": 10, "output_tokens": 7}

    async def broken(attempt, timeout):
        raise TypeError("a bug in the caller's code")

    # The server refuses the ten crowded calls' first attempts together, once all ten are in
    # flight (not by the clock: on a slow machine a refusal in the first moments paused the
    # pool before the other calls were sent, so they were never refused).
    arrived = 0
    all_in_flight = None

    async def crowded(attempt, timeout):
        nonlocal arrived, all_in_flight
        if attempt == 1:
            all_in_flight = all_in_flight or asyncio.Event()
            arrived += 1
            if arrived == 10:
                all_in_flight.set()
            await asyncio.wait_for(all_in_flight.wait(), 30)
            raise RateLimitError("slow down")
        return "ok", {"input_tokens": 1, "output_tokens": 1}

    # Workers enough for every item at once: the ten refusals come together.
    processor = pacer.Processor(None, workers=12, max_retries=3, rpm=60000)
    processor.add(pacer.WorkItem("flaky", direct=flaky, context="c"))
    processor.add(pacer.WorkItem("broken", direct=broken))
    for i in range(10):
        processor.add(pacer.WorkItem(f"crowded-{i}", direct=crowded))
    result = asyncio.run(processor.run())
    by_id = {r.item_id: r for r in result.results}
    assert result.total_items == 12
    flaky_result = by_id["flaky"]
    assert flaky_result.success and flaky_result.output == {"answer": 42}
    assert flaky_result.attempts == 2
    assert flaky_result.token_usage == {"input_tokens": 20, "output_tokens": 12, "total_tokens": 32}
    assert flaky_result.context == "c"
    assert not by_id["broken"].success
    assert by_id["broken"].error_kind == "BadRequest" and "TypeError" in by_id["broken"].error
    assert by_id["broken"].attempts == 1, "a caller's bug is not retried"
    assert all(by_id[f"crowded-{i}"].success for i in range(10))
    stats = processor.stats()
    assert stats["total"] == stats["succeeded"] + stats["failed"] == 12
    assert stats["rate_limited_requests"] == 10, stats
    # The refusals of one event pause the pool once.
    assert stats["cooldowns"] == 1, stats


class ItemFailed(Exception):
    """A caller's own wrapper (seed 002's callers wrap the SDK's errors): it tells nothing."""


class SdkUsage:
    """An SDK's usage object, as OpenAI's `CompletionUsage` names its fields."""

    def __init__(self, prompt_tokens, completion_tokens):
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens


def test_a_wrapped_error_is_judged_by_what_it_was_raised_from_and_its_usage_counts():
    async def wrapped(attempt, timeout):
        if attempt == 1:
            try:
                raise Flaky({"input_tokens": 3, "output_tokens": 4})
            except Flaky as err:
                raise ItemFailed("the call failed") from err
        if attempt == 2:
            # Seed 002's way: the usage of the failed attempt on the exception itself.
            err = ItemFailed("the answer did not validate")
            err._failed_token_usage = {"input_tokens": 5, "output_tokens": 6}
            raise err from ValueError("not JSON")
        return "done", SdkUsage(7, 8)

    async def wrapped_bug(attempt, timeout):
        try:
            {}["missing"]
        except KeyError as err:
            raise ItemFailed("lookup") from err

    async def while_handling(attempt, timeout):
        if attempt == 1:
            try:
                raise TimeoutError("slow upstream")
            except TimeoutError:
                raise ItemFailed("gave up")  # raised while handling: its context tells
        return "x", None  # `response.usage` may be None

    async def suppressed(attempt, timeout):
        try:
            raise TimeoutError("slow upstream")
        except TimeoutError:
            raise ItemFailed("not worth a retry") from None

    async def bug_in_handler(attempt, timeout):
        try:
            raise Flaky({"input_tokens": 1, "output_tokens": 0})
        except Flaky as err:
            return err.no_such_field  # an AttributeError while handling a 500: the bug wins

    class OddStatus(ItemFailed):
        status = 1  # not an HTTP status

    async def odd_status_over_limit(attempt, timeout):
        if attempt == 1:
            raise OddStatus("wrapped") from RateLimitError("slow down")
        return "y", SdkUsage(1, 1)

    processor = pacer.Processor(None, workers=8, max_retries=3, rpm=60000)
    processor.add(pacer.WorkItem("wrapped", direct=wrapped))
    processor.add(pacer.WorkItem("bug", direct=wrapped_bug))
    processor.add(pacer.WorkItem("handling", direct=while_handling))
    processor.add(pacer.WorkItem("suppressed", direct=suppressed))
    processor.add(pacer.WorkItem("handler-bug", direct=bug_in_handler))
    processor.add(pacer.WorkItem("limited", direct=odd_status_over_limit))
    result = asyncio.run(processor.run())
    by_id = {r.item_id: r for r in result.results}
    wrapped_result = by_id["wrapped"]
    assert wrapped_result.success and wrapped_result.output == "done", wrapped_result
    assert wrapped_result.attempts == 3
    assert wrapped_result.token_usage == {"input_tokens": 15, "output_tokens": 18, "total_tokens": 33}
    bug = by_id["bug"]
    assert not bug.success and bug.attempts == 1 and bug.error_kind == "BadRequest"
    assert "ItemFailed: lookup (from KeyError: 'missing')" in bug.error, bug.error
    handling = by_id["handling"]
    assert handling.success and handling.output == "x" and handling.attempts == 2, handling
    assert handling.token_usage["total_tokens"] == 0
    for item in ["suppressed", "handler-bug"]:
        assert not by_id[item].success and by_id[item].attempts == 1, by_id[item]
        assert by_id[item].error_kind == "BadRequest", by_id[item]
    assert by_id["handler-bug"].token_usage["input_tokens"] == 1, "the 500's usage is counted"
    limited = by_id["limited"]
    assert limited.success and limited.output == "y" and limited.attempts == 2, limited
    stats = processor.stats()
    # A server error and an invalid output retried for one, a timeout for another; the
    # refusal behind the odd status paused the pool once.
    assert stats["retries"] == 3 and stats["error_counts"] == {"BadRequest": 3}, stats
    assert stats["rate_limited_requests"] == 1 and stats["cooldowns"] == 1, stats


def test_a_work_item_needs_exactly_one_form():
    with pytest.raises(ValueError, match="exactly one"):
        pacer.WorkItem("x", prompt="a", factory=lambda a: "b")
    with pytest.raises(ValueError, match="needs a model"):
        pacer.Processor(None).add(pacer.WorkItem("x", prompt="a"))


def test_a_script_that_exits_right_after_a_run_exits_cleanly_every_time(tmp_path):
    script = pathlib.Path(__file__).with_name("exits_after_a_run.py")
    failures = []
    for _ in range(5):
        runs = [
            subprocess.Popen([sys.executable, str(script)], cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(6)
        ]
        for run in runs:
            out, err = run.communicate(timeout=120)
            if run.returncode != 0:
                failures.append((run.returncode, err[-600:]))
    assert not failures, failures


def test_a_wrong_model_entry_raises_pacer_error():
    with pytest.raises(pacer.PacerError, match=r"temperature"):
        pacer.Processor({"name": "m", "type": "mock", "temperature": 7})
    with pytest.raises(pacer.PacerError, match="TYPE:NAME"):
        pacer.Processor("gpt-4o-mini")

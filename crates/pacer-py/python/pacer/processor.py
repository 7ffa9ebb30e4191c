"""Seed 002's processor, on Pacer's engine: work items in three forms run by a pool of
workers, paced under the model's limits, retried with classified errors and one cool-down
per rate-limit event, with middleware, observers and a post-processor.

    import asyncio, pacer

    async def main():
        processor = pacer.Processor({"name": "gpt-4o-mini", "type": "openai", "rpm": 500},
                                    workers=20, temperature_schedule=[0.0, 0.25, 0.5])
        processor.add(pacer.WorkItem("q1", prompt="What is 2 + 2?"))
        processor.add(pacer.WorkItem("q2", factory=lambda attempt: {
            "prompt": "Name a colour.", "temperature": [0.0, 0.25, 0.5][min(attempt, 3) - 1]}))
        result = await processor.run()
        print(result.succeeded, "of", result.total_items)

    asyncio.run(main())
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence, Union

from pacer import _pacer
from pacer._errors import PacerError

__all__ = ["WorkItem", "ItemResult", "ProcessResult", "Processor"]


@dataclass
class WorkItem:
    """One piece of work: exactly one of `prompt` (text for the processor's model),
    `factory` (called with the attempt number, from 1, it returns that attempt's prompt: a
    string, or a dict with `prompt` and `system`, `temperature`, `top_p`, `max_tokens`) or
    `direct` (called with the attempt number and its timeout in seconds, an `async def` or a
    function returning `(output, usage)`, usage a dict of `input_tokens` and
    `output_tokens` or an SDK's usage object as it is: for calls Pacer does not make
    itself). `context` comes back with the result.

    An exception raised by a factory or a direct call is the item's error for that attempt,
    classified (by an HTTP status it carries, or its class: a `RateLimitError` pauses the
    pool once, a `TimeoutError`, a `ConnectionError` or a server error is retried, a
    `ValueError` is an output that did not validate, retried at the next temperature; a bug,
    a `TypeError` or a `KeyError` say, is not retried). An exception that tells nothing (the
    caller's own wrapper) is judged by what it was raised from (`raise ItemError(...) from
    err`). The first `usage` (or seed 002's `_failed_token_usage`: the failed attempt's own)
    and `retry_after` along that chain are taken: the tokens of failed attempts count.
    """

    item_id: str
    prompt: Optional[str] = None
    factory: Optional[Callable[[int], Any]] = None
    direct: Optional[Callable[[int, float], Any]] = None
    context: Any = None
    system: Optional[str] = None

    def __post_init__(self) -> None:
        given = [f for f in ("prompt", "factory", "direct") if getattr(self, f) is not None]
        if len(given) != 1:
            raise ValueError(
                f"work item {self.item_id!r}: give exactly one of prompt, factory, direct "
                f"(given: {', '.join(given) or 'none'})"
            )


@dataclass
class ItemResult:
    """How one item ended: `success`, its `output` (the reply's text, or what a direct call
    returned) or its `error` and `error_kind`, `attempts`, `token_usage` over every attempt
    (failed ones too), `elapsed_seconds`, and the item's `context`."""

    item_id: str
    success: bool
    output: Any
    error: Optional[str]
    error_kind: Optional[str]
    attempts: int
    token_usage: Dict[str, int]
    elapsed_seconds: float
    context: Any = None


@dataclass
class ProcessResult:
    """Every item's result, in the order they ended; `total_items == succeeded + failed`."""

    results: List[ItemResult] = field(default_factory=list)

    @property
    def total_items(self) -> int:
        return len(self.results)

    @property
    def succeeded(self) -> int:
        return sum(1 for r in self.results if r.success)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if not r.success)


Model = Union[str, Dict[str, Any], None]


class Processor:
    """Runs work items on `workers` workers under one model's limits (see the module's
    docs). `model` is a `[[models]]` entry of Pacer's config as a dict (`{"name":
    "gpt-4o-mini", "type": "openai", "rpm": 500, "tpm": 200000}`) or `"TYPE:NAME"`; `None`
    when every item is a direct call (then `rpm` and `tpm` pace them). `middleware` are
    objects with `before(item_id, request)` (which may return a changed request dict) and
    `after(item_id, result)`; `observers` objects with `on_event(event)`; `post_processor`
    is called with each `ItemResult` as it ends. Each may be `async`, but for observers.
    A wrong model entry raises `PacerError` naming the key."""

    def __init__(
        self,
        model: Model = None,
        *,
        workers: int = 5,
        max_retries: int = 3,
        temperature_schedule: Optional[Sequence[float]] = None,
        timeout: Optional[float] = None,
        rpm: Optional[int] = None,
        tpm: Optional[int] = None,
        middleware: Sequence[Any] = (),
        observers: Sequence[Any] = (),
        post_processor: Optional[Callable[[ItemResult], Optional[Awaitable[None]]]] = None,
    ) -> None:
        if model is None:
            entry: Dict[str, Any] = {"name": "direct", "type": "mock"}
        elif isinstance(model, str):
            kind, sep, name = model.partition(":")
            if not sep:
                raise PacerError(f"model {model!r}: expected TYPE:NAME, e.g. openai:gpt-4o-mini")
            entry = {"name": name, "type": kind}
        else:
            entry = dict(model)
        for key, value in (
            ("temperature_schedule", list(temperature_schedule) if temperature_schedule else None),
            ("timeout_secs", timeout),
            ("rpm", rpm),
            ("tpm", tpm),
        ):
            if value is not None:
                entry[key] = value
        try:
            self._native = _pacer.Processor(
                json.dumps(entry),
                model is None,
                workers,
                max_retries,
                ItemResult,
                list(middleware),
                list(observers),
                post_processor,
            )
        except ValueError as e:
            raise PacerError(str(e)) from None
        self._added = 0

    def add(self, item: WorkItem) -> None:
        """Adds `item` to the next `run`."""
        if item.prompt is not None:
            self._native.add(item.item_id, "prompt", item.prompt, item.context, item.system)
        elif item.factory is not None:
            self._native.add(item.item_id, "factory", item.factory, item.context)
        else:
            self._native.add(item.item_id, "direct", item.direct, item.context)
        self._added += 1

    add_work = add  # seed 002's name

    async def run(self) -> ProcessResult:
        """Runs every item added and returns their results once all have ended."""
        pending = self._native.start()
        # Waited for in an executor thread, so this loop goes on running async hooks and
        # direct calls meanwhile.
        results = await asyncio.get_running_loop().run_in_executor(None, pending.wait)
        return ProcessResult(results=list(results))

    process_all = run  # seed 002's name

    def stats(self) -> Dict[str, Any]:
        """The totals so far: `total` (always `succeeded + failed`), `pending`, `retries`,
        `rate_limited_requests`, `cooldowns` (one per rate-limit event, however many
        requests it refused), `error_counts` by kind, `token_usage`."""
        return self._native.stats()

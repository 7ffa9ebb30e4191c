"""Pacer from Python: run batches of prompts to language models, paced under every limit."""

import os
import threading
from typing import Any, Dict, Iterator, List, Mapping, Optional, Union

__version__: str

Config = Union[str, os.PathLike[str], Mapping[str, Any]]
PathLike = Union[str, os.PathLike[str]]

class PacerError(ValueError):
    """A run that could not start: a wrong config, or an output folder that holds another run."""

def run(
    config: Config,
    *,
    output_dir: Optional[PathLike] = None,
    resume: bool = True,
    fresh: bool = False,
    retry_failed: bool = False,
    num_prompts: Optional[int] = None,
    quiet: bool = True,
    report: bool = False,
    extra: Optional[List[str]] = None,
) -> Dict[str, Any]:
    """Runs the batch and returns its summary, with "exit" and "output_dir" added. A Ctrl-C
    stops it, lets it save what is finished, and raises KeyboardInterrupt."""

def start(
    config: Config,
    *,
    output_dir: Optional[PathLike] = None,
    resume: bool = True,
    fresh: bool = False,
    retry_failed: bool = False,
    num_prompts: Optional[int] = None,
    quiet: bool = True,
    report: bool = False,
    extra: Optional[List[str]] = None,
) -> Run:
    """Starts the batch in a background thread and returns it at once."""

def summary(output_dir: PathLike) -> Dict[str, Any]:
    """The summary of the run in `output_dir`."""

def records(
    output_dir: PathLike, *, follow: Optional[threading.Thread] = None
) -> Iterator[Dict[str, Any]]:
    """Each record of the run in `output_dir`, as a dict; with `follow`, until that thread ends."""

class Run:
    """A batch run going on in a background thread."""

    output_dir: str
    def __init__(self, config: Config, **options: Any) -> None: ...
    def records(self) -> Iterator[Dict[str, Any]]:
        """Each record as it is written, until the run ends."""
    def done(self) -> bool:
        """Whether the run has ended."""
    def stop(self) -> None:
        """Stops the run: no job starts after this, the ones in flight end and are saved."""
    def wait(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Waits for the run to end and returns its summary."""

class WorkItem:
    """One piece of work: exactly one of `prompt`, `factory` (attempt -> prompt or dict) or
    `direct` ((attempt, timeout) -> (output, usage), async or not); `context` comes back."""

    item_id: str
    prompt: Optional[str]
    factory: Optional[Any]
    direct: Optional[Any]
    context: Any
    system: Optional[str]
    def __init__(
        self,
        item_id: str,
        prompt: Optional[str] = None,
        factory: Optional[Any] = None,
        direct: Optional[Any] = None,
        context: Any = None,
        system: Optional[str] = None,
    ) -> None: ...

class ItemResult:
    """How one item ended."""

    item_id: str
    success: bool
    output: Any
    error: Optional[str]
    error_kind: Optional[str]
    attempts: int
    token_usage: Dict[str, int]
    elapsed_seconds: float
    context: Any

class ProcessResult:
    """Every item's result, in the order they ended."""

    results: List[ItemResult]
    @property
    def total_items(self) -> int: ...
    @property
    def succeeded(self) -> int: ...
    @property
    def failed(self) -> int: ...

class Processor:
    """Runs work items on `workers` workers under one model's limits, retries and cool-downs."""

    def __init__(
        self,
        model: Union[str, Mapping[str, Any], None] = None,
        *,
        workers: int = 5,
        max_retries: int = 3,
        temperature_schedule: Optional[List[float]] = None,
        timeout: Optional[float] = None,
        rpm: Optional[int] = None,
        tpm: Optional[int] = None,
        middleware: List[Any] = ...,
        observers: List[Any] = ...,
        post_processor: Optional[Any] = None,
    ) -> None: ...
    def add(self, item: WorkItem) -> None:
        """Adds `item` to the next `run`."""
    def add_work(self, item: WorkItem) -> None:
        """Seed 002's name for `add`."""
    async def run(self) -> ProcessResult:
        """Runs every item added; their results once all have ended."""
    async def process_all(self) -> ProcessResult:
        """Seed 002's name for `run`."""
    def stats(self) -> Dict[str, Any]:
        """Totals: total (= succeeded + failed), pending, retries, rate_limited_requests,
        cooldowns, error_counts, token_usage."""

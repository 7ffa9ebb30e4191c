"""Pacer from Python: `pacer.run(config)` runs a batch — prompts × models × samples, paced
under every limit, retried, journalled, resumable — and returns its summary;
`pacer.start(config)` runs it in the background while `Run.records()` follows its
journal; `pacer.records(folder)` reads one.

    import pacer
    summary = pacer.run("pacer.toml")                      # a config file
    summary = pacer.run({"prompts_file": "prompts.jsonl",  # or the same as a dict
                         "models": [{"name": "small", "type": "mock"}]})

The engine is Pacer's Rust library, the same as the `pacer` command's (which the wheel puts
on the PATH).
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any, Dict, Iterator, List, Mapping, Optional, Union

from pacer import _pacer
from pacer._errors import PacerError
from pacer.processor import ItemResult, ProcessResult, Processor, WorkItem

__all__ = [
    "ItemResult",
    "PacerError",
    "ProcessResult",
    "Processor",
    "Run",
    "WorkItem",
    "records",
    "run",
    "start",
    "summary",
    "__version__",
]
__version__: str = _pacer.__version__

Config = Union[str, "os.PathLike[str]", Mapping[str, Any]]

RESULTS_FILE = "results.jsonl"
SUMMARY_FILE = "summary.json"


def _args(
    config: Config,
    *,
    output_dir: Optional[Union[str, "os.PathLike[str]"]],
    resume: bool,
    fresh: bool,
    retry_failed: bool,
    num_prompts: Optional[int],
    quiet: bool,
    report: bool,
    extra: Optional[List[str]],
) -> tuple:
    args: List[str] = []
    text = None
    if isinstance(config, Mapping):
        text = json.dumps(dict(config))
    else:
        args += ["--config", os.fspath(config)]
    if output_dir is not None:
        args += ["--output", os.fspath(output_dir)]
    if fresh:
        args.append("--fresh")
    elif retry_failed:
        args.append("--retry-failed")
    elif resume:
        args.append("--resume")
    if num_prompts is not None:
        args += ["--num-prompts", str(num_prompts)]
    if quiet:
        args.append("--quiet")
    if report:
        args.append("--report")
    args += list(extra or [])
    return args, text


def run(
    config: Config,
    *,
    output_dir: Optional[Union[str, "os.PathLike[str]"]] = None,
    resume: bool = True,
    fresh: bool = False,
    retry_failed: bool = False,
    num_prompts: Optional[int] = None,
    quiet: bool = True,
    report: bool = False,
    extra: Optional[List[str]] = None,
) -> Dict[str, Any]:
    """Runs the batch `config` describes and returns its summary (`summary.json` as a dict,
    with `"exit"`: 0 done, 3 jobs still pending).

    `config` is a config file's path (Pacer's TOML or seed 003's JSON) or a dict in the same
    form; a dict's relative paths are from the current folder. By default a run resumes
    what its output folder holds (`resume=True`): only the jobs not done yet are sent, and
    running the same call again after a crash or a Ctrl-C finishes it. A Ctrl-C (a
    notebook's interrupt) stops the run, waits for it to save what is finished, and raises
    `KeyboardInterrupt`; a second one raises at once. `fresh=True` moves
    earlier results aside; `retry_failed=True` sends the failed jobs again. `extra` is more
    `pacer run` flags (`["--rpm", "500"]`).

    Raises `PacerError` when the config or the folder is wrong (nothing is sent then).

        >>> summary = pacer.run({"prompts_file": "prompts.jsonl", "output_dir": "out",
        ...                      "models": [{"name": "small", "type": "mock"}]})
        >>> summary["totals"]["records"]
    """
    args, text = _args(
        config,
        output_dir=output_dir,
        resume=resume,
        fresh=fresh,
        retry_failed=retry_failed,
        num_prompts=num_prompts,
        quiet=quiet,
        report=report,
        extra=extra,
    )
    try:
        code, output = _pacer.run(args, text)
    except ValueError as e:
        raise PacerError(str(e)) from None
    result = summary(output)
    result["exit"] = code
    result["output_dir"] = output
    return result


def summary(output_dir: Union[str, "os.PathLike[str]"]) -> Dict[str, Any]:
    """The summary (`summary.json`) of the run in `output_dir`, as a dict."""
    with open(os.path.join(os.fspath(output_dir), SUMMARY_FILE), encoding="utf-8") as f:
        return json.load(f)


def records(
    output_dir: Union[str, "os.PathLike[str]"], *, follow: Optional[threading.Thread] = None
) -> Iterator[Dict[str, Any]]:
    """Each record of the run in `output_dir` (its journal, `results.jsonl`), as a dict, in
    the order written: one per job (prompt × model × sample).

    With `follow` (the thread of a run going on), it waits for new records until that thread
    has ended, so a notebook can watch a run; a line still being written is not read until it
    is whole.
    """
    path = os.path.join(os.fspath(output_dir), RESULTS_FILE)
    while follow is not None and not os.path.exists(path) and follow.is_alive():
        time.sleep(0.05)
    if not os.path.exists(path):
        return
    with open(path, "rb") as f:
        partial = b""
        while True:
            line = f.readline()
            if line.endswith(b"\n"):
                line, partial = partial + line, b""
                if line.strip():
                    yield json.loads(line)
                continue
            partial += line
            if follow is None or not follow.is_alive():
                # The run has ended: what it wrote is all there is (one more look, for the
                # lines written as it ended).
                rest = f.read()
                for tail in (partial + rest).split(b"\n"):
                    if tail.strip():
                        try:
                            yield json.loads(tail)
                        except ValueError:
                            pass  # a torn last line: its job runs again on resume
                return
            time.sleep(0.05)


class Run:
    """A batch run going on in a background thread (see `start`)."""

    def __init__(self, config: Config, **options: Any) -> None:
        self._result: Optional[Dict[str, Any]] = None
        self._error: Optional[BaseException] = None
        args, text = _args(config, **options)
        self._output: Optional[str] = None
        try:
            self.output_dir: str = _pacer.output_dir(args, text)
        except ValueError as e:
            raise PacerError(str(e)) from None

        self._stopper = _pacer.Stopper()

        def work() -> None:
            try:
                code, output = _pacer.run(args, text, self._stopper)
                self._output = output
                result = summary(output)
                result["exit"] = code
                result["output_dir"] = output
                self._result = result
            except ValueError as e:
                self._error = PacerError(str(e))
            except BaseException as e:  # noqa: BLE001 - handed to wait()
                self._error = e

        self._thread = threading.Thread(target=work, name="pacer-run", daemon=True)
        self._thread.start()

    def records(self) -> Iterator[Dict[str, Any]]:
        """Each record as it is written, until the run ends."""
        return records(self.output_dir, follow=self._thread)

    def done(self) -> bool:
        """Whether the run has ended."""
        return not self._thread.is_alive()

    def stop(self) -> None:
        """Stops the run as a Ctrl-C stops `pacer run`: no job starts after this, the ones
        in flight end and are saved, and `wait()` gives the summary with `"exit": 130`;
        running the same config again finishes it."""
        self._stopper.stop()

    def wait(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Waits for the run to end and returns its summary; raises what stopped it."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError("the run is still going")
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


def start(
    config: Config,
    *,
    output_dir: Optional[Union[str, "os.PathLike[str]"]] = None,
    resume: bool = True,
    fresh: bool = False,
    retry_failed: bool = False,
    num_prompts: Optional[int] = None,
    quiet: bool = True,
    report: bool = False,
    extra: Optional[List[str]] = None,
) -> Run:
    """Starts the batch `config` describes in a background thread (options as `run`'s) and
    returns it at once: iterate `Run.records()` to follow it, `Run.wait()` for its summary,
    `Run.stop()` to stop it (what is finished is saved).

        >>> job = pacer.start("pacer.toml")
        >>> for record in job.records():
        ...     print(record["prompt_id"], record["status"])
        >>> job.wait()["totals"]
    """
    return Run(
        config,
        output_dir=output_dir,
        resume=resume,
        fresh=fresh,
        retry_failed=retry_failed,
        num_prompts=num_prompts,
        quiet=quiet,
        report=report,
        extra=extra,
    )

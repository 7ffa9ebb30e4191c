"""Pacer from Python: run batches of prompts to language models, paced under every limit."""

import os
import threading
from typing import Any, Dict, Iterator, List, Mapping, Optional, Union

__version__: str

Config = Union[str, os.PathLike[str], Mapping[str, Any]]
PathLike = Union[str, os.PathLike[str]]

class PacerError(Exception):
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
    """Runs the batch and returns its summary, with "exit" and "output_dir" added."""

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
    def wait(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Waits for the run to end and returns its summary."""

"""The native half of the `pacer` package (Rust, through PyO3)."""

from typing import Any, Dict, List, Optional, Tuple

__version__: str

def cli(argv: List[str]) -> int:
    """Runs the `pacer` command with `argv` (the program's name first); its exit status."""

class Stopper:
    """Stops the run it is given to, as a first Ctrl-C would."""

    def __init__(self) -> None: ...
    def stop(self) -> None:
        """No job starts after this; the ones in flight end and are saved."""

def run(args: List[str], config: Optional[str] = None, stopper: Optional[Stopper] = None) -> Tuple[int, str]:
    """Runs `pacer run` with the flags `args` and, where given, `config` (JSON text in the
    config file's form); returns (exit status, output folder). Raises ValueError for a wrong
    flag or config; on the main thread a Ctrl-C stops the run, lets it save, and raises
    KeyboardInterrupt."""

def output_dir(args: List[str], config: Optional[str] = None) -> str:
    """The output folder `run(args, config)` would write to; its config checked."""

class Processor:
    """The native processor behind `pacer.Processor`."""

    def __init__(
        self,
        entry: str,
        direct_only: bool,
        workers: int,
        max_retries: int,
        make_result: Any,
        middleware: List[Any],
        observers: List[Any],
        post_processor: Optional[Any] = None,
    ) -> None: ...
    def add(self, item_id: str, kind: str, payload: Any, context: Any, system: Optional[str] = None) -> None: ...
    def start(self) -> Pending:
        """Starts every item added (on the running event loop's thread)."""
    def stats(self) -> Dict[str, Any]: ...

class Pending:
    """A processor's run going on."""

    def wait(self) -> List[Any]:
        """Blocks until every item has ended; their results, in the order they ended."""

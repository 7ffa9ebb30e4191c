"""The `pacer` command of the wheel: the Rust program itself, run in this process."""

import sys

from pacer import _pacer


def main() -> None:
    """Runs `pacer` with this process's arguments and exits with its status."""
    sys.exit(_pacer.cli(["pacer", *sys.argv[1:]]))

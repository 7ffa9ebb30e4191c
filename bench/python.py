#!/usr/bin/env python3
"""Direct-call items through the Python package: 10,000 `async def` calls that return at
once, on 100 workers — the cost of the Python boundary per item (run by bench/python.sh,
beside the same through the Rust library)."""

import asyncio
import sys
import time

import pacer


async def answer(attempt, timeout):
    return "ok", {"input_tokens": 1, "output_tokens": 1}


async def main(items, workers):
    processor = pacer.Processor(None, workers=workers)
    for i in range(items):
        processor.add(pacer.WorkItem(f"item-{i}", direct=answer))
    started = time.perf_counter()
    result = await processor.run()
    seconds = time.perf_counter() - started
    assert result.succeeded == items, processor.stats()
    print(f"python package: {items} direct-call items on {workers} workers in {seconds:.3f} s: "
          f"{items / seconds:.0f} items/s")


if __name__ == "__main__":
    items = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    asyncio.run(main(items, workers))

"""A script that ends as soon as its processor's run has: async hooks, direct calls that
fail and are retried, a rate limit, a factory. Run many times by test_processor.py: the
interpreter must exit cleanly every time (an engine thread touching Python while it shuts
down crashed about one run in ten)."""

import asyncio, sys
import pacer

class Boom(Exception):
    def __init__(self, status):
        super().__init__(f"status {status}")
        self.status_code = status
        self.retry_after = 0.05

async def flaky(attempt, timeout):
    await asyncio.sleep(0.001)
    if attempt == 1:
        raise Boom(500)
    return {"ok": attempt}, {"input_tokens": 3, "output_tokens": 4}

async def limited(attempt, timeout):
    if attempt == 1:
        raise Boom(429)
    return "fine", {"input_tokens": 1, "output_tokens": 1}

def broken(attempt, timeout):
    raise TypeError("not retried")

class Hooks:
    async def before(self, item_id, request):
        await asyncio.sleep(0)
    async def after(self, item_id, result):
        await asyncio.sleep(0)

class Seen:
    def on_event(self, event):
        pass

async def main():
    processor = pacer.Processor({"name": "m", "type": "mock", "latency_ms": 5}, workers=8,
                                middleware=[Hooks()], observers=[Seen()],
                                post_processor=lambda r: None)
    for i in range(10):
        processor.add(pacer.WorkItem(f"p{i}", prompt=f"question {i}"))
        processor.add(pacer.WorkItem(f"f{i}", direct=flaky))
        processor.add(pacer.WorkItem(f"l{i}", direct=limited))
        processor.add(pacer.WorkItem(f"b{i}", direct=broken))
        processor.add(pacer.WorkItem(f"g{i}", factory=lambda a: {"prompt": "hi", "temperature": 0.1 * a}))
    result = await processor.run()
    s = processor.stats()
    assert s["total"] == 50 == s["succeeded"] + s["failed"], s

asyncio.run(main())

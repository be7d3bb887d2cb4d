"""The bounded pool that runs network work beside the event loop: the server keeps answering (``/api/health``)
while photos are colorized, and a full pool refuses new work at once instead of queueing without end."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class Busy(RuntimeError):
    """Every place in the pool is taken: try again later (HTTP 503)."""


class WorkPool:
    """``workers`` threads; at most ``capacity`` jobs in work or waiting. Used from the event loop only."""

    def __init__(self, *, workers: int, capacity: int) -> None:
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chromalab-serve")
        self.capacity = capacity
        self.taken = 0

    async def run(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """``fn(*args, **kwargs)`` on a worker thread; ``Busy`` when the pool is full."""
        if self.taken >= self.capacity:
            raise Busy(f"the server is busy ({self.taken} photos in work); try again in a moment")
        self.taken += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self.executor, functools.partial(fn, *args, **kwargs)
            )
        finally:
            self.taken -= 1

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

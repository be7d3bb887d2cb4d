"""Request bodies read under limits: at most so many bytes, at least a minimum average rate (a client that
trickles its body is cut off, 408), at most so many bodies being received at once (503); their JSON is
parsed by ``files.parse_json``, whose nesting never reaches the interpreter's recursion limit (400, never
500).

Each limit bounds what a slow or hostile client can hold: eight unfinished 45 MB uploads held 360 MB, and a
body sent a byte at a time kept its connection for as long as the client liked."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import Request

JSON_BYTES = 16_000  # a JSON body of the API (a study answer) is a few hundred bytes


class BodyError(Exception):
    """A body refused while it was read; ``status``: 408 (too slow), 413 (too large) or 503 (too many at
    once)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Receiving:
    """At most ``limit`` request bodies received at once, at most ``per_client`` of them from one client
    address (one address cannot take every slot: eight bodies of one client, sent and then stalled, held
    every upload off); one more waits up to ``wait`` seconds for a slot (a burst of honest clients queues;
    its bodies wait unread, a few kB each), then gets 503. Event loop only."""

    def __init__(self, limit: int, *, per_client: int, wait: float = 10.0) -> None:
        self.limit, self.per_client, self.wait = limit, per_client, wait
        self.taken = 0
        self.by_client: dict[str, int] = {}
        self._free = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def slot(self, client: str) -> AsyncIterator[None]:
        """One body received meanwhile from ``client``; ``BodyError`` 503 when that client holds
        ``per_client`` slots already, or when no slot frees within ``wait`` seconds."""
        async with self._free:
            if self.by_client.get(client, 0) >= self.per_client:
                raise BodyError(
                    503,
                    f"this address is sending {self.per_client} uploads already; send the next "
                    "when one is done",
                )
            try:
                await asyncio.wait_for(self._free.wait_for(lambda: self.taken < self.limit), self.wait)
            except TimeoutError:
                raise BodyError(
                    503, f"the server is receiving {self.taken} uploads already; try again in a moment"
                ) from None
            self.taken += 1
            self.by_client[client] = self.by_client.get(client, 0) + 1
        try:
            yield
        finally:
            async with self._free:
                self.taken -= 1
                self.by_client[client] -= 1
                if not self.by_client[client]:
                    del self.by_client[client]
                self._free.notify()


@dataclass(frozen=True)
class Pace:
    """A body must arrive at ``min_rate`` bytes per second on average, after ``grace`` seconds for free,
    and never stall for longer than ``grace``: bytes sent at once buy no time to stall on (45 MB sent, then
    nothing, held its receiving slot for 920 s under the average alone)."""

    grace: float
    min_rate: float

    def allowed(self, received: int, last: float) -> float:
        """Seconds since the start by which the next chunk must have come, ``received`` bytes having come, the
        last of them ``last`` seconds after the start."""
        return min(self.grace + received / self.min_rate, last + self.grace)


def check_length(request: Request, max_bytes: int) -> None:
    """``BodyError`` 413 when the declared length is above ``max_bytes``, before any byte is read."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise BodyError(413, f"request of {int(declared):,} bytes is above the {max_bytes:,}-byte limit")


async def chunks(request: Request, *, max_bytes: int, pace: Pace) -> AsyncIterator[bytes]:
    """The request's body chunk by chunk; ``BodyError`` 413 past ``max_bytes`` (the declared length is checked
    before any byte is read), 408 when it comes slower than ``pace`` or stalls."""
    check_length(request, max_bytes)
    start, received, last = time.monotonic(), 0, 0.0
    while True:
        left = start + pace.allowed(received, last) - time.monotonic()
        try:
            message = await asyncio.wait_for(request.receive(), timeout=max(left, 0.001))
        except TimeoutError:
            raise BodyError(
                408,
                f"the request's body came too slowly (under {pace.min_rate / 1000:g} kB/s "
                f"after {pace.grace:g} s, or nothing for {pace.grace:g} s)",
            ) from None
        if message["type"] == "http.disconnect":
            raise BodyError(400, "the client went away before its request was complete")
        chunk = message.get("body", b"")
        received += len(chunk)
        if chunk:
            last = time.monotonic() - start
        if received > max_bytes:
            raise BodyError(413, f"request is above the {max_bytes:,}-byte limit")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def read_body(request: Request, *, max_bytes: int, pace: Pace) -> bytes:
    """The whole body, read under the same limits as ``chunks``."""
    return b"".join([chunk async for chunk in chunks(request, max_bytes=max_bytes, pace=pace)])

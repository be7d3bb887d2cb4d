"""How many new study participants each client may enrol: a token bucket per address."""

from __future__ import annotations

import threading
import time


class Newcomers:
    """New participants per client (its address), as a token bucket: ``burst`` at once, then ``per_minute``.
    Each enrolment writes a participant's trials: a script forging ids must not fill the file or hold the
    study's lock while real participants answer. Thread-safe."""

    def __init__(self, *, burst: int = 60, per_minute: float = 60.0) -> None:
        self.burst, self.rate = burst, per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, when)
        self._lock = threading.Lock()

    def admit(self, client: str) -> bool:
        now = time.monotonic()
        with self._lock:
            if len(self._buckets) > 10_000:  # forget the clients whose bucket is full again
                self._buckets = {
                    key: (tokens, when)
                    for key, (tokens, when) in self._buckets.items()
                    if tokens + (now - when) * self.rate < self.burst
                }
            tokens, when = self._buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - when) * self.rate)
            if tokens < 1:
                self._buckets[client] = (tokens, now)
                return False
            self._buckets[client] = (tokens - 1, now)
            return True

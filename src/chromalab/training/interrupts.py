"""Ctrl-C and SIGTERM during a single-process training run: noted when they come and acted on between two
steps, where the run's state is whole, so that the checkpoint written then resumes exactly and no step is
lost. A second signal stops at once, as it would have without this."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def deferred_stop(enabled: bool = True) -> Iterator[Callable[[], int | None]]:
    """Within: SIGINT and SIGTERM are noted instead of stopping the process; yields ``asked()``, the signal
    asked for (None: none yet). Off (``asked`` always None) unless ``enabled`` and in the main thread."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return
    asked: list[int] = []

    def note(signum: int, frame: object) -> None:
        if asked:  # asked twice: at once, as the handler before this one would
            handler = previous[signum]
            if callable(handler):
                handler(signum, frame)
            raise KeyboardInterrupt
        asked.append(signum)

    previous = {sig: signal.signal(sig, note) for sig in STOP_SIGNALS}
    try:
        yield lambda: asked[0] if asked else None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def stop(signum: int) -> None:
    """Stop the process as the signal ``signum`` would: KeyboardInterrupt for Ctrl-C, else exit 128 + N."""
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)

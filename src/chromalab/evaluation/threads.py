"""Thread-count helpers for the elementwise parts of the pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def one_thread() -> Iterator[None]:
    """Run a block on one torch thread, then restore the count.

    Metrics and rendering are elementwise passes over one photo: one thread is as fast on an idle machine
    and 3-6x faster on a busy one, where OpenMP threads spin against other processes (measured with
    ``chromalab evaluate``); networks keep all threads.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)

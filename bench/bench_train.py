"""Training-speed benchmark: images per second of training steps and of the batch loader alone.

    python bench/bench_train.py CACHE        (CACHE from `chromalab prepare ... --size 128`)

For ``zhang-eccv16`` at width 0.25 and the default ``fast`` model, at the cache's size (128 x 128), batch 32,
2 threads, rebalanced soft-encoded cross-entropy over gamut:10: a timed run of training steps with and
without channels_last. Then the loader alone (``load_batch`` + flips over the memory-mapped cache).
The issue asks the loader to be at least 5x faster than what training consumes.
Writes ``bench/results/train.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from chromalab.training.batches import batch_slices, epoch_order, load_batch, random_flip
from chromalab.training.config import TrainConfig
from chromalab.training.distributed import World
from chromalab.training.steps import build_run, training_step

RESULTS = Path(__file__).resolve().parent / "results" / "train.json"
BATCH = 32


def train_speed(cache, config: TrainConfig, steps: int) -> float:
    """Images per second over ``steps`` training steps, after two warm-up steps."""
    run = build_run(config, cache, World())
    order = epoch_order(cache.train_indices, seed=0, epoch=0)
    parts = batch_slices(len(order), BATCH)[: steps + 2]
    batches = [load_batch(cache.l, cache.ab, order[p]) for p in parts]
    for lightness, ab in batches[:2]:
        training_step(run, lightness, ab)
    start = time.perf_counter()
    for lightness, ab in batches[2:]:
        training_step(run, lightness, ab)
    return steps * BATCH / (time.perf_counter() - start)


def loader_speed(cache, batches: int) -> float:
    order = epoch_order(cache.train_indices, seed=0, epoch=1)
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for part in batch_slices(len(order), BATCH)[:batches]:
        random_flip(*load_batch(cache.l, cache.ab, order[part]), generator)
    return batches * BATCH / (time.perf_counter() - start)


def main() -> None:
    from chromalab.data.cache import Cache

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache", type=Path)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(2)
    cache = Cache(args.cache)
    load = os.getloadavg()[0]
    rows = {}
    for name, options in [("zhang-eccv16", {"width": 0.25}), ("fast", {})]:
        for channels_last in (True, False):
            config = TrainConfig(
                model=name, model_options=options, batch_size=BATCH, channels_last=channels_last
            )
            key = f"{name} {options} channels_last={channels_last}"
            rows[key] = train_speed(cache, config, args.steps)
            print(f"train  {key:50s} {rows[key]:8.1f} images/s")
    rows["loader"] = loader_speed(cache, 200)
    slowest_need = max(v for k, v in rows.items() if k != "loader")
    print(
        f"loader {'load_batch + flips, 1 process':50s} {rows['loader']:8.1f} images/s "
        f"({rows['loader'] / slowest_need:.0f}x the fastest training configuration)"
    )
    print(f"load average {load:.2f} at start, {os.getloadavg()[0]:.2f} at end (2 cores, shared)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"images_per_s": rows, "cache_size": int(cache.size), "batch": BATCH}, indent=2)
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

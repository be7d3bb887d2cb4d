"""Size and cost of a network: parameters, FLOPs of one forward pass, median forward time."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

PEAK_GFLOPS = 230.0  # fp32 matmul peak of the 2-core reference machine (docs/design.md): the speed floor


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, x: torch.Tensor) -> int:
    """FLOPs of one forward pass: 2 x multiply-adds of every Conv2d, ConvTranspose2d and Linear."""
    total = 0

    def conv(module: nn.Conv2d, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        total += 2 * output.numel() * (module.in_channels // module.groups) * kh * kw  # per output value

    def conv_transpose(module: nn.ConvTranspose2d, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        total += 2 * inputs[0].numel() * (module.out_channels // module.groups) * kh * kw  # per input value

    def linear(module: nn.Linear, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        nonlocal total
        total += 2 * output.numel() * module.in_features

    hooks = {nn.ConvTranspose2d: conv_transpose, nn.Conv2d: conv, nn.Linear: linear}
    handles = []
    for module in model.modules():
        for kind, hook in hooks.items():
            if isinstance(module, kind):
                handles.append(module.register_forward_hook(hook))
                break
    try:
        with torch.inference_mode():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return total


def seconds_of(fn: Callable[[], object]) -> float:
    """Wall time of one call of ``fn``."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_time(fn: Callable[[], object], *, runs: int, warmup: int = 1) -> tuple[float, list[float]]:
    """Median wall time of ``fn`` over ``runs`` calls after ``warmup`` calls, and all the samples."""
    for _ in range(warmup):
        fn()
    samples = [seconds_of(fn) for _ in range(runs)]
    return statistics.median(samples), samples


def interleaved_medians(
    calls: dict[str, Callable[[], object]], *, rounds: int, warmup: int = 1
) -> dict[str, float]:
    """Median wall time of each call, measured in ``rounds`` rounds that run every call once, after ``warmup``
    such rounds: on a shared machine whose speed drifts, the calls compared see the same drift."""
    for _ in range(warmup):
        for fn in calls.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, fn in calls.items():
            samples[name].append(seconds_of(fn))
    return {name: statistics.median(values) for name, values in samples.items()}

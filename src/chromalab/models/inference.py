"""A trained network in its inference form: the same outputs (to float rounding) in fewer passes over memory.

``for_inference`` puts a network in eval mode, folds each BatchNorm into the convolution it directly follows
and stores the weights channels-last. Folding, with the BatchNorm's running statistics (mean m, variance v,
scale g, shift beta, epsilon e) and s = g / sqrt(v + e):

    w' = w * s (per output channel),  b' = (b - m) * s + beta,

after which the BatchNorm is an identity. A convolution and its BatchNorm are a pair when they are neighbours
in an ``nn.Sequential`` (what follows what is then the data flow) or when a module names them in
``conv_bn_pairs`` ((conv attribute, BatchNorm attribute), ...), as EfficientNet's blocks do. The default
network loses 54 BatchNorm passes per forward (its speed: the model card, ``bench/bench_default.py``).

Only for inference: a folded network must not be trained (its BatchNorms are gone). ``Colorizer.load`` and
``Colorizer.untrained`` apply it to the network they have just read or built, which nobody else holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

import torch
from torch import nn


def conv_bn_pairs(model: nn.Module) -> Iterator[tuple[nn.Module, str, nn.Conv2d, nn.BatchNorm2d]]:
    """(module holding the BatchNorm, its attribute name, the convolution, the BatchNorm) for every pair whose
    BatchNorm has running statistics (one without normalises by each batch's own and cannot be folded)."""
    for module in model.modules():
        candidates = []
        if isinstance(module, nn.Sequential):
            candidates += [
                (conv, bn_name, bn) for (_, conv), (bn_name, bn) in pairwise(module.named_children())
            ]
        candidates += [
            (getattr(module, conv_name, None), bn_name, getattr(module, bn_name, None))
            for conv_name, bn_name in getattr(module, "conv_bn_pairs", ())
        ]
        for conv, bn_name, bn in candidates:
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.running_var is not None:
                yield module, bn_name, conv, bn


@torch.no_grad()
def fold_batchnorm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """Give ``conv`` the BatchNorm's effect (eval mode: running statistics), in place."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("a BatchNorm without running statistics cannot be folded")
    scale = torch.rsqrt(bn.running_var + bn.eps)  # (C,)
    shift = -bn.running_mean * scale
    if bn.affine:
        scale, shift = scale * bn.weight, shift * bn.weight + bn.bias
    bias = conv.bias if conv.bias is not None else torch.zeros_like(scale)
    conv.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
    conv.bias = nn.Parameter(bias * scale + shift, requires_grad=False)


def for_inference(model: nn.Module) -> nn.Module:
    """``model`` (changed in place) in eval mode, its BatchNorms folded, channels-last; returns it."""
    model.eval()
    for holder, bn_name, conv, bn in list(conv_bn_pairs(model)):
        fold_batchnorm(conv, bn)
        setattr(holder, bn_name, nn.Identity())
    _flush_subnormals(model)
    return model.to(memory_format=torch.channels_last).requires_grad_(False)


def _flush_subnormals(model: nn.Module) -> None:
    """Zero the weights below float32's smallest normal (|w| < 1.2e-38) that folding leaves (the bundled
    network: 52,711 of 4.1 M). They change no output (measured: logits identical), but convolutions on them
    are slow, on torch and on onnxruntime (``colorize.export`` exports this form): the bundled network took
    117 ms at 256x256 with them, 19 ms without (2 threads)."""
    with torch.no_grad():
        for weights in model.parameters():
            weights[(weights != 0) & (weights.abs() < torch.finfo(weights.dtype).tiny)] = 0

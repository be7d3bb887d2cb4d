"""Figures of what a model does: temperature sweep, comparison grids, the lightness-averaged view,
activation maps, and a run's loss curves. Pure: images (uint8 RGB arrays) and colorizers in, a matplotlib
``Figure`` out (see ``figures.save_figure``). The activation maps need a torch ``Colorizer``; the rest takes
either backend."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from chromalab.analysis.figures import PANEL, image_grid, new_figure
from chromalab.color.decoding import DEFAULT_TEMPERATURE
from chromalab.color.lab import lab_to_srgb8, normalize_l
from chromalab.color.srgb8 import grey_rendering, rgb_lightness_u8
from chromalab.evaluation.metrics import rgb8_to_ab
from chromalab.images import Lightness

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from chromalab.colorize.core import BaseColorizer as Colorizer

# Gustavsson fig. 2: from the mean (1) to the mode (0)
TEMPERATURES = (
    1.0,
    0.77,
    0.58,
    0.38,
    0.29,
    0.14,
    0.0,
)
Named = tuple[str, np.ndarray]  # (title, uint8 RGB (H, W, 3))
ROW_NAME_CHARS = 28  # longer photo names are cut: they run into the row above
# mean code values from its own grey: scanned black-and-white JPEGs, sepia ones (2.6) too
GREY_TOLERANCE = 4.0


def grey_of(rgb: np.ndarray) -> np.ndarray:
    """What the network sees: the photo's lightness as an exact 8-bit grey (R = G = B)."""
    return grey_rendering(rgb_lightness_u8(rgb))


# -- temperature
# ----------------------------------------------------------------------------------------------
def check_classification(colorizer: Colorizer, name: str) -> None:
    if colorizer.bins is None:
        raise ValueError(
            f"{name} is a regression model: it predicts ab directly and has no bins, so there is "
            "no distribution to decode at a temperature"
        )


def temperature_sweep(
    colorizer: Colorizer,
    rgb: np.ndarray,
    *,
    temperatures: Sequence[float] = TEMPERATURES,
    name: str = "model",
) -> Figure:
    """The input, then its colorization at each annealed-mean temperature (Gustavsson fig. 2; T = 0 is the
    " "mode)."""
    check_classification(colorizer, name)
    labels = {1.0: " (mean)", DEFAULT_TEMPERATURE: " (Zhang)", 0.0: " (mode)"}
    panels = [np.asarray(colorizer.colorize(rgb, temperature=t).convert("RGB")) for t in temperatures]
    titles = ["input"] + [f"T = {t:g}{labels.get(float(t), '')}" for t in temperatures]
    return image_grid([[rgb, *panels]], columns=titles, title=f"{name}: annealed-mean temperature")


# -- comparisons
# -----------------------------------------------------------------------------------------------
def comparison_grid(
    images: Sequence[Named], models: Sequence[tuple[str, Colorizer]], *, temperature: float | None = None
) -> Figure:
    """Rows = images; columns = ground truth, grey input, then each model's prediction. When every image is
    grey (old black-and-white photos: there is no truth to show) the ground-truth column is left out."""
    if not images or not models:
        raise ValueError("a comparison needs at least one image and one model")
    greys = [grey_of(rgb) for _, rgb in images]
    with_truth = any(
        np.abs(rgb.astype(np.int16) - grey).mean() > GREY_TOLERANCE
        for (_, rgb), grey in zip(images, greys, strict=True)
    )
    rows = []
    for (_, rgb), grey in zip(images, greys, strict=True):
        predictions = [np.asarray(c.colorize(rgb, temperature=temperature).convert("RGB")) for _, c in models]
        rows.append([*([rgb] if with_truth else []), grey, *predictions])
    columns = [*(["ground truth"] if with_truth else []), "grey input", *[name for name, _ in models]]
    t = "" if temperature is None else f" at T = {temperature:g}"
    names = [n if len(n) <= ROW_NAME_CHARS else n[: ROW_NAME_CHARS - 3] + "..." for n, _ in images]
    return image_grid(rows, columns=columns, row_names=names, title=f"predictions{t}")


def flatten_lightness(rgb: np.ndarray, level: float | None = None) -> np.ndarray:
    """Replace L by a constant (the image's mean L by default) so that only the colour (ab) shows."""
    lightness = torch.from_numpy(rgb_lightness_u8(rgb))  # (H, W)
    flat = torch.full_like(lightness, float(lightness.mean()) if level is None else float(level))
    return lab_to_srgb8(torch.cat([flat[None], torch.from_numpy(rgb8_to_ab(rgb))])).numpy()


def lightness_averaged(
    images: Sequence[Named],
    colorizer: Colorizer,
    *,
    level: float | None = None,
    name: str = "model",
    temperature: float | None = None,
) -> Figure:
    """Ground truth and prediction side by side, as they are and with L averaged (Santiago and Sieving).

    Both flattened images use the ground truth's mean L (or ``level``), so they differ only in colour.
    """
    if not images:
        raise ValueError("no images")
    rows = []
    for _, rgb in images:
        prediction = np.asarray(colorizer.colorize(rgb, temperature=temperature).convert("RGB"))
        flat = float(rgb_lightness_u8(rgb).mean()) if level is None else float(level)
        rows.append([rgb, prediction, flatten_lightness(rgb, flat), flatten_lightness(prediction, flat)])
    which = "its mean" if level is None else f"{level:g}"
    columns = ["ground truth", name, "ground truth, L flat", f"{name}, L flat"]
    return image_grid(
        rows,
        columns=columns,
        row_names=[n for n, _ in images],
        title=f"lightness-averaged view: L replaced by {which}, so only colour differs",
    )


# -- activations
# -------------------------------------------------------------------------------------------------
def layer_activations(model: nn.Module, l_norm: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """Run ``model`` on one input (1, 1, S, S) and return every convolution's output (name, (C, h, w)).

    Forward hooks on every Conv2d (and ConvTranspose2d: Zhang's upsampling layer is one), in call order.
    The outputs are cloned: the ReLU that follows a convolution works in place.
    """
    outputs: list[tuple[str, torch.Tensor]] = []

    def hook(name: str):
        return lambda module, inputs, output: outputs.append((name, output.detach()[0].float().clone()))

    hooks = [
        module.register_forward_hook(hook(name))
        for name, module in model.named_modules()
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d))
    ]
    if not hooks:
        raise ValueError(f"{type(model).__name__} has no convolution layers")
    was_training = model.training
    try:
        model.eval()
        with torch.inference_mode():
            model(l_norm)
    finally:
        for handle in hooks:
            handle.remove()
        model.train(was_training)
    return outputs


def strongest_channels(
    activations: list[tuple[str, torch.Tensor]],
) -> list[tuple[str, int, float, np.ndarray]]:
    """Per layer: (name, channel with the highest mean activation, that mean, its map (h, w))."""
    picked = []
    for name, output in activations:
        means = output.mean(dim=(1, 2))  # (C,)
        channel = int(means.argmax())
        picked.append((name, channel, float(means[channel]), output[channel].numpy()))
    return picked


def activation_maps(colorizer: Colorizer, rgb: np.ndarray, *, name: str = "model") -> Figure:
    """One map per convolution layer for one image: the channel with the highest mean activation (Santiago
    and Sieving).

    The network sees the photo at ``colorizer.size`` (what it would colorize it at). A colorizer from
    ``Colorizer.load`` holds its network in the inference form: a convolution followed by a BatchNorm shows
    the BatchNorm's output (folded into it), not the bare convolution's."""
    size = colorizer.size
    # (1, 1, S, S)
    lightness = torch.from_numpy(colorizer.view(Lightness(rgb_lightness_u8(rgb), None)).network_input)
    picked = strongest_channels(layer_activations(colorizer.model, normalize_l(lightness)))
    panels = [("input L", 0, 0.0, lightness[0, 0].numpy())] + picked
    columns = min(6, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = new_figure((PANEL * columns, PANEL * rows + 0.6), rows, columns)
    for ax, (layer, channel, mean, values) in zip(axes.flat, panels, strict=True):
        ax.imshow(values, cmap="gray" if layer == "input L" else "viridis", interpolation="nearest")
        total = "" if layer == "input L" else f"\nchannel {channel}, mean {mean:.3g}"
        ax.set_title(f"{layer}{total}", fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.suptitle(
        f"{name}: per convolution layer, the channel with the highest mean activation "
        f"(before its ReLU), input {size}x{size}",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


# -- a run's loss curves -------------------------------------------------------------------------------------
def save_run_loss_curves(run: Path, out: Path) -> None:
    """Train and validation loss of a run folder (``training.figures.save_loss_curves``) as a PNG."""
    from chromalab.training.figures import save_loss_curves
    from chromalab.training.run_folder import METRICS, read_metrics

    metrics = Path(run) / METRICS
    if not metrics.is_file():
        raise FileNotFoundError(f"{run}: no {METRICS} (not a run folder, or training has not logged yet)")
    if not any(r.get("kind") in ("step", "epoch") for r in read_metrics(metrics)):
        raise ValueError(f"{metrics}: no loss logged yet")
    save_loss_curves(metrics, Path(out))

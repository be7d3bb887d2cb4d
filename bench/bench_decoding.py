"""Decoding variants of one model on the evaluation sets: the network runs once per photo, each variant
re-decodes its kept logits and is scored as ``bench/bench_quality.py`` scores a model.

    python bench/bench_decoding.py [MODEL] [--people DIR] [--validation DIR] [--sets kodak24,...]
                                   [--size S] [--variants mode-hue:1.1,...] [--flip] [--confusion]

A variant is ``METHOD:T[:PARAM]``:

- ``annealed:T``, ``mode-hue:T``: the decodings of ``chromalab colorize --decode``, at temperature T;
- ``prior:T:TAU``: mode-hue on the logits minus TAU x log(the training prior), the prior stored in the model
  file (logit adjustment: TAU > 0 favours the colours the training photos seldom had, TAU < 0 the common);
- ``local:T:0``: the annealed mean of the bins near the mode alone (hue and chroma from the mode's
  neighbourhood); ``local:T:C`` (C > 0): mode-hue, with the smaller of its chroma and the neighbourhood's
  where the neighbourhood's is below C (a grey mode keeps a pixel grey).

``--flip`` averages the logits of the view and of its mirror image (twice the network time) for every
variant. ``--confusion`` prints, per set, where the chromatic pixels' hues land: the model's hue band (or
achromatic, chroma <= 10) against the truth's, as shares of all pixels of the set.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from bench_quality import EvalSet, add_set_options, chosen_sets, target_row
from safetensors import safe_open

from chromalab.color.decode_bins import annealed_weights, decode_joint, mode_neighbourhoods
from chromalab.color.srgb8 import rgb_lightness_u8
from chromalab.colorize.core import BaseColorizer
from chromalab.colorize.loading import load_colorizer
from chromalab.colorize.options import bundled_weights, is_bundled
from chromalab.evaluation.hues import CHROMATIC, NAMED_BANDS
from chromalab.evaluation.metrics import rgb8_to_ab
from chromalab.evaluation.score import evaluate
from chromalab.images import Lightness, evenly_spaced, list_images, open_rgb

Decoder = Callable[[np.ndarray], np.ndarray]  # logits (B, Q, h, w) -> ab (B, 2, h, w), Lab units


def keep_outputs(colorizer: BaseColorizer, *, flip: bool) -> None:
    """Make ``colorizer.network_output`` run the network once per distinct view (its logits kept as
    float16), whatever batch the view comes in: the scoring's batches of 8 and the confusion's single views
    share them. With ``flip``, the mean of the view's logits and its mirror image's. Views without hints."""
    kept: dict[str, np.ndarray] = {}  # a view's bytes' digest -> its logits (Q, h, w)
    run = colorizer.network_output

    def network_output(lightness: np.ndarray, hint_map: np.ndarray | None = None) -> np.ndarray:
        keys = [hashlib.sha1(np.ascontiguousarray(view).tobytes()).hexdigest() for view in lightness]
        new = [index for index, key in enumerate(keys) if key not in kept]
        if new:
            views = np.ascontiguousarray(lightness[new])  # (N, 1, S, S)
            logits = np.asarray(run(views, None))  # (N, Q, h, w)
            if flip:
                mirrored = np.asarray(run(np.ascontiguousarray(views[..., ::-1]), None))
                logits = 0.5 * (logits + mirrored[..., ::-1])
            kept.update({keys[index]: row.astype(np.float16) for index, row in zip(new, logits, strict=True)})
        return np.stack([kept[key] for key in keys]).astype(np.float32)

    colorizer.network_output = network_output


def decoder(spec: str, centres: np.ndarray, prior: np.ndarray) -> Decoder:
    """The decoding ``spec`` names (the module docstring); ValueError for a bad one."""
    method, temperature, param = ([*spec.split(":"), "0"])[:3]
    t, value = float(temperature), float(param)
    near = mode_neighbourhoods(centres)  # (Q, Q)

    def joint(logits: np.ndarray, name: str = "mode-hue") -> np.ndarray:
        return decode_joint(logits, centres, method=name, temperature=t, near_mode=near)

    if method in ("annealed", "mode-hue"):
        return lambda logits: joint(logits, method)
    if method == "prior":
        log_prior = np.log(np.maximum(prior, 1e-12)).astype(np.float32)[None, :, None, None]
        return lambda logits: joint(logits - value * log_prior)
    if method == "local":

        def local(logits: np.ndarray) -> np.ndarray:
            weights = annealed_weights(logits, t)  # (B, h, w, Q); its argmax is the logits' (the mode)
            weights *= near[weights.argmax(-1)]
            around = (weights @ centres) / weights.sum(-1, keepdims=True)  # (B, h, w, 2)
            if value == 0:
                return np.ascontiguousarray(around.transpose(0, 3, 1, 2))
            ab = joint(logits).transpose(0, 2, 3, 1)
            chroma, around_chroma = (np.linalg.norm(x, axis=-1, keepdims=True) for x in (ab, around))
            scale = np.where(around_chroma < value, np.minimum(chroma, around_chroma), chroma)
            ab = ab * scale / np.maximum(chroma, 1e-6)
            return np.ascontiguousarray(ab.transpose(0, 3, 1, 2), dtype=np.float32)

        return local
    raise ValueError(f"unknown variant {spec!r}: annealed, mode-hue, prior or local")


def band_of(ab: np.ndarray) -> np.ndarray:
    """ab (2, H, W) -> (H, W) index of the named hue band, len(NAMED_BANDS) where chroma <= CHROMATIC."""
    chroma, degrees = np.hypot(ab[0], ab[1]), np.degrees(np.arctan2(ab[1], ab[0]))
    bands = np.full(chroma.shape, len(NAMED_BANDS))
    for index, band in enumerate(NAMED_BANDS):
        inside = (degrees - band.start) % 360 < band.end - band.start
        bands[inside & (chroma > CHROMATIC)] = index
    return bands


def print_confusion(colorizer: BaseColorizer, paths: list[Path], name: str) -> None:
    """The model's hue band against the truth's, pixel by pixel, as % of all the set's pixels."""
    size = len(NAMED_BANDS) + 1
    counts = np.zeros((size, size))
    for path in paths:
        truth = open_rgb(path)
        view = colorizer.view(Lightness(rgb_lightness_u8(truth), None))
        rendered = np.asarray(colorizer.render(view.source, colorizer.predict_views([view])[0]))
        np.add.at(counts, (band_of(rgb8_to_ab(rendered)).ravel(), band_of(rgb8_to_ab(truth)).ravel()), 1)
    counts *= 100 / counts.sum()
    labels = [band.label for band in NAMED_BANDS] + ["achromatic"]
    print(f"{name}: % of all pixels, rows the model's hue band, columns the truth's")
    print(" " * 15 + "".join(f"{label[:10]:>11s}" for label in labels))
    for label, row in zip(labels, counts, strict=True):
        print(f"{label:15s}" + "".join(f"{value:11.1f}" for value in row))


def use_decoder(colorizer: BaseColorizer, chosen: Decoder) -> None:
    colorizer.decode_output = lambda output, temperature=None, decode=None: chosen(np.asarray(output))


def score(colorizer: BaseColorizer, target: EvalSet, paths: list[Path], spec: str, chosen: Decoder) -> None:
    use_decoder(colorizer, chosen)
    summary = evaluate(paths, colorizer, root=target.folder).summary({})
    row = target_row(summary["metrics"], summary["gray_baseline"], target)
    cells = "  ".join(f"{key} {value:+.2f}{'' if met else '*'}" for key, (value, met) in row.items())
    print(f"{target.name:9s} {spec:16s} {cells}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", default="default")
    add_set_options(parser)
    parser.add_argument("--variants", default="mode-hue:1.1,annealed:1.4")
    parser.add_argument("--flip", action="store_true", help="Average each view's logits with its mirror's.")
    parser.add_argument("--confusion", action="store_true", help="Print where the hues land, per set.")
    args = parser.parse_args()
    try:
        chosen = chosen_sets(args.data, args.people, args.validation, args.sets)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    colorizer = load_colorizer(args.model, size=args.size)
    weights = bundled_weights(args.model) if is_bundled(args.model) else Path(args.model)
    prior = safe_open(str(weights.with_suffix(".safetensors")), "np").get_tensor("bins.prior")  # (Q,)
    centres = np.asarray(colorizer.bin_centres, dtype=np.float32)  # (Q, 2)
    try:
        decoders = {spec: decoder(spec, centres, prior) for spec in args.variants.split(",")}
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    keep_outputs(colorizer, flip=args.flip)
    print(f"{args.model}: size {colorizer.size}{', mirror-averaged logits' if args.flip else ''}")
    for target in chosen:
        paths = evenly_spaced(list_images(target.folder), target.limit)
        for spec, decoding in decoders.items():
            score(colorizer, target, paths, spec, decoding)
        if args.confusion:  # of the first variant
            use_decoder(colorizer, next(iter(decoders.values())))
            print_confusion(colorizer, paths, f"{target.name}, {next(iter(decoders))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

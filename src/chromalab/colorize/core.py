"""What every colorizer does around its network, without torch: the view the network sees, and the colour
put back onto the photo.

image -> L at full resolution -> L resized to ``size`` -> network -> ab at 1/4 of ``size`` -> ab upsampled
to the ORIGINAL size -> joined with the ORIGINAL L -> sRGB. The output therefore has the input's resolution
and all of its detail; only the colour is predicted. ``torch_backend.Colorizer`` runs the network in torch,
``onnx_backend.OnnxColorizer`` in onnxruntime; both inherit the rest from ``BaseColorizer``. Everything that
scores or shows a model (``evaluation``, ``analysis``) goes through ``prepare`` (or ``view``), ``predict_ab``
and ``render``, so it sees what ``chromalab colorize`` makes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from chromalab.color.decoding import DEFAULT_TEMPERATURE
from chromalab.color.srgb8 import upsample_lab_to_srgb8
from chromalab.colorize.options import (
    DEFAULT_SIZE,
    check_decode,
    check_min_view,
    check_size,
    check_temperature,
)
from chromalab.images import Lightness, open_image, resize_channel, to_lightness

if TYPE_CHECKING:
    from chromalab.color.bin_index import BinIndex
    from chromalab.color.hints import Hint
    from chromalab.colorize.reference import Reference, ReferenceColours


@dataclass
class Prepared:
    """An image ready for the network: its full-resolution lightness and the small view the network sees."""

    source: Lightness  # L (H, W) at the original resolution, and the alpha channel to carry over
    network_input: np.ndarray  # (1, 1, S, S) float32, L in [0, 100]


class BaseColorizer:
    """The steps before and after the network; subclasses provide ``predict_ab``."""

    def __init__(
        self,
        *,
        size: int = DEFAULT_SIZE,
        temperature: float = DEFAULT_TEMPERATURE,
        decode: str = "annealed",
        min_view: int = 0,
    ):
        self.size = self.input_side(check_size(size))
        self.temperature = check_temperature(temperature)
        self.decode_method = check_decode(decode)
        self.min_view = check_min_view(min_view)

    def input_side(self, size: int) -> int:
        """The side the network sees when asked for ``size`` (a network made for one size overrides this)."""
        return size

    def decoding(self, temperature: float | None, decode: str | None) -> tuple[str, float]:
        """(method, temperature) of one call of ``predict_ab``: what the call asks for, else the
        colorizer's own."""
        method = check_decode(decode or self.decode_method)
        return method, self.temperature if temperature is None else check_temperature(temperature)

    def predict_ab(
        self,
        lightness: Any,
        *,
        temperature: float | None = None,
        decode: str | None = None,
        hint_map: Any = None,
    ) -> Any:
        """L (B, 1, S, S) in [0, 100] [+ hint maps (B, 3, S, S), for a network that ``takes_hints``] -> ab
        (B, 2, h, w) in Lab units at the network's output size."""
        output = self.network_output(lightness, hint_map)
        return self.decode_output(output, temperature=temperature, decode=decode)

    def network_output(self, lightness: Any, hint_map: Any = None) -> Any:
        """L (B, 1, S, S) in [0, 100] -> the network's answer before decoding: logits (B, Q, h, w) over the
        bins, or ab for a regression model. Kept, it is decoded again at any temperature."""
        raise NotImplementedError

    def decode_output(
        self, output: Any, *, temperature: float | None = None, decode: str | None = None
    ) -> Any:
        """``network_output`` (or a blend of several, as a video's stabiliser makes) -> ab (B, 2, h, w) in
        Lab units: the annealed mean at ``temperature``, or the method ``decode`` names."""
        raise NotImplementedError

    @property
    def takes_hints(self) -> bool:
        """Whether the network itself takes colour hints (else hints are spread over its colours
        afterwards)."""
        return False

    @property
    def description(self) -> dict[str, Any]:
        """What the model file says of itself (``model``, ``options``, ``bins``, ``info``: the JSON of
        ``models.spec``)."""
        raise NotImplementedError

    @property
    def bin_centres(self) -> np.ndarray | None:
        """(Q, 2) float32, the ab of each joint bin the logits score; None for a regression model or
        per-channel bins (no joint colours to offer as a palette)."""
        return None

    @property
    def bin_index(self) -> BinIndex | None:
        """The bins the logits score, as scoring sees them (``color.bin_index``); None for a regression
        model."""
        return None

    def encode(self, lightness: Any) -> Any:
        """What ``hinted_output`` needs of the views L (B, 1, S, S): a backend whose network splits into an
        encoder that sees no hints and a decoder returns the encoder's features (the encoder then runs once
        however often the hints change, ``hint_session``); by default the views themselves."""
        return lightness

    def hinted_output(self, encoded: Any, hint_map: Any) -> Any:
        """The network's answer from ``encode``'s result and hint maps (B, 3, S, S) (None: none)."""
        return self.network_output(encoded, hint_map)

    def encoder_maps(self, encoded: Any) -> dict[int, np.ndarray] | None:
        """The encoder's feature maps in ``encode``'s result, by stride: {8: (B, C8, S/8, S/8), 16: ...}
        (what ``reference`` matches); None for a network whose encoder does not show them."""
        return None

    def hint_view(self, prepared: Prepared, hints: list[Hint | dict]) -> np.ndarray:
        """The hints of ``prepared``'s photo as the network sees them: (1, 3, S, S)
        (``color.hints.hint_map``)."""
        from chromalab.color.hints import as_hints, hint_map

        height, width = prepared.source.lightness.shape
        side_y, side_x = prepared.network_input.shape[-2:]
        return hint_map(as_hints(hints, (width, height)), (width, height), (side_x, side_y))[None]

    def colorize(
        self,
        image: Image.Image | np.ndarray | str | Path,
        *,
        temperature: float | None = None,
        decode: str | None = None,
        size: int | None = None,
        hints: list[Hint | dict] | None = None,
        scribbles: str | Path | Image.Image | None = None,
        reference: Reference | Image.Image | np.ndarray | str | Path | list | None = None,
    ) -> Image.Image:
        """Colorize one image; returns an RGB (or RGBA, keeping the input's alpha) image of the same size.

        ``hints``: colours the user knows, ``{"x": 120, "y": 48, "color": "#3a7bd5"}`` or ``{..., "ab": [a,
        b]}`` (``color.hints``); ``scribbles``: a PNG of colour strokes on transparency, the photo's size.
        A network that ``takes_hints`` is given the hints; then both are spread over its colours (Levin et
        al. 2004). ``reference``: a colour photo (or a list of them, pooled) whose colours are carried over
        where it matches the photo (``colorize.reference``; the automatic colours elsewhere)."""
        prepared = self.prepare(image, size=size)
        hint_map = self.hint_view(prepared, hints) if hints and self.takes_hints else None
        ab_small = self.predict_view_ab(
            prepared, temperature=temperature, decode=decode, hint_map=hint_map, reference=reference
        )
        return self.render(
            prepared.source, self.spread_guidance(prepared, ab_small, hints=hints, scribbles=scribbles)
        )

    def predict_view_ab(
        self,
        prepared: Prepared,
        *,
        temperature: float | None = None,
        decode: str | None = None,
        hint_map: Any = None,
        reference: Reference | Image.Image | np.ndarray | str | Path | list | None = None,
    ) -> Any:
        """ab (1, 2, h, w) of one photo's view, as ``predict_ab``, or given a colour ``reference``
        (``colorize.reference``: its colours where it matches, the automatic ones elsewhere)."""
        if reference is None:
            return self.predict_ab(
                prepared.network_input, temperature=temperature, decode=decode, hint_map=hint_map
            )
        from chromalab.colorize.reference import as_reference

        output = self.reference_network_output(prepared, as_reference(reference), hint_map)
        return self.decode_output(output, temperature=temperature, decode=decode)

    def reference_network_output(self, prepared: Prepared, reference: Reference, hint_map: Any = None) -> Any:
        """``network_output`` of one view given a colour reference (``colorize.reference``): the matched
        colours as the hint network's dense hints, and then as a pull on its logits (a regression model's
        ab are blended with them); decodes like any answer, so a stabiliser can carry it."""
        from chromalab.colorize.reference import reference_output

        return self.guided_output(*reference_output(self, prepared, reference, hint_map))

    def guided_output(self, output: Any, colours: ReferenceColours) -> Any:
        """The network's answer pulled towards a reference's matched ``colours``: logits over joint bins by a
        log-likelihood (``ReferenceColours.guide``), a regression's ab blended by confidence."""
        if self.bin_centres is not None:
            return colours.guide(np.asarray(output), self.bin_centres)
        if self.bin_index is None:  # regression: the answer is ab, which decoding leaves as it is
            return colours.blend(np.asarray(self.decode_output(output)))
        return output  # per-channel bins: the dense hints alone

    def spread_guidance(
        self,
        prepared: Prepared,
        ab_small: Any,
        *,
        hints: list[Hint | dict] | None = None,
        scribbles: str | Path | Image.Image | None = None,
    ) -> Any:
        """ab (1, 2, h, w) with the hints and scribbles spread over it (Levin et al. 2004: ``spreading``),
        ready for ``render``; as it is when there are none."""
        if not hints and scribbles is None:
            return ab_small
        from chromalab.color.hints import as_hints
        from chromalab.colorize.spreading import spread  # scipy: only when asked

        height, width = prepared.source.lightness.shape
        return spread(
            prepared.source,
            hints=as_hints(hints or [], (width, height)),
            scribbles=scribbles,
            prior_ab=ab_small,
        )

    def prepare(self, image: Image.Image | np.ndarray | str | Path, *, size: int | None = None) -> Prepared:
        """The part of ``colorize`` before the network; thread-safe, so it may run while another image is
        in it."""
        return self.view(as_lightness(image), size=size)

    def view(self, source: Lightness, *, size: int | None = None) -> Prepared:
        """``source`` with the view the network sees, as the network takes it (``input_side``): at ``size``
        (default: the colorizer's) but never larger than the photo's shorter side, unless that is below
        ``min_view`` (then the photo is upscaled to ``min_view``, at most ``size``). Upscaling blurs what the
        network sees: for a network trained on 128-pixel photos, a 192-pixel view of a 128-pixel photo cost
        2-4 dB; one trained on small photos upscaled (the bundled default) colours them better upscaled."""
        requested = self.size if size is None else check_size(size)
        largest = max(min(source.lightness.shape[:2]), self.min_view, SMALLEST_VIEW)  # what the photo allows
        return Prepared(source, network_view(source.lightness, self.input_side(min(requested, largest))))

    def predict_views(self, views: list[Prepared], *, temperature: float | None = None) -> list[Any]:
        """ab (1, 2, h, w) for each view, in order: one network call per view size (views of photos of
        different sizes differ, since a view never upsamples its photo)."""
        answers: list[Any] = [None] * len(views)
        by_side: dict[tuple[int, ...], list[int]] = {}
        for index, view in enumerate(views):
            by_side.setdefault(view.network_input.shape, []).append(index)
        for indices in by_side.values():
            inputs = np.concatenate([views[i].network_input for i in indices])  # (B, 1, S, S)
            # (B, 2, h, w)
            for i, ab in zip(indices, self.predict_ab(inputs, temperature=temperature), strict=True):
                answers[i] = ab[None]
        return answers

    def render(self, source: Lightness, ab_small: Any) -> Image.Image:
        """The part of ``colorize`` after the network (``render``); thread-safe like ``prepare``."""
        return render(source, ab_small)


def render(source: Lightness, ab_small: Any) -> Image.Image:
    """ab (1, 2, h, w) at any resolution onto the photo's full-resolution L, its alpha back: the RGB(A)
    photo."""
    result = Image.fromarray(upsample_lab_to_srgb8(source.lightness, np.asarray(ab_small)[0]), mode="RGB")
    if source.alpha is not None:
        result.putalpha(source.alpha)
    return result


def colorize_without_model(
    image: Image.Image | np.ndarray | str | Path,
    *,
    hints: list[Hint] | None = None,
    scribbles: str | Path | Image.Image | None = None,
) -> Image.Image:
    """``--model none``: the photo in the user's colours alone, its hints and strokes spread over its
    lightness (Levin et al. 2004: ``spreading``); the same output as ``BaseColorizer.colorize``."""
    from chromalab.colorize.spreading import spread  # scipy: only when asked

    lightness = as_lightness(image)
    return render(lightness, spread(lightness, hints=hints, scribbles=scribbles))


# a view never upsamples the photo, except a photo smaller than this (the networks' 1/32 maps)
SMALLEST_VIEW = 32


def network_view(lightness: np.ndarray, size: int) -> np.ndarray:
    """L (H, W) -> (1, 1, size, size) float32, antialiased (Pillow resamples float images)."""
    return resize_channel(lightness, (size, size))[None, None]


def as_lightness(image: Image.Image | np.ndarray | str | Path) -> Lightness:
    """Accept a PIL image, a path, or an array (H, W) / (H, W, 3|4), uint8 or float in [0, 1]."""
    if isinstance(image, (str, Path)):
        image = open_image(image)
    elif isinstance(image, np.ndarray):
        image = _array_to_image(image)
    elif not isinstance(image, Image.Image):
        raise TypeError(f"expected a PIL image, a numpy array or a path, got {type(image).__name__}")
    return to_lightness(image)


FLOAT_SLACK = 0.01  # a float photo may overshoot [0, 1] by rounding (a resize, a colour conversion)


def _array_to_image(array: np.ndarray) -> Image.Image:
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise ValueError(f"expected an array (H, W) or (H, W, 3|4), got {array.shape}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if 0 in array.shape[:2]:
        raise ValueError(f"expected a photo of at least 1 x 1 pixels, got an array of shape {array.shape}")
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.floating):
            raise ValueError(f"expected uint8 or float values in [0, 1], got {array.dtype}")
        if not np.isfinite(array).all():
            raise ValueError("expected float values in [0, 1], got NaN or infinite values")
        low, high = float(array.min()), float(array.max())
        if low < -FLOAT_SLACK or high > 1.0 + FLOAT_SLACK:  # 0-255 floats would come out all but white
            raise ValueError(
                f"expected float values in [0, 1], got {low:g} to {high:g} (for 0-255, pass uint8 or divide)"
            )
        array = (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(array)

"""One photo whose colour hints keep changing (the web app's hint editor): the network's encoder, which does
not see hints, runs once; each change runs only its decoder, then spreads the hints over its answer as
``colorize`` does (``spreading``, its system factorised once per photo: a moved hint costs one solve; a model
without hint inputs gets the spreading alone). Also the network's palette at a point: its most likely colours
there, given the hints so far (Zhang et al. 2017's page offers them first). A colour reference
(``colorize.reference``) is matched once; its colours then enter every answer, with the hints or without.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from chromalab.color.hints import Hint, as_hints, check_point
from chromalab.color.srgb8 import upsample_lab_to_srgb8
from chromalab.colorize.core import BaseColorizer
from chromalab.colorize.reference import Reference, ReferenceColours, match_reference, output_with_colours
from chromalab.colorize.spreading import Spreading
from chromalab.images import Lightness

PALETTE_SIZE = 6
PALETTE_SPACING = 12.0  # Lab units: two offered colours are at least this far apart in ab


class HintSession:
    """``source``'s colorization by ``colorizer`` as its hints change: ``set_hints``, then ``output`` (the
    network's answer, decoded at any temperature) or ``colorize``; ``set_reference`` for a colour
    reference's colours."""

    def __init__(self, colorizer: BaseColorizer, source: Lightness, *, size: int | None = None) -> None:
        self.colorizer = colorizer
        self.prepared = colorizer.view(source, size=size)
        self.hints: list[Hint] = []
        self.colours: ReferenceColours | None = None  # a reference's, matched onto the view
        inside = colorizer.takes_hints
        self.encoded = colorizer.encode(self.prepared.network_input) if inside else None
        # (1, Q | 2, h, w), a tensor or an array as the backend gives it: without hints, then with them
        self.automatic = self._answer(None, None)
        self.output = self.automatic
        self.spreading: Spreading | None = None  # built by the first ``set_hints``

    @property
    def nbytes(self) -> int:
        """Memory held: the network's answers, the encoder's features and the spreading's factors."""
        spreading = self.spreading.nbytes if self.spreading is not None else 0
        colours = None if self.colours is None else [self.colours.ab, self.colours.confidence]
        return spreading + _nbytes([self.automatic, self.output, self.encoded, colours])

    @property
    def size(self) -> tuple[int, int]:
        """The photo's (W, H)."""
        height, width = self.prepared.source.lightness.shape
        return width, height

    def set_hints(self, hints: list[Hint | dict]) -> None:
        """Replace the hints (photo pixels; ``ValueError`` naming a bad one) and run the decoder with them.
        The first call (the web page makes it when its editor opens) also factorises the photo's spreading
        system, ~0.7 s for a large photo, so that each later change is quick."""
        self.hints = as_hints(hints, self.size)
        if self.spreading is None:
            self.spreading = Spreading.for_photo(self.prepared.source)
        self.output = self._hinted(self.automatic, self.colours)

    def set_reference(self, reference: Reference | None) -> ReferenceColours | None:
        """Carry ``reference``'s colours into every answer from now on (None: back to the automatic colours),
        with the hints so far: matched once against the kept encoder features, then the decoder runs again;
        a temperature after it only decodes. ``NoMatchingFeatures`` for a model whose encoder cannot be
        matched, and then nothing has changed. Returns the matched colours."""
        colours = None if reference is None else self._match(reference)
        automatic = self._answer(None, colours)
        output = self._hinted(automatic, colours)
        self.colours, self.automatic, self.output = colours, automatic, output
        return colours

    def _match(self, reference: Reference) -> ReferenceColours:
        encoded = self.colorizer.encode(self.prepared.network_input) if self.encoded is None else self.encoded
        maps = self.colorizer.encoder_maps(encoded)
        return match_reference(self.colorizer, maps, reference, self.prepared.network_input.shape[-1])

    def _hinted(self, automatic: Any, colours: ReferenceColours | None) -> Any:
        """The answer given the hints so far: ``automatic`` when there are none or the network takes none."""
        if not self.hints or self.encoded is None:
            return automatic
        return self._answer(self.colorizer.hint_view(self.prepared, self.hints), colours)

    def _answer(self, hint_map: np.ndarray | None, colours: ReferenceColours | None) -> Any:
        """The network's answer given the user's ``hint_map`` (1, 3, S, S) and a reference's ``colours``
        (None: none of either)."""
        if self.encoded is None:  # no hint inputs: the whole network, the colours pulled in afterwards
            output = self.colorizer.network_output(self.prepared.network_input)
        elif colours is None:
            return self.colorizer.hinted_output(self.encoded, hint_map)
        else:
            view = self.prepared.network_input.shape[-2:]
            output = output_with_colours(self.colorizer, self.encoded, colours, hint_map, view)
        return output if colours is None else self.colorizer.guided_output(output, colours)

    def ab(self, *, temperature: float | None = None) -> np.ndarray:
        """ab (1, 2, h, w) for ``render``: the decoded output with the hints spread over it."""
        ab_small = np.asarray(self.colorizer.decode_output(self.output, temperature=temperature))
        return self.spreading.spread(self.hints, ab_small) if self.hints else ab_small

    def colorize(self, *, temperature: float | None = None, source: Lightness | None = None) -> Image.Image:
        """The photo (or ``source``: the same photo at another resolution, e.g. a preview) in colour."""
        return self.colorizer.render(source or self.prepared.source, self.ab(temperature=temperature))

    def palette(self, x: int, y: int, *, count: int = PALETTE_SIZE) -> list[dict[str, object]]:
        """The network's most likely colours at pixel (x, y) of the photo, most likely first, each at least
        ``PALETTE_SPACING`` apart: ``{"color": "#rrggbb" (at the pixel's lightness), "ab": [a, b], "p":
        share}``. Empty for a regression model (it has one colour, no distribution)."""
        check_point(x, y, self.size)
        centres = self.colorizer.bin_centres  # (Q, 2)
        if centres is None:
            return []
        _, _, rows, cols = self.output.shape
        width, height = self.size
        cell = np.asarray(
            self.output[0, :, min(y * rows // height, rows - 1), min(x * cols // width, cols - 1)]
        )
        probabilities = np.exp(cell - cell.max(), dtype=np.float64)
        probabilities /= probabilities.sum()
        lightness = float(self.prepared.source.lightness[y, x])
        chosen: list[tuple[np.ndarray, float]] = []
        for index in np.argsort(-probabilities, kind="stable"):
            centre = centres[index].astype(np.float32)
            if all(float(np.linalg.norm(centre - other)) >= PALETTE_SPACING for other, _ in chosen):
                chosen.append((centre, float(probabilities[index])))
            if len(chosen) == count:
                break
        return [
            {"color": _hex(lightness, centre), "ab": [round(float(v), 2) for v in centre], "p": round(p, 4)}
            for centre, p in chosen
        ]


def _hex(lightness: float, ab: np.ndarray) -> str:
    """The colour of one pixel, L and ab, as ``render`` shows it (out-of-gamut chroma gives way)."""
    pixel = upsample_lab_to_srgb8(np.full((1, 1), lightness, dtype=np.float32), ab.reshape(2, 1, 1))
    red, green, blue = (int(v) for v in pixel[0, 0])
    return f"#{red:02x}{green:02x}{blue:02x}"


def _nbytes(held: Any) -> int:
    """Memory of what a session holds: arrays, tensors, and the lists, tuples and dicts of them."""
    if held is None:
        return 0
    if isinstance(held, dict):
        return _nbytes(list(held.values()))
    if isinstance(held, list | tuple):
        return sum(_nbytes(item) for item in held)
    if hasattr(held, "element_size"):  # a torch tensor
        return held.numel() * held.element_size()
    return int(held.nbytes)

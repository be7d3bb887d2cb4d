"""One photo whose colour hints keep changing (the web app's hint editor): the network's encoder, which does
not see hints, runs once; each change runs only its decoder, then spreads the hints over its answer as
``colorize`` does (``spreading``, its system factorised once per photo: a moved hint costs one solve; a model
without hint inputs gets the spreading alone). Also the network's palette at a point: its most likely colours
there, given the hints so far (Zhang et al. 2017's page offers them first).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from chromalab.color.hints import Hint, as_hints, check_point
from chromalab.color.lab import lab_to_rgb
from chromalab.colorize.spreading import Spreading
from chromalab.colorize.torch_backend import Colorizer
from chromalab.images import Lightness

PALETTE_SIZE = 6
PALETTE_SPACING = 12.0  # Lab units: two offered colours are at least this far apart in ab


class HintSession:
    """``source``'s colorization by ``colorizer`` as its hints change: ``set_hints``, then ``output`` (the
    network's answer, decoded at any temperature) or ``colorize``."""

    def __init__(self, colorizer: Colorizer, source: Lightness, *, size: int | None = None) -> None:
        self.colorizer = colorizer
        self.prepared = colorizer.view(source, size=size)
        self.hints: list[Hint] = []
        inside = colorizer.takes_hints and hasattr(colorizer.model, "encode")
        self.encoded = colorizer.encode(self.prepared.network_input) if inside else None
        # (1, Q | 2, h, w)
        self.automatic = (
            colorizer.hinted_output(self.encoded, None)
            if inside
            else colorizer.network_output(self.prepared.network_input)
        )
        self.output = self.automatic
        self.spreading: Spreading | None = None  # built by the first ``set_hints``

    @property
    def nbytes(self) -> int:
        """Memory held: the network's answers, the encoder's features and the spreading's factors."""
        tensors = [self.automatic, self.output]
        if self.encoded is not None:
            maps, pooled = self.encoded
            tensors += [*maps.values(), pooled]
        spreading = self.spreading.nbytes if self.spreading is not None else 0
        return spreading + sum(t.numel() * t.element_size() for t in tensors)

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
        if not self.hints or self.encoded is None:
            self.output = self.automatic  # no hints, or a model without hint inputs
            return
        self.output = self.colorizer.hinted_output(
            self.encoded, self.colorizer.hint_view(self.prepared, self.hints)
        )

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
        bins = self.colorizer.bins
        if bins is None:
            return []
        _, _, rows, cols = self.output.shape
        width, height = self.size
        cell = self.output[0, :, min(y * rows // height, rows - 1), min(x * cols // width, cols - 1)]
        probabilities = torch.softmax(cell.float(), dim=0)
        lightness = float(self.prepared.source.lightness[y, x])
        chosen: list[tuple[torch.Tensor, float]] = []
        for index in torch.argsort(probabilities, descending=True).tolist():
            centre = bins.centres[index].float()
            if all(float(torch.dist(centre, other)) >= PALETTE_SPACING for other, _ in chosen):
                chosen.append((centre, float(probabilities[index])))
            if len(chosen) == count:
                break
        return [
            {"color": _hex(lightness, centre), "ab": [round(float(v), 2) for v in centre], "p": round(p, 4)}
            for centre, p in chosen
        ]


def _hex(lightness: float, ab: torch.Tensor) -> str:
    lab = torch.tensor([lightness, float(ab[0]), float(ab[1])], dtype=torch.float64).view(3, 1, 1)
    red, green, blue = (round(float(v) * 255) for v in lab_to_rgb(lab)[:, 0, 0])
    return f"#{red:02x}{green:02x}{blue:02x}"

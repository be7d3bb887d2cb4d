"""The colours a user gives, spread over a photo (Levin, Lischinski and Weiss 2004, "Colorization using
Optimization"), over a model's colours or over nothing; fast enough to redo at each change of a hint.

Each unknown colour U(r) (a and b alike) should equal the weighted mean of its eight neighbours',
w_rs ~ exp(-(L_r - L_s)^2 / (EDGE_SCALE sigma_r^2)) with sigma_r^2 the variance of L in r's 3x3 window
(Levin's affinity: colour flows along even lightness and stops at edges); scribble pixels are fixed. That is
one sparse linear system, A U = b, for both channels. Given a model's colours ``prior``, every free row also
leaks towards them, (1 + mu) U(r) - sum_s w_rs U(s) = mu P(r): over even lightness a given colour fades by a
factor e every sqrt(3 / (8 mu)) pixels (the eight weights make (3/8) of a Laplacian), and the model's colour
stays elsewhere. Without a model, the scribbles' colours fill the photo.

Point hints are sources, not fixed pixels: hint i adds y_i over its disc g_i (``HINT_RADIUS`` working
pixels) to the right-hand side, with the y that makes each disc's mean colour its hint's. So
U = A^-1 b + sum_i y_i A^-1 g_i, and A^-1 g_i depends only on where hint i is: with A factorised once per
photo, a new or moved hint costs one triangular solve, a new colour or a new prior none more than the
first term (the hint editor's live preview). Fixing hint pixels instead would change A at every edit: a
new factorisation each time (~0.7 s at the working size).

Solved at a working resolution (longest side ``WORKING_SIDE``); ``spread`` returns ab at that size, which
``core.render`` upsamples onto the photo's full-resolution L, as every colorization here is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy import sparse
from scipy.sparse.linalg import splu

from chromalab.color.hints import Hint
from chromalab.colorize.scribbles import Strokes, read_strokes
from chromalab.images import Lightness, resize_channel, resize_channels

WORKING_SIDE = 256  # pixels: ~65k unknowns, factorised in under a second
PRIOR_LEAK = 1e-4  # mu: with a model, a given colour fades by e over ~60 working pixels of even lightness
FILL_LEAK = 1e-6  # hints alone, no model, no scribble: a leak to grey over ~600 pixels keeps A invertible
HINT_RADIUS = 2.0  # working pixels: a point hint is a disc this large (a point barely reaches its neighbours)
EDGE_SCALE = 0.6  # the paper prints 2; with 2, 14% of a stroke's colour crossed a step of 40 L (0.6: 0.2%)
MIN_VARIANCE = 1e-4  # (L / 100)^2: a flat window still separates lightness steps of a few units
# SuperLU's column order: on these grids 20% less fill and 3x faster solves than COLAMD
ORDERING = "MMD_AT_PLUS_A"
NEIGHBOURS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]


class Spreading:
    """One photo's system at the working size, factorised once: ``spread(hints, prior_ab)`` as often as the
    hints or the model's colours change. Keeps the responses of the hints it last saw."""

    def __init__(
        self, lightness: np.ndarray, strokes: Strokes | None = None, *, leak: float, scale: float = 1.0
    ) -> None:
        """``lightness`` (h, w) and ``strokes`` at the working size, which is ``scale`` x the photo's."""
        height, width = self.shape = lightness.shape
        self.fixed = strokes.mask.ravel() if strokes is not None else np.zeros(height * width, bool)
        self.strokes, self.leak, self.scale = strokes, leak, scale
        free = ~self.fixed
        matrix = sparse.diags(np.where(free, 1.0 + leak, 1.0)) - sparse.diags(
            free.astype(np.float64)
        ) @ affinity(lightness)
        self.solver = splu(matrix.tocsc(), permc_spec=ORDERING)
        self.responses: dict[
            tuple[int, int], tuple[np.ndarray, np.ndarray]
        ] = {}  # disc centre -> (pixels, A^-1 g)

    @classmethod
    def for_photo(
        cls, source: Lightness, *, scribbles: str | Path | Image.Image | None = None, prior: bool = True
    ) -> Spreading:
        """``source`` (the photo's full-resolution L) at the working size, with its scribbles
        file fixed; ``prior``: whether a model's colours will be given to ``spread``."""
        height, width = source.lightness.shape
        scale = working_scale((width, height))
        size = (max(1, round(width * scale)), max(1, round(height * scale)))  # (w, h) working
        strokes = (
            None if scribbles is None else shrink_strokes(read_strokes(scribbles, (width, height)), size)
        )
        return cls(
            resize_channel(source.lightness, size),
            strokes,
            leak=leak(prior=prior, strokes=strokes),
            scale=scale,
        )

    @property
    def nbytes(self) -> int:
        """Memory held: the factors and the kept hint responses."""
        factors = self.solver.nnz * 12  # float64 value + int32 index (``.L`` / ``.U`` would copy the factors)
        return factors + sum(pixels.nbytes + response.nbytes for pixels, response in self.responses.values())

    def spread(self, hints: list[Hint], prior_ab: Any = None) -> np.ndarray:
        """ab (1, 2, h, w) at the working size, ready for ``core.render``: the hints (photo pixels) and the
        scribbles spread over ``prior_ab`` (1, 2, h', w'), a model's colours at any resolution (None: over
        nothing)."""
        height, width = self.shape
        # (h, w, 2)
        prior = (
            None
            if prior_ab is None
            else resize_channels(np.asarray(prior_ab)[0], (width, height)).transpose(1, 2, 0)
        )
        placed = {self._centre(hint): hint.ab for hint in hints}  # a later hint in the same pixel wins
        return np.ascontiguousarray(self.solve(prior, placed).transpose(2, 0, 1))[None]

    def solve(
        self, prior: np.ndarray | None, placed: dict[tuple[int, int], tuple[float, float]]
    ) -> np.ndarray:
        """ab (h, w, 2): the system's solution over ``prior`` (h, w, 2) with a hint of colour
        ``placed[centre]`` (a, b) at each working pixel ``centre`` (row, column)."""
        solution, discs = self._solve_with_responses(self._right_side(prior), list(placed))  # (n, 2): A^-1 b
        if discs:
            pixels = [where for where, _ in discs.values()]
            responses = np.stack([response for _, response in discs.values()], axis=1)  # (n, k): A^-1 g_j
            # (k, k): disc i's mean of j
            coupling = np.stack([responses[where].mean(axis=0) for where in pixels])
            # (k, 2)
            missing = np.array([placed[centre] for centre in discs]) - np.stack(
                [solution[where].mean(axis=0) for where in pixels]
            )
            strengths = np.linalg.lstsq(coupling, missing, rcond=None)[0]  # (k, 2); lstsq: overlapping discs
            solution += responses @ strengths
        return solution.reshape(*self.shape, 2).astype(np.float32)

    def _right_side(self, prior: np.ndarray | None) -> np.ndarray:
        """b (n, 2): the scribbles' colours on their rows, mu P on the others."""
        given = np.zeros((self.fixed.size, 2))
        if self.strokes is not None:
            given[self.fixed] = self.strokes.ab.reshape(-1, 2)[self.fixed]
        if prior is not None:
            free = ~self.fixed
            given[free] = self.leak * prior.reshape(-1, 2)[free]
        return given

    def _centre(self, hint: Hint) -> tuple[int, int]:
        """The working pixel (row, column) a hint at photo pixel (x, y) falls in."""
        height, width = self.shape
        return min(int(hint.y * self.scale), height - 1), min(int(hint.x * self.scale), width - 1)

    def _solve_with_responses(
        self, given: np.ndarray, centres: list[tuple[int, int]]
    ) -> tuple[np.ndarray, dict]:
        """(A^-1 ``given`` (n, 2), {centre: (its disc's pixels, A^-1 g)} for the discs of ``centres`` that
        hold a free pixel (a disc inside a scribble changes nothing)), the responses of new discs solved in
        the same call (one pass over the factors). Only these are kept afterwards; the kept ones are read
        once, so two threads spreading at once cost at most a repeated solve."""
        known = self.responses
        discs = {centre: self._disc(centre) for centre in centres}
        new = [centre for centre, pixels in discs.items() if pixels.size and centre not in known]
        right = np.zeros((self.fixed.size, 2 + len(new)))  # (n, 2 + m): b, then g of each new disc
        right[:, :2] = given
        for column, centre in enumerate(new, start=2):
            right[discs[centre], column] = 1.0
        solved = self.solver.solve(right)
        fresh = {
            centre: (discs[centre], solved[:, column].copy()) for column, centre in enumerate(new, start=2)
        }
        used = {centre: known.get(centre) or fresh[centre] for centre, pixels in discs.items() if pixels.size}
        self.responses = used
        return solved[:, :2], used

    def _disc(self, centre: tuple[int, int]) -> np.ndarray:
        """Flat indices of the free working pixels within ``HINT_RADIUS`` of ``centre`` (row, column)."""
        height, width = self.shape
        row, column = centre
        reach = int(HINT_RADIUS)
        rows, cols = np.ogrid[
            max(0, row - reach) : min(height, row + reach + 1),
            max(0, column - reach) : min(width, column + reach + 1),
        ]
        inside = (rows - row) ** 2 + (cols - column) ** 2 <= HINT_RADIUS**2
        flat = (rows * width + cols)[inside]
        return flat[~self.fixed[flat]]


def propagate(lightness: np.ndarray, strokes: Strokes, prior: np.ndarray | None = None) -> np.ndarray:
    """L (h, w) and strokes at the same size -> ab (h, w, 2): the strokes' colours spread (Levin et al.),
    leaking towards ``prior`` (h, w, 2) where given."""
    spreading = Spreading(lightness, strokes, leak=leak(prior=prior is not None, strokes=strokes))
    return spreading.solve(prior, {})


def leak(*, prior: bool, strokes: Strokes | None) -> float:
    """mu for a system with or without a model's colours beneath: ``PRIOR_LEAK`` with them; without, none
    when fixed scribble pixels anchor the system, else ``FILL_LEAK`` (hints alone would leave it singular)."""
    if prior:
        return PRIOR_LEAK
    return 0.0 if strokes is not None and strokes.mask.any() else FILL_LEAK


def spread(
    source: Lightness,
    *,
    hints: list[Hint] | None = None,
    scribbles: str | Path | Image.Image | None = None,
    prior_ab: Any = None,
) -> np.ndarray:
    """A photo's full-resolution L, its hints and scribbles -> ab (1, 2, h, w) at the working
    size, ready for ``core.render``; ``prior_ab`` (1, 2, h', w') is a model's colour at any resolution (None:
    the user's colours alone)."""
    if not hints and scribbles is None:
        raise ValueError("no hints and no scribbles given")
    spreading = Spreading.for_photo(source, scribbles=scribbles, prior=prior_ab is not None)
    return spreading.spread(hints or [], prior_ab)


def affinity(lightness: np.ndarray) -> sparse.csr_matrix:
    """L (h, w) -> W (n, n), n = h * w: each row the normalised weights of a pixel's eight neighbours."""
    h, w = lightness.shape
    unit = lightness.astype(np.float64) / 100.0  # (h, w): L in [0, 1]
    level = np.pad(unit, 1, mode="edge")  # (h + 2, w + 2)
    windows = np.stack([level[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy, dx in [(0, 0), *NEIGHBOURS]])
    variance = np.maximum(windows.var(axis=0), MIN_VARIANCE)  # (h, w): sigma_r^2
    index = np.arange(h * w).reshape(h, w)
    rows, cols, weights = [], [], []
    for dy, dx in NEIGHBOURS:
        ys, xs = slice(max(0, -dy), h - max(0, dy)), slice(max(0, -dx), w - max(0, dx))
        moved = (slice(ys.start + dy, ys.stop + dy), slice(xs.start + dx, xs.stop + dx))
        step = unit[ys, xs] - unit[moved]
        rows.append(index[ys, xs].ravel())
        cols.append(index[moved].ravel())
        # > 0: connected
        weights.append(np.exp(-(step.ravel() ** 2) / (EDGE_SCALE * variance[ys, xs].ravel())) + 1e-12)
    matrix = sparse.csr_matrix(
        (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))), shape=(h * w, h * w)
    )
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    # 1 pixel: none
    return sparse.diags(np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)) @ matrix


def shrink_strokes(strokes: Strokes, size: tuple[int, int]) -> Strokes:
    """``strokes`` at (w, h): a working pixel is a stroke where most of it was, coloured by the mean there."""
    weight = resize_channel(strokes.mask.astype(np.float32), size)  # (h, w): share of stroke pixels
    ab = resize_channels((strokes.ab * strokes.mask[..., None]).transpose(2, 0, 1), size).transpose(1, 2, 0)
    mask = weight >= 0.5
    ab[mask] /= weight[mask][:, None]
    return Strokes(mask, ab)


def working_scale(size: tuple[int, int]) -> float:
    """Working size / photo size for a photo of ``size`` (W, H): its longest side at most ``WORKING_SIDE``."""
    return min(1.0, WORKING_SIDE / max(size))

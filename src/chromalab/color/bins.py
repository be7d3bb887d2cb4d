"""Quantised ab colour bins: the classes of the classification models.

A bin set is a table of centres plus a fast nearest-bin lookup. Two shapes exist:

- ``JointBins``: Q centres in the ab plane, ``centres`` is (Q, 2); one softmax over Q classes per pixel
  (Zhang et al. 2016; Ling et al.; Gustavsson).
- ``ChannelBins``: N centres on one axis used for a and for b independently; the network predicts
  2N logits per pixel, N for a then N for b, with a softmax over each half (Agrawal and Sawhney).

Both share one interface: ``num_classes`` (logit channels), ``soft_encode`` / ``one_hot`` (targets of the
same shape as the logits), ``decode`` (mode, mean, annealed mean; joint bins also mode-hue), ``log_softmax``
and ``nearest``.
``bin_sets.make_bins(spec)`` builds one from a spec string (see ``bin_sets.BIN_SPECS``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from chromalab.color.decoding import (
    DECODE_METHODS,
    DEFAULT_TEMPERATURE,
    MODE_BELOW,
    MODE_HUE_MIN_CHROMA,
    MODE_HUE_RADIUS,
)

SOFT_NEIGHBOURS = 5  # soft-encoding: 5 nearest bins ...
SOFT_SIGMA = 5.0  # ... weighted by a Gaussian of sigma 5 (Zhang et al. 2016, section 3.1)
AB_RANGE = (-128, 127)  # integer ab values the lookup table covers

# the temperature an exported graph decodes the mode at: a bin 1e-4 below the top weighs < 1e-43
MODE_LIMIT = 1e-6


def _bins_last(x: torch.Tensor) -> torch.Tensor:
    """(..., Q, H, W) -> (..., H, W, Q) (non-negative axes: ONNX's Transpose takes no negative ones)."""
    return x.movedim(x.dim() - 3, x.dim() - 1)


def _channels_back(x: torch.Tensor) -> torch.Tensor:
    """(..., H, W, C) -> (..., C, H, W)."""
    return x.movedim(x.dim() - 1, x.dim() - 3)


def _decode_weights(logits: torch.Tensor, method: str, temperature: float | torch.Tensor) -> torch.Tensor:
    """Logits with the bins last (..., Q) -> per-bin weights (..., Q) whose weighted sum of centres is the
    decoded colour. Bins last: the softmax runs over contiguous memory, and one_hot puts its classes there
    (measured on the exported default graph, decoding a (1, 261, 64, 64) map with the bins second took 32
    of its 50 ms, 16 of them moving the mode's one-hot back).

    A tensor ``temperature`` (a scalar) is decoded without Python branches on its value, so that an
    exported graph (``colorize.export``) keeps it as an input: there the mode is the annealed mean's limit,
    a softmax at ``MODE_LIMIT`` (one-hot to float precision; bins within ~1e-5 of the top logit share its
    weight), so that one softmax serves every temperature (an argmax and one-hot beside it took 4.6 of the
    graph's 23 ms)."""
    if method not in DECODE_METHODS:
        raise ValueError(f"unknown decode method {method!r}; choose one of {', '.join(DECODE_METHODS)}")
    if method == "mode-hue":
        method = "annealed"  # its weights; JointBins.decode turns their colour to the mode's hue
    if method == "mean":
        temperature = 1.0

    if isinstance(temperature, torch.Tensor) and method == "annealed":
        cold = torch.where(temperature <= MODE_BELOW, torch.full_like(temperature, MODE_LIMIT), temperature)
        return torch.softmax(logits / cold, dim=-1)
    if method == "mode" or temperature <= MODE_BELOW:
        return F.one_hot(logits.argmax(-1), logits.shape[-1]).to(logits.dtype)
    # annealed mean, Zhang et al. 2016 eq. 5: softmax(log z / T) == softmax(logits / T)
    return torch.softmax(logits / temperature, dim=-1)


class JointBins:
    """Q bins in the ab plane; ``centres`` is a float32 tensor (Q, 2)."""

    groups = 1

    def __init__(self, centres: torch.Tensor | np.ndarray, *, spec: str = "custom") -> None:
        centres = torch.as_tensor(np.asarray(centres), dtype=torch.float32)
        if centres.dim() != 2 or centres.shape[1] != 2 or centres.shape[0] < 2:
            raise ValueError(f"bin centres must be (Q, 2) with Q >= 2, got {tuple(centres.shape)}")
        self.centres = centres
        self.spec = spec
        self._table: torch.Tensor | None = None
        self._near_mode: torch.Tensor | None = None

    @property
    def num_classes(self) -> int:
        return self.centres.shape[0]

    def __repr__(self) -> str:
        return f"JointBins({self.spec!r}, Q={self.num_classes})"

    # -- lookup ---------------------------------------------------------------------------------------
    def _neighbour_table(self) -> torch.Tensor:
        """(256, 256, K) indices of the K nearest bins of every integer ab, computed once by brute force."""
        if self._table is None:
            grid = torch.arange(AB_RANGE[0], AB_RANGE[1] + 1, dtype=torch.float32)
            ab = torch.stack(torch.meshgrid(grid, grid, indexing="ij"), dim=-1).reshape(-1, 2)
            k = min(SOFT_NEIGHBOURS, self.num_classes)
            dist = torch.cdist(ab, self.centres)  # (65536, Q)
            self._table = dist.topk(k, dim=1, largest=False).indices.reshape(256, 256, k)
        return self._table

    def _table_index(self, ab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ia = ab[..., 0, :, :].round().clamp(*AB_RANGE).long() - AB_RANGE[0]
        ib = ab[..., 1, :, :].round().clamp(*AB_RANGE).long() - AB_RANGE[0]
        return ia, ib

    def neighbours(self, ab: torch.Tensor) -> torch.Tensor:
        """ab (B, 2, H, W) -> indices (B, K, H, W) of the K = 5 nearest bins, nearest first.

        ab is rounded to integer Lab units for the lookup (at most 0.71 off), far below the bin spacing.
        """
        ia, ib = self._table_index(ab)
        return self._neighbour_table().to(ab.device)[ia, ib].movedim(-1, -3)

    def nearest(self, ab: torch.Tensor) -> torch.Tensor:
        """ab (B, 2, H, W) -> index (B, H, W) of the nearest bin."""
        return self.neighbours(ab)[..., 0, :, :]

    # -- encoding -------------------------------------------------------------------------------------
    def one_hot(self, ab: torch.Tensor) -> torch.Tensor:
        """ab (B, 2, H, W) -> (B, Q, H, W) one-hot of the nearest bin."""
        return F.one_hot(self.nearest(ab), self.num_classes).movedim(-1, -3).float()

    def soft_encode(self, ab: torch.Tensor, *, sigma: float = SOFT_SIGMA) -> torch.Tensor:
        """ab (B, 2, H, W) -> (B, Q, H, W): the 5 nearest bins weighted by a Gaussian, summing to 1."""
        idx = self.neighbours(ab)  # (B, K, H, W)
        centres = self.centres.to(ab.device)[idx]  # (B, K, H, W, 2)
        d2 = ((centres - ab.movedim(-3, -1).unsqueeze(-4)) ** 2).sum(-1)  # (B, K, H, W)
        weights = torch.softmax(-d2 / (2 * sigma**2), dim=-3)
        target = torch.zeros(*ab.shape[:-3], self.num_classes, *ab.shape[-2:], device=ab.device)
        return target.scatter_(-3, idx, weights)

    # -- decoding -------------------------------------------------------------------------------------
    def log_softmax(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(logits, dim=-3)

    def decode(
        self,
        logits: torch.Tensor,
        *,
        method: str = "annealed",
        temperature: float | torch.Tensor = DEFAULT_TEMPERATURE,
    ) -> torch.Tensor:
        """logits (B, Q, H, W) -> ab (B, 2, H, W). T = 0.38 is Zhang et al.'s choice; T -> 0 is the mode."""
        logits = _bins_last(logits)  # (B, H, W, Q)
        weights = _decode_weights(logits, method, temperature)  # (B, H, W, Q)
        centres = self.centres.to(logits.device, logits.dtype)
        ab = weights @ centres  # (B, H, W, 2)
        if method == "mode-hue":
            ab = self._in_mode_hue(ab, weights, logits.argmax(-1), centres)
        return _channels_back(ab)  # (B, 2, H, W)

    def _in_mode_hue(
        self, ab: torch.Tensor, weights: torch.Tensor, mode: torch.Tensor, centres: torch.Tensor
    ) -> torch.Tensor:
        """ab (..., 2) turned to the hue of the weighted mean of the bins near each pixel's ``mode`` (...),
        keeping its chroma (``decoding.MODE_HUE_RADIUS``); weights (..., Q) of the annealed mean."""
        # (..., Q): 1 within the radius of the mode, else 0
        near = self._mode_neighbourhoods().to(weights)[mode]
        weights_near = weights * near  # (..., Q)
        around = weights_near @ centres  # (..., 2), not normalised: only its direction is used
        around_chroma = around.norm(dim=-1, keepdim=True) / weights_near.sum(-1, keepdim=True)
        # a grey neighbourhood: ab's own hue
        hue = torch.where(around_chroma >= MODE_HUE_MIN_CHROMA, around, ab)
        return hue / hue.norm(dim=-1, keepdim=True).clamp_min(1e-6) * ab.norm(dim=-1, keepdim=True)

    def _mode_neighbourhoods(self) -> torch.Tensor:
        """(Q, Q) float32, computed once: row q is 1 at the bins within ``MODE_HUE_RADIUS`` of bin q (q itself
        included), else 0."""
        if self._near_mode is None:
            self._near_mode = (torch.cdist(self.centres, self.centres) <= MODE_HUE_RADIUS).float()
        return self._near_mode

    # -- class rebalancing ----------------------------------------------------------------------------
    def smooth(self, prior: torch.Tensor, *, sigma: float = SOFT_SIGMA) -> torch.Tensor:
        """Spread each bin's mass over its neighbours with a Gaussian of ``sigma`` ab units; sums to 1."""
        kernel = torch.exp(-(torch.cdist(self.centres, self.centres) ** 2) / (2 * sigma**2))  # (Q, Q)
        kernel = kernel / kernel.sum(0, keepdim=True)  # column j: where bin j's mass goes
        smoothed = kernel @ prior.float()
        return smoothed / smoothed.sum()


class ChannelBins:
    """N equal-width bins over [-100, 100] used for a and for b independently (Agrawal and Sawhney)."""

    groups = 2

    def __init__(self, count: int, *, low: float = -100.0, high: float = 100.0) -> None:
        if count < 2:
            raise ValueError(f"channels:N needs N >= 2, got {count}")
        width = (high - low) / count
        self.edges = torch.linspace(low, high, count + 1)
        self.centres_1d = torch.linspace(low + width / 2, high - width / 2, count)  # (N,)
        self.count = count
        self.spec = f"channels:{count}"

    @property
    def num_classes(self) -> int:
        return 2 * self.count

    @property
    def centres(self) -> torch.Tensor:
        """(N, 2): the a and b centres (identical); what checkpoints store."""
        return torch.stack([self.centres_1d, self.centres_1d], dim=1)

    def __repr__(self) -> str:
        return f"ChannelBins(N={self.count})"

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x[..., : self.count, :, :], x[..., self.count :, :, :]

    def nearest(self, ab: torch.Tensor) -> torch.Tensor:
        """ab (B, 2, H, W) -> per-channel bin indices (B, 2, H, W)."""
        inner = self.edges[1:-1].to(ab.device)
        return torch.bucketize(ab.contiguous(), inner)

    def one_hot(self, ab: torch.Tensor) -> torch.Tensor:
        """ab (B, 2, H, W) -> (B, 2N, H, W): a one-hot over the a bins, then one over the b bins."""
        idx = self.nearest(ab)
        return F.one_hot(idx, self.count).movedim(-1, -3).flatten(-4, -3).float()

    def soft_encode(self, ab: torch.Tensor, *, sigma: float = SOFT_SIGMA) -> torch.Tensor:
        """ab (B, 2, H, W) -> (B, 2N, H, W): per channel, a Gaussian over the 5 nearest bins."""
        centres = self.centres_1d.to(ab.device)
        d2 = (ab.unsqueeze(-3) - centres.view(-1, 1, 1)) ** 2  # (B, 2, N, H, W)
        nearest = d2.topk(min(SOFT_NEIGHBOURS, self.count), dim=-3, largest=False)  # exactly 5, ties broken
        weights = torch.zeros_like(d2).scatter_(
            -3, nearest.indices, torch.softmax(-nearest.values / (2 * sigma**2), dim=-3)
        )
        return weights.flatten(-4, -3)

    def log_softmax(self, logits: torch.Tensor) -> torch.Tensor:
        a, b = self._split(logits)
        return torch.cat([torch.log_softmax(a, dim=-3), torch.log_softmax(b, dim=-3)], dim=-3)

    def decode(
        self,
        logits: torch.Tensor,
        *,
        method: str = "annealed",
        temperature: float | torch.Tensor = DEFAULT_TEMPERATURE,
    ) -> torch.Tensor:
        """logits (B, 2N, H, W) -> ab (B, 2, H, W)."""
        if method == "mode-hue":
            raise ValueError("mode-hue decodes joint ab bins; per-channel bins have no hue of their own mode")
        centres = self.centres_1d.to(logits.device, logits.dtype)
        channels = [
            _decode_weights(_bins_last(half), method, temperature) @ centres  # (B, H, W)
            for half in self._split(logits)
        ]
        return torch.stack(channels, dim=-3)

    def smooth(self, prior: torch.Tensor, *, sigma: float = SOFT_SIGMA) -> torch.Tensor:
        """prior (2N,) per-channel frequencies -> smoothed along each axis, each half summing to 1."""
        c = self.centres_1d
        kernel = torch.exp(-((c[:, None] - c[None, :]) ** 2) / (2 * sigma**2))
        kernel = kernel / kernel.sum(0, keepdim=True)
        halves = [kernel @ half.float() for half in prior.float().split(self.count)]
        return torch.cat([h / h.sum() for h in halves])


Bins = JointBins | ChannelBins


def rebalancing_weights(
    bins: Bins, prior: torch.Tensor, *, lam: float = 0.5, sigma: float = SOFT_SIGMA
) -> torch.Tensor:
    """Class rebalancing weights (Q,), Zhang et al. 2016 eq. 4.

    The empirical prior is smoothed with a Gaussian (sigma = 5), mixed with a uniform distribution at
    ``lam`` = 0.5, inverted, and scaled so that the expected weight under the smoothed prior is 1.
    For channel bins each channel's half is treated as its own distribution.
    """
    if prior.shape != (bins.num_classes,):
        raise ValueError(f"prior must have shape ({bins.num_classes},), got {tuple(prior.shape)}")
    if not torch.isfinite(prior).all() or (prior < 0).any() or prior.sum() <= 0:
        raise ValueError("prior must be non-negative, finite and not all zero")
    smoothed = bins.smooth(prior, sigma=sigma)
    halves = []
    for part in smoothed.split(bins.num_classes // bins.groups):
        weights = 1.0 / ((1 - lam) * part + lam / part.numel())
        halves.append(weights / (part * weights).sum())
    return torch.cat(halves)

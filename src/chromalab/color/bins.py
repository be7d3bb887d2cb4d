"""Quantised ab colour bins: the classes of the classification models.

A bin set is a table of centres plus a fast nearest-bin lookup. Two shapes exist:

- ``JointBins``: Q centres in the ab plane, ``centres`` is (Q, 2); one softmax over Q classes per pixel
  (Zhang et al. 2016; Ling et al.; Gustavsson).
- ``ChannelBins``: N centres on one axis used for a and for b independently; the network predicts
  2N logits per pixel, N for a then N for b, with a softmax over each half (Agrawal and Sawhney).

Both share one interface: ``num_classes`` (logit channels), ``soft_encode`` / ``one_hot`` (targets of the
same shape as the logits), ``decode`` (mode, mean, annealed mean; joint bins also mode-hue), ``log_softmax``
and ``nearest``.
``bin_sets.make_bins(spec)`` builds one from a spec string (see ``bin_index.BIN_SPECS``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from chromalab.color.bin_index import channel_edges, check_joint_centres, neighbour_table, table_index
from chromalab.color.decode_bins import decode_channels, decode_joint, mode_neighbourhoods
from chromalab.color.decoding import DEFAULT_TEMPERATURE

SOFT_NEIGHBOURS = 5  # soft-encoding: 5 nearest bins ...
SOFT_SIGMA = 5.0  # ... weighted by a Gaussian of sigma 5 (Zhang et al. 2016, section 3.1)


def _as_array(logits: torch.Tensor) -> np.ndarray:
    """A logits tensor as the float32 array ``decoding`` takes, without a copy where it can (its memory
    layout, channels-last from a network, is kept)."""
    return logits.detach().cpu().float().numpy()


def _as_tensor(ab: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(ab).to(device=like.device, dtype=like.dtype if like.is_floating_point() else None)


class JointBins:
    """Q bins in the ab plane; ``centres`` is a float32 tensor (Q, 2)."""

    groups = 1

    def __init__(self, centres: torch.Tensor | np.ndarray, *, spec: str = "custom") -> None:
        self.centres = torch.from_numpy(check_joint_centres(np.asarray(centres)))
        self.spec = spec
        self._table: torch.Tensor | None = None
        self._near_mode: np.ndarray | None = None

    @property
    def num_classes(self) -> int:
        return self.centres.shape[0]

    def __repr__(self) -> str:
        return f"JointBins({self.spec!r}, Q={self.num_classes})"

    # -- lookup ---------------------------------------------------------------------------------------
    def _neighbour_table(self) -> torch.Tensor:
        """(256, 256, K) indices of the K nearest bins of every integer ab (``bin_index.neighbour_table``),
        made once."""
        if self._table is None:
            self._table = torch.from_numpy(neighbour_table(self.centres.numpy(), SOFT_NEIGHBOURS))
        return self._table

    def neighbours(self, ab: torch.Tensor) -> torch.Tensor:
        """ab (B, 2, H, W) -> indices (B, K, H, W) of the K = 5 nearest bins, nearest first.

        ab is rounded to integer Lab units for the lookup (at most 0.71 off), far below the bin spacing.
        """
        ia, ib = (torch.from_numpy(i).to(ab.device) for i in table_index(ab.detach().cpu().numpy()))
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
        """logits (B, Q, H, W) -> ab (B, 2, H, W) (``decoding.decode_joint``). T = 0.38 is Zhang et al.'s
        choice; T -> 0 is the mode."""
        if self._near_mode is None:
            self._near_mode = mode_neighbourhoods(self.centres.numpy())  # (Q, Q) bool, made once
        ab = decode_joint(
            _as_array(logits),
            self.centres.numpy(),
            method=method,
            temperature=float(temperature),
            near_mode=self._near_mode,
        )
        return _as_tensor(ab, logits)

    # -- class rebalancing ----------------------------------------------------------------------------
    def smooth(self, prior: torch.Tensor, *, sigma: float = SOFT_SIGMA) -> torch.Tensor:
        """Spread each bin's mass over its neighbours with a Gaussian of ``sigma`` ab units; sums to 1."""
        kernel = torch.exp(-(torch.cdist(self.centres, self.centres) ** 2) / (2 * sigma**2))  # (Q, Q)
        kernel = kernel / kernel.sum(0, keepdim=True)  # column j: where bin j's mass goes
        smoothed = kernel @ prior.float()
        return smoothed / smoothed.sum()


class ChannelBins:
    """N equal-width bins over [-100, 100] (``bin_index.CHANNEL_RANGE``) used for a and for b independently
    (Agrawal and Sawhney)."""

    groups = 2

    def __init__(self, count: int) -> None:
        edges, centres = channel_edges(count)
        self.edges = torch.from_numpy(edges)  # (N + 1,)
        self.centres_1d = torch.from_numpy(centres)  # (N,)
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
        """logits (B, 2N, H, W) -> ab (B, 2, H, W) (``decoding.decode_channels``)."""
        ab = decode_channels(
            _as_array(logits), self.centres_1d.numpy(), method=method, temperature=float(temperature)
        )
        return _as_tensor(ab, logits)

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

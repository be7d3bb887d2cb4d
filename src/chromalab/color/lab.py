"""sRGB <-> CIE Lab (D65, 2 degree observer), batched, differentiable, float32.

This module is the only home of the L and ab normalisation constants: every network sees
``normalize_l(L)`` and every regression network predicts ``normalize_ab(ab)``.

Conventions: sRGB in [0, 1]; L in [0, 100]; a and b in about [-128, 127]. Channels come third from the
end, so images are ``(*, 3, H, W)``; the same maths as scikit-image's ``rgb2lab`` / ``lab2rgb``.
"""

from __future__ import annotations

import numpy as np
import torch

from chromalab.color import srgb8
from chromalab.color.srgb8 import WHITE_D65, XYZ_FROM_RGB

# network input / output scaling, Zhang et al. 2016 (l_cent = 50, l_norm = 100, ab_norm = 110)
L_CENTER = 50.0
L_SCALE = 100.0
AB_SCALE = 110.0

_XYZ_FROM_RGB = torch.tensor(XYZ_FROM_RGB, dtype=torch.float64)
_RGB_FROM_XYZ = torch.linalg.inv(_XYZ_FROM_RGB)

# CIE f(t) breakpoints
_EPSILON = srgb8.CIE_EPSILON
_KAPPA = srgb8.CIE_KAPPA
_DELTA = 6.0 / 29.0


def _check_channels(x: torch.Tensor, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.dim() < 3 or x.shape[-3] != 3:
        raise ValueError(f"{name}: expected (*, 3, H, W), got {tuple(x.shape)}")


def srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    """Undo the sRGB transfer curve: values in [0, 1] -> linear light."""
    return torch.where(rgb > 0.04045, ((rgb.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4, rgb / 12.92)


def linear_to_srgb(lin: torch.Tensor) -> torch.Tensor:
    """Apply the sRGB transfer curve: linear light -> values in [0, 1] (not clipped)."""
    return torch.where(lin > 0.0031308, 1.055 * lin.clamp(min=0.0031308) ** (1 / 2.4) - 0.055, lin * 12.92)


def _f(t: torch.Tensor) -> torch.Tensor:
    # clamp inside the cube-root branch keeps gradients finite at t = 0
    return torch.where(t > _EPSILON, t.clamp(min=_EPSILON) ** (1 / 3), t * _KAPPA + 4.0 / 29.0)


def _f_inv(f: torch.Tensor) -> torch.Tensor:
    return torch.where(f > _DELTA, f.clamp(min=_DELTA) ** 3, (f - 4.0 / 29.0) / _KAPPA)


def _mix(matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Apply a 3x3 matrix over the channel axis of ``x`` (*, 3, H, W)."""
    m = matrix.to(dtype=x.dtype, device=x.device)
    return torch.einsum("ij,...jhw->...ihw", m, x)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB (*, 3, H, W) in [0, 1] -> Lab (*, 3, H, W) with L in [0, 100]."""
    _check_channels(rgb, "rgb_to_lab")
    xyz = _mix(_XYZ_FROM_RGB, srgb_to_linear(rgb))
    white = torch.tensor(WHITE_D65, dtype=rgb.dtype, device=rgb.device).view(3, 1, 1)
    fx, fy, fz = _f(xyz / white).unbind(-3)
    lightness = 116.0 * fy - 16.0
    a = 500.0 * (fx - fy)
    b = 200.0 * (fy - fz)
    return torch.stack([lightness, a, b], dim=-3)


def lab_to_rgb(lab: torch.Tensor, *, clip: bool = True) -> torch.Tensor:
    """Lab (*, 3, H, W) -> sRGB (*, 3, H, W), clipped to [0, 1] unless ``clip=False``."""
    _check_channels(lab, "lab_to_rgb")
    lightness, a, b = lab.unbind(-3)
    fy = (lightness + 16.0) / 116.0
    fx = fy + a / 500.0
    fz = (fy - b / 200.0).clamp(min=0.0)  # negative Z is not a colour; scikit-image clips it too
    white = torch.tensor(WHITE_D65, dtype=lab.dtype, device=lab.device).view(3, 1, 1)
    xyz = _f_inv(torch.stack([fx, fy, fz], dim=-3)) * white
    rgb = linear_to_srgb(_mix(_RGB_FROM_XYZ, xyz))
    return rgb.clamp(0.0, 1.0) if clip else rgb


# relative luminance Y of linear sRGB: the middle row of the XYZ matrix
LUMINANCE_WEIGHTS = _XYZ_FROM_RGB[1].float()


def luminance_to_lightness(y: torch.Tensor) -> torch.Tensor:
    """Relative luminance Y (white = 1) -> L in [0, 100]."""
    return 116.0 * _f(y) - 16.0


def lab_to_srgb8(lab: torch.Tensor) -> torch.Tensor:
    """Lab (3, H, W) -> uint8 sRGB (H, W, 3) that keeps L exactly; not differentiable.

    In-gamut colours agree with ``lab_to_rgb`` within 1 code value. An out-of-gamut colour is not clipped
    channel by channel (which would change its lightness) but moved towards the grey of the same luminance,
    in linear light, just far enough to fit: hue and L are kept, chroma gives way.
    """
    _check_channels(lab, "lab_to_srgb8")
    if lab.dim() != 3:
        raise ValueError(f"lab_to_srgb8: expected one image (3, H, W), got {tuple(lab.shape)}")
    return join_lightness(lab[0], lab[1:])  # bilinear at scale 1 is the identity


def join_lightness(lightness: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """L (H, W) + ab (2, h, w) -> uint8 sRGB (H, W, 3): ``lab_to_srgb8`` of L joined with ab upsampled by
    ``F.interpolate(mode="bilinear", align_corners=False)``, without ever holding the full-size ab; the
    torch face of ``srgb8.upsample_lab_to_srgb8``, which renders every colorization.

    One fused C pass (``srgb8.upsample_lab_to_srgb8``) on ``torch.get_num_threads()`` threads. The
    upsampling rounds as torch's AVX2 / AVX512 CPU kernels do, so the result is the same bit for bit
    (tests/test_srgb8.py).
    """
    for name, x, dims in (("lightness", lightness, 2), ("ab", ab, 3)):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"join_lightness: {name}: expected a torch.Tensor, got {type(x).__name__}")
        if x.dim() != dims:
            raise ValueError(
                f"join_lightness: expected L (H, W) and ab (2, h, w), got {name} {tuple(x.shape)}"
            )
    if ab.shape[0] != 2 or (lightness.numel() and not ab[0].numel()):
        raise ValueError(f"join_lightness: expected ab (2, h, w) with h, w >= 1, got {tuple(ab.shape)}")
    return torch.from_numpy(
        srgb8.upsample_lab_to_srgb8(
            _float_array(lightness), _float_array(ab), threads=torch.get_num_threads()
        )
    )


def _float_array(x: torch.Tensor) -> np.ndarray:
    """A C-contiguous float32 numpy view (a copy only when needed) for the C kernel."""
    return x.detach().cpu().float().contiguous().numpy()


def rgb_to_lightness(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB (*, 3, H, W) -> L (*, 1, H, W); cheaper than ``rgb_to_lab`` as it only needs Y."""
    _check_channels(rgb, "rgb_to_lightness")
    weights = LUMINANCE_WEIGHTS.to(dtype=rgb.dtype, device=rgb.device)
    y = torch.einsum("j,...jhw->...hw", weights, srgb_to_linear(rgb)).unsqueeze(-3)
    return luminance_to_lightness(y)


def grey_to_lightness(grey: torch.Tensor) -> torch.Tensor:
    """Grey sRGB values (*, H, W) in [0, 1] -> L (*, H, W): a grey pixel has Y = linear(value)."""
    return luminance_to_lightness(srgb_to_linear(grey) * LUMINANCE_WEIGHTS.sum())


def normalize_l(lightness: torch.Tensor) -> torch.Tensor:
    """L in [0, 100] -> network input in [-0.5, 0.5]."""
    return (lightness - L_CENTER) / L_SCALE


def denormalize_l(l_norm: torch.Tensor) -> torch.Tensor:
    return l_norm * L_SCALE + L_CENTER


def normalize_ab(ab: torch.Tensor) -> torch.Tensor:
    """ab in Lab units -> regression target of about [-1, 1]."""
    return ab / AB_SCALE


def denormalize_ab(ab_norm: torch.Tensor) -> torch.Tensor:
    return ab_norm * AB_SCALE

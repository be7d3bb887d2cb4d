"""The pix2pix training step (Isola et al. 2017, Agrawal and Sawhney's appendix): one discriminator step
and one generator step (adversarial + 100 x L1) for ``models.pix2pix``'s U-Net and PatchGAN."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from chromalab.color.lab import normalize_ab, normalize_l
from chromalab.training.losses import target_at

L1_WEIGHT = 100.0  # lambda of pix2pix's L1 term
PIX2PIX_BETAS = (0.5, 0.999)  # Isola et al. 2017, Adam for the discriminator


def gan_step(
    generator: nn.Module,
    discriminator: nn.Module,
    g_opt: torch.optim.Optimizer,
    d_opt: torch.optim.Optimizer,
    lightness: torch.Tensor,
    ab: torch.Tensor,
    *,
    l1_weight: float = L1_WEIGHT,
) -> dict[str, float]:
    """One pix2pix step on L (B, 1, S, S) and ab (B, 2, S, S) in Lab units (as ``training_step``).

    D: binary cross-entropy with logits, real (L, ab) -> 1, fake (L, G(L)) -> 0, halved (pix2pix slows D
    down this way). G: D's verdict on (L, G(L)) -> 1, plus ``l1_weight`` x L1 to ab / 110 (pix2pix's images
    are in [-1, 1]; ab / 110 is on the same scale, so lambda = 100 keeps its meaning).
    Returns the float losses ``d_loss``, ``g_loss``, ``g_adv``, ``g_l1``.
    """
    generator.train()
    discriminator.train()
    x = normalize_l(lightness)  # (B, 1, S, S)
    fake = generator(x)  # (B, 2, h, w) ab / 110
    real = normalize_ab(target_at(ab, fake.shape[-2:]))  # (B, 2, h, w)
    x = target_at(x, fake.shape[-2:])  # (B, 1, h, w): D sees L beside the colours

    discriminator.requires_grad_(True)
    d_opt.zero_grad(set_to_none=True)
    real_logits = discriminator(torch.cat([x, real], dim=1))  # (B, 1, p, p)
    fake_logits = discriminator(torch.cat([x, fake.detach()], dim=1))
    d_loss = 0.5 * (
        F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
        + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    )
    d_loss.backward()
    d_opt.step()

    discriminator.requires_grad_(False)  # G's step must not leave gradients in D
    g_opt.zero_grad(set_to_none=True)
    verdict = discriminator(torch.cat([x, fake], dim=1))
    g_adv = F.binary_cross_entropy_with_logits(verdict, torch.ones_like(verdict))
    g_l1 = F.l1_loss(fake, real)
    g_loss = g_adv + l1_weight * g_l1
    g_loss.backward()
    g_opt.step()
    discriminator.requires_grad_(True)
    losses = {"d_loss": d_loss, "g_loss": g_loss, "g_adv": g_adv, "g_l1": g_l1}
    return {name: float(value.detach()) for name, value in losses.items()}

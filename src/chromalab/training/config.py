"""What a training run is asked to do; stored in every checkpoint so a run describes itself.

Torch-free: ``chromalab train --help`` reads its defaults here without importing torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

CLASSIFICATION_LOSSES = ("ce",)
REGRESSION_LOSSES = ("l2", "smooth-l1")
ADVERSARIAL_LOSSES = ("gan",)  # pix2pix: adversarial + 100 x L1, its own step (gan.gan_step)
LOSSES = CLASSIFICATION_LOSSES + REGRESSION_LOSSES + ADVERSARIAL_LOSSES
ENCODINGS = ("soft", "onehot")
SCHEDULES = ("constant", "step", "plateau")


@dataclass
class TrainConfig:
    model: str
    model_options: dict[str, Any] = field(default_factory=dict)
    loss: str = "ce"  # ce | l2 | smooth-l1 | gan (pix2pix: PatchGAN + 100 x L1)
    encoding: str = "soft"  # soft | onehot (cross-entropy targets)
    rebalance: bool = True  # class rebalancing, Zhang et al. 2016
    # weight of the uniform distribution mixed into the prior (Zhang et al.: 0.5)
    rebalance_lambda: float = 0.5
    bins: str = "gamut:10"
    # Adam with Gustavsson's betas and weight decay; the learning rate is an option
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 1e-3
    # step: x0.1 at ``lr_drop_at`` of the run (Lin and Liu); plateau: on val loss (Agrawal and Sawhney)
    schedule: str = "step"
    lr_drop_at: float = 0.4  # Lin and Liu train 10 epochs at 1e-3 then 15 at 1e-4
    batch_size: int = 32  # per process
    epochs: int = 10
    minutes: float | None = None  # wall-clock budget; stops at whichever of epochs / minutes comes first
    max_steps: int | None = None
    flip: bool = True
    seed: int = 0
    checkpoint_every: int = 500  # steps
    log_every: int = 10  # steps between metrics.jsonl lines
    val_images: int = 512  # validation images scored each epoch
    channels_last: bool = True
    compile: bool = False
    overfit_one: bool = False  # Santiago and Sieving's sanity check: one photo, its loss must fall
    # > 0: the global branch also predicts the photo's class (Iizuka et al.: 1/300)
    class_loss_weight: float = 0.0
    init: str | None = None  # a model file whose weights the run starts from (fine-tuning); None: random
    no_hint_share: float = 0.5  # hint networks (model option hints): the share of images trained with no hint
    half_size_share: float = 0.0  # the share of steps whose batch is seen at half the cache's size

    def validate(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"--loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.encoding not in ENCODINGS:
            raise ValueError(f"--encoding must be one of {', '.join(ENCODINGS)}, got {self.encoding!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"--schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        for name in ("lr", "batch_size", "epochs", "checkpoint_every", "log_every"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if self.class_loss_weight < 0:
            raise ValueError(f"--class-loss-weight must be >= 0, got {self.class_loss_weight}")
        if not 0 < self.rebalance_lambda <= 1:
            raise ValueError(f"--rebalance-lambda must be in (0, 1], got {self.rebalance_lambda}")
        if not 0 <= self.no_hint_share <= 1:
            raise ValueError(f"--no-hint-share must be in [0, 1], got {self.no_hint_share}")
        if not 0 <= self.half_size_share <= 1:
            raise ValueError(f"--half-size-share must be in [0, 1], got {self.half_size_share}")
        if self.minutes is not None and self.minutes <= 0:
            raise ValueError(f"--minutes must be positive, got {self.minutes}")

    @property
    def classification(self) -> bool:
        return self.loss in CLASSIFICATION_LOSSES

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        data = dict(data)
        data["betas"] = tuple(data.get("betas", (0.9, 0.99)))
        return cls(**data)

"""The paper's constants in one place (Clèrigues et al., §3 and §4; released config where the paper is silent)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PaperConfig:
    """Every number the method fixes, with the paper section it comes from.

    Profiles and notebooks override single values with :func:`dataclasses.replace`.
    """

    # §3.3 patches and sampling
    patch_shape: tuple[int, int, int] = (24, 24, 16)
    patches_per_case: int = 10_000
    lesion_fraction: float = 0.5
    # §3.3 focal loss, Eq. 1 (alpha[0] healthy, alpha[1] lesion)
    focal_gamma: float = 2.0
    focal_alpha: tuple[float, float] = (0.25, 0.75)
    # §3.4 training (Adadelta defaults of the released config)
    batch_size: int = 16
    adadelta_rho: float = 0.95
    adadelta_lr: float = 1.0
    patience: int = 8
    min_delta: float = 1e-4
    max_epochs: int = 200
    dropout: float = 0.2
    base_filters: int = 32
    # §4.1 cross-validation
    n_folds: int = 4
    # §3.5 inference
    inference_step: tuple[int, int, int] = (4, 4, 1)
    # §4.1 post-processing grid and Eq. 2
    thresholds: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    min_sizes: tuple[int, ...] = (1, 10, 50, 100, 200, 300, 500, 1000)
    hd_max: float = 200.0
    extra: dict = field(default_factory=dict, compare=False)


PAPER = PaperConfig()

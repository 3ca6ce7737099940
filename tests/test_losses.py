"""Focal loss (Eq. 1), cross-entropy and the early-stopping metric (§3.4) against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from strokelib.errors import TrainingError
from strokelib.model.losses import LOSSES, cross_entropy, focal_loss, l1_error_rate


def _logits_for(p_lesion: list[float]) -> torch.Tensor:
    """(1, 2, n, 1, 1) logits whose softmax gives p_lesion for class 1."""
    p = torch.tensor(p_lesion, dtype=torch.float64)
    logit = torch.log(p) - torch.log1p(-p)
    return torch.stack([torch.zeros_like(logit), logit])[None, :, :, None, None]


def test_focal_loss_hand_computed():
    logits = _logits_for([0.9, 0.2, 0.6, 0.3])
    target = torch.tensor([1, 0, 0, 1])[None, :, None, None]
    # p_t: 0.9 (lesion), 0.8 (healthy), 0.4 (healthy), 0.3 (lesion)
    terms = [
        -0.75 * (1 - 0.9) ** 2 * math.log(0.9),
        -0.25 * (1 - 0.8) ** 2 * math.log(0.8),
        -0.25 * (1 - 0.4) ** 2 * math.log(0.4),
        -0.75 * (1 - 0.3) ** 2 * math.log(0.3),
    ]
    assert focal_loss(logits, target).item() == pytest.approx(sum(terms) / 4, rel=1e-6)


def test_focal_gamma_zero_is_alpha_weighted_cross_entropy():
    torch.manual_seed(0)
    logits = torch.randn(2, 2, 4, 4, 4)
    target = torch.randint(0, 2, (2, 4, 4, 4))
    ce = F.cross_entropy(logits, target, reduction="none")
    weights = torch.tensor([0.25, 0.75])[target]
    assert focal_loss(logits, target, gamma=0.0).item() == pytest.approx((weights * ce).mean().item(), rel=1e-6)
    assert focal_loss(logits, target, alpha=(1.0, 1.0), gamma=0.0).item() == pytest.approx(cross_entropy(logits, target).item(), rel=1e-6)


def test_focal_down_weights_confident_voxels():
    target = torch.tensor([1])[None, :, None, None]
    easy, hard = _logits_for([0.95]), _logits_for([0.1])
    ratio_focal = focal_loss(hard, target) / focal_loss(easy, target)
    ratio_ce = cross_entropy(hard, target) / cross_entropy(easy, target)
    assert ratio_focal > 10 * ratio_ce


def test_focal_is_finite_for_extreme_logits():
    logits = torch.tensor([[-200.0, 200.0]]).reshape(1, 2, 1, 1, 1)
    target = torch.zeros(1, 1, 1, 1, dtype=torch.long)
    loss = focal_loss(logits, target)
    assert torch.isfinite(loss) and loss.item() == pytest.approx(0.25 * 400.0, rel=1e-4)


def test_singleton_channel_target_and_shape_errors():
    logits = torch.randn(2, 2, 4, 4, 4)
    target = torch.randint(0, 2, (2, 1, 4, 4, 4))
    assert focal_loss(logits, target).item() == pytest.approx(focal_loss(logits, target[:, 0]).item())
    with pytest.raises(TrainingError, match="do not match"):
        focal_loss(logits, torch.zeros(2, 4, 4, 3, dtype=torch.long))
    with pytest.raises(TrainingError, match="alpha"):
        focal_loss(logits, target, alpha=(0.5,))


def test_l1_error_rate_hand_computed():
    logits = _logits_for([0.9, 0.2, 0.6, 0.5])
    target = torch.tensor([1, 0, 0, 1])[None, :, None, None]
    l1 = (0.1 + 0.2 + 0.6 + 0.5) / 4
    error_rate = 2 / 4  # 0.6 predicted lesion on healthy; the 0.5 tie goes to class 0 on a lesion voxel
    assert l1_error_rate(logits, target).item() == pytest.approx(l1 + error_rate, rel=1e-6)


def test_losses_registry():
    assert LOSSES["focal"] is focal_loss and LOSSES["cross_entropy"] is cross_entropy


def test_focal_vs_cross_entropy_figure(tmp_path):
    from strokelib.plotting import focal_vs_cross_entropy

    assert focal_vs_cross_entropy(gammas=(0.0, 2.0), output_file=tmp_path / "focal.png") is None
    assert (tmp_path / "focal.png").is_file()
    fig = focal_vs_cross_entropy(gammas=(0.0, 2.0))
    left = fig.axes[0].lines[0].get_ydata()  # cross-entropy: −log p
    assert left[-1] == pytest.approx(-math.log(0.999), rel=1e-6)

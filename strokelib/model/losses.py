"""Training losses and the early-stopping metric (paper §3.3 Eq. 1 and §3.4).

Every function takes the network's logits (B, N, X, Y, Z) and an integer label map (B, X, Y, Z) (a singleton
channel (B, 1, X, Y, Z) is accepted too). Probabilities come from ``softmax``/``log_softmax`` in float32, so the
functions are safe under mixed precision.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import TrainingError


def _checked(logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """float32 logits and an int64 target of shape (B, X, Y, Z) that matches them."""
    if target.ndim == logits.ndim and target.shape[1] == 1:
        target = target[:, 0]
    if logits.ndim < 3 or target.shape != logits.shape[:1] + logits.shape[2:]:
        raise TrainingError(
            f"loss: logits of shape {tuple(logits.shape)} (B, N, X, Y, Z) do not match labels of shape {tuple(target.shape)} "
            "(B, X, Y, Z); the model's output and the patch labels must cover the same voxels"
        )
    return logits.float(), target.long()


def focal_loss(
    logits: Tensor, target: Tensor, alpha: Sequence[float] = (0.25, 0.75), gamma: float = 2.0
) -> Tensor:
    """Focal loss, Eq. 1: FL(p_t) = −α_t (1 − p_t)^γ log(p_t), averaged over voxels.

    ``p_t`` is the softmax probability of the true class t, ``alpha[t]`` its weight: α₀ = 0.25 for healthy
    tissue and α₁ = 0.75 for lesion (§3.3, as in the released code, ``docs/released-code.md#loss-and-early-stopping``). ``log p_t`` is taken
    from ``log_softmax`` rather than from clamped probabilities, so it never under- or overflows.
    """
    logits, target = _checked(logits, target)
    if len(alpha) != logits.shape[1]:
        raise TrainingError(f"focal_loss: {len(alpha)} alpha weights for {logits.shape[1]} classes; give one weight per class")
    log_pt = F.log_softmax(logits, dim=1).gather(1, target.unsqueeze(1)).squeeze(1)
    alpha_t = torch.as_tensor(alpha, dtype=log_pt.dtype, device=log_pt.device)[target]
    modulation = (1.0 - log_pt.exp()).pow(gamma) if gamma else 1.0
    return -(alpha_t * modulation * log_pt).mean()


def cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    """Plain (unweighted) cross-entropy averaged over voxels: the loss of the Baseline approach (§4.1)."""
    logits, target = _checked(logits, target)
    return F.cross_entropy(logits, target)


def l1_error_rate(logits: Tensor, target: Tensor) -> Tensor:
    """Early-stopping metric of §3.4: the L1 loss plus the voxel error rate on the validation set.

    L1 is the mean of |p − onehot(y)| over all classes and voxels (for two classes: the voxel mean of
    |p_lesion − y|), the error rate is 1 − accuracy of ``argmax`` (ties go to class 0), as in the released
    ``nic_binary_l1_er``. Lower is better.
    """
    logits, target = _checked(logits, target)
    prob = torch.softmax(logits, dim=1)
    onehot = F.one_hot(target, logits.shape[1]).movedim(-1, 1).to(prob.dtype)
    l1 = (prob - onehot).abs().mean()
    error_rate = (prob.argmax(dim=1) != target).float().mean()
    return l1 + error_rate


LOSSES = {"focal": focal_loss, "cross_entropy": cross_entropy}

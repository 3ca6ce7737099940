"""SUNet, the asymmetric residual 3D U-Net of the paper (§3.2, Figure 2), as released by the authors.

Layer by layer (``docs/released-code.md#network``), for ``base_filters`` F = 32 and a 24×24×16 patch::

    inconv   Conv3d in→F                          F@24×24×16   ┐
    dual1    DualRes(F)            (no dropout)   F@24×24×16   │
    down1    DownStep(F)                         2F@12×12×8    │
    dual2    DualRes(2F)           dropout 0.2   2F@12×12×8    │ encoder ≈ 75 % of the parameters
    down2    DownStep(2F)                        4F@6×6×4      │
    dual3    DualRes(4F)           dropout 0.2   4F@6×6×4      │
    down3    DownStep(4F)                        8F@3×3×2      │
    dual4    DualRes(8F)           dropout 0.2   8F@3×3×2      ┘ (bottleneck)
    up4      ConvTranspose3d 8F→4F, + dual3       4F@6×6×4     ┐
    mono3    MonoRes(4F)                          4F@6×6×4     │
    up3      ConvTranspose3d 4F→2F, + dual2       2F@12×12×8   │ decoder ≈ 25 %
    mono2    MonoRes(2F)                          2F@12×12×8   │
    up2      ConvTranspose3d 2F→F, + dual1         F@24×24×16  │
    mono1    MonoRes(F)                            F@24×24×16  │
    outconv  Conv3d F→n_classes                    N@24×24×16  ┘

The network returns logits; the softmax the released code applied inside ``forward`` lives in the losses
(``log_softmax``, numerically stable) and in inference. PyTorch ≥ 1.2 initialises BatchNorm γ to 1 where the
authors' torch 1.0 drew it from U(0, 1) (``docs/released-code.md#network``); we keep the modern default.
"""

from __future__ import annotations

import pandas as pd
import torch
from torch import Tensor, nn

from ..errors import ConfigError

# Released hyper-parameters (docs/released-code.md#network): Keras-style BN momentum 0.99 = PyTorch 0.01, eps 1e-3,
# PReLU slopes start at 0 so every unit is a ReLU at initialisation.
BN_MOMENTUM = 0.01
BN_EPS = 1e-3
PRELU_INIT = 0.0

ENCODER = ("inconv", "dual1", "down1", "dual2", "down2", "dual3", "down3", "dual4")
DECODER = ("up4", "mono3", "up3", "mono2", "up2", "mono1", "outconv")


def _conv(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv3d:
    return nn.Conv3d(in_ch, out_ch, kernel_size=3, stride=stride, padding=1, bias=True)


def _bn_prelu(channels: int) -> list[nn.Module]:
    return [nn.BatchNorm3d(channels, eps=BN_EPS, momentum=BN_MOMENTUM), nn.PReLU(channels, init=PRELU_INIT)]


class DualRes(nn.Module):
    """Encoder residual block (§3.2): ``x + conv(BN-PReLU(dropout(conv(BN-PReLU(x)))))``, pre-activation."""

    def __init__(self, channels: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *_bn_prelu(channels),
            _conv(channels, channels),
            nn.Dropout3d(p=dropout),  # channel-wise dropout, between the two convolutions
            *_bn_prelu(channels),
            _conv(channels, channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class MonoRes(nn.Module):
    """Decoder residual block with a single convolution (§3.2): ``x + conv(BN-PReLU(x))``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*_bn_prelu(channels), _conv(channels, channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class DownStep(nn.Module):
    """Down-sampling (§3.2, Szegedy et al.): concatenate a stride-2 conv branch with max-pooling; channels double."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(*_bn_prelu(channels), _conv(channels, channels, stride=2))
        self.pool = nn.MaxPool3d(kernel_size=2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.conv(x), self.pool(x)], dim=1)  # conv branch first, as released


def _up(in_ch: int, out_ch: int) -> nn.ConvTranspose3d:
    """Transposed convolution that exactly doubles every spatial size (§3.2)."""
    return nn.ConvTranspose3d(in_ch, out_ch, kernel_size=3, stride=2, padding=1, output_padding=1)


class SUNet(nn.Module):
    """Asymmetric residual 3D U-Net of §3.2 / Figure 2 with 4 resolution steps; returns logits (B, N, X, Y, Z).

    Parameters
    ----------
    in_channels : number of image modalities I (4 or 8 for SISS, 7 or 14 for SPES with symmetric modalities).
    n_classes : segmentation classes N (2: healthy, lesion).
    base_filters : channels of the first resolution level (32 in the paper).
    dropout : channel dropout rate of the deeper encoder blocks dual2–dual4 (0.2 in the paper).

    Spatial input sizes must be divisible by 8.
    """

    def __init__(self, in_channels: int, n_classes: int = 2, base_filters: int = 32, dropout: float = 0.2) -> None:
        super().__init__()
        if in_channels < 1 or n_classes < 2 or base_filters < 1:
            raise ConfigError(
                f"SUNet needs in_channels ≥ 1, n_classes ≥ 2 and base_filters ≥ 1; got {in_channels}, {n_classes}, {base_filters}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"SUNet dropout must be in [0, 1); got {dropout}")
        f = base_filters
        self.in_channels, self.n_classes, self.base_filters, self.dropout = in_channels, n_classes, base_filters, dropout
        self.inconv = _conv(in_channels, f)
        self.dual1 = DualRes(f, dropout=0.0)  # the released code has no dropout at full resolution
        self.down1 = DownStep(f)
        self.dual2 = DualRes(2 * f, dropout)
        self.down2 = DownStep(2 * f)
        self.dual3 = DualRes(4 * f, dropout)
        self.down3 = DownStep(4 * f)
        self.dual4 = DualRes(8 * f, dropout)
        self.up4 = _up(8 * f, 4 * f)
        self.mono3 = MonoRes(4 * f)
        self.up3 = _up(4 * f, 2 * f)
        self.mono2 = MonoRes(2 * f)
        self.up2 = _up(2 * f, f)
        self.mono1 = MonoRes(f)
        self.outconv = _conv(f, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 5 or any(s % 8 for s in x.shape[2:]):
            raise ConfigError(f"SUNet expects (B, C, X, Y, Z) input with X, Y, Z divisible by 8; got shape {tuple(x.shape)}")
        l1 = self.dual1(self.inconv(x))
        l2 = self.dual2(self.down1(l1))
        l3 = self.dual3(self.down2(l2))
        l4 = self.dual4(self.down3(l3))
        r3 = self.mono3(l3 + self.up4(l4))  # long skips are additive, not concatenations
        r2 = self.mono2(l2 + self.up3(r3))
        r1 = self.mono1(l1 + self.up2(r2))
        return self.outconv(r1)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (BatchNorm running statistics are buffers and not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def parameter_split(model: SUNet) -> dict:
    """Encoder/decoder parameter counts and shares (§3.2: "75 % and 25 % of the parameters").

    The encoder is ``inconv`` + ``dual1..dual4`` + ``down1..down3`` (bottleneck included); the decoder the
    up-steps, ``mono3..mono1`` and ``outconv``. ``bottleneck`` reports ``dual4`` alone.
    """
    encoder = sum(count_parameters(getattr(model, name)) for name in ENCODER)
    decoder = sum(count_parameters(getattr(model, name)) for name in DECODER)
    total = encoder + decoder
    return {
        "encoder": encoder,
        "decoder": decoder,
        "total": total,
        "encoder_share": encoder / total,
        "decoder_share": decoder / total,
        "bottleneck": count_parameters(model.dual4),
        "bottleneck_share": count_parameters(model.dual4) / total,
    }


_OPS = {
    "inconv": "Conv 3×3×3",
    "dual": "DualRes: 2×(BN-PReLU-Conv 3×3×3) + x",
    "down": "cat(Conv 3×3×3 @2, MaxPool 2)",
    "up": "ConvTranspose 3×3×3 @2, + skip",
    "mono": "MonoRes: BN-PReLU-Conv 3×3×3 + x",
    "outconv": "Conv 3×3×3 → logits",
}


def layer_table(model: SUNet, in_channels: int | None = None, patch_shape: tuple[int, int, int] = (24, 24, 16)) -> pd.DataFrame:
    """One row per block in execution order (§3.2, Figure 2): name, encoder/decoder part, operation, output
    shape ("X×Y×Z @ C"), channels and parameters.

    Shapes are read with forward hooks from one zero patch of ``patch_shape``, in eval mode without gradients,
    on the model's own device; its training flag is restored afterwards.
    """
    in_channels = in_channels or model.in_channels
    shapes: dict[str, tuple[int, ...]] = {}
    names = ENCODER + DECODER
    hooks = [
        getattr(model, name).register_forward_hook(lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape[1:])))
        for name in names
    ]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            device = next(model.parameters()).device
            model(torch.zeros((1, in_channels, *patch_shape), device=device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    rows = []
    for name in names:
        kind = name.rstrip("0123456789")
        rows.append(
            {
                "name": name,
                "part": "encoder" if name in ENCODER else "decoder",
                "op": _OPS[kind],
                "output shape": "×".join(map(str, shapes[name][1:])) + f" @ {shapes[name][0]}",
                "channels": shapes[name][0],
                "params": count_parameters(getattr(model, name)),
            }
        )
    return pd.DataFrame(rows)

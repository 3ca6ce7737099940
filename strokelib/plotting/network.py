"""Figures of notebook 04 (paper §3.2–3.4, §4.1, Figure 2): the SUNet architecture, focal loss against
cross-entropy, the cross-validation folds and training curves."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .base import PALETTE, _finish

_SUNET_LEVEL = {"inconv": 0, "dual1": 0, "down1": 1, "dual2": 1, "down2": 2, "dual3": 2, "down3": 3, "dual4": 3,
                "up4": 2, "mono3": 2, "up3": 1, "mono2": 1, "up2": 0, "mono1": 0, "outconv": 0}
_SUNET_OP = {"inconv": "conv 3³", "dual": "2× BN·PReLU·conv\n+ x", "down": "conv 3³ @2\n‖ maxpool 2",
             "up": "convT 3³ @2\n+ skip", "mono": "BN·PReLU·conv\n+ x", "outconv": "conv 3³\n→ logits"}


def architecture_diagram(table, in_channels: int, patch_shape=(24, 24, 16), output_file=None):
    """Figure 2-like schematic of SUNet from :func:`strokelib.model.sunet.layer_table`: blocks in execution order on a U,
    one row per resolution level, additive long skips as dashed bluish-green arrows; encoder sky blue,
    decoder orange."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    names = list(table["name"])
    rows = table.set_index("name")
    dx, w, h = 1.7, 1.5, 1.2
    fig, ax = plt.subplots(figsize=(1.1 * len(names) + 2, 6.0))
    pos = {name: (i * dx, -1.6 * _SUNET_LEVEL[name]) for i, name in enumerate(names)}
    for name, (x, y) in pos.items():
        row = rows.loc[name]
        colour = PALETTE["sky_blue"] if row["part"] == "encoder" else PALETTE["orange"]
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02", fc=(colour, 0.35),
                                    ec="0.3"))
        ax.text(x, y + 0.42, name, ha="center", va="center", fontsize=8, weight="bold")
        ax.text(x, y + 0.08, _SUNET_OP[name.rstrip("0123456789")], ha="center", va="center", fontsize=6)
        ax.text(x, y - 0.29, row["output shape"], ha="center", va="center", fontsize=6.5)
        ax.text(x, y - 0.46, f"{row['params']:,} params", ha="center", va="center", fontsize=5.5, color="0.35")
    for a, b in zip(names[:-1], names[1:], strict=True):
        (xa, ya), (xb, yb) = pos[a], pos[b]
        ax.add_patch(FancyArrowPatch((xa + w / 2, ya), (xb - w / 2, yb), arrowstyle="-|>", mutation_scale=8, color="0.3"))
    for enc, up in (("dual1", "up2"), ("dual2", "up3"), ("dual3", "up4")):
        (xa, ya), (xb, yb) = pos[enc], pos[up]
        ax.add_patch(FancyArrowPatch((xa, ya + h / 2), (xb, yb + h / 2), connectionstyle="arc3,rad=-0.1",
                                     arrowstyle="-|>", mutation_scale=8, color=PALETTE["bluish_green"], ls="--"))
        ax.text((xa + xb) / 2, ya + h / 2 + 0.05 * (xb - xa) + 0.08, "+  additive long skip", ha="center",
                fontsize=6.5, color=PALETTE["bluish_green"])
    x0, y0 = pos[names[0]]
    ax.annotate(f"input\n{'×'.join(map(str, patch_shape))}\n@ {in_channels}", (x0 - w / 2, y0), (x0 - 1.6, y0),
                fontsize=7, ha="center", va="center", arrowprops={"arrowstyle": "-|>", "color": "0.3"})
    enc = table.loc[table.part == "encoder", "params"].sum()
    total = table["params"].sum()
    ax.set_title(f"SUNet (§3.2, Figure 2): {total:,} parameters, encoder {enc / total:.1%}, decoder {1 - enc / total:.1%}",
                 fontsize=10)
    xs, ys = zip(*pos.values(), strict=True)
    ax.set_xlim(min(xs) - 2.1, max(xs) + w / 2 + 0.1)
    ax.set_ylim(min(ys) - h / 2 - 0.2, max(ys) + h / 2 + 0.05 * (max(xs) - min(xs)) + 0.4)
    ax.set_aspect("equal")
    ax.axis("off")
    return _finish(fig, output_file, data=False)


def gamma_colours(gammas) -> dict[float, str]:
    """One palette colour per γ, the same in every panel (cross-entropy, γ = 0, black; γ = 2 vermillion)."""
    fixed = {0.0: PALETTE["black"], 2.0: PALETTE["vermillion"]}
    others = [PALETTE[k] for k in ("blue", "bluish_green", "reddish_purple", "orange", "sky_blue", "yellow")]
    free = iter(others)
    return {float(g): fixed.get(float(g)) or next(free, PALETTE["black"]) for g in gammas}


def focal_vs_cross_entropy(gammas=(0.0, 0.5, 1.0, 2.0, 5.0), alpha=(0.25, 0.75), output_file=None):
    """Eq. 1 as a function of the true-class probability p_t: the loss (left) and its weight relative to
    cross-entropy, (1 − p_t)^γ (right), which is what lets the many easy healthy voxels fade out (§3.3).
    Each γ has one colour in both panels (:func:`gamma_colours`); the paper's γ = 2 is drawn thicker."""
    p = np.linspace(0.001, 0.999, 400)
    colours = gamma_colours((*gammas, 2.0))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for gamma in gammas:
        label = "cross-entropy (γ = 0)" if gamma == 0 else f"focal γ = {gamma:g}"
        style = {"label": label, "color": colours[float(gamma)], "lw": 2.2 if gamma in (0, 2) else 1.2}
        axes[0].plot(p, -((1 - p) ** gamma) * np.log(p), **style)
        if gamma:
            axes[1].semilogy(p, (1 - p) ** gamma, **style)
    for t, (name, ls) in enumerate((("healthy", ":"), ("lesion", "-."))):
        axes[0].plot(p, -alpha[t] * (1 - p) ** 2 * np.log(p), ls=ls, color=colours[2.0], lw=1.2,
                     label=f"γ = 2, α{t} = {alpha[t]} ({name})")
    axes[0].set(xlabel="probability of the true class p_t", ylabel="loss per voxel", ylim=(0, 3),
                title="FL(p_t) = −α_t (1 − p_t)^γ log p_t   (Eq. 1)")
    axes[1].set(xlabel="probability of the true class p_t", ylabel="focal / cross-entropy = (1 − p_t)^γ",
                title="weight of a voxel relative to cross-entropy")
    axes[1].axvline(0.9, color="0.7", lw=0.8)
    axes[1].set_ylim(1e-4, 2)
    axes[1].plot([0.9], [0.1 ** 2], "o", color=colours[2.0], ms=5)
    axes[1].annotate("p_t = 0.9: γ = 2 weighs it\n(1 − 0.9)² = 0.01, 100× less", (0.9, 0.01), (0.42, 1.5e-3),
                     fontsize=7, color=colours[2.0], ha="center",
                     arrowprops={"arrowstyle": "-|>", "color": colours[2.0], "lw": 0.8})
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _finish(fig, output_file, data=False)


def training_curves(history, output_file=None, title: str | None = None, loss_name: str = "loss"):
    """Per-fold training and validation loss, and the early-stopping metric (validation L1 + error rate, §3.4)
    with each fold's best epoch starred. ``history`` is what :func:`strokelib.training.cross_validation.cross_validate` returns;
    its ``epoch`` and ``best_epoch`` are 1-based and plotted as they are. ``loss_name`` names the loss on the
    y axis (cross-entropy and focal loss have different scales: never compare them across figures)."""
    from matplotlib.ticker import MaxNLocator

    folds = sorted(history["fold"].unique()) if "fold" in history else [0]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, fold in enumerate(folds):
        h = history[history["fold"] == fold] if "fold" in history else history
        c = colours[i % len(colours)]
        epochs = h["epoch"].to_numpy()
        axes[0].plot(epochs, h["train_loss"], "-o", ms=3, color=c, label=f"fold {fold} train")
        axes[0].plot(epochs, h["val_loss"], "--s", ms=3, color=c, label=f"fold {fold} validation")
        axes[1].plot(epochs, h["val_l1_er"], "-o", ms=3, color=c, label=f"fold {fold}")
        best = int(h["best_epoch"].iloc[-1])
        at_best = h.loc[h["epoch"] == best, "val_l1_er"].to_numpy()
        if at_best.size:
            axes[1].plot([best], at_best[:1], "*", ms=13, color=c, markeredgecolor=PALETTE["black"], mew=0.6)
    axes[0].set(xlabel="epoch", ylabel=loss_name, title=f"training (solid) and validation (dashed) {loss_name}")
    axes[1].set(xlabel="epoch", ylabel="L1 + error rate", title="early-stopping metric (★ best epoch)")
    for ax in axes:
        ax.legend(fontsize=7, ncol=2)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title or "training curves", fontsize=11)
    fig.tight_layout()
    return _finish(fig, output_file)


FOLD_ROLES = {"held out (scored)": PALETTE["orange"], "fit (training)": PALETTE["sky_blue"],
              "validation (early stopping)": PALETTE["bluish_green"]}
"""The roles a case plays in a fold (:func:`fold_split_diagram`), with their colours."""
_ROLE_CODE = {"held out": 0, "fit": 1, "validation": 2, "held out + validation": 3}


def fold_split_diagram(roles, output_file=None):
    """Cross-validation as a grid (§4.1): folds (rows) × cases (columns), each cell the case's role in that fold —
    held out and scored, fitted on, or watched by early stopping (§3.4). ``roles`` is
    :func:`strokelib.training.cross_validation.fold_roles` (the split :func:`strokelib.training.cross_validation.cross_validate` uses); with the
    released protocol the held-out cases are also the validation cases, drawn hatched."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    ids = [str(c) for c in roles.columns]
    codes = roles.map(_ROLE_CODE.__getitem__).to_numpy(dtype=int)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.32 * len(ids) + 2.2), 0.55 * len(roles) + 2.0))
    cmap = ListedColormap([*FOLD_ROLES.values(), PALETTE["orange"]])
    ax.imshow(codes, cmap=cmap, vmin=-0.5, vmax=3.5, aspect="auto")
    for k, j in np.argwhere(codes == 3):
        ax.add_patch(plt.Rectangle((j - 0.5, k - 0.5), 1, 1, fill=False, hatch="///", edgecolor=PALETTE["bluish_green"]))
    ax.set_xticks(np.arange(len(ids)), ids, rotation=90 if len(ids) > 12 else 0, fontsize=7)
    counts = [[int(np.isin(row, c).sum()) for c in ((0, 3), (1,), (2, 3))] for row in codes]
    ax.set_yticks(np.arange(len(roles)), [f"fold {k}: {h} / {t} / {v}" for k, (h, t, v) in enumerate(counts)],
                  fontsize=8)
    ax.set_xticks(np.arange(len(ids) + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(len(roles) + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", lw=1.5)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel("case")
    ax.set_ylabel("fold: held out / fit / validation")
    ax.legend(handles=[Patch(color=c, label=n) for n, c in FOLD_ROLES.items()], loc="upper center",
              bbox_to_anchor=(0.5, -0.25 if len(ids) > 12 else -0.18), ncol=3, frameon=False, fontsize=8)
    watched = "the held-out fold itself (released protocol)" if (codes == 3).any() else "an inner split of the training cases"
    ax.set_title(f"{len(roles)}-fold cross-validation (§4.1): every case is held out and scored once;\n"
                 f"early stopping (§3.4) watches {watched}", fontsize=10)
    fig.tight_layout()
    return _finish(fig, output_file, data=False)

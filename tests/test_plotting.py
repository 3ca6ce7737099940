"""The ``output_file=`` contract of :mod:`strokelib.plotting`: without it a function returns the figure; with it the
figure is saved, closed and None is returned, and inside a notebook (inline backend) it is displayed first. Then what
makes the figures readable: one colour-blind-safe palette, the same γ in the same colour, shared colour limits, the
data-source label, 1-based epochs, L/R markers, look-alike outlines and the new diagrams."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from strokelib import plotting
from strokelib.training import cross_validation as training


def _history():
    return pd.DataFrame({"fold": [0, 0], "epoch": [1, 2], "train_loss": [1.0, 0.5], "val_loss": [1.2, 0.7],
                         "val_l1_er": [0.5, 0.4], "best_epoch": [2, 2]})


def test_without_output_file_the_figure_is_returned_open():
    fig = plotting.training_curves(_history())
    assert isinstance(fig, plt.Figure)
    assert plt.fignum_exists(fig.number)


def test_with_output_file_the_figure_is_saved_closed_and_none_returned(tmp_path):
    before = set(plt.get_fignums())
    out = tmp_path / "sub" / "curves.png"
    assert plotting.training_curves(_history(), output_file=out) is None
    assert out.stat().st_size > 1000
    assert set(plt.get_fignums()) == before  # nothing left open
    assert plotting.focal_vs_cross_entropy(gammas=(0.0, 2.0), output_file=tmp_path / "focal.pdf") is None
    assert (tmp_path / "focal.pdf").read_bytes()[:4] == b"%PDF"


def test_inline_backend_displays_the_saved_figure_before_closing(tmp_path, monkeypatch):
    shown = []

    def fake_display(obj):
        assert plt.fignum_exists(obj.number), "displayed after it was closed"
        shown.append(obj)

    import IPython.display

    monkeypatch.setattr(plotting.base, "_inline_backend", lambda: True)
    monkeypatch.setattr(IPython.display, "display", fake_display)
    assert plotting.training_curves(_history(), output_file=tmp_path / "c.png") is None
    assert len(shown) == 1 and isinstance(shown[0], plt.Figure)
    assert not plt.fignum_exists(shown[0].number)
    assert (tmp_path / "c.png").is_file()


def test_no_display_outside_a_notebook(tmp_path, monkeypatch):
    import IPython.display

    monkeypatch.setattr(IPython.display, "display", lambda obj: (_ for _ in ()).throw(AssertionError("displayed")))
    assert not plotting.base._inline_backend()  # tests run on Agg (conftest)
    assert plotting.training_curves(_history(), output_file=tmp_path / "c.png") is None


def test_inference_modes_figure_shows_the_agreement(tmp_path):
    from types import SimpleNamespace

    from strokelib import plotting

    images = np.random.default_rng(0).random((1, 12, 10, 6)).astype(np.float32)
    case = SimpleNamespace(case_id="7", modalities=("DWI",), channel=lambda m: images[0])
    patch_map = np.zeros((12, 10, 6), np.float32)
    patch_map[3:7, 3:7, 2:4] = 0.9
    fast_map = patch_map.copy()
    fast_map[7, 3:7, 2:4] = 0.9  # one extra row: DSC 64 / (32 + 40)
    fig = plotting.inference_modes(case, patch_map, fast_map, 0.5)
    assert "DSC 0.889" in fig._suptitle.get_text() and len(fig.axes) == 6  # 4 panels, 2 colour bars
    assert plotting.inference_modes(case, patch_map, fast_map, 0.5, output_file=tmp_path / "m.png") is None
    assert (tmp_path / "m.png").stat().st_size > 0


# --- readable figures ------------------------------------------------------------------------------------

import ast  # noqa: E402
import inspect  # noqa: E402
from pathlib import Path  # noqa: E402

import matplotlib  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402

from strokelib.data.cases import Case  # noqa: E402
from strokelib.sampling import patches as sampling  # noqa: E402

OKABE_ITO = {"black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "bluish_green": "#009E73",
             "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish_purple": "#CC79A7"}


@pytest.fixture
def no_data_source():
    plotting.set_data_source(None)
    yield
    plotting.set_data_source(None)


def _case(shape=(24, 20, 12), lesion_z=(3, 5), modalities=("DWI", "FLAIR"), scale=1.0, seed=0):
    """A small RAS+ case: a bright lesion block on a noisy brain ellipse."""
    rng = np.random.default_rng(seed)
    x, y, z = np.indices(shape)
    brain = ((x - shape[0] / 2) / (shape[0] / 2.4)) ** 2 + ((y - shape[1] / 2) / (shape[1] / 2.4)) ** 2 < 1
    label = np.zeros(shape, np.uint8)
    label[5:9, 6:10, lesion_z[0]:lesion_z[1]] = 1
    images = np.stack([(100 + 10 * rng.standard_normal(shape) + 60 * label) * brain for _ in modalities])
    return Case("7", (scale * images).astype(np.float32), tuple(modalities), label, np.eye(4), (1.0, 1.0, 1.0), brain)


def _with_mirror(case):
    """The case with sym_* channels: the array flipped left-right (a naive mirror)."""
    import dataclasses

    mirror = case.images[:, ::-1]
    return dataclasses.replace(case, images=np.concatenate([case.images, mirror]),
                               modalities=(*case.modalities, *(f"sym_{m}" for m in case.modalities)))


def _line_colours(ax) -> dict[str, str]:
    return {line.get_label(): to_hex(line.get_color()) for line in ax.get_lines() if not line.get_label().startswith("_")}


def test_the_okabe_ito_palette_is_the_colour_cycle():
    assert plotting.PALETTE == OKABE_ITO
    cycle = [to_hex(c).upper() for c in matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]]
    assert sorted(cycle) == sorted(OKABE_ITO.values())  # every palette colour, nothing else
    matplotlib.rcParams["axes.prop_cycle"] = matplotlib.cycler(color=["red"])
    plotting.base.use_palette()  # what importing strokelib.plotting does
    assert to_hex(matplotlib.rcParams["axes.prop_cycle"].by_key()["color"][0]).upper() in OKABE_ITO.values()


def test_the_overlay_colours_are_the_papers_mapping_in_the_palette():
    assert {k: to_hex(v).upper() for k, v in plotting.OVERLAY_COLOURS.items()} == {
        "true positive": OKABE_ITO["bluish_green"], "false positive": OKABE_ITO["vermillion"],
        "false negative": OKABE_ITO["blue"]}


_COLOUR_KEYWORDS = {"color", "colors", "c", "ec", "fc", "edgecolor", "facecolor", "foreground", "mec",
                    "markeredgecolor", "markerfacecolor"}


def test_no_named_colour_is_hard_coded_in_the_plotting_modules():
    """Colours come from the palette; a string literal given as a colour may only be a grey level or white."""
    folder = Path(plotting.__file__).parent
    bad = []
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg in _COLOUR_KEYWORDS:
                values = node.value.elts if isinstance(node.value, (ast.List, ast.Tuple)) else [node.value]
                for v in values:
                    if isinstance(v, ast.Constant) and isinstance(v.value, str) and v.value != "white":
                        try:
                            float(v.value)
                        except ValueError:
                            bad.append(f"{path.name}:{v.lineno} {node.arg}={v.value!r}")
    assert not bad, bad


def test_the_same_gamma_has_the_same_colour_in_both_panels():
    fig = plotting.focal_vs_cross_entropy(gammas=(0.0, 0.5, 1.0, 2.0, 5.0))
    left, right = (_line_colours(ax) for ax in fig.axes[:2])
    shared = set(left) & set(right)
    assert {"focal γ = 0.5", "focal γ = 1", "focal γ = 2", "focal γ = 5"} <= shared
    assert all(left[k] == right[k] for k in shared)
    assert len({right[k] for k in shared}) == len(shared)  # and different γ differ
    assert all(c == left["focal γ = 2"] for k, c in left.items() if k.startswith("γ = 2, α"))


def test_the_100x_note_points_at_the_gamma_2_curve():
    fig = plotting.focal_vs_cross_entropy()
    right = fig.axes[1]
    (note,) = [t for t in right.texts if "100×" in t.get_text()]
    x, y = note.xy
    assert x == pytest.approx(0.9) and y == pytest.approx((1 - 0.9) ** 2)  # on the γ = 2 curve, not γ = 5
    assert to_hex(note.get_color()) == _line_colours(right)["focal γ = 2"]


def test_the_two_difference_figures_share_fixed_colour_limits_in_z_scores():
    case = _case()
    raw = plotting.symmetry_difference(_with_mirror(_case(scale=40.0)), limit=3.0)  # raw intensities, another scale
    normalised = plotting.symmetry_difference(_with_mirror(case))
    limits = [fig.axes[2].images[0].get_clim() for fig in (raw, normalised)]
    assert limits[0] == limits[1] == (-3.0, 3.0)
    for fig in (raw, normalised):
        assert "z-score" in fig.axes[-1].get_ylabel()  # the colour bar, with its unit
    np.testing.assert_allclose(raw.axes[2].images[0].get_array(), normalised.axes[2].images[0].get_array(), atol=1e-4)
    assert plotting.symmetry_difference(_with_mirror(case), limit=2.0).axes[2].images[0].get_clim() == (-2.0, 2.0)


def test_data_figures_carry_the_data_source_and_diagrams_do_not(no_data_source):
    from strokelib.model import sunet as model

    assert plotting.data_source() is None
    assert "synthetic" not in plotting.training_curves(_history())._suptitle.get_text()
    plotting.set_data_source("synthetic SISS-like data")
    assert plotting.data_source() == "synthetic SISS-like data"
    curves = plotting.training_curves(_history(), title="SISS proposed")
    assert curves._suptitle.get_text() == "SISS proposed — synthetic SISS-like data"
    assert plotting.symmetric_modalities_figure(_with_mirror(_case()))._suptitle.get_text().endswith(
        "— synthetic SISS-like data")
    table = model.layer_table(model.SUNet(2, n_classes=2, base_filters=4), 2)
    diagrams = [plotting.architecture_diagram(table, 2), plotting.focal_vs_cross_entropy(),
                plotting.patch_overlap_diagram(),
                plotting.fold_split_diagram(training.fold_roles(list("abcd"), 2))]
    for fig in diagrams:
        texts = [fig._suptitle.get_text() if fig._suptitle else ""] + [ax.get_title() for ax in fig.axes]
        assert not any("synthetic" in t for t in texts)


def test_training_curves_star_the_1_based_best_epoch():
    history = pd.DataFrame({"fold": [0, 0, 0], "epoch": [1, 2, 3], "train_loss": [1.0, 0.6, 0.5],
                            "val_loss": [1.2, 0.7, 0.9], "val_l1_er": [0.5, 0.3, 0.4], "best_epoch": [2, 2, 2]})
    fig = plotting.training_curves(history, loss_name="focal loss (Eq. 1)")
    loss, metric = fig.axes[:2]
    assert list(loss.get_lines()[0].get_xdata()) == [1, 2, 3]  # plotted as given, no +1
    (star,) = [line for line in metric.get_lines() if line.get_marker() == "*"]
    assert list(star.get_xdata()) == [2] and list(star.get_ydata()) == [0.3]
    assert loss.get_ylabel() == "focal loss (Eq. 1)" and "focal loss" in loss.get_title()
    assert isinstance(metric.xaxis.get_major_locator(), matplotlib.ticker.MaxNLocator)
    assert all(float(t).is_integer() for t in metric.get_xticks())


@pytest.mark.parametrize("step", [(4, 4, 1), (8, 8, 8), (5, 5, 3)])
def test_patch_overlap_diagram_gives_the_patches_per_voxel(step):
    fig = plotting.patch_overlap_diagram((24, 24, 16), step)
    n = sampling.patches_per_voxel((24, 24, 16), step)
    title = fig._suptitle.get_text()
    assert f"{n} patches per interior voxel" in title and ("at least" in title) == (step == (5, 5, 3))
    assert ("no lattice" in fig.axes[1].get_title()) == (step == (4, 4, 1))


def test_the_overlap_offsets_are_those_of_the_inference_grid():
    """The diagram's rule (offsets at which a voxel is seen) matches the patches grid_centres lays out."""
    from strokelib.plotting.patches import _seen_offsets

    patch, step = np.array([24, 24, 16]), np.array([8, 8, 8])
    centres = sampling.grid_centres(np.ones((64, 64, 48), bool), patch, step)
    voxel = np.array([30, 33, 21])
    start = centres - patch // 2
    inside = np.all((voxel >= start) & (voxel < start + patch), axis=1)
    assert inside.sum() == sampling.patches_per_voxel(patch, step) == 18
    for axis in range(3):
        seen = np.unique(voxel[axis] - start[inside, axis])
        np.testing.assert_array_equal(seen, _seen_offsets(int(voxel[axis]), int(patch[axis]), int(step[axis])))


def test_fold_split_diagram_colours_each_role_as_training_draws_it():
    ids = [str(i) for i in range(1, 11)]
    roles = training.fold_roles(ids, 4, seed=3)
    fig = plotting.fold_split_diagram(roles)
    codes = np.asarray(fig.axes[0].images[0].get_array())
    assert codes.shape == (4, 10)
    assert (codes == 0).sum(axis=0).tolist() == [1] * 10  # every case held out exactly once
    for k in range(4):
        assert [ids[j] for j in np.flatnonzero(codes[k] == 2)] == list(roles.columns[roles.loc[k] == "validation"])
    released = plotting.fold_split_diagram(training.fold_roles(ids, 4, early_stopping="held_out"))
    assert "held-out fold itself" in released.axes[0].get_title()
    assert any(p.get_hatch() == "///" for p in released.axes[0].patches)


def _contours(ax) -> list[ContourSet]:
    return [c for c in ax.collections if isinstance(c, ContourSet)]


def test_step_comparison_shows_each_map_on_the_slice_with_most_lesion():
    case = _case(lesion_z=(6, 9))
    case.label[5:9, 6:10, 7] = 0
    case.label[4:10, 5:11, 8] = 1  # slice 8 holds the most lesion
    maps = {"step 8×8×8 (18 patches per voxel)": case.label * 0.9, "step 4×4×1 (576 patches per voxel)": case.label * 0.7}
    fig = plotting.step_comparison(case, maps, threshold=0.5)
    panels = fig.axes[:2]
    assert [ax.get_title().split("\n")[0] for ax in panels] == list(maps)
    assert "slice 8" in fig._suptitle.get_text()
    for ax in panels:
        colours = {to_hex(c.get_edgecolor()[0]).upper() for c in _contours(ax)}
        assert colours == {OKABE_ITO["sky_blue"], OKABE_ITO["orange"]}  # thresholded map and truth


def test_figure_4_draws_a_look_alike_far_from_the_lesion_on_its_own_slice():
    case = _case(lesion_z=(2, 4))
    old = np.zeros(case.shape, bool)
    old[14:17, 10:13, 9] = True  # an old lesion 5 slices away from the lesion
    pred = case.label > 0
    fig = plotting.segmentation_overlays([case], [pred * 0.9], [pred], outlines=[{"old_lesion": old}])
    first = fig.axes[0]
    assert "slice 9" in first.get_title()
    dashed = [c for c in _contours(first) if to_hex(c.get_edgecolor()[0]).upper() == OKABE_ITO["yellow"]]
    assert dashed and dashed[0].get_linewidth()[0] >= 1.5
    legend = " ".join(t.get_text() for t in fig.legends[0].get_texts())
    assert "bluish green" in legend and "vermillion" in legend and "old lesion (yellow, dashed)" in legend


def test_side_letters_follow_the_arrays_orientation():
    ramp = np.indices((6, 5, 4))[0]  # array axis 0: towards the patient's Right in RAS+
    shown = plotting.base._slice(ramp, "axial", 2)
    assert shown[0, -1] > shown[0, 0]  # x grows to the image's right...
    assert plotting.side_letters("axial") == ("L", "R")  # ...so the patient's right is on the right
    assert plotting.side_letters("coronal") == ("L", "R")
    assert plotting.side_letters("sagittal") == ("P", "A")
    assert plotting.side_letters("axial", "LAS") == ("R", "L")


def test_figure_1_and_the_modality_grid_outline_the_lesion_and_mark_the_sides():
    case = _with_mirror(_case())
    mimic = np.zeros(case.shape, bool)
    mimic[15:18, 6:10, 3:5] = True
    fig1 = plotting.symmetric_modalities_figure(case, outlines={"mimic": mimic})
    grid = plotting.modality_grid(_case(), outlines={"old lesion": mimic})
    for fig in (fig1, grid):
        image_axes = [ax for ax in fig.axes if ax.images]
        assert all(_contours(ax) for ax in image_axes)  # the lesion outline on every panel
        axial = image_axes[0]
        assert sorted(t.get_text() for t in axial.texts) == ["L", "R"]
        (left,) = [t for t in axial.texts if t.get_text() == "L"]
        assert left.get_position()[0] < 0.5
    styles = [c.get_linestyle()[0] for c in _contours(fig1.axes[0])]
    assert any(s != "solid" and s[1] for s in styles)  # the mimic, dashed


def test_patch_gallery_shows_a_lesion_patch_on_its_slice_with_most_lesion():
    from strokelib.plotting.patches import _lesion_slice

    y = np.zeros((4, 4, 16), np.uint8)
    assert _lesion_slice(y) == (8, "middle")
    y[:, :2, 3] = 1
    y[:, :, 5] = 1
    assert _lesion_slice(y) == (5, "most lesion")
    case = _case(shape=(32, 32, 30), lesion_z=(10, 12))
    centres = np.array([[7, 8, 15], [20, 20, 15]])  # the patch's middle slice (z 15) misses the lesion
    fig = plotting.patch_gallery(case, centres, [0, 0], [True, False], (8, 8, 16), n_healthy=1)
    row_label = fig.axes[0].get_ylabel()
    assert "z 3 (most lesion)" in row_label  # lesion z 10-11 in a patch starting at z 7
    assert "z = 3" in fig.axes[len(case.modalities)].get_title()
    assert "middle" in fig.axes[len(case.modalities) + 1].get_ylabel()


def test_intensity_histograms_count_voxels_on_a_log_axis_with_look_alikes():
    case = _case()
    old = np.zeros(case.shape, bool)
    old[14:17, 10:13, 5:7] = True
    fig = plotting.intensity_histograms(case, look_alikes={"old lesion": old})
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    healthy = case.brain_mask & ~(case.label > 0) & ~old
    steps = {p.get_label(): p for p in ax.patches if p.get_label() and not p.get_label().startswith("_")}
    assert set(steps) == {f"healthy brain ({healthy.sum():,} voxels)", f"lesion ({int(case.label.sum()):,} voxels)",
                          f"old lesion ({int((old & case.brain_mask).sum()):,} voxels)"}
    lo, hi = np.percentile(case.images[0][case.brain_mask], [0.1, 99.9])
    counts, _ = np.histogram(np.clip(case.images[0][healthy], lo, hi), np.linspace(lo, hi, 61))
    heights = steps[f"healthy brain ({healthy.sum():,} voxels)"].get_xy()[:, 1]
    assert heights.max() == counts.max() and counts.sum() == healthy.sum()  # raw counts, nothing dropped
    assert "percentile" in ax.get_xlabel()


def test_every_plotting_function_is_exported():
    for name in ("patch_overlap_diagram", "fold_split_diagram", "step_comparison", "set_data_source", "data_source"):
        assert callable(getattr(plotting, name)), name
    assert "loss_name" in inspect.signature(plotting.training_curves).parameters

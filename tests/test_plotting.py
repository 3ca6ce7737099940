"""The ``output_file=`` contract of :mod:`strokelib.plotting`: without it a function returns the figure; with it the
figure is saved, closed and None is returned, and inside a notebook (inline backend) it is displayed first."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from strokelib import plotting


def _history():
    return pd.DataFrame({"fold": [0, 0], "epoch": [0, 1], "train_loss": [1.0, 0.5], "val_loss": [1.2, 0.7],
                         "val_l1_er": [0.5, 0.4], "best_epoch": [1, 1]})


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


def test_every_output_file_function_follows_the_contract():
    """Every public plotting function that takes ``output_file`` funnels through the one helper."""
    import inspect

    modules = [m for _, m in inspect.getmembers(plotting, inspect.ismodule) if m.__name__.startswith(plotting.__name__ + ".")]
    source = "".join(inspect.getsource(m) for m in [plotting, *modules])  # the package, one module per notebook
    takers = [name for name, f in inspect.getmembers(plotting, inspect.isfunction)
              if f.__module__.startswith(plotting.__name__) and not name.startswith("_")
              and "output_file" in inspect.signature(f).parameters]
    assert len(takers) >= 15
    for name in takers:
        body = inspect.getsource(getattr(plotting, name))
        assert "return _finish(fig, output_file)" in body, name
    assert source.count("save_figure(") == 1  # only _finish saves


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

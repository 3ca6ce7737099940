"""SUNet: the released architecture's parameter counts, shapes and the 75/25 encoder/decoder split (§3.2)."""

from __future__ import annotations

import pytest
import torch

from strokelib.errors import ConfigError
from strokelib.model.sunet import SUNet, count_parameters, layer_table, parameter_split


@pytest.mark.parametrize(("in_channels", "expected"), [(8, 7_037_122), (14, 7_042_306)])
def test_parameter_counts_match_released_model(in_channels, expected):
    assert count_parameters(SUNet(in_channels)) == expected


def test_block_parameter_counts_follow_closed_forms():
    model = SUNet(8)
    c = 32
    assert count_parameters(model.inconv) == 864 * 8 + 32
    assert count_parameters(model.dual2) == 54 * (2 * c) ** 2 + 8 * 2 * c
    assert count_parameters(model.down3) == 27 * (4 * c) ** 2 + 4 * 4 * c
    assert count_parameters(model.up4) == 54 * (4 * c) ** 2 + 4 * c
    assert count_parameters(model.mono1) == 27 * c**2 + 4 * c
    assert count_parameters(model.outconv) == 1730


def test_encoder_holds_three_quarters():
    split = parameter_split(SUNet(8))
    assert split["encoder"] == 5_292_448
    assert split["decoder"] == 1_744_674
    assert split["encoder"] + split["decoder"] == split["total"] == 7_037_122
    assert split["encoder_share"] == pytest.approx(0.752, abs=1e-3)


def test_forward_shape_logits_and_skips():
    torch.manual_seed(0)
    model = SUNet(3, n_classes=2, base_filters=4).eval()
    x = torch.randn(2, 3, 16, 8, 24)
    with torch.no_grad():
        out = model(x)
    assert out.shape == (2, 2, 16, 8, 24)
    # logits, not probabilities: channels do not sum to one
    assert not torch.allclose(out.sum(dim=1), torch.ones(2, 16, 8, 24))
    # the skips are additive: every up-step outputs the width of the level it joins
    assert model.up4.out_channels == model.dual3.body[2].out_channels == 16


def test_dropout_only_in_deeper_blocks():
    model = SUNet(4, dropout=0.2)
    rates = {name: m.body[3].p for name, m in model.named_children() if name.startswith("dual")}
    assert rates == {"dual1": 0.0, "dual2": 0.2, "dual3": 0.2, "dual4": 0.2}


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ConfigError, match="divisible by 8"):
        SUNet(2, base_filters=2)(torch.zeros(1, 2, 12, 8, 8))
    with pytest.raises(ConfigError, match="in_channels"):
        SUNet(0)


def test_layer_table_shapes_and_totals():
    model = SUNet(14)
    table = layer_table(model, 14, (24, 24, 16))
    assert list(table["name"])[:3] == ["inconv", "dual1", "down1"]
    assert table.set_index("name").loc["dual4", "output shape"] == "3×3×2 @ 256"
    assert table.set_index("name").loc["outconv", "output shape"] == "24×24×16 @ 2"
    assert table["params"].sum() == 7_042_306
    assert table.loc[table.part == "encoder", "params"].sum() == parameter_split(model)["encoder"]
    assert model.training  # the table does not leave the model in eval mode


def test_architecture_diagram_is_saved(tmp_path):
    from strokelib.plotting import architecture_diagram

    table = layer_table(SUNet(8), 8)
    assert architecture_diagram(table, 8, output_file=tmp_path / "fig2.png") is None
    assert (tmp_path / "fig2.png").stat().st_size > 10_000
    fig = architecture_diagram(table, 8)
    assert "75.2%" in fig.axes[0].get_title()

"""The one schema of run settings: profiles and notebook parameters agree with it, and bad values are clear errors."""

from __future__ import annotations

import ast
import inspect

import papermill as pm
import pytest

from strokelib import settings
from strokelib.config import PAPER
from strokelib.errors import ConfigError
from strokelib.notebooks import notebook_paths
from strokelib.settings import PROFILES, SETTINGS, check_value, load_profile, validate
from strokelib.training import cross_validation as training

DECLARED = {p.name: pm.inspect_notebook(str(p)) for p in notebook_paths()}


@pytest.mark.parametrize("name", sorted(DECLARED))
def test_notebook_parameters_are_settings_of_a_compatible_type(name):
    for key, param in DECLARED[name].items():
        assert key in SETTINGS, f"{name} declares {key}, which strokelib/settings.py does not"
        assert check_value(key, ast.literal_eval(param["default"])) is None, f"{name}: {key} = {param['default']}"


def test_every_setting_is_read_by_a_notebook_or_by_strokelib_train():
    declared = {key for params in DECLARED.values() for key in params}
    assert [k for k, s in SETTINGS.items() if k not in declared and not s.train] == []
    assert set(training.PROFILE_KEYS) <= set(settings.TRAIN_SETTINGS)


@pytest.mark.parametrize("profile", PROFILES)
def test_profiles_validate_and_every_key_reaches_a_notebook(profile):
    params = load_profile(profile)
    declared = {key for params in DECLARED.values() for key in params}
    assert set(params) <= declared


def test_schema_choices_are_the_library_s():
    from strokelib.preprocessing import normalisation as preprocessing
    from strokelib.sampling import patches as sampling

    assert set(SETTINGS["train_approaches"].choices) == set(training.APPROACHES)
    assert set(SETTINGS["train_sampler"].choices) == set(sampling.SAMPLERS) == set(SETTINGS["sampling_method"].choices)
    assert (preprocessing.NORMALISATIONS, settings.TRANSFORMS) == (SETTINGS["normalisation"].choices,
                                                                          SETTINGS["sym_transform"].choices)
    assert (settings.PRECISIONS, training.EARLY_STOPPING) == (SETTINGS["train_precision"].choices,
                                                            SETTINGS["train_early_stopping"].choices)


def test_unknown_profile_key_is_an_error_with_a_suggestion(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("task: SPES\ntrain_batch_sise: 8\n")
    with pytest.raises(ConfigError, match=r"mine.yaml: unknown setting train_batch_sise \(did you mean train_batch_size\?\)"):
        load_profile(path)


@pytest.mark.parametrize("key, value, expected", [
    ("inference_step", [8, 8], r"inference_step must be three positive integers \[x, y, z\], got \[8, 8\]"),
    ("inference_step", [8, 0, 4], "three positive integers"),
    ("train_max_epochs", "five", r"train_max_epochs must be an integer ≥ 1, or null, got 'five'"),
    ("train_compile", 1, "train_compile must be true or false"),
    ("task", "spes", "task must be a string, one of 'SISS', 'SPES'"),
    ("train_approaches", ["proposed", "fancy"], "train_approaches must be a list of names"),
    ("train_val_fraction", 1.5, "between 0 and 1"),
    ("seed", None, "seed must not be null"),
])
def test_wrong_values_name_the_key_and_the_expected_form(key, value, expected):
    with pytest.raises(ConfigError, match=expected):
        validate({key: value}, "test")


def test_null_only_where_the_schema_allows_it():
    assert validate({"fold": None, "train_sampler": None, "inference_batch_size": None}) == {
        "fold": None, "train_sampler": None, "inference_batch_size": None}
    with pytest.raises(ConfigError, match="outputs_dir must not be null"):
        validate({"outputs_dir": None})


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as info:
        validate({"n_trian": 4, "n_test": -1, "inference_step": 8}, "profile p.yaml")
    message = str(info.value)
    assert message.startswith("profile p.yaml: ") and "n_trian (did you mean n_train?)" in message
    assert "n_test must be an integer ≥ 0" in message and "inference_step must be three" in message


def test_strokelib_train_refuses_a_wrong_type_before_loading_data():
    with pytest.raises(ConfigError, match="strokelib train -p: train_max_epochs must be an integer"):
        training.train_command("SPES", profile="smoke", train_max_epochs="five")


def test_training_setup_is_the_config_and_cross_validate_arguments(tmp_path):
    params = {**load_profile("smoke"), "train_batch_size": 8, "fold": 1, "sym_cache_dir": "", "device": ""}
    cfg, kwargs = training.training_setup(params, out_dir=tmp_path)
    assert (cfg.batch_size, cfg.max_epochs, cfg.base_filters, cfg.patch_shape) == (8, 1, 8, PAPER.patch_shape)
    assert set(kwargs) <= set(inspect.signature(training.cross_validate).parameters)
    assert kwargs["folds"] == [1] and kwargs["cache_dir"] == tmp_path / "symmetric_cache" and kwargs["device"] is None
    assert (kwargs["early_stopping"], kwargs["num_workers"], kwargs["out_dir"]) == ("inner", 0, tmp_path)


def test_from_namespace_picks_the_settings():
    namespace = {"task": "SISS", "train_max_epochs": 3, "cases": ["not a setting"], "In": []}
    assert settings.from_namespace(namespace) == {"task": "SISS", "train_max_epochs": 3}

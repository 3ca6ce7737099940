"""The one schema of run settings: profiles and notebook parameters agree with it, and bad values are clear errors."""

from __future__ import annotations

import ast

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


def _differing_defaults(parameters: dict) -> dict:
    """{name: (parameters cell default, declared default)} where they differ."""
    cell = {key: ast.literal_eval(param["default"]) for key, param in parameters.items()}
    return {key: (value, SETTINGS[key].default) for key, value in cell.items() if value != SETTINGS[key].default}


@pytest.mark.parametrize("name", sorted(DECLARED))
def test_notebook_parameter_defaults_are_the_declared_defaults(name):
    differ = _differing_defaults(DECLARED[name])
    assert not differ, f"{name}: parameters cell default vs RunSettings default: {differ}"


def test_the_default_check_sees_a_changed_default():
    assert _differing_defaults({"n_train": {"default": "3"}, "task": {"default": "'SPES'"}}) == {
        "n_train": (3, settings.DEFAULTS.n_train)}


def test_run_settings_is_typed_frozen_and_checks_every_field():
    import dataclasses

    run = settings.RunSettings()
    assert run == settings.DEFAULTS and run.as_params() == {k: s.default for k, s in SETTINGS.items()}
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.task = "SISS"
    with pytest.raises(ConfigError) as info:
        settings.RunSettings(task="SIS", n_train=0, inference_step=[4, 4])
    message = str(info.value)
    assert "task must be a string, one of 'SISS', 'SPES'" in message and "n_train must be an integer ≥ 1" in message
    assert "inference_step must be three positive integers" in message
    with pytest.raises(ConfigError, match=r"unknown setting n_trian \(did you mean n_train\?\)"):
        settings.RunSettings.from_params({"n_trian": 3}, "here")
    assert settings.RunSettings.from_params({"task": "SISS"}).task == "SISS"


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


def test_training_setup_is_the_config_and_the_run(tmp_path):
    params = {**load_profile("smoke"), "train_batch_size": 8, "fold": 1, "sym_cache_dir": "", "device": ""}
    cfg, run = training.training_setup(params, out_dir=tmp_path)
    assert (cfg.batch_size, cfg.max_epochs, cfg.base_filters, cfg.patch_shape) == (8, 1, 8, PAPER.patch_shape)
    assert isinstance(run, training.TrainRun)
    assert run.folds == [1] and run.cache_dir == tmp_path / "symmetric_cache" and run.device is None
    assert (run.early_stopping, run.num_workers, run.out_dir) == ("inner", 0, tmp_path)


def test_null_training_sizes_are_the_paper_s():
    cfg, _ = training.training_setup({"train_max_epochs": None, "train_patches_per_case": None})
    assert (cfg.max_epochs, cfg.patches_per_case) == (PAPER.max_epochs, PAPER.patches_per_case)
    cfg, _ = training.training_setup({})
    assert (cfg.max_epochs, cfg.patches_per_case) == (settings.DEFAULTS.train_max_epochs,
                                                      settings.DEFAULTS.train_patches_per_case)


def test_train_run_defaults_are_the_declared_settings():
    run = training.TrainRun()
    d = settings.DEFAULTS
    assert (run.early_stopping, run.val_fraction, run.normalisation, run.transform, run.precision, run.seed) == (
        d.train_early_stopping, d.train_val_fraction, d.normalisation, d.sym_transform, d.train_precision, d.seed)


def test_from_namespace_picks_the_settings():
    namespace = {"task": "SISS", "train_max_epochs": 3, "cases": ["not a setting"], "In": []}
    assert settings.from_namespace(namespace) == {"task": "SISS", "train_max_epochs": 3}

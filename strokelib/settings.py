"""Run settings: one declared schema of every profile key and notebook parameter (the paper's §3–§4 knobs and the
released code's choices), validation, profiles and where the repository and the data folders are. Shared by training (``strokelib train``), the command line and the notebooks.

* :class:`RunSettings` — every setting, declared once: its type, default, allowed values and a one-line help;
  :data:`SETTINGS` is the same declaration by name and :data:`DEFAULTS` its defaults.
* :func:`validate` — unknown keys (with a suggestion) and wrong types are a :class:`ConfigError`.
* :func:`load_profile` — a validated profile; :func:`from_namespace` — a notebook's parameters as settings.
* :func:`project_root`, :func:`synthetic_dir`, :func:`display_path` — where the repository and the embedded data are
  (the data a run reads, real or generated, is :func:`strokelib.synthetic.dataset.resolve_data_root`).
"""

from __future__ import annotations

import copy
import difflib
import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path

import yaml

from .errors import ConfigError

PROFILES = ("smoke", "demo", "paper")

KINDS = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "int3": "three positive integers [x, y, z]",
    "names": "a list of names [a, b, ...]",
    "mapping": "a mapping {name: value, ...}",
}
"""Setting type → the form an error message asks for."""


@dataclass(frozen=True)
class Setting:
    """One run setting: its ``kind`` (a key of :data:`KINDS`), default, allowed values and bounds.

    ``nullable``: null (YAML ``null``, Python ``None``) is allowed and means the help's default behaviour.
    ``train``: :func:`strokelib.training.cross_validation.train_command` reads it (``strokelib train -p NAME VALUE``).
    """

    name: str
    kind: str
    default: object
    help: str
    choices: tuple = ()
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None
    train: bool = False


TASKS = ("SISS", "SPES")
APPROACH_NAMES = ("baseline", "balanced", "proposed")
SAMPLER_NAMES = ("balanced", "baseline", "reference")
NORMALISATIONS = ("brain", "whole_volume")
TRANSFORMS = ("rigid", "affine", "none")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
EARLY_STOPPING = ("inner", "held_out")


def _setting(kind: str, default, help: str, *, choices: tuple = (), nullable: bool = False,
             minimum: float | None = None, maximum: float | None = None, train: bool = False):
    """One field of :class:`RunSettings`: its default and, as metadata, what :class:`Setting` declares."""
    meta = {"kind": kind, "help": help, "choices": tuple(choices), "nullable": nullable, "minimum": minimum,
            "maximum": maximum, "train": train}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class RunSettings:
    """Every run setting, declared once with its type, default, allowed values and help: the profiles, ``-p``, the
    notebooks' ``parameters`` cells (their defaults are these, a test checks it), ``strokelib train`` and the command
    line's choices read it. Building one checks every field and reports every problem at once (:class:`ConfigError`);
    :meth:`from_params` also refuses unknown keys, with a suggestion."""

    # every notebook
    profile: str = _setting("str", "interactive", "name of the profile the run uses (informational)")
    data_root: str | None = _setting("str", "",
        "unpacked ISLES 2015 folder; empty or null: the embedded synthetic dataset", nullable=True,
        train=True)
    task: str = _setting("str", "SPES", "ISLES 2015 sub-task", choices=TASKS)
    synthetic_geometry: str = _setting("str", "paper",
        "synthetic grid: 'paper' (ISLES 2015) or 'small' (quick runs)", choices=("paper", "small"),
        train=True)
    synthetic_phenomena: dict = _setting("mapping", {},
        "overrides of the synthetic data's phenomena (synthetic.lesions.Phenomena), e.g. {mimic_p: 0}; empty: the "
        "task's defaults", train=True)
    n_train: int = _setting("int", 4, "synthetic training cases (ISLES 2015: 28 SISS, 30 SPES)", minimum=1, train=True)
    n_test: int = _setting("int", 0, "synthetic testing cases", minimum=0, train=True)
    seed: int = _setting("int", 0, "seed of the synthetic data, the folds and the training", minimum=0,
        train=True)
    interactive: bool = _setting("bool", False, "ipywidgets slice viewer (never under papermill)")
    case_index: int = _setting("int", 0, "the case the single-case figures show (0-based)", minimum=0)
    penumbra_label: int | None = _setting("int", None,
        "SPES ground truth with two labels: the value that is the penumbra", nullable=True, train=True)
    figures_dir: str = _setting("str", "figures", "figures folder, relative to the repository root")
    outputs_dir: str = _setting("str", "outputs/interactive",
        "outputs folder (caches, models, tables), relative to the repository root", train=True)
    # 02 symmetric augmentation (§3.1)
    sym_reference: str | None = _setting("str", "",
        "modality flipped and registered; empty or null: FLAIR (SISS), T1c (SPES)", nullable=True, train=True)
    sym_transform: str = _setting("str", "rigid",
        "registration of the flipped image ('none': the naive flip)", choices=TRANSFORMS, train=True)
    normalisation: str = _setting("str", "brain",
        "z-score over the brain mask or the whole volume (released code)", choices=NORMALISATIONS, train=True)
    sym_cases: int = _setting("int", 2, "cases notebook 02 measures (NCC, time); 0: all", minimum=0)
    sym_cache_dir: str | None = _setting("str", "",
        "symmetric-modality cache; empty or null: <outputs_dir>/symmetric_cache", nullable=True, train=True)
    # 03 patch sampling (§3.3)
    sampling_method: str = _setting("str", "balanced", "sampler notebook 03 shows", choices=SAMPLER_NAMES)
    sampling_patches_per_case: int = _setting("int", 2000,
        "patches per case in notebook 03 (the paper: 10 000)", minimum=1)
    sampling_lesion_fraction: float = _setting("float", 0.5, "share of lesion-centred patches (§3.3: 0.5)",
        minimum=0, maximum=1)
    sampling_dataset_cases: int = _setting("int", 2, "cases in notebook 03's PatchDataset example", minimum=1)
    # 04 network and training (§3.2-3.4, §4.1)
    train_approaches: list[str] = _setting("names", ["proposed"], "Table 1 approaches to train and evaluate",
        choices=APPROACH_NAMES)
    fold: int | None = _setting("int", None, "train only this fold (0-based); null: every fold",
        nullable=True, minimum=0)
    train_n_folds: int = _setting("int", 4, "cross-validation folds (§4.1: 4)", minimum=2, train=True)
    train_fold_shuffle: bool = _setting("bool", False, "shuffle the cases before splitting into folds",
        train=True)
    train_early_stopping: str = _setting("str", "inner",
        "early stopping on an inner validation split or the scored fold", choices=EARLY_STOPPING, train=True)
    train_val_fraction: float = _setting("float", 0.25,
        "share of a fold's training cases held out for early stopping", minimum=0, maximum=1, train=True)
    train_patches_per_case: int | None = _setting("int", 200,
        "training patches per case (the paper: 10 000); null: the paper's", nullable=True, minimum=1, train=True)
    train_val_patches_per_case: int | None = _setting("int", 100,
        "validation patches per case; null: as many as for training", nullable=True, minimum=1, train=True)
    train_max_epochs: int | None = _setting("int", 3, "at most this many epochs (the paper: 200); null: the paper's",
        nullable=True, minimum=1, train=True)
    train_patience: int | None = _setting("int", 8, "early-stopping patience (§3.4: 8); null: the paper's",
        nullable=True, minimum=1, train=True)
    train_base_filters: int | None = _setting("int", 32,
        "SUNet filters of the first level (§3.2: 32); null: the paper's", nullable=True, minimum=1, train=True)
    train_batch_size: int | None = _setting("int", 16, "patches per training batch (§3.4: 16); null: the paper's",
        nullable=True, minimum=1, train=True)
    train_sampler: str | None = _setting("str", None,
        "replaces the balanced sampler; null: the approach's own", choices=SAMPLER_NAMES, nullable=True,
        train=True)
    device: str | None = _setting("str", None, "cuda, mps or cpu; empty or null: cuda, then mps, then cpu",
        nullable=True, train=True)
    train_precision: str = _setting("str", "auto", "'auto': bf16 on CUDA; on a CPU bf16 only where it is native "
        "and a short calibration (cached per machine and width) measured it ≥10 % faster; fp32 elsewhere",
        choices=PRECISIONS, train=True)
    train_num_workers: int = _setting("int", 0, "DataLoader worker processes", minimum=0, train=True)
    train_compile: bool = _setting("bool", False, "torch.compile: CUDA graphs on a GPU; fused C++ kernels on a CPU "
        "(needs a C++ compiler; 1.5× the demo's training patches/s on a 2-core AVX2 CPU)", train=True)
    # 05 inference and metrics (§3.5, §4)
    inference_step: list[int] = _setting("int3", [4, 4, 1],
        "patch grid step of whole-volume inference (§3.5: [4, 4, 1])")
    inference_batch_size: int | None = _setting("int", None,
        "patches per forward pass; null: 64 on a CPU, 2048 on CUDA", nullable=True, minimum=1)
    smir_name: str = _setting("str", "strokelib", "submission files SMIR.<smir_name>.<id>.nii")
    # 06 ISLES 2022 (beyond the paper: the method on today's open data)
    isles22_data_root: str | None = _setting("str", "",
        "ISLES 2022 root (Zenodo release or the challenge's sample layout) notebook 06 cross-validates on; empty or "
        "null: the embedded ISLES 2022-like synthetic set", nullable=True, train=True)
    isles22_n_train: int = _setting("int", 8, "synthetic ISLES 2022-like cases notebook 06 generates", minimum=2,
        train=True)
    isles22_geometry: str = _setting("str", "paper",
        "synthetic ISLES 2022 grid: 'paper' (DWI 112×112×73 at 2 mm, as released) or 'small' (4 mm, quick runs)",
        choices=("paper", "small"), train=True)
    isles22_modalities: list[str] = _setting("names", ["DWI", "ADC"],
        "images notebook 06's and strokelib train --task ISLES22's models read: DWI and ADC, optionally FLAIR "
        "(registered onto DWI)", choices=("DWI", "ADC", "FLAIR"), train=True)
    isles22_sample: str | None = _setting("str", "",
        "a real ISLES 2022 case (root or sub-* folder) notebook 06 segments; empty or null: the sample case "
        "sub-strokecase0009 that ships with strokelib", nullable=True)
    # 04 and 05: reused results (strokelib.provenance)
    fresh: bool = _setting("bool", False,
        "recompute the checkpoints and maps whose record differs from this run's (other data, settings or code) "
        "instead of stopping with what differs; results whose record matches are kept", train=True)

    def __post_init__(self):
        problems = [p for f in fields(self) if (p := check_value(f.name, getattr(self, f.name)))]
        if problems:
            raise ConfigError("settings: " + "; ".join(problems))

    @classmethod
    def from_params(cls, params: Mapping, source: str = "settings") -> RunSettings:
        """The settings of ``params`` (a profile, ``-p`` values, a notebook's parameters), the others at their
        declared defaults; unknown keys and wrong values are one :class:`ConfigError` naming ``source``."""
        return cls(**validate(params, source))

    def as_params(self) -> dict:
        """{setting: value}, as a profile would list them."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


SETTINGS: dict[str, Setting] = {
    f.name: Setting(f.name, f.metadata["kind"], f.default if f.default_factory is MISSING else f.default_factory(),
                    f.metadata["help"], f.metadata["choices"], f.metadata["nullable"], f.metadata["minimum"],
                    f.metadata["maximum"], f.metadata["train"])
    for f in fields(RunSettings)
}
"""Every run setting, by name (read from :class:`RunSettings`): what validation and error messages use."""


TRAIN_SETTINGS = tuple(name for name, s in SETTINGS.items() if s.train)
"""The settings :func:`strokelib.training.cross_validation.train_command` reads."""


def expected_form(setting: Setting) -> str:
    """What a value of ``setting`` must look like, for error messages (e.g. ``three positive integers [x, y, z]``)."""
    form = KINDS[setting.kind]
    if setting.choices:
        form += f", one of {', '.join(map(repr, setting.choices))}" if setting.kind != "names" else \
            f" from {', '.join(map(repr, setting.choices))}"
    if setting.minimum is not None and setting.maximum is not None:
        form += f" between {setting.minimum:g} and {setting.maximum:g}"
    elif setting.minimum is not None:
        form += f" ≥ {setting.minimum:g}"
    return form + (", or null" if setting.nullable else "")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _type_ok(setting: Setting, value) -> bool:
    kind = setting.kind
    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return _is_int(value)
    if kind == "float":
        return _is_int(value) or isinstance(value, float)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int3":
        return isinstance(value, (list, tuple)) and len(value) == 3 and all(_is_int(v) and v > 0 for v in value)
    if kind == "mapping":
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)  # names


def check_value(name: str, value) -> str | None:
    """``None`` when ``value`` is valid for setting ``name``, else what is wrong (one line)."""
    setting = SETTINGS[name]
    if value is None:
        return None if setting.nullable else f"{name} must not be null; give {expected_form(setting)}"
    problem = f"{name} must be {expected_form(setting)}, got {value!r}"
    if not _type_ok(setting, value):
        return problem
    values = value if setting.kind == "names" else [value]
    if setting.choices and any(v not in setting.choices for v in values):
        return problem
    if setting.minimum is not None and value < setting.minimum or setting.maximum is not None and value > setting.maximum:
        return problem
    return None


def unknown_hint(names, known=SETTINGS) -> str:
    """``names`` with a "did you mean" suggestion for each close match in ``known``."""
    return ", ".join(f"{k} (did you mean {close[0]}?)" if (close := difflib.get_close_matches(k, list(known), 1)) else k
                     for k in names)


def validate(params: Mapping, source: str = "settings", allowed=None) -> dict:
    """``params`` as a dict after checking every key is a setting (of ``allowed``, default all) and every value has
    the declared type; otherwise one :class:`ConfigError` naming ``source`` and listing every problem with its fix."""
    allowed = SETTINGS if allowed is None else allowed
    unknown = [k for k in params if k not in allowed]
    problems = [f"unknown setting {unknown_hint(unknown, allowed)}; check the spelling (the settings and their "
                "forms are declared in strokelib/settings.py)"] if unknown else []
    problems += [p for k, v in params.items() if k in SETTINGS and (p := check_value(k, v))]
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))
    return dict(params)


def from_namespace(namespace: Mapping) -> dict:
    """The settings among ``namespace``'s names (a notebook's ``globals()`` after its parameters cell), validated."""
    return validate({k: namespace[k] for k in SETTINGS if k in namespace}, "notebook parameters")


DEFAULTS = RunSettings()
"""The declared defaults; function defaults across strokelib read them (e.g. ``DEFAULTS.normalisation``)."""


def parse_value(text: str):
    """Parse a ``-p NAME VALUE`` value with YAML rules (numbers, booleans, lists); fall back to the string."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def project_root(start: str | Path | None = None) -> Path:
    """The working folder a run writes under: in a checkout the repository root, the first folder upwards from
    ``start`` (default: cwd) holding ``pyproject.toml`` and ``notebooks/``; installed, the folder
    :func:`strokelib.workspace.working_folder` names (``$STROKELIB_WORKDIR``, a folder ``strokelib notebooks``
    filled, else ``start``). Notebooks use it so they work from JupyterLab (cwd = notebooks/) and papermill alike."""
    from .workspace import working_folder

    return working_folder(start)


def load_profile(profile: str | Path, root: str | Path | None = None) -> dict:
    """The validated settings of a profile: a name in ``notebooks/profiles/`` (the checkout's, or those strokelib
    carries: :func:`strokelib.workspace.profile_file`) or a path to a YAML file. A key the profile leaves out takes
    its declared default (:class:`RunSettings`: the small interactive sizes), not the paper's value: list every
    training size, or give it as null for the paper's."""
    from .workspace import profile_file

    path = profile_file(profile, root)
    if not path.is_file():
        raise ConfigError(f"profile {profile!r} not found ({path}); choose one of {', '.join(PROFILES)} or give a YAML file")
    try:
        params = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"profile {path} is not valid YAML: {exc}") from exc
    if not isinstance(params, dict):
        raise ConfigError(f"profile {path} must be a mapping of parameter: value")
    return validate(params, f"profile {path.name}")


SYNTHETIC_DIR_ENV = "STROKELIB_SYNTHETIC_DIR"


def synthetic_dir(root: str | Path | None = None) -> Path:
    """Where the embedded synthetic datasets live: ``$STROKELIB_SYNTHETIC_DIR`` when set, else ``data/synthetic/``
    under the working folder (:func:`project_root`)."""
    chosen = os.environ.get(SYNTHETIC_DIR_ENV, "").strip()
    return Path(chosen).expanduser() if chosen else project_root(root) / "data" / "synthetic"


def display_path(path: str | Path, root: str | Path | None = None) -> str:
    """``path`` relative to the working folder (:func:`project_root`) when it lies inside it (short and
    machine-independent), else as is."""
    path = Path(path)
    try:
        return path.resolve().relative_to(project_root(root)).as_posix()
    except ValueError:
        return str(path)

"""Post-processing (paper §3.5): threshold the lesion probability, then drop connected components that are too small.

The threshold ``Th`` compensates an over- or under-confident network; the minimum lesion size ``S_min`` (in voxels)
removes small false positives. Both are chosen by grid search over the training folds (§4.1,
:func:`strokelib.evaluation.metrics.grid_search`). As in the released code (``docs/released-code.md#post-processing-and-metrics``) the threshold is strict
(``probability > Th``), components are 6-connected (face neighbours, ``scipy.ndimage.label``'s default) and a
component survives when it has at least ``S_min`` voxels, so ``S_min = 1`` keeps everything.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from ..errors import EvaluationError
from ..files import smir_id

CONNECTIVITIES = (6, 26)


def structure(connectivity: int = 6) -> np.ndarray:
    """The 3×3×3 neighbourhood of a 3D connectivity: 6 (face neighbours, the released code) or 26 (the full cube)."""
    if connectivity not in CONNECTIVITIES:
        raise EvaluationError(f"connectivity must be 6 (face neighbours) or 26 (full 3×3×3 cube), not {connectivity!r}")
    return ndimage.generate_binary_structure(3, 1 if connectivity == 6 else 3)


def _check_volume(array: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 3:
        raise EvaluationError(f"{what} must be a 3D (X, Y, Z) volume, got shape {array.shape}; pass one case at a time")
    return array


def label_components(mask: np.ndarray, connectivity: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Label the connected components of a 3D mask.

    Returns ``labels`` (int32, 0 = background) and ``sizes`` where ``sizes[k]`` is the voxel count of component
    ``k`` (``sizes[0]`` counts the background).
    """
    mask = _check_volume(mask, "mask").astype(bool, copy=False)
    labels, n = ndimage.label(mask, structure=structure(connectivity))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    return labels, sizes


def keep_components(sizes: np.ndarray, min_size: int) -> np.ndarray:
    """Boolean look-up table over component labels: True for components of at least ``min_size`` voxels (§3.5)."""
    keep = np.asarray(sizes) >= min_size
    keep[0] = False
    return keep


def _check_params(threshold: float, min_size: int) -> None:
    if not 0.0 <= threshold <= 1.0:  # also rejects NaN; 50 (a percentage) would silently give an empty mask
        raise EvaluationError(f"threshold Th is a probability between 0 and 1 (the paper searches 0.1…0.9), not {threshold!r}")
    if isinstance(min_size, bool) or int(min_size) != min_size or min_size < 0:
        raise EvaluationError(f"min_size is a voxel count and must be a whole number ≥ 0, not {min_size!r}")


def binarize(probability: np.ndarray, threshold: float = 0.5, min_size: int = 1, connectivity: int = 6) -> np.ndarray:
    """Lesion mask of §3.5: ``probability > threshold``, components under ``min_size`` voxels removed.

    Parameters
    ----------
    probability : (X, Y, Z) lesion-class probability map.
    threshold : Th; the comparison is strict as in the released code.
    min_size : S_min in voxels; components with fewer voxels are removed (1 or 0 keeps all).
    connectivity : 6 (face neighbours, the released code) or 26.

    Returns
    -------
    bool array of the probability's shape.
    """
    probability = _check_volume(probability, "probability")
    _check_params(threshold, min_size)
    structure(connectivity)  # validate even when no labelling is needed
    mask = probability > threshold
    if min_size <= 1 or not mask.any():
        return mask
    labels, sizes = label_components(mask, connectivity)
    return keep_components(sizes, min_size)[labels]


def prediction_candidates(pred_dir: str | Path, case) -> list[Path]:
    """Where a prediction of ``case`` may be in ``pred_dir``: ``<case>.nii[.gz]`` (probability maps of notebook 05),
    ``<case>/mask.nii.gz`` (``strokelib segment``) or ``SMIR.<name>.<id>.nii`` (a challenge submission)."""
    pred_dir = Path(pred_dir)
    names = [pred_dir / f"{case.case_id}.nii.gz", pred_dir / f"{case.case_id}.nii", pred_dir / str(case.case_id) / "mask.nii.gz"]
    return [p for p in names if p.is_file()] + sorted(pred_dir.glob(f"SMIR.*.{smir_id(case)}.nii"))


def read_prediction(pred_dir: str | Path, case, threshold: float | None = None, min_size: int = 1) -> np.ndarray:
    """The binary prediction of ``case`` found in ``pred_dir`` (see :func:`prediction_candidates`).

    A binary file is used as is (components under ``min_size`` removed); a probability map needs ``threshold``.
    """
    import nibabel as nib

    found = prediction_candidates(pred_dir, case)
    if not found:
        raise EvaluationError(
            f"case {case.case_id}: no prediction in {pred_dir} (looked for {case.case_id}.nii.gz, {case.case_id}/mask.nii.gz "
            "and SMIR.<name>.<id>.nii); predict every case of the ground-truth folder"
        )
    if len(found) > 1:
        raise EvaluationError(f"case {case.case_id}: several predictions {', '.join(p.name for p in found)}; keep one")
    try:
        data = np.asarray(nib.load(str(found[0])).dataobj, dtype=np.float32)
    except Exception as exc:  # noqa: BLE001 - any reader failure is the same to the user
        raise EvaluationError(f"case {case.case_id}: cannot read {found[0]} ({exc}); write it again") from exc
    source_shape = tuple(getattr(case, "source_shape", case.shape))
    if data.shape != source_shape:
        raise EvaluationError(f"case {case.case_id}: {found[0]} has shape {data.shape}, the ground truth {source_shape}; "
                              "predictions must be on the case's own grid")
    if hasattr(case, "from_source"):
        data = case.from_source(data)  # predictions are on the input files' grid; the case arrays are RAS+
    if not np.isfinite(data).all():
        raise EvaluationError(f"case {case.case_id}: {found[0]} holds NaN/Inf values; write the prediction again")
    binary = np.isin(data, (0.0, 1.0)).all()
    if not binary and threshold is None:
        raise EvaluationError(f"case {case.case_id}: {found[0]} is a probability map; pass a threshold (--threshold)")
    return binarize(data, 0.5 if binary else threshold, min_size)

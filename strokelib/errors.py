"""Exceptions raised for bad input at every step of the method (paper §2–§4). Every message names the file or case
and says how to fix it."""

from __future__ import annotations


class StrokelibError(Exception):
    """Base class of every error strokelib raises on purpose."""


class DataLayoutError(StrokelibError):
    """The folder layout does not look like ISLES 2015 (missing root, no cases, missing or duplicated files)."""


class ImageError(StrokelibError):
    """An image could not be read or its content is unusable (NaN, wrong shape, affine mismatch, bad labels)."""


class ConfigError(StrokelibError):
    """A parameter, profile or task name is not valid."""


class PreprocessingError(StrokelibError):
    """Pre-processing (masking, normalisation, registration) cannot run on this case."""


class SamplingError(StrokelibError):
    """Training or inference patches cannot be sampled from this case."""


class TrainingError(StrokelibError):
    """Training cannot start or resume (bad checkpoint, empty patch set, incompatible model)."""


class NotebookError(StrokelibError):
    """A notebook failed while running under papermill."""


class InferenceError(StrokelibError):
    """Whole-volume prediction cannot run (no model, empty brain mask, a model output of the wrong shape)."""


class EvaluationError(StrokelibError):
    """Post-processing or metrics got unusable input (shape mismatch, bad threshold, spacing or grid)."""


class OutputError(StrokelibError, OSError):
    """An output file cannot be written (a folder in its path is a file, no permission, disk full).

    Also an :class:`OSError`, so code that catches write failures as ``OSError`` keeps working.
    """


class ProvenanceError(StrokelibError):
    """A stored result (checkpoint, probability map, dataset) was made from other data or settings than asked for.

    It is never reused silently: the message says what differs and how to go on (another ``outputs_dir``, or
    ``fresh`` to recompute it).
    """

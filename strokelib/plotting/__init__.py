"""Every figure of the notebooks (paper §2–§4, Figures 1–5 and the notebooks' own), one module per notebook.

Each function draws one figure. Without ``output_file`` it returns the matplotlib Figure; given ``output_file=`` it
saves the figure atomically, closes it and returns None (nilearn's convention), so a loop that writes many figures
does not keep them all open. Inside a notebook (an ``inline`` backend) the saved figure is displayed before it is
closed, so it still appears in the cell's output (:func:`strokelib.plotting.base._finish`, the one place that
saves). :func:`slice_viewer` is the exception: it returns an ipywidgets viewer and saves nothing.

Modules follow the notebooks: :mod:`.data` (01), :mod:`.symmetric` (02), :mod:`.patches` (03), :mod:`.network`
(04), :mod:`.results` (05), :mod:`.isles22` (06); every figure is importable from ``strokelib.plotting`` itself.

Colours come from one colour-blind-safe palette (Okabe–Ito, :data:`PALETTE`), matplotlib's colour cycle once this
package is imported, each with one meaning (:data:`ROLE_COLOURS`). ``set_data_source("synthetic SISS-like data")``
ends the title of every figure made from data with that label; diagrams of the method never get it.
"""

from __future__ import annotations

from .base import (  # noqa: F401
    PALETTE,
    ROLE_COLOURS,
    data_source,
    lesion_slices,
    set_data_source,
    side_letters,
)
from .data import (  # noqa: F401
    intensity_histograms,
    lesion_volume_distribution,
    modality_grid,
    slice_montage,
    slice_viewer,
)
from .isles22 import (  # noqa: F401
    flair_registration_check,
    lesion_detection_bars,
)
from .network import (  # noqa: F401
    architecture_diagram,
    focal_vs_cross_entropy,
    fold_split_diagram,
    training_curves,
)
from .patches import (  # noqa: F401
    augmentation_gallery,
    class_balance_bars,
    patch_gallery,
    patch_overlap_diagram,
    sampling_diagram,
)
from .results import (  # noqa: F401
    OVERLAY_COLOURS,
    error_overlay,
    inference_modes,
    score_heatmap,
    segmentation_overlays,
    step_comparison,
)
from .symmetric import (  # noqa: F401
    registration_check,
    symmetric_modalities_figure,
    symmetry_difference,
)

"""Stage 6, inference (paper §3.5): overlapping patches (patches), whole-volume passes (whole_volume), maps of
whole datasets (maps), post-processing (postprocessing) and segmenting new cases (segment)."""

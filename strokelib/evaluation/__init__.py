"""Stage 7, evaluation (paper §4): metrics and Eq. 2 (metrics), choosing Th and S_min (tuning), Tables 1-3
(tables), the paper's numbers (paper_results), what a run shows beside them (findings) and how hard a dataset is
(difficulty)."""

"""Stage 5, training (paper §3.4, §4.1): the loop with early stopping (loop) and the approaches of Table 1 over
4-fold cross-validation (cross_validation)."""

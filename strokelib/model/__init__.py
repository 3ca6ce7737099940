"""Stage 4, the network (paper §3.2, §3.3): SUNet (sunet), the losses of Eq. 1 (losses) and model files
(checkpoints)."""

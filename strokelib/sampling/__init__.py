"""Stage 3, patch sampling (paper §3.3, §4.1): where training patches are centred (centres) and extracting and
augmenting them (patches)."""

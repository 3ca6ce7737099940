"""Stage 2, pre-processing (paper §3.1): symmetric modalities (symmetric), the mid-sagittal plane they find
(midsagittal), and the network's normalised input (normalisation)."""

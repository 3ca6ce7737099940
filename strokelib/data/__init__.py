"""Stage 1, the data (paper §2): where ISLES files are (layout), loading a case (cases), voxel size (geometry),
checking a dataset (checks), new cases to segment (new_cases) and ISLES 2022 (isles22)."""

"""The embedded default dataset (stands in for paper §2's data): MNI152 anatomy, lesions and look-alikes, head
pose and artefacts, one case, and the dataset written in the ISLES 2015 layout."""

"""strokelib: a tutorial reproduction of Clèrigues et al., stroke lesion segmentation from multimodal MRI."""

__version__ = "0.1.0"

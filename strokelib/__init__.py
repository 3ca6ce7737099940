"""strokelib: a tutorial reproduction of Clèrigues et al., stroke lesion segmentation from multimodal MRI (§2–§4).

The package map, one module per step in data-flow order, is in ``docs/design.md``.
"""

__version__ = "0.1.0"

__all__ = ["segment"]


def __getattr__(name: str):
    # strokelib.segment imports torch on first use only, so that ``import strokelib`` stays cheap
    if name == "segment":
        from .inference.segment import segment

        return segment
    raise AttributeError(f"module 'strokelib' has no attribute {name!r}")

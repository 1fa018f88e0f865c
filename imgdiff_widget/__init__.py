"""imgdiff-widget: see where two images differ.

Two images of the same scene in; both with every real difference highlighted,
and a mask of the differences, out. From Python (:func:`compare`), the command
line (``imgdiff-widget``) or a Jupyter widget (:class:`DiffWidget`).
"""

from ._errors import (
    ImageDiffError,
    ImageLoadError,
    ImageShapeError,
    ImageValueError,
    ParameterError,
    SizeMismatchError,
)
from ._io import load_image
from ._params import DiffParams
from ._pipeline import DiffPipeline, DiffResult, compare
from ._regions import Region
from ._ssim import ssim_map

__version__ = "0.1.0"

__all__ = [
    "DiffParams",
    "DiffPipeline",
    "DiffResult",
    "DiffWidget",
    "ImageDiffError",
    "ImageLoadError",
    "ImageShapeError",
    "ImageValueError",
    "ParameterError",
    "Region",
    "SizeMismatchError",
    "__version__",
    "compare",
    "load_image",
    "ssim_map",
]


def __getattr__(name: str):
    # The widget pulls in ipywidgets and matplotlib.pyplot: load it on first use
    # so that the core, the CLI and batch workers stay light.
    if name == "DiffWidget":
        from .widget import DiffWidget

        return DiffWidget
    if name == "plot":
        from .widget import plot

        return plot
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

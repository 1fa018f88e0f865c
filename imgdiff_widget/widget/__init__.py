"""The Jupyter layer: :class:`DiffWidget` and the static :func:`plot` helper.

The only part of imgdiff-widget that imports ipywidgets; matplotlib.pyplot is
imported only by :func:`plot` when it has to create axes.
"""

from ._plot import plot
from ._widget import PARAM_NAMES, DiffWidget

__all__ = ["PARAM_NAMES", "DiffWidget", "plot"]

"""A static plot of a result, for documents and teaching."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._errors import ParameterError
from .._pipeline import DiffResult
from .._render import box_geometry, parse_color, parse_style
from ._display import DisplayCopy

__all__ = ["PANELS", "plot"]

#: Panels :func:`plot` can draw.
PANELS = ("a", "b", "mask", "heatmap")


def plot(
    result: DiffResult,
    ax=None,
    *,
    panels: str | Sequence[str] = ("a", "b"),
    max_size: int = 2000,
    titles: bool = True,
):
    """Draw a result's overlays (or one chosen panel) onto matplotlib axes.

    Parameters
    ----------
    result : DiffResult
    ax : Axes or sequence of Axes, optional
        One axes per panel. Created with :func:`matplotlib.pyplot.subplots`
        when omitted.
    panels : str or sequence of str
        Any of "a", "b", "mask", "heatmap"; a single name draws one panel.
    max_size : int
        Longest side, in pixels, of the images drawn (large inputs are
        downsampled, keeping every marked pixel visible).
    titles : bool
        Title each panel.

    Returns
    -------
    list of Axes
        The axes drawn on.

    Examples
    --------
    >>> import imgdiff_widget as idw
    >>> result = idw.compare("before.jpg", "after.jpg")   # doctest: +SKIP
    >>> idw.plot(result)                                  # doctest: +SKIP
    >>> idw.plot(result, ax=my_ax, panels="heatmap")      # doctest: +SKIP
    """
    names = (panels,) if isinstance(panels, str) else tuple(panels)
    bad = [p for p in names if p not in PANELS]
    if bad or not names:
        raise ParameterError(f"panels={panels!r} is not accepted; use any of {', '.join(PANELS)}.")
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(1, len(names), figsize=(5 * len(names), 4), squeeze=False)
        axes = list(ax.ravel())
    else:
        axes = list(np.ravel(ax)) if not hasattr(ax, "imshow") else [ax]
    if len(axes) != len(names):
        raise ParameterError(
            f"got {len(axes)} axes for {len(names)} panel(s) {names}; pass one axes per panel."
        )
    copy = DisplayCopy(max_size)
    copy.update(result)
    crop = copy.render(result.params, result.threshold, result.regions)
    color = parse_color(result.params.color)
    boxes = "boxes" in parse_style(result.params.style)
    labels = {"a": "A", "b": "B", "mask": "differences", "heatmap": "score"}
    for name, axis in zip(names, axes, strict=True):
        if name == "mask":
            axis.imshow(crop.mask, cmap="gray", vmin=0, vmax=1, extent=crop.extent,
                        interpolation="nearest")  # fmt: skip
        elif name == "heatmap":
            image = axis.imshow(crop.score, cmap="inferno", vmin=0, vmax=1, extent=crop.extent)
            axis.figure.colorbar(image, ax=axis, fraction=0.04)
        else:
            axis.imshow(crop.overlay_a if name == "a" else crop.overlay_b, extent=crop.extent)
        if boxes and name in ("a", "b"):
            from matplotlib.patches import Rectangle

            for region in result.regions:
                r0, c0, r1, c1 = box_geometry(region.bbox, result.mask.shape)
                axis.add_patch(
                    Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0, r1 - r0, fill=False,
                              edgecolor=color, linewidth=1.5)
                )  # fmt: skip
        axis.set_xticks([])
        axis.set_yticks([])
        if titles:
            axis.set_title(f"{labels[name]} ({len(result.regions)} regions)" if name == "a"
                           else labels[name])  # fmt: skip
    return axes

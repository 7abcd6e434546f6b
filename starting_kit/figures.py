"""Figures as PNG bytes, headless: matplotlib's Agg canvas, never pyplot.

A figure is a :class:`matplotlib.figure.Figure` drawn by the Agg canvas, so no GUI backend and no
``DISPLAY`` is ever needed (training nodes and CI have none) and no pyplot state is shared
between figures or threads. Writing the bytes is the caller's business (atomically).
"""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def new_figure(width_in: float, height_in: float, dpi: float = 100) -> Figure:
    """An empty figure of ``width_in`` x ``height_in`` inches attached to an Agg canvas."""
    figure = Figure(figsize=(width_in, height_in), dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def figure_png(figure: Figure, *, tight: bool = False) -> bytes:
    """Render ``figure`` as PNG bytes at its own dpi: its own size, or cropped to what is drawn
    (``tight``: labels never cut, no empty margin).

    >>> png = figure_png(new_figure(2, 1, dpi=50))
    >>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    """
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)  # a figure made elsewhere: draw it with Agg all the same
    figure.savefig(buffer, format="png", bbox_inches="tight" if tight else None)
    return buffer.getvalue()

"""One look for the studio's Plotly charts that reads in light and in dark mode.

``gr.Plot`` draws a figure as given, so a default template paints a white panel with dark text
that glares in dark mode. Transparent panels, a mid-grey font and faint grid lines read on both.
"""

from __future__ import annotations

import plotly.graph_objects as go

INK = "#8b95a5"  # mid grey: legible on white and on near-black
GRID = "rgba(139, 149, 165, 0.25)"


def themed(fig: go.Figure) -> go.Figure:
    fig.update_layout(
        template="none",
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font={"color": INK},
    )
    fig.update_xaxes(gridcolor=GRID, zerolinecolor=GRID, linecolor=GRID)
    fig.update_yaxes(gridcolor=GRID, zerolinecolor=GRID, linecolor=GRID)
    return fig

"""Every chart of the studio is drawn on a transparent panel with ink that reads in dark mode too."""

from __future__ import annotations

from core.evaluation.reward import report
from ui.charts import INK
from ui.evaluate_tab import chart
from ui.finetune_actions import loss_figure
from ui.reward_tab import report_figure


def _dark_safe(fig) -> bool:
    layout = fig.layout
    return (
        layout.paper_bgcolor == "rgba(0,0,0,0)"
        and layout.plot_bgcolor == "rgba(0,0,0,0)"
        and (layout.font.color == INK)
    )


def test_the_evaluate_and_reward_charts_read_in_dark_mode():
    assert _dark_safe(chart([]))
    assert _dark_safe(report_figure(report([])))
    assert _dark_safe(loss_figure(None))

"""Named starting points for the config knobs, shown as presets in the studio.

"paper defaults" are the SRA-MCTS reference settings. "quick demo" trades depth
of search for speed on a laptop CPU: fewer calls per iteration, so a tree grows
visibly within a minute on the embedded model. "grounded" is the paper's settings
plus the execution-grounded reward: a path that reaches the end gate has its code run on
the problem's visible tests (the docstring examples), and half its value comes from the
pass rate, so a path the critic likes but the examples refute does not end the search.
"""

from __future__ import annotations

from core.config import SearchConfig

PRESETS: dict[str, SearchConfig] = {
    "paper defaults": SearchConfig(),
    "quick demo": SearchConfig(k=2, rollout=False, reflection=False, max_iterations=6),
    "wide": SearchConfig(k=5, c=1.0, temperature=0.9),
    "grounded": SearchConfig(exec_weight=0.5),
}


def preset(name: str) -> SearchConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}") from None

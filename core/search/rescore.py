"""Re-run the critic over a subtree with another prompt or temperature, as a side-by-side comparison.

Why: when the reward report shows the critic misjudging nodes, the next
question is whether a different critic prompt (or a sampling temperature)
would judge them better. This re-scores the very paths the search scored, in
one batched call, and returns old and new scores side by side. The nodes keep
their records and values: the tree's search is not altered, only compared.
The calls count in the tree's usage (calls, tokens), since the model did spend
them, but not in its critic parse rate, which describes the search's own critic.

Example::

    rows = rescore_subtree(search, 0, critic_prompt=STRICT_PROMPT)   # every scored node under the root
    [(r.node_id, r.old_score, r.new_score) for r in rows]            # [(1, 8.0, 3.0), (2, 6.0, 6.0), ...]
    rescore_subtree(search, 0, critic_prompt="Rate {step}")          # ValueError: prompts.critic uses ...
"""

from __future__ import annotations

from dataclasses import dataclass

from core.config import ConfigError
from core.prompts import PromptSet
from core.search.mcts import Search
from core.search.reasoner import Reasoner


@dataclass
class RescoreRow:
    node_id: int
    step: str
    old_score: float | None  # None when the old reply was unparsed
    new_score: float | None
    old_parsed: bool
    new_parsed: bool
    new_raw: str
    old_value: float  # the old critic value in [0, 1]
    new_value: float

    @property
    def delta(self) -> float:
        """New critic value minus old (values, so that an unparsed reply still compares)."""
        return self.new_value - self.old_value


def rescore_subtree(
    search: Search, node_id: int, *, critic_prompt: str | None = None, temperature: float | None = None
) -> list[RescoreRow]:
    """Score again every node of ``node_id``'s subtree that has a critic record (one batched call).

    Raises ``ValueError`` for a bad prompt template or temperature, ``KeyError`` for an unknown node.
    """
    with search.lock:
        tree = search.tree
        cfg = tree.config
        changes: dict[str, object] = {}
        if critic_prompt is not None:
            try:
                changes["prompts"] = PromptSet(**{**cfg.prompts.to_dict(), "critic": critic_prompt})
            except ValueError as exc:
                raise ValueError(f"bad critic prompt: {exc}") from None
        if temperature is not None:
            changes["critic_temperature"] = temperature
        try:
            new_cfg = cfg.replace(**changes) if changes else cfg
        except ConfigError as exc:
            raise ValueError(f"bad re-score setting: {exc}") from None
        olds = {n.id: n.critic for n in tree.subtree(node_id) if n.critic is not None}
        ids = sorted(olds)
        reasoner = Reasoner(search.backend, new_cfg, tree.problem, tree.usage)
        replies, parsed = tree.usage.critic_replies, tree.usage.critic_parsed
        records = reasoner.critique([tree.steps(i) for i in ids])
        tree.usage.critic_replies, tree.usage.critic_parsed = replies, parsed
        rows = []
        for nid, new in zip(ids, records, strict=True):
            old = olds[nid]
            rows.append(
                RescoreRow(
                    node_id=nid,
                    step=tree.nodes[nid].step,
                    old_score=old.score if old.parsed else None,
                    new_score=new.score if new.parsed else None,
                    old_parsed=old.parsed,
                    new_parsed=new.parsed,
                    new_raw=new.raw,
                    old_value=old.value,
                    new_value=new.value,
                )
            )
        return rows

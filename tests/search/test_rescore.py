"""Re-scoring a subtree with another critic prompt or temperature: one batched call, nodes untouched."""

from __future__ import annotations

import json
import threading

import pytest

from core.llm import Completion, GenerationRequest, GenerationResult
from core.prompts import CRITIC
from core.search.mcts import Search
from core.search.rescore import rescore_subtree
from tests.scripted import SCORE_IN_STEP, ScriptedBackend, last_step, render

STRICT = "STRICT REVIEW.\n" + CRITIC


class PromptAwareBackend(ScriptedBackend):
    """Under a prompt that says STRICT, the critic gives 10 minus the step's own score ("no idea" without one)."""

    def _answer(self, req: GenerationRequest) -> GenerationResult:
        res = super()._answer(req)
        text = render(req)
        if req.tag != "critic" or "STRICT" not in text:
            return res
        m = SCORE_IN_STEP.search(last_step(text))
        reply = f" {10 - int(m.group(1))}" if m else " no idea"
        return GenerationResult((Completion(reply, "stop", 1),), res.prompt_text, res.prompt_tokens, 0.001)


@pytest.fixture
def search(make_search) -> Search:
    backend = PromptAwareBackend(
        proposals=[
            ["Split the input (score 6)", "Guess (score 2)", "Hmm"],
            ["Sum the parts (score 8)"] * 3,
        ]  # repeats are dropped: one grandchild
    )
    s = make_search(backend, k=3, max_iterations=2)
    s.run()
    return s


def nodes_json(search: Search) -> str:
    return json.dumps([n.to_dict() for n in search.tree.nodes.values()])


def test_new_prompt_rescores_whole_tree_in_one_call(search):
    tree = search.tree
    scored = sorted(n.id for n in tree.nodes.values() if n.critic is not None)
    assert len(scored) == 4  # three children of the root, one grandchild
    before = nodes_json(search)
    calls = len(search.backend.calls_with("critic"))
    replies = tree.usage.critic_replies
    rows = rescore_subtree(search, 0, critic_prompt=STRICT)
    assert [r.node_id for r in rows] == scored
    assert len(search.backend.calls_with("critic")) == calls + 1
    [batch] = search.backend.calls_with("critic")[-1:]
    assert len(batch) == 4 and all("STRICT REVIEW." in m.content for req in batch for m in req.messages[1:])
    by_step = {r.step: r for r in rows}
    assert (
        by_step["Split the input (score 6)"].old_score,
        by_step["Split the input (score 6)"].new_score,
    ) == (6, 4)
    assert (by_step["Guess (score 2)"].old_score, by_step["Guess (score 2)"].new_score) == (2, 8)
    assert by_step["Guess (score 2)"].delta == pytest.approx(0.6)
    hmm = by_step["Hmm"]
    assert (hmm.old_parsed, hmm.new_parsed, hmm.old_score, hmm.new_score) == (False, False, None, None)
    assert hmm.new_raw == "Score: no idea"
    assert nodes_json(search) == before  # a comparison: no record or value changed
    assert tree.config.prompts.critic == CRITIC and search.reasoner.config is tree.config
    assert tree.usage.critic_replies == replies  # the parse rate stays the search's own critic's
    assert tree.usage.by_role["critic"] == 8  # but the calls were made, so they are counted


def test_subtree_only(search):
    tree = search.tree
    parent = next(n for n in tree.nodes.values() if n.depth == 1 and n.children)
    rows = rescore_subtree(search, parent.id, critic_prompt=STRICT)
    assert [r.node_id for r in rows] == sorted(n.id for n in tree.subtree(parent.id))
    assert all(r.new_score == 10 - r.old_score for r in rows)


def test_temperature_only_keeps_prompt(search):
    rows = rescore_subtree(search, 0, temperature=0.9)
    [batch] = search.backend.calls_with("critic")[-1:]
    assert {req.temperature for req in batch} == {0.9}
    assert [r.new_score for r in rows] == [r.old_score for r in rows]  # same prompt, same scripted scores
    assert search.tree.config.critic_temperature == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"critic_prompt": "Rate {step}"}, r"bad critic prompt: prompts\.critic uses unknown placeholder"),
        ({"critic_prompt": "Rate {problem}"}, r"bad critic prompt: prompts\.critic must contain \{steps\}"),
        ({"critic_prompt": "Rate {steps"}, r"bad critic prompt: prompts\.critic is not a valid template"),
        ({"temperature": 5.0}, r"bad re-score setting: critic_temperature must be between"),
    ],
)
def test_bad_settings_raise_before_any_call(search, kwargs, message):
    calls = len(search.backend.calls)
    with pytest.raises(ValueError, match=message):
        rescore_subtree(search, 0, **kwargs)
    assert len(search.backend.calls) == calls


def test_unknown_node(search):
    with pytest.raises(KeyError, match="node 99 does not exist"):
        rescore_subtree(search, 99, critic_prompt=STRICT)


def test_waits_for_the_search_lock(search):
    done = threading.Event()
    with search.lock:
        worker = threading.Thread(target=lambda: (rescore_subtree(search, 0), done.set()))
        worker.start()
        assert not done.wait(0.2)  # blocked while the search (here: this test) holds the lock
    worker.join(5)
    assert done.is_set()

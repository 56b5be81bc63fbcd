"""The node inspector shows prompts, raw replies, scores, UCB terms and history, with model text escaped."""

from __future__ import annotations

import html

from tests.scripted import ScriptedBackend
from ui.inspector import fence, inspect_node, node_choices


def shown(s: str) -> str:
    """How a prompt or raw reply appears inside the inspector's <pre> blocks."""
    return html.escape(s).replace("\n", "&#10;")


def grown(make_search, **config):
    backend = ScriptedBackend(
        proposals=[["A <b>bold</b> (score 6)", "B unreadable", "C (score 8)"]],
        critic=lambda step: "Score: <script>alert(1)</script>" if "unreadable" in step else _score(step),
    )
    search = make_search(backend, k=3, end_gate=1.0, **config)
    search.run(3)
    return search


def _score(step: str) -> str:
    import re

    m = re.search(r"\(score (\d+)\)", step)
    return f"Score: {m.group(1)}" if m else "no idea"


def test_critic_prompt_raw_reply_and_score_are_shown(make_search):
    search = grown(make_search)
    tree = search.tree
    c_id = tree.root.children[2]
    md = inspect_node(tree, c_id)
    node = tree.nodes[c_id]
    assert md.startswith(f"### Node #{c_id} · depth 1 · ")
    assert shown(node.critic.prompt) in md  # the full prompt, escaped, in a <details> block
    assert (
        "\n\n" not in shown(node.critic.prompt)
        and "<details open><summary>Raw reply" in md
        and shown(node.critic.raw) in md
    )
    assert "**Score:** 8 / 10 → value 0.800" in md
    assert shown(tree.root.expansion.prompt) in md  # the proposal prompt lives on the parent
    assert "→ [3] 1. C (score 8)" in md  # its own raw sample is marked


def test_unparsed_reply_is_flagged_and_escaped(make_search):
    search = grown(make_search)
    tree = search.tree
    b_id = tree.root.children[1]
    md = inspect_node(tree, b_id)
    assert "UNPARSED" in md and "method <code>unparsed</code>" in md
    assert "<script>" not in md and "&lt;script&gt;alert(1)&lt;/script&gt;" in md
    a_md = inspect_node(tree, tree.root.children[0])
    assert "<b>bold</b>" not in a_md and "A &lt;b&gt;bold&lt;/b&gt;" in a_md


def test_ucb_terms_and_backprop_history_are_tabled(make_search):
    search = grown(make_search)
    tree = search.tree
    visited = next(tree.nodes[i] for i in tree.root.children if tree.nodes[i].ucb and tree.nodes[i].history)
    md = inspect_node(tree, visited.id)
    u = visited.ucb
    assert f"#### Selection (UCB) at iteration {u.iteration}" in md
    assert (
        f"| {u.value:.3f} | {u.explore:.3f} | {u.bonus:.3f} | {u.total:.3f} | {u.parent_visits} | {u.visits} |"
        in md
    )
    assert "| iteration | value | visits |" in md
    for h in visited.history:
        assert f"| {h.iteration} | {h.value:.4f} | {h.visits} |" in md
    assert "#### LLM calls" in md and "| critic |" in md


def test_rollout_reflection_code_and_edit_are_shown(make_search):
    search = make_search(ScriptedBackend(), k=2, reflection=True, rollout=True, end_gate=1.0)
    search.run(3)
    tree = search.tree
    node = next(n for n in tree.nodes.values() if n.rollout and n.reflection)
    search.write_code(node.id)
    md = inspect_node(tree, node.id)
    assert "#### Rollout (iteration" in md and f"{node.rollout.before:.3f} → {node.rollout.after:.3f}" in md
    assert "#### Reflection" in md and "is_end: **False**" in md
    assert "```python\ndef solution():" in md and "truncated: **" in md
    search.edit(node.id, "Use <the> plus operator (score 7)")
    md = inspect_node(tree, node.id)
    assert "Use &lt;the&gt; plus operator" in md and "**Original step (before the edit):**" in md
    # the edit cleared what described the old text
    assert "#### Rollout (iteration" not in md and "```python\ndef solution():" not in md
    stale_child = tree.nodes[node.children[0]] if node.children else None
    if stale_child is not None:
        assert "· stale" in inspect_node(tree, stale_child.id).splitlines()[0]


def test_human_node_and_root(make_search):
    search = grown(make_search)
    event = search.add_step(0, "Return a + b. (score 9)")
    md = inspect_node(search.tree, event.node)
    assert "Written by a human" in md and "_Never backed up._" in md
    assert "(the problem: root)" in inspect_node(search.tree, 0)


def test_node_choices_label_and_value(make_search):
    search = grown(make_search)
    search.add_step(0, "x" * 80)
    choices = node_choices(search.tree)
    assert [v for _, v in choices] == sorted(search.tree.nodes)
    assert choices[0] == (f"#0 · d0 · Q={search.tree.root.value:.2f} · (problem)", 0)
    label = choices[-1][0]
    assert label.endswith("x" * 50 + "…") and " · d1 · Q=" in label


def test_fence_outlasts_backticks_in_code():
    assert fence("print('```')").startswith("````python\n")


def test_a_replayed_tree_with_placeholder_records_can_be_inspected(make_search):
    from core.tree.replay import tree_at

    backend = ScriptedBackend(proposals=[["A (score 2)", "B (score 6)"]])
    search = make_search(backend, k=2, end_gate=1.0)
    search.run(2)
    a_id = search.tree.root.children[0]
    search.edit(a_id, "A, sorted (score 3)")  # stamped 2: replaces A's critic record
    md = inspect_node(tree_at(search.tree, 1), a_id)
    assert "**Step:** A (score 2)" in md and "**Score:** 2 / 10" in md
    assert "not kept: replaced by a later call (iteration 2)" in md and "Critic prompt: (empty)" in md


def test_inspector_shows_each_part_of_the_execution_reward(make_search):
    from core.tree.records import ExecutionRecord, VerdictSummary
    from ui.inspector import inspect_node

    search = make_search()
    search.step()
    node = search.tree.nodes[search.tree.root.children[0]]
    vis = VerdictSummary(False, 0.5, 2, 1, None, "assert add(1, 2) == 3  ->  AssertionError", 0.01)
    hid = VerdictSummary(True, 1.0, 1, 0, None, "", 0.02)
    node.execution = ExecutionRecord(vis, hid, critic_value=0.8, weight=0.5, reward=0.65, leaky=False)
    md = inspect_node(search.tree, node.id)
    assert "Reward" in md and "0.650" in md and "0.800" in md and "LEAKY" not in md
    assert "1/2" in md and "visible (in the reward)" in md and "hidden (never in the reward)" in md
    assert "AssertionError" in md
    # a leaky run says which tests are in the reward, and never calls the hidden ones "never in it"
    node.execution = ExecutionRecord(vis, hid, critic_value=0.8, weight=0.5, reward=0.9, leaky=True)
    md = inspect_node(search.tree, node.id)
    assert "LEAKY" in md and "hidden (IN the reward: leaky run)" in md and "visible (shown only)" in md
    assert "never in the reward" not in md and "visible (in the reward)" not in md


def test_the_inspector_shows_the_score_distribution_beside_the_sampled_score():
    from core.config import SearchConfig
    from core.problems.problem import get_problem
    from core.search.mcts import Search
    from tests.search.test_score_distribution import LogprobCritic
    from ui.inspector import inspect_node

    cfg = SearchConfig(k=1, rollout=False, reflection=False, critic_value="distribution")
    search = Search.start(get_problem("HumanEval/0"), cfg, LogprobCritic())
    search.step()
    node = search.tree.nodes[search.tree.root.children[0]]
    md = inspect_node(search.tree, node.id)
    assert "**Score:** 10 / 10 (sampled) ·" in md
    assert f"**Expected score:** {node.critic.expected:.2f} / 10 → value {node.critic.value:.3f}" in md
    assert "| 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 |" in md and "█<br>60%" in md and "33%" in md
    plain = Search.start(get_problem("HumanEval/0"), cfg.replace(critic_value="text"), LogprobCritic())
    plain.step()
    critic = plain.tree.nodes[plain.tree.root.children[0]].critic
    md = inspect_node(plain.tree, plain.tree.root.children[0])
    assert "Expected score" not in md and "| 0 | 1 | 2 |" not in md
    assert f"**Score:** {critic.score:g} / 10 → value {critic.value:.3f}" in md


def test_model_text_is_escaped_once_so_quotes_read_as_quotes():
    from ui.inspector import text

    out = text("unsupported operand type(s) for +: 'float' and 'str' # *x*")
    assert "&#39;float&#39;" in out and "&#35;" in out and "&#42;x&#42;" in out
    assert "&amp;" not in out and "&&" not in out and "'" not in out  # no entity escaped a second time


def test_the_error_column_names_the_exception_a_failing_test_raised():
    from core.execution.sandbox import run_tests
    from core.search.grounding import summarize
    from core.tree.records import VerdictSummary
    from ui.inspector import _error_cell

    failed = summarize(run_tests("def f(x):\n    return x + 'a'\n", ["assert f(1.0) == 2"]))
    assert _error_cell(failed) == "TypeError"
    ok = VerdictSummary(True, 1.0, 1, 0, None, "", 0.1)
    assert _error_cell(ok) == "—"

"""Engine tests against the scripted LLM: selection, backprop, steering, stopping, seeding."""

from __future__ import annotations

import math

import pytest

from core.config import ConfigError, SearchConfig
from core.search.mcts import SearchEnded
from core.search.selection import select, ucb
from core.search.steering import SteeringError
from core.tree.events import EventKind
from core.tree.nodes import Tree
from tests.scripted import ScriptedBackend


def selected(events):
    return [e.node for e in events if e.kind is EventKind.SELECTED]


def test_first_iteration_expands_root_with_k_children_and_backs_up_best(make_search):
    backend = ScriptedBackend(proposals=[["A (score 6)", "B (score 4)", "C (score 8)"]])
    search = make_search(backend)
    events = search.step()
    tree = search.tree
    assert [tree.nodes[i].step for i in tree.root.children] == ["A (score 6)", "B (score 4)", "C (score 8)"]
    assert [e.kind for e in events][:2] == [EventKind.SELECTED, EventKind.EXPANDED]
    a, b, c = (tree.nodes[i] for i in tree.root.children)
    assert (a.value, b.value, c.value) == (0.6, 0.4, 0.8)
    assert (a.visits, b.visits, c.visits) == (0, 0, 1)  # only the best child is backed up
    assert tree.root.visits == 1 and tree.root.value == pytest.approx(0.8)
    assert c.history[-1].visits == 1 and tree.root.history[-1].value == pytest.approx(0.8)


def test_ucb_terms_match_hand_computation(make_search):
    search = make_search(ScriptedBackend(proposals=[["A (score 5)", "B (score 3)"]]), k=2)
    search.step()
    tree = search.tree
    a, b = (tree.nodes[i] for i in tree.root.children)
    a.visits, tree.root.visits = 2, 4
    rec = ucb(a, tree.root.visits, c=0.5, bonus=10.0, iteration=2)
    assert rec.explore == pytest.approx(0.5 * math.sqrt(2 * math.log(4) / 2))
    assert rec.total == pytest.approx(0.5 + 1.1774100225154747 * 0.5)
    fresh = ucb(b, 4, c=0.5, bonus=10.0, iteration=2)
    assert (fresh.explore, fresh.bonus, fresh.total) == (0.0, 10.0, pytest.approx(10.3))


def test_unvisited_children_are_tried_before_a_better_visited_one(make_search):
    backend = ScriptedBackend(proposals=[["A (score 6)", "B (score 2)", "C (score 8)"]])
    search = make_search(backend, width=1)
    search.step()  # C is the best child and gets the visit
    a_id, b_id, c_id = search.tree.root.children
    order = [selected(search.step())[0] for _ in range(2)]
    assert order == [a_id, b_id]  # both unvisited beat C (0.8 visited); among them, the higher value first
    assert c_id not in order


def test_visited_children_ordered_by_ucb(make_search):
    search = make_search(ScriptedBackend(proposals=[["A (score 6)", "B (score 2)"]]), k=2, c=0.5)
    search.step()
    tree = search.tree
    a, b = (tree.nodes[i] for i in tree.root.children)
    a.visits, b.visits, tree.root.visits = 3, 1, 4
    a.value, b.value = 0.6, 0.2
    # A: 0.6 + 0.5*sqrt(2 ln4 / 3) = 1.0807 ; B: 0.2 + 0.5*sqrt(2 ln4 / 1) = 1.0326
    assert select(tree, 5).path == [0, a.id]
    b.value = 0.3  # B: 1.1326 now beats A
    assert select(tree, 5).path == [0, b.id]


def test_backprop_is_visit_weighted_mean_of_live_children(make_search):
    search = make_search(
        ScriptedBackend(proposals=[["A (score 6)", "B (score 9)"], ["A1 (score 2)", "A2 (score 4)"]]),
        k=2,
        end_gate=1.0,
        width=1,
    )
    search.step()  # B (0.9) visited: root = 0.9
    tree = search.tree
    a_id, b_id = tree.root.children
    search.step()  # A is unvisited -> selected, expanded; A2 (0.4) best, visited
    a = tree.nodes[a_id]
    assert a.value == pytest.approx(0.4) and a.visits == 1
    # root = (0.9*1 + 0.4*1) / 2
    assert tree.root.value == pytest.approx(0.65) and tree.root.visits == 2
    search.prune(b_id)  # pruned children no longer count
    assert tree.root.value == pytest.approx(0.4)


def test_pruned_subtree_is_never_selected(make_search):
    search = make_search(k=3, end_gate=1.0, max_iterations=50)
    search.step()
    pruned = search.tree.root.children[0]
    search.step()
    search.prune(pruned)
    blocked = {n.id for n in search.tree.subtree(pruned)}
    events = search.run(12)
    assert selected(events) and not blocked & set(selected(events))
    assert search.tree.status(pruned) == "pruned"
    search.unprune(pruned)
    assert search.tree.status(pruned) != "pruned"


def test_forced_node_is_selected_next_and_expanded_again(make_search):
    search = make_search(end_gate=1.0, width=1)
    search.step()
    search.step()
    worst = min(search.tree.root.children, key=lambda i: search.tree.nodes[i].value)
    before = len(search.tree.nodes[worst].children)
    search.force(worst)
    events = search.step()
    assert selected(events) == [worst]
    assert events[0].data["forced"] is True
    assert len(search.tree.nodes[worst].children) > before
    assert not search.tree.nodes[worst].forced


def test_edit_marks_subtree_stale_and_rescores(make_search):
    backend = ScriptedBackend(proposals=[["A (score 2)", "B (score 6)"], ["A1 (score 5)", "A2 (score 7)"]])
    search = make_search(backend, k=2, end_gate=1.0)
    search.step()  # B is best and visited
    search.step()  # A, unvisited, is selected and expanded
    a_id = search.tree.root.children[0]
    kids = list(search.tree.nodes[a_id].children)
    assert kids
    event = search.edit(a_id, "A, but sort first (score 3)")
    a = search.tree.nodes[a_id]
    assert a.step == "A, but sort first (score 3)" and a.original_step == "A (score 2)"
    assert a.critic.score == 3 and a.value == pytest.approx(0.3)
    assert all(search.tree.nodes[k].stale for k in kids) and event.data["stale"] == kids
    assert not a.expanded  # it will be expanded again from its new text
    assert all(search.tree.status(k) == "stale" for k in kids)


def test_add_step_scores_a_human_child(make_search):
    search = make_search()
    search.step()
    event = search.add_step(0, "Return a + b directly. (score 9)")
    child = search.tree.nodes[event.node]
    assert child.origin == "human" and child.critic.score == 9 and child.value == pytest.approx(0.9)
    with pytest.raises(SteeringError, match="empty"):
        search.add_step(0, "   ")


def test_steering_errors_are_clear_and_change_nothing(make_search):
    search = make_search()
    search.step()
    before = search.tree.to_json()
    with pytest.raises(SteeringError, match="root"):
        search.prune(0)
    with pytest.raises(KeyError, match="node 99 does not exist"):
        search.force(99)
    child = search.tree.root.children[0]
    search.prune(child)
    with pytest.raises(SteeringError, match="unprune it"):
        search.force(child)
    search.unprune(child)
    assert [e.kind for e in search.tree.events][-2:] == [EventKind.PRUNED, EventKind.UNPRUNED]
    assert before != search.tree.to_json()  # only the two logged actions changed it


def test_end_gate_stops_the_search(make_search):
    search = make_search(
        ScriptedBackend(proposals=[["A (score 9)", "B (score 2)"]]), k=2, end_gate=0.88, end_gate_min_depth=1
    )
    search.step()
    events = search.run()  # A (0.9, unvisited, highest UCB) is selected and is at the gate
    assert search.finished and search.tree.stopped == "end_gate"
    a = search.tree.nodes[search.tree.root.children[0]]
    assert a.terminal and a.terminal_reason == "end_gate"
    assert events[-1].kind is EventKind.STOPPED
    # a found answer is a final stop: more budget is refused until the user steers
    assert not search.can_continue()
    with pytest.raises(SearchEnded, match="end_gate"):
        search.resume(3)
    assert search.tree.stopped == "end_gate" and search.step() == []
    search.force(search.tree.root.children[1])
    assert search.can_continue() and search.step()


def test_reflection_end_makes_a_terminal_leaf(make_search):
    backend = ScriptedBackend(proposals=[["A (score 5)"]], reflections=["<end>"])
    search = make_search(backend, k=1, reflection=True, end_gate_min_depth=1)
    search.step()
    events = search.step()
    a = search.tree.nodes[search.tree.root.children[0]]
    assert a.terminal and a.terminal_reason == "reflection" and not a.children
    assert EventKind.TERMINAL in [e.kind for e in events]
    assert search.step()[-1].data == {"reason": "exhausted"}


def test_rollout_blends_best_candidate(make_search):
    backend = ScriptedBackend(proposals=[["A (score 4)"], ["A1 (score 8)", "A2 (score 6)"]])
    search = make_search(backend, k=1, rollout=True, rollout_weight=0.5)
    search.step()
    a = search.tree.nodes[search.tree.root.children[0]]
    assert a.rollout.best == pytest.approx(0.8)
    assert a.value == pytest.approx(0.5 * 0.4 + 0.5 * 0.8)
    assert a.rollout.before == pytest.approx(0.4) and len(a.rollout.candidates) == 2


def test_k_children_come_from_one_call_and_critic_is_batched(make_search):
    backend = ScriptedBackend()
    search = make_search(backend, k=3, rollout=True, reflection=True, end_gate=1.0, width=1)
    search.step()
    search.step()
    proposals = backend.calls_with("propose")
    expansions = [e for e in search.tree.events if e.kind is EventKind.EXPANDED]
    # one expansion call and one rollout call per iteration, each a single request with n samples
    assert len(proposals) == 2 * len(expansions)
    assert all(len(call) == 1 for call in proposals)
    assert [call[0].n for call in proposals] == [3, 2, 3, 2]
    critic_calls = backend.calls_with("critic")
    assert [len(c) for c in critic_calls][0] == len(search.tree.root.children)


def test_unparsed_critic_is_flagged_not_invented(make_search):
    backend = ScriptedBackend(
        proposals=[["Alpha step", "B (score 7)"]],
        critic=lambda step: "Looks fine" if "score" not in step else "Score: 7",
    )
    search = make_search(backend, k=2)
    search.step()
    a, b = (search.tree.nodes[i] for i in search.tree.root.children)
    assert not a.critic.parsed and a.critic.score is None and a.critic.raw == "Score: Looks fine"
    assert a.value == SearchConfig().unparsed_value
    assert b.critic.parsed and b.critic.score == 7
    assert search.tree.usage.parse_rate == pytest.approx(0.5)
    assert search.tree.to_dict()["stats"]["parse_rate"] == pytest.approx(0.5)


def test_same_seed_same_tree_and_other_seed_differs(make_search):
    def grow(seed):
        s = make_search(ScriptedBackend(), seed=seed, rollout=True, reflection=True, end_gate=1.0)
        s.run(5)
        return s.tree.to_json()

    assert grow(3) == grow(3)
    assert grow(3) != grow(4)


def test_json_round_trip_is_exact(make_search):
    search = make_search(ScriptedBackend(), rollout=True, reflection=True, end_gate=1.0)
    search.run(4)
    search.prune(search.tree.root.children[0])
    search.write_code()
    text = search.tree.to_json()
    assert '"schema": "sra-tree/1"' in text
    again = Tree.from_json(text)
    assert again.to_json() == text


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="^k must be between 1 and 16, got 0$"):
        SearchConfig(k=0)
    with pytest.raises(ConfigError, match="temperature"):
        SearchConfig.from_dict({"temperature": "hot"})
    with pytest.raises(ConfigError, match="unknown config field"):
        SearchConfig.from_dict({"kk": 3})
    with pytest.raises(ConfigError, match="prompts.critic"):
        SearchConfig.from_dict({"prompts": {"critic": "Rate {problem}"}})
    assert SearchConfig().replace(c=1).c == 1.0


def test_budget_stops_and_can_be_extended(make_search):
    search = make_search(max_iterations=2, end_gate=1.0, width=1)
    search.run()
    assert search.tree.stopped == "max_iterations" and search.tree.iteration == 2
    assert search.can_continue()
    search.extend_budget(1)
    assert search.step() and search.tree.iteration == 3
    search.resume(3)
    search.step()
    search.stop()
    assert search.tree.stopped == "stopped by user" and search.can_continue()
    search.resume(2)
    search.run()
    assert search.tree.iteration == 6 and search.tree.stopped == "max_iterations"


def test_end_gate_ignores_nodes_shallower_than_its_min_depth(make_search):
    backend = ScriptedBackend(proposals=[["A (score 9)"], ["A1 (score 9)"]])
    search = make_search(backend, k=1, end_gate=0.88, end_gate_min_depth=2)
    search.run(3)
    a = search.tree.nodes[search.tree.root.children[0]]
    assert not a.terminal and a.children  # A (depth 1) was expanded, not taken as a solution
    a1 = search.tree.nodes[a.children[0]]
    assert a1.terminal and a1.terminal_reason == "end_gate" and search.tree.stopped == "end_gate"


def test_unusable_repeated_and_echoed_steps_are_dropped_with_reasons(make_search):
    echo = "Do not write any code."  # a sentence of the proposal prompt itself
    backend = ScriptedBackend(proposals=[["A (score 5)", "A (score 5)", "def f(): pass", echo]])
    search = make_search(backend, k=4)
    search.step()
    root = search.tree.root
    assert [search.tree.nodes[c].step for c in root.children] == ["A (score 5)"]
    reasons = sorted(d.reason for d in root.expansion.dropped)
    assert reasons == ["duplicate", "echo", "unusable"]

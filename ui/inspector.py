"""The node inspector: everything the tree knows about one node, as Markdown for a side panel.

Why: a researcher must see *why* a node has its value: the exact prompts, the
raw replies, whether the critic's reply was parsed, the UCB terms that got it
selected and how backpropagation moved its Q. All model text is HTML-escaped
(a reply may contain ``<script>``); long texts sit in collapsed ``<details>``.
Pure functions of a :class:`~core.tree.nodes.Tree`: no search logic, no gradio.

Example::

    md = inspect_node(tree, 12)     # "### Node #12 · depth 2 · open" ... critic prompt, raw reply ...
    node_choices(tree)[1]           # ("#1 · d1 · Q=0.60 · Sort the list first.", 1)
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from core.search.parsing import normalize_step
from core.tree.nodes import Node, Tree
from core.tree.queries import chosen_answer, execution_feedback, latest_run
from core.tree.records import ExecutionRecord, VerdictSummary

# HTML's specials and the characters Markdown would read as formatting, each as one entity, in one
# pass: escaping twice would turn the entities of the first pass into visible text ("&#x27;").
_INLINE = str.maketrans({c: f"&#{ord(c)};" for c in "&<>\"'\\`*_[]{}#|~!"})


def text(s: str) -> str:
    """Model text for an inline Markdown spot: escaped HTML, no accidental formatting, one line."""
    return s.translate(_INLINE).replace("\r", "").replace("\n", "<br>")


def code(s: str) -> str:
    """Inline code: HTML, since a Markdown code span would show entities literally."""
    return f"<code>{html.escape(s)}</code>"


def block(title: str, body: str, open_: bool = False) -> str:
    """A collapsible, escaped ``<pre>`` block for a prompt or a raw reply (newlines as ``&#10;``)."""
    if not body:
        return f"<p><em>{html.escape(title)}: (empty)</em></p>"
    attr = " open" if open_ else ""
    summary = f"{html.escape(title)} ({len(body)} chars)"
    # One line: a blank line in the body would end the Markdown HTML block and let the rest be parsed.
    pre = html.escape(body).replace("\r", "").replace("\n", "&#10;")
    return f"<details{attr}><summary>{summary}</summary><pre>{pre}</pre></details>"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "| " + " | ".join(header) + " |\n|" + "---|" * len(header)
    return head + "".join("\n| " + " | ".join(str(c) for c in row) + " |" for row in rows)


def fence(code: str, lang: str = "python") -> str:
    """A fenced block longer than any backtick run in ``code``, so the code cannot close it."""
    run = ticks = 0
    for ch in code:
        run = run + 1 if ch == "`" else 0
        ticks = max(ticks, run)
    longest = max(3, ticks + 1)
    return f"{'`' * longest}{lang}\n{code}\n{'`' * longest}"


def _f(x: float | None, digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _header(tree: Tree, node: Node) -> list[str]:
    rows = [
        ("origin", f"{node.origin} (created in iteration {node.created_iteration})"),
        ("parent", "—" if node.parent is None else f"#{node.parent}"),
        ("Q", _f(node.value, 4)),
        ("visits", node.visits),
        ("children", ", ".join(f"#{c}" for c in node.children) or "—"),
    ]
    if node.terminal:
        rows.append(("terminal", node.terminal_reason))
    out = [
        f"### Node #{node.id} · depth {node.depth} · {tree.status(node.id)}",
        table(["field", "value"], rows),
    ]
    out.append(f"**Step:** {text(node.step) if node.step else '<em>(the problem: root)</em>'}")
    if node.original_step is not None:
        out.append(f"**Original step (before the edit):** {text(node.original_step)}")
    return out


def _proposal(tree: Tree, node: Node) -> list[str]:
    if node.parent is None:
        return []
    out = ["#### Proposal"]
    if node.origin == "human":
        return [*out, "Written by a human; no proposal call."]
    exp = tree.nodes[node.parent].expansion
    if exp is None or node.id not in exp.kept:
        return [*out, "The parent's expansion that made this node was replaced by a later one; not kept."]
    out.append(
        f"From #{node.parent}'s expansion at iteration {exp.iteration}: {len(exp.raws)} samples, "
        f"kept {', '.join(f'#{k}' for k in exp.kept)}, dropped {len(exp.dropped)}."
    )
    out.append(block("Proposal prompt", exp.prompt))
    mine = node.original_step or node.step
    samples = [f"{'→' if normalize_step(r) == mine else ' '} [{i + 1}] {r}" for i, r in enumerate(exp.raws)]
    out.append(block("Raw samples (→ this node)", "\n".join(samples)))
    return out


def _critic(node: Node) -> list[str]:
    c = node.critic
    if c is None:
        return []
    from_dist = c.source == "distribution" and c.expected is not None
    value = f" → value {_f(c.value)}"
    if c.parsed:
        verdict = (
            f"**Score:** {c.score:g} / 10{' (sampled)' if from_dist else value} · method {code(c.method)}"
        )
    else:
        fallback = "" if from_dist else f" · value {_f(c.value)} (the config's fallback)"
        verdict = f"**⚠ UNPARSED** · method {code(c.method)}{fallback}"
    if from_dist:
        flag = " · ⚠ a “1” not followed by its next digit counted as 10" if c.approximate else ""
        verdict += (
            f"<br>**Expected score:** {c.expected:.2f} / 10{value}, from the score tokens' distribution{flag}"
        )
    note = f"<br>Parser note: {text(c.note)}" if c.note else ""
    return [
        "#### Critic",
        verdict + note,
        *distribution_chart(c.distribution),
        block("Critic prompt", c.prompt),
        block("Raw reply", c.raw, True),
    ]


BARS = " ▁▂▃▄▅▆▇█"


def distribution_chart(probs: list[float] | None) -> list[str]:
    """p(score) for 0..10 as a one-row bar chart (a table, so it reads in any theme)."""
    if not probs:
        return []
    top = max(probs) or 1.0
    bars = [BARS[round(p / top * (len(BARS) - 1))] or " " for p in probs]
    return [
        table(
            [str(i) for i in range(len(probs))],
            [tuple(f"{b}<br>{p:.0%}" for b, p in zip(bars, probs, strict=True))],
        )
    ]


def _reflection(tree: Tree, node: Node) -> list[str]:
    r = node.reflection
    if r is None:
        return []
    head = f"is_end: **{r.is_end}** · parsed: {r.parsed}" + (f" · note: {text(r.note)}" if r.note else "")
    if r.is_end and not node.terminal:
        head += " · " + open_after_end(tree, node)
    analysis = f"**Analysis:** {text(r.analysis)}" if r.analysis else ""
    return [
        "#### Reflection",
        head,
        analysis,
        block("Reflection prompt", r.prompt),
        block("Raw reply", r.raw),
    ]


def open_after_end(tree: Tree, node: Node) -> str:
    """Why a path the reflection called complete was expanded all the same."""
    least = tree.config.end_gate_min_depth
    if node.depth < least:
        return (
            f"the reflection called the path complete, but it has {node.depth} step(s) and an answer needs "
            f"at least {least} (`end_gate_min_depth`), so the search expanded it as usual"
        )
    if execution_feedback(tree, node):
        return (
            "the reflection called the path complete, but its code failed a visible test, so the search "
            "expanded it with that failure to repair it"
        )
    return "the reflection called the path complete; a steering action (force or an added step) reopened it"


def _ucb(node: Node) -> list[str]:
    u = node.ucb
    if u is None:
        return []
    row = [_f(u.value), _f(u.explore), _f(u.bonus), _f(u.total), u.parent_visits, u.visits]
    return [
        f"#### Selection (UCB) at iteration {u.iteration}",
        table(["value", "explore", "bonus", "total", "parent visits", "visits"], [row]),
    ]


def _rollout(node: Node) -> list[str]:
    r = node.rollout
    if r is None:
        return []
    rows = [
        (text(c.step), "UNPARSED" if not c.critic.parsed else f"{c.critic.score:g}", _f(c.critic.value))
        for c in r.candidates
    ]
    return [
        f"#### Rollout (iteration {r.iteration})",
        f"best {_f(r.best)} · Q {_f(r.before)} → {_f(r.after)} · weight {r.weight:g}",
        table(["candidate", "score", "value"], rows) if rows else "_No usable candidate._",
        block("Rollout prompt", r.prompt),
    ]


def _history(node: Node) -> list[str]:
    if not node.history:
        return ["#### Backprop history", "_Never backed up._"]
    rows = [(h.iteration, _f(h.value, 4), h.visits) for h in node.history]
    return ["#### Backprop history", table(["iteration", "value", "visits"], rows)]


def _code(node: Node) -> list[str]:
    c = node.code
    if c is None:
        return []
    flags = f"source {code(c.source)} · truncated: **{c.truncated}**" + (
        f" · {text(c.note)}" if c.note else ""
    )
    if c.uploaded:
        flags += " · **uploaded**: shown only, never run here (the search writes this path's code afresh)"
    body = fence(c.code) if c.code else "_No code found in the reply._"
    return ["#### Code", flags, body, block("Code prompt", c.prompt), block("Raw reply", c.raw)]


def _execution(node: Node) -> list[str]:
    """Each part of the execution-grounded reward, and the hidden tests beside it."""
    ex = latest_run(node)
    if ex is None:
        return []
    rows = [
        (
            name,
            "none: the problem has no such tests" if v is None else f"{v.tests - v.failed}/{v.tests}",
            "" if v is None else _error_cell(v),
            "" if v is None else text(v.first_failure[:200]),
        )
        for name, v in _labelled(ex)
    ]
    leak = " · **⚠ LEAKY: the hidden tests are in this reward**" if ex.leaky else ""
    formula = reward_line(ex) + leak
    used = (
        "The search took this reward as the node's value."
        if ex.applied
        else "Checked by hand (or the direct program): shown only, the search does not use it."
    )
    return [
        "#### Tests and reward",
        formula,
        used,
        table(["tests", "passed", "error", "first failure"], rows),
    ]


def reward_line(ex: ExecutionRecord) -> str:
    """The reward with the numbers it is made of, so the line adds up as printed."""
    source = "hidden" if ex.leaky else "visible"
    verdict = ex.hidden if ex.leaky else ex.visible
    if verdict is None:
        return (
            f"**Reward** {_f(ex.reward)} = value {_f(ex.critic_value)} "
            f"(no {source} tests to run: the critic's value stands alone)"
        )
    passed = verdict.tests - verdict.failed
    detail = f"{passed}/{verdict.tests} passed" if verdict.tests else (verdict.error_kind or "no test ran")
    return (
        f"**Reward** {_f(ex.reward)} = (1 − {ex.weight:g}) × value {_f(ex.critic_value)} + "
        f"{ex.weight:g} × {source} pass rate {_f(verdict.pass_rate)} ({detail})"
    )


def _feedback(tree: Tree, node: Node) -> list[str]:
    """The failed visible test the search handed to this node's reflection and its children's proposals."""
    failure = execution_feedback(tree, node)
    if not failure:
        return []
    whose = "The direct program" if node.depth == 0 else "This path's code"
    return [
        "#### Execution feedback",
        f"{whose} failed a visible test: **{text(failure)}**. The search gives this to the reflection on "
        "this node and to the proposals of its children, so they can repair it.",
    ]


def _answer(tree: Tree, node: Node) -> list[str]:
    """How the answer was chosen by running the passing programs, on each candidate it was chosen from."""
    choice = chosen_answer(tree)
    if choice is None or node.id not in choice.get("candidates", []):
        return []
    inputs = choice["inputs"]
    verdict = (
        "**This node is the answer.**"
        if node.id == choice["chosen"]
        else f"The answer is #{choice['chosen']}."
    )
    rows = [
        (
            f"**#{c}** (chosen)" if c == choice["chosen"] else f"#{c}",
            *(text(str(o)) if o is not None else "not run" for o in choice["outputs"][str(c)]),
        )
        for c in choice["candidates"]
    ]
    return [
        "#### Answer chosen by running the candidates",
        f"{verdict} {text(choice['reason'])}. The model wrote the inputs; only agreement counts, not its "
        "expected values.",
        table(["candidate", *(code(i) for i in inputs)], rows)
        if inputs
        else "_The model wrote no usable input._",
    ]


def _error_cell(v: VerdictSummary) -> str:
    """The run's error, else the exception the first failing test raised (TypeError, AssertionError...)."""
    if v.error_kind:
        return v.error_kind
    if v.first_error:
        return text(v.first_error)
    return "—" if v.passed else "failed"


def _labelled(ex: ExecutionRecord) -> list[tuple[str, VerdictSummary | None]]:
    """Which tests entered the reward: the visible ones, or in a leaky run the hidden ones."""
    if ex.leaky:
        return [("visible (shown only)", ex.visible), ("hidden (IN the reward: leaky run)", ex.hidden)]
    return [("visible (in the reward)", ex.visible), ("hidden (never in the reward)", ex.hidden)]


def execution_summary(node: Node) -> str:
    """The reward breakdown alone, for the panel that runs a node's code."""
    parts = _execution(node) + _code(node)[:3]
    return "\n\n".join(parts) if parts else "_No code has been run for this node._"


def _calls(node: Node) -> list[str]:
    rows: list[tuple[str, object, str]] = []
    for name, rec in (
        ("critic", node.critic),
        ("reflection", node.reflection),
        ("expansion of its children", node.expansion),
    ):
        if rec is not None:
            rows.append((name, rec.tokens, f"{rec.latency_s:.3f} s"))
    if node.rollout is not None:
        for i, c in enumerate(node.rollout.candidates):
            rows.append((f"rollout critic {i + 1}", c.critic.tokens, f"{c.critic.latency_s:.3f} s"))
    if node.code is not None:
        rows.append(("code", node.code.tokens, f"{node.code.latency_s:.3f} s"))
    return ["#### LLM calls", table(["call", "tokens", "latency"], rows)] if rows else []


def inspect_node(tree: Tree, node_id: int) -> str:
    """Markdown for one node (a ``KeyError`` names a missing id)."""
    node = tree.node(node_id)
    parts = [
        *_header(tree, node),
        *_proposal(tree, node),
        *_critic(node),
        *_reflection(tree, node),
        *_ucb(node),
        *_rollout(node),
        *_history(node),
        *_code(node),
        *_execution(node),
        *_feedback(tree, node),
        *_answer(tree, node),
        *_calls(node),
    ]
    return "\n\n".join(p for p in parts if p) + "\n"


def node_choices(tree: Tree) -> list[tuple[str, int]]:
    """Dropdown entries, by id: ``("#12 · d2 · Q=0.71 · <first 50 chars of step>", 12)``."""
    out = []
    for node in sorted(tree.nodes.values(), key=lambda n: n.id):
        step = node.step or "(problem)"
        short = step if len(step) <= 50 else step[:50].rstrip() + "…"
        out.append((f"#{node.id} · d{node.depth} · Q={node.value:.2f} · {short}", node.id))
    return out

"""The paper's table from an experiment's state: one row per model, the base first.

Columns: greedy pass@1 on the eval problems' hidden tests with a 95% interval (a bootstrap over
problems); pass@1 and pass@k of the sampled evaluation (when the spec samples); the records the
adapter trained on (before and after the filter), the tokens spent making them, the wall time of
the row's stages; and each data row against the base and against the +CoT row with the same filter:
problems won and lost, McNemar's exact p of greedy pass@1 paired per problem, and a paired bootstrap
95% interval of the difference. An experiment run with ``force_overlap`` says so in every export.

Example::

    rows = table_rows(state, store)
    print(to_markdown(rows, state))      # | model | pass@1 [95% CI] | ... |
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from core.evaluation.intervals import bootstrap_mean, paired_bootstrap
from core.evaluation.paired import mcnemar_exact
from core.evaluation.passk import pass_at_k
from core.evaluation.tables import EvalTables
from core.experiments.run import BASE, ExperimentState
from core.experiments.spec import ExperimentSpec
from core.store.runs import Store


@dataclass(frozen=True)
class Versus:
    """One row against a reference row on the problems both were judged on (greedy pass@1)."""

    against: str  # the reference row's key
    wins: int  # problems this row solves and the reference does not
    losses: int
    p: float  # McNemar exact, two-sided
    delta: float  # pass@1 difference, this row minus the reference
    delta_ci: tuple[float, float]  # paired bootstrap 95% interval of ``delta``


@dataclass(frozen=True)
class Row:
    key: str  # "base" or the method's key
    label: str
    pass1: float | None  # greedy pass@1 on hidden tests
    pass1_ci: tuple[float, float] | None  # its 95% interval, a bootstrap over problems
    sampled_pass1: float | None  # pass@1 of the sampled evaluation (mean of c / n)
    passk: float | None  # pass@k of the sampled evaluation (None when the spec does not sample)
    records_before: int | None  # generated records (None for the base)
    records: int | None  # trained on, after the filter
    tokens: int | None  # completion tokens spent making the data
    seconds: float  # data + filter + training + evaluation of this row
    vs_base: Versus | None = None
    vs_cot: Versus | None = None  # against +CoT data with the same filter (data rows other than CoT's)
    eval_ids: tuple[int, ...] = ()
    note: str = ""

    @property
    def p_vs_base(self) -> float | None:
        return self.vs_base.p if self.vs_base else None


def table_rows(state: ExperimentState, store: Store) -> list[Row]:
    spec = ExperimentSpec.from_dict(state.spec)
    tables = EvalTables(store)
    outcomes = {BASE: _greedy_outcomes(state, BASE, tables)}
    for m in spec.methods:
        outcomes[m.key] = _greedy_outcomes(state, m.key, tables)
    rows = [_row(state, BASE, "base model", tables, outcomes, spec)]
    for method in spec.methods:
        rows.append(_row(state, method.key, method.label, tables, outcomes, spec))
    return rows


def cot_reference(spec: ExperimentSpec, key: str) -> str | None:
    """The +CoT row a data row is compared with: CoT data under the same filter, else unfiltered CoT."""
    method = next((m for m in spec.methods if m.key == key), None)
    if method is None or method.kind == "cot":
        return None
    cots = {m.filter: m.key for m in spec.methods if m.kind == "cot"}
    return cots.get(method.filter) or cots.get("none")


def _greedy_outcomes(state: ExperimentState, key: str, tables: EvalTables) -> dict[str, bool] | None:
    ids = state.stages.get(f"eval:{key}", {}).get("eval_ids", {})
    if "greedy" not in ids:
        return None
    return {r.problem_id: r.passed > 0 for r in tables.eval_results(ids["greedy"])}


def versus(
    against: str, mine: dict[str, bool] | None, theirs: dict[str, bool] | None, seed: int = 0
) -> Versus | None:
    if mine is None or theirs is None:
        return None
    problems = sorted(set(mine) & set(theirs))
    if not problems:
        return None
    a, b = [mine[q] for q in problems], [theirs[q] for q in problems]
    paired = mcnemar_exact(a, b)
    delta = (sum(a) - sum(b)) / len(problems)
    return Versus(
        against, paired.a_only, paired.b_only, paired.p_value, delta, paired_bootstrap(a, b, seed=seed)
    )


def _row(
    state: ExperimentState,
    key: str,
    label: str,
    tables: EvalTables,
    outcomes: dict[str, dict[str, bool] | None],
    spec: ExperimentSpec,
) -> Row:
    stages = state.stages
    ev = stages.get(f"eval:{key}", {})
    ids = ev.get("eval_ids", {})
    mine = outcomes.get(key)
    pass1 = sum(mine.values()) / len(mine) if mine else None
    pass1_ci = bootstrap_mean([float(v) for v in mine.values()], seed=spec.seed) if mine else None
    sampled = passk = None
    if "sampled" in ids:
        results = tables.eval_results(ids["sampled"])
        if results:
            sampled = sum(pass_at_k(r.samples, r.passed, 1) for r in results) / len(results)
            passk = sum(pass_at_k(r.samples, r.passed, spec.k) for r in results) / len(results)
    vs_base = vs_cot = None
    if key != BASE:
        vs_base = versus(BASE, mine, outcomes.get(BASE), spec.seed)
        cot = cot_reference(spec, key)
        vs_cot = versus(cot, mine, outcomes.get(cot), spec.seed) if cot else None
    # The evaluations' own clocks: a stage resumed in another process or session counts every part.
    seconds = tables.seconds(ids.values()) if ids else float(ev.get("seconds", 0.0))
    before = records = tokens = None
    note = ev.get("note", "")
    if key != BASE:
        method = next(m for m in spec.methods if m.key == key)
        data = stages.get(f"data:{method.data_key}", {})
        chosen = stages.get(f"filter:{key}", {})
        train = stages.get(f"train:{key}", {})
        before, records, tokens = chosen.get("before"), chosen.get("after"), data.get("tokens")
        seconds += sum(float(s.get("seconds", 0.0)) for s in (data, chosen, train))
        note = note or train.get("note", "")
    return Row(
        key,
        label,
        pass1,
        pass1_ci,
        sampled,
        passk,
        before,
        records,
        tokens,
        round(seconds, 1),
        vs_base,
        vs_cot,
        tuple(ids.values()),
        note,
    )


HEADER = [
    "model",
    "pass@1 greedy [95% CI]",
    "pass@1 sampled",
    "pass@k",
    "records (kept/made)",
    "tokens",
    "wall s",
    "vs base: +won/−lost, p, Δ [95% CI]",
    "vs +CoT: +won/−lost, p, Δ [95% CI]",
]


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}"


def _versus_cell(v: Versus | None) -> str:
    if v is None:
        return "—"
    lo, hi = v.delta_ci
    return f"+{v.wins}/−{v.losses}, p = {v.p:.3g}, {100 * v.delta:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"


def cells(row: Row) -> list[str]:
    kept = "—" if row.records is None else f"{row.records}/{row.records_before}"
    label = row.label + (f" ({row.note})" if row.note else "")
    pass1 = _pct(row.pass1)
    if row.pass1_ci is not None:
        pass1 += f" [{_pct(row.pass1_ci[0])}, {_pct(row.pass1_ci[1])}]"
    return [
        label,
        pass1,
        _pct(row.sampled_pass1),
        _pct(row.passk),
        kept,
        "—" if row.tokens is None else str(row.tokens),
        f"{row.seconds:.0f}",
        _versus_cell(row.vs_base),
        _versus_cell(row.vs_cot),
    ]


def header(spec: ExperimentSpec) -> list[str]:
    n = f" (n = {spec.samples}, T = {spec.temperature:g})" if spec.samples > 1 else " (not sampled)"
    return [h.replace("pass@1 sampled", "pass@1" + n).replace("pass@k", f"pass@{spec.k}" + n) for h in HEADER]


def to_markdown(rows: list[Row], state: ExperimentState) -> str:
    spec = ExperimentSpec.from_dict(state.spec)
    head = header(spec)
    lines = [
        f"Experiment `{spec.name}` ({state.status}): model {spec.model}, train {spec.train} "
        f"({len(spec.train_ids())} problems), eval {spec.eval} ({len(spec.eval_ids())} problems), "
        f"fine-tune preset {spec.finetune_preset}, seed {spec.seed}; pass rates in % on hidden tests. "
        "Δ: pass@1 greedy difference in points, paired per problem.",
    ]
    if spec.force_overlap:
        lines.append(f"**WARNING: train and eval overlap ({len(spec.overlap())} problems): forced.**")
    lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cells(r)) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def to_csv(rows: list[Row], state: ExperimentState) -> str:
    spec = ExperimentSpec.from_dict(state.spec)
    buf = io.StringIO()
    writer = csv.writer(buf)
    versus_columns = ["wins", "losses", "p", "delta", "delta_lo", "delta_hi"]
    writer.writerow(
        [
            "key",
            "model",
            "pass@1",
            "pass@1_lo",
            "pass@1_hi",
            "pass@1_sampled",
            f"pass@{spec.k}",
            "records_made",
            "records_kept",
            "tokens",
            "wall_s",
            *[f"{c}_vs_base" for c in versus_columns],
            "cot_row",
            *[f"{c}_vs_cot" for c in versus_columns],
            "overlap_forced",
        ]
    )
    for r in rows:
        lo, hi = r.pass1_ci or (None, None)
        writer.writerow(
            [
                r.key,
                r.label,
                r.pass1,
                lo,
                hi,
                r.sampled_pass1,
                r.passk,
                r.records_before,
                r.records,
                r.tokens,
                r.seconds,
                *_versus_values(r.vs_base),
                r.vs_cot.against if r.vs_cot else None,
                *_versus_values(r.vs_cot),
                spec.force_overlap,
            ]
        )
    return buf.getvalue()


def _versus_values(v: Versus | None) -> list[object]:
    if v is None:
        return [None] * 6
    return [v.wins, v.losses, v.p, v.delta, v.delta_ci[0], v.delta_ci[1]]

"""The paper's table from an experiment's state: one row per model, the base first.

Columns: greedy pass@1 on the eval problems' hidden tests, pass@k (when the spec samples), the
records the adapter trained on (before and after the filter), the tokens spent making them, the
wall time of the row's stages, and McNemar's exact p of its pass@1 against the base's, paired per
problem. An experiment run with ``force_overlap`` says so in every export.

Example::

    rows = table_rows(state, store)
    print(to_markdown(rows, state))      # | model | pass@1 | ... |
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from core.evaluation.paired import mcnemar_exact
from core.evaluation.passk import pass_at_k
from core.evaluation.tables import EvalTables
from core.experiments.run import BASE, ExperimentState
from core.experiments.spec import ExperimentSpec
from core.store.runs import Store


@dataclass(frozen=True)
class Row:
    key: str  # "base" or the method's key
    label: str
    pass1: float | None  # greedy pass@1 on hidden tests
    passk: float | None  # pass@k of the sampled evaluation (None when the spec does not sample)
    records_before: int | None  # generated records (None for the base)
    records: int | None  # trained on, after the filter
    tokens: int | None  # completion tokens spent making the data
    seconds: float  # data + filter + training + evaluation of this row
    p_vs_base: float | None  # McNemar exact p, greedy pass@1 against the base, paired per problem
    wins: int = 0  # problems this row solves and the base does not
    losses: int = 0
    eval_ids: tuple[int, ...] = ()
    note: str = ""


def table_rows(state: ExperimentState, store: Store) -> list[Row]:
    spec = ExperimentSpec.from_dict(state.spec)
    tables = EvalTables(store)
    base_outcomes = _greedy_outcomes(state, BASE, tables)
    rows = [_row(state, BASE, "base model", tables, base_outcomes, spec)]
    for method in spec.methods:
        rows.append(_row(state, method.key, method.label, tables, base_outcomes, spec))
    return rows


def _greedy_outcomes(state: ExperimentState, key: str, tables: EvalTables) -> dict[str, bool] | None:
    ids = state.stages.get(f"eval:{key}", {}).get("eval_ids", {})
    if "greedy" not in ids:
        return None
    return {r.problem_id: r.passed > 0 for r in tables.eval_results(ids["greedy"])}


def _row(
    state: ExperimentState,
    key: str,
    label: str,
    tables: EvalTables,
    base: dict[str, bool] | None,
    spec: ExperimentSpec,
) -> Row:
    stages = state.stages
    ev = stages.get(f"eval:{key}", {})
    ids = ev.get("eval_ids", {})
    outcomes = _greedy_outcomes(state, key, tables)
    pass1 = sum(outcomes.values()) / len(outcomes) if outcomes else None
    passk = None
    if "sampled" in ids:
        results = tables.eval_results(ids["sampled"])
        passk = (
            sum(pass_at_k(r.samples, r.passed, spec.k) for r in results) / len(results) if results else None
        )
    p = wins = losses = None
    if key != BASE and outcomes is not None and base is not None:
        problems = sorted(set(outcomes) & set(base))
        paired = mcnemar_exact([outcomes[q] for q in problems], [base[q] for q in problems])
        p, wins, losses = paired.p_value, paired.a_only, paired.b_only
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
        passk,
        before,
        records,
        tokens,
        round(seconds, 1),
        p,
        wins or 0,
        losses or 0,
        tuple(ids.values()),
        note,
    )


HEADER = ["model", "pass@1", "pass@k", "records (kept/made)", "tokens", "wall s", "vs base (wins/losses, p)"]


def _cells(row: Row, k: int) -> list[str]:
    def pct(x: float | None) -> str:
        return "—" if x is None else f"{100 * x:.1f}"

    kept = "—" if row.records is None else f"{row.records}/{row.records_before}"
    versus = "—" if row.p_vs_base is None else f"+{row.wins}/−{row.losses}, p = {row.p_vs_base:.3g}"
    label = row.label + (f" ({row.note})" if row.note else "")
    return [
        label,
        pct(row.pass1),
        pct(row.passk),
        kept,
        "—" if row.tokens is None else str(row.tokens),
        f"{row.seconds:.0f}",
        versus,
    ]


def to_markdown(rows: list[Row], state: ExperimentState) -> str:
    spec = ExperimentSpec.from_dict(state.spec)
    sampled = f"pass@{spec.k} (n = {spec.samples})" if spec.samples > 1 else "pass@k (not sampled)"
    header = [h.replace("pass@k", sampled) for h in HEADER]
    lines = [
        f"Experiment `{spec.name}` ({state.status}): model {spec.model}, train {spec.train} "
        f"({len(spec.train_ids())} problems), eval {spec.eval} ({len(spec.eval_ids())} problems), "
        f"fine-tune preset {spec.finetune_preset}, seed {spec.seed}; pass rates in % on hidden tests.",
    ]
    if spec.force_overlap:
        lines.append(f"**WARNING: train and eval overlap ({len(spec.overlap())} problems): forced.**")
    lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cells(r, spec.k)) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def to_csv(rows: list[Row], state: ExperimentState) -> str:
    spec = ExperimentSpec.from_dict(state.spec)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(
        [
            "key",
            "model",
            "pass@1",
            f"pass@{spec.k}",
            "records_made",
            "records_kept",
            "tokens",
            "wall_s",
            "wins",
            "losses",
            "p_vs_base",
            "overlap_forced",
        ]
    )
    for r in rows:
        writer.writerow(
            [
                r.key,
                r.label,
                r.pass1,
                r.passk,
                r.records_before,
                r.records,
                r.tokens,
                r.seconds,
                r.wins,
                r.losses,
                r.p_vs_base,
                spec.force_overlap,
            ]
        )
    return buf.getvalue()

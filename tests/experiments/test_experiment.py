"""The experiment on the scripted model: spec checks, every stage, the table, and a resume mid-training."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from core.evaluation.tables import EvalTables
from core.experiments.run import ExperimentRun, passes_tests, sampled_batch
from core.experiments.spec import PRESETS, ExperimentError, ExperimentSpec
from core.experiments.table import table_rows, to_csv, to_markdown
from core.store.runs import Store
from core.training.jobs import JobStatus
from tests.scripted import ScriptedBackend

SPEC = {
    "name": "t1",
    "train": "HumanEval/0-1",
    "eval": "HumanEval/2-3",
    "methods": [
        {"kind": "cot"},
        {"kind": "sra-mcts", "preset": "quick demo", "iterations": 2},
        {"kind": "cot", "filter": "tests"},
    ],
}
PLAN = "1. Sort the numbers first.\n2. Compare each pair of neighbours.\n3. Return whether any gap is small."


class FakeJobs:
    """Training as a test double: a job 'runs' until ``release`` is set, then registers its adapter."""

    def __init__(self, hold: bool = False) -> None:
        self.started: list[str] = []
        self.configs: dict[str, object] = {}
        self.release = threading.Event()
        if not hold:
            self.release.set()

    def start(self, cfg) -> str:
        job_id = f"job{len(self.started)}"
        self.started.append(job_id)
        self.configs[job_id] = cfg
        return job_id

    def status(self, job_id: str) -> JobStatus:
        cfg = self.configs[job_id]
        done = self.release.is_set()
        return JobStatus(
            job_id,
            "finished" if done else "running",
            4 if done else 1,
            4,
            1.0,
            [(1, 2.5), (2, 2.0), (3, 1.75), (4, 1.5)] if done else [(1, 2.5)],
            1.0,
            None,
            "",
            cfg.adapter_name if done else None,
            [],
            cfg.to_dict(),
        )

    def wait(self, job_id: str, timeout_s: float) -> JobStatus:
        self.release.wait(min(timeout_s, 0.05))
        return self.status(job_id)

    def stop(self, job_id: str) -> JobStatus:
        return self.status(job_id)


def scripted(adapter: str | None) -> ScriptedBackend:
    backend = ScriptedBackend(proposals=[[PLAN]] * 50)
    backend.adapter = adapter
    return backend


def make(tmp_path: Path, jobs: FakeJobs, spec: dict | None = None, **kw) -> tuple[ExperimentRun, list]:
    made: list[ScriptedBackend] = []

    def backend_for(adapter):
        made.append(scripted(adapter))
        return made[-1]

    run = ExperimentRun(
        ExperimentSpec.from_dict(spec or SPEC),
        tmp_path / "exp",
        Store(tmp_path / "s.db"),
        backend_for,
        jobs=jobs,
        **kw,
    )
    return run, made


def test_every_stage_runs_and_the_table_has_every_row(tmp_path):
    jobs = FakeJobs()
    seen = []
    run, made = make(tmp_path, jobs, progress=seen.append)
    state = run.run()
    assert state.status == "finished", state.message
    assert list(state.stages) == run.stages()
    cot = state.stages["filter:cot"]
    assert cot["before"] == 2 and cot["after"] == 2  # one record per train problem
    assert state.stages["filter:cot+tests"]["after"] == 0  # the scripted code fails every test
    assert state.stages["train:cot+tests"]["adapter"] is None
    records = [json.loads(x) for x in (run.folder / cot["path"]).read_text().splitlines()]
    assert records[0]["messages"][-1]["content"].startswith("1. Sort the numbers first.")
    assert len(jobs.started) == 2  # cot and sra-mcts; the empty filtered set trains nothing
    assert state.stages["train:cot"]["losses"] == [[1, 2.5], [2, 2.0], [3, 1.75], [4, 1.5]]
    rows = table_rows(state, run.store)
    assert [r.key for r in rows] == ["base", "cot", "sra-mcts.quick-demo.2it", "cot+tests"]
    assert all(r.pass1 == 0.0 for r in rows[:3]) and rows[3].pass1 is None
    assert rows[1].p_vs_base == 1.0 and rows[1].records == 2 and rows[1].tokens > 0
    assert rows[0].pass1_ci == (0.0, 0.0) and rows[0].vs_base is None and rows[0].vs_cot is None
    assert rows[2].vs_cot is not None and rows[2].vs_cot.against == "cot" and rows[1].vs_cot is None
    assert rows[2].vs_cot.delta_ci == (0.0, 0.0) and rows[3].vs_base is None  # no adapter: not judged
    md = to_markdown(rows, state)
    assert "| base model |" in md and "+CoT data" in md and "WARNING" not in md
    assert "records_kept" in to_csv(rows, state)
    stages = {p.stage for p in seen}
    assert stages == set(run.stages()) and all(p.stages == len(run.stages()) for p in seen)


def test_stopped_mid_training_resumes_without_redoing_finished_stages(tmp_path):
    jobs = FakeJobs(hold=True)
    stop = threading.Event()
    run, made = make(tmp_path, jobs, stop=stop, progress=lambda p: p.stage.startswith("train") and stop.set())
    state = run.run()
    assert state.status == "stopped" and "training" in state.message
    done = set(state.stages)
    assert {s for s in run.stages() if s.startswith(("data:", "filter:"))} <= done
    assert not any(s.startswith("train:") for s in done) and len(jobs.started) == 1
    calls_before = sum(len(b.calls) for b in made)

    jobs.release.set()  # the job the first run started finishes while nobody watches
    seen = []
    again, made2 = make(tmp_path, jobs, progress=seen.append)
    state = again.run()
    assert state.status == "finished"
    assert not {p.stage for p in seen} & done, "a finished stage ran again"
    assert jobs.started == ["job0", "job1"]  # job0 was waited for, not started again
    assert not any(c[0].tag in ("propose", "critic") for b in made2 for c in b.calls)  # no data redone
    assert calls_before > 0


def test_killed_mid_evaluation_in_a_moved_folder_goes_on_with_the_same_evaluation(tmp_path):
    """The paper-sized run spans sessions: its folder comes back in another checkout, killed mid-eval."""
    spec = {**SPEC, "methods": [{"kind": "cot"}], "samples": 2, "k": 2}

    class Killed(Exception):
        pass

    def kill_in_sampled_base(p):
        if p.stage == "eval:base" and p.note.startswith("sampled"):
            raise Killed

    run, _ = make(tmp_path, FakeJobs(), spec, progress=kill_in_sampled_base)
    with pytest.raises(Killed):
        run.run()
    first = dict(run.state.evals)
    assert set(first) == {"eval:base/greedy", "eval:base/sampled"}
    assert "eval:base" not in run.state.stages
    # The killed session had spent 1000 s on the base's greedy evaluation: its wall time must still count.
    with run.store.conn:
        run.store.conn.execute("UPDATE evals SET seconds = 1000 WHERE id = ?", (first["eval:base/greedy"],))

    moved = tmp_path / "elsewhere" / "exp"
    moved.parent.mkdir()
    (tmp_path / "exp").rename(moved)
    again = ExperimentRun(ExperimentSpec.from_dict(spec), moved, run.store, scripted, jobs=FakeJobs())
    state = again.run()
    assert state.status == "finished", state.message
    assert {k: state.evals[k] for k in first} == first  # the same stored evaluations, not new ones
    evals = EvalTables(run.store).evals()
    assert len(evals) == 4 and all(e.status == "finished" for e in evals)  # base and +CoT, greedy and sampled
    assert (moved / state.stages["filter:cot"]["path"]).exists()
    sampled = next(e for e in evals if e.id == first["eval:base/sampled"])
    assert sampled.spec["batch"] == sampled_batch(2) == 10  # about 20 rows a call, not 8 problems x n
    assert state.stages["eval:base"]["machine"] and state.stages["data:cot"]["machine"]
    assert state.stages["eval:base"]["seconds"] >= 1000
    assert table_rows(state, run.store)[0].seconds == pytest.approx(
        state.stages["eval:base"]["seconds"], abs=0.1
    )
    state.stages["eval:base"]["seconds"] = 5.0  # a state whose stage clock saw the last run only (older code)
    assert table_rows(state, run.store)[0].seconds >= 1000  # the table reads the evaluations' own clocks


def test_overlap_is_refused_and_flagged_when_forced(tmp_path):
    spec = {**SPEC, "eval": "HumanEval/1-2"}
    with pytest.raises(ExperimentError, match="share 1 problem"):
        ExperimentSpec.from_dict(spec)
    forced = ExperimentSpec.from_dict({**spec, "force_overlap": True})
    assert forced.overlap() == ["HumanEval/1"]
    run, _ = make(tmp_path, FakeJobs(), spec={**spec, "force_overlap": True, "methods": [{"kind": "cot"}]})
    state = run.run()
    rows = table_rows(state, run.store)
    assert "WARNING: train and eval overlap (1 problems)" in to_markdown(rows, state)
    assert to_csv(rows, state).splitlines()[1].endswith(",True")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"name": "a b"}, "name"),
        ({"methods": []}, "at least one"),
        ({"methods": [{"kind": "beam"}]}, "kind must be one of"),
        ({"methods": [{"kind": "cot", "filter": "hidden"}]}, "filter must be one of"),
        ({"methods": ["cot", "cot"]}, "listed twice"),
        ({"finetune_preset": "huge"}, "finetune_preset"),
        ({"finetune": {"dataset": "/etc/passwd"}}, "set by the experiment"),
        ({"samples": 2, "k": 5}, "pass@5 needs samples"),
        ({"train": "HumanEval/0-999"}, "train:"),
        ({"extra": 1}, "unknown field"),
        ({"methods": [{"kind": "sra-mcts", "search": {"seed": 2}}]}, "seed"),
        ({"methods": [{"kind": "sra-mcts", "search": {"no_such_knob": 2}}]}, "no_such_knob"),
        ({"methods": [{"kind": "cot", "search": {"k": 2}}]}, "not cot"),
        ({"reuse_trees": 3}, "reuse_trees"),
    ],
)
def test_bad_specs_get_one_line_naming_the_field(change, message):
    with pytest.raises(ExperimentError, match=message):
        ExperimentSpec.from_dict({**SPEC, **change})


def test_the_presets_are_valid_specs():
    for name, values in PRESETS.items():
        ExperimentSpec.from_dict({"name": name.replace(" ", "-"), **values})


def test_a_changed_spec_under_the_same_name_is_refused(tmp_path):
    run, _ = make(tmp_path, FakeJobs(), spec={**SPEC, "methods": [{"kind": "cot"}]})
    run.run()
    with pytest.raises(ExperimentError, match="other settings"):
        make(tmp_path, FakeJobs(), spec={**SPEC, "methods": [{"kind": "cot"}], "seed": 3})


@pytest.mark.parametrize(
    "meta, kept",
    [
        ({"hidden_passed": True, "visible_pass_rate": 1.0}, True),
        ({"hidden_passed": True, "visible_pass_rate": 0.5}, False),
        ({"hidden_passed": False, "visible_pass_rate": 1.0}, False),
        ({"hidden_passed": None, "visible_pass_rate": None}, False),
        ({"hidden_passed": None, "visible_pass_rate": 1.0}, True),
    ],
)
def test_the_tests_filter(meta, kept):
    assert passes_tests(meta) is kept


def test_a_one_shot_plan_is_one_stored_path_that_loads_again(tmp_path):
    from core.config import preset
    from core.problems.problem import get_problem
    from core.search.mcts import Search
    from core.search.one_shot import OneShotError, one_shot
    from core.tree.files import parse_tree

    search = Search.start(get_problem("HumanEval/0"), preset("paper defaults"), scripted(None))
    leaf = one_shot(search)
    tree = search.tree
    assert tree.steps(leaf.id) == [
        "Sort the numbers first.",
        "Compare each pair of neighbours.",
        "Return whether any gap is small.",
    ]
    assert leaf.terminal_reason == "one_shot" and tree.stopped == "one_shot" and leaf.code is not None
    assert [c[0].tag for c in search.backend.calls] == ["propose", "code"]  # no critic, no search
    again = parse_tree(tree.to_json().encode())
    assert again.steps(leaf.id) == tree.steps(leaf.id) and not search.can_continue()
    with pytest.raises(OneShotError, match="empty tree"):
        one_shot(search)
    empty = Search.start(
        get_problem("HumanEval/0"), preset("paper defaults"), ScriptedBackend(proposals=[["```python"]] * 3)
    )
    with pytest.raises(OneShotError, match="no usable plan"):
        one_shot(empty)
    assert len(empty.tree.nodes) == 1  # nothing half-made


def test_an_unusable_greedy_plan_is_sampled_again():
    from core.config import preset
    from core.problems.problem import get_problem
    from core.search.mcts import Search
    from core.search.one_shot import one_shot

    backend = ScriptedBackend(proposals=[["```python"], [PLAN]])
    search = Search.start(get_problem("HumanEval/0"), preset("paper defaults"), backend)
    leaf = one_shot(search)
    plans = [c[0] for c in backend.calls_with("propose")]
    assert len(plans) == 2 and plans[0].temperature == 0.0 and plans[1].temperature > 0
    assert len(search.tree.steps(leaf.id)) == 3


THE_135M_TABLE = {  # bench/paper_table.json as the 135M experiment ran it (digest fa2648357e6a)
    "name": "paper-table",
    "model": "embedded",
    "train": "HumanEval/0-81",
    "eval": "HumanEval/82-163",
    "methods": [
        {"kind": "cot"},
        {"kind": "cot", "filter": "tests"},
        {"kind": "sra-mcts", "preset": "paper defaults"},
        {"kind": "sra-mcts", "preset": "paper defaults", "filter": "tests"},
    ],
    "finetune_preset": "CPU quick",
    "seed": 0,
    "samples": 10,
    "k": 10,
    "temperature": 0.8,
    "max_tokens": 384,
}


def test_fields_added_later_leave_an_older_experiments_digest_alone():
    assert ExperimentSpec.from_dict(THE_135M_TABLE).digest() == "fa2648357e6a"
    tuned = {**THE_135M_TABLE, "methods": [{"kind": "sra-mcts", "search": {"code_max_tokens": 384}}]}
    plain = {**THE_135M_TABLE, "methods": [{"kind": "sra-mcts"}]}
    assert ExperimentSpec.from_dict(tuned).digest() != ExperimentSpec.from_dict(plain).digest()
    assert ExperimentSpec.from_dict({**plain, "reuse_trees": "x.db"}).digest() != (
        ExperimentSpec.from_dict(plain).digest()
    )
    [method] = ExperimentSpec.from_dict(tuned).methods
    assert (
        method.data_key.startswith("sra-mcts.paper-defaults.")
        and method.data_key != "sra-mcts.paper-defaults"
    )


def test_a_method_takes_the_trees_a_benchmark_made_with_its_config_instead_of_searching(tmp_path):
    from core.generation.run import GenerateSpec, generate

    method = {"kind": "sra-mcts", "preset": "quick demo", "iterations": 2, "search": {"code_max_tokens": 200}}
    bench = tmp_path / "bench.db"
    made = GenerateSpec(
        "HumanEval/0-1",
        tmp_path / "bench-out",
        preset="quick demo",
        iterations=2,
        search={"code_max_tokens": 200},
        check=False,
    )
    assert generate(made, scripted(None), Store(bench)).done == 2
    run, backends = make(tmp_path, FakeJobs(), spec={**SPEC, "methods": [method], "reuse_trees": str(bench)})
    state = run.run()
    assert state.status == "finished", state.message
    data = state.stages[f"data:{run.spec.methods[0].data_key}"]
    assert data["reused"] == 2 and data["records"] == 2 and data["tokens"] > 0
    assert not backends[0].calls_with("propose")  # the base model proposed nothing: the trees were taken


def test_each_data_row_is_compared_with_cot_data_under_the_same_filter():
    from core.experiments.table import cot_reference

    spec = ExperimentSpec.from_dict(
        {
            **SPEC,
            "methods": [
                "cot",
                {"kind": "cot", "filter": "tests"},
                {"kind": "sra-mcts"},
                {"kind": "sra-mcts", "filter": "tests"},
            ],
        }
    )
    refs = {m.key: cot_reference(spec, m.key) for m in spec.methods}
    assert refs == {
        "cot": None,
        "cot+tests": None,
        "sra-mcts.paper-defaults": "cot",
        "sra-mcts.paper-defaults+tests": "cot+tests",
    }
    only_cot = ExperimentSpec.from_dict({**SPEC, "methods": ["cot", {"kind": "sra-mcts", "filter": "tests"}]})
    assert cot_reference(only_cot, "sra-mcts.paper-defaults+tests") == "cot"


def test_versus_counts_wins_and_losses_and_gives_a_paired_interval_of_the_difference():
    from core.experiments.table import versus

    mine = {f"p{i}": i < 30 for i in range(40)}
    theirs = {f"p{i}": i < 20 for i in range(40)}
    v = versus("base", mine, theirs)
    assert (v.wins, v.losses, v.delta) == (10, 0, 0.25) and v.p < 0.01
    assert 0 < v.delta_ci[0] < 0.25 < v.delta_ci[1] <= 0.5
    assert versus("base", mine, None) is None

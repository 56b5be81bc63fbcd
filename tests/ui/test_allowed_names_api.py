"""Paths from clients are names from the studio's own lists (issue 15).

A dataset is one of the studio's exports, an adapter one of its registered adapters, a base model one
the operator allows; files come only as uploads. Through the API, ``/etc/passwd``, ``../`` tricks
and absolute paths are refused by name with one clear line, and nothing is read: each planted file
holds a marker that must never come back. The names in the lists still work.
"""

from __future__ import annotations

import json

import httpx
import pytest
from gradio_client import Client

from core.backends.adapters import META_FILE, PEFT_FILE
from core.config import SearchConfig
from core.evaluation.tables import EvalTables
from core.problems.problem import custom_problem
from core.search.mcts import Search
from core.store.runs import Store
from tests.finetune_data import write_sft_export
from tests.scripted import ScriptedBackend
from ui import finetune_actions as ft
from ui.app import build_app
from ui.context import StudioContext
from ui.search_tab import pick_problem as prompt_of
from ui.sessions import BackendPool

MARKER = "MARKER-7f3c-never-sent"
KNOBS = ["paper defaults", 2, 3, 0.5, 0.7, 0, 1, '{"end_gate": 1.0}']  # the adapter follows
PROBLEM = ["HumanEval/0", prompt_of("HumanEval/0"), ""]  # picker, text, tests
EVAL_FORM = ["HumanEval/0-1", "", "greedy", 1, 0.0, "1", 2, "quick demo"]


def plant_adapter(folder, name: str) -> None:
    folder.mkdir(parents=True)
    meta = {
        "name": name, "base_model": "embedded", "dataset": MARKER, "dataset_hash": MARKER, "records": 1,
        "problems": [MARKER], "config": {}, "created_at": 1.0, "job_id": None, "state": "finished",
    }  # fmt: skip
    (folder / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    (folder / PEFT_FILE).write_text(json.dumps({"note": MARKER}), encoding="utf-8")


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    root = tmp_path_factory.mktemp("names")
    data = root / "data"
    write_sft_export(data / "exports" / "demo", records=4)
    secret = root / "secret"  # beside the data folder: everything here holds the marker
    secret.mkdir()
    record = {"messages": [{"role": "user", "content": MARKER}, {"role": "assistant", "content": MARKER}]}
    (secret / "sft.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    (secret / "model").mkdir()
    (secret / "model" / "config.json").write_text(json.dumps({"note": MARKER}), encoding="utf-8")
    plant_adapter(secret / "adapter", "adapter")
    problem = custom_problem(f'def f(x):\n    """{MARKER}"""\n')
    tree = Search.start(problem, SearchConfig(), ScriptedBackend()).tree
    (secret / "tree.json").write_text(tree.to_json(), encoding="utf-8")  # a valid tree, if it were read
    plant_adapter(data / "adapters" / "good", "good")  # a registered adapter
    allowed = root / "allowed-model"
    allowed.mkdir()
    (allowed / "config.json").write_text("{}", encoding="utf-8")

    def loader(kind, name, adapter=None):
        backend = ScriptedBackend()
        backend.adapter = adapter  # what a real backend carries: the adapter it loaded
        return backend

    ctx = StudioContext(
        backends=BackendPool(loader=loader),
        store=Store(data / "studio.db"),
        allowed_models=(str(allowed),),
    )
    app = build_app(ctx).queue()
    _, url, _ = app.launch(
        server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True, show_error=True
    )
    yield url, ctx, secret, allowed
    app.close()


@pytest.fixture(scope="module")
def c(studio):
    return Client(studio[0], verbose=False)


def bad_names(secret) -> list[str]:
    """What a hostile client sends instead of a name: system files, climbs out, absolute paths."""
    return [
        "/etc/passwd",
        "../secret",
        "../../secret/sft.jsonl",
        "demo/../../../secret",
        "./demo",
        str(secret),
        str(secret / "sft.jsonl"),
        str(secret / "model"),
        str(secret / "adapter"),
    ]


def refused_without_marker(call, message: str) -> None:
    with pytest.raises(Exception) as caught:
        call()
    text = str(caught.value)
    assert message in text, text
    assert MARKER not in text


def form(dataset: str, base: str = "embedded") -> list:
    values = ft.preset_values("CPU quick")
    return ["CPU quick", dataset, base, "", values["target_modules"], *(values[f] for f in ft.FIELDS)]


def test_the_dataset_preview_reads_only_the_studios_exports(studio, c):
    _, _, secret, _ = studio
    for name in bad_names(secret):
        refused_without_marker(
            lambda name=name: c.predict(name, api_name="/finetune_dataset_preview"),
            f"dataset {name!r} is not one of this studio's exports",
        )
    shown = c.predict("demo", api_name="/finetune_dataset_preview")
    assert "**4 records** in export **demo**" in shown and "add_0" in shown


@pytest.mark.parametrize("endpoint", ["/finetune_preview", "/finetune_start"])
def test_training_takes_a_dataset_and_a_base_model_only_from_the_lists(studio, c, endpoint):
    _, ctx, secret, _ = studio
    for name in bad_names(secret):
        refused_without_marker(
            lambda name=name: c.predict(*form(name), api_name=endpoint),
            f"dataset {name!r} is not one of this studio's exports",
        )
        refused_without_marker(
            lambda name=name: c.predict(*form("demo", name), api_name=endpoint),
            f"base model {name!r} is not one this studio allows",
        )
    assert ctx.finetune_jobs().jobs() == []  # nothing started


def test_the_allowed_base_models_still_work(studio, c):
    _, _, _, allowed = studio
    for base in ("embedded", "", str(allowed)):
        config = json.loads(c.predict(*form("demo", base), api_name="/finetune_preview"))
        assert config["dataset"]["records"] == 4
        assert config["config"]["base_model"] == (
            str(allowed) if base == str(allowed) else "qwen2.5-coder-0.5b"
        )


def test_search_and_evaluate_take_an_adapter_only_from_the_registry(studio, c):
    _, ctx, secret, _ = studio
    for name in [*bad_names(secret), "../adapters/good", "good/../good"]:
        message = f"adapter {name!r} is not one of this studio's adapters"
        refused_without_marker(
            lambda name=name: c.predict(*PROBLEM, *KNOBS, name, api_name="/new_search"), message
        )
        refused_without_marker(
            lambda name=name: c.predict(*[name if i == 1 else v for i, v in enumerate(EVAL_FORM)],
                                        api_name="/evaluate"),
            message,
        )  # fmt: skip
    assert EvalTables(ctx.store).evals() == [] and ctx.store.list_runs() == []
    rid = c.predict(*PROBLEM, *KNOBS, "good", api_name="/new_search")[0]
    assert json.loads(c.predict(rid, api_name="/get_tree"))["model"]["adapter"] == "good"


def raw_call(url: str, api: str, data: list) -> str:
    """Call an endpoint as a hostile client would: raw JSON, no gradio_client upload step."""
    with httpx.Client(base_url=url, timeout=60) as h:
        started = h.post(f"/gradio_api/call/{api}", json={"data": data})
        started.raise_for_status()
        return h.get(f"/gradio_api/call/{api}/{started.json()['event_id']}").text


@pytest.mark.parametrize("endpoint", ["upload_tree", "reward_report"])
def test_file_inputs_take_uploads_only_never_a_server_path(studio, endpoint):
    url, ctx, secret, _ = studio
    before = len(ctx.runs)
    for path in ("/etc/passwd", str(secret / "tree.json"), "../secret/tree.json"):
        for payload in ({"path": path, "meta": {"_type": "gradio.FileData"}}, path):
            data = [payload] if endpoint == "upload_tree" else ["", [payload]]
            reply = raw_call(url, endpoint, data)
            assert "event: error" in reply and MARKER not in reply and "root:" not in reply, reply
    assert len(ctx.runs) == before
    with httpx.Client(base_url=url, timeout=30) as h:  # nor through the file route
        assert MARKER not in h.get(f"/gradio_api/file={secret / 'tree.json'}").text


def test_the_lists_a_client_picks_from(tmp_path):
    """Exports holding an SFT file, registered adapters, and the allowed base models (the studio's own first,
    then the catalogue's, then the operator's)."""
    write_sft_export(tmp_path / "exports" / "v1", records=1)
    (tmp_path / "exports" / "no-sft").mkdir()
    ctx = StudioContext(
        store=Store(tmp_path / "studio.db"), model="org/own", allowed_models=("/m", "embedded")
    )
    assert ctx.export_names() == ["v1"]
    assert ctx.adapter_names() == []
    catalogue = ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "smollm2-135m"]
    assert ctx.base_models() == ["org/own", *catalogue, "/m"]
    assert StudioContext(model="embedded").base_models() == catalogue

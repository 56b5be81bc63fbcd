"""The adapter registry and adapters as a backend's policy: lookups, errors, base-model checks, the pool key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.backends.adapters import (
    META_FILE,
    AdapterInfo,
    UnknownAdapter,
    adapters_dir,
    get_adapter,
    list_adapters,
    same_base,
    write_meta,
)
from core.llm import ModelNotAvailable
from ui.sessions import BackendPool


def register(root: Path, name: str, created_at: float, base: str = "qwen2.5-coder-0.5b") -> AdapterInfo:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
    info = AdapterInfo(
        name=name,
        path=folder,
        base_model=base,
        dataset="/exports/v1/sft.jsonl",
        dataset_hash="ab" * 32,
        records=16,
        problems=["HumanEval/0", "HumanEval/2"],
        config={"lora_r": 8},
        created_at=created_at,
        job_id="job-1",
        state="finished",
    )
    write_meta(folder, info)
    return info


def test_list_newest_first_skipping_incomplete_folders(tmp_path: Path) -> None:
    old, new = register(tmp_path, "old", 1.0), register(tmp_path, "new", 2.0)
    (tmp_path / "half").mkdir()  # a save in progress has no meta yet
    (tmp_path / "half" / "adapter_config.json").write_text("{}")
    (tmp_path / ".tmp-save").mkdir()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "adapter_config.json").write_text("{}")
    (broken / META_FILE).write_text("{not json")
    assert list_adapters(tmp_path) == [new, old]
    assert list_adapters(tmp_path / "none") == []


def test_get_by_name_or_path_round_trips_every_field(tmp_path: Path) -> None:
    info = register(tmp_path, "v1-lora", 5.0)
    assert get_adapter("v1-lora", tmp_path) == info
    assert get_adapter(str(tmp_path / "v1-lora"), root=tmp_path / "elsewhere") == info
    assert info.problems == ["HumanEval/0", "HumanEval/2"] and info.dataset_hash == "ab" * 32


def test_unknown_adapter_says_what_exists(tmp_path: Path) -> None:
    register(tmp_path, "v1-lora", 5.0)
    with pytest.raises(UnknownAdapter) as err:
        get_adapter("v2", tmp_path)
    assert isinstance(err.value, KeyError)
    assert str(err.value) == f"no adapter 'v2' in {tmp_path}; known: v1-lora"
    with pytest.raises(UnknownAdapter, match="none trained yet"):
        get_adapter("v2", tmp_path / "empty")


def test_default_folder_is_in_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SRA_STUDIO_DATA", str(tmp_path))
    assert adapters_dir() == tmp_path / "adapters"
    register(tmp_path / "adapters", "mine", 1.0)
    assert [a.name for a in list_adapters()] == ["mine"]


def test_same_base() -> None:
    assert same_base("embedded", "qwen2.5-coder-0.5b") and same_base(
        "", "embedded:Qwen2.5-Coder-0.5B-Instruct"
    )
    assert same_base("smollm2-135m", "embedded:SmolLM2-135M-Instruct")
    assert same_base("", None)
    assert same_base("Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen2.5-0.5B-Instruct")
    assert not same_base("embedded", "Qwen/Qwen2.5-0.5B-Instruct")
    assert not same_base("embedded", "smollm2-135m")


def test_an_adapter_saved_before_the_catalogue_is_read_as_smollm2(tmp_path: Path) -> None:
    """ "embedded" in an old adapter's file meant SmolLM2-135M: it must not pass as the new default's."""
    register(tmp_path, "old", 1.0, base="embedded")
    assert get_adapter("old", tmp_path).base_model == "smollm2-135m"
    assert not same_base(get_adapter("old", tmp_path).base_model, "embedded")


def test_backend_refuses_unknown_adapter_and_a_different_base(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.backends import load_backend

    monkeypatch.setenv("SRA_STUDIO_DATA", str(tmp_path))
    register(tmp_path / "adapters", "qwen-lora", 1.0, base="Qwen/Qwen2.5-0.5B-Instruct")
    with pytest.raises(ModelNotAvailable, match="no adapter 'nope'"):
        load_backend("transformers", "smollm2-135m", adapter="nope")
    with pytest.raises(
        ModelNotAvailable,
        match="'qwen-lora' was trained on 'Qwen/Qwen2.5-0.5B-Instruct', not on 'smollm2-135m'",
    ):
        load_backend("transformers", "smollm2-135m", adapter="qwen-lora")


def test_pool_keys_by_adapter_and_keeps_two_argument_loaders_working() -> None:
    calls = []

    def loader(kind: str, model: str, adapter: str | None = None) -> object:
        calls.append((kind, model, adapter))
        return object()

    pool = BackendPool(loader=loader)
    plain, tuned = pool.get("transformers", "embedded"), pool.get("transformers", "embedded", adapter="v1")
    assert plain is not tuned and pool.get("transformers", "embedded", adapter="v1") is tuned
    assert pool.get("transformers", "embedded", adapter="") is plain
    assert calls == [("transformers", "embedded", None), ("transformers", "embedded", "v1")]
    assert pool.loaded() == [("transformers", "embedded", None), ("transformers", "embedded", "v1")]
    two = BackendPool(loader=lambda kind, model: (kind, model))
    assert two.get("transformers", "embedded") == ("transformers", "embedded")

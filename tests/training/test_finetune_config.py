"""Fine-tune inputs, checked before any process starts: config fields, presets, datasets, models, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli.finetune import FinetuneArgs, build_config, progress_line
from core.training.config import (
    PRESETS,
    FinetuneConfig,
    FinetuneError,
    check_base_model,
    lora_arguments,
    preset,
    preview,
    read_dataset,
    sft_arguments,
)
from core.training.jobs import FinetuneJobs
from core.training.worker import OOM_MESSAGE, failure_message

ROOT = Path(__file__).resolve().parents[2]


def sft_lines(n: int) -> list[str]:
    """Records in the export's SFT format: chat messages plus a meta block naming the problem."""
    out = []
    for i in range(n):
        messages = [
            {"role": "system", "content": "Reason in steps, then code."},
            {"role": "user", "content": f"def add_{i}(x):\n    '''Return x plus {i}.'''\n"},
            {
                "role": "assistant",
                "content": f"1. Add {i}.\n\n```python\ndef add_{i}(x):\n    return x + {i}\n```",
            },
        ]
        out.append(json.dumps({"messages": messages, "meta": {"problem_id": f"custom/add_{i % 3}"}}))
    return out


@pytest.fixture
def export(tmp_path: Path) -> Path:
    folder = tmp_path / "exports" / "v1"
    folder.mkdir(parents=True)
    (folder / "sft.jsonl").write_text("\n".join(sft_lines(5)) + "\n", encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lora_r": 0}, "lora_r"),
        ({"lora_alpha": 1.5}, "lora_alpha"),
        ({"lora_dropout": 1.0}, "lora_dropout"),
        ({"target_modules": ()}, "target_modules"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"epochs": float("nan")}, "epochs"),
        ({"batch_size": True}, "batch_size"),
        ({"grad_accum": 0}, "grad_accum"),
        ({"max_length": 8}, "max_length"),
        ({"seed": -1}, "seed"),
        ({"device": "tpu"}, "device"),
        ({"adapter_name": "../escape"}, "adapter_name"),
        ({"dataset": "  "}, "dataset"),
    ],
)
def test_each_bad_field_is_named(change: dict, field: str) -> None:
    with pytest.raises(FinetuneError, match=field):
        FinetuneConfig(dataset="x.jsonl").replace(**change).validate()


def test_dict_round_trip_and_unknown_fields() -> None:
    cfg = FinetuneConfig(dataset="d.jsonl", target_modules=("q_proj", "v_proj"), epochs=2.0)
    assert FinetuneConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert FinetuneConfig.from_dict({"dataset": "d", "target_modules": "q_proj, v_proj"}).target_modules == (
        "q_proj",
        "v_proj",
    )
    with pytest.raises(FinetuneError, match="unknown fine-tune config field.*rank"):
        FinetuneConfig.from_dict({"dataset": "d", "rank": 4})


def test_presets_are_valid_and_overridable() -> None:
    assert {"CPU quick", "default", "GPU"} <= set(PRESETS)
    for name in PRESETS:
        preset(name, dataset="d.jsonl").validate()
    assert preset("default", dataset="d") == FinetuneConfig(dataset="d")
    quick = preset("CPU quick", dataset="d", epochs=2.0)
    assert (
        quick.device == "cpu"
        and quick.epochs == 2.0
        and quick.learning_rate > FinetuneConfig("d").learning_rate
    )
    assert "gate_proj" in preset("GPU").target_modules
    with pytest.raises(FinetuneError, match="unknown preset 'fast'.*CPU quick"):
        preset("fast")


def test_dataset_folder_or_file_gives_the_same_records(export: Path) -> None:
    by_folder, by_file = read_dataset(str(export)), read_dataset(str(export / "sft.jsonl"))
    assert by_folder.path == by_file.path == export / "sft.jsonl"
    assert by_folder.records == 5 and by_folder.sha256 == by_file.sha256 and len(by_folder.sha256) == 64
    assert by_folder.problems == ["custom/add_0", "custom/add_1", "custom/add_2"]
    assert by_folder.rows[0]["messages"][-1]["role"] == "assistant"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "has no records: accept some paths and export them first"),
        ("\n\n", "has no records"),
        ('{"question": "q", "solution": "s"}\n', "line 1 has no chat 'messages'"),
        ("not json\n", "line 1 is not JSON"),
        ('{"messages": [{"role": "user", "content": "hi"}]}\n', "end with the assistant's answer"),
        ('{"messages": [{"role": "bot", "content": "hi"}]}\n', "needs a role"),
    ],
)
def test_bad_datasets_are_clear_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(FinetuneError, match=message):
        read_dataset(str(path))


def test_missing_dataset_and_folder_without_sft(tmp_path: Path) -> None:
    with pytest.raises(FinetuneError, match="does not exist"):
        read_dataset(str(tmp_path / "nope.jsonl"))
    with pytest.raises(FinetuneError, match="has no sft.jsonl: export it with the sft format"):
        read_dataset(str(tmp_path))


def test_base_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert check_base_model("embedded") == "qwen2.5-coder-0.5b"
    assert check_base_model("embedded:SmolLM2-135M-Instruct") == "smollm2-135m"
    assert check_base_model("SmolLM2-135M-Instruct") == "smollm2-135m"
    with pytest.raises(FinetuneError, match="unknown base model.*no model folder"):
        check_base_model(str(tmp_path / "missing"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FinetuneError, match="unknown base model 'nobody/no-such-model'.*offline"):
        check_base_model("nobody/no-such-model")


def test_preview_shows_resolved_config_and_trainer_arguments(export: Path) -> None:
    cfg = preset("CPU quick", dataset=str(export), batch_size=2, grad_accum=2, epochs=2.0)
    view = json.loads(preview(cfg))
    assert view["config"] == cfg.to_dict()
    assert view["device"] == "cpu" and view["base_model"] == "qwen2.5-coder-0.5b"
    assert view["dataset"]["records"] == 5 and view["dataset"]["sha256"] == read_dataset(str(export)).sha256
    assert view["estimated_steps"] == 4  # ceil(ceil(5/2)/2) = 2 per epoch, 2 epochs
    assert view["trl.SFTConfig"] == sft_arguments(cfg, "cpu", "<job folder>/trainer")
    assert view["trl.SFTConfig"]["logging_steps"] == 1 and view["trl.SFTConfig"]["use_cpu"] is True
    assert view["peft.LoraConfig"] == lora_arguments(cfg)
    with pytest.raises(FinetuneError, match="batch_size"):
        preview(cfg.replace(batch_size=0))


def test_the_arguments_build_real_trl_and_peft_configs(tmp_path: Path) -> None:
    from peft import LoraConfig
    from trl import SFTConfig

    cfg = preset("CPU quick", dataset="d", max_length=256)
    args = SFTConfig(**sft_arguments(cfg, "cpu", str(tmp_path)))
    assert args.max_length == 256 and args.logging_steps == 1 and args.bf16 is False
    assert LoraConfig(**lora_arguments(cfg)).target_modules == set(cfg.target_modules)


def test_start_refuses_bad_input_before_spawning(tmp_path: Path, export: Path) -> None:
    jobs = FinetuneJobs(tmp_path / "jobs", tmp_path / "adapters")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    bad = [
        (FinetuneConfig(dataset=str(empty)), "has no records"),
        (FinetuneConfig(dataset=str(export), base_model=str(tmp_path / "nope")), "unknown base model"),
        (FinetuneConfig(dataset=str(export), batch_size=0), "batch_size"),
        (FinetuneConfig(dataset=str(export), adapter_name="taken"), "adapter_name 'taken' is taken"),
    ]
    (tmp_path / "adapters" / "taken").mkdir(parents=True)
    for cfg, message in bad:
        with pytest.raises(FinetuneError, match=message):
            jobs.start(cfg)
    assert jobs.jobs() == [] and not (tmp_path / "jobs").exists()


@pytest.mark.parametrize(
    "exc",
    [
        MemoryError(),
        RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you tried"
        ),
    ],
)
def test_out_of_memory_is_named(exc: BaseException) -> None:
    assert failure_message(exc) == OOM_MESSAGE == "batch too large for memory: lower batch size or max length"


def test_torch_out_of_memory_is_named_and_other_failures_are_one_line() -> None:
    import torch

    assert failure_message(torch.OutOfMemoryError("CUDA error: out of memory")) == OOM_MESSAGE
    assert failure_message(FinetuneError("dataset x changed")) == "dataset x changed"
    assert failure_message(ValueError("bad thing\ntraceback noise")) == "ValueError: bad thing"


def test_cli_config_from_flags_and_progress_line(export: Path) -> None:
    cfg = build_config(
        FinetuneArgs(dataset=str(export), preset="CPU quick", epochs=3.0, target_modules="q_proj")
    )
    assert cfg.epochs == 3.0 and cfg.target_modules == ("q_proj",) and cfg.learning_rate == 1e-3
    line = progress_line(
        {
            "step": 2,
            "max_steps": 4,
            "epoch": 0.5,
            "loss": 0.7,
            "learning_rate": 7.5e-4,
            "elapsed": 31.2,
            "eta": 31.0,
        }
    )
    assert line == "step 2/4  epoch 0.50  loss 0.7000  lr 7.5e-04  elapsed 31s  eta 31s"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--dataset", "/no/such/export"], "error: dataset /no/such/export does not exist"),
        (["--dataset", "{export}", "--batch-size", "0"], "error: batch_size must be a whole number"),
        (["--dataset", "{export}", "--base-model", "/no/model"], "error: unknown base model '/no/model'"),
        (["--dataset", "{export}", "--epochs", "many"], "error: argument --epochs: invalid float value"),
    ],
)
def test_cli_bad_input_is_one_error_line_and_exit_2(
    tmp_path: Path, export: Path, flags: list[str], message: str
) -> None:
    flags = [f.replace("{export}", str(export)) for f in flags]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), "--data-dir", str(tmp_path / "data"), "finetune", *flags],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), proc.stderr
    assert not (tmp_path / "data" / "jobs").exists()


def test_the_worker_module_starts_from_any_folder_with_the_runners_path(tmp_path):
    """The job runner starts ``python -m core.training.worker`` in the job's folder with PYTHONPATH set
    to the project root; a wrong root (a moved module) fails there and only there, so check it fast."""
    import os
    import subprocess
    import sys

    from core.training import jobs

    assert (jobs.PROJECT / "core" / "training" / "worker.py").is_file()
    env = {**os.environ, "PYTHONPATH": str(jobs.PROJECT)}
    result = subprocess.run(
        [sys.executable, "-m", "core.training.worker"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 2 and "usage: python -m core.training.worker JOB_DIR" in result.stderr


def test_a_worker_that_exits_is_reaped_at_once_not_left_a_zombie(
    tmp_path: Path, export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[subprocess.Popen] = []

    def stand_in(self, job_dir: Path) -> subprocess.Popen:  # a worker that ends at once
        started.append(subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True))
        return started[-1]

    monkeypatch.setattr(FinetuneJobs, "_spawn", stand_in)
    FinetuneJobs(tmp_path / "jobs", tmp_path / "adapters").start(FinetuneConfig(dataset=str(export)))
    deadline = time.monotonic() + 20
    while started[0].returncode is None and time.monotonic() < deadline:  # nobody polls it here
        time.sleep(0.05)
    assert started[0].returncode == 0
    assert not Path(f"/proc/{started[0].pid}").exists()  # no zombie entry left

"""Fine-tune tab handlers: widget values to a training config, and a job's status to widget values.

The job itself runs in its own process (``core.training.jobs``); these functions
only start, stop and read it, so a closed page or a restarted studio loses nothing.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from core.curation.accepted import list_exports
from core.training.config import FinetuneError, preset
from core.training.data import SFT_FILE
from core.training.jobs import FinetuneJobs, JobStatus, UnknownJob
from ui.charts import themed
from ui.errors import UserError

ACTIVE = ("starting", "running")
FIELDS = (
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "learning_rate",
    "epochs",
    "batch_size",
    "grad_accum",
    "max_length",
    "seed",
)
INTEGER_FIELDS = ("lora_r", "lora_alpha", "batch_size", "grad_accum", "max_length", "seed")


NO_DATASET = "_Pick an export: Curate → Export makes one with the sft format._"


def export_choices(exports_dir: Path) -> list[tuple[str, str]]:
    """The exports that hold an SFT file, newest first, as (label, name) pairs: a client sends the name."""
    return [(name, name) for name in list_exports(exports_dir)]


def dataset_preview(folder: Path | None, limit: int = 3) -> str:
    """The record count and the first records of an export folder (one from the studio's list)."""
    if folder is None:
        return NO_DATASET
    path = folder / SFT_FILE
    if not path.is_file():
        return f"_Export {html.escape(folder.name)} has no {SFT_FILE}._"
    lines = [x for x in path.read_text(encoding="utf-8", errors="replace").splitlines() if x.strip()]
    out = [f"**{len(lines)} records** in export **{html.escape(folder.name)}**"]
    for i, line in enumerate(lines[:limit], 1):
        try:
            messages = json.loads(line).get("messages", [])
        except (json.JSONDecodeError, AttributeError):
            out.append(f"{i}. _not a JSON object_")
            continue
        # In a <pre> the escaped text reads as written ("->", not "-&gt;"), fences and all: markdown
        # would turn a record's ``` into a code block, where an escaped entity shows as typed.
        parts = [
            f"**{html.escape(str(m.get('role', '?')))}**\n<pre>{html.escape(str(m.get('content', ''))[:300])}</pre>"
            for m in messages
        ]
        out.append(f"**Record {i}**\n\n" + "\n\n".join(parts))
    return "\n\n".join(out)


def preset_values(name: str) -> dict[str, Any]:
    """The form's values for a preset: the numbers, and the target modules as one line."""
    cfg = preset(name)
    values: dict[str, Any] = {f: getattr(cfg, f) for f in FIELDS}
    values["target_modules"] = " ".join(cfg.target_modules)
    return values


def build_config(preset_name: str, dataset: str, base_model: str, name: str, modules: str, **values: Any):
    """A preset, overridden by the form; a bad value is a ``gr.Error`` naming the field."""
    changes: dict[str, Any] = {k: v for k, v in values.items() if k in FIELDS and v is not None}
    for key in INTEGER_FIELDS:
        if isinstance(changes.get(key), float) and changes[key].is_integer():
            changes[key] = int(changes[key])
    targets = tuple(m.strip() for m in (modules or "").replace(",", " ").split() if m.strip())
    try:
        cfg = preset(
            preset_name,
            (dataset or "").strip(),
            base_model=(base_model or "").strip() or "embedded",
            adapter_name=(name or "").strip(),
            **({"target_modules": targets} if targets else {}),
            **changes,
        )
        cfg.validate()
    except (FinetuneError, ValueError, TypeError, KeyError) as exc:
        raise UserError(f"bad training setting: {str(exc).strip(chr(39))}") from None
    return cfg


def job_status(jobs: FinetuneJobs, job_id: str | None) -> JobStatus | None:
    if not job_id:
        return None
    try:
        return jobs.status(job_id)
    except UnknownJob:
        return None


def status_markdown(st: JobStatus | None) -> str:
    if st is None:
        return "_No training job yet: pick a dataset and press **Start**._"
    eta = "" if st.eta_s is None or st.state not in ACTIVE else f" · about {st.eta_s:.0f} s left"
    last = f" · loss {st.losses[-1][1]:.4f}" if st.losses else ""
    line = (
        f"**Job {st.id}** · {st.state} · step {st.step}/{st.max_steps or '?'} · "
        f"epoch {st.epoch:.2f}{last} · {st.elapsed_s:.0f} s{eta}"
    )
    if st.adapter:
        line += f"\n\nAdapter **{html.escape(st.adapter)}** is registered: pick it as the policy in Search or Evaluate."
    if st.message:
        line += f"\n\n{'⚠ ' if st.state == 'failed' else ''}{html.escape(st.message)}"
    return line


def progress_html(st: JobStatus | None) -> str:
    done = 0.0 if st is None or not st.max_steps else min(1.0, st.step / st.max_steps)
    if st is not None and st.state == "finished":
        done = 1.0
    state = "idle" if st is None else st.state
    return (
        f'<div class="ft-progress" data-state="{state}" data-step="{0 if st is None else st.step}">'
        f'<div class="ft-progress-bar" style="width:{done * 100:.1f}%"></div></div>'
    )


def loss_figure(st: JobStatus | None) -> go.Figure:
    fig = go.Figure()
    if st is not None and st.losses:
        steps, losses = zip(*st.losses, strict=True)
        fig.add_trace(go.Scatter(x=steps, y=losses, mode="lines+markers", name="training loss"))
    fig.update_layout(
        height=300,
        margin={"l": 40, "r": 10, "t": 30, "b": 40},
        xaxis_title="step",
        yaxis_title="loss",
        title={"text": "Training loss", "x": 0.5},
    )
    return themed(fig)


def log_tail(st: JobStatus | None) -> str:
    return "" if st is None else "\n".join(st.log_tail[-40:])


def jobs_table(
    jobs: FinetuneJobs, limit: int = 20, visible: Callable[[str], bool] | None = None
) -> list[list]:
    """The newest jobs as table rows; ``visible(job_id)`` keeps the caller's own (None: every job)."""
    rows = []
    shown = [st for st in jobs.jobs() if visible is None or visible(st.id)]
    for st in shown[:limit]:
        last = f"{st.losses[-1][1]:.4f}" if st.losses else ""
        rows.append([st.id, st.state, f"{st.step}/{st.max_steps}", last, st.adapter or ""])
    return rows

"""What machine a result came from: numbers measured on a CPU depend on it (bf16 or fp32, the samples)."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_name() -> str:
    """The CPU's model name, marked when it computes bf16 natively (the transformers backend then uses it)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or "unknown"
    name = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")), "")
    return f"{name or 'unknown'}{' (AVX512-BF16)' if 'avx512_bf16' in text else ''}"

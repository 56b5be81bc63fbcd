"""What every tab shares: the backend pool and the registry of live runs."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.registry import BackendPool, RunRegistry


@dataclass
class StudioContext:
    backend: str = "transformers"
    model: str = "embedded"
    backends: BackendPool = field(default_factory=BackendPool)
    runs: RunRegistry = field(default_factory=RunRegistry)

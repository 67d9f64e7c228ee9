#!/usr/bin/env bash
# Measured vs predicted peak memory and step time of full and LoRA fine-tunes of random-weight
# Llama-shaped models (160M full+LoRA, 1.1B full+LoRA, 3B LoRA; bf16, micro batch 8 x 512 tokens).
# Under 5 minutes on one H100/H200. Usage:
#   benchmarks/gpu_check.sh                 # on a GPU machine
#   benchmarks/gpu_check.sh --cpu-smoke     # seconds on CPU: checks the script, numbers not meaningful
#   benchmarks/gpu_check.sh --json out.json # also write the rows
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
exec timeout 290 "$PYTHON" benchmarks/gpu_check.py "$@"

"""The package arrows of PRODUCT.md, enforced by scanning imports.

api -> predictors -> scaling; api and workers -> storage; workers -> predictors; scaling imports nothing
of the project and does no I/O; torch/transformers/peft only in workers/.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("api", "predictors", "workers", "scaling", "storage")
ALLOWED = {
    "api": {"api", "predictors", "scaling", "storage", "workers"},
    "predictors": {"predictors", "scaling"},
    "scaling": {"scaling"},
    "storage": {"storage"},
    "workers": {"workers", "storage", "predictors", "scaling"},
}
HEAVY = {"torch", "transformers", "peft", "sentence_transformers", "gguf", "bitsandbytes", "accelerate"}


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_follow_the_arrows(package: str) -> None:
    for path in (REPO_ROOT / package).rglob("*.py"):
        project_imports = imported_roots(path) & set(PACKAGES)
        assert project_imports <= ALLOWED[package], (
            f"{path.relative_to(REPO_ROOT)} imports {project_imports - ALLOWED[package]}"
        )


@pytest.mark.parametrize("package", ["api", "predictors", "scaling", "storage"])
def test_heavy_ml_libraries_only_in_workers(package: str) -> None:
    for path in (REPO_ROOT / package).rglob("*.py"):
        assert not imported_roots(path) & HEAVY, f"{path.relative_to(REPO_ROOT)} imports {imported_roots(path) & HEAVY}"


def test_only_settings_reads_the_environment() -> None:
    for package in PACKAGES:
        for path in (REPO_ROOT / package).rglob("*.py"):
            if path == REPO_ROOT / "storage" / "settings.py":
                continue
            text = path.read_text()
            assert "os.environ" not in text and "os.getenv" not in text, (
                f"{path.relative_to(REPO_ROOT)} reads the environment"
            )

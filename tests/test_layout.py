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


SQL_BUILDERS = {"select", "text", "insert", "update", "delete"}
"""sqlalchemy's statement builders: a call of one of them is SQL, which lives in ``storage/repositories/``."""
SQL_RUNNERS = {"execute", "scalars", "scalar"}
"""Session methods that run a statement (``session.get`` loads a row by key and is left to the ORM)."""


def sql_uses(path: Path) -> list[str]:
    """Each sqlalchemy statement builder imported or called, and each statement run, with its line."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            found += [f"{node.lineno}: imports {a.name}" for a in node.names if a.name in SQL_BUILDERS]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if node.func.attr in SQL_RUNNERS or (
                node.func.attr in SQL_BUILDERS and isinstance(owner, ast.Name) and owner.id in {"sqlalchemy", "sa"}
            ):
                found.append(f"{node.lineno}: calls .{node.func.attr}(")
    return found


@pytest.mark.parametrize("package", ["api", "predictors", "workers"])
def test_sql_only_in_storage(package: str) -> None:
    """Queries live in ``storage/repositories/`` (keyword-only functions): no statement is built or run elsewhere."""
    offenders = {
        str(path.relative_to(REPO_ROOT)): uses
        for path in (REPO_ROOT / package).rglob("*.py")
        if (uses := sql_uses(path))
    }
    assert not offenders, f"SQL outside storage/: {offenders}"


API_WORKER_MODULES = {"workers.submit", "workers.dispatch", "workers.health"}
"""What the API may import of ``workers/``: what enqueues runs (submitting one, re-queueing stranded ones) and
the broker's health; none of them loads torch."""


def test_api_imports_of_workers_only_enqueue() -> None:
    for path in (REPO_ROOT / "api").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and node.level == 0
                else []
            )
            workers = {n for n in names if n.split(".")[0] == "workers"}
            assert workers <= API_WORKER_MODULES, f"{path.relative_to(REPO_ROOT)}:{node.lineno} imports {workers}"

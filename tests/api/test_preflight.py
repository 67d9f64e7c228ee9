"""What ``tunecast serve`` checks at start-up: every package the service and its worker import, named."""

from __future__ import annotations

import importlib.metadata

import pytest
from typer.testing import CliRunner

from api import preflight
from api.cli import app


def _without(monkeypatch: pytest.MonkeyPatch, *missing: str, versions: dict[str, str] | None = None) -> None:
    real = importlib.metadata.version

    def version(name: str) -> str:
        if name in missing:
            raise importlib.metadata.PackageNotFoundError(name)
        return (versions or {}).get(name) or real(name)

    monkeypatch.setattr(preflight.importlib.metadata, "version", version)


def test_the_installed_dev_environment_lacks_nothing() -> None:
    assert preflight.missing_requirements() == []
    assert preflight.missing_requirements("worker") == []


def test_the_requirements_come_from_the_package_metadata() -> None:
    base = {r.name for r in preflight._requirements(None)}
    worker = {r.name for r in preflight._requirements("worker")}
    assert {"fastapi", "lightgbm", "scikit-learn", "fastapi-offline"} <= base
    assert {"torch", "transformers", "peft", "gguf"} <= worker and not base & worker


def test_a_missing_or_wrong_package_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    _without(monkeypatch, "scikit-learn", versions={"torch": "2.1.0"})
    assert [str(m) for m in preflight.missing_requirements()] == ["scikit-learn>=1.3 (not installed)"]
    assert [str(m) for m in preflight.missing_requirements("worker")] == ["torch==2.13.0 (found 2.1.0)"]


def test_serve_refuses_to_start_without_the_service_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    _without(monkeypatch, "scikit-learn")
    result = CliRunner().invoke(app, ["serve", "--no-worker"])
    assert result.exit_code == 1
    assert "scikit-learn>=1.3 (not installed)" in result.output and "make serve" in result.output


def test_worker_refuses_to_start_without_the_worker_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    _without(monkeypatch, "torch", "peft")
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 1
    assert "torch==2.13.0 (not installed)" in result.output and "peft>=0.13 (not installed)" in result.output

"""docker-compose.yml, the Dockerfile, the Makefile and the README agree with the settings the code reads."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from storage.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text()
SETTING_NAMES = {f"TUNECAST_{name.upper()}" for name in Settings.model_fields}


def test_compose_has_the_four_services() -> None:
    assert set(COMPOSE["services"]) == {"api", "worker", "redis", "postgres"}


def test_compose_environment_names_only_real_settings() -> None:
    for name in ("api", "worker"):
        environment = COMPOSE["services"][name]["environment"]
        assert set(environment) <= SETTING_NAMES, set(environment) - SETTING_NAMES
        assert {"TUNECAST_DATABASE_URL", "TUNECAST_BROKER_URL", "TUNECAST_DATA_DIR"} <= set(environment)


def test_compose_settings_validate_and_point_at_the_compose_services() -> None:
    api_env = COMPOSE["services"]["api"]["environment"]
    settings = Settings(**{key.removeprefix("TUNECAST_").lower(): value for key, value in api_env.items()})
    assert settings.database_url.startswith("postgresql+psycopg://") and "@postgres:5432/" in settings.database_url
    assert settings.broker_url.startswith("redis://redis:6379")
    assert COMPOSE["services"]["worker"]["environment"] == api_env
    postgres = COMPOSE["services"]["postgres"]["environment"]
    assert (
        f"{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}@postgres:5432/{postgres['POSTGRES_DB']}"
        in settings.database_url
    )


def test_compose_ports_and_commands_match_the_cli() -> None:
    api = COMPOSE["services"]["api"]
    assert api["ports"] == ["8000:8000"]
    assert api["command"][:2] == ["tunecast", "serve"] and "8000" in api["command"]
    assert COMPOSE["services"]["worker"]["command"][:2] == ["tunecast", "worker"]
    assert COMPOSE["services"]["redis"]["ports"] == ["6379:6379"]
    assert COMPOSE["services"]["postgres"]["ports"] == ["5432:5432"]


def test_dockerfile_targets_match_compose() -> None:
    targets = set(re.findall(r"^FROM \S+ AS (\w+)$", DOCKERFILE, flags=re.MULTILINE))
    for name in ("api", "worker"):
        assert COMPOSE["services"][name]["build"]["target"] in targets
    assert "torch==2.13.0" in DOCKERFILE
    for package in ("api", "predictors", "scaling", "storage", "workers"):
        assert f"COPY {package} ./{package}" in DOCKERFILE


def test_readme_and_ci_use_the_same_test_command() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "make serve" in readme and "make test" in readme
    assert "make test" in ci
    for name in ("TUNECAST_DATABASE_URL", "TUNECAST_BROKER_URL", "TUNECAST_DATA_DIR"):
        assert name in readme

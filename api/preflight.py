"""What ``tunecast serve`` checks before it starts: are the packages the service and its worker import there?

The requirements are read from tunecast's own installed metadata (``pyproject.toml``'s dependencies and
its ``worker`` extra), so this list is never written twice. A missing or mismatched package is named with
the command that installs it, at start-up, instead of a 500 on the first request or a worker that dies
importing torch.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement

__all__ = ["MissingRequirement", "install_hint", "missing_requirements", "what_is_missing"]

DISTRIBUTION = "tunecast"


@dataclass(frozen=True, slots=True)
class MissingRequirement:
    requirement: str
    found: str | None  # the installed version that does not satisfy it, or None when absent

    def __str__(self) -> str:
        return f"{self.requirement} ({'not installed' if self.found is None else f'found {self.found}'})"


def _requirements(extra: str | None) -> list[Requirement]:
    try:
        texts = importlib.metadata.requires(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        return []
    wanted: list[Requirement] = []
    for text in texts:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        marker = requirement.marker
        if extra is None:
            if marker is None or marker.evaluate({"extra": ""}):
                wanted.append(requirement)
        elif marker is not None and marker.evaluate({"extra": extra}) and not marker.evaluate({"extra": ""}):
            wanted.append(requirement)
    return wanted


def missing_requirements(extra: str | None = None) -> list[MissingRequirement]:
    """The base requirements (``extra=None``) or one extra's that are not installed or not satisfied."""
    missing = []
    for requirement in _requirements(extra):
        try:
            version = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(MissingRequirement(str(requirement).split(";")[0].strip(), None))
            continue
        if requirement.specifier and not requirement.specifier.contains(version, prereleases=True):
            missing.append(MissingRequirement(str(requirement).split(";")[0].strip(), version))
    return missing


def install_hint(extra: str | None = None) -> str:
    if extra == "worker":
        return "run `make serve` (or: pip install torch==2.13.0 && pip install -e '.[worker]')"
    return "run `make serve` (or: pip install -e .)"


def what_is_missing(*extras: str | None) -> str | None:
    """A sentence naming every missing requirement of the base package and ``extras`` and how to install
    them, or None when nothing is missing."""
    missing = [m for extra in extras for m in missing_requirements(extra)]
    if not missing:
        return None
    hint = install_hint("worker" if "worker" in extras else None)
    return f"these packages are missing or the wrong version: {', '.join(str(m) for m in missing)}; {hint}"

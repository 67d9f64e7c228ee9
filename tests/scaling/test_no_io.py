"""scaling/ is pure maths: stdlib + numpy + scipy, no I/O, no project imports, no global RNG."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "scaling"
ALLOWED_TOP = {
    "__future__",
    "numpy",
    "scipy",
    "math",
    "inspect",
    "itertools",
    "collections",
    "dataclasses",
    "typing",
    "types",
    "functools",
    "operator",
    "abc",
    "numbers",
    "enum",
    "warnings",
    "re",
}
FORBIDDEN_CALLS = {"open", "print", "input", "exec", "eval", "__import__"}
FORBIDDEN_ATTRS = {
    # global-RNG and clock access
    ("random", "seed"),
    ("random", "rand"),
    ("random", "randn"),
    ("random", "random"),
    ("random", "randint"),
    ("random", "normal"),
    ("random", "uniform"),
    ("random", "choice"),
    ("random", "shuffle"),
    ("random", "permutation"),
    ("np", "load"),
    ("np", "save"),
    ("np", "loadtxt"),
    ("np", "savetxt"),
    ("np", "genfromtxt"),
    ("np", "fromfile"),
}
FILES = sorted(PKG.glob("*.py"))


def test_package_has_modules() -> None:
    assert len(FILES) >= 8


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_imports_are_stdlib_numpy_scipy_only(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import inside scaling/
                continue
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            assert top in ALLOWED_TOP, f"{path.name}:{node.lineno} imports {name!r}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_io_calls_or_global_rng(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in FORBIDDEN_CALLS, f"{path.name}:{node.lineno}"
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
            pair = (node.value.attr, node.attr)
            assert pair not in FORBIDDEN_ATTRS, f"{path.name}:{node.lineno} uses {pair}"
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            assert (node.value.id, node.attr) not in FORBIDDEN_ATTRS, f"{path.name}:{node.lineno}"


@pytest.mark.parametrize("path", [p for p in FILES if p.name != "__init__.py"], ids=lambda p: p.name)
def test_public_modules_declare_all(path: Path) -> None:
    tree = ast.parse(path.read_text())
    assert any(
        isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in n.targets) for n in tree.body
    ), f"{path.name} lacks __all__"

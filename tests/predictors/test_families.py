"""Model families: one module each, discovered and registered, and the only readers of ``model_type``."""

from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from predictors.architecture import architecture_from_hf_config, count_parameters
from predictors.errors import InvalidInputError
from predictors.families import DEFAULT_FAMILY, FAMILIES, FAMILY_MODULE_NAMES, Family, find_family, register_family
from predictors.families.llama import llama_layout

REPO_ROOT = Path(__file__).resolve().parents[2]
CATALOG = json.loads((REPO_ROOT / "storage" / "catalogs" / "models.json").read_text())["models"]
SCANNED_PACKAGES = ("api", "predictors", "scaling", "storage", "workers", "benchmarks")
UNKNOWN_LAYOUT = "not in the catalog's layouts"


def test_every_family_module_registers_its_family() -> None:
    files = {p.stem for p in (REPO_ROOT / "predictors" / "families").glob("*.py")} - {"__init__", "base", "registry"}
    assert FAMILY_MODULE_NAMES == files
    assert set(FAMILIES) == files
    for name in files:
        module = importlib.import_module(f"predictors.families.{name}")
        assert module.__name__.rsplit(".", 1)[1] == FAMILIES[name].name
        assert name in FAMILIES[name].model_types


def test_model_types_are_claimed_once() -> None:
    claimed = [model_type for family in FAMILIES.values() for model_type in family.model_types]
    assert len(claimed) == len(set(claimed))
    for model_type in claimed:
        family = find_family(model_type)
        assert family is not None and model_type in family.model_types


def test_register_refuses_a_family_without_a_module_or_a_second_registration() -> None:
    with pytest.raises(ValueError, match=r"no module predictors/families/brandnew\.py"):
        register_family(Family(name="brandnew", model_types=("brandnew",), build=llama_layout))
    with pytest.raises(KeyError, match="already registered"):
        register_family(Family(name="llama", model_types=("llama",), build=llama_layout))
    assert find_family("brandnew") is None


@pytest.mark.parametrize("entry", CATALOG, ids=[entry["id"] for entry in CATALOG])
def test_every_catalog_model_resolves_to_its_family(entry: dict[str, Any]) -> None:
    arch = architecture_from_hf_config(entry["architecture"])
    family = find_family(entry["architecture"]["model_type"].strip().lower())
    assert family is not None and family.known_layout
    assert arch.family == family.name
    assert not any(UNKNOWN_LAYOUT in text for text in arch.assumptions)
    # the family's adapter defaults name modules its layout has
    names = {m.name for m in arch.linear_modules}
    assert all(any(n == t or n.endswith("." + t) for n in names) for t in arch.ia3_target_modules)
    assert set(arch.ia3_feedforward_modules) <= set(arch.ia3_target_modules)
    assert count_parameters(arch).total_params > 0


def _tiny(model_type: str) -> dict[str, Any]:
    return {
        "model_type": model_type,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 100,
        "max_position_embeddings": 128,
        "num_local_experts": 4,
        "num_experts_per_tok": 2,
        "tie_word_embeddings": False,
    }


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_each_family_builds_a_consistent_layout(name: str) -> None:
    arch = architecture_from_hf_config(_tiny(name))
    assert arch.family == name
    outputs = [arch.module(n) for n in arch.mlp_output_modules]  # KeyError when the family names a missing module
    assert outputs and all(m.kind == "mlp" and m.out_features == arch.hidden_size for m in outputs)
    pair = arch.fused_expert_pair
    if pair is not None:  # the fused gate/up pair peft adapts as one must be routed expert matrices
        assert all(arch.module(n).n_experts == arch.num_experts > 1 for n in pair)
    routers = [m for m in arch.linear_modules if not m.is_nn_linear]
    assert all(m.kind == "router" and m.out_features == arch.num_experts for m in routers)
    assert bool(routers) == arch.is_moe
    assert arch.routed_experts_adaptable or arch.is_moe


def test_ia3_defaults_are_peft_s_for_every_family_peft_maps() -> None:
    constants = pytest.importorskip("peft.utils.constants")
    targets = constants.TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING
    feedforward = constants.TRANSFORMERS_MODELS_TO_IA3_FEEDFORWARD_MODULES_MAPPING
    checked = 0
    for family in FAMILIES.values():
        for model_type in family.model_types:
            if family.known_layout and model_type in targets:
                assert list(family.ia3_target_modules) == targets[model_type], model_type
                assert list(family.ia3_feedforward_modules) == feedforward[model_type], model_type
                checked += 1
    assert checked >= 10


def test_aliases_are_normalised_and_unknown_types_read_as_llama_saying_so() -> None:
    mistral = architecture_from_hf_config(_tiny(" Mistral "))
    assert (mistral.model_type, mistral.family) == ("mistral", "llama")
    assert not any(UNKNOWN_LAYOUT in text for text in mistral.assumptions)
    unknown = architecture_from_hf_config(_tiny("brandnew"))
    assert unknown.family == DEFAULT_FAMILY
    assert f"model_type 'brandnew' {UNKNOWN_LAYOUT}: read as a Llama-style block" in unknown.assumptions
    assert unknown.linear_modules == architecture_from_hf_config(_tiny("llama")).linear_modules


def test_family_errors_name_the_field() -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        architecture_from_hf_config(_tiny("mixtral") | {"num_experts_per_tok": 5})
    assert excinfo.value.field == "architecture.num_experts_per_tok"


def _is_model_type(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "model_type") or (
        isinstance(node, ast.Name) and node.id == "model_type"
    )


def _model_type_dispatch(path: Path) -> list[str]:
    """Lines comparing ``model_type`` or looking it up in a table (``x.model_type in {...}``, ``T.get(x.model_type)``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Compare) and any(_is_model_type(n) for n in (node.left, *node.comparators)):
            found.append(f"{node.lineno}: compares model_type")
        elif isinstance(node, ast.Subscript) and _is_model_type(node.slice):
            found.append(f"{node.lineno}: indexes by model_type")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and node.args
            and _is_model_type(node.args[0])
        ):
            found.append(f"{node.lineno}: looks model_type up")
    return found


@pytest.mark.parametrize("package", SCANNED_PACKAGES)
def test_no_model_type_dispatch_outside_the_families(package: str) -> None:
    families = REPO_ROOT / "predictors" / "families"
    for path in sorted((REPO_ROOT / package).rglob("*.py")):
        if families in path.parents:
            continue
        assert not _model_type_dispatch(path), f"{path.relative_to(REPO_ROOT)}: {_model_type_dispatch(path)}"


def test_the_scan_finds_a_model_type_comparison(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('def f(arch):\n    return arch.model_type == "gemma2" or TABLE.get(arch.model_type)\n')
    assert _model_type_dispatch(sample) == ["2: compares model_type", "2: looks model_type up"]
